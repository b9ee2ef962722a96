// bounded_counter semantics: rights, failed operations, transfers, and the
// invariant (never below zero) under random interleavings.
#include <converge/bounded_counter.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "support/random.hpp"
#include "support/replicas.hpp"

namespace {

using namespace test::replicas;

// Rights computed from the representation without clamping (as signed).
std::int64_t raw_rights(const converge::bounded_counter& x, converge::replica_id r) {
  auto v =
      static_cast<std::int64_t>(x.increments().count(r)) - static_cast<std::int64_t>(x.decrements().count(r));
  for (const auto& t : x.transfers()) {
    if (t.to == r) v += static_cast<std::int64_t>(t.amount);
    if (t.from == r) v -= static_cast<std::int64_t>(t.amount);
  }
  return v;
}

// A causally complete state: no right is negative, nothing clamps, and the
// rights add up to the value.
void check_invariant(const converge::bounded_counter& x, const std::array<converge::replica_id, 3>& ids) {
  CHECK(x.increments().value() >= x.decrements().value());
  std::uint64_t sum = 0;
  for (const auto r : ids) {
    CHECK(raw_rights(x, r) >= 0);
    CHECK(static_cast<std::int64_t>(x.rights(r)) == raw_rights(x, r));
    sum += x.rights(r);
  }
  CHECK(sum == x.value());
}

/// Runs test::cases(200) rounds of `round(rng, replicas)`, each on three
/// fresh counters (of replicas a, b, c), from the generator of test `name`.
template <class F>
void rounds(const char* name, F&& round) {
  CAPTURE(test::seed());
  auto rng = test::rng_for(name);
  for (int r = 0; r < test::cases(200); ++r) {
    std::array<converge::bounded_counter, 3> rep{};
    round(rng, rep);
  }
}

}  // namespace

TEST_CASE("bounded_counter: increments give rights to their replica") {
  converge::bounded_counter x;
  CHECK(x.empty());
  const auto old = x;
  const auto d = x.increment(a, 10);
  CHECK(converge::join(old, d) == x);
  CHECK(x.value() == 10);
  CHECK(x.rights(a) == 10);
  CHECK(x.rights(b) == 0);
}

TEST_CASE("bounded_counter: a decrement beyond local rights fails and changes nothing") {
  converge::bounded_counter x;
  x.increment(a, 5);
  const auto before = x;
  CHECK_FALSE(x.decrement(a, 6).has_value());
  CHECK(x == before);
  CHECK_FALSE(x.decrement(b, 1).has_value());  // b has no rights although the value is 5
  CHECK(x == before);
  const auto d = x.decrement(a, 5);
  REQUIRE(d.has_value());
  CHECK(converge::join(before, *d) == x);
  CHECK(x.value() == 0);
  CHECK(x.rights(a) == 0);
  CHECK_FALSE(x.decrement(a, 1).has_value());
}

TEST_CASE("bounded_counter: transfer moves rights, within the sender's rights only") {
  converge::bounded_counter x;
  x.increment(a, 10);
  const auto before = x;
  const auto d = x.transfer(a, b, 4);
  REQUIRE(d.has_value());
  CHECK(converge::join(before, *d) == x);
  CHECK(d->transfers().size() == 1);
  CHECK(d->increments().empty());
  CHECK(x.value() == 10);
  CHECK(x.rights(a) == 6);
  CHECK(x.rights(b) == 4);
  const auto after = x;
  CHECK_FALSE(x.transfer(a, b, 7).has_value());
  CHECK_FALSE(x.transfer(c, a, 1).has_value());
  CHECK(x == after);
  // b spends what it received, on its own replica
  converge::bounded_counter y;
  y.join(x);
  CHECK(y.decrement(b, 4).has_value());
  CHECK(y.rights(b) == 0);
  CHECK(y.value() == 6);
  // transfers accumulate per (from, to) pair
  CHECK(x.transfer(a, b, 2).has_value());
  CHECK(x.transferred(a, b) == 6);
  CHECK(x.rights(a) == 4);
  CHECK(x.transfer(a, a, 4).has_value());  // to oneself: allowed, changes nothing
  CHECK(x.rights(a) == 4);
  CHECK_FALSE(x.transfer(a, a, 5).has_value());
}

