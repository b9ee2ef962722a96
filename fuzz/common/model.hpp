#pragma once
// The reference model of fuzz_laws, written independently of the library:
// every update is an event with a unique id, tagged with a path (where in a
// nested value it happened: "k/3/") and a label (the element or value, as
// text). A replica's model is the set of events it knows; a delta carries
// the events of its mutation; join is union (max for counters). Queries are
// answered from the events alone:
//  - counters: per (path, origin, kind) the cumulative amount; value = sum;
//  - dot stores (or_set, mv_register, flags, or_map): an insert is visible
//    until an event that observed it removes it; an element is present iff
//    some insert of it is visible (add-wins);
//  - gset / twop_set: inserted and erased labels; lww: the greatest
//    (timestamp, writer, value) assigned.

#include <converge/replica_id.hpp>
#include <converge/testing/entropy.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge_fuzz {

using converge::replica_id;
using converge::testing::byte_entropy;
using converge::testing::entropy;

__extension__ typedef unsigned __int128 u128;
inline constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

enum class count_kind : int { inc = 0, dec = 1, transfer = 2 };

struct model {
  struct tag {
    std::string path;
    std::string label;
  };
  using count_key = std::tuple<std::string, std::uint64_t, int, std::uint64_t>;  // path, origin, kind, to

  std::map<count_key, std::uint64_t> counts;                    // cumulative; join: max
  std::map<std::uint64_t, tag> dots;                            // inserts (events with ids)
  std::set<std::uint64_t> removed;                              // inserts observed by a removal
  std::set<std::pair<std::string, std::string>> added, erased;  // gset / twop_set
  std::map<std::string, std::tuple<std::uint64_t, std::uint64_t, std::string>>
      lww;  // path -> (ts, writer, label)

  void join(const model& o) {
    for (const auto& [k, v] : o.counts) {
      auto& x = counts[k];
      x = std::max(x, v);
    }
    dots.insert(o.dots.begin(), o.dots.end());
    removed.insert(o.removed.begin(), o.removed.end());
    added.insert(o.added.begin(), o.added.end());
    erased.insert(o.erased.begin(), o.erased.end());
    for (const auto& [p, v] : o.lww) {
      auto [it, fresh] = lww.try_emplace(p, v);
      if (!fresh && it->second < v) it->second = v;
    }
  }

  [[nodiscard]] std::uint64_t count(const std::string& path, replica_id origin, count_kind k,
                                    replica_id to = replica_id{}) const {
    const auto it = counts.find(count_key{path, origin.value(), static_cast<int>(k), to.value()});
    return it == counts.end() ? 0 : it->second;
  }

  /// Sum of the counts of `kind` at `path`, saturated at UINT64_MAX; with
  /// `origin`/`to` filters for transfers.
  [[nodiscard]] u128 sum(const std::string& path, count_kind k, std::optional<std::uint64_t> origin = {},
                         std::optional<std::uint64_t> to = {}) const {
    u128 s = 0;
    for (const auto& [key, v] : counts) {
      const auto& [p, o, kind, t] = key;
      if (p != path || kind != static_cast<int>(k)) continue;
      if (origin && o != *origin) continue;
      if (to && t != *to) continue;
      s += v;
    }
    return s;
  }

  /// Visible inserts: (id, tag) not removed, whose tag satisfies `pred`.
  template <class P>
  [[nodiscard]] std::vector<std::uint64_t> visible(P&& pred) const {
    std::vector<std::uint64_t> out;
    for (const auto& [id, t] : dots) {
      if (!removed.contains(id) && pred(t)) out.push_back(id);
    }
    return out;
  }
  [[nodiscard]] std::set<std::string> visible_labels_at(const std::string& path) const {
    std::set<std::string> out;
    for (const std::uint64_t id : visible([&](const tag& t) { return t.path == path; }))
      out.insert(dots.at(id).label);
    return out;
  }
  [[nodiscard]] bool any_visible_under(const std::string& prefix) const {
    return !visible([&](const tag& t) { return t.path.starts_with(prefix); }).empty();
  }
};

inline std::uint64_t sat(u128 v) { return v > u64_max ? u64_max : static_cast<std::uint64_t>(v); }

/// What an operation needs: who runs it, the bytes, the replica's model and
/// the model of the delta being built, the event id source, and where in a
/// nested value it runs. `err` is null when no model is tracked.
struct ctx {
  replica_id self;
  entropy& e;
  model& m;
  model& dm;
  std::uint64_t& ids;
  std::string* err;
  std::string path;

  [[nodiscard]] ctx at(const std::string& sub) const {
    return ctx{self, e, m, dm, ids, err, path + sub + "/"};
  }

  void expect(bool holds, const std::string& what) const {
    if (!holds && err != nullptr && err->empty()) *err = what + " (at path '" + path + "')";
  }
  void set_count(count_kind k, std::uint64_t cumulative, replica_id to = replica_id{}) {
    const model::count_key key{path, self.value(), static_cast<int>(k), to.value()};
    auto& x = m.counts[key];
    x = std::max(x, cumulative);
    dm.counts[key] = cumulative;
  }
  template <class P>
  void remove_visible(P&& pred) {
    for (const std::uint64_t id : m.visible(pred)) {
      m.removed.insert(id);
      dm.removed.insert(id);
    }
  }
  void remove_at(const std::string& label) {
    remove_visible([&](const model::tag& t) { return t.path == path && t.label == label; });
  }
  void remove_all_at() {
    remove_visible([&](const model::tag& t) { return t.path == path; });
  }
  void remove_under(const std::string& prefix) {
    remove_visible([&](const model::tag& t) { return t.path.starts_with(prefix); });
  }
  void add_dot(const std::string& label) {
    const std::uint64_t id = ++ids;
    m.dots[id] = {path, label};
    dm.dots[id] = {path, label};
  }
};

/// A value as the model's text label.
template <class T>
std::string label(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else {
    return std::to_string(v);
  }
}

/// Records the first failed expectation in `err`.
inline void expect(std::string& err, bool holds, const std::string& what) {
  if (!holds && err.empty()) err = what;
}

}  // namespace converge_fuzz
