#pragma once
// Cutting an ordered container into at most `parts` contiguous chunks: the
// join decomposition (converge::split) of the grow-only set and map types.

#include <algorithm>
#include <cstddef>
#include <utility>

namespace converge::detail {

/// Calls `emit(chunk)` for at most `parts` non-empty chunks of `items`, in
/// order, each a container of the same type holding a contiguous run.
template <class Container, class Emit>
void for_each_chunk(const Container& items, std::size_t parts, Emit&& emit) {
  if (items.empty()) return;
  const std::size_t per =
      (items.size() + std::max<std::size_t>(parts, 1) - 1) / std::max<std::size_t>(parts, 1);
  auto it = items.begin();
  while (it != items.end()) {
    Container chunk;
    for (std::size_t i = 0; i < per && it != items.end(); ++i, ++it) chunk.insert(chunk.end(), *it);
    emit(std::move(chunk));
  }
}

}  // namespace converge::detail
