// converge-bench-cluster: three converge::zmq_node replicas of an
// or_set<uint64_t> gossiping over tcp:// on loopback (one process, one
// ZeroMQ context and one thread per node, one producer thread per node).
//
//   converge-bench-cluster [--updates N] [--batch B] [--gossip-ms MS]
//                          [--rate R] [--seconds S] [--lag-gossip-ms MS]
//                          [--data-dir DIR] [--signing] [--no-inbound-guard] [--json]
//
// Throughput: each node's producer inserts N/3 new elements, B per `mutate`
// (the batch is one delta group); the clock runs until every node holds all
// N. "Applied updates per second per node" = N / the time the slowest node
// took to hold them all: every node applies every update (its own third
// locally, the rest from peers).
//
// Lag: producers insert one element per `mutate` at R updates/s in total
// (R/3 per node) for S seconds; the insert time of every element is
// recorded, and each node's subscriber notes when a remote element arrives.
// Lag = arrival - insert, over every (element, receiving node) pair;
// reported as median, p99 and max.
//
// Durability (--data-dir DIR): the throughput run is repeated with each node
// over an LMDB journal in DIR/nK (emptied first), syncing before every
// tick's messages leave, and the two figures are reported side by side
// ("durable_ratio" = durable / in-memory, in the same process and run).
// Signing (--signing): the throughput run is repeated with every node
// signing its counter entries with Ed25519 and verifying its peers'
// (replicator_options::signer), reported side by side ("signing_ratio").
// Each batch also counts its items in the node's own gcounter entry, so
// every delta carries an owned entry that must be signed and verified.
//
// --no-inbound-guard turns off the relay that bounds what a hostile tcp
// peer can make a node hold (node_options::inbound_guard, on by default
// without CURVE), to measure what it costs.

#include <converge/gcounter.hpp>
#include <converge/or_set.hpp>
#include <converge/signing/ed25519.hpp>
#include <converge/storage/lmdb_journal.hpp>
#include <converge/transport/zmq_node.hpp>

#include <boost/hana/define_struct.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <span>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

// What a shop replicates: the items, and how many it sold (each node counts
// its own in a gcounter: the entries that origin signing covers).
struct state {
  BOOST_HANA_DEFINE_STRUCT(state, (converge::or_set<std::uint64_t>, items), (converge::gcounter, sold));
  bool operator==(const state&) const = default;
};
using node = converge::zmq_node<state>;
using steady = std::chrono::steady_clock;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

using journals = std::vector<std::unique_ptr<converge::storage::lmdb_journal>>;

bool inbound_guard = true;  // --no-inbound-guard

/// Ed25519 signing for the three nodes, whose replica ids are 1, 2 and 3
/// (small ids, as the benchmark always used: the library's signer finds a
/// key by the node part of a replica id, which these ids do not have).
struct keyring {
  struct node_signer final : converge::entry_signer {
    node_signer(const keyring* k, std::size_t i) : keys(k), self(i) {}
    const keyring* keys;
    std::size_t self;
    [[nodiscard]] converge::entry_signature sign(std::span<const std::byte> m) const override {
      return keys->own[self].sign(m);
    }
    [[nodiscard]] bool verify(converge::replica_id owner, std::span<const std::byte> m,
                              const converge::entry_signature& sig) const override {
      const std::uint64_t i = owner.value();
      return i >= 1 && i <= 3 && keys->checkers[i - 1].verify(owner, m, sig);
    }
  };
  std::vector<converge::signing::ed25519_signer> own;       // node i's secret key
  std::vector<converge::signing::ed25519_signer> checkers;  // node i's public key, as the key of "node 0"
  std::vector<node_signer> signers;
  keyring() {
    for (std::uint64_t i = 1; i <= 3; ++i) {
      const auto pair = converge::signing::generate_signing_key_pair();
      own.emplace_back(pair, std::map<std::uint64_t, converge::signing::public_key>{});
      checkers.emplace_back(pair,
                            std::map<std::uint64_t, converge::signing::public_key>{{0, pair.public_part}});
    }
    for (std::size_t i = 0; i < 3; ++i) signers.emplace_back(this, i);
  }
  keyring(const keyring&) = delete;
  keyring& operator=(const keyring&) = delete;
};

