#pragma once
// Wire: encode/decode throughput vs memcpy of the same bytes, for every
// type; and the encoded bytes of one delta of every type (no timing).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "counters.hpp"
#include "harness.hpp"
#include "maps.hpp"

namespace converge_bench {

/// The wire counters of a case that moved `total` bytes of `values` values.
inline void report_wire(benchmark::State& st, std::size_t values, std::size_t total) {
  st.counters["values"] = static_cast<double>(values);
  st.counters["bytes"] = static_cast<double>(total);
  st.counters["MB_per_s"] = total / (st.counters["subject_ns"] / 1e9) / 1e6;
  st.counters["memcpy_MB_per_s"] = total / (st.counters["baseline_ns"] / 1e9) / 1e6;
}

/// Times a memcpy of `total` bytes: the wire cases' baseline.
inline auto memcpy_baseline(std::size_t total) {
  return [src = std::vector<std::byte>(total, std::byte{1}), dst = std::vector<std::byte>(total)]() mutable {
    return seconds([&] {
      std::memcpy(dst.data(), src.data(), src.size());
      benchmark::ClobberMemory();
    });
  };
}

template <class T>
void bm_encode(benchmark::State& st, std::function<std::vector<T>()> make) {
  const std::vector<T> values = make();
  std::size_t total = 0;
  for (const T& v : values) total += converge::encode(v).size();
  run_pairs(st, static_cast<double>(total), memcpy_baseline(total), [&] {
    std::size_t bytes = 0;
    const double t = seconds([&] {
      for (const T& v : values) bytes += converge::encode(v).size();
    });
    benchmark::DoNotOptimize(bytes);
    return t;
  });
  report_wire(st, values.size(), total);
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
  run_pairs(st, static_cast<double>(total), memcpy_baseline(total), [&] {
    return seconds([&] {
      for (const auto& bytes : encoded) benchmark::DoNotOptimize(converge::decode<T>(bytes));
    });
  });
  report_wire(st, values.size(), total);
}

/// Registers encode and decode of one large state and of many single-op deltas.
template <class T>
void register_wire(const std::string& type, std::function<T(std::size_t)> state_of,
                   std::function<std::vector<T>(std::size_t)> deltas_of, std::size_t state_n,
                   std::size_t deltas_n) {
  const std::function<std::vector<T>()> one_state = [=] { return std::vector<T>{state_of(state_n)}; };
  const std::function<std::vector<T>()> many_deltas = [=] { return deltas_of(deltas_n); };
  const int it = quick ? 3 : 5;
  auto add = [&](const std::string& name, void (*bm)(benchmark::State&, std::function<std::vector<T>()>),
                 const std::function<std::vector<T>()>& make) {
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { bm(st, make); })
        ->UseManualTime()
        ->Iterations(it)
        ->Unit(benchmark::kMicrosecond);
  };
  add("wire_encode/state/" + type + "/" + std::to_string(state_n), bm_encode<T>, one_state);
  add("wire_decode/state/" + type + "/" + std::to_string(state_n), bm_decode<T>, one_state);
  add("wire_encode/deltas/" + type + "/" + std::to_string(deltas_n), bm_encode<T>, many_deltas);
  add("wire_decode/deltas/" + type + "/" + std::to_string(deltas_n), bm_decode<T>, many_deltas);
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

inline void register_all_wire(std::size_t n) {
  const std::size_t d = std::min<std::size_t>(n, 10'000);
  // Counters: a state of n replicas; deltas: increments by replica 1.
  register_wire<gcounter>(
      "gcounter", [](std::size_t k) { return gcounter::from_entries(counter_entries(k, 1, 1000)); },
      [](std::size_t k) {
        return deltas_of_ops<gcounter>(k, [](gcounter& c, std::size_t) { return c.increment(r1); });
      },
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
      [=](std::size_t k) { return deltas_of_ops<bounded_counter>(k, bounded_op); },
      std::min<std::size_t>(n, 10'000), d);
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
  auto orset_op = [](or_set_u64& s, std::size_t i) {
    return i % 4 == 3 ? s.erase(key(i - 1)) : s.insert(r1, key(i));
  };
  register_wire<or_set_u64>(
      "or_set_u64", [=](std::size_t k) { return state_of_ops<or_set_u64>(k, orset_op); },
      [=](std::size_t k) { return deltas_of_ops<or_set_u64>(k, orset_op); }, n, d);
  auto orsets_op = [](or_set_str& s, std::size_t i) {
    return i % 4 == 3 ? s.erase(str_key(i - 1)) : s.insert(r1, str_key(i));
  };
  register_wire<or_set_str>(
      "or_set_string", [=](std::size_t k) { return state_of_ops<or_set_str>(k, orsets_op); },
      [=](std::size_t k) { return deltas_of_ops<or_set_str>(k, orsets_op); }, n, d);
  auto lww_op = [](lww_register<std::uint64_t>& x, std::size_t i) {
    return x.assign(r1, key(i), 1'700'000'000'000 + i);
  };
  register_wire<lww_register<std::uint64_t>>(
      "lww_register_u64", [=](std::size_t) { return state_of_ops<lww_register<std::uint64_t>>(1, lww_op); },
      [=](std::size_t k) { return deltas_of_ops<lww_register<std::uint64_t>>(k, lww_op); }, 1, d);
  auto mv_op = [](mv_register<std::uint64_t>& x, std::size_t i) {
    return x.assign(replica_id{1 + i % 3}, key(i));
  };
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

inline void register_delta_sizes() {
  register_delta_size<gcounter>("gcounter.increment",
                                [](gcounter& c, replica_id r, std::uint64_t) { return c.increment(r); });
  register_delta_size<pncounter>("pncounter.decrement",
                                 [](pncounter& c, replica_id r, std::uint64_t) { return c.decrement(r); });
  register_delta_size<bounded_counter>(
      "bounded_counter.increment",
      [](bounded_counter& c, replica_id r, std::uint64_t) { return c.increment(r, 1); });
  register_delta_size<gset<std::uint64_t>>("gset_u64.insert",
                                           [](auto& s, replica_id, std::uint64_t v) { return s.insert(v); });
  register_delta_size<twop_set<std::uint64_t>>(
      "twop_set_u64.erase", [](auto& s, replica_id, std::uint64_t v) { return s.erase(v); });
  register_delta_size<or_set_u64>("or_set_u64.insert",
                                  [](auto& s, replica_id r, std::uint64_t v) { return s.insert(r, v); });
  register_delta_size<or_set_u64>("or_set_u64.erase", [](auto& s, replica_id r, std::uint64_t v) {
    s.insert(r, v);
    return s.erase(v);
  });
  register_delta_size<or_set_str>(
      "or_set_string.insert", [](auto& s, replica_id r, std::uint64_t v) { return s.insert(r, str_key(v)); });
  register_delta_size<lww_register<std::uint64_t>>(
      "lww_register_u64.assign",
      // Millisecond timestamps, each later than the last.
      [](auto& x, replica_id r, std::uint64_t v) {
        return x.assign(r, v, std::max<std::uint64_t>(x.timestamp() + 1, 1'700'000'000'000));
      });
  register_delta_size<mv_register<std::uint64_t>>(
      "mv_register_u64.assign", [](auto& x, replica_id r, std::uint64_t v) { return x.assign(r, v); });
  register_delta_size<ew_flag>("ew_flag.enable",
                               [](auto& f, replica_id r, std::uint64_t) { return f.enable(r); });
  register_delta_size<dw_flag>("dw_flag.disable",
                               [](auto& f, replica_id r, std::uint64_t) { return f.disable(r); });
  register_delta_size<g_map_t>("g_map_u64_gcounter.update", [](auto& m, replica_id r, std::uint64_t v) {
    return m.update(v, [&](gcounter& c) { return c.increment(r); });
  });
  register_delta_size<omap>("or_map_u64_mv_register.update", [](auto& m, replica_id r, std::uint64_t v) {
    return m.update(v, [&](auto& x) { return x.assign(r, v); });
  });
}

}  // namespace converge_bench
