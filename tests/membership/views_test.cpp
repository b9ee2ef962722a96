// HyParView's steps on a hand-driven network: join and forward-join walks,
// the capacity bound, neighbor priority, repair from the passive view,
// quarantine and rejoin through a seed, shuffle; and the wire encoding.
#include <converge/membership/views.hpp>
#include <converge/membership/wire.hpp>
#include <converge/wire/encode.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "support/random.hpp"

namespace {

using namespace converge::membership;

// Views of n nodes on an instant network (one hop per round); `down` nodes
// lose what is sent to them.
struct overlay {
  std::map<node_id, views> nodes;
  std::set<node_id> down;
  std::uint64_t now = 0;

  explicit overlay(std::size_t n, view_options o = {}) {
    for (node_id i = 1; i <= n; ++i) nodes.emplace(i, views(i, o, 100 + i));
  }
  void size_all(std::size_t n) {
    for (auto& [i, v] : nodes) v.set_cluster_size(n);
  }
  void run(std::uint64_t until) {
    for (; now <= until; now += 10) {
      std::vector<std::pair<std::pair<node_id, node_id>, view_message>> flight;
      for (auto& [i, v] : nodes) {
        if (down.count(i) != 0) continue;
        for (auto& [to, m] : v.tick(now).messages) flight.push_back({{i, to}, std::move(m)});
      }
      for (auto& [ft, m] : flight) {
        if (down.count(ft.second) == 0) nodes.at(ft.second).receive(ft.first, m, now);
      }
    }
  }
  [[nodiscard]] bool symmetric() const {
    for (const auto& [i, v] : nodes) {
      if (down.count(i) != 0) continue;
      for (const node_id j : v.active()) {
        if (down.count(j) == 0 && !nodes.at(j).in_active(i)) return false;
      }
    }
    return true;
  }
};

}  // namespace

TEST_CASE("views: capacities follow log2(N) + c within the bounds") {
  views v(1, {}, 1);
  CHECK(v.active_capacity() == 3);  // min_active for a tiny cluster
  v.set_cluster_size(16);
  CHECK(v.active_capacity() == 5);
  v.set_cluster_size(1000);
  CHECK(v.active_capacity() == 11);
  CHECK(v.passive_capacity() == 66);
  v.set_cluster_size(1000000);
  CHECK(v.active_capacity() == 16);  // never above max_active
  CHECK(v.passive_capacity() == 96);
}

TEST_CASE("views: nodes joining one contact end with symmetric, bounded active views") {
  overlay net(40);
  net.size_all(40);  // capacity 7
  for (node_id i = 2; i <= 40; ++i) {
    net.nodes.at(i).set_seeds({1});
    net.nodes.at(i).join(1, net.now);
    net.run(net.now + 50);
  }
  net.run(net.now + 20000);
  std::size_t links = 0;
  for (const auto& [i, v] : net.nodes) {
    CHECK(v.active().size() <= v.active_capacity());
    CHECK(!v.active().empty());
    links += v.active().size();
  }
  CHECK(net.symmetric());
  CHECK(links >= 40 * 4);  // views fill towards capacity, not a star on the seed
  CHECK(net.nodes.at(1).active().size() <= 7);
}

TEST_CASE("views: a failed neighbour is replaced from the passive view") {
  overlay net(30);
  net.size_all(30);
  for (node_id i = 2; i <= 30; ++i) {
    net.nodes.at(i).join(1, net.now);
    net.run(net.now + 50);
  }
  net.run(net.now + 20000);
  views& v = net.nodes.at(5);
  REQUIRE(!v.active().empty());
  const std::size_t before = v.active().size();
  const node_id gone = v.active().front();
  net.down.insert(gone);
  for (auto& [i, w] : net.nodes) w.neighbour_failed(gone, net.now);
  net.run(net.now + 5000);
  CHECK(!v.in_active(gone));
  CHECK(!v.in_passive(gone));
  CHECK(v.active().size() >= before);
  CHECK(v.metrics().failures == 1);
}

