// Origin signing (replication/origin_signing.hpp) with Ed25519
// (signing/ed25519.hpp): honest entries travel through relays, and an
// allow-listed insider holding a valid key of its own can raise no other
// replica's counter entries or rights, however it crafts its messages.
#include <converge/bounded_counter.hpp>
#include <converge/g_map.hpp>
#include <converge/gcounter.hpp>
#include <converge/pncounter.hpp>
#include <converge/replication/envelope.hpp>
#include <converge/replication/memory_journal.hpp>
#include <converge/replication/origin_signing.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/signing/ed25519.hpp>
#include <converge/wire/encode.hpp>

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/random.hpp"

namespace {

using converge::bounded_counter;
using converge::replica_id;
using converge::replicator;
using converge::replicator_options;
using converge::replication::owned_entry;
using converge::signing::ed25519_signer;
using converge::signing::signing_key_pair;

struct ledger {
  BOOST_HANA_DEFINE_STRUCT(ledger, (converge::gcounter, hits), (converge::pncounter, balance),
                           (bounded_counter, stock),
                           (converge::g_map<std::string, converge::gcounter>, by_shop));
  bool operator==(const ledger&) const = default;
};

replica_id rid(std::uint64_t node) { return replica_id::with_incarnation(node, 1); }

/// Keys for nodes 1..n, and a signer per node that knows every public key.
struct keyring {
  std::map<std::uint64_t, signing_key_pair> pairs;
  std::map<std::uint64_t, converge::signing::public_key> publics;
  explicit keyring(std::uint64_t n) {
    for (std::uint64_t i = 1; i <= n; ++i) {
      pairs[i] = converge::signing::generate_signing_key_pair();
      publics[i] = pairs[i].public_part;
    }
  }
  [[nodiscard]] ed25519_signer signer(std::uint64_t node) const {
    return ed25519_signer(pairs.at(node), publics);
  }
};

replicator_options options_with(const converge::entry_signer* s, std::uint64_t session) {
  replicator_options o;
  o.gossip_interval = 10;
  o.session = session;
  o.signer = s;
  return o;
}

/// Delivers every message among `rs` (by peer id = index + 1) until all are quiet.
template <class S>
void settle(std::vector<replicator<S>*> rs, std::uint64_t& now, int rounds = 200) {
  for (int i = 0; i < rounds; ++i) {
    now += 10;
    bool any = false;
    for (std::size_t k = 0; k < rs.size(); ++k) {
      for (auto& m : rs[k]->tick(now).messages) {
        any = true;
        rs[m.to - 1]->receive(k + 1, m.bytes);
      }
    }
    if (!any && std::all_of(rs.begin(), rs.end(), [](auto* r) { return r->quiescent(); })) return;
  }
}

}  // namespace

TEST_CASE("owned entries: every counter entry and transfer of a composed state, each with its own key") {
  ledger l;
  (void)l.hits.increment(rid(1), 3);
  (void)l.hits.increment(rid(2), 4);
  (void)l.balance.increment(rid(1), 5);
  (void)l.balance.decrement(rid(1), 2);
  (void)l.stock.increment(rid(1), 10);
  (void)l.stock.transfer(rid(1), rid(2), 4);
  (void)l.stock.decrement(rid(2), 1);
  (void)l.by_shop.update("a", [](converge::gcounter& g) { return g.increment(rid(3), 1); });
  (void)l.by_shop.update("b", [](converge::gcounter& g) { return g.increment(rid(3), 1); });
  std::set<std::vector<std::byte>> keys;
  std::uint64_t total = 0;
  std::size_t n = 0;
  converge::replication::for_each_owned_entry(l, [&](const owned_entry& e) {
    keys.emplace(e.key.begin(), e.key.end());
    total += e.value;
    ++n;
  });
  CHECK(n == 9);
  CHECK(keys.size() == 9);  // no two entries share a key
  CHECK(total == 3 + 4 + 5 + 2 + 10 + 4 + 1 + 1 + 1);
  // Dropping the entries of replica 2 leaves the rest exactly.
  ledger k = l;
  const std::size_t dropped =
      converge::replication::retain_owned_entries(k, [](const owned_entry& e) { return e.owner != rid(2); });
  CHECK(dropped == 2);  // hits(2) and stock's decrement by 2 (the transfer is 1's)
  CHECK(k.hits.value() == 3);
  CHECK(k.stock.transferred(rid(1), rid(2)) == 4);
  CHECK(k.by_shop == l.by_shop);
  CHECK(converge::replication::has_owned_entries<ledger>());
  CHECK_FALSE(
      converge::replication::has_owned_entries<converge::g_map<std::string, converge::gcounter>::key_type>());
}

