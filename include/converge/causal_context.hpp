#pragma once
/// @file
/// `converge::causal_context`: the set of dots a causal type has seen.

#include "converge/dot.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace converge {

/// The dots a replica has seen, kept compact: a version vector (every dot of
/// replica r from 1 to versions[r]) plus a cloud of the dots seen beyond a gap.
///
/// Invariants (checked by `check_invariants`, asserted in debug builds):
/// - `versions()` is sorted by replica, one entry per replica, counters > 0;
/// - `cloud()` is sorted and unique, and every cloud dot (r, n) has
///   n > versions[r] + 1 — a dot that extends the vector is folded into it,
///   so two contexts holding the same dots are equal representations.
///
/// Cost: contains / insert are O(log r + log c) for r replicas and c cloud
/// dots; join with a small context costs in proportion to the small one. The
/// cloud stays small in practice: it holds only dots received out of order.
class causal_context {
 public:
  using version = std::pair<replica_id, std::uint64_t>;

  causal_context() = default;

  /// True when dot `d` has been seen.
  [[nodiscard]] bool contains(const dot& d) const noexcept {
    if (d.counter == 0) return false;
    if (d.counter <= max_contiguous(d.replica)) return true;
    return std::binary_search(cloud_.begin(), cloud_.end(), d);
  }

  /// The next dot replica `r` would issue: one past every dot of `r` seen.
  /// Does not record it; joining the delta that carries it does.
  [[nodiscard]] dot next_dot(replica_id r) const noexcept {
    std::uint64_t top = max_contiguous(r);
    const auto end = std::lower_bound(cloud_.begin(), cloud_.end(), dot{replica_id{r.value() + 1}, 0});
    if (end != cloud_.begin() && std::prev(end)->replica == r) top = std::max(top, std::prev(end)->counter);
    return dot{r, top + 1};
  }

  /// Records dot `d` as seen.
  void insert(const dot& d) {
    if (d.counter == 0 || contains(d)) return;
    const auto v = find_version(d.replica);
    const std::uint64_t have = (v != versions_.end() && v->first == d.replica) ? v->second : 0;
    if (d.counter == have + 1) {
      raise_version(d.replica, d.counter);
      fold(d.replica);
    } else {
      cloud_.insert(std::lower_bound(cloud_.begin(), cloud_.end(), d), d);
    }
  }

  /// Joins `other` into this context (set union). Valid when `other` is `*this`.
  void join(const causal_context& other) {
    if (&other == this) return;
    if (other.versions_.size() * 8 < versions_.size()) {
      for (const auto& [r, n] : other.versions_) raise_version(r, n);
    } else {
      merge_versions(other.versions_);
    }
    for (const dot& d : other.cloud_) {
      if (!contains(d)) cloud_.insert(std::lower_bound(cloud_.begin(), cloud_.end(), d), d);
    }
    for (const auto& [r, n] : other.versions_) fold(r);
    for (const dot& d : other.cloud_) fold(d.replica);
    assert(check_invariants());
  }

  /// The dots of this context that `other` has not seen.
  [[nodiscard]] causal_context subtract(const causal_context& other) const {
    causal_context out;
    for (const auto& [r, n] : versions_) {
      for (std::uint64_t c = other.max_contiguous(r) + 1; c <= n; ++c) {
        if (!other.contains(dot{r, c})) out.insert(dot{r, c});
      }
    }
    for (const dot& d : cloud_) {
      if (!other.contains(d)) out.insert(d);
    }
    return out;
  }

  /// Calls `f(dot)` for every dot seen.
  template <class F>
  void for_each_dot(F&& f) const {
    for (const auto& [r, n] : versions_) {
      for (std::uint64_t c = 1; c <= n; ++c) f(dot{r, c});
    }
    for (const dot& d : cloud_) f(d);
  }

  /// How many dots have been seen.
  [[nodiscard]] std::uint64_t dot_count() const noexcept {
    std::uint64_t total = cloud_.size();
    for (const auto& [r, n] : versions_) total += n;
    return total;
  }

