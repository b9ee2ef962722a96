// converge-bench-catchup: what a durable replica receives when it comes back.
//
//   converge-bench-catchup [--elements N] [--missed M] [--json]
//
// Two durable replicators (in-memory journals, a lossless network on virtual
// time) share an or_set<uint64_t> of N elements. Replica 1 crashes; replica
// 0 inserts M elements, one per mutate, while it is down; replica 1 restarts
// from its journal. Reported: the bytes replica 1 received after its restart
// against the encoded bytes of the M deltas it missed (the target is ≤ 2×,
// plus the peers' causal context), whether any state transfer was needed,
// and the bytes a restart without data would have cost (the whole state).

#include <converge/or_set.hpp>
#include <converge/replication/memory_journal.hpp>
#include <converge/testing/cluster.hpp>
#include <converge/wire/encode.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using state = converge::or_set<std::uint64_t>;

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t elements = 1'000'000, missed = 1000;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--elements" && i + 1 < argc) {
      elements = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--missed" && i + 1 < argc) {
      missed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: converge-bench-catchup [--elements N] [--missed M] [--json]\n");
      return 2;
    }
  }
  converge::testing::cluster<state> c(2);
  const std::size_t peer_of_0[] = {1}, peer_of_1[] = {0};
  c.start_durable(0, converge::replica_id{1}, {.session = 1}, peer_of_0);
  c.start_durable(1, converge::replica_id{2}, {.session = 2}, peer_of_1);
  // The shared state, in deltas of 10,000 elements.
  for (std::uint64_t base = 0; base < elements; base += 10'000) {
    c[0].mutate([&](state& s) {
      state d;
      for (std::uint64_t v = base; v < std::min(elements, base + 10'000); ++v)
        d.join(s.insert(c[0].self(), v));
      return d;
    });
    c.step();
  }
  if (!c.settle(100000)) {
    std::fprintf(stderr, "the cluster did not settle\n");
    return 1;
  }
  const std::size_t state_bytes = converge::encoded_size(c[0].state());
  c.crash_durable(1, {});
  std::size_t missed_bytes = 0;
  for (std::uint64_t k = 0; k < missed; ++k) {
    const state d = c[0].mutate([&](state& s) { return s.insert(c[0].self(), elements + k); });
    missed_bytes += converge::encoded_size(d);
    c.step();
  }
  c.start_durable(1, converge::replica_id{2}, {.session = 3}, peer_of_1);
  const bool settled = c.settle(100000);
  const auto& in = c[1].metrics().peers.at(0);
  const bool equal = c[0].state() == c[1].state();
  const double ratio = static_cast<double>(in.bytes_in) / static_cast<double>(missed_bytes);
  std::printf(
      json ? "{\"elements\":%llu,\"missed\":%llu,\"state_bytes\":%zu,\"missed_delta_bytes\":%zu,"
             "\"received_bytes\":%llu,\"ratio\":%.3f,\"state_transfers\":%llu,\"converged\":%s}\n"
           : "%llu elements, %llu missed inserts: the state encodes in %zu B, the missed deltas in %zu B; "
             "received %llu B after the restart (%.3fx the deltas), %llu state transfers, converged %s\n",
      static_cast<unsigned long long>(elements), static_cast<unsigned long long>(missed), state_bytes,
      missed_bytes, static_cast<unsigned long long>(in.bytes_in), ratio,
      static_cast<unsigned long long>(in.state_transfers_received), settled && equal ? "true" : "false");
  return settled && equal ? 0 : 1;
}
