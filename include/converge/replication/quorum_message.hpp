#pragma once
/// @file
/// The replicator's quorum messages: reads that gather what members hold
/// and the reader lacks, and bounded-counter rights asked of and given by peers. They share the
/// envelope's version nibble with kind 0, which envelopes never use, so an older replicator
/// drops them as malformed and nothing else changes.
///
/// @code
///   byte 0   := 0x10 (exactly: no kind bits, no flags)
///   message  := byte0 varint(sub-kind) byte(flags) varint(session) varint(replica)
///               varint(echo) varint(request) varint(amount) payload
///   sub-kind := 1 read_request | 2 read_done | 3 rights_ask | 4 rights_answer
///   flags    := 0x01 when the payload starts with a signature block
///               0x02 (read_done) when the payload is a delta, not the whole state
///   payload  := [signatures] converge::encode(State) — the rest of the message
/// @endcode
///
/// `session` is the sender's session, `replica` its replica id (a peer learns
/// whose rights a member holds from it). An answer echoes the session of the
/// replicator that asked (`echo`) and its `request` number, so answers meant
/// for an earlier life or an earlier request are recognised and ignored.
/// `amount` is the rights asked for (rights_ask, at least 1) or given
/// (rights_answer). A rights_answer carries the transfer delta when it gave
/// something. Requests carry no payload.
///
/// Reads send deltas, not states. A read_request says what the reader holds
/// of the responder in two varints: `echo` is the responder's session it
/// heard from (0: nothing) and `amount` the end of the last whole interval it
/// joined from that session (it then holds every delta the responder
/// numbered below it). A read_done's `amount` is the responder's end `c`:
/// its payload is the delta from the reader's point to `c` (flag 0x02), or
/// the whole state, or nothing at all when the reader already holds
/// everything ("nothing newer", about 20 bytes), and the reader then holds
/// everything the responder numbered below `c`.

#include "converge/replication/envelope.hpp"
#include "converge/wire/varint.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace converge::replication {

/// What a quorum message asks or answers.
enum class quorum_kind : std::uint8_t { read_request = 1, read_done = 2, rights_ask = 3, rights_answer = 4 };

/// One quorum message; `payload` points into the bytes it was read from.
struct quorum_message {
  quorum_kind kind = quorum_kind::read_request;
  bool signed_entries = false;
  bool delta = false;  ///< read_done: the payload is a delta from the reader's point
  std::uint64_t session = 0;
  std::uint64_t replica = 0;
  std::uint64_t echo = 0;
  std::uint64_t request = 0;
  std::uint64_t amount = 0;
  std::span<const std::byte> payload = {};
};

namespace detail {
inline constexpr std::uint8_t quorum_byte = envelope_version;
inline constexpr std::uint8_t quorum_flag_signed = 0x01;
inline constexpr std::uint8_t quorum_flag_delta = 0x02;
}  // namespace detail

/// True when `bytes` starts like a quorum message (it may still be malformed).
inline bool is_quorum_message(std::span<const std::byte> bytes) noexcept {
  return !bytes.empty() && std::to_integer<std::uint8_t>(bytes[0]) == detail::quorum_byte;
}

/// The bytes of `m`.
inline std::vector<std::byte> write_quorum_message(const quorum_message& m) {
  std::vector<std::byte> out;
  out.reserve(2 + 6 * wire::detail::max_varint_bytes + m.payload.size());
  out.push_back(static_cast<std::byte>(detail::quorum_byte));
  using wire::detail::put_varint;
  put_varint(out, static_cast<std::uint64_t>(m.kind));
  out.push_back(static_cast<std::byte>((m.signed_entries ? detail::quorum_flag_signed : 0) |
                                       (m.delta ? detail::quorum_flag_delta : 0)));
  put_varint(out, m.session);
  put_varint(out, m.replica);
  put_varint(out, m.echo);
  put_varint(out, m.request);
  put_varint(out, m.amount);
  out.insert(out.end(), m.payload.begin(), m.payload.end());
  return out;
}

/// Parses a quorum message; nullopt when malformed: another leading byte, an
/// unknown sub-kind or flag, truncated or overlong varints, a request with a
/// payload or flags, a read_done flagged without payload, a rights_ask for
/// nothing, or a rights_answer whose payload does not match its amount.
inline std::optional<quorum_message> read_quorum_message(std::span<const std::byte> bytes) {
  if (!is_quorum_message(bytes) || bytes.size() < 3) return std::nullopt;
  quorum_message m;
  std::size_t pos = 1;
  wire::detail::varint_error error = wire::detail::varint_error::none;
  const auto next = [&] { return wire::detail::read_varint(bytes, pos, error); };
  const std::uint64_t kind = next();
  if (error != wire::detail::varint_error::none || kind < 1 || kind > 4 || pos >= bytes.size())
    return std::nullopt;
  m.kind = static_cast<quorum_kind>(kind);
  const auto flags = std::to_integer<std::uint8_t>(bytes[pos++]);
  if ((flags & ~(detail::quorum_flag_signed | detail::quorum_flag_delta)) != 0) return std::nullopt;
  m.signed_entries = (flags & detail::quorum_flag_signed) != 0;
  m.delta = (flags & detail::quorum_flag_delta) != 0;
  if (m.delta && kind != static_cast<std::uint64_t>(quorum_kind::read_done)) return std::nullopt;
  m.session = next();
  m.replica = next();
  m.echo = next();
  m.request = next();
  m.amount = next();
  if (error != wire::detail::varint_error::none) return std::nullopt;
  m.payload = bytes.subspan(pos);
  const bool has_payload = !m.payload.empty();
  switch (m.kind) {
    case quorum_kind::read_request:
      if (has_payload || m.signed_entries) return std::nullopt;
      if (m.echo == 0 && m.amount != 0) return std::nullopt;  // a point with no session
      break;
    case quorum_kind::rights_ask:
      if (has_payload || m.signed_entries || m.amount == 0) return std::nullopt;
      break;
    case quorum_kind::read_done:
      if (!has_payload && (m.signed_entries || m.delta)) return std::nullopt;
      break;
    case quorum_kind::rights_answer:
      if (has_payload != (m.amount != 0) || (m.signed_entries && !has_payload)) return std::nullopt;
      break;
  }
  return m;
}

}  // namespace converge::replication
