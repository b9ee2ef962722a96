#pragma once
/// @file
/// nlohmann::json interop (optional: needs nlohmann-json3-dev). Puts any
/// converge state into an `nlohmann::json` (or `ordered_json`) document with
/// the rendering of `converge::to_json`, without going through text:
/// @code
///   nlohmann::json doc;
///   doc["cart"] = cart;                          // a Hana struct of CRDTs
///   doc["seen"] = converge::to_nlohmann(set, {.causal_metadata = true});
/// @endcode
/// Converge types get an ADL `to_json(json&, const T&)`. Conversions
/// (`json j = x;`) go through an `nlohmann::adl_serializer` for converge
/// types and for Hana structs whose members are lattices: ADL cannot find a
/// function for a struct declared in the user's namespace, and nlohmann's own
/// `to_json` for ranges would make a call on a set ambiguous. The mapping
/// itself is `json_detail::render` in <converge/json.hpp>, written once:
/// `nlohmann::json(x) == nlohmann::json::parse(to_json(x))` for every state,
/// and with `ordered_json` the members keep their order too.

#include "converge/json.hpp"
#include "converge/lattice.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge {

namespace wire::json_detail {

template <class Json>
inline constexpr bool is_nlohmann_json = nlohmann::detail::is_basic_json<Json>::value;

/// A writer (see `text_writer`) that builds a JSON document in place.
template <class Json>
class nlohmann_writer {
 public:
  explicit nlohmann_writer(Json& root) : root_(root) {}

  void null() { put(Json(nullptr)); }
  void boolean(bool b) { put(Json(b)); }
  template <class T>
  void number(T v) {
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(v)) {
        put(Json(nullptr));
        return;
      }
    }
    put(Json(v));
  }
  // nlohmann::json holds UTF-8 (dump() throws on anything else): bad bytes
  // become U+FFFD, as in the text.
  void string(std::string_view s) { put(Json(valid_utf8(s))); }
  void begin_array() { open(Json::array()); }
  void end_array() { open_.pop_back(); }
  void begin_object() { open(Json::object()); }
  void end_object() { open_.pop_back(); }
  void key(std::string_view k) { key_ = valid_utf8(k); }

 private:
  Json& put(Json v) {
    if (open_.empty()) return root_ = std::move(v);
    Json& top = *open_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return top.back();
    }
    return top[key_] = std::move(v);
  }
  void open(Json empty) { open_.push_back(&put(std::move(empty))); }

  Json& root_;
  std::vector<Json*> open_;  // arrays and objects being filled; pointers stay valid: only the top grows
  std::string key_;
};

}  // namespace wire::json_detail

/// `x` as a JSON document (any nlohmann::basic_json, default nlohmann::json),
/// rendered as `to_json(x, opts)` renders text.
template <class Json = nlohmann::json, class T>
requires wire::json_detail::is_nlohmann_json<Json>
[[nodiscard]] Json to_nlohmann(const T& x, json_options opts = {}) {
  Json j;
  wire::json_detail::nlohmann_writer<Json> w(j);
  wire::json_detail::render(w, x, opts);
  return j;
}

/// ADL hook for nlohmann: `nlohmann::json j = state;` for every converge type.
template <class Json, class T>
requires wire::json_detail::is_nlohmann_json<Json> && wire::json_detail::is_catalog_type<T>
void to_json(Json& j, const T& x) { j = to_nlohmann<Json>(x); }

}  // namespace converge

/// `nlohmann::json j = x;` for a converge type, or a Hana struct of lattices
/// in any namespace.
template <class T>
struct nlohmann::adl_serializer<
    T, std::enable_if_t<converge::wire::json_detail::is_catalog_type<T> ||
                        (converge::detail::hana_struct<T> && converge::lattice<T>)>> {
  template <class Json>
  static void to_json(Json& j, const T& x) {
    j = converge::to_nlohmann<Json>(x);
  }
};
