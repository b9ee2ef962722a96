#pragma once
/// @file
/// The catalog of random operations: for every converge type, and for every
/// Hana struct of them, one random local mutator drawn from an `entropy`.
/// The fuzzers, the wire tests, the simulator's workloads and law checks
/// all draw their operations here.
///
/// An operation is a *command* — what to do, drawn first, from the entropy
/// alone — then *applied* to a state:
/// @code
///   using ops = converge::testing::operations<converge::or_set<int>>;
///   ops::command c = ops::draw(e);        // e.g. {insert, 3}
///   converge::or_set<int> d = ops::apply(s, self, c);   // its delta
///   // or both at once, as a converge::testing::operation<T>:
///   d = converge::testing::random_op(s, self, e);
/// @endcode
/// Draws never depend on the state, so a model (the fuzzers' reference
/// model) can look at the command before and after it is applied.
///
/// A *domain* (the second parameter) says which values are drawn and how
/// often each mutator is: `collisions`, the default, draws from small sets so
/// that replicas collide, with amounts near UINT64_MAX now and then (the
/// fuzzers' byte-for-byte choices: changing it changes what every corpus
/// input means). A domain is a struct with the static members of
/// `collisions`; derive from it to change some.

#include "converge/bounded_counter.hpp"
#include "converge/dw_flag.hpp"
#include "converge/ew_flag.hpp"
#include "converge/g_map.hpp"
#include "converge/gcounter.hpp"
#include "converge/gset.hpp"
#include "converge/lattice.hpp"
#include "converge/lww_register.hpp"
#include "converge/mv_register.hpp"
#include "converge/or_map.hpp"
#include "converge/or_set.hpp"
#include "converge/pncounter.hpp"
#include "converge/replica_id.hpp"
#include "converge/testing/entropy.hpp"
#include "converge/twop_set.hpp"

#include <boost/hana/accessors.hpp>
#include <boost/hana/at.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/second.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge::testing {

/// The default domain: small element and key sets (replicas collide), edge
/// amounts, and the weights of each type's mutators, in the order of the
/// type's `kind` (or `bool`: the first weight is `true`).
struct collisions {
  static constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

  /// An amount: mostly small, sometimes 0 or near UINT64_MAX (overflow paths).
  static std::uint64_t amount(entropy& e) {
    switch (e.below(16)) {
      case 0:
        return 0;
      case 1:
        return u64_max - e.below(3);
      case 2:
        return std::uint64_t{1} << 63;
      default:
        return 1 + e.below(8);
    }
  }
  /// The `n`-th element of the element domain.
  template <class T>
  static T element_at(std::uint64_t n) {
    if constexpr (std::is_same_v<T, std::string>) {
      return n < 6 ? std::string(1, static_cast<char>('a' + n)) : "e" + std::to_string(n);
    } else {
      return static_cast<T>(n);
    }
  }
  /// An element: from a small domain (so replicas collide), sometimes a wider
  /// one (so stores grow past their small-size thresholds).
  template <class T>
  static T element(entropy& e) {
    const std::uint64_t n = e.chance(1, 4) ? e.below(24) : e.below(6);
    return element_at<T>(n);
  }
  /// Every element `element` can draw.
  template <class T>
  static std::vector<T> elements() {
    std::vector<T> out;
    for (std::uint64_t n = 0; n < 24; ++n) out.push_back(element_at<T>(n));
    return out;
  }
  /// A map key: one of three.
  template <class K>
  static K key(entropy& e) {
    const std::uint64_t n = e.below(3);
    if constexpr (std::is_same_v<K, std::string>) {
      return std::string(1, static_cast<char>('p' + n));
    } else {
      return static_cast<K>(n);
    }
  }
  /// Every key `key` can draw.
  template <class K>
  static std::vector<K> keys() {
    if constexpr (std::is_same_v<K, std::string>) {
      return {"p", "q", "r"};
    } else {
      return {0, 1, 2};
    }
  }
  /// A register value: one of ten, whose text order is their value order.
  template <class T>
  static T value(entropy& e) {
    if constexpr (std::is_same_v<T, std::string>) {
      return std::string(1, static_cast<char>('a' + e.below(10)));
    } else {
      return static_cast<T>(e.below(10));
    }
  }
  /// An lww timestamp: small (ties), sometimes the largest.
  static std::uint64_t timestamp(entropy& e) { return e.chance(1, 8) ? u64_max - e.below(2) : e.below(6); }
  /// The receiver of a bounded_counter transfer.
  static replica_id peer(entropy& e) { return replica_id{1 + e.below(4)}; }

