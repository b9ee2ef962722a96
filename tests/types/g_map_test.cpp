// g_map semantics: nested updates, per-key join, no bottom values.
#include <converge/g_map.hpp>
#include <converge/gcounter.hpp>
#include <converge/gset.hpp>
#include <converge/pncounter.hpp>

#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/replicas.hpp"

namespace {
using namespace test::replicas;
}

TEST_CASE("g_map: update applies a mutator at a key and returns {key: delta}") {
  converge::g_map<std::string, converge::gcounter> m;
  CHECK(m.empty());
  CHECK(m.find("x") == nullptr);
  const auto old = m;
  const auto d = m.update("x", [](converge::gcounter& g) { return g.increment(a, 2); });
  CHECK(converge::join(old, d) == m);
  REQUIRE(m.find("x") != nullptr);
  CHECK(m.find("x")->value() == 2);
  CHECK(m.contains("x"));
  CHECK(m.size() == 1);
  REQUIRE(d.find("x") != nullptr);
  CHECK(d.find("x")->entries().size() == 1);
  m.update("y", [](converge::gcounter& g) { return g.increment(a); });
  const auto d2 = m.update("x", [](converge::gcounter& g) { return g.increment(a, 3); });
  CHECK(d2.size() == 1);  // only the key that changed travels
  CHECK(d2.find("x")->value() == 5);
  std::vector<std::string> keys;
  for (const auto& [k, v] : m) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"x", "y"});
}

TEST_CASE("g_map: a bottom update leaves no key behind") {
  converge::g_map<int, converge::gset<int>> m;
  const auto d = m.update(1, [](converge::gset<int>&) { return converge::gset<int>{}; });
  CHECK(d.empty());
  CHECK(m.empty());
  CHECK(m == converge::g_map<int, converge::gset<int>>{});
  m.update(1, [](converge::gset<int>& s) { return s.insert(4); });
  CHECK(m.update(1, [](converge::gset<int>& s) { return s.insert(4); }).empty());
  CHECK(m.size() == 1);
}

TEST_CASE("g_map: a throwing mutator on a new key leaves no key behind") {
  converge::g_map<int, converge::gcounter> m;
  CHECK_THROWS_AS(
      m.update(1, [](converge::gcounter&) -> converge::gcounter { throw std::runtime_error("no"); }),
      std::runtime_error);
  CHECK(m.empty());
}

TEST_CASE("g_map: concurrent updates to one key join as the value does") {
  using M = converge::g_map<std::string, converge::g_map<std::string, converge::pncounter>>;
  M x, y;
  const auto dx = x.update("cart", [](auto& inner) {
    return inner.update("apples", [](converge::pncounter& c) { return c.increment(a, 3); });
  });
  const auto dy = y.update("cart", [](auto& inner) {
    return inner.update("apples", [](converge::pncounter& c) { return c.decrement(b, 1); });
  });
  x.join(dy);
  y.join(dx);
  CHECK(x == y);
  CHECK(x.find("cart")->find("apples")->value() == 2);
}

TEST_CASE("g_map: novel_to and from_entries") {
  converge::g_map<int, converge::gcounter> s, d;
  s.update(1, [](auto& g) { return g.increment(a, 5); });
  d.update(1, [](auto& g) { return g.increment(a, 2); });
  d.update(2, [](auto& g) { return g.increment(b, 1); });
  const auto n = d.novel_to(s);
  CHECK(n.size() == 1);
  CHECK(n.contains(2));
  CHECK(converge::join(s, n) == converge::join(s, d));
  using M = converge::g_map<int, converge::gcounter>;
  CHECK(M::from_entries(d.entries()) == d);
  std::map<int, converge::gcounter> bad{{1, converge::gcounter{}}};
  CHECK_THROWS_AS((void)M::from_entries(bad), std::invalid_argument);
}
