#pragma once
/// @file
/// The line commands of `converge-node`: one line in, one line out.

#include "converge/transport/zmq_node.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "demo_state.hpp"

namespace converge_node {

using node = converge::zmq_node<demo_state>;

/// What commands at a consistency level above `local` need.
struct command_settings {
  std::chrono::milliseconds timeout{2000};  ///< --timeout-ms
};

/// Runs one command line on `n` and returns the one-line answer (no newline).
/// Sets `quit` for `quit`.
std::string execute(node& n, std::string_view line, bool& quit);

/// `execute`, which also sets `leave` for `leave` (the caller then runs the
/// graceful leave: `leave_cluster`).
std::string execute(node& n, std::string_view line, bool& quit, bool& leave);

/// `execute`, with the settings of commands at a consistency level (an
/// optional last word `local`, `majority` or `all`; see `help`).
std::string execute(node& n, std::string_view line, bool& quit, bool& leave,
                    const command_settings& settings);

/// The one-line JSON array of members: id, replica, endpoints, status,
/// incarnation, active (in this node's active view), self.
std::string members_json(const node& n);

/// Starts a graceful leave: the detector says `leaving`, and this replica's
/// stock rights go to the up member with the smallest replica id (if any).
/// Returns that member's replica id, or 0 when the rights stayed.
std::uint64_t start_leave(node& n);

/// The one-line JSON of the replicator's and the transport's counters.
std::string stats_json(const node& n);

/// The one-line JSON array of peers.
std::string peers_json(const node& n);

}  // namespace converge_node
