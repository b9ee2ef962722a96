// The law checker itself: it must catch broken lattices, name the law, the
// seed and the case, and its entropy sources must behave.
#include <converge/gcounter.hpp>
#include <converge/testing/laws.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "support/random.hpp"

namespace {

using converge::replica_id;
using converge::testing::entropy;
using converge::testing::operation;

// join = sum: commutative and associative, but not idempotent.
struct summing {
  std::uint64_t v = 0;
  void join(const summing& o) {
    if (&o != this) v += o.v;
  }
  bool operator==(const summing&) const = default;
  summing add(std::uint64_t n) {
    v += n;
    return summing{n};
  }
};

// join = max, but the mutator's "delta" is wrong (always bottom).
struct lost_delta {
  std::uint64_t v = 0;
  void join(const lost_delta& o) { v = std::max(v, o.v); }
  bool operator==(const lost_delta&) const = default;
};

// join = take the other side: idempotent and associative, not commutative.
struct last_wins {
  std::uint64_t v = 0;
  void join(const last_wins& o) {
    if (o.v != 0) v = o.v;
  }
  bool operator==(const last_wins&) const = default;
};

// A correct max lattice with a wrong novel_to (it drops everything).
struct bad_novel {
  std::uint64_t v = 0;
  void join(const bad_novel& o) { v = std::max(v, o.v); }
  bool operator==(const bad_novel&) const = default;
  bad_novel novel_to(const bad_novel&) const { return {}; }
};

static_assert(converge::delta_lattice<summing>);

}  // namespace

TEST_CASE("law checker: a non-idempotent join fails") {
  const operation<summing> op = [](summing& s, replica_id, entropy& e) { return s.add(1 + e.below(3)); };
  const auto report = converge::testing::check_laws<summing>(op, {.seed = 7, .cases = 50});
  CHECK_FALSE(report.ok);
  CHECK_FALSE(static_cast<bool>(report));
  CHECK(report.seed == 7);
  CHECK(report.failure.find("law '") != std::string::npos);
  CHECK(report.failure.find("seed 7") != std::string::npos);
  CHECK(report.failure.find("case ") != std::string::npos);
}

TEST_CASE("law checker: a mutator returning a wrong delta fails the delta law") {
  const operation<lost_delta> op = [](lost_delta& s, replica_id, entropy& e) {
    s.v += 1 + e.below(3);
    return lost_delta{};
  };
  const auto report = converge::testing::check_laws<lost_delta>(op, {.seed = 3, .cases = 50});
  CHECK_FALSE(report.ok);
  CHECK(report.failure.find("delta law") != std::string::npos);
}

TEST_CASE("law checker: a non-commutative join fails") {
  const operation<last_wins> op = [](last_wins& s, replica_id self, entropy& e) {
    s.v = self.value() * 100 + e.below(50) + 1;
    return s;
  };
  const auto report = converge::testing::check_laws<last_wins>(op, {.seed = 5, .cases = 200});
  CHECK_FALSE(report.ok);
}

TEST_CASE("law checker: a wrong novel_to fails") {
  const operation<bad_novel> op = [](bad_novel& s, replica_id, entropy& e) {
    s.v += 1 + e.below(3);
    return s;
  };
  const auto report = converge::testing::check_laws<bad_novel>(op, {.seed = 11, .cases = 50});
  CHECK_FALSE(report.ok);
  CHECK(report.failure.find("novel") != std::string::npos);
}

TEST_CASE("law checker: a failing case replays from case_seed") {
  const operation<summing> op = [](summing& s, replica_id, entropy& e) { return s.add(1 + e.below(3)); };
  const auto report = converge::testing::check_laws<summing>(op, {.seed = 9, .cases = 100});
  REQUIRE_FALSE(report.ok);
  const auto pos = report.failure.find("case ");
  REQUIRE(pos != std::string::npos);
  const int c = std::stoi(report.failure.substr(pos + 5));
  converge::testing::seeded_entropy e{converge::testing::case_seed(9, c)};
  const auto again = converge::testing::check_laws_once<summing>(op, e);
  CHECK_FALSE(again.ok);
}

TEST_CASE("law checker: a correct type passes and counts its cases") {
  const operation<converge::gcounter> op = [](converge::gcounter& s, replica_id self, entropy& e) {
    return s.increment(self, e.below(3));
  };
  const auto report =
      converge::testing::check_laws<converge::gcounter>(op, {.seed = test::seed(), .cases = 100});
  CHECK_MESSAGE(report.ok, report.failure);
  CHECK(report.cases_run == 100);
  CHECK(report.seed == test::seed());
}

TEST_CASE("entropy: seeded draws are in range and reproducible") {
  converge::testing::seeded_entropy a{42}, b{42};
  for (std::uint64_t n = 1; n < 1000; n += 7) {
    const std::uint64_t x = a.below(n);
    CHECK(x < n);
    CHECK(x == b.below(n));
  }
  CHECK(a.below(1) == 0);
  int heads = 0;
  for (int i = 0; i < 1000; ++i) heads += a.chance(1, 2) ? 1 : 0;
  CHECK(heads > 400);
  CHECK(heads < 600);
}

TEST_CASE("entropy: bytes are consumed, then every draw is 0") {
  const std::vector<std::uint8_t> bytes{5, 1, 2, 200};
  converge::testing::byte_entropy e{std::span<const std::uint8_t>(bytes)};
  CHECK_FALSE(e.exhausted());
  CHECK(e.below(10) == 5);
  CHECK(e.below(1) == 0);                        // consumes nothing
  CHECK(e.below(1000) == (1 * 256 + 2) % 1000);  // two bytes
  CHECK(e.below(100) == 0);                      // 200 % 100
  CHECK(e.exhausted());
  CHECK(e.below(7) == 0);
  CHECK(e.below(1u << 20) == 0);
}

// The fuzzer macro defines LLVMFuzzerTestOneInput; call it like libFuzzer would.
namespace {
const auto fuzz_op = [](converge::gcounter& s, replica_id self, entropy& e) {
  return s.increment(self, e.below(4));
};
}
CONVERGE_LAW_FUZZER(converge::gcounter, fuzz_op)

TEST_CASE("law fuzzer: runs on arbitrary bytes, including none") {
  CHECK(LLVMFuzzerTestOneInput(nullptr, 0) == 0);
  auto rng = test::rng_for("law fuzzer");
  CAPTURE(test::seed());
  for (int i = 0; i < 200; ++i) {
    std::vector<std::uint8_t> bytes(rng.below(300));
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng.below(256));
    CHECK(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()) == 0);
  }
}
