// replicator::retire: a retired replica's ids leave the state and every
// payload that arrives, values stay, and a durable replica restores to the
// same stripped state; after many lives, the retired ids travel as a few
// runs and a returning old life still changes nothing.
#include <converge/gcounter.hpp>
#include <converge/lattice.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/retirement.hpp>
#include <converge/membership/wire.hpp>
#include <converge/or_set.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/testing/cluster.hpp>
#include <converge/wire/encode.hpp>

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "support/random.hpp"

namespace {

using converge::replica_id;
using converge::replicator_options;
using namespace converge::membership;

struct shared {
  BOOST_HANA_DEFINE_STRUCT(shared, (members, m), (converge::gcounter, hits),
                           (converge::or_set<std::uint64_t>, tags));
  bool operator==(const shared&) const = default;
};

bool holds(const shared& s, replica_id r) {
  const std::vector<replica_id> ids = replica_ids(s);
  return std::binary_search(ids.begin(), ids.end(), r);
}

/// Every running node learns the retired ids its state holds (what an
/// application does after each receive).
void learn(converge::testing::cluster<shared>& c) {
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c.up(i)) c[i].retire(c[i].state().m.retired());
  }
}

bool settle_learning(converge::testing::cluster<shared>& c) {
  for (int s = 0; s < 10000; ++s) {
    c.step();
    learn(c);
    if (c.quiescent() && c.net().empty()) {
      c.step();
      learn(c);
      return true;
    }
  }
  return false;
}

}  // namespace

/// Slot 2 comes back as replica `id` with the old state `old` of a retired
/// life: nodes 0 and 1 strip what it sends on arrival, so their states stay
/// `settled`. The slot is crashed again afterwards.
void old_life_changes_nothing(converge::testing::cluster<shared>& c, replica_id id,
                              const replicator_options& o, const shared& old,
                              std::span<const std::size_t> peers, const shared& settled) {
  c.start(2, id, o, old, peers);
  for (int k = 0; k < 200; ++k) {
    c.step();
    c[0].retire(c[0].state().m.retired());
    c[1].retire(c[1].state().m.retired());
  }
  CHECK(c[0].state() == settled);
  CHECK(c[1].state() == settled);
  c.crash(2, [] { return false; });
}

TEST_CASE("replicator: retire strips the state and every payload, values stay, restore strips again") {
  converge::testing::cluster<shared> c(3);
  replicator_options o;
  const std::size_t peers0[] = {1, 2}, peers1[] = {0, 2}, peers2[] = {0, 1};
  o.session = 11;
  c.start(0, replica_id{1}, o, {}, peers0);
  o.session = 12;
  c.start_durable(1, replica_id{2}, o, peers1);
  o.session = 13;
  c.start(2, replica_id{3}, o, {}, peers2);
  for (std::size_t i = 0; i < 3; ++i) {
    member_record rec;
    rec.node = i + 1;
    rec.replica = replica_id{i + 1};
    rec.status = member_status::up;
    c[i].mutate([&](shared& s) {
      shared d{};
      d.m = s.m.announce(rec);
      return d;
    });
    for (std::uint64_t k = 0; k < 5; ++k) {
      c[i].mutate([&](shared& s) {
        shared d{};
        d.hits = s.hits.increment(replica_id{i + 1}, k + 1);
        d.tags = s.tags.insert(replica_id{i + 1}, 10 * i + k);
        return d;
      });
    }
  }
  REQUIRE(c.settle());
  const shared old_gone = c[2].state();  // replica 3's state, about to retire
  const std::uint64_t hits = c[0].state().hits.value();
  const std::size_t tags = c[0].state().tags.size();
  c.crash(2, [] { return false; });  // replica 3 is gone (it keeps its state)
  c[0].remove_peer(2);
  c[1].remove_peer(2);

  // The survivor's one mutation: the removal and the fold together.
  c[0].mutate([&](shared& s) {
    shared d{};
    d.m = s.m.remove(3);
    d.hits = retire(s.hits, replica_id{3}, replica_id{1});
    d.tags = retire(s.tags, replica_id{3}, replica_id{1});
    return d;
  });
  CHECK(c[0].retire(c[0].state().m.retired()));
  CHECK(!c[0].retire(c[0].state().m.retired()));  // nothing new
  CHECK(c[0].retired() == std::vector<replica_id>{replica_id{3}});
  CHECK(!holds(c[0].state(), replica_id{3}));
  CHECK(c[0].state().hits.value() == hits);
  CHECK(c[0].state().tags.size() == tags);
  REQUIRE(settle_learning(c));
  CHECK(c[1].state() == c[0].state());
  CHECK(!holds(c[1].state(), replica_id{3}));
  CHECK(c[1].state().hits.value() == hits);

  // Replica 3 comes back with its old state (same identity): what it sends
  // is stripped on arrival, and nothing changes.
  const shared settled = c[0].state();
  o.session = 14;
  c[0].add_peer(2);
  c[1].add_peer(2);
  old_life_changes_nothing(c, replica_id{3}, o, old_gone, peers2, settled);
  c[0].remove_peer(2);
  c[1].remove_peer(2);

  // The durable replica restores from its journal, whose older records hold
  // replica 3's entries; retire() with the restored state's ids strips them.
  REQUIRE(settle_learning(c));
  c.crash_durable(1, {});
  o.session = 15;
  c.start_durable(1, replica_id{2}, o, peers1);
  CHECK(c[1].retired().empty());
  CHECK(holds(c[1].state(), replica_id{3}));  // the journal's older records brought them back
  c[1].retire(c[1].state().m.retired());
  CHECK(c[1].state() == settled);
}

