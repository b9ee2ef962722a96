#pragma once
/// @file
/// cereal serialization of the vocabulary types (`replica_id`, `dot`,
/// `causal_context`, the causal base) and the helpers the type serializers
/// share. Works with `wire::output_archive` / `input_archive` and with
/// cereal's own archives (JSON, XML, binary).

#include "converge/causal_context.hpp"
#include "converge/dot.hpp"
#include "converge/dot_kernel.hpp"
#include "converge/replica_id.hpp"
#include "converge/wire/archive.hpp"

#include <cereal/cereal.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge::wire {

/// True for the compact wire archives (which have a replica table).
template <class Archive>
inline constexpr bool is_wire_archive =
    std::is_same_v<Archive, output_archive> || std::is_same_v<Archive, input_archive>;

namespace detail {

/// Several values written as one record: positional in the wire archive, an
/// object (value0, value1, ...) in cereal's text archives.
template <class... Ts>
struct fields {
  std::tuple<Ts&...> refs;

  template <class Archive>
  void serialize(Archive& ar) {
    std::apply([&](auto&... x) { ar(x...); }, refs);
  }
};

template <class... Ts>
fields<Ts...> make_fields(Ts&... xs) {
  return fields<Ts...>{std::tuple<Ts&...>(xs...)};
}

/// Writes a sequence: its length, then `each(ar)` writes the elements.
template <class F>
struct seq_out {
  std::size_t size;
  F each;

  template <class Archive>
  void save(Archive& ar) const {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(size)));
    each(ar);
  }
};

template <class F>
seq_out<F> write_seq(std::size_t size, F each) {
  return seq_out<F>{size, std::move(each)};
}

/// Reads a sequence: its length (checked against what remains before
/// anything is allocated), then `each(ar, index, size)` once per element.
template <class F>
struct seq_in {
  F each;

  template <class Archive>
  void load(Archive& ar) {
    cereal::size_type n = 0;
    ar(cereal::make_size_tag(n));
    for (cereal::size_type i = 0; i < n; ++i)
      each(ar, static_cast<std::size_t>(i), static_cast<std::size_t>(n));
  }
};

template <class F>
seq_in<F> read_seq(F each) {
  return seq_in<F>{std::move(each)};
}

/// Refuses malformed input: `decode_error` in the wire archive (with the
/// offset), `std::invalid_argument` elsewhere.
template <class Archive>
[[noreturn]] void refuse(Archive& ar, const std::string& what) {
  if constexpr (std::is_same_v<Archive, input_archive>) {
    ar.fail(what);
  } else {
    (void)ar;
    throw std::invalid_argument("converge: " + what);
  }
}

/// Adds a non-negative gap to `base`, refusing overflow.
template <class Archive>
std::uint64_t checked_add(Archive& ar, std::uint64_t base, std::uint64_t gap) {
  if (gap > std::numeric_limits<std::uint64_t>::max() - base) refuse(ar, "counter overflows 64 bits");
  return base + gap;
}

/// Writes a sorted range of dot-tagged items grouped by replica:
/// `[replica, [counter gap, item...]...]...`, counters as gaps (the first
/// from 0, then the difference minus one). `dot_of(x)` gives an item's dot,
/// `extra(ar, x)` writes what follows its counter (nothing for bare dots).
template <class Archive, class Range, class DotOf, class Extra>
void save_dot_groups(Archive& ar, const Range& items, DotOf dot_of, Extra extra) {
  const std::size_t n = items.size();
  if constexpr (std::is_same_v<Archive, output_archive>) {
    // The same bytes as below, written directly: no group table, no nested
    // sequence objects (the wire archive writes nothing around them).
    std::size_t groups = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (i == 0 || dot_of(items[i]).replica != dot_of(items[i - 1]).replica) ++groups;
    }
    ar.write_varint(groups);
    for (std::size_t b = 0; b < n;) {
      const replica_id r = dot_of(items[b]).replica;
      std::size_t e = b + 1;
      while (e < n && dot_of(items[e]).replica == r) ++e;
      ar.write_replica(r);
      ar.write_varint(e - b);
      std::uint64_t prev = 0;
      for (std::size_t i = b; i < e; ++i) {
        const std::uint64_t c = dot_of(items[i]).counter;
        const std::uint64_t gap = i == b ? c : c - prev - 1;
        prev = c;
        extra(ar, items[i], gap);
      }
      b = e;
    }
    return;
  }
  std::vector<std::pair<std::size_t, std::size_t>> groups;  // [begin, end) in items
  for (std::size_t i = 0; i < n; ++i) {
    if (i == 0 || dot_of(items[i]).replica != dot_of(items[i - 1]).replica) groups.emplace_back(i, i);
    groups.back().second = i + 1;
  }
  ar(cereal::make_nvp("groups", write_seq(groups.size(), [&](Archive& a) {
                        for (const auto& [b, e] : groups) {
                          replica_id r = dot_of(items[b]).replica;
                          auto counters = write_seq(e - b, [&, b = b, e = e](Archive& a2) {
                            std::uint64_t prev = 0;
                            for (std::size_t i = b; i < e; ++i) {
                              const std::uint64_t c = dot_of(items[i]).counter;
                              std::uint64_t gap = i == b ? c : c - prev - 1;
                              prev = c;
                              extra(a2, items[i], gap);
                            }
                          });
                          a(make_fields(r, counters));
                        }
                      })));
}

