// In-process tests of the ZeroMQ transport: envelopes, key files, and two
// nodes over inproc:// in poll-driven mode (fd / next_timeout / process).

#include "converge/gcounter.hpp"
#include "converge/mv_register.hpp"
#include "converge/or_map.hpp"
#include "converge/or_set.hpp"
#include "converge/pncounter.hpp"
#include "converge/replication/memory_journal.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/detail/inbound_guard.hpp"
#include "converge/transport/detail/link.hpp"
#include "converge/transport/detail/peer_table.hpp"
#include "converge/transport/detail/unique_fd.hpp"
#include "converge/transport/zmq_node.hpp"

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fcntl.h>
#include <functional>
#include <optional>
#include <poll.h>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
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
  // sign=KEY: an Ed25519 public key in hex, with or without an endpoint.
  const std::string hex(64, 'a');
  std::istringstream signing(kp.public_key + " 7 tcp://h:1 sign=" + hex + "\n" + kp.public_key +
                             " 8 sign=" + hex + "\n");
  const auto signed_list = converge::parse_curve_allow_list(signing);
  REQUIRE(signed_list.size() == 2);
  CHECK(signed_list[0].endpoint == "tcp://h:1");
  CHECK(signed_list[0].signing_key == hex);
  CHECK(signed_list[1].endpoint.empty());
  CHECK(signed_list[1].signing_key == hex);
  CHECK(list[0].signing_key.empty());
  for (const std::string& line : std::vector<std::string>{
           "notakey 1", kp.public_key + " x", kp.public_key, kp.public_key + " 1 e extra",
           kp.public_key + " 1 sign=abc", kp.public_key + " 1 sign=" + hex + " sign=" + hex,
           kp.public_key + " 1 sign=" + hex + " tcp://h:1",
           kp.public_key + " 1 sign=" + std::string(64, 'g')}) {
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
  while (b.read([](const auto& c) { return c.value(); }) != 200 ||
         a.read([](const auto& c) { return c.value(); }) != 200) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(2ms);
  }
  const auto t0 = std::chrono::steady_clock::now();
  a.stop();
  b.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

namespace {

converge::node_options unit_options(zmq::context_t& ctx, std::uint64_t id, std::vector<std::string> bind,
                                    std::vector<std::string> peers) {
  converge::node_options o;
  o.id = id;
  o.bind = std::move(bind);
  o.peers = std::move(peers);
  o.gossip_interval = 5ms;
  o.heartbeat_interval = 50ms;
  o.context = &ctx;
  o.log = nullptr;
  return o;
}

// Runs the poll-driven nodes until `done()` (at most 10 s).
template <class... Nodes>
void pump_until(const std::function<bool()>& done, Nodes&... nodes) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    (nodes.poll(2ms), ...);
  }
}

struct catalog {
  BOOST_HANA_DEFINE_STRUCT(catalog,
                           (converge::or_map<std::string, converge::mv_register<std::string>>, prices),
                           (converge::pncounter, views));
  bool operator==(const catalog&) const = default;
};

// A peer written by hand: a replicator behind a raw DEALER that speaks the
// envelope (what a third-party client does).
struct raw_peer {
  static constexpr std::uint64_t id = 9;
  converge::replicator<converge::or_set<int>> rep{converge::replica_id{id}};
  zmq::socket_t socket;

  raw_peer(zmq::context_t& ctx, const std::string& endpoint) : socket(ctx, zmq::socket_type::dealer) {
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(endpoint);
    rep.add_peer(1);
  }
  void send(std::span<const std::byte> payload) {
    const auto env =
        converge::transport::detail::write_envelope({converge::transport::detail::kind::data, id, id});
    socket.send(zmq::buffer(env.data(), env.size()), zmq::send_flags::sndmore);
    socket.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::none);
  }
};

}  // namespace

