// fuzz_replicator: a cluster of 2–4 converge::replicator, driven step by
// step by the input — local operations, ticks, time, delivering, dropping,
// duplicating and reordering messages, partitions, crashes with and without
// data, and bytes injected as messages from a peer (arbitrary, or a genuine
// message with bytes flipped). After healing and quiescence every replica
// must equal the oracle: the join of every delta issued (and of every
// injected payload a replica accepted). Aborts on divergence, on a cluster
// that never quiesces, and on anything `receive` lets escape.
//
// Input: byte 0 picks the state type (fuzz/common/catalogs.hpp `catalog`, byte % size)
// and the mode (bit (byte / size) & 1): this step-by-step harness, or one run
// of converge::testing::simulator configured from the next bytes (durable
// replicas over journals in a third of them: see the simulator's "Durable
// replicas").
//
// Injected messages model a faulty peer, not a forging one (authentication
// is the transport's job): an injected message never carries the current
// session of the peer it claims to come from, nor acknowledges the
// receiver's current session, and for causal types an injected payload is
// only accepted when it is bottom (a forged dot could legitimately break
// convergence). An accepted non-causal payload is made true: the claimed
// sender also applies it, and the oracle includes it.
#include <converge/replication/replicator.hpp>
#include <converge/testing/cluster.hpp>
#include <converge/testing/network.hpp>
#include <converge/testing/simulator.hpp>
#include <converge/testing/workloads.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/catalogs.hpp"
#include "common/harness.hpp"
#include "common/specs.hpp"

namespace converge_fuzz {
namespace {

using converge::replicator;
using converge::replicator_options;

template <class T>
class cluster_run {
 public:
  explicit cluster_run(std::span<const std::uint8_t> bytes) : e_(bytes) {}

  void run() {
    configure_();
    steps_();
    heal_();
    verify_();
  }

 private:
  using packet = converge::testing::packet;

  void note_(const std::string& s) {
    if (tracing()) trace_ += "\n    t=" + std::to_string(c_.now) + " " + s;
  }

  [[noreturn]] void fail_(const std::string& what) {
    std::string out = spec<T>::name() + " cluster of " + std::to_string(n_) + ": " + what;
    out += "\n  options: bp=" + std::to_string(opt_.avoid_back_propagation) +
           " rr=" + std::to_string(opt_.remove_redundant) +
           " gossip=" + std::to_string(opt_.gossip_interval) +
           " max_message=" + std::to_string(opt_.max_message_bytes) +
           " max_buffer=" + std::to_string(opt_.max_buffer_bytes) +
           " max_parts=" + std::to_string(opt_.max_parts);
    out += "\n  oracle = " + show(oracle_);
    for (std::size_t i = 0; i < n_; ++i) {
      if (c_.up(i))
        out += "\n  node " + std::to_string(i) + " = " + show(c_[i].state()) + "\n  " + c_[i].describe();
    }
    out += tracing() ? "\n  steps:" + trace_ : "\n  (set CONVERGE_FUZZ_TRACE=1 to print the steps)";
    fail(out);
  }

  void configure_() {
    n_ = 2 + static_cast<std::size_t>(e_.below(3));
    opt_.avoid_back_propagation = !e_.chance(1, 4);
    opt_.remove_redundant = !e_.chance(1, 4);
    opt_.gossip_interval = 1 + e_.below(8);
    if (e_.chance(1, 4)) opt_.max_message_bytes = 160 + e_.below(256);
    if (e_.chance(1, 4)) opt_.max_buffer_bytes = 32 + e_.below(512);
    if (e_.chance(1, 8)) opt_.max_parts = 2 + e_.below(6);
    // The input moves every packet by hand: the network adds no fault.
    c_ = converge::testing::cluster<T>(n_, converge::testing::network(n_));
    for (std::size_t i = 0; i < n_; ++i) start_(i, T{});
  }

  void start_(std::size_t i, T initial) {
    replicator_options o = opt_;
    o.session = replica_id::mix(0xc0ffee00ULL + ++starts_);  // new at every start, never reused
    c_.start(i, c_.id_of(i), o, std::move(initial));         // every other node a peer
  }

  std::size_t pick_up_() {
    const auto i = static_cast<std::size_t>(e_.below(n_));
    for (std::size_t k = 0; k < n_; ++k) {
      if (c_.up((i + k) % n_)) return (i + k) % n_;
    }
    return n_;
  }

  void tick_(std::size_t i) {
    if (!c_.tick(i)) fail_("a replicator sent to an unknown peer");
  }

  void deliver_(const packet& p) {
    const bool delivered = c_.deliver(p);
    note_((delivered ? "deliver " : "lost ") + std::to_string(p.from) + "->" + std::to_string(p.to) +
          (delivered ? " (" + std::to_string(p.bytes.size()) + " bytes)" : std::string()));
  }

