// Compactness targets, asserted on the exact bytes.
#include "converge/converge.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "golden_v2_cases.hpp"
#include "support/bytes.hpp"

namespace {

using test::bytes;

}  // namespace

TEST_CASE("a gcounter single-increment delta takes 6 bytes (target <= 12)") {
  converge::gcounter g;
  const auto d = converge::encode(g.increment(converge::replica_id{1}));
  // header | replica table [1] | 1 entry: (replica #0, count 1)
  CHECK(d == bytes({0x10, 0x01, 0x01, 0x01, 0x00, 0x01}));
  CHECK(d.size() <= 12);
  // later increments of a busy counter stay small
  for (int i = 0; i < 1000; ++i) g.increment(converge::replica_id{1});
  CHECK(converge::encode(g.increment(converge::replica_id{1})).size() == 7);
}

TEST_CASE("an or_set<uint64_t> single-insert delta takes 12 bytes (target <= 24)") {
  converge::or_set<std::uint64_t> s;
  const auto d = converge::encode(s.insert(converge::replica_id{1}, 7));
  // header | table [1] | context: versions [(#0, 1)], cloud [] | store: [#0: [(gap 1, 7)]]
  CHECK(d == bytes({0x10, 0x01, 0x01, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x01, 0x07}));
  CHECK(d.size() <= 24);
  // an insert into a set that has seen other replicas' updates: the delta's dot is a cloud dot
  converge::or_set<std::uint64_t> t;
  for (std::uint64_t i = 0; i < 100; ++i) t.insert(converge::replica_id{1 + i % 3}, i);
  CHECK(converge::encode(t.insert(converge::replica_id{2}, 5)).size() <= 24);
}

TEST_CASE("version vectors and clouds are compact") {
  converge::causal_context c;
  for (std::uint64_t r = 1; r <= 10; ++r) {
    for (std::uint64_t n = 1; n <= 100; ++n) c.insert(converge::dot{converge::replica_id{r}, n});
  }
  for (std::uint64_t n = 200; n < 300; n += 2) c.insert(converge::dot{converge::replica_id{1}, n});
  // 1 + table 11 + versions 1 + 10 * 2 + cloud: 1 + (1 + 1 + 50 ranges of one dot). A range
  // is (gap, extent), two bytes here: the worst case of a range encoding, a cloud of isolated
  // dots, costs one byte per dot more than a list of single counters would ...
  CHECK(converge::encode(c).size() == 1 + 11 + 1 + 20 + 1 + 1 + 1 + 50 * 2);
  // ... and a run of consecutive dots costs one range, whatever its length: 10 runs of 1000
  // dots, 1000 apart, take 4 bytes each (gap 999 and extent 999, 2 bytes each), the first 3
  // (its gap, 98, takes 1 byte).
  converge::causal_context runs;
  for (std::uint64_t k = 0; k < 10; ++k) {
    runs.insert(converge::dot_range{converge::replica_id{1}, 100 + 2000 * k, 1099 + 2000 * k});
  }
  // 1 + table 2 + versions 1 + cloud: 1 + (1 + 1 + the 10 ranges)
  CHECK(converge::encode(runs).size() == 1 + 2 + 1 + 1 + 1 + 1 + (1 + 2) + 9 * (2 + 2));
}

// The issue 19 targets on the peers benchmark's workloads (bench/peers): Automerge's
// sizes there are 9.14 B per element and 177,120 B.
TEST_CASE("a 100k-element or_set<std::string> of 12 hex digits takes at most 7 bytes per element") {
  converge::or_set<std::string> s;
  constexpr std::uint64_t n = 100'000;
  for (std::uint64_t i = 0; i < n; ++i)
    s.insert(converge::replica_id::from_name("replica-1"), wire_test::hex_word(i));
  const auto bytes = converge::encode(s);
  CHECK(bytes[0] == converge::wire::columns_header);
  CHECK(bytes.size() <= 7 * n);
  MESSAGE("or_set 100k: " << bytes.size() << " bytes");
}

TEST_CASE("20 replicas x 1,000 keys of concurrent mv_registers take at most 150,000 bytes") {
  using map = converge::or_map<std::string, converge::mv_register<std::string>>;
  constexpr std::uint64_t replicas = 20, keys = 1000;
  map all;
  for (std::uint64_t r = 1; r <= replicas; ++r) {
    map mine;
    const auto id = converge::replica_id::from_name("replica-" + std::to_string(r));
    for (std::uint64_t k = 0; k < keys; ++k) {
      const std::string v = "r" + std::to_string(r) + "-" + wire_test::hex_word(r * keys + k + 7'000'000);
      mine.update(wire_test::hex_word(k), [&](auto& x) { return x.assign(id, v); });
    }
    all.join(mine);
  }
  const auto bytes = converge::encode(all);
  CHECK(bytes.size() <= 150'000);
  CHECK(converge::decode<map>(bytes) == all);
  MESSAGE("map 20 x 1,000: " << bytes.size() << " bytes");
}
