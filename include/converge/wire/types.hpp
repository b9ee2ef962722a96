#pragma once
/// @file
/// cereal serialization of every converge type, and of Hana structs of them.
///
/// Each type is written from its public representation and read back
/// through its validating factory, so a decoded state is always a valid
/// state: unsorted or duplicate entries, a dot held twice, a store dot its
/// context has not seen, or a cloud the version vector contradicts are
/// refused (`decode_error` from `converge::decode`, `std::invalid_argument`
/// from cereal's own archives).
///
/// Layouts (in the wire archive; `[x]` is a varint count then the items,
/// `r` a replica-table index, `dots(x)` the dot groups of core.hpp:
/// `[r [counter gap, x]]`, gaps from 0 then difference minus one):
/// @code
///   gcounter        [r count]                     pncounter  gcounter gcounter
///   bounded_counter gcounter gcounter [r_from r_to amount]
///   gset            [element]                     twop_set   [live] [tombstone]
///   lww_register    0 | 1 r timestamp value
///   causal_context  [r max_contiguous] cloud      any causal type: context store
///   cloud           [r [gap extent]]              (dot ranges: see core.hpp, save_cloud)
///   or_set store    dots(element)                 mv_register store: dots(value)
///   flag store      dots()                        or_map store: [key nested_store]
///   g_map           [key value]                   Hana struct: members in order
/// @endcode
///
/// Format 2 (header 0x20) adds columns for large dot stores. In a 2.0 frame
/// every dot store (or_set, mv_register and flag stores, or_map stores)
/// starts with a layout byte: 0, the rows above; 1, columns (columns.hpp:
/// `runs` and `strings` columns, each with its byte length in front):
/// @code
///   or_set / mv_register store  1 n replicas counters values
///   or_map store                1 k n keys dots_per_key replicas counters values
///     replicas  runs: each dot's replica-table index, less the previous dot's
///     counters  runs: each dot's counter, less the previous dot's
///               (both differences mod 2^64, zig-zagged: 0, -1, 1... cost 0, 1, 2...)
///     values    a strings column when the values are std::string, else n values as in rows
///     keys      the k keys in key order, the same way
///     dots_per_key  runs: each key's number of dots (at least one)
/// @endcode
/// A single store's dots are in dot order; a map's are key by key (each key's
/// in dot order), which makes a key's concurrent dots differences of 0 and 1,
/// while the map's values follow in dot order (sorted by replica, then
/// counter): one writer's values follow one another, so their common
/// prefixes ("r12-...") front-code away. Flags carry no values and stay in
/// rows (their dots alone run-length encode to less than their count, which
/// the decoder's count bound refuses); a map of maps keeps rows for the
/// outer map and lets the inner stores choose.
///
/// `encode` writes a 2.0 frame only when some store has at least
/// `encode_options::columns_from` (64) entries, so small values, deltas
/// above all, are the same 1.0 bytes as before format 2. A large store whose
/// columns would come out shorter than its count (which a decoder refuses)
/// is written in rows.
///
/// Sets and maps need cereal serialization for their elements and keys:
/// integers, floating point, `bool`, `std::string` and Hana structs work out
/// of the box; include cereal's `types/` headers for other std types.

#include "converge/bounded_counter.hpp"
#include "converge/detail/dot_fun.hpp"
#include "converge/detail/dot_map.hpp"
#include "converge/detail/element_store.hpp"
#include "converge/detail/sort_runs.hpp"
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
#include "converge/twop_set.hpp"
#include "converge/wire/archive.hpp"
#include "converge/wire/columns.hpp"
#include "converge/wire/core.hpp"

#include <boost/hana/accessors.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>
#include <cereal/cereal.hpp>
#include <cereal/types/string.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge::wire::detail {

