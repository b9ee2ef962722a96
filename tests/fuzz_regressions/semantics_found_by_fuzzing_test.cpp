// Behaviours the fuzzers ran into while their reference models were being
// written; each was the library being right and the model wrong, and each is
// pinned here so that neither drifts. Inputs: fuzz/regressions/<harness>/.
#include <converge/dot.hpp>
#include <converge/gset.hpp>
#include <converge/lattice.hpp>
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/twop_set.hpp>
#include <converge/wire/encode.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

// fuzz/regressions/fuzz_laws/twop_set-erase-twice-bottom-delta
TEST_CASE(
    "twop_set: erasing an erased element, or inserting a present one, returns bottom (nothing to deliver)") {
  converge::twop_set<int> s;
  CHECK_FALSE(converge::is_bottom(s.erase(5)));
  CHECK(converge::is_bottom(s.erase(5)));
  CHECK(converge::is_bottom(s.insert(5)));
  converge::twop_set<int> t;
  CHECK_FALSE(converge::is_bottom(t.insert(4)));
  CHECK(converge::is_bottom(t.insert(4)));
  converge::gset<int> g;
  (void)g.insert(1);
  CHECK(converge::is_bottom(g.insert(1)));
}

// fuzz/regressions/fuzz_decode/or_map-pair-sharing-a-dot
TEST_CASE(
    "or_map: two decoded states holding one dot under different keys are each valid, but not joinable "
    "commutatively (dots must be unique; honest replicas never issue one twice)") {
  using map = converge::or_map<std::string, converge::mv_register<std::string>>;
  const converge::replica_id r{1};
  map x, y;
  (void)x.update("r", [&](auto& v) { return v.assign(r, "a"); });
  (void)y.update("s", [&](auto& v) { return v.assign(r, "a"); });  // the same dot (1, 1), another key
  const map x2 = converge::decode<map>(converge::encode(x));
  const map y2 = converge::decode<map>(converge::encode(y));
  CHECK(x2 == x);
  CHECK(y2 == y);
  CHECK_FALSE(converge::join(x2, y2) == converge::join(y2, x2));
}

// fuzz/regressions/fuzz_decode/gset-double-nan — found by fuzz_decode: the
// wire decoder accepted a NaN double, and a gset (or lww_register, g_map key
// ...) holding NaN is not equal to itself, so it breaks every lattice law.
// Fixed in wire/archive.hpp: NaN is refused with decode_error.
TEST_CASE("decode refuses NaN (a state must equal itself)") {
  converge::gset<double> s;
  (void)s.insert(1.5);
  std::vector<std::byte> bytes = converge::encode(s);
  REQUIRE(bytes.size() == 1 + 1 + 1 + 8);  // header, empty replica table, count, the double
  const unsigned char nan[8] = {0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
  for (int i = 0; i < 8; ++i) bytes[3 + static_cast<std::size_t>(i)] = static_cast<std::byte>(nan[i]);
  CHECK_THROWS_AS((void)converge::decode<converge::gset<double>>(bytes), converge::decode_error);
}
