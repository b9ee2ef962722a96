// The membership CRDT: the lattice laws through the public law checker, the
// order of records (tombstones, rejoins, tie-breaks), small deltas, and the
// wire encoding (round trip, hostile input).
#include <converge/gcounter.hpp>
#include <converge/lattice.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/wire.hpp>
#include <converge/testing/laws.hpp>
#include <converge/wire/encode.hpp>

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/laws.hpp"
#include "support/random.hpp"

namespace {

using converge::replica_id;
using converge::membership::member_record;
using converge::membership::member_status;
using converge::membership::members;
using converge::testing::entropy;

member_record record(std::uint64_t node, std::uint64_t replica, member_status s, std::uint64_t inc,
                     std::string endpoint = "tcp://a:1") {
  member_record r;
  r.node = node;
  r.replica = replica_id{replica};
  r.endpoints = {std::move(endpoint)};
  r.status = s;
  r.incarnation = inc;
  return r;
}

// Every mutator on a small set of nodes, so that replicas collide on nodes,
// incarnations and statuses; announcements with a random content and
// incarnation stand for records written by other lives of a node.
const converge::testing::operation<members> members_op = [](members& s, replica_id self, entropy& e) {
  const std::uint64_t node = 1 + e.below(4);
  switch (e.below(7)) {
    case 0:
      return s.announce(record(node, 10 * node + e.below(3), static_cast<member_status>(e.below(5)),
                               e.below(4), e.chance(1, 2) ? "tcp://a:1" : "tcp://b:2"));
    case 1:
      return s.mark_up(node);
    case 2:
      return s.leave(node);
    case 3:
      return s.refute(node, e.chance(1, 2) ? member_status::up : member_status::leaving);
    case 4: {
      const auto* r = s.find(node);
      return s.confirm_down(node, r != nullptr ? r->incarnation : e.below(3));
    }
    case 5:
      return s.remove(node);
    default:
      return s.announce(record(self.value() + 100, self.value(), member_status::joining, e.below(3)));
  }
};

// The node's replicated state with membership in its own field: how the
// replicator can carry the members CRDT next to the user's state.
struct node_state {
  BOOST_HANA_DEFINE_STRUCT(node_state, (members, membership), (converge::gcounter, hits));
  bool operator==(const node_state&) const = default;
};

}  // namespace

TEST_CASE("members: a field of a composed state joins and encodes like any type") {
  node_state x, y;
  const node_state dx = converge::update(
      x, &node_state::membership, [](members& m) { return m.announce(record(1, 11, member_status::up, 0)); });
  const node_state dy = converge::update(y, &node_state::hits,
                                         [](converge::gcounter& g) { return g.increment(replica_id{2}, 5); });
  const node_state both = converge::join(converge::join(x, dy), converge::join(y, dx));
  CHECK(both.membership.status(1) == member_status::up);
  CHECK(both.hits.value() == 5);
  CHECK(converge::decode<node_state>(converge::encode(both)) == both);
  CHECK(converge::encoded_size(dx) < 24);
}

TEST_CASE("members: lattice laws, delta law and convergence") { test::check_laws(members_op, "members"); }

TEST_CASE("members: the order of one node's records") {
  members m;
  const members d = m.announce(record(1, 11, member_status::joining, 0));
  CHECK(d.records().size() == 1);
  CHECK(m.mark_up(1).records().front().status == member_status::up);
  CHECK(m.mark_up(1).empty());                                          // already up
  CHECK(m.announce(record(1, 11, member_status::joining, 0)).empty());  // an earlier step loses
  const members down = m.confirm_down(1, 0);
  CHECK(m.status(1) == member_status::down);
  CHECK(m.confirm_down(1, 0).empty());  // idempotent
  CHECK(m.mark_up(1).empty());          // `up` at the same incarnation cannot undo `down`
  // A refutation raises the incarnation and wins over `down`.
  const members refuted = m.refute(1);
  CHECK(m.status(1) == member_status::up);
  CHECK(m.find(1)->incarnation == 1);
  members other;
  other.join(refuted);
  other.join(down);  // the late `down` of incarnation 0 changes nothing
  CHECK(other.status(1) == member_status::up);
  CHECK(m.confirm_down(1, 0).empty());  // a suspicion of the old incarnation is stale
}

