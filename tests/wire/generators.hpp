#pragma once
// The wire tests' random states: converge::testing::random_state_and_delta
// (the catalog of operations, converge/testing/operations.hpp) in `text`, a
// domain whose strings need care in every encoding (empty, UTF-8, quotes,
// control characters), on every type and on the shared composed struct,
// converge::testing::shop.

#include <converge/testing/entropy.hpp>
#include <converge/testing/operations.hpp>
#include <converge/testing/shop.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <type_traits>

#include "support/random.hpp"

namespace wire_test {

using converge::testing::shop;

/// The default domain, with awkward strings as elements and values.
struct text : converge::testing::collisions {
  template <class T>
  static T element(converge::testing::entropy& e) {
    if constexpr (std::is_same_v<T, std::string>) {
      static const char* const words[] = {"a", "b", "apple", "k", "", "caf\xc3\xa9", "quote\"", "tab\t", "z"};
      return words[e.below(std::size(words))];
    } else {
      return collisions::element<T>(e);
    }
  }
  template <class T>
  static T value(converge::testing::entropy& e) {
    return element<T>(e);
  }
};

/// Calls `f(x, rng)` for the state and the delta of each of `cases` random
/// histories of `T` (up to `max_steps` steps each), drawn from the test's
/// own generator `rng`; the seed and `name` are captured for failures.
template <class T, class F>
void for_random_states(const char* name, int cases, std::uint64_t max_steps, F&& f) {
  CAPTURE(test::seed());
  CAPTURE(name);
  auto rng = test::rng_for(name);
  for (int i = 0; i < cases; ++i) {
    const auto [state, delta] =
        converge::testing::random_state_and_delta<T, text>(rng, static_cast<int>(rng.below(max_steps)));
    for (const T& x : {state, delta}) f(x, rng);
  }
}

/// Calls `f.template operator()<T>(prefix + " " + name of T)` for a sample
/// of every kind of type: counters, sets, registers, flags, nested maps and
/// the shared struct.
template <class F>
void for_each_sample(const std::string& prefix, F&& f) {
  f.template operator()<converge::gcounter>(prefix + " gcounter");
  f.template operator()<converge::bounded_counter>(prefix + " bounded");
  f.template operator()<converge::twop_set<std::string>>(prefix + " twop");
  f.template operator()<converge::or_set<std::string>>(prefix + " or_set");
  f.template operator()<converge::lww_register<std::string>>(prefix + " lww");
  f.template operator()<converge::mv_register<std::string>>(prefix + " mv");
  f.template operator()<converge::dw_flag>(prefix + " dw");
  f.template operator()<converge::g_map<std::string, converge::gcounter>>(prefix + " g_map");
  f.template operator()<converge::or_map<std::uint64_t, converge::or_map<std::string, converge::ew_flag>>>(
      prefix + " or_map nested");
  f.template operator()<shop>(prefix + " shop");
}

}  // namespace wire_test
