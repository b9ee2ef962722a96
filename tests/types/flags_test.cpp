// Flag and multi-value register semantics: who wins on concurrent operations.
#include <converge/dw_flag.hpp>
#include <converge/ew_flag.hpp>
#include <converge/mv_register.hpp>
#include <converge/testing/operations.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/replicas.hpp"

using converge::replica_id;
namespace {
using namespace test::replicas;
}

TEST_CASE_TEMPLATE(
    "flags: the winning side wins against a concurrent other side; bottom reads the losing side", F,
    converge::ew_flag, converge::dw_flag) {
  // The catalog's operation: the winning side (ew_flag: enable, dw_flag:
  // disable) takes the replica; the other side removes what it observed.
  using ops = converge::testing::operations<F>;
  constexpr bool enable_wins = ops::enable_wins;
  F x, y;
  CHECK(x.value() == !enable_wins);
  y.join(ops::apply(x, a, {.wins = true}));
  const F lost = ops::apply(x, a, {.wins = false});
  const F won = ops::apply(y, b, {.wins = true});
  x.join(won);
  y.join(lost);
  CHECK(x == y);
  CHECK(x.value() == enable_wins);
  (void)ops::apply(x, a, {.wins = false});
  CHECK(x.value() == !enable_wins);
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
