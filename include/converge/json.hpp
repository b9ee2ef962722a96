#pragma once
/// @file
/// `converge::to_json`: a state rendered as one line of JSON, for people
/// (logs, debugging, the node's `show` command). Not a wire format: there is
/// no `from_json`; use `encode` / `decode` (or cereal's JSON archive) to store.
///
/// Rendering: counters -> number; sets -> sorted array; `lww_register` ->
/// value or null; `mv_register` -> sorted array of the concurrent values;
/// flags -> bool; maps -> object (keys stringified); `bounded_counter` ->
/// number; a Hana struct -> object keyed by member names. With
/// `json_options::causal_metadata`, causal types become
/// `{"value": ..., "context": {"versions": {...}, "cloud": [[r, first, last], ...]}}`
/// (each cloud entry a range of dots of replica r, both ends included) and
/// `bounded_counter` becomes `{"value": v, "rights": {"r": n, ...}}`.
/// @code
///   converge::to_json(cart)  // {"counter":3,"set":["a","b"],"map":{"k":["v"]},"stock":10}
/// @endcode

#include "converge/bounded_counter.hpp"
#include "converge/causal_context.hpp"
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
#include "converge/replica_id.hpp"
#include "converge/twop_set.hpp"

#include <boost/hana/accessors.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge {

/// How `to_json` renders a state.
struct json_options {
  /// Adds the causal context of causal types, and the per-replica rights of
  /// bounded counters.
  bool causal_metadata = false;
};

