#pragma once
/// @file
/// Command-line parsing of `converge-sim`, and the command line that
/// reproduces a run.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/errors.hpp"

namespace converge_sim {

using converge_cli::usage_error;

/// One run (or, with `swarm`, the seed of many).
struct config {
  std::uint64_t replicas = 0;
  std::string topo;
  std::string workload;
  std::uint64_t ops = 0;
  double loss = 0, duplicate = 0, crash = 0;
  bool reorder = false, partitions = false, no_bp = false, no_rr = false;
  bool durable = false;            ///< replicas over journals; crashes lose what was not synced
  std::uint64_t ops_per_tick = 0;  ///< 0: the simulator's default, max(1, replicas / 8)
  std::uint64_t gossip_interval = 50;
  std::string broadcast = "gossip";  ///< gossip or tree (replication/broadcast_tree.hpp)
  double prune_ratio = 0.75;         ///< tree: prune a link this redundant
  std::uint64_t lazy_delay = 2;      ///< tree: graft delay (sample missing, or state still)
  std::uint64_t churn = 0;  ///< departures (leaves, crashes) each followed by a fresh life; 0: no churn
  std::optional<std::uint64_t> seed;
  bool json = false;
  std::optional<std::uint64_t> swarm;
  bool help = false;
  std::string help_text;  ///< what `--help` prints (set with `help`)
};

/// The workloads `--workload` names.
inline constexpr std::string_view workloads[] = {"gset", "or_set", "gcounter", "or_map", "mixed"};

/// Parses `argv` (without the program name). Throws `usage_error`.
config parse_config(const std::vector<std::string_view>& args);

/// The `converge-sim` command line that repeats `c`'s run exactly.
std::string command_line(const config& c);

}  // namespace converge_sim
