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
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const element_store<T, H>& s) {
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
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const dot_fun<V>& s) {
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
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const dot_map<K, V, C>& m) {
  const auto& entries = m.entries();
  ar(cereal::make_nvp("entries", wire::detail::write_seq(entries.size(), [&](Archive& a) {
                        for (const auto& [k, v] : entries) a(wire::detail::make_fields(k, v.store()));
                      })));
}
template <class Archive, class K, class V, class C>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, dot_map<K, V, C>& m) {
  m = dot_map<K, V, C>{};
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
