#pragma once
/// @file
/// `converge::bounded_counter`: a non-negative counter whose decrements are
/// covered by escrowed rights, so no interleaving can take it below zero
/// (Balegas et al., "Putting consistency back into eventual consistency",
/// EuroSys 2015: a PN-counter plus a matrix of rights transfers).

#include "converge/detail/throw.hpp"
#include "converge/gcounter.hpp"
#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace converge {

/// A counter that never goes below zero without coordination (escrow).
///
/// Each replica holds rights: `rights(r) = increments(r) - decrements(r) +
/// transfers into r - transfers out of r`. An increment adds value and rights
/// to its replica; a decrement or a transfer by `r` needs `r`'s local rights,
/// and only `r` spends them, so the sum of decrements never exceeds the sum of
/// increments and `value()` stays >= 0 under any concurrency.
///
/// State: two grow-only counters (increments, decrements) and a grow-only
/// count per (from, to) pair of rights transferred; join is the pointwise max.
///
/// Delta delivery: with full states, or deltas delivered causally (as the
/// replicator's delta intervals are), every decrement a replica sees comes with
/// the increments and transfers that funded it. A replica that receives a
/// decrement delta before its funding sees it early; `value()` and `rights()`
/// then clamp at 0 until the funding arrives (they never wrap).
///
/// Overflow: a mutator that would push a local count past `UINT64_MAX`
/// throws `std::overflow_error` and changes nothing.
class bounded_counter {
 public:
  /// For serialization: `amount` rights moved in total from `from` to `to`.
  struct transfer_entry {
    replica_id from;
    replica_id to;
    std::uint64_t amount = 0;
    auto operator<=>(const transfer_entry&) const = default;
  };

  /// Bottom: value 0, no rights anywhere.
  bounded_counter() = default;

  /// Adds `n` to the value and to `r`'s rights; returns the delta (r's new
  /// increment entry; bottom when `n == 0`). Throws `std::overflow_error`
  /// when the local value would exceed UINT64_MAX.
  bounded_counter increment(replica_id r, std::uint64_t n) {
    bounded_counter delta;
    delta.inc_ = inc_.increment(r, n);
    return delta;
  }

  /// Subtracts `n` using `r`'s local rights; returns the delta, or
  /// `std::nullopt` (and changes nothing) when `rights(r) < n`.
  std::optional<bounded_counter> decrement(replica_id r, std::uint64_t n) {
    if (rights(r) < n) return std::nullopt;
    bounded_counter delta;
    delta.dec_ = dec_.increment(r, n);
    return delta;
  }

  /// Moves `n` of `from`'s local rights to `to`; returns the delta (the new
  /// (from, to) entry), or `std::nullopt` (and changes nothing) when
  /// `rights(from) < n`. A transfer to oneself changes nothing.
  std::optional<bounded_counter> transfer(replica_id from, replica_id to, std::uint64_t n) {
    if (rights(from) < n) return std::nullopt;
    if (n == 0 || from == to) return bounded_counter{};
    const std::uint64_t old = transferred(from, to);
    if (n > std::numeric_limits<std::uint64_t>::max() - old) {
      detail::throw_overflow_error(
          "converge::bounded_counter::transfer: transferred total would exceed UINT64_MAX");
    }
    bounded_counter delta;
    delta.transfers_.push_back({from, to, old + n});
    join(delta);
    return delta;
  }

  /// Increments minus decrements as seen here; never negative (clamped at 0
  /// while a decrement is seen before its funding).
  [[nodiscard]] std::uint64_t value() const noexcept {
    const std::uint64_t p = inc_.value();
    const std::uint64_t m = dec_.value();
    return p > m ? p - m : 0;
  }

  /// The rights of replica `r` as seen here: what `r` may still decrement or
  /// transfer. Never negative (clamped at 0, see the class comment).
  [[nodiscard]] std::uint64_t rights(replica_id r) const noexcept {
    std::uint64_t plus = inc_.count(r);
    std::uint64_t minus = dec_.count(r);
    for (const auto& t : transfers_) {
      if (t.to == r) plus = saturating_add_(plus, t.amount);
      if (t.from == r) minus = saturating_add_(minus, t.amount);
    }
    return plus > minus ? plus - minus : 0;
  }

  /// Total rights moved so far from `from` to `to` (grow-only).
  [[nodiscard]] std::uint64_t transferred(replica_id from, replica_id to) const noexcept {
    const auto it = find_(from, to);
    return it != transfers_.end() && it->from == from && it->to == to ? it->amount : 0;
  }

