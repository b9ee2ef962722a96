#pragma once
/// @file
/// `converge::testing::churn_simulator`: the simulator's network of
/// replicators (simulator.hpp) with replicas that come and go for good —
/// graceful leaves, crashes, and joins under fresh replica ids — and the
/// retirement of every departed replica (membership/retirement.hpp), so a
/// run shows that metadata stays bounded while values stay exact.
///
/// # The state
/// Every replica replicates `churn_state<User>`: the `members` CRDT and the
/// user's state in one Hana struct, so a membership change and a fold travel
/// in one delta. Slot `i` (a network node, node id `i + 1`) hosts one life
/// after another; each life has a fresh replica id (1, 2, 3, ... in order of
/// birth, so the oldest live replica has the smallest id) and the slot's next
/// member incarnation. At most `replicas` lives run at once.
///
/// # A run
/// At every gossip-interval boundary, while departures remain (`churn` in
/// all), one of at most max(1, replicas / 4) transitions may start:
/// - a graceful **leave** (two in three): the life announces `leaving`,
///   issues no more operations, and departs once it is quiescent (everything
///   it holds acknowledged by its neighbours);
/// - a **crash** (one in three), of a quiescent life whose every write some
///   other replica holds (losing writes that exist nowhere else is data
///   loss no protocol can undo, as in simulator.hpp). `detect_intervals`
///   later the oldest live replica records it `down` (the failure detector's
///   verdict, without false positives here).
/// After the grace period (`grace_intervals` after the departure) the oldest
/// live replica — the survivor rule, checked in its own view: it sees
/// itself as the smallest `up` replica id, and the departed life as leaving
/// or down — runs one mutation: `members::remove` and
/// `membership::retire(user, gone, survivor)`. The simulator plays the part
/// of a grace period long enough for the network at hand: the survivor
/// folds only once it holds the departed life's final state (and so every
/// update of it that exists anywhere); each check it waits more counts in
/// `grace_extended`. Every replica, when a received payload brings new
/// retired ids, runs `membership::retire_own` (re-addressing its
/// bounded-counter transfers to the departed replica onto the survivor it
/// sees) and `replicator::retire`, which strips its state and every later
/// payload. The slot then hosts a new life, which announces itself `up`
/// and receives the state by state transfer from its neighbours.
///
/// The topology is static (no view repair), so a departure that would cut
/// the running replicas in two waits (folds would wait forever for a state
/// on the other side), and a new life starts only next to a running
/// replica (an isolated one would write, and leave, unheard).
///
/// Operations pause four gossip intervals in every eight, so replicas go
/// quiescent and leaves and crashes happen. Partitions, loss, duplication
/// and reordering are the simulator's (`sim_faults`); `crash` and
/// `durable` are not used here.
///
/// # Checks
/// The oracle joins every delta issued — operations, announcements,
/// removals, folds, re-tags and re-addresses. The run ends when every
/// departure has been retired, every slot runs, and every replica is
/// quiescent; it then checks:
/// - `converged`: every replica holds the same state;
/// - `values_match_oracle`: that state equals the oracle stripped of every
///   retired id (stripping commutes with join, so this is exact), and no
///   fold ever changed a value at its survivor (`fold_value_changes`: the
///   user-visible values before the fold and after fold and strip);
/// - `members_converged`: every replica's members agree, each slot's
///   current life is `up` in them and every departed life's id is retired.
/// `max_replica_ids` is the most distinct replica ids in any replica's user
/// state metadata (`membership::replica_ids`: counter entries, transfer
/// rows and columns, causal contexts, LWW writers), measured after every
/// change of any replica's state.

#include "converge/lattice.hpp"
#include "converge/membership/members.hpp"
#include "converge/membership/retirement.hpp"
#include "converge/membership/wire.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/testing/cluster.hpp"
#include "converge/testing/entropy.hpp"
#include "converge/testing/network.hpp"
#include "converge/testing/simulator.hpp"
#include "converge/testing/workloads.hpp"
#include "converge/wire/encode.hpp"

#include <boost/hana/define_struct.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge::testing {

