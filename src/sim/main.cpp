// converge-sim: runs replicators over a deterministic, faulty, simulated
// network and checks that they converge. One seed reproduces a run.
// With --churn N, replicas leave and crash for good and new ones join under
// fresh replica ids (converge/testing/churn.hpp); every departed replica is
// retired, and the JSON adds max_replica_ids, members_converged,
// values_match_oracle, and the final state's size against the churn-free
// run of the same operations (run here too, churn_free_state_bytes).
// Options are in options.cpp (see `converge-sim --help`); this file runs and
// reports.
//
// Exit status: 0 converged, 1 a run did not converge, 2 bad arguments.
#include <converge/testing/churn.hpp>
#include <converge/testing/simulator.hpp>
#include <converge/testing/workloads.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "options.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

using converge::testing::churn_result;
using converge::testing::sim_options;
using converge::testing::sim_result;
using converge::testing::sim_rng;
using converge::testing::topology;
using converge_sim::command_line;
using converge_sim::config;

void report(std::string what, std::string_view hint = {}) {
  converge_cli::print_error("converge-sim", std::move(what), hint);
}

sim_options options_of(const config& c) {
  sim_options o;
  o.replicas = static_cast<std::size_t>(c.replicas);
  o.topo = *topology::parse(c.topo);
  o.ops = c.ops;
  o.ops_per_tick = c.ops_per_tick;
  o.faults.loss = c.loss;
  o.faults.duplicate = c.duplicate;
  o.faults.reorder = c.reorder;
  o.faults.partitions = c.partitions;
  o.faults.crash = c.crash;
  o.replication.avoid_back_propagation = !c.no_bp;
  o.replication.remove_redundant = !c.no_rr;
  o.replication.gossip_interval = c.gossip_interval;
  o.replication.broadcast = *converge::replication::parse_broadcast(c.broadcast);
  o.replication.tree.prune_ratio = c.prune_ratio;
  o.replication.tree.lazy_delay_intervals = c.lazy_delay;
  o.seed = *c.seed;
  o.durable = c.durable;
  return o;
}

/// A run; with churn, also the churn-free run of the same operations (the
/// same simulator, seed and workload, with no departure), whose final state
/// size the churned one is compared with.
struct outcome {
  churn_result r;
  std::size_t churn_free_state_bytes = 0;
  std::size_t churn_free_whole_state_bytes = 0;  ///< members and user state of the churn-free run
};

outcome run(const config& c) {
  const sim_options o = options_of(c);
  outcome out;
  if (c.churn == 0) {
    static_cast<sim_result&>(out.r) = *converge::testing::run_workload(c.workload, o);
    return out;
  }
  out.r = *converge::testing::run_churn_workload(c.workload, o, c.churn);
  const auto churn_free = converge::testing::run_churn_workload(c.workload, o, 0)->churn;
  out.churn_free_state_bytes = churn_free.final_state_bytes;
  out.churn_free_whole_state_bytes = churn_free.whole_state_bytes;
  return out;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out += ch;
  }
  return out;
}

