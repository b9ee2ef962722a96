#pragma once
/// @file
/// The simulator's named workloads: a state type and a random operation for
/// each (`gset`, `or_set`, `gcounter`, `or_map`, `mixed`). Each operation is
/// the catalog's (converge/testing/operations.hpp) in a domain of its own, a
/// callable `State(State&, replica_id, entropy&)` that applies one random
/// local mutation and returns its delta, as `simulator` expects.

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
#include "converge/testing/entropy.hpp"
#include "converge/testing/operations.hpp"
#include "converge/testing/simulator.hpp"
#include "converge/twop_set.hpp"

#include <boost/hana/define_struct.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace converge::testing {

/// A workload: the catalog's random operation of `State` in domain `D`.
template <class State, class D>
struct workload {
  using state = State;
  state operator()(state& s, replica_id self, entropy& e) const { return random_op<State, D>(s, self, e); }
};

namespace workload_domains {

/// Elements (and register values) the numbers below `N`; map keys "k0".."k{K-1}".
template <std::uint64_t N, std::uint64_t K = 3>
struct numbers : collisions {
  template <class T>
  static T element(entropy& e) {
    return static_cast<T>(e.below(N));
  }
  template <class T>
  static T value(entropy& e) {
    return element<T>(e);
  }
  template <class Key>
  static Key key(entropy& e) {
    return "k" + std::to_string(e.below(K));
  }
};

/// Random 64-bit numbers: no two operations insert the same element.
struct unique : numbers<collisions::u64_max> {};

/// 256 numbers, inserted (60%) or erased (40%), so erases hit and race with inserts.
struct contended : numbers<256> {
  static constexpr std::array<std::uint64_t, 3> or_set_weights{6, 4, 0};
};

/// Increments of 1 to 5.
struct small_steps : collisions {
  static std::uint64_t amount(entropy& e) { return 1 + e.below(5); }
};

/// 32 keys of sets of 16 numbers: inserts (60%), erases (30%) and,
/// sometimes, the erase of a whole key.
struct keyed : numbers<16, 32> {
  static constexpr std::array<std::uint64_t, 3> or_map_weights{1, 0, 9};
  static constexpr std::array<std::uint64_t, 3> or_set_weights{6, 3, 0};
};

/// Every type at once: small amounts, 64 values, 8 keys, transfers to any
/// of 64 replicas, timestamps up to 1000.
struct mixed : numbers<64, 8> {
  static std::uint64_t amount(entropy& e) { return 1 + e.below(3); }
  static std::uint64_t timestamp(entropy& e) { return e.below(1000); }
  static replica_id peer(entropy& e) { return replica_id{e.below(64)}; }
  static constexpr std::array<std::uint64_t, 3> or_set_weights{2, 1, 0};
  static constexpr std::array<std::uint64_t, 2> mv_register_weights{0, 1};
  static constexpr std::array<std::uint64_t, 3> or_map_weights{1, 0, 3};
};

}  // namespace workload_domains

/// `gset`: inserts a random 64-bit number.
using gset_ops = workload<gset<std::uint64_t>, workload_domains::unique>;
/// `or_set`: inserts (60%) or erases (40%) a number from a key space of 256,
/// so erases hit and race with inserts.
using or_set_ops = workload<or_set<std::uint64_t>, workload_domains::contended>;
/// `gcounter`: increments by 1 to 5.
using gcounter_ops = workload<gcounter, workload_domains::small_steps>;
/// `or_map`: an or_map<string, or_set<u64>> of 32 keys: inserts into or
/// erases from a key's set, and sometimes erases a whole key.
using or_map_ops = workload<or_map<std::string, or_set<std::uint64_t>>, workload_domains::keyed>;

/// Every type of the catalog in one Hana struct.
struct catalog {
  BOOST_HANA_DEFINE_STRUCT(catalog, (gcounter, hits), (pncounter, balance), (bounded_counter, stock),
                           (gset<std::uint64_t>, seen), (twop_set<std::uint64_t>, once),
                           (or_set<std::uint64_t>, tags), (lww_register<std::uint64_t>, last),
                           (mv_register<std::uint64_t>, versions), (ew_flag, enabled), (dw_flag, disabled),
                           (g_map<std::string, gcounter>, per_key),
                           (or_map<std::string, mv_register<std::uint64_t>>, settings));
  bool operator==(const catalog&) const = default;
};

/// `mixed`: a random operation on a random field of `catalog`.
using mixed_ops = workload<catalog, workload_domains::mixed>;

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
