#pragma once
/// @file
/// Retiring departed replicas: every type's metadata loses a departed
/// replica's id while every value stays exactly the same (Akka Distributed
/// Data's pruning). Three generic operations, for every type of the catalog,
/// `g_map`/`or_map` of them and every Hana struct of them (field by field,
/// like `converge::join`):
/// - `retire(x, gone, survivor)`: a mutator the survivor runs on its own
///   state; returns the delta that moves `gone`'s contribution onto
///   `survivor` (counters: counts folded; causal types: values re-tagged).
/// - `retire_own(x, gone, self, survivor)`: a mutator every other live
///   replica runs on its own state when it learns that `gone` retired,
///   before stripping (only bounded counters need it; bottom elsewhere).
/// - `without_retired(x, retired)` / `strip_retired(x, retired)`: `x` with
///   every entry of a retired replica removed; for received payloads (before
///   they are joined) and the local state (when the retired set grows).
///   Stripping is a lattice homomorphism (it commutes with join), so replicas
///   that strip converge to the stripped join of everything.
/// - `for_each_replica_id(x, f)`: every replica id `x` holds in metadata
///   (to measure it).
/// `retired` is always sorted ascending (as `members::retired()` is).
///
/// # The protocol these functions serve
/// 1. A replica `gone` left gracefully (it is `removed` after handing over),
///    or was `down` for the grace period and then removed. Either way no new
///    update of `gone` exists anywhere, and the survivor holds `gone`'s final
///    state (for a crash: every update of `gone` that survived anywhere has
///    reached the survivor — the grace period is there for that; an update
///    held nowhere else is lost with the crash, retired or not).
/// 2. One survivor — deterministically the smallest live replica id, so no
///    two fold the same replica — runs **one** mutation: the members CRDT's
///    `remove(gone)` (whose delta carries the retired id) joined with
///    `retire(state, gone, survivor)`. The fold raises only the survivor's
///    own entries, which only the survivor writes, so the max-join stays
///    correct.
/// 3. Every replica strips retired ids from every payload before joining it,
///    and from its state when it learns new ones (`replicator::retire`).
///    Because the fold and the retired id travel in the same delta, a
///    replica holds the folded survivor entry and `gone`'s entry at once only
///    between a join and its strip (or while a payload cut in parts by
///    `converge::split` has arrived in part: the value is then off until the
///    other parts arrive, and never after).
/// 4. A retired replica that comes back with old state changes nothing: its
///    entries are stripped on arrival (its replica id is retired for good;
///    it must rejoin with a new one, see members.hpp).
///
/// # Causal types: re-tagging (or_set, flags, registers, or_map)
/// A value carrying a dot of `gone` gets a fresh dot of the survivor: the
/// delta's context covers the old dots and the new ones, its store holds the
/// same values under the new dots, so the value is unchanged and, once
/// stripped, no dot of `gone` is left. Known consequence, as in Akka's
/// pruning: a remove concurrent with the re-tag that observed only the old
/// dot does not remove the value (the new dot is unseen by it, so the value
/// survives, add-wins style). Every replica and the join of all deltas agree
/// on this outcome, so convergence is intact; only that one race keeps a
/// value its remover expected gone.
///
/// # Types with nothing to strip
/// `gset`, `twop_set` and `members` hold no replica id of metadata.
/// `lww_register` holds one: the writer that breaks timestamp ties. It is
/// left as it is (identity): re-tagging it to the survivor could change
/// which of two equal-timestamp writes wins; it is bounded (one id per
/// register) and disappears at the next write. Specialize
/// `without_replica_metadata<T>` for a type of your own without replica ids;
/// any other type needs members `strip_retired(retired)` (in place, returns
/// true when it changed), `retire(gone, survivor)` and
/// `for_each_replica_id(f)`, or it does not compile.
///
/// # Bounded counters
/// Let `inc`, `dec` be the increments and decrements and `T[a][b]` the
/// rights moved from `a` to `b`; `rights(r) = inc[r] − dec[r] + Σx T[x][r]
/// − Σy T[r][y]` and `value = Σ inc − Σ dec`. `retire(x, g, s)` sets
/// `inc[s] += inc[g]`, `dec[s] += dec[g]` (value unchanged) and, for every
/// `y ∉ {g, s}`, `T[s][y] += T[g][y]` (each `y` now holds from `s` what it
/// held from `g`: `rights(y)` unchanged). Stripping then drops `g`'s row and
/// column; the pair `T[g][s]`, `T[s][g]` cancels in `rights(s)`, so after
/// stripping `rights(s)` gains `rights(g) − Σx T[x][g]` over third parties
/// `x`. Those `T[x][g]` are `x`'s own entries, which only `x` may raise: each
/// `x` runs `retire_own(x, g, x, s)`, `T[x][s] += T[x][g]`, before it strips
/// (so `rights(x)` is unchanged at `x` itself at every moment, and `s`
/// finally holds `rights(s) + rights(g)`: every right `g` held is owned by a
/// live replica again). Until `x`'s delta arrives, another replica sees
/// `rights(x)` too high and `rights(s)` too low by `T[x][g]`; only `x`
/// spends `x`'s rights and `s` only undersells, so nothing is oversold.
/// When `x`'s view of the survivor is another live `s'`, those rights land
/// on `s'` instead: still owned once, never twice.
///
/// A replica that leaves gracefully hands its rights over before it goes
/// (`hand_over_rights`, an ordinary transfer run on `gone` itself). A
/// replica that crashed keeps its unspent rights until it is retired:
/// nobody else may spend them before, because nobody can know which of them
/// it spent in updates that have not arrived (or never will). Stranded
/// rights can only make the counter refuse a decrement it could have
/// allowed — the value is `increments − decrements` and every decrement is
/// still covered by rights actually held by the replica that made it — so
/// the counter can never oversell. Retirement then moves them to the
/// survivor: every update of `gone` the survivor has not folded is stripped
/// everywhere and never counts, so the rights moved are exactly those no
/// counted update spent.
///
/// # Not done yet
/// - A durable replica (journal) that crashes between joining a removal and
///   running `retire_own` cannot tell, after `restore`, whether it ran it;
///   `converge-sim --churn` does not combine with `--durable`.
/// - Membership tombstones: `members::retired()` keeps every retired id
///   forever (a returning retired replica must be recognised). On the wire
///   the ids go as runs of consecutive ids (membership/wire.hpp), which
///   number at most the live replicas plus one where ids grow with each
///   life; in memory they are still one id (8 bytes) per departure.
/// - The simulator folds counters additively (`retire` above), the node
///   records the departed replica's own entries in an idempotent max-joined
///   record (transport/detail/node_retirement.hpp). The two are not one
///   mechanism yet: the node's record keeps an entry per retired replica,
///   and compacting it needs a stability check (every live member has
///   joined and stripped an id) that is not built.