TEST_CASE("members: removed is a tombstone, and only a higher incarnation rejoins") {
  members m;
  m.announce(record(7, 70, member_status::up, 3, "tcp://x:9"));
  const members late_up = members{}.announce(record(7, 70, member_status::leaving, 3, "tcp://x:9"));
  const members removal = m.remove(7);
  CHECK(removal.records().size() == 1);
  CHECK(removal.retired() == std::vector<replica_id>{replica_id{70}});
  CHECK(removal.records().front().endpoints.empty());  // the tombstone keeps only the replica
  CHECK(m.is_retired(replica_id{70}));
  m.join(late_up);
  CHECK(m.status(7) == member_status::removed);
  CHECK(m.remove(7).empty());
  // A rejoin: a new life, a new replica id, a higher incarnation.
  m.announce(record(7, 71, member_status::joining, 4));
  CHECK(m.status(7) == member_status::joining);
  CHECK(m.find(7)->replica == replica_id{71});
  CHECK(m.is_retired(replica_id{70}));  // the old life stays retired
  CHECK(m.live_count() == 1);
}

TEST_CASE("members: equal incarnation and status resolve the same everywhere") {
  const members a = members{}.announce(record(1, 11, member_status::up, 2, "tcp://a:1"));
  const members b = members{}.announce(record(1, 12, member_status::up, 2, "tcp://b:1"));
  CHECK(converge::join(a, b) == converge::join(b, a));
  CHECK(converge::join(a, b).find(1)->replica == replica_id{12});
}

TEST_CASE("members: deltas are one record, whatever the state's size") {
  members m;
  for (std::uint64_t n = 1; n <= 1000; ++n) m.announce(record(n, n, member_status::up, 0));
  const std::size_t whole = converge::encoded_size(m);
  const members d = m.confirm_down(500, 0);
  CHECK(d.records().size() == 1);
  CHECK(converge::encoded_size(d) < 32);
  CHECK(whole > 1000 * 10);
  CHECK(m.count(member_status::down) == 1);
  CHECK(m.live_count() == 999);
  const auto parts = converge::split(m, 4);
  members rebuilt;
  for (const members& p : parts) rebuilt.join(p);
  CHECK(parts.size() == 4);
  CHECK(rebuilt == m);
}

TEST_CASE("members: wire round trip, and hostile input refused") {
  auto rng = test::rng_for("members wire");
  CAPTURE(test::seed());
  for (int c = 0; c < 200; ++c) {
    members m;
    const std::uint64_t n = rng.below(20);
    for (std::uint64_t i = 0; i < n; ++i) {
      member_record r = record(rng.below(50), rng.below(1000), static_cast<member_status>(rng.below(5)),
                               rng.below(9), rng.chance(1, 2) ? "tcp://h:1" : "ipc:///tmp/x");
      if (rng.chance(1, 3)) r.curve_public_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
      if (rng.chance(1, 4)) r.endpoints.push_back("tcp://second:2");
      m.announce(r);
      if (rng.chance(1, 5)) m.remove(r.node);
    }
    const auto bytes = converge::encode(m);
    CHECK(converge::decode<members>(bytes) == m);
  }
  // A status out of range, truncation and unsorted records are refused.
  const members one = members{}.announce(record(3, 1, member_status::up, 0));
  const auto bytes = converge::encode(one);
  // The status byte comes before the final incarnation (0) and the empty retired list (0).
  std::vector<std::byte> status_bad = bytes;
  REQUIRE(status_bad.size() >= 3);
  REQUIRE(status_bad[status_bad.size() - 3] == std::byte{1});
  status_bad[status_bad.size() - 3] = std::byte{9};
  CHECK_THROWS_AS(converge::decode<members>(status_bad), converge::decode_error);
  const std::vector<std::byte> truncated(bytes.begin(), bytes.end() - 1);
  CHECK_THROWS_AS(converge::decode<members>(truncated), converge::decode_error);
  CHECK_THROWS_AS(
      members::from_parts({record(2, 1, member_status::up, 0), record(2, 1, member_status::up, 1)}, {}),
      std::invalid_argument);
  // Random byte flips of a larger state give decode_error or a valid state.
  members big;
  for (std::uint64_t n = 1; n <= 8; ++n) big.announce(record(n, n, member_status::up, n));
  big.remove(4);
  const auto good = converge::encode(big);
  for (int c = 0; c < 500; ++c) {
    auto flipped = good;
    flipped[1 + rng.below(flipped.size() - 1)] ^= static_cast<std::byte>(1 + rng.below(255));
    try {
      const members m = converge::decode<members>(flipped);
      CHECK(converge::decode<members>(converge::encode(m)) == m);
    } catch (const converge::decode_error&) {
    }
  }
}