TEST_CASE("signing: honest entries reach a replica that hears them only through a relay") {
  const keyring keys(3);
  const auto s1 = keys.signer(1), s2 = keys.signer(2), s3 = keys.signer(3);
  replicator<ledger> a(rid(1), options_with(&s1, 11));
  replicator<ledger> b(rid(2), options_with(&s2, 22));
  replicator<ledger> c(rid(3), options_with(&s3, 33));
  // A line: 1 - 2 - 3. Node 3 never hears node 1 directly.
  a.add_peer(2);
  b.add_peer(1);
  b.add_peer(3);
  c.add_peer(2);
  std::uint64_t now = 0;
  auto deliver = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      now += 10;
      for (auto& m : a.tick(now).messages) b.receive(1, m.bytes);
      for (auto& m : b.tick(now).messages) (m.to == 1 ? a : c).receive(2, m.bytes);
      for (auto& m : c.tick(now).messages) b.receive(3, m.bytes);
    }
  };
  for (int i = 0; i < 20; ++i) {
    a.mutate([](ledger& l) { return ledger{l.hits.increment(rid(1), 1), {}, {}, {}}; });
    a.mutate([](ledger& l) { return ledger{{}, {}, l.stock.increment(rid(1), 5), {}}; });
    c.mutate([](ledger& l) { return ledger{{}, l.balance.decrement(rid(3), 2), {}, {}}; });
    deliver(2);
  }
  a.mutate([](ledger& l) { return ledger{{}, {}, *l.stock.transfer(rid(1), rid(3), 30), {}}; });
  deliver(40);
  for (auto* r : {&a, &b, &c}) {
    CHECK(r->state().hits.value() == 20);
    CHECK(r->state().stock.value() == 100);
    CHECK(r->state().stock.rights(rid(3)) == 30);
    CHECK(r->state().balance.value() == -40);
    CHECK(r->metrics().total.entries_rejected == 0);
  }
  // Every replica holds a signature for each owned entry it holds.
  CHECK(b.signatures_held() >= 4);
  // Node 3 can spend what it was given, and node 1 sees it.
  c.mutate([](ledger& l) { return ledger{{}, {}, *l.stock.decrement(rid(3), 30), {}}; });
  deliver(40);
  CHECK(a.state().stock.value() == 70);
  // Signed once per tick, not once per mutation: 20 ticks × 2 own entries
  // of 1 at most, plus the transfer.
  CHECK(a.metrics().entries_signed <= 45);
  // A signature already verified is not checked again.
  const auto verified = c.metrics().total.signatures_verified;
  deliver(20);
  CHECK(c.metrics().total.signatures_verified == verified);
}

namespace {

/// The receiver's view of an insider's crafted messages: one session, and
/// intervals numbered as a real sender would.
struct insider {
  std::uint64_t session = 0x3333;
  std::uint64_t to = 0;
  std::vector<std::byte> message(const std::vector<std::byte>& payload, bool signed_entries) {
    converge::replication::envelope e{.kind = converge::replication::message_kind::delta,
                                      .signed_entries = signed_entries,
                                      .session = session,
                                      .to = ++to,
                                      .payload = payload};
    return converge::replication::write_envelope(e);
  }
};

std::vector<std::byte> with_block(const converge::replication::signature_block& b, const bounded_counter& x) {
  std::vector<std::byte> out = b.finish();
  const auto state = converge::encode(x);
  out.insert(out.end(), state.begin(), state.end());
  return out;
}

std::vector<std::byte> key_of(const bounded_counter& x) {
  std::vector<std::byte> key;
  converge::replication::for_each_owned_entry(x, [&](const owned_entry& e) {
    if (key.empty()) key.assign(e.key.begin(), e.key.end());
  });
  return key;
}

}  // namespace

