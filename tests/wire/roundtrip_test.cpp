// Random states and deltas of every type survive encode/decode, and cereal's
// own JSON archive, unchanged.
#include "converge/converge.hpp"

#include <cereal/archives/json.hpp>
#include <doctest/doctest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "generators.hpp"
#include "support/random.hpp"

namespace {

using namespace wire_test;

template <class T>
void check_round_trips(const char* name) {
  for_random_states<T>(name, test::cases(200), 30, [](const T& x, auto&) {
    const auto bytes = converge::encode(x);
    const T back = converge::decode<T>(bytes);
    REQUIRE(back == x);
    REQUIRE(converge::encode(back) == bytes);
    REQUIRE(converge::encoded_size(x) == bytes.size());
  });
}

template <class T>
void check_json_archive(const char* name) {
  CAPTURE(test::seed());
  auto rng = test::rng_for(name);
  for (int i = 0; i < 20; ++i) {
    const T x = converge::testing::random_state_and_delta<T, wire_test::text>(rng, 15).first;
    std::stringstream ss;
    {
      cereal::JSONOutputArchive out(ss);
      out(cereal::make_nvp("x", x));
    }
    T back{};
    {
      cereal::JSONInputArchive in(ss);
      in(cereal::make_nvp("x", back));
    }
    REQUIRE(back == x);
  }
}

}  // namespace

TEST_CASE("round trip: counters") {
  check_round_trips<converge::gcounter>("rt gcounter");
  check_round_trips<converge::pncounter>("rt pncounter");
  check_round_trips<converge::bounded_counter>("rt bounded_counter");
}

TEST_CASE("round trip: sets") {
  check_round_trips<converge::gset<std::uint64_t>>("rt gset u64");
  check_round_trips<converge::gset<std::string>>("rt gset string");
  check_round_trips<converge::twop_set<std::string>>("rt twop_set");
  check_round_trips<converge::or_set<std::uint64_t>>("rt or_set u64");
  check_round_trips<converge::or_set<std::string>>("rt or_set string");
}

TEST_CASE("round trip: registers and flags") {
  check_round_trips<converge::lww_register<std::string>>("rt lww");
  check_round_trips<converge::lww_register<std::int64_t>>("rt lww i64");
  check_round_trips<converge::mv_register<std::string>>("rt mv");
  check_round_trips<converge::ew_flag>("rt ew");
  check_round_trips<converge::dw_flag>("rt dw");
}

TEST_CASE("round trip: maps") {
  check_round_trips<converge::g_map<std::string, converge::gcounter>>("rt g_map");
  check_round_trips<converge::g_map<std::uint64_t, converge::or_set<std::string>>>("rt g_map or_set");
  check_round_trips<converge::or_map<std::string, converge::or_set<std::uint64_t>>>("rt or_map or_set");
  check_round_trips<converge::or_map<std::string, converge::mv_register<std::string>>>("rt or_map mv");
  check_round_trips<converge::or_map<std::uint64_t, converge::or_map<std::string, converge::ew_flag>>>(
      "rt or_map nested");
}

TEST_CASE("round trip: composed struct") { check_round_trips<shop>("rt shop"); }

TEST_CASE("cereal's JSON archive reads back what it wrote") {
  for_each_sample("json", []<class T>(const std::string& name) { check_json_archive<T>(name.c_str()); });
}

TEST_CASE("large sets of integers encode in one canonical order (the radix-sorted path)") {
  // 256 or more unsigned keys are radix sorted before encoding; the decoder
  // refuses anything not strictly ascending, so a wrong order cannot pass.
  auto rng = test::rng_for("radix sorted sets");
  CAPTURE(test::seed());
  for (const std::size_t n : {255u, 256u, 1000u, 5000u}) {
    CAPTURE(n);
    std::vector<std::uint64_t> keys;
    for (std::size_t i = 0; i < n; ++i) {
      // Small keys (some bytes equal in every key: skipped passes) and full-width ones.
      keys.push_back(i % 3 == 0 ? rng.below(1000) : rng());
    }
    converge::gset<std::uint64_t> forward, backward;
    for (const std::uint64_t k : keys) forward.insert(k);
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) backward.insert(*it);
    const auto bytes = converge::encode(forward);
    CHECK(bytes == converge::encode(backward));
    CHECK(converge::decode<converge::gset<std::uint64_t>>(bytes) == forward);
    converge::gset<std::uint32_t> narrow;
    for (const std::uint64_t k : keys) narrow.insert(static_cast<std::uint32_t>(k));
    CHECK(converge::decode<converge::gset<std::uint32_t>>(converge::encode(narrow)) == narrow);
  }
}
