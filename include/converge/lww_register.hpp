#pragma once
/// @file
/// `converge::lww_register<T>`: a last-writer-wins register.

#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"

#include <concepts>
#include <cstdint>
#include <optional>
#include <tuple>
#include <utility>

namespace converge {

/// A last-writer-wins register: holds the value of the assign with the
/// largest (timestamp, replica, value), compared lexicographically, so two
/// concurrent assigns with equal timestamps are ordered by replica, then by
/// value, the same way on every replica.
///
/// Timestamps are the caller's (a hybrid logical clock is a good choice); a
/// replica whose clock runs behind loses to one whose clock runs ahead.
/// Bottom is the register never assigned: `value()` is `std::nullopt`.
template <class T>
requires std::totally_ordered<T> && std::copyable<T>
class lww_register {
 public:
  using value_type = T;

  /// Bottom: never assigned.
  lww_register() = default;

  /// Writes `v` as replica `r` at `timestamp`. Returns the delta (the new
  /// register), or bottom and changes nothing when (timestamp, r, v) is not
  /// greater than the current (timestamp, writer, value).
  lww_register assign(replica_id r, T v, std::uint64_t timestamp) {
    lww_register candidate = from_parts(r, std::move(v), timestamp);
    if (!older_than_(*this, candidate)) return {};
    *this = candidate;
    return candidate;
  }

  /// The current value; `std::nullopt` when never assigned.
  [[nodiscard]] const std::optional<T>& value() const noexcept { return value_; }
  /// The timestamp of the current value (0 when never assigned).
  [[nodiscard]] std::uint64_t timestamp() const noexcept { return timestamp_; }
  /// The replica that wrote the current value (`replica_id{}` when never assigned).
  [[nodiscard]] replica_id writer() const noexcept { return writer_; }

  /// Joins `other` in place: the greater (timestamp, writer, value) wins.
  /// No-op on itself.
  void join(const lww_register& other) {
    if (&other != this && older_than_(*this, other)) *this = other;
  }

  /// Lattice order: this is bottom, or not greater than `other`.
  [[nodiscard]] bool leq(const lww_register& other) const { return !older_than_(other, *this); }

  /// This delta when it would win over `state`, else bottom.
  [[nodiscard]] lww_register novel_to(const lww_register& state) const {
    return older_than_(state, *this) ? *this : lww_register{};
  }

  /// True when never assigned (bottom).
  [[nodiscard]] bool empty() const noexcept { return !value_.has_value(); }

  /// State equality.
  bool operator==(const lww_register&) const = default;

  /// For serialization (with `value()`, `timestamp()` and `writer()`): builds
  /// an assigned register. Bottom is `lww_register{}`.
  [[nodiscard]] static lww_register from_parts(replica_id writer, T value, std::uint64_t timestamp) {
    lww_register out;
    out.value_.emplace(std::move(value));
    out.writer_ = writer;
    out.timestamp_ = timestamp;
    return out;
  }

 private:
  /// True when `a` loses to `b`: bottom loses to anything assigned.
  [[nodiscard]] static bool older_than_(const lww_register& a, const lww_register& b) {
    if (!b.value_) return false;
    if (!a.value_) return true;
    return std::tie(a.timestamp_, a.writer_, *a.value_) < std::tie(b.timestamp_, b.writer_, *b.value_);
  }

  std::optional<T> value_;
  std::uint64_t timestamp_ = 0;
  replica_id writer_{};
};

static_assert(delta_lattice<lww_register<int>>);

}  // namespace converge
