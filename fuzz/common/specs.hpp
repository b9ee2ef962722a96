#pragma once
// For each type of the fuzz catalogs, `spec<T>`: the reference model's side
// of the catalog's random operations (converge/testing/operations.hpp, the
// default `collisions` domain, whose draws are what the corpus inputs mean).
//  - `name()`; `causal` (forged dots could break convergence);
//  - `run(T&, ctx&, command)`: applies the command like the catalog does,
//    records its events in the model and checks what the mutator returned;
//    `op(T&, ctx&)` draws the command from the context's entropy first;
//  - `check(const T&, const model&, path, err)`: the queries against the model;
//  - `check_global(model, path, err)` where a type has a law over every event.
// Hana structs get theirs field by field.

#include <converge/converge.hpp>
#include <converge/testing/operations.hpp>

#include <boost/hana/accessors.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/string.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "model.hpp"

namespace converge_fuzz {

using converge::testing::collisions;
template <class T>
using ops = converge::testing::operations<T>;

template <class T>
struct spec;

template <>
struct spec<converge::gcounter> {
  using T = converge::gcounter;
  static std::string name() { return "gcounter"; }
  static constexpr bool causal = false;
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    const std::uint64_t n = cmd.n;
    const std::uint64_t before = c.m.count(c.path, c.self, count_kind::inc);
    T d = ops<T>::apply(s, c.self, cmd);
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
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    const count_kind k = cmd.up ? count_kind::inc : count_kind::dec;
    const std::uint64_t before = c.m.count(c.path, c.self, k);
    T d = ops<T>::apply(s, c.self, cmd);
    if (cmd.n != 0) c.set_count(k, before + cmd.n);
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
           "pncounter value " + std::to_string(s.value()) + " != increments - decrements " +
               std::to_string(want));
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

  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    using kind = typename ops<T>::kind;
    const std::uint64_t n = cmd.n;
    if (cmd.what == kind::increment) {
      const std::uint64_t before = c.m.count(c.path, c.self, count_kind::inc);
      T d = ops<T>::apply(s, c.self, cmd);
      if (n != 0) c.set_count(count_kind::inc, before + n);
      return d;
    }
    const bool transfer = cmd.what == kind::transfer;
    const count_kind k = transfer ? count_kind::transfer : count_kind::dec;
    const replica_id to = transfer ? cmd.to : replica_id{};
    const bool funded = rights(c.m, c.path, c.self.value()) >= n;
    const std::uint64_t before = c.m.count(c.path, c.self, k, to);
    std::optional<T> d = ops<T>::try_apply(s, c.self, cmd);
    c.expect(d.has_value() == funded, std::string("bounded_counter: ") +
                                          (transfer ? "transfer(" : "decrement(") + std::to_string(n) + ") " +
                                          (d ? "succeeded" : "failed") + " but the model's rights are " +
                                          std::to_string(rights(c.m, c.path, c.self.value())));
    if (d && n != 0 && (!transfer || to != c.self)) c.set_count(k, before + n, to);
    return d.value_or(T{});
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
             "bounded_counter rights(" + std::to_string(r) + ") = " +
                 std::to_string(s.rights(replica_id{r})) + " != model " + std::to_string(rights(m, path, r)));
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
      expect(
          err, minus(all, path, r) <= plus(all, path, r),
          "bounded_counter escrow: replica " + std::to_string(r) + " spent more rights than it was granted");
    }
  }
};

