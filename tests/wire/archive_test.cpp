// The compact archive: varints, fixed-width numbers, lengths, limits, the
// format header and the replica table, on std types and a test-only lattice.
#include "converge/converge.hpp"

#include <cereal/types/vector.hpp>
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "support/bytes.hpp"

namespace {

using bytes_t = std::vector<std::byte>;

using test::bytes;

/// A user's own lattice with a cereal `serialize`: encode/decode take it too.
struct max_register {
  std::uint64_t v = 0;
  void join(const max_register& o) { v = std::max(v, o.v); }
  bool operator==(const max_register&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(v);
  }
};

template <class T>
std::string decode_message(const bytes_t& b, const converge::decode_limits& limits = {}) {
  try {
    (void)converge::decode<T>(b, limits);
  } catch (const converge::decode_error& e) {
    return e.what();
  }
  return "decoded";
}

}  // namespace

TEST_CASE("unsigned varints: LEB128, canonical") {
  const std::pair<std::uint64_t, bytes_t> cases[] = {
      {0, bytes({0x00})},
      {127, bytes({0x7f})},
      {128, bytes({0x80, 0x01})},
      {300, bytes({0xac, 0x02})},
      {std::uint64_t{1} << 63, bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})},
      {UINT64_MAX, bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})},
  };
  for (const auto& c : cases) {
    const std::uint64_t v =
        c.first;  // a variable, not a structured binding: CAPTURE's lambda takes it (clang 14)
    const bytes_t& body = c.second;
    CAPTURE(v);
    bytes_t expected = bytes({0x10, 0x00});  // format 1.0, empty replica table
    expected.insert(expected.end(), body.begin(), body.end());
    CHECK(converge::encode(v) == expected);
    CHECK(converge::encoded_size(v) == expected.size());
    CHECK(converge::decode<std::uint64_t>(expected) == v);
  }
}

TEST_CASE("malformed varints are refused") {
  // 11 bytes
  CHECK(decode_message<std::uint64_t>(
            bytes({0x10, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})) ==
        "decode_error at byte 2: varint longer than 10 bytes");
  // 10 bytes, but more than 64 bits
  CHECK(decode_message<std::uint64_t>(bytes({0x10, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                             0x02})) == "decode_error at byte 2: varint overflows 64 bits");
  // overlong: 0 and 1 written in two bytes
  CHECK(decode_message<std::uint64_t>(bytes({0x10, 0x00, 0x80, 0x00})) ==
        "decode_error at byte 2: non-canonical (overlong) varint");
  CHECK(decode_message<std::uint64_t>(bytes({0x10, 0x00, 0x81, 0x80, 0x00})) ==
        "decode_error at byte 2: non-canonical (overlong) varint");
  // truncated
  CHECK(decode_message<std::uint64_t>(bytes({0x10, 0x00, 0x80})) ==
        "decode_error at byte 3: varint truncated: no bytes remain");
  // too big for the target type
  CHECK(decode_message<std::uint32_t>(converge::encode(std::uint64_t{1} << 32)) ==
        "decode_error at byte 2: integer 4294967296 does not fit in 4 bytes");
  CHECK(decode_message<std::int16_t>(converge::encode(std::int64_t{-40000})) ==
        "decode_error at byte 2: integer -40000 does not fit in 2 bytes");
}

TEST_CASE("signed integers are zig-zag varints") {
  CHECK(converge::encode(std::int64_t{0}) == bytes({0x10, 0x00, 0x00}));
  CHECK(converge::encode(std::int64_t{-1}) == bytes({0x10, 0x00, 0x01}));
  CHECK(converge::encode(std::int64_t{1}) == bytes({0x10, 0x00, 0x02}));
  CHECK(converge::encode(std::int32_t{-64}) == bytes({0x10, 0x00, 0x7f}));
  for (const std::int64_t v :
       {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
        std::int64_t{-300}, std::int64_t{12345678}}) {
    CHECK(converge::decode<std::int64_t>(converge::encode(v)) == v);
  }
  CHECK(converge::encode(std::numeric_limits<std::int64_t>::min()).size() == 12);
  CHECK(converge::decode<int>(converge::encode(-7)) == -7);
}

TEST_CASE("bytes, bools and floating point") {
  CHECK(converge::encode(std::uint8_t{200}) == bytes({0x10, 0x00, 0xc8}));
  CHECK(converge::encode(true) == bytes({0x10, 0x00, 0x01}));
  CHECK(converge::decode<bool>(bytes({0x10, 0x00, 0x00})) == false);
  CHECK(decode_message<bool>(bytes({0x10, 0x00, 0x02})) ==
        "decode_error at byte 2: bool byte 2 is neither 0 nor 1");
  CHECK(converge::encode(1.0) == bytes({0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f}));
  CHECK(converge::encode(1.0f) == bytes({0x10, 0x00, 0x00, 0x00, 0x80, 0x3f}));
  CHECK(converge::decode<double>(converge::encode(-2.5e300)) == -2.5e300);
  CHECK(converge::decode<float>(converge::encode(0.1f)) == 0.1f);
}

TEST_CASE("strings and vectors") {
  CHECK(converge::encode(std::string("hi")) == bytes({0x10, 0x00, 0x02, 'h', 'i'}));
  CHECK(converge::decode<std::string>(converge::encode(std::string(1000, 'x'))) == std::string(1000, 'x'));
  const std::vector<std::string> v{"a", "", "bc"};
  CHECK(converge::decode<std::vector<std::string>>(converge::encode(v)) == v);
  const std::vector<std::uint32_t> w{1, 2, 300};
  CHECK(converge::decode<std::vector<std::uint32_t>>(converge::encode(w)) == w);
}

