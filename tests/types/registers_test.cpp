// lww_register semantics: newest wins, ties by replica then value.
#include <converge/lww_register.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "support/replicas.hpp"

namespace {
using namespace test::replicas;
}

TEST_CASE("lww_register: bottom is never assigned") {
  converge::lww_register<std::string> r;
  CHECK(r.empty());
  CHECK_FALSE(r.value().has_value());
  CHECK(r.timestamp() == 0);
  CHECK(r.writer() == converge::replica_id{});
}

TEST_CASE("lww_register: a newer assign wins, an older one changes nothing") {
  converge::lww_register<std::string> r;
  const auto d1 = r.assign(a, "old", 1);
  CHECK(d1 == r);
  const auto d2 = r.assign(b, "new", 2);
  CHECK(r.value() == "new");
  CHECK(r.timestamp() == 2);
  CHECK(r.writer() == b);
  const auto before = r;
  CHECK(r.assign(a, "older", 1).empty());
  CHECK(r == before);
  CHECK(r.assign(b, "new", 2).empty());  // the same write again is not newer
  // deltas arriving in the other order give the same state
  converge::lww_register<std::string> s;
  s.join(d2);
  s.join(d1);
  CHECK(s == r);
}

TEST_CASE("lww_register: equal timestamps: the larger replica wins, then the larger value") {
  // Two replicas assign at the same timestamp and exchange their deltas.
  auto race = [](converge::replica_id rx, int vx, converge::replica_id ry, int vy) {
    converge::lww_register<int> x, y;
    const auto dx = x.assign(rx, vx, 5);
    const auto dy = y.assign(ry, vy, 5);
    x.join(dy);
    y.join(dx);
    CHECK(x == y);
    return x;
  };
  const auto by_replica = race(b, 1, a, 9);
  CHECK(by_replica.value() == 1);
  CHECK(by_replica.writer() == b);
  CHECK(race(a, 3, a, 4).value() == 4);
}

TEST_CASE("lww_register: novel_to, leq and from_parts") {
  converge::lww_register<int> s;
  s.assign(a, 1, 10);
  converge::lww_register<int> older;
  older.assign(b, 2, 3);
  CHECK(older.novel_to(s).empty());
  CHECK(older.leq(s));
  CHECK(s.novel_to(older) == s);
  const auto copy = converge::lww_register<int>::from_parts(s.writer(), *s.value(), s.timestamp());
  CHECK(copy == s);
}
