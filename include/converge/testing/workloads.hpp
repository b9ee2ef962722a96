#pragma once
/// @file
/// The simulator's named workloads: a state type and a random operation for
/// each (`gset`, `or_set`, `gcounter`, `or_map`, `mixed`). Each operation is a
/// callable `State(State&, replica_id, sim_rng&)` that applies one random local
/// mutation and returns its delta, as `simulator` expects.

#include "converge/bounded_counter.hpp"
#include "converge/dw_flag.hpp"
#include "converge/ew_flag.hpp"
#include "converge/g_map.hpp"
#include "converge/gcounter.hpp"
#include "converge/gset.hpp"
#include "converge/lattice.hpp"
#include "converge/lww_register.hpp"
#include "converge/mv_register.hpp"
#include "converge/or_map.hpp"
#include "converge/or_set.hpp"
#include "converge/pncounter.hpp"
#include "converge/replica_id.hpp"
#include "converge/testing/simulator.hpp"
#include "converge/twop_set.hpp"

#include <boost/hana/define_struct.hpp>

#include <cstdint>
#include <string>

namespace converge::testing {

/// `gset`: inserts a random 64-bit number.
struct gset_ops {
  using state = gset<std::uint64_t>;
  state operator()(state& s, replica_id, sim_rng& rng) const { return s.insert(rng()); }
};

/// `or_set`: inserts (60%) or erases (40%) a number from a key space of 256,
/// so erases hit and race with inserts.
struct or_set_ops {
  using state = or_set<std::uint64_t>;
  state operator()(state& s, replica_id self, sim_rng& rng) const {
    const std::uint64_t v = rng.below(256);
    return rng.below(10) < 6 ? s.insert(self, v) : s.erase(v);
  }
};

/// `gcounter`: increments by 1 to 5.
struct gcounter_ops {
  using state = gcounter;
  state operator()(state& s, replica_id self, sim_rng& rng) const { return s.increment(self, 1 + rng.below(5)); }
};

/// `or_map`: an or_map<string, or_set<u64>> of 32 keys: inserts into or
/// erases from a key's set, and sometimes erases a whole key.
struct or_map_ops {
  using state = or_map<std::string, or_set<std::uint64_t>>;
  state operator()(state& s, replica_id self, sim_rng& rng) const {
    const std::string key = "k" + std::to_string(rng.below(32));
    const std::uint64_t v = rng.below(16);
    switch (rng.below(10)) {
      case 0: return s.erase(key);
      case 1:
      case 2:
      case 3: return s.update(key, [&](or_set<std::uint64_t>& x) { return x.erase(v); });
      default: return s.update(key, [&](or_set<std::uint64_t>& x) { return x.insert(self, v); });
    }
  }
};

/// Every type of the catalog in one Hana struct.
struct catalog {
  BOOST_HANA_DEFINE_STRUCT(catalog,
    (gcounter, hits),
    (pncounter, balance),
    (bounded_counter, stock),
    (gset<std::uint64_t>, seen),
    (twop_set<std::uint64_t>, once),
    (or_set<std::uint64_t>, tags),
    (lww_register<std::uint64_t>, last),
    (mv_register<std::uint64_t>, versions),
    (ew_flag, enabled),
    (dw_flag, disabled),
    (g_map<std::string, gcounter>, per_key),
    (or_map<std::string, mv_register<std::uint64_t>>, settings));
  bool operator==(const catalog&) const = default;
};

/// `mixed`: a random operation on a random field of `catalog`.
struct mixed_ops {
  using state = catalog;
  state operator()(state& s, replica_id self, sim_rng& rng) const {
    const std::uint64_t v = rng.below(64);
    switch (rng.below(12)) {
      case 0: return update(s, &catalog::hits, [&](gcounter& x) { return x.increment(self, 1 + v % 3); });
      case 1:
        return update(s, &catalog::balance, [&](pncounter& x) {
          return rng.below(2) == 0 ? x.increment(self, 1 + v % 3) : x.decrement(self, 1 + v % 3);
        });
      case 2:
        return update(s, &catalog::stock, [&](bounded_counter& x) {
          switch (rng.below(3)) {
            case 0: return x.increment(self, 1 + v % 5);
            case 1: return x.decrement(self, 1 + v % 3).value_or(bounded_counter{});
            default: return x.transfer(self, replica_id{v}, 1).value_or(bounded_counter{});
          }
        });
      case 3: return update(s, &catalog::seen, [&](gset<std::uint64_t>& x) { return x.insert(v); });
      case 4:
        return update(s, &catalog::once, [&](twop_set<std::uint64_t>& x) {
          return rng.below(3) == 0 ? x.erase(v) : x.insert(v);
        });
      case 5:
        return update(s, &catalog::tags, [&](or_set<std::uint64_t>& x) {
          return rng.below(3) == 0 ? x.erase(v % 16) : x.insert(self, v % 16);
        });
      case 6:
        return update(s, &catalog::last,
                      [&](lww_register<std::uint64_t>& x) { return x.assign(self, v, rng.below(1000)); });
      case 7: return update(s, &catalog::versions, [&](mv_register<std::uint64_t>& x) { return x.assign(self, v); });
      case 8:
        return update(s, &catalog::enabled,
                      [&](ew_flag& x) { return rng.below(2) == 0 ? x.enable(self) : x.disable(); });
      case 9:
        return update(s, &catalog::disabled,
                      [&](dw_flag& x) { return rng.below(2) == 0 ? x.disable(self) : x.enable(); });
      case 10:
        return update(s, &catalog::per_key, [&](g_map<std::string, gcounter>& m) {
          return m.update("k" + std::to_string(v % 8), [&](gcounter& c) { return c.increment(self); });
        });
      default:
        return update(s, &catalog::settings, [&](or_map<std::string, mv_register<std::uint64_t>>& m) {
          const std::string key = "s" + std::to_string(v % 8);
          if (rng.below(4) == 0) return m.erase(key);
          return m.update(key, [&](mv_register<std::uint64_t>& r) { return r.assign(self, v); });
        });
    }
  }
};

/// Runs the workload named `name` ("gset", "or_set", "gcounter", "or_map",
/// "mixed") with `options`; nullopt for an unknown name.
inline std::optional<sim_result> run_workload(std::string_view name, const sim_options& options) {
  auto go = [&](auto ops) {
    using ops_t = decltype(ops);
    simulator<typename ops_t::state, ops_t> sim(options, ops);
    return sim.run();
  };
  if (name == "gset") return go(gset_ops{});
  if (name == "or_set") return go(or_set_ops{});
  if (name == "gcounter") return go(gcounter_ops{});
  if (name == "or_map") return go(or_map_ops{});
  if (name == "mixed") return go(mixed_ops{});
  return std::nullopt;
}

}  // namespace converge::testing
