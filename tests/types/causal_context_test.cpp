// causal_context: compaction keeps its invariants and agrees with a plain
// set-of-dots model under random inserts (of dots and ranges), joins and
// subtractions; huge counters cost nothing.
#include <converge/causal_context.hpp>
#include <converge/lattice.hpp>
#include <converge/or_set.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include "support/random.hpp"

using converge::causal_context;
using converge::dot;
using converge::dot_range;
using converge::replica_id;

namespace {

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t replicas = 3;
constexpr std::uint64_t top_counter = 40;

std::set<dot> dots_of(const causal_context& c) {
  std::set<dot> out;
  c.for_each_dot([&](const dot& d) { out.insert(d); });
  return out;
}

/// Random dots and ranges over 3 replicas and counters 1..40, recorded in
/// `model` too; `size` bounds how many inserts.
causal_context random_context(converge::testing::entropy& rng, std::set<dot>& model, std::uint64_t size) {
  causal_context c;
  const auto n = rng.below(size + 1);
  for (std::uint64_t i = 0; i < n; ++i) {
    const replica_id r{1 + rng.below(replicas)};
    const std::uint64_t first = 1 + rng.below(top_counter);
    if (rng.below(3) == 0) {
      const std::uint64_t last = std::min(top_counter, first + rng.below(6));
      c.insert(dot_range{r, first, last});
      for (std::uint64_t k = first; k <= last; ++k) model.insert(dot{r, k});
    } else {
      c.insert(dot{r, first});
      model.insert(dot{r, first});
    }
  }
  return c;
}

/// Checks `c` against the model: every dot in or out, count, runs, next dots.
void check_against(const causal_context& c, const std::set<dot>& model) {
  REQUIRE(c.check_invariants());
  CHECK(dots_of(c) == model);
  CHECK(c.dot_count() == model.size());
  CHECK(c.empty() == model.empty());
  for (std::uint64_t r = 0; r <= replicas + 1; ++r) {
    std::uint64_t highest = 0;
    std::uint64_t contiguous = 0;
    for (std::uint64_t k = 0; k <= top_counter + 2; ++k) {
      const dot d{replica_id{r}, k};
      const bool held = model.count(d) != 0;
      CHECK(c.contains(d) == held);
      if (held) highest = k;
      if (held && contiguous == k - 1) contiguous = k;
    }
    CHECK(c.max_contiguous(replica_id{r}) == contiguous);
    CHECK(c.next_dot(replica_id{r}) == dot{replica_id{r}, highest + 1});
  }
  // Runs are maximal, sorted, and cover exactly the model.
  std::vector<dot_range> runs;
  c.for_each_range([&](const dot_range& x) { runs.push_back(x); });
  std::set<dot> from_runs;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    CHECK(runs[i].first >= 1);
    CHECK(runs[i].first <= runs[i].last);
    if (i > 0) {
      CHECK(runs[i - 1] < runs[i]);
      if (runs[i - 1].replica == runs[i].replica) CHECK(runs[i - 1].last + 1 < runs[i].first);
    }
    for (std::uint64_t k = runs[i].first; k <= runs[i].last; ++k) from_runs.insert(dot{runs[i].replica, k});
  }
  CHECK(from_runs == model);
  CHECK(causal_context::from_parts(c.versions(), c.cloud()) == c);
}

/// The same dots inserted one by one in reverse order.
causal_context rebuilt(const std::set<dot>& model) {
  causal_context c;
  for (auto it = model.rbegin(); it != model.rend(); ++it) c.insert(*it);
  return c;
}

}  // namespace