  void steps_() {
    converge::testing::network& net = c_.net();
    for (int step = 0; step < 400 && !e_.exhausted(); ++step) {
      const std::uint64_t kind = e_.below(16);
      if (kind < 4) {  // a local operation
        const std::size_t i = pick_up_();
        if (i == n_) continue;
        replicator<T>& r = c_[i];
        const replica_id self = r.self();
        const T d = r.mutate([&](T& s) { return plain_op(s, self, e_); });
        converge::join_into(oracle_, d);
        note_("op at " + std::to_string(i) + (tracing() ? ": " + show(d) : ""));
      } else if (kind < 7) {  // a tick
        const std::size_t i = pick_up_();
        if (i != n_) tick_(i);
      } else if (kind == 7) {
        c_.now += 1 + e_.below(2 * opt_.gossip_interval);
      } else if (kind < 11) {  // deliver, drop or duplicate a message in flight (any of them: reordering)
        if (net.empty()) continue;
        const auto k = static_cast<std::size_t>(e_.below(net.size()));
        const std::uint64_t what = e_.below(6);
        if (what == 0) {
          note_("drop " + std::to_string(net.at(k).from) + "->" + std::to_string(net.at(k).to));
          net.drop(k);
        } else if (what == 1) {
          net.duplicate(k);
        } else {
          deliver_(net.take(k));
        }
      } else if (kind == 11) {  // a partition forms or heals
        if (net.partitioned()) {
          net.heal();
        } else {
          net.partition([&] { return e_.below(2); });
        }
        note_(net.partitioned() ? "partition" : "heal");
      } else if (kind < 14) {  // a crash, or a restart
        const auto i = static_cast<std::size_t>(e_.below(n_));
        if (c_.up(i)) {
          // Only a quiescent replica whose writes another replica also
          // holds may lose its data (see cluster::crash).
          const bool wipe = c_.crash(i, [&] { return e_.chance(1, 2); });
          note_("crash " + std::to_string(i) + (wipe ? " (data lost)" : " (data kept)"));
        } else {
          note_("restart " + std::to_string(i));
          start_(i, std::exchange(c_.at(i).saved, T{}));
        }
      } else {
        inject_();
      }
    }
  }

  /// Bytes from peer `from` to node `to`: arbitrary, or a genuine message
  /// with bytes changed. See the file comment for what is kept out.
  void inject_() {
    const auto to = static_cast<std::size_t>(e_.below(n_));
    const std::size_t from = (to + 1 + static_cast<std::size_t>(e_.below(n_ - 1))) % n_;
    if (!c_.up(to) || !c_.up(from)) return;
    std::vector<std::byte> bytes;
    const converge::testing::network& net = c_.net();
    if (!net.empty() && e_.chance(1, 2)) {
      bytes = net.at(static_cast<std::size_t>(e_.below(net.size()))).bytes;
      const std::uint64_t edits = 1 + e_.below(3);
      for (std::uint64_t k = 0; k < edits && !bytes.empty(); ++k) {
        const auto at = static_cast<std::size_t>(e_.below(bytes.size()));
        switch (e_.below(3)) {
          case 0:
            bytes[at] = static_cast<std::byte>(e_.below(256));
            break;
          case 1:
            bytes.resize(at);
            break;
          default:
            bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                         static_cast<std::byte>(e_.below(256)));
        }
      }
    } else {
      const std::uint64_t len = e_.below(64);
      for (std::uint64_t k = 0; k < len; ++k) bytes.push_back(static_cast<std::byte>(e_.below(256)));
    }
    replicator<T>& receiver = c_[to];
    replicator<T>& sender = c_[from];
    std::optional<T> payload;
    if (const auto env = converge::replication::read_envelope(bytes, opt_.max_parts)) {
      const std::uint64_t forged = replica_id::mix(0xbadULL + ++forged_);
      const std::uint64_t session = env->session == sender.session() ? forged : env->session;
      converge::replication::envelope forgery = *env;
      forgery.session = session;
      if (env->kind == converge::replication::message_kind::ack) {
        if (env->acked_session == receiver.session()) forgery.acked_session = forged + 1;
        bytes = converge::replication::write_envelope(forgery);
      } else {
        // The payload as the receiver reads it: after the signature block, if flagged.
        std::optional<std::span<const std::byte>> body = env->payload;
        if (env->signed_entries) {
          const auto block = converge::replication::signature_block::read(env->payload);
          body = block ? std::optional(block->rest) : std::nullopt;
        }
        try {
          if (body) payload = converge::decode<T>(*body, opt_.limits);
        } catch (const converge::decode_error&) {
        }
        if (payload && spec<T>::causal && !converge::is_bottom(*payload)) return;  // a forged dot
        const std::vector<std::byte> p(env->payload.begin(), env->payload.end());
        forgery.payload = p;
        bytes = converge::replication::write_envelope(forgery);
      }
    }
    const T before = receiver.state();
    note_("inject " + std::to_string(from) + "->" + std::to_string(to) + " (" + std::to_string(bytes.size()) +
          " bytes" + (payload ? ", payload " + show(*payload) : std::string()) + ")");
    receiver.receive(from, bytes);
    if (payload && !converge::is_bottom(*payload)) {
      const T p = *payload;
      (void)sender.mutate([&](T& s) {
        converge::join_into(s, p);
        return p;
      });
      converge::join_into(oracle_, p);
    } else if (!(receiver.state() == before)) {
      fail_("a message whose payload does not decode (or is bottom) changed the receiver's state");
    }
  }

