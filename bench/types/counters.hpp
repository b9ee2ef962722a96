#pragma once
// Counters with many replicas vs std::unordered_map<replica, count> (max per key).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "harness.hpp"

namespace converge_bench {

/// Entries (replica, count) for replicas key(i, salt), i < n, sorted.
inline std::vector<gcounter::entry> counter_entries(std::size_t n, std::uint64_t salt, std::uint64_t count) {
  std::vector<gcounter::entry> e;
  for (std::size_t i = 0; i < n; ++i) e.emplace_back(replica_id{key(i, salt)}, count + i % 7);
  std::sort(e.begin(), e.end());
  return e;
}

inline std::vector<gcounter::entry> merged_entries(std::vector<gcounter::entry> a,
                                                   const std::vector<gcounter::entry>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return a;
}

using umax = std::unordered_map<std::uint64_t, std::uint64_t>;

inline void umax_join(umax& u, const umax& other) {
  for (const auto& [r, c] : other) {
    auto [it, fresh] = u.try_emplace(r, c);
    if (!fresh) it->second = std::max(it->second, c);
  }
}

inline umax to_umax(const std::vector<gcounter::entry>& e) {
  umax u;
  for (const auto& [r, c] : e) u.emplace(r.value(), c);
  return u;
}

/// Two counters of n replicas each, half the replicas shared (the other
/// side's count for them higher on one of them).
template <bool PN>
void bm_join_counter(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const auto shared_a = counter_entries(n / 2, 1, 10), shared_b = counter_entries(n / 2, 1, 12);
  const auto ea = merged_entries(shared_a, counter_entries(n - n / 2, 2, 5));
  const auto eb = merged_entries(shared_b, counter_entries(n - n / 2, 3, 5));
  using C = std::conditional_t<PN, pncounter, gcounter>;
  C a, b;
  if constexpr (PN) {
    a = pncounter::from_parts(gcounter::from_entries(ea), gcounter::from_entries(eb));
    b = pncounter::from_parts(gcounter::from_entries(eb), gcounter::from_entries(ea));
  } else {
    a = gcounter::from_entries(ea);
    b = gcounter::from_entries(eb);
  }
  const umax ua = to_umax(ea), ub = to_umax(eb);
  run_pairs(
      st, static_cast<double>(n),
      [&] {
        umax u = ua, u2 = ub;
        return seconds([&] {
          umax_join(u, ub);
          if constexpr (PN) umax_join(u2, ua);
        });
      },
      [&] {
        C s = a;
        const double t = seconds([&] { s.join(b); });
        benchmark::DoNotOptimize(s);
        return t;
      });
}

/// A counter of n replicas and n increment deltas (one per replica, in
/// replica order shuffled by the key hash) joined one by one.
inline void bm_apply_gcounter(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const auto e = counter_entries(n, 1, 10);
  const gcounter state = gcounter::from_entries(e);
  const umax ustate = to_umax(e);
  std::vector<gcounter> deltas;
  std::vector<gcounter::entry> updates;
  for (std::size_t i = 0; i < n; ++i) {
    const replica_id r{key(i, 1)};
    updates.emplace_back(r, state.count(r) + 1);
    deltas.push_back(gcounter::from_entries({updates.back()}));
  }
  run_pairs(
      st, static_cast<double>(n),
      [&] {
        umax u = ustate;
        return seconds([&] {
          for (const auto& [r, c] : updates) {
            auto& slot = u[r.value()];
            slot = std::max(slot, c);
          }
        });
      },
      [&] {
        gcounter s = state;
        const double t = seconds([&] {
          for (const gcounter& d : deltas) s.join(d);
        });
        benchmark::DoNotOptimize(s);
        return t;
      });
}

}  // namespace converge_bench
