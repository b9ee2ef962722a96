#pragma once
// An open-addressing hash index over the positions of a dense record array.
//
// The positions held are always exactly [0, size()): callers keep their
// records dense (erase moves the last record into the hole and relabels it).
//
// Why purpose-built: the or_set keeps its (element, dot) records in one
// vector and needs two lookups into it (by element, by dot). Storing 4-byte
// positions instead of keys keeps both indexes at ~8 bytes per record and
// avoids a second copy of every element; a node-based map costs ~4x the time
// and ~110 bytes per element (measured in bench/). The index does not know
// the records: callers pass the hash of the key they look up and a predicate
// on positions, and `hash_of(position)` when the table must move entries.
// or_map's store (dot_map.hpp) indexes its (key, value) entries and its dot
// records the same way.
//
// Linear probing, power-of-two capacity, load factor at most 3/4,
// backward-shift deletion (no tombstones, so lookups never slow down with
// churn). Several positions may share a key (a multimap), found by
// `for_each_match`.
//
// Each slot also keeps a one-byte tag, the top bits of its key's hash, in a
// parallel array: a probe compares a record only when the tags agree. In a
// large table the records are out of cache, and without tags inserting a
// new key compared every record of its probe run (about 2.5 at half load,
// 8.5 at 3/4), each a cache miss; with tags, about one in 256 of them.
// Callers' `match(p)` must imply that position p's key hashes to `hash`
// (key equality does).

#include "converge/detail/throw.hpp"
#include "converge/replica_id.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>
// The OS's entropy for hash_key(): getentropy() from <sys/random.h> on Linux
// (glibc >= 2.25, musl) and macOS, else std::random_device. <random> alone
// costs more to compile than the rest of an or_set.
#if (defined(__linux__) || defined(__APPLE__)) && __has_include(<sys/random.h>)
#include <sys/random.h>
#define CONVERGE_DETAIL_GETENTROPY 1
#else
#include <random>
#endif

namespace converge::detail {

/// A per-process random key folded into every element hash, so that a peer
/// cannot craft elements that collide in our tables (hash flooding): the
/// mixer is a bijection, and without the key its low bits are unpredictable.
inline std::uint64_t hash_key() noexcept {
  static const std::uint64_t key = [] {
#if defined(CONVERGE_DETAIL_GETENTROPY)
    std::uint64_t k = 0;
    if (getentropy(&k, sizeof k) == 0) return k;
    // No entropy (a sandbox without the syscall): still unpredictable enough
    // across runs through address-space layout randomization.
    return replica_id::mix(reinterpret_cast<std::uintptr_t>(&k));
#else
    std::random_device entropy;
    return (std::uint64_t{entropy()} << 32) ^ entropy();
#endif
  }();
  return key;
}

/// The hash a flat table uses for a value whose std::hash is `h`.
inline std::size_t seeded_hash(std::size_t h) noexcept {
  return static_cast<std::size_t>(replica_id::mix(h ^ hash_key()));
}

// A template only so that its member functions, and the std::vector code
// they call, are instantiated in the translation units that use an index,
// not in every one that includes a converge type (a non-template class's
// inline bodies are compiled wherever its header is). Use `flat_index`.
template <class = void>
class basic_flat_index {
 public:
  static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();

  /// Whether slots keep tags (see the file comment). An index that is
  /// mostly inserted into, and whose lookups are rare, saves the byte.
  enum tagging : bool { untagged = false, tagged = true };

  basic_flat_index() = default;
  explicit basic_flat_index(tagging t) noexcept : tagged_(t == tagged) {}

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

  /// Asks the cache for the home slot of `hash` (a hint; no effect on results).
  void prefetch(std::size_t hash) const noexcept {
    if (slots_.empty()) return;
    __builtin_prefetch(&slots_[hash & mask()]);
    if (tagged_) __builtin_prefetch(&tags_[hash & mask()]);
  }

  /// The position stored in the home slot of `hash`, or npos when that slot
  /// is empty: lets a batch prefetch the record a lookup will compare first.
  [[nodiscard]] std::uint32_t home(std::size_t hash) const noexcept {
    return slots_.empty() ? npos : slots_[hash & mask()] - 1;
  }

  /// The first position whose record satisfies `match`, or npos.
  template <class Match>
  [[nodiscard]] std::uint32_t find(std::size_t hash, Match&& match) const {
    if (slots_.empty()) return npos;
    const std::uint8_t t = tag(hash);
    for (std::size_t i = hash & mask(); slots_[i] != empty; i = (i + 1) & mask()) {
      if (tag_at(i, t) && match(slots_[i] - 1)) return slots_[i] - 1;
    }
    return npos;
  }

