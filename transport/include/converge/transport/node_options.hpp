#pragma once
/// @file
/// `converge::node_options`: how a `zmq_node` runs.

#include "converge/replica_id.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/membership_options.hpp"

#include <zmq.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace converge {

/// The relay that bounds what an inbound tcp connection can make the node
/// hold (detail/inbound_guard.hpp; "Memory" in zmq_node.hpp). It runs only
/// without CURVE, on tcp binds with a numeric IPv4 host, `*` or `localhost`.
struct inbound_guard_options {
  bool enabled = true;
  std::size_t max_connections = 256;      ///< inbound tcp connections open at once; more are closed
  int receive_hwm = 16;                   ///< the ROUTER's receive high-water mark (whole messages)
  std::size_t buffer_bytes = 256 * 1024;  ///< the relay's buffer, per direction per connection
};

/// How a `zmq_node` runs. Only `id` and `bind` are required.
struct node_options {
  /// This node's id on the wire (a peer's `peer_id`); unique in the cluster.
  std::uint64_t id = 0;
  /// The replica identity for updates; default `replica_id::with_incarnation(id, r)`
  /// with `r` random, so that a restart without data never reuses a dot.
  std::optional<replica_id> replica;
  /// Endpoints to bind (tcp://, ipc://, inproc://). May be empty for a node that only connects.
  std::vector<std::string> bind;
  /// Peer endpoints to connect to.
  std::vector<std::string> peers;
  /// How often the replicator gossips.
  std::chrono::milliseconds gossip_interval{50};
  /// How often each outbound connection says hello; a peer unheard for three
  /// intervals is reported unreachable.
  std::chrono::milliseconds heartbeat_interval{500};
  /// Replicator settings; `gossip_interval` is taken from above, a zero
  /// `session` is replaced by a random nonce, and `report_applied` is the
  /// node's to set (on while someone subscribes). A zero
  /// `min_state_transfer_interval` becomes max(1 s, 4 gossip intervals): at
  /// most one state transfer per peer per second, whatever the peer sends.
  /// Durability: set `replication.journal` (for example a
  /// `storage::lmdb_journal`) and `recovered` to what it held when the node
  /// restarts.
  replicator_options replication{};
  /// What the journal held at start (`replication::read_journal`): the node
  /// restarts from it, with its identity (`replica` is then ignored);
  /// nullopt for a new replica.
  std::optional<replication::recovered_journal> recovered;
  /// CURVE encryption, authentication and allow-list (off when empty).
  std::optional<curve_options> curve;
  /// Cluster membership (failure detection, partial views, joining through
  /// seeds; see "Membership" in zmq_node.hpp); off when empty.
  std::optional<membership_options> membership;
  /// Bounds on inbound tcp connections without CURVE (see the struct).
  inbound_guard_options inbound_guard{};
  int send_hwm = 1000;                    ///< messages queued per connection before sends are dropped
  int receive_hwm = 1000;                 ///< messages queued per connection before the peer is throttled
  std::chrono::milliseconds linger{200};  ///< how long close waits for unsent messages
  std::chrono::milliseconds reconnect_interval{100};
  std::chrono::milliseconds reconnect_interval_max{1000};
  /// The ZeroMQ context; nullptr makes one for this node. Nodes that talk
  /// over inproc:// must share one. At most one CURVE node per context.
  zmq::context_t* context = nullptr;
  /// Where log lines go (rate-limited); default stderr. Set an empty function to silence.
  std::function<void(std::string_view)> log = [](std::string_view line) { std::cerr << line << '\n'; };
};

}  // namespace converge
