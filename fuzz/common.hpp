#pragma once
// Shared by the fuzz harnesses: fuzzer bytes become operations and delivery
// schedules (structure-aware: every input is a meaningful run), one random
// mutator per type of the catalog, and a reference model of each type's
// queries, written independently of the library ({fmt}'s test/fuzzing
// layout: one harness per target, this common header, a leading byte that
// picks the type).
//
// The reference model: every update is an event with a unique id, tagged with
// a path (where in a nested value it happened: "k/3/") and a label (the
// element or value, as text). A replica's model is the set of events it
// knows; a delta carries the events of its mutation; join is union (max for
// counters). Queries are answered from the events alone:
//  - counters: per (path, origin, kind) the cumulative amount; value = sum;
//  - dot stores (or_set, mv_register, flags, or_map): an insert is visible
//    until an event that observed it removes it; an element is present iff
//    some insert of it is visible (add-wins);
//  - gset / twop_set: inserted and erased labels; lww: the greatest
//    (timestamp, writer, value) assigned.

#include <converge/converge.hpp>
#include <converge/testing/laws.hpp>

#include <boost/hana/define_struct.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge_fuzz {

using converge::replica_id;
using converge::testing::byte_entropy;
using converge::testing::entropy;

__extension__ typedef unsigned __int128 u128;
inline constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

/// Prints what failed and aborts (the fuzzer records the input).
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "\n==== converge fuzz failure ====\n%s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// True when CONVERGE_FUZZ_TRACE is set: harnesses then record every step
/// (with the states involved) and print them on failure.
inline bool tracing() {
  static const bool on = std::getenv("CONVERGE_FUZZ_TRACE") != nullptr;
  return on;
}

/// Renders a state for a failure message.
template <class T>
std::string show(const T& x) {
  return converge::to_json(x, {.causal_metadata = true});
}

// ------------------------------------------------------------- type lists

template <class... Ts>
struct type_list {
  static constexpr std::size_t size = sizeof...(Ts);
};

/// Calls `f(std::type_identity<T>{})` for the `i`-th type of the list (i < size).
template <class... Ts, class F>
void with_type(type_list<Ts...>, std::size_t i, F&& f) {
  std::size_t k = 0;
  (void)((k++ == i ? (f(std::type_identity<Ts>{}), true) : false) || ...);
}

// ---------------------------------------------------------------- the model

enum class count_kind : int { inc = 0, dec = 1, transfer = 2 };

struct model {
  struct tag {
    std::string path;
    std::string label;
  };
  using count_key = std::tuple<std::string, std::uint64_t, int, std::uint64_t>;  // path, origin, kind, to

  std::map<count_key, std::uint64_t> counts;                   // cumulative; join: max
  std::map<std::uint64_t, tag> dots;                           // inserts (events with ids)
  std::set<std::uint64_t> removed;                             // inserts observed by a removal
  std::set<std::pair<std::string, std::string>> added, erased;  // gset / twop_set
  std::map<std::string, std::tuple<std::uint64_t, std::uint64_t, std::string>> lww;  // path -> (ts, writer, label)

  void join(const model& o) {
    for (const auto& [k, v] : o.counts) {
      auto& x = counts[k];
      x = std::max(x, v);
    }
    dots.insert(o.dots.begin(), o.dots.end());
    removed.insert(o.removed.begin(), o.removed.end());
    added.insert(o.added.begin(), o.added.end());
    erased.insert(o.erased.begin(), o.erased.end());
    for (const auto& [p, v] : o.lww) {
      auto [it, fresh] = lww.try_emplace(p, v);
      if (!fresh && it->second < v) it->second = v;
    }
  }

  [[nodiscard]] std::uint64_t count(const std::string& path, replica_id origin, count_kind k,
                                    replica_id to = replica_id{}) const {
    const auto it = counts.find(count_key{path, origin.value(), static_cast<int>(k), to.value()});
    return it == counts.end() ? 0 : it->second;
  }

  /// Sum of the counts of `kind` at `path`, saturated at UINT64_MAX; with
  /// `origin`/`to` filters for transfers.
  [[nodiscard]] u128 sum(const std::string& path, count_kind k, std::optional<std::uint64_t> origin = {},
                         std::optional<std::uint64_t> to = {}) const {
    u128 s = 0;
    for (const auto& [key, v] : counts) {
      const auto& [p, o, kind, t] = key;
      if (p != path || kind != static_cast<int>(k)) continue;
      if (origin && o != *origin) continue;
      if (to && t != *to) continue;
      s += v;
    }
    return s;
  }

