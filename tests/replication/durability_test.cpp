// The durable replicator over the in-memory journal: nothing leaves before it
// is durable, restarts keep the identity and resume from the durable
// acknowledgements, torn tails are dropped, compaction bounds the journal,
// and bad records are refused with the record named.
#include <converge/gcounter.hpp>
#include <converge/or_set.hpp>
#include <converge/replication/journal.hpp>
#include <converge/replication/memory_journal.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/testing/cluster.hpp>
#include <converge/testing/entropy.hpp>
#include <converge/wire/encode.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

using ors = converge::or_set<std::uint64_t>;
using converge::replica_id;
using converge::replicator;
using converge::replicator_options;
using converge::replication::crash_damage;
using converge::replication::journal_error;
using converge::replication::memory_journal;
using converge::replication::read_journal;
using converge::replication::torn_tail;

/// A journal whose syncs fail while `failing` is set (a full disk).
class flaky_journal final : public converge::replication::journal {
 public:
  bool failing = false;
  memory_journal inner;
  std::vector<std::vector<std::byte>> load() override { return inner.load(); }
  void append(std::span<const std::byte> r) override { inner.append(r); }
  void replace(std::span<const std::byte> r) override { inner.replace(r); }
  void sync() override {
    if (failing) throw journal_error("no space left on device");
    inner.sync();
  }
};

/// Two durable nodes, peers of each other, both started.
template <class State>
converge::testing::cluster<State> durable_pair(replicator_options o = {}) {
  converge::testing::cluster<State> c(2);
  const std::size_t peer_of_0[] = {1}, peer_of_1[] = {0};
  o.session = 11;
  c.start_durable(0, replica_id{1}, o, peer_of_0);
  o.session = 12;
  c.start_durable(1, replica_id{2}, o, peer_of_1);
  return c;
}

/// Restarts durable node `i` (after a crash) with a new session.
template <class State>
void restart(converge::testing::cluster<State>& c, std::size_t i, std::uint64_t session) {
  replicator_options o;
  o.session = session;
  const std::size_t peer[] = {1 - i};
  c.start_durable(i, replica_id{i + 1}, o, peer);
}

}  // namespace

TEST_CASE("durability: a restored replica keeps its identity, state and counter, and resumes") {
  auto c = durable_pair<ors>();
  for (std::uint64_t v = 0; v < 50; ++v) c[0].mutate([&](ors& s) { return s.insert(c[0].self(), v); });
  REQUIRE(c.settle());
  const ors before = c[0].state();
  const auto transfers_before = c[1].metrics().peers.at(0).state_transfers_received;
  const std::uint64_t counter = c[0].sequence();
  c.crash_durable(0, {});
  restart(c, 0, 99);
  CHECK(c[0].resumed());
  CHECK(c[0].self() == replica_id{1});
  CHECK(c[0].state() == before);
  CHECK(c[0].sequence() == counter);  // it numbers on from where it was
  c[0].mutate([&](ors& s) { return s.insert(c[0].self(), 1000); });
  REQUIRE(c.settle());
  CHECK(c[1].state().contains(1000));
  CHECK(c[1].state() == c[0].state());
  // Neither side needed a state transfer: the peer kept A(j) for the new session.
  CHECK(c[1].metrics().peers.at(0).session_resumes == 1);
  CHECK(c[1].metrics().peers.at(0).session_resets == 0);
  CHECK(c[0].metrics().total.state_transfers_sent == 0);
  CHECK(c[1].metrics().peers.at(0).state_transfers_received == transfers_before);
}

TEST_CASE("durability: nothing leaves and nothing is acknowledged before the journal syncs") {
  flaky_journal j;
  replicator_options o;
  o.journal = &j;
  o.session = 5;
  replicator<ors> r(replica_id{1}, o);
  r.add_peer(2);
  replicator<ors> peer(replica_id{2}, {.session = 6});
  peer.add_peer(1);
  j.failing = true;
  r.mutate([](ors& s) { return s.insert(replica_id{1}, 7); });
  auto out = r.tick(0);
  CHECK(out.messages.empty());
  CHECK(r.metrics().sync_failures == 1);
  CHECK(r.sync_error().find("no space") != std::string::npos);
  CHECK(r.durable_position() < r.journal_position());
  // A delta that arrives meanwhile is applied but not acknowledged.
  peer.mutate([](ors& s) { return s.insert(replica_id{2}, 8); });
  for (auto& m : peer.tick(0).messages) r.receive(2, m.bytes);
  CHECK(r.state().contains(8));
  CHECK(r.tick(1).messages.empty());
  // The disk recovers: the retry syncs first, then everything goes out.
  j.failing = false;
  out = r.tick(1000);
  CHECK(r.durable_position() == r.journal_position());
  CHECK(r.sync_error().empty());
  REQUIRE_FALSE(out.messages.empty());
  for (auto& m : out.messages) peer.receive(1, m.bytes);
  CHECK(peer.state().contains(7));
}

