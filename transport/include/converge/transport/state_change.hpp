#pragma once
/// @file
/// `converge::state_change<State>`: what a `zmq_node` subscriber is told.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace converge {

/// One change of a node's state, local or received.
///
/// `delta` is exactly what changed, no more: the part of a local `mutate`'s
/// delta or of a received payload that was new to this replica (the
/// replicator's `applied_delta`). So `state_before ⊔ delta == state_after`,
/// a subscriber can mirror the state by joining the deltas, and it can tell
/// *what* changed from the delta alone, in time proportional to the change:
/// which fields of a Hana struct (`fields`), which keys of an `or_map` (the
/// keys the delta holds), which elements of an `or_set`. A message that
/// brings nothing new (a duplicate, a retransmission) causes no change.
///
/// A slow subscriber may get several changes folded into one (the queue of
/// pending changes is bounded): `delta` is then their join, `from` is kept
/// only when every part came from the same peer, and `local` only when every
/// part was local.
template <class State>
struct state_change {
  const State& delta;  ///< what changed (valid during the call)
  std::vector<std::string_view>
      fields;          ///< names of the non-bottom members of `delta` (Hana structs), else empty
  bool local = false;  ///< from `mutate` on this node
  std::optional<std::uint64_t> from;  ///< the id of the peer node whose message carried it
};

}  // namespace converge