  /// Visible inserts: (id, tag) not removed, whose tag satisfies `pred`.
  template <class P>
  [[nodiscard]] std::vector<std::uint64_t> visible(P&& pred) const {
    std::vector<std::uint64_t> out;
    for (const auto& [id, t] : dots) {
      if (!removed.contains(id) && pred(t)) out.push_back(id);
    }
    return out;
  }
  [[nodiscard]] std::set<std::string> visible_labels_at(const std::string& path) const {
    std::set<std::string> out;
    for (const std::uint64_t id : visible([&](const tag& t) { return t.path == path; })) out.insert(dots.at(id).label);
    return out;
  }
  [[nodiscard]] bool any_visible_under(const std::string& prefix) const {
    return !visible([&](const tag& t) { return t.path.starts_with(prefix); }).empty();
  }
};

inline std::uint64_t sat(u128 v) { return v > u64_max ? u64_max : static_cast<std::uint64_t>(v); }

/// What an operation needs: who runs it, the bytes, the replica's model and
/// the model of the delta being built, the event id source, and where in a
/// nested value it runs. `err` is null when no model is tracked.
struct ctx {
  replica_id self;
  entropy& e;
  model& m;
  model& dm;
  std::uint64_t& ids;
  std::string* err;
  std::string path;

  [[nodiscard]] ctx at(const std::string& sub) const { return ctx{self, e, m, dm, ids, err, path + sub + "/"}; }

  void expect(bool holds, const std::string& what) const {
    if (!holds && err != nullptr && err->empty()) *err = what + " (at path '" + path + "')";
  }
  void set_count(count_kind k, std::uint64_t cumulative, replica_id to = replica_id{}) {
    const model::count_key key{path, self.value(), static_cast<int>(k), to.value()};
    auto& x = m.counts[key];
    x = std::max(x, cumulative);
    dm.counts[key] = cumulative;
  }
  template <class P>
  void remove_visible(P&& pred) {
    for (const std::uint64_t id : m.visible(pred)) {
      m.removed.insert(id);
      dm.removed.insert(id);
    }
  }
  void remove_at(const std::string& label) {
    remove_visible([&](const model::tag& t) { return t.path == path && t.label == label; });
  }
  void remove_all_at() {
    remove_visible([&](const model::tag& t) { return t.path == path; });
  }
  void remove_under(const std::string& prefix) {
    remove_visible([&](const model::tag& t) { return t.path.starts_with(prefix); });
  }
  void add_dot(const std::string& label) {
    const std::uint64_t id = ++ids;
    m.dots[id] = {path, label};
    dm.dots[id] = {path, label};
  }
};

// ------------------------------------------------------------ small values

/// An amount: mostly small, sometimes 0 or near UINT64_MAX (overflow paths).
inline std::uint64_t amount(entropy& e) {
  switch (e.below(16)) {
    case 0: return 0;
    case 1: return u64_max - e.below(3);
    case 2: return std::uint64_t{1} << 63;
    default: return 1 + e.below(8);
  }
}

/// An element: from a small domain (so replicas collide), sometimes a wider
/// one (so stores grow past their small-size thresholds).
template <class T>
T element(entropy& e) {
  const std::uint64_t n = e.chance(1, 4) ? e.below(24) : e.below(6);
  if constexpr (std::is_same_v<T, std::string>) {
    return n < 6 ? std::string(1, static_cast<char>('a' + n)) : "e" + std::to_string(n);
  } else {
    return static_cast<T>(n);
  }
}
template <class T>
std::vector<T> element_domain() {
  std::vector<T> out;
  for (std::uint64_t n = 0; n < 24; ++n) {
    if constexpr (std::is_same_v<T, std::string>) {
      out.push_back(n < 6 ? std::string(1, static_cast<char>('a' + n)) : "e" + std::to_string(n));
    } else {
      out.push_back(static_cast<T>(n));
    }
  }
  return out;
}