TEST_CASE("a declared length beyond the input is refused before allocating") {
  // string of length 4294967295 with 3 bytes behind it
  CHECK(decode_message<std::string>(bytes({0x10, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a', 'b', 'c'})) ==
        "decode_error at byte 2: declared length 4294967295 exceeds the 3 bytes that remain");
  // a vector of 2^63 strings
  CHECK(decode_message<std::vector<std::string>>(
            bytes({0x10, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00})) ==
        "decode_error at byte 2: declared length 9223372036854775808 exceeds the 1 bytes that remain");
  // a replica table of 2^32 entries
  CHECK(decode_message<converge::gcounter>(bytes({0x10, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00})) ==
        "decode_error at byte 1: declared length 4294967296 exceeds the 1 bytes that remain");
}

TEST_CASE("limits: string length, element budget, nesting depth") {
  const auto s = converge::encode(std::string(100, 'x'));
  CHECK(decode_message<std::string>(s, {.max_string_bytes = 99}) ==
        "decode_error at byte 2: string length 100 exceeds the limit of 99 bytes");
  CHECK(decode_message<std::string>(s, {.max_string_bytes = 100}) == "decoded");

  const auto v = converge::encode(std::vector<std::vector<std::uint8_t>>{{1, 2}, {3, 4, 5}});
  CHECK(decode_message<std::vector<std::vector<std::uint8_t>>>(v, {.max_elements = 6}) ==
        "decode_error at byte 6: element count 3 exceeds the limit of 6 elements per message");
  CHECK(decode_message<std::vector<std::vector<std::uint8_t>>>(v, {.max_elements = 7}) == "decoded");

  using deep = std::vector<std::vector<std::vector<std::uint8_t>>>;
  const auto d = converge::encode(deep{{{1}}});
  CHECK(decode_message<deep>(d, {.max_depth = 2}) == "decode_error at byte 4: nesting deeper than 2");
  CHECK(decode_message<deep>(d, {.max_depth = 3}) == "decoded");
}

TEST_CASE("format header: a newer major version is refused, a newer minor read") {
  CHECK(decode_message<std::uint64_t>(bytes({0x30, 0x00, 0x05})) ==
        "decode_error at byte 0: format major version 3 is newer than this decoder's 2");
  CHECK(decode_message<std::uint64_t>(bytes({0x00, 0x00, 0x05})) ==
        "decode_error at byte 0: format major version 0 is not one this decoder reads (1 to 2)");
  CHECK(decode_message<std::uint64_t>(bytes({})) == "decode_error at byte 0: empty input: no format header");
  CHECK(converge::decode<std::uint64_t>(bytes({0x1f, 0x00, 0x05})) == 5);
  CHECK(converge::decode<std::uint64_t>(bytes({0x20, 0x00, 0x05})) ==
        5);  // 2.0: values other than stores as in 1.0
}

TEST_CASE("trailing bytes are refused") {
  CHECK(decode_message<std::uint64_t>(bytes({0x10, 0x00, 0x05, 0x00})) ==
        "decode_error at byte 3: 1 trailing bytes after the value");
}

TEST_CASE("the replica table: ids once, indices in order of first use") {
  converge::gcounter g;
  g.increment(converge::replica_id{1000}, 2);
  g.increment(converge::replica_id{7}, 1);
  // table [7, 1000]; entries (index 0, 1), (index 1, 2)
  CHECK(converge::encode(g) == bytes({0x10, 0x02, 0x07, 0xe8, 0x07, 0x02, 0x00, 0x01, 0x01, 0x02}));
  CHECK(decode_message<converge::gcounter>(bytes({0x10, 0x02, 0x07, 0x07, 0x02, 0x00, 0x01, 0x01, 0x02})) ==
        "decode_error at byte 1: replica 7 appears twice in the replica table");
  CHECK(decode_message<converge::gcounter>(bytes({0x10, 0x02, 0x07, 0xe8, 0x07, 0x01, 0x00, 0x01})) ==
        "decode_error at byte 8: replica table holds 2 replicas but only 1 are used");
  CHECK(decode_message<converge::gcounter>(bytes({0x10, 0x01, 0x07, 0x01, 0x01, 0x01})) ==
        "decode_error at byte 4: replica index 1 is outside the replica table of 1");
  CHECK(decode_message<converge::gcounter>(
            bytes({0x10, 0x02, 0x07, 0xe8, 0x07, 0x02, 0x01, 0x01, 0x00, 0x02})) ==
        "decode_error at byte 6: replica index 1 used before index 0");
}

TEST_CASE("invalid states are refused as decode_error") {
  // gcounter with a zero count
  const auto msg = decode_message<converge::gcounter>(bytes({0x10, 0x01, 0x07, 0x01, 0x00, 0x00}));
  CHECK(msg.find("decode_error at byte 6: invalid state:") == 0);
}

TEST_CASE("a user's own lattice with a serialize function") {
  const max_register m{41};
  CHECK(converge::encode(m) == bytes({0x10, 0x00, 0x29}));
  CHECK(converge::decode<max_register>(converge::encode(m)) == m);
}
