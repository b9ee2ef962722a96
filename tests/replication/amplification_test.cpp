// A hostile peer feeds a replicator crafted envelopes (replication/envelope.hpp):
// acks with fresh sessions, acks naming huge `to` or parts never sent,
// deltas announcing fresh sessions, multipart parts, garbage, and valid
// acks of what it saw. Whatever the sequence, what the replicator sends
// back stays within the bound of "Amplification" in replicator.hpp:
// out ≤ 4 × in + (1 + T / min_state_transfer_interval) × W.
#include <converge/gset.hpp>
#include <converge/replication/envelope.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/wire/encode.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "support/random.hpp"

namespace {

using gs = converge::gset<std::uint64_t>;
using converge::replication::envelope;
using converge::replication::message_kind;
using converge::replication::read_envelope;
using converge::replication::write_envelope;

constexpr converge::peer_id hostile = 7;
constexpr std::uint64_t gossip = 50;

converge::replicator_options victim_options() {
  converge::replicator_options o;
  o.gossip_interval = gossip;
  o.session = 0x1234567890abcdefULL;  // a full-size session: acks are as long as they get
  o.max_message_bytes = 2048;         // the state travels in parts
  return o;
}

/// A victim holding `elements` elements, with the hostile peer added.
converge::replicator<gs> victim(std::uint64_t elements) {
  converge::replicator<gs> r(converge::replica_id{1}, victim_options());
  for (std::uint64_t i = 0; i < elements; ++i) r.mutate([&](gs& s) { return s.insert(i * 7919); });
  r.add_peer(hostile);
  return r;
}

/// What the hostile peer has seen of the victim: enough to craft valid acks.
struct seen {
  std::uint64_t session = 0;
  std::uint64_t last_to = 0;
  std::uint64_t parts = 1;
  bool whole = false;
};

/// Runs a tick and returns the bytes sent to the hostile peer (and the
/// messages that were state transfers, counted in `whole_messages`).
std::uint64_t tick(converge::replicator<gs>& r, std::uint64_t now, seen& s, std::uint64_t& whole_messages) {
  std::uint64_t bytes = 0;
  for (const auto& m : r.tick(now).messages) {
    REQUIRE(m.to == hostile);
    bytes += m.bytes.size();
    if (const auto e = read_envelope(m.bytes, 1u << 20)) {
      s.session = e->session;
      if (e->kind == message_kind::delta) {
        s.last_to = e->to;
        s.parts = e->parts;
        s.whole = e->state_transfer;
        if (e->state_transfer) ++whole_messages;
      }
    }
  }
  return bytes;
}

std::uint64_t varied(converge::testing::entropy& rng) {
  switch (rng.below(4)) {
    case 0:
      return rng.below(4);
    case 1:
      return rng.below(1u << 20);
    case 2:
      return ~std::uint64_t{0} - rng.below(4);
    default:
      return (std::uint64_t{1} << rng.below(64)) + rng.below(3);
  }
}

/// One hostile message.
std::vector<std::byte> hostile_message(converge::testing::entropy& rng, const seen& s) {
  envelope e;
  std::vector<std::byte> payload;
  switch (rng.below(7)) {
    case 0:  // garbage
    {
      std::vector<std::byte> g(1 + rng.below(40));
      for (auto& b : g) b = static_cast<std::byte>(rng.below(256));
      return g;
    }
    case 1:  // an ack with a fresh session, of anything
    case 2:  // an ack in the current session, naming anything (huge `to`, parts never sent)
      e.kind = message_kind::ack;
      e.session = rng.below(2) == 0 ? varied(rng) : 5;
      e.acked_session = rng.chance(3, 4) ? s.session : varied(rng);
      e.to = rng.chance(1, 2) ? s.last_to : varied(rng);
      e.state_transfer = rng.chance(1, 2) ? s.whole : rng.chance(1, 2);
      e.multipart = rng.chance(1, 2);
      e.part = rng.chance(1, 2) ? rng.below(s.parts) : varied(rng);
      return write_envelope(e);
    case 3:  // a valid ack of what it saw, part by part: it plays along
      e.kind = message_kind::ack;
      e.session = 5;
      e.acked_session = s.session;
      e.to = s.last_to;
      e.state_transfer = s.whole;
      e.multipart = s.parts > 1;
      e.part = rng.below(s.parts);
      return write_envelope(e);
    default:  // a delta: fresh session or not, valid payload or not, parts or not
    {
      gs d;
      for (std::uint64_t k = rng.below(3); k > 0; --k) d.insert(rng.below(100000));
      payload = converge::encode(d);
      if (rng.chance(1, 5) && !payload.empty()) payload[rng.below(payload.size())] = std::byte{0xff};
      e.kind = message_kind::delta;
      e.session = rng.chance(1, 2) ? varied(rng) : 5;
      e.to = varied(rng);
      e.state_transfer = rng.chance(1, 2);
      e.multipart = rng.chance(1, 3);
      e.parts = 2 + rng.below(5);
      e.part = rng.below(e.parts + 1);
      e.payload = payload;
      return write_envelope(e);
    }
  }
}

}  // namespace

