#pragma once
/// @file
/// `converge::testing::simulator`: a deterministic network of replicators in
/// one process, on virtual time, with seeded faults (TigerBeetle's
/// packet_simulator style). One seed drives everything: the topology, the
/// workload, every fault and every session nonce, so a failing run is
/// reproduced by its seed.
///
/// @code
///   using namespace converge::testing;
///   sim_options o;
///   o.replicas = 8;
///   o.topo = *topology::parse("random:3");
///   o.ops = 500;
///   o.faults = {.loss = 0.3, .duplicate = 0.2, .reorder = true, .partitions = true, .crash = 0.01};
///   o.seed = 42;
///   simulator<converge::gset<std::uint64_t>, gset_ops> sim(o, gset_ops{});
///   sim_result r = sim.run();   // r.converged, r.bytes_sent, ...
/// @endcode
///
/// # Faults (each a named knob)
/// - `loss`: each message is dropped with this probability.
/// - `duplicate`: each message is delivered twice with this probability.
/// - `reorder`: each copy gets a random extra delay of up to
///   `max_extra_delay`, so messages overtake each other.
/// - `partitions`: at gossip-interval boundaries a partition (two random
///   sides) may form; messages across it are dropped until it heals.
/// - `crash`: at each gossip-interval boundary each live replica crashes with
///   this probability and restarts a few intervals later. (With crashes on,
///   operations pause four gossip intervals in every eight, so replicas do go
///   quiescent and data-losing crashes happen.) If it was
///   quiescent (everything it held was acknowledged by all its neighbours)
///   and every write it holds is also held by another replica (live, or
///   crashed with its data), it may lose its data (half the time): it
///   restarts from bottom with a new incarnation `replica_id` and a new
///   session. Otherwise it restarts with its data and a new session. Losing
///   writes that exist nowhere else is data loss no protocol can undo, not a
///   replication fault: quiescence alone does not rule it out, since the
///   neighbours that acknowledged may have been wiped since.
///
/// # Durable replicas (`durable`)
/// Every replica runs over a `memory_journal`, and a crash is the journal's
/// crash: every record not synced is lost, except a random prefix, and the
/// first record past it may survive torn or with a flipped bit (LazyFS
/// style). The replica restarts from what its journal kept, with its
/// identity. No crash wipes a replica. A write joins the oracle once it is
/// durable (half the writes ask for a sync, as a waiting client does; the
/// rest are synced with the next messages or within a gossip interval), and
/// whatever a restarted replica recovered joins it too (a torn tail's
/// surviving prefix was written, just never acknowledged). So the run checks:
/// - no acknowledged delta is lost, and nothing else appears: the replicas
///   converge to exactly the oracle (a delta is durable before it is sent);
/// - no replica issues a durable sequence number twice (`reissued`): its
///   counter survives every crash, so no dot is issued twice with different
///   content.
///
/// # Churn
/// Replicas that leave or crash for good, new ones under fresh replica ids,
/// and the retirement of every departed one run in `churn_simulator`
/// (churn.hpp, `converge-sim --churn N`), over the same cluster and network.
///
/// After the last operation, partitions heal, crashed replicas restart,
/// crashes stop, and the network faults (loss, duplication, reordering) keep
/// going; the run ends when every replica is quiescent and equal to the
/// oracle (the join of every delta ever issued), or at `max_ticks`.

#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/testing/cluster.hpp"
#include "converge/testing/entropy.hpp"
#include "converge/testing/network.hpp"
#include "converge/wire/encode.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace converge::testing {

/// The simulator's generator: the one seeded source of converge::testing
/// (SplitMix64), under the name the simulator's users know.
using sim_rng = seeded_entropy;

/// The shape of the network: `mesh`, `ring`, or `random:K` (a connected
/// K-regular random graph).
struct topology {
  enum class kind { mesh, ring, random_regular };
  kind shape = kind::mesh;
  std::size_t degree = 0;  ///< K of random:K

