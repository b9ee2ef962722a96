#pragma once
/// @file
/// The lattice concepts, and join / order / reduction for every lattice,
/// including structs of lattices declared with BOOST_HANA_DEFINE_STRUCT.
///
/// # `converge::lattice<T>`
/// A join-semilattice whose states can be compared and copied.
///
/// Minimal complete definition: `T{}` is bottom; `==` compares states; and
/// either a member `void join(const T&)` that joins in place (and is a no-op
/// when the argument is `*this`), or `T` is a Hana struct whose members are
/// all lattices (then everything comes field by field).
///
/// Laws, for all states `x`, `y`, `z`:
/// @code
///   join(x, x) == x                              // idempotent
///   join(x, y) == join(y, x)                     // commutative
///   join(join(x, y), z) == join(x, join(y, z))   // associative
///   join(x, T{}) == x                            // bottom is the identity
/// @endcode
///
/// # `converge::delta_lattice<T>`
/// A lattice whose mutators return deltas of the same type `T`. For every
/// mutator `m`:
/// @code
///   T old = x;  T d = x.m(args...);  assert(join(old, d) == x);
/// @endcode
/// and `d` is proportional to the change, not to the state. Deltas are
/// ordinary states, so they join into groups (`join(d1, d2)`) and travel as
/// any state does.
///
/// Models: every class of the catalog (gcounter, pncounter, bounded_counter,
/// gset, twop_set, or_set, lww_register, mv_register, ew_flag, dw_flag, g_map,
/// or_map) and every Hana struct of models.
///
/// > Rationale: deltas are states, not operations. That is what lets a delta
/// > be lost, duplicated, reordered or merged with others and still be safe
/// > to join — the whole point of delta-state CRDTs.

#include <boost/hana/accessors.hpp>
#include <boost/hana/concept/struct.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/members.hpp>
#include <boost/hana/pair.hpp>
#include <boost/hana/tuple.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge {

namespace detail {

template <class T>
concept joins_in_place = requires(T& x, const T& y) {
  x.join(y);
};

template <class T>
concept hana_struct = boost::hana::Struct<T>::value;

template <class T>
constexpr bool members_are_lattices();

}  // namespace detail

/// A join-semilattice with bottom `T{}` and equality; see the file comment.
template <class T>
concept lattice = std::default_initializable<T> && std::copyable<T> && std::equality_comparable<T> &&
    (detail::joins_in_place<T> || detail::members_are_lattices<T>());

namespace detail {

template <class T>
using member_types = decltype(boost::hana::members(std::declval<const T&>()));

template <class T>
constexpr bool members_are_lattices() {
  if constexpr (!hana_struct<T>) {
    return false;
  } else {
    return []<class... M>(std::type_identity<boost::hana::tuple<M...>>) {
      return (lattice<std::remove_cvref_t<M>> && ...);
    }(std::type_identity<member_types<T>>{});
  }
}

/// Instantiated once per member of a Hana struct used as a lattice, so that a
/// member that is not a lattice is named in the compiler's error.
template <class Member>
struct member_must_be_a_lattice {
  static_assert(std::equality_comparable<Member>,
                "converge: every member of a composed struct must be equality comparable (see Member above)");
  static_assert(lattice<Member>,
                "converge: every member of a composed struct must model converge::lattice "
                "(T{} is bottom, ==, and a join); the offending type is Member above");
  static constexpr bool value = true;
};

template <class T>
constexpr bool check_composed() {
  static_assert(std::equality_comparable<T>,
                "converge: a composed struct needs `bool operator==(const S&) const = default;`");
  return []<class... M>(std::type_identity<boost::hana::tuple<M...>>) {
    return (member_must_be_a_lattice<std::remove_cvref_t<M>>::value && ...);
  }(std::type_identity<member_types<T>>{});
}

/// Calls `f(getter)` for each field of Hana struct `T`, where `getter(obj)`
/// returns that field of `obj`; `x` only names the type.
template <class T, class F>
constexpr void for_each_field([[maybe_unused]] T& x, F&& f) {
  boost::hana::for_each(boost::hana::accessors<std::remove_const_t<T>>(),
                        [&](auto accessor) { f(boost::hana::second(accessor)); });
}

}  // namespace detail

/// Joins `y` into `x` in place. Valid when `y` is `x` itself.
template <class T>
requires lattice<T> || detail::hana_struct<T>
constexpr void join_into(T& x, const T& y) {
  if constexpr (detail::joins_in_place<T>) {
    x.join(y);
  } else {
    static_assert(detail::check_composed<T>());
    detail::for_each_field(x, [&](auto get) { join_into(get(x), get(y)); });
  }
}

/// Returns the join (least upper bound) of two states.
template <class T>
requires lattice<T> || detail::hana_struct<T>
[[nodiscard]] constexpr T join(T x, const T& y) {
  join_into(x, y);
  return x;
}

/// True when `x` is bottom (the empty state).
template <lattice T>
[[nodiscard]] bool is_bottom(const T& x) {
  if constexpr (requires { x.empty(); } && !detail::hana_struct<T>) {
    return x.empty();
  } else {
    return x == T{};
  }
}