template <class E>
struct spec<converge::gset<E>> {
  using T = converge::gset<E>;
  static std::string name() { return "gset"; }
  static constexpr bool causal = false;
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    const std::string v = label(cmd.v);
    T d = ops<T>::apply(s, c.self, cmd);
    c.expect(converge::is_bottom(d) == c.m.added.contains({c.path, v}),
             "gset: insert returned bottom iff the element was present");
    // The delta carries the element only when it was new here.
    if (c.m.added.insert({c.path, v}).second) c.dm.added.insert({c.path, v});
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    std::size_t n = 0;
    for (const E& v : collisions::elements<E>()) {
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
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    const std::pair<std::string, std::string> k{c.path, label(cmd.v)};
    T d = ops<T>::apply(s, c.self, cmd);
    if (cmd.insert) {
      c.expect(converge::is_bottom(d) == (c.m.erased.contains(k) || c.m.added.contains(k)),
               "twop_set: insert is bottom iff live or erased");
      if (!c.m.erased.contains(k) && c.m.added.insert(k).second) c.dm.added.insert(k);
      return d;
    }
    c.expect(converge::is_bottom(d) == c.m.erased.contains(k), "twop_set: erase is bottom iff erased");
    if (c.m.erased.insert(k).second) c.dm.erased.insert(k);
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    std::size_t n = 0;
    for (const E& v : collisions::elements<E>()) {
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
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    const std::tuple<std::uint64_t, std::uint64_t, std::string> cand{cmd.timestamp, c.self.value(),
                                                                     label(cmd.v)};
    const auto it = c.m.lww.find(c.path);
    const bool wins = it == c.m.lww.end() || it->second < cand;
    T d = ops<T>::apply(s, c.self, cmd);
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
    expect(err,
           s.value().has_value() && label(*s.value()) == l && s.timestamp() == ts && s.writer().value() == w,
           "lww_register value/timestamp/writer != the model's greatest assign");
  }
};

template <class E>
struct spec<converge::or_set<E>> {
  using T = converge::or_set<E>;
  static std::string name() { return "or_set"; }
  static constexpr bool causal = true;
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    using kind = typename ops<T>::kind;
    T d = ops<T>::apply(s, c.self, cmd);
    if (cmd.what == kind::clear) {
      c.remove_all_at();
      return d;
    }
    c.remove_at(label(cmd.v));
    if (cmd.what == kind::insert) c.add_dot(label(cmd.v));
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const std::set<std::string> want = m.visible_labels_at(path);
    std::set<std::string> iterated;
    std::size_t steps = 0;
    for (const E& v : s) {
      iterated.insert(label(v));
      ++steps;
    }
    expect(err, iterated == want,
           "or_set elements != model (add-wins: an element is present iff an insert of it is "
           "not observed by any erase)");
    expect(err, steps == want.size() && s.size() == want.size(), "or_set size / iteration count != model");
    for (const E& v : collisions::elements<E>()) {
      expect(err, s.contains(v) == want.contains(label(v)), "or_set contains(" + label(v) + ") != model");
    }
  }
};

template <class E>
struct spec<converge::mv_register<E>> {
  using T = converge::mv_register<E>;
  static std::string name() { return "mv_register"; }
  static constexpr bool causal = true;
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    T d = ops<T>::apply(s, c.self, cmd);
    c.remove_all_at();
    if (!cmd.reset) c.add_dot(label(cmd.v));
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

template <class F>
requires std::same_as<F, converge::ew_flag> || std::same_as<F, converge::dw_flag>
struct spec<F> {
  using T = F;
  static constexpr bool enable_wins = ops<T>::enable_wins;
  static std::string name() { return enable_wins ? "ew_flag" : "dw_flag"; }
  static constexpr bool causal = true;
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    T d = ops<T>::apply(s, c.self, cmd);
    c.remove_all_at();
    if (cmd.wins) c.add_dot(enable_wins ? "on" : "off");
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    const bool winner_visible = !m.visible_labels_at(path).empty();
    expect(err, s.value() == (enable_wins == winner_visible),
           name() + " value != model (" + (enable_wins ? "enable" : "disable") + " wins)");
  }
};

