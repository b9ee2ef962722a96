#pragma once
// The dot store of or_set: (element, dot) records in one dense array, found
// by element and by dot through two flat indexes (see flat_index.hpp).
//
// An element usually has one record; concurrent inserts of the same element
// give it one per inserting replica until someone observes them all.
// Stores of at most `small_size` records keep no index and scan instead, so a
// delta (typically one record) costs one small allocation.
//
// A store whose records form at most `dot_runs::max_runs` runs in dot order keeps no
// dot index either: it finds a dot by binary search in the run whose range
// holds it. Deltas are in dot order (a mutator's batch, a decoded message, a
// gathered interval), and a replicator builds several transient deltas per
// update it relays, so not indexing their dots saves about a third of its
// work. A join of whole states appends the other's records as a run of its
// own, so it costs the same whichever replica's dots sort first (ids 2 <- 1
// took twice as long as 1 <- 2 when one run was allowed). The record that
// would start one run too many, or a removal (which moves the last record
// into the hole), builds the index.

#include "converge/causal_context.hpp"
#include "converge/detail/dot_runs.hpp"
#include "converge/detail/flat_index.hpp"
#include "converge/detail/sort_runs.hpp"
#include "converge/detail/throw.hpp"
#include "converge/dot.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace converge::detail {

// std::hash is declared by replica_id.hpp (through <optional>), not <functional>:
// a user who stores T includes what defines std::hash<T> (<string> for std::string).
template <class T, class Hash = std::hash<T>>
class element_store {
 public:
  struct record {
    T element;
    dot tag;
    bool operator==(const record&) const = default;
  };

  static constexpr std::size_t small_size = 8;

  element_store() = default;

  [[nodiscard]] bool empty() const noexcept { return records_.empty(); }
  [[nodiscard]] std::uint64_t dot_count() const noexcept { return records_.size(); }
  [[nodiscard]] std::size_t element_count() const noexcept { return distinct_; }
  [[nodiscard]] const std::vector<record>& records() const noexcept { return records_; }

  [[nodiscard]] bool contains(const dot& d) const { return find_dot(d) != flat_index::npos; }

  [[nodiscard]] bool contains_element(const T& e) const { return find_element(e) != flat_index::npos; }

  template <class F>
  void for_each_dot(F&& f) const {
    for (const record& r : records_) f(r.tag);
  }

  /// Calls `f(dot)` for every dot tagging element `e`.
  template <class F>
  void for_each_dot_of(const T& e, F&& f) const {
    if (!indexed()) {
      for (const record& r : records_) {
        if (r.element == e) f(r.tag);
      }
      return;
    }
    by_element_.for_each_match(
        element_hash(e), [&](std::uint32_t p) { return records_[p].element == e; },
        [&](std::uint32_t p) { f(records_[p].tag); });
  }

  /// Calls `f(element)` once for every distinct element.
  template <class F>
  void for_each_element(F&& f) const {
    const bool all_distinct = distinct_ == records_.size();
    for (std::uint32_t p = 0; p < records_.size(); ++p) {
      if (all_distinct || first_of_element(p)) f(records_[p].element);
    }
  }

  /// Adds a record. Precondition: `d` is not held.
  void add(T element, const dot& d) {
    if (!indexed()) {
      if (!contains_element(element)) ++distinct_;
      note_run(static_cast<std::uint32_t>(records_.size()), d);
      records_.push_back(record{std::move(element), d});
      if (records_.size() > small_size) build_indexes();
      return;
    }
    const std::size_t eh = element_hash(element);
    add_indexed(std::move(element), d, eh, dot_hash(d));
  }

  /// A store of `records`, whose dots are distinct (in any order): indexes
  /// them once instead of record by record (what a decoder wants).
  [[nodiscard]] static element_store from_records(std::vector<record> records) {
    if (records.size() >= flat_index::npos - 1) {
      throw_length_error("converge: more than 2^32 - 2 records in one store");
    }
    element_store s;
    s.records_ = std::move(records);
    for (std::uint32_t p = 0; p < s.records_.size() && s.runs_.sorted(); ++p)
      s.note_run(p, s.records_[p].tag);
    const auto n = static_cast<std::uint32_t>(s.records_.size());
    if (n <= small_size) {
      for (std::uint32_t p = 0; p < n; ++p) s.distinct_ += s.first_of_element(p) ? 1 : 0;
      return s;
    }
    s.distinct_ = s.by_element_.rebuild_distinct(
        n, s.element_hash_at(),
        [&s](std::uint32_t q, std::uint32_t p) { return s.records_[q].element == s.records_[p].element; });
    if (!s.runs_.sorted()) s.by_dot_.rebuild(n, s.dot_hash_at());
    return s;
  }

