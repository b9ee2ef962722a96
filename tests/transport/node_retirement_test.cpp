// Retirement in a node (transport/detail/node_retirement.hpp), sans-IO: a
// few replicas exchange their user-state and record deltas in a seeded
// random order, with duplicates; values and rights read over
// `including_retired` never change, a value is never counted twice (two
// survivors) nor lost (the record and the strip arrive in any order, an
// update of the departed replica reached one node only), and the departed
// id leaves every state's metadata.
#include "converge/transport/detail/node_retirement.hpp"

#include <converge/bounded_counter.hpp>
#include <converge/lattice.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/retirement.hpp>
#include <converge/or_set.hpp>
#include <converge/pncounter.hpp>

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "support/random.hpp"

namespace {

using converge::replica_id;
using converge::membership::member_record;
using converge::membership::member_status;
using converge::membership::members;
namespace td = converge::transport::detail;

struct shop {
  BOOST_HANA_DEFINE_STRUCT(shop, (converge::pncounter, visits), (converge::bounded_counter, stock),
                           (converge::or_set<std::string>, tags));
  bool operator==(const shop&) const = default;
};

using record = td::cluster_record<shop>;

const replica_id ra{1 << 24}, rb{2 << 24}, rc{3 << 24}, rg{9 << 24};

member_record rec(std::uint64_t node, replica_id r, member_status s) {
  member_record m;
  m.node = node;
  m.replica = r;
  m.status = s;
  m.incarnation = 1;
  return m;
}

/// A view where `gone` (node 9) is down and every node in `up` is up.
members view_with(const std::vector<std::pair<std::uint64_t, replica_id>>& up, member_status g) {
  members m;
  for (const auto& [n, r] : up) m.announce(rec(n, r, member_status::up));
  m.announce(rec(9, rg, member_status::up));
  if (g == member_status::down) m.confirm_down(9, 1);
  if (g == member_status::removed) m.remove(9);
  return m;
}

/// One replica of the test: its user state, its record, what its
/// replicator stripped, and the retirement it runs.
struct node {
  replica_id self;
  members view;  // the detector's view (joined with the replicated roster)
  shop state;
  record rec;
  std::vector<replica_id> stripped;
  td::retirement ret{td::retirement_options{10, 100}};
};

/// A message in flight: a user-state delta or a record delta, to one node.
struct message {
  std::size_t to;
  std::variant<shop, record> what;
};

struct cluster {
  std::vector<node> nodes;
  std::vector<message> flight;

  void broadcast(std::size_t from, const std::variant<shop, record>& d) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (i != from) flight.push_back({i, d});
    }
  }

  // As a node's shell does: one step, its actions applied and sent.
  void step(std::size_t i, std::uint64_t now) {
    node& n = nodes[i];
    auto a = n.ret.step(now, n.view, n.self, n.rec, n.state, n.stripped);
    if (!converge::is_bottom(a.record)) {
      converge::join_into(n.rec, a.record);
      n.view.join(a.record.roster);
      broadcast(i, a.record);
    }
    for (const replica_id g : a.retag) {
      const shop d = td::retag_causal(n.state, g, n.self);
      if (!converge::is_bottom(d)) broadcast(i, d);
    }
    for (const replica_id g : a.strip) {
      if (!std::binary_search(n.stripped.begin(), n.stripped.end(), g)) n.stripped.push_back(g);
    }
    std::sort(n.stripped.begin(), n.stripped.end());
    converge::membership::strip_retired(n.state, n.stripped);
  }

  void deliver(const message& m) {
    node& n = nodes[m.to];
    if (const shop* d = std::get_if<shop>(&m.what)) {
      converge::join_into(n.state,
                          converge::membership::without_retired(*d, n.stripped));  // as replicator::retire
    } else {
      const record& r = std::get<record>(m.what);
      converge::join_into(n.rec, r);
      n.view.join(r.roster);
    }
  }
};

/// What must never change: the values and every live replica's rights.
struct reading {
  std::int64_t visits;
  std::uint64_t stock;
  std::vector<std::uint64_t> rights;
  std::vector<std::string> tags;
  bool operator==(const reading&) const = default;
};

reading read(const node& n) {
  const shop v = td::including_retired(n.state, n.rec);
  reading r{v.visits.value(), v.stock.value(), {}, {}};
  for (const replica_id x : {ra, rb, rc}) r.rights.push_back(v.stock.rights(x));
  for (const auto& t : v.tags) r.tags.push_back(t);
  std::sort(r.tags.begin(), r.tags.end());
  return r;
}

