// causal_context: compaction keeps its invariants and agrees with a plain
// set-of-dots model under random inserts, joins and subtractions.
#include "support/random.hpp"

#include <converge/causal_context.hpp>

#include <doctest/doctest.h>

#include <set>
#include <stdexcept>
#include <vector>

using converge::causal_context;
using converge::dot;
using converge::replica_id;

namespace {
std::set<dot> dots_of(const causal_context& c) {
  std::set<dot> out;
  c.for_each_dot([&](const dot& d) { out.insert(d); });
  return out;
}

causal_context random_context(std::mt19937_64& rng, std::set<dot>& model) {
  causal_context c;
  const auto n = test::below(rng, 30);
  for (std::uint64_t i = 0; i < n; ++i) {
    const dot d{replica_id{1 + test::below(rng, 3)}, 1 + test::below(rng, 12)};
    c.insert(d);
    model.insert(d);
  }
  return c;
}
}  // namespace

TEST_CASE("causal_context agrees with a set of dots and stays compact") {
  auto rng = test::rng_for("causal_context model");
  CAPTURE(test::seed());
  for (int round = 0; round < test::cases(); ++round) {
    std::set<dot> ma, mb;
    causal_context a = random_context(rng, ma);
    const causal_context b = random_context(rng, mb);
    REQUIRE(a.check_invariants());
    CHECK(dots_of(a) == ma);
    CHECK(a.dot_count() == ma.size());
    std::set<dot> diff;
    for (const dot& d : ma) {
      if (!mb.count(d)) diff.insert(d);
    }
    const causal_context sub = a.subtract(b);
    CHECK(sub.check_invariants());
    CHECK(dots_of(sub) == diff);
    a.join(b);
    ma.insert(mb.begin(), mb.end());
    CHECK(a.check_invariants());
    CHECK(dots_of(a) == ma);
    for (const dot& d : ma) CHECK(a.contains(d));
    CHECK_FALSE(a.contains(dot{replica_id{9}, 1}));
    // Same dots, same representation: equality is set equality.
    causal_context rebuilt;
    for (auto it = ma.rbegin(); it != ma.rend(); ++it) rebuilt.insert(*it);
    CHECK(rebuilt == a);
  }
}

TEST_CASE("contiguous dots fold into the version vector") {
  causal_context c;
  const replica_id r{5};
  c.insert(dot{r, 3});
  c.insert(dot{r, 2});
  CHECK(c.cloud().size() == 2);
  c.insert(dot{r, 1});
  CHECK(c.cloud().empty());
  CHECK(c.max_contiguous(r) == 3);
  CHECK(c.next_dot(r) == dot{r, 4});
  c.insert(dot{r, 9});
  CHECK(c.next_dot(r) == dot{r, 10});
}

TEST_CASE("from_parts refuses a cloud the version vector contradicts") {
  const replica_id r{1};
  CHECK_THROWS_AS(causal_context::from_parts({{r, 5}}, {dot{r, 3}}), std::invalid_argument);
  CHECK_THROWS_AS(causal_context::from_parts({{r, 5}}, {dot{r, 6}}), std::invalid_argument);  // should be folded
  CHECK_THROWS_AS(causal_context::from_parts({{r, 0}}, {}), std::invalid_argument);
  CHECK_THROWS_AS(causal_context::from_parts({{replica_id{2}, 1}, {r, 1}}, {}), std::invalid_argument);
  CHECK_NOTHROW(causal_context::from_parts({{r, 5}}, {dot{r, 7}}));
}
