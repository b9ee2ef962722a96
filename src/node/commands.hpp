#pragma once
/// @file
/// The line commands of `converge-node`: one line in, one line out.

#include "converge/transport/zmq_node.hpp"

#include <string>
#include <string_view>

#include "demo_state.hpp"

namespace converge_node {

using node = converge::zmq_node<demo_state>;

/// Runs one command line on `n` and returns the one-line answer (no newline).
/// Sets `quit` for `quit`.
std::string execute(node& n, std::string_view line, bool& quit);

/// The one-line JSON of the replicator's and the transport's counters.
std::string stats_json(const node& n);

/// The one-line JSON array of peers.
std::string peers_json(const node& n);

}  // namespace converge_node
