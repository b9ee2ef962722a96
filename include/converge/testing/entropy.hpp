#pragma once
/// @file
/// The one source of random choices of converge::testing: the law checker,
/// the operation catalog, the network and the simulator draw from an
/// `entropy`, seeded (`seeded_entropy`) or read from a fuzzer's bytes
/// (`byte_entropy`), so a seed or an input reproduces a run.
///
/// Only what the C++ standard fixes is used: no `std::*_distribution`, no
/// `std::shuffle` (their draws differ between standard libraries); the
/// generator is SplitMix64 and the reductions are our own, so a seed gives
/// the same draws with libstdc++, libc++ and MSVC's library.

#include "converge/replica_id.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <span>
#include <utility>

namespace converge::testing {

/// A source of random choices: a seeded PRNG, or the bytes of a fuzzer input.
class entropy {
 public:
  virtual ~entropy() = default;
  /// A number in [0, n); `n` must be > 0.
  virtual std::uint64_t below(std::uint64_t n) = 0;
  /// True with probability num/den (den > 0).
  bool chance(std::uint64_t num, std::uint64_t den) { return below(den) < num; }
  /// The index, in [0, weights.size()), of a choice drawn with the given
  /// weights (one draw of `below(sum)`; a weight of 0 is never chosen).
  std::size_t weighted(std::span<const std::uint64_t> weights) {
    std::uint64_t sum = 0;
    for (const std::uint64_t w : weights) sum += w;
    std::uint64_t r = below(sum);
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return 0;
  }
  /// Shuffles `range` in place (Fisher–Yates, one `below` per element).
  template <std::ranges::random_access_range R>
  void shuffle(R&& range) {
    const auto first = std::ranges::begin(range);
    for (auto i = static_cast<std::uint64_t>(std::ranges::size(range)); i > 1; --i) {
      std::ranges::iter_swap(first + static_cast<std::ptrdiff_t>(i - 1),
                             first + static_cast<std::ptrdiff_t>(below(i)));
    }
  }
};

/// Entropy from a seeded SplitMix64 generator, with an unbiased reduction
/// of our own: a seed gives the same draws with every standard library. It
/// is also a UniformRandomBitGenerator (`operator()` gives 64 raw bits).
class seeded_entropy final : public entropy {
 public:
  using result_type = std::uint64_t;
  /// Draws from a generator seeded with `seed`.
  explicit seeded_entropy(std::uint64_t seed = 0) noexcept : s_(seed) {}
  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }
  /// 64 raw bits.
  result_type operator()() noexcept {
    s_ += 0x9e3779b97f4a7c15ULL;
    return replica_id::mix(s_);
  }
  /// A uniform number in [0, n) (0 when n is 0 or 1).
  std::uint64_t below(std::uint64_t n) noexcept override {
    if (n <= 1) return 0;
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n: draws below it would bias
    for (;;) {
      const std::uint64_t x = (*this)();
      if (x >= threshold) return x % n;
    }
  }
  using entropy::chance;
  /// True with probability `p` (one raw draw, 53 bits of it).
  bool chance(double p) noexcept {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return static_cast<double>((*this)() >> 11) * 0x1.0p-53 < p;
  }
  /// A generator for the named sub-stream `stream` of `seed`, independent of
  /// the other streams.
  [[nodiscard]] static seeded_entropy derive(std::uint64_t seed, std::uint64_t stream) noexcept {
    return seeded_entropy{replica_id::mix(seed ^ replica_id::mix(stream + 0x5bd1e995ULL))};
  }

 private:
  std::uint64_t s_;
};

/// Entropy read from bytes (a fuzzer's input): each draw consumes as many
/// bytes as `n - 1` needs; once the bytes run out every draw is 0, so every
/// loop driven by it ends. The span must outlive this object.
class byte_entropy final : public entropy {
 public:
  /// Reads draws from `bytes`.
  explicit byte_entropy(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}
  /// A number in [0, n) built from the next bytes; 0 when exhausted.
  std::uint64_t below(std::uint64_t n) override {
    if (n <= 1) return 0;
    std::uint64_t x = 0;
    for (std::uint64_t need = n - 1; need != 0; need >>= 8) {
      x = (x << 8) | (pos_ < bytes_.size() ? bytes_[pos_++] : 0U);
    }
    return x % n;
  }
  /// True when every byte has been consumed.
  [[nodiscard]] bool exhausted() const noexcept { return pos_ >= bytes_.size(); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

}  // namespace converge::testing
