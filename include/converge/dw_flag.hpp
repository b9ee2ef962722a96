#pragma once
/// @file
/// `converge::dw_flag`: a disable-wins flag.

#include "converge/detail/dot_flag.hpp"
#include "converge/replica_id.hpp"

namespace converge {

/// A boolean where a disable concurrent with an enable wins.
///
/// Disable adds a dot; enable removes the disables it has seen. So bottom
/// (no disable ever seen) reads **true**: the flag is on until someone turns
/// it off, as in Baquero's delta-enabled-crdts.
class dw_flag : public detail::dot_flag<dw_flag> {
 public:
  /// Clears the flag as replica `r`; returns the delta.
  dw_flag disable(replica_id r) { return add_dot(r); }

  /// Sets the flag as far as this replica has seen the disables; returns the
  /// delta. A concurrent disable elsewhere wins.
  dw_flag enable() { return drop_dots(); }

  /// True when every disable has been observed by an enable.
  [[nodiscard]] bool value() const noexcept { return !has_dots(); }
};

}  // namespace converge