  /// The records of `parts` whose dots `seen` lacks, each dot once, in dot
  /// order, indexed once: the store of a join of insert-only deltas, less
  /// what `seen` covers. Joining part by part would index every record once
  /// per join and leave the encoder a full sort.
  [[nodiscard]] static element_store gather(std::span<const element_store* const> parts,
                                            const causal_context& seen) {
    if (parts.size() == 1 && seen.empty()) return *parts.front();  // a copy keeps the indexes
    std::size_t total = 0;
    for (const element_store* p : parts) total += p->records_.size();
    std::vector<record> kept;
    kept.reserve(total);
    for (const element_store* p : parts) {
      for (const record& r : p->records_) {
        if (!seen.contains(r.tag)) kept.push_back(r);
      }
    }
    sort_runs(kept, [](const record& a, const record& b) { return a.tag < b.tag; });
    // A dot always tags the same element, so records with equal dots are equal.
    kept.erase(std::unique(kept.begin(), kept.end(),
                           [](const record& a, const record& b) { return a.tag == b.tag; }),
               kept.end());
    if (kept.capacity() > 2 * kept.size() + small_size)
      kept.shrink_to_fit();  // the result may be kept in a buffer
    return from_records(std::move(kept));
  }

  /// Removes the record tagged `d`. Precondition: `d` is held.
  void remove(const dot& d) {
    const std::uint32_t p = find_dot(d);
    if (p == flat_index::npos) return;
    const auto last = static_cast<std::uint32_t>(records_.size() - 1);
    if (!runs_.remove(p, last)) index_dots();  // the last record moves into the hole
    if (indexed()) {
      by_element_.erase(element_hash(records_[p].element), p, element_hash_at());
      if (!runs_.sorted()) by_dot_.erase(dot_hash(d), p, dot_hash_at());
      if (p != last) {
        by_element_.relabel(element_hash(records_[last].element), last, p);
        by_dot_.relabel(dot_hash(records_[last].tag), last, p);
      }
    }
    T element = std::move(records_[p].element);
    if (p != last) records_[p] = std::move(records_[last]);
    records_.pop_back();
    if (!contains_element(element)) --distinct_;
  }

  /// Adds every record of `other` whose dot `ctx` has not seen.
  void add_unseen(const element_store& other, const causal_context& ctx) {
    if (records_.empty()) {  // a novel part or a copy: index once, not record by record
      std::vector<record> kept;
      kept.reserve(other.records_.size());
      for (const record& r : other.records_) {
        if (!ctx.contains(r.tag)) kept.push_back(r);
      }
      *this = from_records(std::move(kept));
      return;
    }
    constexpr std::size_t ahead = 8;  // index slots fetched this many records early,
    if (!indexed() || other.records_.size() < 2 * ahead) {
      for (const record& r : other.records_) {
        if (!ctx.contains(r.tag)) add(r.element, r.tag);
      }
      return;
    }
    // The indexes grow by what is unseen here, not by all of `other`: a
    // join with a copy of this store (everything seen) allocates nothing.
    const std::size_t n = other.records_.size();
    std::vector<bool> unseen(n);
    std::size_t fresh = 0;
    for (std::size_t i = 0; i < n; ++i) {
      unseen[i] = !ctx.contains(other.records_[i].tag);
      fresh += unseen[i] ? 1 : 0;
    }
    if (fresh == 0) return;
    // A batch into a large store: its index slots and records are mostly
    // not in cache, so fetch them a few records ahead and let the misses
    // overlap instead of paying them one after another.
    by_element_.reserve(records_.size() + fresh, element_hash_at());
    if (!runs_.sorted()) by_dot_.reserve(records_.size() + fresh, dot_hash_at());
    constexpr std::size_t mid = 4;           // the record in the element's home slot this many
    constexpr std::size_t ring = 2 * ahead;  // holds hashes from fetch to insert
    std::size_t element_hashes[ring];
    std::size_t dot_hashes[ring];
    for (std::size_t i = 0; i < n + ahead; ++i) {
      if (i < n) {
        element_hashes[i % ring] = element_hash(other.records_[i].element);
        dot_hashes[i % ring] = dot_hash(other.records_[i].tag);
        by_element_.prefetch(element_hashes[i % ring]);
        by_dot_.prefetch(dot_hashes[i % ring]);
      }
      if (i >= mid && i - mid < n) {
        const std::uint32_t p = by_element_.home(element_hashes[(i - mid) % ring]);
        if (p != flat_index::npos) __builtin_prefetch(&records_[p]);
      }
      if (i >= ahead) {
        const record& r = other.records_[i - ahead];
        if (unseen[i - ahead])
          add_indexed(r.element, r.tag, element_hashes[(i - ahead) % ring], dot_hashes[(i - ahead) % ring]);
      }
    }
  }

