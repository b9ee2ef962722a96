#pragma once
/// @file
/// The compact cereal archive pair of the wire format, its limits and its error.
///
/// Layout of what an `output_archive` produces (`finish()`), and what an
/// `input_archive` reads:
/// @code
///   frame   := replica_table payload
///   replica_table := varint(n) varint(id)^n      // ids in order of first use
///   payload := the values, cereal's order, with:
///     unsigned integer  -> LEB128 varint (canonical: shortest form only)
///     signed integer    -> zig-zag LEB128 varint
///     1-byte integer    -> the byte itself
///     bool              -> one byte, 0 or 1
///     float / double    -> IEEE 754, little-endian, 4 / 8 bytes
///     cereal::SizeTag   -> varint
///     cereal::BinaryData, std::string -> raw bytes (strings after a varint length)
///     replica_id        -> varint index into the replica table
/// @endcode
///
/// Reading is safe on hostile bytes: every read checks what remains; a length
/// or element count larger than the bytes that remain is refused before
/// anything is allocated; nesting depth, total elements and string length are
/// bounded by `decode_limits`. Every failure is a `converge::decode_error`
/// naming the byte offset.

#include "converge/replica_id.hpp"
#include "converge/wire/varint.hpp"

#include <cereal/cereal.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace converge {

/// Thrown by `decode` (and the wire input archive) on malformed input: says
/// what was wrong and at which byte offset.
class decode_error : public std::runtime_error {
 public:
  decode_error(std::size_t offset, const std::string& what)
      : std::runtime_error("decode_error at byte " + std::to_string(offset) + ": " + what), offset_(offset) {}

  /// The offset (from the start of the encoded data) where the problem was found.
  [[nodiscard]] std::size_t offset() const noexcept { return offset_; }

 private:
  std::size_t offset_;
};

/// Bounds on what a decoder accepts; the defaults suit messages of a few MiB.
struct decode_limits {
  std::size_t max_depth = 64;                           ///< nesting of class types
  std::size_t max_elements = std::size_t{1} << 24;      ///< sum of all element counts in one message
  std::size_t max_string_bytes = std::size_t{1} << 24;  ///< length of one string
};

namespace wire {

/// The wire format version, one byte: major in the high nibble, minor in the
/// low one. A decoder refuses a newer major; minors stay readable. This
/// decoder reads majors 1 (rows) and 2 (rows, and columns for large stores:
/// see types.hpp); the encoder writes 1.0 unless a store is large.
inline constexpr std::uint8_t format_major = 2;
inline constexpr std::uint8_t oldest_major = 1;
inline constexpr std::uint8_t format_minor = 0;
/// The header of a 1.0 frame: every value in rows.
inline constexpr std::byte format_header{0x10};
/// The header of a 2.0 frame: each dot store says whether it is in rows or columns.
inline constexpr std::byte columns_header{static_cast<unsigned char>((format_major << 4) | format_minor)};

namespace detail {

template <class T>
inline constexpr bool is_wire_integer = std::is_integral_v<T> && !std::is_same_v<T, bool>;

}  // namespace detail

/// The replica table an `output_archive` builds: ids in order of first use.
/// Most messages name one to three replicas, so the first `inline_size` ids
/// live in the archive itself and are found by a linear scan; past that the
/// table spills to a vector and a hash index.
class replica_table_builder {
 public:
  static constexpr std::size_t inline_size = 16;

  /// The index of `id`, assigning the next one on first use.
  std::uint64_t index_of(std::uint64_t id) {
    if (spilled_.empty()) {
      for (std::size_t i = 0; i < n_; ++i) {
        if (inline_[i] == id) return i;
      }
      if (n_ < inline_size) {
        inline_[n_] = id;
        return n_++;
      }
      spill();
    }
    const auto [it, fresh] = index_.try_emplace(id, spilled_.size());
    if (fresh) spilled_.push_back(id);
    return it->second;
  }

