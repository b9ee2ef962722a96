#pragma once
// Large states (at least 64 entries in a store, built by calling mutators, no
// randomness) that `encode` writes as 2.0 frames, with columns: pinned by
// golden_v2_vectors.inc and probed by the hostile tests.

#include "converge/converge.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "golden_cases.hpp"

namespace wire_test {

/// Twelve hex digits from `i` (a fixed scramble), like the benchmarks' keys.
inline std::string hex_word(std::uint64_t i) {
  std::uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL;
  x ^= x >> 29;
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(12, '0');
  for (int d = 0; d < 12; ++d) out[static_cast<std::size_t>(d)] = digits[(x >> (4 * d)) & 0xf];
  return out;
}

inline std::vector<golden_case> golden_v2_cases() {
  using namespace converge;
  const replica_id a{1}, b{2};
  const replica_id big = replica_id::from_name("alice");
  std::vector<golden_case> out;
  {
    or_set<std::string> s;
    for (std::uint64_t i = 0; i < 80; ++i) s.insert(i % 5 == 0 ? big : a, hex_word(i));
    out.push_back(make_case("v2 or_set string state", s));
    s.erase(hex_word(3));
    s.erase(hex_word(40));
    out.push_back(make_case("v2 or_set string state after erases", s));
  }
  {
    or_set<std::uint64_t> s;
    for (std::uint64_t i = 0; i < 70; ++i) s.insert(i % 2 == 0 ? a : b, i * i);
    out.push_back(make_case("v2 or_set u64 state", s));
  }
  {
    mv_register<std::string> m;
    for (std::uint64_t r = 1; r <= 64; ++r) {
      mv_register<std::string> other;
      other.assign(replica_id{r}, "r" + std::to_string(r) + "-" + hex_word(r));
      m.join(other);
    }
    out.push_back(make_case("v2 mv_register 64 values", m));
  }
  {
    or_map<std::string, mv_register<std::string>> m;
    for (std::uint64_t r = 1; r <= 8; ++r) {
      or_map<std::string, mv_register<std::string>> mine;
      for (std::uint64_t k = 0; k < 10; ++k) {
        mine.update(hex_word(100 + k), [&](auto& v) {
          return v.assign(replica_id{r}, "r" + std::to_string(r) + "-" + hex_word(r * 10 + k));
        });
      }
      m.join(mine);
    }
    out.push_back(make_case("v2 or_map mv state", m));
    out.push_back(make_case("v2 rule: an erase delta of a large map stays 1.0", m.erase(hex_word(104))));
  }
  {
    or_map<std::uint64_t, or_set<std::uint64_t>> m;
    for (std::uint64_t i = 0; i < 70; ++i)
      m.update(i % 9, [&](auto& s) { return s.insert(i % 3 == 0 ? b : a, i); });
    out.push_back(make_case("v2 or_map of sets", m));
  }
  {
    golden_struct s;
    s.counter.increment(a, 3);
    for (std::uint64_t i = 0; i < 64; ++i) s.set.insert(b, "item-" + std::to_string(i));
    s.map.update("k", [&](auto& r) { return r.assign(b, "v"); });
    out.push_back(make_case("v2 struct with a large set", s));
  }
  return out;
}

}  // namespace wire_test
