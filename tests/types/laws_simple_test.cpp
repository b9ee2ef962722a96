// The lattice laws, the delta law and convergence for every non-causal type,
// through the public law checker (converge/testing/laws.hpp).
#include <converge/bounded_counter.hpp>
#include <converge/g_map.hpp>
#include <converge/gcounter.hpp>
#include <converge/gset.hpp>
#include <converge/lww_register.hpp>
#include <converge/pncounter.hpp>
#include <converge/testing/laws.hpp>
#include <converge/twop_set.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "support/laws.hpp"
#include "support/random.hpp"

namespace {

using converge::replica_id;
using converge::testing::entropy;
using converge::testing::operation;

// Small value domains, so that replicas collide on elements and keys.
std::string small_string(entropy& e) {
  static const std::array<std::string, 6> words{"", "a", "b", "apple", "pear", "a longer string value"};
  return words[e.below(words.size())];
}

replica_id some_replica(entropy& e) { return replica_id{1 + e.below(4)}; }

const operation<converge::gcounter> gcounter_op = [](converge::gcounter& s, replica_id self, entropy& e) {
  return s.increment(self, e.below(4));  // 0 is allowed: a bottom delta
};

const operation<converge::pncounter> pncounter_op = [](converge::pncounter& s, replica_id self, entropy& e) {
  return e.chance(1, 2) ? s.increment(self, e.below(5)) : s.decrement(self, e.below(5));
};

const operation<converge::bounded_counter> bounded_op = [](converge::bounded_counter& s, replica_id self,
                                                           entropy& e) {
  switch (e.below(3)) {
    case 0:
      return s.increment(self, e.below(6));
    case 1:
      return s.decrement(self, e.below(6)).value_or(converge::bounded_counter{});
    default: {
      const replica_id to = some_replica(e);
      return s.transfer(self, to, e.below(6)).value_or(converge::bounded_counter{});
    }
  }
};

template <class T, class Make>
operation<converge::gset<T>> gset_op(Make make) {
  return [make](converge::gset<T>& s, replica_id, entropy& e) { return s.insert(make(e)); };
}

const operation<converge::twop_set<int>> twop_op = [](converge::twop_set<int>& s, replica_id, entropy& e) {
  const int v = static_cast<int>(e.below(8));
  return e.chance(2, 3) ? s.insert(v) : s.erase(v);
};

const operation<converge::lww_register<std::string>> lww_op = [](converge::lww_register<std::string>& s,
                                                                 replica_id self, entropy& e) {
  std::string v = small_string(e);
  return s.assign(self, std::move(v), e.below(4));  // few timestamps: many ties
};

using counter_map = converge::g_map<std::string, converge::gcounter>;
const operation<counter_map> counter_map_op = [](counter_map& s, replica_id self, entropy& e) {
  return s.update(small_string(e), [&](converge::gcounter& g) { return g.increment(self, e.below(3)); });
};

using nested_g_map = converge::g_map<int, converge::g_map<int, converge::pncounter>>;
const operation<nested_g_map> nested_map_op = [](nested_g_map& s, replica_id self, entropy& e) {
  const int outer = static_cast<int>(e.below(3));
  const int inner = static_cast<int>(e.below(3));
  const std::uint64_t n = e.below(4);
  const bool up = e.chance(1, 2);
  return s.update(outer, [&](converge::g_map<int, converge::pncounter>& m) {
    return m.update(inner,
                    [&](converge::pncounter& c) { return up ? c.increment(self, n) : c.decrement(self, n); });
  });
};

}  // namespace

TEST_CASE("laws: gcounter") { test::check_laws(gcounter_op, "gcounter"); }
TEST_CASE("laws: pncounter") { test::check_laws(pncounter_op, "pncounter"); }
TEST_CASE("laws: bounded_counter") { test::check_laws(bounded_op, "bounded_counter"); }
TEST_CASE("laws: gset<int>") {
  test::check_laws(gset_op<int>([](entropy& e) { return static_cast<int>(e.below(10)); }), "gset<int>");
}
TEST_CASE("laws: gset<std::string>") {
  test::check_laws(gset_op<std::string>(small_string), "gset<std::string>");
}
TEST_CASE("laws: twop_set<int>") { test::check_laws(twop_op, "twop_set<int>"); }
TEST_CASE("laws: lww_register<std::string>") { test::check_laws(lww_op, "lww_register<std::string>"); }
TEST_CASE("laws: g_map<std::string, gcounter>") {
  test::check_laws(counter_map_op, "g_map<std::string, gcounter>");
}
TEST_CASE("laws: g_map<int, g_map<int, pncounter>>") {
  test::check_laws(nested_map_op, "g_map<int, g_map<int, pncounter>>");
}
