// Format 2: large stores in columns. Golden vectors, the rule that picks the
// frame, round trips of random states forced into columns, hostile input.
#include "converge/converge.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "generators.hpp"
#include "golden_cases.hpp"
#include "golden_v2_cases.hpp"
#include "support/random.hpp"

namespace {

using bytes_t = std::vector<std::byte>;

using wire_test::expected_vector;
using wire_test::from_hex;

const expected_vector golden_v2[] = {
#include "golden_v2_vectors.inc"
};

/// Every store in columns, whatever its size: the 2.0 layouts of small random states.
constexpr converge::wire::encode_options all_columns{.columns_from = 1};

}  // namespace

TEST_CASE("golden vectors 2.0: encodings have not drifted") {
  const auto cases = wire_test::golden_v2_cases();
  if (std::getenv("CONVERGE_PRINT_GOLDEN") != nullptr) {
    std::printf(
        "// Golden vectors of the wire format 2.0: {case name, hex of converge::encode(value)}.\n"
        "// DO NOT EDIT BY HAND (see golden_test.cpp; regenerate with -tc=\"golden vectors 2.0*\").\n");
    for (const auto& c : cases)
      std::printf("{\"%s\", \"%s\"},\n", c.name.c_str(), wire_test::to_hex(c.bytes).c_str());
    return;
  }
  REQUIRE(cases.size() == std::size(golden_v2));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].name);
    CHECK(cases[i].name == golden_v2[i].name);
    CHECK(wire_test::to_hex(cases[i].bytes) == golden_v2[i].hex);
    CHECK(cases[i].decodes_to_value(from_hex(golden_v2[i].hex)));
    const bool stays_1_0 = cases[i].name.find("stays 1.0") != std::string::npos;
    CHECK(cases[i].bytes[0] == (stays_1_0 ? converge::wire::format_header : converge::wire::columns_header));
  }
}

TEST_CASE("1.0 golden values are still written as 1.0 frames") {
  for (const auto& c : wire_test::golden_cases()) {
    CAPTURE(c.name);
    CHECK(c.bytes[0] == converge::wire::format_header);
  }
}

TEST_CASE("the frame depends on the value only: equal values encode alike") {
  using set = converge::or_set<std::string>;
  set one, other;
  std::vector<set> deltas;
  for (std::uint64_t i = 0; i < 100; ++i)
    deltas.push_back(one.insert(converge::replica_id{1}, wire_test::hex_word(i)));
  for (std::size_t i = deltas.size(); i-- > 0;) other.join(deltas[i]);  // the same state, joined backwards
  REQUIRE(other == one);
  CHECK(converge::encode(one) == converge::encode(other));
  CHECK(converge::encode(one) ==
        converge::encode(converge::decode<set>(converge::encode(one, {.columns_from = 0}))));
  // 63 entries: 1.0; 64: 2.0.
  set s;
  for (std::uint64_t i = 0; i < 63; ++i) s.insert(converge::replica_id{1}, wire_test::hex_word(i));
  CHECK(converge::encode(s)[0] == converge::wire::format_header);
  s.insert(converge::replica_id{1}, "one more");
  CHECK(converge::encode(s)[0] == converge::wire::columns_header);
  CHECK(converge::encode(s, {.columns_from = 0})[0] == converge::wire::format_header);
  CHECK(converge::decode<set>(converge::encode(s, {.columns_from = 0})) == s);
}

namespace {

template <class T>
void check_columns_round_trip(const char* name) {
  wire_test::for_random_states<T>(name, test::cases(150), 40, [](const T& x, auto&) {
    const auto bytes = converge::encode(x, all_columns);
    const T back = converge::decode<T>(bytes);
    REQUIRE(back == x);
    REQUIRE(converge::encode(back, all_columns) == bytes);
    REQUIRE(converge::encoded_size(x, all_columns) == bytes.size());
    // And the rows of the same value still decode to it.
    REQUIRE(converge::decode<T>(converge::encode(x)) == x);
  });
}

}  // namespace

