#pragma once
// The dot store of registers and flags: a few (dot, value) entries, sorted by
// dot. These stores hold one entry per concurrent write, so a sorted vector
// beats any hash table and keeps equality a plain comparison.

#include "converge/causal_context.hpp"
#include "converge/dot.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace converge::detail {

/// The value of a store that needs only its dots (flags).
struct no_value {
  bool operator==(const no_value&) const = default;
  auto operator<=>(const no_value&) const = default;
};

template <class V>
class dot_fun {
 public:
  using entry = std::pair<dot, V>;

  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] std::uint64_t dot_count() const noexcept { return entries_.size(); }
  [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }

  [[nodiscard]] bool contains(const dot& d) const {
    const auto it = locate(d);
    return it != entries_.end() && it->first == d;
  }

  template <class F>
  void for_each_dot(F&& f) const {
    for (const entry& e : entries_) f(e.first);
  }

  /// Adds an entry. Precondition: `d` is not held.
  void add(const dot& d, V value) { entries_.insert(locate(d), entry{d, std::move(value)}); }

  /// Makes `(d, value)` the one entry, reusing the room of the entries it
  /// replaces (an overwrite allocates nothing).
  void replace_all(const dot& d, V value) {
    if (entries_.empty()) {
      entries_.emplace_back(d, std::move(value));
      return;
    }
    entries_.erase(entries_.begin() + 1, entries_.end());
    entries_.front().first = d;
    entries_.front().second = std::move(value);
  }

  void remove(const dot& d) {
    const auto it = locate(d);
    if (it != entries_.end() && it->first == d) entries_.erase(it);
  }

  void add_unseen(const dot_fun& other, const causal_context& ctx) {
    for (const entry& e : other.entries_) {
      if (!ctx.contains(e.first)) add(e.first, e.second);
    }
  }

  /// At most `n` non-empty stores whose union is this one.
  [[nodiscard]] std::vector<dot_fun> partition(std::size_t n) const {
    std::vector<dot_fun> out;
    if (entries_.empty()) return out;
    const std::size_t per = (entries_.size() + n - 1) / std::max<std::size_t>(n, 1);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (i % per == 0) out.emplace_back();
      out.back().entries_.push_back(entries_[i]);
    }
    return out;
  }

  bool operator==(const dot_fun&) const = default;

 private:
  [[nodiscard]] typename std::vector<entry>::const_iterator locate(const dot& d) const {
    return std::lower_bound(entries_.begin(), entries_.end(), d,
                            [](const entry& e, const dot& key) { return e.first < key; });
  }

  std::vector<entry> entries_;
};

}  // namespace converge::detail