/// A map key: three of them.
template <class K>
K key(entropy& e) {
  const std::uint64_t n = e.below(3);
  if constexpr (std::is_same_v<K, std::string>) {
    return std::string(1, static_cast<char>('p' + n));
  } else {
    return static_cast<K>(n);
  }
}
template <class K>
std::vector<K> key_domain() {
  if constexpr (std::is_same_v<K, std::string>) {
    return {"p", "q", "r"};
  } else {
    return {0, 1, 2};
  }
}

template <class T>
std::string label(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else {
    return std::to_string(v);
  }
}

// ------------------------------------------------------------- composition

/// A composed state, as users write them: every field a lattice.
struct shop {
  BOOST_HANA_DEFINE_STRUCT(shop,
    (converge::pncounter, balance),
    (converge::or_set<std::string>, tags),
    (converge::lww_register<std::string>, name),
    (converge::bounded_counter, stock),
    (converge::or_map<std::string, converge::mv_register<std::string>>, settings),
    (converge::g_map<std::string, converge::gcounter>, visits));
  bool operator==(const shop&) const = default;
};

// -------------------------------------------------------------------- specs

/// For each type: `name()`, `causal` (forged dots could break convergence),
/// `op(T&, ctx&)` (one random mutator; returns its delta and records its
/// events), `check(const T&, const model&, path, err)` (queries against the
/// model).
template <class T>
struct spec;

inline void expect(std::string& err, bool holds, const std::string& what) {
  if (!holds && err.empty()) err = what;
}

template <>
struct spec<converge::gcounter> {
  using T = converge::gcounter;
  static std::string name() { return "gcounter"; }
  static constexpr bool causal = false;
  static T op(T& s, ctx& c) {
    const std::uint64_t n = amount(c.e);
    const std::uint64_t before = c.m.count(c.path, c.self, count_kind::inc);
    T d = s.increment(c.self, n);
    if (n != 0) c.set_count(count_kind::inc, before + n);
    c.expect(n != 0 || converge::is_bottom(d), "gcounter: increment(0) returned a non-bottom delta");
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const std::uint64_t want = sat(m.sum(path, count_kind::inc));
    expect(err, s.value() == want,
           "gcounter value " + std::to_string(s.value()) + " != sum of increments " + std::to_string(want));
    for (const auto& [k, v] : m.counts) {
      if (std::get<0>(k) == path && std::get<2>(k) == static_cast<int>(count_kind::inc)) {
        expect(err, s.count(replica_id{std::get<1>(k)}) == v, "gcounter count(r) != model");
      }
    }
  }
};

template <>
struct spec<converge::pncounter> {
  using T = converge::pncounter;
  static std::string name() { return "pncounter"; }
  static constexpr bool causal = false;
  static T op(T& s, ctx& c) {
    const std::uint64_t n = amount(c.e);
    const bool up = c.e.chance(1, 2);
    const count_kind k = up ? count_kind::inc : count_kind::dec;
    const std::uint64_t before = c.m.count(c.path, c.self, k);
    T d = up ? s.increment(c.self, n) : s.decrement(c.self, n);
    if (n != 0) c.set_count(k, before + n);
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const std::uint64_t p = sat(m.sum(path, count_kind::inc));
    const std::uint64_t n = sat(m.sum(path, count_kind::dec));
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    std::int64_t want = 0;
    if (p >= n) {
      want = p - n > max ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(p - n);
    } else {
      want = n - p > max ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(n - p);
    }
    expect(err, s.value() == want,
           "pncounter value " + std::to_string(s.value()) + " != increments - decrements " + std::to_string(want));
  }
};

template <>
struct spec<converge::bounded_counter> {
  using T = converge::bounded_counter;
  static std::string name() { return "bounded_counter"; }
  static constexpr bool causal = false;

  static u128 plus(const model& m, const std::string& path, std::uint64_t r) {
    return m.sum(path, count_kind::inc, r) + m.sum(path, count_kind::transfer, {}, r);
  }
  static u128 minus(const model& m, const std::string& path, std::uint64_t r) {
    return m.sum(path, count_kind::dec, r) + m.sum(path, count_kind::transfer, r);
  }
  /// rights(r) as the type defines it: saturated sides, clamped at 0.
  static std::uint64_t rights(const model& m, const std::string& path, std::uint64_t r) {
    const std::uint64_t p = sat(plus(m, path, r));
    const std::uint64_t q = sat(minus(m, path, r));
    return p > q ? p - q : 0;
  }

