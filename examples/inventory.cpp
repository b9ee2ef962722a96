// Inventory with escrow: three stores sell from one stock without asking
// each other, and can never oversell. Each store holds rights to part of the
// stock (a converge::bounded_counter); a sale spends local rights only, and a
// store that runs low gets rights moved to it. The stores replicate with
// converge::replicator over an in-memory "network" (no sockets needed).

#include "converge/bounded_counter.hpp"
#include "converge/replication/replicator.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using converge::bounded_counter;
using converge::replica_id;
using store = converge::replicator<bounded_counter>;

struct shop {
  const char* name;
  replica_id id;
  store rep;
  std::uint64_t sold = 0;
};

// Delivers every message due now, until nothing is in flight (a perfect network).
void gossip(std::vector<shop*>& shops, std::uint64_t& now) {
  for (int round = 0; round < 100; ++round) {
    bool any = false;
    now += 100;
    for (std::size_t i = 0; i < shops.size(); ++i) {
      for (auto& m : shops[i]->rep.tick(now).messages) {
        shops[m.to]->rep.receive(i, m.bytes);
        any = true;
      }
    }
    if (!any) return;
  }
}

}  // namespace

int main() {
  shop a{"Lyon", replica_id::from_name("lyon"), store(replica_id::from_name("lyon")), 0};
  shop b{"Oslo", replica_id::from_name("oslo"), store(replica_id::from_name("oslo")), 0};
  shop c{"Kyoto", replica_id::from_name("kyoto"), store(replica_id::from_name("kyoto")), 0};
  std::vector<shop*> shops{&a, &b, &c};
  for (std::size_t i = 0; i < shops.size(); ++i) {
    for (std::size_t j = 0; j < shops.size(); ++j) {
      if (i != j) shops[i]->rep.add_peer(j);
    }
  }
  std::uint64_t now = 0;
  const std::uint64_t delivered = 90;

  // Lyon receives the delivery, then moves a third of the rights to each other store.
  a.rep.mutate([&](bounded_counter& s) { return s.increment(a.id, delivered); });
  a.rep.mutate([&](bounded_counter& s) { return *s.transfer(a.id, b.id, 30); });
  a.rep.mutate([&](bounded_counter& s) { return *s.transfer(a.id, c.id, 30); });
  gossip(shops, now);
  std::printf("Lyon stocks %llu units and hands 30 each to Oslo and Kyoto.\n",
              static_cast<unsigned long long>(delivered));

  // The stores sell while cut off from each other: each within its own rights.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> basket(1, 4);
  std::uint64_t refused = 0;
  for (int hour = 0; hour < 12; ++hour) {
    for (shop* s : shops) {
      const std::uint64_t want = basket(rng);
      bool ok = false;
      s->rep.mutate([&](bounded_counter& st) {
        auto d = st.decrement(s->id, want);
        ok = d.has_value();
        return d ? *d : bounded_counter{};
      });
      if (ok) {
        s->sold += want;
      } else {
        ++refused;
      }
    }
    if (hour == 5) {
      std::printf(
          "Partitioned for six hours: Lyon sold %llu, Oslo %llu, Kyoto %llu, %llu baskets refused locally.\n",
          static_cast<unsigned long long>(a.sold), static_cast<unsigned long long>(b.sold),
          static_cast<unsigned long long>(c.sold), static_cast<unsigned long long>(refused));
      // Kyoto runs low; Lyon, which sells less, sends it 10 more units of rights.
      const std::uint64_t spare = a.rep.state().rights(a.id);
      const std::uint64_t move = spare < 10 ? spare : 10;
      a.rep.mutate([&](bounded_counter& st) { return *st.transfer(a.id, c.id, move); });
      gossip(shops, now);
      std::printf("The network heals; Lyon moves %llu units of rights to Kyoto (Kyoto now holds %llu).\n",
                  static_cast<unsigned long long>(move),
                  static_cast<unsigned long long>(c.rep.state().rights(c.id)));
    }
  }
  gossip(shops, now);

  const std::uint64_t sold = a.sold + b.sold + c.sold;
  const std::uint64_t left = a.rep.state().value();
  std::printf(
      "After twelve hours: sold %llu (Lyon %llu, Oslo %llu, Kyoto %llu), %llu left, %llu baskets refused.\n",
      static_cast<unsigned long long>(sold), static_cast<unsigned long long>(a.sold),
      static_cast<unsigned long long>(b.sold), static_cast<unsigned long long>(c.sold),
      static_cast<unsigned long long>(left), static_cast<unsigned long long>(refused));
  const bool agree = a.rep.state() == b.rep.state() && b.rep.state() == c.rep.state();
  const bool exact = sold + left == delivered;
  std::printf("All stores agree: %s. Never oversold: %s.\n", agree ? "yes" : "NO", exact ? "yes" : "NO");
  return agree && exact ? 0 : 1;
}
