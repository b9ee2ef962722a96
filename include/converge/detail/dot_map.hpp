#pragma once
// The dot store of or_map: a map from keys to nested causal values, whose
// dots all live in the map's one shared context (nested values keep an empty
// context of their own while at rest).
//
// Layout (the or_set's, see element_store.hpp): the (key, value) entries sit
// in one dense vector, found by key through a flat_index over their
// positions (keys hashed by converge::key_hash, seeded). Keys that can only
// be ordered (no hash, or a Compare of the user's) are found through a
// std::map<K, position, Compare> instead, so every key type that orders
// works. Every dot held has a record (dot, owning entry) in two more dense
// vectors (20 bytes a dot), which remove(d) and contains(d) search: by
// binary search while the records form a few runs in dot order (as in
// element_store: a replica's own updates, a decoded state, joins of other
// replicas' states), else through a second, untagged flat_index (~4-8 more
// bytes a dot). The node-based std::unordered_map<dot, K> this replaces
// cost ~56 bytes a dot and a cache miss per insert: applying 1-key deltas
// to a 100k-key map went from 2.6x to 1.6x an unordered_map insert when the
// runs made the dot index unnecessary. Erasing moves the last entry (or
// record) into the hole and relabels it.
//
// Stores that have never held more than `small_size` entries (a delta holds
// a key or two) keep no key index and no dot records: they scan their
// entries, and ask the nested stores for their dots. A one-key delta is
// then one allocation for its entry, not three (entry, dots, owners): a
// map write builds one of these every time.
//
// Iteration is in key order (the wire encoding, json and users rely on it).
// While the entries happen to be in key order (a decoded state, a one-key
// delta) they are iterated as they are; otherwise a vector of positions
// sorted by key is built on first use and kept until a key is added or
// removed. Const members may run in several threads at once: the first
// reader that needs the order builds it under an atomic state (stale,
// building, ready) and the others wait on it (C++20 atomic wait); non-const
// members need exclusive access, as for standard containers.