  static T op(T& s, ctx& c) {
    const std::uint64_t n = amount(c.e);
    switch (c.e.below(3)) {
      case 0: {
        const std::uint64_t before = c.m.count(c.path, c.self, count_kind::inc);
        T d = s.increment(c.self, n);
        if (n != 0) c.set_count(count_kind::inc, before + n);
        return d;
      }
      case 1: {
        const bool funded = rights(c.m, c.path, c.self.value()) >= n;
        const std::uint64_t before = c.m.count(c.path, c.self, count_kind::dec);
        std::optional<T> d = s.decrement(c.self, n);
        c.expect(d.has_value() == funded, "bounded_counter: decrement(" + std::to_string(n) + ") " +
                                              (d ? "succeeded" : "failed") + " but the model's rights are " +
                                              std::to_string(rights(c.m, c.path, c.self.value())));
        if (d && n != 0) c.set_count(count_kind::dec, before + n);
        return d.value_or(T{});
      }
      default: {
        const replica_id to{1 + c.e.below(4)};
        const bool funded = rights(c.m, c.path, c.self.value()) >= n;
        const std::uint64_t before = c.m.count(c.path, c.self, count_kind::transfer, to);
        std::optional<T> d = s.transfer(c.self, to, n);
        c.expect(d.has_value() == funded, "bounded_counter: transfer(" + std::to_string(n) + ") " +
                                              (d ? "succeeded" : "failed") + " but the model's rights are " +
                                              std::to_string(rights(c.m, c.path, c.self.value())));
        if (d && n != 0 && to != c.self) c.set_count(count_kind::transfer, before + n, to);
        return d.value_or(T{});
      }
    }
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const std::uint64_t p = sat(m.sum(path, count_kind::inc));
    const std::uint64_t q = sat(m.sum(path, count_kind::dec));
    const std::uint64_t want = p > q ? p - q : 0;
    expect(err, s.value() == want,
           "bounded_counter value " + std::to_string(s.value()) + " != model " + std::to_string(want));
    std::set<std::uint64_t> who{1, 2, 3, 4};
    for (const auto& [k, v] : m.counts) {
      if (std::get<0>(k) == path) {
        who.insert(std::get<1>(k));
        if (std::get<2>(k) == static_cast<int>(count_kind::transfer)) {
          who.insert(std::get<3>(k));
          expect(err, s.transferred(replica_id{std::get<1>(k)}, replica_id{std::get<3>(k)}) == v,
                 "bounded_counter transferred(from, to) != model");
        }
      }
    }
    for (const std::uint64_t r : who) {
      expect(err, s.rights(replica_id{r}) == rights(m, path, r),
             "bounded_counter rights(" + std::to_string(r) + ") = " + std::to_string(s.rights(replica_id{r})) +
                 " != model " + std::to_string(rights(m, path, r)));
    }
  }
  /// Escrow, on everything ever issued: no replica spent more rights than it
  /// was granted (exact arithmetic, no saturation).
  static void check_global(const model& all, const std::string& path, std::string& err) {
    std::set<std::uint64_t> who;
    for (const auto& [k, v] : all.counts) {
      if (std::get<0>(k) != path) continue;
      who.insert(std::get<1>(k));
      who.insert(std::get<3>(k));
    }
    for (const std::uint64_t r : who) {
      expect(err, minus(all, path, r) <= plus(all, path, r),
             "bounded_counter escrow: replica " + std::to_string(r) + " spent more rights than it was granted");
    }
  }
};

template <class E>
struct spec<converge::gset<E>> {
  using T = converge::gset<E>;
  static std::string name() { return "gset"; }
  static constexpr bool causal = false;
  static T op(T& s, ctx& c) {
    const E v = element<E>(c.e);
    T d = s.insert(v);
    c.expect(converge::is_bottom(d) == c.m.added.contains({c.path, label(v)}),
             "gset: insert returned bottom iff the element was present");
    // The delta carries the element only when it was new here.
    if (c.m.added.insert({c.path, label(v)}).second) c.dm.added.insert({c.path, label(v)});
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    std::size_t n = 0;
    for (const E& v : element_domain<E>()) {
      const bool want = m.added.contains({path, label(v)});
      n += want ? 1 : 0;
      expect(err, s.contains(v) == want, "gset contains(" + label(v) + ") != model");
    }
    expect(err, s.size() == n, "gset size != model");
  }
};