/// Sorts unsigned integers by their bytes, least significant first (LSD
/// radix): linear, and about 4x faster than std::sort on the thousands of
/// random 64-bit keys a delta interval carries. Every byte's histogram comes
/// from one read of the keys (a key's byte does not depend on the order), so
/// each pass is a scatter only; a pass whose byte is the same for every key
/// is skipped (small keys cost fewer passes).
template <class T>
requires std::is_unsigned_v<T>
void radix_sort(std::vector<T>& keys) {
  constexpr unsigned bytes = sizeof(T);
  std::size_t count[bytes][256] = {};
  for (const T k : keys) {
    for (unsigned b = 0; b < bytes; ++b) ++count[b][(k >> (8 * b)) & 0xff];
  }
  std::vector<T> spare(keys.size());
  for (unsigned b = 0; b < bytes; ++b) {
    const unsigned shift = 8 * b;
    std::size_t* c = count[b];
    if (c[(keys.front() >> shift) & 0xff] == keys.size()) continue;
    std::size_t at = 0;
    for (std::size_t d = 0; d < 256; ++d) at += std::exchange(c[d], at);
    for (const T k : keys) spare[c[(k >> shift) & 0xff]++] = k;
    keys.swap(spare);
  }
}

/// Writes a set in ascending order (so equal sets encode alike): its size,
/// then the elements.
template <class Archive, class Set>
void save_set(Archive& ar, const char* name, const Set& s) {
  using T = typename Set::value_type;
  if constexpr (std::is_trivially_copyable_v<T> && sizeof(T) <= 16) {
    // Small values sort faster by value than through pointers.
    std::vector<T> sorted(s.begin(), s.end());
    if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
      if (sorted.size() >= 256) {
        radix_sort(sorted);
      } else {
        std::sort(sorted.begin(), sorted.end());
      }
    } else {
      std::sort(sorted.begin(), sorted.end());
    }
    ar(cereal::make_nvp(name, write_seq(sorted.size(), [&](Archive& a) {
                          for (const T& v : sorted) a(v);
                        })));
  } else {
    std::vector<const T*> sorted;
    sorted.reserve(s.size());
    for (const T& v : s) sorted.push_back(&v);
    std::sort(sorted.begin(), sorted.end(), [](const T* x, const T* y) { return *x < *y; });
    ar(cereal::make_nvp(name, write_seq(sorted.size(), [&](Archive& a) {
                          for (const T* v : sorted) a(*v);
                        })));
  }
}

/// Reads a set written by `save_set` into `s` (in order), refusing unsorted
/// or duplicate elements.
template <class Archive, class T>
void load_set(Archive& ar, const char* name, std::vector<T>& s) {
  s.clear();
  ar(cereal::make_nvp(name, read_seq([&](Archive& a, std::size_t i, std::size_t n) {
                        // read_seq checked n against the bytes that remain: reserving
                        // small values costs at most a small multiple of the input.
                        if constexpr (std::is_trivially_copyable_v<T> && sizeof(T) <= 16) {
                          if (i == 0) s.reserve(n);
                        }
                        T v{};
                        a(v);
                        if (!s.empty() && !(s.back() < v)) refuse(a, "set elements not strictly sorted");
                        s.push_back(std::move(v));
                      })));
}

// ------------------------------------------------------ format 2: columns

inline constexpr std::byte rows_layout{0};
inline constexpr std::byte columns_layout{1};

/// `now - before` mod 2^64, zig-zagged: small for small steps either way.
inline std::uint64_t step(std::uint64_t now, std::uint64_t before) {
  return zigzag(static_cast<std::int64_t>(now - before));
}
/// Undoes `step`: any input names some value (mod 2^64), so nothing overflows.
inline std::uint64_t unstep(std::uint64_t before, std::uint64_t delta) {
  return before + static_cast<std::uint64_t>(unzigzag(delta));
}

inline void write_column(output_archive& ar, const std::vector<std::byte>& c) {
  ar.write_varint(c.size());
  ar.write_bytes(c.data(), c.size());
}
inline columns::reader read_column(input_archive& ar) {
  const std::size_t at = ar.offset();
  const std::uint64_t n = ar.read_varint();
  if (n > ar.remaining()) {
    ar.fail_at(at, "column of " + std::to_string(n) + " bytes exceeds the " + std::to_string(ar.remaining()) +
                       " bytes that remain");
  }
  const std::size_t start = ar.offset();
  return columns::reader(ar.read_view(static_cast<std::size_t>(n)), start);
}

