#pragma once
// The doctest side of the public law checker: runs check_laws for one type
// with the run's seed and case count, and reports the seed on failure.
#include <converge/testing/laws.hpp>

#include <doctest/doctest.h>

#include "support/random.hpp"

namespace test {

template <class T>
void check_laws(const converge::testing::operation<T>& op, const char* name) {
  CAPTURE(seed());
  CAPTURE(name);
  const auto report = converge::testing::check_laws<T>(op, {.seed = seed(), .cases = cases()});
  CHECK_MESSAGE(report.ok, report.failure);
  CHECK(report.cases_run == cases());
}

}  // namespace test
