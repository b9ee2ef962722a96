// The lattice laws, the delta law and convergence for every causal type,
// including or_maps nested two levels deep, through the public law checker.
#include <converge/dw_flag.hpp>
#include <converge/ew_flag.hpp>
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>
#include <converge/testing/laws.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "support/laws.hpp"
#include "support/random.hpp"

namespace {

using converge::replica_id;
using converge::testing::entropy;
using converge::testing::operation;

// Small domains so that replicas collide on elements and keys.
template <class S>
S or_set_step(S& s, replica_id self, entropy& e) {
  const auto v = static_cast<int>(e.below(6));
  switch (e.below(5)) {
    case 0:
    case 1:
      return s.insert(self, v);
    case 2:
    case 3:
      return s.erase(v);
    default:
      return s.clear();
  }
}

using inner_map = converge::or_map<int, converge::mv_register<int>>;
using nested_map = converge::or_map<std::string, inner_map>;

inner_map inner_step(inner_map& m, replica_id self, entropy& e) {
  const auto key = static_cast<int>(e.below(3));
  switch (e.below(4)) {
    case 0:
      return m.erase(key);
    case 1:
      return m.clear();
    default:
      return m.update(key, [&](converge::mv_register<int>& r) {
        return e.chance(1, 5) ? r.reset() : r.assign(self, static_cast<int>(e.below(4)));
      });
  }
}

}  // namespace

TEST_CASE("or_set obeys the lattice laws") {
  test::check_laws<converge::or_set<int>>(or_set_step<converge::or_set<int>>, "or_set<int>");
}

TEST_CASE("or_set of strings obeys the lattice laws past the small-store threshold") {
  const operation<converge::or_set<std::string>> op = [](auto& s, replica_id self, entropy& e) {
    const std::string v = "element-" + std::to_string(e.below(40));
    return e.chance(2, 3) ? s.insert(self, v) : s.erase(v);
  };
  CAPTURE(test::seed());
  const auto report = converge::testing::check_laws<converge::or_set<std::string>>(
      op, {.seed = test::seed(), .cases = test::cases(300), .max_ops = 60});
  CHECK_MESSAGE(report.ok, report.failure);
}

TEST_CASE("mv_register obeys the lattice laws") {
  test::check_laws<converge::mv_register<std::string>>(
      [](auto& r, replica_id self, entropy& e) {
        return e.chance(1, 6) ? r.reset()
                              : r.assign(self, std::string(1, static_cast<char>('a' + e.below(3))));
      },
      "mv_register<string>");
}

TEST_CASE("flags obey the lattice laws") {
  test::check_laws<converge::ew_flag>(
      [](auto& f, replica_id self, entropy& e) { return e.chance(1, 2) ? f.enable(self) : f.disable(); },
      "ew_flag");
  test::check_laws<converge::dw_flag>(
      [](auto& f, replica_id self, entropy& e) { return e.chance(1, 2) ? f.disable(self) : f.enable(); },
      "dw_flag");
}

TEST_CASE("or_map of or_sets obeys the lattice laws") {
  using map = converge::or_map<int, converge::or_set<int>>;
  test::check_laws<map>(
      [](map& m, replica_id self, entropy& e) {
        const auto key = static_cast<int>(e.below(3));
        if (e.chance(1, 4)) return m.erase(key);
        return m.update(key, [&](converge::or_set<int>& s) { return or_set_step(s, self, e); });
      },
      "or_map<int, or_set<int>>");
}

TEST_CASE("or_map nested two levels deep obeys the lattice laws") {
  test::check_laws<nested_map>(
      [](nested_map& m, replica_id self, entropy& e) {
        const std::string key(1, static_cast<char>('p' + e.below(3)));
        if (e.chance(1, 5)) return m.erase(key);
        return m.update(key, [&](inner_map& inner) { return inner_step(inner, self, e); });
      },
      "or_map<string, or_map<int, mv_register<int>>>");
}

TEST_CASE("or_map of flags obeys the lattice laws") {
  using map = converge::or_map<int, converge::ew_flag>;
  test::check_laws<map>(
      [](map& m, replica_id self, entropy& e) {
        const auto key = static_cast<int>(e.below(3));
        if (e.chance(1, 4)) return m.erase(key);
        return m.update(key,
                        [&](converge::ew_flag& f) { return e.chance(2, 3) ? f.enable(self) : f.disable(); });
      },
      "or_map<int, ew_flag>");
}

namespace {

// A key with an order and nothing else (no ==, no hash): or_map keeps it in
// its ordered index.
struct ordered_key {
  int v = 0;
  bool operator<(const ordered_key& o) const { return v < o.v; }
};

template <class M>
converge::testing::law_report check_map_laws(const operation<M>& op) {
  return converge::testing::check_laws<M>(op,
                                          {.seed = test::seed(), .cases = test::cases(300), .max_ops = 60});
}

}  // namespace

TEST_CASE(
    "or_map obeys the lattice laws past the small-store threshold (hashed, ordered-only and nested keys)") {
  CAPTURE(test::seed());
  // 40 keys, and registers whose overwrites remove dots from the middle of
  // the store: the key and dot indexes, the dense erase and the runs.
  using strings = converge::or_map<std::string, converge::mv_register<int>>;
  const auto s = check_map_laws<strings>([](strings& m, replica_id self, entropy& e) {
    const std::string key = "key-" + std::to_string(e.below(40));
    if (e.chance(1, 5)) return m.erase(key);
    if (e.chance(1, 40)) return m.clear();
    return m.update(key, [&](converge::mv_register<int>& r) {
      return e.chance(1, 8) ? r.reset() : r.assign(self, static_cast<int>(e.below(4)));
    });
  });
  CHECK_MESSAGE(s.ok, s.failure);

  using ordered = converge::or_map<ordered_key, converge::or_set<int>>;
  const auto o = check_map_laws<ordered>([](ordered& m, replica_id self, entropy& e) {
    const ordered_key key{static_cast<int>(e.below(30))};
    if (e.chance(1, 5)) return m.erase(key);
    return m.update(key, [&](converge::or_set<int>& set) { return or_set_step(set, self, e); });
  });
  CHECK_MESSAGE(o.ok, o.failure);

  using wide = converge::or_map<int, inner_map>;
  const auto w = check_map_laws<wide>([](wide& m, replica_id self, entropy& e) {
    const auto key = static_cast<int>(e.below(20));
    if (e.chance(1, 6)) return m.erase(key);
    return m.update(key, [&](inner_map& inner) {
      const auto k = static_cast<int>(e.below(12));
      return e.chance(1, 4) ? inner.erase(k) : inner.update(k, [&](converge::mv_register<int>& r) {
        return r.assign(self, static_cast<int>(e.below(4)));
      });
    });
  });
  CHECK_MESSAGE(w.ok, w.failure);
}