/// Reads what `save_dot_groups` wrote: `item(ar, dot)` reads what follows a
/// counter and records the item. Refuses groups out of replica order, empty
/// groups and counters that overflow; dots come out strictly increasing.
template <class Archive, class Item>
void load_dot_groups(Archive& ar, Item item) {
  bool first_group = true;
  replica_id last{};
  ar(cereal::make_nvp("groups", read_seq([&](Archive& a, std::size_t, std::size_t) {
                        replica_id r;
                        bool any = false;
                        std::uint64_t prev = 0;
                        auto counters = read_seq([&](Archive& a2, std::size_t i, std::size_t) {
                          any = true;
                          item(a2, [&](std::uint64_t gap) {
                            const std::uint64_t c =
                                i == 0 ? gap : checked_add(a2, checked_add(a2, prev, 1), gap);
                            if (c == 0) refuse(a2, "dot counter 0");
                            prev = c;
                            return dot{r, c};
                          });
                        });
                        // The replica is read before the counters (fields are read in order).
                        auto rec = make_fields(r, counters);
                        a(rec);
                        if (!any) refuse(a, "empty dot group");
                        if (!first_group && !(last < r)) refuse(a, "dot groups not sorted by replica");
                        first_group = false;
                        last = r;
                      })));
}

}  // namespace detail
}  // namespace converge::wire

namespace converge {

// replica_id: an index into the message's replica table in the wire archive,
// the plain number elsewhere.
template <class Archive>
requires wire::is_wire_archive<Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const replica_id& r) { ar.write_replica(r); }
template <class Archive>
requires wire::is_wire_archive<Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, replica_id& r) { r = ar.read_replica(); }
template <class Archive>
requires(!wire::is_wire_archive<Archive>) std::uint64_t
    CEREAL_SAVE_MINIMAL_FUNCTION_NAME(const Archive&, const replica_id& r) {
  return r.value();
}
template <class Archive>
requires(!wire::is_wire_archive<Archive>) void CEREAL_LOAD_MINIMAL_FUNCTION_NAME(const Archive&,
                                                                                 replica_id& r,
                                                                                 const std::uint64_t& v) {
  r = replica_id{v};
}

template <class Archive>
void CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, dot& d) {
  ar(cereal::make_nvp("replica", d.replica), cereal::make_nvp("counter", d.counter));
}

