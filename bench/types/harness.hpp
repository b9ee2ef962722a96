#pragma once
// What every case of converge-bench shares: paired timings (one baseline and
// one subject run per iteration, see bench/README.md "every time is a
// ratio"), the --quick switch, the replicas the cases write as.

#include <converge/converge.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../common.hpp"
#include "../pairs.hpp"

namespace converge_bench {

using converge::bounded_counter;
using converge::dw_flag;
using converge::ew_flag;
using converge::g_map;
using converge::gcounter;
using converge::gset;
using converge::lww_register;
using converge::mv_register;
using converge::or_map;
using converge::or_set;
using converge::pncounter;
using converge::replica_id;
using converge::twop_set;

inline const replica_id r1{1}, r2{2}, r3{3};

/// Set by --quick: fewer sizes and iterations.
inline bool quick = false;

using or_set_u64 = or_set<std::uint64_t>;
using or_set_str = or_set<std::string>;

/// Each iteration runs `baseline()` then `subject()`, each returning the
/// seconds of its timed part, and reports the pairs over `items`.
template <class B, class S>
void run_pairs(benchmark::State& st, double items, B&& baseline, S&& subject) {
  pairs p;
  for (auto _ : st) {
    const double tb = baseline();
    const double ts = subject();
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, items);
}

/// Times `body(c)` on a copy `c` of `start` (the copy is made outside the
/// timed part); `size` gets the copy's size afterwards, for the checks.
template <class C, class F>
double time_on_copy(const C& start, F&& body, std::size_t& size) {
  C c = start;
  const double t = seconds([&] { body(c); });
  size = c.size();
  return t;
}

inline int iterations_for(std::size_t n) {
  if (n >= 100'000) return quick ? 3 : 5;
  return quick ? 5 : 11;
}

}  // namespace converge_bench
