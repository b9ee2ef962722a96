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
// implementation can run the same ones.

#include "common.hpp"
#include "node_or_set.hpp"

#include <converge/converge.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using namespace converge;
using converge_bench::key;
using converge_bench::make_key;
using converge_bench::seconds;

const replica_id r1{1}, r2{2}, r3{3};

bool quick = false;

using or_set_u64 = or_set<std::uint64_t>;
using or_set_str = or_set<std::string>;

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

int iterations_for(std::size_t n) {
  if (n >= 100'000) return quick ? 3 : 5;
  return quick ? 5 : 11;
}

// ---------------------------------------------------------------------------
// Sets: or_set (flat store), the node-based alternatives, vs std::unordered_set.

/// Two states of n elements each, half of them shared (inserted once by
/// replica 1 before the two sides forked), the other half inserted on each
/// side by its own replica; and the same keys as unordered_sets.
template <class S, class T>
struct join_fixture {
  S a, b;
  std::unordered_set<T> ua, ub;

  explicit join_fixture(std::size_t n) {
    S base;
    for (std::size_t i = 0; i < n / 2; ++i) {
      base.insert(r1, make_key<T>(i, 1));
      ua.insert(make_key<T>(i, 1));
    }
    ub = ua;
    a = base;
    b = base;
    for (std::size_t i = 0; i < n - n / 2; ++i) {
      a.insert(r2, make_key<T>(i, 2));
      ua.insert(make_key<T>(i, 2));
      b.insert(r3, make_key<T>(i, 3));
      ub.insert(make_key<T>(i, 3));
    }
  }
};

template <class S, class T>
void bm_join_set(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const join_fixture<S, T> fx(n);
  pairs p;
  for (auto _ : st) {
    std::unordered_set<T> u = fx.ua;
    const double tb = seconds([&] {
      for (const T& k : fx.ub) u.insert(k);
    });
    S s = fx.a;
    const double ts = seconds([&] { s.join(fx.b); });
    if (s.size() != u.size()) throw std::logic_error("join: sizes differ");
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

/// A state of n elements (replica 1) and n single-insert deltas of new
/// elements issued by replica 2, joined one by one.
template <class S, class T>
void bm_apply_set(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  S state;
  std::unordered_set<T> ustate;
  for (std::size_t i = 0; i < n; ++i) {
    state.insert(r1, make_key<T>(i, 1));
    ustate.insert(make_key<T>(i, 1));
  }
  std::vector<S> deltas;
  std::vector<T> keys;
  deltas.reserve(n);
  keys.reserve(n);
  {
    S source;
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(make_key<T>(i, 4));
      deltas.push_back(source.insert(r2, keys.back()));
    }
  }
  pairs p;
  for (auto _ : st) {
    std::unordered_set<T> u = ustate;
    const double tb = seconds([&] {
      for (const T& k : keys) u.insert(k);
    });
    S s = state;
    const double ts = seconds([&] {
      for (const S& d : deltas) s.join(d);
    });
    if (s.size() != u.size()) throw std::logic_error("apply: sizes differ");
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

/// n local inserts into an empty set (each returns its delta).
template <class S, class T>
void bm_insert_set(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  std::vector<T> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(make_key<T>(i, 1));
  pairs p;
  for (auto _ : st) {
    std::unordered_set<T> u;
    const double tb = seconds([&] {
      for (const T& k : keys) u.insert(k);
    });
    S s;
    const double ts = seconds([&] {
      for (const T& k : keys) benchmark::DoNotOptimize(s.insert(r1, k));
    });
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

/// n local erases, every element of an n-element set.
template <class S, class T>
void bm_erase_set(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  std::vector<T> keys;
  S full;
  std::unordered_set<T> ufull;
  for (std::size_t i = 0; i < n; ++i) {
    keys.push_back(make_key<T>(i, 1));
    full.insert(r1, keys.back());
    ufull.insert(keys.back());
  }
  pairs p;
  for (auto _ : st) {
    std::unordered_set<T> u = ufull;
    const double tb = seconds([&] {
      for (const T& k : keys) u.erase(k);
    });
    S s = full;
    const double ts = seconds([&] {
      for (const T& k : keys) benchmark::DoNotOptimize(s.erase(k));
    });
    if (s.size() != 0 || !u.empty()) throw std::logic_error("erase: not empty");
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

/// The two workloads of Baquero's delta-enabled-crdts measurements (see
/// bench/README.md): `ops` more local inserts into a state of n elements
/// ("add at n"), or `ops` single-insert deltas of another replica joined into
/// a state of n elements ("joined delta at n"). Reports time per operation.
template <bool Join>
void bm_reference(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const std::size_t ops = 10'000;
  or_set_u64 state;
  std::unordered_set<std::uint64_t> ustate;
  for (std::size_t i = 0; i < n; ++i) {
    state.insert(r1, key(i, 1));
    ustate.insert(key(i, 1));
  }
  std::vector<std::uint64_t> keys;
  std::vector<or_set_u64> deltas;
  or_set_u64 source;
  for (std::size_t i = 0; i < ops; ++i) {
    keys.push_back(key(i, 6));
    if (Join) deltas.push_back(source.insert(r2, keys.back()));
  }
  pairs p;
  for (auto _ : st) {
    auto u = ustate;
    const double tb = seconds([&] {
      for (const std::uint64_t k : keys) u.insert(k);
    });
    or_set_u64 s = state;
    const double ts = seconds([&] {
      if constexpr (Join) {
        for (const or_set_u64& d : deltas) s.join(d);
      } else {
        for (const std::uint64_t k : keys) benchmark::DoNotOptimize(s.insert(r1, k));
      }
    });
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(ops));
}

// ---------------------------------------------------------------------------
// or_map<uint64_t, mv_register<uint64_t>> vs std::unordered_map.

using omap = or_map<std::uint64_t, mv_register<std::uint64_t>>;

void omap_put(omap& m, replica_id r, std::uint64_t k) {
  m.update(k, [&](auto& v) { return v.assign(r, k); });
}

void bm_join_or_map(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  omap base, a, b;
  std::unordered_map<std::uint64_t, std::uint64_t> ua, ub;
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
  pairs p;
  for (auto _ : st) {
    auto u = ua;
    const double tb = seconds([&] {
      for (const auto& kv : ub) u.insert(kv);
    });
    omap s = a;
    const double ts = seconds([&] { s.join(b); });
    if (s.size() != u.size()) throw std::logic_error("or_map join: sizes differ");
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

void bm_apply_or_map(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  omap state, source;
  std::unordered_map<std::uint64_t, std::uint64_t> ustate;
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
  pairs p;
  for (auto _ : st) {
    auto u = ustate;
    const double tb = seconds([&] {
      for (const std::uint64_t k : keys) u.emplace(k, k);
    });
    omap s = state;
    const double ts = seconds([&] {
      for (const omap& d : deltas) s.join(d);
    });
    if (s.size() != u.size()) throw std::logic_error("or_map apply: sizes differ");
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

// ---------------------------------------------------------------------------
// Counters with many replicas vs std::unordered_map<replica, count> (max per key).

/// Entries (replica, count) for replicas key(i, salt), i < n, sorted.
std::vector<gcounter::entry> counter_entries(std::size_t n, std::uint64_t salt, std::uint64_t count) {
  std::vector<gcounter::entry> e;
  for (std::size_t i = 0; i < n; ++i) e.emplace_back(replica_id{key(i, salt)}, count + i % 7);
  std::sort(e.begin(), e.end());
  return e;
}

std::vector<gcounter::entry> merged_entries(std::vector<gcounter::entry> a, const std::vector<gcounter::entry>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return a;
}

using umax = std::unordered_map<std::uint64_t, std::uint64_t>;

void umax_join(umax& u, const umax& other) {
  for (const auto& [r, c] : other) {
    auto [it, fresh] = u.try_emplace(r, c);
    if (!fresh) it->second = std::max(it->second, c);
  }
}

umax to_umax(const std::vector<gcounter::entry>& e) {
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
  pairs p;
  for (auto _ : st) {
    umax u = ua, u2 = ub;
    const double tb = seconds([&] {
      umax_join(u, ub);
      if constexpr (PN) umax_join(u2, ua);
    });
    C s = a;
    const double ts = seconds([&] { s.join(b); });
    benchmark::DoNotOptimize(s);
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

/// A counter of n replicas and n increment deltas (one per replica, in
/// replica order shuffled by the key hash) joined one by one.
void bm_apply_gcounter(benchmark::State& st) {
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
  pairs p;
  for (auto _ : st) {
    umax u = ustate;
    const double tb = seconds([&] {
      for (const auto& [r, c] : updates) {
        auto& slot = u[r.value()];
        slot = std::max(slot, c);
      }
    });
    gcounter s = state;
    const double ts = seconds([&] {
      for (const gcounter& d : deltas) s.join(d);
    });
    benchmark::DoNotOptimize(s);
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(n));
}

// ---------------------------------------------------------------------------
// Wire: encode/decode throughput vs memcpy of the same bytes, for every type.

template <class T>
struct wire_case {
  std::string name;
  std::function<std::vector<T>()> make;  // the values to encode (one state, or many deltas)
};

template <class T>
void bm_encode(benchmark::State& st, std::function<std::vector<T>()> make) {
  const std::vector<T> values = make();
  std::size_t total = 0;
  for (const T& v : values) total += converge::encode(v).size();
  std::vector<std::byte> src(total, std::byte{1}), dst(total);
  pairs p;
  for (auto _ : st) {
    const double tb = seconds([&] {
      std::memcpy(dst.data(), src.data(), total);
      benchmark::ClobberMemory();
    });
    std::size_t bytes = 0;
    const double ts = seconds([&] {
      for (const T& v : values) bytes += converge::encode(v).size();
    });
    benchmark::DoNotOptimize(bytes);
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(total));
  st.counters["values"] = static_cast<double>(values.size());
  st.counters["bytes"] = static_cast<double>(total);
  st.counters["MB_per_s"] = total / (st.counters["subject_ns"] / 1e9) / 1e6;
  st.counters["memcpy_MB_per_s"] = total / (st.counters["baseline_ns"] / 1e9) / 1e6;
}

template <class T>
void bm_decode(benchmark::State& st, std::function<std::vector<T>()> make) {
  const std::vector<T> values = make();
  std::vector<std::vector<std::byte>> encoded;
  std::size_t total = 0;
  for (const T& v : values) {
    encoded.push_back(converge::encode(v));
    total += encoded.back().size();
    if (!(converge::decode<T>(encoded.back()) == v)) throw std::logic_error("decode: round trip differs");
  }
  std::vector<std::byte> src(total, std::byte{1}), dst(total);
  pairs p;
  for (auto _ : st) {
    const double tb = seconds([&] {
      std::memcpy(dst.data(), src.data(), total);
      benchmark::ClobberMemory();
    });
    const double ts = seconds([&] {
      for (const auto& bytes : encoded) benchmark::DoNotOptimize(converge::decode<T>(bytes));
    });
    p.add(tb, ts);
    st.SetIterationTime(ts);
  }
  p.report(st, static_cast<double>(total));
  st.counters["values"] = static_cast<double>(values.size());
  st.counters["bytes"] = static_cast<double>(total);
  st.counters["MB_per_s"] = total / (st.counters["subject_ns"] / 1e9) / 1e6;
  st.counters["memcpy_MB_per_s"] = total / (st.counters["baseline_ns"] / 1e9) / 1e6;
}

/// Registers encode and decode of one large state and of many single-op deltas.
template <class T>
void register_wire(const std::string& type, std::function<T(std::size_t)> state_of,
                   std::function<std::vector<T>(std::size_t)> deltas_of, std::size_t state_n, std::size_t deltas_n) {
  auto one_state = [=] { return std::vector<T>{state_of(state_n)}; };
  auto many_deltas = [=] { return deltas_of(deltas_n); };
  const int it = quick ? 3 : 5;
  benchmark::RegisterBenchmark(("wire_encode/state/" + type + "/" + std::to_string(state_n)).c_str(),
                               [=](benchmark::State& st) { bm_encode<T>(st, one_state); })
      ->UseManualTime()->Iterations(it)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(("wire_decode/state/" + type + "/" + std::to_string(state_n)).c_str(),
                               [=](benchmark::State& st) { bm_decode<T>(st, one_state); })
      ->UseManualTime()->Iterations(it)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(("wire_encode/deltas/" + type + "/" + std::to_string(deltas_n)).c_str(),
                               [=](benchmark::State& st) { bm_encode<T>(st, many_deltas); })
      ->UseManualTime()->Iterations(it)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(("wire_decode/deltas/" + type + "/" + std::to_string(deltas_n)).c_str(),
                               [=](benchmark::State& st) { bm_decode<T>(st, many_deltas); })
      ->UseManualTime()->Iterations(it)->Unit(benchmark::kMicrosecond);
}

/// Deltas of `ops` successive operations `op(state, i)` on one replica's state.
template <class T, class Op>
std::vector<T> deltas_of_ops(std::size_t ops, Op op) {
  T state;
  std::vector<T> out;
  for (std::size_t i = 0; i < ops; ++i) out.push_back(op(state, i));
  return out;
}

template <class T, class Op>
T state_of_ops(std::size_t ops, Op op) {
  T state;
  for (std::size_t i = 0; i < ops; ++i) op(state, i);
  return state;
}

using g_map_t = g_map<std::uint64_t, gcounter>;

void register_all_wire(std::size_t n) {
  const std::size_t d = std::min<std::size_t>(n, 10'000);
  // Counters: a state of n replicas; deltas: increments by replica 1.
  register_wire<gcounter>(
      "gcounter", [](std::size_t k) { return gcounter::from_entries(counter_entries(k, 1, 1000)); },
      [](std::size_t k) { return deltas_of_ops<gcounter>(k, [](gcounter& c, std::size_t) { return c.increment(r1); }); },
      n, d);
  register_wire<pncounter>(
      "pncounter",
      [](std::size_t k) {
        return pncounter::from_parts(gcounter::from_entries(counter_entries(k, 1, 1000)),
                                     gcounter::from_entries(counter_entries(k, 2, 1000)));
      },
      [](std::size_t k) {
        return deltas_of_ops<pncounter>(
            k, [](pncounter& c, std::size_t i) { return i % 2 ? c.decrement(r1) : c.increment(r1); });
      },
      n, d);
  auto bounded_op = [](bounded_counter& c, std::size_t i) {
    if (i % 3 == 0) return c.increment(replica_id{1 + i % 64}, 10);
    if (auto x = c.transfer(replica_id{1 + (i - 1) % 64}, replica_id{1 + i % 64}, 1)) return *x;
    return c.increment(replica_id{1 + i % 64}, 1);
  };
  register_wire<bounded_counter>(
      "bounded_counter", [=](std::size_t k) { return state_of_ops<bounded_counter>(k, bounded_op); },
      [=](std::size_t k) { return deltas_of_ops<bounded_counter>(k, bounded_op); }, std::min<std::size_t>(n, 10'000),
      d);
  register_wire<gset<std::uint64_t>>(
      "gset_u64",
      [](std::size_t k) {
        return state_of_ops<gset<std::uint64_t>>(k, [](auto& s, std::size_t i) { return s.insert(key(i)); });
      },
      [](std::size_t k) {
        return deltas_of_ops<gset<std::uint64_t>>(k, [](auto& s, std::size_t i) { return s.insert(key(i)); });
      },
      n, d);
  auto twop_op = [](twop_set<std::uint64_t>& s, std::size_t i) {
    return i % 4 == 3 ? s.erase(key(i - 1)) : s.insert(key(i));
  };
  register_wire<twop_set<std::uint64_t>>(
      "twop_set_u64", [=](std::size_t k) { return state_of_ops<twop_set<std::uint64_t>>(k, twop_op); },
      [=](std::size_t k) { return deltas_of_ops<twop_set<std::uint64_t>>(k, twop_op); }, n, d);
  auto orset_op = [](or_set_u64& s, std::size_t i) { return i % 4 == 3 ? s.erase(key(i - 1)) : s.insert(r1, key(i)); };
  register_wire<or_set_u64>(
      "or_set_u64", [=](std::size_t k) { return state_of_ops<or_set_u64>(k, orset_op); },
      [=](std::size_t k) { return deltas_of_ops<or_set_u64>(k, orset_op); }, n, d);
  auto orsets_op = [](or_set_str& s, std::size_t i) {
    return i % 4 == 3 ? s.erase(converge_bench::str_key(i - 1)) : s.insert(r1, converge_bench::str_key(i));
  };
  register_wire<or_set_str>(
      "or_set_string", [=](std::size_t k) { return state_of_ops<or_set_str>(k, orsets_op); },
      [=](std::size_t k) { return deltas_of_ops<or_set_str>(k, orsets_op); }, n, d);
  auto lww_op = [](lww_register<std::uint64_t>& x, std::size_t i) { return x.assign(r1, key(i), 1'700'000'000'000 + i); };
  register_wire<lww_register<std::uint64_t>>(
      "lww_register_u64",
      [=](std::size_t) { return state_of_ops<lww_register<std::uint64_t>>(1, lww_op); },
      [=](std::size_t k) { return deltas_of_ops<lww_register<std::uint64_t>>(k, lww_op); }, 1, d);
  auto mv_op = [](mv_register<std::uint64_t>& x, std::size_t i) { return x.assign(replica_id{1 + i % 3}, key(i)); };
  register_wire<mv_register<std::uint64_t>>(
      "mv_register_u64", [=](std::size_t) { return state_of_ops<mv_register<std::uint64_t>>(3, mv_op); },
      [=](std::size_t k) { return deltas_of_ops<mv_register<std::uint64_t>>(k, mv_op); }, 1, d);
  auto ew_op = [](ew_flag& f, std::size_t i) { return i % 2 ? f.disable() : f.enable(r1); };
  register_wire<ew_flag>(
      "ew_flag", [=](std::size_t) { return state_of_ops<ew_flag>(1, ew_op); },
      [=](std::size_t k) { return deltas_of_ops<ew_flag>(k, ew_op); }, 1, d);
  auto dw_op = [](dw_flag& f, std::size_t i) { return i % 2 ? f.enable() : f.disable(r1); };
  register_wire<dw_flag>(
      "dw_flag", [=](std::size_t) { return state_of_ops<dw_flag>(1, dw_op); },
      [=](std::size_t k) { return deltas_of_ops<dw_flag>(k, dw_op); }, 1, d);
  auto gmap_op = [](g_map_t& m, std::size_t i) {
    return m.update(key(i % 1000), [](gcounter& c) { return c.increment(r1); });
  };
  register_wire<g_map_t>(
      "g_map_u64_gcounter",
      [=](std::size_t k) {
        return state_of_ops<g_map_t>(k, [](g_map_t& m, std::size_t i) {
          return m.update(key(i), [](gcounter& c) { return c.increment(r1); });
        });
      },
      [=](std::size_t k) { return deltas_of_ops<g_map_t>(k, gmap_op); }, n, d);
  auto omap_op = [](omap& m, std::size_t i) {
    if (i % 4 == 3) return m.erase(key(i - 1));
    return m.update(key(i), [&](auto& v) { return v.assign(r1, i); });
  };
  register_wire<omap>(
      "or_map_u64_mv_register", [=](std::size_t k) { return state_of_ops<omap>(k, omap_op); },
      [=](std::size_t k) { return deltas_of_ops<omap>(k, omap_op); }, n, d);
}

// ---------------------------------------------------------------------------
// Encoded bytes of one delta of every type (no timing).
//
// Four cases per type: the first operation of a fresh replica with a small
// id (replica_id{1}) and a small element (42); the same with an id from
// replica_id::from_name; and "steady": the 1001st operation of that replica
// on a state it has been updating, with a random 64-bit element.

template <class T, class Op>
std::size_t delta_bytes(replica_id r, bool steady, Op op) {
  T state;
  const std::size_t warm = steady ? 1000 : 0;
  for (std::size_t i = 0; i < warm; ++i) op(state, r, key(i, 9));
  return converge::encode(op(state, r, steady ? key(warm, 9) : 42)).size();
}

template <class T, class Op>
void register_delta_size(const std::string& name, Op op) {
  benchmark::RegisterBenchmark(("delta_bytes/" + name).c_str(), [=](benchmark::State& st) {
    for (auto _ : st) {
    }
    const replica_id named = replica_id::from_name("replica-1");
    st.counters["first_small_id"] = static_cast<double>(delta_bytes<T>(r1, false, op));
    st.counters["first_named_id"] = static_cast<double>(delta_bytes<T>(named, false, op));
    st.counters["steady_small_id"] = static_cast<double>(delta_bytes<T>(r1, true, op));
    st.counters["steady_named_id"] = static_cast<double>(delta_bytes<T>(named, true, op));
  })->Iterations(1);
}

void register_delta_sizes() {
  register_delta_size<gcounter>("gcounter.increment",
                                [](gcounter& c, replica_id r, std::uint64_t) { return c.increment(r); });
  register_delta_size<pncounter>("pncounter.decrement",
                                 [](pncounter& c, replica_id r, std::uint64_t) { return c.decrement(r); });
  register_delta_size<bounded_counter>("bounded_counter.increment",
                                       [](bounded_counter& c, replica_id r, std::uint64_t) { return c.increment(r, 1); });
  register_delta_size<gset<std::uint64_t>>("gset_u64.insert",
                                           [](auto& s, replica_id, std::uint64_t v) { return s.insert(v); });
  register_delta_size<twop_set<std::uint64_t>>("twop_set_u64.erase",
                                               [](auto& s, replica_id, std::uint64_t v) { return s.erase(v); });
  register_delta_size<or_set_u64>("or_set_u64.insert",
                                  [](auto& s, replica_id r, std::uint64_t v) { return s.insert(r, v); });
  register_delta_size<or_set_u64>("or_set_u64.erase", [](auto& s, replica_id r, std::uint64_t v) {
    s.insert(r, v);
    return s.erase(v);
  });
  register_delta_size<or_set_str>("or_set_string.insert", [](auto& s, replica_id r, std::uint64_t v) {
    return s.insert(r, converge_bench::str_key(v));
  });
  register_delta_size<lww_register<std::uint64_t>>(
      "lww_register_u64.assign",
      // Millisecond timestamps, each later than the last.
      [](auto& x, replica_id r, std::uint64_t v) {
        return x.assign(r, v, std::max<std::uint64_t>(x.timestamp() + 1, 1'700'000'000'000));
      });
  register_delta_size<mv_register<std::uint64_t>>("mv_register_u64.assign",
                                                  [](auto& x, replica_id r, std::uint64_t v) { return x.assign(r, v); });
  register_delta_size<ew_flag>("ew_flag.enable", [](auto& f, replica_id r, std::uint64_t) { return f.enable(r); });
  register_delta_size<dw_flag>("dw_flag.disable", [](auto& f, replica_id r, std::uint64_t) { return f.disable(r); });
  register_delta_size<g_map_t>("g_map_u64_gcounter.update", [](auto& m, replica_id r, std::uint64_t v) {
    return m.update(v, [&](gcounter& c) { return c.increment(r); });
  });
  register_delta_size<omap>("or_map_u64_mv_register.update", [](auto& m, replica_id r, std::uint64_t v) {
    return m.update(v, [&](auto& x) { return x.assign(r, v); });
  });
}

// ---------------------------------------------------------------------------

void add(const std::string& name, void (*fn)(benchmark::State&), std::size_t n) {
  benchmark::RegisterBenchmark(name.c_str(), fn)
      ->Arg(static_cast<std::int64_t>(n))
      ->UseManualTime()
      ->Iterations(iterations_for(n))
      ->Unit(benchmark::kMillisecond);
}

template <class T>
using node_set = converge_bench::node_or_set<T>;
#if CONVERGE_BENCH_HOPSCOTCH
template <class T>
using hop_set = converge_bench::node_or_set<T, converge_bench::hopscotch_map>;
#endif

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
  for (const std::size_t n : pick({1000, mid})) add("join/or_set_string", bm_join_set<or_set_str, std::string>, n);
  // n single-operation deltas into an n-element state.
  for (const std::size_t n : pick({1000, mid, max_n})) add("apply/or_set_u64", bm_apply_set<or_set_u64, std::uint64_t>, n);
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
      quick = true;
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