#include "converge/bounded_counter.hpp"
#include "converge/causal_context.hpp"
#include "converge/detail/dot_fun.hpp"
#include "converge/detail/dot_map.hpp"
#include "converge/detail/element_store.hpp"
#include "converge/detail/throw.hpp"
#include "converge/dot.hpp"
#include "converge/dot_kernel.hpp"
#include "converge/g_map.hpp"
#include "converge/gcounter.hpp"
#include "converge/gset.hpp"
#include "converge/lattice.hpp"
#include "converge/lww_register.hpp"
#include "converge/membership/members.hpp"
#include "converge/or_map.hpp"
#include "converge/pncounter.hpp"
#include "converge/replica_id.hpp"
#include "converge/twop_set.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge::membership {

/// True for a type that holds no replica id in its metadata: retirement
/// leaves it as it is. Specialize it for such a type of your own.
template <class T>
inline constexpr bool without_replica_metadata = false;
template <class T>
inline constexpr bool without_replica_metadata<gset<T>> = true;
template <class T>
inline constexpr bool without_replica_metadata<twop_set<T>> = true;
template <>
inline constexpr bool without_replica_metadata<members> = true;

namespace detail {

/// True when `r` is in `retired` (sorted ascending).
[[nodiscard]] inline bool retired_in(std::span<const replica_id> retired, replica_id r) {
  return std::binary_search(retired.begin(), retired.end(), r);
}

}  // namespace detail