/// What every replica of a churn run replicates: membership and the user's state.
template <class User>
struct churn_state {
  BOOST_HANA_DEFINE_STRUCT(churn_state, (membership::members, members), (User, user));
  bool operator==(const churn_state&) const = default;
};

/// The replica ids of the running lives, for workloads that name other
/// replicas (bounded-counter transfers): set by the churn simulator before
/// every operation. Per thread, so parallel runs do not mix.
inline std::vector<replica_id>& churn_live_ids() {
  thread_local std::vector<replica_id> ids;
  return ids;
}

/// What a churn run measured, beyond `sim_result`.
struct churn_stats {
  std::uint64_t departures = 0;  ///< lives that ended (leaves + crashes)
  std::uint64_t leaves = 0;
  std::uint64_t crashes = 0;
  std::uint64_t incarnations = 0;  ///< lives started, the first ones included
  std::uint64_t folds = 0;         ///< retirements run by a survivor
  std::uint64_t readdresses = 0;   ///< non-bottom `retire_own` deltas
  std::uint64_t grace_extended = 0;
  std::uint64_t fold_value_changes = 0;  ///< must be 0
  std::size_t max_replica_ids = 0;
  bool members_converged = false;
  bool values_match_oracle = false;
  std::size_t final_state_bytes = 0;  ///< encoded user state at the end
  std::size_t members_bytes = 0;      ///< encoded members at the end
  std::size_t whole_state_bytes = 0;  ///< encoded whole replicated state (members and user) at the end
  std::size_t retired = 0;            ///< retired ids at the end
  std::size_t final_replica_ids = 0;  ///< distinct replica ids in the final user state
};

/// A churn run's result.
struct churn_result : sim_result {
  churn_stats churn;
};

namespace detail {

// Everything a user can read from a state, as text: what a fold must keep.
template <class T>
void observe(std::ostringstream& o, const T& x);

template <class R>
void observe_sorted(std::ostringstream& o, const R& r) {
  std::vector<std::remove_cvref_t<decltype(*r.begin())>> v(r.begin(), r.end());
  std::sort(v.begin(), v.end());
  o << '{';
  for (const auto& e : v) o << e << ',';
  o << '}';
}

template <class T>
void observe(std::ostringstream& o, const T& x) {
  if constexpr (requires {
                  typename T::key_type;
                  typename T::mapped_type;
                }) {
    o << '{';
    for (const auto& [k, v] : x) {
      o << k << ':';
      observe(o, v);
      o << ';';
    }
    o << '}';
  } else if constexpr (requires { x.elements(); }) {
    observe_sorted(o, x.elements());
  } else if constexpr (requires { x.values(); }) {
    observe_sorted(o, x.values());
  } else if constexpr (requires { x.writer(); }) {
    if (const auto v = x.value()) o << *v;
    o << '!';
  } else if constexpr (requires { x.value(); }) {
    o << x.value();
  } else if constexpr (requires {
                         x.begin();
                         typename T::value_type;
                       }) {
    observe_sorted(o, x);
  } else {
    static_assert(converge::detail::hana_struct<T>,
                  "converge::testing::churn: a type with no observable value");
    converge::detail::for_each_field(x, [&](auto get) {
      observe(o, get(x));
      o << '|';
    });
  }
}

template <class T>
std::string observed(const T& x) {
  std::ostringstream o;
  observe(o, x);
  return o.str();
}

}  // namespace detail

/// A deterministic churn simulation of `User` driven by `Op` (a workload of
/// workloads.hpp); see the file comment.
template <delta_lattice User, class Op>
class churn_simulator {
 public:
  using state = churn_state<User>;

  /// Gossip intervals from a crash to its `down` record.
  static constexpr std::uint64_t detect_intervals = 2;
  /// Gossip intervals from a departure to its removal, at the least.
  static constexpr std::uint64_t grace_intervals = 4;

