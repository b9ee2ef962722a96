#pragma once
// Sets: or_set (flat store), the node-based alternatives, vs std::unordered_set.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <unordered_set>
#include <vector>

#include "../node_or_set.hpp"
#include "harness.hpp"

namespace converge_bench {

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

/// The baseline of the set cases: every key of `keys` inserted into a copy
/// of `start`.
template <class T, class Keys>
double time_inserts(const std::unordered_set<T>& start, const Keys& keys, std::size_t& size) {
  return time_on_copy(
      start,
      [&](std::unordered_set<T>& u) {
        for (const T& k : keys) u.insert(k);
      },
      size);
}

/// Joins every delta of `deltas` into a copy of `state`, timed; throws
/// unless the result has `want` elements.
template <class S, class Deltas>
double time_joins(const S& state, const Deltas& deltas, std::size_t want, const char* what) {
  std::size_t got = 0;
  const double t = time_on_copy(
      state,
      [&](S& s) {
        for (const S& d : deltas) s.join(d);
      },
      got);
  if (got != want) throw std::logic_error(what);
  return t;
}

template <class S, class T>
void bm_join_set(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const join_fixture<S, T> fx(n);
  const std::vector<S> other{fx.b};
  std::size_t want = 0;
  run_pairs(
      st, static_cast<double>(n), [&] { return time_inserts(fx.ua, fx.ub, want); },
      [&] { return time_joins(fx.a, other, want, "join: sizes differ"); });
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
  std::size_t want = 0;
  run_pairs(
      st, static_cast<double>(n), [&] { return time_inserts(ustate, keys, want); },
      [&] { return time_joins(state, deltas, want, "apply: sizes differ"); });
}

/// n local inserts into an empty set (each returns its delta).
template <class S, class T>
void bm_insert_set(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  std::vector<T> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(make_key<T>(i, 1));
  std::size_t size = 0;
  run_pairs(
      st, static_cast<double>(n), [&] { return time_inserts(std::unordered_set<T>{}, keys, size); },
      [&] {
        return time_on_copy(
            S{},
            [&](S& s) {
              for (const T& k : keys) benchmark::DoNotOptimize(s.insert(r1, k));
            },
            size);
      });
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
  std::size_t left = 0, base_left = 0;
  run_pairs(
      st, static_cast<double>(n),
      [&] {
        return time_on_copy(
            ufull,
            [&](std::unordered_set<T>& u) {
              for (const T& k : keys) u.erase(k);
            },
            base_left);
      },
      [&] {
        const double t = time_on_copy(
            full,
            [&](S& s) {
              for (const T& k : keys) benchmark::DoNotOptimize(s.erase(k));
            },
            left);
        if (left != 0 || base_left != 0) throw std::logic_error("erase: not empty");
        return t;
      });
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
  std::size_t size = 0;
  run_pairs(
      st, static_cast<double>(ops), [&] { return time_inserts(ustate, keys, size); },
      [&] {
        return time_on_copy(
            state,
            [&](or_set_u64& s) {
              if constexpr (Join) {
                for (const or_set_u64& d : deltas) s.join(d);
              } else {
                for (const std::uint64_t k : keys) benchmark::DoNotOptimize(s.insert(r1, k));
              }
            },
            size);
      });
}

template <class T>
using node_set = node_or_set<T>;
#if CONVERGE_BENCH_HOPSCOTCH
template <class T>
using hop_set = node_or_set<T, hopscotch_map>;
#endif

}  // namespace converge_bench