  /// Calls `f(position)` for every position whose record satisfies `match`.
  template <class Match, class F>
  void for_each_match(std::size_t hash, Match&& match, F&& f) const {
    if (slots_.empty()) return;
    const std::uint8_t t = tag(hash);
    for (std::size_t i = hash & mask(); slots_[i] != empty; i = (i + 1) & mask()) {
      if (tag_at(i, t) && match(slots_[i] - 1)) f(slots_[i] - 1);
    }
  }

  /// Adds `position` under `hash`. `hash_of(p)` rehashes any position if the table grows.
  template <class HashOf>
  void insert(std::size_t hash, std::uint32_t position, HashOf&& hash_of) {
    if (position >= npos - 1) throw_length_error("converge: more than 2^32 - 2 records in one store");
    if ((count_ + 1) * 4 > slots_.size() * 3) grow(hash_of);
    place(hash, position + 1);
    ++count_;
  }

  /// Adds `position` under `hash` like insert, in the same probe telling
  /// whether some position already there satisfies `match`.
  template <class Match, class HashOf>
  bool insert_noting(std::size_t hash, std::uint32_t position, Match&& match, HashOf&& hash_of) {
    if (position >= npos - 1) throw_length_error("converge: more than 2^32 - 2 records in one store");
    if ((count_ + 1) * 4 > slots_.size() * 3) grow(hash_of);
    bool seen = false;
    const std::uint8_t t = tag(hash);
    std::size_t i = hash & mask();
    for (; slots_[i] != empty; i = (i + 1) & mask()) seen = seen || (tag_at(i, t) && match(slots_[i] - 1));
    slots_[i] = position + 1;
    set_tag(i, t);
    ++count_;
    return seen;
  }

  /// Grows the table now, in one rehash, so that `n` positions fit without
  /// growing again (a batch of inserts then probes a table that stays put).
  template <class HashOf>
  void reserve(std::size_t n, HashOf&& hash_of) {
    if (n * 4 <= slots_.size() * 3) return;
    resize(capacity_for(n), hash_of);
  }

  /// Adds `position` under `hash` unless some position there satisfies
  /// `match`, in one probe; true when added. `position` itself is not
  /// looked at (the caller may store its record after a successful add).
  template <class Match, class HashOf>
  bool insert_if_absent(std::size_t hash, std::uint32_t position, Match&& match, HashOf&& hash_of) {
    if (position >= npos - 1) throw_length_error("converge: more than 2^32 - 2 records in one store");
    if ((count_ + 1) * 4 > slots_.size() * 3) grow(hash_of);
    const std::uint8_t t = tag(hash);
    std::size_t i = hash & mask();
    for (; slots_[i] != empty; i = (i + 1) & mask()) {
      if (tag_at(i, t) && match(slots_[i] - 1)) return false;
    }
    slots_[i] = position + 1;
    set_tag(i, t);
    ++count_;
    return true;
  }

  /// The first position whose record satisfies `match`; when there is none,
  /// adds `position` under `hash` in the same probe and returns npos.
  /// `position` itself is not looked at (its record may be stored after).
  template <class Match, class HashOf>
  std::uint32_t find_or_insert(std::size_t hash, std::uint32_t position, Match&& match, HashOf&& hash_of) {
    if (position >= npos - 1) throw_length_error("converge: more than 2^32 - 2 records in one store");
    if ((count_ + 1) * 4 > slots_.size() * 3) grow(hash_of);
    const std::uint8_t t = tag(hash);
    std::size_t i = hash & mask();
    for (; slots_[i] != empty; i = (i + 1) & mask()) {
      if (tag_at(i, t) && match(slots_[i] - 1)) return slots_[i] - 1;
    }
    slots_[i] = position + 1;
    set_tag(i, t);
    ++count_;
    return npos;
  }

  /// Removes `position`, stored under `hash`.
  template <class HashOf>
  void erase(std::size_t hash, std::uint32_t position, HashOf&& hash_of) {
    std::size_t i = slot_of(hash, position);
    slots_[i] = empty;
    --count_;
    // Backward shift: pull later entries of the probe run into the hole when
    // their home slot allows it, so no lookup ever stops early.
    for (std::size_t j = (i + 1) & mask(); slots_[j] != empty; j = (j + 1) & mask()) {
      const std::size_t home = hash_of(slots_[j] - 1) & mask();
      const bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        slots_[i] = slots_[j];
        if (tagged_) tags_[i] = tags_[j];
        slots_[j] = empty;
        i = j;
      }
    }
  }

