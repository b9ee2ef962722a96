// The columns of format 2: the canonical Huffman code, runs and strings
// columns, and their refusals of malformed input.
#include "converge/wire/columns.hpp"

#include "converge/wire/huffman.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "support/random.hpp"

namespace {

namespace huffman = converge::wire::huffman;
namespace columns = converge::wire::columns;
using bytes_t = std::vector<std::byte>;

bytes_t encode_block(const std::vector<std::uint8_t>& data) {
  const auto lengths = huffman::code_lengths(huffman::count(data));
  bytes_t out;
  huffman::encode(out, data, lengths);
  CHECK(out.size() == huffman::encoded_size(huffman::count(data), lengths));
  return out;
}

std::vector<std::uint8_t> decode_block(const bytes_t& block, std::size_t n) {
  std::vector<std::uint8_t> out;
  huffman::decode(block, n, 0, out);
  return out;
}

void check_block(const std::vector<std::uint8_t>& data) {
  const bytes_t block = encode_block(data);
  CHECK(decode_block(block, data.size()) == data);
  // One symbol more than the stream holds, or a byte short, is refused.
  CHECK_THROWS_AS(decode_block(block, data.size() + 8), converge::decode_error);
  CHECK_THROWS_AS(decode_block(bytes_t(block.begin(), block.end() - 1), data.size()), converge::decode_error);
}

/// A table of the given lengths for symbols 0, 1, ..., then `bits`.
bytes_t table_of(const std::vector<unsigned>& lengths, const bytes_t& bits) {
  bytes_t out(huffman::bitmap_bytes);
  for (std::size_t s = 0; s < lengths.size(); ++s)
    out[s / 8] |= std::byte{static_cast<unsigned char>(1U << (s % 8))};
  for (std::size_t i = 0; i < lengths.size(); i += 2) {
    const unsigned hi = i + 1 < lengths.size() ? lengths[i + 1] : 0;
    out.push_back(static_cast<std::byte>(lengths[i] | (hi << 4)));
  }
  out.insert(out.end(), bits.begin(), bits.end());
  return out;
}

}  // namespace

TEST_CASE("huffman: empty, one symbol, every symbol, skewed") {
  // Empty data has no code; it is never coded (the strings column keeps it raw).
  CHECK(huffman::code_lengths(huffman::count({})) == huffman::lengths{});
  // One symbol: one bit each.
  const std::vector<std::uint8_t> one(100, 'x');
  const auto l = huffman::code_lengths(huffman::count(one));
  CHECK(l['x'] == 1);
  check_block(one);
  // Every byte value, evenly: 8 bits each.
  std::vector<std::uint8_t> all;
  for (int rep = 0; rep < 3; ++rep) {
    for (unsigned s = 0; s < 256; ++s) all.push_back(static_cast<std::uint8_t>(s));
  }
  for (const auto n : huffman::code_lengths(huffman::count(all))) CHECK(n == 8);
  check_block(all);
  // Hex digits: 4 bits each.
  std::vector<std::uint8_t> hex;
  for (int i = 0; i < 160; ++i) hex.push_back(static_cast<std::uint8_t>("0123456789abcdef"[i % 16]));
  CHECK(encode_block(hex).size() == huffman::bitmap_bytes + 8 + 80);
  check_block(hex);
  // Fibonacci frequencies would make codes of 40 bits: limited to 15, still decodable.
  std::vector<std::uint8_t> skewed;
  std::uint64_t f0 = 1, f1 = 1;
  for (unsigned s = 0; s < 40; ++s) {
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(f0, 200000); ++i)
      skewed.push_back(static_cast<std::uint8_t>(s));
    f0 = std::exchange(f1, f0 + f1);
  }
  const auto sl = huffman::code_lengths(huffman::count(skewed));
  for (const auto n : sl) CHECK(n <= huffman::max_bits);
  check_block(skewed);
}

TEST_CASE("huffman: random data round-trips") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("huffman random");
  for (int c = 0; c < test::cases(200); ++c) {
    std::vector<std::uint8_t> data(1 + rng.below(2000));
    const std::uint64_t alphabet = 1 + rng.below(256);
    for (auto& x : data) x = static_cast<std::uint8_t>(rng.below(1 + rng.below(alphabet)));
    check_block(data);
  }
}

