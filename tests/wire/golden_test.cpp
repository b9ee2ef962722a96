// Golden vectors: the exact bytes of a fixed set of states and deltas of
// every type (golden_vectors.inc). A change of encoding fails here.
//
// To regenerate after a deliberate format change (which needs a format
// version bump in converge/wire/archive.hpp):
//   CONVERGE_PRINT_GOLDEN=1 ./wire_tests -tc="golden vectors*" > tests/wire/golden_vectors.inc
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

#include "golden_cases.hpp"

namespace {

using wire_test::expected_vector;
using wire_test::from_hex;

const expected_vector golden[] = {
#include "golden_vectors.inc"
};

}  // namespace

TEST_CASE("golden vectors: encodings have not drifted") {
  const auto cases = wire_test::golden_cases();
  if (std::getenv("CONVERGE_PRINT_GOLDEN") != nullptr) {
    std::printf(
        "// Golden vectors of the wire format 1.0: {case name, hex of converge::encode(value)}.\n"
        "// DO NOT EDIT BY HAND. Changing these bytes changes the wire format: it is a\n"
        "// deliberate act that needs a format version bump (converge/wire/archive.hpp),\n"
        "// then a regeneration (see golden_test.cpp).\n");
    for (const auto& c : cases)
      std::printf("{\"%s\", \"%s\"},\n", c.name.c_str(), wire_test::to_hex(c.bytes).c_str());
    return;
  }
  REQUIRE(cases.size() == std::size(golden));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].name);
    CHECK(cases[i].name == golden[i].name);
    CHECK(wire_test::to_hex(cases[i].bytes) == golden[i].hex);
    CHECK(cases[i].decodes_to_value(from_hex(golden[i].hex)));
  }
}
