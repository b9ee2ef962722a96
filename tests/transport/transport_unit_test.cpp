// In-process tests of the ZeroMQ transport: envelopes, key files, and two
// nodes over inproc:// in poll-driven mode (fd / next_timeout / process).

#include "converge/gcounter.hpp"
#include "converge/or_set.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/zmq_node.hpp"

#include <doctest/doctest.h>
#include <poll.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("envelope round-trips and refuses anything else") {
  using namespace converge::transport::detail;
  const auto bytes = write_envelope({kind::data, 42, 0xdeadbeefULL});
  const auto e = read_envelope(bytes);
  REQUIRE(e);
  CHECK(e->what == kind::data);
  CHECK(e->sender == 42);
  CHECK(e->replica == 0xdeadbeefULL);
  auto bad = bytes;
  bad[3] = std::byte{9};
  CHECK_FALSE(read_envelope(bad));
  CHECK_FALSE(read_envelope(std::span(bytes).first(19)));
}

TEST_CASE("key pairs and allow-lists parse, and refuse bad input") {
  const auto kp = converge::generate_curve_key_pair();
  std::istringstream key("# comment\n" + kp.public_key + "\n\n" + kp.secret_key + "\n");
  CHECK(converge::parse_curve_key_pair(key).secret_key == kp.secret_key);
  std::istringstream short_key(kp.public_key + "\n");
  CHECK_THROWS_AS((void)converge::parse_curve_key_pair(short_key), converge::curve_error);
  std::istringstream allow(kp.public_key + " 7 tcp://h:1\n" + kp.public_key + " 8\n");
  const auto list = converge::parse_curve_allow_list(allow);
  REQUIRE(list.size() == 2);
  CHECK(list[0].id == 7);
  CHECK(list[0].endpoint == "tcp://h:1");
  CHECK(list[1].endpoint.empty());
  for (const std::string& line : std::vector<std::string>{"notakey 1", kp.public_key + " x", kp.public_key, kp.public_key + " 1 e extra"}) {
    std::istringstream in(line + "\n");
    CHECK_THROWS_AS((void)converge::parse_curve_allow_list(in), converge::curve_error);
  }
}

TEST_CASE("two poll-driven nodes over inproc converge, waiting on fd()") {
  zmq::context_t ctx;
  auto opts = [&](std::uint64_t id, std::string bind, std::string peer) {
    converge::node_options o;
    o.id = id;
    o.bind = {bind};
    o.peers = {peer};
    o.gossip_interval = 5ms;
    o.heartbeat_interval = 50ms;
    o.context = &ctx;
    o.log = nullptr;
    return o;
  };
  converge::zmq_node<converge::or_set<int>> a(opts(1, "inproc://unit-a", "inproc://unit-b"));
  converge::zmq_node<converge::or_set<int>> b(opts(2, "inproc://unit-b", "inproc://unit-a"));
  int remote_changes = 0;
  b.subscribe([&](const auto& c) { remote_changes += c.local ? 0 : 1; });
  a.mutate([&](auto& s) { return s.insert(a.replica(), 1); });
  b.mutate([&](auto& s) { return s.insert(b.replica(), 2); });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!(a.snapshot() == b.snapshot() && a.snapshot().size() == 2)) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    pollfd fds[2] = {{a.fd(), POLLIN, 0}, {b.fd(), POLLIN, 0}};
    const auto wait = std::min(a.next_timeout(), b.next_timeout());
    ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(wait.count(), 100)));
    a.process();
    b.process();
  }
  CHECK(remote_changes >= 1);
  const auto peers = a.peers();
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].id == std::uint64_t{2});
  CHECK(a.peer_replica(2) == b.replica());
}

TEST_CASE("threaded nodes: mutate from this thread, stop without hanging") {
  zmq::context_t ctx;
  converge::node_options oa;
  oa.id = 1;
  oa.bind = {"inproc://thr-a"};
  oa.peers = {"inproc://thr-b"};
  oa.gossip_interval = 5ms;
  oa.context = &ctx;
  oa.log = nullptr;
  auto ob = oa;
  ob.id = 2;
  ob.bind = {"inproc://thr-b"};
  ob.peers = {"inproc://thr-a"};
  converge::zmq_node<converge::gcounter> a(oa);
  converge::zmq_node<converge::gcounter> b(ob);
  a.start();
  b.start();
  for (int i = 0; i < 100; ++i) {
    a.mutate([&](auto& c) { return c.increment(a.replica()); });
    b.mutate([&](auto& c) { return c.increment(b.replica()); });
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (b.read([](const auto& c) { return c.value(); }) != 200 || a.read([](const auto& c) { return c.value(); }) != 200) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(2ms);
  }
  const auto t0 = std::chrono::steady_clock::now();
  a.stop();
  b.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}