  /// Parses "mesh", "ring" or "random:K" (K ≥ 1); nullopt otherwise.
  static std::optional<topology> parse(std::string_view s) {
    if (s == "mesh") return topology{kind::mesh, 0};
    if (s == "ring") return topology{kind::ring, 0};
    if (s.starts_with("random:")) {
      const std::string_view k = s.substr(7);
      std::size_t v = 0;
      const auto [ptr, ec] = std::from_chars(k.data(), k.data() + k.size(), v);
      if (ec != std::errc{} || ptr != k.data() + k.size() || v == 0) return std::nullopt;
      return topology{kind::random_regular, v};
    }
    return std::nullopt;
  }

  [[nodiscard]] std::string name() const {
    switch (shape) {
      case kind::mesh:
        return "mesh";
      case kind::ring:
        return "ring";
      default:
        return "random:" + std::to_string(degree);
    }
  }

  /// The neighbours of each of `n` nodes (sorted). Random graphs are redrawn
  /// until simple and connected. Throws std::invalid_argument when no such
  /// graph exists (K ≥ n, or K·n odd).
  [[nodiscard]] std::vector<std::vector<std::size_t>> build(std::size_t n, sim_rng& rng) const {
    std::vector<std::vector<std::size_t>> adj(n);
    if (n <= 1) return adj;
    if (shape == kind::mesh) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
          if (i != j) adj[i].push_back(j);
      return adj;
    }
    if (shape == kind::ring) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t a = (i + 1) % n, b = (i + n - 1) % n;
        adj[i].push_back(a);
        if (b != a) adj[i].push_back(b);
        std::sort(adj[i].begin(), adj[i].end());
      }
      return adj;
    }
    const std::size_t k = degree;
    if (k >= n) throw std::invalid_argument("random:K needs K < replicas");
    if ((k * n) % 2 != 0) throw std::invalid_argument("random:K needs K * replicas even");
    for (int attempt = 0; attempt < 100000; ++attempt) {
      if (random_regular(n, k, rng, adj) && connected(adj)) {
        for (auto& a : adj) std::sort(a.begin(), a.end());
        return adj;
      }
    }
    throw std::invalid_argument("could not draw a connected random:K graph");
  }

 private:
  // Pairing model with greedy repair: stubs are matched at random, avoiding
  // self-loops and double edges; a dead end restarts the draw.
  static bool random_regular(std::size_t n, std::size_t k, sim_rng& rng,
                             std::vector<std::vector<std::size_t>>& adj) {
    for (auto& a : adj) a.clear();
    std::vector<std::size_t> stubs;
    stubs.reserve(n * k);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < k; ++j) stubs.push_back(i);
    while (!stubs.empty()) {
      bool placed = false;
      for (int tries = 0; tries < 64 && !placed; ++tries) {
        const std::size_t a = static_cast<std::size_t>(rng.below(stubs.size()));
        const std::size_t b = static_cast<std::size_t>(rng.below(stubs.size()));
        const std::size_t u = stubs[a], v = stubs[b];
        if (a == b || u == v || std::find(adj[u].begin(), adj[u].end(), v) != adj[u].end()) continue;
        adj[u].push_back(v);
        adj[v].push_back(u);
        const std::size_t hi = std::max(a, b), lo = std::min(a, b);
        stubs[hi] = stubs.back();
        stubs.pop_back();
        stubs[lo] = stubs.back();
        stubs.pop_back();
        placed = true;
      }
      if (!placed) return false;
    }
    return true;
  }

  static bool connected(const std::vector<std::vector<std::size_t>>& adj) {
    std::vector<bool> seen(adj.size(), false);
    std::vector<std::size_t> stack{0};
    seen[0] = true;
    std::size_t count = 1;
    while (!stack.empty()) {
      const std::size_t u = stack.back();
      stack.pop_back();
      for (const std::size_t v : adj[u]) {
        if (!seen[v]) {
          seen[v] = true;
          ++count;
          stack.push_back(v);
        }
      }
    }
    return count == adj.size();
  }
};

