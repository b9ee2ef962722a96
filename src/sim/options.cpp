#include "options.hpp"

#include <converge/testing/simulator.hpp>

#include <algorithm>
#include <charconv>
#include <memory>
#include <system_error>

#include "common/cli.hpp"

namespace converge_sim {
namespace {

using converge::testing::topology;

constexpr const char* synopsis =
    "usage: converge-sim --replicas N --topology mesh|ring|random:K --workload "
    "gset|or_set|gcounter|or_map|mixed\n"
    "                    [--ops N] [--loss P] [--duplicate P] [--reorder] [--partitions] [--crash P]\n"
    "                    [--no-bp] [--no-rr] [--ops-per-tick N] [--gossip-interval N] [--broadcast "
    "gossip|tree]\n"
    "                    [--durable] --seed S [--json]\n"
    "       converge-sim --swarm N --seed S [--durable] [--json]";

constexpr const char* description =
    "Runs N replicators over a simulated network on virtual time, with seeded faults, and checks\n"
    "that every replica ends equal to the join of every update issued. One seed drives everything.";

constexpr const char* footer =
    "Values: N, S decimal; P a probability from 0 to 1; --opt VALUE or --opt=VALUE.\n"
    "Exit status: 0 converged, 1 not converged, 2 bad arguments (one line on stderr).\n";

constexpr std::uint64_t max_replicas = 100000;
constexpr std::uint64_t max_ops = 1000000000;
constexpr std::uint64_t max_gossip_interval = 1000000;
constexpr std::uint64_t max_swarm = 1000000;
constexpr std::uint64_t max_churn = 10000000;

// A probability: a decimal number from 0 to 1 (std::from_chars: no sign, no
// spaces, no trailing text; nan and inf are out of range).
CLI::Option* add_probability(CLI::App& app, const std::string& name, double& out,
                             const std::string& description) {
  auto parse = [name, &out](const std::string& v) {
    double x = 0;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc{} || ptr != v.data() + v.size() || !(x >= 0 && x <= 1)) {
      throw CLI::ValidationError(name + " needs a probability from 0 to 1, not '" + v + "'");
    }
    out = x;
  };
  return app.add_option_function<std::string>(name, parse, description)->type_name("P");
}

// The shortest text that reads back as exactly `x`.
std::string shortest(double x) {
  char buf[32];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc{} ? std::string(buf, ptr) : std::to_string(x);
}

}  // namespace

