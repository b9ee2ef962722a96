#pragma once
/// @file
/// Command-line parsing of `converge-node`.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/errors.hpp"

namespace converge_node {

using converge_cli::usage_error;

struct options {
  bool help = false;
  std::string help_text;  ///< what `--help` prints (set with `help`)
  bool keygen = false;
  bool signing_keygen = false;  ///< `signing-keygen`: print an Ed25519 key pair and exit
  std::uint64_t id = 0;
  std::vector<std::string> bind;
  std::vector<std::string> peers;
  /// --join: members to join the cluster through (any one will do).
  std::vector<std::string> join;
  /// --seed-command: run at every join attempt; each line of its stdout is a seed endpoint.
  std::string seed_command;
  /// --advertise: the endpoints put in this node's member record (default: the bound ones).
  std::vector<std::string> advertise;
  std::chrono::milliseconds gossip{50};
  std::chrono::milliseconds heartbeat{500};
  /// --timeout-ms: how long a command at level majority or all waits.
  std::chrono::milliseconds timeout{2000};
  /// --retire-down-ms: a member down this long is retired.
  std::chrono::milliseconds retire_down{300000};
  std::string curve_key;
  std::string curve_allow;
  /// --signing-key: own Ed25519 key pair file; origin signing on (needs CURVE,
  /// whose allow-list gives the peers' signing keys).
  std::string signing_key;
  std::size_t max_message_bytes = std::size_t{1} << 20;
  bool daemon = false;
  bool quiet = false;
  /// Durability (--data-dir): empty for an in-memory node.
  std::string data_dir;
  /// --sync: `write` answers a write only once it is durable; `periodic`
  /// answers at once and syncs within a gossip interval (always before the
  /// write leaves the node).
  enum class sync_mode { write, periodic } sync = sync_mode::write;
  /// --fresh: an unreadable data directory is set aside and the node starts
  /// as a new replica, instead of refusing to start.
  bool fresh = false;
};

/// Where an endpoint is used: only a bind may ask for any free tcp port.
enum class endpoint_use { bind, peer };

/// Why `endpoint` cannot be used as `use`; empty when it can. Known schemes
/// are tcp://HOST:PORT (PORT 1 to 65535; on a bind also `*` or `0`, any free
/// port, and HOST `*`, every interface), ipc://PATH and inproc://NAME.
std::string endpoint_problem(std::string_view endpoint, endpoint_use use);

/// Parses `argv` (without the program name). Throws `usage_error`.
options parse_options(const std::vector<std::string_view>& args);

}  // namespace converge_node
