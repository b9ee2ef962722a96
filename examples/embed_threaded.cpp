// Embedding a node on a background thread: two converge::zmq_node in one
// process, talking over inproc://, each told of every change by a
// subscription. Swap the endpoints for tcp:// to put them on two machines.

#include "converge/converge.hpp"
#include "converge/transport/zmq_node.hpp"

#include <boost/hana/define_struct.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

struct cart {
  BOOST_HANA_DEFINE_STRUCT(cart, (converge::or_set<std::string>, items), (converge::pncounter, visits));
  bool operator==(const cart&) const = default;
};

int main() {
  zmq::context_t context;  // inproc:// needs the nodes to share a context
  std::mutex print;

  auto options = [&](std::uint64_t id, const char* bind, const char* peer) {
    converge::node_options o;
    o.id = id;
    o.bind = {bind};
    o.peers = {peer};
    o.gossip_interval = std::chrono::milliseconds(10);
    o.context = &context;
    return o;
  };
  converge::zmq_node<cart> alice(options(1, "inproc://alice", "inproc://bob"));
  converge::zmq_node<cart> bob(options(2, "inproc://bob", "inproc://alice"));

  for (auto* n : {&alice, &bob}) {
    // The delta is exactly what changed (never the whole state), so the
    // items it holds are the items just added: no diffing needed.
    n->subscribe([&, n](const converge::state_change<cart>& c) {
      std::string fields;
      for (auto f : c.fields) fields += std::string(fields.empty() ? "" : ", ") + std::string(f);
      std::string items;
      for (const auto& item : c.delta.items) items += std::string(items.empty() ? "" : ", ") + item;
      const std::string origin = c.local ? "local" : "from node " + std::to_string(c.from.value_or(0));
      const std::lock_guard lock(print);
      std::printf("node %llu: change (%s) to {%s}; new items: [%s]\n",
                  static_cast<unsigned long long>(n->id()), origin.c_str(), fields.c_str(), items.c_str());
    });
    n->start();
  }

  // Mutate from this thread; each node's thread gossips.
  alice.mutate([&](cart& c) {
    return converge::update(c, &cart::items, [&](auto& s) { return s.insert(alice.replica(), "apple"); });
  });
  bob.mutate([&](cart& c) {
    return converge::update(c, &cart::items, [&](auto& s) { return s.insert(bob.replica(), "bread"); });
  });
  bob.mutate([&](cart& c) {
    return converge::update(c, &cart::visits, [&](auto& v) { return v.increment(bob.replica()); });
  });

  // Wait (bounded) until both hold the same state.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (alice.snapshot() != bob.snapshot() || alice.snapshot().items.size() != 2) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::printf("did not converge\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  alice.stop();
  bob.stop();
  const cart c = alice.snapshot();
  std::printf("converged: %s\n", converge::to_json(c).c_str());
  return 0;
}
