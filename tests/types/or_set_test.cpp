// or_set semantics: add wins over a concurrent erase, erase removes only what
// it observed, out-of-order deltas never act as removals, split parts never
// hide or resurrect an element.
#include <converge/lattice.hpp>
#include <converge/or_set.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "support/random.hpp"
#include "support/replicas.hpp"

using converge::join;
using converge::or_set;
using converge::replica_id;

namespace {
using namespace test::replicas;

template <class T>
std::vector<T> sorted(const or_set<T>& s) {
  std::vector<T> v = s.elements();
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

TEST_CASE("an insert concurrent with an erase wins") {
  or_set<std::string> x, y;
  y.join(x.insert(a, "milk"));
  const auto erase = x.erase("milk");  // a has seen the first insert only
  const auto again = y.insert(b, "milk");
  x.join(again);
  y.join(erase);
  CHECK(x == y);
  CHECK(x.contains("milk"));
  CHECK(x.size() == 1);
}

TEST_CASE("an erase removes what it observed, everywhere") {
  or_set<int> x, y;
  y.join(x.insert(a, 1));
  y.join(x.insert(a, 2));
  x.join(y.erase(1));
  CHECK_FALSE(x.contains(1));
  CHECK(x.contains(2));
  CHECK(sorted(x) == std::vector<int>{2});
}

TEST_CASE("erasing an absent element returns bottom and changes nothing") {
  or_set<int> x;
  x.insert(a, 1);
  const or_set<int> before = x;
  CHECK(converge::is_bottom(x.erase(42)));
  CHECK(x == before);
}

TEST_CASE("an erase delivered before the insert it observed does not lose later inserts") {
  or_set<int> x, y, z;
  const auto add = x.insert(a, 7);
  y.join(add);
  const auto del = y.erase(7);
  const auto later = x.insert(a, 8);  // a's next dot; must not be hidden by the erase's context
  z.join(del);
  z.join(later);
  z.join(add);
  CHECK_FALSE(z.contains(7));
  CHECK(z.contains(8));
}

TEST_CASE("concurrent inserts of one element count once and iterate once") {
  or_set<std::string> x, y, z;
  const auto d1 = x.insert(a, "k");
  const auto d2 = y.insert(b, "k");
  const auto d3 = z.insert(c, "k");
  or_set<std::string> all;
  all.join(d1);
  all.join(d2);
  all.join(d3);
  for (int i = 0; i < 20; ++i) all.insert(a, "e" + std::to_string(i));  // past the small-store threshold
  CHECK(all.size() == 21);
  CHECK(std::distance(all.begin(), all.end()) == 21);
  CHECK(std::count(all.begin(), all.end(), std::string("k")) == 1);
  // One insert observes all three tags and supersedes them.
  const auto d4 = all.insert(a, "k");
  x.join(d4);
  x.join(d2);
  x.join(d3);
  CHECK(x.contains("k"));
  all.erase("k");
  CHECK_FALSE(all.contains("k"));
  CHECK(all.size() == 20);
}

TEST_CASE("clear removes what was observed and keeps concurrent inserts") {
  or_set<int> x, y;
  for (int i = 0; i < 30; ++i) y.join(x.insert(a, i));
  const auto cleared = x.clear();
  const auto concurrent = y.insert(b, 99);
  x.join(concurrent);
  y.join(cleared);
  CHECK(x == y);
  CHECK(sorted(x) == std::vector<int>{99});
}

TEST_CASE("an or_set agrees with a reference model under random single-replica use") {
  auto rng = test::rng_for("or_set model");
  CAPTURE(test::seed());
  or_set<std::uint64_t> s;
  std::set<std::uint64_t> model;
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t v = rng.below(500);
    if (rng.below(3) != 0) {
      s.insert(a, v);
      model.insert(v);
    } else {
      s.erase(v);
      model.erase(v);
    }
    REQUIRE(s.size() == model.size());
  }
  std::vector<std::uint64_t> expect(model.begin(), model.end());
  CHECK(sorted(s) == expect);
  for (std::uint64_t v = 0; v < 500; ++v) CHECK(s.contains(v) == (model.count(v) == 1));
}

TEST_CASE("split parts never lose or resurrect an element, whichever arrive") {
  auto rng = test::rng_for("or_set split");
  CAPTURE(test::seed());
  for (int round = 0; round < test::cases(200); ++round) {
    or_set<int> s, observer;
    const int n = 1 + static_cast<int>(rng.below(60));
    for (int i = 0; i < n; ++i) {
      const int v = static_cast<int>(rng.below(40));
      if (rng.below(3) == 0) {
        s.erase(v);
      } else {
        observer.join(s.insert(replica_id{1 + rng.below(3)}, v));
      }
    }
    const std::size_t wanted = 1 + rng.below(8);
    const auto parts = converge::split(s, wanted);
    REQUIRE(parts.size() >= 1);
    REQUIRE(parts.size() <= std::max<std::size_t>(wanted, 1) + 1);
    const or_set<int> target = join(observer, s);
    or_set<int> all = observer, some = observer;
    std::vector<const or_set<int>*> arrived;
    for (const auto& p : parts) {
      CHECK(converge::leq(p, s));
      all.join(p);
      if (rng.below(2) == 0) {
        some.join(p);
        arrived.push_back(&p);
      }
    }
    // Nothing resurrected: a partial join holds only what the observer
    // already held or the full state holds, and never more than their join.
    CHECK(converge::leq(some, target));
    for (const int v : some.elements()) CHECK((target.contains(v) || observer.contains(v)));
    // Nothing hidden: an element carried by an arrived part is visible.
    for (const auto* p : arrived) {
      for (const int v : p->elements()) CHECK(some.contains(v));
    }
    CHECK(all == join(observer, s));
  }
}

TEST_CASE("joining a copy of a large set allocates nothing; joining new elements grows by them only") {
  converge::or_set<std::uint64_t> a;
  const converge::replica_id r1{1}, r2{2};
  for (std::uint64_t i = 0; i < 50000; ++i) (void)a.insert(i % 2 == 0 ? r1 : r2, i);
  const auto copy = a;
  const std::size_t before = a.heap_bytes();
  a.join(copy);
  CHECK(a.heap_bytes() == before);
  CHECK(a.size() == 50000);
  // Half of `b` is new here: the indexes reserve for those, not for all of `b`.
  converge::or_set<std::uint64_t> b = copy;
  for (std::uint64_t i = 50000; i < 50100; ++i) (void)b.insert(r2, i);
  a.join(b);
  CHECK(a.size() == 50100);
  CHECK(a.heap_bytes() <= 2 * before);
}