/// Three nodes; over journals in `data_dir`/n1..n3 (emptied first) unless it
/// is empty; signing their counter entries with `keys` unless it is null.
std::vector<std::unique_ptr<node>> make_cluster(int gossip_ms, const std::string& data_dir = {},
                                                journals* disks = nullptr, const keyring* keys = nullptr) {
  std::vector<std::string> ep;
  for (int i = 0; i < 3; ++i) ep.push_back("tcp://127.0.0.1:" + std::to_string(free_port()));
  std::vector<std::unique_ptr<node>> nodes;
  for (int i = 0; i < 3; ++i) {
    converge::node_options o;
    o.id = static_cast<std::uint64_t>(i + 1);
    o.replica = converge::replica_id{static_cast<std::uint64_t>(i + 1)};
    if (keys != nullptr) o.replication.signer = &keys->signers[static_cast<std::size_t>(i)];
    o.bind = {ep[i]};
    for (int j = 0; j < 3; ++j) {
      if (j != i) o.peers.push_back(ep[j]);
    }
    o.gossip_interval = std::chrono::milliseconds(gossip_ms);
    o.heartbeat_interval = std::chrono::milliseconds(100);
    o.send_hwm = 10000;
    o.receive_hwm = 10000;
    o.log = {};
    o.inbound_guard.enabled = inbound_guard;
    if (!data_dir.empty()) {
      const std::filesystem::path dir = std::filesystem::path(data_dir) / ("n" + std::to_string(i + 1));
      std::filesystem::remove_all(dir);
      disks->push_back(std::make_unique<converge::storage::lmdb_journal>(dir));
      o.replication.journal = disks->back().get();
    }
    nodes.push_back(std::make_unique<node>(std::move(o)));
  }
  return nodes;
}

