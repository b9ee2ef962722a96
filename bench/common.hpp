#pragma once
// Helpers shared by the benchmarks: keys, element generators, a timer.

#include "converge/replica_id.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace converge_bench {

/// The i-th key of stream `salt`: distinct, well spread 64-bit values (a
/// bijection of i, so two streams with different salts never collide when
/// their index ranges do not overlap).
inline std::uint64_t key(std::uint64_t i, std::uint64_t salt = 0) {
  return converge::replica_id::mix(i + (salt << 40));
}

/// A short string element (12 hex digits: fits std::string's inline buffer,
/// like typical identifiers).
inline std::string str_key(std::uint64_t i, std::uint64_t salt = 0) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%012llx",
                static_cast<unsigned long long>(key(i, salt) & 0xffffffffffffULL));
  return buf;
}

template <class T>
T make_key(std::uint64_t i, std::uint64_t salt = 0) {
  if constexpr (std::is_same_v<T, std::string>) {
    return str_key(i, salt);
  } else {
    return static_cast<T>(key(i, salt));
  }
}

/// Seconds taken by `f()`.
template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace converge_bench
