#pragma once
// The dot store of or_map: a map from keys to nested causal values, whose
// dots all live in the map's one shared context (nested values keep an empty
// context of their own while at rest). An index from dot to key finds what a
// removal names without scanning the map.

#include "converge/causal_context.hpp"
#include "converge/dot.hpp"
#include "converge/dot_kernel.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

namespace converge::detail {

template <class K, class V, class Compare = std::less<K>>
class dot_map {
 public:
  using map_type = std::map<K, V, Compare>;

  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] std::uint64_t dot_count() const noexcept { return index_.size(); }
  [[nodiscard]] bool contains(const dot& d) const { return index_.find(d) != index_.end(); }
  [[nodiscard]] const map_type& entries() const noexcept { return entries_; }

  template <class F>
  void for_each_dot(F&& f) const {
    for (const auto& entry : index_) f(entry.first);
  }

  void remove(const dot& d) {
    const auto at = index_.find(d);
    if (at == index_.end()) return;
    const auto entry = entries_.find(at->second);
    index_.erase(at);
    auto& nested = causal_access::store(entry->second);
    nested.remove(d);
    if (nested.empty()) entries_.erase(entry);
  }

  void add_unseen(const dot_map& other, const causal_context& ctx) {
    for (const auto& entry : other.entries_) {
      const K& key = entry.first;  // a variable, not a structured binding: clang < 16 cannot capture those
      const auto& theirs = entry.second.store();
      bool novel = false;
      theirs.for_each_dot([&](const dot& d) { novel = novel || !ctx.contains(d); });
      if (!novel) continue;
      auto& mine = causal_access::store(entries_.try_emplace(key).first->second);
      mine.add_unseen(theirs, ctx);
      theirs.for_each_dot([&](const dot& d) {
        if (!ctx.contains(d)) index_.insert_or_assign(d, key);
      });
    }
  }

  /// The value at `key`, created empty if absent (for or_map's mutators).
  V& value_at(const K& key) { return entries_.try_emplace(key).first->second; }

  /// After a nested mutator changed the value at `key`, brings the index in
  /// line for the dots `changed` names, and drops the key if it is now empty.
  void settle(const K& key, const causal_context& changed) {
    const auto entry = entries_.find(key);
    if (entry == entries_.end()) return;
    const auto& nested = entry->second.store();
    changed.for_each_dot([&](const dot& d) {
      if (nested.contains(d)) {
        index_.insert_or_assign(d, key);
      } else {
        index_.erase(d);
      }
    });
    if (nested.empty()) entries_.erase(entry);
  }

  /// Places a nested store at `key` (for building deltas and decoding);
  /// precondition: none of its dots is held under another key.
  void put(const K& key, typename V::store_type store) {
    auto& slot = value_at(key);
    causal_access::store(slot) = std::move(store);
    slot.store().for_each_dot([&](const dot& d) { index_.insert_or_assign(d, key); });
    if (slot.store().empty()) entries_.erase(key);
  }

  /// At most `n` non-empty stores whose union is this one (whole keys each).
  [[nodiscard]] std::vector<dot_map> partition(std::size_t n) const {
    std::vector<dot_map> out;
    if (entries_.empty()) return out;
    const std::size_t per = (entries_.size() + n - 1) / std::max<std::size_t>(n, 1);
    std::size_t i = 0;
    for (const auto& [key, value] : entries_) {
      if (i++ % per == 0) out.emplace_back();
      out.back().put(key, value.store());
    }
    return out;
  }

  friend bool operator==(const dot_map& a, const dot_map& b) { return a.entries_ == b.entries_; }

 private:
  map_type entries_;
  std::unordered_map<dot, K> index_;
};

}  // namespace converge::detail