  churn_simulator(sim_options options, std::uint64_t churn, Op op)
      : opt_(std::move(options)), churn_(churn), op_(std::move(op)) {
    if (opt_.replicas < 2) throw std::invalid_argument("churn needs at least 2 replicas");
    if (opt_.durable || opt_.faults.crash > 0)
      throw std::invalid_argument("churn runs its own crashes: no crash probability, no durable replicas");
    if (opt_.ops_per_tick == 0) opt_.ops_per_tick = std::max<std::uint64_t>(1, opt_.replicas / 8);
    interval_ = std::max<std::uint64_t>(1, opt_.replication.gossip_interval);
    if (opt_.faults.max_extra_delay == 0) opt_.faults.max_extra_delay = 3 * interval_;
    sim_rng topo_rng = sim_rng::derive(opt_.seed, 1);
    work_rng_ = sim_rng::derive(opt_.seed, 2);
    fault_rng_ = sim_rng::derive(opt_.seed, 3);
    const network_options net{.delay = opt_.delay,
                              .loss = opt_.faults.loss,
                              .duplicate = opt_.faults.duplicate,
                              .reorder = opt_.faults.reorder,
                              .max_extra_delay = opt_.faults.max_extra_delay};
    c_ = cluster<state>(opt_.replicas, network(opt_.replicas, net, sim_rng::derive(opt_.seed, 4)));
    graph_ = opt_.topo.build(opt_.replicas, topo_rng);
    slots_.resize(opt_.replicas);
    max_transitions_ = std::max<std::size_t>(1, opt_.replicas / 4);
    // Operations are spread over the churn: about two gossip intervals per
    // departure, half of them with operations running.
    const double op_ticks =
        static_cast<double>(std::max<std::uint64_t>(1, churn_)) * static_cast<double>(interval_);
    op_rate_ = churn_ == 0 ? 0.0 : static_cast<double>(opt_.ops) / op_ticks;
    for (std::size_t i = 0; i < opt_.replicas; ++i) begin_life(i);
  }

  /// Runs to the end of the churn and convergence, or the tick limit.
  churn_result run() {
    const std::uint64_t limit = opt_.max_ticks != 0 ? opt_.max_ticks : 1000 * interval_;
    bool ended = false;
    std::uint64_t ended_at = 0, next_check = 0;
    for (;;) {
      if (!ended) {
        if (c_.now % interval_ == 0) {
          churn_step();
          partition_step();
        }
        issue_ops();
        if (issued_ == opt_.ops && churn_finished()) {
          ended = true;
          ended_at = c_.now;
          c_.net().heal();
        } else if (c_.now > churn_limit()) {
          result_.failure = "the churn did not finish by tick " + std::to_string(c_.now) + ": " + describe();
          result_.seed = opt_.seed;
          result_.ops = issued_;
          result_.ticks = c_.now;
          collect_metrics();
          return result_;
        }
      }
      deliver_due();
      c_.tick_due();
      if (ended && c_.now >= next_check) {
        next_check = c_.now + interval_ / 2 + 1;
        if (c_.all_quiescent()) {
          check();
          break;
        }
        if (c_.now - ended_at > limit) {
          result_.failure = "no quiescence within " + std::to_string(limit) + " ticks after the churn";
          break;
        }
      }
      advance(ended);
    }
    result_.seed = opt_.seed;
    result_.ops = issued_;
    result_.ticks = c_.now;
    result_.ticks_to_converge = c_.now - ended_at;
    collect_metrics();
    return result_;
  }

 private:
  enum class phase { running, leaving, empty };
  struct slot {
    phase ph = phase::empty;
    replica_id id{};
    std::uint64_t incarnation = 0;  // member incarnation of the current (or last) life
    bool reusable = true;           // empty and its last life removed
  };
  struct departed {
    std::size_t slot;
    replica_id id;
    std::uint64_t incarnation;
    std::uint64_t at;
    bool crashed;
    bool down_marked;
    state final;
  };

  [[nodiscard]] membership::node_id node_of(std::size_t i) const { return i + 1; }

  [[nodiscard]] bool churn_finished() const {
    if (res().departures < churn_ || !pending_.empty()) return false;
    return std::all_of(slots_.begin(), slots_.end(), [](const slot& s) { return s.ph == phase::running; });
  }
  [[nodiscard]] const churn_stats& res() const { return result_.churn; }