/// The replicas and counters columns of a sequence of dots.
class dot_columns_writer {
 public:
  explicit dot_columns_writer(output_archive& ar) : ar_(ar) {}
  void push(const dot& d) {
    const std::uint64_t i = ar_.replica_index(d.replica);  // in the order a reader meets them
    replicas_.push(step(i, index_));
    counters_.push(step(d.counter, counter_));
    index_ = i;
    counter_ = d.counter;
  }
  void finish() {
    write_column(ar_, replicas_.finish());
    write_column(ar_, counters_.finish());
  }

 private:
  output_archive& ar_;
  columns::runs_writer replicas_, counters_;
  std::uint64_t index_ = 0, counter_ = 0;
};

class dot_columns_reader {
 public:
  explicit dot_columns_reader(input_archive& ar)
      : ar_(ar), at_(ar.offset()), replicas_(read_column(ar)), counters_(read_column(ar)) {}
  [[nodiscard]] dot next() {
    index_ = unstep(index_, replicas_.next());
    counter_ = unstep(counter_, counters_.next());
    if (counter_ == 0) ar_.fail_at(at_, "dot counter 0");
    return dot{ar_.replica_at(index_, at_), counter_};
  }
  void finish() const {
    replicas_.finish("replicas");
    counters_.finish("counters");
  }

 private:
  input_archive& ar_;
  std::size_t at_;  // where the dot columns start, for errors
  columns::runs_reader replicas_, counters_;
  std::uint64_t index_ = 0, counter_ = 0;
};

/// A column of values: a strings column for std::string, nothing for flags,
/// else the values as rows write them, after the other columns.
template <class T>
class values_writer {
 public:
  void push(const T& v) { values_.push_back(&v); }
  void finish(output_archive& ar) const {
    if constexpr (std::is_same_v<T, std::string>) {
      columns::strings_writer w;
      for (const T* v : values_) w.push(*v);
      write_column(ar, w.finish());
    } else if constexpr (!std::is_same_v<T, converge::detail::no_value>) {
      for (const T* v : values_) ar(*v);
    }
  }

 private:
  std::vector<const T*> values_;
};

template <class T>
class values_reader {
 public:
  values_reader(input_archive& ar, std::size_t n) : ar_(ar) {
    if constexpr (std::is_same_v<T, std::string>)
      strings_.emplace(read_column(ar), n, ar.limits().max_string_bytes);
  }
  [[nodiscard]] T next() {
    if constexpr (std::is_same_v<T, std::string>) {
      return strings_->next();
    } else {
      T v{};
      if constexpr (!std::is_same_v<T, converge::detail::no_value>) ar_(v);
      return v;
    }
  }
  void finish() const {
    if constexpr (std::is_same_v<T, std::string>) strings_->finish();
  }

 private:
  input_archive& ar_;
  std::optional<columns::strings_reader> strings_;
};

/// What the columns need of a dot store: its (dot, value) pairs in dot
/// order, and the store of such pairs. Stores without it stay in rows.
template <class Store>
struct columnar_store : std::false_type {};