namespace wire::json_detail {

template <class T, template <class...> class Template>
inline constexpr bool is_a = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_a<Template<Args...>, Template> = true;

/// Appends `s` as a JSON string: quotes, backslashes and control characters
/// escaped; bytes that are not valid UTF-8 become U+FFFD.
inline void put_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence: copy it when well-formed (shortest form,
    // no surrogates, at most U+10FFFF), else replace the lead byte.
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2, cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3, cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07u;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    ok = ok && !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
         !(cp >= 0xd800 && cp <= 0xdfff);
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

template <class T>
void put_number(std::string& out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) {
      out += "null";
      return;
    }
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// The text of a map key: strings as they are, anything else as its JSON.
template <class K>
std::string key_text(const K& k, const json_options& opts);

template <class T>
void put(std::string& out, const T& x, const json_options& opts, bool nested_in_map = false);

inline void put_context(std::string& out, const causal_context& c) {
  out += "{\"versions\":{";
  bool first = true;
  for (const auto& [r, n] : c.versions()) {
    if (!first) out += ',';
    first = false;
    put_string(out, std::to_string(r.value()));
    out += ':';
    put_number(out, n);
  }
  out += "},\"cloud\":[";
  first = true;
  for (const dot_range& x : c.cloud()) {
    if (!first) out += ',';
    first = false;
    out += '[';
    put_number(out, x.replica.value());
    out += ',';
    put_number(out, x.first);
    out += ',';
    put_number(out, x.last);
    out += ']';
  }
  out += "]}";
}

/// Renders `items` (already JSON texts) as a sorted array: sorted by value
/// when `T` is ordered, else by text.
template <class T, class Range>
void put_sorted_array(std::string& out, const Range& values, const json_options& opts) {
  std::vector<const T*> ptrs;
  for (const T& v : values) ptrs.push_back(&v);
  if constexpr (std::totally_ordered<T>) {
    std::sort(ptrs.begin(), ptrs.end(), [](const T* a, const T* b) { return *a < *b; });
    ptrs.erase(std::unique(ptrs.begin(), ptrs.end(), [](const T* a, const T* b) { return *a == *b; }), ptrs.end());
    out += '[';
    for (std::size_t i = 0; i < ptrs.size(); ++i) {
      if (i) out += ',';
      put(out, *ptrs[i], opts);
    }
    out += ']';
  } else {
    std::vector<std::string> texts;
    for (const T* p : ptrs) {
      std::string t;
      put(t, *p, opts);
      texts.push_back(std::move(t));
    }
    std::sort(texts.begin(), texts.end());
    texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
    out += '[';
    for (std::size_t i = 0; i < texts.size(); ++i) {
      if (i) out += ',';
      out += texts[i];
    }
    out += ']';
  }
}

/// Wraps `value_text` with the context when metadata is asked for (and the
/// value is not nested in a map, whose context it shares).
template <class F>
void with_context(std::string& out, const causal_context& ctx, const json_options& opts, bool nested, F value) {
  if (!opts.causal_metadata || nested) {
    value();
    return;
  }
  out += "{\"value\":";
  value();
  out += ",\"context\":";
  put_context(out, ctx);
  out += '}';
}

template <class T>
void put(std::string& out, const T& x, const json_options& opts, bool nested_in_map) {
  if constexpr (std::is_same_v<T, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_arithmetic_v<T>) {
    put_number(out, x);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    put_string(out, std::string_view(x));
  } else if constexpr (std::is_same_v<T, replica_id>) {
    put_number(out, x.value());
  } else if constexpr (std::is_same_v<T, gcounter> || std::is_same_v<T, pncounter>) {
    put_number(out, x.value());
  } else if constexpr (std::is_same_v<T, bounded_counter>) {
    if (!opts.causal_metadata) {
      put_number(out, x.value());
      return;
    }
    std::set<replica_id> replicas;
    for (const auto& [r, n] : x.increments().entries()) replicas.insert(r);
    for (const auto& [r, n] : x.decrements().entries()) replicas.insert(r);
    for (const auto& t : x.transfers()) replicas.insert({t.from, t.to});
    out += "{\"value\":";
    put_number(out, x.value());
    out += ",\"rights\":{";
    bool first = true;
    for (const replica_id r : replicas) {
      if (!first) out += ',';
      first = false;
      put_string(out, std::to_string(r.value()));
      out += ':';
      put_number(out, x.rights(r));
    }
    out += "}}";
  } else if constexpr (is_a<T, gset>) {
    put_sorted_array<typename T::value_type>(out, x.elements(), opts);
  } else if constexpr (is_a<T, twop_set>) {
    put_sorted_array<typename T::value_type>(out, x.live(), opts);
  } else if constexpr (is_a<T, or_set>) {
    with_context(out, x.context(), opts, nested_in_map,
                 [&] { put_sorted_array<typename T::value_type>(out, x.elements(), opts); });
  } else if constexpr (is_a<T, lww_register>) {
    if (x.value()) {
      put(out, *x.value(), opts);
    } else {
      out += "null";
    }
  } else if constexpr (is_a<T, mv_register>) {
    with_context(out, x.context(), opts, nested_in_map, [&] {
      std::vector<typename T::value_type> values;
      for (const auto& [d, v] : x.store().entries()) values.push_back(v);
      put_sorted_array<typename T::value_type>(out, values, opts);
    });
  } else if constexpr (std::is_same_v<T, ew_flag> || std::is_same_v<T, dw_flag>) {
    with_context(out, x.context(), opts, nested_in_map, [&] { out += x.value() ? "true" : "false"; });
  } else if constexpr (is_a<T, g_map>) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : x.entries()) {
      if (!first) out += ',';
      first = false;
      put_string(out, key_text(k, opts));
      out += ':';
      put(out, v, opts);
    }
    out += '}';
  } else if constexpr (is_a<T, or_map>) {
    with_context(out, x.context(), opts, nested_in_map, [&] {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : x) {
        if (!first) out += ',';
        first = false;
        put_string(out, key_text(k, opts));
        out += ':';
        put(out, v, opts, true);
      }
      out += '}';
    });
  } else if constexpr (is_a<T, std::optional>) {
    if (x) {
      put(out, *x, opts);
    } else {
      out += "null";
    }
  } else if constexpr (converge::detail::hana_struct<T>) {
    out += '{';
    bool first = true;
    boost::hana::for_each(boost::hana::accessors<T>(), [&](auto accessor) {
      if (!first) out += ',';
      first = false;
      put_string(out, boost::hana::to<char const*>(boost::hana::first(accessor)));
      out += ':';
      put(out, boost::hana::second(accessor)(x), opts);
    });
    out += '}';
  } else if constexpr (requires { x.begin(); x.end(); }) {
    out += '[';
    bool first = true;
    for (const auto& v : x) {
      if (!first) out += ',';
      first = false;
      put(out, v, opts);
    }
    out += ']';
  } else {
    static_assert(sizeof(T) == 0, "converge::to_json: no JSON rendering for this type");
  }
}

template <class K>
std::string key_text(const K& k, const json_options& opts) {
  if constexpr (std::is_convertible_v<const K&, std::string_view>) {
    return std::string(std::string_view(k));
  } else {
    std::string s;
    put(s, k, opts);
    return s;
  }
}

}  // namespace wire::json_detail

/// Renders `x` as one line of JSON (see the file comment for the mapping).
template <class T>
[[nodiscard]] std::string to_json(const T& x, json_options opts = {}) {
  std::string out;
  wire::json_detail::put(out, x, opts);
  return out;
}

}  // namespace converge