template <class E>
struct spec<converge::twop_set<E>> {
  using T = converge::twop_set<E>;
  static std::string name() { return "twop_set"; }
  static constexpr bool causal = false;
  static T op(T& s, ctx& c) {
    const E v = element<E>(c.e);
    const std::pair<std::string, std::string> k{c.path, label(v)};
    if (c.e.chance(2, 3)) {
      T d = s.insert(v);
      c.expect(converge::is_bottom(d) == (c.m.erased.contains(k) || c.m.added.contains(k)),
               "twop_set: insert is bottom iff live or erased");
      if (!c.m.erased.contains(k) && c.m.added.insert(k).second) c.dm.added.insert(k);
      return d;
    }
    T d = s.erase(v);
    c.expect(converge::is_bottom(d) == c.m.erased.contains(k), "twop_set: erase is bottom iff erased");
    if (c.m.erased.insert(k).second) c.dm.erased.insert(k);
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    std::size_t n = 0;
    for (const E& v : element_domain<E>()) {
      const std::pair<std::string, std::string> k{path, label(v)};
      const bool gone = m.erased.contains(k);
      const bool live = m.added.contains(k) && !gone;
      n += live ? 1 : 0;
      expect(err, s.contains(v) == live, "twop_set contains(" + label(v) + ") != model");
      expect(err, s.erased(v) == gone, "twop_set erased(" + label(v) + ") != model");
    }
    expect(err, s.size() == n, "twop_set size != model");
  }
};

template <class E>
struct spec<converge::lww_register<E>> {
  using T = converge::lww_register<E>;
  static std::string name() { return "lww_register"; }
  static constexpr bool causal = false;
  static T op(T& s, ctx& c) {
    E v{};
    if constexpr (std::is_same_v<E, std::string>) {
      v = std::string(1, static_cast<char>('a' + c.e.below(10)));
    } else {
      v = static_cast<E>(c.e.below(10));  // one digit: label order == value order
    }
    const std::uint64_t ts = c.e.chance(1, 8) ? u64_max - c.e.below(2) : c.e.below(6);
    const std::tuple<std::uint64_t, std::uint64_t, std::string> cand{ts, c.self.value(), label(v)};
    const auto it = c.m.lww.find(c.path);
    const bool wins = it == c.m.lww.end() || it->second < cand;
    T d = s.assign(c.self, v, ts);
    c.expect(converge::is_bottom(d) == !wins, "lww_register: assign is bottom iff it does not win");
    if (wins) {
      c.m.lww[c.path] = cand;
      c.dm.lww[c.path] = cand;
    }
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const auto it = m.lww.find(path);
    if (it == m.lww.end()) {
      expect(err, !s.value().has_value(), "lww_register assigned but the model has no assign");
      return;
    }
    const auto& [ts, w, l] = it->second;
    expect(err, s.value().has_value() && label(*s.value()) == l && s.timestamp() == ts && s.writer().value() == w,
           "lww_register value/timestamp/writer != the model's greatest assign");
  }
};

template <class E>
struct spec<converge::or_set<E>> {
  using T = converge::or_set<E>;
  static std::string name() { return "or_set"; }
  static constexpr bool causal = true;
  static T op(T& s, ctx& c) {
    const E v = element<E>(c.e);
    switch (c.e.below(6)) {
      case 0:
      case 1:
      case 2: {
        T d = s.insert(c.self, v);
        c.remove_at(label(v));
        c.add_dot(label(v));
        return d;
      }
      case 3:
      case 4: {
        T d = s.erase(v);
        c.remove_at(label(v));
        return d;
      }
      default: {
        T d = s.clear();
        c.remove_all_at();
        return d;
      }
    }
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const std::set<std::string> want = m.visible_labels_at(path);
    std::set<std::string> iterated;
    std::size_t steps = 0;
    for (const E& v : s) {
      iterated.insert(label(v));
      ++steps;
    }
    expect(err, iterated == want, "or_set elements != model (add-wins: an element is present iff an insert of it is "
                                  "not observed by any erase)");
    expect(err, steps == want.size() && s.size() == want.size(), "or_set size / iteration count != model");
    for (const E& v : element_domain<E>()) {
      expect(err, s.contains(v) == want.contains(label(v)), "or_set contains(" + label(v) + ") != model");
    }
  }
};