  [[nodiscard]] std::size_t size() const noexcept { return spilled_.empty() ? n_ : spilled_.size(); }
  [[nodiscard]] const std::uint64_t* data() const noexcept {
    return spilled_.empty() ? inline_ : spilled_.data();
  }

  /// The bytes the table takes on the wire: its size, then the ids, as varints.
  [[nodiscard]] std::size_t wire_size() const noexcept {
    const std::size_t n = size();
    const std::uint64_t* ids = data();
    std::size_t bytes = detail::varint_size(n);
    for (std::size_t i = 0; i < n; ++i) bytes += detail::varint_size(ids[i]);
    return bytes;
  }

  /// Forgets the ids assigned after the first `n` (to undo a tentative write).
  void truncate(std::size_t n) {
    if (spilled_.empty()) {
      n_ = std::min(n_, n);
      return;
    }
    while (spilled_.size() > n) {
      index_.erase(spilled_.back());
      spilled_.pop_back();
    }
    if (spilled_.empty()) clear();
  }

  void clear() noexcept {
    n_ = 0;
    spilled_.clear();
    index_.clear();
  }

 private:
  void spill() {
    spilled_.assign(inline_, inline_ + n_);
    index_.reserve(4 * inline_size);
    for (std::size_t i = 0; i < n_; ++i) index_.emplace(inline_[i], i);
  }

  std::uint64_t inline_[inline_size];
  std::size_t n_ = 0;
  std::vector<std::uint64_t> spilled_;                      // every id, once past inline_size
  std::unordered_map<std::uint64_t, std::uint64_t> index_;  // id -> index, once spilled
};

/// Writes values into a byte vector in the compact wire format.
///
/// The payload is written straight into the vector that `finish()` returns,
/// after `headroom` bytes kept free at its front; `finish()` writes the
/// replica table (and an optional prefix, such as the format header) at the
/// end of that headroom and slides the whole frame to the front. A frame is
/// thus built with one allocation in the common case and never copied to a
/// second vector.
class output_archive : public cereal::OutputArchive<output_archive, cereal::AllowEmptyClassElision> {
 public:
  /// Bytes kept in front of the payload: a header byte, a table size and
  /// three replica ids of any size fit.
  static constexpr std::size_t headroom = 32;
  static constexpr std::size_t initial_capacity = 96;

  output_archive() : cereal::OutputArchive<output_archive, cereal::AllowEmptyClassElision>(this) {}

  void write_byte(std::byte b) {
    ensure(1);
    buf_[pos_++] = b;
  }
  void write_bytes(const void* data, std::size_t n) {
    if (n == 0) return;
    ensure(n);
    std::memcpy(buf_.data() + pos_, data, n);
    pos_ += n;
  }
  void write_varint(std::uint64_t v) {
    ensure(detail::max_varint_bytes);
    pos_ = static_cast<std::size_t>(detail::put_varint(buf_.data() + pos_, v) - buf_.data());
  }

  /// Writes a replica as its index in the message's replica table.
  void write_replica(replica_id r) { write_varint(table_.index_of(r.value())); }
  /// The index of `r` in the message's replica table, assigning it on first use.
  [[nodiscard]] std::uint64_t replica_index(replica_id r) { return table_.index_of(r.value()); }

  /// Dot stores of at least this many entries are written in columns (and
  /// the frame is then a 2.0 frame); 0: every store in rows (a 1.0 frame).
  void set_columns_from(std::size_t n) noexcept { columns_from_ = n; }
  [[nodiscard]] std::size_t columns_from() const noexcept { return columns_from_; }
  /// True in a 2.0 frame, whose dot stores start with a layout byte.
  [[nodiscard]] bool columnar() const noexcept { return columns_from_ != 0; }

  /// A point to come back to with `rewind`: what was written and the replicas named.
  struct mark {
    std::size_t pos;
    std::size_t replicas;
  };
  [[nodiscard]] mark here() const noexcept { return {pos_, table_.size()}; }
  [[nodiscard]] std::size_t written_since(mark m) const noexcept { return pos_ - m.pos; }
  /// Forgets everything written since `m`.
  void rewind(mark m) {
    pos_ = m.pos;
    table_.truncate(m.replicas);
  }

