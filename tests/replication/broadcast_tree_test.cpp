// Broadcast trees (broadcast_tree.hpp): the control messages refuse
// garbage, a tree replicator converges under every fault (anti-entropy stays
// the safety net, whatever the tree looks like), and in fault-free runs the
// tree spends fewer bytes than gossip on the same seed.
#include <converge/gset.hpp>
#include <converge/replication/broadcast_tree.hpp>
#include <converge/replication/envelope.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/testing/cluster.hpp>
#include <converge/testing/simulator.hpp>
#include <converge/testing/workloads.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

#include "support/random.hpp"

namespace {

using namespace converge::testing;
using converge::replication::broadcast_mode;
using converge::replication::message_kind;
using converge::replication::read_tree_control;
using converge::replication::tree_control;
using converge::replication::tree_op;
using converge::replication::write_tree_control;
using set_t = converge::gset<std::uint64_t>;

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (const int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

converge::replicator_options tree_options(std::uint64_t session) {
  converge::replicator_options o;
  o.session = session;
  o.gossip_interval = 10;
  o.broadcast = broadcast_mode::tree;
  return o;
}

/// True when the nodes not in `dead` are connected in `graph`.
bool survivors_connected(const std::vector<std::vector<std::size_t>>& graph, const std::vector<bool>& dead) {
  std::size_t start = 0;
  while (start < graph.size() && dead[start]) ++start;
  std::vector<bool> seen(graph.size(), false);
  std::vector<std::size_t> stack{start};
  seen[start] = true;
  while (!stack.empty()) {
    const std::size_t u = stack.back();
    stack.pop_back();
    for (const std::size_t v : graph[u]) {
      if (!dead[v] && !seen[v]) {
        seen[v] = true;
        stack.push_back(v);
      }
    }
  }
  for (std::size_t i = 0; i < graph.size(); ++i)
    if (!dead[i] && !seen[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("broadcast tree: control messages round-trip and garbage is refused") {
  for (const tree_op op : {tree_op::ihave, tree_op::graft, tree_op::prune}) {
    const tree_control c{op, op == tree_op::ihave ? 0x0123456789abcdefULL : 0, {}};
    const auto back = read_tree_control(write_tree_control(c));
    REQUIRE(back);
    CHECK(back->op == op);
    CHECK(back->fingerprint == c.fingerprint);
    CHECK(back->sample.empty());
  }
  // A digest may carry a sample of up to max_sample_bytes, and no more.
  constexpr std::size_t max_sample = converge::replication::max_sample_bytes;
  for (const std::size_t n : {std::size_t{1}, max_sample}) {
    const tree_control c{tree_op::ihave, 42, std::vector<std::byte>(n, std::byte{7})};
    const auto back = read_tree_control(write_tree_control(c));
    REQUIRE(back);
    CHECK(back->fingerprint == 42);
    CHECK(back->sample == c.sample);
  }
  CHECK_FALSE(read_tree_control(
      write_tree_control({tree_op::ihave, 42, std::vector<std::byte>(max_sample + 1, std::byte{7})})));
  CHECK_FALSE(read_tree_control({}));
  CHECK_FALSE(read_tree_control(bytes_of({0})));
  CHECK_FALSE(read_tree_control(bytes_of({4})));
  CHECK_FALSE(read_tree_control(bytes_of({2, 0})));        // graft takes nothing after it
  CHECK_FALSE(read_tree_control(bytes_of({1, 1, 2, 3})));  // a short fingerprint
  // A tree envelope takes no state-transfer, multipart or signature flag, and needs a body.
  CHECK_FALSE(converge::replication::read_envelope(bytes_of({0x13 | 0x04, 1, 0, 2}), 16));
  CHECK_FALSE(converge::replication::read_envelope(bytes_of({0x13 | 0x08, 1, 0, 0, 2}), 16));
  CHECK_FALSE(converge::replication::read_envelope(bytes_of({0x13 | 0x40, 1, 0, 2}), 16));
  CHECK_FALSE(converge::replication::read_envelope(bytes_of({0x13, 1, 0}), 16));
  const auto e = converge::replication::read_envelope(bytes_of({0x13, 7, 9, 3}), 16);
  REQUIRE(e);
  CHECK(e->kind == message_kind::tree);
  CHECK(e->session == 7);
  CHECK(e->to == 9);
  CHECK(e->payload.size() == 1);
}

TEST_CASE("broadcast tree: garbage tree messages are counted as malformed and change nothing") {
  cluster<set_t> c;
  c.add(tree_options(11));
  c.add(tree_options(12));
  c[0].mutate([](set_t& s) { return s.insert(1); });
  REQUIRE(c.settle());
  const set_t before = c[1].state();
  const auto malformed = c[1].metrics().total.malformed_dropped;
  const auto links = c[1].tree_metrics().eager_links;
  auto rng = test::rng_for("broadcast tree garbage");
  CAPTURE(test::seed());
  std::uint64_t sent = 0;
  for (int i = 0; i < 500; ++i) {
    std::vector<std::byte> m{std::byte{0x13}, std::byte{11}, std::byte{0}};  // kind tree, the peer's session
    const std::size_t n = rng.below(12);
    for (std::size_t k = 0; k < n; ++k) m.push_back(static_cast<std::byte>(rng.below(256)));
    // Keep only bodies that do not parse: those must be refused.
    const auto e = converge::replication::read_envelope(m, 16);
    if (e && read_tree_control(e->payload)) continue;
    c[1].receive(0, m);
    ++sent;
  }
  CHECK(c[1].metrics().total.malformed_dropped == malformed + sent);
  CHECK(c[1].state() == before);
  CHECK(c[1].tree_metrics().eager_links == links);
  CHECK(c[1].tick(c.now).messages.empty());
  // A well-formed prune from an unknown session is stale: the link stays eager.
  const auto prune = write_tree_control({tree_op::prune, 0, {}});
  std::vector<std::byte> stale{std::byte{0x13}, std::byte{99}, std::byte{0}};
  stale.insert(stale.end(), prune.begin(), prune.end());
  c[1].receive(0, stale);
  CHECK(c[1].tree_metrics().eager_links == links);
  // A digest whose sample does not decode is malformed, and awaits nothing.
  tree_control bad{tree_op::ihave, 1, bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})};
  const auto body = write_tree_control(bad);
  std::vector<std::byte> digest{std::byte{0x13}, std::byte{11}, std::byte{0}};
  digest.insert(digest.end(), body.begin(), body.end());
  const auto malformed_before = c[1].metrics().total.malformed_dropped;
  c[1].receive(0, digest);
  CHECK(c[1].metrics().total.malformed_dropped == malformed_before + 1);
  CHECK(c[1].state() == before);
}

TEST_CASE(
    "broadcast tree: a lazy link whose digest samples stay missing is grafted while both states change") {
  // Under unbroken load no two states are ever equal, so fingerprints alone
  // cannot tell a replica that its eager links no longer reach it. The
  // samples do: each digest names a piece of the sender's newest change.
  cluster<set_t> c;
  c.add(tree_options(11));
  c.add(tree_options(12));
  REQUIRE(c.settle());
  // Both ends prune their one link (as if other paths had made it redundant).
  const auto prune = write_tree_control({tree_op::prune, 0, {}});
  for (const std::size_t to : {0, 1}) {
    std::vector<std::byte> m{std::byte{0x13}, std::byte{static_cast<unsigned char>(to == 0 ? 12 : 11)},
                             std::byte{0}};
    m.insert(m.end(), prune.begin(), prune.end());
    c[to].receive(to == 0 ? 1 : 0, m);
  }
  REQUIRE(c[0].tree_metrics().eager_links == 0);
  REQUIRE(c[1].tree_metrics().eager_links == 0);
  // Both write at every tick for ten gossip intervals (the safety net would
  // wait forty): each must hold the other's first write by the end.
  std::uint64_t v = 0;
  for (int t = 0; t < 100; ++t) {
    c[0].mutate([&](set_t& s) { return s.insert(2 * v); });
    c[1].mutate([&](set_t& s) { return s.insert(2 * v + 1); });
    ++v;
    c.step();
  }
  CHECK(c[0].state().contains(1));
  CHECK(c[1].state().contains(0));
  CHECK(c[0].tree_metrics().grafts + c[1].tree_metrics().grafts >= 1);
  CHECK(c[0].tree_metrics().lazy_repairs + c[1].tree_metrics().lazy_repairs == 0);
}

TEST_CASE("broadcast tree: seeded fault schedules converge on every seed") {
  const int runs = test::cases(60);
  for (int i = 0; i < runs; ++i) {
    const std::uint64_t seed = converge::replica_id::mix(test::seed() + 1000 + static_cast<std::uint64_t>(i));
    sim_rng rng = sim_rng::derive(seed, 5);
    sim_options o;
    o.seed = seed;
    o.replicas = 4 + static_cast<std::size_t>(rng.below(9)) * 2;
    o.topo = topology{topology::kind::random_regular, 3};
    o.ops = 50 + rng.below(300);
    o.faults.loss = rng.chance(0.5) ? 0.1 : 0.3;
    if (rng.chance(0.5)) o.faults.duplicate = 0.2;
    o.faults.reorder = rng.chance(0.5);
    o.faults.partitions = rng.chance(0.5);
    o.faults.crash = rng.chance(0.5) ? 0.02 : 0.0;
    o.replication.gossip_interval = 10;
    o.replication.broadcast = broadcast_mode::tree;
    const sim_result r = *run_workload(seed % 2 == 0 ? "gset" : "or_set", o);
    CAPTURE(seed);
    CAPTURE(r.failure);
    REQUIRE(r.converged);
  }
}

TEST_CASE("broadcast tree: with 20% of replicas crashed for good and 10% loss, every survivor converges") {
  const int runs = test::cases(8);
  for (int run = 0; run < runs; ++run) {
    const std::uint64_t seed = converge::replica_id::mix(test::seed() + 77 + static_cast<std::uint64_t>(run));
    CAPTURE(seed);
    sim_rng rng = sim_rng::derive(seed, 1);
    const std::size_t n = 40;
    const auto graph = topology{topology::kind::random_regular, 4}.build(n, rng);
    std::vector<bool> dead(n, false);
    do {
      std::fill(dead.begin(), dead.end(), false);
      for (std::size_t k = 0; k < n / 5;) {
        const auto v = static_cast<std::size_t>(rng.below(n));
        if (!dead[v]) {
          dead[v] = true;
          ++k;
        }
      }
    } while (!survivors_connected(graph, dead));
    cluster<set_t> c(n, network(n, {.delay = 1, .loss = 0.1}, sim_rng::derive(seed, 2)));
    for (std::size_t i = 0; i < n; ++i)
      c.start(i, converge::replica_id{i + 1}, tree_options(100 + i), {}, graph[i]);
    set_t expected;  // what the survivors wrote: every survivor must hold it
    // Writes for 60 ticks; the doomed replicas crash at random times among them.
    std::vector<std::uint64_t> crash_at(n, 0);
    for (std::size_t i = 0; i < n; ++i)
      if (dead[i]) crash_at[i] = 1 + rng.below(60);
    for (std::uint64_t t = 0; t < 2000; ++t) {
      for (std::size_t i = 0; i < n; ++i)
        if (dead[i] && c.up(i) && crash_at[i] == t) (void)c.crash(i, [] { return false; });
      if (t < 60) {
        for (int k = 0; k < 4; ++k) {
          const auto i = static_cast<std::size_t>(rng.below(n));
          if (!c.up(i)) continue;
          const std::uint64_t v = rng.below(1ULL << 40);
          c[i].mutate([&](set_t& s) { return s.insert(v); });
          if (!dead[i]) expected.insert(v);
        }
      }
      c.deliver_due();
      c.tick_due();
      c.now = t + 1;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (dead[i]) continue;
      CAPTURE(i);
      CHECK(converge::leq(expected, c[i].state()));
      std::size_t first = 0;
      while (dead[first]) ++first;
      CHECK(c[i].state() == c[first].state());
    }
  }
}

TEST_CASE("broadcast tree: fault-free runs send fewer bytes than gossip on the same seed") {
  for (const std::uint64_t seed : {1ULL, 2ULL, 3ULL}) {
    sim_options o;
    o.seed = seed;
    o.replicas = 64;
    o.topo = topology{topology::kind::random_regular, 4};
    o.ops = 4000;
    const sim_result gossip = *run_workload("gset", o);
    o.replication.broadcast = broadcast_mode::tree;
    const sim_result tree = *run_workload("gset", o);
    CAPTURE(seed);
    REQUIRE(gossip.converged);
    REQUIRE(tree.converged);
    const double g = static_cast<double>(gossip.bytes_sent) / static_cast<double>(gossip.bytes_lower_bound);
    const double t = static_cast<double>(tree.bytes_sent) / static_cast<double>(tree.bytes_lower_bound);
    CAPTURE(g);
    CAPTURE(t);
    CHECK(gossip.tree.prunes == 0);
    CHECK(tree.tree.prunes > 0);
    CHECK(t < 0.9 * g);
    CHECK(t < 1.8);
    // The tree keeps about a spanning tree eager: 2 x (replicas - 1) directed links, give or take.
    CHECK(tree.tree.eager_links < 2 * 2 * o.replicas);
  }
}
