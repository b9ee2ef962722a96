#pragma once
/// @file
/// `converge::mv_register<T>`: a multi-value register.

#include "converge/detail/dot_fun.hpp"
#include "converge/dot_kernel.hpp"
#include "converge/replica_id.hpp"

#include <algorithm>
#include <vector>

namespace converge {

/// A register that keeps every concurrent write: an assign replaces the
/// values its replica has seen, and concurrent assigns all survive until a
/// later assign observes them. Nothing is ever lost silently.
template <class T>
class mv_register : public causal<mv_register<T>, detail::dot_fun<T>> {
 public:
  using value_type = T;

  /// Assigns `v` as replica `r`, replacing every value this replica has
  /// seen; returns the delta.
  mv_register assign(replica_id r, T v) {
    mv_register delta = this->observed_all();
    const dot d = this->issue_dot(delta, r);
    delta.store_.add(d, v);
    // The delta removes every value held and adds (d, v), a dot never seen:
    // applied in place, without a general join (or a third copy of v).
    // The context first: if the store then fails to grow, the state only
    // claims to have seen a dot that nothing holds.
    this->ctx_.insert(d);
    this->store_.replace_all(d, std::move(v));
    return delta;
  }

  /// Clears the register (removes every value seen); returns the delta.
  mv_register reset() { return this->apply(this->observed_all()); }

  /// Every concurrent value, sorted when `T` is ordered, in dot order otherwise.
  [[nodiscard]] std::vector<T> values() const {
    std::vector<T> out;
    out.reserve(this->store_.entries().size());
    for (const auto& [d, v] : this->store_.entries()) out.push_back(v);
    if constexpr (requires(const T& a) { a < a; }) {
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
    }
    return out;
  }
};

}  // namespace converge
