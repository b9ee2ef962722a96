#pragma once
/// @file
/// `converge::testing::cluster`: replicators wired together over a
/// `network`, on a virtual clock (quinn-proto's `Pair`, for N). Nodes crash
/// and restart, with or without their data (or, durable, with what their
/// journal kept); everything else — which
/// operations run, when nodes tick, which packets arrive — is up to the
/// caller: a test by hand, a fuzzer from its bytes, or `simulator`.
///
/// @code
///   converge::testing::cluster<converge::gset<int>> c;
///   c.add();  c.add();                       // two nodes, peers of each other
///   c[0].mutate([](auto& s) { return s.insert(42); });
///   REQUIRE(c.settle());                     // tick, deliver, advance until quiescent
/// @endcode

#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/memory_journal.hpp"
#include "converge/replication/metrics.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/testing/network.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace converge::testing {

/// Replicators of `State` over a `network`.
template <delta_lattice State>
class cluster {
 public:
  /// One node: a replicator while it runs, what it keeps while it is down.
  struct node {
    std::optional<replicator<State>> r;  ///< empty while crashed
    std::uint32_t incarnation = 0;       ///< bumped by every crash that loses the data
    State saved{};                       ///< while crashed: the state it restarts from
    std::uint64_t deadline = 0;          ///< when it next needs a tick (see `tick_due`)
    bool touched = true;                 ///< it received or mutated since its last tick
    /// A durable node's journal (see `start_durable`); it survives crashes.
    std::unique_ptr<replication::memory_journal> journal;
  };

  /// Virtual time.
  std::uint64_t now = 0;
  /// Decides whether an arriving packet is delivered (a refused one is lost);
  /// empty: all are.
  std::function<bool(const packet&)> deliver_if;

  /// `nodes` nodes, all down until started, on `net`.
  explicit cluster(std::size_t nodes = 0, network net = network{}) : net_(std::move(net)), nodes_(nodes) {}

  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
  [[nodiscard]] node& at(std::size_t i) { return nodes_.at(i); }
  [[nodiscard]] const node& at(std::size_t i) const { return nodes_.at(i); }
  /// True while node `i` runs.
  [[nodiscard]] bool up(std::size_t i) const { return nodes_.at(i).r.has_value(); }
  /// The replicator of node `i`, which must be up.
  [[nodiscard]] replicator<State>& operator[](std::size_t i) { return *nodes_.at(i).r; }
  [[nodiscard]] const replicator<State>& operator[](std::size_t i) const { return *nodes_.at(i).r; }
  [[nodiscard]] network& net() noexcept { return net_; }
  [[nodiscard]] const network& net() const noexcept { return net_; }

  /// The identity of node `i` in its current incarnation.
  [[nodiscard]] replica_id id_of(std::size_t i) const {
    return replica_id::with_incarnation(i + 1, nodes_.at(i).incarnation);
  }

  /// Starts (or restarts) node `i` as `id` holding `initial`, with `peers`.
  void start(std::size_t i, replica_id id, const replicator_options& options, State initial,
             std::span<const std::size_t> peers) {
    node& n = nodes_.at(i);
    n.r.emplace(id, options, std::move(initial));
    for (const std::size_t j : peers) n.r->add_peer(j);
    n.touched = true;
    n.deadline = now;
  }
  /// Starts (or restarts) node `i` as a durable replica: over its journal
  /// (created on first use), restored from what the journal kept when it
  /// holds anything (`torn_tail::truncate`: a crash may have torn what was
  /// not synced), else fresh as `id` holding bottom. Returns the restored
  /// journal's parse, nullopt for a fresh start.
  std::optional<replication::recovered_journal> start_durable(std::size_t i, replica_id id,
                                                              replicator_options options,
                                                              std::span<const std::size_t> peers) {
    node& n = nodes_.at(i);
    if (!n.journal) n.journal = std::make_unique<replication::memory_journal>();
    options.journal = n.journal.get();
    auto recovered = replication::read_journal(n.journal->load(), replication::torn_tail::truncate);
    if (recovered) {
      n.r.emplace(replicator<State>::restore(*recovered, options));
    } else {
      n.r.emplace(id, options, State{});
    }
    for (const std::size_t j : peers) n.r->add_peer(j);
    n.touched = true;
    n.deadline = now;
    return recovered;
  }

