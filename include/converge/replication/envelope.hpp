#pragma once
/// @file
/// The replicator's message envelope: a kind byte, the sender's session, the
/// sequence numbers, and for a delta the encoded payload. Integers are LEB128
/// varints (canonical), so a one-element delta costs a handful of bytes more
/// than its payload.
///
/// @code
///   byte 0        := 0x10 (envelope version 1) | kind (1 delta, 2 ack)
///                    | 0x04 if the payload is a state transfer
///                    | 0x08 if the interval travels in several parts
///   delta         := byte0 varint(session) varint(to) [varint(part) varint(parts)] payload
///   ack           := byte0 varint(session) varint(acked_session) varint(to) [varint(part)]
///                    (0x04 set when it acknowledges a state transfer)
///   payload       := converge::encode(State) — the rest of the message
/// @endcode
///
/// `session` is the sender's session nonce; an ack echoes the session of the
/// replicator it acknowledges (`acked_session`), so acks meant for an earlier
/// life of a restarted replicator are recognised and ignored.

#include "converge/wire/archive.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace converge::replication {

/// What a message carries.
enum class message_kind : std::uint8_t { delta = 1, ack = 2 };

/// A decoded envelope: the header fields, and the payload bytes of a delta.
struct envelope {
  message_kind kind = message_kind::delta;
  bool state_transfer = false;      ///< delta: the payload is the sender's whole state
  bool multipart = false;           ///< the interval travels in `parts` messages
  std::uint64_t session = 0;        ///< the sender's session
  std::uint64_t acked_session = 0;  ///< ack: the session of the replicator acknowledged
  std::uint64_t to = 0;             ///< the interval's end (sender's sequence number)
  std::uint64_t part = 0;           ///< which part (0 unless multipart)
  std::uint64_t parts = 1;          ///< how many parts (1 unless multipart)
  std::span<const std::byte> payload;  ///< delta: the encoded state (points into the message)
};

/// The largest envelope header, in bytes (payload excluded).
inline constexpr std::size_t max_envelope_header = 1 + 4 * 10;

namespace detail {

inline constexpr std::uint8_t envelope_version = 0x10;
inline constexpr std::uint8_t flag_state_transfer = 0x04;
inline constexpr std::uint8_t flag_multipart = 0x08;

/// Reads canonical varints from a byte span; `ok` turns false on any error.
struct varint_reader {
  std::span<const std::byte> bytes;
  std::size_t pos = 0;
  bool ok = true;

  std::uint64_t next() {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 10; ++i) {
      if (pos >= bytes.size()) break;
      const auto b = std::to_integer<std::uint8_t>(bytes[pos++]);
      if (i == 9 && b > 1) break;
      v |= std::uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) break;  // overlong
        return v;
      }
    }
    ok = false;
    return 0;
  }
};

}  // namespace detail

/// Writes a delta message header followed by `payload`.
inline std::vector<std::byte> write_delta(std::uint64_t session, std::uint64_t to, bool state_transfer,
                                          std::uint64_t part, std::uint64_t parts,
                                          std::span<const std::byte> payload) {
  std::vector<std::byte> out;
  out.reserve(max_envelope_header + payload.size());
  const bool multi = parts > 1;
  out.push_back(static_cast<std::byte>(detail::envelope_version | static_cast<std::uint8_t>(message_kind::delta) |
                                       (state_transfer ? detail::flag_state_transfer : 0) |
                                       (multi ? detail::flag_multipart : 0)));
  wire::detail::put_varint(out, session);
  wire::detail::put_varint(out, to);
  if (multi) {
    wire::detail::put_varint(out, part);
    wire::detail::put_varint(out, parts);
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

/// Writes an ack of interval `to` (part `part` when `multipart`; a state
/// transfer when `state_transfer`) of `acked_session`.
inline std::vector<std::byte> write_ack(std::uint64_t session, std::uint64_t acked_session, std::uint64_t to,
                                        bool state_transfer, bool multipart, std::uint64_t part) {
  std::vector<std::byte> out;
  out.reserve(24);
  out.push_back(static_cast<std::byte>(detail::envelope_version | static_cast<std::uint8_t>(message_kind::ack) |
                                       (state_transfer ? detail::flag_state_transfer : 0) |
                                       (multipart ? detail::flag_multipart : 0)));
  wire::detail::put_varint(out, session);
  wire::detail::put_varint(out, acked_session);
  wire::detail::put_varint(out, to);
  if (multipart) wire::detail::put_varint(out, part);
  return out;
}

/// Parses an envelope; nullopt when malformed (unknown version or kind,
/// truncated or overlong varints, part ≥ parts, parts > `max_parts`, an ack
/// with trailing bytes, a delta without payload).
inline std::optional<envelope> read_envelope(std::span<const std::byte> bytes, std::uint64_t max_parts) {
  if (bytes.empty()) return std::nullopt;
  const auto b0 = std::to_integer<std::uint8_t>(bytes[0]);
  if ((b0 & 0xf0) != detail::envelope_version) return std::nullopt;
  if ((b0 & 0x03) != 1 && (b0 & 0x03) != 2) return std::nullopt;
  envelope e;
  e.kind = static_cast<message_kind>(b0 & 0x03);
  e.state_transfer = (b0 & detail::flag_state_transfer) != 0;
  e.multipart = (b0 & detail::flag_multipart) != 0;
  detail::varint_reader r{bytes, 1};
  e.session = r.next();
  if (e.kind == message_kind::delta) {
    e.to = r.next();
    if (e.multipart) {
      e.part = r.next();
      e.parts = r.next();
      if (e.parts < 2 || e.parts > max_parts || e.part >= e.parts) return std::nullopt;
    }
    if (!r.ok || r.pos >= bytes.size()) return std::nullopt;
    e.payload = bytes.subspan(r.pos);
  } else {
    e.acked_session = r.next();
    e.to = r.next();
    if (e.multipart) {
      e.part = r.next();
      if (e.part >= max_parts) return std::nullopt;
    }
    if (!r.ok || r.pos != bytes.size()) return std::nullopt;
  }
  return e;
}

}  // namespace converge::replication
