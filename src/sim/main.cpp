// converge-sim: runs replicators over a deterministic, faulty, simulated
// network and checks that they converge. One seed reproduces a run.
//
//   converge-sim --replicas N --topology T --workload W --ops N [--loss P]
//                [--duplicate P] [--reorder] [--partitions] [--crash P]
//                [--no-bp] [--no-rr] --seed S [--json]
//   converge-sim --swarm N --seed S
//
// Exit status: 0 converged, 1 a run did not converge, 2 bad arguments.
#include <converge/testing/simulator.hpp>
#include <converge/testing/workloads.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

using converge::testing::sim_options;
using converge::testing::sim_result;
using converge::testing::sim_rng;
using converge::testing::topology;

constexpr const char* usage =
    "usage: converge-sim --replicas N --topology mesh|ring|random:K --workload gset|or_set|gcounter|or_map|mixed\n"
    "                    --ops N [--loss P] [--duplicate P] [--reorder] [--partitions] [--crash P]\n"
    "                    [--no-bp] [--no-rr] [--ops-per-tick N] [--gossip-interval N] --seed S [--json]\n"
    "       converge-sim --swarm N --seed S [--json]\n"
    "\n"
    "Runs N replicators over a simulated network on virtual time, with seeded faults, and checks\n"
    "that every replica ends equal to the join of every update issued. One seed drives everything.\n"
    "  --replicas N         number of replicas (1..100000)\n"
    "  --topology T         mesh, ring, or random:K (a connected K-regular random graph)\n"
    "  --workload W         gset, or_set, gcounter, or_map, mixed (every type in one struct)\n"
    "  --ops N              operations issued at random live replicas\n"
    "  --loss P             probability a message is lost (0..1)\n"
    "  --duplicate P        probability a message is delivered twice (0..1)\n"
    "  --reorder            random extra delay per message\n"
    "  --partitions         partitions come and heal while operations run\n"
    "  --crash P            per replica and gossip interval, probability of a crash and restart\n"
    "  --no-bp, --no-rr     disable avoid-back-propagation / remove-redundant\n"
    "  --ops-per-tick N     operation rate (default replicas/8, at least 1)\n"
    "  --gossip-interval N  virtual time between sends (default 50)\n"
    "  --seed S             the seed\n"
    "  --json               end with one JSON object on the last line\n"
    "  --swarm N            run N random configurations drawn from the seed\n"
    "Exit status: 0 converged, 1 not converged, 2 bad arguments.\n";

struct config {
  std::uint64_t replicas = 0;
  std::string topo;
  std::string workload;
  std::uint64_t ops = 0;
  double loss = 0, duplicate = 0, crash = 0;
  bool reorder = false, partitions = false, no_bp = false, no_rr = false;
  std::uint64_t ops_per_tick = 0;
  std::uint64_t gossip_interval = 50;
  std::optional<std::uint64_t> seed;
  bool json = false;
  std::optional<std::uint64_t> swarm;
  bool help = false;
};

struct bad_args {
  std::string what;
};

std::uint64_t to_u64(std::string_view flag, std::string_view v) {
  std::uint64_t x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc{} || p != v.data() + v.size()) throw bad_args{std::string(flag) + " needs a non-negative integer, got '" + std::string(v) + "'"};
  return x;
}

double to_prob(std::string_view flag, std::string_view v) {
  double x = 0;
  try {
    std::size_t used = 0;
    x = std::stod(std::string(v), &used);
    if (used != v.size()) throw 0;
  } catch (...) {
    throw bad_args{std::string(flag) + " needs a probability, got '" + std::string(v) + "'"};
  }
  if (!(x >= 0 && x <= 1)) throw bad_args{std::string(flag) + " must be between 0 and 1"};
  return x;
}

