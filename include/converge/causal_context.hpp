#pragma once
/// @file
/// `converge::causal_context`: the set of dots a causal type has seen, and
/// `converge::dot_range`, a run of consecutive dots of one replica.

#include "converge/detail/throw.hpp"
#include "converge/dot.hpp"
#include "converge/replica_id.hpp"

#include <algorithm>
#include <cassert>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace converge {

/// The dots (replica, first), (replica, first + 1), ..., (replica, last):
/// consecutive updates of one replica, both ends included. Valid when
/// 1 <= first <= last. Ordered by (replica, first, last).
struct dot_range {
  replica_id replica;
  std::uint64_t first = 0;
  std::uint64_t last = 0;

  /// True when dot `d` lies in the range.
  [[nodiscard]] constexpr bool contains(const dot& d) const noexcept {
    return d.replica == replica && first <= d.counter && d.counter <= last;
  }
  /// How many dots the range holds (a valid range has first >= 1, so this fits).
  [[nodiscard]] constexpr std::uint64_t size() const noexcept { return last - first + 1; }

  constexpr auto operator<=>(const dot_range&) const = default;
};

/// The dots a replica has seen, kept compact: a version vector (every dot of
/// replica r from 1 to versions[r]) plus a cloud of ranges of dots seen
/// beyond a gap.
///
/// Invariants (checked by `check_invariants`, asserted in debug builds):
/// - `versions()` is sorted by replica, one entry per replica, counters > 0;
/// - `cloud()` is sorted by (replica, first); each range is valid
///   (1 <= first <= last); two ranges of one replica neither overlap nor
///   touch (next.first > prev.last + 1); and a replica's first range starts
///   beyond versions[r] + 1 — a range that extends the vector is folded into
///   it. So two contexts holding the same dots are equal representations,
///   and `==` is set equality.
///
/// Cost: every operation costs in proportion to the number of versions and
/// ranges it touches, never to counter values — a hostile context whose
/// version is 2^63 is as cheap as one whose version is 3. contains and
/// next_dot are O(log r + log c) for r replicas and c ranges; insert also
/// moves the tail of the cloud; join with a small context costs in proportion
/// to the small one (plus those moves), otherwise it and subtract are linear
/// in the ranges of both. Only `for_each_dot` visits single dots. The cloud
/// stays small in practice: it holds only dots received out of order.
class causal_context {
 public:
  using version = std::pair<replica_id, std::uint64_t>;

  causal_context() = default;

  /// True when dot `d` has been seen.
  [[nodiscard]] bool contains(const dot& d) const noexcept {
    if (d.counter == 0) return false;
    if (d.counter <= max_contiguous(d.replica)) return true;
    const auto after =
        std::upper_bound(cloud_.begin(), cloud_.end(), d, [](const dot& key, const dot_range& x) {
          return key.replica < x.replica || (key.replica == x.replica && key.counter < x.first);
        });
    return after != cloud_.begin() && (after - 1)->contains(d);
  }

  /// The next dot replica `r` would issue: one past every dot of `r` seen.
  /// Does not record it; joining the delta that carries it does. Throws
  /// std::overflow_error when `r` has seen counter 2^64 - 1 (only a forged
  /// context gets there): wrapping to 0 would issue a dot nothing covers.
  [[nodiscard]] dot next_dot(replica_id r) const {
    std::uint64_t top = max_contiguous(r);
    const auto end = replica_end(cloud_, r);
    if (end != cloud_.begin() && (end - 1)->replica == r) top = (end - 1)->last;
    if (top == std::numeric_limits<std::uint64_t>::max()) {
      detail::throw_overflow_error("converge::causal_context: replica's dot counter exhausted");
    }
    return dot{r, top + 1};
  }

  /// True when every dot of range `x` has been seen. Runs of one replica
  /// neither overlap nor touch, so a covered range lies within one run.
  [[nodiscard]] bool covers(const dot_range& x) const noexcept {
    if (x.first == 0 || x.last < x.first) return true;  // names no dot
    if (x.last <= max_contiguous(x.replica)) return true;
    const auto after =
        std::upper_bound(cloud_.begin(), cloud_.end(), x, [](const dot_range& key, const dot_range& y) {
          return key.replica < y.replica || (key.replica == y.replica && key.first < y.first);
        });
    return after != cloud_.begin() && (after - 1)->replica == x.replica && (after - 1)->first <= x.first &&
           x.last <= (after - 1)->last;
  }

