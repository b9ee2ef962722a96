#pragma once
/// @file
/// `converge::ew_flag`: an enable-wins flag.

#include "converge/detail/dot_flag.hpp"
#include "converge/replica_id.hpp"

namespace converge {

/// A boolean where an enable concurrent with a disable wins. Starts false.
/// Enable adds a dot; disable removes the dots it has seen.
class ew_flag : public detail::dot_flag<ew_flag> {
 public:
  /// Sets the flag as replica `r`; returns the delta.
  ew_flag enable(replica_id r) { return add_dot(r); }

  /// Clears the flag as far as this replica has seen it; returns the delta.
  /// A concurrent enable elsewhere survives.
  ew_flag disable() { return drop_dots(); }

  /// True when some enable has not been observed by a disable.
  [[nodiscard]] bool value() const noexcept { return has_dots(); }
};

}  // namespace converge