template <class T, class H>
struct columnar_store<converge::detail::element_store<T, H>> : std::true_type {
  using store = converge::detail::element_store<T, H>;
  using payload = T;
  template <class F>
  static void for_each(const store& s, F f) {
    const auto& records = s.records();
    const auto by_dot = [](const auto& a, const auto& b) { return a.tag < b.tag; };
    if (std::is_sorted(records.begin(), records.end(), by_dot)) {
      for (const auto& r : records) f(r.tag, r.element);
      return;
    }
    std::vector<std::pair<dot, std::uint32_t>> order;
    order.reserve(records.size());
    for (std::uint32_t p = 0; p < records.size(); ++p) order.emplace_back(records[p].tag, p);
    converge::detail::sort_runs(order, [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [d, p] : order) f(d, records[p].element);
  }
  /// The store of `dots` (strictly increasing, hence distinct), each with the value `next()` gives.
  template <class Next>
  static store build(const std::vector<dot>& dots, Next next) {
    std::vector<typename store::record> records;
    records.reserve(dots.size());
    for (const dot& d : dots) records.push_back(typename store::record{next(), d});
    return store::from_records(std::move(records));
  }
  static store build(std::vector<std::pair<dot, T>>&& items) {
    std::vector<typename store::record> records;
    records.reserve(items.size());
    for (auto& [d, v] : items) records.push_back(typename store::record{std::move(v), d});
    return store::from_records(std::move(records));
  }
};

template <class V>
struct columnar_store<converge::detail::dot_fun<V>> : std::true_type {
  using store = converge::detail::dot_fun<V>;
  using payload = V;
  template <class F>
  static void for_each(const store& s, F f) {
    for (const auto& [d, v] : s.entries()) f(d, v);
  }
  template <class Next>
  static store build(const std::vector<dot>& dots, Next next) {
    store s;
    for (const dot& d : dots) s.add(d, next());  // in dot order: appended
    return s;
  }
  static store build(std::vector<std::pair<dot, V>>&& items) {
    store s;
    for (auto& [d, v] : items) s.add(d, std::move(v));  // in dot order: appended
    return s;
  }
};

/// Writes `columns()` (which returns the largest count it declared) after a
/// layout byte when `count` reaches the archive's threshold, else `rows()`;
/// in a 1.0 frame, rows with no layout byte. Columns shorter than a count
/// they declare would be refused by the reader: such a store is rewritten in rows.
template <class Rows, class Columns>
void save_store(output_archive& ar, std::size_t count, bool can_columns, Rows rows, Columns columns) {
  if (!ar.columnar()) {
    rows();
    return;
  }
  if (can_columns && count >= ar.columns_from()) {
    const auto m = ar.here();
    ar.write_byte(columns_layout);
    const std::size_t declared = columns();
    if (ar.written_since(m) >= 1 + 2 * max_varint_bytes + declared) return;
    ar.rewind(m);
  }
  ar.write_byte(rows_layout);
  rows();
}

/// Reads a store's layout byte in a 2.0 frame: true for columns.
inline bool read_layout(input_archive& ar) {
  if (!ar.columnar()) return false;
  const std::size_t at = ar.offset();
  const std::byte b = ar.read_byte();
  if (b == columns_layout) return true;
  if (b != rows_layout)
    ar.fail_at(at, "unknown store layout " + std::to_string(std::to_integer<unsigned>(b)));
  return false;
}

/// A single store in columns: `n replicas counters values`.
template <class Store>
std::size_t save_store_columns(output_archive& ar, const Store& s) {
  using traits = columnar_store<Store>;
  const auto n = static_cast<std::size_t>(s.dot_count());
  ar.write_varint(n);
  dot_columns_writer dots(ar);
  values_writer<typename traits::payload> values;
  traits::for_each(s, [&](const dot& d, const auto& v) {
    dots.push(d);
    values.push(v);
  });
  dots.finish();
  values.finish(ar);
  return n;
}

template <class Store>
Store load_store_columns(input_archive& ar) {
  using traits = columnar_store<Store>;
  const std::size_t n = ar.read_size();
  dot_columns_reader columns(ar);
  std::vector<dot> dots;
  dots.reserve(n);  // n is at most the bytes that remain
  for (std::size_t i = 0; i < n; ++i) {
    const dot d = columns.next();
    if (i != 0 && !(dots.back() < d)) ar.fail("store dots not strictly increasing");
    dots.push_back(d);
  }
  columns.finish();
  values_reader<typename traits::payload> values(ar, n);
  Store s = traits::build(dots, [&] { return values.next(); });
  values.finish();
  return s;
}

/// A map's columns: `k n keys dots_per_key replicas counters values`.
template <class K, class V, class C>
std::size_t save_map_columns(output_archive& ar, const converge::detail::dot_map<K, V, C>& m) {
  using traits = columnar_store<typename V::store_type>;
  using value = typename traits::payload;
  const auto n = static_cast<std::size_t>(m.dot_count());
  ar.write_varint(m.size());
  ar.write_varint(n);
  values_writer<K> keys;
  columns::runs_writer per_key;
  struct item {
    dot d;
    const value* v;
  };
  std::vector<item> items;
  items.reserve(n);
  for (const auto& [k, v] : m.entries()) {
    keys.push(k);
    const std::size_t before = items.size();
    traits::for_each(v.store(), [&](const dot& d, const value& x) { items.push_back(item{d, &x}); });
    per_key.push(items.size() - before);
  }
  keys.finish(ar);
  write_column(ar, per_key.finish());
  dot_columns_writer dots(ar);
  for (const item& i : items) dots.push(i.d);
  dots.finish();
  std::sort(items.begin(), items.end(), [](const item& a, const item& b) { return a.d < b.d; });
  values_writer<value> values;
  for (const item& i : items) values.push(*i.v);
  values.finish(ar);
  return std::max(m.size(), n);
}

template <class K, class V, class C>
void load_map_columns(input_archive& ar, converge::detail::dot_map<K, V, C>& m) {
  using traits = columnar_store<typename V::store_type>;
  using value = typename traits::payload;
  const std::size_t k = ar.read_size();
  const std::size_t n = ar.read_size();
  std::vector<K> keys;
  keys.reserve(k);
  {
    values_reader<K> key_values(ar, k);
    for (std::size_t i = 0; i < k; ++i) {
      keys.push_back(key_values.next());
      if (i != 0 && !C{}(keys[i - 1], keys[i])) ar.fail("map keys not strictly sorted");
    }
    key_values.finish();
  }
  std::vector<std::size_t> ends(k);  // each key's dots end here, key by key
  {
    columns::runs_reader per_key(read_column(ar));
    std::size_t total = 0;
    for (std::size_t i = 0; i < k; ++i) {
      const std::uint64_t c = per_key.next();
      if (c == 0) ar.fail("map entry with an empty value");
      if (c > n - total) ar.fail("map dots per key exceed the declared dots");
      total += static_cast<std::size_t>(c);
      ends[i] = total;
    }
    per_key.finish("dots per key");
    if (total != n) ar.fail("map dots per key fall short of the declared dots");
  }
  std::vector<std::pair<dot, value>> items;
  items.reserve(n);
  {
    dot_columns_reader dots(ar);
    for (std::size_t i = 0, key = 0; i < n; ++i) {
      while (ends[key] == i) ++key;  // every key has a dot: no key is skipped
      const dot d = dots.next();
      const bool first_of_key = i == (key == 0 ? 0 : ends[key - 1]);
      if (!first_of_key && !(items.back().first < d)) ar.fail("store dots not strictly increasing");
      items.emplace_back(d, value{});
    }
    dots.finish();
  }
  // The values come in dot order: sort positions by dot (a dot held twice is refused here).
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), std::uint32_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return items[a].first < items[b].first; });
  for (std::size_t i = 1; i < n; ++i) {
    if (!(items[order[i - 1]].first < items[order[i]].first)) ar.fail("a dot is held under two keys");
  }
  {
    values_reader<value> values(ar, n);
    for (const std::uint32_t p : order) items[p].second = values.next();
    values.finish();
  }
  for (std::size_t key = 0, b = 0; key < k; b = ends[key], ++key) {
    std::vector<std::pair<dot, value>> own(
        std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(b)),
        std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(ends[key])));
    m.put(keys[key], traits::build(std::move(own)));
  }
}