  /// True when every dot `other` has seen, this context has seen too (set
  /// inclusion). One search per version and range of `other`.
  [[nodiscard]] bool includes(const causal_context& other) const noexcept {
    if (&other == this) return true;
    bool all = true;
    other.for_each_range([&](const dot_range& x) { all = all && covers(x); });
    return all;
  }

  /// Records dot `d` as seen (a counter of 0 names no dot and is ignored).
  void insert(const dot& d) {
    if (d.counter == 0) return;
    add_range(d.replica, d.counter, d.counter);
  }

  /// Records every dot of range `x` as seen (an invalid range is ignored).
  void insert(const dot_range& x) {
    if (x.first == 0 || x.last < x.first) return;
    add_range(x.replica, x.first, x.last);
  }

  /// Joins `other` into this context (set union). Valid when `other` is `*this`.
  void join(const causal_context& other) {
    if (&other == this || other.empty()) return;
    const std::size_t theirs = other.versions_.size() + other.cloud_.size();
    if (theirs <= 4 || theirs * 8 < versions_.size() + cloud_.size()) {
      // A small context (a delta): a binary search and a local edit per entry.
      for (const auto& [r, n] : other.versions_) add_range(r, 1, n);
      for (const dot_range& x : other.cloud_) add_range(x.replica, x.first, x.last);
    } else {
      merge_versions(other.versions_);
      merge_cloud(other.cloud_);
    }
    assert(check_invariants());
  }

  /// The dots of this context that `other` has not seen. Linear in the
  /// ranges of this context and those of `other` for the same replicas.
  [[nodiscard]] causal_context subtract(const causal_context& other) const {
    causal_context out;
    auto v = versions_.begin();
    auto c = cloud_.begin();
    while (v != versions_.end() || c != cloud_.end()) {
      const replica_id r =
          (c == cloud_.end() || (v != versions_.end() && v->first <= c->replica)) ? v->first : c->replica;
      std::uint64_t mine = 0;
      if (v != versions_.end() && v->first == r) mine = (v++)->second;
      const auto c_end = replica_end_from(c, cloud_.end(), r);
      runs a(mine, c, c_end);
      runs b(other.max_contiguous(r), replica_begin(other.cloud_, r), replica_end(other.cloud_, r));
      c = c_end;
      // Sweep both sorted run lists; each piece of `a` no run of `b` covers is kept.
      for (; !a.done(); a.next()) {
        std::uint64_t from = a.first();
        const std::uint64_t to = a.last();
        bool covered = false;
        while (!b.done() && b.last() < from) b.next();
        while (!b.done() && b.first() <= to) {
          if (b.first() > from) out.append_run(r, from, b.first() - 1);
          if (b.last() >= to) {
            covered = true;
            break;
          }
          from = b.last() + 1;
          b.next();
        }
        if (!covered) out.append_run(r, from, to);
      }
    }
    assert(out.check_invariants());
    return out;
  }

  /// Calls `f(dot_range)` for every maximal run of dots seen, sorted by
  /// (replica, first): a replica's version as the range [1, versions[r]],
  /// then its cloud ranges. Costs one call per version and range.
  template <class F>
  void for_each_range(F&& f) const {
    auto c = cloud_.begin();
    for (const auto& [r, n] : versions_) {
      for (; c != cloud_.end() && c->replica < r; ++c) f(*c);
      f(dot_range{r, 1, n});
    }
    for (; c != cloud_.end(); ++c) f(*c);
  }

  /// Calls `f(dot)` for every dot seen, sorted. Costs one call per dot
  /// (`dot_count()` of them, which counter values alone can make huge): use it
  /// only on contexts known to be small, such as a delta's.
  template <class F>
  void for_each_dot(F&& f) const {
    for_each_range([&](const dot_range& x) {
      for (std::uint64_t n = x.first;; ++n) {
        f(dot{x.replica, n});
        if (n == x.last) break;
      }
    });
  }

  /// How many dots have been seen, saturating at UINT64_MAX (never wraps).
  [[nodiscard]] std::uint64_t dot_count() const noexcept {
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t total = 0;
    const auto add = [&](std::uint64_t n) { total = n > max - total ? max : total + n; };
    for (const auto& [r, n] : versions_) add(n);
    for (const dot_range& x : cloud_) add(x.size());
    return total;
  }

  /// The highest n such that every dot (r, 1..n) has been seen (0 if none).
  [[nodiscard]] std::uint64_t max_contiguous(replica_id r) const noexcept {
    const auto v = find_version(r);
    return (v != versions_.end() && v->first == r) ? v->second : 0;
  }