std::string to_json(const config& c, const outcome& out, double seconds) {
  const churn_result& r = out.r;
  std::ostringstream o;
  o << "{\"converged\":" << (r.converged ? "true" : "false")
    << ",\"ticks_to_converge\":" << r.ticks_to_converge << ",\"ticks\":" << r.ticks
    << ",\"messages_sent\":" << r.messages_sent << ",\"bytes_sent\":" << r.bytes_sent
    << ",\"bytes_lower_bound\":" << r.bytes_lower_bound << ",\"state_transfers\":" << r.state_transfers
    << ",\"max_buffer_bytes\":" << r.max_buffer_bytes << ",\"seed\":" << r.seed
    << ",\"replicas\":" << c.replicas << ",\"topology\":\"" << c.topo << "\",\"workload\":\"" << c.workload
    << "\",\"ops\":" << r.ops << ",\"delta_messages\":" << r.delta_messages << ",\"acks\":" << r.acks
    << ",\"retransmissions\":" << r.retransmissions << ",\"deltas_applied\":" << r.deltas_applied
    << ",\"redundant_dropped\":" << r.redundant_dropped << ",\"malformed\":" << r.malformed
    << ",\"unsendable\":" << r.unsendable << ",\"buffer_evictions\":" << r.buffer_evictions
    << ",\"messages_lost\":" << r.messages_lost << ",\"messages_duplicated\":" << r.messages_duplicated
    << ",\"crashes\":" << r.crashes << ",\"wipes\":" << r.wipes << ",\"partitions\":" << r.partitions
    << ",\"durable\":" << (c.durable ? "true" : "false") << ",\"syncs\":" << r.syncs
    << ",\"lost_unsynced\":" << r.lost_unsynced << ",\"torn_records\":" << r.torn_records
    << ",\"reissued\":" << r.reissued << ",\"bp\":" << (c.no_bp ? "false" : "true")
    << ",\"rr\":" << (c.no_rr ? "false" : "true") << ",\"wall_seconds\":" << seconds << ",\"broadcast\":\""
    << c.broadcast << "\",\"tree_prunes\":" << r.tree.prunes << ",\"tree_grafts\":" << r.tree.grafts
    << ",\"tree_digests\":" << r.tree.digests_sent << ",\"tree_digest_bytes\":" << r.tree.digest_bytes
    << ",\"tree_digest_acks\":" << r.tree.digest_acks << ",\"tree_lazy_repairs\":" << r.tree.lazy_repairs
    << ",\"tree_eager_links\":" << r.tree.eager_links
    << ",\"p99_propagation_intervals\":" << r.p99_propagation_intervals
    << ",\"max_propagation_intervals\":" << r.max_propagation_intervals;
  if (c.churn != 0) {
    const auto& h = r.churn;
    o << ",\"churn\":" << c.churn << ",\"max_replica_ids\":" << h.max_replica_ids
      << ",\"members_converged\":" << (h.members_converged ? "true" : "false")
      << ",\"values_match_oracle\":" << (h.values_match_oracle ? "true" : "false")
      << ",\"incarnations\":" << h.incarnations << ",\"leaves\":" << h.leaves
      << ",\"churn_crashes\":" << h.crashes << ",\"folds\":" << h.folds
      << ",\"readdresses\":" << h.readdresses << ",\"grace_extended\":" << h.grace_extended
      << ",\"fold_value_changes\":" << h.fold_value_changes
      << ",\"final_replica_ids\":" << h.final_replica_ids << ",\"final_state_bytes\":" << h.final_state_bytes
      << ",\"churn_free_state_bytes\":" << out.churn_free_state_bytes << ",\"state_ratio\":"
      << (out.churn_free_state_bytes
              ? static_cast<double>(h.final_state_bytes) / static_cast<double>(out.churn_free_state_bytes)
              : 0.0)
      << ",\"members_bytes\":" << h.members_bytes << ",\"retired\":" << h.retired
      << ",\"whole_state_bytes\":" << h.whole_state_bytes
      << ",\"churn_free_whole_state_bytes\":" << out.churn_free_whole_state_bytes << ",\"whole_state_ratio\":"
      << (out.churn_free_whole_state_bytes ? static_cast<double>(h.whole_state_bytes) /
                                                 static_cast<double>(out.churn_free_whole_state_bytes)
                                           : 0.0);
  }
  o << ",\"diverging\":[";
  for (std::size_t i = 0; i < r.diverging.size(); ++i) o << (i ? "," : "") << r.diverging[i];
  o << "],\"failure\":\"" << json_escape(r.failure) << "\"}";
  return o.str();
}

