// converge-bench-signing: what origin signing (replicator_options::signer,
// Ed25519 from libsodium) costs.
//
//   converge-bench-signing [--entries N] [--rounds R] [--json]
//
// 1. Per entry: signing one owned entry (its signed bytes, then
//    crypto_sign_detached) and verifying one (crypto_sign_verify_detached),
//    N of each; microseconds per entry.
// 2. In a replicator pair (sans-IO, no network): replica 1 increments its
//    entry in each of N counters of a g_map<uint64, gcounter>, ticks, and
//    replica 2 receives; R rounds, with signing off and on. Time per round
//    and per changed entry, and the ratio. Each round changes every entry, the
//    worst case: an entry changed K times between ticks is signed once.
//
// Prints one JSON object per measurement.

#include <converge/g_map.hpp>
#include <converge/gcounter.hpp>
#include <converge/replication/origin_signing.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/signing/ed25519.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
using counters = converge::g_map<std::uint64_t, converge::gcounter>;

double us_since(steady::time_point t0) {
  return std::chrono::duration<double, std::micro>(steady::now() - t0).count();
}

struct pair_result {
  double us_per_round = 0;
  std::uint64_t bytes = 0;
  std::uint64_t rejected = 0;
  bool converged = false;
};

pair_result exchange(std::uint64_t entries, std::uint64_t rounds, const converge::entry_signer* s1,
                     const converge::entry_signer* s2) {
  const auto r1 = converge::replica_id::with_incarnation(1, 1),
             r2 = converge::replica_id::with_incarnation(2, 1);
  converge::replicator_options o1, o2;
  o1.session = 11;
  o2.session = 22;
  o1.signer = s1;
  o2.signer = s2;
  converge::replicator<counters> a(r1, o1), b(r2, o2);
  a.add_peer(2);
  b.add_peer(1);
  std::uint64_t now = 0;
  pair_result out;
  const auto t0 = steady::now();
  for (std::uint64_t round = 0; round < rounds; ++round) {
    a.mutate([&](counters& m) {
      counters d;
      for (std::uint64_t k = 0; k < entries; ++k)
        d.join(m.update(k, [&](converge::gcounter& g) { return g.increment(r1, 1); }));
      return d;
    });
    now += 100;  // past every timeout: each round is one interval and its ack
    for (const auto& m : a.tick(now).messages) {
      out.bytes += m.bytes.size();
      b.receive(1, m.bytes);
    }
    for (const auto& m : b.tick(now).messages) a.receive(2, m.bytes);
  }
  out.us_per_round = us_since(t0) / static_cast<double>(rounds);
  out.rejected = b.metrics().total.entries_rejected;
  out.converged = a.state() == b.state();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t entries = 1000, rounds = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--entries" || a == "--rounds") && i + 1 < argc) {
      (a == "--entries" ? entries : rounds) = std::strtoull(argv[++i], nullptr, 10);
    } else if (a != "--json") {
      std::fprintf(stderr, "usage: converge-bench-signing [--entries N] [--rounds R] [--json]\n");
      return 2;
    }
  }
  const auto k1 = converge::signing::generate_signing_key_pair();
  const auto k2 = converge::signing::generate_signing_key_pair();
  const std::map<std::uint64_t, converge::signing::public_key> keys{{1, k1.public_part}, {2, k2.public_part}};
  const converge::signing::ed25519_signer s1(k1, keys), s2(k2, keys);

  // 1. One entry at a time.
  const auto r1 = converge::replica_id::with_incarnation(1, 1);
  std::vector<std::vector<std::byte>> messages;
  for (std::uint64_t i = 0; i < entries; ++i) {
    std::vector<std::byte> key{std::byte{1}};
    converge::wire::detail::put_varint(key, r1.value());
    converge::wire::detail::put_varint(key, i);
    messages.push_back(std::move(key));
  }
  std::vector<converge::entry_signature> sigs;
  auto t0 = steady::now();
  for (std::uint64_t i = 0; i < entries; ++i)
    sigs.push_back(s1.sign(converge::replication::signed_bytes(messages[i], i + 1)));
  const double sign_us = us_since(t0) / static_cast<double>(entries);
  t0 = steady::now();
  std::uint64_t valid = 0;
  for (std::uint64_t i = 0; i < entries; ++i)
    valid += s2.verify(r1, converge::replication::signed_bytes(messages[i], i + 1), sigs[i]) ? 1 : 0;
  const double verify_us = us_since(t0) / static_cast<double>(entries);
  std::printf(
      "{\"measure\":\"per_entry\",\"entries\":%llu,\"sign_us\":%.2f,\"verify_us\":%.2f,\"valid\":%llu}\n",
      static_cast<unsigned long long>(entries), sign_us, verify_us, static_cast<unsigned long long>(valid));

  // 2. A replicator pair, off and on.
  const pair_result off = exchange(entries, rounds, nullptr, nullptr);
  const pair_result on = exchange(entries, rounds, &s1, &s2);
  std::printf(
      "{\"measure\":\"replicator_pair\",\"entries_per_round\":%llu,\"rounds\":%llu,"
      "\"unsigned_us_per_round\":%.1f,\"signed_us_per_round\":%.1f,\"signed_us_per_entry\":%.2f,"
      "\"unsigned_bytes\":%llu,\"signed_bytes\":%llu,\"rejected\":%llu,\"converged\":%s}\n",
      static_cast<unsigned long long>(entries), static_cast<unsigned long long>(rounds), off.us_per_round,
      on.us_per_round, (on.us_per_round - off.us_per_round) / static_cast<double>(entries),
      static_cast<unsigned long long>(off.bytes), static_cast<unsigned long long>(on.bytes),
      static_cast<unsigned long long>(on.rejected), off.converged && on.converged ? "true" : "false");
  return valid == entries && on.rejected == 0 && off.converged && on.converged ? 0 : 1;
}