/// `g` with `gone`'s count added to `survivor`'s and `gone`'s entry removed:
/// the same `value()`. Run on the survivor only (see the file comment).
/// Throws `std::overflow_error` if the survivor's count would overflow, and
/// `std::invalid_argument` if `gone == survivor`.
[[nodiscard]] inline gcounter fold_retired(const gcounter& g, replica_id gone, replica_id survivor) {
  if (gone == survivor)
    converge::detail::throw_invalid_argument("converge::membership::fold_retired: gone == survivor");
  const std::uint64_t moved = g.count(gone);
  if (moved == 0) return g;
  const std::uint64_t mine = g.count(survivor);
  if (moved > std::numeric_limits<std::uint64_t>::max() - mine)
    converge::detail::throw_overflow_error(
        "converge::membership::fold_retired: survivor count would overflow");
  std::vector<gcounter::entry> out;
  out.reserve(g.entries().size());
  bool placed = false;
  for (const auto& [r, c] : g.entries()) {
    if (r == gone) continue;
    if (!placed && survivor < r) {
      out.emplace_back(survivor, mine + moved);
      placed = true;
    }
    if (r == survivor) {
      out.emplace_back(survivor, mine + moved);
      placed = true;
      continue;
    }
    out.emplace_back(r, c);
  }
  if (!placed) out.emplace_back(survivor, mine + moved);
  return gcounter::from_entries(std::move(out));
}

/// The delta of `fold_retired` (the survivor's new entry alone): what the
/// survivor's mutation returns, to join with the members removal.
[[nodiscard]] inline gcounter fold_retired_delta(const gcounter& g, replica_id gone, replica_id survivor) {
  const gcounter folded = fold_retired(g, gone, survivor);
  const std::uint64_t c = folded.count(survivor);
  return c == 0 ? gcounter{} : gcounter::from_entries({{survivor, c}});
}

/// Both halves of `p` folded: the same `value()`.
[[nodiscard]] inline pncounter fold_retired(const pncounter& p, replica_id gone, replica_id survivor) {
  return pncounter::from_parts(fold_retired(p.increments(), gone, survivor),
                               fold_retired(p.decrements(), gone, survivor));
}

/// `g` without the entries of `retired` replicas (for a state or delta that
/// arrives, and for the local state after a join).
[[nodiscard]] inline gcounter without_retired(const gcounter& g, std::span<const replica_id> retired) {
  if (retired.empty()) return g;
  std::vector<gcounter::entry> out;
  out.reserve(g.entries().size());
  for (const auto& e : g.entries()) {
    if (!detail::retired_in(retired, e.first)) out.push_back(e);
  }
  return out.size() == g.entries().size() ? g : gcounter::from_entries(std::move(out));
}

/// `p` without the entries of `retired` replicas, in both halves.
[[nodiscard]] inline pncounter without_retired(const pncounter& p, std::span<const replica_id> retired) {
  return pncounter::from_parts(without_retired(p.increments(), retired),
                               without_retired(p.decrements(), retired));
}

/// `c` without any version or dot range of `retired` replicas. Safe only
/// where no value carries a dot of them (see `prune_context`); for a context
/// that arrives, strip its store's dots of them too.
[[nodiscard]] inline causal_context without_retired(const causal_context& c,
                                                    std::span<const replica_id> retired) {
  if (retired.empty()) return c;
  std::vector<causal_context::version> versions;
  for (const auto& v : c.versions()) {
    if (!detail::retired_in(retired, v.first)) versions.push_back(v);
  }
  std::vector<dot_range> cloud;
  for (const dot_range& d : c.cloud()) {
    if (!detail::retired_in(retired, d.replica)) cloud.push_back(d);
  }
  return causal_context::from_parts(std::move(versions), std::move(cloud));
}