/// Every replica's writes, the departed one's included: it counted, took
/// stock, gave rights to `ra`, sold one, and tagged.
shop history() {
  shop s;
  (void)converge::update(s, &shop::visits, [](auto& c) { return c.increment(ra, 10); });
  (void)converge::update(s, &shop::visits, [](auto& c) { return c.increment(rb, 20); });
  (void)converge::update(s, &shop::visits, [](auto& c) { return c.increment(rc, 30); });
  (void)converge::update(s, &shop::visits, [](auto& c) { return c.increment(rg, 7); });
  (void)converge::update(s, &shop::visits, [](auto& c) { return c.decrement(rg, 2); });
  (void)converge::update(s, &shop::stock, [](auto& b) { return b.increment(ra, 4); });
  (void)converge::update(s, &shop::stock, [](auto& b) { return b.increment(rg, 6); });
  (void)converge::update(s, &shop::stock, [](auto& b) { return *b.transfer(rg, ra, 2); });
  (void)converge::update(s, &shop::stock, [](auto& b) { return *b.decrement(rg, 1); });
  (void)converge::update(s, &shop::stock, [](auto& b) { return *b.transfer(ra, rg, 1); });
  (void)converge::update(s, &shop::tags, [](auto& t) { return t.insert(rg, "gone's"); });
  (void)converge::update(s, &shop::tags, [](auto& t) { return t.insert(rb, "b's"); });
  return s;
}

/// Runs every message in a seeded random order (with duplicates), a step at
/// every node after each delivery; checks `check(node)` after each, and
/// returns the number of deliveries.
template <class Check>
std::size_t run(cluster& c, converge::testing::seeded_entropy& rng, Check check) {
  std::size_t delivered = 0;
  std::uint64_t now = 1000;
  for (std::size_t i = 0; i < c.nodes.size(); ++i) c.step(i, now);
  while (!c.flight.empty()) {
    REQUIRE(delivered < 10000);
    const std::size_t k = rng.below(c.flight.size());
    const message m = c.flight[k];
    if (!rng.chance(1, 4))
      c.flight.erase(c.flight.begin() + static_cast<std::ptrdiff_t>(k));  // else again later
    c.deliver(m);
    ++delivered;
    now += 1 + rng.below(5);
    for (std::size_t i = 0; i < c.nodes.size(); ++i) {
      c.step(i, now);
      check(c.nodes[i]);
    }
  }
  for (std::size_t i = 0; i < c.nodes.size(); ++i) c.step(i, now + 1000);
  return delivered;
}

void converged_without(const cluster& c, replica_id g) {
  for (const node& n : c.nodes) {
    CHECK(n.state == c.nodes[0].state);
    CHECK(n.rec == c.nodes[0].rec);
    const auto ids = converge::membership::replica_ids(n.state);
    CHECK_FALSE(std::binary_search(ids.begin(), ids.end(), g));
    CHECK(n.rec.recorded.contains(g.value()));
  }
}

}  // namespace

TEST_CASE("two survivors retire the same replica: nothing counted twice, in any order") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("node retirement two survivors");
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const shop all = history();
    cluster c;
    // a and b each think they are the survivor: b does not see a up.
    c.nodes.push_back({ra, view_with({{1, ra}, {2, rb}, {3, rc}}, member_status::down), all, {}, {}});
    c.nodes.push_back({rb, view_with({{2, rb}, {3, rc}}, member_status::down), all, {}, {}});
    c.nodes.push_back({rc, view_with({{1, ra}, {2, rb}, {3, rc}}, member_status::down), all, {}, {}});
    for (node& n : c.nodes) n.ret = td::retirement(td::retirement_options{10, 100});
    // The departure is first seen at 0 and due at 100: step once early.
    for (std::size_t i = 0; i < c.nodes.size(); ++i) c.step(i, 0);
    REQUIRE(c.flight.empty());
    const reading want = read(c.nodes[0]);
    CHECK(want.visits == 65);
    CHECK(want.stock == 9);
    run(c, rng, [&](const node& n) { REQUIRE(read(n) == want); });
    converged_without(c, rg);
  }
}

TEST_CASE("an update of the departed replica that reached one node is recorded, never lost") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("node retirement late update");
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const shop all = history();
    shop late = all;  // c also saw the departed replica's last update
    (void)converge::update(late, &shop::visits, [](auto& v) { return v.increment(rg, 5); });
    (void)converge::update(late, &shop::stock, [](auto& b) { return *b.decrement(rg, 2); });
    cluster c;
    const auto up = view_with({{1, ra}, {2, rb}, {3, rc}}, member_status::removed);
    c.nodes.push_back({ra, up, all, {}, {}});
    c.nodes.push_back({rb, up, all, {}, {}});
    c.nodes.push_back({rc, up, late, {}, {}});
    for (std::size_t i = 0; i < c.nodes.size(); ++i) c.step(i, 0);
    const reading before_a = read(c.nodes[0]), before_c = read(c.nodes[2]);
    // A value may only move from what a node saw to what c saw; never past it.
    run(c, rng, [&](const node& n) {
      const reading r = read(n);
      const bool as_before = r == (n.self == rc ? before_c : before_a);
      REQUIRE((as_before || r == before_c));
    });
    for (const node& n : c.nodes) CHECK(read(n) == before_c);
    converged_without(c, rg);
  }
}

