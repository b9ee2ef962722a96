// The replicator's parts on their own: the delta buffer, the retransmission
// clock, the BP filter and chunking.
#include <converge/gset.hpp>
#include <converge/replication/back_propagation.hpp>
#include <converge/replication/chunking.hpp>
#include <converge/replication/delta_buffer.hpp>
#include <converge/replication/peer_timing.hpp>
#include <converge/wire/encode.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>

namespace {
using gs = converge::gset<std::uint64_t>;
using namespace converge::replication;

gs one(std::uint64_t v) {
  gs s;
  (void)s.insert(v);
  return s;
}
}  // namespace

TEST_CASE("delta_buffer: numbers entries, drops what every peer holds, evicts past its bound") {
  delta_buffer<gs> b(100);
  CHECK(b.begin() == 0);
  CHECK(b.end() == 0);
  CHECK(b.push(one(1), 10, std::nullopt) == 0);
  CHECK(b.push(one(2), 10, converge::peer_id{7}) == 0);
  CHECK(b.end() == 2);
  CHECK(b.bytes() == 20);
  CHECK(b.at(1).known_by(7));
  CHECK_FALSE(b.at(0).known_by(7));
  CHECK(b.first_unknown(7, 0) == 0);
  CHECK(b.first_unknown(7, 1) == 2);
  b.mark_known(7, 0, [](const gs& d) { return d.contains(1); });
  CHECK(b.first_unknown(7, 0) == 2);
  b.forget_peer(7);
  CHECK(b.first_unknown(7, 0) == 0);

  b.drop_before(1);
  CHECK(b.begin() == 1);
  CHECK(b.size() == 1);
  CHECK(b.at(1).delta.contains(2));
  CHECK(b.push(one(3), 95, std::nullopt) == 1);  // 10 + 95 > 100: the oldest goes
  CHECK(b.begin() == 2);
  CHECK(b.bytes() == 95);
  b.drop_before(3);
  CHECK(b.size() == 0);
  CHECK(b.begin() == b.end());
}

TEST_CASE("peer_timing: floor, RTT, Karn's rule, back-off and stalls") {
  const timing_options o{.gossip_interval = 10, .min_timeout_intervals = 4};
  peer_timing t;
  CHECK(t.timeout(o) == 40);  // the floor before any sample

  t.sent(5, 100);
  t.acked(5);
  t.sample(400);  // sampled at the tick after the ack
  CHECK(t.srtt() == 300);
  CHECK(t.timeout(o) == 600);

  t.sent(6, 1000);
  t.sent(6, 1100);  // resent: its ack is ambiguous
  t.acked(6);
  t.sample(1110);
  CHECK(t.srtt() == 300);  // unchanged

  t.expired();
  CHECK(t.timeout(o) == 1200);
  t.expired();
  t.expired();  // capped at 4×
  CHECK(t.timeout(o) == 2400);
  t.heard();
  CHECK(t.timeout(o) == 600);

  t.sent(7, 2000);
  t.stalled();  // this replica paused: the ack would time the pause
  t.acked(7);
  t.sample(9000);
  CHECK(t.srtt() == 300);

  peer_timing slow;
  slow.sent(1, 0);
  slow.acked(1);
  slow.sample(100000);
  CHECK(slow.timeout(o) == peer_timing::max_rtt_timeout_factor * 10);  // the RTT part is capped
}

TEST_CASE("heard_filter: remembers what the peer sent until it acknowledged past it") {
  heard_filter<gs> h;
  CHECK(converge::is_bottom(h.known()));
  h.remember(one(1), std::nullopt, 0);
  h.remember(one(2), std::uint64_t{0}, 3);  // acked 0 ≥ since 0: emptied first
  CHECK_FALSE(h.known().contains(1));
  CHECK(h.known().contains(2));
  h.remember(one(3), std::uint64_t{2}, 4);  // acked 2 < since 3: kept
  CHECK(h.known().contains(2));
  CHECK(h.known().contains(3));
  h.reset(9);
  CHECK(converge::is_bottom(h.known()));
  CHECK(covered_by(one(2), one(2)));
  CHECK_FALSE(covered_by(one(2), one(3)));
}

TEST_CASE("cut_payload: parts within the budget whose join is the whole, or nothing") {
  gs big;
  for (std::uint64_t v = 0; v < 2000; ++v) (void)big.insert(v * 1000003);
  const std::size_t size = converge::encoded_size(big);
  const auto parts = cut_payload(big, size, 1024, 4096);
  REQUIRE(parts);
  CHECK(parts->size() > 1);
  gs joined;
  for (const auto& p : *parts) {
    CHECK(p.size() <= 1024);
    converge::join_into(joined, converge::decode<gs>(p));
  }
  CHECK(joined == big);
  CHECK_FALSE(cut_payload(big, size, 1024, 3));  // more parts than allowed
  CHECK_FALSE(cut_payload(one(1), 4, 1, 4096));  // one element cannot be cut
}

TEST_CASE("peer_set: inline first, then spilled; erase keeps every other member") {
  peer_set s;
  for (converge::peer_id p = 1; p <= 5; ++p) s.insert(p);
  for (converge::peer_id p = 1; p <= 5; ++p) CHECK(s.contains(p));
  CHECK_FALSE(s.contains(6));
  s.erase(1);  // an inline one: a spilled one moves in
  CHECK_FALSE(s.contains(1));
  for (converge::peer_id p = 2; p <= 5; ++p) CHECK(s.contains(p));
  s.erase(4);
  s.erase(9);  // absent: nothing changes
  CHECK(s.contains(2));
  CHECK(s.contains(3));
  CHECK(s.contains(5));
  CHECK_FALSE(s.contains(4));
  s.erase(2);
  s.erase(3);
  s.erase(5);
  for (converge::peer_id p = 1; p <= 5; ++p) CHECK_FALSE(s.contains(p));
}
