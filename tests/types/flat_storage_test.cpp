// The flat storage under gset and or_set (flat_index, flat_set,
// element_store) against std:: models, including hashes that collide on
// purpose: long probe runs whose slots share a tag, so every tag match must
// still be confirmed by the key, and erase must keep runs intact.
#include <converge/detail/element_store.hpp>
#include <converge/detail/flat_set.hpp>
#include <converge/detail/sort_runs.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "support/random.hpp"

namespace {

/// Few distinct hashes: many keys per probe run and per tag.
struct clashing_hash {
  std::size_t operator()(std::uint64_t v) const noexcept { return v % 7; }
};

template <class Set>
void check_set(const Set& s, const std::set<std::uint64_t>& model) {
  REQUIRE(s.size() == model.size());
  for (const std::uint64_t v : model) CHECK(s.contains(v));
  std::set<std::uint64_t> seen(s.begin(), s.end());
  CHECK(seen == model);
}

template <class Hash>
void flat_set_against_model(const char* name) {
  auto rng = test::rng_for(name);
  CAPTURE(test::seed());
  converge::detail::flat_set<std::uint64_t, Hash> s;
  std::set<std::uint64_t> model;
  for (int round = 0; round < test::cases(3000); ++round) {
    const std::uint64_t v = rng.below(400);
    switch (rng.below(5)) {
      case 0:
      case 1:
        CHECK(s.insert(v) == model.insert(v).second);
        break;
      case 3: {  // lookups of a batch: every absent element reported, in order, repeats too
        std::vector<std::uint64_t> batch;
        for (std::uint64_t k = rng.below(40); k > 0; --k) batch.push_back(rng.below(400));
        std::vector<std::uint64_t> absent;
        s.for_each_absent(batch, [&](std::uint64_t x) { absent.push_back(x); });
        std::vector<std::uint64_t> expected;
        for (const std::uint64_t x : batch) {
          if (model.count(x) == 0) expected.push_back(x);
        }
        CHECK(absent == expected);
        break;
      }
      case 2:
        CHECK(s.erase(v) == (model.erase(v) == 1));
        break;
      default: {  // a batch, some new, some held, some repeated
        std::vector<std::uint64_t> batch;
        for (std::uint64_t k = rng.below(40); k > 0; --k) batch.push_back(rng.below(400));
        std::set<std::uint64_t> added;
        s.insert_all(batch, [&](std::uint64_t x) { CHECK(added.insert(x).second); });
        std::set<std::uint64_t> expected;
        for (const std::uint64_t x : batch) {
          if (model.insert(x).second) expected.insert(x);
        }
        CHECK(added == expected);
      }
    }
    CHECK(s.contains(v) == (model.count(v) == 1));
    if (round % 97 == 0) check_set(s, model);
  }
  check_set(s, model);
  std::vector<std::uint64_t> items(model.begin(), model.end());
  items.insert(items.end(), model.begin(), model.end());  // duplicates collapse
  const auto rebuilt = converge::detail::flat_set<std::uint64_t, Hash>::from_vector(items);
  check_set(rebuilt, model);
  CHECK(rebuilt == s);
}

/// `ordered`: dots are issued in increasing order and removals are rare and
/// mostly of the newest record, so the store stays in dot order (no dot
/// index, binary search) for long stretches before something reorders it.
template <class Hash>
void element_store_against_model(const char* name, bool ordered = false) {
  using store = converge::detail::element_store<std::uint64_t, Hash>;
  auto rng = test::rng_for(name);
  CAPTURE(test::seed());
  store s;
  std::map<converge::dot, std::uint64_t> model;  // dot -> element
  std::uint64_t counter = 0;
  auto fresh_dot = [&] {
    return converge::dot{converge::replica_id{ordered ? 1 : 1 + rng.below(3)}, ++counter};
  };
  auto check_all = [&] {
    REQUIRE(s.dot_count() == model.size());
    std::map<std::uint64_t, std::set<converge::dot>> by_element;
    for (const auto& [d, e] : model) by_element[e].insert(d);
    CHECK(s.element_count() == by_element.size());
    for (const auto& [e, dots] : by_element) {
      std::set<converge::dot> found;
      s.for_each_dot_of(e, [&](const converge::dot& d) { found.insert(d); });
      CHECK(found == dots);
      CHECK(s.contains_element(e));
    }
    std::multiset<std::uint64_t> once;
    s.for_each_element([&](std::uint64_t e) { once.insert(e); });
    CHECK(once.size() == by_element.size());
    for (const auto& [d, e] : model) CHECK(s.contains(d));
    for (std::uint64_t n = 0; n <= counter + 1; n += 1 + counter / 16) {  // gaps, and dots never issued
      const converge::dot d{converge::replica_id{1}, n};
      CHECK(s.contains(d) == (model.count(d) == 1));
    }
  };
  for (int round = 0; round < test::cases(2000); ++round) {
    switch (rng.below(3)) {
      case 0: {
        const converge::dot d = fresh_dot();
        const std::uint64_t e = rng.below(300);
        s.add(e, d);
        model.emplace(d, e);
        break;
      }
      case 1: {
        if (model.empty() || (ordered && rng.below(8) != 0)) break;
        auto it = model.begin();
        if (ordered && rng.below(4) != 0) {
          it = std::prev(model.end());  // the newest: order kept
        } else {
          std::advance(it, static_cast<std::ptrdiff_t>(rng.below(model.size())));
        }
        s.remove(it->first);
        model.erase(it);
        break;
      }
      default: {  // a batch large enough for the prefetching path; some dots already seen
        store batch;
        converge::causal_context seen;
        for (std::uint64_t k = 16 + rng.below(40); k > 0; --k) {
          const converge::dot d = fresh_dot();
          const std::uint64_t e = rng.below(300);
          batch.add(e, d);
          if (rng.below(4) == 0) {
            seen.insert(d);
          } else {
            model.emplace(d, e);
          }
        }
        s.add_unseen(batch, seen);
      }
    }
    if (round % 101 == 0) check_all();
  }
  check_all();
  std::vector<typename store::record> records(s.records().begin(), s.records().end());
  CHECK(store::from_records(records) == s);
}

}  // namespace

