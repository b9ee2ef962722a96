// The README's embedding example, kept compiling and running by meson test.
#include <converge/converge.hpp>

#include <boost/hana.hpp>

#include <cassert>
#include <cstdio>
#include <string>

struct cart {  // a service's state: a struct of CRDTs, nothing else to write
  BOOST_HANA_DEFINE_STRUCT(cart, (converge::pncounter, items), (converge::or_set<std::string>, coupons));
  bool operator==(const cart&) const = default;
};

int main() {
  const auto lisbon = converge::replica_id::from_name("lisbon"),
             oslo = converge::replica_id::from_name("oslo");
  cart here, there;  // two replicas, each acting on its own state at once
  cart d1 = converge::update(here, &cart::items, [&](auto& c) { return c.increment(lisbon, 2); });
  cart d2 = converge::update(there, &cart::coupons, [&](auto& s) { return s.insert(oslo, "SAVE10"); });
  std::vector<std::byte> wire = converge::encode(d1);  // deltas are small: send them anywhere
  converge::join_into(there, converge::decode<cart>(wire));
  converge::join_into(here, d2);  // any order, any duplicates: same result
  assert(here == there && here.items.value() == 2 && here.coupons.contains("SAVE10"));
  std::printf("%s\n", converge::to_json(here).c_str());
}