  /// The frame: the replica table, then everything written. Leaves the archive empty.
  [[nodiscard]] std::vector<std::byte> finish() { return take(nullptr, 0); }

  /// `prefix` (`n` bytes), then the frame. Leaves the archive empty.
  [[nodiscard]] std::vector<std::byte> finish_after(const std::byte* prefix, std::size_t n) {
    return take(prefix, n);
  }

  /// The size `finish()` would return.
  [[nodiscard]] std::size_t frame_size() const noexcept { return table_.wire_size() + (pos_ - headroom); }

 private:
  void ensure(std::size_t n) {
    if (buf_.size() < pos_ + n) grow(n);
  }

  void grow(std::size_t n) {
    if (buf_.empty()) {
      buf_.resize(std::max(initial_capacity, headroom + n));
      return;
    }
    buf_.resize(std::max(buf_.size() * 2, pos_ + n));
  }

  std::vector<std::byte> take(const std::byte* prefix, std::size_t prefix_size) {
    const std::size_t front = prefix_size + table_.wire_size();
    if (buf_.empty()) grow(0);
    std::size_t start = 0;  // where the result begins in buf_
    if (front <= headroom) {
      start = headroom - front;
    } else {
      buf_.insert(buf_.begin(), front - headroom, std::byte{0});  // a table too large for the headroom
      pos_ += front - headroom;
    }
    std::byte* p = buf_.data() + start;
    if (prefix_size != 0) std::memcpy(p, prefix, prefix_size);
    p += prefix_size;
    p = detail::put_varint(p, table_.size());
    const std::uint64_t* ids = table_.data();
    for (std::size_t i = 0, n = table_.size(); i < n; ++i) p = detail::put_varint(p, ids[i]);
    buf_.resize(pos_);
    if (start != 0) buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start));
    // Large frames grown by doubling may hold much slack: give it back.
    if (buf_.capacity() - buf_.size() > 4096 && buf_.capacity() - buf_.size() > buf_.size() / 4)
      buf_.shrink_to_fit();
    std::vector<std::byte> out = std::move(buf_);
    buf_ = {};
    pos_ = headroom;
    table_.clear();
    return out;
  }

  std::vector<std::byte>
      buf_;  // [0, headroom) free, then the payload up to pos_; size() is the capacity in use
  std::size_t pos_ = headroom;
  replica_table_builder table_;
  std::size_t columns_from_ = 0;
};

