#pragma once
/// @file
/// Retirement in a node: which departed replicas to retire, who does it, and
/// what it writes. Sans-IO and clock-injected: the shell (member_replication.hpp)
/// feeds it the membership view, the user state and `now`, and applies the
/// `retirement_actions` it returns.
///
/// # When
/// A replica is due for retirement when its member is `removed` (it left
/// gracefully: `leave`, then `depart`) and `leave_grace` (2T) has passed since
/// this node first saw that, so its last deltas have reached the survivors;
/// or when it has been `down` for `down_period` (`converge-node
/// --retire-down-ms`, 300 s by default) without coming back.
///
/// # Who
/// One survivor: the member with the smallest replica id among those this
/// node sees `up` (retired replica ids excluded). Views differ during a
/// partition or while news spreads, so two nodes may both act; everything
/// below is written so that this is harmless.
///
/// # What: an idempotent record, never an addition
/// The survivor writes, in one mutation of the replicated membership record
/// (`cluster_record`): the member's removal (its replica id becomes retired)
/// and the departed replica's final contribution, `contribution(state, gone)`:
/// its own counter entries (gcounter/pncounter counts, a bounded counter's
/// increments, decrements, and its row and column of transfers). The record
/// is a `g_map` from the retired replica id to that contribution, joined by
/// max entry by entry, so:
/// - two survivors that both record `gone` record the same entries (or one
///   a later version of them): the max counts each once, never twice;
/// - every node, before it strips `gone`, joins its own view of `gone`'s
///   entries into the record too (a bottom delta when it holds nothing new),
///   so an update of `gone` that reached only some node is kept, not lost;
/// - the record and the removal travel in the same delta; a node strips
///   `gone` from its user state (`replicator::retire`) only once the record
///   holds `gone`. The user state and the record are separate replicators,
///   so they arrive in any order: before the strip, `gone`'s entries are in
///   both and the max counts them once; after it, only in the record.
/// Values are read over `including_retired(state, record)`: the user state
/// joined with every recorded contribution. That join is a max per entry, so
/// the value is exactly the one before the retirement, at every node and at
/// every moment, whatever arrived first.
///
/// Causal values (or_set, registers, flags, or_map) cannot be recorded that
/// way (a recorded dot could never be removed again), so the survivor
/// re-tags them with fresh dots of its own (`membership::retire` on those
/// fields only; see retirement.hpp for the race with a concurrent remove).
/// A node strips `gone` only when no value of its state still carries a dot
/// of `gone`, i.e. once the re-tag arrived (it covers the old dots); a node
/// that is itself the survivor re-tags what is left. Two survivors re-tag
/// twice: the same values under two dots, one value each.
///
/// # Bounded counters: what a crashed replica's rights become
/// Rights are computed over `including_retired` too, and spent only there
/// (`zmq_node::mutate_including_retired`). The recorded contribution keeps
/// `gone` as a frozen replica: its increments, decrements, the rights it gave
/// (its row) and the rights given to it (its column). So every live
/// replica's rights are exactly what they were, including rights `gone`
/// handed to the survivor before a graceful leave. Whatever `gone` still
/// held when it crashed stays with the frozen `gone`: stranded, never
/// spendable, since no live replica writes as `gone` and a returning `gone`
/// must restart as a new replica. Stranding can only make a decrement be
/// refused that could have been allowed; it can never oversell, because the
/// value is the sum of all increments minus all decrements, and every
/// replica's rights, the frozen ones included, add up to that value, none
/// of them negative: live replicas spend only their own.
///
/// # Not done
/// - The record keeps one entry per retired replica and counter, as
///   `members::retired()` keeps one id: it grows by a few bytes per
///   departure and is never compacted.
/// - The record is kept on disk only by a node given a place for it
///   (`membership_options::save_retired`; `converge-node --data-dir` keeps it
///   in DIR/retired-record, written before any strip it allows); an
///   in-memory node gets it back from its peers.

#include "converge/bounded_counter.hpp"
#include "converge/g_map.hpp"
#include "converge/gcounter.hpp"
#include "converge/gset.hpp"
#include "converge/lattice.hpp"
#include "converge/membership/members.hpp"
#include "converge/membership/retirement.hpp"
#include "converge/or_map.hpp"
#include "converge/pncounter.hpp"
#include "converge/replica_id.hpp"

#include <boost/hana/define_struct.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace converge::transport::detail {

/// What a node replicates beside the user's state, with a replicator of its
/// own (member_replication.hpp): the membership CRDT, and the record of
/// retired replicas (the ids recorded, and the non-bottom final
/// contribution of each, see `contribution`), all joined by max.
template <class State>
struct cluster_record {
  BOOST_HANA_DEFINE_STRUCT(cluster_record, (membership::members, roster), (gset<std::uint64_t>, recorded),
                           (g_map<std::uint64_t, State>, contributions));
  bool operator==(const cluster_record&) const = default;
};

