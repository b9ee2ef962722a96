// replicator::retire: a retired replica's ids leave the state and every
// payload that arrives, values stay, and a durable replica restores to the
// same stripped state.
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
#include <vector>

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
  c.start(2, replica_id{3}, o, old_gone, peers2);
  c[0].add_peer(2);
  c[1].add_peer(2);
  for (int k = 0; k < 200; ++k) {
    c.step();
    c[0].retire(c[0].state().m.retired());
    c[1].retire(c[1].state().m.retired());
  }
  CHECK(c[0].state() == settled);
  CHECK(c[1].state() == settled);
  c.crash(2, [] { return false; });
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
