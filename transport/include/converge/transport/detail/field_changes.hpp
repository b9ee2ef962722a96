#pragma once
/// @file
/// Which fields of a state changed, for subscribers: the members of a Hana
/// struct compared one by one, by name.

#include "converge/lattice.hpp"

#include <boost/hana/accessors.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/string.hpp>

#include <string_view>
#include <type_traits>
#include <vector>

namespace converge::transport_detail {

/// The names of the fields of `delta` that are not bottom (for a Hana struct),
/// or an empty list for any other state.
template <class State>
std::vector<std::string_view> nonbottom_fields(const State& delta) {
  std::vector<std::string_view> out;
  if constexpr (detail::hana_struct<State>) {
    boost::hana::for_each(boost::hana::accessors<State>(), [&](auto accessor) {
      const auto& field = boost::hana::second(accessor)(delta);
      if (!converge::is_bottom(field)) out.emplace_back(boost::hana::to<const char*>(boost::hana::first(accessor)));
    });
  }
  return out;
}

/// Brings `shadow` up to `current`, returning the delta (the part of
/// `current` that `shadow` lacked) and, for a Hana struct, the names of the
/// fields that differed. Only differing fields are copied. Returns false when
/// nothing differed.
template <class State>
bool catch_up(State& shadow, const State& current, State& delta, std::vector<std::string_view>& fields) {
  delta = State{};
  fields.clear();
  if constexpr (detail::hana_struct<State> && !detail::joins_in_place<State>) {
    boost::hana::for_each(boost::hana::accessors<State>(), [&](auto accessor) {
      const auto get = boost::hana::second(accessor);
      auto& mine = get(shadow);
      const auto& theirs = get(current);
      if (mine == theirs) return;
      get(delta) = converge::novel(theirs, mine);
      mine = theirs;
      fields.emplace_back(boost::hana::to<const char*>(boost::hana::first(accessor)));
    });
    return !fields.empty();
  } else {
    if (shadow == current) return false;
    delta = converge::novel(current, shadow);
    shadow = current;
    return true;
  }
}

}  // namespace converge::transport_detail
