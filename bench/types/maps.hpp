#pragma once
// or_map<uint64_t, mv_register<uint64_t>> vs std::unordered_map.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "harness.hpp"
#include "sets.hpp"

namespace converge_bench {

using omap = or_map<std::uint64_t, mv_register<std::uint64_t>>;
using umap = std::unordered_map<std::uint64_t, std::uint64_t>;

inline void omap_put(omap& m, replica_id r, std::uint64_t k) {
  m.update(k, [&](auto& v) { return v.assign(r, k); });
}

/// Per iteration, `fill(u)` on a copy `u` of `ustart` (the baseline) against
/// joining `deltas` into a copy of `state`; their sizes must agree.
template <class F>
void run_map_pairs(benchmark::State& st, std::size_t n, const umap& ustart, F&& fill, const omap& state,
                   const std::vector<omap>& deltas, const char* what) {
  std::size_t want = 0;
  run_pairs(
      st, static_cast<double>(n), [&] { return time_on_copy(ustart, fill, want); },
      [&] { return time_joins(state, deltas, want, what); });
}

inline void bm_join_or_map(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  omap base, a, b;
  umap ua, ub;
  for (std::size_t i = 0; i < n / 2; ++i) {
    omap_put(base, r1, key(i, 1));
    ua.emplace(key(i, 1), key(i, 1));
  }
  ub = ua;
  a = base;
  b = base;
  for (std::size_t i = 0; i < n - n / 2; ++i) {
    omap_put(a, r2, key(i, 2));
    ua.emplace(key(i, 2), key(i, 2));
    omap_put(b, r3, key(i, 3));
    ub.emplace(key(i, 3), key(i, 3));
  }
  run_map_pairs(
      st, n, ua,
      [&](umap& u) {
        for (const auto& kv : ub) u.insert(kv);
      },
      a, {b}, "or_map join: sizes differ");
}

inline void bm_apply_or_map(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  omap state, source;
  umap ustate;
  for (std::size_t i = 0; i < n; ++i) {
    omap_put(state, r1, key(i, 1));
    ustate.emplace(key(i, 1), key(i, 1));
  }
  std::vector<omap> deltas;
  std::vector<std::uint64_t> keys;
  for (std::size_t i = 0; i < n; ++i) {
    keys.push_back(key(i, 4));
    deltas.push_back(source.update(keys.back(), [&](auto& v) { return v.assign(r2, keys.back()); }));
  }
  run_map_pairs(
      st, n, ustate,
      [&](umap& u) {
        for (const std::uint64_t k : keys) u.emplace(k, k);
      },
      state, deltas, "or_map apply: sizes differ");
}

}  // namespace converge_bench
