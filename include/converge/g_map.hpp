#pragma once
/// @file
/// `converge::g_map<K, V>`: a grow-only map from keys to lattice values.

#include "converge/detail/chunks.hpp"
#include "converge/detail/throw.hpp"
#include "converge/lattice.hpp"

#include <concepts>
#include <cstddef>
#include <functional>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge {

/// A grow-only map: keys are never removed, and each key holds a lattice `V`
/// (a counter, a set, a register, a nested map, a composed struct ...).
/// Join is per key: concurrent updates to the same key join as `V` does.
///
/// A key is present exactly when its value is not bottom: an update whose
/// delta is bottom on an absent key leaves the map unchanged. Keys are kept in
/// a `std::map`, so iteration is in ascending key order.
template <class K, lattice V>
requires std::totally_ordered<K> && std::copyable<K>
class g_map {
 public:
  using key_type = K;
  using mapped_type = V;
  using const_iterator = typename std::map<K, V>::const_iterator;
  using iterator = const_iterator;

  /// Bottom: the empty map.
  g_map() = default;

  /// Applies a mutator of `V` to the value at `key` (bottom when absent):
  /// `fn(V&)` changes the value and returns its delta. Returns the map's
  /// delta `{key: that delta}`, or bottom when the value's delta is bottom.
  /// If `fn` throws, the map is unchanged as far as `fn` left the value.
  template <class F>
  requires std::invocable<F&, V&> && std::same_as<std::invoke_result_t<F&, V&>, V> g_map update(K key, F fn) {
    auto [it, created] = map_.try_emplace(key);
    V value_delta;
    try {
      value_delta = fn(it->second);
    } catch (...) {
      if (created && converge::is_bottom(it->second)) map_.erase(it);
      throw;
    }
    if (created && converge::is_bottom(it->second)) map_.erase(it);
    g_map delta;
    if (!converge::is_bottom(value_delta)) delta.map_.emplace(std::move(key), std::move(value_delta));
    return delta;
  }

  /// The value at `key`, or nullptr when absent. Invalidated by the next
  /// update or join.
  [[nodiscard]] const V* find(const K& key) const {
    const auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  /// True when `key` holds a (non-bottom) value.
  [[nodiscard]] bool contains(const K& key) const { return map_.contains(key); }
  /// The number of keys.
  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }
  /// True when the map is empty (bottom).
  [[nodiscard]] bool empty() const noexcept { return map_.empty(); }

  /// Iteration over (key, value) pairs, in ascending key order.
  [[nodiscard]] const_iterator begin() const noexcept { return map_.begin(); }
  /// End of iteration.
  [[nodiscard]] const_iterator end() const noexcept { return map_.end(); }

  /// Joins `other` in place, key by key; O(m log n) map lookups for an
  /// `other` of m keys. No-op on itself.
  void join(const g_map& other) {
    if (&other == this) return;
    for (const auto& [k, v] : other.map_) {
      if (converge::is_bottom(v)) continue;
      auto [it, created] = map_.try_emplace(k, v);
      if (!created) converge::join_into(it->second, v);
    }
  }

  /// Lattice order: every value of this is included in `other`'s at its key.
  [[nodiscard]] bool leq(const g_map& other) const {
    for (const auto& [k, v] : map_) {
      const V* w = other.find(k);
      if (w == nullptr || !converge::leq(v, *w)) return false;
    }
    return true;
  }

  /// Per key, the part of this delta's value that `state` lacks; bottom when
  /// the delta is redundant.
  [[nodiscard]] g_map novel_to(const g_map& state) const {
    g_map out;
    for (const auto& [k, v] : map_) {
      const V* w = state.find(k);
      if (w == nullptr) {
        out.map_.emplace_hint(out.map_.end(), k, v);
      } else if (V n = converge::novel(v, *w); !converge::is_bottom(n)) {
        out.map_.emplace_hint(out.map_.end(), k, std::move(n));
      }
    }
    return out;
  }

  /// A join decomposition in at most `parts` groups of whole keys (see converge::split).
  [[nodiscard]] std::vector<g_map> split(std::size_t parts) const {
    std::vector<g_map> out;
    detail::for_each_chunk(map_, parts, [&](std::map<K, V> chunk) {
      g_map part;
      part.map_ = std::move(chunk);
      out.push_back(std::move(part));
    });
    if (out.empty()) out.emplace_back();
    return out;
  }

  /// State equality.
  bool operator==(const g_map&) const = default;

  /// For serialization: the entries; no value is bottom.
  [[nodiscard]] const std::map<K, V>& entries() const noexcept { return map_; }

  /// For serialization: builds a map from entries. Throws
  /// `std::invalid_argument` when a value is bottom.
  [[nodiscard]] static g_map from_entries(std::map<K, V> entries) {
    for (const auto& [k, v] : entries) {
      if (converge::is_bottom(v))
        detail::throw_invalid_argument("converge::g_map::from_entries: bottom value");
    }
    g_map out;
    out.map_ = std::move(entries);
    return out;
  }

 private:
  std::map<K, V> map_;  // no bottom values
};

}  // namespace converge
