#pragma once
// Whether a dense array of dot-tagged records is still a few runs in dot
// order, and where the runs start: while it is, a dot is found by a binary
// search per run, and the records need no dot index. Deltas, decoded states
// and joins of whole states arrive in runs (see element_store.hpp), so the
// stores of or_set and or_map (dot_map.hpp) keep this instead of indexing
// every dot. One run too many, or a removal before the last record (which
// moves the last record into the hole), gives the runs up for good: the
// owner then indexes its dots.

#include "converge/detail/flat_index.hpp"
#include "converge/dot.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace converge::detail {

class dot_runs {
 public:
  /// Binary searches a lookup may need.
  static constexpr std::size_t max_runs = 4;

  /// True while the records are at most `max_runs` runs in dot order.
  [[nodiscard]] bool sorted() const noexcept { return sorted_; }

  /// Record `p`, which follows records [0, p), is appended; `extends` says
  /// whether its dot is above record p - 1's. False when this gave the runs
  /// up (one run too many): the owner must index its dots now.
  [[nodiscard]] bool append(std::uint32_t p, bool extends) noexcept {
    if (!sorted_ || (p > 0 && extends)) return true;
    if (runs_ == max_runs) {
      give_up();
      return false;
    }
    start_[runs_++] = p;
    return true;
  }

  /// Record `p` of records [0, last] is removed, the last moving into its
  /// place. False when this gave the runs up: the owner must index its dots.
  [[nodiscard]] bool remove(std::uint32_t p, std::uint32_t last) noexcept {
    if (!sorted_) return true;
    if (p != last) {
      give_up();
      return false;
    }
    if (start_[runs_ - 1] == last) --runs_;  // its run held only it
    return true;
  }

  /// The records no longer need to be in dot order.
  void give_up() noexcept {
    sorted_ = false;
    runs_ = 0;
  }
  /// No records (so one run of none).
  void reset() noexcept {
    sorted_ = true;
    runs_ = 0;
  }

  /// The position of the record tagged `d` among `records` (random-access
  /// range, `dot_of(record)` its dot), or flat_index::npos. Precondition: sorted().
  template <class Records, class DotOf>
  [[nodiscard]] std::uint32_t find(const Records& records, const dot& d, DotOf dot_of) const {
    const auto all = records.begin();
    for (std::size_t i = 0; i < runs_; ++i) {
      const auto first = all + start_[i];
      const auto last = i + 1 < runs_ ? all + start_[i + 1] : records.end();
      if (d < dot_of(*first) || dot_of(*(last - 1)) < d)
        continue;  // runs of different replicas rarely overlap
      const auto at =
          std::lower_bound(first, last, d, [&](const auto& r, const dot& key) { return dot_of(r) < key; });
      if (at != last && dot_of(*at) == d) return static_cast<std::uint32_t>(at - all);
    }
    return flat_index::npos;
  }

 private:
  std::array<std::uint32_t, max_runs> start_{};  // run i starts at start_[i]
  std::uint8_t runs_ = 0;
  bool sorted_ = true;
};

}  // namespace converge::detail