template <class K, class V>
struct spec<converge::g_map<K, V>> {
  using T = converge::g_map<K, V>;
  static std::string name() { return "g_map<" + spec<V>::name() + ">"; }
  static constexpr bool causal = spec<V>::causal;
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    ctx sub = c.at(label(cmd.key));
    return s.update(cmd.key, [&](V& v) { return spec<V>::run(v, sub, cmd.sub); });
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    for (const K& k : collisions::keys<K>()) {
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
  using command = typename ops<T>::command;
  static T run(T& s, ctx& c, const command& cmd) {
    using kind = typename ops<T>::kind;
    if (cmd.what == kind::update) {
      ctx sub = c.at(label(cmd.key));
      return s.update(cmd.key, [&](V& v) { return spec<V>::run(v, sub, cmd.sub); });
    }
    T d = ops<T>::apply(s, c.self, cmd);
    c.remove_under(cmd.what == kind::erase ? c.path + label(cmd.key) + "/" : c.path);
    return d;
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    std::size_t present = 0;
    for (const K& k : collisions::keys<K>()) {
      const std::string sub = path + label(k) + "/";
      const bool want = m.any_visible_under(sub);
      const V* v = s.find(k);
      present += want ? 1 : 0;
      expect(err, (v != nullptr) == want,
             "or_map contains(" + label(k) +
                 ") != model (a key is present while an update under it is unobserved)");
      if (v != nullptr) spec<V>::check(*v, m, sub, err);
    }
    expect(err, s.size() == present, "or_map size != model");
  }
};

/// A Hana struct: a random field, with the field's name in the model's paths.
template <class S>
requires converge::detail::hana_struct<S>
struct spec<S> {
  using T = S;
  using command = typename ops<T>::command;
  static std::string name() { return "Hana struct"; }
  static constexpr bool causal = true;
  static T run(T& s, ctx& c, const command& cmd) {
    return ops<T>::visit(cmd.field, [&](auto i) {
      constexpr std::size_t I = decltype(i)::value;
      using F = converge::testing::detail::field_type<T, I>;
      ctx sub = c.at(field_name<I>());
      T delta{};
      ops<T>::template field<I>(delta) =
          spec<F>::run(ops<T>::template field<I>(s), sub, std::get<I>(cmd.sub));
      return delta;
    });
  }
  static void check(const T& s, const model& m, const std::string& path, std::string& err) {
    each_field([&]<std::size_t I, class F>() {
      spec<F>::check(ops<T>::template field<I>(s), m, path + field_name<I>() + "/", err);
    });
  }
  static void check_global(const model& all, const std::string& path, std::string& err) {
    each_field([&]<std::size_t I, class F>() {
      if constexpr (requires { spec<F>::check_global(all, path, err); }) {
        spec<F>::check_global(all, path + field_name<I>() + "/", err);
      }
    });
  }

 private:
  template <std::size_t I>
  static std::string field_name() {
    return boost::hana::to<const char*>(
        boost::hana::first(boost::hana::at_c<I>(boost::hana::accessors<T>())));
  }
  template <class F>
  static void each_field(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f.template operator()<I, converge::testing::detail::field_type<T, I>>(), ...);
    }
    (typename ops<T>::indices{});
  }
};

/// Runs one random mutator of `T` on `s`, recording it in the model. An
/// `std::overflow_error` (a counter past UINT64_MAX) must leave the state
/// unchanged; the delta is then bottom and nothing is recorded.
template <class T>
T apply_op(T& s, ctx& c) {
  const typename ops<T>::command cmd = ops<T>::draw(c.e);
  const T before = s;
  try {
    return spec<T>::run(s, c, cmd);
  } catch (const std::overflow_error& ex) {
    c.expect(s == before,
             std::string("an operation threw overflow_error but changed the state: ") + ex.what());
    return T{};
  }
}

/// One random mutator without a model (for the replicator and the law
/// checker): the catalog's.
template <class T>
T plain_op(T& s, replica_id self, entropy& e) {
  return converge::testing::random_op<T>(s, self, e);
}

}  // namespace converge_fuzz
