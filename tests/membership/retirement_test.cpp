// Retiring a departed replica: its counter contribution folded into a
// survivor's, its entries stripped everywhere, every value unchanged at every
// replica and every step, and its old state ignored when it comes back.
#include <converge/bounded_counter.hpp>
#include <converge/gcounter.hpp>
#include <converge/lattice.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/retirement.hpp>
#include <converge/or_set.hpp>
#include <converge/pncounter.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
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
