#pragma once
/// @file
/// What a replicator counts: totals and per-peer figures, for benchmarks,
/// the simulator and operators.

#include <cstddef>
#include <cstdint>
#include <map>

namespace converge {

/// The transport-level address of a neighbour (the simulator's node index,
/// a ZeroMQ node's id).
using peer_id = std::uint64_t;

/// Counters of one peer link (or of all of them, in `replicator_metrics::total`).
struct peer_metrics {
  std::uint64_t messages_out = 0;         ///< messages sent (deltas and acks)
  std::uint64_t bytes_out = 0;            ///< bytes sent
  std::uint64_t messages_in = 0;          ///< messages received (well-formed or not)
  std::uint64_t bytes_in = 0;             ///< bytes received
  std::uint64_t delta_messages_out = 0;   ///< delta (or state) parts sent, retransmissions included
  std::uint64_t acks_out = 0;             ///< acks sent
  std::uint64_t retransmissions = 0;      ///< delta parts sent again for an interval already sent
  std::uint64_t deltas_applied = 0;       ///< received payloads that changed the state
  std::uint64_t redundant_dropped = 0;    ///< received payloads that changed nothing (not buffered)
  std::uint64_t state_transfers_sent = 0; ///< whole-state intervals started (not counting parts or retransmissions)
  std::uint64_t state_transfers_received = 0;  ///< whole-state parts received
  std::uint64_t malformed_dropped = 0;    ///< messages refused: bad envelope, bad payload, too large
  std::uint64_t stale_dropped = 0;        ///< messages of a retired session, acks of another session
  std::uint64_t session_resets = 0;       ///< times the peer was seen with a new session

  peer_metrics& operator+=(const peer_metrics& o) noexcept {
    messages_out += o.messages_out;
    bytes_out += o.bytes_out;
    messages_in += o.messages_in;
    bytes_in += o.bytes_in;
    delta_messages_out += o.delta_messages_out;
    acks_out += o.acks_out;
    retransmissions += o.retransmissions;
    deltas_applied += o.deltas_applied;
    redundant_dropped += o.redundant_dropped;
    state_transfers_sent += o.state_transfers_sent;
    state_transfers_received += o.state_transfers_received;
    malformed_dropped += o.malformed_dropped;
    stale_dropped += o.stale_dropped;
    session_resets += o.session_resets;
    return *this;
  }
};

/// Everything a replicator counts.
struct replicator_metrics {
  peer_metrics total;                    ///< the sum over every peer, past and present
  std::map<peer_id, peer_metrics> peers; ///< per current peer
  std::uint64_t local_deltas = 0;        ///< non-bottom deltas from `mutate`
  std::size_t buffer_bytes = 0;          ///< encoded bytes of the deltas buffered now
  std::size_t buffer_entries = 0;        ///< deltas buffered now
  std::size_t max_buffer_bytes = 0;      ///< the largest `buffer_bytes` seen
  std::uint64_t buffer_evictions = 0;    ///< entries dropped because the buffer exceeded its bound
  std::uint64_t unknown_peer_dropped = 0;  ///< messages from an address that is not a peer
  std::uint64_t unsendable = 0;          ///< intervals that could not be cut under max_message_bytes
  std::uint64_t peers_refused = 0;       ///< add_peer calls refused by max_peers
};

}  // namespace converge
