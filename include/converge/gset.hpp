#pragma once
/// @file
/// `converge::gset<T>`: a grow-only set.

#include "converge/detail/chunks.hpp"
#include "converge/detail/flat_set.hpp"
#include "converge/lattice.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace converge {

/// A grow-only set (G-Set): elements are inserted, never removed; join is
/// set union, so every concurrent insert survives.
///
/// Elements are kept in flat storage (a dense array and an open-addressing
/// index, ~8 bytes per element beyond the element): inserting and joining a
/// delta of m elements cost O(m). Iteration is in no particular order; the
/// wire format sorts (T must be totally ordered) so equal states encode alike.
template <class T>
requires std::totally_ordered<T> && std::copyable<T>
class gset {
 public:
  using value_type = T;
  using const_iterator = typename detail::flat_set<T>::const_iterator;
  using iterator = const_iterator;

  /// Bottom: the empty set.
  gset() = default;

  /// Inserts `v`; returns the delta `{v}`, or bottom when `v` was present.
  gset insert(T v) {
    gset delta;
    if (elements_.contains(v)) return delta;
    delta.elements_.insert(v);
    elements_.insert(std::move(v));
    return delta;
  }

  /// True when `v` is in the set.
  [[nodiscard]] bool contains(const T& v) const { return elements_.contains(v); }
  /// The number of elements.
  [[nodiscard]] std::size_t size() const noexcept { return elements_.size(); }
  /// True when the set is empty (bottom).
  [[nodiscard]] bool empty() const noexcept { return elements_.empty(); }

  /// Iteration over the elements, in no particular order.
  [[nodiscard]] const_iterator begin() const noexcept { return elements_.begin(); }
  /// End of iteration.
  [[nodiscard]] const_iterator end() const noexcept { return elements_.end(); }

  /// Joins `other` in place (set union), in O(m) for m = other.size().
  /// No-op on itself.
  void join(const gset& other) {
    if (&other == this) return;
    elements_.insert_all(other.elements_.view(), [](const T&) {});
  }

  /// Lattice order: set inclusion.
  [[nodiscard]] bool leq(const gset& other) const {
    return size() <= other.size() &&
           std::all_of(elements_.begin(), elements_.end(), [&](const T& v) { return other.contains(v); });
  }

  /// Joins `delta` in and returns the elements that were new (see
  /// converge::absorb): one lookup per element.
  gset absorb(const gset& delta) {
    if (&delta == this) return {};
    std::vector<T> fresh;  // distinct: from_elements indexes it in one pass
    fresh.reserve(delta.size());
    elements_.insert_all(delta.elements_.view(), [&](const T& v) { fresh.push_back(v); });
    return kept(std::move(fresh));
  }

  /// The elements of this delta that `state` lacks; bottom when redundant.
  [[nodiscard]] gset novel_to(const gset& state) const {
    const gset* self = this;
    return join_novel(std::span(&self, 1), state);
  }

  /// The join of `parts` without the elements `known` holds (see
  /// converge::join_novel): one lookup per element and one index build,
  /// where joining first would index every element twice.
  [[nodiscard]] static gset join_novel(std::span<const gset* const> parts, const gset& known) {
    if (parts.size() == 1 && known.empty()) return *parts.front();  // a copy keeps the index: no rehashing
    std::size_t total = 0;
    for (const gset* p : parts) total += p->size();
    std::vector<T> fresh;  // from_elements drops the duplicates parts may share
    fresh.reserve(total);
    for (const gset* p : parts) {
      known.elements_.for_each_absent(p->elements_.view(), [&](const T& v) { fresh.push_back(v); });
    }
    return kept(std::move(fresh));
  }

  /// A join decomposition in at most `parts` groups of elements (see converge::split).
  [[nodiscard]] std::vector<gset> split(std::size_t parts) const {
    std::vector<gset> out;
    detail::for_each_chunk(elements_, parts, [&](detail::flat_set<T> chunk) {
      gset part;
      part.elements_ = std::move(chunk);
      out.push_back(std::move(part));
    });
    if (out.empty()) out.emplace_back();
    return out;
  }

  /// State equality.
  bool operator==(const gset&) const = default;

  /// For serialization: the elements, in no particular order.
  [[nodiscard]] const detail::flat_set<T>& elements() const noexcept { return elements_; }

  /// For serialization: builds a set from its elements (any set is valid;
  /// duplicates collapse).
  [[nodiscard]] static gset from_elements(std::vector<T> elements) {
    gset out;
    out.elements_ = detail::flat_set<T>::from_vector(std::move(elements));
    return out;
  }

 private:
  /// A set of `fresh`, collected into room for every candidate: gives back
  /// the room when most were dropped, since the result may be kept (a
  /// replicator buffers it).
  static gset kept(std::vector<T> fresh) {
    if (fresh.capacity() > 2 * fresh.size() + 16) fresh.shrink_to_fit();
    return from_elements(std::move(fresh));
  }

  detail::flat_set<T> elements_;
};

static_assert(delta_lattice<gset<int>>);

}  // namespace converge
