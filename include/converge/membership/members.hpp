#pragma once
/// @file
/// `converge::membership::members`: who is in the cluster, as a converge
/// CRDT. Maps each node id to one member record; the join keeps, per node,
/// the greatest record in a total order, so it is a true semilattice
/// (commutative, associative, idempotent) and deltas are records.
///
/// # The order of records
/// Records of one node compare by, in turn:
///  1. `incarnation`: only the node itself raises it (to refute a suspicion
///     or a `down`, to rejoin); a higher incarnation always wins;
///  2. status precedence at equal incarnation:
///     `joining < up < leaving < down < removed`: what others say about an
///     incarnation (`down`, `removed`) overrides what it said about itself,
///     and a node's own later step (`up` after `joining`, `leaving` after
///     `up`) overrides its earlier one;
///  3. a deterministic tie-break on the rest of the record (replica id,
///     endpoints, CURVE key), so two different records of equal
///     (incarnation, status) — a node restarted without data that reused an
///     incarnation — resolve the same way on every replica.
///
/// The maximum of a total order is a semilattice join: nothing else is
/// needed for convergence, whatever the order, loss or duplication of deltas.
///
/// # `removed` is a tombstone
/// `removed` at incarnation i beats every record of incarnation ≤ i, so a
/// late `up` of the removed life can never resurrect it. A higher incarnation
/// does win: that is a rejoin, and it must carry a new replica id, because
/// the removed life's replica id goes into the `retired` set (grow-only) at
/// removal, and retirement prunes that id from every type's metadata. The
/// failure detector never refutes a `removed` record of its own replica id:
/// the process must restart with a new replica id (`replica_id::with_incarnation`).
/// A removed record keeps only its replica id (no endpoints, no key): the
/// tombstone stays small. The retired ids themselves are encoded as runs of
/// consecutive ids (wire.hpp): with ids that grow from one life to the
/// next, their bytes are bounded by the live members, not by how many
/// lives came before.
///
/// # What is not here
/// Suspicion is local to each failure detector (failure_detector.hpp): the
/// CRDT records only outcomes (`down`, refutations), so a suspicion that is
/// refuted leaves no trace in the replicated state.

#include "converge/detail/throw.hpp"
#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace converge::membership {

/// A node's identity in the cluster: the transport's peer id (the
/// replicator's `peer_id`), stable across restarts of one service.
using node_id = std::uint64_t;

/// Where a member stands; see the file comment for the precedence.
enum class member_status : std::uint8_t { joining = 0, up = 1, leaving = 2, down = 3, removed = 4 };

/// The largest valid `member_status` value (for decoders).
inline constexpr std::uint8_t max_member_status = 4;

/// The status as a lowercase word ("joining", "up", ...).
[[nodiscard]] constexpr const char* to_string(member_status s) noexcept {
  switch (s) {
    case member_status::joining:
      return "joining";
    case member_status::up:
      return "up";
    case member_status::leaving:
      return "leaving";
    case member_status::down:
      return "down";
    case member_status::removed:
      return "removed";
  }
  return "unknown";
}

/// True for the statuses of a member that takes part (probed, linked, counted
/// in quorums): joining, up, leaving.
[[nodiscard]] constexpr bool is_live(member_status s) noexcept {
  return s == member_status::joining || s == member_status::up || s == member_status::leaving;
}

/// One member: what a node says about itself (replica, endpoints, key) and
/// where it stands (status, incarnation).
struct member_record {
  node_id node = 0;
  replica_id replica{};
  std::vector<std::string> endpoints;  ///< transport endpoints, e.g. "tcp://10.0.0.5:7000"
  std::string curve_public_key;        ///< Z85 CURVE public key; empty when CURVE is off
  member_status status = member_status::joining;
  std::uint64_t incarnation = 0;  ///< only grows; only the node itself raises it

  bool operator==(const member_record&) const = default;
};