TEST_CASE("a subscriber gets exactly the delta of a remote change, and who sent it") {
  zmq::context_t ctx;
  using set = converge::or_set<int>;
  converge::zmq_node<set> a(unit_options(ctx, 1, {"inproc://delta-a"}, {"inproc://delta-b"}));
  converge::zmq_node<set> b(unit_options(ctx, 2, {"inproc://delta-b"}, {"inproc://delta-a"}));
  set mirror;  // a's state rebuilt from the changes alone
  std::vector<set> remote;
  std::vector<std::optional<std::uint64_t>> from;
  a.subscribe([&](const converge::state_change<set>& c) {
    converge::join_into(mirror, c.delta);
    if (c.local) return;
    remote.push_back(c.delta);
    from.push_back(c.from);
  });
  a.mutate([&](set& s) { return s.insert(a.replica(), 1); });
  const set delta = b.mutate([&](set& s) { return s.insert(b.replica(), 7); });
  pump_until([&] { return a.read([](const set& s) { return s.contains(7); }); }, a, b);
  REQUIRE(remote.size() == 1);
  CHECK(remote[0] == delta);  // what b's insert changed, not b's or a's whole state
  CHECK(from[0] == std::uint64_t{2});
  b.mutate([&](set& s) { return s.erase(7); });
  pump_until([&] { return !a.read([](const set& s) { return s.contains(7); }); }, a, b);
  REQUIRE(remote.size() == 2);
  CHECK(remote[1].size() == 0);  // a removal: only context
  CHECK(mirror == a.snapshot());
}

TEST_CASE("the delta of a map change names the keys that changed") {
  zmq::context_t ctx;
  converge::zmq_node<catalog> a(unit_options(ctx, 1, {"inproc://keys-a"}, {"inproc://keys-b"}));
  converge::zmq_node<catalog> b(unit_options(ctx, 2, {"inproc://keys-b"}, {"inproc://keys-a"}));
  for (const char* k : {"apple", "bread", "cheese"}) {
    b.mutate([&](catalog& c) {
      return converge::update(c, &catalog::prices, [&](auto& m) {
        return m.update(k, [&](auto& r) { return r.assign(b.replica(), "1.00"); });
      });
    });
  }
  pump_until([&] { return a.snapshot() == b.snapshot(); }, a, b);
  std::set<std::string> keys;
  std::vector<std::string_view> fields;
  a.subscribe([&](const converge::state_change<catalog>& c) {
    for (const auto& [k, v] : c.delta.prices) keys.insert(k);
    fields.insert(fields.end(), c.fields.begin(), c.fields.end());
  });
  b.mutate([&](catalog& c) {
    return converge::update(c, &catalog::prices, [&](auto& m) {
      return m.update("bread", [&](auto& r) { return r.assign(b.replica(), "2.50"); });
    });
  });
  pump_until([&] { return a.snapshot() == b.snapshot(); }, a, b);
  CHECK(keys == std::set<std::string>{"bread"});
  CHECK(fields == std::vector<std::string_view>{"prices"});
}

TEST_CASE("a duplicate message changes nothing, and is not reported") {
  zmq::context_t ctx;
  using set = converge::or_set<int>;
  converge::zmq_node<set> a(unit_options(ctx, 1, {"inproc://dup-a"}, {}));
  raw_peer p(ctx, "inproc://dup-a");
  int changes = 0;
  a.subscribe([&](const converge::state_change<set>& c) {
    CHECK(c.from == std::uint64_t{raw_peer::id});
    ++changes;
  });
  p.rep.mutate([&](set& s) { return s.insert(converge::replica_id{raw_peer::id}, 5); });
  const auto sent = p.rep.tick(1);
  REQUIRE(sent.messages.size() == 1);
  p.send(sent.messages[0].bytes);
  p.send(sent.messages[0].bytes);  // the same bytes again: a duplicate
  pump_until([&] { return a.replication_stats().total.redundant_dropped >= 1; }, a);
  CHECK(changes == 1);
  CHECK(a.snapshot().contains(5));
  CHECK(a.transport_stats().messages_in == 2);
}

