#pragma once
/// @file
/// The replicator's message envelope: a kind byte, the sender's session, the
/// sequence numbers, and for a delta the encoded payload. Integers are LEB128
/// varints (canonical), so a one-element delta costs a handful of bytes more
/// than its payload. An `envelope` is written and read as one struct.
///
/// @code
///   byte 0        := 0x10 (envelope version 1) | kind (1 delta, 2 ack, 3 tree)
///                    (0x10 alone, kind 0, is a quorum message: quorum_message.hpp)
///                    | 0x04 if the payload is a state transfer
///                    | 0x08 if the interval travels in several parts
///                    | 0x20 if the sender's session resumes an earlier one
///                    | 0x40 if the payload starts with a signature block
///   delta         := byte0 varint(session) varint(to) [varint(part) varint(parts)] payload
///   ack           := byte0 varint(session) varint(acked_session) varint(to) [varint(part)]
///                    (0x04 set when it acknowledges a state transfer)
///   tree          := byte0 varint(session) varint(to) control (broadcast_tree.hpp;
///                    no flag but 0x20)
///   payload       := [signatures] converge::encode(State) — the rest of the message
///   signatures    := the owners' signatures of the payload's owned entries
///                    (origin_signing.hpp), when 0x40 is set
/// @endcode
///
/// `session` is the sender's session nonce; an ack echoes the session of the
/// replicator it acknowledges (`acked_session`), so acks meant for an earlier
/// life of a restarted replicator are recognised and ignored.
///
/// A replicator restored from its journal sets `resumed` on every message:
/// it still holds everything it acknowledged in its earlier sessions (its
/// acknowledgements were durable), so its peers keep what they know it holds
/// and send only what it missed, instead of a state transfer.

#include "converge/wire/varint.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace converge::replication {

/// What a message carries.
enum class message_kind : std::uint8_t { delta = 1, ack = 2, tree = 3 };

/// One message's header, and the payload bytes of a delta. Build one with
/// designated initializers, e.g.
/// `write_envelope({.kind = message_kind::ack, .session = s, .acked_session = t, .to = 9})`.
struct envelope {
  message_kind kind = message_kind::delta;
  bool state_transfer = false;      ///< delta: the payload is the sender's whole state; ack: acknowledges one
  bool multipart = false;           ///< the interval travels in `parts` messages (an ack names its `part`)
  bool resumed = false;             ///< the sender holds all it acknowledged in earlier sessions
  bool signed_entries = false;      ///< delta: the payload starts with a signature block
  std::uint64_t session = 0;        ///< the sender's session
  std::uint64_t acked_session = 0;  ///< ack: the session of the replicator acknowledged
  std::uint64_t to = 0;             ///< the interval's end (the delta sender's sequence number)
  std::uint64_t part = 0;           ///< which part (0 unless multipart)
  std::uint64_t parts = 1;          ///< delta: how many parts (1 unless multipart)
  std::span<const std::byte> payload = {};  ///< delta: the encoded state (read: points into the message)
};

/// The largest envelope header, in bytes (payload excluded).
inline constexpr std::size_t max_envelope_header = 1 + 4 * wire::detail::max_varint_bytes;

namespace detail {
inline constexpr std::uint8_t envelope_version = 0x10;
inline constexpr std::uint8_t flag_state_transfer = 0x04;
inline constexpr std::uint8_t flag_multipart = 0x08;
inline constexpr std::uint8_t flag_resumed = 0x20;
inline constexpr std::uint8_t flag_signed = 0x40;
}  // namespace detail

/// The bytes of `e`: its header, then (for a delta) its payload.
inline std::vector<std::byte> write_envelope(const envelope& e) {
  std::vector<std::byte> out;
  out.reserve(max_envelope_header + e.payload.size());
  out.push_back(static_cast<std::byte>(
      detail::envelope_version | static_cast<std::uint8_t>(e.kind) |
      (e.state_transfer ? detail::flag_state_transfer : 0) | (e.multipart ? detail::flag_multipart : 0) |
      (e.resumed ? detail::flag_resumed : 0) | (e.signed_entries ? detail::flag_signed : 0)));
  using wire::detail::put_varint;
  put_varint(out, e.session);
  if (e.kind == message_kind::ack) put_varint(out, e.acked_session);
  put_varint(out, e.to);
  if (e.multipart) {
    put_varint(out, e.part);
    if (e.kind == message_kind::delta) put_varint(out, e.parts);
  }
  if (e.kind != message_kind::ack) out.insert(out.end(), e.payload.begin(), e.payload.end());
  return out;
}

/// Parses an envelope; nullopt when malformed (unknown version or kind,
/// truncated or overlong varints, part ≥ parts, parts > `max_parts`, an ack
/// with trailing bytes, a delta without payload). `payload` points into `bytes`.
inline std::optional<envelope> read_envelope(std::span<const std::byte> bytes, std::uint64_t max_parts) {
  if (bytes.empty()) return std::nullopt;
  const auto b0 = std::to_integer<std::uint8_t>(bytes[0]);
  if ((b0 & 0xf0 & ~(detail::flag_resumed | detail::flag_signed)) != detail::envelope_version)
    return std::nullopt;
  if ((b0 & 0x03) == 0) return std::nullopt;
  envelope e;
  e.kind = static_cast<message_kind>(b0 & 0x03);
  e.state_transfer = (b0 & detail::flag_state_transfer) != 0;
  e.multipart = (b0 & detail::flag_multipart) != 0;
  e.resumed = (b0 & detail::flag_resumed) != 0;
  e.signed_entries = (b0 & detail::flag_signed) != 0;
  std::size_t pos = 1;
  wire::detail::varint_error error = wire::detail::varint_error::none;
  const auto next = [&] { return wire::detail::read_varint(bytes, pos, error); };
  const bool delta = e.kind == message_kind::delta;
  if (e.kind == message_kind::tree && (e.state_transfer || e.multipart || e.signed_entries))
    return std::nullopt;
  e.session = next();
  if (e.kind == message_kind::ack) e.acked_session = next();
  e.to = next();
  if (e.multipart) {
    e.part = next();
    if (delta) e.parts = next();
  }
  if (error != wire::detail::varint_error::none) return std::nullopt;
  if (e.kind == message_kind::tree) {
    if (pos >= bytes.size()) return std::nullopt;
    e.payload = bytes.subspan(pos);
  } else if (delta) {
    if (e.multipart && (e.parts < 2 || e.parts > max_parts || e.part >= e.parts)) return std::nullopt;
    if (pos >= bytes.size()) return std::nullopt;
    e.payload = bytes.subspan(pos);
  } else {
    if (e.signed_entries) return std::nullopt;  // only a delta carries signatures
    if (e.multipart && e.part >= max_parts) return std::nullopt;
    if (pos != bytes.size()) return std::nullopt;
  }
  return e;
}

}  // namespace converge::replication
