// Retiring a departed replica: its counter contribution folded into a
// survivor's, its entries stripped everywhere, every value unchanged at every
// replica and every step, and its old state ignored when it comes back.
#include <converge/bounded_counter.hpp>
#include <converge/dw_flag.hpp>
#include <converge/ew_flag.hpp>
#include <converge/g_map.hpp>
#include <converge/gcounter.hpp>
#include <converge/lattice.hpp>
#include <converge/lww_register.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/retirement.hpp>
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>
#include <converge/pncounter.hpp>
#include <converge/testing/operations.hpp>
#include <converge/twop_set.hpp>

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/random.hpp"

namespace {

using converge::gcounter;
using converge::pncounter;
using converge::replica_id;
using namespace converge::membership;

const replica_id a{1}, b{2}, gone{3};

}  // namespace

TEST_CASE("retirement: folding keeps the value and drops the entry") {
  gcounter g;
  g.increment(a, 4);
  g.increment(b, 2);
  g.increment(gone, 7);
  const gcounter f = fold_retired(g, gone, a);
  CHECK(f.value() == g.value());
  CHECK(f.count(gone) == 0);
  CHECK(f.count(a) == 11);
  CHECK(f.entries().size() == 2);
  // A survivor with no entry yet gets one, in order.
  const gcounter f2 = fold_retired(g, a, replica_id{0});
  CHECK(f2.value() == g.value());
  CHECK(f2.entries().front().first == replica_id{0});
  CHECK(fold_retired(g, replica_id{99}, a) == g);  // nothing to fold
  CHECK_THROWS_AS(fold_retired(g, a, a), std::invalid_argument);
  CHECK(fold_retired_delta(g, gone, a).entries() == std::vector<gcounter::entry>{{a, 11}});

  pncounter p;
  p.increment(a, 5);
  p.increment(gone, 3);
  p.decrement(gone, 10);
  const pncounter fp = fold_retired(p, gone, a);
  CHECK(fp.value() == p.value());
  CHECK(fp.increments().count(gone) == 0);
  CHECK(fp.decrements().count(gone) == 0);
}

TEST_CASE("retirement: with the protocol, no replica ever sees a different value") {
  auto rng = test::rng_for("retirement protocol");
  CAPTURE(test::seed());
  for (int round = 0; round < 200; ++round) {
    // Three replicas count; every update of `gone` reaches the survivor `a`
    // (the grace period), but maybe not `b`.
    gcounter ra, rb, rg;
    for (int k = 0; k < 20; ++k) {
      const std::uint64_t n = 1 + rng.below(5);
      switch (rng.below(3)) {
        case 0:
          ra.join(ra.increment(a, n));
          break;
        case 1:
          rb.join(rb.increment(b, n));
          break;
        default:
          rg.increment(gone, n);
          break;
      }
    }
    ra.join(rg);
    ra.join(rb);
    const gcounter gone_partial =
        rg.entries().empty() ? gcounter{} : gcounter::from_entries({{gone, 1 + rng.below(rg.count(gone))}});
    if (rng.chance(1, 2)) rb.join(gone_partial);  // b may lag behind on gone's updates
    const std::uint64_t total = ra.value();

    // The survivor folds in one mutation: the members removal and the fold.
    members m;
    member_record rec;
    rec.node = 3;
    rec.replica = gone;
    rec.status = member_status::down;
    m.announce(rec);
    const members removal = m.remove(3);
    const gcounter fold = fold_retired_delta(ra, gone, a);
    ra = without_retired(converge::join(ra, fold), m.retired());
    CHECK(ra.value() == total);

    // b gets a's state (before it heard of the fold), the fold with the
    // removal, and gone's old state, in any order, stripping after each join.
    members mb;
    std::vector<int> order{0, 1, 2};
    rng.shuffle(order);
    bool folded = false;
    for (const int step : order) {
      if (step == 0) rb.join(ra);
      if (step == 1) {
        mb.join(removal);
        rb.join(fold);
        folded = true;
      }
      if (step == 2) rb.join(rg);
      rb = without_retired(rb, mb.retired());
      if (folded) CHECK(rb.value() == ra.value());
      CHECK(rb.value() <= total + rg.count(gone));  // never double-counts once folded...
      if (folded) CHECK(rb.count(gone) == 0);       // ...because gone's entry is gone
    }
    CHECK(rb == ra);
    // Counting continues on both, and they converge.
    ra.join(ra.increment(a, 2));
    rb.join(rb.increment(b, 3));
    rb.join(ra);
    ra.join(rb);
    CHECK(ra == rb);
    CHECK(ra.value() == total + 5);
  }
}

