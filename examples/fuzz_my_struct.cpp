// Check your own state type: a Hana struct of CRDTs is a CRDT, and
// converge::testing checks that it really is — every lattice law, the delta
// law, delta groups and convergence — with your own mutators.
//
// As a test (a plain main, no framework): this file builds and runs as is,
//   g++ -std=c++20 -I include examples/fuzz_my_struct.cpp -o fuzz_my_struct && ./fuzz_my_struct
//
// As a libFuzzer target (the fuzzer's bytes pick the replicas' operations):
//   clang++-14 -std=c++20 -O1 -g -I include -DCONVERGE_FUZZ -fsanitize=fuzzer,address,undefined
//     examples/fuzz_my_struct.cpp -o fuzz_my_struct        (one command line)
//   mkdir -p corpus && ./fuzz_my_struct corpus -max_total_time=60
// A failing law prints what failed and aborts; libFuzzer saves the input
// (crash-*), and `./fuzz_my_struct crash-...` replays it.
#include <converge/converge.hpp>
#include <converge/testing/laws.hpp>

#include <boost/hana/define_struct.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

// Your state: any struct of lattices, declared with BOOST_HANA_DEFINE_STRUCT
// and a defaulted ==. Nothing else to write: join, deltas and encoding come
// field by field.
struct cart {
  BOOST_HANA_DEFINE_STRUCT(cart,
                           (converge::or_map<std::string, converge::mv_register<std::uint64_t>>,
                            items),  // item -> quantity
                           (converge::pncounter, total_cents), (converge::ew_flag, checked_out),
                           (converge::lww_register<std::string>, coupon));
  bool operator==(const cart&) const = default;
};

// One random mutator of your state, as your application would call them:
// each returns the delta of the whole struct (converge::update builds it).
// Draw every choice from `e`, so that a seed — or the fuzzer's bytes —
// reproduces the case.
cart random_mutation(cart& c, converge::replica_id self, converge::testing::entropy& e) {
  const std::string item = "sku-" + std::to_string(e.below(4));  // few keys, so replicas collide
  switch (e.below(6)) {
    case 0:
      return converge::update(c, &cart::items, [&](auto& m) {
        return m.update(item, [&](auto& qty) { return qty.assign(self, 1 + e.below(3)); });
      });
    case 1:
      return converge::update(c, &cart::items, [&](auto& m) { return m.erase(item); });
    case 2:
      return converge::update(c, &cart::total_cents, [&](auto& t) {
        return e.chance(1, 2) ? t.increment(self, e.below(500)) : t.decrement(self, e.below(500));
      });
    case 3:
      return converge::update(c, &cart::checked_out,
                              [&](auto& f) { return e.chance(1, 2) ? f.enable(self) : f.disable(); });
    default:
      return converge::update(c, &cart::coupon, [&](auto& r) {
        return r.assign(self, e.chance(1, 2) ? "SPRING" : "VIP", e.below(100));
      });
  }
}

#ifdef CONVERGE_FUZZ
CONVERGE_LAW_FUZZER(cart, random_mutation)
#else
int main() {
  const converge::testing::law_report report =
      converge::testing::check_laws<cart>(random_mutation, {.seed = 42, .cases = 500});
  if (!report) {
    std::fprintf(stderr, "%s\n", report.failure.c_str());
    return 1;
  }
  std::printf("cart: %d cases, every lattice law held\n", report.cases_run);
  return 0;
}
#endif
