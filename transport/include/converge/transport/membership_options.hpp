#pragma once
/// @file
/// `converge::membership_options`: how a `zmq_node` takes part in cluster
/// membership (the failure detector and partial views of
/// `include/converge/membership/`), when `node_options::membership` is set.

#include "converge/membership/failure_detector.hpp"
#include "converge/membership/views.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace converge {

/// Membership settings of a `zmq_node` (see "Membership" in zmq_node.hpp).
struct membership_options {
  /// Endpoints of running members to join through (any one will do). The
  /// node's configured peers are seeds too. A host name is resolved again at
  /// every join attempt (each attempt opens a new connection).
  std::vector<std::string> seeds;
  /// Called at every join attempt (from the node's thread); the endpoints it
  /// returns are tried as seeds too (an operator's command, a service
  /// registry). May throw: the attempt then uses the other seeds.
  std::function<std::vector<std::string>()> seed_source;
  /// The endpoints this node advertises in its member record; empty: the
  /// bound ones, with a tcp wildcard host (`*`, 0.0.0.0) replaced by
  /// 127.0.0.1.
  std::vector<std::string> advertise;
  /// The first incarnation of this life; 0: the wall clock in milliseconds,
  /// so that a restarted node (same id, maybe the same replica) always
  /// outranks the records of its earlier lives.
  std::uint64_t incarnation = 0;
  /// The Z85 CURVE public key to advertise (the node fills it from
  /// `node_options::curve` when empty).
  std::string curve_public_key;
  /// Failure detector and view knobs, in milliseconds.
  membership::detector_options detector{};
  membership::view_options views{};
  /// Whether the detector probes the passive view as well as the active one
  /// (one probe per period either way): more independent suspicions of a
  /// crashed member, so its suspicion reaches the minimum timeout (in a
  /// small cluster the passive view is everyone, as in memberlist).
  bool probe_passive = true;
  /// Seed for the protocols' random choices; 0: random.
  std::uint64_t seed = 0;
  /// Links kept open to members outside the active view (indirect probes,
  /// shuffle replies, forward joins), least recently used closed first.
  std::size_t transient_links = 16;
  /// A transient link unused this long (ms) is closed.
  std::uint64_t transient_idle = 10000;
  /// Messages held per member while no connection to it is up yet (a link
  /// just opened, a record not yet known), and for how long (ms).
  std::size_t held_per_member = 16;
  std::uint64_t held_for = 3000;
  /// Between join attempts through the seeds while this node has no link (ms).
  std::uint64_t join_retry = 2000;
  /// Retirement (transport/detail/node_retirement.hpp): a member `down` this
  /// long (ms) is retired; one that left gracefully is retired
  /// `retire_leave_grace` ms after its removal (0: twice the probe interval).
  std::uint64_t retire_down = 300000;
  std::uint64_t retire_leave_grace = 0;
  /// The record of retired replicas kept by an earlier life (the bytes last
  /// given to `save_retired`; empty: none), and where to keep it: called
  /// with `converge::encode` of it whenever it grows, before the node strips
  /// anything because of it (it must be durable when it returns; it may
  /// throw). A durable node sets both, next to its journal.
  std::vector<std::byte> retired_record;
  std::function<void(std::span<const std::byte>)> save_retired;
};

}  // namespace converge