/// True when some dot store of `x` would go in columns from `from` entries:
/// the frame is then a 2.0 one.
template <class T>
bool has_columnar_store(const T& x, std::size_t from);

template <class Store>
bool store_wants_columns(const Store& s, std::size_t from) {
  if constexpr (columnar_store<Store>::value) {
    if constexpr (std::is_same_v<typename columnar_store<Store>::payload, converge::detail::no_value>) {
      return false;  // flags: see the layout notes
    } else {
      return s.dot_count() >= from;
    }
  } else {
    return false;
  }
}
template <class K, class V, class C>
bool store_wants_columns(const converge::detail::dot_map<K, V, C>& m, std::size_t from) {
  if constexpr (columnar_store<typename V::store_type>::value) {
    return m.dot_count() >= from;
  } else {
    (void)from;
    return false;  // a map of maps: rows
  }
}

template <class T>
bool has_columnar_store(const T& x, std::size_t from) {
  if constexpr (converge::detail::hana_struct<T>) {
    bool any = false;
    boost::hana::for_each(boost::hana::accessors<T>(), [&](auto accessor) {
      any = any || has_columnar_store(boost::hana::second(accessor)(x), from);
    });
    return any;
  } else if constexpr (requires { typename T::store_type; }) {
    if constexpr (std::is_base_of_v<causal<T, typename T::store_type>, T>) {
      return store_wants_columns(x.store(), from);
    } else {
      return false;
    }
  } else {
    (void)x;
    (void)from;
    return false;
  }
}

}  // namespace converge::wire::detail