  /// Crashes durable node `i`: its journal loses what was not synced, as
  /// `damage` says (see memory_journal.hpp). Returns the records lost.
  std::size_t crash_durable(std::size_t i, const replication::crash_damage& damage) {
    node& n = nodes_.at(i);
    retire(*n.r);
    n.r.reset();
    return n.journal->crash(damage);
  }

  /// Starts node `i` with every other node as a peer.
  void start(std::size_t i, replica_id id, const replicator_options& options, State initial) {
    std::vector<std::size_t> peers;
    for (std::size_t j = 0; j < nodes_.size(); ++j) {
      if (j != i) peers.push_back(j);
    }
    start(i, id, options, std::move(initial), peers);
  }

  /// Adds a node, running at once as `id` (default: replica index + 1)
  /// holding `initial`, peer of every running node; a session of 0 becomes
  /// 1000 + index. Returns its index.
  std::size_t add(replicator_options options = {}, State initial = {}, std::optional<replica_id> id = {}) {
    const std::size_t i = nodes_.size();
    if (options.session == 0) options.session = 1000 + i;
    nodes_.emplace_back();
    net_.resize(nodes_.size());
    std::vector<std::size_t> peers;
    for (std::size_t j = 0; j < i; ++j) {
      if (up(j)) peers.push_back(j);
    }
    start(i, id.value_or(replica_id{i + 1}), options, std::move(initial), peers);
    for (const std::size_t j : peers) nodes_[j].r->add_peer(i);
    return i;
  }

  /// Crashes node `i`. When it is quiescent, `coin()` says it may lose its
  /// data, and every write it holds is also held by another node (running,
  /// or down with its data), it does: it will restart from bottom in a new
  /// incarnation. Otherwise it keeps its state to restart with. Returns true
  /// when the data was lost. (Losing writes that exist nowhere else is data
  /// loss no protocol can undo, not a replication fault; and quiescence
  /// alone does not rule it out, since the peers that acknowledged may have
  /// been wiped since.)
  template <class Coin>
  bool crash(std::size_t i, Coin&& coin) {
    node& n = nodes_.at(i);
    retire(*n.r);
    // The coin comes before the coverage test so that a caller's random
    // stream does not depend on the states.
    const bool wipe = n.r->quiescent() && coin() && held_elsewhere(i);
    if (wipe) {
      ++n.incarnation;
      n.saved = State{};
    } else {
      n.saved = n.r->state();
    }
    n.r.reset();
    return wipe;
  }

  /// True when every write node `i` holds is also held by another node,
  /// running or down with its data: losing `i`'s data then loses nothing.
  [[nodiscard]] bool held_elsewhere(std::size_t i) const {
    State others{};
    for (std::size_t j = 0; j < nodes_.size(); ++j) {
      if (j != i) converge::join_into(others, nodes_[j].r ? nodes_[j].r->state() : nodes_[j].saved);
    }
    return converge::leq(nodes_.at(i).r->state(), others);
  }

