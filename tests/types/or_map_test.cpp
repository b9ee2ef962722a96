// or_map semantics: update wins over a concurrent erase at any depth, nested
// mutations return map deltas that carry only the change.
#include <converge/lattice.hpp>
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "support/replicas.hpp"

using converge::mv_register;
using converge::or_map;
using converge::or_set;
using converge::replica_id;

namespace {
using namespace test::replicas;
using tags = or_map<std::string, or_set<std::string>>;
using deep = or_map<std::string, or_map<std::string, mv_register<int>>>;
}  // namespace

TEST_CASE("a nested mutation returns a map delta holding only that change") {
  tags m;
  for (int i = 0; i < 50; ++i) {
    m.update("k" + std::to_string(i), [&](auto& s) { return s.insert(a, "x"); });
  }
  const tags delta = m.update("k7", [&](auto& s) { return s.insert(a, "y"); });
  CHECK(delta.size() == 1);
  REQUIRE(delta.find("k7") != nullptr);
  CHECK(delta.find("k7")->contains("y"));
  CHECK(delta.context().dot_count() <= 2);
  tags replay;
  converge::join_into(replay, delta);
  CHECK(replay.find("k7")->contains("y"));
}

TEST_CASE("an update concurrent with an erase of its key survives") {
  tags x, y;
  y.join(x.update("fruit", [&](auto& s) { return s.insert(a, "apple"); }));
  const auto erase = x.erase("fruit");
  const auto update = y.update("fruit", [&](auto& s) { return s.insert(b, "pear"); });
  x.join(update);
  y.join(erase);
  CHECK(x == y);
  REQUIRE(x.contains("fruit"));
  CHECK(x.find("fruit")->contains("pear"));
  CHECK_FALSE(x.find("fruit")->contains("apple"));
}

TEST_CASE("update wins over a concurrent erase two levels deep") {
  deep x, y;
  y.join(x.update(
      "user", [&](auto& inner) { return inner.update("name", [&](auto& r) { return r.assign(a, 1); }); }));
  const auto erase = x.erase("user");
  const auto update = y.update(
      "user", [&](auto& inner) { return inner.update("age", [&](auto& r) { return r.assign(b, 30); }); });
  x.join(update);
  y.join(erase);
  CHECK(x == y);
  REQUIRE(x.contains("user"));
  const auto& user = *x.find("user");
  CHECK_FALSE(user.contains("name"));
  REQUIRE(user.contains("age"));
  CHECK(user.find("age")->values() == std::vector<int>{30});
}

TEST_CASE("an erase of an inner key concurrent with an inner update keeps the update") {
  deep x, y;
  y.join(
      x.update("u", [&](auto& inner) { return inner.update("n", [&](auto& r) { return r.assign(a, 1); }); }));
  const auto erase = x.update("u", [&](auto& inner) { return inner.erase("n"); });
  const auto update =
      y.update("u", [&](auto& inner) { return inner.update("n", [&](auto& r) { return r.assign(b, 2); }); });
  x.join(update);
  y.join(erase);
  CHECK(x == y);
  CHECK(x.find("u")->find("n")->values() == std::vector<int>{2});
}

TEST_CASE("concurrent assigns in a nested register are all kept") {
  or_map<std::string, mv_register<std::string>> x, y;
  const auto d1 = x.update("k", [&](auto& r) { return r.assign(a, "one"); });
  const auto d2 = y.update("k", [&](auto& r) { return r.assign(b, "two"); });
  x.join(d2);
  y.join(d1);
  CHECK(x == y);
  CHECK(x.find("k")->values() == std::vector<std::string>{"one", "two"});
  const auto d3 = x.update("k", [&](auto& r) { return r.assign(a, "three"); });
  y.join(d3);
  CHECK(y.find("k")->values() == std::vector<std::string>{"three"});
}

TEST_CASE("clear removes every observed key and a mutator that throws leaves the map valid") {
  tags m;
  m.update("a", [&](auto& s) { return s.insert(a, "1"); });
  m.update("b", [&](auto& s) { return s.insert(a, "2"); });
  const tags before = m;
  CHECK_THROWS(m.update("c", [&](auto&) -> or_set<std::string> { throw std::runtime_error("boom"); }));
  CHECK(m == before);
  m.clear();
  CHECK(m.size() == 0);
  CHECK(converge::is_bottom(m) == false);  // the context remembers what was removed
}
