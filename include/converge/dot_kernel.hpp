#pragma once
/// @file
/// The one engine under every causal type: a dot store joined under a
/// causal context (Almeida, Shoker, Baquero 2018, "dot stores").
///
/// # `converge::dot_store<S>`
/// What a causal type holds besides its context: values tagged with the dots
/// of the updates that wrote them. Minimal complete definition:
/// @code
///   s.empty()                      // holds no dot
///   s.dot_count()                  // how many dots it holds
///   s.contains(d)                  // holds dot d
///   s.for_each_dot(f)              // visits every dot held
///   s.remove(d)                    // drops the entry tagged d (d is held)
///   s.add_unseen(other, ctx)       // adds other's entries whose dots ctx lacks
///   s.partition(n)                 // at most n non-empty stores whose union is s
/// @endcode
///
/// # The join (written once, used by every causal type)
/// For states (s, c) and (t, d): keep what both hold, what one holds and the
/// other has not seen, and drop what one holds that the other has seen and
/// removed:
/// @code
///   dots(join) == (dots(s) ∩ dots(t)) ∪ (dots(s) \ d) ∪ (dots(t) \ c)
///   context(join) == c ∪ d
/// @endcode
/// The work is proportional to the smaller side: removals are found from the
/// other side's context when it is smaller than this store, and additions
/// come from the other side's store. Joining a one-dot delta into a store of
/// a million entries touches O(1) entries.
///
/// > Rationale: a removal is never an operation; it is a dot in the context
/// > that is missing from the store. A delta delivered out of order can
/// > therefore only remove what it has seen, never what it has not.

#include "converge/causal_context.hpp"
#include "converge/detail/throw.hpp"
#include "converge/dot.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace converge {

/// A store of dot-tagged values; see the file comment.
template <class S>
concept dot_store = std::default_initializable<S> && std::equality_comparable<S> &&
    requires(S& s, const S& cs, const dot& d, const causal_context& ctx) {
  { cs.empty() } -> std::same_as<bool>;
  { cs.dot_count() } -> std::convertible_to<std::uint64_t>;
  { cs.contains(d) } -> std::same_as<bool>;
  cs.for_each_dot([](const dot&) {});
  s.remove(d);
  s.add_unseen(cs, ctx);
  { cs.partition(std::size_t{2}) } -> std::same_as<std::vector<S>>;
};

namespace detail {

/// A dot store that can build the join of several insert-only stores in one
/// pass (see element_store::gather); causal types over it get fast
/// `absorb` and `join_novel`.
template <class S>
concept gathering_store = requires(std::span<const S* const> parts, const causal_context& seen) {
  { S::gather(parts, seen) } -> std::same_as<S>;
};

/// Calls `f(d)` for every dot `d` that `target` holds, `source_ctx` has seen
/// and `source` does not hold: what the source removed after seeing it.
/// `target_ctx` (which covers every dot `target` holds) screens out, with a
/// cheap version-vector test, the source's dots the target has never seen —
/// the common case of a fresh insert — before any store lookup.
/// Enumerates the smaller of the source context and the target store: a
/// context's `dot_count` saturates instead of wrapping, so a hostile context
/// with huge counters (few ranges, 2^63 dots) is never walked dot by dot.
template <dot_store S, class F>
void for_each_removed(const S& target, const causal_context& target_ctx, const S& source,
                      const causal_context& source_ctx, F&& f) {
  if (target.empty() || source_ctx.empty()) return;
  // Every dot the source has seen it still holds (a store's dots are in its
  // context, so equal counts mean equal sets): it removes nothing. The case
  // of every insert-only delta, decided without a lookup.
  if (source.dot_count() == source_ctx.dot_count()) return;
  if (source_ctx.dot_count() <= target.dot_count()) {
    source_ctx.for_each_dot([&](const dot& d) {
      if (target_ctx.contains(d) && target.contains(d) && !source.contains(d)) f(d);
    });
  } else {
    target.for_each_dot([&](const dot& d) {
      if (source_ctx.contains(d) && !source.contains(d)) f(d);
    });
  }
}

/// The join of (store, ctx) with (other, other_ctx), in place.
template <dot_store S>
void causal_join(S& store, causal_context& ctx, const S& other, const causal_context& other_ctx) {
  if (&store == &other) return;
  std::vector<dot> removed;
  for_each_removed(store, ctx, other, other_ctx, [&](const dot& d) { removed.push_back(d); });
  for (const dot& d : removed) store.remove(d);
  store.add_unseen(other, ctx);
  ctx.join(other_ctx);
}

/// The part of (store, ctx) that (state, state_ctx) lacks, as a delta:
/// entries the state has not seen, dots it has not seen, and removals of
/// entries it still holds. Joining the result into the state equals joining
/// the whole of (store, ctx).
template <dot_store S>
void causal_novel(const S& store, const causal_context& ctx, const S& state, const causal_context& state_ctx,
                  S& out_store, causal_context& out_ctx) {
  out_ctx = ctx.subtract(state_ctx);
  out_store.add_unseen(store, state_ctx);
  for_each_removed(state, state_ctx, store, ctx, [&](const dot& d) { out_ctx.insert(d); });
}

struct causal_access;

}  // namespace detail