  /// The smallest replica id among `up` members not retired: the survivor in that view.
  [[nodiscard]] static std::optional<replica_id> survivor_in(const membership::members& m) {
    std::optional<replica_id> best;
    for (const membership::member_record& r : m.records()) {
      if (r.status != membership::member_status::up || m.is_retired(r.replica)) continue;
      if (!best || r.replica < *best) best = r.replica;
    }
    return best;
  }

  /// The running slot whose life has the smallest replica id (the oldest).
  [[nodiscard]] std::optional<std::size_t> oldest_running() const {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].ph == phase::running && (!best || slots_[i].id < slots_[*best].id)) best = i;
    }
    return best;
  }

  /// Applies a mutation at slot `i`, joins its delta into the oracle.
  template <class F>
  state mutate(std::size_t i, F&& fn) {
    state d = c_[i].mutate(fn);
    c_.at(i).touched = true;
    if (!converge::is_bottom(d)) converge::join_into(oracle_, d);
    measure(i);
    return d;
  }

  void measure(std::size_t i) {
    const std::size_t n = membership::replica_ids(c_[i].state().user).size();
    result_.churn.max_replica_ids = std::max(result_.churn.max_replica_ids, n);
  }

  void begin_life(std::size_t i) {
    slot& s = slots_[i];
    s.ph = phase::running;
    s.reusable = false;
    s.id = replica_id{++births_};
    ++result_.churn.incarnations;
    if (births_ > opt_.replicas) ++s.incarnation;
    replicator_options o = opt_.replication;
    o.session = 1 + fault_rng_.below(0xffffffffULL);
    std::vector<std::size_t> peers;
    for (const std::size_t j : graph_[i]) {
      if (slots_[j].ph != phase::empty) peers.push_back(j);
    }
    c_.start(i, s.id, o, state{}, peers);
    for (const std::size_t j : peers) c_[j].add_peer(i);
    membership::member_record rec;
    rec.node = node_of(i);
    rec.replica = s.id;
    rec.status = membership::member_status::up;
    rec.incarnation = s.incarnation;
    mutate(i, [&](state& st) {
      state d{};
      d.members = st.members.announce(rec);
      return d;
    });
  }

  void depart(std::size_t i, bool crashed) {
    slot& s = slots_[i];
    pending_.push_back({i, s.id, s.incarnation, c_.now, crashed, false, c_[i].state()});
    (void)c_.crash(i, [] { return false; });
    c_.at(i).saved = state{};  // this life is over: its slot starts the next one from bottom
    s.ph = phase::empty;
    for (std::size_t j = 0; j < slots_.size(); ++j) {
      if (slots_[j].ph != phase::empty) c_[j].remove_peer(i);
    }
    ++result_.churn.departures;
  }

  /// Slot `i` received something: new retired ids are re-addressed and stripped.
  void learn(std::size_t i) {
    replicator<state>& r = c_[i];
    // The replicator's retired ids are a subset of its members' (it learns
    // them only here and at folds): the sizes tell news, without a copy.
    if (r.state().members.retired().size() != r.retired().size()) {
      const std::vector<replica_id> ids = r.state().members.retired();
      std::vector<replica_id> fresh;
      std::set_difference(ids.begin(), ids.end(), r.retired().begin(), r.retired().end(),
                          std::back_inserter(fresh));
      if (const auto surv = survivor_in(r.state().members)) {
        const replica_id self = r.self();
        for (const replica_id g : fresh) {
          const state d = mutate(i, [&](state& st) {
            state out{};
            out.user = membership::retire_own(st.user, g, self, *surv);
            return out;
          });
          if (!converge::is_bottom(d)) ++result_.churn.readdresses;
        }
      }
      r.retire(fresh);
    }
    measure(i);
  }

  void deliver_due() {
    for (const packet& p : c_.net().take_due(c_.now)) {
      if (c_.deliver(p)) learn(p.to);
    }
  }

  void churn_step() {
    // Leaving lives depart once everything they hold is acknowledged.
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].ph == phase::leaving && c_[i].quiescent()) depart(i, false);
    }
    const std::optional<std::size_t> oldest = oldest_running();
    if (!oldest) return;
    // The failure detector's verdicts on crashed lives.
    for (departed& d : pending_) {
      if (!d.crashed || d.down_marked || c_.now < d.at + detect_intervals * interval_) continue;
      // Until the oldest replica knows the crashed life's record, it has nothing to mark.
      const state delta = mutate(*oldest, [&](state& st) {
        state out{};
        out.members = st.members.confirm_down(node_of(d.slot), d.incarnation);
        return out;
      });
      const auto seen = c_[*oldest].state().members.status(node_of(d.slot));
      d.down_marked = !converge::is_bottom(delta) || seen == membership::member_status::down;
    }
    // Removals and folds, by the survivor, after the grace period.
    for (auto it = pending_.begin(); it != pending_.end();) {
      it = try_fold(*oldest, *it) ? pending_.erase(it) : std::next(it);
    }
    // New lives in free slots.
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].ph == phase::empty && slots_[i].reusable && births_ < opt_.replicas + churn_ &&
          has_running_neighbour(i))
        begin_life(i);
    }
    start_departure();
  }

  bool try_fold(std::size_t si, const departed& d) {
    if (d.crashed && !d.down_marked) return false;
    if (c_.now < d.at + grace_intervals * interval_) return false;
    replicator<state>& r = c_[si];
    const membership::members& view = r.state().members;
    const membership::member_record* rec = view.find(node_of(d.slot));
    if (rec == nullptr || rec->replica != d.id ||
        (rec->status != membership::member_status::leaving && rec->status != membership::member_status::down))
      return false;
    if (survivor_in(view) != r.self()) return false;
    if (!converge::leq(membership::without_retired(d.final, r.retired()), r.state())) {
      ++result_.churn.grace_extended;
      return false;
    }
    const replica_id self = r.self();
    const std::string before = detail::observed(r.state().user);
    mutate(si, [&](state& st) {
      state out{};
      out.members = st.members.remove(node_of(d.slot));
      out.user = membership::retire(st.user, d.id, self);
      return out;
    });
    const replica_id gone_id = d.id;
    r.retire(std::span<const replica_id>(&gone_id, 1));
    measure(si);
    if (detail::observed(r.state().user) != before) ++result_.churn.fold_value_changes;
    ++result_.churn.folds;
    slots_[d.slot].reusable = true;
    return true;
  }

  void start_departure() {
    if (res().departures + in_flight() >= churn_) return;
    std::size_t running = 0, transitions = 0;
    for (const slot& s : slots_) {
      if (s.ph == phase::running) ++running;
      if (s.ph != phase::running) ++transitions;
    }
    transitions = std::max(transitions, pending_.size());
    if (transitions >= max_transitions_ || running < 2 || !fault_rng_.chance(0.5)) return;
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].ph == phase::running) candidates.push_back(i);
    }
    const std::size_t i = candidates[fault_rng_.below(candidates.size())];
    // The topology is static (no view repair here): a departure that would
    // cut the running replicas in two waits, or folds could wait forever
    // for a state on the other side, and the slots between for the folds.
    if (!running_connected_without(i)) return;
    if (fault_rng_.chance(1.0 / 3)) {
      // A crash loses nothing only when every write is held elsewhere.
      if (!c_[i].quiescent() || !c_.held_elsewhere(i)) return;
      ++result_.churn.crashes;
      depart(i, true);
      return;
    }
    ++result_.churn.leaves;
    slots_[i].ph = phase::leaving;
    mutate(i, [&](state& st) {
      state out{};
      out.members = st.members.leave(node_of(i));
      return out;
    });
  }

  /// A generous bound on the churn phase: every departure takes a few
  /// grace periods at most, and operations issue at `ops_per_tick` after it.
  [[nodiscard]] std::uint64_t churn_limit() const {
    return (churn_ + 10) * 100 * interval_ + 16 * (opt_.ops / opt_.ops_per_tick + 1);
  }

  /// The slots and the departures waiting for removal, for a failure report.
  [[nodiscard]] std::string describe() const {
    std::string out = "slots";
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const slot& s = slots_[i];
      out += " " + std::to_string(i) + ":" +
             (s.ph == phase::running   ? "running"
              : s.ph == phase::leaving ? "leaving"
                                       : "empty") +
             "/" + std::to_string(s.id.value());
      if (s.ph != phase::empty && !c_[i].quiescent()) out += "(busy: " + c_[i].describe() + ")";
    }
    out += "; waiting for removal:";
    for (const departed& d : pending_) {
      out += " " + std::to_string(d.id.value()) + (d.crashed ? " crashed" : " left") + " at " +
             std::to_string(d.at);
    }
    return out;
  }

  /// True when slot `i` has a running neighbour: a life started without one
  /// would write where nobody reads (and a leave nobody hears).
  [[nodiscard]] bool has_running_neighbour(std::size_t i) const {
    return std::any_of(graph_[i].begin(), graph_[i].end(),
                       [&](std::size_t j) { return slots_[j].ph == phase::running; });
  }

  /// True when the running slots other than `gone` form one connected graph.
  [[nodiscard]] bool running_connected_without(std::size_t gone) const {
    std::vector<bool> seen(slots_.size(), false);
    std::vector<std::size_t> stack;
    std::size_t total = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (i == gone || slots_[i].ph != phase::running) continue;
      ++total;
      if (stack.empty() && !seen[i]) {
        seen[i] = true;
        stack.push_back(i);
      }
    }
    std::size_t reached = stack.size();
    while (!stack.empty()) {
      const std::size_t u = stack.back();
      stack.pop_back();
      for (const std::size_t v : graph_[u]) {
        if (v == gone || seen[v] || slots_[v].ph != phase::running) continue;
        seen[v] = true;
        ++reached;
        stack.push_back(v);
      }
    }
    return reached == total;
  }

  /// Graceful leaves announced but not yet departed.
  [[nodiscard]] std::uint64_t in_flight() const {
    return static_cast<std::uint64_t>(
        std::count_if(slots_.begin(), slots_.end(), [](const slot& s) { return s.ph == phase::leaving; }));
  }

  void partition_step() {
    if (!opt_.faults.partitions) return;
    network& net = c_.net();
    if (net.partitioned() && c_.now >= heal_at_) {
      net.heal();
    } else if (!net.partitioned() && fault_rng_.chance(0.1)) {
      net.partition([&] { return fault_rng_.below(2); });
      heal_at_ = c_.now + interval_ * (2 + fault_rng_.below(9));
    }
  }

  void issue_ops() {
    if ((c_.now / interval_) % 8 >= 4) return;  // quiet intervals: replicas go quiescent
    std::uint64_t n = opt_.ops_per_tick;
    if (!churn_finished_ops()) {
      credit_ += op_rate_;
      n = static_cast<std::uint64_t>(credit_);
      credit_ -= static_cast<double>(n);
    }
    std::vector<replica_id>& live = churn_live_ids();
    live.clear();
    for (const slot& s : slots_) {
      if (s.ph == phase::running) live.push_back(s.id);
    }
    for (std::uint64_t k = 0; k < n && issued_ < opt_.ops; ++k) {
      const auto i = static_cast<std::size_t>(work_rng_.below(slots_.size()));
      if (slots_[i].ph != phase::running) continue;  // the client's request failed; the op is issued later
      const replica_id self = c_[i].self();
      const state d = mutate(i, [&](state& st) {
        state out{};
        out.user = op_(st.user, self, work_rng_);
        return out;
      });
      ++issued_;
      if (!converge::is_bottom(d))
        result_.bytes_lower_bound += converge::encoded_size(d) * (slots_.size() - 1);
    }
  }

  /// True once no departure remains to start (operations then run at
  /// `ops_per_tick`).
  [[nodiscard]] bool churn_finished_ops() const { return res().departures + in_flight() >= churn_; }

  void advance(bool ended) {
    if (!ended) {
      ++c_.now;
      return;
    }
    std::uint64_t next = c_.now + interval_;
    if (const auto due = c_.net().next_due()) next = std::min(next, *due);
    for (std::size_t i = 0; i < c_.size(); ++i) {
      if (c_.up(i)) next = std::min(next, std::max(c_.at(i).deadline, c_.now + 1));
    }
    c_.now = std::max(next, c_.now + 1);
  }

  void check() {
    bool same = true;
    for (std::size_t i = 1; i < c_.size(); ++i) {
      if (!(c_[i].state() == c_[0].state())) {
        same = false;
        result_.diverging = {0, i};
        result_.failure = "replicas 0 and " + std::to_string(i) + " differ";
        break;
      }
    }
    const membership::members& m = c_[0].state().members;
    bool members_ok = same;
    for (std::size_t i = 0; i < slots_.size() && members_ok; ++i) {
      const membership::member_record* rec = m.find(node_of(i));
      members_ok =
          rec != nullptr && rec->replica == slots_[i].id && rec->status == membership::member_status::up;
    }
    for (std::uint64_t id = 1; id <= births_ && members_ok; ++id) {
      const bool live =
          std::any_of(slots_.begin(), slots_.end(), [&](const slot& s) { return s.id.value() == id; });
      members_ok = live != m.is_retired(replica_id{id});
    }
    if (same && !members_ok)
      result_.failure = "the members do not list every live life up and every departed one retired";
    const state expected = membership::without_retired(oracle_, m.retired());
    const bool values_ok = same && c_[0].state() == expected && res().fold_value_changes == 0;
    if (same && !values_ok) {
      result_.diverging = {0};
      result_.failure = res().fold_value_changes != 0
                            ? "a fold changed a value at its survivor"
                            : "the replicas agree but differ from the stripped oracle";
    }
    result_.churn.members_converged = members_ok;
    result_.churn.values_match_oracle = values_ok;
    result_.converged = same && members_ok && values_ok;
    result_.churn.final_state_bytes = converge::encoded_size(c_[0].state().user);
    result_.churn.members_bytes = converge::encoded_size(m);
    result_.churn.whole_state_bytes = converge::encoded_size(c_[0].state());
    result_.churn.retired = m.retired().size();
    result_.churn.final_replica_ids = membership::replica_ids(c_[0].state().user).size();
  }

  void collect_metrics() {
    detail::record_counters(result_, c_);
    result_.crashes = res().crashes;
  }

  sim_options opt_;
  std::uint64_t churn_ = 0;
  Op op_;
  std::uint64_t interval_ = 1;
  sim_rng work_rng_, fault_rng_;
  std::vector<std::vector<std::size_t>> graph_;
  cluster<state> c_;
  std::vector<slot> slots_;
  std::vector<departed> pending_;  // departed lives not yet removed, oldest first
  std::size_t max_transitions_ = 1;
  std::uint64_t births_ = 0;
  std::uint64_t issued_ = 0;
  std::uint64_t heal_at_ = 0;
  double op_rate_ = 0, credit_ = 0;
  state oracle_{};
  churn_result result_{};
};