namespace converge {

// ---------------------------------------------------------------- counters

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const gcounter& g) {
  wire::detail::save_counts(ar, "entries", g.entries());
}
template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, gcounter& g) {
  std::vector<gcounter::entry> entries;
  wire::detail::load_counts(ar, "entries", entries);
  g = gcounter::from_entries(std::move(entries));
}

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const pncounter& p) {
  ar(cereal::make_nvp("increments", p.increments()), cereal::make_nvp("decrements", p.decrements()));
}
template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, pncounter& p) {
  gcounter inc, dec;
  ar(cereal::make_nvp("increments", inc), cereal::make_nvp("decrements", dec));
  p = pncounter::from_parts(std::move(inc), std::move(dec));
}

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const bounded_counter& b) {
  const auto& transfers = b.transfers();
  ar(cereal::make_nvp("increments", b.increments()), cereal::make_nvp("decrements", b.decrements()),
     cereal::make_nvp("transfers", wire::detail::write_seq(transfers.size(), [&](Archive& a) {
                        for (auto t : transfers) a(wire::detail::make_fields(t.from, t.to, t.amount));
                      })));
}
template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, bounded_counter& b) {
  gcounter inc, dec;
  std::vector<bounded_counter::transfer_entry> transfers;
  ar(cereal::make_nvp("increments", inc), cereal::make_nvp("decrements", dec),
     cereal::make_nvp("transfers", wire::detail::read_seq([&](Archive& a, std::size_t i, std::size_t n) {
                        if (i == 0) transfers.reserve(n);
                        bounded_counter::transfer_entry t;
                        a(wire::detail::make_fields(t.from, t.to, t.amount));
                        transfers.push_back(t);
                      })));
  b = bounded_counter::from_parts(std::move(inc), std::move(dec), std::move(transfers));
}

// -------------------------------------------------------------------- sets

template <class Archive, class T>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const gset<T>& s) {
  wire::detail::save_set(ar, "elements", s.elements());
}
template <class Archive, class T>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, gset<T>& s) {
  std::vector<T> elements;
  wire::detail::load_set(ar, "elements", elements);
  s = gset<T>::from_elements(std::move(elements));
}

template <class Archive, class T>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const twop_set<T>& s) {
  wire::detail::save_set(ar, "live", s.live());
  wire::detail::save_set(ar, "tombstones", s.tombstones());
}
template <class Archive, class T>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, twop_set<T>& s) {
  std::vector<T> live, tombstones;
  wire::detail::load_set(ar, "live", live);
  wire::detail::load_set(ar, "tombstones", tombstones);
  s = twop_set<T>::from_parts(std::move(live), std::move(tombstones));
}

// --------------------------------------------------------------- registers

template <class Archive, class T>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const lww_register<T>& x) {
  const bool assigned = x.value().has_value();
  ar(cereal::make_nvp("assigned", assigned));
  if (assigned) {
    ar(cereal::make_nvp("writer", x.writer()), cereal::make_nvp("timestamp", x.timestamp()),
       cereal::make_nvp("value", *x.value()));
  }
}
template <class Archive, class T>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, lww_register<T>& x) {
  bool assigned = false;
  ar(cereal::make_nvp("assigned", assigned));
  if (!assigned) {
    x = lww_register<T>{};
    return;
  }
  replica_id writer;
  std::uint64_t timestamp = 0;
  T value{};
  ar(cereal::make_nvp("writer", writer), cereal::make_nvp("timestamp", timestamp),
     cereal::make_nvp("value", value));
  x = lww_register<T>::from_parts(writer, std::move(value), timestamp);
}

// -------------------------------------------------------------------- maps

template <class Archive, class K, class V>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const g_map<K, V>& m) {
  const auto& entries = m.entries();
  ar(cereal::make_nvp("entries", wire::detail::write_seq(entries.size(), [&](Archive& a) {
                        for (const auto& [k, v] : entries) a(wire::detail::make_fields(k, v));
                      })));
}
template <class Archive, class K, class V>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, g_map<K, V>& m) {
  std::map<K, V> entries;
  ar(cereal::make_nvp("entries", wire::detail::read_seq([&](Archive& a, std::size_t, std::size_t) {
                        K k{};
                        V v{};
                        a(wire::detail::make_fields(k, v));
                        if (!entries.empty() && !entries.key_comp()(std::prev(entries.end())->first, k)) {
                          wire::detail::refuse(a, "map keys not strictly sorted");
                        }
                        entries.emplace_hint(entries.end(), std::move(k), std::move(v));
                      })));
  m = g_map<K, V>::from_entries(std::move(entries));
}

