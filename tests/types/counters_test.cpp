// gcounter and pncounter semantics: deltas, concurrency, overflow, representation.
#include <converge/gcounter.hpp>
#include <converge/pncounter.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "support/replicas.hpp"

namespace {
using namespace test::replicas;
constexpr auto u64max = std::numeric_limits<std::uint64_t>::max();
}  // namespace

TEST_CASE("gcounter: bottom, increments and their deltas") {
  converge::gcounter g;
  CHECK(g.empty());
  CHECK(g.value() == 0);
  const converge::gcounter old = g;
  const converge::gcounter d = g.increment(a, 3);
  CHECK(g.value() == 3);
  CHECK(converge::join(old, d) == g);
  CHECK(d.entries() == std::vector<converge::gcounter::entry>{{a, 3}});
  g.increment(b);
  const converge::gcounter d2 = g.increment(a, 2);
  CHECK(d2.entries() == std::vector<converge::gcounter::entry>{{a, 5}});  // only a's entry travels
  CHECK(g.value() == 6);
  CHECK(g.count(a) == 5);
  CHECK(g.count(c) == 0);
  CHECK(g.increment(c, 0).empty());
  CHECK(g.value() == 6);
}

TEST_CASE("gcounter: concurrent increments all count; duplicates do not") {
  converge::gcounter x, y;
  const auto dx = x.increment(a, 2);
  const auto dy = y.increment(b, 5);
  x.join(dy);
  x.join(dy);
  y.join(dx);
  CHECK(x == y);
  CHECK(x.value() == 7);
  x.join(x);
  CHECK(x.value() == 7);
}

TEST_CASE("gcounter: joining many entries (merge path) and few (lookup path) agree") {
  converge::gcounter big, small;
  for (std::uint64_t r = 1; r <= 40; ++r) big.increment(converge::replica_id{r * 3}, r);
  small.increment(converge::replica_id{4}, 9);
  small.increment(converge::replica_id{6}, 100);
  converge::gcounter x = big, y = small;
  x.join(small);  // few into many
  y.join(big);    // many into few
  CHECK(x == y);
  CHECK(x.value() == 40 * 41 / 2 - 2 + 100 + 9);
}

TEST_CASE("gcounter: novel_to keeps only what the state lacks") {
  converge::gcounter s, d;
  s.increment(a, 5);
  d.increment(a, 3);
  d.increment(b, 1);
  const auto n = d.novel_to(s);
  CHECK(n.entries() == std::vector<converge::gcounter::entry>{{b, 1}});
  CHECK(d.novel_to(converge::join(s, d)).empty());
}

TEST_CASE("gcounter: an increment that would overflow throws and changes nothing") {
  converge::gcounter g;
  g.increment(a, u64max - 1);
  const converge::gcounter before = g;
  CHECK_THROWS_AS(g.increment(a, 2), std::overflow_error);
  CHECK(g == before);
  CHECK_THROWS_AS(g.increment(b, 2), std::overflow_error);  // the total is checked, not only the entry
  CHECK(g == before);
  g.increment(b, 1);
  CHECK(g.value() == u64max);
  CHECK_THROWS_AS(g.increment(c), std::overflow_error);
}

TEST_CASE("gcounter: concurrent increments summing past UINT64_MAX saturate value()") {
  converge::gcounter x, y;
  x.increment(a, u64max);
  y.increment(b, 10);
  x.join(y);
  CHECK(x.value() == u64max);
}

TEST_CASE("gcounter: from_entries validates") {
  using E = std::vector<converge::gcounter::entry>;
  const auto g = converge::gcounter::from_entries(E{{a, 1}, {c, 4}});
  CHECK(g.value() == 5);
  CHECK(converge::gcounter::from_entries(E{}).empty());
  CHECK_THROWS_AS((void)converge::gcounter::from_entries(E{{c, 1}, {a, 4}}), std::invalid_argument);
  CHECK_THROWS_AS((void)converge::gcounter::from_entries(E{{a, 1}, {a, 4}}), std::invalid_argument);
  CHECK_THROWS_AS((void)converge::gcounter::from_entries(E{{a, 0}}), std::invalid_argument);
}

TEST_CASE("pncounter: increments and decrements from several replicas") {
  converge::pncounter x, y;
  const auto d1 = x.increment(a, 5);
  const auto d2 = y.decrement(b, 7);
  CHECK(x.value() == 5);
  CHECK(y.value() == -7);
  x.join(d2);
  y.join(d1);
  CHECK(x == y);
  CHECK(x.value() == -2);
  const auto old = x;
  const auto d3 = x.decrement(a);
  CHECK(converge::join(old, d3) == x);
  CHECK(d3.increments().empty());
  CHECK(d3.decrements().count(a) == 1);
  CHECK(x.value() == -3);
}

TEST_CASE("pncounter: a local mutator that would leave the int64 range throws and changes nothing") {
  constexpr std::uint64_t max = std::numeric_limits<std::int64_t>::max();
  converge::pncounter p;
  p.increment(a, max);
  CHECK(p.value() == std::numeric_limits<std::int64_t>::max());
  const converge::pncounter before = p;
  CHECK_THROWS_AS(p.increment(a), std::overflow_error);  // the node's `inc 9223372036854775807`, `inc 1`
  CHECK_THROWS_AS(p.increment(b, u64max), std::overflow_error);
  CHECK(p == before);
  CHECK(p.increment(a, 0).empty());  // nothing to add: allowed at the bound
  p.decrement(b, 1);
  p.increment(a, 1);  // back at the bound, exactly
  CHECK(p.value() == std::numeric_limits<std::int64_t>::max());
  converge::pncounter n;
  n.decrement(a, max + 1);
  CHECK(n.value() == std::numeric_limits<std::int64_t>::min());
  const converge::pncounter low = n;
  CHECK_THROWS_AS(n.decrement(b), std::overflow_error);
  CHECK(n == low);
  n.increment(b, 5);
  CHECK(n.value() == std::numeric_limits<std::int64_t>::min() + 5);
}

TEST_CASE("pncounter: concurrent mutators past the range saturate, and only a move back is allowed") {
  constexpr std::uint64_t max = std::numeric_limits<std::int64_t>::max();
  converge::pncounter x, y;
  x.increment(a, max);
  y.increment(b, max);
  x.join(y);  // P = 2^64 - 2: each replica stayed in range, their sum did not
  CHECK(x.value() == std::numeric_limits<std::int64_t>::max());
  CHECK_THROWS_AS(x.increment(a), std::overflow_error);
  x.decrement(a, 1);  // towards the range: allowed
  CHECK(x.decrements().count(a) == 1);
  converge::pncounter edge;
  edge.decrement(a, std::uint64_t{1} << 63);
  CHECK(edge.value() == std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("pncounter: from_parts round-trips") {
  converge::pncounter p;
  p.increment(a, 4);
  p.decrement(b, 1);
  CHECK(converge::pncounter::from_parts(p.increments(), p.decrements()) == p);
  CHECK(p.novel_to(p).empty());
}
