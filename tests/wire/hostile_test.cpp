// Hostile input: truncations, byte flips, runs of 0xff, invalid states.
// Garbage gives decode_error or a valid state, never a crash or a hang.
#include "converge/converge.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "generators.hpp"
#include "golden_cases.hpp"
#include "support/random.hpp"

using bytes_t = std::vector<std::byte>;

TEST_CASE("every truncation of every golden vector is refused") {
  for (const auto& c : wire_test::golden_cases()) {
    CAPTURE(c.name);
    for (std::size_t n = 0; n < c.bytes.size(); ++n) {
      CAPTURE(n);
      CHECK_FALSE(c.probe(std::span<const std::byte>(c.bytes.data(), n)));
    }
    CHECK(c.probe(c.bytes));
  }
}

TEST_CASE("random byte flips give decode_error or a state that round-trips") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("byte flips");
  std::size_t refused = 0, accepted = 0;
  for (const auto& c : wire_test::golden_cases()) {
    CAPTURE(c.name);
    for (int i = 0; i < test::cases(300); ++i) {
      bytes_t b = c.bytes;
      const auto flips = 1 + rng.below(3);
      for (std::uint64_t f = 0; f < flips; ++f) {
        b[rng.below(b.size())] = static_cast<std::byte>(rng.below(256));
      }
      if (rng.below(4) == 0)
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size())),
                 static_cast<std::byte>(rng.below(256)));
      CAPTURE(wire_test::to_hex(b));
      (c.probe(b) ? accepted : refused)++;
    }
  }
  CHECK(refused > 0);
  CHECK(accepted > 0);
}

TEST_CASE("runs of 0xff are refused") {
  for (const auto& c : wire_test::golden_cases()) {
    CAPTURE(c.name);
    for (const std::size_t n : {1U, 2U, 11U, 16U, 64U, 1000U}) {
      CHECK_FALSE(c.probe(bytes_t(n, std::byte{0xff})));
      bytes_t b(n, std::byte{0xff});
      b[0] = converge::wire::format_header;
      CHECK_FALSE(c.probe(b));
    }
  }
}

TEST_CASE("random garbage behind a valid header never crashes") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("garbage");
  const auto cases = wire_test::golden_cases();
  for (int i = 0; i < test::cases(3000); ++i) {
    bytes_t b(1 + rng.below(40));
    for (auto& x : b) x = static_cast<std::byte>(rng.below(4) == 0 ? rng.below(256) : rng.below(4));
    b[0] = converge::wire::format_header;
    (void)cases[rng.below(cases.size())].probe(b);
  }
}