TEST_CASE("durability: every message leaves after the records it depends on are synced") {
  // Three durable nodes ticked by hand: at every tick that sends, the
  // sender's journal holds nothing unsynced.
  converge::testing::cluster<ors> c(3);
  replicator_options o;
  o.min_compaction_bytes = 512;  // compact often, too
  for (std::size_t i = 0; i < 3; ++i) {
    std::vector<std::size_t> peers;
    for (std::size_t k = 0; k < 3; ++k)
      if (k != i) peers.push_back(k);
    o.session = 20 + i;
    c.start_durable(i, replica_id{i + 1}, o, peers);
  }
  converge::testing::seeded_entropy rng(7);
  for (int step = 0; step < 400; ++step) {
    const auto i = static_cast<std::size_t>(rng.below(3));
    c[i].mutate([&](ors& s) {
      return rng.chance(0.8) ? s.insert(c[i].self(), rng.below(64)) : s.erase(rng.below(64));
    });
    for (std::size_t k = 0; k < 3; ++k) {
      auto out = c[k].tick(c.now);
      if (!out.messages.empty()) CHECK(c.at(k).journal->pending_bytes() == 0);
      for (auto& m : out.messages) c.net().send(c.now, k, static_cast<std::size_t>(m.to), std::move(m.bytes));
    }
    c.deliver();
    c.now += 5;
  }
  REQUIRE(c.settle());
  CHECK(c[0].state() == c[1].state());
  CHECK(c[1].state() == c[2].state());
  CHECK(c.metrics().compactions > 3);
}

TEST_CASE("durability: a crash loses only unsynced writes") {
  converge::testing::cluster<ors> c(1);
  c.start_durable(0, replica_id{1}, {.session = 1}, {});
  c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 1); });
  const std::uint64_t first = c[0].journal_position();
  c[0].request_sync();
  c.tick(0);
  CHECK(c[0].durable_position() >= first);
  c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 2); });  // never synced
  CHECK(c.crash_durable(0, {}) == 1);
  c.start_durable(0, replica_id{1}, {.session = 2}, {});
  CHECK(c[0].state().contains(1));
  CHECK_FALSE(c[0].state().contains(2));
  // Its dot is issued again, for other content: no one ever saw the first.
  c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 3); });
  CHECK(c[0].state().contains(3));
}

TEST_CASE("durability: a periodic sync comes within a gossip interval, without a request") {
  converge::testing::cluster<ors> c(1);
  c.start_durable(0, replica_id{1}, {.gossip_interval = 10, .session = 1}, {});
  c[0].request_sync();
  c.tick(0);
  REQUIRE(c[0].durable_position() == c[0].journal_position());
  c.now = 3;
  c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 1); });
  c.tick(0);
  CHECK(c[0].durable_position() < c[0].journal_position());
  CHECK(c.at(0).deadline > 3);
  CHECK(c.at(0).deadline <= 13);
  c.now = c.at(0).deadline - 1;
  c.tick(0);
  CHECK(c[0].durable_position() < c[0].journal_position());
  c.now = c.at(0).deadline;
  c.tick(0);
  CHECK(c[0].durable_position() == c[0].journal_position());
}

TEST_CASE("durability: a torn or corrupted tail is dropped, and later records are not appended after it") {
  for (const bool tear : {true, false}) {
    CAPTURE(tear);
    converge::testing::cluster<ors> c(1);
    c.start_durable(0, replica_id{1}, {.session = 1}, {});
    c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 1); });
    c[0].request_sync();
    c.tick(0);
    c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 2); });
    c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 3); });
    c.crash_durable(0, {.keep = 1, .tear = tear, .tear_at = 7, .flip = !tear, .flip_bit = 45});
    CHECK_THROWS_AS(read_journal(c.at(0).journal->load(), torn_tail::strict), journal_error);
    const auto recovered = c.start_durable(0, replica_id{1}, {.session = 2}, {});
    REQUIRE(recovered);
    CHECK(recovered->dropped == 1);
    CHECK(c[0].state().contains(1));
    CHECK(c[0].state().contains(2));  // the surviving unsynced record
    CHECK_FALSE(c[0].state().contains(3));
    c[0].mutate([](ors& s) { return s.insert(replica_id{1}, 4); });
    c[0].request_sync();
    c.tick(0);
    // The restart compacted: the journal reads cleanly, with 4 in it.
    const auto again = read_journal(c.at(0).journal->load(), torn_tail::strict);
    REQUIRE(again);
    c.crash_durable(0, {});
    c.start_durable(0, replica_id{1}, {.session = 3}, {});
    CHECK(c[0].state().contains(4));
  }
}

