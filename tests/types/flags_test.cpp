// Flag and multi-value register semantics: who wins on concurrent operations.
#include <converge/dw_flag.hpp>
#include <converge/ew_flag.hpp>
#include <converge/mv_register.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using converge::replica_id;
namespace {
const replica_id a{1}, b{2};
}

TEST_CASE("ew_flag: an enable concurrent with a disable wins") {
  converge::ew_flag x, y;
  CHECK_FALSE(x.value());
  y.join(x.enable(a));
  const auto off = x.disable();
  const auto on = y.enable(b);
  x.join(on);
  y.join(off);
  CHECK(x == y);
  CHECK(x.value());
  x.disable();
  CHECK_FALSE(x.value());
}

TEST_CASE("dw_flag: a disable concurrent with an enable wins; bottom reads enabled") {
  converge::dw_flag x, y;
  CHECK(x.value());
  y.join(x.disable(a));
  const auto on = x.enable();
  const auto off = y.disable(b);
  x.join(off);
  y.join(on);
  CHECK(x == y);
  CHECK_FALSE(x.value());
  x.enable();
  CHECK(x.value());
}

TEST_CASE("mv_register keeps concurrent values and a later assign replaces them") {
  converge::mv_register<std::string> x, y;
  const auto d1 = x.assign(a, "red");
  const auto d2 = y.assign(b, "blue");
  x.join(d2);
  y.join(d1);
  CHECK(x == y);
  CHECK(x.values() == std::vector<std::string>{"blue", "red"});
  y.join(x.assign(a, "green"));
  CHECK(y.values() == std::vector<std::string>{"green"});
  y.join(x.reset());
  CHECK(y.values().empty());
}
