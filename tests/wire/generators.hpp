#pragma once
// Random states and deltas of every type, for the wire tests. A state is
// built by three replicas mutating with a seeded rng and exchanging only some
// of their deltas (so contexts get clouds, maps get nested values, ...).

#include "converge/converge.hpp"

#include "support/random.hpp"

#include <boost/hana.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace wire_test {

using converge::replica_id;

/// A composed state, as users write them.
struct shop {
  BOOST_HANA_DEFINE_STRUCT(shop,
    (converge::pncounter, counter),
    (converge::or_set<std::string>, set),
    (converge::or_map<std::string, converge::mv_register<std::string>>, map),
    (converge::bounded_counter, stock));
  bool operator==(const shop&) const = default;
};

inline std::string small_string(std::mt19937_64& rng) {
  static const char* const words[] = {"a", "b", "apple", "k", "", "caf\xc3\xa9", "quote\"", "tab\t", "z"};
  return words[test::below(rng, std::size(words))];
}

inline replica_id pick_replica(std::mt19937_64& rng) { return replica_id{1 + test::below(rng, 3)}; }

/// One random mutation of `x` by replica `r`; returns its delta.
template <class T>
struct mutate;

template <>
struct mutate<converge::gcounter> {
  converge::gcounter operator()(converge::gcounter& x, replica_id r, std::mt19937_64& rng) const {
    return x.increment(r, 1 + test::below(rng, 300));
  }
};
template <>
struct mutate<converge::pncounter> {
  converge::pncounter operator()(converge::pncounter& x, replica_id r, std::mt19937_64& rng) const {
    return test::below(rng, 2) ? x.increment(r, 1 + test::below(rng, 9)) : x.decrement(r, 1 + test::below(rng, 9));
  }
};
template <>
struct mutate<converge::bounded_counter> {
  converge::bounded_counter operator()(converge::bounded_counter& x, replica_id r, std::mt19937_64& rng) const {
    switch (test::below(rng, 3)) {
      case 0:
        if (auto d = x.decrement(r, 1 + test::below(rng, 5))) return *d;
        break;
      case 1:
        if (auto d = x.transfer(r, pick_replica(rng), 1 + test::below(rng, 5))) return *d;
        break;
      default:
        break;
    }
    return x.increment(r, 1 + test::below(rng, 20));
  }
};
template <class T>
T random_element(std::mt19937_64& rng) {
  if constexpr (std::is_same_v<T, std::string>) {
    return small_string(rng);
  } else {
    return static_cast<T>(test::below(rng, 20));
  }
}
template <class T>
struct mutate<converge::gset<T>> {
  converge::gset<T> operator()(converge::gset<T>& x, replica_id, std::mt19937_64& rng) const {
    return x.insert(random_element<T>(rng));
  }
};
template <class T>
struct mutate<converge::twop_set<T>> {
  converge::twop_set<T> operator()(converge::twop_set<T>& x, replica_id, std::mt19937_64& rng) const {
    return test::below(rng, 3) ? x.insert(random_element<T>(rng)) : x.erase(random_element<T>(rng));
  }
};
template <class T>
struct mutate<converge::or_set<T>> {
  converge::or_set<T> operator()(converge::or_set<T>& x, replica_id r, std::mt19937_64& rng) const {
    const auto k = test::below(rng, 10);
    if (k < 6) return x.insert(r, random_element<T>(rng));
    if (k < 9) return x.erase(random_element<T>(rng));
    return x.clear();
  }
};
template <class T>
struct mutate<converge::lww_register<T>> {
  converge::lww_register<T> operator()(converge::lww_register<T>& x, replica_id r, std::mt19937_64& rng) const {
    return x.assign(r, random_element<T>(rng), test::below(rng, 1000));
  }
};
template <class T>
struct mutate<converge::mv_register<T>> {
  converge::mv_register<T> operator()(converge::mv_register<T>& x, replica_id r, std::mt19937_64& rng) const {
    return test::below(rng, 8) ? x.assign(r, random_element<T>(rng)) : x.reset();
  }
};
template <>
struct mutate<converge::ew_flag> {
  converge::ew_flag operator()(converge::ew_flag& x, replica_id r, std::mt19937_64& rng) const {
    return test::below(rng, 2) ? x.enable(r) : x.disable();
  }
};
template <>
struct mutate<converge::dw_flag> {
  converge::dw_flag operator()(converge::dw_flag& x, replica_id r, std::mt19937_64& rng) const {
    return test::below(rng, 2) ? x.disable(r) : x.enable();
  }
};
template <class K, class V>
struct mutate<converge::g_map<K, V>> {
  converge::g_map<K, V> operator()(converge::g_map<K, V>& x, replica_id r, std::mt19937_64& rng) const {
    return x.update(random_element<K>(rng), [&](V& v) { return mutate<V>{}(v, r, rng); });
  }
};
template <class K, class V>
struct mutate<converge::or_map<K, V>> {
  converge::or_map<K, V> operator()(converge::or_map<K, V>& x, replica_id r, std::mt19937_64& rng) const {
    const auto k = test::below(rng, 10);
    if (k < 7) return x.update(random_element<K>(rng), [&](V& v) { return mutate<V>{}(v, r, rng); });
    if (k < 9) return x.erase(random_element<K>(rng));
    return x.clear();
  }
};
template <>
struct mutate<shop> {
  shop operator()(shop& x, replica_id r, std::mt19937_64& rng) const {
    switch (test::below(rng, 4)) {
      case 0:
        return converge::update(x, &shop::counter, [&](auto& f) { return mutate<converge::pncounter>{}(f, r, rng); });
      case 1:
        return converge::update(x, &shop::set,
                                [&](auto& f) { return mutate<converge::or_set<std::string>>{}(f, r, rng); });
      case 2:
        return converge::update(x, &shop::map, [&](auto& f) {
          return mutate<converge::or_map<std::string, converge::mv_register<std::string>>>{}(f, r, rng);
        });
      default:
        return converge::update(x, &shop::stock,
                                [&](auto& f) { return mutate<converge::bounded_counter>{}(f, r, rng); });
    }
  }
};

/// A random state and a random delta of `T`: three replicas mutate and
/// deliver each delta to each other replica with probability 1/2.
template <class T>
std::pair<T, T> random_state_and_delta(std::mt19937_64& rng, int steps) {
  T replicas[3];
  T last_delta{};
  for (int i = 0; i < steps; ++i) {
    const std::size_t who = test::below(rng, 3);
    last_delta = mutate<T>{}(replicas[who], replica_id{who + 1}, rng);
    for (std::size_t other = 0; other < 3; ++other) {
      if (other != who && test::below(rng, 2)) converge::join_into(replicas[other], last_delta);
    }
  }
  return {replicas[test::below(rng, 3)], last_delta};
}

}  // namespace wire_test