TEST_CASE("unsubscribing the last subscriber stops the reports") {
  zmq::context_t ctx;
  converge::zmq_node<converge::gcounter> a(unit_options(ctx, 1, {"inproc://unsub-a"}, {}));
  int calls = 0;
  const auto token = a.subscribe([&](const auto&) { ++calls; });
  a.mutate([&](auto& c) { return c.increment(a.replica()); });
  CHECK(calls == 1);
  a.unsubscribe(token);
  a.mutate([&](auto& c) { return c.increment(a.replica()); });
  CHECK(calls == 1);
  CHECK(a.replication_stats().events_folded == 0);
}

TEST_CASE("a send to a peer whose connection closed counts as no route") {
  zmq::context_t ctx;
  using set = converge::or_set<int>;
  converge::zmq_node<set> a(unit_options(ctx, 1, {"inproc://gone-a"}, {}));
  {
    raw_peer p(ctx, "inproc://gone-a");
    p.rep.mutate([&](set& s) { return s.insert(converge::replica_id{raw_peer::id}, 5); });
    p.send(p.rep.tick(1).messages.at(0).bytes);
  }  // closed before a answers
  std::this_thread::sleep_for(20ms);
  pump_until([&] { return a.transport_stats().send_no_route >= 1; }, a);
  const auto m = a.transport_stats();
  CHECK(m.send_queue_full == 0);
  CHECK(m.send_dropped == m.send_no_route + m.send_queue_full);
  CHECK(a.snapshot().contains(5));
}

TEST_CASE("a send to a live peer that does not read counts as queue full") {
  zmq::context_t ctx;
  using set = converge::or_set<int>;
  auto o = unit_options(ctx, 1, {}, {"inproc://stuck"});
  o.send_hwm = 1;
  o.receive_hwm = 1;
  o.heartbeat_interval = 1000ms;  // live for 3 s after the peer's hello_ack
  zmq::socket_t stuck(ctx, zmq::socket_type::router);
  stuck.set(zmq::sockopt::rcvhwm, 1);
  stuck.set(zmq::sockopt::linger, 0);
  stuck.bind("inproc://stuck");
  converge::zmq_node<set> a(o);
  a.process();  // the first heartbeat: hello
  zmq::message_t route;
  zmq::message_t hello;
  REQUIRE(stuck.recv(route));
  REQUIRE(stuck.recv(hello));
  const auto ack =
      converge::transport::detail::write_envelope({converge::transport::detail::kind::hello_ack, 9, 9});
  stuck.send(route, zmq::send_flags::sndmore);
  stuck.send(zmq::buffer(ack.data(), ack.size()), zmq::send_flags::none);
  pump_until([&] { return a.peers().at(0).reachable; }, a);
  // Now it never reads again: the link's queue fills while the peer is live.
  int i = 0;
  pump_until(
      [&] {
        a.mutate([&](set& s) { return s.insert(a.replica(), ++i); });
        return a.transport_stats().send_queue_full >= 1;
      },
      a);
  const auto m = a.transport_stats();
  CHECK(m.send_no_route == 0);
  CHECK(m.send_dropped == m.send_queue_full);
}