TEST_CASE("retirement: a causal context drops a replica once no value carries its dots") {
  converge::or_set<int> s;
  s.insert(a, 1);
  s.insert(gone, 2);
  s.insert(gone, 3);
  s.erase(3);
  const std::vector<replica_id> retired{gone};
  CHECK(!prune_context(s, retired));  // element 2 still carries gone's dot
  s.insert(a, 2);                     // the survivor re-adds it: a's dot supersedes gone's
  const auto pruned = prune_context(s, retired);
  REQUIRE(pruned);
  CHECK(pruned->contains(1));
  CHECK(pruned->contains(2));
  CHECK(!pruned->contains(3));
  CHECK(pruned->size() == s.size());
  CHECK(pruned->context().max_contiguous(gone) == 0);
  CHECK(pruned->context().max_contiguous(a) == s.context().max_contiguous(a));
  const converge::causal_context stripped = without_retired(s.context(), retired);
  CHECK(stripped.max_contiguous(gone) == 0);
  CHECK(stripped.max_contiguous(a) == 2);
}

TEST_CASE("retirement: a leaving replica hands its rights over; the value never changes") {
  converge::bounded_counter c;
  c.increment(gone, 10);
  c.increment(a, 3);
  (void)c.decrement(gone, 4);
  const std::uint64_t value = c.value();
  converge::bounded_counter at_a = c;  // the survivor's copy before the hand-over
  const converge::bounded_counter d = hand_over_rights(c, gone, a);
  CHECK(c.rights(gone) == 0);
  CHECK(c.rights(a) == 9);
  CHECK(c.value() == value);
  at_a.join(d);
  CHECK(at_a.rights(a) == 9);
  CHECK(at_a.decrement(a, 9).has_value());      // the survivor may now sell all of it
  CHECK(!at_a.decrement(a, 1).has_value());     // and not one more: no oversell
  CHECK(hand_over_rights(c, gone, a).empty());  // nothing left to hand over
}

// ---------------------------------------------------------------------------
// Generic retirement: every type of the catalog, nested maps, composed
// structs, with the members CRDT in the same state (as the simulator runs it).