namespace retirement_detail {

template <class T>
inline constexpr bool is_g_map = false;
template <class K, class V>
inline constexpr bool is_g_map<g_map<K, V>> = true;

}  // namespace retirement_detail

/// The counter entries `x` holds of replica `r` (counts, a bounded counter's
/// increments, decrements, and transfers from or to `r`), everything else
/// bottom: what the record keeps of a retired `r`.
template <class T>
[[nodiscard]] T contribution(const T& x, replica_id r) {
  if constexpr (std::is_same_v<T, gcounter>) {
    const std::uint64_t c = x.count(r);
    return c == 0 ? gcounter{} : gcounter::from_entries({{r, c}});
  } else if constexpr (std::is_same_v<T, pncounter>) {
    return pncounter::from_parts(contribution(x.increments(), r), contribution(x.decrements(), r));
  } else if constexpr (std::is_same_v<T, bounded_counter>) {
    std::vector<bounded_counter::transfer_entry> t;
    for (const auto& e : x.transfers()) {
      if (e.from == r || e.to == r) t.push_back(e);
    }
    return bounded_counter::from_parts(contribution(x.increments(), r), contribution(x.decrements(), r),
                                       std::move(t));
  } else if constexpr (retirement_detail::is_g_map<T>) {
    std::map<typename T::key_type, typename T::mapped_type> out;
    for (const auto& [k, v] : x) {
      auto c = contribution(v, r);
      if (!converge::is_bottom(c)) out.emplace(k, std::move(c));
    }
    return T::from_entries(std::move(out));
  } else if constexpr (causal_type<T>) {
    return T{};  // causal values are re-tagged, not recorded
  } else if constexpr (converge::detail::hana_struct<T>) {
    T out{};
    converge::detail::for_each_field(out, [&](auto get) { get(out) = contribution(get(x), r); });
    return out;
  } else {
    return T{};  // sets, LWW registers, members: no counter entry of anyone
  }
}

/// True when a value of `x` carries a dot of `r` (only causal types do).
template <class T>
[[nodiscard]] bool carries_dot_of(const T& x, replica_id r) {
  if constexpr (causal_type<T>) {
    bool found = false;
    x.store().for_each_dot([&](const dot& d) { found = found || d.replica == r; });
    return found;
  } else if constexpr (retirement_detail::is_g_map<T>) {
    return std::any_of(x.begin(), x.end(), [&](const auto& kv) { return carries_dot_of(kv.second, r); });
  } else if constexpr (converge::detail::hana_struct<T>) {
    bool found = false;
    converge::detail::for_each_field(x, [&](auto get) { found = found || carries_dot_of(get(x), r); });
    return found;
  } else {
    return false;
  }
}

/// The survivor's mutator for causal values: every value of `x` tagged with
/// a dot of `gone` gets a fresh dot of `survivor` (`membership::retire` on
/// the causal fields only; counters are recorded instead, never folded).
/// Changes `x`, returns the delta.
template <class T>
T retag_causal(T& x, replica_id gone, replica_id survivor) {
  if constexpr (causal_type<T>) {
    return membership::retire(x, gone, survivor);
  } else if constexpr (retirement_detail::is_g_map<T>) {
    std::vector<typename T::key_type> keys;
    for (const auto& [k, v] : x) {
      if (carries_dot_of(v, gone)) keys.push_back(k);
    }
    T d;
    for (const auto& k : keys) {
      d.join(x.update(k, [&](typename T::mapped_type& v) { return retag_causal(v, gone, survivor); }));
    }
    return d;
  } else if constexpr (converge::detail::hana_struct<T>) {
    T d{};
    converge::detail::for_each_field(x, [&](auto get) { get(d) = retag_causal(get(x), gone, survivor); });
    return d;
  } else {
    return T{};
  }
}

/// `state` joined with every contribution in `record`: the state a node
/// reads values and rights from (the same values as before any retirement).
template <class State>
[[nodiscard]] State including_retired(State state, const cluster_record<State>& record) {
  for (const auto& [id, c] : record.contributions) converge::join_into(state, c);
  return state;
}

/// When a departed replica is retired (milliseconds).
struct retirement_options {
  std::uint64_t leave_grace = 1000;    ///< after a graceful leave (`removed`) is first seen: 2T
  std::uint64_t down_period = 300000;  ///< after `down` is first seen, if it does not come back
};

/// What one `retirement::step` asks the shell to do, in this order.
template <class State>
struct retirement_actions {
  /// One mutation of the replicated record: removals, recorded ids and
  /// contributions, together (bottom when nothing).
  cluster_record<State> record;
  /// Survivor re-tags to run on the user state, `(gone, survivor)`.
  std::vector<replica_id> retag;
  /// Replica ids to strip from the user state (`replicator::retire`), after
  /// the re-tags.
  std::vector<replica_id> strip;
};

