// The replicator reports what it applied: every change, local or received,
// comes out of poll() as the delta and its source, in time proportional to
// the change, and a mirror that joins the events equals the state.
#include <converge/gset.hpp>
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/testing/cluster.hpp>
#include <converge/testing/entropy.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/random.hpp"

namespace {

using gs = converge::gset<std::uint64_t>;
using kv = converge::or_map<std::string, converge::mv_register<std::string>>;
using converge::replica_id;
using converge::replicator_options;

replicator_options reporting(std::size_t max_events = 4096) {
  replicator_options o;
  o.report_applied = true;
  o.max_events = max_events;
  return o;
}

template <class State>
std::vector<converge::applied_delta<State>> drain(converge::replicator<State>& r) {
  std::vector<converge::applied_delta<State>> out;
  while (auto e = r.poll()) out.push_back(std::move(*e));
  return out;
}

}  // namespace

TEST_CASE("events: none are queued unless reporting is on") {
  converge::testing::cluster<gs> n;
  n.add();
  n.add();
  n[0].mutate([](gs& s) { return s.insert(1); });
  REQUIRE(n.settle());
  CHECK(n[1].state().contains(1));
  CHECK_FALSE(n[0].poll());
  CHECK_FALSE(n[1].poll());
}

TEST_CASE("events: a local mutate and a received delta each come out once, with their source") {
  converge::testing::cluster<gs> n;
  n.add(reporting());
  n.add(reporting());
  REQUIRE(n.settle());  // announcements of bottom change nothing: no events
  CHECK(drain(n[0]).empty());
  CHECK(drain(n[1]).empty());

  const gs d = n[0].mutate([](gs& s) { return s.insert(42); });
  auto local = drain(n[0]);
  REQUIRE(local.size() == 1);
  CHECK(local[0].local);
  CHECK_FALSE(local[0].from);
  CHECK(local[0].delta == d);

  REQUIRE(n.settle());
  auto remote = drain(n[1]);
  REQUIRE(remote.size() == 1);
  CHECK_FALSE(remote[0].local);
  REQUIRE(remote[0].from);
  CHECK(*remote[0].from == 0);
  CHECK(remote[0].delta == d);
  CHECK(drain(n[0]).empty());  // the ack and the echo change nothing at the origin

  SUBCASE("a duplicate changes nothing and reports nothing") {
    converge::replicator<gs>& b = n[1];
    const auto again = n[0].mutate([](gs& s) { return s.insert(42); });  // already there: bottom
    CHECK(converge::is_bottom(again));
    CHECK(drain(n[0]).empty());
    REQUIRE(n.settle());
    CHECK(drain(b).empty());
  }
}

TEST_CASE("events: only the novel part of a received payload is reported") {
  converge::testing::cluster<gs> n;
  n.add(reporting());
  n.add(reporting());
  REQUIRE(n.settle());
  n[1].mutate([](gs& s) { return s.insert(1); });  // 1 is already at node 1
  REQUIRE(n.settle());
  drain(n[0]);
  drain(n[1]);
  // Node 0 learns 1 and 2 together from a third node that holds both.
  const std::size_t c = n.add(reporting(), gs::from_elements({1, 2}), replica_id{9});
  REQUIRE(n.settle());
  (void)c;
  gs reported;
  for (const auto& e : drain(n[1])) converge::join_into(reported, e.delta);
  CHECK(reported.contains(2));
  CHECK_FALSE(reported.contains(1));
}

TEST_CASE("events: past max_events, changes fold into the last event, and nothing is lost") {
  converge::testing::cluster<gs> n;
  n.add(reporting(2));
  for (std::uint64_t v = 0; v < 5; ++v) n[0].mutate([&](gs& s) { return s.insert(v); });
  auto events = drain(n[0]);
  REQUIRE(events.size() == 2);
  CHECK(events[0].delta.size() == 1);
  CHECK(events[1].delta.size() == 4);
  CHECK(events[1].local);
  CHECK(n[0].metrics().events_folded == 3);
}

TEST_CASE("events: a folded event from several sources names none") {
  converge::testing::cluster<gs> n;
  n.add(reporting(1));
  n.add();
  REQUIRE(n.settle());
  n[1].mutate([](gs& s) { return s.insert(7); });
  REQUIRE(n.settle());
  n[0].mutate([](gs& s) { return s.insert(8); });
  auto events = drain(n[0]);
  REQUIRE(events.size() == 1);
  CHECK_FALSE(events[0].local);
  CHECK_FALSE(events[0].from);
  CHECK(events[0].delta.contains(7));
  CHECK(events[0].delta.contains(8));
}

TEST_CASE("events: turning reporting off drops what is queued") {
  converge::testing::cluster<gs> n;
  n.add(reporting());
  n[0].mutate([](gs& s) { return s.insert(1); });
  n[0].report_applied(false);
  CHECK_FALSE(n[0].poll());
  n[0].mutate([](gs& s) { return s.insert(2); });
  CHECK_FALSE(n[0].poll());
  n[0].report_applied(true);
  n[0].mutate([](gs& s) { return s.insert(3); });
  CHECK(n[0].poll());
}

TEST_CASE("events: a mirror that joins every event equals the state, under loss, duplicates and removals") {
  const std::uint64_t seed = test::seed();
  CAPTURE(seed);
  converge::testing::seeded_entropy e(seed ^ 0xe7e27);
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    converge::testing::cluster<kv> n;
    constexpr std::size_t replicas = 4;
    for (std::size_t i = 0; i < replicas; ++i) n.add(reporting(8));
    std::vector<kv> mirror(replicas);
    n.deliver_if = [&](const converge::testing::packet&) { return !e.chance(1, 4); };
    const auto keys = std::vector<std::string>{"a", "b", "c", "d", "e"};
    for (int op = 0; op < 60; ++op) {
      const std::size_t at = e.below(replicas);
      const std::string key = keys[e.below(keys.size())];
      const replica_id self = n[at].self();
      if (e.chance(1, 4)) {
        n[at].mutate([&](kv& m) { return m.erase(key); });
      } else {
        const std::string value = "v" + std::to_string(e.below(100));
        n[at].mutate([&](kv& m) { return m.update(key, [&](auto& r) { return r.assign(self, value); }); });
      }
      if (e.chance(1, 2)) n.step(10);
      for (std::size_t i = 0; i < replicas; ++i) {
        while (auto ev = n[i].poll()) converge::join_into(mirror[i], ev->delta);
      }
    }
    n.deliver_if = [](const converge::testing::packet&) { return true; };
    REQUIRE(n.settle(100000, 10));
    for (std::size_t i = 0; i < replicas; ++i) {
      while (auto ev = n[i].poll()) converge::join_into(mirror[i], ev->delta);
      CHECK(mirror[i] == n[i].state());
      CHECK(n[i].state() == n[0].state());
    }
  }
}