TEST_CASE("the record arrives before the re-tag: values wait, a strip never loses a tag") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("node retirement record first");
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const shop all = history();
    cluster c;
    const auto up = view_with({{1, ra}, {2, rb}, {3, rc}}, member_status::down);
    for (const replica_id r : {ra, rb, rc}) c.nodes.push_back({r, up, all, {}, {}});
    for (std::size_t i = 0; i < c.nodes.size(); ++i) c.step(i, 0);
    const reading want = read(c.nodes[0]);
    // The survivor acts first; deliver its record everywhere before anything else.
    c.step(0, 1000);
    std::vector<message> first;
    for (const message& m : c.flight) {
      if (std::holds_alternative<record>(m.what)) first.push_back(m);
    }
    for (const message& m : first) c.deliver(m);
    for (std::size_t i = 1; i < c.nodes.size(); ++i) {
      c.step(i, 1001);
      CHECK(read(c.nodes[i]) == want);
      CHECK(std::find(c.nodes[i].stripped.begin(), c.nodes[i].stripped.end(), rg) ==
            c.nodes[i].stripped.end());
    }
    run(c, rng, [&](const node& n) { REQUIRE(read(n) == want); });
    converged_without(c, rg);
  }
}

TEST_CASE("a departure is retired only after its period, by the survivor alone") {
  const shop all = history();
  node n{ra, view_with({{1, ra}, {2, rb}}, member_status::down), all, {}, {}};
  n.ret = td::retirement(td::retirement_options{10, 100});
  CHECK(converge::is_bottom(n.ret.step(5, n.view, n.self, n.rec, n.state, n.stripped).record));
  CHECK(converge::is_bottom(n.ret.step(104, n.view, n.self, n.rec, n.state, n.stripped).record));
  const auto a = n.ret.step(105, n.view, n.self, n.rec, n.state, n.stripped);
  CHECK(a.record.recorded.contains(rg.value()));
  CHECK(a.record.roster.status(9) == member_status::removed);
  CHECK(a.retag == std::vector<replica_id>{rg});
  CHECK(a.strip == std::vector<replica_id>{rg});
  CHECK(n.ret.departures().size() == 1);
  converge::join_into(n.rec, a.record);
  n.stripped = a.strip;
  const auto after = n.ret.step(106, n.view, n.self, n.rec, n.state, n.stripped);
  CHECK(converge::is_bottom(after.record));
  CHECK(n.ret.departures().empty());  // recorded and stripped: no more timing
  // Not the survivor (a smaller replica is up): nothing, however long it waits.
  node b{rb, view_with({{1, ra}, {2, rb}}, member_status::down), all, {}, {}};
  b.ret = td::retirement(td::retirement_options{10, 100});
  (void)b.ret.step(0, b.view, b.self, b.rec, b.state, b.stripped);
  CHECK(converge::is_bottom(b.ret.step(100000, b.view, b.self, b.rec, b.state, b.stripped).record));
  // A member that comes back up before its period is not retired.
  node c{ra, view_with({{1, ra}, {2, rb}}, member_status::down), all, {}, {}};
  c.ret = td::retirement(td::retirement_options{10, 100});
  (void)c.ret.step(0, c.view, c.self, c.rec, c.state, c.stripped);
  members back = c.view;
  back.refute(9);
  (void)c.ret.step(50, back, c.self, c.rec, c.state, c.stripped);
  CHECK(converge::is_bottom(c.ret.step(200, back, c.self, c.rec, c.state, c.stripped).record));
  // A node whose own replica is retired decides nothing.
  node g{rg, n.view, all, {}, {}};
  g.view.join(a.record.roster);
  CHECK(converge::is_bottom(g.ret.step(100000, g.view, g.self, g.rec, g.state, g.stripped).record));
}

TEST_CASE("contribution keeps the departed replica's counter entries and nothing else") {
  const shop all = history();
  const shop c = td::contribution(all, rg);
  CHECK(c.visits.increments().count(rg) == 7);
  CHECK(c.visits.decrements().count(rg) == 2);
  CHECK(c.visits.increments().count(ra) == 0);
  CHECK(c.stock.increments().count(rg) == 6);
  CHECK(c.stock.transferred(rg, ra) == 2);
  CHECK(c.stock.transferred(ra, rg) == 1);
  CHECK(c.stock.increments().count(ra) == 0);
  CHECK(converge::is_bottom(c.tags));
  CHECK(converge::is_bottom(td::contribution(all, replica_id{77})));
}
