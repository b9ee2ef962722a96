#pragma once
/// @file
/// The columns of the wire format 2 (see types.hpp for the stores that use
/// them): runs of unsigned integers and front-coded strings.
///
/// Every column is written as a varint byte length, then its bytes, so a
/// reader is bounded by its own column:
/// @code
///   column  := varint(bytes) bytes
///   runs    := block*       a column of unsigned integers (its count known from elsewhere)
///   block   := varint(n << 1) varint(v)        n >= 1 copies of v
///            | varint(n << 1 | 1) varint(v)^n  n >= 1 values as they are
///   strings := flags varint(total) [prefixes] suffix_lengths text
///     flags bit 0: front coded: `prefixes` is present, a runs column of how many
///                  leading bytes a string shares with the previous one
///     flags bit 1: `text` is a Huffman block (huffman.hpp), else the raw bytes
///     total        the bytes of all suffixes together (the text's decoded size)
///     suffix_lengths  a runs column: the bytes each string adds after its prefix
///     text         a column: the suffixes, concatenated
/// @endcode
/// The writer chooses deterministically: front coding when the strings
/// share at least one byte each on average, Huffman when its block is
/// smaller than the raw text.
///
/// Readers refuse anything that does not add up: a column longer than the
/// bytes that remain, a run past the values it must give, values left over,
/// a prefix longer than the previous string, suffixes past `total`, a string
/// longer than `max_string_bytes`, and strings rebuilt from prefixes whose
/// size exceeds `max_expansion` times the column's bytes (a few bytes of
/// prefixes must not make gigabytes of strings).

#include "converge/wire/archive.hpp"
#include "converge/wire/huffman.hpp"
#include "converge/wire/varint.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace converge::wire::columns {

/// Strings rebuilt from one string column may total at most this many times its bytes.
inline constexpr std::size_t max_expansion = 32;
inline constexpr std::size_t max_varint = converge::wire::detail::max_varint_bytes;

/// Appends `v` as a varint.
inline void put(std::vector<std::byte>& out, std::uint64_t v) { converge::wire::detail::put_varint(out, v); }

/// Appends `column` with its byte length in front.
inline void put_column(std::vector<std::byte>& out, std::span<const std::byte> column) {
  put(out, column.size());
  out.insert(out.end(), column.begin(), column.end());
}

/// Builds a runs column: equal neighbours of three or more become one run,
/// everything else goes into literal blocks.
class runs_writer {
 public:
  void push(std::uint64_t v) { values_.push_back(v); }

  /// The column's bytes (without its length).
  [[nodiscard]] std::vector<std::byte> finish() const {
    std::vector<std::byte> out;
    const std::size_t n = values_.size();
    std::size_t literal_from = 0;
    const auto flush_literals = [&](std::size_t end) {
      if (end == literal_from) return;
      put(out, ((end - literal_from) << 1) | 1);
      for (std::size_t i = literal_from; i < end; ++i) put(out, values_[i]);
    };
    for (std::size_t i = 0; i < n;) {
      std::size_t j = i + 1;
      while (j < n && values_[j] == values_[i]) ++j;
      if (j - i >= 3) {
        flush_literals(i);
        put(out, (j - i) << 1);
        put(out, values_[i]);
        literal_from = j;
      }
      i = j;
    }
    flush_literals(n);
    return out;
  }

 private:
  std::vector<std::uint64_t> values_;
};

/// Reads a column's bytes: a bounded view that throws `decode_error` with
/// offsets in the whole message.
class reader {
 public:
  reader() = default;
  reader(std::span<const std::byte> bytes, std::size_t base) : bytes_(bytes), base_(base) {}

