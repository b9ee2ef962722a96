#pragma once
/// @file
/// Avoid-back-propagation (BP, Enes et al., ICDE 2019): what a peer is known
/// to hold, so it is never sent back. Two filters serve it: the delta
/// buffer's per-entry `known` lists (an entry a received payload covers
/// whole), and `heard_filter`, the payloads a peer sent lately, subtracted
/// from the next interval to it even when no entry is covered whole.

#include "converge/lattice.hpp"

#include <cstdint>
#include <optional>
#include <utility>

namespace converge::replication {

/// True when `part ≤ whole`, by the cheapest test the type offers.
template <class State>
bool covered_by(const State& part, const State& whole) {
  if constexpr (requires { part.leq(whole); }) {
    return part.leq(whole);
  } else {
    return converge::is_bottom(converge::novel(part, whole));
  }
}

/// The delta payloads received from one peer lately (it holds them).
///
/// Only payloads received since the pending entries were buffered can
/// overlap them (a received delta is buffered by its novel part), so the
/// filter is emptied once the peer acknowledged every entry older than it:
/// it spans about two round trips of traffic.
template <class State>
class heard_filter {
 public:
  /// What the peer is known to hold (bottom when nothing).
  [[nodiscard]] const State& known() const noexcept { return heard_; }

  /// Remembers `d`, received from the peer when the buffer's end was `end`;
  /// `acked` is what the peer acknowledged, when known.
  void remember(State&& d, const std::optional<std::uint64_t>& acked, std::uint64_t end) {
    if (acked && *acked >= since_) reset(end);
    if (converge::is_bottom(heard_)) {
      heard_ = std::move(d);  // bottom ⊔ d = d: taken, not joined
    } else {
      converge::join_into(heard_, d);
    }
  }

  /// Forgets everything (a new life of the peer may have lost it).
  void reset(std::uint64_t end) {
    heard_ = State{};
    since_ = end;
  }

 private:
  State heard_{};
  std::uint64_t since_ = 0;  // the buffer's end when `heard_` was last emptied
};

}  // namespace converge::replication