  /// Joins `other` in place: the pointwise max of every count. No-op on itself.
  void join(const bounded_counter& other) {
    if (&other == this) return;
    inc_.join(other.inc_);
    dec_.join(other.dec_);
    for (const auto& t : other.transfers_) {
      const auto it = find_(t.from, t.to);
      if (it != transfers_.end() && it->from == t.from && it->to == t.to) {
        it->amount = std::max(it->amount, t.amount);
      } else {
        transfers_.insert(it, t);
      }
    }
  }

  /// Lattice order: every count at most `other`'s.
  [[nodiscard]] bool leq(const bounded_counter& other) const noexcept {
    return inc_.leq(other.inc_) && dec_.leq(other.dec_) &&
           std::all_of(transfers_.begin(), transfers_.end(),
                       [&](const transfer_entry& t) { return t.amount <= other.transferred(t.from, t.to); });
  }

  /// The entries of this delta that are larger than `state`'s; bottom when
  /// the delta is redundant.
  [[nodiscard]] bounded_counter novel_to(const bounded_counter& state) const {
    bounded_counter out;
    out.inc_ = inc_.novel_to(state.inc_);
    out.dec_ = dec_.novel_to(state.dec_);
    for (const auto& t : transfers_) {
      if (t.amount > state.transferred(t.from, t.to)) out.transfers_.push_back(t);
    }
    return out;
  }

  /// True when this is bottom.
  [[nodiscard]] bool empty() const noexcept { return inc_.empty() && dec_.empty() && transfers_.empty(); }

  /// State equality.
  bool operator==(const bounded_counter&) const = default;

  /// For serialization: the increments per replica.
  [[nodiscard]] const gcounter& increments() const noexcept { return inc_; }
  /// For serialization: the decrements per replica.
  [[nodiscard]] const gcounter& decrements() const noexcept { return dec_; }
  /// For serialization: the transfers, strictly sorted by (from, to), from != to, amount > 0.
  [[nodiscard]] const std::vector<transfer_entry>& transfers() const noexcept { return transfers_; }

  /// For serialization: builds a counter from its parts. Throws
  /// `std::invalid_argument` unless the transfers are strictly sorted by
  /// (from, to), with from != to and amount > 0.
  [[nodiscard]] static bounded_counter from_parts(gcounter increments, gcounter decrements,
                                                  std::vector<transfer_entry> transfers) {
    for (std::size_t i = 0; i < transfers.size(); ++i) {
      const auto& t = transfers[i];
      if (t.amount == 0)
        detail::throw_invalid_argument("converge::bounded_counter::from_parts: zero transfer");
      if (t.from == t.to)
        detail::throw_invalid_argument("converge::bounded_counter::from_parts: transfer to self");
      if (i > 0 && !(std::tie(transfers[i - 1].from, transfers[i - 1].to) < std::tie(t.from, t.to))) {
        detail::throw_invalid_argument(
            "converge::bounded_counter::from_parts: transfers not strictly sorted");
      }
    }
    bounded_counter out;
    out.inc_ = std::move(increments);
    out.dec_ = std::move(decrements);
    out.transfers_ = std::move(transfers);
    return out;
  }

 private:
  [[nodiscard]] static std::uint64_t saturating_add_(std::uint64_t a, std::uint64_t b) noexcept {
    return b > std::numeric_limits<std::uint64_t>::max() - a ? std::numeric_limits<std::uint64_t>::max()
                                                             : a + b;
  }

  template <class Self>
  [[nodiscard]] static auto find_in_(Self& self, replica_id from, replica_id to) noexcept {
    return std::lower_bound(self.transfers_.begin(), self.transfers_.end(), std::pair{from, to},
                            [](const transfer_entry& t, const std::pair<replica_id, replica_id>& key) {
                              return std::tie(t.from, t.to) < std::tie(key.first, key.second);
                            });
  }
  [[nodiscard]] std::vector<transfer_entry>::iterator find_(replica_id from, replica_id to) noexcept {
    return find_in_(*this, from, to);
  }
  [[nodiscard]] std::vector<transfer_entry>::const_iterator find_(replica_id from,
                                                                  replica_id to) const noexcept {
    return find_in_(*this, from, to);
  }

  gcounter inc_;
  gcounter dec_;
  std::vector<transfer_entry> transfers_;  // sorted by (from, to); from != to; amount > 0
};

static_assert(delta_lattice<bounded_counter>);

}  // namespace converge