  /// The highest n such that every dot (r, 1..n) has been seen (0 if none).
  [[nodiscard]] std::uint64_t max_contiguous(replica_id r) const noexcept {
    const auto v = find_version(r);
    return (v != versions_.end() && v->first == r) ? v->second : 0;
  }

  [[nodiscard]] bool empty() const noexcept { return versions_.empty() && cloud_.empty(); }
  bool operator==(const causal_context&) const = default;

  /// The version vector, sorted by replica (for serialization and display).
  [[nodiscard]] const std::vector<version>& versions() const noexcept { return versions_; }
  /// The dots seen beyond a gap, sorted (for serialization and display).
  [[nodiscard]] const std::vector<dot>& cloud() const noexcept { return cloud_; }

  /// Builds a context from its representation (for deserialization). Throws
  /// std::invalid_argument when the parts break an invariant, e.g. a cloud
  /// dot the version vector already covers.
  [[nodiscard]] static causal_context from_parts(std::vector<version> versions, std::vector<dot> cloud) {
    causal_context c;
    c.versions_ = std::move(versions);
    c.cloud_ = std::move(cloud);
    if (!c.check_invariants()) throw std::invalid_argument("causal_context: parts break its invariants");
    return c;
  }

  /// True when the representation invariants hold (see the class comment).
  [[nodiscard]] bool check_invariants() const noexcept {
    for (std::size_t i = 0; i < versions_.size(); ++i) {
      if (versions_[i].second == 0) return false;
      if (i > 0 && !(versions_[i - 1].first < versions_[i].first)) return false;
    }
    for (std::size_t i = 0; i < cloud_.size(); ++i) {
      if (i > 0 && !(cloud_[i - 1] < cloud_[i])) return false;
      if (cloud_[i].counter <= max_contiguous(cloud_[i].replica) + 1) return false;
    }
    return true;
  }

 private:
  [[nodiscard]] std::vector<version>::const_iterator find_version(replica_id r) const noexcept {
    return std::lower_bound(versions_.begin(), versions_.end(), r,
                            [](const version& v, replica_id key) { return v.first < key; });
  }

  void raise_version(replica_id r, std::uint64_t n) {
    auto v = std::lower_bound(versions_.begin(), versions_.end(), r,
                              [](const version& x, replica_id key) { return x.first < key; });
    if (v != versions_.end() && v->first == r) {
      v->second = std::max(v->second, n);
    } else if (n > 0) {
      versions_.insert(v, version{r, n});
    }
  }

  void merge_versions(const std::vector<version>& other) {
    std::vector<version> merged;
    merged.reserve(versions_.size() + other.size());
    auto a = versions_.begin();
    auto b = other.begin();
    while (a != versions_.end() || b != other.end()) {
      if (b == other.end() || (a != versions_.end() && a->first < b->first)) {
        merged.push_back(*a++);
      } else if (a == versions_.end() || b->first < a->first) {
        merged.push_back(*b++);
      } else {
        merged.emplace_back(a->first, std::max(a->second, b->second));
        ++a;
        ++b;
      }
    }
    versions_ = std::move(merged);
  }

  /// Restores the invariant for replica `r`: drops cloud dots the vector
  /// covers and folds those that extend it.
  void fold(replica_id r) {
    auto first = std::lower_bound(cloud_.begin(), cloud_.end(), dot{r, 0});
    if (first == cloud_.end() || first->replica != r) return;
    std::uint64_t top = max_contiguous(r);
    auto it = first;
    while (it != cloud_.end() && it->replica == r && it->counter <= top + 1) {
      top = std::max(top, it->counter);
      ++it;
    }
    if (it == first) return;
    cloud_.erase(first, it);
    raise_version(r, top);
  }

  std::vector<version> versions_;
  std::vector<dot> cloud_;
};

}  // namespace converge
