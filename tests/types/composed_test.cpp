// A user struct of lattices, declared with BOOST_HANA_DEFINE_STRUCT, is a
// lattice: the law checker and converge::update work on it unchanged.
#include <converge/g_map.hpp>
#include <converge/gcounter.hpp>
#include <converge/gset.hpp>
#include <converge/lattice.hpp>
#include <converge/lww_register.hpp>
#include <converge/testing/laws.hpp>

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "support/random.hpp"

namespace {

struct profile {
  BOOST_HANA_DEFINE_STRUCT(profile, (converge::gcounter, visits), (converge::gset<std::string>, tags),
                           (converge::lww_register<int>, score));
  bool operator==(const profile&) const = default;
};

static_assert(converge::lattice<profile>);
static_assert(converge::delta_lattice<profile>);

const converge::testing::operation<profile> profile_op = [](profile& s, converge::replica_id self,
                                                            converge::testing::entropy& e) {
  switch (e.below(3)) {
    case 0: {
      const std::uint64_t n = e.below(3);
      return converge::update(s, &profile::visits,
                              [&](converge::gcounter& g) { return g.increment(self, n); });
    }
    case 1: {
      const std::string tag(1, static_cast<char>('a' + e.below(5)));
      return converge::update(s, &profile::tags,
                              [&](converge::gset<std::string>& t) { return t.insert(tag); });
    }
    default: {
      const int v = static_cast<int>(e.below(4));
      const std::uint64_t ts = e.below(4);
      return converge::update(s, &profile::score,
                              [&](converge::lww_register<int>& r) { return r.assign(self, v, ts); });
    }
  }
};

}  // namespace

TEST_CASE("composed struct: laws") {
  CAPTURE(test::seed());
  const auto report =
      converge::testing::check_laws<profile>(profile_op, {.seed = test::seed(), .cases = test::cases()});
  CHECK_MESSAGE(report.ok, report.failure);
}

TEST_CASE("composed struct: update returns a delta of the whole struct, other fields bottom") {
  profile p;
  CHECK(converge::is_bottom(p));
  const profile old = p;
  const profile d = converge::update(p, &profile::tags, [](auto& t) { return t.insert("vip"); });
  CHECK(d.visits.empty());
  CHECK(d.score.empty());
  CHECK(d.tags.contains("vip"));
  CHECK(converge::join(old, d) == p);
  profile q;
  (void)converge::update(q, &profile::visits, [](auto& g) { return g.increment(converge::replica_id{2}); });
  converge::join_into(q, p);
  CHECK(q.visits.value() == 1);
  CHECK(q.tags.contains("vip"));
}

TEST_CASE("composed struct: g_map of composed values") {
  using M = converge::g_map<std::string, profile>;
  const converge::testing::operation<M> op = [](M& s, converge::replica_id self,
                                                converge::testing::entropy& e) {
    const std::string key(1, static_cast<char>('k' + e.below(3)));
    return s.update(key, [&](profile& p) { return profile_op(p, self, e); });
  };
  const auto report = converge::testing::check_laws<M>(op, {.seed = test::seed(), .cases = test::cases(300)});
  CHECK_MESSAGE(report.ok, report.failure);
}