/// The fault knobs; all off by default.
struct sim_faults {
  double loss = 0;                    ///< probability a message is dropped
  double duplicate = 0;               ///< probability a message is delivered twice
  bool reorder = false;               ///< random extra delay per copy
  bool partitions = false;            ///< partitions come and heal during the operations
  double crash = 0;                   ///< per live replica, per gossip interval, during the operations
  std::uint64_t max_extra_delay = 0;  ///< reorder's extra delay bound; 0: 3 gossip intervals
};

/// One simulation's configuration.
struct sim_options {
  std::size_t replicas = 3;
  topology topo{};
  std::uint64_t ops = 100;         ///< operations issued, at random live replicas
  std::uint64_t ops_per_tick = 0;  ///< operation rate; 0: max(1, replicas / 8)
  sim_faults faults{};
  replicator_options replication{};  ///< per replicator (the session is drawn per start)
  std::uint64_t seed = 1;
  std::uint64_t delay = 1;      ///< base network delay
  std::uint64_t max_ticks = 0;  ///< virtual-time limit after the last operation; 0: automatic
  bool durable = false;         ///< replicas over journals, crashes that lose unsynced records
};

/// What a run measured.
struct sim_result {
  bool converged = false;
  std::uint64_t seed = 0;
  std::uint64_t ticks = 0;              ///< virtual time at the end
  std::uint64_t ticks_to_converge = 0;  ///< virtual time from the last operation to convergence
  std::uint64_t ops = 0;
  std::uint64_t messages_sent = 0;  ///< every message handed to the network (lost ones too)
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_lower_bound = 0;  ///< Σ encoded size of each operation's delta × (replicas − 1)
  std::uint64_t delta_messages = 0;
  std::uint64_t acks = 0;
  std::uint64_t retransmissions = 0;
  std::uint64_t state_transfers = 0;
  std::uint64_t deltas_applied = 0;
  std::uint64_t redundant_dropped = 0;
  std::uint64_t malformed = 0;
  std::uint64_t unsendable = 0;
  std::uint64_t buffer_evictions = 0;
  std::size_t max_buffer_bytes = 0;  ///< the largest delta buffer of any replica
  std::uint64_t messages_lost = 0;
  std::uint64_t messages_duplicated = 0;
  std::uint64_t crashes = 0;
  std::uint64_t wipes = 0;  ///< crashes that lost the data (quiescent replicas only)
  std::uint64_t partitions = 0;
  std::uint64_t syncs = 0;          ///< durable: journal syncs
  std::uint64_t lost_unsynced = 0;  ///< durable: records crashes lost (never synced)
  std::uint64_t torn_records = 0;   ///< durable: records a crash left torn or corrupted, dropped at restart
  std::uint64_t reissued = 0;       ///< durable: durable sequence numbers issued again (must be 0)
  replication::tree_metrics tree;   ///< broadcast tree counters (zero with gossip)
  /// Propagation delay of sampled deltas (up to `propagation_samples` of
  /// them, spread over the run) to every other replica, in gossip
  /// intervals: the 99th percentile and the maximum over all arrivals seen.
  double p99_propagation_intervals = 0;
  double max_propagation_intervals = 0;
  std::vector<std::size_t>
      diverging;        ///< on failure: the first replicas that differ (or one that differs from the oracle)
  std::string failure;  ///< on failure: what went wrong
};

namespace detail {

/// Copies what every run reports from the cluster's replicator and network
/// counters into `r` (the simulator and the churn simulator share it).
template <class Cluster>
void record_counters(sim_result& r, Cluster& c) {
  const replicator_metrics m = c.metrics();
  const peer_metrics& t = m.total;
  r.unsendable = m.unsendable;
  r.buffer_evictions = m.buffer_evictions;
  r.max_buffer_bytes = m.max_buffer_bytes;
  r.delta_messages = t.delta_messages_out;
  r.acks = t.acks_out;
  r.retransmissions = t.retransmissions;
  r.state_transfers = t.state_transfers_sent;
  r.deltas_applied = t.deltas_applied;
  r.redundant_dropped = t.redundant_dropped;
  r.malformed = t.malformed_dropped;
  const network_stats& n = c.net().stats();
  r.messages_sent = n.messages_sent;
  r.bytes_sent = n.bytes_sent;
  r.messages_lost = n.messages_lost;
  r.messages_duplicated = n.messages_duplicated;
  r.partitions = n.partitions;
  r.syncs = m.syncs;
  r.tree = c.tree_metrics();
}

}  // namespace detail