/// The smallest replica id among the members `view` holds `up`, retired ones
/// excluded: the survivor that retires departed replicas.
[[nodiscard]] inline std::optional<replica_id> survivor_of(const membership::members& view) {
  std::optional<replica_id> out;
  for (const auto& r : view.records()) {
    if (r.status != membership::member_status::up || view.is_retired(r.replica)) continue;
    if (!out || r.replica < *out) out = r.replica;
  }
  return out;
}

/// The retirement decisions of one node (see the file comment). Keeps only
/// when it first saw each departure (its own clock).
class retirement {
 public:
  explicit retirement(retirement_options o = {}) : opt_(o) {}

  /// One step at `now`: `view` is this node's membership, `self` its
  /// replica, `record` the replicated record, `state` the user state and
  /// `stripped` the ids its replicator already retired (sorted).
  template <class State>
  [[nodiscard]] retirement_actions<State> step(std::uint64_t now, const membership::members& view,
                                               replica_id self, const cluster_record<State>& record,
                                               const State& state, std::span<const replica_id> stripped) {
    observe_(view, now);
    retirement_actions<State> out;
    if (view.is_retired(self)) return out;  // this life is over: the node restarts, it decides nothing
    const std::optional<replica_id> survivor = survivor_of(view);
    const bool i_survive = survivor && *survivor == self;
    for (const auto& [r, d] : departed_) {
      if (record.recorded.contains(r.value()) || !i_survive || r == self) continue;
      const std::uint64_t wait =
          d.status == membership::member_status::removed ? opt_.leave_grace : opt_.down_period;
      if (now - d.since < wait) continue;
      if (view.status(d.node) != membership::member_status::removed)
        out.record.roster.join(membership::members(view).remove(d.node));
      out.record.recorded.join(gset<std::uint64_t>{}.insert(r.value()));
      add_contribution_(out.record, r, contribution(state, r));
      out.retag.push_back(r);
    }
    // Every recorded replica not stripped yet: this node's view of its
    // entries joins the record (bottom unless it knows more), and it is
    // stripped once no causal value carries its dots any more.
    for (const std::uint64_t id : record.recorded) {
      const replica_id r{id};
      if (std::binary_search(stripped.begin(), stripped.end(), r) || r == self) continue;
      const State mine = contribution(state, r);
      const State* known = record.contributions.find(id);
      if (known == nullptr || !converge::leq(mine, *known)) add_contribution_(out.record, r, mine);
      const bool retagging = std::find(out.retag.begin(), out.retag.end(), r) != out.retag.end();
      if (!retagging && carries_dot_of(state, r)) {
        if (!i_survive) continue;  // the survivor's re-tag is on its way
        out.retag.push_back(r);
      }
      out.strip.push_back(r);
    }
    for (const replica_id r : out.retag) {
      if (std::find(out.strip.begin(), out.strip.end(), r) == out.strip.end()) out.strip.push_back(r);
    }
    std::sort(out.strip.begin(), out.strip.end());
    // A departure recorded and stripped needs no more timing (its tombstone stays in the roster).
    std::erase_if(departed_, [&](const auto& d) {
      return record.recorded.contains(d.first.value()) &&
             (std::binary_search(stripped.begin(), stripped.end(), d.first) ||
              std::binary_search(out.strip.begin(), out.strip.end(), d.first));
    });
    return out;
  }

  /// The departures this node is timing: replica → (node, status, since).
  struct departure {
    membership::node_id node = 0;
    membership::member_status status = membership::member_status::down;
    std::uint64_t since = 0;
  };
  [[nodiscard]] const std::map<replica_id, departure>& departures() const noexcept { return departed_; }
  [[nodiscard]] const retirement_options& options() const noexcept { return opt_; }

 private:
  template <class State>
  static void add_contribution_(cluster_record<State>& into, replica_id r, State c) {
    if (converge::is_bottom(c)) return;  // g_map keeps no bottom value: `recorded` says it retired
    std::map<std::uint64_t, State> e;
    e.emplace(r.value(), std::move(c));
    into.contributions.join(g_map<std::uint64_t, State>::from_entries(std::move(e)));
  }

  void observe_(const membership::members& view, std::uint64_t now) {
    for (const auto& rec : view.records()) {
      const bool departed =
          rec.status == membership::member_status::down || rec.status == membership::member_status::removed;
      auto it = departed_.find(rec.replica);
      if (!departed) {
        if (it != departed_.end() && it->second.node == rec.node) departed_.erase(it);
        continue;
      }
      if (it == departed_.end()) {
        departed_.emplace(rec.replica, departure{rec.node, rec.status, now});
      } else if (it->second.status != rec.status) {
        it->second = departure{rec.node, rec.status, now};  // down, then removed: the leave grace from here
      }
    }
  }

  retirement_options opt_;
  std::map<replica_id, departure> departed_;
};

}  // namespace converge::transport::detail