template <class E>
struct spec<converge::mv_register<E>> {
  using T = converge::mv_register<E>;
  static std::string name() { return "mv_register"; }
  static constexpr bool causal = true;
  static T op(T& s, ctx& c) {
    if (c.e.chance(1, 6)) {
      T d = s.reset();
      c.remove_all_at();
      return d;
    }
    const E v = element<E>(c.e);
    T d = s.assign(c.self, v);
    c.remove_all_at();
    c.add_dot(label(v));
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const std::vector<E> vs = s.values();
    std::set<std::string> got;
    for (const E& v : vs) got.insert(label(v));
    expect(err, got == m.visible_labels_at(path) && got.size() == vs.size(),
           "mv_register values != the model's concurrent (unobserved) assigns");
  }
};

template <>
struct spec<converge::ew_flag> {
  using T = converge::ew_flag;
  static std::string name() { return "ew_flag"; }
  static constexpr bool causal = true;
  static T op(T& s, ctx& c) {
    if (c.e.chance(1, 2)) {
      T d = s.enable(c.self);
      c.remove_all_at();
      c.add_dot("on");
      return d;
    }
    T d = s.disable();
    c.remove_all_at();
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    expect(err, s.value() == !m.visible_labels_at(path).empty(), "ew_flag value != model (enable wins)");
  }
};

template <>
struct spec<converge::dw_flag> {
  using T = converge::dw_flag;
  static std::string name() { return "dw_flag"; }
  static constexpr bool causal = true;
  static T op(T& s, ctx& c) {
    if (c.e.chance(1, 2)) {
      T d = s.disable(c.self);
      c.remove_all_at();
      c.add_dot("off");
      return d;
    }
    T d = s.enable();
    c.remove_all_at();
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    expect(err, s.value() == m.visible_labels_at(path).empty(), "dw_flag value != model (disable wins)");
  }
};

template <class K, class V>
struct spec<converge::g_map<K, V>> {
  using T = converge::g_map<K, V>;
  static std::string name() { return "g_map<" + spec<V>::name() + ">"; }
  static constexpr bool causal = spec<V>::causal;
  static T op(T& s, ctx& c) {
    const K k = key<K>(c.e);
    ctx sub = c.at(label(k));
    return s.update(k, [&](V& v) { return spec<V>::op(v, sub); });
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    for (const K& k : key_domain<K>()) {
      const V* v = s.find(k);
      expect(err, v == nullptr || !converge::is_bottom(*v), "g_map holds a bottom value");
      spec<V>::check(v != nullptr ? *v : V{}, m, path + label(k) + "/", err);
    }
  }
};

template <class K, class V>
struct spec<converge::or_map<K, V>> {
  using T = converge::or_map<K, V>;
  static std::string name() { return "or_map<" + spec<V>::name() + ">"; }
  static constexpr bool causal = true;
  static T op(T& s, ctx& c) {
    const K k = key<K>(c.e);
    switch (c.e.below(8)) {
      case 0: {
        T d = s.erase(k);
        c.remove_under(c.path + label(k) + "/");
        return d;
      }
      case 1: {
        T d = s.clear();
        c.remove_under(c.path);
        return d;
      }
      default: {
        ctx sub = c.at(label(k));
        return s.update(k, [&](V& v) { return spec<V>::op(v, sub); });
      }
    }
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    std::size_t present = 0;
    for (const K& k : key_domain<K>()) {
      const std::string sub = path + label(k) + "/";
      const bool want = m.any_visible_under(sub);
      const V* v = s.find(k);
      present += want ? 1 : 0;
      expect(err, (v != nullptr) == want,
             "or_map contains(" + label(k) + ") != model (a key is present while an update under it is unobserved)");
      if (v != nullptr) spec<V>::check(*v, m, sub, err);
    }
    expect(err, s.size() == present, "or_map size != model");
  }
};