TEST_CASE("unique_fd closes once, moves, and releases; event_fd wakes a poll") {
  using converge::transport::detail::event_fd;
  using converge::transport::detail::unique_fd;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const int r = fds[0];
  {
    unique_fd a(fds[0]);
    unique_fd b(std::move(a));
    CHECK_FALSE(a);
    CHECK(b.get() == r);
    unique_fd c;
    c = std::move(b);
    CHECK(c.get() == r);
    CHECK(::fcntl(r, F_GETFD) != -1);
  }
  CHECK(::fcntl(r, F_GETFD) == -1);  // closed when the last owner went
  {
    unique_fd w(fds[1]);
    const int raw = w.release();
    CHECK_FALSE(w);
    CHECK(::fcntl(raw, F_GETFD) != -1);  // released: not closed
    ::close(raw);
  }
  event_fd e;
  pollfd p{e.get(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);
  e.notify();
  e.notify();
  CHECK(::poll(&p, 1, 0) == 1);
  e.clear();
  CHECK(::poll(&p, 1, 0) == 0);
}

TEST_CASE("a durable node answers a write once it is synced, restarts with its identity and resumes") {
  using set = converge::or_set<int>;
  zmq::context_t ctx;
  converge::replication::memory_journal journal;
  // The restarted node binds a new name: closing a socket frees its inproc
  // name asynchronously. It reaches b over its own link.
  auto durable_options = [&](const char* bind) {
    auto o = unit_options(ctx, 1, {bind}, {"inproc://dur-b"});
    o.replication.journal = &journal;
    o.recovered = converge::replication::read_journal(journal.load());
    return o;
  };
  converge::zmq_node<set> b(unit_options(ctx, 2, {"inproc://dur-b"}, {"inproc://dur-a"}));
  converge::replica_id first_identity;
  {
    converge::zmq_node<set> a(durable_options("inproc://dur-a"));
    first_identity = a.replica();
    a.mutate([&](set& s) { return s.insert(a.replica(), 7); });
    const std::uint64_t position = a.journal_position();
    CHECK(position > 0);
    CHECK(a.durable_position() < position);
    REQUIRE(a.wait_durable(position, 5s));
    CHECK(a.durable_position() >= position);
    CHECK(converge::replication::read_journal(journal.load()).has_value());
    pump_until([&] { return b.read([](const set& s) { return s.contains(7); }) && a.quiescent(); }, a, b);
    a.mutate([&](set& s) { return s.insert(a.replica(), 8); });  // never synced: lost with the process
    journal.crash({});
  }
  converge::zmq_node<set> a(durable_options("inproc://dur-a2"));
  CHECK(a.replica() == first_identity);
  CHECK(a.read([](const set& s) { return s.contains(7) && !s.contains(8); }));
  b.mutate([&](set& s) { return s.insert(b.replica(), 9); });
  pump_until([&] { return a.read([](const set& s) { return s.contains(9); }) && b.quiescent(); }, a, b);
  // b kept what it knew a holds: the new session resumed, no state transfer to a.
  CHECK(b.replication_stats().peers.at(1).session_resumes == 1);
  CHECK(a.replication_stats().total.state_transfers_received == 0);
}

namespace {

using meter = converge::transport::detail::zmtp_meter;

std::vector<unsigned char> greeting(const char* mechanism = "NULL") {
  std::vector<unsigned char> g(64, 0);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  for (std::size_t i = 0; mechanism[i] != '\0'; ++i) g[12 + i] = static_cast<unsigned char>(mechanism[i]);
  return g;
}

void put_frame(std::vector<unsigned char>& out, unsigned char flags, std::size_t size) {
  if (size > 255) {
    out.push_back(flags | 2);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<unsigned char>((size >> (8 * i)) & 0xff));
  } else {
    out.push_back(flags);
    out.push_back(static_cast<unsigned char>(size));
  }
  out.insert(out.end(), size, 'x');
}

/// Feeds `bytes` in pieces of `step` bytes; the first verdict that is not ok.
meter::verdict feed_in_steps(meter& m, const std::vector<unsigned char>& bytes, std::size_t step) {
  for (std::size_t i = 0; i < bytes.size(); i += step) {
    std::size_t accepted = 0;
    const auto v = m.feed(bytes.data() + i, std::min(step, bytes.size() - i), accepted);
    if (v != meter::verdict::ok) return v;
  }
  return meter::verdict::ok;
}

}  // namespace

