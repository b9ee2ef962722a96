// The failure detector's steps one by one, on a hand-driven clock: probe and
// ack, indirect probe with nacks, suspicion and its Lifeguard timeout,
// refutation, a stall of the node itself, leave and depart, and the wire
// encoding of its messages.
#include <converge/membership/failure_detector.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/wire.hpp>
#include <converge/wire/encode.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "support/random.hpp"

namespace {

using namespace converge::membership;

member_record me(node_id n) {
  member_record r;
  r.node = n;
  r.replica = converge::replica_id{100 + n};
  r.endpoints = {"tcp://127.0.0.1:" + std::to_string(7000 + n)};
  return r;
}

// A few detectors in a full mesh, with a hand-driven clock and a 1 ms
// network where a node can be cut off (its messages, both ways, lost).
struct mesh {
  std::map<node_id, failure_detector> nodes;
  std::map<node_id, bool> cut;
  std::vector<member_change> changes;  // everything any node reported
  std::uint64_t now = 0;

  explicit mesh(std::size_t n, detector_options o = {}) {
    for (node_id i = 1; i <= n; ++i) {
      nodes.emplace(i, failure_detector(me(i), o, i));
      nodes.at(i).bootstrap();
    }
    // Everyone knows everyone (as after a sync).
    members all;
    for (auto& [i, d] : nodes) all.join(d.view());
    for (auto& [i, d] : nodes) {
      d.merge(all);
      std::vector<node_id> others;
      for (node_id j = 1; j <= n; ++j) {
        if (j != i) others.push_back(j);
      }
      d.set_neighbours(others);
    }
  }

