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
///
/// The mapping is written once, against a writer (`json_detail::render`);
/// `to_json` drives a writer that appends text, and <converge/nlohmann.hpp>
/// one that builds an `nlohmann::json`.

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

/// The length of the well-formed UTF-8 sequence (shortest form, no
/// surrogates, at most U+10FFFF) that starts at a byte >= 0x80 at `s[i]`,
/// or 0 when there is none.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto c = static_cast<unsigned char>(s[i]);
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
  return ok ? len : 0;
}

/// Appends `s` as a JSON string: quotes, backslashes and control characters
/// escaped; bytes that are not valid UTF-8 become U+FFFD.
inline void put_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
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
    } else if (const std::size_t len = utf8_sequence(s, i)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

/// `s` with every byte that is not valid UTF-8 replaced by U+FFFD, as
/// `put_string` renders it (for writers that hold strings, not text).
inline std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      out += s[i++];
    } else if (const std::size_t len = utf8_sequence(s, i)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

/// The writer `to_json` uses: appends compact JSON text to a string, and puts
/// the commas. A writer takes values (`null`, `boolean`, `number`, `string`),
/// opens and closes arrays and objects, and takes an object's next `key`;
/// `render` calls nothing else.
class text_writer {
 public:
  explicit text_writer(std::string& out) : out_(out) {}

  void null() { value_start(), out_ += "null"; }
  void boolean(bool b) { value_start(), out_ += b ? "true" : "false"; }
  template <class T>
  void number(T v) {
    value_start();
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(v)) {
        out_ += "null";
        return;
      }
    }
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }
  void string(std::string_view s) { value_start(), put_string(out_, s); }
  /// Already rendered JSON text, as one value.
  void text(std::string_view json) { value_start(), out_ += json; }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void key(std::string_view k) {
    comma();
    put_string(out_, k);
    out_ += ':';
    after_key_ = true;
  }

 private:
  void comma() {
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  void value_start() {
    if (after_key_) {
      after_key_ = false;
    } else {
      comma();
    }
  }
  void open(char c) {
    value_start();
    out_ += c;
    first_.push_back(true);
  }
  void close(char c) {
    first_.pop_back();
    out_ += c;
  }

  std::string& out_;
  std::vector<bool> first_;  // per open array or object: nothing written in it yet
  bool after_key_ = false;
};

template <class T, class W>
void render(W& w, const T& x, const json_options& opts, bool nested_in_map = false);

/// The text of a map key: strings as they are, anything else as its JSON.
template <class K>
std::string key_text(const K& k, const json_options& opts) {
  if constexpr (std::is_convertible_v<const K&, std::string_view>) {
    return std::string(std::string_view(k));
  } else {
    std::string s;
    text_writer w(s);
    render(w, k, opts);
    return s;
  }
}

template <class W>
void render_context(W& w, const causal_context& c) {
  w.begin_object();
  w.key("versions");
  w.begin_object();
  for (const auto& [r, n] : c.versions()) {
    w.key(std::to_string(r.value()));
    w.number(n);
  }
  w.end_object();
  w.key("cloud");
  w.begin_array();
  for (const dot_range& x : c.cloud()) {
    w.begin_array();
    w.number(x.replica.value());
    w.number(x.first);
    w.number(x.last);
    w.end_array();
  }
  w.end_array();
  w.end_object();
}