/// A causal value (or_set, flags, registers, or_map: anything with
/// `store()`, `context()` and `from_parts(store, context)`) with `retired`
/// replicas pruned from its context; nullopt while some value still carries
/// a dot of one of them (the survivor must re-tag those values first, see
/// `retire`).
template <class T>
requires requires(const T& x) {
  x.store();
  x.context();
}
[[nodiscard]] std::optional<T> prune_context(const T& x, std::span<const replica_id> retired) {
  bool carried = false;
  x.store().for_each_dot([&](const dot& d) { carried = carried || detail::retired_in(retired, d.replica); });
  if (carried) return std::nullopt;
  auto store = x.store();
  return T::from_parts(std::move(store), without_retired(x.context(), retired));
}

namespace detail {

template <class T>
inline constexpr bool is_lww = false;
template <class T>
inline constexpr bool is_lww<lww_register<T>> = true;

template <class T>
inline constexpr bool is_g_map = false;
template <class K, class V>
inline constexpr bool is_g_map<g_map<K, V>> = true;

/// A type that retires through members of its own (see the file comment).
template <class T>
concept retires_itself = requires(T& x, const T& cx, std::span<const replica_id> retired, replica_id r) {
  { x.strip_retired(retired) } -> std::same_as<bool>;
  { x.retire(r, r) } -> std::same_as<T>;
  cx.for_each_replica_id([](replica_id) {});
};

template <class T>
constexpr bool retirement_supported() {
  return std::is_same_v<T, gcounter> || std::is_same_v<T, pncounter> || std::is_same_v<T, bounded_counter> ||
         causal_type<T> || is_lww<T> || is_g_map<T> || without_replica_metadata<T> || retires_itself<T> ||
         converge::detail::hana_struct<T>;
}

template <class T>
constexpr void check_supported() {
  static_assert(retirement_supported<T>(),
                "converge::membership: this type has no retirement: specialize "
                "without_replica_metadata<T> if it holds no replica id, else give it members "
                "strip_retired(retired), retire(gone, survivor) and for_each_replica_id(f)");
}

template <class T>
constexpr bool retirable_fields();

}  // namespace detail

/// True when retirement (`strip_retired`, `retire`, ...) supports `T`,
/// recursively through maps and composed structs.
template <class T>
constexpr bool retirable() {
  if constexpr (detail::is_g_map<T>) {
    return retirable<typename T::mapped_type>();
  } else if constexpr (std::is_same_v<T, gcounter> || std::is_same_v<T, pncounter> ||
                       std::is_same_v<T, bounded_counter> || causal_type<T> || detail::is_lww<T> ||
                       without_replica_metadata<T> || detail::retires_itself<T>) {
    return true;
  } else if constexpr (converge::detail::hana_struct<T>) {
    return detail::retirable_fields<T>();
  } else {
    return false;
  }
}

