#pragma once
/// @file
/// The wire encoding of the membership types and messages, through the
/// library's cereal archives: `converge::encode(x)` / `converge::decode<T>(bytes)`
/// work for `members`, `probe_message` and `view_message` (and a Hana struct
/// holding a `members` field replicates it like any other type). Decoding
/// validates through the factories: unsorted or duplicate nodes, a status or
/// kind out of range, are refused with `decode_error`.
///
/// # Retired ids as runs
/// `members::retired()` holds every replica id ever retired, so listing them
/// would cost a few bytes per departure for ever. They are written as
/// maximal runs of consecutive ids instead: each run is `gap` (its first id
/// minus one past the previous run's last, from 0) and `span` (last minus
/// first), plain varints. Where replica ids are handed out in increasing
/// order (the simulator numbers lives by birth; a node that restarts takes
/// `replica_id::with_incarnation`, see replica_id.hpp), every id below the
/// newest is retired except the live ones, so the runs number at most the
/// live replicas plus one: the encoding is bounded by what is alive, not by
/// history. The set is unchanged (only its bytes are), so a retired replica
/// that comes back is recognised exactly as before. Decoding expands the
/// runs, at most `max_retired_ids` ids.
///
/// Layouts (`[x]` a varint count then the items, `r` a replica-table index):
/// @code
///   member_record  node r [endpoint] curve_key status incarnation
///   members        [member_record] [gap span]         (records by node, then the retired ids)
///   suspicion      node incarnation from
///   probe_message  kind seq target members [suspicion]
///   view_message   kind node ttl flag [node]
/// @endcode

#include "converge/membership/failure_detector.hpp"
#include "converge/membership/members.hpp"
#include "converge/membership/views.hpp"
#include "converge/wire/core.hpp"
#include "converge/wire/encode.hpp"

#include <cereal/cereal.hpp>
#include <cereal/types/string.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace converge::membership {

/// The most retired replica ids a decoded `members` may hold: the runs of
/// the encoding are short, so without a cap a few bytes could ask for an
/// allocation of any size.
inline constexpr std::size_t max_retired_ids = std::size_t{1} << 22;

namespace detail {

/// Sorted, distinct ids as maximal runs of consecutive values, `[first, last]`.
[[nodiscard]] inline std::vector<std::pair<std::uint64_t, std::uint64_t>> retired_runs(
    const std::vector<replica_id>& ids) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  for (const replica_id r : ids) {
    if (!runs.empty() && runs.back().second + 1 == r.value()) {
      runs.back().second = r.value();
    } else {
      runs.emplace_back(r.value(), r.value());
    }
  }
  return runs;
}

