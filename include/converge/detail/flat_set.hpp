#pragma once
// A hash set in flat storage: the elements in one dense vector, found through
// a flat_index of their positions (see flat_index.hpp). About 8 bytes of
// index per element beyond the element itself, no node allocations, and
// iteration in insertion order over contiguous memory. The grow-only and
// two-phase sets use it; or_set's element_store is the same idea with dots.

#include "converge/detail/flat_index.hpp"
#include "converge/detail/throw.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace converge::detail {

// std::hash is declared by replica_id.hpp (through <optional>), not <functional>:
// a user who stores T includes what defines std::hash<T> (<string> for std::string).
template <class T, class Hash = std::hash<T>>
class flat_set {
 public:
  using value_type = T;
  using const_iterator = typename std::vector<T>::const_iterator;
  using iterator = const_iterator;

  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] const_iterator begin() const noexcept { return items_.begin(); }
  [[nodiscard]] const_iterator end() const noexcept { return items_.end(); }
  /// The elements as one contiguous span, in iteration order.
  [[nodiscard]] std::span<const T> view() const noexcept { return items_; }

  [[nodiscard]] bool contains(const T& v) const { return find(v) != flat_index::npos; }

  /// Inserts `v` unless present; true when inserted.
  bool insert(T v) {
    const std::size_t h = hash(v);
    return insert_hashed(std::move(v), h);
  }

  /// Inserts every element of `src` (a random-access range), calling
  /// `added(v)` for each one that was new. Same result as inserting them one
  /// by one, but pipelined (see `pipelined`), after at most one rehash.
  template <class Range, class F>
  void insert_all(const Range& src, F&& added) {
    index_.reserve(items_.size() + std::size(src), hash_at());  // before the pipeline: no rehash inside it
    pipelined(src, [&](const T& v, std::size_t h) {
      if (insert_hashed(v, h)) added(v);
    });
  }

  /// Calls `absent(v)` for every element of `src` (a random-access range)
  /// this set lacks, in order; the lookups are pipelined (see `pipelined`).
  template <class Range, class F>
  void for_each_absent(const Range& src, F&& absent) const {
    if (items_.empty()) {
      for (const T& v : src) absent(v);
      return;
    }
    pipelined(src, [&](const T& v, std::size_t h) {
      if (index_.find(h, [&](std::uint32_t p) { return items_[p] == v; }) == flat_index::npos) absent(v);
    });
  }

  /// Same as insert(v); the position is ignored (for generic chunking code).
  bool insert(const_iterator, T v) { return insert(std::move(v)); }

  /// Removes `v` if present; true when removed.
  bool erase(const T& v) {
    const std::uint32_t p = find(v);
    if (p == flat_index::npos) return false;
    const auto last = static_cast<std::uint32_t>(items_.size() - 1);
    index_.erase(hash(items_[p]), p, hash_at());
    if (p != last) {
      index_.relabel(hash(items_[last]), last, p);
      items_[p] = std::move(items_[last]);
    }
    items_.pop_back();
    return true;
  }

  /// Room for `n` elements in all, in the array and the index.
  void reserve(std::size_t n) {
    items_.reserve(n);
    index_.reserve(n, hash_at());
  }

  /// A set of `items` (duplicates dropped), indexed in one pass: no
  /// per-element growth, and no equality probes when they are distinct (the
  /// common case: a decoded set is strictly sorted).
  [[nodiscard]] static flat_set from_vector(std::vector<T> items) {
    if (items.size() >= flat_index::npos - 1)
      throw_length_error("converge: more than 2^32 - 2 elements in one set");
    flat_set out;
    if (items.empty()) return out;
    const auto n = static_cast<std::uint32_t>(items.size());
    out.items_ = std::move(items);
    const std::size_t distinct = out.index_.rebuild_distinct(
        n, out.hash_at(),
        [&out](std::uint32_t q, std::uint32_t p) { return out.items_[q] == out.items_[p]; });
    if (distinct == n) return out;
    flat_set dedup;  // rare: a caller passed duplicates
    dedup.reserve(distinct);
    for (T& v : out.items_) dedup.insert(std::move(v));
    return dedup;
  }

  /// Same elements, whatever their order.
  friend bool operator==(const flat_set& a, const flat_set& b) {
    if (a.size() != b.size()) return false;
    for (const T& v : a.items_) {
      if (!b.contains(v)) return false;
    }
    return true;
  }

  /// Heap bytes held by the elements array and the index.
  [[nodiscard]] std::size_t heap_bytes() const noexcept {
    return items_.capacity() * sizeof(T) + index_.heap_bytes();
  }

 private:
  static std::size_t hash(const T& v) { return seeded_hash(Hash{}(v)); }

  /// Calls `step(v, hash(v))` for every element of `src` in order, with the
  /// index slot of an element a few steps ahead, then the record that slot
  /// names, fetched meanwhile: on a large, cold set the cache misses of
  /// consecutive lookups overlap instead of queueing. `step` must not
  /// rehash the index (insert_all reserves first).
  template <class Range, class Step>
  void pipelined(const Range& src, Step&& step) const {
    constexpr std::size_t ahead = 8;         // slots fetched this many elements early,
    constexpr std::size_t mid = 4;           // records this many
    constexpr std::size_t ring = 2 * ahead;  // holds hashes from fetch to step
    const std::size_t n = std::size(src);
    std::size_t hashes[ring];
    for (std::size_t i = 0; i < n + ahead; ++i) {
      if (i < n) {
        hashes[i % ring] = hash(src[i]);
        index_.prefetch(hashes[i % ring]);
      }
      if (i >= mid && i - mid < n) {
        const std::uint32_t p = index_.home(hashes[(i - mid) % ring]);
        if (p != flat_index::npos) __builtin_prefetch(&items_[p]);
      }
      if (i >= ahead) step(src[i - ahead], hashes[(i - ahead) % ring]);
    }
  }

  /// Inserts `v` (hashed `h`) unless present, copying or moving it only then.
  template <class U>
  bool insert_hashed(U&& v, std::size_t h) {
    const auto p = static_cast<std::uint32_t>(items_.size());
    if (!index_.insert_if_absent(
            h, p, [&](std::uint32_t q) { return items_[q] == v; }, hash_at()))
      return false;
    try {
      items_.push_back(std::forward<U>(v));
    } catch (...) {
      index_.erase(h, p, hash_at());  // slot p names no item: take it back (hash_at never reads it)
      throw;
    }
    return true;
  }
  auto hash_at() const {
    return [this](std::uint32_t p) { return hash(items_[p]); };
  }
  [[nodiscard]] std::uint32_t find(const T& v) const {
    return index_.find(hash(v), [&](std::uint32_t p) { return items_[p] == v; });
  }

  std::vector<T> items_;
  flat_index index_;
};

}  // namespace converge::detail