namespace detail {

template <class T>
constexpr bool retirable_fields() {
  return []<class... M>(std::type_identity<boost::hana::tuple<M...>>) {
    return (retirable<std::remove_cvref_t<M>>() && ...);
  }(std::type_identity<converge::detail::member_types<T>>{});
}

/// Removes every dot of a retired replica from a dot store; true when one was held.
template <dot_store S>
bool strip_store(S& s, std::span<const replica_id> retired) {
  std::vector<dot> drop;
  s.for_each_dot([&](const dot& d) {
    if (retired_in(retired, d.replica)) drop.push_back(d);
  });
  for (const dot& d : drop) s.remove(d);
  return !drop.empty();
}

/// Strips a causal context in place; true when it changed.
inline bool strip_context(causal_context& c, std::span<const replica_id> retired) {
  const bool any =
      std::any_of(c.versions().begin(), c.versions().end(),
                  [&](const causal_context::version& v) { return retired_in(retired, v.first); }) ||
      std::any_of(c.cloud().begin(), c.cloud().end(),
                  [&](const dot_range& d) { return retired_in(retired, d.replica); });
  if (any) c = without_retired(c, retired);
  return any;
}

// The entries of a store whose dots `pick` selects, each under a fresh dot
// from `next()` (the re-tag of `retire`): one overload per dot store.
template <class T, class H, class Pick, class Next>
converge::detail::element_store<T, H> retagged(const converge::detail::element_store<T, H>& s, Pick& pick,
                                               Next& next) {
  converge::detail::element_store<T, H> out;
  for (const auto& rec : s.records()) {
    if (pick(rec.tag)) out.add(rec.element, next());
  }
  return out;
}

template <class V, class Pick, class Next>
converge::detail::dot_fun<V> retagged(const converge::detail::dot_fun<V>& s, Pick& pick, Next& next) {
  converge::detail::dot_fun<V> out;
  for (const auto& [d, v] : s.entries()) {
    if (pick(d)) out.add(next(), v);
  }
  return out;
}

template <class K, class V, class C, class Pick, class Next>
converge::detail::dot_map<K, V, C> retagged(const converge::detail::dot_map<K, V, C>& s, Pick& pick,
                                            Next& next) {
  converge::detail::dot_map<K, V, C> out;
  for (const auto& [k, v] : s.entries()) {
    auto nested = retagged(v.store(), pick, next);
    if (!nested.empty()) out.put(k, std::move(nested));
  }
  return out;
}

/// `gcounter` g's fold of `gone` into `survivor` as a delta; bottom when
/// `gone` counted nothing.
[[nodiscard]] inline gcounter fold_delta(const gcounter& g, replica_id gone, replica_id survivor) {
  return g.count(gone) == 0 ? gcounter{} : fold_retired_delta(g, gone, survivor);
}

[[nodiscard]] inline std::uint64_t checked_add(std::uint64_t a, std::uint64_t b) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a)
    converge::detail::throw_overflow_error("converge::membership::retire: a folded count would overflow");
  return a + b;
}

}  // namespace detail

/// Strips every entry of a `retired` replica (sorted ascending) from `x`'s
/// metadata, in place; returns true when something was removed. See the
/// file comment for what each type drops.
template <class T>
bool strip_retired(T& x, std::span<const replica_id> retired) {
  detail::check_supported<T>();
  if (retired.empty()) return false;
  if constexpr (std::is_same_v<T, gcounter>) {
    gcounter s = without_retired(x, retired);
    const bool changed = s.entries().size() != x.entries().size();
    if (changed) x = std::move(s);
    return changed;
  } else if constexpr (std::is_same_v<T, pncounter>) {
    gcounter inc = x.increments(), dec = x.decrements();
    const bool a = strip_retired(inc, retired), b = strip_retired(dec, retired);
    if (a || b) x = pncounter::from_parts(std::move(inc), std::move(dec));
    return a || b;
  } else if constexpr (std::is_same_v<T, bounded_counter>) {
    gcounter inc = x.increments(), dec = x.decrements();
    const bool a = strip_retired(inc, retired), b = strip_retired(dec, retired);
    std::vector<bounded_counter::transfer_entry> t;
    t.reserve(x.transfers().size());
    for (const auto& e : x.transfers()) {
      if (!detail::retired_in(retired, e.from) && !detail::retired_in(retired, e.to)) t.push_back(e);
    }
    const bool c = t.size() != x.transfers().size();
    if (a || b || c) x = bounded_counter::from_parts(std::move(inc), std::move(dec), std::move(t));
    return a || b || c;
  } else if constexpr (causal_type<T>) {
    const bool a = detail::strip_store(converge::detail::causal_access::store(x), retired);
    const bool b = detail::strip_context(converge::detail::causal_access::context(x), retired);
    return a || b;
  } else if constexpr (detail::is_g_map<T>) {
    auto entries = x.entries();
    bool changed = false;
    for (auto it = entries.begin(); it != entries.end();) {
      changed = strip_retired(it->second, retired) || changed;
      it = converge::is_bottom(it->second) ? entries.erase(it) : std::next(it);
    }
    if (changed) x = T::from_entries(std::move(entries));
    return changed;
  } else if constexpr (detail::is_lww<T> || without_replica_metadata<T>) {
    return false;
  } else if constexpr (detail::retires_itself<T>) {
    return x.strip_retired(retired);
  } else {
    bool changed = false;
    converge::detail::for_each_field(x,
                                     [&](auto get) { changed = strip_retired(get(x), retired) || changed; });
    return changed;
  }
}

