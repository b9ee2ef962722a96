#pragma once
// The seeded generator of the membership state machines: SplitMix64 with an
// unbiased reduction of our own (the same draws as
// converge::testing::seeded_entropy), so a seed reproduces a run with every
// standard library. The caller injects the seed; nothing reads a clock or
// std::random_device.

#include "converge/replica_id.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace converge::membership::detail {

class rng {
 public:
  explicit rng(std::uint64_t seed = 0) noexcept : s_(seed) {}

  std::uint64_t next() noexcept {
    s_ += 0x9e3779b97f4a7c15ULL;
    return replica_id::mix(s_);
  }

  /// A uniform number in [0, n) (0 when n ≤ 1).
  std::uint64_t below(std::uint64_t n) noexcept {
    if (n <= 1) return 0;
    const std::uint64_t threshold = (0 - n) % n;
    for (;;) {
      const std::uint64_t x = next();
      if (x >= threshold) return x % n;
    }
  }

  /// Fisher–Yates, one draw per element.
  template <class T>
  void shuffle(std::vector<T>& v) noexcept {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

  /// Up to `k` distinct elements of `from`, in random order.
  template <class T>
  std::vector<T> sample(std::vector<T> from, std::size_t k) {
    const std::size_t n = from.size() < k ? from.size() : k;
    for (std::size_t i = 0; i < n; ++i) std::swap(from[i], from[i + below(from.size() - i)]);
    from.resize(n);
    return from;
  }

 private:
  std::uint64_t s_;
};

}  // namespace converge::membership::detail
