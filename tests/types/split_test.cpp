// converge::split: every type's join decomposition gives parts that are each
// included in the state and whose join is the state, for any part count.
#include <converge/g_map.hpp>
#include <converge/gcounter.hpp>
#include <converge/gset.hpp>
#include <converge/lattice.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>
#include <converge/twop_set.hpp>

#include <boost/hana.hpp>
#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "support/random.hpp"

using converge::replica_id;

namespace {

struct bundle {
  BOOST_HANA_DEFINE_STRUCT(bundle, (converge::gset<int>, seen), (converge::or_set<int>, live),
                           (converge::g_map<int, converge::gcounter>, hits));
  bool operator==(const bundle&) const = default;
};

template <class T>
void check_split(const T& x, std::size_t parts) {
  const std::vector<T> pieces = converge::split(x, parts);
  REQUIRE_FALSE(pieces.empty());
  T all{};
  for (const T& p : pieces) {
    CHECK(converge::leq(p, x));
    converge::join_into(all, p);
  }
  CHECK(all == x);
}

}  // namespace

TEST_CASE("split is a join decomposition for every splittable type") {
  auto rng = test::rng_for("split");
  CAPTURE(test::seed());
  for (int round = 0; round < test::cases(200); ++round) {
    const std::size_t parts = 1 + rng.below(9);
    CAPTURE(parts);
    converge::gset<int> g;
    converge::twop_set<int> tp;
    converge::g_map<int, converge::gcounter> gm;
    converge::or_map<int, converge::or_set<int>> om;
    bundle b;
    const auto n = rng.below(40);
    for (std::uint64_t i = 0; i < n; ++i) {
      const int v = static_cast<int>(rng.below(30));
      const replica_id r{1 + rng.below(3)};
      g.insert(v);
      if (rng.below(3) == 0) {
        tp.erase(v);
        om.erase(v % 5);
      } else {
        tp.insert(v);
        om.update(v % 5, [&](auto& s) { return s.insert(r, v); });
      }
      gm.update(v % 7, [&](auto& c) { return c.increment(r, 1); });
      (void)converge::update(b, &bundle::seen, [&](auto& s) { return s.insert(v); });
      (void)converge::update(b, &bundle::live, [&](auto& s) { return s.insert(r, v); });
    }
    check_split(g, parts);
    check_split(tp, parts);
    check_split(gm, parts);
    check_split(om, parts);
    check_split(b, parts);
  }
}
