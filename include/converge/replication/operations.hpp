#pragma once
/// @file
/// What the replicator reports about its quorum operations (`write`, `read`,
/// `decrement`): one `operation_outcome` per operation, polled with
/// `replicator::poll_outcome()` once `tick` resolved it.

#include <cstddef>
#include <cstdint>

namespace converge {

/// Names one quorum operation; never 0.
using operation_token = std::uint64_t;

/// How an operation ended.
enum class operation_status : std::uint8_t {
  done,       ///< enough members took part
  timed_out,  ///< the timeout passed first (a write stays applied and still converges)
  no_rights,  ///< a decrement: the rights it needs did not arrive before the timeout
};

/// The end of one operation.
struct operation_outcome {
  operation_token token = 0;
  operation_status status = operation_status::done;
  /// done / timed_out: how many members took part (this replica included),
  /// and how many were required. no_rights: the rights held, and the rights needed.
  std::size_t acknowledged = 0;
  std::size_t required = 0;
};

}  // namespace converge
