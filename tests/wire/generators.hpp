#pragma once
// The wire tests' random states: converge::testing::random_state_and_delta
// (the catalog of operations, converge/testing/operations.hpp) in `text`, a
// domain whose strings need care in every encoding (empty, UTF-8, quotes,
// control characters), on every type and on the shared composed struct,
// converge::testing::shop.

#include <converge/testing/entropy.hpp>
#include <converge/testing/operations.hpp>
#include <converge/testing/shop.hpp>

#include <iterator>
#include <string>
#include <type_traits>

namespace wire_test {

using converge::testing::shop;

/// The default domain, with awkward strings as elements and values.
struct text : converge::testing::collisions {
  template <class T>
  static T element(converge::testing::entropy& e) {
    if constexpr (std::is_same_v<T, std::string>) {
      static const char* const words[] = {"a", "b", "apple", "k", "", "caf\xc3\xa9", "quote\"", "tab\t", "z"};
      return words[e.below(std::size(words))];
    } else {
      return collisions::element<T>(e);
    }
  }
  template <class T>
  static T value(converge::testing::entropy& e) {
    return element<T>(e);
  }
};

}  // namespace wire_test