namespace {

using converge::testing::entropy;

// Small amounts (no overflow paths), transfers among replicas 1..4 (gone is 4).
struct retire_domain : converge::testing::collisions {
  static std::uint64_t amount(entropy& e) { return 1 + e.below(5); }
  static replica_id peer(entropy& e) { return replica_id{1 + e.below(4)}; }
};

struct user_state {
  BOOST_HANA_DEFINE_STRUCT(
      user_state, (gcounter, hits), (pncounter, balance), (converge::bounded_counter, stock),
      (converge::gset<std::uint64_t>, seen), (converge::twop_set<std::uint64_t>, once),
      (converge::or_set<std::uint64_t>, tags), (converge::lww_register<std::uint64_t>, last),
      (converge::mv_register<std::uint64_t>, versions), (converge::ew_flag, enabled),
      (converge::dw_flag, disabled), (converge::g_map<std::string, pncounter>, per_key),
      (converge::or_map<std::string, converge::or_set<std::uint64_t>>, keyed),
      (converge::or_map<std::string, converge::or_map<std::string, converge::mv_register<std::uint64_t>>>,
       deep));
  bool operator==(const user_state&) const = default;
};

struct world {
  BOOST_HANA_DEFINE_STRUCT(world, (members, m), (user_state, s));
  bool operator==(const world&) const = default;
};

template <class T>
std::string sorted_text(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  std::string out;
  for (const auto& x : v) out += std::to_string(x) + ",";
  return out;
}

// Everything a user can read from a state, as text (rights of `rights_of` only).
std::string values_of(const user_state& s, std::span<const replica_id> rights_of) {
  std::string out = "hits=" + std::to_string(s.hits.value()) +
                    " balance=" + std::to_string(s.balance.value()) +
                    " stock=" + std::to_string(s.stock.value()) + " rights=";
  for (const replica_id r : rights_of) out += std::to_string(s.stock.rights(r)) + ",";
  std::vector<std::uint64_t> seen(s.seen.begin(), s.seen.end());
  std::vector<std::uint64_t> once(s.once.begin(), s.once.end());
  out += " seen=" + sorted_text(seen) + " once=" + sorted_text(once) +
         " tags=" + sorted_text(s.tags.elements()) + " last=" + std::to_string(s.last.value().value_or(0)) +
         " versions=" + sorted_text(s.versions.values()) + " enabled=" + std::to_string(s.enabled.value()) +
         " disabled=" + std::to_string(s.disabled.value());
  out += " per_key=";
  for (const auto& [k, v] : s.per_key) out += k + ":" + std::to_string(v.value()) + ",";
  out += " keyed=";
  for (const auto& [k, v] : s.keyed) out += k + ":{" + sorted_text(v.elements()) + "}";
  out += " deep=";
  for (const auto& [k, inner] : s.deep) {
    out += k + ":{";
    for (const auto& [k2, reg] : inner) out += k2 + ":" + sorted_text(reg.values()) + ";";
    out += "}";
  }
  return out;
}

// True when `s` holds `r` in metadata that retirement strips (an LWW
// register keeps its writer, by design: see retirement.hpp).
bool holds_id(user_state s, replica_id r) {
  s.last = {};
  const std::vector<replica_id> ids = replica_ids(s);
  return std::binary_search(ids.begin(), ids.end(), r);
}

}  // namespace

TEST_CASE("retirement: generic fold and strip keep every value of every type") {
  auto rng = test::rng_for("retirement generic value");
  CAPTURE(test::seed());
  const replica_id g{4}, s{1};
  const std::vector<replica_id> retired{g};
  for (int round = 0; round < test::cases(300); ++round) {
    CAPTURE(round);
    user_state reps[4];
    for (int k = 0; k < 60; ++k) {
      const auto who = static_cast<std::size_t>(rng.below(4));
      const user_state d =
          converge::testing::random_op<user_state, retire_domain>(reps[who], replica_id{who + 1}, rng);
      for (std::size_t o = 0; o < 4; ++o) {
        if (o != who && rng.chance(1, 3)) converge::join_into(reps[o], d);
      }
    }
    user_state x{};
    for (const user_state& r : reps) converge::join_into(x, r);
    const std::vector<replica_id> third{replica_id{2}, replica_id{3}};
    const std::string before = values_of(x, third);
    const std::uint64_t rights_s = x.stock.rights(s), rights_g = x.stock.rights(g);
    user_state folded = x;
    const user_state d = retire(folded, g, s);
    CHECK(converge::join(x, d) == folded);  // an ordinary delta mutator
    CHECK(strip_retired(folded, retired) ==
          holds_id(x, g));  // retire keeps g's entries: the strip drops them
    CHECK(!holds_id(folded, g));
    // Every value, and the rights of third parties before they re-address
    // their own transfers to g, as the file comment says.
    std::uint64_t given_to_g = 0;
    for (const replica_id r : third) given_to_g += x.stock.transferred(r, g);
    user_state owned = folded;
    for (const replica_id r : third) {
      user_state at_r = converge::join(x, d);  // r learns of g's retirement from the fold
      const user_state own = retire_own(at_r, g, r, s);
      strip_retired(at_r, retired);                      // in the same step
      CHECK(at_r.stock.rights(r) == x.stock.rights(r));  // r's own view never moves
      converge::join_into(owned, without_retired(own, retired));
    }
    CHECK(values_of(owned, third) == before);
    CHECK(owned.stock.rights(s) == rights_s + rights_g);
    CHECK(values_of(folded, {}) == values_of(x, {}));
    // Until the re-addresses arrive the survivor undersells by what third
    // parties gave g (rights() clamps at 0).
    CHECK(folded.stock.rights(s) ==
          (rights_s + rights_g > given_to_g ? rights_s + rights_g - given_to_g : 0));
    // g's old state changes nothing, stripped on arrival.
    CHECK(converge::join(owned, without_retired(reps[3], retired)) == owned);
    CHECK(without_retired(reps[3], retired) ==
          without_retired(reps[3], std::vector<replica_id>{g, replica_id{9}}));
  }
}