/// The total order of records of one node (see the file comment): true when
/// `a` loses to `b`.
[[nodiscard]] inline bool precedes(const member_record& a, const member_record& b) {
  return std::tie(a.incarnation, a.status, a.replica, a.endpoints, a.curve_public_key) <
         std::tie(b.incarnation, b.status, b.replica, b.endpoints, b.curve_public_key);
}

/// The membership CRDT: node id → member record, and the retired replica ids.
class members {
 public:
  /// Bottom: no member known, nothing retired.
  members() = default;

  // ------------------------------------------------------------ mutators
  // Each changes this state and returns the delta (bottom when nothing
  // changed): one record, and for `remove` the retired replica id.

  /// A node announces itself: its record as given (status `joining` or `up`
  /// usually). The record wins only if it is greater than the known one.
  members announce(member_record r) { return put_(std::move(r)); }

  /// The node itself is up (after its join completed), at its incarnation.
  members mark_up(node_id n) { return self_step_(n, member_status::up); }

  /// The node itself leaves gracefully: `leaving` at its current incarnation.
  members leave(node_id n) { return self_step_(n, member_status::leaving); }

  /// The node itself refutes what others said (a suspicion, `down`, or a
  /// record it did not write): its record goes to `status` at an
  /// incarnation above every one seen for it. Returns the delta.
  members refute(node_id n, member_status status = member_status::up) {
    const member_record* cur = find(n);
    if (cur == nullptr) return {};
    member_record r = *cur;
    r.incarnation = cur->incarnation + 1;
    r.status = status;
    return put_(std::move(r));
  }

  /// A failure detector confirmed `n` down at `incarnation` (the incarnation
  /// it suspected). Changes nothing when the known record is newer (a
  /// refutation already arrived) or already down or removed.
  members confirm_down(node_id n, std::uint64_t incarnation) {
    const member_record* cur = find(n);
    if (cur == nullptr || cur->incarnation != incarnation) return {};
    member_record r = *cur;
    r.status = member_status::down;
    return put_(std::move(r));
  }

  /// Removes `n` for good at its current incarnation (after a graceful
  /// leave, or a documented grace period after `down`): a small tombstone,
  /// and its replica id retired. Bottom when unknown or already removed.
  members remove(node_id n) {
    const member_record* cur = find(n);
    if (cur == nullptr || cur->status == member_status::removed) return {};
    member_record r;
    r.node = n;
    r.replica = cur->replica;
    r.status = member_status::removed;
    r.incarnation = cur->incarnation;
    return put_(std::move(r));
  }

  // ------------------------------------------------------------- queries

  /// The record of node `n`; nullptr when unknown.
  [[nodiscard]] const member_record* find(node_id n) const noexcept {
    const auto it = lower_(n);
    return it != records_.end() && it->node == n ? &*it : nullptr;
  }
  /// The status of node `n`, if known.
  [[nodiscard]] std::optional<member_status> status(node_id n) const noexcept {
    const member_record* r = find(n);
    return r != nullptr ? std::optional{r->status} : std::nullopt;
  }
  /// Every record, sorted by node id.
  [[nodiscard]] const std::vector<member_record>& records() const noexcept { return records_; }
  /// Replica ids retired by `remove`, sorted.
  [[nodiscard]] const std::vector<replica_id>& retired() const noexcept { return retired_; }
  /// True when replica `r` was retired.
  [[nodiscard]] bool is_retired(replica_id r) const noexcept {
    return std::binary_search(retired_.begin(), retired_.end(), r);
  }
  /// The number of members with status `s`.
  [[nodiscard]] std::size_t count(member_status s) const noexcept {
    return static_cast<std::size_t>(std::count_if(records_.begin(), records_.end(),
                                                  [&](const member_record& r) { return r.status == s; }));
  }
  /// The number of live members (joining, up or leaving).
  [[nodiscard]] std::size_t live_count() const noexcept {
    return static_cast<std::size_t>(std::count_if(records_.begin(), records_.end(),
                                                  [](const member_record& r) { return is_live(r.status); }));
  }
  /// The node ids of live members, ascending.
  [[nodiscard]] std::vector<node_id> live_nodes() const {
    std::vector<node_id> out;
    for (const member_record& r : records_) {
      if (is_live(r.status)) out.push_back(r.node);
    }
    return out;
  }

