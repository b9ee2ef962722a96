// gset and twop_set semantics.
#include <converge/gset.hpp>
#include <converge/twop_set.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

TEST_CASE("gset: insert returns {v} or bottom; union on join") {
  converge::gset<std::string> s;
  CHECK(s.empty());
  const auto d = s.insert("x");
  CHECK(d.size() == 1);
  CHECK(d.contains("x"));
  CHECK(s.insert("x").empty());
  CHECK(s.contains("x"));
  CHECK_FALSE(s.contains("y"));
  converge::gset<std::string> t;
  t.insert("y");
  t.insert("a");
  s.join(t);
  s.join(s);
  CHECK(s.size() == 3);
  std::vector<std::string> seen(s.begin(), s.end());
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"a", "x", "y"});
}

TEST_CASE("gset: novel_to, leq and from_elements") {
  converge::gset<int> s, d;
  s.insert(1);
  d.insert(1);
  d.insert(2);
  const auto n = d.novel_to(s);
  CHECK(std::vector<int>(n.begin(), n.end()) == std::vector<int>{2});
  CHECK(s.leq(d));
  CHECK_FALSE(d.leq(s));
  CHECK(converge::gset<int>::from_elements({d.begin(), d.end()}) == d);
}

TEST_CASE("twop_set: insert, erase, and erased stays erased") {
  converge::twop_set<int> s;
  CHECK(s.empty());
  s.insert(1);
  s.insert(2);
  CHECK(s.size() == 2);
  const auto old = s;
  const auto d = s.erase(1);
  CHECK(converge::join(old, d) == s);
  CHECK_FALSE(s.contains(1));
  CHECK(s.erased(1));
  CHECK(s.size() == 1);
  CHECK(s.insert(1).empty());  // cannot come back
  CHECK_FALSE(s.contains(1));
  CHECK(s.erase(1).empty());
  CHECK(std::vector<int>(s.begin(), s.end()) == std::vector<int>{2});
}

TEST_CASE("twop_set: erase before insert (never seen) removes for good") {
  converge::twop_set<std::string> s;
  const auto d = s.erase("ghost");
  CHECK_FALSE(d.empty());
  CHECK_FALSE(s.empty());  // a tombstone is state
  CHECK(s.size() == 0);
  CHECK(s.insert("ghost").empty());
  CHECK_FALSE(s.contains("ghost"));
  // and at another replica that inserted it concurrently, the erase wins
  converge::twop_set<std::string> t;
  const auto ins = t.insert("ghost");
  CHECK(t.contains("ghost"));
  t.join(d);
  s.join(ins);
  CHECK_FALSE(t.contains("ghost"));
  CHECK(s == t);
  CHECK(s.size() == 0);
}

TEST_CASE("twop_set: novel_to and from_parts") {
  converge::twop_set<int> s, d;
  s.erase(3);
  d.insert(3);
  d.insert(4);
  d.erase(5);
  const auto n = d.novel_to(s);
  CHECK(std::vector<int>(n.begin(), n.end()) == std::vector<int>{4});
  CHECK(n.erased(5));
  CHECK(converge::join(s, n) == converge::join(s, d));
  CHECK(converge::twop_set<int>::from_parts({d.live().begin(), d.live().end()},
                                            {d.tombstones().begin(), d.tombstones().end()}) == d);
  CHECK_THROWS_AS((void)converge::twop_set<int>::from_parts({1, 2}, {2}), std::invalid_argument);
}