TEST_CASE("causal_context agrees with a set of dots and stays compact") {
  auto rng = test::rng_for("causal_context model");
  CAPTURE(test::seed());
  for (int round = 0; round < test::cases(); ++round) {
    // Sizes of very different orders, so joins take both the small-context and the merge path.
    std::set<dot> ma, mb;
    causal_context a = random_context(rng, ma, rng.below(2) == 0 ? 60 : 8);
    const causal_context b = random_context(rng, mb, rng.below(2) == 0 ? 60 : 3);
    check_against(a, ma);
    check_against(b, mb);
    CHECK(rebuilt(ma) == a);  // same dots, same representation: equality is set equality
    CHECK((a == b) == (ma == mb));

    std::set<dot> diff;
    for (const dot& d : ma) {
      if (!mb.count(d)) diff.insert(d);
    }
    const causal_context sub = a.subtract(b);
    check_against(sub, diff);
    CHECK(sub == rebuilt(diff));
    CHECK(a.subtract(a).empty());
    CHECK(a.subtract(causal_context{}) == a);
    // Inclusion is set inclusion, and a range is covered when all its dots are.
    CHECK(a.includes(b) == std::includes(ma.begin(), ma.end(), mb.begin(), mb.end()));
    CHECK(a.includes(sub));
    CHECK(a.includes(causal_context{}));
    for (int probe = 0; probe < 20; ++probe) {
      const replica_id r{1 + rng.below(replicas)};
      const std::uint64_t first = 1 + rng.below(top_counter);
      const std::uint64_t last = std::min(top_counter + 1, first + rng.below(8));
      bool all = true;
      for (std::uint64_t k = first; k <= last; ++k) all = all && ma.count(dot{r, k}) != 0;
      CHECK(a.covers(dot_range{r, first, last}) == all);
    }

    std::set<dot> both = ma;
    both.insert(mb.begin(), mb.end());
    causal_context ab = a;
    ab.join(b);
    causal_context ba = b;
    ba.join(a);
    check_against(ab, both);
    CHECK((ab.includes(a) && ab.includes(b)));
    CHECK(ab == ba);
    CHECK(ab == rebuilt(both));
    ab.join(ab);
    CHECK(ab == ba);
    // A join of single dots, one at a time (the small path at every step).
    causal_context dotwise = a;
    b.for_each_dot([&](const dot& d) {
      causal_context one;
      one.insert(d);
      dotwise.join(one);
    });
    CHECK(dotwise == ba);
  }
}

TEST_CASE("contiguous dots fold into the version vector, ranges merge") {
  causal_context c;
  const replica_id r{5};
  c.insert(dot{r, 3});
  c.insert(dot{r, 5});
  CHECK(c.cloud() == std::vector<dot_range>{{r, 3, 3}, {r, 5, 5}});
  c.insert(dot{r, 4});  // bridges two ranges
  CHECK(c.cloud() == std::vector<dot_range>{{r, 3, 5}});
  c.insert(dot{r, 2});  // extends a range down
  CHECK(c.cloud() == std::vector<dot_range>{{r, 2, 5}});
  CHECK(c.max_contiguous(r) == 0);
  c.insert(dot{r, 1});  // reaches the vector: everything folds
  CHECK(c.cloud().empty());
  CHECK(c.versions() == std::vector<causal_context::version>{{r, 5}});
  CHECK(c.next_dot(r) == dot{r, 6});
  c.insert(dot{r, 9});
  CHECK(c.next_dot(r) == dot{r, 10});
  c.insert(dot_range{r, 7, 20});
  CHECK(c.cloud() == std::vector<dot_range>{{r, 7, 20}});
  c.insert(dot_range{r, 3, 6});  // overlaps the vector, touches the range
  CHECK(c.cloud().empty());
  CHECK(c.max_contiguous(r) == 20);
  c.insert(dot{r, 0});  // names no dot
  c.insert(dot_range{r, 30, 29});
  CHECK(c.dot_count() == 20);
}

TEST_CASE("from_parts refuses a cloud the version vector contradicts") {
  const replica_id r{1};
  const replica_id s{2};
  CHECK_THROWS_AS(causal_context::from_parts({{r, 5}}, {{r, 3, 3}}), std::invalid_argument);  // covered
  CHECK_THROWS_AS(causal_context::from_parts({{r, 5}}, {{r, 4, 8}}), std::invalid_argument);  // overlaps
  CHECK_THROWS_AS(causal_context::from_parts({{r, 5}}, {{r, 6, 6}}),
                  std::invalid_argument);                                               // should be folded
  CHECK_THROWS_AS(causal_context::from_parts({}, {{r, 1, 4}}), std::invalid_argument);  // should be a version
  CHECK_THROWS_AS(causal_context::from_parts({{r, 0}}, {}), std::invalid_argument);
  CHECK_THROWS_AS(causal_context::from_parts({{s, 1}, {r, 1}}, {}), std::invalid_argument);
  CHECK_THROWS_AS(causal_context::from_parts({}, {{r, 3, 4}, {r, 5, 6}}), std::invalid_argument);  // touch
  CHECK_THROWS_AS(causal_context::from_parts({}, {{r, 3, 6}, {r, 5, 9}}), std::invalid_argument);  // overlap
  CHECK_THROWS_AS(causal_context::from_parts({}, {{r, 8, 9}, {r, 3, 4}}), std::invalid_argument);  // unsorted
  CHECK_THROWS_AS(causal_context::from_parts({}, {{s, 3, 4}, {r, 8, 9}}), std::invalid_argument);  // unsorted
  CHECK_THROWS_AS(causal_context::from_parts({}, {{r, 5, 4}}), std::invalid_argument);  // empty range
  CHECK_THROWS_AS(causal_context::from_parts({}, {{r, 0, 4}}), std::invalid_argument);  // counter 0
  CHECK_NOTHROW(causal_context::from_parts({{r, 5}}, {{r, 7, 7}, {r, 9, max_u64}, {s, 2, 3}}));
}