TEST_CASE("durability: a thousand restarts with data add no replica id to the state") {
  using gc = converge::gcounter;
  auto c = durable_pair<gc>();
  for (std::uint64_t k = 0; k < 1000; ++k) {
    c.crash_durable(k % 2, {});
    restart(c, k % 2, 1000 + k);
    const std::size_t i = k % 2;
    c[i].mutate([&](gc& s) { return s.increment(c[i].self()); });
    c[i].request_sync();  // durable before the next crash
    c.tick(i);
    if (k % 50 == 0) REQUIRE(c.settle());
  }
  REQUIRE(c.settle());
  CHECK(c[0].state().value() == 1000);
  CHECK(c[0].state().entries().size() == 2);
  CHECK(c[1].state() == c[0].state());
}

TEST_CASE("durability: a replica that missed writes while down receives only those") {
  auto c = durable_pair<ors>();
  ors big;
  for (std::uint64_t v = 0; v < 20000; ++v) (void)big.insert(replica_id{1}, v);
  c[0].mutate([&](ors& s) {
    s.join(big);
    return big;
  });
  REQUIRE(c.settle());
  c.crash_durable(1, {});
  std::size_t missed_bytes = 0;
  for (std::uint64_t v = 0; v < 200; ++v) {
    const ors d = c[0].mutate([&](ors& s) { return s.insert(c[0].self(), 100000 + v); });
    missed_bytes += converge::encoded_size(d);
    c.step();
  }
  restart(c, 1, 777);
  REQUIRE(c.settle());
  CHECK(c[1].state() == c[0].state());
  const auto& in = c[1].metrics().peers.at(0);
  CHECK(in.state_transfers_received == 0);
  MESSAGE("missed " << missed_bytes << " B of deltas, received " << in.bytes_in << " B after the restart");
  CHECK(in.bytes_in <= 2 * missed_bytes + 256);
}

TEST_CASE("durability: compaction keeps the journal within a small multiple of the state") {
  converge::testing::cluster<ors> c(1);
  replicator_options o;
  o.session = 1;
  o.min_compaction_bytes = 4096;
  c.start_durable(0, replica_id{1}, o, {});
  converge::testing::seeded_entropy rng(3);
  double worst = 0;
  for (int k = 0; k < 20000; ++k) {
    c[0].mutate([&](ors& s) {
      return rng.chance(0.7) ? s.insert(replica_id{1}, rng.below(5000)) : s.erase(rng.below(5000));
    });
    if (k % 16 == 0) {
      c[0].request_sync();
      c.tick(0);
      const double state = static_cast<double>(converge::encoded_size(c[0].state()));
      if (state > 8192) worst = std::max(worst, static_cast<double>(c.at(0).journal->bytes()) / state);
    }
  }
  MESSAGE("journal at most " << worst << "x the encoded state");
  CHECK(worst <= 1.5);  // a snapshot plus a quarter of it, and record overheads
  CHECK(c[0].metrics().compactions > 5);
}

TEST_CASE("durability: a stored state that does not decode is refused, naming the record") {
  using converge::replication::delta_record;
  using converge::replication::snapshot_record;
  const std::vector<std::byte> garbage = {std::byte{0xff}, std::byte{0x01}, std::byte{0x02}};
  std::vector<std::vector<std::byte>> records = {
      snapshot_record(replica_id{1}, 0, {}, converge::encode(ors{})),
      delta_record(0, true, std::nullopt, garbage)};
  const auto parsed = read_journal(records);
  REQUIRE(parsed);
  try {
    (void)replicator<ors>::restore(*parsed, {});
    FAIL("restore accepted a garbage delta");
  } catch (const journal_error& e) {
    CHECK(e.record() == 1);
  }
  // A checksum mismatch anywhere is named by record.
  records[1][6] ^= std::byte{0x10};
  try {
    (void)read_journal(records);
    FAIL("read_journal accepted a flipped bit");
  } catch (const journal_error& e) {
    CHECK(e.record() == 1);
    CHECK(std::string(e.what()).find("checksum") != std::string::npos);
  }
  // A missing record in the middle is a sequence gap, never skipped.
  records = {snapshot_record(replica_id{1}, 0, {}, converge::encode(ors{})),
             delta_record(0, true, std::nullopt, converge::encode(ors{}.insert(replica_id{1}, 1))),
             delta_record(2, true, std::nullopt, converge::encode(ors{}.insert(replica_id{1}, 2)))};
  CHECK_THROWS_WITH_AS(read_journal(records), doctest::Contains("missing"), journal_error);
}