int single(const config& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const outcome out = run(c);
  const churn_result& r = out.r;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!c.json || !r.converged) {
    std::printf("%s\n", command_line(c).c_str());
    std::printf("  %s after %llu ticks (%llu after the last of %llu operations), %.2f s\n",
                r.converged ? "converged" : "NOT CONVERGED", static_cast<unsigned long long>(r.ticks),
                static_cast<unsigned long long>(r.ticks_to_converge), static_cast<unsigned long long>(r.ops),
                secs);
    std::printf(
        "  messages %llu (%llu deltas, %llu acks, %llu retransmitted), bytes %llu, lower bound %llu "
        "(x%.2f)\n",
        static_cast<unsigned long long>(r.messages_sent), static_cast<unsigned long long>(r.delta_messages),
        static_cast<unsigned long long>(r.acks), static_cast<unsigned long long>(r.retransmissions),
        static_cast<unsigned long long>(r.bytes_sent), static_cast<unsigned long long>(r.bytes_lower_bound),
        r.bytes_lower_bound ? static_cast<double>(r.bytes_sent) / static_cast<double>(r.bytes_lower_bound)
                            : 0.0);
    std::printf("  state transfers %llu, redundant dropped %llu, max buffer %zu bytes, malformed %llu\n",
                static_cast<unsigned long long>(r.state_transfers),
                static_cast<unsigned long long>(r.redundant_dropped), r.max_buffer_bytes,
                static_cast<unsigned long long>(r.malformed));
    std::printf("  faults: %llu lost, %llu duplicated, %llu crashes (%llu wiped), %llu partitions\n",
                static_cast<unsigned long long>(r.messages_lost),
                static_cast<unsigned long long>(r.messages_duplicated),
                static_cast<unsigned long long>(r.crashes), static_cast<unsigned long long>(r.wipes),
                static_cast<unsigned long long>(r.partitions));
    if (c.durable) {
      std::printf(
          "  durable: %llu syncs, %llu unsynced records lost, %llu torn records dropped, %llu reissued\n",
          static_cast<unsigned long long>(r.syncs), static_cast<unsigned long long>(r.lost_unsynced),
          static_cast<unsigned long long>(r.torn_records), static_cast<unsigned long long>(r.reissued));
    }
    if (c.churn != 0) {
      const auto& h = r.churn;
      std::printf(
          "  churn: %llu lives (%llu leaves, %llu crashes), %llu folds, %llu re-addresses, grace extended "
          "%llu "
          "times\n"
          "  max replica ids %zu (final %zu), final state %zu bytes (churn-free %zu, x%.2f), members %zu "
          "bytes "
          "(%zu retired); whole state %zu bytes (churn-free %zu, x%.2f)\n"
          "  members converged: %s, values match the oracle: %s (fold value changes %llu)\n",
          static_cast<unsigned long long>(h.incarnations), static_cast<unsigned long long>(h.leaves),
          static_cast<unsigned long long>(h.crashes), static_cast<unsigned long long>(h.folds),
          static_cast<unsigned long long>(h.readdresses), static_cast<unsigned long long>(h.grace_extended),
          h.max_replica_ids, h.final_replica_ids, h.final_state_bytes, out.churn_free_state_bytes,
          out.churn_free_state_bytes
              ? static_cast<double>(h.final_state_bytes) / static_cast<double>(out.churn_free_state_bytes)
              : 0.0,
          h.members_bytes, h.retired, h.whole_state_bytes, out.churn_free_whole_state_bytes,
          out.churn_free_whole_state_bytes ? static_cast<double>(h.whole_state_bytes) /
                                                 static_cast<double>(out.churn_free_whole_state_bytes)
                                           : 0.0,
          h.members_converged ? "yes" : "no", h.values_match_oracle ? "yes" : "no",
          static_cast<unsigned long long>(h.fold_value_changes));
    }
    if (!r.converged) {
      std::printf("  FAILURE (seed %llu): %s\n", static_cast<unsigned long long>(r.seed), r.failure.c_str());
      std::printf("  reproduce: %s\n", command_line(c).c_str());
    }
  }
  if (c.json) std::printf("%s\n", to_json(c, out, secs).c_str());
  return r.converged ? 0 : 1;
}

