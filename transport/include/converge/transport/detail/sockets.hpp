#pragma once
/// @file
/// What every socket of a node shares: its options (limits, heartbeats,
/// reconnects) and sending one envelope (with its payload, for data) without
/// ever blocking, saying why a message could not go.

#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/node_options.hpp"

#include <zmq.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace converge::transport::detail {

/// What became of a send.
enum class send_result : std::uint8_t {
  sent,        ///< queued on the connection
  queue_full,  ///< the connection's send queue is at its high-water mark
  no_route,    ///< no connection to that peer (gone, or not up yet)
};

/// Limits, heartbeats and reconnect intervals from `o`, for a ROUTER or a DEALER.
inline void set_common_options(zmq::socket_t& s, const node_options& o, std::size_t max_message) {
  s.set(zmq::sockopt::linger, static_cast<int>(o.linger.count()));
  s.set(zmq::sockopt::sndhwm, o.send_hwm);
  s.set(zmq::sockopt::rcvhwm, o.receive_hwm);
  s.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(max_message + 64));
  s.set(zmq::sockopt::heartbeat_ivl, 1000);
  s.set(zmq::sockopt::heartbeat_timeout, 3000);
  s.set(zmq::sockopt::heartbeat_ttl, 3000);
  s.set(zmq::sockopt::handshake_ivl, 5000);
  s.set(zmq::sockopt::reconnect_ivl, static_cast<int>(o.reconnect_interval.count()));
  s.set(zmq::sockopt::reconnect_ivl_max, static_cast<int>(o.reconnect_interval_max.count()));
}

/// The envelope frames this node sends (its id and replica never change).
struct envelopes {
  std::array<std::byte, envelope_size> hello, hello_ack, data, probe, view, members;

  envelopes(std::uint64_t sender, std::uint64_t replica)
      : hello(write_envelope({kind::hello, sender, replica})),
        hello_ack(write_envelope({kind::hello_ack, sender, replica})),
        data(write_envelope({kind::data, sender, replica})),
        probe(write_envelope({kind::probe, sender, replica})),
        view(write_envelope({kind::view, sender, replica})),
        members(write_envelope({kind::members, sender, replica})) {}

  [[nodiscard]] std::span<const std::byte> of(kind k) const noexcept {
    switch (k) {
      case kind::data:
        return data;
      case kind::hello_ack:
        return hello_ack;
      case kind::probe:
        return probe;
      case kind::view:
        return view;
      case kind::members:
        return members;
      case kind::hello:
        break;
    }
    return hello;
  }
};

/// Sends `[routing_id] envelope [payload]` on `s` without blocking: the first
/// frame decides (a multipart message is queued whole or not at all).
/// `routing_id` is empty on a DEALER; `payload` is sent only for the kinds
/// that carry one (`carries_payload`).
/// "Would block" is `queue_full`; EHOSTUNREACH (a ROUTER's unknown peer) and
/// any other error `no_route`.
inline send_result send_envelope(zmq::socket_t& s, std::string_view routing_id, kind what,
                                 std::span<const std::byte> envelope, std::span<const std::byte> payload) {
  const bool data = carries_payload(what);
  try {
    zmq::send_flags first = zmq::send_flags::dontwait;
    if (!routing_id.empty()) {
      if (!s.send(zmq::buffer(routing_id), first | zmq::send_flags::sndmore)) return send_result::queue_full;
      first = zmq::send_flags::none;
    }
    const auto env_flags = data ? first | zmq::send_flags::sndmore : first;
    if (!s.send(zmq::buffer(envelope.data(), envelope.size()), env_flags)) return send_result::queue_full;
    if (data) s.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::none);
    return send_result::sent;
  } catch (const zmq::error_t&) {
    return send_result::no_route;
  }
}

}  // namespace converge::transport::detail