TEST_CASE("signing: 10,000 forgeries by an allow-listed insider raise no other replica's entries") {
  auto rng = test::rng_for("signing forgeries");
  CAPTURE(test::seed());
  const keyring keys(3);
  const auto s1 = keys.signer(1), s2 = keys.signer(2), s3 = keys.signer(3);
  // Honest history: node 1 holds 10 units and gives node 2 four of them.
  replicator<bounded_counter> one(rid(1), options_with(&s1, 11));
  replicator<bounded_counter> two(rid(2), options_with(&s2, 22));
  one.add_peer(2);
  two.add_peer(1);
  two.add_peer(3);
  one.mutate([](bounded_counter& b) { return b.increment(rid(1), 10); });
  one.mutate([](bounded_counter& b) { return *b.transfer(rid(1), rid(2), 4); });
  std::uint64_t now = 0;
  for (int i = 0; i < 20; ++i) {
    now += 10;
    for (auto& m : one.tick(now).messages) two.receive(1, m.bytes);
    for (auto& m : two.tick(now).messages)
      if (m.to == 1) one.receive(2, m.bytes);
  }
  REQUIRE(two.state().value() == 10);
  REQUIRE(two.state().rights(rid(2)) == 4);
  // Node 1's genuine signature of its increment entry at 10, as any relay holds it.
  bounded_counter genuine_inc =
      bounded_counter::from_parts(converge::gcounter::from_entries({{rid(1), 10}}), {}, {});
  const auto inc_key = key_of(genuine_inc);
  const converge::entry_signature genuine_sig = s1.sign(converge::replication::signed_bytes(inc_key, 10));

  insider evil;
  std::uint64_t own = 0;  // the insider's own, validly signed increments
  std::uint64_t forged_entries = 0;
  constexpr int attempts = 10000;
  for (int i = 0; i < attempts; ++i) {
    const std::uint64_t amount = 11 + rng.below(1000);
    // What is forged: node 1's increments, node 1's transfer to node 2, or
    // a decrement charged to node 2 (lowering its rights).
    const auto target = rng.below(3);
    bounded_counter forged =
        target == 0
            ? bounded_counter::from_parts(converge::gcounter::from_entries({{rid(1), amount}}), {}, {})
        : target == 1
            ? bounded_counter::from_parts({}, {}, {{rid(1), rid(2), amount}})
            : bounded_counter::from_parts({}, converge::gcounter::from_entries({{rid(2), amount}}), {});
    const auto key = key_of(forged);
    converge::replication::signature_block block;
    const auto how = rng.below(6);
    switch (how) {
      case 0:  // no signature at all
        break;
      case 1:  // random bytes
      {
        converge::entry_signature junk{};
        for (auto& b : junk) b = static_cast<std::byte>(rng.below(256));
        block.add(key, {amount, junk});
      } break;
      case 2:  // the insider's own valid signature, over another replica's entry
        block.add(key, {amount, s3.sign(converge::replication::signed_bytes(key, amount))});
        break;
      case 3:  // node 1's genuine signature, claiming a higher value
        block.add(key, {amount, genuine_sig});
        break;
      case 4:  // node 1's genuine signature of another entry, on this one
        block.add(key, {10, genuine_sig});
        break;
      default:  // node 1's genuine signature at its genuine value (below the entry's, or of another entry)
        block.add(inc_key, {10, genuine_sig});
        if (key != inc_key) block.add(key, {10, genuine_sig});
        break;
    }
    const auto rejected_before = two.metrics().total.entries_rejected;
    if (how == 0) {  // an unsigned message: no block at all
      two.receive(3, evil.message(converge::encode(forged), false));
    } else {
      // The insider's own entry rides along, validly signed: it must be
      // kept, which proves the message was read, not dropped as stale.
      ++own;
      const bounded_counter mine =
          bounded_counter::from_parts(converge::gcounter::from_entries({{rid(3), own}}), {}, {});
      block.add(key_of(mine), {own, s3.sign(converge::replication::signed_bytes(key_of(mine), own))});
      bounded_counter payload = forged;
      payload.join(mine);
      two.receive(3, evil.message(with_block(block, payload), true));
    }
    ++forged_entries;
    CAPTURE(i);
    CAPTURE(how);
    CAPTURE(target);
    REQUIRE(two.state().increments().count(rid(3)) == own);
    REQUIRE(two.metrics().total.entries_rejected == rejected_before + 1);
  }
  CHECK(two.state().increments().count(rid(1)) == 10);
  CHECK(two.state().decrements().count(rid(2)) == 0);
  CHECK(two.state().transferred(rid(1), rid(2)) == 4);
  CHECK(two.state().rights(rid(2)) == 4);
  CHECK(two.state().rights(rid(1)) == 6);
  CHECK(two.metrics().total.entries_rejected == forged_entries);
  // Node 2 still cannot sell more than it was given.
  CHECK_FALSE(
      two.mutate([](bounded_counter& b) { return b.decrement(rid(2), 5).value_or(bounded_counter{}); })
          .decrements()
          .count(rid(2)) == 5);
}