  void heal_() {
    c_.net().heal();
    for (std::size_t i = 0; i < n_; ++i) {
      if (!c_.up(i)) {
        note_("restart " + std::to_string(i));
        start_(i, std::exchange(c_.at(i).saved, T{}));
      }
    }
    note_("healed: no more faults");
    const std::uint64_t rounds = 200 + 40 * opt_.gossip_interval;
    for (std::uint64_t round = 0; round < rounds; ++round) {
      for (std::size_t i = 0; i < n_; ++i) tick_(i);
      if (c_.net().empty() && c_.all_quiescent()) return;
      for (const packet& p : c_.net().take_all()) deliver_(p);
      ++c_.now;
    }
    if (unsendable_()) return;
    fail_("no quiescence " + std::to_string(rounds) + " rounds after healing");
  }

  /// An interval that cannot be cut under max_message_bytes is reported, not
  /// sent: the one documented way for a replicator not to converge.
  [[nodiscard]] bool unsendable_() const {
    for (std::size_t i = 0; i < n_; ++i) {
      if (c_[i].metrics().unsendable != 0) return true;
    }
    return false;
  }

  void verify_() {
    if (unsendable_()) return;
    for (std::size_t i = 0; i < n_; ++i) {
      if (!(c_[i].state() == oracle_)) {
        fail_("after healing and quiescence node " + std::to_string(i) +
              " differs from the join of every delta issued");
      }
    }
  }

  byte_entropy e_;
  std::size_t n_ = 2;
  replicator_options opt_{};
  converge::testing::cluster<T> c_;
  T oracle_{};
  std::uint64_t starts_ = 0;
  std::uint64_t forged_ = 0;
  std::string trace_;
};

/// The catalog's operations, as a simulator workload.
template <class T>
using sim_op = converge::testing::workload<T, converge::testing::collisions>;

/// One simulator run, its configuration drawn from the bytes.
template <class T>
void simulate(std::span<const std::uint8_t> bytes) {
  byte_entropy e(bytes);
  converge::testing::sim_options o;
  o.replicas = 2 + e.below(3);
  o.topo = e.chance(1, 2) ? converge::testing::topology{} : *converge::testing::topology::parse("ring");
  o.ops = 1 + e.below(40);
  o.faults.loss = static_cast<double>(e.below(4)) / 10;
  o.faults.duplicate = static_cast<double>(e.below(4)) / 10;
  o.faults.reorder = e.chance(1, 2);
  o.faults.partitions = e.chance(1, 2);
  o.faults.crash = static_cast<double>(e.below(3)) / 40;
  o.replication.avoid_back_propagation = !e.chance(1, 4);
  o.replication.remove_redundant = !e.chance(1, 4);
  o.replication.gossip_interval = 1 + e.below(8);
  if (e.chance(1, 4)) o.replication.max_message_bytes = 160 + e.below(256);
  if (e.chance(1, 4)) o.replication.max_buffer_bytes = 32 + e.below(512);
  o.seed = e.below(std::numeric_limits<std::uint64_t>::max());
  // Drawn last, so the corpus's earlier choices keep their meaning.
  o.durable = e.chance(1, 3);
  converge::testing::simulator<T, sim_op<T>> sim(o, sim_op<T>{});
  const converge::testing::sim_result r = sim.run();
  if (!r.converged && r.unsendable == 0) {
    fail(spec<T>::name() + ": simulator run did not converge (seed " + std::to_string(r.seed) + ", " +
         std::to_string(o.replicas) + " replicas, " + o.topo.name() + "): " + r.failure);
  }
}

}  // namespace
}  // namespace converge_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace converge_fuzz;
  if (size == 0 || size > 4096) return 0;
  const std::size_t n = catalog::size;
  const bool sim = ((data[0] / n) & 1U) != 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  with_type(catalog{}, data[0] % n, [&]<class T>(std::type_identity<T>) {
    if (sim) {
      simulate<T>(rest);
    } else {
      cluster_run<T>(rest).run();
    }
  });
  return 0;
}
