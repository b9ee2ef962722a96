#pragma once
// A fixed set of states and deltas of every type (built by calling mutators,
// no randomness), shared by the golden-vector and hostile-input tests.

#include "converge/converge.hpp"

#include <boost/hana/define_struct.hpp>
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace wire_test {

/// The composed struct of the golden vectors: its encoding is pinned by
/// golden_vectors.inc, so its shape never changes (it is converge-node's
/// demo state's). Random tests use converge::testing::shop.
struct golden_struct {
  BOOST_HANA_DEFINE_STRUCT(golden_struct, (converge::pncounter, counter),
                           (converge::or_set<std::string>, set),
                           (converge::or_map<std::string, converge::mv_register<std::string>>, map),
                           (converge::bounded_counter, stock));
  bool operator==(const golden_struct&) const = default;
};

struct golden_case {
  std::string name;
  std::vector<std::byte> bytes;  // encode(value)
  /// decode(bytes) == value.
  std::function<bool(std::span<const std::byte>)> decodes_to_value;
  /// Decodes arbitrary bytes: returns false on decode_error; on success,
  /// checks (with doctest) that the state re-encodes and decodes equal.
  std::function<bool(std::span<const std::byte>)> probe;
};

template <class T>
golden_case make_case(std::string name, const T& value) {
  golden_case c;
  c.name = std::move(name);
  c.bytes = converge::encode(value);
  c.decodes_to_value = [value](std::span<const std::byte> b) { return converge::decode<T>(b) == value; };
  c.probe = [](std::span<const std::byte> b) {
    T x;
    try {
      x = converge::decode<T>(b);
    } catch (const converge::decode_error&) {
      return false;
    }
    const auto again = converge::encode(x);
    CHECK(converge::decode<T>(again) == x);
    return true;
  };
  return c;
}

inline std::string to_hex(std::span<const std::byte> b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const std::byte x : b) {
    out += digits[std::to_integer<unsigned>(x) >> 4];
    out += digits[std::to_integer<unsigned>(x) & 0xf];
  }
  return out;
}

inline std::vector<golden_case> golden_cases() {
  using namespace converge;
  const replica_id a{1}, b{2}, c{3};
  const replica_id big = replica_id::from_name("alice");
  std::vector<golden_case> out;

  // counters
  {
    gcounter g;
    out.push_back(make_case("gcounter bottom", g));
    out.push_back(make_case("gcounter increment delta", g.increment(a)));
    g.increment(b, 300);
    out.push_back(make_case("gcounter increment delta big id", g.increment(big, 5)));
    out.push_back(make_case("gcounter state", g));
  }
  {
    pncounter p;
    p.increment(a, 5);
    out.push_back(make_case("pncounter decrement delta", p.decrement(b, 7)));
    out.push_back(make_case("pncounter state", p));
  }
  {
    bounded_counter x;
    x.increment(a, 10);
    out.push_back(make_case("bounded_counter transfer delta", *x.transfer(a, b, 4)));
    (void)x.decrement(b, 3);
    out.push_back(make_case("bounded_counter state", x));
  }
  // sets
  {
    gset<std::string> s;
    s.insert("pear");
    out.push_back(make_case("gset insert delta", s.insert("apple")));
    out.push_back(make_case("gset state", s));
    gset<std::uint64_t> n;
    n.insert(3);
    n.insert(1000);
    out.push_back(make_case("gset u64 state", n));
  }
  {
    twop_set<std::string> s;
    s.insert("x");
    s.insert("y");
    out.push_back(make_case("twop_set erase delta", s.erase("x")));
    s.erase("never");
    out.push_back(make_case("twop_set state", s));
  }
  {
    or_set<std::uint64_t> s, t;
    out.push_back(make_case("or_set insert delta", s.insert(a, 7)));
    s.insert(b, 8);
    t.join(s.insert(a, 9));  // t sees (a, 2) but not (a, 1): a cloud
    out.push_back(make_case("or_set state with cloud", t));
    out.push_back(make_case("or_set erase delta", s.erase(7)));
    out.push_back(make_case("or_set state", s));
    out.push_back(make_case("or_set clear delta", s.clear()));
    or_set<std::string> w;
    w.insert(a, "x");
    w.insert(c, "y");
    w.insert(b, "x");
    out.push_back(make_case("or_set string state", w));
  }
  // registers and flags
  {
    lww_register<std::string> r;
    out.push_back(make_case("lww bottom", r));
    out.push_back(make_case("lww assign delta", r.assign(a, "v1", 1700000000)));
  }
  {
    mv_register<std::string> m, n;
    m.assign(a, "one");
    n.assign(b, "two");
    m.join(n);
    out.push_back(make_case("mv_register concurrent state", m));
    out.push_back(make_case("mv_register assign delta", m.assign(c, "three")));
  }
  {
    ew_flag f;
    out.push_back(make_case("ew_flag enable delta", f.enable(a)));
    out.push_back(make_case("ew_flag disable delta", f.disable()));
    f.enable(b);
    out.push_back(make_case("ew_flag state", f));
    dw_flag d;
    out.push_back(make_case("dw_flag disable delta", d.disable(a)));
    out.push_back(make_case("dw_flag enable delta", d.enable()));
  }
  // maps
  {
    g_map<std::string, gcounter> m;
    m.update("x", [&](auto& g) { return g.increment(a, 2); });
    out.push_back(make_case("g_map update delta", m.update("y", [&](auto& g) { return g.increment(b); })));
    out.push_back(make_case("g_map state", m));
  }
  {
    or_map<std::string, or_set<std::uint64_t>> m;
    out.push_back(make_case("or_map update delta", m.update("k", [&](auto& s) { return s.insert(a, 1); })));
    m.update("j", [&](auto& s) { return s.insert(b, 2); });
    m.update("k", [&](auto& s) { return s.insert(b, 3); });
    out.push_back(make_case("or_map state", m));
    out.push_back(make_case("or_map erase delta", m.erase("k")));
  }
  {
    or_map<std::string, mv_register<std::string>> m;
    m.update("title", [&](auto& r) { return r.assign(a, "draft"); });
    out.push_back(make_case("or_map mv state", m));
    or_map<std::string, or_map<std::string, ew_flag>> n;
    n.update("o", [&](auto& inner) { return inner.update("i", [&](auto& f) { return f.enable(c); }); });
    out.push_back(make_case("or_map nested state", n));
  }
  // a composed struct
  {
    golden_struct s;
    s.counter.increment(a, 3);
    s.set.insert(a, "a");
    s.map.update("k", [&](auto& r) { return r.assign(b, "v"); });
    s.stock.increment(c, 10);
    out.push_back(make_case("struct state", s));
    out.push_back(make_case(
        "struct delta", converge::update(s, &golden_struct::set, [&](auto& f) { return f.insert(b, "b"); })));
  }
  return out;
}

/// One pinned vector: a case name and the hex of its bytes (the .inc files).
struct expected_vector {
  const char* name;
  const char* hex;
};

/// The bytes a hex string spells.
inline std::vector<std::byte> from_hex(const std::string& hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace wire_test
