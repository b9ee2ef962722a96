#pragma once
/// @file
/// The ZeroMQ transport: `converge::zmq_node`, its options, metrics and
/// change notifications, and its CURVE keys.

#include "converge/transport/curve.hpp"
#include "converge/transport/node_options.hpp"
#include "converge/transport/peer_status.hpp"
#include "converge/transport/state_change.hpp"
#include "converge/transport/transport_metrics.hpp"
#include "converge/transport/zmq_node.hpp"
