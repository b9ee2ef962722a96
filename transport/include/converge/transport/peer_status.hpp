#pragma once
/// @file
/// `converge::peer_status`: a peer as a `zmq_node` sees it (`zmq_node::peers()`).

#include "converge/replica_id.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace converge {

/// A peer as the node sees it.
struct peer_status {
  std::string endpoint;  ///< empty for a peer known only from its inbound connection
  std::optional<std::uint64_t> id;
  bool reachable = false;
  std::optional<replica_id> replica;  ///< its current incarnation, once heard
};

}  // namespace converge