#include "converge/causal_context.hpp"
#include "converge/detail/dot_runs.hpp"
#include "converge/detail/flat_index.hpp"
#include "converge/detail/throw.hpp"
#include "converge/dot.hpp"
#include "converge/dot_kernel.hpp"
#include "converge/key_hash.hpp"

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge::detail {

/// True when an or_map over K ordered by Compare finds keys by hash (see
/// key_hash.hpp): Compare is std::less, whose equivalence is ==.
template <class K, class Compare>
inline constexpr bool hashes_keys = (std::is_same_v<Compare, std::less<K>> ||
                                     std::is_same_v<Compare, std::less<>>)&&hashable_key<K>;

template <class K, class V, class Compare = std::less<K>>
class dot_map {
  static constexpr bool hashed = hashes_keys<K, Compare>;
  using key_index = std::conditional_t<hashed, flat_index, std::map<K, std::uint32_t, Compare>>;
  static constexpr std::uint32_t npos = flat_index::npos;

 public:
  using entry = std::pair<K, V>;

  /// Stores that never held more than this many entries keep no key index
  /// and no dot records (they scan).
  static constexpr std::size_t small_size = 8;

  /// A random-access iterator over the entries in key order. Any non-const
  /// call on the store invalidates it.
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using iterator_concept = std::random_access_iterator_tag;
    using value_type = entry;
    using difference_type = std::ptrdiff_t;
    using pointer = const entry*;
    using reference = const entry&;

    const_iterator() = default;

    reference operator*() const { return base_[order_ == nullptr ? i_ : order_[i_]]; }
    pointer operator->() const { return &**this; }
    reference operator[](difference_type n) const { return *(*this + n); }

    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator t = *this;
      ++i_;
      return t;
    }
    const_iterator& operator--() {
      --i_;
      return *this;
    }
    const_iterator operator--(int) {
      const_iterator t = *this;
      --i_;
      return t;
    }
    const_iterator& operator+=(difference_type n) {
      i_ += n;
      return *this;
    }
    const_iterator& operator-=(difference_type n) {
      i_ -= n;
      return *this;
    }
    friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
    friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
    friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) { return a.i_ - b.i_; }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.i_ == b.i_; }
    friend std::strong_ordering operator<=>(const const_iterator& a, const const_iterator& b) {
      return a.i_ <=> b.i_;
    }

   private:
    friend class dot_map;
    const_iterator(const entry* base, const std::uint32_t* order, difference_type i)
        : base_(base), order_(order), i_(i) {}

    const entry* base_ = nullptr;
    const std::uint32_t* order_ = nullptr;  // nullptr: the entries are in key order as stored
    difference_type i_ = 0;
  };

  /// The entries in key order, as a range.
  class entries_view {
   public:
    [[nodiscard]] const_iterator begin() const { return m_->begin(); }
    [[nodiscard]] const_iterator end() const { return m_->end(); }
    [[nodiscard]] std::size_t size() const noexcept { return m_->size(); }
    [[nodiscard]] bool empty() const noexcept { return m_->empty(); }

   private:
    friend class dot_map;
    explicit entries_view(const dot_map& m) : m_(&m) {}
    const dot_map* m_;
  };

  dot_map() = default;
  dot_map(const dot_map& o)
      : entries_(o.entries_),
        keys_(o.keys_),
        dots_(o.dots_),
        owners_(o.owners_),
        by_dot_(o.by_dot_),
        runs_(o.runs_),
        sorted_(o.sorted_),
        large_(o.large_) {
    copy_order(o);
  }
  dot_map(dot_map&& o) noexcept(std::is_nothrow_move_constructible_v<key_index>)
      : entries_(std::move(o.entries_)),
        keys_(std::move(o.keys_)),
        dots_(std::move(o.dots_)),
        owners_(std::move(o.owners_)),
        by_dot_(std::move(o.by_dot_)),
        runs_(o.runs_),
        order_(std::move(o.order_)),
        order_state_(o.order_state_.load(std::memory_order_relaxed)),
        sorted_(o.sorted_),
        large_(o.large_) {
    o.reset();
  }
  dot_map& operator=(const dot_map& o) {
    if (this != &o) *this = dot_map(o);
    return *this;
  }
  dot_map& operator=(dot_map&& o) noexcept(std::is_nothrow_move_assignable_v<key_index>) {
    if (this == &o) return *this;
    entries_ = std::move(o.entries_);
    keys_ = std::move(o.keys_);
    dots_ = std::move(o.dots_);
    owners_ = std::move(o.owners_);
    by_dot_ = std::move(o.by_dot_);
    runs_ = o.runs_;
    order_ = std::move(o.order_);
    order_state_.store(o.order_state_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    sorted_ = o.sorted_;
    large_ = o.large_;
    o.reset();
    return *this;
  }
  ~dot_map() = default;

  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] std::uint64_t dot_count() const noexcept {
    if (large_) return dots_.size();
    std::uint64_t n = 0;
    for (const entry& e : entries_) n += e.second.store().dot_count();
    return n;
  }
  [[nodiscard]] bool contains(const dot& d) const { return owner_of(d) != npos; }
  /// The number of keys.
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /// The value at `key`, or nullptr.
  [[nodiscard]] const V* find(const K& key) const {
    const std::uint32_t p = find_key(key);
    return p == npos ? nullptr : &entries_[p].second;
  }

  /// The (key, value) entries in key order.
  [[nodiscard]] const_iterator begin() const {
    return const_iterator(entries_.data(), ordered_positions(), 0);
  }
  [[nodiscard]] const_iterator end() const {
    return const_iterator(entries_.data(), ordered_positions(), static_cast<std::ptrdiff_t>(entries_.size()));
  }
  [[nodiscard]] entries_view entries() const noexcept { return entries_view(*this); }

  template <class F>
  void for_each_dot(F&& f) const {
    if (large_) {
      for (const dot& d : dots_) f(d);
    } else {
      for (const entry& e : entries_) e.second.store().for_each_dot(f);
    }
  }

  void remove(const dot& d) {
    std::uint32_t p = npos;
    if (large_) {
      const std::uint32_t q = find_dot(d);
      if (q == npos) return;
      p = owners_[q];
      remove_dot_at(q);
    } else {
      p = owner_of(d);
      if (p == npos) return;
    }
    auto& nested = causal_access::store(entries_[p].second);
    nested.remove(d);
    if (nested.empty()) erase_entry(p);
  }

  void add_unseen(const dot_map& other, const causal_context& ctx) {
    const std::size_t n = other.entries_.size();
    // What ctx has seen of each of other's entries: nothing (the common
    // case: a new key or a new write, added without asking ctx again),
    // some of it, or all (skipped).
    const auto seen_of = [&](const typename V::store_type& theirs) -> std::uint8_t {
      bool any_seen = false, any_unseen = false;
      theirs.for_each_dot([&](const dot& d) { (ctx.contains(d) ? any_seen : any_unseen) = true; });
      return !any_unseen ? all_seen : any_seen ? some_seen : none_seen;
    };
    // When other is large, grow the arrays and indexes once for all of it.
    std::vector<std::uint8_t> seen;
    if (n <= small_size) {
      // A delta into a large store: ask the cache for the index slots its
      // keys and dots will probe, so their misses overlap each other and
      // the context tests instead of coming one after another.
      for (const entry& e : other.entries_) {
        if constexpr (hashed) {
          if (large_) keys_.prefetch(key_hash_of(e.first));
        }
        if (dots_indexed())
          e.second.store().for_each_dot([&](const dot& d) { by_dot_.prefetch(dot_hash(d)); });
      }
    } else {
      seen.resize(n);
      std::size_t fresh = 0, fresh_dots = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const auto& theirs = other.entries_[i].second.store();
        seen[i] = seen_of(theirs);
        if (seen[i] == all_seen) continue;
        ++fresh;
        fresh_dots += theirs.dot_count();
      }
      if (fresh == 0) return;
      reserve(fresh, fresh_dots);
    }
    static const causal_context nothing;
    for (std::size_t i = 0; i < n; ++i) {
      const K& key = other.entries_[i].first;
      const auto& theirs = other.entries_[i].second.store();
      const std::uint8_t s = n > small_size ? seen[i] : seen_of(theirs);
      if (s == all_seen) continue;
      const std::uint32_t p = find_or_add_key(key);
      auto& mine = causal_access::store(entries_[p].second);
      try {
        mine.add_unseen(theirs, s == none_seen ? nothing : ctx);
      } catch (...) {
        if (mine.empty()) erase_entry(p);
        throw;
      }
      // ctx covers every dot held here, so these are not held yet.
      if (s == none_seen) {
        theirs.for_each_dot([&](const dot& d) { add_dot(d, p); });
      } else {
        theirs.for_each_dot([&](const dot& d) {
          if (!ctx.contains(d)) add_dot(d, p);
        });
      }
    }
  }

  /// The position of `key`, added with an empty value if absent (for
  /// or_map's mutators). Valid until the next call that adds or removes a key.
  std::uint32_t slot(const K& key) { return find_or_add_key(key); }
  /// The value at position `p` (from `slot`).
  V& value_in(std::uint32_t p) noexcept { return entries_[p].second; }

  /// After a nested mutator changed the value at position `p`, brings the
  /// dot records in line for the dots `changed` names, and drops the key if
  /// it is now empty. Takes the position, not the key: no second hash.
  void settle(std::uint32_t p, const causal_context& changed) {
    const auto& nested = entries_[p].second.store();
    if (!large_) {
      if (nested.empty()) erase_entry(p);
      return;
    }
    changed.for_each_dot([&](const dot& d) {
      const std::uint32_t q = find_dot(d);
      if (nested.contains(d)) {
        if (q == npos) {
          add_dot(d, p);
        } else {
          owners_[q] = p;
        }
      } else if (q != npos && owners_[q] == p) {
        remove_dot_at(q);
      }
    });
    if (nested.empty()) erase_entry(p);
  }

  /// Places a nested store at `key` (for building deltas and decoding);
  /// precondition: none of its dots is held under another key.
  void put(const K& key, typename V::store_type store) {
    const std::uint32_t p = find_or_add_key(key);
    auto& slot = causal_access::store(entries_[p].second);
    if (large_) slot.for_each_dot([&](const dot& d) { remove_dot_at(find_dot(d)); });
    slot = std::move(store);
    slot.for_each_dot([&](const dot& d) { add_dot(d, p); });
    if (slot.empty()) erase_entry(p);
  }

  /// At most `n` non-empty stores whose union is this one (whole keys each).
  [[nodiscard]] std::vector<dot_map> partition(std::size_t n) const {
    std::vector<dot_map> out;
    if (entries_.empty()) return out;
    const std::size_t per = (entries_.size() + n - 1) / std::max<std::size_t>(n, 1);
    std::size_t i = 0;
    for (const entry& e : *this) {
      if (i++ % per == 0) out.emplace_back();
      out.back().put(e.first, e.second.store());
    }
    return out;
  }

  /// Same keys with equal values, whatever order they were added in.
  friend bool operator==(const dot_map& a, const dot_map& b) {
    if (a.entries_.size() != b.entries_.size() || a.dot_count() != b.dot_count()) return false;
    for (const entry& e : a.entries_) {
      const V* theirs = b.find(e.first);
      if (theirs == nullptr || !(*theirs == e.second)) return false;
    }
    return true;
  }

 private:
  enum : std::uint8_t { stale, building, ready };  // order_state_
  // What a context has seen of a nested store's dots (add_unseen).
  static constexpr std::uint8_t none_seen = 0, some_seen = 1, all_seen = 2;

  // ------------------------------------------------------------ keys

  static std::size_t key_hash_of(const K& k) requires hashed { return seeded_hash(key_hash<K>{}(k)); }
  auto key_hash_at() const requires hashed {
    return [this](std::uint32_t p) { return key_hash_of(entries_[p].first); };
  }
  static bool same_key(const K& a, const K& b) {
    if constexpr (hashed) {
      return a == b;
    } else {
      const Compare less{};
      return !less(a, b) && !less(b, a);
    }
  }

  [[nodiscard]] std::uint32_t find_key(const K& k) const {
    if (!large_) {
      for (std::uint32_t p = 0; p < entries_.size(); ++p) {
        if (same_key(entries_[p].first, k)) return p;
      }
      return npos;
    }
    if constexpr (hashed) {
      return keys_.find(key_hash_of(k), [&](std::uint32_t p) { return entries_[p].first == k; });
    } else {
      const auto it = keys_.find(k);
      return it == keys_.end() ? npos : it->second;
    }
  }

  /// The position of `k`, appended with an empty value if absent.
  std::uint32_t find_or_add_key(const K& k) {
    const auto p = static_cast<std::uint32_t>(entries_.size());
    if (p >= npos - 1) throw_length_error("converge: more than 2^32 - 2 keys in one or_map");
    if (!large_) {
      for (std::uint32_t q = 0; q < p; ++q) {
        if (same_key(entries_[q].first, k)) return q;
      }
      append_entry(k);
      if (entries_.size() > small_size) {
        try {
          become_large();
        } catch (...) {
          entries_.pop_back();
          throw;
        }
      }
    } else if constexpr (hashed) {
      // One probe finds the key or indexes its new position.
      const std::size_t h = key_hash_of(k);
      const std::uint32_t at = keys_.find_or_insert(
          h, p, [&](std::uint32_t q) { return entries_[q].first == k; }, key_hash_at());
      if (at != npos) return at;
      try {
        append_entry(k);
      } catch (...) {
        keys_.erase(h, p, key_hash_at());
        throw;
      }
    } else {
      const auto [it, added] = keys_.try_emplace(k, p);
      if (!added) return it->second;
      try {
        append_entry(k);
      } catch (...) {
        keys_.erase(it);
        throw;
      }
    }
    sorted_ = sorted_ && (p == 0 || Compare{}(entries_[p - 1].first, entries_[p].first));
    order_state_.store(stale, std::memory_order_relaxed);
    return p;
  }

  void append_entry(const K& k) {
    entries_.emplace_back(std::piecewise_construct, std::forward_as_tuple(k), std::forward_as_tuple());
  }

  /// The store outgrew `small_size` entries: from now on its keys are
  /// indexed and its dots recorded. On failure it stays small, unchanged.
  void become_large() {
    try {
      if constexpr (hashed) {
        keys_.rebuild(static_cast<std::uint32_t>(entries_.size()), key_hash_at());
      } else {
        keys_.clear();
        for (std::uint32_t p = 0; p < entries_.size(); ++p) keys_.emplace(entries_[p].first, p);
      }
      large_ = true;
      for (std::uint32_t p = 0; p < entries_.size(); ++p)
        entries_[p].second.store().for_each_dot([&](const dot& d) { add_dot(d, p); });
    } catch (...) {
      drop_indexes();
      throw;
    }
  }

  /// Drops the entry at `p`, whose value holds no dot; the last entry moves
  /// into its place.
  void erase_entry(std::uint32_t p) {
    const auto last = static_cast<std::uint32_t>(entries_.size() - 1);
    if (large_) {
      if constexpr (hashed) {
        keys_.erase(key_hash_of(entries_[p].first), p, key_hash_at());
        if (p != last) keys_.relabel(key_hash_of(entries_[last].first), last, p);
      } else {
        keys_.erase(entries_[p].first);
        if (p != last) keys_.find(entries_[last].first)->second = p;
      }
    }
    if (p != last) {
      if (large_) entries_[last].second.store().for_each_dot([&](const dot& d) { owners_[find_dot(d)] = p; });
      entries_[p] = std::move(entries_[last]);
    }
    entries_.pop_back();
    sorted_ = (sorted_ && p == last) || entries_.size() <= 1;
    order_state_.store(stale, std::memory_order_relaxed);
  }

  // ------------------------------------------------------------ dots

  [[nodiscard]] bool dots_indexed() const noexcept { return by_dot_.capacity() != 0; }
  static std::size_t dot_hash(const dot& d) { return std::hash<dot>{}(d); }
  auto dot_hash_at() const {
    return [this](std::uint32_t q) { return dot_hash(dots_[q]); };
  }

  /// The position of the entry holding `d`, or npos.
  [[nodiscard]] std::uint32_t owner_of(const dot& d) const {
    if (large_) {
      const std::uint32_t q = find_dot(d);
      return q == npos ? npos : owners_[q];
    }
    for (std::uint32_t p = 0; p < entries_.size(); ++p) {
      if (entries_[p].second.store().contains(d)) return p;
    }
    return npos;
  }

  /// The position of the record of `d`, or npos. Precondition: large_.
  [[nodiscard]] std::uint32_t find_dot(const dot& d) const {
    if (runs_.sorted()) return runs_.find(dots_, d, [](const dot& x) -> const dot& { return x; });
    if (!dots_indexed()) {
      for (std::uint32_t q = 0; q < dots_.size(); ++q) {
        if (dots_[q] == d) return q;
      }
      return npos;
    }
    return by_dot_.find(dot_hash(d), [&](std::uint32_t q) { return dots_[q] == d; });
  }

  /// Records that entry `owner` holds `d` (a small store keeps no records).
  /// Precondition: `d` has no record.
  void add_dot(const dot& d, std::uint32_t owner) {
    if (!large_) return;
    const auto q = static_cast<std::uint32_t>(dots_.size());
    if (q >= npos - 1) throw_length_error("converge: more than 2^32 - 2 dots in one or_map");
    if (dots_.size() == dots_.capacity()) dots_.reserve(std::max<std::size_t>(2 * dots_.size(), 4));
    if (owners_.size() == owners_.capacity()) owners_.reserve(dots_.capacity());
    note_run(q, d);  // may give the runs up, and index the records held so far
    if (!runs_.sorted()) {
      if (dots_indexed()) {
        by_dot_.insert(dot_hash(d), q, dot_hash_at());  // the record goes in after
      } else if (q + 1 > small_size) {
        dots_.push_back(d);  // rebuild reads every record
        owners_.push_back(owner);
        try {
          by_dot_.rebuild(q + 1, dot_hash_at());
        } catch (...) {
          dots_.pop_back();
          owners_.pop_back();
          throw;
        }
        return;
      }
    }
    dots_.push_back(d);  // capacity reserved above: cannot throw
    owners_.push_back(owner);
  }

  /// Keeps the runs up to date for a record `d` at `q`, after records
  /// [0, q); one run too many gives them up.
  void note_run(std::uint32_t q, const dot& d) {
    if (runs_.sorted() && !runs_.append(q, q > 0 && dots_[q - 1] < d)) index_dots();
  }

  /// The records are no longer kept in dot runs: index them if the store is large.
  void index_dots() {
    if (dots_.size() > small_size) by_dot_.rebuild(static_cast<std::uint32_t>(dots_.size()), dot_hash_at());
  }

  /// Drops the record at `q`; the last record moves into its place.
  void remove_dot_at(std::uint32_t q) {
    const auto last = static_cast<std::uint32_t>(dots_.size() - 1);
    if (!runs_.remove(q, last)) index_dots();  // the last record moves into the hole
    if (!runs_.sorted() && dots_indexed()) {
      by_dot_.erase(dot_hash(dots_[q]), q, dot_hash_at());
      if (q != last) by_dot_.relabel(dot_hash(dots_[last]), last, q);
    }
    if (q != last) {
      dots_[q] = dots_[last];
      owners_[q] = owners_[last];
    }
    dots_.pop_back();
    owners_.pop_back();
  }

  /// Room for `more` entries holding `more_dots` dots, in one growth of
  /// each array and index (geometric, so repeated joins stay amortized O(1)).
  void reserve(std::size_t more, std::size_t more_dots) {
    const auto grow = [](auto& v, std::size_t want) {
      if (want > v.capacity()) v.reserve(std::max(want, 2 * v.capacity()));
    };
    grow(entries_, entries_.size() + more);
    if (!large_ && entries_.size() + more > small_size) become_large();
    if (!large_) return;
    grow(dots_, dots_.size() + more_dots);
    grow(owners_, owners_.size() + more_dots);
    if constexpr (hashed) keys_.reserve(entries_.size() + more, key_hash_at());
    if (!runs_.sorted() && !dots_indexed() && dots_.size() + more_dots > small_size)
      by_dot_.rebuild(static_cast<std::uint32_t>(dots_.size()), dot_hash_at());
    if (dots_indexed()) by_dot_.reserve(dots_.size() + more_dots, dot_hash_at());
  }

  // ------------------------------------------------------------ key order

  /// The positions of the entries in key order, or nullptr when the entries
  /// are stored in key order. Built once per change of the key set, by the
  /// first reader that asks (others wait for it).
  [[nodiscard]] const std::uint32_t* ordered_positions() const {
    if (sorted_) return nullptr;
    std::uint8_t s = order_state_.load(std::memory_order_acquire);
    while (s != ready) {
      if (s == building) {
        order_state_.wait(building, std::memory_order_acquire);
        s = order_state_.load(std::memory_order_acquire);
      } else if (order_state_.compare_exchange_weak(s, building, std::memory_order_acquire)) {
        try {
          order_.resize(entries_.size());
          std::iota(order_.begin(), order_.end(), std::uint32_t{0});
          const Compare less{};
          std::sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) {
            return less(entries_[a].first, entries_[b].first);
          });
        } catch (...) {
          order_state_.store(stale, std::memory_order_release);
          order_state_.notify_all();
          throw;
        }
        order_state_.store(ready, std::memory_order_release);
        order_state_.notify_all();
        return order_.data();
      }
    }
    return order_.data();
  }

  /// Copies `o`'s key order if it is built (a concurrent reader of `o` may be
  /// building it: then this copy builds its own when asked).
  void copy_order(const dot_map& o) {
    if (o.sorted_ || o.order_state_.load(std::memory_order_acquire) != ready) return;
    order_ = o.order_;
    order_state_.store(ready, std::memory_order_relaxed);
  }

  /// Back to a small store's layout: no key index, no dot records.
  void drop_indexes() noexcept {
    keys_ = key_index{};
    large_ = false;
    dots_.clear();
    owners_.clear();
    by_dot_.clear();
    runs_.reset();
  }

  /// Empties a moved-from store.
  void reset() noexcept {
    entries_.clear();
    drop_indexes();
    order_.clear();
    order_state_.store(stale, std::memory_order_relaxed);
    sorted_ = true;
  }

  std::vector<entry> entries_;
  key_index keys_;  // positions by key; unused while !large_
  // dots_[q] is held by the value of entries_[owners_[q]]; empty while !large_.
  std::vector<dot> dots_;
  std::vector<std::uint32_t> owners_;
  // Untagged: dots are inserted with every value but looked up only for
  // removals (as in element_store).
  flat_index by_dot_{flat_index::untagged};  // empty while runs_.sorted() or small
  // While sorted(), dots_ is a few runs in dot order and a lookup needs no
  // index: the dots of a replica's own updates, of a decoded state and of a
  // join of states from other replicas arrive in runs (dot_runs.hpp).
  dot_runs runs_;
  mutable std::vector<std::uint32_t> order_;  // positions in key order, while order_state_ is ready
  mutable std::atomic<std::uint8_t> order_state_{stale};
  bool sorted_ = true;  // entries_ is in key order (order_ is then not used)
  bool large_ = false;  // has held more than small_size entries: keys indexed, dots recorded
};

}  // namespace converge::detail