/// Draws one random configuration from `seed` (durable runs always crash).
config draw(std::uint64_t seed, bool durable, std::uint64_t churn) {
  sim_rng rng = sim_rng::derive(seed, 77);
  config c;
  c.replicas = 2 + rng.below(11);
  switch (rng.below(3)) {
    case 0:
      c.topo = "mesh";
      break;
    case 1:
      c.topo = "ring";
      break;
    default: {
      std::uint64_t k = 2 + rng.below(3);
      if (k >= c.replicas) k = c.replicas - 1;
      if ((k * c.replicas) % 2 != 0) --k;
      c.topo = k == 0 ? "ring" : "random:" + std::to_string(k);
    }
  }
  c.workload = converge_sim::workloads[rng.below(std::size(converge_sim::workloads))];
  c.ops = 10 + rng.below(300);
  static const double losses[] = {0.1, 0.2, 0.3, 0.5};
  if (rng.chance(0.5)) c.loss = losses[rng.below(4)];
  if (rng.chance(0.4)) c.duplicate = 0.2;
  c.reorder = rng.chance(0.5);
  c.partitions = rng.chance(0.4);
  static const double crashes[] = {0.005, 0.01, 0.03};
  if (rng.chance(0.4)) c.crash = crashes[rng.below(3)];
  if (durable) {
    // Crashes are the point: more of them, over longer runs.
    static const double durable_crashes[] = {0.03, 0.1, 0.2};
    c.crash = durable_crashes[rng.below(3)];
    c.ops = 50 + rng.below(1000);
  }
  c.durable = durable;
  if (churn != 0) {
    // Churn runs its own crashes, over runs long enough for every departure.
    c.crash = 0;
    c.churn = churn;
    c.ops = 10 * churn + rng.below(10 * churn);
  }
  c.no_bp = rng.chance(0.2);
  c.no_rr = rng.chance(0.2);
  // Drawn last, so the draws above are the same as before trees were drawn.
  if (rng.chance(0.3)) c.broadcast = "tree";
  c.seed = seed;
  return c;
}

int swarm(const config& c) {
  int failures = 0;
  std::uint64_t crashes = 0;
  std::vector<std::string> failed;
  for (std::uint64_t i = 0; i < *c.swarm; ++i) {
    const config run_cfg = draw(converge::replica_id::mix(*c.seed + i), c.durable, c.churn);
    // A run that never ends prints no verdict: CONVERGE_SIM_TRACE names each before it starts.
    if (std::getenv("CONVERGE_SIM_TRACE")) std::fprintf(stderr, "run: %s\n", command_line(run_cfg).c_str());
    const outcome out = run(run_cfg);
    const churn_result& r = out.r;
    crashes += r.crashes;
    std::printf("%s %s ticks=%llu bytes=%llu", r.converged ? "ok  " : "FAIL", command_line(run_cfg).c_str(),
                static_cast<unsigned long long>(r.ticks_to_converge),
                static_cast<unsigned long long>(r.bytes_sent));
    if (c.churn != 0) {
      std::printf(" max_replica_ids=%zu state=%zu/%zu", r.churn.max_replica_ids, r.churn.final_state_bytes,
                  out.churn_free_state_bytes);
    }
    std::printf("\n");
    if (!r.converged) {
      ++failures;
      failed.push_back(command_line(run_cfg) + "   # " + r.failure);
    }
    std::fflush(stdout);
  }
  for (const std::string& f : failed) std::printf("reproduce: %s\n", f.c_str());
  std::printf("swarm: %llu runs, %d failed, %llu crashes\n", static_cast<unsigned long long>(*c.swarm),
              failures, static_cast<unsigned long long>(crashes));
  if (c.json) {
    std::printf(
        "{\"runs\":%llu,\"failures\":%d,\"crashes\":%llu,\"seed\":%llu,\"durable\":%s,\"converged\":%s}\n",
        static_cast<unsigned long long>(*c.swarm), failures, static_cast<unsigned long long>(crashes),
        static_cast<unsigned long long>(*c.seed), c.durable ? "true" : "false",
        failures == 0 ? "true" : "false");
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Thousands of replicas build and drop buffers of every size all the time.
  // glibc returns large blocks to the kernel on free (mmap above a threshold,
  // heap trimming), so the next interval faults its pages in again: keep
  // freed memory for reuse instead. 12% less time at 1,000 replicas.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  config c;
  try {
    c = converge_sim::parse_config(std::vector<std::string_view>(argv + 1, argv + argc));
  } catch (const converge_sim::usage_error& e) {
    report(e.what(), " (see --help)");
    return 2;
  }
  if (c.help) {
    std::fputs(c.help_text.c_str(), stdout);
    return 0;
  }
  try {
    return c.swarm ? swarm(c) : single(c);
  } catch (const std::exception& e) {
    report(e.what());
    return 2;
  }
}