/// The common base of causal types: a dot store and its causal context, and
/// the join, equality and reduction that follow from them. `Derived` adds the
/// mutators and queries.
template <class Derived, dot_store Store>
class causal {
 public:
  using store_type = Store;

  /// Joins `other` into this state; a no-op when `other` is `*this`.
  void join(const Derived& other) { detail::causal_join(store_, ctx_, other.store_, other.ctx_); }

  /// The lattice order: true when joining this into `o` changes nothing.
  /// (s, c) <= (t, d) exactly when d includes c and every dot of t that c
  /// has seen is in s (else this state removed it and `o` still holds it); a
  /// dot always tags the same payload, so the dots decide. Costs one context
  /// search per range of c, then the removal scan of the join.
  [[nodiscard]] bool leq(const Derived& o) const {
    if (!o.ctx_.includes(ctx_)) return false;
    bool removes = false;
    detail::for_each_removed(o.store_, o.ctx_, store_, ctx_, [&](const dot&) { removes = true; });
    return !removes;
  }

  /// The part of this delta that `state` does not hold (see converge::novel).
  [[nodiscard]] Derived novel_to(const Derived& state) const {
    Derived out;
    detail::causal_novel(store_, ctx_, state.store_, state.ctx_, out.store_, out.ctx_);
    return out;
  }

  /// Joins `delta` in and returns the part of it this state lacked (see
  /// converge::absorb). An insert-only delta (the common case: new
  /// elements) is reduced by one context subtraction and its new entries
  /// are added without a second lookup; a delta nothing of which was seen
  /// is returned as a copy, indexes and all.
  Derived absorb(const Derived& delta) requires detail::gathering_store<Store> {
    if (&delta == this) return Derived{};
    if (!delta.adds_only()) {
      Derived fresh = delta.novel_to(static_cast<const Derived&>(*this));
      join(fresh);
      return fresh;
    }
    Derived fresh;
    fresh.ctx_ = delta.ctx_.subtract(ctx_);
    if (fresh.ctx_.empty()) return fresh;  // every dot seen: held, or removed since
    if (fresh.ctx_.dot_count() == delta.ctx_.dot_count()) {
      fresh.store_ = delta.store_;
    } else {
      const Store* one = &delta.store_;
      fresh.store_ = Store::gather(std::span<const Store* const>(&one, 1), ctx_);
    }
    static const causal_context none;
    store_.add_unseen(fresh.store_, none);  // its dots are all unseen here: no need to ask again
    ctx_.join(fresh.ctx_);
    return fresh;
  }

