// converge-bench: time of the lattice types and the wire format, each case
// measured against a baseline run in the same process, iteration by
// iteration, so that the reported ratio survives a noisy machine.
//
//   converge-bench [--quick] [--max-n=N] [Google Benchmark flags]
//
// Counters of every case (in the JSON of --benchmark_out):
//   subject_ns, baseline_ns   median time of one run of each
//   ratio                     median over iterations of subject / baseline
//   ratio_total               sum(subject) / sum(baseline)
//   ns_per_item               subject_ns / items (items: elements joined,
//                             deltas applied, operations, bytes…)
// Wire cases add MB_per_s (and the memcpy baseline's); the delta-size cases
// report encoded bytes only.
//
// The workloads are described in bench/README.md so that another
// implementation can run the same ones. The cases are in types/, one header
// per subject (sets, maps, counters, wire); this file registers them.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "types/counters.hpp"
#include "types/harness.hpp"
#include "types/maps.hpp"
#include "types/sets.hpp"
#include "types/wire.hpp"

namespace {

using namespace converge_bench;

// ---------------------------------------------------------------------------

void add(const std::string& name, void (*fn)(benchmark::State&), std::size_t n) {
  benchmark::RegisterBenchmark(name.c_str(), fn)
      ->Arg(static_cast<std::int64_t>(n))
      ->UseManualTime()
      ->Iterations(iterations_for(n))
      ->Unit(benchmark::kMillisecond);
}

void register_all(std::size_t max_n) {
  std::vector<std::size_t> sizes;
  for (std::size_t n = 1000; n <= max_n; n *= 10) sizes.push_back(n);
  auto upto = [&](std::size_t cap) {
    std::vector<std::size_t> out;
    for (const std::size_t n : sizes) {
      if (n <= cap) out.push_back(n);
    }
    return out;
  };
  auto pick = [&](std::initializer_list<std::size_t> want) {
    std::vector<std::size_t> out;
    for (const std::size_t n : want) {
      if (n <= max_n && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    }
    return out;
  };
  const std::size_t mid = std::min<std::size_t>(max_n, 100'000);
  // Join of two states, n = 1k … 1M (the join plot).
  for (const std::size_t n : sizes) {
    add("join/or_set_u64", bm_join_set<or_set_u64, std::uint64_t>, n);
    if (!quick || n == 1000 || n == max_n) {
      add("join/node_or_set_u64", bm_join_set<node_set<std::uint64_t>, std::uint64_t>, n);
#if CONVERGE_BENCH_HOPSCOTCH
      add("join/hopscotch_or_set_u64", bm_join_set<hop_set<std::uint64_t>, std::uint64_t>, n);
#endif
    }
    add("join/gcounter", bm_join_counter<false>, n);
    add("join/pncounter", bm_join_counter<true>, n);
  }
  for (const std::size_t n : upto(100'000)) add("join/or_map_u64_mv_register", bm_join_or_map, n);
  for (const std::size_t n : pick({1000, mid}))
    add("join/or_set_string", bm_join_set<or_set_str, std::string>, n);
  // n single-operation deltas into an n-element state.
  for (const std::size_t n : pick({1000, mid, max_n}))
    add("apply/or_set_u64", bm_apply_set<or_set_u64, std::uint64_t>, n);
  for (const std::size_t n : quick ? pick({max_n}) : pick({mid, max_n})) {
    add("apply/node_or_set_u64", bm_apply_set<node_set<std::uint64_t>, std::uint64_t>, n);
#if CONVERGE_BENCH_HOPSCOTCH
    add("apply/hopscotch_or_set_u64", bm_apply_set<hop_set<std::uint64_t>, std::uint64_t>, n);
#endif
  }
  for (const std::size_t n : pick({1000, mid})) {
    add("apply/or_set_string", bm_apply_set<or_set_str, std::string>, n);
    add("apply/or_map_u64_mv_register", bm_apply_or_map, n);
  }
  for (const std::size_t n : pick({1000, mid, max_n})) add("apply/gcounter", bm_apply_gcounter, n);
  // Local mutators.
  for (const std::size_t n : pick({1000, mid, max_n})) {
    add("insert/or_set_u64", bm_insert_set<or_set_u64, std::uint64_t>, n);
    add("erase/or_set_u64", bm_erase_set<or_set_u64, std::uint64_t>, n);
  }
  for (const std::size_t n : pick({mid})) {
    add("insert/node_or_set_u64", bm_insert_set<node_set<std::uint64_t>, std::uint64_t>, n);
    add("erase/node_or_set_u64", bm_erase_set<node_set<std::uint64_t>, std::uint64_t>, n);
    add("insert/or_set_string", bm_insert_set<or_set_str, std::string>, n);
  }
  // The reference workloads of delta-enabled-crdts (bench/README.md).
  if (max_n >= 100'000) add("reference/add_at_n", bm_reference<false>, 100'000);
  if (max_n >= 30'000) add("reference/joined_delta_at_n", bm_reference<true>, 30'000);
  register_all_wire(mid);
  register_delta_sizes();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t max_n = 1'000'000;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      converge_bench::quick = true;
    } else if (a.rfind("--max-n=", 0) == 0) {
      max_n = std::stoull(a.substr(8));
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  register_all(max_n);
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