namespace detail {

// ------------------------------------------------- dot stores (causal types)

// element_store (or_set): its (element, dot) records sorted by dot, grouped
// by replica.
template <class Archive, class T, class H>
void save_store_rows(Archive& ar, const element_store<T, H>& s);

template <class Archive, class T, class H>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const element_store<T, H>& s) {
  if constexpr (std::is_same_v<Archive, wire::output_archive>) {
    wire::detail::save_store(
        ar, static_cast<std::size_t>(s.dot_count()), true, [&] { save_store_rows(ar, s); },
        [&] { return wire::detail::save_store_columns(ar, s); });
  } else {
    save_store_rows(ar, s);
  }
}

template <class Archive, class T, class H>
void save_store_rows(Archive& ar, const element_store<T, H>& s) {
  using record = typename element_store<T, H>::record;
  const auto extra = [](Archive& a, const record& r, std::uint64_t gap) {
    if constexpr (wire::is_wire_archive<Archive>) {
      a.write_varint(gap);
      a(r.element);
    } else {
      a(wire::detail::make_fields(gap, r.element));
    }
  };
  const auto& records = s.records();
  const auto by_dot = [](const record& a, const record& b) { return a.tag < b.tag; };
  // Deltas and states never erased from hold their records in dot order already.
  if (std::is_sorted(records.begin(), records.end(), by_dot)) {
    wire::detail::save_dot_groups(
        ar, records, [](const record& r) -> const dot& { return r.tag; }, extra);
    return;
  }
  // Sort (dot, position) pairs: contiguous keys, no pointer chasing in the comparisons.
  std::vector<std::pair<dot, std::uint32_t>> order;
  order.reserve(records.size());
  for (std::uint32_t p = 0; p < records.size(); ++p) order.emplace_back(records[p].tag, p);
  detail::sort_runs(order, [](const auto& a, const auto& b) { return a.first < b.first; });
  wire::detail::save_dot_groups(
      ar, order, [](const std::pair<dot, std::uint32_t>& x) -> const dot& { return x.first; },
      [&](Archive& a, const std::pair<dot, std::uint32_t>& x, std::uint64_t gap) {
        extra(a, records[x.second], gap);
      });
}
template <class Archive, class T, class H>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, element_store<T, H>& s) {
  using record = typename element_store<T, H>::record;
  if constexpr (std::is_same_v<Archive, wire::input_archive>) {
    if (wire::detail::read_layout(ar)) {
      s = wire::detail::load_store_columns<element_store<T, H>>(ar);
      return;
    }
  }
  std::vector<record> records;
  wire::detail::load_dot_groups(ar, [&](Archive& a, auto make_dot) {
    std::uint64_t gap = 0;
    T element{};
    a(wire::detail::make_fields(gap, element));
    const dot d = make_dot(gap);
    records.push_back(record{std::move(element), d});
  });
  // Dots come out strictly increasing, hence distinct: index once at the end.
  s = element_store<T, H>::from_records(std::move(records));
}

// dot_fun (mv_register, flags): its (dot, value) entries, sorted by dot,
// grouped by replica; flags carry no value.
template <class Archive, class V>
void save_store_rows(Archive& ar, const dot_fun<V>& s);

template <class Archive, class V>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const dot_fun<V>& s) {
  if constexpr (std::is_same_v<Archive, wire::output_archive>) {
    wire::detail::save_store(
        ar, static_cast<std::size_t>(s.dot_count()), !std::is_same_v<V, no_value>,
        [&] { save_store_rows(ar, s); }, [&] { return wire::detail::save_store_columns(ar, s); });
  } else {
    save_store_rows(ar, s);
  }
}