config parse(const std::vector<std::string>& args) {
  config c;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= args.size()) throw bad_args{a + " needs a value"};
      return args[++i];
    };
    if (a == "--help" || a == "-h") c.help = true;
    else if (a == "--replicas") c.replicas = to_u64(a, value());
    else if (a == "--topology") c.topo = value();
    else if (a == "--workload") c.workload = value();
    else if (a == "--ops") c.ops = to_u64(a, value());
    else if (a == "--loss") c.loss = to_prob(a, value());
    else if (a == "--duplicate") c.duplicate = to_prob(a, value());
    else if (a == "--crash") c.crash = to_prob(a, value());
    else if (a == "--reorder") c.reorder = true;
    else if (a == "--partitions") c.partitions = true;
    else if (a == "--no-bp") c.no_bp = true;
    else if (a == "--no-rr") c.no_rr = true;
    else if (a == "--ops-per-tick") c.ops_per_tick = to_u64(a, value());
    else if (a == "--gossip-interval") c.gossip_interval = to_u64(a, value());
    else if (a == "--seed") c.seed = to_u64(a, value());
    else if (a == "--json") c.json = true;
    else if (a == "--swarm") c.swarm = to_u64(a, value());
    else throw bad_args{"unknown argument '" + a + "'"};
  }
  if (c.help) return c;
  if (!c.seed) throw bad_args{"--seed is required"};
  if (c.swarm) return c;
  if (c.replicas == 0) throw bad_args{"--replicas is required (at least 1)"};
  if (c.replicas > 100000) throw bad_args{"--replicas must be at most 100000"};
  if (c.topo.empty()) throw bad_args{"--topology is required"};
  const auto t = topology::parse(c.topo);
  if (!t) throw bad_args{"--topology must be mesh, ring or random:K, got '" + c.topo + "'"};
  if (t->shape == topology::kind::random_regular && (t->degree >= c.replicas || (t->degree * c.replicas) % 2 != 0)) {
    throw bad_args{"--topology " + c.topo + " needs K < replicas and K * replicas even"};
  }
  if (c.workload.empty()) throw bad_args{"--workload is required"};
  if (c.workload != "gset" && c.workload != "or_set" && c.workload != "gcounter" && c.workload != "or_map" &&
      c.workload != "mixed") {
    throw bad_args{"--workload must be gset, or_set, gcounter, or_map or mixed, got '" + c.workload + "'"};
  }
  if (c.gossip_interval == 0) throw bad_args{"--gossip-interval must be at least 1"};
  return c;
}

std::string fmt_double(double x) {
  std::ostringstream o;
  o << x;
  return o.str();
}

std::string command_line(const config& c) {
  std::string s = "converge-sim --replicas " + std::to_string(c.replicas) + " --topology " + c.topo + " --workload " +
                  c.workload + " --ops " + std::to_string(c.ops);
  if (c.loss > 0) s += " --loss " + fmt_double(c.loss);
  if (c.duplicate > 0) s += " --duplicate " + fmt_double(c.duplicate);
  if (c.reorder) s += " --reorder";
  if (c.partitions) s += " --partitions";
  if (c.crash > 0) s += " --crash " + fmt_double(c.crash);
  if (c.no_bp) s += " --no-bp";
  if (c.no_rr) s += " --no-rr";
  if (c.ops_per_tick != 0) s += " --ops-per-tick " + std::to_string(c.ops_per_tick);
  if (c.gossip_interval != 50) s += " --gossip-interval " + std::to_string(c.gossip_interval);
  s += " --seed " + std::to_string(*c.seed);
  return s;
}

sim_result run(const config& c) {
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
  o.seed = *c.seed;
  return *converge::testing::run_workload(c.workload, o);
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

std::string to_json(const config& c, const sim_result& r, double seconds) {
  std::ostringstream o;
  o << "{\"converged\":" << (r.converged ? "true" : "false") << ",\"ticks_to_converge\":" << r.ticks_to_converge
    << ",\"ticks\":" << r.ticks << ",\"messages_sent\":" << r.messages_sent << ",\"bytes_sent\":" << r.bytes_sent
    << ",\"bytes_lower_bound\":" << r.bytes_lower_bound << ",\"state_transfers\":" << r.state_transfers
    << ",\"max_buffer_bytes\":" << r.max_buffer_bytes << ",\"seed\":" << r.seed << ",\"replicas\":" << c.replicas
    << ",\"topology\":\"" << c.topo << "\",\"workload\":\"" << c.workload << "\",\"ops\":" << r.ops
    << ",\"delta_messages\":" << r.delta_messages << ",\"acks\":" << r.acks
    << ",\"retransmissions\":" << r.retransmissions << ",\"deltas_applied\":" << r.deltas_applied
    << ",\"redundant_dropped\":" << r.redundant_dropped << ",\"malformed\":" << r.malformed
    << ",\"unsendable\":" << r.unsendable << ",\"buffer_evictions\":" << r.buffer_evictions
    << ",\"messages_lost\":" << r.messages_lost << ",\"messages_duplicated\":" << r.messages_duplicated
    << ",\"crashes\":" << r.crashes << ",\"wipes\":" << r.wipes << ",\"partitions\":" << r.partitions
    << ",\"bp\":" << (c.no_bp ? "false" : "true") << ",\"rr\":" << (c.no_rr ? "false" : "true")
    << ",\"wall_seconds\":" << seconds << ",\"diverging\":[";
  for (std::size_t i = 0; i < r.diverging.size(); ++i) o << (i ? "," : "") << r.diverging[i];
  o << "],\"failure\":\"" << json_escape(r.failure) << "\"}";
  return o.str();
}

int single(const config& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const sim_result r = run(c);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!c.json || !r.converged) {
    std::printf("%s\n", command_line(c).c_str());
    std::printf("  %s after %llu ticks (%llu after the last of %llu operations), %.2f s\n",
                r.converged ? "converged" : "NOT CONVERGED", static_cast<unsigned long long>(r.ticks),
                static_cast<unsigned long long>(r.ticks_to_converge), static_cast<unsigned long long>(r.ops), secs);
    std::printf("  messages %llu (%llu deltas, %llu acks, %llu retransmitted), bytes %llu, lower bound %llu (x%.2f)\n",
                static_cast<unsigned long long>(r.messages_sent), static_cast<unsigned long long>(r.delta_messages),
                static_cast<unsigned long long>(r.acks), static_cast<unsigned long long>(r.retransmissions),
                static_cast<unsigned long long>(r.bytes_sent), static_cast<unsigned long long>(r.bytes_lower_bound),
                r.bytes_lower_bound ? static_cast<double>(r.bytes_sent) / static_cast<double>(r.bytes_lower_bound) : 0.0);
    std::printf("  state transfers %llu, redundant dropped %llu, max buffer %zu bytes, malformed %llu\n",
                static_cast<unsigned long long>(r.state_transfers), static_cast<unsigned long long>(r.redundant_dropped),
                r.max_buffer_bytes, static_cast<unsigned long long>(r.malformed));
    std::printf("  faults: %llu lost, %llu duplicated, %llu crashes (%llu wiped), %llu partitions\n",
                static_cast<unsigned long long>(r.messages_lost), static_cast<unsigned long long>(r.messages_duplicated),
                static_cast<unsigned long long>(r.crashes), static_cast<unsigned long long>(r.wipes),
                static_cast<unsigned long long>(r.partitions));
    if (!r.converged) {
      std::printf("  FAILURE (seed %llu): %s\n", static_cast<unsigned long long>(r.seed), r.failure.c_str());
      std::printf("  reproduce: %s\n", command_line(c).c_str());
    }
  }
  if (c.json) std::printf("%s\n", to_json(c, r, secs).c_str());
  return r.converged ? 0 : 1;
}

