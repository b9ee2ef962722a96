#pragma once
/// @file
/// The ZeroMQ transport: `converge::zmq_node` and its CURVE keys.

#include "converge/transport/curve.hpp"
#include "converge/transport/zmq_node.hpp"
