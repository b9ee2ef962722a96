// converge-bench-node: what a zmq_node adds to receiving a delta.
//
//   converge-bench-node [--quick] [Google Benchmark flags]
//   (CONVERGE_BENCH_NODE_ITERATIONS=N overrides the number of deltas, 20000)
//
// A poll-driven zmq_node<or_set<uint64_t>> holds N elements (1M) and has a
// subscriber. A peer written by hand (a replicator behind a raw DEALER,
// speaking the envelope over inproc://) sends it one single-insert delta per
// iteration. Timed (subject): from handing the message to ZeroMQ until the
// subscriber has been called, i.e. receive, decode, join, buffer, ack, and
// notify, all inside `process()`. Baseline, in the same iteration: the same
// delta joined into a plain or_set of the same size (`or_set::join`).
// Untimed: the peer's own work (mutate, tick, taking the node's ack).
//
// Counters as in converge-bench: subject_ns, baseline_ns (medians), ratio
// (median of subject / baseline), ratio_total.

#include <converge/or_set.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/transport/detail/envelope.hpp>
#include <converge/transport/zmq_node.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "pairs.hpp"

namespace {

using state = converge::or_set<std::uint64_t>;
using node = converge::zmq_node<state>;
using converge_bench::make_key;
using converge_bench::seconds;

bool quick = false;

state build(std::size_t n) {
  state s;
  for (std::size_t i = 0; i < n; ++i) s.insert(converge::replica_id{1}, make_key<std::uint64_t>(i, 1));
  return s;
}

/// The node, its subscriber, and the hand-written peer (id 2) that feeds it.
struct fixture {
  static constexpr std::uint64_t peer_id = 2;
  zmq::context_t ctx;
  std::unique_ptr<node> n;
  converge::replicator<state> sender{converge::replica_id{peer_id}};
  zmq::socket_t dealer{ctx, zmq::socket_type::dealer};
  std::uint64_t now = 1;
  std::uint64_t changes = 0;
  std::uint64_t sink = 0;

  explicit fixture(const state& initial) {
    converge::node_options o;
    o.id = 1;
    o.replica = converge::replica_id{1};
    o.bind = {"inproc://node-bench"};
    o.context = &ctx;
    o.gossip_interval = std::chrono::milliseconds(10);
    o.heartbeat_interval = std::chrono::milliseconds(1000);
    o.log = {};
    n = std::make_unique<node>(o, initial);
    n->subscribe([this](const converge::state_change<state>& c) {
      ++changes;
      sink += c.delta.size();
    });
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect("inproc://node-bench");
    sender.add_peer(1);
    // Introduce the peer and let the node's state transfer finish, so that
    // what follows is the steady state: one small delta, one ack.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    do {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("node bench: no handshake");
      send_ticks();
      n->process();
      take_replies();
    } while (!(sender.quiescent() && n->quiescent() && sender.state().size() == initial.size()));
  }

  void send(std::span<const std::byte> payload) {
    static const auto env = converge::transport::detail::write_envelope(
        {converge::transport::detail::kind::data, peer_id, peer_id});
    dealer.send(zmq::buffer(env.data(), env.size()), zmq::send_flags::sndmore);
    dealer.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::none);
  }

  std::vector<converge::outgoing> ticks() {
    now += 1000;  // the peer's clock: always due
    return sender.tick(now).messages;
  }
  void send_ticks() {
    for (const auto& m : ticks()) send(m.bytes);
  }

  /// Runs the node until its subscriber has seen `want` changes in all.
  void process_until(std::uint64_t want) {
    for (int spins = 0; changes < want; ++spins) {
      if (spins > 1'000'000) throw std::runtime_error("node bench: a delta never arrived");
      n->process();
    }
  }

  /// Throws unless the node holds as many elements as `plain`.
  void check_agrees(const state& plain) const {
    if (!n->read([&](const state& s) { return s.size() == plain.size(); })) {
      throw std::logic_error("node bench: the node and the plain join disagree");
    }
  }

  /// Hands whatever the node sent to the peer's replicator.
  void take_replies() {
    for (;;) {
      zmq::message_t env;
      if (!dealer.recv(env, zmq::recv_flags::dontwait)) return;
      std::vector<zmq::message_t> rest;
      for (bool more = env.more(); more; more = rest.back().more()) {
        rest.emplace_back();
        if (!dealer.recv(rest.back(), zmq::recv_flags::none)) break;
      }
      const auto e =
          converge::transport::detail::read_envelope({static_cast<const std::byte*>(env.data()), env.size()});
      if (e && e->what == converge::transport::detail::kind::data && rest.size() == 1) {
        sender.receive(1, {static_cast<const std::byte*>(rest[0].data()), rest[0].size()});
      }
    }
  }
};

