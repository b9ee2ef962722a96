#pragma once
/// @file
/// `converge::encode` / `converge::decode`: a value to versioned, compact bytes
/// and back. Every type of the library (and every Hana struct of them) can be
/// encoded; so can anything with cereal serialization functions.
///
/// Encoded data is one header byte (the format version: major in the high
/// nibble, minor in the low one) followed by a frame of `wire::output_archive`
/// (see archive.hpp). Trailing bytes are refused.

#include "converge/wire/archive.hpp"
#include "converge/wire/types.hpp"

#include <cereal/cereal.hpp>

#include <cstddef>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace converge {

namespace wire {

/// How `encode` lays a value out.
struct encode_options {
  /// Dot stores of at least this many entries go in columns, in a 2.0 frame;
  /// a value without such a store is a 1.0 frame, as before format 2. 0: 1.0 always.
  std::size_t columns_from = 64;
};

/// Prepares `ar` for `value`: columns when some store of it is large enough.
/// Returns the header byte of the frame.
template <class T>
std::byte start_frame(output_archive& ar, const T& value, const encode_options& options) {
  const bool columns = options.columns_from != 0 && detail::has_columnar_store(value, options.columns_from);
  ar.set_columns_from(columns ? options.columns_from : 0);
  return columns ? columns_header : format_header;
}

}  // namespace wire

/// Encodes `value` into the wire format (header byte, then the frame).
template <class T>
[[nodiscard]] std::vector<std::byte> encode(const T& value, const wire::encode_options& options = {}) {
  wire::output_archive ar;
  const std::byte header = wire::start_frame(ar, value, options);
  ar(value);
  // The header goes in front of the frame in the archive's own buffer: no copy.
  return ar.finish_after(&header, 1);
}

/// The number of bytes `encode(value)` returns.
template <class T>
[[nodiscard]] std::size_t encoded_size(const T& value, const wire::encode_options& options = {}) {
  wire::output_archive ar;
  (void)wire::start_frame(ar, value, options);
  ar(value);
  return 1 + ar.frame_size();
}

namespace wire {

/// Checks the format header byte; throws `decode_error` unless this decoder reads it.
inline void check_header(std::span<const std::byte> bytes) {
  if (bytes.empty()) throw decode_error(0, "empty input: no format header");
  const auto h = std::to_integer<unsigned>(bytes[0]);
  const unsigned major = h >> 4;
  if (major > format_major) {
    throw decode_error(0, "format major version " + std::to_string(major) + " is newer than this decoder's " +
                              std::to_string(format_major));
  }
  if (major < oldest_major) {
    throw decode_error(0, "format major version " + std::to_string(major) +
                              " is not one this decoder reads (" + std::to_string(oldest_major) + " to " +
                              std::to_string(format_major) + ")");
  }
}

/// True when the header says the frame is a 2.0 one (dot stores with a layout byte).
[[nodiscard]] inline bool columnar_header(std::span<const std::byte> bytes) {
  return (std::to_integer<unsigned>(bytes[0]) >> 4) >= 2;
}

/// Runs `f(ar)` on an input archive over the frame after the header, then
/// checks that all was read; turns every failure into `decode_error`.
template <class F>
void decode_frame(std::span<const std::byte> bytes, const decode_limits& limits, F&& f) {
  check_header(bytes);
  std::size_t at = 1;
  try {
    input_archive ar(bytes.subspan(1), limits, 1);
    ar.set_columnar(columnar_header(bytes));
    try {
      f(ar);
      ar.finish();
    } catch (const decode_error&) {
      throw;
    } catch (const std::exception& e) {
      at = ar.offset();
      throw;
    }
  } catch (const decode_error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw decode_error(at, "out of memory while decoding");
  } catch (const std::invalid_argument& e) {
    throw decode_error(at, std::string("invalid state: ") + e.what());
  } catch (const std::exception& e) {
    throw decode_error(at, std::string("malformed input: ") + e.what());
  }
}

}  // namespace wire

/// Decodes a value of type `T` from `bytes`. Throws `converge::decode_error`
/// (and only that) on anything malformed: truncation, trailing bytes, a newer
/// format major version, a length beyond `limits`, or an invalid state.
template <class T>
[[nodiscard]] T decode(std::span<const std::byte> bytes, const decode_limits& limits = {}) {
  T value{};
  wire::decode_frame(bytes, limits, [&](wire::input_archive& ar) { ar(value); });
  return value;
}

}  // namespace converge