TEST_CASE("retirement: fold, old states and re-addresses in any order, with duplicates, converge") {
  auto rng = test::rng_for("retirement generic protocol");
  CAPTURE(test::seed());
  const replica_id g{4}, s{1};
  for (int round = 0; round < test::cases(150); ++round) {
    CAPTURE(round);
    world reps[4];
    std::vector<world> pool;  // everything ever sent
    for (std::size_t i = 0; i < 4; ++i) {
      member_record rec;
      rec.node = i + 1;
      rec.replica = replica_id{i + 1};
      rec.status = member_status::up;
      world d{};
      d.m = reps[i].m.announce(rec);
      for (world& w : reps) converge::join_into(w, d);
      pool.push_back(d);
    }
    for (int k = 0; k < 50; ++k) {
      const auto who = static_cast<std::size_t>(rng.below(4));
      world d{};
      d.s = converge::testing::random_op<user_state, retire_domain>(reps[who].s, replica_id{who + 1}, rng);
      pool.push_back(d);
      for (std::size_t o = 0; o < 4; ++o) {
        if (o != who && rng.chance(1, 3)) converge::join_into(reps[o], d);
      }
    }
    // The grace period: the survivor holds everything of g (and here all
    // the rest too, so no remove races the re-tag: see the next test).
    for (std::size_t o = 1; o < 4; ++o) converge::join_into(reps[0], reps[o]);
    const world gone_state = reps[3];
    const world survivor_before = reps[0];
    world all{};
    for (const world& w : pool) converge::join_into(all, w);
    const std::vector<replica_id> third{replica_id{2}, replica_id{3}};
    const std::string truth = values_of(all.s, third);
    const std::uint64_t rights_total = all.s.stock.rights(s) + all.s.stock.rights(g);

    // The survivor's one mutation: remove g and fold it.
    world fold{};
    fold.m = reps[0].m.remove(4);
    fold.s = retire(reps[0].s, g, s);
    converge::join_into(reps[0].m, fold.m);
    strip_retired(reps[0], reps[0].m.retired());
    pool.push_back(fold);
    CHECK(values_of(reps[0].s, {}) == values_of(all.s, {}));

    // Replicas 2 and 3 receive, in random order with duplicates: the
    // survivor's state before and after, the fold, g's old state, each
    // other's states, and the re-addresses they make when they learn.
    std::vector<world> items{survivor_before, reps[0], fold, gone_state, reps[1], reps[2], fold, gone_state};
    auto receive = [&](world& x, std::size_t self, const world& in) {
      const std::vector<replica_id> known = x.m.retired();
      converge::join_into(x, without_retired(in, known));
      for (const replica_id r : x.m.retired()) {
        if (std::binary_search(known.begin(), known.end(), r)) continue;
        world own{};
        own.s = retire_own(x.s, r, replica_id{self + 1}, s);
        if (!converge::is_bottom(own)) {
          items.push_back(own);
          pool.push_back(own);
        }
      }
      strip_retired(x, x.m.retired());
      if (x.m.is_retired(g)) CHECK(!holds_id(x.s, g));
    };
    for (int step = 0; step < 40; ++step) {
      const auto to = static_cast<std::size_t>(1 + rng.below(2));
      receive(reps[to], to, items[rng.below(items.size())]);
    }
    // Then everything reaches everyone (what anti-entropy ends with).
    for (int pass = 0; pass < 2; ++pass) {
      const std::vector<world> now = items;
      for (std::size_t to = 0; to < 3; ++to) {
        for (const world& w : now) receive(reps[to], to, w);
        for (std::size_t o = 0; o < 3; ++o) receive(reps[to], to, reps[o]);
      }
    }
    CHECK(reps[0] == reps[1]);
    CHECK(reps[1] == reps[2]);
    CHECK(!holds_id(reps[0].s, g));
    CHECK(values_of(reps[0].s, third) == truth);
    CHECK(reps[0].s.stock.rights(s) == rights_total);
    // Stripping commutes with join: the replicas hold the stripped join of
    // everything ever sent, fold and re-addresses included.
    world oracle{};
    for (const world& w : pool) converge::join_into(oracle, w);
    CHECK(without_retired(oracle, reps[0].m.retired()) == reps[0]);
    // g comes back with its old state: nothing changes.
    world back = reps[1];
    receive(back, 1, gone_state);
    CHECK(back == reps[1]);
  }
}