/// Reads values written by `output_archive`, refusing anything malformed
/// with `converge::decode_error`.
class input_archive : public cereal::InputArchive<input_archive, cereal::AllowEmptyClassElision> {
 public:
  /// Reads a frame from `bytes`; `base_offset` is where `bytes` starts in the
  /// whole message (for error messages). Reads the replica table at once.
  explicit input_archive(std::span<const std::byte> bytes, const decode_limits& limits = {},
                         std::size_t base_offset = 0)
      : cereal::InputArchive<input_archive, cereal::AllowEmptyClassElision>(this),
        bytes_(bytes),
        limits_(limits),
        base_(base_offset) {
    const std::size_t start = offset();
    const std::size_t n = read_size();
    table_size_ = n;
    if (n <= inline_table) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t id = read_varint();
        for (std::size_t j = 0; j < i; ++j) {
          if (inline_[j] == id)
            fail_at(start, "replica " + std::to_string(id) + " appears twice in the replica table");
        }
        inline_[i] = id;
      }
      return;
    }
    spilled_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) spilled_.push_back(read_varint());
    std::vector<std::uint64_t> sorted = spilled_;
    std::sort(sorted.begin(), sorted.end());
    if (const auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
      fail_at(start, "replica " + std::to_string(*dup) + " appears twice in the replica table");
    }
  }

  /// Offset of the next byte to read, from the start of the whole message.
  [[nodiscard]] std::size_t offset() const noexcept { return base_ + pos_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  [[nodiscard]] const decode_limits& limits() const noexcept { return limits_; }

  /// Throws `decode_error` at the current offset.
  [[noreturn]] void fail(const std::string& what) const { throw decode_error(offset(), what); }
  [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
    throw decode_error(offset, what);
  }

  [[nodiscard]] std::byte read_byte() {
    need(1);
    return bytes_[pos_++];
  }

  void read_bytes(void* out, std::size_t n) {
    need(n);
    if (n != 0) std::memcpy(out, bytes_.data() + pos_, n);
    pos_ += n;
  }

  /// Reads a canonical LEB128 varint of at most 64 bits.
  [[nodiscard]] std::uint64_t read_varint() {
    if (pos_ < bytes_.size()) {  // fast path: a one-byte varint (always canonical)
      const auto b = std::to_integer<std::uint8_t>(bytes_[pos_]);
      if (b < 0x80) {
        ++pos_;
        return b;
      }
    }
    return read_long_varint();
  }

 private:
  [[nodiscard]] std::uint64_t read_long_varint() {
    const std::size_t start = offset();
    detail::varint_error error = detail::varint_error::none;
    const std::uint64_t v = detail::read_varint(bytes_, pos_, error);
    if (error == detail::varint_error::truncated) fail(detail::describe(error));
    if (error != detail::varint_error::none) fail_at(start, detail::describe(error));
    return v;
  }

 public:
  /// Reads an element count (or length) and checks it against what remains
  /// (each element takes at least one byte) and the element budget, before
  /// the caller allocates anything.
  [[nodiscard]] std::size_t read_size() {
    const std::size_t start = offset();
    const std::uint64_t n = read_varint();
    if (n <= remaining() && n <= limits_.max_elements - elements_) [[likely]] {
      elements_ += static_cast<std::size_t>(n);
      return static_cast<std::size_t>(n);
    }
    refuse_size(start, n);
  }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void refuse_size(std::size_t start, std::uint64_t n) const {
    if (n > remaining()) {
      fail_at(start, "declared length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                         " bytes that remain");
    }
    if (n > limits_.max_elements - elements_) {
      fail_at(start, "element count " + std::to_string(n) + " exceeds the limit of " +
                         std::to_string(limits_.max_elements) + " elements per message");
    }
    fail_at(start, "unreachable size refusal");
  }

 public:
  /// Reads a string length: checked as `read_size` and against `max_string_bytes`.
  [[nodiscard]] std::size_t read_string_size() {
    const std::size_t start = offset();
    const std::uint64_t n = read_varint();
    if (n > remaining()) {
      fail_at(start, "declared length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                         " bytes that remain");
    }
    if (n > limits_.max_string_bytes) {
      fail_at(start, "string length " + std::to_string(n) + " exceeds the limit of " +
                         std::to_string(limits_.max_string_bytes) + " bytes");
    }
    return static_cast<std::size_t>(n);
  }

  /// Reads a replica index and returns the replica it names. Indices must
  /// appear in order of first use (as the encoder assigns them).
  [[nodiscard]] replica_id read_replica() {
    const std::size_t start = offset();
    return replica_at(read_varint(), start);
  }

  /// The replica of table index `i`, read at `start` (from a column): checked as `read_replica`.
  [[nodiscard]] replica_id replica_at(std::uint64_t i, std::size_t start) {
    if (i >= table_size_) {
      fail_at(start, "replica index " + std::to_string(i) + " is outside the replica table of " +
                         std::to_string(table_size_));
    }
    if (i > used_)
      fail_at(start, "replica index " + std::to_string(i) + " used before index " + std::to_string(used_));
    if (i == used_) ++used_;
    const auto k = static_cast<std::size_t>(i);
    return replica_id{table_size_ <= inline_table ? inline_[k] : spilled_[k]};
  }

  /// The next `n` bytes as a view (for columns), checked against what remains.
  [[nodiscard]] std::span<const std::byte> read_view(std::size_t n) {
    need(n);
    const auto v = bytes_.subspan(pos_, n);
    pos_ += n;
    return v;
  }

  /// Set for a 2.0 frame, whose dot stores start with a layout byte.
  void set_columnar(bool on) noexcept { columnar_ = on; }
  [[nodiscard]] bool columnar() const noexcept { return columnar_; }

  /// Called around every class type: bounds nesting.
  void enter() {
    if (++depth_ > limits_.max_depth) [[unlikely]]
      refuse_depth();
  }
  [[noreturn, gnu::cold, gnu::noinline]] void refuse_depth() const {
    fail("nesting deeper than " + std::to_string(limits_.max_depth));
  }
  void leave() noexcept { --depth_; }

  /// Checks that everything was read: no trailing bytes, every replica used.
  void finish() const {
    if (remaining() != 0) fail(std::to_string(remaining()) + " trailing bytes after the value");
    if (used_ != table_size_) {
      fail("replica table holds " + std::to_string(table_size_) + " replicas but only " +
           std::to_string(used_) + " are used");
    }
  }

 private:
  void need(std::size_t n) const {
    if (n > remaining()) {
      fail("needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) + " remain");
    }
  }

  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  decode_limits limits_;
  std::size_t base_;
  std::size_t depth_ = 0;
  std::size_t elements_ = 0;
  // The replica table: inline when small (the common case), else in `spilled_`.
  static constexpr std::size_t inline_table = 16;
  std::size_t table_size_ = 0;
  std::uint64_t inline_[inline_table];
  std::vector<std::uint64_t> spilled_;
  std::size_t used_ = 0;
  bool columnar_ = false;
};

namespace detail {

template <class T>
struct is_cereal_wrapper : std::false_type {};
template <class T>
struct is_cereal_wrapper<cereal::NameValuePair<T>> : std::true_type {};
template <class T>
struct is_cereal_wrapper<cereal::SizeTag<T>> : std::true_type {};
template <class T>
struct is_cereal_wrapper<cereal::BinaryData<T>> : std::true_type {};

template <class T>
inline constexpr bool counts_depth = std::is_class_v<T> && !is_cereal_wrapper<std::remove_cv_t<T>>::value;

}  // namespace detail

// Prologue / epilogue: nothing is written; reading counts nesting depth.
template <class T>
void prologue(output_archive&, const T&) {}
template <class T>
void epilogue(output_archive&, const T&) {}
template <class T>
void prologue(input_archive& ar, const T&) {
  if constexpr (detail::counts_depth<T>) ar.enter();
}
template <class T>
void epilogue(input_archive& ar, const T&) {
  if constexpr (detail::counts_depth<T>) ar.leave();
}

// Arithmetic types.
template <class T>
requires std::is_arithmetic_v<T>
void CEREAL_SAVE_FUNCTION_NAME(output_archive& ar, const T& t) {
  if constexpr (std::is_same_v<T, bool>) {
    ar.write_byte(t ? std::byte{1} : std::byte{0});
  } else if constexpr (std::is_floating_point_v<T>) {
    static_assert(std::numeric_limits<T>::is_iec559 && (sizeof(T) == 4 || sizeof(T) == 8),
                  "converge::wire: only IEEE 754 float and double are supported");
    using bits_t = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    auto bits = std::bit_cast<bits_t>(t);
    for (std::size_t i = 0; i < sizeof(T); ++i, bits >>= 8)
      ar.write_byte(static_cast<std::byte>(bits & 0xff));
  } else if constexpr (sizeof(T) == 1) {
    ar.write_byte(static_cast<std::byte>(t));
  } else if constexpr (std::is_signed_v<T>) {
    ar.write_varint(detail::zigzag(static_cast<std::int64_t>(t)));
  } else {
    ar.write_varint(static_cast<std::uint64_t>(t));
  }
}

template <class T>
requires std::is_arithmetic_v<T>
void CEREAL_LOAD_FUNCTION_NAME(input_archive& ar, T& t) {
  if constexpr (std::is_same_v<T, bool>) {
    const std::size_t at = ar.offset();
    const auto b = std::to_integer<std::uint8_t>(ar.read_byte());
    if (b > 1) ar.fail_at(at, "bool byte " + std::to_string(b) + " is neither 0 nor 1");
    t = b == 1;
  } else if constexpr (std::is_floating_point_v<T>) {
    using bits_t = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    const std::size_t at = ar.offset();
    bits_t bits = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      bits |= static_cast<bits_t>(std::to_integer<std::uint8_t>(ar.read_byte())) << (8 * i);
    }
    t = std::bit_cast<T>(bits);
    // NaN is not equal to itself, so no lattice can hold it (join laws fail).
    if (t != t) ar.fail_at(at, "NaN cannot be held by a lattice");
  } else if constexpr (sizeof(T) == 1) {
    t = static_cast<T>(std::to_integer<std::uint8_t>(ar.read_byte()));
  } else if constexpr (std::is_signed_v<T>) {
    const std::size_t at = ar.offset();
    const std::int64_t v = detail::unzigzag(ar.read_varint());
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
      ar.fail_at(at,
                 "integer " + std::to_string(v) + " does not fit in " + std::to_string(sizeof(T)) + " bytes");
    }
    t = static_cast<T>(v);
  } else {
    const std::size_t at = ar.offset();
    const std::uint64_t v = ar.read_varint();
    if (v > std::numeric_limits<T>::max()) {
      ar.fail_at(at,
                 "integer " + std::to_string(v) + " does not fit in " + std::to_string(sizeof(T)) + " bytes");
    }
    t = static_cast<T>(v);
  }
}

// Names are not written: the format is positional.
template <class Archive, class T>
requires std::is_same_v<Archive, output_archive> || std::is_same_v<Archive, input_archive>
void CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, cereal::NameValuePair<T>& t) { ar(t.value); }

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(output_archive& ar, const cereal::SizeTag<T>& t) {
  ar.write_varint(static_cast<std::uint64_t>(t.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(input_archive& ar, cereal::SizeTag<T>& t) {
  using size_type = std::remove_cvref_t<T>;
  const std::size_t n = ar.read_size();
  if constexpr (sizeof(size_type) < sizeof(std::size_t)) {
    if (n > std::numeric_limits<size_type>::max()) ar.fail("element count does not fit its size type");
  }
  t.size = static_cast<size_type>(n);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(output_archive& ar, const cereal::BinaryData<T>& bd) {
  ar.write_bytes(bd.data, static_cast<std::size_t>(bd.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(input_archive& ar, cereal::BinaryData<T>& bd) {
  ar.read_bytes(bd.data, static_cast<std::size_t>(bd.size));
}

// Strings: a varint length, then the bytes; the length is checked against
// `max_string_bytes` and the bytes that remain before allocating.
template <class Traits, class Alloc>
void CEREAL_SAVE_FUNCTION_NAME(output_archive& ar, const std::basic_string<char, Traits, Alloc>& s) {
  ar.write_varint(s.size());
  ar.write_bytes(s.data(), s.size());
}
template <class Traits, class Alloc>
void CEREAL_LOAD_FUNCTION_NAME(input_archive& ar, std::basic_string<char, Traits, Alloc>& s) {
  const std::size_t n = ar.read_string_size();
  s.resize(n);
  ar.read_bytes(s.data(), n);
}

}  // namespace wire
}  // namespace converge

CEREAL_REGISTER_ARCHIVE(converge::wire::output_archive)
CEREAL_REGISTER_ARCHIVE(converge::wire::input_archive)
CEREAL_SETUP_ARCHIVE_TRAITS(converge::wire::input_archive, converge::wire::output_archive)