  static constexpr std::array<std::uint64_t, 2> pncounter_weights{1, 1};  ///< increment, decrement
  static constexpr std::array<std::uint64_t, 3> bounded_counter_weights{
      1, 1, 1};                                                           ///< increment, decrement, transfer
  static constexpr std::array<std::uint64_t, 2> twop_set_weights{2, 1};   ///< insert, erase
  static constexpr std::array<std::uint64_t, 3> or_set_weights{3, 2, 1};  ///< insert, erase, clear
  static constexpr std::array<std::uint64_t, 2> mv_register_weights{1, 5};  ///< reset, assign
  static constexpr std::array<std::uint64_t, 2> flag_weights{1, 1};         ///< the winning side, the other
  static constexpr std::array<std::uint64_t, 3> or_map_weights{1, 1, 6};    ///< erase, clear, update
};

/// The random operations of `T` in domain `D`: `command`, `draw(entropy&)`
/// and `apply(T&, replica_id, const command&)` returning the delta.
template <class T, class D = collisions>
struct operations;

template <class D>
struct operations<gcounter, D> {
  struct command {
    std::uint64_t n = 0;
  };
  static command draw(entropy& e) { return {D::amount(e)}; }
  static gcounter apply(gcounter& s, replica_id self, const command& c) { return s.increment(self, c.n); }
};

template <class D>
struct operations<pncounter, D> {
  struct command {
    std::uint64_t n = 0;
    bool up = true;
  };
  static command draw(entropy& e) {
    const std::uint64_t n = D::amount(e);
    return {n, e.weighted(D::pncounter_weights) == 0};
  }
  static pncounter apply(pncounter& s, replica_id self, const command& c) {
    return c.up ? s.increment(self, c.n) : s.decrement(self, c.n);
  }
};

template <class D>
struct operations<bounded_counter, D> {
  enum class kind { increment, decrement, transfer };
  struct command {
    kind what = kind::increment;
    std::uint64_t n = 0;
    replica_id to{};  ///< for a transfer
  };
  static command draw(entropy& e) {
    command c;
    c.n = D::amount(e);
    c.what = static_cast<kind>(e.weighted(D::bounded_counter_weights));
    if (c.what == kind::transfer) c.to = D::peer(e);
    return c;
  }
  /// The delta, or nullopt when `self` lacks the rights (which changes nothing).
  static std::optional<bounded_counter> try_apply(bounded_counter& s, replica_id self, const command& c) {
    switch (c.what) {
      case kind::increment:
        return s.increment(self, c.n);
      case kind::decrement:
        return s.decrement(self, c.n);
      default:
        return s.transfer(self, c.to, c.n);
    }
  }
  static bounded_counter apply(bounded_counter& s, replica_id self, const command& c) {
    return try_apply(s, self, c).value_or(bounded_counter{});
  }
};

template <class E, class D>
struct operations<gset<E>, D> {
  struct command {
    E v{};
  };
  static command draw(entropy& e) { return {D::template element<E>(e)}; }
  static gset<E> apply(gset<E>& s, replica_id, const command& c) { return s.insert(c.v); }
};

template <class E, class D>
struct operations<twop_set<E>, D> {
  struct command {
    E v{};
    bool insert = true;  ///< else erase
  };
  static command draw(entropy& e) {
    E v = D::template element<E>(e);
    return {std::move(v), e.weighted(D::twop_set_weights) == 0};
  }
  static twop_set<E> apply(twop_set<E>& s, replica_id, const command& c) {
    return c.insert ? s.insert(c.v) : s.erase(c.v);
  }
};

