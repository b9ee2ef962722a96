#pragma once
/// @file
/// `converge::gcounter`: a grow-only counter. Each replica counts its own
/// increments; the value is the sum, and join takes the maximum per replica.

#include "converge/detail/throw.hpp"
#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace converge {

/// A grow-only counter (G-Counter).
///
/// Concurrency: increments by different replicas all count; the state maps
/// each replica to the number of increments it issued, and join keeps the
/// larger count per replica, so no increment is lost or counted twice.
///
/// Overflow: an increment that would make `value()` exceed `UINT64_MAX`
/// throws `std::overflow_error` before changing anything. Concurrent
/// increments on different replicas can still sum past it; `value()` then
/// saturates at `UINT64_MAX` (it never wraps).
class gcounter {
 public:
  /// One replica's count, for serialization: (replica, count), count > 0.
  using entry = std::pair<replica_id, std::uint64_t>;

  /// Bottom: the counter that no replica has incremented (value 0).
  gcounter() = default;

  /// Adds `n` to replica `r`'s count and returns the delta: `r`'s new entry
  /// alone (bottom when `n == 0`). Throws `std::overflow_error` (and changes
  /// nothing) when the local value would exceed `UINT64_MAX`.
  gcounter increment(replica_id r, std::uint64_t n = 1) {
    if (n == 0) return {};
    if (n > std::numeric_limits<std::uint64_t>::max() - value()) {
      detail::throw_overflow_error("converge::gcounter::increment: value would exceed UINT64_MAX");
    }
    // In place: the state allocates only when `r` is new here (and its
    // vector is full), never a merged copy; the delta is the one allocation.
    const auto it = find_(r);
    const bool present = it != entries_.end() && it->first == r;
    const std::uint64_t next = (present ? it->second : 0) + n;
    gcounter delta;
    delta.entries_.emplace_back(r, next);
    if (present) {
      it->second = next;
    } else {
      entries_.emplace(it, r, next);
    }
    return delta;
  }

  /// The sum of all replicas' counts, saturated at `UINT64_MAX`.
  [[nodiscard]] std::uint64_t value() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& [r, c] : entries_) {
      if (c > std::numeric_limits<std::uint64_t>::max() - sum)
        return std::numeric_limits<std::uint64_t>::max();
      sum += c;
    }
    return sum;
  }

  /// The number of increments issued by replica `r` (0 when none seen).
  [[nodiscard]] std::uint64_t count(replica_id r) const noexcept {
    const auto it = find_(r);
    return it != entries_.end() && it->first == r ? it->second : 0;
  }

  /// Joins `other` into this counter: per replica, the larger count wins.
  /// Costs O(m log n) for a small `other` (m entries), O(n + m) otherwise.
  void join(const gcounter& other) {
    if (&other == this || other.entries_.empty()) return;
    if (other.entries_.size() * 8 <= entries_.size()) {
      for (const auto& [r, c] : other.entries_) {
        const auto it = find_(r);
        if (it != entries_.end() && it->first == r) {
          it->second = std::max(it->second, c);
        } else {
          entries_.emplace(it, r, c);
        }
      }
      return;
    }
    std::vector<entry> merged;
    merged.reserve(entries_.size() + other.entries_.size());
    auto a = entries_.begin();
    auto b = other.entries_.begin();
    while (a != entries_.end() || b != other.entries_.end()) {
      if (b == other.entries_.end() || (a != entries_.end() && a->first < b->first)) {
        merged.push_back(*a++);
      } else if (a == entries_.end() || b->first < a->first) {
        merged.push_back(*b++);
      } else {
        merged.emplace_back(a->first, std::max(a->second, b->second));
        ++a;
        ++b;
      }
    }
    entries_ = std::move(merged);
  }

  /// True when every count of this counter is at most `other`'s (lattice order).
  [[nodiscard]] bool leq(const gcounter& other) const noexcept {
    return std::all_of(entries_.begin(), entries_.end(),
                       [&](const entry& e) { return e.second <= other.count(e.first); });
  }

  /// The entries of this (delta) counter that are larger than `state`'s:
  /// what joining it into `state` would change; bottom when nothing.
  [[nodiscard]] gcounter novel_to(const gcounter& state) const {
    gcounter out;
    for (const auto& e : entries_) {
      if (e.second > state.count(e.first)) out.entries_.push_back(e);
    }
    return out;
  }

  /// True when this is bottom (no replica has incremented).
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

  /// State equality.
  bool operator==(const gcounter&) const = default;

  /// For serialization: the entries, sorted by replica, every count > 0.
  [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }

  /// For serialization: builds a counter from entries. Throws
  /// `std::invalid_argument` unless they are strictly sorted by replica
  /// (no duplicates) and every count is > 0.
  [[nodiscard]] static gcounter from_entries(std::vector<entry> entries) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].second == 0)
        detail::throw_invalid_argument("converge::gcounter::from_entries: zero count");
      if (i > 0 && !(entries[i - 1].first < entries[i].first)) {
        detail::throw_invalid_argument("converge::gcounter::from_entries: replicas not strictly sorted");
      }
    }
    gcounter out;
    out.entries_ = std::move(entries);
    return out;
  }

 private:
  [[nodiscard]] std::vector<entry>::iterator find_(replica_id r) noexcept {
    return std::lower_bound(entries_.begin(), entries_.end(), r,
                            [](const entry& e, replica_id key) { return e.first < key; });
  }
  [[nodiscard]] std::vector<entry>::const_iterator find_(replica_id r) const noexcept {
    return std::lower_bound(entries_.begin(), entries_.end(), r,
                            [](const entry& e, replica_id key) { return e.first < key; });
  }

  std::vector<entry> entries_;  // sorted by replica, counts > 0
};

static_assert(delta_lattice<gcounter>);

}  // namespace converge