  /// Ticks node `i` at `now` and sends what it sends. Returns false when it
  /// addressed a node that does not exist (such a message is not sent).
  bool tick(std::size_t i) {
    node& n = nodes_.at(i);
    n.touched = false;
    tick_result out = n.r->tick(now);
    n.deadline = out.next_deadline;
    bool ok = true;
    for (outgoing& m : out.messages) {
      if (m.to >= nodes_.size()) {
        ok = false;
        continue;
      }
      net_.send(now, i, static_cast<std::size_t>(m.to), std::move(m.bytes));
    }
    return ok;
  }
  /// Ticks every running node.
  bool tick() {
    bool ok = true;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].r) ok = tick(i) && ok;
    }
    return ok;
  }
  /// Ticks the running nodes that need it: touched since their last tick,
  /// or at their deadline.
  void tick_due() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const node& n = nodes_[i];
      if (n.r && (n.touched || n.deadline <= now)) (void)tick(i);
    }
  }

  /// Delivers `p` to its receiver, unless it is down, a partition separates
  /// them, or `deliver_if` refuses: then it is lost. Returns true when delivered.
  bool deliver(const packet& p) {
    node& n = nodes_.at(p.to);
    if (!n.r || net_.cut(p.from, p.to) || (deliver_if && !deliver_if(p))) {
      net_.count_lost();
      return false;
    }
    n.r->receive(p.from, p.bytes);
    n.touched = true;
    return true;
  }
  /// Delivers what is due at `now`.
  void deliver_due() {
    for (const packet& p : net_.take_due(now)) (void)deliver(p);
  }
  /// Delivers everything in flight, due or not.
  void deliver() {
    for (const packet& p : net_.take_all()) (void)deliver(p);
  }

  /// One round: tick every node, deliver everything, advance the clock by `dt`.
  void step(std::uint64_t dt = 1) {
    (void)tick();
    deliver();
    now += dt;
  }

  /// True when every running node is quiescent.
  [[nodiscard]] bool quiescent() const {
    for (const node& n : nodes_) {
      if (n.r && !n.r->quiescent()) return false;
    }
    return true;
  }
  /// True when every node runs and is quiescent.
  [[nodiscard]] bool all_quiescent() const {
    for (const node& n : nodes_) {
      if (!n.r || !n.r->quiescent()) return false;
    }
    return true;
  }

  /// Steps until every node is quiescent and nothing is in flight, then
  /// once more (the trailing acks); false after `max_steps` steps.
  bool settle(std::size_t max_steps = 10000, std::uint64_t dt = 1) {
    for (std::size_t s = 0; s < max_steps; ++s) {
      step(dt);
      if (quiescent() && net_.empty()) {
        step(dt);
        return true;
      }
    }
    return false;
  }

  /// The broadcast-tree counters of every replicator that ran, crashed ones
  /// included; `eager_links` counts the running ones' links only.
  [[nodiscard]] replication::tree_metrics tree_metrics() const {
    replication::tree_metrics t = retired_tree_;
    t.eager_links = 0;
    for (const node& n : nodes_) {
      if (n.r) converge::add_metrics(t, n.r->tree_metrics());
    }
    return t;
  }

  /// The metrics of every replicator that ran, crashed ones included.
  [[nodiscard]] replicator_metrics metrics() const {
    replicator_metrics t = retired_;
    for (const node& n : nodes_) {
      if (n.r) add(t, n.r->metrics());
    }
    return t;
  }

 private:
  static void add(replicator_metrics& t, const replicator_metrics& m) {
    t.total += m.total;
    t.unsendable += m.unsendable;
    t.buffer_evictions += m.buffer_evictions;
    t.max_buffer_bytes = std::max(t.max_buffer_bytes, m.max_buffer_bytes);
    t.syncs += m.syncs;
    t.sync_failures += m.sync_failures;
    t.compactions += m.compactions;
    t.journal_bytes += m.journal_bytes;
  }
  void retire(const replicator<State>& r) {
    add(retired_, r.metrics());
    replication::tree_metrics t = r.tree_metrics();
    t.eager_links = 0;  // a gauge: only running replicas count
    converge::add_metrics(retired_tree_, t);
  }

  network net_;
  std::vector<node> nodes_;
  replicator_metrics retired_{};
  replication::tree_metrics retired_tree_{};
};

}  // namespace converge::testing