  [[nodiscard]] std::size_t offset() const noexcept { return base_ + pos_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  [[noreturn]] void fail(const std::string& what) const { throw decode_error(offset(), what); }

  [[nodiscard]] std::uint64_t varint() {
    converge::wire::detail::varint_error e = converge::wire::detail::varint_error::none;
    const std::uint64_t v = converge::wire::detail::read_varint(bytes_, pos_, e);
    if (e != converge::wire::detail::varint_error::none) fail(converge::wire::detail::describe(e));
    return v;
  }
  [[nodiscard]] std::uint8_t byte() {
    if (remaining() == 0) fail("column truncated");
    return std::to_integer<std::uint8_t>(bytes_[pos_++]);
  }
  /// The next `n` bytes, as a view.
  [[nodiscard]] std::span<const std::byte> take(std::size_t n) {
    if (n > remaining())
      fail("needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) + " remain");
    const auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  /// A nested column: its varint length, then that many bytes.
  [[nodiscard]] reader column() {
    const std::uint64_t n = varint();
    if (n > remaining())
      fail("column of " + std::to_string(n) + " bytes exceeds the " + std::to_string(remaining()) +
           " that remain");
    const std::size_t at = offset();
    return reader(take(static_cast<std::size_t>(n)), at);
  }
  void expect_end(const char* what) const {
    if (remaining() != 0) fail(std::to_string(remaining()) + " bytes left over in the " + what + " column");
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  std::size_t base_ = 0;
};

/// Reads a runs column value by value; holds no memory beyond the column.
class runs_reader {
 public:
  runs_reader() = default;
  explicit runs_reader(reader r) : r_(r) {}

  [[nodiscard]] std::uint64_t next() {
    if (left_ == 0) {
      const std::uint64_t h = r_.varint();
      left_ = h >> 1;
      literal_ = (h & 1) != 0;
      if (left_ == 0) r_.fail("empty run");
      if (!literal_) value_ = r_.varint();
    }
    --left_;
    return literal_ ? r_.varint() : value_;
  }

  /// Checks that every value was read and nothing follows.
  void finish(const char* what) const {
    if (left_ != 0) r_.fail(std::string("values left over in the ") + what + " column");
    r_.expect_end(what);
  }

 private:
  reader r_;
  std::uint64_t left_ = 0;
  std::uint64_t value_ = 0;
  bool literal_ = false;
};

/// Builds a strings column from strings pushed in order; the views must
/// outlive `finish`.
class strings_writer {
 public:
  void push(std::string_view s) { strings_.push_back(s); }

  [[nodiscard]] std::vector<std::byte> finish() const {
    std::vector<std::byte> out = build(shares_enough());
    std::uint64_t all = 0;
    for (const auto s : strings_) all += s.size();
    // Readers refuse strings that expand too far: such text is written without prefixes.
    if (all > max_expansion * out.size()) out = build(false);
    return out;
  }

 private:
  static std::size_t shared(std::string_view a, std::string_view b) {
    std::size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    return n;
  }

  [[nodiscard]] bool shares_enough() const {
    std::uint64_t sum = 0;
    for (std::size_t i = 1; i < strings_.size(); ++i) sum += shared(strings_[i - 1], strings_[i]);
    return !strings_.empty() && sum >= strings_.size();
  }

  [[nodiscard]] std::vector<std::byte> build(bool front) const {
    runs_writer prefixes, suffixes;
    std::vector<std::uint8_t> text;
    std::size_t all = 0;
    for (const auto s : strings_) all += s.size();
    text.reserve(all);
    for (std::size_t i = 0; i < strings_.size(); ++i) {
      const std::string_view s = strings_[i];
      const std::size_t p = front && i > 0 ? shared(strings_[i - 1], s) : 0;
      if (front) prefixes.push(p);
      suffixes.push(s.size() - p);
      const auto* d = reinterpret_cast<const std::uint8_t*>(s.data());
      text.insert(text.end(), d + p, d + s.size());
    }
    const huffman::frequencies freq = huffman::count(text);
    const huffman::lengths lengths = huffman::code_lengths(freq);
    const bool coded = !text.empty() && huffman::encoded_size(freq, lengths) < text.size();
    std::vector<std::byte> out;
    out.push_back(std::byte{static_cast<unsigned char>((front ? 1U : 0U) | (coded ? 2U : 0U))});
    put(out, text.size());
    if (front) put_column(out, prefixes.finish());
    put_column(out, suffixes.finish());
    if (coded) {  // its size is known: coded in place, after its length
      const std::size_t size = huffman::encoded_size(freq, lengths);
      out.reserve(out.size() + max_varint + size);
      put(out, size);
      huffman::encode(out, text, lengths);
    } else {
      put_column(out, std::as_bytes(std::span(text)));
    }
    return out;
  }

  std::vector<std::string_view> strings_;
};

/// Reads `count` strings from a strings column, one by one.
class strings_reader {
 public:
  strings_reader(reader r, std::size_t count, std::size_t max_string_bytes)
      : budget_(max_expansion * r.remaining()), max_string_(max_string_bytes), count_(count) {
    const std::uint8_t flags = r.byte();
    if (flags > 3) r.fail("unknown strings column flags");
    front_ = (flags & 1) != 0;
    const std::uint64_t total = r.varint();
    if (total > budget_) r.fail("strings column text is larger than its bytes justify");
    if (front_) prefixes_ = runs_reader(r.column());
    suffixes_ = runs_reader(r.column());
    reader text = r.column();
    r.expect_end("strings");
    if ((flags & 2) != 0) {
      // Each symbol takes a bit at least: a larger count is refused before allocating.
      if (total > 8 * text.remaining()) text.fail("huffman text declares more bytes than its bits hold");
      const std::size_t at = text.offset();
      huffman::decode(text.take(text.remaining()), static_cast<std::size_t>(total), at, text_);
    } else {
      if (total != text.remaining()) text.fail("raw text size differs from the declared total");
      const auto raw = text.take(text.remaining());
      text_.resize(raw.size());
      if (!raw.empty()) std::memcpy(text_.data(), raw.data(), raw.size());
    }
    text_at_ = text;
  }

  /// The next string.
  [[nodiscard]] std::string next() {
    const std::uint64_t p = front_ ? prefixes_.next() : 0;
    const std::uint64_t s = suffixes_.next();
    if (p > previous_.size()) text_at_.fail("string prefix longer than the previous string");
    if (s > text_.size() - used_) text_at_.fail("string suffixes run past the column's text");
    if (p + s > max_string_) {
      text_at_.fail("string length " + std::to_string(p + s) + " exceeds the limit of " +
                    std::to_string(max_string_) + " bytes");
    }
    if (p + s > budget_) text_at_.fail("strings rebuilt from prefixes exceed the column's budget");
    budget_ -= p + s;
    std::string out;
    out.reserve(static_cast<std::size_t>(p + s));
    out.append(previous_, 0, static_cast<std::size_t>(p));
    out.append(reinterpret_cast<const char*>(text_.data()) + used_, static_cast<std::size_t>(s));
    used_ += static_cast<std::size_t>(s);
    if (front_) previous_ = out;
    --count_;
    return out;
  }

  /// Checks that every string was read and all text used.
  void finish() const {
    if (count_ != 0) text_at_.fail("strings left unread");
    if (front_) prefixes_.finish("prefixes");
    suffixes_.finish("suffix lengths");
    if (used_ != text_.size()) text_at_.fail("text left over in the strings column");
  }

 private:
  std::uint64_t budget_;
  std::size_t max_string_;
  std::size_t count_;
  bool front_ = false;
  runs_reader prefixes_, suffixes_;
  std::vector<std::uint8_t> text_;
  std::size_t used_ = 0;
  std::string previous_;
  reader text_at_;  // for error offsets
};

}  // namespace converge::wire::columns
