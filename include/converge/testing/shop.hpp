#pragma once
/// @file
/// `converge::testing::shop`: the composed state the tests and fuzzers share,
/// a Hana struct as users write them, with a field of each kind of type
/// (counters, a set, registers, maps). Its shape is part of what the fuzz
/// corpora mean (fuzz_decode's inputs are its encodings, and an operation
/// picks its field by index): add a field only with a new corpus.

#include "converge/bounded_counter.hpp"
#include "converge/g_map.hpp"
#include "converge/gcounter.hpp"
#include "converge/lww_register.hpp"
#include "converge/mv_register.hpp"
#include "converge/or_map.hpp"
#include "converge/or_set.hpp"
#include "converge/pncounter.hpp"

#include <boost/hana/define_struct.hpp>

#include <string>

namespace converge::testing {

/// A shop's state: every field a lattice, so the struct is one.
struct shop {
  BOOST_HANA_DEFINE_STRUCT(shop, (pncounter, balance), (or_set<std::string>, tags),
                           (lww_register<std::string>, name), (bounded_counter, stock),
                           (or_map<std::string, mv_register<std::string>>, settings),
                           (g_map<std::string, gcounter>, visits));
  bool operator==(const shop&) const = default;
};

}  // namespace converge::testing