TEST_CASE("round trip through columns: every type") {
  using namespace converge;
  check_columns_round_trip<or_set<std::string>>("col or_set string");
  check_columns_round_trip<or_set<std::uint64_t>>("col or_set u64");
  check_columns_round_trip<mv_register<std::string>>("col mv string");
  check_columns_round_trip<mv_register<std::uint64_t>>("col mv u64");
  check_columns_round_trip<ew_flag>("col ew_flag");
  check_columns_round_trip<dw_flag>("col dw_flag");
  check_columns_round_trip<or_map<std::string, mv_register<std::string>>>("col or_map mv");
  check_columns_round_trip<or_map<std::uint64_t, or_set<std::string>>>("col or_map sets");
  check_columns_round_trip<or_map<std::string, ew_flag>>("col or_map flags");
  check_columns_round_trip<or_map<std::uint64_t, or_map<std::string, ew_flag>>>("col or_map nested");
  check_columns_round_trip<gcounter>("col gcounter");
  check_columns_round_trip<twop_set<std::string>>("col twop");
  check_columns_round_trip<g_map<std::string, gcounter>>("col g_map");
  check_columns_round_trip<wire_test::shop>("col shop");
}

TEST_CASE("round trip through columns: large random states with replica ids of every size") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("col large");
  using map = converge::or_map<std::string, converge::mv_register<std::string>>;
  for (int c = 0; c < test::cases(10); ++c) {
    converge::or_set<std::string> s;
    map m;
    const std::uint64_t n = 64 + rng.below(500);
    for (std::uint64_t i = 0; i < n; ++i) {
      const converge::replica_id r =
          rng.below(2) == 0 ? converge::replica_id{1 + rng.below(5)}
                            : converge::replica_id::from_name("r" + std::to_string(rng.below(40)));
      std::string v = wire_test::hex_word(rng.below(1000)).substr(0, rng.below(13));
      s.insert(r, v);
      if (rng.below(7) == 0) s.erase(v);
      m.update(wire_test::hex_word(rng.below(50)), [&](auto& x) { return x.assign(r, v + "!"); });
    }
    CHECK(converge::encode(s)[0] == converge::wire::columns_header);
    CHECK(converge::decode<decltype(s)>(converge::encode(s)) == s);
    CHECK(converge::decode<map>(converge::encode(m)) == m);
  }
}

TEST_CASE("2.0 frames: every truncation is refused, flips give decode_error or a valid state") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("v2 flips");
  std::size_t refused = 0, accepted = 0;
  for (const auto& c : wire_test::golden_v2_cases()) {
    CAPTURE(c.name);
    for (std::size_t n = 0; n < c.bytes.size(); ++n) {
      CAPTURE(n);
      CHECK_FALSE(c.probe(std::span<const std::byte>(c.bytes.data(), n)));
    }
    for (int i = 0; i < test::cases(300); ++i) {
      bytes_t b = c.bytes;
      const auto flips = 1 + rng.below(3);
      for (std::uint64_t f = 0; f < flips; ++f) {
        const std::size_t at = rng.below(b.size());
        b[at] = rng.below(2) == 0 ? static_cast<std::byte>(rng.below(256))
                                  : (b[at] ^ static_cast<std::byte>(1U << rng.below(8)));
      }
      CAPTURE(wire_test::to_hex(b));
      (c.probe(b) ? accepted : refused)++;
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("2.0 frames: hostile columns are refused before allocating") {
  using set = converge::or_set<std::string>;
  // header 2.0 | table [1] | context: versions [(#0, 100)], cloud [] | store: layout 1, n = huge
  const bytes_t head = {std::byte{0x20}, std::byte{1},   std::byte{1}, std::byte{1},
                        std::byte{0},    std::byte{100}, std::byte{0}, std::byte{1}};
  bytes_t huge = head;
  converge::wire::detail::put_varint(huge, 1ULL << 40);
  CHECK_THROWS_AS((void)converge::decode<set>(huge), converge::decode_error);
  // An unknown layout byte.
  bytes_t bad_layout = head;
  bad_layout.back() = std::byte{7};
  CHECK_THROWS_AS((void)converge::decode<set>(bad_layout), converge::decode_error);
  // A run of 2^40 dots in a column of 3 bytes, behind a count of 2: refused, no hang.
  bytes_t runs = head;
  runs.push_back(std::byte{2});
  runs.push_back(std::byte{7});                          // replicas column: 7 bytes
  converge::wire::detail::put_varint(runs, 1ULL << 41);  // a run of 2^40 ...
  runs.push_back(std::byte{0});                          // ... zeros
  CHECK_THROWS_AS((void)converge::decode<set>(runs), converge::decode_error);
  // A format major newer than 2 is refused.
  bytes_t newer = head;
  newer[0] = std::byte{0x30};
  CHECK_THROWS_AS((void)converge::decode<set>(newer), converge::decode_error);
}