TEST_CASE("retirement: a remove concurrent with the re-tag that saw only the old dot keeps the value") {
  converge::or_set<std::uint64_t> at_s, at_b;
  const replica_id g{4}, s{1}, b{2};
  const auto add = at_s.insert(g, 7);
  at_b.join(add);
  const auto erase = at_b.erase(7);       // b saw only g's dot
  const auto retag = retire(at_s, g, s);  // concurrent: s has not seen the erase
  CHECK(at_s.contains(7));
  const std::vector<replica_id> retired{g};
  at_b.join(without_retired(retag, retired));
  strip_retired(at_b, retired);
  at_s.join(without_retired(erase, retired));
  strip_retired(at_s, retired);
  CHECK(at_s == at_b);
  CHECK(at_b.contains(7));  // Akka's pruning has the same outcome (retirement.hpp says so)
  CHECK(replica_ids(at_b) == std::vector<replica_id>{s});
  (void)b;
}

TEST_CASE("retirement: bounded counter fold, by the numbers") {
  converge::bounded_counter c;
  const replica_id s{1}, x{2}, g{4};
  c.increment(g, 10);
  c.increment(x, 6);
  c.increment(s, 1);
  REQUIRE(c.transfer(g, x, 3));
  REQUIRE(c.transfer(g, s, 2));
  REQUIRE(c.transfer(x, g, 4));
  REQUIRE(c.transfer(s, g, 1));
  REQUIRE(c.decrement(g, 1));
  // rights: g = 10 - 1 + 4 + 1 - 3 - 2 = 9, x = 6 + 3 - 4 = 5, s = 1 + 2 - 1 = 2.
  REQUIRE(c.rights(g) == 9);
  REQUIRE(c.rights(x) == 5);
  REQUIRE(c.rights(s) == 2);
  const std::uint64_t value = c.value();
  converge::bounded_counter at_s = c, at_x = c;
  const auto d = retire(at_s, g, s);
  CHECK(d.transferred(s, x) == 3);  // x now holds from s what it held from g
  const std::vector<replica_id> retired{g};
  strip_retired(at_s, retired);
  CHECK(at_s.value() == value);
  CHECK(at_s.rights(s) == 2 + 9 - 4);  // all but x's gift, which x re-addresses
  const auto own = retire_own(at_x, g, x, s);
  CHECK(own.transferred(x, s) == 4);
  at_x.join(d);
  strip_retired(at_x, retired);
  CHECK(at_x.rights(x) == 5);
  at_s.join(own);
  CHECK(at_s == at_x);
  CHECK(at_s.rights(s) == 11);
  CHECK(at_s.rights(x) == 5);
  CHECK(at_s.value() == value);
  CHECK(replica_ids(at_s) == std::vector<replica_id>{s, x});
  CHECK_THROWS_AS((void)retire(at_s, s, s), std::invalid_argument);
}