/// The lattice order: true when `x` is included in `y` (`join(x, y) == y`).
template <lattice T>
[[nodiscard]] bool leq(const T& x, const T& y) {
  if constexpr (requires { x.leq(y); }) {
    return x.leq(y);
  } else if constexpr (detail::hana_struct<T> && !detail::joins_in_place<T>) {
    bool all = true;
    detail::for_each_field(x, [&](auto get) { all = all && leq(get(x), get(y)); });
    return all;
  } else {
    return join(y, x) == y;
  }
}

/// The part of `delta` that `state` does not already hold: a state `r` with
/// `r ≤ delta` and `join(state, r) == join(state, delta)`, bottom when the
/// delta is redundant. Types refine it with a member `novel_to(state)` (a join
/// decomposition); otherwise the whole delta is kept unless it is redundant.
template <lattice T>
[[nodiscard]] T novel(const T& delta, const T& state) {
  if constexpr (requires { delta.novel_to(state); }) {
    return delta.novel_to(state);
  } else if constexpr (detail::hana_struct<T> && !detail::joins_in_place<T>) {
    T out{};
    detail::for_each_field(out, [&](auto get) { get(out) = novel(get(delta), get(state)); });
    return out;
  } else {
    return leq(delta, state) ? T{} : delta;
  }
}

/// The join of `parts` without what `known` already holds: a state `r` with
/// `r ≤ join(parts)` and `join(known, r) == join(known, join(parts))`, like
/// `novel(join(parts), known)`. What a sender does to build an interval for
/// a peer that is known to hold `known`. Types refine it with a static
/// member `join_novel(parts, known)` that reduces before joining (so each
/// element is indexed once); composed structs go field by field.
template <lattice T>
[[nodiscard]] T join_novel(std::span<const T* const> parts, const T& known) {
  if constexpr (requires {
                  { T::join_novel(parts, known) } -> std::same_as<T>;
                }) {
    return T::join_novel(parts, known);
  } else if constexpr (detail::hana_struct<T> && !detail::joins_in_place<T>) {
    T out{};
    detail::for_each_field(out, [&](auto get) {
      using field = std::remove_cvref_t<decltype(get(out))>;
      std::vector<const field*> fields;
      fields.reserve(parts.size());
      for (const T* p : parts) fields.push_back(&get(*p));
      get(out) = join_novel(std::span<const field* const>(fields), get(known));
    });
    return out;
  } else {
    if (parts.empty()) return T{};
    T out = *parts.front();
    for (const T* p : parts.subspan(1)) join_into(out, *p);
    return is_bottom(known) ? out : novel(out, known);
  }
}

/// Joins `delta` into `state` and returns the part of `delta` that `state`
/// lacked before (what `novel(delta, state)` returns). Types refine it with a
/// member `absorb(delta)` that finds each element once instead of twice
/// (once to reduce, once to join); composed structs absorb field by field.
template <lattice T>
T absorb(T& state, const T& delta) {
  if constexpr (requires {
                  { state.absorb(delta) } -> std::same_as<T>;
                }) {
    return state.absorb(delta);
  } else if constexpr (detail::hana_struct<T> && !detail::joins_in_place<T>) {
    T out{};
    detail::for_each_field(out, [&](auto get) { get(out) = absorb(get(state), get(delta)); });
    return out;
  } else {
    T fresh = novel(delta, state);
    join_into(state, fresh);
    return fresh;
  }
}

/// Splits `x` into at most `parts` states (at least one), each included in `x`,
/// whose join is `x`: a join decomposition, grouped. Any subset of the parts
/// joined into any state is safe — nothing is lost or resurrected — so a
/// large state can travel as several messages. Types refine it with a member
/// `split(parts)`; otherwise `x` is one part. Composed structs split field by
/// field (each part carries one field's part, the other fields bottom).
template <lattice T>
[[nodiscard]] std::vector<T> split(const T& x, std::size_t parts) {
  if constexpr (requires {
                  { x.split(parts) } -> std::same_as<std::vector<T>>;
                }) {
    return parts <= 1 ? std::vector<T>{x} : x.split(parts);
  } else if constexpr (detail::hana_struct<T> && !detail::joins_in_place<T>) {
    if (parts <= 1) return {x};
    std::vector<T> out;
    detail::for_each_field(x, [&](auto get) {
      using field = std::remove_cvref_t<decltype(get(x))>;
      if (is_bottom(get(x))) return;
      for (field& piece : split(get(x), parts)) {
        T whole{};
        get(whole) = std::move(piece);
        out.push_back(std::move(whole));
      }
    });
    if (out.empty()) out.push_back(x);
    return out;
  } else {
    return {x};
  }
}

/// A lattice whose mutators return deltas of its own type; see the file comment.
template <class T>
concept delta_lattice = lattice<T> && requires(const T& x) {
  { converge::is_bottom(x) } -> std::same_as<bool>;
  { converge::novel(x, x) } -> std::same_as<T>;
};

/// Applies a mutator to one field of a composed struct and returns the delta
/// of the whole struct: that field's delta, every other field bottom.
/// @code
///   cart c;  cart d = converge::update(c, &cart::items, [&](auto& f) { return f.increment(me); });
/// @endcode
template <class S, class M, class F>
requires lattice<S> && std::invocable<F&, M&> && std::same_as<std::invoke_result_t<F&, M&>, M>
[[nodiscard]] S update(S& state, M S::*field, F&& mutator) {
  S delta{};
  delta.*field = mutator(state.*field);
  return delta;
}

}  // namespace converge