template <class Archive>
void save_nodes(Archive& ar, const std::vector<node_id>& nodes) {
  ar(cereal::make_nvp("nodes", wire::detail::write_seq(nodes.size(), [&](Archive& a) {
                        for (const node_id n : nodes) a(n);
                      })));
}
template <class Archive>
void load_nodes(Archive& ar, std::vector<node_id>& nodes) {
  nodes.clear();
  ar(cereal::make_nvp("nodes", wire::detail::read_seq([&](Archive& a, std::size_t i, std::size_t n) {
                        if (i == 0) nodes.reserve(n);
                        node_id x = 0;
                        a(x);
                        nodes.push_back(x);
                      })));
}

}  // namespace detail

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const member_record& r) {
  const auto status = static_cast<std::uint8_t>(r.status);
  ar(cereal::make_nvp("node", r.node), cereal::make_nvp("replica", r.replica),
     cereal::make_nvp("endpoints", wire::detail::write_seq(r.endpoints.size(),
                                                           [&](Archive& a) {
                                                             for (const std::string& e : r.endpoints) a(e);
                                                           })),
     cereal::make_nvp("curve_public_key", r.curve_public_key), cereal::make_nvp("status", status),
     cereal::make_nvp("incarnation", r.incarnation));
}
template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, member_record& r) {
  std::uint8_t status = 0;
  r.endpoints.clear();
  ar(cereal::make_nvp("node", r.node), cereal::make_nvp("replica", r.replica),
     cereal::make_nvp("endpoints", wire::detail::read_seq([&](Archive& a, std::size_t, std::size_t) {
                        std::string e;
                        a(e);
                        r.endpoints.push_back(std::move(e));
                      })),
     cereal::make_nvp("curve_public_key", r.curve_public_key), cereal::make_nvp("status", status),
     cereal::make_nvp("incarnation", r.incarnation));
  if (status > max_member_status) wire::detail::refuse(ar, "member status out of range");
  r.status = static_cast<member_status>(status);
}

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const members& m) {
  const auto& records = m.records();
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> runs = detail::retired_runs(m.retired());
  ar(cereal::make_nvp("records", wire::detail::write_seq(records.size(),
                                                         [&](Archive& a) {
                                                           for (const member_record& r : records) a(r);
                                                         })),
     cereal::make_nvp("retired", wire::detail::write_seq(runs.size(), [&](Archive& a) {
                        std::uint64_t end = 0;  // one past the previous run
                        for (const auto& [first, last] : runs) {
                          a(first - end, last - first);
                          end = last + 1;
                        }
                      })));
}
template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, members& m) {
  std::vector<member_record> records;
  std::vector<replica_id> retired;
  std::uint64_t end = 0;  // one past the previous run
  ar(cereal::make_nvp("records", wire::detail::read_seq([&](Archive& a, std::size_t, std::size_t) {
                        member_record r;
                        a(r);
                        if (!records.empty() && !(records.back().node < r.node))
                          wire::detail::refuse(a, "member nodes not strictly sorted");
                        records.push_back(std::move(r));
                      })),
     cereal::make_nvp("retired", wire::detail::read_seq([&](Archive& a, std::size_t i, std::size_t) {
                        std::uint64_t gap = 0, span = 0;
                        a(gap, span);
                        // Runs are maximal: a gap of 0 after a run would join it to the last.
                        if (i > 0 && gap == 0) wire::detail::refuse(a, "retired runs not maximal");
                        const std::uint64_t first = wire::detail::checked_add(a, end, gap);
                        const std::uint64_t last = wire::detail::checked_add(a, first, span);
                        if (span >= max_retired_ids - retired.size())
                          wire::detail::refuse(a, "more retired replica ids than max_retired_ids");
                        for (std::uint64_t r = first;; ++r) {
                          retired.emplace_back(r);
                          if (r == last) break;
                        }
                        // After a run ending at the largest id no run can follow (its gap must be > 0).
                        end = last == std::numeric_limits<std::uint64_t>::max() ? last : last + 1;
                      })));
  m = members::from_parts(std::move(records), std::move(retired));
}

template <class Archive>
void CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, suspicion& s) {
  ar(cereal::make_nvp("node", s.node), cereal::make_nvp("incarnation", s.incarnation),
     cereal::make_nvp("from", s.from));
}

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const probe_message& m) {
  const auto kind = static_cast<std::uint8_t>(m.kind);
  ar(cereal::make_nvp("kind", kind), cereal::make_nvp("seq", m.seq), cereal::make_nvp("target", m.target),
     cereal::make_nvp("updates", m.updates),
     cereal::make_nvp("suspicions", wire::detail::write_seq(m.suspicions.size(), [&](Archive& a) {
                        for (suspicion s : m.suspicions) a(s);
                      })));
}
template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, probe_message& m) {
  std::uint8_t kind = 0;
  m.suspicions.clear();
  ar(cereal::make_nvp("kind", kind), cereal::make_nvp("seq", m.seq), cereal::make_nvp("target", m.target),
     cereal::make_nvp("updates", m.updates),
     cereal::make_nvp("suspicions", wire::detail::read_seq([&](Archive& a, std::size_t, std::size_t) {
                        suspicion s;
                        a(s);
                        m.suspicions.push_back(s);
                      })));
  if (kind == 0 || kind > max_probe_kind) wire::detail::refuse(ar, "probe message kind out of range");
  m.kind = static_cast<probe_kind>(kind);
}

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& ar, const view_message& m) {
  const auto kind = static_cast<std::uint8_t>(m.kind);
  ar(cereal::make_nvp("kind", kind), cereal::make_nvp("node", m.node), cereal::make_nvp("ttl", m.ttl),
     cereal::make_nvp("flag", m.flag));
  detail::save_nodes(ar, m.nodes);
}
template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& ar, view_message& m) {
  std::uint8_t kind = 0;
  ar(cereal::make_nvp("kind", kind), cereal::make_nvp("node", m.node), cereal::make_nvp("ttl", m.ttl),
     cereal::make_nvp("flag", m.flag));
  detail::load_nodes(ar, m.nodes);
  if (kind == 0 || kind > max_view_kind) wire::detail::refuse(ar, "view message kind out of range");
  m.kind = static_cast<view_kind>(kind);
}

}  // namespace converge::membership
