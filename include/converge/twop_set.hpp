#pragma once
/// @file
/// `converge::twop_set<T>`: a two-phase set, where an erased element is gone
/// for good.

#include "converge/detail/chunks.hpp"
#include "converge/detail/flat_set.hpp"
#include "converge/detail/throw.hpp"
#include "converge/lattice.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <utility>
#include <vector>

namespace converge {

/// A two-phase set (2P-Set): an added set plus a removed set (tombstones).
/// An element is live when added and not removed; once erased it can never
/// come back, and erase wins over any concurrent or later insert.
///
/// Representation: the live elements and the tombstones, kept disjoint (an
/// element that is both added and removed is stored only as a tombstone, as
/// it is indistinguishable from one that was only removed). This is the
/// classic (added, removed) lattice up to that equivalence, so `size()` and
/// iteration cost nothing extra. Both live in flat storage (see gset);
/// iteration is in no particular order.
template <class T>
requires std::totally_ordered<T> && std::copyable<T>
class twop_set {
 public:
  using value_type = T;
  using const_iterator = typename detail::flat_set<T>::const_iterator;
  using iterator = const_iterator;

  /// Bottom: nothing added, nothing removed.
  twop_set() = default;

  /// Inserts `v`; returns the delta `{v}`, or bottom when `v` is already live
  /// or was erased (an erased element stays erased).
  twop_set insert(T v) {
    twop_set delta;
    if (elements_.contains(v) || tombstones_.contains(v)) return delta;
    delta.elements_.insert(v);
    elements_.insert(std::move(v));
    return delta;
  }

  /// Erases `v` for good, seen or not; returns the delta (a tombstone for
  /// `v`), or bottom when `v` was already erased.
  twop_set erase(T v) {
    twop_set delta;
    if (tombstones_.contains(v)) return delta;
    elements_.erase(v);
    delta.tombstones_.insert(v);
    tombstones_.insert(std::move(v));
    return delta;
  }

  /// True when `v` is live (inserted and never erased).
  [[nodiscard]] bool contains(const T& v) const { return elements_.contains(v); }
  /// True when `v` was erased (it can never be live again).
  [[nodiscard]] bool erased(const T& v) const { return tombstones_.contains(v); }
  /// The number of live elements.
  [[nodiscard]] std::size_t size() const noexcept { return elements_.size(); }
  /// True when this is bottom (no live element and no tombstone).
  [[nodiscard]] bool empty() const noexcept { return elements_.empty() && tombstones_.empty(); }

  /// Iteration over the live elements, in ascending order.
  [[nodiscard]] const_iterator begin() const noexcept { return elements_.begin(); }
  /// End of iteration.
  [[nodiscard]] const_iterator end() const noexcept { return elements_.end(); }

  /// Joins `other` in place: union of both sides, tombstones winning.
  /// O(m log n) for an `other` of m entries. No-op on itself.
  void join(const twop_set& other) {
    if (&other == this) return;
    for (const T& v : other.tombstones_) {
      if (tombstones_.insert(v)) elements_.erase(v);
    }
    for (const T& v : other.elements_) {
      if (!tombstones_.contains(v)) elements_.insert(v);
    }
  }

  /// Lattice order: `other` has every tombstone of this, and every live
  /// element of this either live or erased.
  [[nodiscard]] bool leq(const twop_set& other) const {
    return std::all_of(tombstones_.begin(), tombstones_.end(), [&](const T& v) { return other.erased(v); }) &&
           std::all_of(elements_.begin(), elements_.end(),
                       [&](const T& v) { return other.contains(v) || other.erased(v); });
  }

  /// The entries of this delta that `state` lacks; bottom when redundant.
  [[nodiscard]] twop_set novel_to(const twop_set& state) const {
    twop_set out;
    for (const T& v : tombstones_) {
      if (!state.erased(v)) out.tombstones_.insert(out.tombstones_.end(), v);
    }
    for (const T& v : elements_) {
      if (!state.contains(v) && !state.erased(v)) out.elements_.insert(out.elements_.end(), v);
    }
    return out;
  }

  /// A join decomposition in at most `parts` groups (see converge::split):
  /// live elements and tombstones cut separately, each part a valid state.
  [[nodiscard]] std::vector<twop_set> split(std::size_t parts) const {
    std::vector<twop_set> out;
    const std::size_t live_parts = std::max<std::size_t>(1, parts / 2);
    detail::for_each_chunk(elements_, live_parts, [&](detail::flat_set<T> chunk) {
      twop_set part;
      part.elements_ = std::move(chunk);
      out.push_back(std::move(part));
    });
    detail::for_each_chunk(tombstones_, std::max<std::size_t>(1, parts - live_parts),
                           [&](detail::flat_set<T> chunk) {
                             twop_set part;
                             part.tombstones_ = std::move(chunk);
                             out.push_back(std::move(part));
                           });
    if (out.empty()) out.emplace_back();
    return out;
  }

  /// State equality.
  bool operator==(const twop_set&) const = default;

  /// For serialization: the live elements (disjoint from the tombstones).
  [[nodiscard]] const detail::flat_set<T>& live() const noexcept { return elements_; }
  /// For serialization: the erased elements.
  [[nodiscard]] const detail::flat_set<T>& tombstones() const noexcept { return tombstones_; }

  /// For serialization: builds a set from its live elements and tombstones.
  /// Throws `std::invalid_argument` when they are not disjoint.
  [[nodiscard]] static twop_set from_parts(std::vector<T> live, std::vector<T> tombstones) {
    twop_set out;
    out.tombstones_ = detail::flat_set<T>::from_vector(std::move(tombstones));
    for (const T& v : live) {
      if (out.tombstones_.contains(v))
        detail::throw_invalid_argument("converge::twop_set::from_parts: element both live and erased");
    }
    out.elements_ = detail::flat_set<T>::from_vector(std::move(live));
    return out;
  }

 private:
  detail::flat_set<T> elements_;    // live, disjoint from tombstones_
  detail::flat_set<T> tombstones_;  // erased for good
};

static_assert(delta_lattice<twop_set<int>>);

}  // namespace converge