/// A deterministic simulation of `replicas` replicators of `State` driven by
/// `Op`, a callable `State(State&, replica_id, entropy&)` that applies one
/// random local operation and returns its delta (a workload of
/// converge/testing/workloads.hpp). The replicators form a `cluster` over a
/// `network`; the simulator adds the topology, the workload, the crash and
/// partition schedule and the oracle.
template <delta_lattice State, class Op>
class simulator {
 public:
  simulator(sim_options options, Op op) : opt_(std::move(options)), op_(std::move(op)) {
    if (opt_.replicas == 0) throw std::invalid_argument("replicas must be at least 1");
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
    c_ = cluster<State>(opt_.replicas, network(opt_.replicas, net, sim_rng::derive(opt_.seed, 4)));
    graph_ = opt_.topo.build(opt_.replicas, topo_rng);
    restart_at_.assign(opt_.replicas, 0);
    pending_.resize(opt_.replicas);
    for (std::size_t i = 0; i < opt_.replicas; ++i) start(i, State{});
  }

  /// Runs to convergence or the tick limit.
  sim_result run() {
    const std::uint64_t op_ticks = (opt_.ops + opt_.ops_per_tick - 1) / opt_.ops_per_tick;
    const std::uint64_t limit = opt_.max_ticks != 0 ? opt_.max_ticks : 1000 * interval_ + 4 * op_ticks;
    std::uint64_t ended_at = 0;
    bool ops_done = opt_.ops == 0;
    if (ops_done) end_faults();
    std::uint64_t next_check = 0;
    for (;;) {
      if (!ops_done) {
        faults_step();
        issue_ops();
        if (issued_ == opt_.ops) {
          ops_done = true;
          ended_at = c_.now;
          end_faults();
        }
      } else {
        restart_due();
      }
      c_.deliver_due();
      observe_samples();
      c_.tick_due();
      if (opt_.durable) promote_durable();
      if (ops_done && c_.now >= next_check) {
        next_check = c_.now + interval_ / 2 + 1;
        if (c_.all_quiescent()) {
          result_.converged = check_converged() && result_.reissued == 0;
          break;
        }
        if (c_.now - ended_at > limit) {
          result_.converged = false;
          check_converged();
          result_.failure = "no quiescence within " + std::to_string(limit) +
                            " ticks after the last operation; " + result_.failure;
          for (std::size_t i = 0; i < c_.size(); ++i) {
            if (c_.up(i) && !c_[i].quiescent()) {
              result_.failure += "\nreplica " + std::to_string(i) + " not quiescent: " + c_[i].describe();
              break;
            }
          }
          break;
        }
      }
      advance(ops_done);
    }
    result_.seed = opt_.seed;
    result_.ops = issued_;
    result_.ticks = c_.now;
    result_.ticks_to_converge = c_.now - ended_at;
    collect_metrics();
    summarize_samples();
    return result_;
  }

  /// How many deltas the propagation delay is measured on.
  static constexpr std::size_t propagation_samples = 16;

  /// Replica `i` (nullptr while crashed).
  [[nodiscard]] const replicator<State>* replica(std::size_t i) const { return c_.up(i) ? &c_[i] : nullptr; }
  /// The join of every delta issued so far.
  [[nodiscard]] const State& oracle() const noexcept { return oracle_; }
  /// The neighbours of every node.
  [[nodiscard]] const std::vector<std::vector<std::size_t>>& graph() const noexcept { return graph_; }

 private:
  void start(std::size_t i, State initial) {
    replicator_options o = opt_.replication;
    o.session = 1 + fault_rng_.below(0xffffffffULL);  // 32 bits: a short varint
    if (!opt_.durable) {
      c_.start(i, c_.id_of(i), o, std::move(initial), graph_[i]);
      return;
    }
    if (const auto recovered = c_.start_durable(i, c_.id_of(i), o, graph_[i])) {
      result_.torn_records += recovered->dropped;
      converge::join_into(oracle_, c_[i].state());  // what survived was written
    }
  }

