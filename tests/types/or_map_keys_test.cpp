// or_map keys: equality whatever the order keys were added in, iteration in
// key order through inserts and erases (the lazily built order), string
// keys, keys with only an order, a key_hash specialisation, a Compare of the
// user's, nested maps, and the store's dot records agreeing with its values.
#include <converge/key_hash.hpp>
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/random.hpp"
#include "support/replicas.hpp"

using converge::mv_register;
using converge::or_map;
using converge::or_set;

namespace {
using namespace test::replicas;

// Only an order: no ==, no hash.
struct ordered_only {
  int v = 0;
  bool operator<(const ordered_only& o) const { return v < o.v; }
};

// A key without std::hash, hashed through a key_hash specialisation.
struct user_id {
  std::uint64_t high = 0, low = 0;
  bool operator==(const user_id&) const = default;
  auto operator<=>(const user_id&) const = default;
};

std::atomic<std::uint64_t> user_id_hashes{0};

}  // namespace

template <>
struct converge::key_hash<user_id> {
  std::size_t operator()(const user_id& u) const noexcept {
    user_id_hashes.fetch_add(1, std::memory_order_relaxed);
    return static_cast<std::size_t>(u.high * 0x9e3779b97f4a7c15ULL ^ u.low);
  }
};

namespace {

static_assert(converge::hashable_key<int>);
static_assert(converge::hashable_key<std::string>);
static_assert(converge::hashable_key<user_id>);
static_assert(!converge::hashable_key<ordered_only>);

using regs = or_map<std::uint64_t, mv_register<int>>;
static_assert(std::random_access_iterator<regs::const_iterator>);
static_assert(
    std::same_as<decltype(std::declval<const regs&>().begin()), decltype(std::declval<const regs&>().end())>);
static_assert(std::same_as<decltype(*std::declval<regs::const_iterator>()),
                           const std::pair<std::uint64_t, mv_register<int>>&>);

/// The keys of `m` in iteration order.
template <class M>
std::vector<typename M::key_type> keys_of(const M& m) {
  std::vector<typename M::key_type> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

/// The store's dot records agree with its values: every dot a value holds
/// is recorded once, and the map holds no other.
template <class M>
void check_dots(const M& m) {
  std::uint64_t held = 0;
  for (const auto& [k, v] : m) {
    CHECK_FALSE(v.store().empty());
    v.store().for_each_dot([&](const converge::dot& d) {
      ++held;
      CHECK(m.store().contains(d));
    });
  }
  CHECK(held == m.store().dot_count());
  std::uint64_t seen = 0;
  m.store().for_each_dot([&](const converge::dot&) { ++seen; });
  CHECK(seen == held);
}

template <class M, class K>
M put(M& m, const K& k, int value, converge::replica_id r = a) {
  return m.update(k, [&](auto& reg) { return reg.assign(r, value); });
}

}  // namespace

TEST_CASE("or_map equality does not depend on the order keys were added in") {
  regs source;
  std::vector<regs> deltas;
  for (std::uint64_t k = 0; k < 40; ++k) deltas.push_back(put(source, k * 7919 % 101, static_cast<int>(k)));
  regs forward, backward;
  for (const regs& d : deltas) forward.join(d);
  for (auto it = deltas.rbegin(); it != deltas.rend(); ++it) backward.join(*it);
  CHECK(forward == backward);
  CHECK(forward == source);
  CHECK(keys_of(forward) == keys_of(backward));
  backward.join(put(source, 5, -1));
  CHECK_FALSE(forward == backward);
  check_dots(forward);
  check_dots(backward);
}

TEST_CASE("or_map iterates in key order through inserts and erases") {
  auto rng = test::rng_for("or_map key order");
  CAPTURE(test::seed());
  regs m;
  std::set<std::uint64_t> model;
  for (int step = 0; step < 2000; ++step) {
    const std::uint64_t k = rng.below(300);
    if (rng.chance(1, 3)) {
      m.erase(k);
      model.erase(k);
    } else {
      put(m, k, step, rng.chance(1, 2) ? a : b);
      model.insert(k);
    }
    if (step % 97 == 0 || step < 20) {
      REQUIRE(keys_of(m) == std::vector<std::uint64_t>(model.begin(), model.end()));
      REQUIRE(m.size() == model.size());
      REQUIRE(static_cast<std::size_t>(m.end() - m.begin()) == model.size());
      for (const std::uint64_t key : model) REQUIRE(m.contains(key));
    }
  }
  // Random access through the order.
  const auto first = m.begin();
  for (std::size_t i = 0; i < m.size(); ++i)
    CHECK(first[static_cast<std::ptrdiff_t>(i)].first ==
          *std::next(model.begin(), static_cast<std::ptrdiff_t>(i)));
  CHECK(std::is_sorted(m.begin(), m.end(), [](const auto& x, const auto& y) { return x.first < y.first; }));
  CHECK((m.cend() - 1)->first == *model.rbegin());
  check_dots(m);
}

TEST_CASE("or_map's key order, built by one iteration, follows later changes") {
  regs m;
  for (std::uint64_t k : {50u, 10u, 40u, 20u, 30u, 60u, 5u, 70u, 80u, 90u, 1u}) put(m, k, 1);
  CHECK(keys_of(m) == std::vector<std::uint64_t>{1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90});
  put(m, 25, 2);  // a new key after the order was built
  CHECK(keys_of(m) == std::vector<std::uint64_t>{1, 5, 10, 20, 25, 30, 40, 50, 60, 70, 80, 90});
  put(m, 25, 3);  // a new value under a known key keeps the order
  CHECK(keys_of(m) == std::vector<std::uint64_t>{1, 5, 10, 20, 25, 30, 40, 50, 60, 70, 80, 90});
  m.erase(1);  // the last entry moves into the hole
  m.erase(50);
  CHECK(keys_of(m) == std::vector<std::uint64_t>{5, 10, 20, 25, 30, 40, 60, 70, 80, 90});
  const regs copy = m;  // copies the built order
  put(m, 0, 4);
  CHECK(keys_of(copy) == std::vector<std::uint64_t>{5, 10, 20, 25, 30, 40, 60, 70, 80, 90});
  CHECK(keys_of(m).front() == 0);
  regs moved = std::move(m);
  CHECK(keys_of(moved).size() == 11);
  m = copy;
  CHECK(keys_of(m) == keys_of(copy));
  check_dots(moved);
  check_dots(m);
}

TEST_CASE("or_map's key order is built once for concurrent readers") {
  regs m;
  for (std::uint64_t k = 0; k < 5000; ++k) put(m, (k * 2654435761u) % 100003, 1);
  const std::vector<std::uint64_t> want = [&] {
    regs copy = m;  // iterating the copy leaves m's order unbuilt
    return keys_of(copy);
  }();
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      if (keys_of(m) != want) wrong.fetch_add(1);
    });
  }
  for (auto& r : readers) r.join();
  CHECK(wrong.load() == 0);
  CHECK(std::is_sorted(want.begin(), want.end()));
}

