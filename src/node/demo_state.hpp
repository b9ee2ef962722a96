#pragma once
/// @file
/// The state a `converge-node` holds: one of each kind of CRDT, composed as a
/// Hana struct (so join, deltas, encoding and JSON come field by field).

#include "converge/bounded_counter.hpp"
#include "converge/mv_register.hpp"
#include "converge/or_map.hpp"
#include "converge/or_set.hpp"
#include "converge/pncounter.hpp"

#include <boost/hana/define_struct.hpp>

#include <string>

namespace converge_node {

struct demo_state {
  BOOST_HANA_DEFINE_STRUCT(demo_state, (converge::pncounter, counter), (converge::or_set<std::string>, set),
                           (converge::or_map<std::string, converge::mv_register<std::string>>, map),
                           (converge::bounded_counter, stock));
  bool operator==(const demo_state&) const = default;
};

}  // namespace converge_node