/// `x` without the entries of `retired` replicas (sorted ascending): the
/// copying form of `strip_retired`.
template <class T>
[[nodiscard]] T without_retired(T x, std::span<const replica_id> retired) {
  (void)strip_retired(x, retired);
  return x;
}

/// The survivor's mutator: moves `gone`'s contribution in `x` onto
/// `survivor` (counters folded, causal values re-tagged with fresh dots of
/// `survivor`; see the file comment), changes `x` and returns the delta;
/// `x` keeps its value once `gone` is stripped. Throws
/// `std::invalid_argument` when `gone == survivor`, `std::overflow_error`
/// when a folded count would overflow.
template <class T>
T retire(T& x, replica_id gone, replica_id survivor) {
  detail::check_supported<T>();
  if (gone == survivor)
    converge::detail::throw_invalid_argument("converge::membership::retire: gone == survivor");
  if constexpr (std::is_same_v<T, gcounter>) {
    gcounter d = detail::fold_delta(x, gone, survivor);
    x.join(d);
    return d;
  } else if constexpr (std::is_same_v<T, pncounter>) {
    pncounter d = pncounter::from_parts(detail::fold_delta(x.increments(), gone, survivor),
                                        detail::fold_delta(x.decrements(), gone, survivor));
    x.join(d);
    return d;
  } else if constexpr (std::is_same_v<T, bounded_counter>) {
    std::vector<bounded_counter::transfer_entry> t;
    for (const auto& e : x.transfers()) {
      // g's row, to third parties: each now holds from the survivor what it held from g.
      if (e.from != gone || e.to == survivor) continue;
      t.push_back({survivor, e.to, detail::checked_add(x.transferred(survivor, e.to), e.amount)});
    }
    bounded_counter d =
        bounded_counter::from_parts(detail::fold_delta(x.increments(), gone, survivor),
                                    detail::fold_delta(x.decrements(), gone, survivor), std::move(t));
    x.join(d);
    return d;
  } else if constexpr (causal_type<T>) {
    T d;
    bool carried = false;
    x.store().for_each_dot([&](const dot& old) { carried = carried || old.replica == gone; });
    if (!carried) return d;
    causal_context& ctx = converge::detail::causal_access::context(d);
    x.store().for_each_dot([&](const dot& old) {
      if (old.replica == gone) ctx.insert(old);  // seen: the old entries are removed by the join
    });
    std::uint64_t next = x.context().next_dot(survivor).counter;
    auto pick = [&](const dot& old) { return old.replica == gone; };
    auto fresh = [&] {
      const dot n{survivor, next++};
      ctx.insert(n);
      return n;
    };
    converge::detail::causal_access::store(d) = detail::retagged(x.store(), pick, fresh);
    x.join(d);
    return d;
  } else if constexpr (detail::is_g_map<T>) {
    std::vector<typename T::key_type> keys;
    for (const auto& [k, v] : x) keys.push_back(k);
    T d;
    for (const auto& k : keys) {
      d.join(x.update(k, [&](typename T::mapped_type& v) { return retire(v, gone, survivor); }));
    }
    return d;
  } else if constexpr (detail::is_lww<T> || without_replica_metadata<T>) {
    return T{};
  } else if constexpr (detail::retires_itself<T>) {
    return x.retire(gone, survivor);
  } else {
    T d{};
    converge::detail::for_each_field(x, [&](auto get) { get(d) = retire(get(x), gone, survivor); });
    return d;
  }
}