  // -------------------------------------------------------------- lattice

  /// Joins `other` in place: per node the greater record, retired ids united.
  /// A no-op on itself. O(m log n) for a small `other` of m records.
  void join(const members& other) {
    if (&other == this) return;
    for (const member_record& r : other.records_) merge_(r);
    if (!other.retired_.empty()) {
      std::vector<replica_id> out;
      out.reserve(retired_.size() + other.retired_.size());
      std::set_union(retired_.begin(), retired_.end(), other.retired_.begin(), other.retired_.end(),
                     std::back_inserter(out));
      retired_ = std::move(out);
    }
  }

  /// Lattice order: every record of this is at most `other`'s, every retired
  /// id is retired in `other`.
  [[nodiscard]] bool leq(const members& other) const {
    for (const member_record& r : records_) {
      const member_record* o = other.find(r.node);
      if (o == nullptr || precedes(*o, r)) return false;
    }
    return std::includes(other.retired_.begin(), other.retired_.end(), retired_.begin(), retired_.end());
  }

  /// The records and retired ids of this (delta) that `state` lacks: what
  /// joining it would change; bottom when nothing.
  [[nodiscard]] members novel_to(const members& state) const {
    members out;
    for (const member_record& r : records_) {
      const member_record* o = state.find(r.node);
      if (o == nullptr || precedes(*o, r)) out.push_(r);
    }
    for (const replica_id id : retired_) {
      if (!state.is_retired(id)) out.retired_.push_back(id);
    }
    return out;
  }

  /// Joins `delta` in place and returns its novel part (what `novel_to(*this)`
  /// returned before), finding each record once.
  members absorb(const members& delta) {
    return absorb(delta, [](int, const member_record&) {});
  }

  /// `absorb`, calling `seen(before, record)` for every record that changed
  /// this state, with the status it replaced (-1 when the node was unknown).
  template <class F>
  members absorb(const members& delta, F&& seen) {
    members fresh;
    if (&delta == this) return fresh;
    for (const member_record& r : delta.records_) {
      auto it = records_.begin() + (lower_(r.node) - records_.cbegin());
      if (it != records_.end() && it->node == r.node) {
        if (!precedes(*it, r)) continue;
        seen(static_cast<int>(it->status), r);
        *it = r;
      } else {
        seen(-1, r);
        keys_.insert(keys_.begin() + (it - records_.begin()), r.node);
        records_.insert(it, r);
      }
      fresh.push_(r);
    }
    for (const replica_id id : delta.retired_) {
      if (!is_retired(id)) fresh.retired_.push_back(id);
    }
    if (!fresh.retired_.empty()) {
      std::vector<replica_id> out;
      out.reserve(retired_.size() + fresh.retired_.size());
      std::set_union(retired_.begin(), retired_.end(), fresh.retired_.begin(), fresh.retired_.end(),
                     std::back_inserter(out));
      retired_ = std::move(out);
    }
    return fresh;
  }

  /// Splits into at most `parts` states whose join is this one (records in
  /// runs, the retired ids with the first part), for messages under a cap.
  [[nodiscard]] std::vector<members> split(std::size_t parts) const {
    const std::size_t n = std::max<std::size_t>(1, std::min(parts, records_.size()));
    std::vector<members> out(n);
    for (std::size_t i = 0; i < records_.size(); ++i) out[i * n / records_.size()].push_(records_[i]);
    out.front().retired_ = retired_;
    return out;
  }

  /// True when bottom.
  [[nodiscard]] bool empty() const noexcept { return records_.empty() && retired_.empty(); }

