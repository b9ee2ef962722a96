#pragma once
// The node-based or_set that the flat design replaced, kept here only to
// measure against: elements in a hash map to their dots, and a second hash
// map from dot to element so a removal finds its element. Same causal
// context, same join algorithm (converge/dot_kernel.hpp), same deltas; only
// the store differs. `Map` picks the hash map: std::unordered_map (one heap
// node per entry) or tsl::hopscotch_map (open addressing, entries inline).

#include "converge/causal_context.hpp"
#include "converge/dot.hpp"
#include "converge/replica_id.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#if CONVERGE_BENCH_HOPSCOTCH
#include <tsl/hopscotch_map.h>
#endif

namespace converge_bench {

/// SplitMix64 over std::hash: power-of-two tables need well-mixed hashes.
template <class T>
struct mixed_hash {
  std::size_t operator()(const T& v) const noexcept { return converge::replica_id::mix(std::hash<T>{}(v)); }
};

template <class K, class V>
using std_map = std::unordered_map<K, V>;
#if CONVERGE_BENCH_HOPSCOTCH
template <class K, class V>
using hopscotch_map = tsl::hopscotch_map<K, V, mixed_hash<K>>;
#endif

template <class T, template <class, class> class Map = std_map>
class node_or_set {
 public:
  node_or_set insert(converge::replica_id r, const T& v) {
    node_or_set delta = observed(v);
    const converge::dot d = ctx_.next_dot(r);
    delta.ctx_.insert(d);
    delta.add(v, d);
    join(delta);
    return delta;
  }

  node_or_set erase(const T& v) {
    node_or_set delta = observed(v);
    join(delta);
    return delta;
  }

  /// The dot-store join: drop what the other side saw and removed, add what
  /// this side has not seen, union the contexts.
  void join(const node_or_set& other) {
    if (&other == this) return;
    std::vector<converge::dot> removed;
    if (!index_.empty() && !other.ctx_.empty()) {
      if (other.ctx_.dot_count() <= index_.size()) {
        other.ctx_.for_each_dot([&](const converge::dot& d) {
          if (index_.count(d) != 0 && other.index_.count(d) == 0) removed.push_back(d);
        });
      } else {
        for (const auto& [d, v] : index_) {
          if (other.ctx_.contains(d) && other.index_.count(d) == 0) removed.push_back(d);
        }
      }
    }
    for (const converge::dot& d : removed) remove(d);
    for (const auto& [d, v] : other.index_) {
      if (!ctx_.contains(d)) add(v, d);
    }
    ctx_.join(other.ctx_);
  }

  [[nodiscard]] bool contains(const T& v) const { return elements_.count(v) != 0; }
  [[nodiscard]] std::size_t size() const noexcept { return elements_.size(); }
  bool operator==(const node_or_set& o) const { return ctx_ == o.ctx_ && index_ == o.index_; }

 private:
  node_or_set observed(const T& v) const {
    node_or_set delta;
    if (const auto it = elements_.find(v); it != elements_.end()) {
      for (const converge::dot& d : it->second) delta.ctx_.insert(d);
    }
    return delta;
  }

  void add(const T& v, const converge::dot& d) {
    elements_[v].push_back(d);
    index_.emplace(d, v);
  }

  void remove(const converge::dot& d) {
    const auto at = index_.find(d);
    if (at == index_.end()) return;
    const auto el = elements_.find(at->second);
    auto& dots = el.value_ref();
    std::erase(dots, d);
    if (dots.empty()) elements_.erase(el);
    index_.erase(at);
  }

  // std::unordered_map and tsl::hopscotch_map differ in how a found value is
  // reached; this wrapper hides it.
  struct elements_map : Map<T, std::vector<converge::dot>> {
    using base = Map<T, std::vector<converge::dot>>;
    struct it_wrap {
      typename base::iterator it;
      std::vector<converge::dot>& value_ref() const {
        if constexpr (requires { it.value(); }) {
          return it.value();
        } else {
          return it->second;
        }
      }
      operator typename base::iterator() const { return it; }
      auto operator->() const { return it.operator->(); }
    };
    it_wrap find(const T& v) { return it_wrap{base::find(v)}; }
    auto find(const T& v) const { return base::find(v); }
    void erase(const it_wrap& w) { base::erase(w.it); }
  };

  elements_map elements_;
  Map<converge::dot, T> index_;
  converge::causal_context ctx_;
};

}  // namespace converge_bench
