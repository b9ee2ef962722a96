#pragma once
/// @file
/// LEB128 varints, the one encoding of integers and lengths on the wire (the
/// archive's values, the replicator's envelope): written in one place and
/// read in one place, canonical only.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace converge::wire::detail {

inline constexpr std::uint64_t zigzag(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ (v < 0 ? ~std::uint64_t{0} : std::uint64_t{0});
}
inline constexpr std::int64_t unzigzag(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

/// The most bytes a 64-bit varint takes.
inline constexpr std::size_t max_varint_bytes = 10;

/// Writes `v` at `p` (room for `max_varint_bytes` is the caller's job);
/// returns the byte after it.
inline std::byte* put_varint(std::byte* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<std::byte>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::byte>(v);
  return p;
}

/// Appends `v` as an LEB128 varint.
inline void put_varint(std::vector<std::byte>& out, std::uint64_t v) {
  std::byte tmp[max_varint_bytes];
  std::byte* end = put_varint(tmp, v);
  out.insert(out.end(), tmp, end);
}

/// The number of bytes `put_varint(v)` writes.
[[nodiscard]] inline constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

/// Why a varint could not be read.
enum class varint_error : std::uint8_t {
  none,
  truncated,  ///< the bytes ended inside it
  too_long,   ///< more than 10 bytes
  overflow,   ///< the 10th byte carries bits past 64
  overlong,   ///< not the shortest form (a trailing zero byte)
};

/// A readable name of `e`, for error messages.
[[nodiscard]] inline constexpr const char* describe(varint_error e) noexcept {
  switch (e) {
    case varint_error::none:
      return "no error";
    case varint_error::truncated:
      return "varint truncated: no bytes remain";
    case varint_error::too_long:
      return "varint longer than 10 bytes";
    case varint_error::overflow:
      return "varint overflows 64 bits";
    case varint_error::overlong:
      return "non-canonical (overlong) varint";
  }
  return "bad varint";
}

/// Reads a canonical varint at `bytes[pos]`, advancing `pos` past what it
/// consumed. On failure sets `error` (left untouched on success) and returns 0.
[[nodiscard]] inline std::uint64_t read_varint(std::span<const std::byte> bytes, std::size_t& pos,
                                               varint_error& error) noexcept {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < max_varint_bytes; ++i) {
    if (pos >= bytes.size()) {
      error = varint_error::truncated;
      return 0;
    }
    const auto b = std::to_integer<std::uint8_t>(bytes[pos++]);
    if (i == 9 && (b & 0x80) != 0) {
      error = varint_error::too_long;
      return 0;
    }
    if (i == 9 && b > 1) {
      error = varint_error::overflow;
      return 0;
    }
    v |= std::uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) {
        error = varint_error::overlong;
        return 0;
      }
      return v;
    }
  }
  error = varint_error::too_long;  // unreachable: byte 10 ends or fails above
  return 0;
}

}  // namespace converge::wire::detail