TEST_CASE("replicator: 60 lives later, the retired ids are a few runs and an old life changes nothing") {
  auto rng = test::rng_for("retire many lives");
  CAPTURE(test::seed());
  // Slot 0 (replica 1) survives; slots 1 and 2 host lives 2, 3, 4, ... in
  // turn, each retired by replica 1 after it leaves.
  converge::testing::cluster<shared> c(3);
  replicator_options o;
  const std::vector<std::vector<std::size_t>> peers = {{1, 2}, {0, 2}, {0, 1}};
  std::uint64_t next_id = 1, hits = 0, tags = 0, session = 100;
  std::vector<std::uint64_t> life(3);
  auto begin_life = [&](std::size_t i) {
    life[i] = next_id++;
    o.session = ++session;
    c.start(i, replica_id{life[i]}, o, {}, peers[i]);
    for (const std::size_t j : peers[i]) {
      if (c.up(j)) c[j].add_peer(i);
    }
    member_record rec;
    rec.node = i + 1;
    rec.replica = replica_id{life[i]};
    rec.status = member_status::up;
    rec.incarnation = life[i];
    c[i].mutate([&](shared& s) {
      shared d{};
      d.m = s.m.announce(rec);
      return d;
    });
  };
  for (std::size_t i = 0; i < 3; ++i) begin_life(i);
  std::vector<std::pair<replica_id, shared>> old_lives;
  for (int departure = 0; departure < 60; ++departure) {
    for (std::size_t i = 0; i < 3; ++i) {
      const std::uint64_t n = 1 + rng.below(9);
      hits += n;
      ++tags;
      c[i].mutate([&](shared& s) {
        shared d{};
        d.hits = s.hits.increment(replica_id{life[i]}, n);
        d.tags = s.tags.insert(replica_id{life[i]}, tags);
        return d;
      });
    }
    REQUIRE(settle_learning(c));
    const std::size_t gone = 1 + rng.below(2);
    const replica_id gone_id{life[gone]};
    if (old_lives.size() < 3) old_lives.emplace_back(gone_id, c[gone].state());
    c.crash(gone, [] { return false; });
    for (const std::size_t j : peers[gone]) c[j].remove_peer(gone);
    c[0].mutate([&](shared& s) {
      shared d{};
      d.m = s.m.remove(gone + 1);
      d.hits = retire(s.hits, gone_id, replica_id{1});
      d.tags = retire(s.tags, gone_id, replica_id{1});
      return d;
    });
    c[0].retire(c[0].state().m.retired());
    begin_life(gone);
    REQUIRE(settle_learning(c));
  }
  REQUIRE(settle_learning(c));
  const shared settled = c[0].state();
  CHECK(c[1].state() == settled);
  CHECK(c[2].state() == settled);
  CHECK(settled.hits.value() == hits);
  CHECK(settled.tags.size() == tags);
  CHECK(settled.m.retired().size() == 60);
  CHECK(replica_ids(settled).size() <= 3);
  // Live ids 1, a and b leave at most two runs of retired ids, 2 bytes each
  // (ids below 128) and their count: the members cost what the live ones do.
  const members live_only = members::from_parts(settled.m.records(), {});
  CHECK(converge::encoded_size(settled.m) <= converge::encoded_size(live_only) + 5);

  // Old lives come back with their old state, one after another: stripped on
  // arrival, nothing changes anywhere.
  c.crash(2, [] { return false; });
  for (const auto& [id, old] : old_lives) {
    o.session = ++session;
    old_life_changes_nothing(c, id, o, old, peers[2], settled);
  }
}
