#pragma once
/// @file
/// Which fields of a delta are not bottom, for subscribers: the members of a
/// Hana struct, by name. O(fields), never O(state).

#include "converge/lattice.hpp"

#include <boost/hana/accessors.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include <string_view>
#include <vector>

namespace converge::transport::detail {

/// The names of the fields of `delta` that are not bottom (for a Hana struct),
/// or an empty list for any other state.
template <class State>
std::vector<std::string_view> nonbottom_fields(const State& delta) {
  std::vector<std::string_view> out;
  if constexpr (converge::detail::hana_struct<State>) {
    boost::hana::for_each(boost::hana::accessors<State>(), [&](auto accessor) {
      const auto& field = boost::hana::second(accessor)(delta);
      if (!converge::is_bottom(field))
        out.emplace_back(boost::hana::to<const char*>(boost::hana::first(accessor)));
    });
  }
  return out;
}

}  // namespace converge::transport::detail
