#pragma once
/// @file
/// The whole library: every lattice type, composition of Hana structs, and
/// the wire functions (`encode`, `decode`, `to_json`). Never brings ZeroMQ.

#include "converge/bounded_counter.hpp"
#include "converge/causal_context.hpp"
#include "converge/dot.hpp"
#include "converge/dot_kernel.hpp"
#include "converge/dw_flag.hpp"
#include "converge/ew_flag.hpp"
#include "converge/g_map.hpp"
#include "converge/gcounter.hpp"
#include "converge/gset.hpp"
#include "converge/json.hpp"
#include "converge/lattice.hpp"
#include "converge/lww_register.hpp"
#include "converge/mv_register.hpp"
#include "converge/or_map.hpp"
#include "converge/or_set.hpp"
#include "converge/pncounter.hpp"
#include "converge/replica_id.hpp"
#include "converge/twop_set.hpp"
#include "converge/wire/encode.hpp"
