#pragma once
// Seeded randomness for property tests: one seed per run, printed on failure.
//
// The seed comes from CONVERGE_SEED when set (to reproduce a failure), else a
// fixed default so CI runs are repeatable. Every property test does
// `auto rng = test::rng_for("name");` and `CAPTURE(test::seed())`, so a failing
// assertion prints the seed to reproduce it. The generator is the one source
// of converge::testing (converge/testing/entropy.hpp): a seed gives the same
// draws with every standard library.

#include <converge/testing/entropy.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace test {

inline std::uint64_t seed() {
  static const std::uint64_t s = [] {
    if (const char* env = std::getenv("CONVERGE_SEED"))
      return static_cast<std::uint64_t>(std::strtoull(env, nullptr, 0));
    return std::uint64_t{20261126};
  }();
  return s;
}

/// A generator for one test, derived from the run's seed and the test's name,
/// so tests stay independent of each other's draws.
inline converge::testing::seeded_entropy rng_for(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return converge::testing::seeded_entropy::derive(seed(), h);
}

/// Cases per property in the default run; CONVERGE_CASES raises it for soak runs.
inline int cases(int fallback = 1000) {
  if (const char* env = std::getenv("CONVERGE_CASES")) return std::atoi(env);
  return fallback;
}

}  // namespace test