/// Draws one random configuration from `seed`.
config draw(std::uint64_t seed) {
  sim_rng rng = sim_rng::derive(seed, 77);
  config c;
  c.replicas = 2 + rng.below(11);
  switch (rng.below(3)) {
    case 0: c.topo = "mesh"; break;
    case 1: c.topo = "ring"; break;
    default: {
      std::uint64_t k = 2 + rng.below(3);
      if (k >= c.replicas) k = c.replicas - 1;
      if ((k * c.replicas) % 2 != 0) --k;
      c.topo = k == 0 ? "ring" : "random:" + std::to_string(k);
    }
  }
  static const char* const workloads[] = {"gset", "or_set", "gcounter", "or_map", "mixed"};
  c.workload = workloads[rng.below(5)];
  c.ops = 10 + rng.below(300);
  static const double losses[] = {0.1, 0.2, 0.3, 0.5};
  if (rng.chance(0.5)) c.loss = losses[rng.below(4)];
  if (rng.chance(0.4)) c.duplicate = 0.2;
  c.reorder = rng.chance(0.5);
  c.partitions = rng.chance(0.4);
  static const double crashes[] = {0.005, 0.01, 0.03};
  if (rng.chance(0.4)) c.crash = crashes[rng.below(3)];
  c.no_bp = rng.chance(0.2);
  c.no_rr = rng.chance(0.2);
  c.seed = seed;
  return c;
}

int swarm(const config& c) {
  int failures = 0;
  std::vector<std::string> failed;
  for (std::uint64_t i = 0; i < *c.swarm; ++i) {
    const config run_cfg = draw(converge::replica_id::mix(*c.seed + i));
    const sim_result r = run(run_cfg);
    std::printf("%s %s ticks=%llu bytes=%llu\n", r.converged ? "ok  " : "FAIL", command_line(run_cfg).c_str(),
                static_cast<unsigned long long>(r.ticks_to_converge), static_cast<unsigned long long>(r.bytes_sent));
    if (!r.converged) {
      ++failures;
      failed.push_back(command_line(run_cfg) + "   # " + r.failure);
    }
    std::fflush(stdout);
  }
  for (const std::string& f : failed) std::printf("reproduce: %s\n", f.c_str());
  std::printf("swarm: %llu runs, %d failed\n", static_cast<unsigned long long>(*c.swarm), failures);
  if (c.json) {
    std::printf("{\"runs\":%llu,\"failures\":%d,\"seed\":%llu,\"converged\":%s}\n",
                static_cast<unsigned long long>(*c.swarm), failures, static_cast<unsigned long long>(*c.seed),
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
    c = parse(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const bad_args& e) {
    std::fprintf(stderr, "converge-sim: %s (try --help)\n", e.what.c_str());
    return 2;
  }
  if (c.help) {
    std::fputs(usage, stdout);
    return 0;
  }
  try {
    return c.swarm ? swarm(c) : single(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "converge-sim: %s\n", e.what());
    return 2;
  }
}
