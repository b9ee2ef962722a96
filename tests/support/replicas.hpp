// The replica ids the type tests write as: three distinct, fixed replicas,
// named once so that every suite's files agree (and can share one
// translation unit in a unity build).
#pragma once

#include <converge/replica_id.hpp>

namespace test::replicas {

inline constexpr converge::replica_id a{1}, b{2}, c{3};

}  // namespace test::replicas
