#pragma once
// Which types each harness fuzzes: byte 0 of an input picks one (index
// byte % size), so these lists are part of what every corpus input means:
// append, never reorder.

#include <converge/converge.hpp>
#include <converge/testing/shop.hpp>

#include <cstdint>
#include <string>

#include "harness.hpp"

namespace converge_fuzz {

using converge::testing::shop;

/// fuzz_laws and fuzz_replicator: every type, nested maps, a Hana struct.
using catalog =
    type_list<converge::gcounter, converge::pncounter, converge::bounded_counter, converge::gset<int>,
              converge::twop_set<int>, converge::or_set<int>, converge::lww_register<int>,
              converge::mv_register<int>, converge::ew_flag, converge::dw_flag,
              converge::g_map<std::string, converge::pncounter>, converge::or_map<int, converge::or_set<int>>,
              converge::or_map<std::string, converge::or_map<int, converge::mv_register<int>>>, shop,
              converge::or_set<std::string>, converge::or_map<int, converge::ew_flag>>;

/// fuzz_decode: the catalog, then string and 64-bit variants, and floating
/// point elements (NaN is a value a hostile peer can send).
using decode_catalog = concat<
    catalog,
    type_list<converge::gset<std::string>, converge::gset<std::uint64_t>, converge::twop_set<std::string>,
              converge::lww_register<std::string>, converge::mv_register<std::string>,
              converge::g_map<std::string, converge::gcounter>,
              converge::or_map<std::string, converge::mv_register<std::string>>, converge::gset<double>>>;

/// fuzz_storage: the states a durable replica is restored into.
using storage_catalog = type_list<converge::gcounter, converge::or_set<std::uint64_t>, shop,
                                  converge::or_map<int, converge::or_set<int>>, converge::bounded_counter>;

}  // namespace converge_fuzz
