// to_json: one line of JSON for people.
#include "converge/converge.hpp"

#include <doctest/doctest.h>

#include <string>

#include "golden_cases.hpp"

using converge::replica_id;

TEST_CASE("to_json renders the example of the design") {
  const replica_id a{1}, b{2};
  wire_test::golden_struct s;
  s.counter.increment(a, 5);
  s.counter.decrement(b, 2);
  s.set.insert(a, "b");
  s.set.insert(b, "a");
  s.map.update("k", [&](auto& r) { return r.assign(a, "v"); });
  s.stock.increment(a, 10);
  CHECK(converge::to_json(s) == R"({"counter":3,"set":["a","b"],"map":{"k":["v"]},"stock":10})");
}

TEST_CASE("to_json of each type") {
  const replica_id a{1}, b{2};
  converge::gcounter g;
  CHECK(converge::to_json(g) == "0");
  g.increment(a, 4);
  CHECK(converge::to_json(g) == "4");

  converge::pncounter p;
  p.decrement(a, 3);
  CHECK(converge::to_json(p) == "-3");

  converge::gset<int> gs;
  gs.insert(3);
  gs.insert(-1);
  CHECK(converge::to_json(gs) == "[-1,3]");

  converge::twop_set<std::string> tp;
  tp.insert("x");
  tp.insert("y");
  tp.erase("x");
  CHECK(converge::to_json(tp) == R"(["y"])");

  converge::lww_register<std::string> lww;
  CHECK(converge::to_json(lww) == "null");
  lww.assign(a, "hi", 3);
  CHECK(converge::to_json(lww) == R"("hi")");

  converge::mv_register<int> mv, mv2;
  mv.assign(a, 2);
  mv2.assign(b, 1);
  mv.join(mv2);
  CHECK(converge::to_json(mv) == "[1,2]");

  converge::ew_flag ew;
  CHECK(converge::to_json(ew) == "false");
  ew.enable(a);
  CHECK(converge::to_json(ew) == "true");
  converge::dw_flag dw;
  CHECK(converge::to_json(dw) == "true");

  converge::g_map<int, converge::gcounter> gm;
  gm.update(7, [&](auto& c) { return c.increment(a); });
  CHECK(converge::to_json(gm) == R"({"7":1})");

  converge::or_map<std::string, converge::or_map<std::string, converge::ew_flag>> om;
  om.update("outer", [&](auto& m) { return m.update("inner", [&](auto& f) { return f.enable(a); }); });
  CHECK(converge::to_json(om) == R"({"outer":{"inner":true}})");
}

TEST_CASE("to_json with causal metadata") {
  const replica_id a{1}, b{2};
  converge::or_set<int> s, t;
  s.insert(a, 1);
  t.insert(b, 2);
  t.insert(b, 3);
  converge::or_set<int> delta = t.insert(b, 4);
  s.join(delta);  // (b, 3) without (b, 1), (b, 2): a cloud
  CHECK(converge::to_json(s, {.causal_metadata = true}) ==
        R"({"value":[1,4],"context":{"versions":{"1":1},"cloud":[[2,3,3]]}})");
  // The cloud lists ranges of dots: [replica, first, last].
  const auto ranges = converge::or_set<int>::from_parts(
      {}, converge::causal_context::from_parts({{a, 2}}, {{a, 5, 9}, {a, 12, 12}, {b, 3, 7}}));
  CHECK(converge::to_json(ranges, {.causal_metadata = true}) ==
        R"({"value":[],"context":{"versions":{"1":2},"cloud":[[1,5,9],[1,12,12],[2,3,7]]}})");

  converge::or_map<std::string, converge::ew_flag> m;
  m.update("k", [&](auto& f) { return f.enable(a); });
  CHECK(converge::to_json(m, {.causal_metadata = true}) ==
        R"({"value":{"k":true},"context":{"versions":{"1":1},"cloud":[]}})");

  converge::bounded_counter bc;
  bc.increment(a, 10);
  (void)bc.transfer(a, b, 4);
  CHECK(converge::to_json(bc) == "10");
  CHECK(converge::to_json(bc, {.causal_metadata = true}) == R"({"value":10,"rights":{"1":6,"2":4}})");
}

TEST_CASE("to_json escapes strings") {
  converge::gset<std::string> s;
  s.insert("quote\" back\\ nl\n ctl\x01 caf\xc3\xa9");
  s.insert(std::string("bad\xff", 4));
  CHECK(converge::to_json(s) == R"(["bad\ufffd","quote\" back\\ nl\n ctl\u0001 café"])");
  converge::g_map<std::string, converge::gcounter> m;
  m.update("k\"", [](auto& c) { return c.increment(replica_id{1}); });
  CHECK(converge::to_json(m) == R"({"k\"":1})");
}