  /// Durable: the writes that became durable join the oracle, and their
  /// sequence numbers are checked for reuse.
  void promote_durable() {
    for (std::size_t i = 0; i < c_.size(); ++i) {
      auto& p = pending_[i];
      if (p.empty() || !c_.up(i)) continue;
      const std::uint64_t durable = c_[i].durable_position();
      std::size_t k = 0;
      for (; k < p.size() && p[k].position <= durable; ++k) {
        converge::join_into(oracle_, p[k].delta);
        if (!issued_seqs_.insert({c_[i].self().value(), p[k].seq}).second) {
          ++result_.reissued;
          result_.failure = "replica " + std::to_string(i) + " issued sequence number " +
                            std::to_string(p[k].seq) + " again after it was durable";
        }
      }
      p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }

  void crash(std::size_t i) {
    ++result_.crashes;
    if (opt_.durable) {
      const std::size_t unsynced = pending_[i].size() + 2;
      const replication::crash_damage damage{
          .keep = static_cast<std::size_t>(fault_rng_.below(unsynced)),
          .tear = fault_rng_.chance(0.3),
          .tear_at = static_cast<std::size_t>(fault_rng_.below(1U << 16)),
          .flip = fault_rng_.chance(0.3),
          .flip_bit = static_cast<std::size_t>(fault_rng_.below(1U << 20))};
      result_.lost_unsynced += c_.crash_durable(i, damage);
      pending_[i].clear();  // what survived joins the oracle at the restart
      restart_at_[i] = c_.now + interval_ * (1 + fault_rng_.below(4));
      return;
    }
    if (c_.crash(i, [&] { return fault_rng_.chance(0.5); })) ++result_.wipes;
    restart_at_[i] = c_.now + interval_ * (1 + fault_rng_.below(4));
  }

  void restart_due(bool all = false) {
    for (std::size_t i = 0; i < c_.size(); ++i) {
      if (!c_.up(i) && (all || restart_at_[i] <= c_.now)) start(i, std::exchange(c_.at(i).saved, State{}));
    }
  }

  void faults_step() {
    restart_due();
    if (c_.now % interval_ != 0) return;
    if (opt_.faults.crash > 0) {
      for (std::size_t i = 0; i < c_.size(); ++i) {
        if (c_.up(i) && fault_rng_.chance(opt_.faults.crash)) crash(i);
      }
    }
    if (opt_.faults.partitions) {
      network& net = c_.net();
      if (net.partitioned() && c_.now >= heal_at_) {
        net.heal();
      } else if (!net.partitioned() && fault_rng_.chance(0.1)) {
        net.partition([&] { return fault_rng_.below(2); });
        heal_at_ = c_.now + interval_ * (2 + fault_rng_.below(9));
      }
    }
  }

  void end_faults() {
    c_.net().heal();
    restart_due(true);
  }

  void issue_ops() {
    // With crashes on, operations pause four intervals in every eight, so that
    // replicas go quiescent and some crashes lose their data.
    if (opt_.faults.crash > 0 && (c_.now / interval_) % 8 >= 4) return;
    for (std::uint64_t k = 0; k < opt_.ops_per_tick && issued_ < opt_.ops; ++k) {
      const auto i = static_cast<std::size_t>(work_rng_.below(c_.size()));
      if (!c_.up(i)) continue;  // the client's request failed; the op is issued later
      replicator<State>& r = c_[i];
      const replica_id self = r.self();
      State delta = r.mutate([&](State& s) { return op_(s, self, work_rng_); });
      ++issued_;
      c_.at(i).touched = true;
      if (converge::is_bottom(delta)) continue;
      result_.bytes_lower_bound += converge::encoded_size(delta) * (c_.size() - 1);
      maybe_sample(i, delta);
      if (opt_.durable) {
        pending_[i].push_back({r.journal_position(), r.sequence() - 1, std::move(delta)});
        if (work_rng_.chance(0.5)) r.request_sync();
      } else {
        converge::join_into(oracle_, delta);
      }
    }
  }

  void advance(bool ops_done) {
    if (!ops_done) {
      ++c_.now;
      return;
    }
    std::uint64_t next = c_.now + interval_;  // at least check convergence now and then
    if (const auto due = c_.net().next_due()) next = std::min(next, *due);
    for (std::size_t i = 0; i < c_.size(); ++i) {
      if (c_.up(i)) next = std::min(next, std::max(c_.at(i).deadline, c_.now + 1));
    }
    c_.now = std::max(next, c_.now + 1);
  }

  bool check_converged() {
    for (std::size_t i = 0; i < c_.size(); ++i) {
      if (!c_.up(i)) {
        result_.diverging = {i};
        result_.failure = "replica " + std::to_string(i) + " is down";
        return false;
      }
    }
    for (std::size_t i = 1; i < c_.size(); ++i) {
      if (!(c_[i].state() == c_[0].state())) {
        result_.diverging = {0, i};
        result_.failure = "replicas 0 and " + std::to_string(i) + " differ";
        return false;
      }
    }
    if (!(c_[0].state() == oracle_)) {
      result_.diverging = {0};
      result_.failure = "the replicas agree but differ from the oracle";
      return false;
    }
    return true;
  }

  void collect_metrics() { detail::record_counters(result_, c_); }

  // --- propagation delay: a few deltas, spread over the run, are watched
  // until every replica holds them (checked where deliveries land, so the
  // cost is samples x touched replicas per step).
  struct sample {
    State delta;
    std::uint64_t issued_at = 0;
    std::vector<bool> reached;
    std::size_t missing = 0;
  };

  void maybe_sample(std::size_t origin, const State& delta) {
    const std::uint64_t every = std::max<std::uint64_t>(1, opt_.ops / propagation_samples);
    if ((issued_ - 1) % every != 0 || samples_taken_ >= propagation_samples || c_.size() < 2) return;
    ++samples_taken_;
    sample s{delta, c_.now, std::vector<bool>(c_.size(), false), c_.size() - 1};
    s.reached[origin] = true;
    samples_.push_back(std::move(s));
  }

  void observe_samples() {
    if (samples_.empty()) return;
    for (std::size_t i = 0; i < c_.size(); ++i) {
      if (!c_.up(i) || !c_.at(i).touched) continue;
      for (sample& s : samples_) {
        if (s.missing == 0 || s.reached[i] || !converge::leq(s.delta, c_[i].state())) continue;
        s.reached[i] = true;
        --s.missing;
        delays_.push_back(c_.now - s.issued_at);
      }
    }
    std::erase_if(samples_, [](const sample& s) { return s.missing == 0; });
  }

  void summarize_samples() {
    if (delays_.empty()) return;
    std::sort(delays_.begin(), delays_.end());
    const std::size_t k = std::min(delays_.size() - 1, (delays_.size() * 99 + 99) / 100 - 1);
    const auto in_intervals = [&](std::uint64_t d) {
      return static_cast<double>(d) / static_cast<double>(interval_);
    };
    result_.p99_propagation_intervals = in_intervals(delays_[k]);
    result_.max_propagation_intervals = in_intervals(delays_.back());
  }

  sim_options opt_;
  Op op_;
  std::uint64_t interval_ = 1;
  sim_rng work_rng_, fault_rng_;
  std::vector<std::vector<std::size_t>> graph_;
  cluster<State> c_;
  std::vector<std::uint64_t> restart_at_;  // of crashed nodes
  std::uint64_t heal_at_ = 0;
  std::uint64_t issued_ = 0;
  State oracle_{};
  sim_result result_{};
  std::vector<sample> samples_;
  std::size_t samples_taken_ = 0;
  std::vector<std::uint64_t> delays_;
  // Durable runs: each replica's writes not yet durable, oldest first, and
  // every durable (replica, sequence number).
  struct pending_write {
    std::uint64_t position;  // its journal position
    std::uint64_t seq;       // the sequence number it took
    State delta;
  };
  std::vector<std::vector<pending_write>> pending_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> issued_seqs_;
};

}  // namespace converge::testing
