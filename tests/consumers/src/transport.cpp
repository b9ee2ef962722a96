// A consumer of the installed transport: a zmq_node bound to inproc://,
// found through the package under test (libzmq, cppzmq and threads with it).
#include <converge/gcounter.hpp>
#include <converge/transport/zmq_node.hpp>

#include <cstdio>

int main() {
  converge::node_options options;
  options.id = 1;
  options.bind = {"inproc://consumer"};
  options.log = {};
  converge::zmq_node<converge::gcounter> node(options);
  const auto r = node.replica();
  node.mutate([&](converge::gcounter& c) { return c.increment(r, 3); });
  node.process();
  const auto value = node.read([](const converge::gcounter& c) { return c.value(); });
  if (value != 3) return 1;
  std::printf("consumer transport: %llu\n", static_cast<unsigned long long>(value));
}