TEST_CASE("flat_set agrees with std::set (well-mixed hash)") {
  flat_set_against_model<std::hash<std::uint64_t>>("flat_set mixed");
}

TEST_CASE("flat_set agrees with std::set when hashes clash (shared runs and tags)") {
  flat_set_against_model<clashing_hash>("flat_set clashing");
}

TEST_CASE("element_store agrees with a map of dots (well-mixed hash)") {
  element_store_against_model<std::hash<std::uint64_t>>("element_store mixed");
}

TEST_CASE("element_store agrees with a map of dots when element hashes clash") {
  element_store_against_model<clashing_hash>("element_store clashing");
}

TEST_CASE("element_store agrees with a map of dots while its records stay in dot order") {
  element_store_against_model<std::hash<std::uint64_t>>("element_store ordered", true);
  element_store_against_model<clashing_hash>("element_store ordered clashing", true);
}

TEST_CASE("sort_runs sorts sequences of sorted runs, few or many, losing and duplicating nothing") {
  auto rng = test::rng_for("sort_runs");
  CAPTURE(test::seed());
  for (int c = 0; c < test::cases(300); ++c) {
    // k sorted runs of random lengths (k = 1 is already sorted; many short
    // runs take the std::sort path), with repeated values across runs.
    const std::uint64_t runs = 1 + rng.below(c % 3 == 0 ? 200 : 12);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> v;  // (key, tag) shows any lost or duplicated entry
    for (std::uint64_t r = 0; r < runs; ++r) {
      std::vector<std::uint64_t> run(rng.below(60));
      for (auto& x : run) x = rng.below(500);
      std::sort(run.begin(), run.end());
      for (const std::uint64_t x : run) v.emplace_back(x, v.size());
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> expected = v;
    std::sort(expected.begin(), expected.end());
    converge::detail::sort_runs(v, [](const auto& a, const auto& b) { return a.first < b.first; });
    CAPTURE(runs);
    REQUIRE(
        std::is_sorted(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; }));
    std::sort(v.begin(), v.end());  // same multiset of entries
    CHECK(v == expected);
  }
}

