#pragma once
// Sorting a sequence that is a few sorted runs laid end to end.
//
// Joining deltas concatenates their entries, and each delta is already in
// dot order (a batch of one replica's consecutive dots, or a decoded
// message), so the join is k sorted runs. Merging neighbouring runs
// pairwise costs n·log2(k) sequential moves where a full sort costs about
// n·log2(n) unpredictable comparisons.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace converge::detail {

/// Sorts `v` by `less` (not stable). Linear when `v` is sorted already; a
/// sequence of many short runs is handed to std::sort.
template <class T, class Less>
void sort_runs(std::vector<T>& v, Less less) {
  std::vector<std::size_t> bounds{0};
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (less(v[i], v[i - 1])) bounds.push_back(i);
  }
  if (bounds.size() == 1) return;
  if (bounds.size() > v.size() / 16) {  // runs too short to be worth merging
    std::sort(v.begin(), v.end(), less);
    return;
  }
  bounds.push_back(v.size());
  const auto at = [&](std::size_t i) { return v.begin() + static_cast<std::ptrdiff_t>(i); };
  while (bounds.size() > 2) {
    std::vector<std::size_t> merged{0};
    for (std::size_t i = 0; i + 1 < bounds.size(); i += 2) {
      if (i + 2 < bounds.size())
        std::inplace_merge(at(bounds[i]), at(bounds[i + 1]), at(bounds[i + 2]), less);
      merged.push_back(bounds[std::min(i + 2, bounds.size() - 1)]);
    }
    bounds = std::move(merged);
  }
}

}  // namespace converge::detail
