#pragma once
// Paired timings of a baseline and a subject, reported as the counters
// bench/report.py reads: medians, the median ratio and the ratio of totals.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace converge_bench {

/// Paired timings: one baseline and one subject run per iteration.
struct pairs {
  std::vector<double> base, subj;

  void add(double b, double s) {
    base.push_back(b);
    subj.push_back(s);
  }

  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
  }

  void report(benchmark::State& st, double items) const {
    std::vector<double> ratios;
    double sb = 0, ss = 0;
    for (std::size_t i = 0; i < base.size(); ++i) {
      ratios.push_back(subj[i] / base[i]);
      sb += base[i];
      ss += subj[i];
    }
    st.counters["subject_ns"] = median(subj) * 1e9;
    st.counters["baseline_ns"] = median(base) * 1e9;
    st.counters["ratio"] = median(ratios);
    st.counters["ratio_total"] = ss / sb;
    st.counters["items"] = items;
    st.counters["ns_per_item"] = median(subj) * 1e9 / items;
    st.counters["baseline_ns_per_item"] = median(base) * 1e9 / items;
  }
};

}  // namespace converge_bench