/// What replica `self` (neither `gone` nor `survivor`) runs on its own state
/// when it learns that `gone` retired, before stripping: its own entries
/// that name `gone` are moved to `survivor` (a bounded counter's rights
/// `self` gave to `gone` become rights given to `survivor`, so `rights(self)`
/// never changes). Changes `x` and returns the delta; bottom for every other
/// type, and when `self` is `gone` or `survivor`.
template <class T>
T retire_own(T& x, replica_id gone, replica_id self, replica_id survivor) {
  detail::check_supported<T>();
  if (self == gone || self == survivor || gone == survivor) return T{};
  if constexpr (std::is_same_v<T, bounded_counter>) {
    const std::uint64_t given = x.transferred(self, gone);
    if (given == 0) return T{};
    std::vector<bounded_counter::transfer_entry> t{
        {self, survivor, detail::checked_add(x.transferred(self, survivor), given)}};
    bounded_counter d = bounded_counter::from_parts({}, {}, std::move(t));
    x.join(d);
    return d;
  } else if constexpr (detail::is_g_map<T>) {
    std::vector<typename T::key_type> keys;
    for (const auto& [k, v] : x) keys.push_back(k);
    T d;
    for (const auto& k : keys) {
      d.join(x.update(k, [&](typename T::mapped_type& v) { return retire_own(v, gone, self, survivor); }));
    }
    return d;
  } else if constexpr (converge::detail::hana_struct<T> && !converge::detail::joins_in_place<T>) {
    T d{};
    converge::detail::for_each_field(x, [&](auto get) { get(d) = retire_own(get(x), gone, self, survivor); });
    return d;
  } else if constexpr (requires { x.retire_own(gone, self, survivor); }) {
    return x.retire_own(gone, self, survivor);
  } else {
    return T{};
  }
}

/// Calls `f(replica_id)` for every replica id `x` holds in its metadata
/// (counter entries, transfer rows and columns, causal contexts, an LWW
/// register's writer), possibly more than once each.
template <class T, class F>
void for_each_replica_id(const T& x, F&& f) {
  detail::check_supported<T>();
  if constexpr (std::is_same_v<T, gcounter>) {
    for (const auto& e : x.entries()) f(e.first);
  } else if constexpr (std::is_same_v<T, pncounter>) {
    for_each_replica_id(x.increments(), f);
    for_each_replica_id(x.decrements(), f);
  } else if constexpr (std::is_same_v<T, bounded_counter>) {
    for_each_replica_id(x.increments(), f);
    for_each_replica_id(x.decrements(), f);
    for (const auto& e : x.transfers()) {
      f(e.from);
      f(e.to);
    }
  } else if constexpr (causal_type<T>) {
    // Every dot a store holds is in its context (nested values of an
    // or_map keep no context of their own), so the context names them all.
    for (const auto& v : x.context().versions()) f(v.first);
    for (const dot_range& d : x.context().cloud()) f(d.replica);
  } else if constexpr (detail::is_g_map<T>) {
    for (const auto& [k, v] : x) for_each_replica_id(v, f);
  } else if constexpr (detail::is_lww<T>) {
    if (!converge::is_bottom(x)) f(x.writer());
  } else if constexpr (without_replica_metadata<T>) {
    return;
  } else if constexpr (detail::retires_itself<T>) {
    x.for_each_replica_id(f);
  } else {
    converge::detail::for_each_field(x, [&](auto get) { for_each_replica_id(get(x), f); });
  }
}

/// The distinct replica ids `x` holds in its metadata, sorted.
template <class T>
[[nodiscard]] std::vector<replica_id> replica_ids(const T& x) {
  std::vector<replica_id> out;
  for_each_replica_id(x, [&](replica_id r) { out.push_back(r); });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// Run on `gone` before it leaves: transfers all its rights to `survivor`
/// and returns the delta (bottom when it holds none). Never fails: the
/// amount is exactly the rights `gone` holds.
[[nodiscard]] inline bounded_counter hand_over_rights(bounded_counter& b, replica_id gone,
                                                      replica_id survivor) {
  const std::uint64_t n = b.rights(gone);
  if (n == 0 || gone == survivor) return {};
  return b.transfer(gone, survivor, n).value_or(bounded_counter{});
}

}  // namespace converge::membership