TEST_CASE("inbound guard: the ZMTP meter passes the node's own traffic and stops what libzmq would hoard") {
  converge::transport::detail::guard_limits lim;
  lim.max_frames = 2;
  lim.max_frame_bytes = 1000;
  lim.max_message_bytes = 1020;
  for (const std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{100000}}) {
    CAPTURE(step);
    auto ok = greeting();
    put_frame(ok, 0x04, 28);  // READY
    for (int k = 0; k < 50; ++k) {
      put_frame(ok, 0x01, 20);   // envelope, more
      put_frame(ok, 0x00, 900);  // payload (long form never needed here)
      put_frame(ok, 0x00, 20);   // a hello alone
      put_frame(ok, 0x04, 7);    // PING
    }
    meter m1(lim);
    CHECK(feed_in_steps(m1, ok, step) == meter::verdict::ok);

    auto three = ok;
    put_frame(three, 0x01, 20);
    put_frame(three, 0x01, 10);
    put_frame(three, 0x00, 10);  // a third frame: libzmq would buffer any number of them
    meter m2(lim);
    CHECK(feed_in_steps(m2, three, step) == meter::verdict::too_many_frames);

    auto big = ok;
    put_frame(big, 0x00, 1001);  // one frame over max_frame_bytes, in the 8-byte size form
    meter m3(lim);
    CHECK(feed_in_steps(m3, big, step) == meter::verdict::too_large);

    auto total = ok;
    put_frame(total, 0x01, 1000);
    put_frame(total, 0x00, 21);  // together over max_message_bytes
    meter m4(lim);
    CHECK(feed_in_steps(m4, total, step) == meter::verdict::too_large);

    auto curve = greeting("CURVE");
    meter m5(lim);
    CHECK(feed_in_steps(m5, curve, step) == meter::verdict::protocol);

    auto bad_command = ok;
    put_frame(bad_command, 0x05, 7);  // a command with MORE
    meter m6(lim);
    CHECK(feed_in_steps(m6, bad_command, step) == meter::verdict::protocol);
  }
}

TEST_CASE("peer table: closing a link moves the later ones down, and each peer keeps its own links") {
  zmq::context_t ctx;
  auto o = unit_options(ctx, 1, {}, {});
  converge::transport::detail::peer_table t(1000);
  using converge::transport::detail::link;
  using converge::transport::detail::link_role;
  t.add_link(link(ctx, "inproc://pt-a", o, 1024));
  t.add_link(link(ctx, "inproc://pt-b", o, 1024, link_role::dynamic, 7, 5));
  t.add_link(link(ctx, "inproc://pt-c", o, 1024, link_role::dynamic, 8, 5));
  t.admit(7, converge::replica_id{7}, false);
  t.admit(8, converge::replica_id{8}, true);
  REQUIRE(t.find(7)->links == std::vector<std::size_t>{1});
  REQUIRE(t.find(8)->links == std::vector<std::size_t>{2});
  CHECK_FALSE(t.configured(8));
  t.remove_link(1);
  CHECK(t.links().size() == 2);
  CHECK(t.find(7)->links.empty());
  CHECK(t.find(8)->links == std::vector<std::size_t>{1});
  CHECK(t.links()[1].endpoint() == "inproc://pt-c");
  CHECK(t.link_to("inproc://pt-c") == std::size_t{1});
  CHECK_FALSE(t.link_to("inproc://pt-b"));
  // `peers` lists the configured link and the replicating peer 8 (at its
  // dynamic link), not 7, which only exchanged membership messages.
  const auto s = t.status(10);
  REQUIRE(s.size() == 2);
  CHECK(s[0].endpoint == "inproc://pt-a");
  CHECK(s[1].id == std::uint64_t{8});
  CHECK(s[1].endpoint == "inproc://pt-c");
  // Expiry forgets the silent peers without links, and reports only replicating ones.
  t.remove_link(1);
  CHECK(t.expire(5000, 1000) == std::vector<std::uint64_t>{8});
  CHECK(t.find(7) == nullptr);
}