/// Renders `values` as a sorted array without duplicates: sorted by value
/// when `T` is ordered, else by JSON text.
template <class T, class Range, class W>
void render_sorted_array(W& w, const Range& values, const json_options& opts) {
  std::vector<const T*> ptrs;
  for (const T& v : values) ptrs.push_back(&v);
  w.begin_array();
  if constexpr (std::totally_ordered<T>) {
    std::sort(ptrs.begin(), ptrs.end(), [](const T* a, const T* b) { return *a < *b; });
    ptrs.erase(std::unique(ptrs.begin(), ptrs.end(), [](const T* a, const T* b) { return *a == *b; }),
               ptrs.end());
    for (const T* p : ptrs) render(w, *p, opts);
  } else {
    std::vector<std::pair<std::string, const T*>> texts;
    for (const T* p : ptrs) texts.emplace_back(key_text(*p, opts), p);
    std::sort(texts.begin(), texts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    texts.erase(std::unique(texts.begin(), texts.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                texts.end());
    for (const auto& [text, p] : texts) {
      if constexpr (std::is_same_v<W, text_writer>) {
        w.text(text);  // already rendered
      } else {
        render(w, *p, opts);
      }
    }
  }
  w.end_array();
}

/// Wraps the value `value()` renders with the context when metadata is asked
/// for (and the value is not nested in a map, whose context it shares).
template <class W, class F>
void with_context(W& w, const causal_context& ctx, const json_options& opts, bool nested, F value) {
  if (!opts.causal_metadata || nested) {
    value();
    return;
  }
  w.begin_object();
  w.key("value");
  value();
  w.key("context");
  render_context(w, ctx);
  w.end_object();
}

/// Whether `render` has a mapping for `T` (a converge type, a Hana struct of
/// them, a number, a string, an optional or a range of those).
template <class T>
inline constexpr bool is_catalog_type =
    std::is_same_v<T, gcounter> || std::is_same_v<T, pncounter> || std::is_same_v<T, bounded_counter> ||
    std::is_same_v<T, ew_flag> || std::is_same_v<T, dw_flag> || is_a<T, gset> || is_a<T, twop_set> ||
    is_a<T, or_set> || is_a<T, lww_register> || is_a<T, mv_register> || is_a<T, g_map> || is_a<T, or_map>;

/// The one mapping from converge states to JSON (see the file comment).
template <class T, class W>
void render(W& w, const T& x, const json_options& opts, bool nested_in_map) {
  if constexpr (std::is_same_v<T, bool>) {
    w.boolean(x);
  } else if constexpr (std::is_arithmetic_v<T>) {
    w.number(x);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    w.string(std::string_view(x));
  } else if constexpr (std::is_same_v<T, replica_id>) {
    w.number(x.value());
  } else if constexpr (std::is_same_v<T, gcounter> || std::is_same_v<T, pncounter>) {
    w.number(x.value());
  } else if constexpr (std::is_same_v<T, bounded_counter>) {
    if (!opts.causal_metadata) {
      w.number(x.value());
      return;
    }
    std::set<replica_id> replicas;
    for (const auto& [r, n] : x.increments().entries()) replicas.insert(r);
    for (const auto& [r, n] : x.decrements().entries()) replicas.insert(r);
    for (const auto& t : x.transfers()) replicas.insert({t.from, t.to});
    w.begin_object();
    w.key("value");
    w.number(x.value());
    w.key("rights");
    w.begin_object();
    for (const replica_id r : replicas) {
      w.key(std::to_string(r.value()));
      w.number(x.rights(r));
    }
    w.end_object();
    w.end_object();
  } else if constexpr (is_a<T, gset>) {
    render_sorted_array<typename T::value_type>(w, x.elements(), opts);
  } else if constexpr (is_a<T, twop_set>) {
    render_sorted_array<typename T::value_type>(w, x.live(), opts);
  } else if constexpr (is_a<T, or_set>) {
    with_context(w, x.context(), opts, nested_in_map,
                 [&] { render_sorted_array<typename T::value_type>(w, x.elements(), opts); });
  } else if constexpr (is_a<T, lww_register>) {
    if (x.value()) {
      render(w, *x.value(), opts);
    } else {
      w.null();
    }
  } else if constexpr (is_a<T, mv_register>) {
    with_context(w, x.context(), opts, nested_in_map, [&] {
      std::vector<typename T::value_type> values;
      for (const auto& [d, v] : x.store().entries()) values.push_back(v);
      render_sorted_array<typename T::value_type>(w, values, opts);
    });
  } else if constexpr (std::is_same_v<T, ew_flag> || std::is_same_v<T, dw_flag>) {
    with_context(w, x.context(), opts, nested_in_map, [&] { w.boolean(x.value()); });
  } else if constexpr (is_a<T, g_map>) {
    w.begin_object();
    for (const auto& [k, v] : x.entries()) {
      w.key(key_text(k, opts));
      render(w, v, opts);
    }
    w.end_object();
  } else if constexpr (is_a<T, or_map>) {
    with_context(w, x.context(), opts, nested_in_map, [&] {
      w.begin_object();
      for (const auto& [k, v] : x) {
        w.key(key_text(k, opts));
        render(w, v, opts, true);
      }
      w.end_object();
    });
  } else if constexpr (is_a<T, std::optional>) {
    if (x) {
      render(w, *x, opts);
    } else {
      w.null();
    }
  } else if constexpr (converge::detail::hana_struct<T>) {
    w.begin_object();
    boost::hana::for_each(boost::hana::accessors<T>(), [&](auto accessor) {
      w.key(boost::hana::to<char const*>(boost::hana::first(accessor)));
      render(w, boost::hana::second(accessor)(x), opts);
    });
    w.end_object();
  } else if constexpr (requires {
                         x.begin();
                         x.end();
                       }) {
    w.begin_array();
    for (const auto& v : x) render(w, v, opts);
    w.end_array();
  } else {
    static_assert(sizeof(T) == 0, "converge::to_json: no JSON rendering for this type");
  }
}

}  // namespace wire::json_detail

/// Renders `x` as one line of JSON (see the file comment for the mapping).
template <class T>
[[nodiscard]] std::string to_json(const T& x, json_options opts = {}) {
  std::string out;
  wire::json_detail::text_writer w(out);
  wire::json_detail::render(w, x, opts);
  return out;
}

}  // namespace converge