  /// State equality.
  bool operator==(const members&) const = default;

  /// For serialization: builds a state from records strictly sorted by node
  /// id and retired ids strictly sorted (the replicas of removed records are
  /// added to the retired ids). Throws `std::invalid_argument` otherwise, or
  /// on a status out of range.
  [[nodiscard]] static members from_parts(std::vector<member_record> records,
                                          std::vector<replica_id> retired) {
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (static_cast<std::uint8_t>(records[i].status) > max_member_status)
        converge::detail::throw_invalid_argument("converge::membership::members: status out of range");
      if (i > 0 && !(records[i - 1].node < records[i].node))
        converge::detail::throw_invalid_argument("converge::membership::members: nodes not strictly sorted");
    }
    for (std::size_t i = 1; i < retired.size(); ++i) {
      if (!(retired[i - 1] < retired[i]))
        converge::detail::throw_invalid_argument(
            "converge::membership::members: retired not strictly sorted");
    }
    // The replica of every removed record is retired (see `put_`).
    std::vector<replica_id> implied;
    for (const member_record& r : records) {
      if (r.status == member_status::removed &&
          !std::binary_search(retired.begin(), retired.end(), r.replica))
        implied.push_back(r.replica);
    }
    if (!implied.empty()) {
      std::sort(implied.begin(), implied.end());
      implied.erase(std::unique(implied.begin(), implied.end()), implied.end());
      std::vector<replica_id> all;
      std::set_union(retired.begin(), retired.end(), implied.begin(), implied.end(), std::back_inserter(all));
      retired = std::move(all);
    }
    members out;
    out.keys_.reserve(records.size());
    for (const member_record& r : records) out.keys_.push_back(r.node);
    out.records_ = std::move(records);
    out.retired_ = std::move(retired);
    return out;
  }

 private:
  /// The first record whose node is not below `n`. Searches the node ids
  /// alone (8 bytes a record, not a whole record): most of the cost of a
  /// lookup in a large membership is cache misses.
  [[nodiscard]] std::vector<member_record>::const_iterator lower_(node_id n) const noexcept {
    const auto k = std::lower_bound(keys_.begin(), keys_.end(), n);
    return records_.begin() + (k - keys_.begin());
  }

  void push_(member_record r) {
    keys_.push_back(r.node);
    records_.push_back(std::move(r));
  }

  /// Joins one record in; true when it changed the state.
  bool merge_(const member_record& r) {
    auto it = records_.begin() + (lower_(r.node) - records_.cbegin());
    if (it != records_.end() && it->node == r.node) {
      if (!precedes(*it, r)) return false;
      *it = r;
      return true;
    }
    keys_.insert(keys_.begin() + (it - records_.begin()), r.node);
    records_.insert(it, r);
    return true;
  }

  /// Joins one record in and returns it as a delta; a `removed` record
  /// carries its retired replica id (every state keeps the invariant that
  /// the replica of each removed record is retired, so any delta, alone,
  /// retires what it removes).
  members put_(member_record r) {
    if (!merge_(r)) return {};
    members delta;
    if (r.status == member_status::removed) {
      delta.retired_.push_back(r.replica);
      if (!is_retired(r.replica))
        retired_.insert(std::lower_bound(retired_.begin(), retired_.end(), r.replica), r.replica);
    }
    delta.push_(std::move(r));
    return delta;
  }

  /// A step the node takes itself at its current incarnation; refused (bottom)
  /// when the step does not outrank the current status.
  members self_step_(node_id n, member_status s) {
    const member_record* cur = find(n);
    if (cur == nullptr || cur->status >= s) return {};
    member_record r = *cur;
    r.status = s;
    return put_(std::move(r));
  }

  std::vector<member_record> records_;  // sorted by node, one per node
  std::vector<node_id> keys_;           // records_[i].node, for lookups
  std::vector<replica_id> retired_;     // sorted
};

static_assert(delta_lattice<members>);

}  // namespace converge::membership