template <class E, class D>
struct operations<lww_register<E>, D> {
  struct command {
    E v{};
    std::uint64_t timestamp = 0;
  };
  static command draw(entropy& e) {
    E v = D::template value<E>(e);
    return {std::move(v), D::timestamp(e)};
  }
  static lww_register<E> apply(lww_register<E>& s, replica_id self, const command& c) {
    return s.assign(self, c.v, c.timestamp);
  }
};

template <class E, class D>
struct operations<or_set<E>, D> {
  enum class kind { insert, erase, clear };
  struct command {
    E v{};
    kind what = kind::insert;
  };
  static command draw(entropy& e) {
    E v = D::template element<E>(e);
    return {std::move(v), static_cast<kind>(e.weighted(D::or_set_weights))};
  }
  static or_set<E> apply(or_set<E>& s, replica_id self, const command& c) {
    switch (c.what) {
      case kind::insert:
        return s.insert(self, c.v);
      case kind::erase:
        return s.erase(c.v);
      default:
        return s.clear();
    }
  }
};

template <class E, class D>
struct operations<mv_register<E>, D> {
  struct command {
    bool reset = false;
    E v{};  ///< unless reset
  };
  static command draw(entropy& e) {
    command c;
    c.reset = e.weighted(D::mv_register_weights) == 0;
    if (!c.reset) c.v = D::template element<E>(e);
    return c;
  }
  static mv_register<E> apply(mv_register<E>& s, replica_id self, const command& c) {
    return c.reset ? s.reset() : s.assign(self, c.v);
  }
};

/// ew_flag and dw_flag: the winning side (enable, disable) takes the
/// replica; the other side removes what it observed.
template <class F, class D>
requires std::same_as<F, ew_flag> || std::same_as<F, dw_flag>
struct operations<F, D> {
  static constexpr bool enable_wins = std::same_as<F, ew_flag>;
  struct command {
    bool wins = true;  ///< the winning side (ew_flag: enable, dw_flag: disable), else the other
  };
  static command draw(entropy& e) { return {e.weighted(D::flag_weights) == 0}; }
  static F apply(F& s, replica_id self, const command& c) {
    if constexpr (enable_wins) {
      return c.wins ? s.enable(self) : s.disable();
    } else {
      return c.wins ? s.disable(self) : s.enable();
    }
  }
};

template <class K, class V, class D>
struct operations<g_map<K, V>, D> {
  struct command {
    K key{};
    typename operations<V, D>::command sub{};  ///< the operation on the key's value
  };
  static command draw(entropy& e) {
    K k = D::template key<K>(e);
    return {std::move(k), operations<V, D>::draw(e)};
  }
  static g_map<K, V> apply(g_map<K, V>& s, replica_id self, const command& c) {
    return s.update(c.key, [&](V& v) { return operations<V, D>::apply(v, self, c.sub); });
  }
};

template <class K, class V, class D>
struct operations<or_map<K, V>, D> {
  enum class kind { erase, clear, update };
  struct command {
    K key{};
    kind what = kind::update;
    typename operations<V, D>::command sub{};  ///< for an update
  };
  static command draw(entropy& e) {
    command c;
    c.key = D::template key<K>(e);
    c.what = static_cast<kind>(e.weighted(D::or_map_weights));
    if (c.what == kind::update) c.sub = operations<V, D>::draw(e);
    return c;
  }
  static or_map<K, V> apply(or_map<K, V>& s, replica_id self, const command& c) {
    switch (c.what) {
      case kind::erase:
        return s.erase(c.key);
      case kind::clear:
        return s.clear();
      default:
        return s.update(c.key, [&](V& v) { return operations<V, D>::apply(v, self, c.sub); });
    }
  }
};