void bm_node_receive(benchmark::State& st) {
  const auto size = static_cast<std::size_t>(st.range(0));
  const state initial = build(size);
  fixture fx(initial);
  state plain = initial;
  converge_bench::pairs timings;
  std::uint64_t i = 0;
  for (auto _ : st) {
    const std::uint64_t key = make_key<std::uint64_t>(i++, 7);
    const state d =
        fx.sender.mutate([&](state& s) { return s.insert(converge::replica_id{fixture::peer_id}, key); });
    const auto msgs = fx.ticks();
    const double tb = seconds([&] { plain.join(d); });
    const std::uint64_t want = fx.changes + 1;
    const double ts = seconds([&] {
      for (const auto& m : msgs) fx.send(m.bytes);
      fx.process_until(want);
    });
    fx.take_replies();
    timings.add(tb, ts);
    st.SetIterationTime(ts);
  }
  fx.check_agrees(plain);
  timings.report(st, 1);
  const auto t = fx.n->transport_stats();
  st.counters["messages_in"] = static_cast<double>(t.messages_in);
  st.counters["changes"] = static_cast<double>(fx.changes);
}

/// The same, per delta of a received batch: the peer queues `batch`
/// single-insert delta messages (untimed: the peer's work), then the node's
/// `process()` runs until the subscriber has seen them all (timed). What a
/// node adds per delta then excludes the fixed cost of one wake-up and one
/// ack, which a busy node pays once per batch, not once per delta.
void bm_node_receive_batch(benchmark::State& st) {
  const auto size = static_cast<std::size_t>(st.range(0));
  const auto batch = static_cast<std::size_t>(st.range(1));
  const state initial = build(size);
  fixture fx(initial);
  state plain = initial;
  converge_bench::pairs timings;
  std::uint64_t i = 0;
  std::uint64_t seq = 1u << 20;  // interval ends the node acks; it only echoes them
  std::vector<state> deltas(batch);
  std::vector<std::vector<std::byte>> messages(batch);
  for (auto _ : st) {
    for (std::size_t k = 0; k < batch; ++k) {
      deltas[k] = state{};
      const std::uint64_t key = make_key<std::uint64_t>(i++, 11);
      deltas[k] =
          fx.sender.mutate([&](state& s) { return s.insert(converge::replica_id{fixture::peer_id}, key); });
      const std::vector<std::byte> payload = converge::encode(deltas[k]);
      messages[k] = converge::replication::write_envelope({.kind = converge::replication::message_kind::delta,
                                                           .session = fx.sender.session(),
                                                           .to = seq++,
                                                           .payload = payload});
    }
    for (const auto& m : messages) fx.send(m);
    const double tb = seconds([&] {
      for (const state& d : deltas) plain.join(d);
    });
    const std::uint64_t want = fx.changes + batch;
    const double ts = seconds([&] { fx.process_until(want); });
    fx.take_replies();
    timings.add(tb / static_cast<double>(batch), ts / static_cast<double>(batch));
    st.SetIterationTime(ts);
  }
  fx.check_agrees(plain);
  timings.report(st, 1);  // per delta: each pair is already divided by the batch
  st.counters["batch"] = static_cast<double>(batch);
  st.counters["changes"] = static_cast<double>(fx.changes);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  benchmark::RegisterBenchmark("node_receive/or_set_u64", bm_node_receive)
      ->Arg(1'000'000)
      ->Iterations(std::getenv("CONVERGE_BENCH_NODE_ITERATIONS") != nullptr
                       ? std::atoll(std::getenv("CONVERGE_BENCH_NODE_ITERATIONS"))
                       : (quick ? 2000 : 20000))
      ->UseManualTime()
      ->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark("node_receive_batch/or_set_u64", bm_node_receive_batch)
      ->Args({1'000'000, 64})
      ->Iterations(quick ? 100 : 1000)
      ->UseManualTime()
      ->Unit(benchmark::kNanosecond);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
