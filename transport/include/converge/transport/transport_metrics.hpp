#pragma once
/// @file
/// `converge::transport_metrics`: what a `zmq_node`'s transport counts (the
/// replicator counts the rest). A Hana struct like `replicator_metrics`, so
/// `converge::metrics_json` and `converge::add_metrics` work on it.

#include "converge/replication/metrics.hpp"

#include <boost/hana/define_struct.hpp>

#include <cstdint>

namespace converge {

/// What the transport counted.
///
/// A message the replicator asked to send and the transport could not is
/// counted once in `send_dropped` and once in the reason: `send_queue_full`
/// (the connection's send queue is at `send_hwm`: the peer is slow) or
/// `send_no_route` (no connection to the peer is up: it left, restarted or is
/// unreachable). Either way the replicator retransmits.
struct transport_metrics {
  // clang-format off
  // clang-format off: one counter a line, each with its comment
  BOOST_HANA_DEFINE_STRUCT(transport_metrics,
    (std::uint64_t, messages_in),         ///< data messages handed to the replicator
    (std::uint64_t, messages_out),        ///< data messages sent
    (std::uint64_t, bytes_in),
    (std::uint64_t, bytes_out),
    (std::uint64_t, dropped_malformed),   ///< bad envelope or frame count
    (std::uint64_t, dropped_too_many_frames),  ///< multipart messages of more frames than a node ever sends
    (std::uint64_t, dropped_oversized),   ///< payload over max_message_bytes
    (std::uint64_t, dropped_spoofed),     ///< sender id not the one bound to the CURVE key
    (std::uint64_t, dropped_peer_limit),  ///< from a new peer beyond max_peers
    (std::uint64_t, send_dropped),        ///< send_queue_full + send_no_route
    (std::uint64_t, send_queue_full),     ///< not sent: the connection's queue was full
    (std::uint64_t, send_no_route),       ///< not sent: no connection to the peer
    (std::uint64_t, auth_denied),         ///< ZAP refusals
    (std::uint64_t, handshake_failures),  ///< ZMTP handshake failures (garbage, bad keys)
    (std::uint64_t, disconnects),         ///< inbound connections closed (incl. oversized messages)
    (std::uint64_t, guard_connections_refused),  ///< inbound tcp connections beyond the guard's max_connections
    (std::uint64_t, guard_closed),        ///< inbound tcp connections the guard closed (frames, sizes, protocol)
    (std::uint64_t, membership_in),       ///< membership messages handed to the detector or the views
    (std::uint64_t, membership_out),      ///< membership messages sent
    (std::uint64_t, membership_dropped),  ///< membership messages not sent: no route before they expired
    (std::uint64_t, members_down),        ///< members this node's detector saw become down (own verdicts and heard ones)
    (std::uint64_t, links_opened),        ///< dynamic links opened to members and seeds
    (std::uint64_t, links_closed)         ///< dynamic links closed
  );
  // clang-format on
  // clang-format on
  transport_metrics() noexcept { replication::detail::zero_counters(*this); }
};

}  // namespace converge