TEST_CASE("or_map with string keys finds, erases and orders them") {
  or_map<std::string, or_set<std::string>> tags;
  for (int i = 0; i < 30; ++i) {
    tags.update("tag-" + std::to_string(i), [&](auto& s) { return s.insert(a, "x" + std::to_string(i)); });
  }
  for (int i = 0; i < 30; i += 3) tags.erase("tag-" + std::to_string(i));
  CHECK(tags.size() == 20);
  CHECK_FALSE(tags.contains("tag-0"));
  REQUIRE(tags.find("tag-29") != nullptr);
  CHECK(tags.find("tag-29")->contains("x29"));
  const auto keys = keys_of(tags);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  CHECK(keys.front() == "tag-1");
  check_dots(tags);
}

TEST_CASE("or_map with keys that only order (no hash, no ==) works as before") {
  or_map<ordered_only, mv_register<int>> m, n;
  for (int k = 20; k > 0; --k) n.join(put(m, ordered_only{k * 3 % 23}, k));
  m.erase(ordered_only{3});
  n.join(m.erase(ordered_only{6}));
  CHECK(m.size() == 18);
  CHECK_FALSE(m.contains(ordered_only{6}));
  CHECK(m.contains(ordered_only{9}));
  std::vector<int> keys;
  for (const auto& [k, v] : m) keys.push_back(k.v);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  CHECK(keys.size() == 18);
  n.join(m);
  CHECK(n == m);
  check_dots(m);
}

TEST_CASE("or_map hashes keys through a key_hash specialisation") {
  or_map<user_id, mv_register<int>> m;
  const auto before = user_id_hashes.load();
  for (std::uint64_t i = 0; i < 20; ++i) put(m, user_id{i % 3, 100 - i}, static_cast<int>(i));
  CHECK(user_id_hashes.load() > before);  // past the small-store threshold, keys are found by hash
  REQUIRE(m.find(user_id{1, 99}) != nullptr);
  CHECK(m.find(user_id{1, 99})->values() == std::vector<int>{1});
  m.erase(user_id{0, 100});
  CHECK_FALSE(m.contains(user_id{0, 100}));
  const auto keys = keys_of(m);
  CHECK(keys.size() == 19);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  check_dots(m);
}

TEST_CASE("or_map with a Compare of the user's iterates in that order") {
  or_map<int, mv_register<int>, std::greater<int>> m;
  for (int k = 0; k < 15; ++k) put(m, (k * 5) % 16, k);
  m.erase(5);
  const auto keys = keys_of(m);
  CHECK(keys.size() == 14);
  CHECK(std::is_sorted(keys.begin(), keys.end(), std::greater<int>{}));
  check_dots(m);
}

TEST_CASE("nested or_maps keep both levels in key order and equal by content") {
  using inner = or_map<std::string, mv_register<int>>;
  using outer = or_map<std::uint64_t, inner>;
  outer x, y;
  std::vector<outer> deltas;
  for (std::uint64_t k = 0; k < 12; ++k) {
    for (int j = 0; j < 10; ++j) {
      deltas.push_back(x.update(k * 31 % 17, [&](inner& in) {
        return in.update("field-" + std::to_string((j * 7) % 10), [&](auto& r) { return r.assign(a, j); });
      }));
    }
  }
  deltas.push_back(x.update(14, [&](inner& in) { return in.erase("field-4"); }));
  deltas.push_back(x.erase(8));
  for (auto it = deltas.rbegin(); it != deltas.rend(); ++it) y.join(*it);
  CHECK(x == y);
  CHECK_FALSE(x.contains(8));
  REQUIRE(x.find(14) != nullptr);
  CHECK_FALSE(x.find(14)->contains("field-4"));
  CHECK(x.find(14)->size() == 9);
  const auto outer_keys = keys_of(x);
  CHECK(std::is_sorted(outer_keys.begin(), outer_keys.end()));
  for (const auto& [k, in] : y) {
    const auto inner_keys = keys_of(in);
    CHECK(std::is_sorted(inner_keys.begin(), inner_keys.end()));
  }
  check_dots(x);
  check_dots(y);
}