config parse_config(const std::vector<std::string_view>& args) {
  config c;
  auto app = std::make_unique<CLI::App>(description, "converge-sim");
  app->formatter(std::make_shared<converge_cli::help_formatter>(synopsis));
  app->footer(footer);
  app->set_help_flag("-h,--help", "this text");

  using converge_cli::add_flag;
  using converge_cli::add_number;
  auto store = [](std::uint64_t& out) { return [&out](std::uint64_t v) { out = v; }; };
  // The options of one run, which --swarm draws itself.
  std::vector<CLI::Option*> run_options = {
      add_number(*app, "--replicas", 1, max_replicas, store(c.replicas), "number of replicas (1 to 100000)"),
      app->add_option("--topology", c.topo, "mesh, ring, or random:K (a connected K-regular random graph)")
          ->type_name("T"),
      app->add_option("--workload", c.workload,
                      "gset, or_set, gcounter, or_map, mixed (every type in one struct)")
          ->type_name("W"),
      add_number(*app, "--ops", 0, max_ops, store(c.ops),
                 "operations issued at random live replicas (0 to 10^9, default 0)", "N", "0 to 10^9"),
      add_probability(*app, "--loss", c.loss, "probability a message is lost"),
      add_probability(*app, "--duplicate", c.duplicate, "probability a message is delivered twice"),
      add_flag(*app, "--reorder", c.reorder, "random extra delay per message"),
      add_flag(*app, "--partitions", c.partitions, "partitions come and heal while operations run"),
      add_probability(*app, "--crash", c.crash,
                      "per replica and gossip interval, probability of a crash and restart"),
      add_flag(*app, "--no-bp", c.no_bp, "disable avoid-back-propagation"),
      add_flag(*app, "--no-rr", c.no_rr, "disable remove-redundant"),
      add_number(*app, "--ops-per-tick", 1, max_ops, store(c.ops_per_tick),
                 "operation rate, 1 to 10^9 (default replicas/8, at least 1)", "N", "1 to 10^9"),
      add_number(*app, "--gossip-interval", 1, max_gossip_interval, store(c.gossip_interval),
                 "virtual time between sends, 1 to 10^6 (default 50)", "N", "1 to 10^6"),
      app->add_option(
             "--broadcast", c.broadcast,
             "gossip (every interval to every peer, the default) or tree (an epidemic broadcast tree "
             "with lazy digests on the other links)")
          ->type_name("B"),
      add_probability(*app, "--prune-ratio", c.prune_ratio,
                      "tree: prune a link when this fraction of its bytes was redundant (default 0.75)"),
      add_number(*app, "--lazy-delay", 1, 1000, store(c.lazy_delay),
                 "tree: graft a lazy link once a digest's sample is still missing this many intervals later, "
                 "or after this many still intervals with a differing digest, 1 to 1000 (default 2)",
                 "N", "1 to 1000"),
  };
  add_number(
      *app, "--seed", 0, UINT64_MAX, [&](std::uint64_t v) { c.seed = v; }, "the seed (0 to 2^64-1)", "S",
      "0 to 2^64-1");
  add_flag(*app, "--json", c.json, "end with one JSON object on the last line");
  add_flag(*app, "--durable", c.durable,
           "replicas over in-memory journals: a crash loses unsynced records and may tear the last one");
  add_number(
      *app, "--churn", 1, max_churn, [&](std::uint64_t v) { c.churn = v; },
      "N replicas leave or crash for good over the run, each replaced by a fresh one under a new replica id, "
      "and are retired (1 to 10^7)",
      "N", "1 to 10^7");
  add_number(
      *app, "--swarm", 1, max_swarm, [&](std::uint64_t v) { c.swarm = v; },
      "run N random configurations drawn from the seed (1 to 10^6)", "N", "1 to 10^6");

  if (converge_cli::parse(*app, args)) {
    c.help = true;
    c.help_text = app->help();
    return c;
  }
  if (!c.seed) throw usage_error("--seed is required");
  if (c.churn != 0 && c.durable) throw usage_error("--churn does not combine with --durable");
  if (c.churn != 0 && c.crash > 0)
    throw usage_error("--churn runs its own crashes (for good): it does not combine with --crash");
  if (c.churn != 0 && !c.swarm && c.replicas == 1) throw usage_error("--churn needs at least 2 replicas");
  if (c.swarm) {
    for (const CLI::Option* opt : run_options) {
      if (opt->count() > 0) {
        throw usage_error(
            "--swarm draws every run from the seed: it takes only --seed, --json, --durable and --churn, "
            "not " +
            opt->get_name());
      }
    }
    return c;
  }
  if (!converge::replication::parse_broadcast(c.broadcast))
    throw usage_error("--broadcast must be gossip or tree, got '" + c.broadcast + "'");
  if (c.replicas == 0) throw usage_error("--replicas is required (at least 1)");
  if (c.topo.empty()) throw usage_error("--topology is required");
  const auto t = topology::parse(c.topo);
  if (!t) throw usage_error("--topology must be mesh, ring or random:K, got '" + c.topo + "'");
  if (t->shape == topology::kind::random_regular &&
      (t->degree >= c.replicas || (t->degree * c.replicas) % 2 != 0)) {
    throw usage_error("--topology " + c.topo + " needs K < replicas and K * replicas even");
  }
  if (c.workload.empty()) throw usage_error("--workload is required");
  if (std::find(std::begin(workloads), std::end(workloads), c.workload) == std::end(workloads)) {
    throw usage_error("--workload must be gset, or_set, gcounter, or_map or mixed, got '" + c.workload + "'");
  }
  return c;
}

std::string command_line(const config& c) {
  std::string s = "converge-sim --replicas " + std::to_string(c.replicas) + " --topology " + c.topo +
                  " --workload " + c.workload + " --ops " + std::to_string(c.ops);
  if (c.loss > 0) s += " --loss " + shortest(c.loss);
  if (c.duplicate > 0) s += " --duplicate " + shortest(c.duplicate);
  if (c.reorder) s += " --reorder";
  if (c.partitions) s += " --partitions";
  if (c.crash > 0) s += " --crash " + shortest(c.crash);
  if (c.no_bp) s += " --no-bp";
  if (c.no_rr) s += " --no-rr";
  if (c.durable) s += " --durable";
  if (c.churn != 0) s += " --churn " + std::to_string(c.churn);
  if (c.ops_per_tick != 0) s += " --ops-per-tick " + std::to_string(c.ops_per_tick);
  if (c.gossip_interval != 50) s += " --gossip-interval " + std::to_string(c.gossip_interval);
  if (c.broadcast != "gossip") s += " --broadcast " + c.broadcast;
  if (c.prune_ratio != 0.75) s += " --prune-ratio " + shortest(c.prune_ratio);
  if (c.lazy_delay != 2) s += " --lazy-delay " + std::to_string(c.lazy_delay);
  s += " --seed " + std::to_string(*c.seed);
  return s;
}

}  // namespace converge_sim