template <class Archive, class V>
void save_store_rows(Archive& ar, const dot_fun<V>& s) {
  using entry = typename dot_fun<V>::entry;
  wire::detail::save_dot_groups(
      ar, s.entries(), [](const entry& e) -> const dot& { return e.first; },
      [](Archive& a, const entry& e, std::uint64_t gap) {
        if constexpr (std::is_same_v<V, no_value>) {
          a(gap);
        } else {
          a(wire::detail::make_fields(gap, e.second));
        }
      });
}
template <class Archive, class V>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, dot_fun<V>& s) {
  if constexpr (std::is_same_v<Archive, wire::input_archive>) {
    if (wire::detail::read_layout(ar)) {
      s = wire::detail::load_store_columns<dot_fun<V>>(ar);
      return;
    }
  }
  s = dot_fun<V>{};
  wire::detail::load_dot_groups(ar, [&](Archive& a, auto make_dot) {
    std::uint64_t gap = 0;
    V value{};
    if constexpr (std::is_same_v<V, no_value>) {
      a(gap);
    } else {
      a(wire::detail::make_fields(gap, value));
    }
    s.add(make_dot(gap), std::move(value));  // dots arrive strictly increasing: appended in order
  });
}

// dot_map (or_map): (key, nested store) entries in key order; no nested
// store is empty and no dot is held under two keys.
template <class Archive, class K, class V, class C>
void save_store_rows(Archive& ar, const dot_map<K, V, C>& m);

template <class Archive, class K, class V, class C>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const dot_map<K, V, C>& m) {
  if constexpr (std::is_same_v<Archive, wire::output_archive>) {
    constexpr bool can = wire::detail::columnar_store<typename V::store_type>::value;
    wire::detail::save_store(
        ar, static_cast<std::size_t>(m.dot_count()), can, [&] { save_store_rows(ar, m); },
        [&]() -> std::size_t {
          if constexpr (can) {
            return wire::detail::save_map_columns(ar, m);
          } else {
            return 0;
          }
        });
  } else {
    save_store_rows(ar, m);
  }
}

template <class Archive, class K, class V, class C>
void save_store_rows(Archive& ar, const dot_map<K, V, C>& m) {
  const auto& entries = m.entries();
  ar(cereal::make_nvp("entries", wire::detail::write_seq(entries.size(), [&](Archive& a) {
                        for (const auto& [k, v] : entries) a(wire::detail::make_fields(k, v.store()));
                      })));
}
template <class Archive, class K, class V, class C>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, dot_map<K, V, C>& m) {
  m = dot_map<K, V, C>{};
  if constexpr (std::is_same_v<Archive, wire::input_archive>) {
    if (wire::detail::read_layout(ar)) {
      if constexpr (wire::detail::columnar_store<typename V::store_type>::value) {
        wire::detail::load_map_columns(ar, m);
        return;
      } else {
        ar.fail("columns for a map whose values have no columns");
      }
    }
  }
  bool first = true;
  K last{};
  ar(cereal::make_nvp("entries", wire::detail::read_seq([&](Archive& a, std::size_t, std::size_t) {
                        K k{};
                        typename V::store_type store;
                        a(wire::detail::make_fields(k, store));
                        if (!first && !C{}(last, k)) wire::detail::refuse(a, "map keys not strictly sorted");
                        if (store.empty()) wire::detail::refuse(a, "map entry with an empty value");
                        bool clash = false;
                        store.for_each_dot([&](const dot& d) { clash = clash || m.contains(d); });
                        if (clash) wire::detail::refuse(a, "a dot is held under two keys");
                        first = false;
                        last = k;
                        m.put(k, std::move(store));
                      })));
}

}  // namespace detail
}  // namespace converge

namespace cereal {

/// A Hana struct of lattices: its members in declaration order, named after
/// them in text archives. Declared here so that argument-dependent lookup
/// finds it for cereal's archives and for the wire archives (which derive
/// from cereal's).
template <class Archive, class T>
requires converge::detail::hana_struct<T> &&
    (converge::detail::members_are_lattices<T>()) void CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, T& x) {
  boost::hana::for_each(boost::hana::accessors<T>(), [&](auto accessor) {
    ar(cereal::make_nvp(boost::hana::to<char const*>(boost::hana::first(accessor)),
                        boost::hana::second(accessor)(x)));
  });
}

}  // namespace cereal