TEST_CASE("huge counters cost nothing: version 2^63, a range up to UINT64_MAX") {
  const replica_id r{1};
  const replica_id s{2};
  const std::uint64_t big = std::uint64_t{1} << 63;
  const causal_context huge =
      causal_context::from_parts({{r, big}}, {{r, big + 2, max_u64}, {s, 5, max_u64}});
  CHECK(huge.dot_count() == max_u64);  // saturates instead of wrapping
  CHECK(huge.contains(dot{r, big}));
  CHECK_FALSE(huge.contains(dot{r, big + 1}));
  CHECK(huge.contains(dot{r, max_u64}));
  CHECK(huge.contains(dot{s, max_u64 - 1}));
  CHECK_FALSE(huge.contains(dot{s, 4}));

  causal_context small;
  small.insert(dot{r, 3});
  small.insert(dot{s, 9});
  small.insert(dot{r, big + 1});
  const causal_context rest = huge.subtract(small);
  CHECK(rest.check_invariants());
  CHECK(rest.versions() == std::vector<causal_context::version>{{r, 2}});
  CHECK(rest.cloud() ==
        std::vector<dot_range>{{r, 4, big}, {r, big + 2, max_u64}, {s, 5, 8}, {s, 10, max_u64}});
  CHECK(small.subtract(huge) == causal_context::from_parts({}, {{r, big + 1, big + 1}}));
  CHECK(huge.subtract(huge).empty());

  causal_context joined = small;
  joined.join(huge);
  CHECK(joined.versions() == std::vector<causal_context::version>{{r, max_u64}});
  CHECK(joined.cloud() == std::vector<dot_range>{{s, 5, max_u64}});
  causal_context other_way = huge;
  other_way.join(small);
  CHECK(other_way == joined);
  CHECK(joined.dot_count() == max_u64);

  // The causal engine on a hostile-sized context: join, novel, split.
  converge::or_set<int> set;
  set.insert(r, 1);
  set.insert(s, 2);
  const auto removals = converge::or_set<int>::from_parts({}, huge);
  converge::or_set<int> after = set;
  after.join(removals);
  CHECK_FALSE(after.contains(1));  // the huge context saw (r, 1) and does not hold it: removed
  CHECK(after.contains(2));        // it never saw (s, 1)
  CHECK(converge::is_bottom(converge::novel(removals, after)));
  const auto novel = converge::novel(removals, set);
  CHECK(converge::join(set, novel) == after);
  for (const std::size_t parts : {1U, 2U, 5U}) {
    converge::or_set<int> all;
    for (const auto& piece : converge::split(after, parts)) {
      CHECK(converge::leq(piece, after));
      all.join(piece);
    }
    CHECK(all == after);
  }
}

TEST_CASE("an exhausted dot counter refuses the mutator and changes nothing") {
  const replica_id r{1};
  causal_context full = causal_context::from_parts({{r, max_u64}}, {});
  CHECK_THROWS_AS(full.next_dot(r), std::overflow_error);
  CHECK(full.next_dot(replica_id{2}) == dot{replica_id{2}, 1});  // other replicas are unaffected

  // Only a forged context gets here; the state it reached stays as it was.
  auto set = converge::or_set<int>::from_parts({}, full);
  const auto before = set;
  CHECK_THROWS_AS(set.insert(r, 7), std::overflow_error);
  CHECK(set == before);
  CHECK(set.insert(replica_id{2}, 7).contains(7));
}