TEST_CASE("element_store keeps no dot index while its records are in dot order") {
  using store = converge::detail::element_store<std::uint64_t>;
  std::vector<store::record> records;
  for (std::uint64_t i = 1; i <= 1000; ++i)
    records.push_back({i * 7, converge::dot{converge::replica_id{1 + i % 3}, i}});
  std::vector<store::record> in_order = records;
  std::sort(in_order.begin(), in_order.end(), [](const auto& a, const auto& b) { return a.tag < b.tag; });
  const store sorted = store::from_records(in_order);
  const store unsorted = store::from_records(records);
  CHECK(sorted == unsorted);
  // What a delta, a decoded message or a gathered interval saves: 4 bytes
  // per slot of a table sized for 1,000 records at most 3/4 full.
  CHECK(unsorted.heap_bytes() >= sorted.heap_bytes() + 4 * 1000 * 4 / 3);
  store grown = sorted, twin = sorted;  // twin: the same records, appended in dot order
  // Out of order, each starts a run of its own: still no dot index, up to
  // the run that would be one too many.
  for (std::uint64_t run = 0; run + 1 < 4; ++run) {
    grown.add(5 + run, converge::dot{converge::replica_id{1}, 5000 - run});
    twin.add(5 + run, converge::dot{converge::replica_id{9}, 1 + run});
    CHECK(grown.heap_bytes() == twin.heap_bytes());
  }
  grown.add(9, converge::dot{converge::replica_id{1}, 4000});
  twin.add(9, converge::dot{converge::replica_id{9}, 9});
  CHECK(grown.heap_bytes() > twin.heap_bytes() + 4 * 1000);
  CHECK(grown.contains(converge::dot{converge::replica_id{1}, 5000}));
  CHECK(grown.contains(converge::dot{converge::replica_id{1}, 4000}));
  CHECK(grown.contains(converge::dot{converge::replica_id{2}, 1}));
}

TEST_CASE("element_store joined from replicas in any order finds every dot through its runs") {
  // A join of whole states appends each one's records as a run; the order
  // of the replicas' ids must not matter (a dot index costs about as much
  // as the join itself).
  using store = converge::detail::element_store<std::uint64_t>;
  auto rng = test::rng_for("element_store runs");
  CAPTURE(test::seed());
  for (int c = 0; c < test::cases(200); ++c) {
    const std::uint64_t replicas = 1 + rng.below(6);
    store s;
    std::map<converge::dot, std::uint64_t> model;
    for (std::uint64_t r = replicas; r > 0; --r) {  // descending ids: every block breaks the order
      store block;
      const converge::replica_id id{r * 1000003 + rng.below(1000)};
      for (std::uint64_t k = 1; k <= 1 + rng.below(40); ++k) {
        const converge::dot d{id, k * (1 + rng.below(3))};
        if (model.count(d) != 0) continue;
        block.add(rng.below(50), d);
        model.emplace(d, block.records().back().element);
      }
      s.add_unseen(block, converge::causal_context{});
    }
    for (const auto& [d, e] : model) CHECK(s.contains(d));
    for (std::uint64_t k = 0; k < 20; ++k) {
      const converge::dot absent{converge::replica_id{rng.below(8) * 1000003 + rng.below(1000)}, 200 + k};
      CHECK(s.contains(absent) == (model.count(absent) == 1));
    }
    while (!model.empty()) {  // removals: of the last record, or anywhere (a hole gives the runs up)
      auto it = model.find(s.records().back().tag);  // the last record: the runs stay
      if (rng.below(3) == 0) {
        it = model.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rng.below(model.size())));
      }
      const converge::dot gone = it->first;
      s.remove(gone);
      model.erase(it);
      CHECK(!s.contains(gone));
      if (model.size() % 7 == 0) {
        for (const auto& [d, e] : model) REQUIRE(s.contains(d));
      }
    }
    CHECK(s.empty());
  }
}
