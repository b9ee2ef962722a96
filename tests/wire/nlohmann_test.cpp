// <converge/nlohmann.hpp>: every type and composed struct converts to
// nlohmann::json as to_json renders it (the one mapping, two writers).
#include "converge/nlohmann.hpp"

#include "converge/converge.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "generators.hpp"

using converge::replica_id;

namespace {

// The same JSON value, with and without the causal metadata; in member order
// with ordered_json.
template <class T>
void check_same(const T& x) {
  for (const bool meta : {false, true}) {
    const converge::json_options opts{.causal_metadata = meta};
    const std::string text = converge::to_json(x, opts);
    CAPTURE(text);
    CHECK(converge::to_nlohmann(x, opts) == nlohmann::json::parse(text));
    CHECK(converge::to_nlohmann<nlohmann::ordered_json>(x, opts) == nlohmann::ordered_json::parse(text));
  }
  const nlohmann::json converted = x;  // adl_serializer
  CHECK(converted == nlohmann::json::parse(converge::to_json(x)));
}

template <class T>
void check_random(const char* name) {
  wire_test::for_random_states<T>(name, 30, 20, [](const T& x, auto&) { check_same(x); });
}

}  // namespace

TEST_CASE("nlohmann::json of every type equals its to_json text") {
  check_random<converge::gcounter>("nlohmann gcounter");
  check_random<converge::pncounter>("nlohmann pncounter");
  check_random<converge::bounded_counter>("nlohmann bounded_counter");
  check_random<converge::gset<std::string>>("nlohmann gset");
  check_random<converge::twop_set<std::uint64_t>>("nlohmann twop_set");
  check_random<converge::or_set<std::string>>("nlohmann or_set");
  check_random<converge::lww_register<std::string>>("nlohmann lww_register");
  check_random<converge::mv_register<std::string>>("nlohmann mv_register");
  check_random<converge::ew_flag>("nlohmann ew_flag");
  check_random<converge::dw_flag>("nlohmann dw_flag");
  check_random<converge::g_map<std::string, converge::gcounter>>("nlohmann g_map");
  check_random<converge::or_map<std::string, converge::or_set<std::string>>>("nlohmann or_map");
  check_random<converge::testing::shop>("nlohmann shop");
}

TEST_CASE("a composed struct goes into a document with its field names, in any namespace") {
  const replica_id a{1};
  converge::testing::shop s;
  s.balance.increment(a, 5);
  s.tags.insert(a, "x");
  s.settings.update("k", [&](auto& r) { return r.assign(a, "v"); });
  nlohmann::json doc;
  doc["state"] = s;
  doc["tags"] = s.tags;
  CHECK(doc["state"]["balance"] == 5);
  CHECK(doc["state"]["settings"]["k"] == nlohmann::json::array({"v"}));
  CHECK(doc["tags"] == nlohmann::json::array({"x"}));
  // ordered_json keeps member order: its text is to_json's.
  const nlohmann::ordered_json ordered = s;
  CHECK(ordered.dump() == converge::to_json(s));
}

TEST_CASE("ADL to_json(json&, x) and the text agree on strings that are not UTF-8") {
  converge::gset<std::string> g;
  g.insert("ok");
  g.insert("bad\xff");
  nlohmann::json j;
  to_json(j, g);  // found by ADL
  CHECK(j == nlohmann::json::parse(converge::to_json(g)));
  CHECK(j[0] == "bad\xef\xbf\xbd");
  CHECK_NOTHROW((void)j.dump());
}

TEST_CASE("non-finite numbers and empty registers are null, as in the text") {
  converge::lww_register<double> r;
  CHECK(converge::to_nlohmann(r).is_null());
  r.assign(replica_id{1}, 1.0 / 0.0 * 0.0, 1);  // NaN
  CHECK(converge::to_nlohmann(r).is_null());
  CHECK(converge::to_json(r) == "null");
}
