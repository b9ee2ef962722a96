#pragma once
/// @file
/// `converge::pncounter`: a counter that goes up and down, as two grow-only
/// counters (increments and decrements).

#include "converge/detail/throw.hpp"
#include "converge/gcounter.hpp"
#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"

#include <cstdint>
#include <limits>
#include <utility>

namespace converge {

/// A positive-negative counter (PN-Counter): `value() = P - N` where `P`
/// counts increments and `N` decrements, each a `gcounter`.
///
/// Concurrency: every increment and decrement from every replica counts once.
///
/// Range: `value()` is a `std::int64_t`, and a local mutator never makes it
/// wrong in silence. An `increment` that would make the exact `P - N` seen
/// here exceed `INT64_MAX`, or a `decrement` that would take it below
/// `INT64_MIN`, throws `std::overflow_error` and changes nothing (as does
/// one that would push `P` or `N` past `UINT64_MAX`). Concurrent mutators on
/// different replicas can still join into a sum out of range: `value()` then
/// saturates at the bound it crossed (it never wraps), and only mutators
/// that move the value back towards the range succeed.
class pncounter {
 public:
  /// Bottom: value 0, nothing counted.
  pncounter() = default;

  /// Adds `n` for replica `r`; returns the delta (r's new increment entry).
  /// Throws `std::overflow_error`, changing nothing, when the local value
  /// would exceed INT64_MAX (or the local `P` UINT64_MAX).
  pncounter increment(replica_id r, std::uint64_t n = 1) {
    if (n != 0 && above_int64_max_(p_.value(), n, n_.value())) {
      detail::throw_overflow_error("converge::pncounter::increment: value would exceed INT64_MAX");
    }
    pncounter delta;
    delta.p_ = p_.increment(r, n);
    return delta;
  }

  /// Subtracts `n` for replica `r`; returns the delta (r's new decrement entry).
  /// Throws `std::overflow_error`, changing nothing, when the local value
  /// would go below INT64_MIN (or the local `N` exceed UINT64_MAX).
  pncounter decrement(replica_id r, std::uint64_t n = 1) {
    if (n != 0 && below_int64_min_(p_.value(), n_.value(), n)) {
      detail::throw_overflow_error("converge::pncounter::decrement: value would go below INT64_MIN");
    }
    pncounter delta;
    delta.n_ = n_.increment(r, n);
    return delta;
  }

  /// Increments minus decrements, saturated to the range of `std::int64_t`.
  [[nodiscard]] std::int64_t value() const noexcept {
    const std::uint64_t p = p_.value();
    const std::uint64_t n = n_.value();
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (p >= n) {
      const std::uint64_t d = p - n;
      return d > max ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(d);
    }
    const std::uint64_t d = n - p;
    return d > max ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(d);
  }

  /// Joins `other` in place (each side joins as a gcounter). No-op on itself.
  void join(const pncounter& other) {
    if (&other == this) return;
    p_.join(other.p_);
    n_.join(other.n_);
  }

  /// Lattice order: both sides included in `other`'s.
  [[nodiscard]] bool leq(const pncounter& other) const noexcept {
    return p_.leq(other.p_) && n_.leq(other.n_);
  }

  /// The part of this delta that `state` lacks; bottom when it is redundant.
  [[nodiscard]] pncounter novel_to(const pncounter& state) const {
    return from_parts(p_.novel_to(state.p_), n_.novel_to(state.n_));
  }

  /// True when this is bottom.
  [[nodiscard]] bool empty() const noexcept { return p_.empty() && n_.empty(); }

  /// State equality.
  bool operator==(const pncounter&) const = default;

  /// For serialization: the increments (`P`).
  [[nodiscard]] const gcounter& increments() const noexcept { return p_; }
  /// For serialization: the decrements (`N`).
  [[nodiscard]] const gcounter& decrements() const noexcept { return n_; }

  /// For serialization: builds a counter from its two (already valid) halves.
  [[nodiscard]] static pncounter from_parts(gcounter increments, gcounter decrements) noexcept {
    pncounter out;
    out.p_ = std::move(increments);
    out.n_ = std::move(decrements);
    return out;
  }

 private:
  static constexpr std::uint64_t int64_max_ =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

  // True when p + n - m > INT64_MAX (exactly, without wrapping); a sum p + n
  // past UINT64_MAX is left to gcounter, which refuses it.
  [[nodiscard]] static bool above_int64_max_(std::uint64_t p, std::uint64_t n, std::uint64_t m) noexcept {
    if (n > std::numeric_limits<std::uint64_t>::max() - p) return false;
    const std::uint64_t up = p + n;
    return up > m && up - m > int64_max_;
  }
  // True when p - (m + n) < INT64_MIN, i.e. m + n - p > 2^63.
  [[nodiscard]] static bool below_int64_min_(std::uint64_t p, std::uint64_t m, std::uint64_t n) noexcept {
    if (n > std::numeric_limits<std::uint64_t>::max() - m) return false;
    const std::uint64_t down = m + n;
    return down > p && down - p > int64_max_ + 1;
  }

  gcounter p_;
  gcounter n_;
};

static_assert(delta_lattice<pncounter>);

}  // namespace converge