  [[nodiscard]] bool empty() const noexcept { return versions_.empty() && cloud_.empty(); }
  bool operator==(const causal_context&) const = default;

  /// The version vector, sorted by replica (for serialization and display).
  [[nodiscard]] const std::vector<version>& versions() const noexcept { return versions_; }
  /// The ranges seen beyond a gap, sorted (for serialization and display).
  [[nodiscard]] const std::vector<dot_range>& cloud() const noexcept { return cloud_; }

  /// Builds a context from its representation (for deserialization). Throws
  /// std::invalid_argument when the parts break an invariant, e.g. a cloud
  /// range the version vector already covers, or two ranges that touch.
  [[nodiscard]] static causal_context from_parts(std::vector<version> versions,
                                                 std::vector<dot_range> cloud) {
    causal_context c;
    c.versions_ = std::move(versions);
    c.cloud_ = std::move(cloud);
    if (!c.check_invariants()) detail::throw_invalid_argument("causal_context: parts break its invariants");
    return c;
  }

  /// True when the representation invariants hold (see the class comment).
  [[nodiscard]] bool check_invariants() const noexcept {
    for (std::size_t i = 0; i < versions_.size(); ++i) {
      if (versions_[i].second == 0) return false;
      if (i > 0 && !(versions_[i - 1].first < versions_[i].first)) return false;
    }
    for (std::size_t i = 0; i < cloud_.size(); ++i) {
      const dot_range& x = cloud_[i];
      if (x.first == 0 || x.last < x.first) return false;
      if (i > 0 && cloud_[i - 1].replica == x.replica) {
        if (x.first - 1 <= cloud_[i - 1].last) return false;  // overlaps, touches or is out of order
      } else {
        if (i > 0 && !(cloud_[i - 1].replica < x.replica)) return false;
        if (x.first - 1 <= max_contiguous(x.replica)) return false;  // the vector covers or reaches it
      }
    }
    return true;
  }

 private:
  /// The dots of one replica as sorted, disjoint runs: [1, prefix] when
  /// prefix > 0, then the cloud ranges [it, end).
  class runs {
   public:
    using iterator = std::vector<dot_range>::const_iterator;
    runs(std::uint64_t prefix, iterator it, iterator end) noexcept
        : prefix_(prefix), in_prefix_(prefix > 0), it_(it), end_(end) {}
    [[nodiscard]] bool done() const noexcept { return !in_prefix_ && it_ == end_; }
    [[nodiscard]] std::uint64_t first() const noexcept { return in_prefix_ ? 1 : it_->first; }
    [[nodiscard]] std::uint64_t last() const noexcept { return in_prefix_ ? prefix_ : it_->last; }
    void next() noexcept {
      if (in_prefix_) {
        in_prefix_ = false;
      } else {
        ++it_;
      }
    }

   private:
    std::uint64_t prefix_;
    bool in_prefix_;
    iterator it_;
    iterator end_;
  };

  template <class Cloud>
  [[nodiscard]] static auto replica_begin(Cloud& cloud, replica_id r) noexcept -> decltype(cloud.begin()) {
    return std::lower_bound(cloud.begin(), cloud.end(), r,
                            [](const dot_range& x, replica_id key) { return x.replica < key; });
  }
  template <class Cloud>
  [[nodiscard]] static auto replica_end(Cloud& cloud, replica_id r) noexcept -> decltype(cloud.begin()) {
    return std::upper_bound(cloud.begin(), cloud.end(), r,
                            [](replica_id key, const dot_range& x) { return key < x.replica; });
  }
  /// The end of replica `r`'s ranges, searching from `from` (at or before them).
  template <class It>
  [[nodiscard]] static It replica_end_from(It from, It end, replica_id r) noexcept {
    return std::upper_bound(from, end, r, [](replica_id key, const dot_range& x) { return key < x.replica; });
  }

  [[nodiscard]] std::vector<version>::const_iterator find_version(replica_id r) const noexcept {
    return std::lower_bound(versions_.begin(), versions_.end(), r,
                            [](const version& v, replica_id key) { return v.first < key; });
  }

  /// Appends the run [first, last] of replica `r`, which sorts after every
  /// run held and neither touches nor overlaps them (for subtract).
  void append_run(replica_id r, std::uint64_t first, std::uint64_t last) {
    if (first == 1) {
      versions_.emplace_back(r, last);
    } else {
      cloud_.push_back(dot_range{r, first, last});
    }
  }