TEST_CASE("views: neighbor priority: low is refused when full, high is accepted by dropping a member") {
  view_options o;
  o.min_active = 2;
  o.max_active = 2;
  views full(1, o, 1);
  full.receive(2, view_message{view_kind::link, 2, 0, false, {}}, 0);
  full.receive(3, view_message{view_kind::link, 3, 0, false, {}}, 0);
  REQUIRE(full.active().size() == 2);
  full.receive(4, view_message{view_kind::neighbor, 4, 0, false, {}}, 0);
  view_output out = full.tick(0);
  CHECK(!full.in_active(4));
  bool refused = false;
  for (const auto& [to, m] : out.messages)
    refused = refused || (to == 4 && m.kind == view_kind::neighbor_reply && !m.flag);
  CHECK(refused);
  full.receive(5, view_message{view_kind::neighbor, 5, 0, true, {}}, 0);
  out = full.tick(0);
  CHECK(full.in_active(5));
  CHECK(full.active().size() == 2);
  bool dropped = false;
  for (const auto& [to, m] : out.messages) dropped = dropped || m.kind == view_kind::disconnect;
  CHECK(dropped);
}

TEST_CASE("views: a silent candidate is quarantined, not forgotten; alone, a node rejoins through a seed") {
  views v(1, {}, 7);
  v.set_seeds({9});
  v.offer(2);
  view_output out = v.tick(0);
  bool asked = false;
  for (const auto& [to, m] : out.messages)
    asked = asked || (to == 2 && m.kind == view_kind::neighbor && m.flag);
  CHECK(asked);        // high priority: the active view is empty
  out = v.tick(1000);  // no answer within the timeout
  CHECK(v.metrics().neighbor_timeouts == 1);
  CHECK(v.in_passive(2));
  bool joined = false;
  for (const auto& [to, m] : out.messages) joined = joined || (to == 9 && m.kind == view_kind::join);
  CHECK(joined);  // no ready candidate: join through the seed
  v.offer(2);     // news that 2 is alive ends its quarantine
  out = v.tick(1010);
  asked = false;
  for (const auto& [to, m] : out.messages) asked = asked || (to == 2 && m.kind == view_kind::neighbor);
  CHECK(asked);
}

TEST_CASE("views: shuffles spread passive entries") {
  overlay net(20);
  net.size_all(20);
  for (node_id i = 2; i <= 20; ++i) {
    net.nodes.at(i).join(1, net.now);
    net.run(net.now + 50);
  }
  net.run(net.now + 60000);
  std::size_t shuffles = 0, passive = 0;
  for (const auto& [i, v] : net.nodes) {
    shuffles += v.metrics().shuffles;
    passive += v.passive().size();
  }
  CHECK(shuffles > 100);
  CHECK(passive / 20 >= 5);
}

TEST_CASE("view messages: wire round trip, and a bad kind refused") {
  auto rng = test::rng_for("view wire");
  for (int c = 0; c < 100; ++c) {
    view_message m;
    m.kind = static_cast<view_kind>(1 + rng.below(max_view_kind));
    m.node = rng.below(1u << 20);
    m.ttl = rng.below(7);
    m.flag = rng.chance(1, 2);
    for (std::uint64_t i = 0, n = rng.below(8); i < n; ++i) m.nodes.push_back(rng.below(5000));
    CHECK(converge::decode<view_message>(converge::encode(m)) == m);
  }
  auto bytes = converge::encode(view_message{view_kind::join, 3, 0, false, {}});
  const auto other = converge::encode(view_message{view_kind::link, 3, 0, false, {}});
  REQUIRE(other.size() == bytes.size());
  const auto at = static_cast<std::size_t>(std::mismatch(bytes.begin(), bytes.end(), other.begin()).first -
                                           bytes.begin());
  REQUIRE(at < bytes.size());
  bytes[at] = std::byte{0};  // the kind byte, out of range
  CHECK_THROWS_AS(converge::decode<view_message>(bytes), converge::decode_error);
}