TEST_CASE(
    "membership: nodes join through one seed, see each other up, replicate over the active view, leave") {
  zmq::context_t ctx;
  using set = converge::or_set<int>;
  auto member_options = [&](std::uint64_t id, std::vector<std::string> seeds) {
    auto o = unit_options(ctx, id, {"inproc://mem-" + std::to_string(id)}, {});
    converge::membership_options m;
    m.seeds = std::move(seeds);
    m.seed = id;
    m.detector.probe_interval = 100;
    m.detector.probe_timeout = 50;
    m.detector.gossip_interval = 20;
    m.views.neighbor_timeout = 100;
    m.views.join_retry = 200;
    m.join_retry = 200;
    o.membership = m;
    return o;
  };
  converge::zmq_node<set> a(member_options(1, {}));
  converge::zmq_node<set> b(member_options(2, {"inproc://mem-1"}));
  converge::zmq_node<set> c(member_options(3, {"inproc://mem-1"}));
  converge::zmq_node<set> d(member_options(4, {"inproc://mem-2"}));
  const auto all_up = [](const auto& n, std::size_t count) {
    const auto ms = n.members();
    return ms.size() == count && std::all_of(ms.begin(), ms.end(), [](const auto& m) {
             return m.record.status == converge::membership::member_status::up;
           });
  };
  pump_until([&] { return all_up(a, 4) && all_up(b, 4) && all_up(c, 4) && all_up(d, 4); }, a, b, c, d);
  // Records carry the advertised endpoint and the replica of each life.
  const auto rec = a.member(4);
  REQUIRE(rec);
  CHECK(rec->endpoints == std::vector<std::string>{"inproc://mem-4"});
  CHECK(rec->replica == d.replica());
  // The replicator's peers are the active view (no configured peers here).
  const auto peers_are_active = [](const auto& n) {
    std::set<std::uint64_t> active;
    for (const auto& m : n.members()) {
      if (m.active) active.insert(m.record.node);
    }
    std::set<std::uint64_t> replicating;
    for (const auto& [id, p] : n.replication_stats().peers) replicating.insert(id);
    return !active.empty() && active == replicating;
  };
  pump_until(
      [&] {
        return peers_are_active(a) && peers_are_active(b) && peers_are_active(c) && peers_are_active(d);
      },
      a, b, c, d);
  d.mutate([&](auto& s) { return s.insert(d.replica(), 4); });
  pump_until([&] { return a.snapshot().contains(4) && b.snapshot().contains(4) && c.snapshot().contains(4); },
             a, b, c, d);
  // Garbage in a membership envelope is dropped and counted; nothing changes.
  {
    zmq::socket_t raw(ctx, zmq::socket_type::dealer);
    raw.set(zmq::sockopt::linger, 0);
    raw.connect("inproc://mem-1");
    const auto env =
        converge::transport::detail::write_envelope({converge::transport::detail::kind::probe, 9, 9});
    const std::array<std::byte, 3> junk{std::byte{0xff}, std::byte{0x01}, std::byte{0x02}};
    raw.send(zmq::buffer(env.data(), env.size()), zmq::send_flags::sndmore);
    raw.send(zmq::buffer(junk.data(), junk.size()), zmq::send_flags::none);
    const auto before = a.transport_stats().dropped_malformed;
    pump_until([&] { return a.transport_stats().dropped_malformed > before; }, a, b, c, d);
    CHECK(a.members().size() == 4);
  }
  // A graceful leave: leaving, then removed everywhere, never down.
  c.leave();
  pump_until([&] { return a.member(3)->status == converge::membership::member_status::leaving; }, a, b, c, d);
  c.depart();
  const auto removed = [](const auto& n) {
    return n.member(3)->status == converge::membership::member_status::removed;
  };
  pump_until([&] { return removed(a) && removed(b) && removed(d); }, a, b, c, d);
  CHECK(a.transport_stats().members_down == 0);
  CHECK(b.transport_stats().members_down == 0);
}