TEST_CASE("amplification: a burst of any hostile messages earns at most 4x its bytes") {
  auto rng = test::rng_for("amplification burst");
  CAPTURE(test::seed());
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    auto r = victim(2000);
    seen s;
    std::uint64_t wholes = 0;
    const std::uint64_t first = tick(r, 1, s, wholes);  // the announcement: not an answer to anything
    REQUIRE(wholes > 1);                                // a state transfer in several parts
    REQUIRE(first > 4000);
    wholes = 0;
    // Every message within one pacing interval of the announcement: no state
    // transfer may go again, whatever arrives; the rest is acks.
    std::uint64_t in = 0, out = 0;
    const std::uint64_t interval = victim_options().min_timeout_intervals * gossip;
    for (int i = 0; i < 2000; ++i) {
      const auto m = hostile_message(rng, s);
      in += m.size();
      r.receive(hostile, m);
      out += tick(r, 1 + rng.below(interval - 1), s, wholes);
    }
    CHECK(wholes == 0);
    CHECK(out <= 4 * in);
    MESSAGE("burst: " << in << " bytes in, " << out << " out");
  }
}

TEST_CASE("amplification: over any long hostile sequence, out <= 4 x in + (1 + T / interval) x W") {
  auto rng = test::rng_for("amplification sequence");
  CAPTURE(test::seed());
  const std::uint64_t interval = victim_options().min_timeout_intervals * gossip;
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    auto r = victim(2000);
    seen s;
    std::uint64_t wholes = 0;
    const std::uint64_t w = tick(r, 1, s, wholes);  // one whole state transfer, all its parts
    const std::uint64_t parts_per_transfer = wholes;
    std::uint64_t in = 0, out = w, now = 1;
    for (int i = 0; i < 20000; ++i) {
      // Bursts and pauses: sometimes many messages at once, sometimes a wait
      // past the retransmission timeout.
      now += rng.chance(1, 50) ? rng.below(8 * interval) : rng.below(gossip / 5);
      const auto m = hostile_message(rng, s);
      in += m.size();
      r.receive(hostile, m);
      out += tick(r, now, s, wholes);
    }
    const std::uint64_t bound = 4 * in + (1 + now / interval) * w;
    CAPTURE(in);
    CAPTURE(out);
    CAPTURE(now);
    CHECK(out <= bound);
    // The pacer, directly: at most one state transfer started or resent per interval.
    CHECK(wholes <= (1 + now / interval) * parts_per_transfer);
    const auto& m = r.metrics().peers.at(hostile);
    CHECK(m.state_transfers_deferred > 0);  // the hostile sessions did call for more
    MESSAGE("sequence: " << in << " bytes in, " << out << " out over " << now << " (bound " << bound
                         << "), deferred " << m.state_transfers_deferred << ", session resets "
                         << m.session_resets);
  }
}

TEST_CASE("amplification: 100 acks with fresh sessions earn nothing; 100 such deltas one transfer") {
  auto r = victim(2000);
  seen s;
  std::uint64_t wholes = 0;
  tick(r, 1, s, wholes);
  wholes = 0;
  std::uint64_t out = 0;
  for (std::uint64_t i = 0; i < 100; ++i) {
    const auto m = write_envelope({.kind = message_kind::ack,
                                   .state_transfer = true,
                                   .session = 1000 + i,
                                   .acked_session = s.session,
                                   .to = s.last_to});
    r.receive(hostile, m);
    out += tick(r, 2 + i, s, wholes);
  }
  CHECK(out == 0);  // the first ack names the peer's first session; none is a delta
  const auto before = r.metrics().peers.at(hostile).state_transfers_sent;
  const gs one = [] {
    gs d;
    d.insert(1);
    return d;
  }();
  const auto payload = converge::encode(one);
  std::uint64_t now = 200;
  for (std::uint64_t i = 0; i < 100; ++i) {
    const auto m =
        write_envelope({.kind = message_kind::delta, .session = 5000 + i, .to = 1, .payload = payload});
    r.receive(hostile, m);
    tick(r, ++now, s, wholes);
  }
  const auto& m = r.metrics().peers.at(hostile);
  CHECK(m.session_resets >= 100);
  CHECK(m.state_transfers_sent - before <= 1);  // all within one interval (100 < 200)
  CHECK(m.state_transfers_deferred >= 1);
  // Once the interval passes, the latest session gets its state transfer.
  tick(r, now + 4 * gossip, s, wholes);
  CHECK(r.metrics().peers.at(hostile).state_transfers_sent - before <= 2);
  CHECK(s.whole);
}