  /// The record at position `from` moved to `to`; `hash` is its key's hash.
  void relabel(std::size_t hash, std::uint32_t from, std::uint32_t to) {
    slots_[slot_of(hash, from)] = to + 1;
  }

  /// Builds the index for positions [0, n) with hashes `hash_of(p)`.
  template <class HashOf>
  void rebuild(std::uint32_t n, HashOf&& hash_of) {
    count_ = n;
    resize(capacity_for(n), hash_of);
  }

  /// Builds the index for positions [0, n) like `rebuild`, and returns how
  /// many positions have no earlier position `q` with `same(q, p)` (the
  /// number of distinct keys), found in the same probes.
  template <class HashOf, class Same>
  std::size_t rebuild_distinct(std::uint32_t n, HashOf&& hash_of, Same&& same) {
    const std::size_t cap = capacity_for(n);
    slots_.assign(cap, empty);
    tags_.assign(tagged_ ? cap : 0, 0);
    count_ = n;
    const std::size_t m = cap - 1;
    std::uint32_t* slots = slots_.data();
    std::uint8_t* tags = tagged_ ? tags_.data() : nullptr;
    std::size_t distinct = 0;
    for (std::uint32_t p = 0; p < n; ++p) {
      bool seen = false;
      const std::size_t h = hash_of(p);
      const std::uint8_t t = tag(h);
      std::size_t i = h & m;
      for (; slots[i] != empty; i = (i + 1) & m)
        seen = seen || ((tags == nullptr || tags[i] == t) && same(slots[i] - 1, p));
      slots[i] = p + 1;
      if (tags != nullptr) tags[i] = t;
      distinct += seen ? 0 : 1;
    }
    return distinct;
  }

  void clear() noexcept {
    slots_.clear();
    slots_.shrink_to_fit();
    tags_.clear();
    tags_.shrink_to_fit();
    count_ = 0;
  }

  /// Heap bytes held by the index.
  [[nodiscard]] std::size_t heap_bytes() const noexcept {
    return slots_.capacity() * sizeof(std::uint32_t) + tags_.capacity() * sizeof(std::uint8_t);
  }

 private:
  static constexpr std::uint32_t empty = 0;

  [[nodiscard]] std::size_t mask() const noexcept { return slots_.size() - 1; }

  /// The top byte of the hash: the slot comes from the low bits, so the tag
  /// tells apart keys that probe the same run.
  [[nodiscard]] static std::uint8_t tag(std::size_t hash) noexcept {
    return static_cast<std::uint8_t>(hash >> (8 * sizeof(std::size_t) - 8));
  }

  [[nodiscard]] bool tag_at(std::size_t i, std::uint8_t t) const noexcept {
    return !tagged_ || tags_[i] == t;
  }
  void set_tag(std::size_t i, std::uint8_t t) noexcept {
    if (tagged_) tags_[i] = t;
  }

  void place(std::size_t hash, std::uint32_t stored) {
    std::size_t i = hash & mask();
    while (slots_[i] != empty) i = (i + 1) & mask();
    slots_[i] = stored;
    set_tag(i, tag(hash));
  }

  [[nodiscard]] std::size_t slot_of(std::size_t hash, std::uint32_t position) const {
    std::size_t i = hash & mask();
    while (slots_[i] != position + 1) i = (i + 1) & mask();
    return i;
  }

  [[nodiscard]] static std::size_t capacity_for(std::size_t n) noexcept {
    std::size_t cap = 16;
    while (n * 4 > cap * 3) cap *= 2;
    return cap;
  }

  template <class HashOf>
  void grow(HashOf&& hash_of) {
    resize(slots_.empty() ? 16 : slots_.size() * 2, hash_of);
  }

  /// Rehashes into `cap` slots. The positions held are always [0, count_)
  /// (the records array is dense), so they are read in order: the records
  /// stream through the cache instead of being visited in slot order.
  template <class HashOf>
  void resize(std::size_t cap, HashOf&& hash_of) {
    slots_.assign(cap, empty);
    tags_.assign(tagged_ ? cap : 0, 0);
    for (std::uint32_t p = 0; p < count_; ++p) place(hash_of(p), p + 1);
  }

  std::vector<std::uint32_t> slots_;
  std::vector<std::uint8_t> tags_;  // tags_[i]: tag of the key in slots_[i] (meaningless when empty)
  std::size_t count_ = 0;
  bool tagged_ = true;
};

using flat_index = basic_flat_index<>;

}  // namespace converge::detail
