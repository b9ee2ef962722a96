#pragma once
/// @file
/// `converge::or_set<T>`: an add-wins observed-remove set.

#include "converge/detail/element_store.hpp"
#include "converge/dot_kernel.hpp"
#include "converge/replica_id.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>  // also std::forward_iterator_tag, which its iterators use

namespace converge {

/// A set where an insert concurrent with an erase of the same element wins:
/// an erase removes only the inserts it has observed.
///
/// Every insert is tagged with a fresh dot; an erase is the set of dots it
/// saw. Joining a delta costs time proportional to the delta; inserting is
/// amortized O(1); a 1M-element `or_set<std::uint64_t>` holds about 40 heap
/// bytes per element (bench/ measures it).
template <class T, class Hash = std::hash<T>>
class or_set : public causal<or_set<T, Hash>, detail::element_store<T, Hash>> {
  using base = causal<or_set<T, Hash>, detail::element_store<T, Hash>>;

 public:
  using value_type = T;

  /// Inserts `v` as replica `r`; returns the delta (the new tag, and the
  /// tags of `v` this replica had seen, which the new one supersedes).
  or_set insert(replica_id r, const T& v) {
    or_set delta = observed(v);
    delta.store_.add(v, this->issue_dot(delta, r));
    return this->apply(std::move(delta));
  }

  /// Erases `v` as far as this replica has seen it; returns the delta (the
  /// observed tags). Erasing an absent element returns bottom.
  or_set erase(const T& v) { return this->apply(observed(v)); }

  /// Erases every element this replica has seen; returns the delta.
  or_set clear() { return this->apply(this->observed_all()); }

  [[nodiscard]] bool contains(const T& v) const { return this->store_.contains_element(v); }
  /// The number of distinct elements.
  [[nodiscard]] std::size_t size() const noexcept { return this->store_.element_count(); }

  /// Calls `f(element)` once per element, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    this->store_.for_each_element(f);
  }

  /// The elements, once each, in no particular order.
  [[nodiscard]] std::vector<T> elements() const {
    std::vector<T> out;
    out.reserve(size());
    for_each([&](const T& e) { out.push_back(e); });
    return out;
  }

  /// Iterates the distinct elements (forward, read-only).
  class const_iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using reference = const T&;
    using pointer = const T*;
    using iterator_category = std::forward_iterator_tag;

    const_iterator() = default;
    reference operator*() const { return set_->store_.records()[pos_].element; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      ++pos_;
      skip();
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const { return pos_ == o.pos_; }

   private:
    friend class or_set;
    const_iterator(const or_set* s, std::size_t pos) : set_(s), pos_(pos) { skip(); }
    void skip() {
      const auto& recs = set_->store_.records();
      while (pos_ < recs.size() && !set_->is_first(pos_)) ++pos_;
    }
    const or_set* set_ = nullptr;
    std::size_t pos_ = 0;
  };

  [[nodiscard]] const_iterator begin() const { return const_iterator(this, 0); }
  [[nodiscard]] const_iterator end() const { return const_iterator(this, this->store_.records().size()); }

  /// Heap bytes held by the records and indexes (for benchmarks).
  [[nodiscard]] std::size_t heap_bytes() const noexcept { return this->store_.heap_bytes(); }

 private:
  /// A delta that removes the tags of `v` this replica has seen.
  [[nodiscard]] or_set observed(const T& v) const {
    or_set delta;
    this->store_.for_each_dot_of(v, [&](const dot& old) { delta.ctx_.insert(old); });
    return delta;
  }

  [[nodiscard]] bool is_first(std::size_t pos) const {
    return this->store_.element_count() == this->store_.records().size() ||
           this->store_.first_of_element(static_cast<std::uint32_t>(pos));
  }
};

}  // namespace converge
