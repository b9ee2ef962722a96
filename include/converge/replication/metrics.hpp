#pragma once
/// @file
/// What a replicator counts: totals and per-peer figures, for benchmarks,
/// the simulator and operators. The metrics are Hana structs, so adding two
/// of them and rendering them as JSON (`metrics_json`) is written once, and
/// a new counter needs only its declaration.

#include <boost/hana/accessors.hpp>
#include <boost/hana/define_struct.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>

namespace converge {

/// The transport-level address of a neighbour (the simulator's node index,
/// a ZeroMQ node's id).
using peer_id = std::uint64_t;

namespace replication::detail {
template <class T>
concept counter_struct = boost::hana::Struct<T>::value;

/// Sets every integer member of a metrics struct to zero: Hana's members
/// take no default member initializers.
template <counter_struct M>
void zero_counters(M& m) noexcept {
  boost::hana::for_each(boost::hana::accessors<M>(), [&](auto accessor) {
    auto& field = boost::hana::second(accessor)(m);
    if constexpr (std::is_arithmetic_v<std::remove_reference_t<decltype(field)>>) field = 0;
  });
}
}  // namespace replication::detail

/// Adds every counter of `b` to `a`, member by member (for a Hana struct of
/// integers, such as `peer_metrics`).
template <replication::detail::counter_struct M>
M& add_metrics(M& a, const M& b) noexcept {
  boost::hana::for_each(boost::hana::accessors<M>(), [&](auto accessor) {
    const auto get = boost::hana::second(accessor);
    get(a) += get(b);
  });
  return a;
}

/// Counters of one peer link (or of all of them, in `replicator_metrics::total`).
struct peer_metrics {
  // clang-format off: one counter a line, each with its comment
  BOOST_HANA_DEFINE_STRUCT(
      peer_metrics, (std::uint64_t, messages_out),  ///< messages sent (deltas and acks)
      (std::uint64_t, bytes_out),                   ///< bytes sent
      (std::uint64_t, messages_in),                 ///< messages received (well-formed or not)
      (std::uint64_t, bytes_in),                    ///< bytes received
      (std::uint64_t, delta_messages_out),          ///< delta (or state) parts sent, retransmissions included
      (std::uint64_t, acks_out),                    ///< acks sent
      (std::uint64_t, retransmissions),             ///< delta parts sent again for an interval already sent
      (std::uint64_t, flights_extended),  ///< intervals in flight resent at once, extended to a waiting write
      (std::uint64_t, deltas_applied),    ///< received payloads that changed the state
      (std::uint64_t, redundant_dropped),  ///< received payloads that changed nothing (not buffered)
      (std::uint64_t,
       state_transfers_sent),  ///< whole-state intervals started (not counting parts or retransmissions)
      (std::uint64_t, state_transfers_received),  ///< whole-state parts received
      (std::uint64_t, malformed_dropped),         ///< messages refused: bad envelope, bad payload, too large
      (std::uint64_t, stale_dropped),             ///< messages of a retired session, acks of another session
      (std::uint64_t, session_resets),            ///< times the peer was seen with a new session
      (std::uint64_t, session_resumes),  ///< new sessions that resumed an old one (no state transfer needed)
      (std::uint64_t,
       state_transfers_deferred),            ///< state transfers held back by min_state_transfer_interval
      (std::uint64_t, signatures_verified),  ///< entry signatures checked (signing on; each at most once)
      (std::uint64_t, entries_rejected)      ///< owned entries dropped: no valid signature covered them
  );
  // clang-format on
  peer_metrics() noexcept { replication::detail::zero_counters(*this); }
  peer_metrics& operator+=(const peer_metrics& o) noexcept { return add_metrics(*this, o); }
};

/// Per-peer counters, by peer.
using peer_metrics_map = std::map<peer_id, peer_metrics>;

/// Everything a replicator counts.
struct replicator_metrics {
  // clang-format off: one counter a line, each with its comment
  BOOST_HANA_DEFINE_STRUCT(
      replicator_metrics, (peer_metrics, total),  ///< the sum over every peer, past and present
      (peer_metrics_map, peers),                  ///< per current peer
      (std::uint64_t, local_deltas),              ///< non-bottom deltas from `mutate`
      (std::size_t, buffer_bytes),                ///< encoded bytes of the deltas buffered now
      (std::size_t, buffer_entries),              ///< deltas buffered now
      (std::size_t, max_buffer_bytes),            ///< the largest `buffer_bytes` seen
      (std::uint64_t, buffer_evictions),          ///< entries dropped because the buffer exceeded its bound
      (std::uint64_t, unknown_peer_dropped),      ///< messages from an address that is not a peer
      (std::uint64_t, unsendable),                ///< intervals that could not be cut under max_message_bytes
      (std::uint64_t, peers_refused),             ///< add_peer calls refused by max_peers
      (std::uint64_t, events_folded),    ///< applied-delta events folded into the last one (queue full)
      (std::uint64_t, journal_bytes),    ///< bytes of records handed to the journal
      (std::uint64_t, syncs),            ///< journal syncs that succeeded
      (std::uint64_t, sync_failures),    ///< journal syncs that failed (the tick's messages were withheld)
      (std::uint64_t, compactions),      ///< snapshots written to the journal (the first one included)
      (std::uint64_t, entries_signed),   ///< own entries signed (signing on; at most once each per tick)
      (std::uint64_t, rights_asked),     ///< rights_ask messages sent for decrements short of rights
      (std::uint64_t, rights_given),     ///< rights transferred to peers that asked
      (std::uint64_t, rights_received),  ///< rights_answer messages that carried a transfer
      (std::uint64_t, rights_refused),   ///< rights_ask from a non-member, or for a replica not its own
      (std::uint64_t,
       reads_refused),  ///< read_request from a non-member, an unheard session, or a false point
      (std::uint64_t, read_answers_empty),  ///< read_done "nothing newer": the reader held everything
      (std::uint64_t, read_answers_delta),  ///< read_done with the delta the reader lacked
      (std::uint64_t, read_answers_whole)   ///< read_done with the whole state (reader's point unknown)
  );
  // clang-format on
  replicator_metrics() { replication::detail::zero_counters(*this); }
};

namespace replication::detail {

inline void put_metrics(std::string& out, std::uint64_t v) { out += std::to_string(v); }
inline void put_metrics(std::string& out, bool v) { out += v ? "true" : "false"; }

template <class K, class V>
void put_metrics(std::string& out, const std::map<K, V>& m);

template <counter_struct M>
void put_metrics(std::string& out, const M& m) {
  out += '{';
  bool first = true;
  boost::hana::for_each(boost::hana::accessors<M>(), [&](auto accessor) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += boost::hana::to<const char*>(boost::hana::first(accessor));
    out += "\":";
    put_metrics(out, boost::hana::second(accessor)(m));
  });
  out += '}';
}

template <class K, class V>
void put_metrics(std::string& out, const std::map<K, V>& m) {
  out += '{';
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out += ',';
    first = false;
    out += '"' + std::to_string(k) + "\":";
    put_metrics(out, v);
  }
  out += '}';
}

}  // namespace replication::detail

/// One line of JSON with every member of a metrics struct (`peer_metrics`,
/// `replicator_metrics`, the transport's): counters as numbers, per-peer maps
/// as objects keyed by peer id.
template <class M>
std::string metrics_json(const M& m) {
  std::string out;
  replication::detail::put_metrics(out, m);
  return out;
}

}  // namespace converge