namespace {

/// Bytes from small numbers, with `varint(v)` to splice in a multi-byte varint.
bytes_t bytes_of(std::initializer_list<std::uint64_t> xs) {
  bytes_t out;
  for (const std::uint64_t x : xs) out.push_back(static_cast<std::byte>(x));
  return out;
}
bytes_t varint(std::uint64_t v) {
  bytes_t out;
  converge::wire::detail::put_varint(out, v);
  return out;
}
bytes_t cat(std::initializer_list<bytes_t> parts) {
  bytes_t out;
  for (const bytes_t& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("invalid causal states are refused") {
  using converge::causal_context;
  using converge::dot;
  using converge::dot_range;
  using converge::replica_id;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const replica_id r{5};
  // causal_context: header, table [5], versions [(r0, 2)], then the cloud: 1 group, r0, its ranges
  const bytes_t head = bytes_of({0x10, 0x01, 0x05, 0x01, 0x00, 0x02, 0x01, 0x00});
  const auto decode_ctx = [](const bytes_t& b) { return converge::decode<causal_context>(b); };
  // A range is (gap, extent) with first = base + 2 + gap: gap 0 after version 2 is dot 4, the
  // smallest counter a cloud may hold. A range the vector covers or reaches cannot be written.
  CHECK(decode_ctx(cat({head, bytes_of({0x01, 0x00, 0x00})})) ==
        causal_context::from_parts({{r, 2}}, {{r, 4, 4}}));
  // After a range, the next starts at last + 2 + gap: two ranges can never touch or overlap.
  CHECK(decode_ctx(cat({head, bytes_of({0x02, 0x00, 0x01, 0x00, 0x00})})) ==
        causal_context::from_parts({{r, 2}}, {{r, 4, 5}, {r, 7, 7}}));
  // A range reaching UINT64_MAX is fine ...
  CHECK(decode_ctx(cat({head, bytes_of({0x01, 0x00}), varint(max - 4)})) ==
        causal_context::from_parts({{r, 2}}, {{r, 4, max}}));
  CHECK(decode_ctx(cat({head, bytes_of({0x01}), varint(max - 4), bytes_of({0x00})})) ==
        causal_context::from_parts({{r, 2}}, {{r, max, max}}));
  // ... one past it is refused: by the extent, by the gap, or by a range after it.
  CHECK_THROWS_WITH_AS(decode_ctx(cat({head, bytes_of({0x01, 0x00}), varint(max - 3)})),
                       doctest::Contains("counter overflows 64 bits"), converge::decode_error);
  CHECK_THROWS_WITH_AS(decode_ctx(cat({head, bytes_of({0x01}), varint(max - 3), bytes_of({0x00})})),
                       doctest::Contains("counter overflows 64 bits"), converge::decode_error);
  CHECK_THROWS_WITH_AS(
      decode_ctx(cat({head, bytes_of({0x02, 0x00}), varint(max - 4), bytes_of({0x00, 0x00})})),
      doctest::Contains("counter overflows 64 bits"), converge::decode_error);
  // A version of UINT64_MAX - 1 or more leaves no room for a cloud range of that replica.
  CHECK_THROWS_WITH_AS(decode_ctx(cat({bytes_of({0x10, 0x01, 0x05, 0x01, 0x00}), varint(max - 1),
                                       bytes_of({0x01, 0x00, 0x01, 0x00, 0x00})})),
                       doctest::Contains("counter overflows 64 bits"), converge::decode_error);
  // An empty group, or two groups of one replica, are not canonical: refused.
  CHECK_THROWS_WITH_AS(decode_ctx(cat({head, bytes_of({0x00})})), doctest::Contains("empty dot group"),
                       converge::decode_error);
  CHECK_THROWS_WITH_AS(decode_ctx(bytes_of({0x10, 0x01, 0x05, 0x01, 0x00, 0x02, 0x02, 0x00, 0x01, 0x00, 0x00,
                                            0x00, 0x01, 0x05, 0x00})),
                       doctest::Contains("dot groups not sorted by replica"), converge::decode_error);
  // The counter values cost nothing: a version of 2^63 and a range up to UINT64_MAX decode,
  // subtract and join at once.
  const causal_context huge =
      decode_ctx(cat({bytes_of({0x10, 0x01, 0x05, 0x01, 0x00}), varint(std::uint64_t{1} << 63),
                      bytes_of({0x01, 0x00, 0x01, 0x00}), varint(max - (std::uint64_t{1} << 63) - 2)}));
  CHECK(huge.dot_count() == max - 1);
  CHECK(huge.subtract(causal_context{}) == huge);
  CHECK(causal_context{}.subtract(huge).empty());
  causal_context one;
  one.insert(dot{r, 1});
  CHECK(huge.subtract(one).cloud() ==
        std::vector<dot_range>{{r, 2, std::uint64_t{1} << 63}, {r, (std::uint64_t{1} << 63) + 2, max}});
  one.join(huge);
  CHECK(one == huge);

  // or_set: store holds (r0, 1) but the context is empty
  converge::or_set<std::uint64_t> s;
  s.insert(replica_id{5}, 9);
  bytes_t b = converge::encode(s);
  // header, table [5], versions [(0, 1)], cloud [], store [...]: make versions empty
  REQUIRE(b.size() > 6);
  bytes_t uncovered{b[0], b[1], b[2], std::byte{0x00}, std::byte{0x00}};
  uncovered.insert(uncovered.end(), b.begin() + 7, b.end());
  CHECK_THROWS_WITH_AS((void)converge::decode<converge::or_set<std::uint64_t>>(uncovered),
                       doctest::Contains("invalid state"), converge::decode_error);

  // or_set: the same dot twice in the store (a gap of 0 after the first repeats nothing: the
  // encoding cannot even express a duplicate dot, and 2 records under one replica need
  // increasing counters); a group without dots is refused
  converge::or_map<std::string, converge::ew_flag> m;
  m.update("k", [](auto& f) { return f.enable(replica_id{1}); });
  const bytes_t mb = converge::encode(m);
  CHECK(converge::decode<decltype(m)>(mb) == m);
}

TEST_CASE("decode throws only decode_error") {
  // an or_map whose nested store is empty, a dot under two keys, keys out of order
  using map_t = converge::or_map<std::string, converge::ew_flag>;
  map_t m;
  m.update("a", [](auto& f) { return f.enable(converge::replica_id{1}); });
  m.update("b", [](auto& f) { return f.enable(converge::replica_id{1}); });
  bytes_t b = converge::encode(m);
  auto rng = test::rng_for("only decode_error");
  CAPTURE(test::seed());
  for (int i = 0; i < 2000; ++i) {
    bytes_t x = b;
    x[1 + rng.below(x.size() - 1)] = static_cast<std::byte>(rng.below(8));
    try {
      (void)converge::decode<map_t>(x);
    } catch (const converge::decode_error&) {
    } catch (...) {
      FAIL("an exception other than decode_error escaped decode");
    }
  }
}

namespace {

template <class T>
void flip_random_states(const char* name) {
  wire_test::for_random_states<T>(name, test::cases(100), 25, [&](const T& x, auto& rng) {
    const auto c = wire_test::make_case(name, x);
    for (int k = 0; k < 10; ++k) {
      bytes_t b = c.bytes;
      b[rng.below(b.size())] = static_cast<std::byte>(rng.below(256));
      CAPTURE(wire_test::to_hex(b));
      (void)c.probe(b);
    }
    const auto cut = rng.below(c.bytes.size());
    CHECK_FALSE(c.probe(std::span<const std::byte>(c.bytes.data(), cut)));
  });
}

}  // namespace

TEST_CASE("byte flips and truncations of random states") {
  wire_test::for_each_sample("flip",
                             []<class T>(const std::string& name) { flip_random_states<T>(name.c_str()); });
}