TEST_CASE("members: retired ids are written as runs, so their bytes follow the live ids, not history") {
  auto rng = test::rng_for("members retired runs");
  CAPTURE(test::seed());
  // 10,000 lives numbered by birth, 16 of them alive anywhere among them:
  // every other id is retired, in at most 17 runs.
  std::vector<std::uint64_t> live;
  for (int i = 0; i < 16; ++i) live.push_back(1 + rng.below(10016));
  std::vector<member_record> records;
  std::vector<replica_id> retired;
  for (std::uint64_t id = 1; id <= 10016; ++id) {
    if (std::find(live.begin(), live.end(), id) == live.end()) retired.emplace_back(id);
  }
  for (std::uint64_t n = 1; n <= 16; ++n) records.push_back(record(n, live[n - 1], member_status::up, 600));
  const members m = members::from_parts(records, retired);
  const members none = members::from_parts(records, {});
  const auto bytes = converge::encode(m);
  CHECK(converge::decode<members>(bytes) == m);
  CHECK(converge::decode<members>(bytes).retired().size() == retired.size());
  // A run costs at most 3 + 3 bytes here (ids below 2^21).
  CHECK(bytes.size() - converge::encoded_size(none) <= 17 * 6);
  // A retired replica that comes back is still recognised: the set is the same.
  for (std::uint64_t id = 1; id <= 10016; ++id) {
    const bool alive = std::find(live.begin(), live.end(), id) != live.end();
    if (m.is_retired(replica_id{id}) == alive) FAIL_CHECK("replica ", id, " retired: ", !alive);
  }
  // Random retired sets round-trip, sparse or dense.
  for (int c = 0; c < 100; ++c) {
    std::vector<replica_id> ids;
    std::uint64_t at = rng.below(3);
    for (std::uint64_t k = rng.below(200); k > 0; --k) {
      ids.emplace_back(at);
      at += 1 + (rng.chance(1, 2) ? 0 : rng.below(1000));
    }
    if (rng.chance(1, 10)) ids.emplace_back(~std::uint64_t{0});  // the largest id ends the last run
    const members r = members::from_parts({}, ids);
    CHECK(converge::decode<members>(converge::encode(r)) == r);
  }
}

TEST_CASE("members: hostile retired runs are refused before they allocate") {
  // Ends with [1 run] [gap 5] [span 0].
  const auto one = converge::encode(members::from_parts({}, {replica_id{5}}));
  REQUIRE(one.size() >= 3);
  REQUIRE(one[one.size() - 3] == std::byte{1});
  REQUIRE(one[one.size() - 2] == std::byte{5});
  REQUIRE(one[one.size() - 1] == std::byte{0});
  // A span of 2^40 ids from a handful of bytes.
  std::vector<std::byte> huge(one.begin(), one.end() - 1);
  for (const unsigned b : {0x80U, 0x80U, 0x80U, 0x80U, 0x80U, 0x20U}) huge.push_back(std::byte(b));
  CHECK_THROWS_AS(converge::decode<members>(huge), converge::decode_error);
  // A run that overflows 64 bits.
  std::vector<std::byte> over(one.begin(), one.end() - 1);
  for (int i = 0; i < 9; ++i) over.push_back(std::byte{0xff});
  over.push_back(std::byte{0x01});
  CHECK_THROWS_AS(converge::decode<members>(over), converge::decode_error);
  // Two runs that touch are not maximal: one canonical encoding per set.
  const auto two = converge::encode(members::from_parts({}, {replica_id{1}, replica_id{3}}));
  REQUIRE(two[two.size() - 2] == std::byte{1});  // the second run's gap (3 - 2)
  auto touching = two;
  touching[touching.size() - 2] = std::byte{0};
  CHECK_THROWS_AS(converge::decode<members>(touching), converge::decode_error);
  CHECK(converge::decode<members>(two).retired() == std::vector<replica_id>{replica_id{1}, replica_id{3}});
}
