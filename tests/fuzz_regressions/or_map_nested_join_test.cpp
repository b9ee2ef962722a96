// Found building fuzz_laws with clang-14 (the acceptance fuzz build):
// detail::dot_map::add_unseen captured a structured binding (`key`) in a
// lambda, which clang before 16 refuses ("reference to local binding 'key'
// declared in enclosing function"), so no or_map compiled with clang-14.
// This case instantiates that join for nested maps; the clang build of this
// file is the regression test.
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>

#include <doctest/doctest.h>

#include <string>

TEST_CASE("clang-14: or_map join of unseen nested entries compiles and keeps them (dot_map::add_unseen)") {
  using inner = converge::or_map<int, converge::mv_register<int>>;
  using outer = converge::or_map<std::string, inner>;
  const converge::replica_id a{1}, b{2};
  outer x, y;
  const outer dx =
      x.update("k", [&](inner& m) { return m.update(1, [&](auto& r) { return r.assign(a, 7); }); });
  const outer dy =
      y.update("k", [&](inner& m) { return m.update(2, [&](auto& r) { return r.assign(b, 8); }); });
  x.join(dy);
  y.join(dx);
  CHECK(x == y);
  REQUIRE(x.find("k") != nullptr);
  CHECK(x.find("k")->size() == 2);

  converge::or_map<int, converge::or_set<int>> s, t;
  (void)s.update(3, [&](auto& set) { return set.insert(a, 30); });
  t.join(s);
  CHECK(t == s);
  CHECK(t.find(3)->contains(30));
}