namespace workload_domains {

/// `mixed`, with transfers to running replicas only (`churn_live_ids`), so
/// a bounded counter names no replica that never lived.
struct mixed_churn : mixed {
  static replica_id peer(entropy& e) {
    const std::vector<replica_id>& live = churn_live_ids();
    return live.empty() ? replica_id{} : live[static_cast<std::size_t>(e.below(live.size()))];
  }
};

}  // namespace workload_domains

/// `mixed` under churn (see `workload_domains::mixed_churn`).
using mixed_churn_ops = workload<catalog, workload_domains::mixed_churn>;

/// Runs the workload named `name` (as `run_workload` does; `mixed` draws
/// its transfers among running replicas) with `churn` departures; nullopt
/// for an unknown name.
inline std::optional<churn_result> run_churn_workload(std::string_view name, const sim_options& options,
                                                      std::uint64_t churn) {
  auto go = [&](auto ops) {
    using ops_t = decltype(ops);
    churn_simulator<typename ops_t::state, ops_t> sim(options, churn, ops);
    return sim.run();
  };
  if (name == "gset") return go(gset_ops{});
  if (name == "or_set") return go(or_set_ops{});
  if (name == "gcounter") return go(gcounter_ops{});
  if (name == "or_map") return go(or_map_ops{});
  if (name == "mixed") return go(mixed_churn_ops{});
  return std::nullopt;
}

}  // namespace converge::testing