  /// Records the dots (r, first..last), 1 <= first <= last: raises the
  /// vector when they reach it, else merges them with the ranges they
  /// overlap or touch.
  void add_range(replica_id r, std::uint64_t first, std::uint64_t last) {
    if (empty()) {  // a fresh delta's first dot (every write makes one): nothing to search
      append_run(r, first, last);
      return;
    }
    const std::uint64_t top = max_contiguous(r);
    if (last <= top) return;
    if (first - 1 <= top) {
      raise_version(r, last);
      fold(r);
      return;
    }
    const auto end = replica_end(cloud_, r);
    // The ranges of r that overlap or touch [first, last] (first >= 2 here).
    const auto lo = std::lower_bound(replica_begin(cloud_, r), end, first,
                                     [](const dot_range& x, std::uint64_t f) { return x.last < f - 1; });
    const auto hi =
        std::upper_bound(lo, end, last, [](std::uint64_t l, const dot_range& x) { return l < x.first - 1; });
    if (lo == hi) {
      cloud_.insert(lo, dot_range{r, first, last});
      return;
    }
    lo->first = std::min(lo->first, first);
    lo->last = std::max((hi - 1)->last, last);
    cloud_.erase(lo + 1, hi);
  }

  void raise_version(replica_id r, std::uint64_t n) {
    auto v = std::lower_bound(versions_.begin(), versions_.end(), r,
                              [](const version& x, replica_id key) { return x.first < key; });
    if (v != versions_.end() && v->first == r) {
      v->second = std::max(v->second, n);
    } else if (n > 0) {
      versions_.insert(v, version{r, n});
    }
  }

  /// Max-merges sorted (replica, counter) entries into the version vector.
  void merge_versions(const std::vector<version>& other) {
    if (other.empty()) return;
    std::vector<version> merged;
    merged.reserve(versions_.size() + other.size());
    auto a = versions_.begin();
    auto b = other.begin();
    while (a != versions_.end() || b != other.end()) {
      if (b == other.end() || (a != versions_.end() && a->first < b->first)) {
        merged.push_back(*a++);
      } else if (a == versions_.end() || b->first < a->first) {
        merged.push_back(*b++);
      } else {
        merged.emplace_back(a->first, std::max(a->second, b->second));
        ++a;
        ++b;
      }
    }
    versions_ = std::move(merged);
  }

  /// Unions `theirs` into the cloud in one linear pass, after the versions
  /// were merged: drops what the vector covers, folds what extends it, and
  /// coalesces ranges that overlap or touch.
  void merge_cloud(const std::vector<dot_range>& theirs) {
    if (theirs.empty() && cloud_.empty()) return;
    std::vector<dot_range> out;
    out.reserve(cloud_.size() + theirs.size());
    std::vector<version> raised;  // versions extended by cloud ranges, sorted by replica
    auto a = cloud_.cbegin();
    auto b = theirs.cbegin();
    bool started = false;
    replica_id r{};
    std::uint64_t top = 0;
    bool top_raised = false;
    while (a != cloud_.cend() || b != theirs.cend()) {
      const dot_range& x = (b == theirs.cend() || (a != cloud_.cend() && *a < *b)) ? *a++ : *b++;
      if (!started || x.replica != r) {
        if (top_raised) raised.emplace_back(r, top);
        started = true;
        r = x.replica;
        top = max_contiguous(r);
        top_raised = false;
      }
      if (x.last <= top) continue;
      if (x.first - 1 <= top) {  // only before any range of r is kept: those start beyond top + 1
        top = x.last;
        top_raised = true;
      } else if (!out.empty() && out.back().replica == r && x.first - 1 <= out.back().last) {
        out.back().last = std::max(out.back().last, x.last);
      } else {
        out.push_back(x);
      }
    }
    if (top_raised) raised.emplace_back(r, top);
    cloud_ = std::move(out);
    merge_versions(raised);
  }

  /// Restores the invariant for replica `r` after its version grew: drops
  /// the ranges the vector covers and folds those that reach it.
  void fold(replica_id r) {
    const auto first = replica_begin(cloud_, r);
    std::uint64_t top = max_contiguous(r);
    auto it = first;
    while (it != cloud_.end() && it->replica == r && it->first - 1 <= top) {
      top = std::max(top, it->last);
      ++it;
    }
    if (it == first) return;
    cloud_.erase(first, it);
    raise_version(r, top);
  }

  std::vector<version> versions_;
  std::vector<dot_range> cloud_;
};

}  // namespace converge