  /// The join of `parts` less what `known` holds (see converge::join_novel).
  /// Insert-only parts are gathered in one pass and indexed once.
  [[nodiscard]] static Derived join_novel(std::span<const Derived* const> parts,
                                          const Derived& known) requires detail::gathering_store<Store> {
    if (parts.empty()) return Derived{};
    if (!std::all_of(parts.begin(), parts.end(), [](const Derived* p) { return p->adds_only(); })) {
      Derived joined = *parts.front();
      for (const Derived* p : parts.subspan(1)) joined.join(*p);
      return known.empty() ? joined : joined.novel_to(known);
    }
    // Every part holds each dot it has seen, so their join removes nothing
    // and holds every dot its context has: reducing it by `known` keeps the
    // entries whose dots `known` has not seen, and the dots it has not seen.
    Derived out;
    std::vector<const Store*> stores;
    stores.reserve(parts.size());
    for (const Derived* p : parts) {
      stores.push_back(&p->store_);
      out.ctx_.join(p->ctx_);
    }
    if (!known.ctx_.empty()) out.ctx_ = out.ctx_.subtract(known.ctx_);
    out.store_ = Store::gather(stores, known.ctx_);
    return out;
  }

  /// A join decomposition in at most `parts` groups (see converge::split):
  /// each part holds some entries and exactly their dots; one more part
  /// holds the removals (dots seen, no entry). No part claims a dot it does
  /// not carry, so parts arriving alone can never hide an entry.
  [[nodiscard]] std::vector<Derived> split(std::size_t parts) const {
    std::vector<Derived> out;
    causal_context held;
    for (Store& piece : store_.partition(parts > 1 ? parts - 1 : 1)) {
      Derived part;
      piece.for_each_dot([&](const dot& d) {
        part.ctx_.insert(d);
        held.insert(d);
      });
      part.store_ = std::move(piece);
      out.push_back(std::move(part));
    }
    Derived removals;
    removals.ctx_ = ctx_.subtract(held);
    if (!removals.ctx_.empty() || out.empty()) out.push_back(std::move(removals));
    return out;
  }

  /// True when this state holds every dot it has seen: it removes nothing
  /// (a store's dots are in its context, so equal counts mean equal sets).
  [[nodiscard]] bool adds_only() const noexcept { return store_.dot_count() == ctx_.dot_count(); }

  /// True when this is bottom: no dot held, none seen.
  [[nodiscard]] bool empty() const noexcept { return store_.empty() && ctx_.empty(); }

  /// The dots this state has seen (for serialization and debugging).
  [[nodiscard]] const causal_context& context() const noexcept { return ctx_; }
  /// The dot-tagged values this state holds (for serialization and debugging).
  [[nodiscard]] const Store& store() const noexcept { return store_; }

  /// Builds a state from its parts (for deserialization). Throws
  /// std::invalid_argument when the store holds a dot the context has not seen.
  [[nodiscard]] static Derived from_parts(Store store, causal_context ctx) {
    bool covered = true;
    store.for_each_dot([&](const dot& d) { covered = covered && ctx.contains(d); });
    if (!covered)
      detail::throw_invalid_argument("converge: a store holds a dot its causal context has not seen");
    Derived out;
    out.store_ = std::move(store);
    out.ctx_ = std::move(ctx);
    return out;
  }

  friend bool operator==(const causal& a, const causal& b) {
    return a.ctx_ == b.ctx_ && a.store_ == b.store_;
  }

 protected:
  /// A delta that removes every value this state holds: their dots in its
  /// context, nothing in its store.
  [[nodiscard]] Derived observed_all() const {
    Derived delta;
    store_.for_each_dot([&](const dot& old) { delta.ctx_.insert(old); });
    return delta;
  }

  /// Issues replica `r`'s next dot into `delta`'s context and returns it.
  dot issue_dot(Derived& delta, replica_id r) const {
    const dot d = ctx_.next_dot(r);
    delta.ctx_.insert(d);
    return d;
  }

  /// Applies a delta computed by a mutator and returns it.
  Derived apply(Derived delta) {
    join(delta);
    return delta;
  }

  Store store_;
  causal_context ctx_;

  friend struct detail::causal_access;
};

namespace detail {

/// Lets composite causal types (or_map) lend their shared context to a nested
/// value while it runs a mutator, and reach its store. Not for users.
struct causal_access {
  template <class T>
  static auto& store(T& x) noexcept {
    return x.store_;
  }
  template <class T>
  static causal_context& context(T& x) noexcept {
    return x.ctx_;
  }
};

}  // namespace detail

}  // namespace converge
