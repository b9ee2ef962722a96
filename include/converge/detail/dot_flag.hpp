#pragma once
// The engine of ew_flag and dw_flag: a set of dots, where one side adds a
// fresh dot (and so wins over anything concurrent) and the other only drops
// the dots it has seen.

#include "converge/detail/dot_fun.hpp"
#include "converge/dot_kernel.hpp"
#include "converge/replica_id.hpp"

namespace converge::detail {

template <class Derived>
class dot_flag : public causal<Derived, dot_fun<no_value>> {
 protected:
  Derived add_dot(replica_id r) {
    Derived delta = this->observed_all();
    detail::causal_access::store(delta).add(this->issue_dot(delta, r), no_value{});
    return this->apply(std::move(delta));
  }

  Derived drop_dots() { return this->apply(this->observed_all()); }

  [[nodiscard]] bool has_dots() const noexcept { return !this->store_.empty(); }
};

}  // namespace converge::detail