TEST_CASE(
    "signing: a restored replicator signs its own entries again; a replica without a key is not believed") {
  const keyring keys(2);
  const auto s1 = keys.signer(1), s2 = keys.signer(2);
  converge::replication::memory_journal journal;
  std::uint64_t now = 0;
  {
    auto o = options_with(&s1, 11);
    o.journal = &journal;
    replicator<converge::gcounter> a(rid(1), o);
    a.mutate([](converge::gcounter& g) { return g.increment(rid(1), 7); });
    now += 10;
    (void)a.tick(now);
  }
  auto o = options_with(&s1, 12);
  o.journal = &journal;
  auto a = replicator<converge::gcounter>::restore(*converge::replication::read_journal(journal.load()), o);
  replicator<converge::gcounter> b(rid(2), options_with(&s2, 22));
  a.add_peer(2);
  b.add_peer(1);
  settle<converge::gcounter>({&a, &b}, now);
  CHECK(b.state().value() == 7);
  CHECK(b.metrics().total.entries_rejected == 0);

  // Node 9 signs with a key no one knows: its entries are dropped.
  const auto stranger_keys = converge::signing::generate_signing_key_pair();
  const ed25519_signer s9(stranger_keys, {});
  replicator<converge::gcounter> c(rid(9), options_with(&s9, 99));
  c.add_peer(2);
  b.add_peer(9);
  c.mutate([](converge::gcounter& g) { return g.increment(rid(9), 5); });
  for (int i = 0; i < 10; ++i) {
    now += 10;
    for (auto& m : c.tick(now).messages) b.receive(9, m.bytes);
    for (auto& m : b.tick(now).messages)
      if (m.to == 9) c.receive(2, m.bytes);
  }
  CHECK(b.state().value() == 7);
  CHECK(b.metrics().total.entries_rejected >= 1);
}

TEST_CASE("signing keys: a key pair file round-trips; a bad one is refused with its line") {
  const auto kp = converge::signing::generate_signing_key_pair();
  std::istringstream good("# node 1\n" + converge::signing::key_pair_text(kp));
  const auto back = converge::signing::parse_signing_key_pair(good, "k");
  CHECK(back.public_part == kp.public_part);
  std::istringstream one_line(converge::signing::to_hex(kp.public_part) + "\n");
  CHECK_THROWS_WITH_AS(converge::signing::parse_signing_key_pair(one_line, "k"),
                       "k: expected two lines (public key, secret key)", converge::signing::signing_error);
  const auto other = converge::signing::generate_signing_key_pair();
  std::istringstream mismatched(converge::signing::to_hex(kp.public_part) + "\n" +
                                converge::signing::to_hex(other.secret_part) + "\n");
  CHECK_THROWS_WITH_AS(converge::signing::parse_signing_key_pair(mismatched, "k"),
                       "k: the secret key does not belong to the public key",
                       converge::signing::signing_error);
  std::istringstream not_hex("zz\n" + converge::signing::to_hex(kp.secret_part) + "\n");
  CHECK_THROWS_AS(converge::signing::parse_signing_key_pair(not_hex, "k"), converge::signing::signing_error);
  CHECK_FALSE(converge::signing::parse_public_key("12"));
}

TEST_CASE("signing: retiring a replica forgets the signatures of its entries") {
  const keyring keys(2);
  const auto s1 = keys.signer(1), s2 = keys.signer(2);
  replicator<converge::gcounter> a(rid(1), options_with(&s1, 11));
  replicator<converge::gcounter> b(rid(2), options_with(&s2, 22));
  a.add_peer(2);
  b.add_peer(1);
  a.mutate([](converge::gcounter& g) { return g.increment(rid(1), 3); });
  b.mutate([](converge::gcounter& g) { return g.increment(rid(2), 4); });
  std::uint64_t now = 0;
  settle<converge::gcounter>({&a, &b}, now);
  REQUIRE(b.state().value() == 7);
  CHECK(b.signatures_held() == 2);
  const std::vector<replica_id> gone{rid(1)};
  b.retire(gone);
  CHECK(b.signatures_held() == 1);
  CHECK(b.state().value() == 4);  // unfolded here: the fold is the survivor's step (retirement.hpp)
}