namespace detail {

template <class S, std::size_t I>
using field_type = std::remove_cvref_t<decltype(boost::hana::second(
    boost::hana::at_c<I>(boost::hana::accessors<S>()))(std::declval<S&>()))>;

template <class S, class D, class Seq>
struct field_commands;
template <class S, class D, std::size_t... I>
struct field_commands<S, D, std::index_sequence<I...>> {
  using type = std::tuple<typename operations<field_type<S, I>, D>::command...>;
};

}  // namespace detail

/// A Hana struct of lattices: one random field (uniformly, in declaration
/// order), then one random operation of that field.
template <class S, class D>
requires converge::detail::hana_struct<S>
struct operations<S, D> {
  static constexpr std::size_t fields = decltype(boost::hana::length(boost::hana::accessors<S>()))::value;
  using indices = std::make_index_sequence<fields>;
  struct command {
    std::size_t field = 0;
    typename detail::field_commands<S, D, indices>::type sub{};  ///< only `field`'s is drawn
  };
  /// Calls `f(std::integral_constant<std::size_t, I>{})` for I == `field`.
  template <class F>
  static decltype(auto) visit(std::size_t field, F&& f) {
    return [&]<std::size_t... I>(std::index_sequence<I...>)->decltype(auto) {
      using result = decltype(f(std::integral_constant<std::size_t, 0>{}));
      if constexpr (std::is_void_v<result>) {
        (void)((field == I ? (f(std::integral_constant<std::size_t, I>{}), true) : false) || ...);
      } else {
        std::optional<result> out;
        (void)((field == I ? (out.emplace(f(std::integral_constant<std::size_t, I>{})), true) : false) ||
               ...);
        return result(std::move(*out));
      }
    }
    (indices{});
  }
  /// Field `I` of `s` (an `S` or a `const S`).
  template <std::size_t I, class X>
  static auto& field(X& s) {
    return boost::hana::second(boost::hana::at_c<I>(boost::hana::accessors<S>()))(s);
  }
  static command draw(entropy& e) {
    command c;
    c.field = static_cast<std::size_t>(e.below(fields));
    visit(c.field, [&](auto i) {
      constexpr std::size_t I = decltype(i)::value;
      std::get<I>(c.sub) = operations<detail::field_type<S, I>, D>::draw(e);
    });
    return c;
  }
  static S apply(S& s, replica_id self, const command& c) {
    return visit(c.field, [&](auto i) {
      constexpr std::size_t I = decltype(i)::value;
      S delta{};
      field<I>(delta) = operations<detail::field_type<S, I>, D>::apply(field<I>(s), self, std::get<I>(c.sub));
      return delta;
    });
  }
};

/// One random operation of `T` in domain `D` on `s` as replica `self`; its
/// delta. An operation refused with `std::overflow_error` (a counter past
/// UINT64_MAX) leaves `s` unchanged and gives bottom.
template <class T, class D = collisions>
T random_op(T& s, replica_id self, entropy& e) {
  const typename operations<T, D>::command c = operations<T, D>::draw(e);
  try {
    return operations<T, D>::apply(s, self, c);
  } catch (const std::overflow_error&) {
    return T{};
  }
}

/// A random state and a random delta of `T`: three replicas (ids 1..3) take
/// `steps` random operations, and each delta reaches each other replica with
/// probability 1/2; returns a random replica's state and the last delta (so
/// contexts get clouds, maps nested values, ...).
template <class T, class D = collisions>
std::pair<T, T> random_state_and_delta(entropy& e, int steps) {
  T replicas[3];
  T last{};
  for (int k = 0; k < steps; ++k) {
    const auto who = static_cast<std::size_t>(e.below(3));
    last = random_op<T, D>(replicas[who], replica_id{who + 1}, e);
    for (std::size_t other = 0; other < 3; ++other) {
      if (other != who && e.chance(1, 2)) converge::join_into(replicas[other], last);
    }
  }
  return {replicas[e.below(3)], last};
}

}  // namespace converge::testing