TEST_CASE("huffman: invalid tables and streams are refused") {
  const auto refused = [](const bytes_t& block, std::size_t n) {
    std::vector<std::uint8_t> out;
    try {
      huffman::decode(block, n, 0, out);
    } catch (const converge::decode_error&) {
      return true;
    }
    return false;
  };
  CHECK_FALSE(refused(table_of({1, 1}, {std::byte{0x40}}), 2));       // "0" then "1"
  CHECK(refused(table_of({1, 1, 1}, {std::byte{0}}), 1));             // over-subscribed
  CHECK(refused(table_of({1, 2}, {std::byte{0}}), 1));                // incomplete: "11" names nothing
  CHECK(refused(table_of({2}, {std::byte{0}}), 1));                   // a lone symbol takes one bit
  CHECK(refused(table_of({1, 0}, {std::byte{0}}), 1));                // a present symbol without a length
  CHECK(refused(bytes_t(huffman::bitmap_bytes), 0));                  // no symbol at all
  CHECK(refused(bytes_t(10), 1));                                     // truncated table
  CHECK(refused(table_of({1, 1}, {}), 1));                            // no bits
  CHECK(refused(table_of({1, 1}, {std::byte{0}, std::byte{0}}), 8));  // a byte left over
  CHECK(refused(table_of({1}, {std::byte{0x80}}), 1));                // the lone symbol's unused code
}

TEST_CASE("runs: runs and literals round-trip; malformed columns are refused") {
  CAPTURE(test::seed());
  auto rng = test::rng_for("runs");
  for (int c = 0; c < test::cases(200); ++c) {
    std::vector<std::uint64_t> values(rng.below(300));
    for (auto& v : values) v = rng.below(3) == 0 ? rng.below(1ULL << 40) : rng.below(3);
    columns::runs_writer w;
    for (const auto v : values) w.push(v);
    const bytes_t col = w.finish();
    columns::runs_reader r(columns::reader(col, 0));
    for (const auto v : values) REQUIRE(r.next() == v);
    r.finish("test");
  }
  columns::runs_writer w;
  for (int i = 0; i < 1000; ++i) w.push(5);
  CHECK(w.finish().size() == 3);  // one run
  const bytes_t empty_run = {std::byte{0}, std::byte{5}};
  columns::runs_reader bad(columns::reader(empty_run, 0));
  CHECK_THROWS_AS((void)bad.next(), converge::decode_error);
  const bytes_t short_literal = {std::byte{5}, std::byte{1}};  // two literals, one given
  columns::runs_reader sl(columns::reader(short_literal, 0));
  CHECK(sl.next() == 1);
  CHECK_THROWS_AS((void)sl.next(), converge::decode_error);
  const bytes_t run = {std::byte{6}, std::byte{1}};  // three 1s
  columns::runs_reader left(columns::reader(run, 0));
  CHECK(left.next() == 1);
  CHECK_THROWS_AS(left.finish("test"), converge::decode_error);
}

TEST_CASE("strings: front coding and Huffman round-trip; expansion is bounded") {
  const auto round_trip = [](const std::vector<std::string>& strings) {
    columns::strings_writer w;
    for (const auto& s : strings) w.push(s);
    const bytes_t col = w.finish();
    columns::strings_reader r(columns::reader(col, 0), strings.size(), 1U << 24);
    for (const auto& s : strings) REQUIRE(r.next() == s);
    r.finish();
    return col;
  };
  CHECK(round_trip({}).size() == 4);  // flags, total, empty suffix lengths and text columns
  round_trip({"", "", "a", ""});
  std::vector<std::string> sorted;
  for (int i = 0; i < 500; ++i) sorted.push_back("prefix/" + std::to_string(100000 + i));
  const bytes_t col = round_trip(sorted);
  CHECK(std::to_integer<unsigned>(col[0]) == 3);  // front coded and Huffman coded
  CHECK(col.size() < 500 * 3);
  // A long string repeated by prefixes would expand past the budget: written without them.
  std::vector<std::string> repeated(200, std::string(1000, 'z'));
  const bytes_t rep = round_trip(repeated);
  CHECK((std::to_integer<unsigned>(rep[0]) & 1U) == 0);
  // A hostile column: a prefix longer than the previous string.
  columns::runs_writer prefixes, suffixes;
  prefixes.push(0);
  prefixes.push(5);
  suffixes.push(1);
  suffixes.push(0);
  bytes_t evil = {std::byte{1}, std::byte{1}};
  columns::put_column(evil, prefixes.finish());
  columns::put_column(evil, suffixes.finish());
  columns::put_column(evil, bytes_t{std::byte{'a'}});
  columns::strings_reader r(columns::reader(evil, 0), 2, 1U << 24);
  CHECK(r.next() == "a");
  CHECK_THROWS_AS((void)r.next(), converge::decode_error);
}