  /// At most `n` non-empty stores whose union is this one.
  [[nodiscard]] std::vector<element_store> partition(std::size_t n) const {
    std::vector<element_store> out;
    if (records_.empty()) return out;
    const std::size_t per = (records_.size() + n - 1) / std::max<std::size_t>(n, 1);
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (i % per == 0) out.emplace_back();
      out.back().add(records_[i].element, records_[i].tag);
    }
    return out;
  }

  /// Same records, whatever their order.
  friend bool operator==(const element_store& a, const element_store& b) {
    if (a.records_.size() != b.records_.size() || a.distinct_ != b.distinct_) return false;
    for (const record& r : a.records_) {
      const std::uint32_t p = b.find_dot(r.tag);
      if (p == flat_index::npos || !(b.records_[p].element == r.element)) return false;
    }
    return true;
  }

  /// Heap bytes held by the records and indexes (not by the elements' own allocations).
  [[nodiscard]] std::size_t heap_bytes() const noexcept {
    return records_.capacity() * sizeof(record) + by_element_.heap_bytes() + by_dot_.heap_bytes();
  }

  void reserve(std::size_t n) { records_.reserve(n); }

  /// True when record `p` is the lowest-positioned record of its element.
  [[nodiscard]] bool first_of_element(std::uint32_t p) const {
    bool first = true;
    const T& e = records_[p].element;
    if (!indexed()) {
      for (std::uint32_t q = 0; q < p; ++q) first = first && !(records_[q].element == e);
      return first;
    }
    by_element_.for_each_match(
        element_hash(e), [&](std::uint32_t q) { return q < p && records_[q].element == e; },
        [&](std::uint32_t) { first = false; });
    return first;
  }

 private:
  [[nodiscard]] bool indexed() const noexcept { return by_element_.capacity() != 0; }

  /// Keeps the runs up to date for record `p`, tagged `d`, which follows
  /// records [0, p); one run too many gives them up (the dot index is built
  /// now, or later with the element index).
  void note_run(std::uint32_t p, const dot& d) {
    if (runs_.sorted() && !runs_.append(p, p > 0 && records_[p - 1].tag < d)) index_dots();
  }

  /// Records are no longer kept in dot runs: index their dots.
  void index_dots() {
    if (indexed()) by_dot_.rebuild(static_cast<std::uint32_t>(records_.size()), dot_hash_at());
  }

  static std::size_t element_hash(const T& e) { return seeded_hash(Hash{}(e)); }
  static std::size_t dot_hash(const dot& d) { return std::hash<dot>{}(d); }
  auto element_hash_at() const {
    return [this](std::uint32_t p) { return element_hash(records_[p].element); };
  }
  auto dot_hash_at() const {
    return [this](std::uint32_t p) { return dot_hash(records_[p].tag); };
  }

  /// Adds a record to an indexed store, given its element's and dot's hashes.
  void add_indexed(T element, const dot& d, std::size_t element_hash_value, std::size_t dot_hash_value) {
    const auto p = static_cast<std::uint32_t>(records_.size());
    note_run(p, d);  // may build the dot index, before this record is in
    const bool in_runs = runs_.sorted();
    records_.push_back(record{std::move(element), d});
    const T& e = records_[p].element;
    // One probe both indexes the record and tells whether its element is new.
    const bool known = by_element_.insert_noting(
        element_hash_value, p, [&](std::uint32_t q) { return records_[q].element == e; }, element_hash_at());
    if (!known) ++distinct_;
    if (!in_runs) by_dot_.insert(dot_hash_value, p, dot_hash_at());
  }

  void build_indexes() {
    const auto n = static_cast<std::uint32_t>(records_.size());
    by_element_.rebuild(n, element_hash_at());
    if (!runs_.sorted()) by_dot_.rebuild(n, dot_hash_at());
  }

  [[nodiscard]] std::uint32_t find_dot(const dot& d) const {
    if (!indexed()) {
      for (std::uint32_t p = 0; p < records_.size(); ++p) {
        if (records_[p].tag == d) return p;
      }
      return flat_index::npos;
    }
    if (runs_.sorted()) return runs_.find(records_, d, [](const record& r) -> const dot& { return r.tag; });
    return by_dot_.find(dot_hash(d), [&](std::uint32_t p) { return records_[p].tag == d; });
  }

  [[nodiscard]] std::uint32_t find_element(const T& e) const {
    if (!indexed()) {
      for (std::uint32_t p = 0; p < records_.size(); ++p) {
        if (records_[p].element == e) return p;
      }
      return flat_index::npos;
    }
    return by_element_.find(element_hash(e), [&](std::uint32_t p) { return records_[p].element == e; });
  }

  std::vector<record> records_;
  flat_index by_element_;
  // Untagged: dots are inserted with every record but looked up only for
  // removals, and a byte per slot would cost ~2 bytes per element.
  flat_index by_dot_{flat_index::untagged};  // empty while runs_.sorted()
  std::size_t distinct_ = 0;
  dot_runs runs_;  // while sorted(), records_ is a few runs, each strictly increasing by dot
};

}  // namespace converge::detail
