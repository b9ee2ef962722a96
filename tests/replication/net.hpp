#pragma once
// A handful of replicators wired together on a fake clock (quinn-proto's
// `Pair`, for N): the test decides which messages arrive, and when.
#include <converge/replication/replicator.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace test {

struct packet {
  converge::peer_id from;
  converge::peer_id to;
  std::vector<std::byte> bytes;
};

template <class State>
struct net {
  std::vector<std::optional<converge::replicator<State>>> nodes;
  std::uint64_t now = 0;
  std::vector<packet> in_flight;
  /// Decides whether a packet is delivered (default: all).
  std::function<bool(const packet&)> deliver_if = [](const packet&) { return true; };

  /// Adds a node with replica id `index + 1` and connects it to every other node.
  std::size_t add(converge::replicator_options o = {}, State initial = {}, std::optional<converge::replica_id> id = {}) {
    const std::size_t i = nodes.size();
    if (o.session == 0) o.session = 1000 + i;
    nodes.emplace_back(std::in_place, id.value_or(converge::replica_id{i + 1}), o, std::move(initial));
    for (std::size_t j = 0; j < i; ++j) {
      if (!nodes[j]) continue;
      nodes[i]->add_peer(j);
      nodes[j]->add_peer(i);
    }
    return i;
  }

  converge::replicator<State>& operator[](std::size_t i) { return *nodes[i]; }

  /// Ticks every node at `now` and queues what they send.
  void tick() {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i]) continue;
      for (auto& m : nodes[i]->tick(now).messages) in_flight.push_back({i, m.to, std::move(m.bytes)});
    }
  }

  /// Delivers (or drops, per `deliver_if`) what is in flight.
  void deliver() {
    std::vector<packet> batch = std::move(in_flight);
    in_flight.clear();
    for (const packet& p : batch) {
      if (p.to < nodes.size() && nodes[p.to] && deliver_if(p)) nodes[p.to]->receive(p.from, p.bytes);
    }
  }

  /// One round: tick, deliver, advance the clock by `dt`.
  void step(std::uint64_t dt = 1) {
    tick();
    deliver();
    now += dt;
  }

  [[nodiscard]] bool quiescent() const {
    for (const auto& n : nodes)
      if (n && !n->quiescent()) return false;
    return true;
  }

  /// Steps until every node is quiescent (and nothing is in flight), at most `max_steps`.
  bool settle(std::size_t max_steps = 10000, std::uint64_t dt = 1) {
    for (std::size_t s = 0; s < max_steps; ++s) {
      step(dt);
      if (quiescent() && in_flight.empty()) {
        step(dt);  // deliver trailing acks
        return true;
      }
    }
    return false;
  }
};

}  // namespace test