bool wait_mesh(std::vector<std::unique_ptr<node>>& nodes) {
  const auto deadline = steady::now() + std::chrono::seconds(10);
  while (steady::now() < deadline) {
    bool all = true;
    for (auto& n : nodes) {
      for (const auto& p : n->peers()) all = all && p.reachable;
    }
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

double secs(steady::duration d) { return std::chrono::duration<double>(d).count(); }

/// CPU seconds used by this process so far (all threads).
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct throughput_result {
  std::uint64_t updates = 0;
  double local_seconds = 0, converged_seconds = 0;
  double per_node_per_second = 0;
  double cpu_seconds = 0;         // whole process: 3 nodes, 3 producers
  double cpu_us_per_applied = 0;  // cpu_seconds / (3 nodes x updates)
  std::uint64_t messages = 0, bytes = 0;
  // Replication counters summed over the nodes: what the bytes were spent on.
  std::uint64_t retransmissions = 0, state_transfers = 0, redundant = 0, evictions = 0;
  std::size_t max_buffer_bytes = 0;
  bool converged = false;
};

throughput_result throughput(std::uint64_t updates, std::uint64_t batch, int gossip_ms,
                             const std::string& data_dir = {}, const keyring* keys = nullptr) {
  journals disks;  // outlive the nodes
  auto nodes = make_cluster(gossip_ms, data_dir, &disks, keys);
  for (auto& n : nodes) n->start();
  if (!wait_mesh(nodes)) std::fprintf(stderr, "cluster: mesh not up after 10 s\n");
  const std::uint64_t per = updates / 3;
  throughput_result r;
  r.updates = per * 3;
  const double c0 = cpu_seconds();
  const auto t0 = steady::now();
  std::vector<std::thread> producers;
  for (std::uint64_t i = 0; i < 3; ++i) {
    producers.emplace_back([&, i] {
      node& n = *nodes[i];
      const converge::replica_id me = n.replica();
      for (std::uint64_t done = 0; done < per;) {
        const std::uint64_t k = std::min(batch, per - done);
        n.mutate([&](state& s) {
          state group;
          for (std::uint64_t j = 0; j < k; ++j) group.items.join(s.items.insert(me, i + 3 * (done + j)));
          group.sold = s.sold.increment(me, k);
          return group;
        });
        done += k;
      }
    });
  }
  for (auto& t : producers) t.join();
  r.local_seconds = secs(steady::now() - t0);
  const auto deadline = t0 + std::chrono::seconds(120);
  std::vector<bool> done(3, false);
  while (steady::now() < deadline) {
    bool all = true;
    for (int i = 0; i < 3; ++i) {
      if (!done[i])
        done[i] = nodes[i]->read([](const state& s) { return s.items.size() == s.sold.value(); }) &&
                  nodes[i]->read([](const state& s) { return s.items.size(); }) == r.updates;
      all = all && done[i];
    }
    if (all) {
      r.converged = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  r.converged_seconds = secs(steady::now() - t0);
  r.per_node_per_second = static_cast<double>(r.updates) / r.converged_seconds;
  r.cpu_seconds = cpu_seconds() - c0;
  r.cpu_us_per_applied = r.cpu_seconds * 1e6 / (3.0 * static_cast<double>(r.updates));
  for (auto& n : nodes) {
    const auto m = n->transport_stats();
    r.messages += m.messages_out;
    r.bytes += m.bytes_out;
    const auto rep = n->replication_stats();
    r.retransmissions += rep.total.retransmissions;
    r.state_transfers += rep.total.state_transfers_sent;
    r.redundant += rep.total.redundant_dropped;
    r.evictions += rep.buffer_evictions;
    r.max_buffer_bytes = std::max(r.max_buffer_bytes, rep.max_buffer_bytes);
  }
  for (auto& n : nodes) n->stop();
  return r;
}

struct lag_result {
  double rate = 0, seconds = 0;
  std::uint64_t samples = 0, missing = 0;
  double median_ms = 0, p99_ms = 0, max_ms = 0;
};

lag_result lag(double rate, double seconds, int gossip_ms) {
  auto nodes = make_cluster(gossip_ms);
  const auto total = static_cast<std::uint64_t>(rate * seconds);
  const std::uint64_t per = total / 3;
  std::vector<std::atomic<std::int64_t>> issued(per * 3);
  std::mutex m;
  std::vector<double> lags;
  lags.reserve(per * 6);
  const auto epoch = steady::now();
  auto now_ns = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - epoch).count();
  };
  // First arrival only: an element may reach a node twice (direct and relayed).
  std::vector<std::vector<char>> seen(3, std::vector<char>(per * 3, 0));
  for (std::size_t idx = 0; idx < nodes.size(); ++idx) {
    auto& n = nodes[idx];
    n->subscribe([&, idx](const converge::state_change<state>& c) {
      if (c.local) return;
      const std::int64_t t = now_ns();
      const std::lock_guard lock(m);
      c.delta.items.for_each([&](std::uint64_t e) {
        if (e < issued.size() && !seen[idx][e]) {
          seen[idx][e] = 1;
          lags.push_back(static_cast<double>(t - issued[e].load()) / 1e6);
        }
      });
    });
    n->start();
  }
  if (!wait_mesh(nodes)) std::fprintf(stderr, "cluster: mesh not up after 10 s\n");
  std::vector<std::thread> producers;
  const auto interval = std::chrono::duration<double>(3.0 / rate);
  const auto t0 = steady::now();
  for (std::uint64_t i = 0; i < 3; ++i) {
    producers.emplace_back([&, i] {
      node& n = *nodes[i];
      const converge::replica_id me = n.replica();
      // Node i's k-th update is due at t0 + (k + i/3) * interval.
      for (std::uint64_t k = 0; k < per; ++k) {
        const auto due =
            t0 + std::chrono::duration_cast<steady::duration>(interval * (static_cast<double>(k) + i / 3.0));
        std::this_thread::sleep_until(due);
        const std::uint64_t e = i + 3 * k;
        issued[e].store(now_ns());
        n.mutate([&](state& s) { return state{s.items.insert(me, e), {}}; });
      }
    });
  }
  for (auto& t : producers) t.join();
  lag_result r;
  r.seconds = secs(steady::now() - t0);
  r.rate = static_cast<double>(per * 3) / r.seconds;
  // Let the last updates arrive.
  const auto deadline = steady::now() + std::chrono::seconds(10);
  while (steady::now() < deadline) {
    {
      const std::lock_guard lock(m);
      if (lags.size() >= per * 3 * 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& n : nodes) n->stop();
  std::sort(lags.begin(), lags.end());
  r.samples = lags.size();
  r.missing = per * 3 * 2 > lags.size() ? per * 3 * 2 - lags.size() : 0;
  if (!lags.empty()) {
    r.median_ms = lags[lags.size() / 2];
    r.p99_ms =
        lags[std::min(lags.size() - 1, static_cast<std::size_t>(0.99 * static_cast<double>(lags.size())))];
    r.max_ms = lags.back();
  }
  return r;
}

/// Prints one throughput figure, in memory or durable, signed or not.
void print_throughput(const throughput_result& t, std::uint64_t batch, int gossip_ms, bool durable, bool json,
                      bool signing = false) {
  std::printf(
      json ? "{\"measure\":\"throughput\",\"signing\":%s,\"durable\":%s,\"nodes\":3,\"updates\":%llu,"
             "\"batch\":%llu,"
             "\"gossip_ms\":%d,"
             "\"converged\":%s,\"local_seconds\":%.3f,\"converged_seconds\":%.3f,\"applied_per_node_per_"
             "second\":%.0f,"
             "\"cpu_seconds\":%.3f,\"cpu_us_per_applied\":%.3f,\"messages\":%llu,\"bytes\":%llu,\"hardware_"
             "threads\":%u,"
             "\"retransmissions\":%llu,\"state_transfers\":%llu,\"redundant_dropped\":%llu,\"buffer_"
             "evictions\":%llu,"
             "\"max_buffer_bytes\":%llu}\n"
           : "throughput%s%s: %llu updates, batch %llu, gossip %d ms, converged %s: local %.3f s, all nodes "
             "%.3f "
             "s, "
             "%.0f applied updates/s per node; %.3f CPU s (%.3f CPU us per applied update), %llu messages, "
             "%llu bytes, "
             "%u hardware threads; %llu retransmissions, %llu state transfers, %llu redundant payloads "
             "dropped, "
             "%llu buffer evictions, largest buffer %llu bytes\n",
      signing ? (json ? "true" : " (signed)") : (json ? "false" : ""),
      durable ? (json ? "true" : " (durable)") : (json ? "false" : ""),
      static_cast<unsigned long long>(t.updates), static_cast<unsigned long long>(batch), gossip_ms,
      t.converged ? "true" : "false", t.local_seconds, t.converged_seconds, t.per_node_per_second,
      t.cpu_seconds, t.cpu_us_per_applied, static_cast<unsigned long long>(t.messages),
      static_cast<unsigned long long>(t.bytes), std::thread::hardware_concurrency(),
      static_cast<unsigned long long>(t.retransmissions), static_cast<unsigned long long>(t.state_transfers),
      static_cast<unsigned long long>(t.redundant), static_cast<unsigned long long>(t.evictions),
      static_cast<unsigned long long>(t.max_buffer_bytes));
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t updates = 3'000'000, batch = 1000;
  int gossip_ms = 10;
  std::vector<int> lag_gossip = {};
  double rate = 10'000, seconds = 5;
  bool json = false;
  std::string data_dir;
  bool signing = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--updates")
      updates = std::stoull(next());
    else if (a == "--batch")
      batch = std::max<std::uint64_t>(1, std::stoull(next()));
    else if (a == "--gossip-ms")
      gossip_ms = std::stoi(next());
    else if (a == "--lag-gossip-ms")
      lag_gossip.push_back(std::stoi(next()));
    else if (a == "--rate")
      rate = std::stod(next());
    else if (a == "--seconds")
      seconds = std::stod(next());
    else if (a == "--no-inbound-guard")
      inbound_guard = false;
    else if (a == "--data-dir")
      data_dir = next();
    else if (a == "--signing")
      signing = true;
    else if (a == "--json")
      json = true;
    else {
      std::fprintf(
          stderr,
          "usage: converge-bench-cluster [--updates N] [--batch B] [--gossip-ms MS] [--rate R] [--seconds S]"
          " [--lag-gossip-ms MS]... [--data-dir DIR] [--signing] [--no-inbound-guard] [--json]\n");
      return 2;
    }
  }
  if (lag_gossip.empty()) lag_gossip = {gossip_ms};
  const throughput_result t = throughput(updates, batch, gossip_ms);
  print_throughput(t, batch, gossip_ms, false, json);
  if (!data_dir.empty()) {
    const throughput_result d = throughput(updates, batch, gossip_ms, data_dir);
    print_throughput(d, batch, gossip_ms, true, json);
    const double ratio = d.per_node_per_second / t.per_node_per_second;
    std::printf(
        json ? "{\"measure\":\"durable_ratio\",\"ratio\":%.3f}\n" : "durable / in-memory throughput: %.3f\n",
        ratio);
  }
  if (signing) {
    const keyring keys;
    const throughput_result g = throughput(updates, batch, gossip_ms, {}, &keys);
    print_throughput(g, batch, gossip_ms, false, json, true);
    const double ratio = g.per_node_per_second / t.per_node_per_second;
    std::printf(
        json ? "{\"measure\":\"signing_ratio\",\"ratio\":%.3f}\n" : "signed / unsigned throughput: %.3f\n",
        ratio);
  }
  std::fflush(stdout);
  for (const int g : lag_gossip) {
    const lag_result l = lag(rate, seconds, g);
    std::printf(
        json ? "{\"measure\":\"lag\",\"nodes\":3,\"gossip_ms\":%d,\"target_rate\":%.0f,\"rate\":%.0f,"
               "\"seconds\":%.2f,\"samples\":%llu,\"missing\":%llu,\"median_ms\":%.3f,\"p99_ms\":%.3f,"
               "\"max_ms\":%.3f}\n"
             : "lag: gossip %d ms, target %.0f/s, achieved %.0f updates/s over %.2f s, %llu samples (%llu "
               "missing): median %.3f ms, p99 %.3f ms, max %.3f ms\n",
        g, rate, l.rate, l.seconds, static_cast<unsigned long long>(l.samples),
        static_cast<unsigned long long>(l.missing), l.median_ms, l.p99_ms, l.max_ms);
    std::fflush(stdout);
  }
  return 0;
}
