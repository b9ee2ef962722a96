#pragma once
/// @file
/// Retiring departed replicas: pure functions that prune a replica's entries
/// from counters and causal contexts while keeping every value exactly the
/// same, by folding its contribution into a survivor's (Akka Distributed
/// Data's pruning). Not wired into the replicator.
///
/// # The protocol these functions serve
/// 1. A replica `gone` left gracefully (it is `removed` after handing over),
///    or was `down` for the grace period and then removed. Either way no new
///    update of `gone` exists anywhere, and the survivor holds `gone`'s final
///    counts (for a crash: every update of `gone` that survived anywhere has
///    reached the survivor — the grace period is there for that; an update
///    held nowhere else is lost with the crash, retired or not).
/// 2. One survivor — deterministically the smallest live replica id, so no
///    two fold the same replica — folds with **one** mutation: the members
///    CRDT's `remove(gone)` (whose delta carries the retired id) joined with
///    `fold_retired(counter, gone, survivor)` for every counter. The fold
///    raises only the survivor's own entry, which only the survivor writes,
///    so the max-join stays correct.
/// 3. Every replica, after every join, applies `without_retired(state,
///    members.retired())`. Because the fold and the retired id travel in the
///    same delta, a replica never holds the folded survivor entry and
///    `gone`'s entry at once after stripping: no value is counted twice or
///    lost, at any replica, at any time.
/// 4. A retired replica that comes back with old state changes nothing: its
///    entries are stripped on arrival (its replica id is retired for good;
///    it must rejoin with a new one, see members.hpp).
///
/// # Bounded counter rights
/// A replica that leaves gracefully hands its rights over before it goes:
/// `hand_over_rights(counter, gone, survivor)` runs on `gone` itself (only a
/// replica spends its own rights) and is an ordinary `transfer` of all of
/// them. A replica that crashed keeps its unspent rights forever: nobody
/// else may spend them, because nobody can know which of them it spent in
/// updates that have not arrived (or never will). Stranded rights can only
/// make the counter refuse a decrement it could have allowed — the value is
/// `increments − decrements` and every decrement is still covered by rights
/// actually held by the replica that made it — so the counter can never
/// oversell; it can only undersell by the crashed replica's rights (an
/// operator can compensate with a fresh increment elsewhere).
///
/// Causal types (or_set, flags, registers, or_map) keep their values' dots:
/// `prune_context` drops a retired replica from a causal context only when
/// no value still carries one of its dots (re-tag them first, by the
/// survivor re-adding those values), and `without_retired(causal_context)`
/// strips retired replicas from a context that arrives.

#include "converge/bounded_counter.hpp"
#include "converge/causal_context.hpp"
#include "converge/detail/throw.hpp"
#include "converge/gcounter.hpp"
#include "converge/pncounter.hpp"
#include "converge/replica_id.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace converge::membership {

namespace detail {

[[nodiscard]] inline bool retired_in(std::span<const replica_id> retired, replica_id r) {
  return std::find(retired.begin(), retired.end(), r) != retired.end();
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

/// Run on `gone` before it leaves: transfers all its rights to `survivor`
/// and returns the delta (bottom when it holds none). Never fails: the
/// amount is exactly the rights `gone` holds.
[[nodiscard]] inline bounded_counter hand_over_rights(bounded_counter& b, replica_id gone,
                                                      replica_id survivor) {
  const std::uint64_t n = b.rights(gone);
  if (n == 0 || gone == survivor) return {};
  return b.transfer(gone, survivor, n).value_or(bounded_counter{});
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
/// a dot of one of them (the survivor must re-add those values first, which
/// gives them its own dots).
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

}  // namespace converge::membership