// causal_context: the version vector as (replica, counter) records, then the
// cloud's ranges grouped by replica, each as a gap and an extent.
namespace wire::detail {

/// Writes (replica, count) pairs — a version vector, a gcounter's entries —
/// as their number, then each pair.
template <class Archive>
void save_counts(Archive& ar, const char* name,
                 const std::vector<std::pair<replica_id, std::uint64_t>>& counts) {
  ar(cereal::make_nvp(name, write_seq(counts.size(), [&](Archive& a) {
                        for (auto [r, n] : counts) a(make_fields(r, n));
                      })));
}

/// Reads pairs written by `save_counts`; the owner's factory validates them.
template <class Archive>
void load_counts(Archive& ar, const char* name, std::vector<std::pair<replica_id, std::uint64_t>>& counts) {
  counts.clear();
  ar(cereal::make_nvp(name, read_seq([&](Archive& a, std::size_t i, std::size_t n) {
                        if (i == 0) counts.reserve(n);
                        replica_id r;
                        std::uint64_t v = 0;
                        a(make_fields(r, v));
                        counts.emplace_back(r, v);
                      })));
}

/// Writes a context's cloud as ranges grouped by replica:
/// `[replica, [gap, extent]...]...`. A range starts at `base + 2 + gap`, where
/// `base` is versions[replica] (0 if absent) for a replica's first range and
/// the previous range's `last` after it; it ends at `first + extent`. The
/// smallest start a canonical range may take costs gap 0, so every encoding
/// names a canonical cloud (no range reaches the vector or touches its
/// neighbour) and a single dot takes two one-byte varints in the common case.
template <class Archive>
void save_cloud(Archive& ar, const causal_context& c) {
  // Grouped like a store's dots; each range then writes its own gap and extent.
  const dot_range* prev = nullptr;
  save_dot_groups(
      ar, c.cloud(),
      [](const dot_range& x) {
        return dot{x.replica, x.first};
      },
      [&](Archive& a, const dot_range& x, std::uint64_t) {
        const std::uint64_t base =
            prev != nullptr && prev->replica == x.replica ? prev->last : c.max_contiguous(x.replica);
        std::uint64_t gap = x.first - base - 2;
        std::uint64_t extent = x.last - x.first;
        a(make_fields(gap, extent));
        prev = &x;
      });
}

/// Reads what `save_cloud` wrote, given the versions read before it.
/// Refuses groups out of replica order, empty groups and counters that
/// overflow 64 bits; allocates one range per range read, whatever the
/// counters say.
template <class Archive>
void load_cloud(Archive& ar, const std::vector<causal_context::version>& versions,
                std::vector<dot_range>& cloud) {
  bool first_group = true;
  replica_id last_replica{};
  std::size_t v = 0;  // cursor into `versions` (sorted, else from_parts refuses them)
  ar(cereal::make_nvp("groups", read_seq([&](Archive& a, std::size_t, std::size_t) {
                        replica_id r;
                        bool any = false;
                        std::uint64_t base = 0;
                        auto ranges = read_seq([&](Archive& a2, std::size_t i, std::size_t) {
                          if (i == 0) {  // the replica has been read (fields are read in order)
                            if (!first_group && !(last_replica < r)) {
                              refuse(a2, "dot groups not sorted by replica");
                            }
                            while (v < versions.size() && versions[v].first < r) ++v;
                            base = v < versions.size() && versions[v].first == r ? versions[v].second : 0;
                            any = true;
                          }
                          std::uint64_t gap = 0;
                          std::uint64_t extent = 0;
                          a2(make_fields(gap, extent));
                          const std::uint64_t first = checked_add(a2, checked_add(a2, base, 2), gap);
                          const std::uint64_t last = checked_add(a2, first, extent);
                          cloud.push_back(dot_range{r, first, last});
                          base = last;
                        });
                        auto rec = make_fields(r, ranges);
                        a(rec);
                        if (!any) refuse(a, "empty dot group");
                        first_group = false;
                        last_replica = r;
                      })));
}

}  // namespace wire::detail

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const causal_context& c) {
  wire::detail::save_counts(ar, "versions", c.versions());
  wire::detail::save_cloud(ar, c);
}

template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, causal_context& c) {
  std::vector<causal_context::version> versions;
  std::vector<dot_range> cloud;
  wire::detail::load_counts(ar, "versions", versions);
  wire::detail::load_cloud(ar, versions, cloud);
  c = causal_context::from_parts(std::move(versions), std::move(cloud));
}

/// Every causal type: its context, then its store; loading validates through
/// `from_parts` (a store dot the context does not cover is refused).
template <class Archive, class T>
requires std::is_base_of_v<causal<T, typename T::store_type>, T>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const T& x) {
  ar(cereal::make_nvp("context", x.context()), cereal::make_nvp("store", x.store()));
}
template <class Archive, class T>
requires std::is_base_of_v<causal<T, typename T::store_type>, T>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, T& x) {
  causal_context ctx;
  typename T::store_type store;
  ar(cereal::make_nvp("context", ctx), cereal::make_nvp("store", store));
  x = T::from_parts(std::move(store), std::move(ctx));
}

}  // namespace converge
