#pragma once
/// @file
/// `converge::dot`: the unique name of one update, (replica, sequence number).

#include "converge/replica_id.hpp"

#include <compare>
#include <cstdint>

namespace converge {

/// One update issued by `replica`, its `counter`-th (counting from 1).
/// Causal types tag every element or value they hold with the dot of the
/// update that wrote it, so a removal can name exactly what it observed.
struct dot {
  replica_id replica;
  std::uint64_t counter = 0;

  constexpr auto operator<=>(const dot&) const = default;
};

}  // namespace converge

template <>
struct std::hash<converge::dot> {
  std::size_t operator()(const converge::dot& d) const noexcept {
    return converge::replica_id::mix(d.replica.value() * 0x9e3779b97f4a7c15ULL + d.counter);
  }
};