  void run(std::uint64_t until) {
    std::vector<std::pair<std::pair<node_id, node_id>, probe_message>> flight;
    for (; now <= until; now += 10) {
      for (auto& [ft, m] : flight) {
        if (!cut[ft.first] && !cut[ft.second]) nodes.at(ft.second).receive(ft.first, m, now);
      }
      flight.clear();
      for (auto& [i, d] : nodes) {
        if (cut[i] && paused) continue;
        detector_output out = d.tick(now);
        for (auto& c : out.changes) changes.push_back(c);
        for (auto& [to, m] : out.messages) flight.push_back({{i, to}, std::move(m)});
      }
    }
  }
  bool paused = false;  // a cut node also stops ticking (a pause, not a partition)
};

bool any_down(const std::vector<member_change>& changes, node_id n) {
  for (const member_change& c : changes) {
    if (c.node == n && c.after == member_status::down) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("detector: the Lifeguard suspicion timeout scales with log10(N) and shrinks with confirmations") {
  const detector_options o{};
  CHECK(suspicion_timeout(o, 1, 0) == 4000);  // min = 4 × 1 × 1 s (K = 0: no shrinking below N = 4)
  CHECK(suspicion_timeout(o, 3, 0) == 4000);
  CHECK(suspicion_timeout(o, 10, 0) == 24000);  // max = 6 × min
  CHECK(suspicion_timeout(o, 10, 1) == 11381);  // ⌊24 − 20 × log 2 / log 3⌋ s
  CHECK(suspicion_timeout(o, 10, 2) == 4000);   // K = 2 confirmations: min
  CHECK(suspicion_timeout(o, 10, 9) == 4000);
  CHECK(suspicion_timeout(o, 1000, 0) == 72000);  // 4 × 3 × 1 s × 6
  CHECK(suspicion_timeout(o, 1000, 2) == 12000);
  CHECK(suspicion_timeout(o, 16, 2) == 4816);
}

TEST_CASE("detector: a crashed node is suspected, confirmed down by its peers, and the verdict spreads") {
  mesh m(5);
  m.run(3000);
  for (node_id n = 1; n <= 5; ++n) CHECK(!any_down(m.changes, n));
  for (auto& [i, d] : m.nodes) CHECK(d.view().count(member_status::up) == 5);
  m.cut[3] = true;
  m.paused = true;  // node 3 neither runs nor hears: a crash
  m.run(3000 + 5 * 1000 + 24000);
  for (auto& [i, d] : m.nodes) {
    if (i == 3) continue;
    CHECK(d.view().status(3) == member_status::down);
    CHECK(d.metrics().probes > 0);
  }
  std::size_t confirmed = 0;
  for (auto& [i, d] : m.nodes) confirmed += d.metrics().confirmed_down;
  CHECK(confirmed >= 1);
  CHECK(!any_down(m.changes, 1));
  CHECK(!any_down(m.changes, 2));
}

TEST_CASE(
    "detector: a node cut off but running refutes when it hears again; a paused one is not declared down") {
  mesh m(5);
  m.run(2000);
  // Paused for 2 s, well under the 4 s minimum suspicion timeout of 5 members.
  m.cut[4] = true;
  m.paused = true;
  m.run(4000);
  m.cut[4] = false;
  m.run(30000);
  CHECK(!any_down(m.changes, 4));
  for (auto& [i, d] : m.nodes) CHECK(d.view().status(4) == member_status::up);
  // The paused node saw its own stall and blamed itself, not the others.
  CHECK(m.nodes.at(4).metrics().stalls >= 1);
  CHECK(m.nodes.at(4).metrics().confirmed_down == 0);
}

TEST_CASE("detector: a neighbour another node suspects is probed next") {
  failure_detector a(me(1), {}, 1);
  a.bootstrap();
  members all = a.view();
  std::vector<node_id> others;
  for (node_id n = 2; n <= 9; ++n) {
    member_record r = me(n);
    r.status = member_status::up;
    all.announce(r);
    others.push_back(n);
  }
  a.merge(all);
  a.set_neighbours(others);
  const auto pings = [](const detector_output& out) {
    std::vector<std::pair<node_id, std::uint64_t>> p;
    for (const auto& [to, m] : out.messages) {
      if (m.kind == probe_kind::ping) p.emplace_back(to, m.seq);
    }
    return p;
  };
  const auto first = pings(a.tick(0));
  REQUIRE(first.size() == 1);
  a.receive(first[0].first, probe_message{probe_kind::ack, first[0].second, 0, {}, {}}, 5);
  // Node 2 says it suspects a neighbour that is not the one being probed.
  const node_id suspect = first[0].first == 7 ? 8 : 7;
  probe_message gossip;
  gossip.suspicions.push_back(suspicion{suspect, 0, 2});
  a.receive(2, gossip, 10);
  CHECK(a.suspects(suspect));
  std::vector<std::pair<node_id, std::uint64_t>> next;
  for (std::uint64_t t = 20; t <= 2000 && next.empty(); t += 10) next = pings(a.tick(t));
  REQUIRE(next.size() == 1);
  CHECK(next[0].first == suspect);
}

TEST_CASE("detector: refutation raises the incarnation and beats down") {
  failure_detector a(me(1), {}, 1);
  a.bootstrap();
  members view = a.view();
  const members down = view.confirm_down(1, a.incarnation());
  probe_message m;
  m.kind = probe_kind::gossip;
  m.updates = down;
  a.receive(2, m, 10);
  CHECK(a.incarnation() == 1);
  CHECK(a.view().status(1) == member_status::up);
  const detector_output out = a.tick(10);
  CHECK(out.deltas.find(1) != nullptr);
  CHECK(out.deltas.find(1)->incarnation == 1);
  CHECK(a.metrics().refutations == 1);
  // A suspicion of the current incarnation is refuted too, and raises awareness.
  probe_message s;
  s.kind = probe_kind::ping;
  s.seq = 7;
  s.suspicions.push_back(suspicion{1, 1, 2});
  a.receive(2, s, 20);
  CHECK(a.incarnation() == 2);
  CHECK(a.awareness() == 1);
  const detector_output reply = a.tick(20);
  REQUIRE(!reply.messages.empty());
  bool acked = false;
  for (const auto& [to, msg] : reply.messages)
    acked = acked || (to == 2 && msg.kind == probe_kind::ack && msg.seq == 7);
  CHECK(acked);
  // A stale suspicion (an older incarnation) changes nothing.
  s.suspicions = {suspicion{1, 0, 2}};
  a.receive(2, s, 30);
  CHECK(a.incarnation() == 2);
}

TEST_CASE("detector: no ack within the timeout asks helpers; their forwarded ack saves the target") {
  failure_detector a(me(1), {}, 3);
  a.bootstrap();
  members all = a.view();
  for (node_id n = 2; n <= 5; ++n)
    all.announce([&] {
      member_record r = me(n);
      r.status = member_status::up;
      return r;
    }());
  a.merge(all);
  a.set_neighbours({2, 3, 4, 5});
  detector_output out = a.tick(0);
  node_id target = 0;
  std::uint64_t seq = 0;
  for (const auto& [to, m] : out.messages) {
    if (m.kind == probe_kind::ping) {
      target = to;
      seq = m.seq;
    }
  }
  REQUIRE(target != 0);
  out = a.tick(500);  // the probe timeout: indirect probes
  std::vector<node_id> helpers;
  for (const auto& [to, m] : out.messages) {
    if (m.kind == probe_kind::ping_req) {
      CHECK(m.target == target);
      CHECK(m.seq == seq);
      helpers.push_back(to);
    }
  }
  CHECK(helpers.size() == 3);
  probe_message ack;
  ack.kind = probe_kind::ack;
  ack.seq = seq;
  a.receive(helpers.front(), ack, 600);
  a.tick(1000);
  CHECK(!a.suspects(target));
  CHECK(a.metrics().probes_failed == 0);
  // The next probe gets no answer at all, and no nack: the node blames itself too.
  out = a.tick(1000);
  a.tick(1500);
  a.tick(2000);
  CHECK(a.metrics().probes_failed == 1);
  CHECK(a.awareness() == 4);  // +1 for the failure, +3 for the missing nacks
  CHECK(a.live_members() == a.view().live_count());
}

TEST_CASE("detector: a helper pings the target and answers nack when it is silent") {
  failure_detector h(me(2), {}, 5);
  h.bootstrap();
  probe_message req;
  req.kind = probe_kind::ping_req;
  req.seq = 41;
  req.target = 3;
  h.receive(1, req, 0);
  detector_output out = h.tick(0);
  bool pinged = false;
  for (const auto& [to, m] : out.messages) pinged = pinged || (to == 3 && m.kind == probe_kind::ping);
  CHECK(pinged);
  out = h.tick(500);
  bool nacked = false;
  for (const auto& [to, m] : out.messages)
    nacked = nacked || (to == 1 && m.kind == probe_kind::nack && m.seq == 41);
  CHECK(nacked);
}

TEST_CASE("detector: leave, then depart retires the replica and stops probing") {
  mesh m(3);
  m.run(2000);
  m.nodes.at(2).leave();
  m.run(4000);
  for (auto& [i, d] : m.nodes) CHECK(d.view().status(2) == member_status::leaving);
  m.nodes.at(2).depart();
  CHECK(m.nodes.at(2).removed());
  m.run(8000);
  for (auto& [i, d] : m.nodes) {
    CHECK(d.view().status(2) == member_status::removed);
    CHECK(d.view().is_retired(converge::replica_id{102}));
  }
  CHECK(m.nodes.at(1).live_members() == 2);
}

TEST_CASE("detector: a restart without data takes an incarnation above its old life's") {
  members old;
  member_record r = me(9);
  r.status = member_status::down;
  r.incarnation = 5;
  old.announce(r);
  failure_detector d(me(9), {}, 1, old);
  CHECK(d.incarnation() == 6);
  CHECK(d.view().status(9) == member_status::joining);
}

TEST_CASE("detector messages: wire round trip, and a bad kind refused") {
  auto rng = test::rng_for("probe wire");
  for (int c = 0; c < 100; ++c) {
    probe_message m;
    m.kind = static_cast<probe_kind>(1 + rng.below(max_probe_kind));
    m.seq = rng.below(1000000);
    m.target = rng.below(50);
    for (std::uint64_t i = 0, n = rng.below(5); i < n; ++i) {
      member_record r = me(rng.below(40));
      r.incarnation = rng.below(5);
      m.updates.announce(r);
    }
    for (std::uint64_t i = 0, n = rng.below(4); i < n; ++i)
      m.suspicions.push_back(suspicion{rng.below(40), rng.below(5), rng.below(40)});
    CHECK(converge::decode<probe_message>(converge::encode(m)) == m);
  }
  probe_message ping;
  ping.kind = probe_kind::ping;
  auto bytes = converge::encode(ping);
  CHECK(bytes.size() <= 8);  // a bare ping is a handful of bytes
  probe_message other = ping;
  other.kind = probe_kind::ack;
  const auto other_bytes = converge::encode(other);
  REQUIRE(other_bytes.size() == bytes.size());
  const auto at = static_cast<std::size_t>(
      std::mismatch(bytes.begin(), bytes.end(), other_bytes.begin()).first - bytes.begin());
  REQUIRE(at < bytes.size());
  bytes[at] = std::byte{9};  // the kind byte, out of range
  CHECK_THROWS_AS(converge::decode<probe_message>(bytes), converge::decode_error);
}