template <>
struct spec<shop> {
  using T = shop;
  static std::string name() { return "shop (Hana struct)"; }
  static constexpr bool causal = true;
  static T op(T& s, ctx& c) {
    switch (c.e.below(6)) {
      case 0: {
        ctx sub = c.at("balance");
        return converge::update(s, &shop::balance, [&](auto& f) { return spec<converge::pncounter>::op(f, sub); });
      }
      case 1: {
        ctx sub = c.at("tags");
        return converge::update(s, &shop::tags,
                                [&](auto& f) { return spec<converge::or_set<std::string>>::op(f, sub); });
      }
      case 2: {
        ctx sub = c.at("name");
        return converge::update(s, &shop::name,
                                [&](auto& f) { return spec<converge::lww_register<std::string>>::op(f, sub); });
      }
      case 3: {
        ctx sub = c.at("stock");
        return converge::update(s, &shop::stock,
                                [&](auto& f) { return spec<converge::bounded_counter>::op(f, sub); });
      }
      case 4: {
        ctx sub = c.at("settings");
        return converge::update(s, &shop::settings, [&](auto& f) {
          return spec<converge::or_map<std::string, converge::mv_register<std::string>>>::op(f, sub);
        });
      }
      default: {
        ctx sub = c.at("visits");
        return converge::update(s, &shop::visits, [&](auto& f) {
          return spec<converge::g_map<std::string, converge::gcounter>>::op(f, sub);
        });
      }
    }
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    spec<converge::pncounter>::check(s.balance, m, path + "balance/", err);
    spec<converge::or_set<std::string>>::check(s.tags, m, path + "tags/", err);
    spec<converge::lww_register<std::string>>::check(s.name, m, path + "name/", err);
    spec<converge::bounded_counter>::check(s.stock, m, path + "stock/", err);
    spec<converge::or_map<std::string, converge::mv_register<std::string>>>::check(s.settings, m, path + "settings/",
                                                                                  err);
    spec<converge::g_map<std::string, converge::gcounter>>::check(s.visits, m, path + "visits/", err);
  }
  static void check_global(const model& all, const std::string& path, std::string& err) {
    spec<converge::bounded_counter>::check_global(all, path + "stock/", err);
  }
};

/// Runs one random mutator of `T` on `s`. An `std::overflow_error` (a
/// counter past UINT64_MAX) must leave the state unchanged; the delta is then
/// bottom and nothing is recorded.
template <class T>
T apply_op(T& s, ctx& c) {
  const T before = s;
  try {
    return spec<T>::op(s, c);
  } catch (const std::overflow_error& ex) {
    c.expect(s == before, std::string("an operation threw overflow_error but changed the state: ") + ex.what());
    return T{};
  }
}

/// One random mutator without a model (for the replicator and the law checker).
template <class T>
T plain_op(T& s, replica_id self, entropy& e) {
  model m, dm;
  std::uint64_t ids = 0;
  ctx c{self, e, m, dm, ids, nullptr, ""};
  return apply_op(s, c);
}

/// Every type of the catalog, one entry per leading-byte value (mod size).
using catalog = type_list<
    converge::gcounter, converge::pncounter, converge::bounded_counter, converge::gset<int>,
    converge::twop_set<int>, converge::or_set<int>, converge::lww_register<int>, converge::mv_register<int>,
    converge::ew_flag, converge::dw_flag, converge::g_map<std::string, converge::pncounter>,
    converge::or_map<int, converge::or_set<int>>,
    converge::or_map<std::string, converge::or_map<int, converge::mv_register<int>>>, shop,
    converge::or_set<std::string>, converge::or_map<int, converge::ew_flag>>;

}  // namespace converge_fuzz

namespace converge_fuzz {

/// What fuzz_decode decodes: the catalog, string and 64-bit variants, and
/// floating point elements (NaN is a value a hostile peer can send).
using decode_catalog = type_list<
    converge::gcounter, converge::pncounter, converge::bounded_counter, converge::gset<int>,
    converge::twop_set<int>, converge::or_set<int>, converge::lww_register<int>, converge::mv_register<int>,
    converge::ew_flag, converge::dw_flag, converge::g_map<std::string, converge::pncounter>,
    converge::or_map<int, converge::or_set<int>>,
    converge::or_map<std::string, converge::or_map<int, converge::mv_register<int>>>, shop,
    converge::or_set<std::string>, converge::or_map<int, converge::ew_flag>, converge::gset<std::string>,
    converge::gset<std::uint64_t>, converge::twop_set<std::string>, converge::lww_register<std::string>,
    converge::mv_register<std::string>, converge::g_map<std::string, converge::gcounter>,
    converge::or_map<std::string, converge::mv_register<std::string>>, converge::gset<double>>;

}  // namespace converge_fuzz