TEST_CASE("bounded_counter: concurrent decrements never take the value below zero (state gossip)") {
  const std::array<converge::replica_id, 3> ids{a, b, c};
  rounds("bounded_counter state gossip", [&](auto& rng, std::array<converge::bounded_counter, 3>& rep) {
    for (int step = 0; step < 60; ++step) {
      const auto i = static_cast<std::size_t>(rng.below(3));
      auto& x = rep[i];
      const std::uint64_t n = rng.below(6);
      switch (rng.below(5)) {
        case 0:
          x.increment(ids[i], n);
          break;
        case 1:
        case 2: {
          const auto before = x;
          const bool enough = x.rights(ids[i]) >= n;
          const auto d = x.decrement(ids[i], n);
          CHECK(d.has_value() == enough);
          if (!d) CHECK(x == before);
          break;
        }
        case 3: {
          const auto to = ids[rng.below(3)];
          const auto before = x;
          const std::uint64_t r_from = x.rights(ids[i]), r_to = x.rights(to);
          const auto d = x.transfer(ids[i], to, n);
          CHECK(d.has_value() == (r_from >= n));
          if (!d) {
            CHECK(x == before);
          } else if (to != ids[i]) {
            CHECK(x.rights(ids[i]) == r_from - n);
            CHECK(x.rights(to) == r_to + n);
          }
          break;
        }
        default:
          x.join(rep[rng.below(3)]);
      }
      for (const auto& s : rep) check_invariant(s, ids);
    }
    converge::bounded_counter all;
    for (const auto& s : rep) all.join(s);
    check_invariant(all, ids);
    for (auto& s : rep) {
      s.join(all);
      CHECK(s == all);
    }
  });
}

TEST_CASE("bounded_counter: deltas delivered in any order converge to a non-negative value") {
  const std::array<converge::replica_id, 3> ids{a, b, c};
  rounds("bounded_counter delta shuffle", [&](auto& rng, std::array<converge::bounded_counter, 3>& rep) {
    std::vector<converge::bounded_counter> sent;
    for (int step = 0; step < 60; ++step) {
      const auto i = static_cast<std::size_t>(rng.below(3));
      auto& x = rep[i];
      const std::uint64_t n = rng.below(6);
      std::optional<converge::bounded_counter> d;
      switch (rng.below(4)) {
        case 0:
          d = x.increment(ids[i], n);
          break;
        case 1:
          d = x.decrement(ids[i], n);
          break;
        case 2:
          d = x.transfer(ids[i], ids[rng.below(3)], n);
          break;
        default:
          if (!sent.empty()) x.join(sent[rng.below(sent.size())]);  // any delta, any order
      }
      if (d) sent.push_back(*d);
      for (const auto& s : rep) CHECK(s.value() <= s.increments().value());  // clamped at 0, never wrapped
    }
    for (auto& s : rep) {
      for (std::size_t k = sent.size(); k-- > 0;) s.join(sent[k]);  // the rest, newest first
      check_invariant(s, ids);
      CHECK(s == rep[0]);
    }
  });
}

TEST_CASE("bounded_counter: overflow throws and changes nothing") {
  converge::bounded_counter x;
  x.increment(a, std::numeric_limits<std::uint64_t>::max());
  const auto before = x;
  CHECK_THROWS_AS(x.increment(b, 1), std::overflow_error);
  CHECK(x == before);
}

TEST_CASE("bounded_counter: novel_to and from_parts") {
  converge::bounded_counter x;
  x.increment(a, 10);
  const auto s = x;
  auto d = *x.transfer(a, b, 3);
  d.join(x.increment(c, 1));
  CHECK(d.novel_to(s) == d);
  CHECK(d.novel_to(x).empty());
  const auto copy = converge::bounded_counter::from_parts(x.increments(), x.decrements(), x.transfers());
  CHECK(copy == x);
  using T = converge::bounded_counter::transfer_entry;
  CHECK_THROWS_AS((void)converge::bounded_counter::from_parts({}, {}, {T{a, a, 1}}), std::invalid_argument);
  CHECK_THROWS_AS((void)converge::bounded_counter::from_parts({}, {}, {T{a, b, 0}}), std::invalid_argument);
  CHECK_THROWS_AS((void)converge::bounded_counter::from_parts({}, {}, {T{b, a, 1}, T{a, b, 1}}),
                  std::invalid_argument);
  CHECK_THROWS_AS((void)converge::bounded_counter::from_parts({}, {}, {T{a, b, 1}, T{a, b, 2}}),
                  std::invalid_argument);
}
