#pragma once
/// @file
/// `transfer_pacer`: spaces the state transfers a replicator sends to one
/// peer, so that no sequence of messages from that peer can make it send
/// whole states faster than one per interval.
///
/// Why: a state transfer costs the whole state, and the messages that call
/// for one are tiny (a delta naming a new session, a peer that never acks).
/// Without a bound, 100 acks carrying fresh sessions (3.3 KB) made a node
/// send 2.18 MB. With the pacer, whatever a peer sends, the whole-state
/// bytes sent to it over a time `T` are at most `(1 + T / interval)` state
/// transfers; see "Amplification" in replicator.hpp for the full bound.

#include <cstdint>

namespace converge::replication {

/// When the next state transfer to one peer may go. Plain data: one per peer.
class transfer_pacer {
 public:
  /// The earliest time a state transfer (a first send or a retransmission,
  /// whole or in parts) may go to the peer: `interval` after the previous
  /// one, or 0 when none was sent.
  [[nodiscard]] std::uint64_t earliest(std::uint64_t interval) const noexcept {
    return sent_ ? last_ + interval : 0;
  }

  /// A state transfer went at `now`.
  void sent(std::uint64_t now) noexcept {
    sent_ = true;
    last_ = now;
    held_ = false;
  }

  /// A state transfer was due but `earliest` holds it back. True the first
  /// time for that transfer, so the caller counts each deferred transfer once.
  [[nodiscard]] bool hold() noexcept {
    const bool first = !held_;
    held_ = true;
    return first;
  }

 private:
  std::uint64_t last_ = 0;
  bool sent_ = false;
  bool held_ = false;
};

}  // namespace converge::replication
