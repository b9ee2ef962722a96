#pragma once
/// @file
/// The transport's envelope: the first frame of every ZeroMQ message between
/// nodes. It names the sending node, so that a peer is known by its id on any
/// connection (inbound or outbound), and carries the sender's current replica
/// identity (its incarnation), which `bounded_counter` transfers need.
///
/// Layout (20 bytes): 'C' 'V', version 1, kind, sender id (u64 LE), sender
/// replica id (u64 LE). A `data` envelope is followed by one frame holding the
/// replicator's bytes, `probe`, `view` and `members` by one frame of a
/// membership protocol; `hello` and `hello_ack` stand alone.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace converge::transport::detail {

/// `members` carries the membership replicator's bytes (member_replication.hpp).
enum class kind : std::uint8_t { hello = 0, hello_ack = 1, data = 2, probe = 3, view = 4, members = 5 };

/// True for the kinds followed by one payload frame.
[[nodiscard]] constexpr bool carries_payload(kind k) noexcept {
  return k == kind::data || k == kind::probe || k == kind::view || k == kind::members;
}

struct envelope {
  kind what = kind::hello;
  std::uint64_t sender = 0;
  std::uint64_t replica = 0;
};

inline constexpr std::size_t envelope_size = 20;
inline constexpr std::uint8_t envelope_version = 1;

inline std::array<std::byte, envelope_size> write_envelope(const envelope& e) {
  std::array<std::byte, envelope_size> out{};
  out[0] = std::byte{'C'};
  out[1] = std::byte{'V'};
  out[2] = std::byte{envelope_version};
  out[3] = static_cast<std::byte>(e.what);
  for (int i = 0; i < 8; ++i) {
    out[4 + i] = static_cast<std::byte>((e.sender >> (8 * i)) & 0xffU);
    out[12 + i] = static_cast<std::byte>((e.replica >> (8 * i)) & 0xffU);
  }
  return out;
}

/// The envelope in `bytes`, or nullopt when it is not one.
inline std::optional<envelope> read_envelope(std::span<const std::byte> bytes) {
  if (bytes.size() != envelope_size) return std::nullopt;
  if (bytes[0] != std::byte{'C'} || bytes[1] != std::byte{'V'} || bytes[2] != std::byte{envelope_version}) {
    return std::nullopt;
  }
  const auto k = std::to_integer<std::uint8_t>(bytes[3]);
  if (k > static_cast<std::uint8_t>(kind::members)) return std::nullopt;
  envelope e;
  e.what = static_cast<kind>(k);
  for (int i = 0; i < 8; ++i) {
    e.sender |= std::uint64_t{std::to_integer<std::uint8_t>(bytes[4 + i])} << (8 * i);
    e.replica |= std::uint64_t{std::to_integer<std::uint8_t>(bytes[12 + i])} << (8 * i);
  }
  return e;
}

}  // namespace converge::transport::detail
