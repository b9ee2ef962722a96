#pragma once
/// @file
/// When to resend to one peer: a smoothed round-trip time sampled by Karn's
/// rule, a retransmission timeout with a floor and a cap, and back-off. See
/// "Pacing" in the replicator's file comment for why each rule is there.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace converge::replication {

/// The settings the timeout depends on, in virtual time.
struct timing_options {
  std::uint64_t gossip_interval = 50;       ///< between sends to a peer (≥ 1)
  std::uint64_t min_timeout_intervals = 4;  ///< the timeout's floor, in gossip intervals (at least 1 is used)
};

/// The retransmission clock of one peer link.
class peer_timing {
 public:
  /// Doublings of the timeout at most (a 4× timeout).
  static constexpr unsigned max_backoff = 2;
  /// Bounds what one bad RTT estimate can cost: however slow the link
  /// looked, a lost interval is resent within this many gossip intervals
  /// (times the back-off).
  static constexpr std::uint64_t max_rtt_timeout_factor = 64;
  /// Sends awaiting their ack that are remembered for timing.
  static constexpr std::size_t max_timed = 8;

  /// max(floor, min(2 × srtt, cap)), doubled per back-off step.
  [[nodiscard]] std::uint64_t timeout(const timing_options& o) const noexcept {
    const std::uint64_t rtt_cap = max_rtt_timeout_factor * o.gossip_interval;
    const std::uint64_t floor = std::max<std::uint64_t>(o.min_timeout_intervals, 1) * o.gossip_interval;
    const std::uint64_t base = std::max(floor, std::min(2 * srtt_, rtt_cap));
    return base << backoff_;
  }

  /// The smoothed round-trip time, 0 until sampled.
  [[nodiscard]] std::uint64_t srtt() const noexcept { return srtt_; }

  /// Notes a send at `now` of the interval ending at `to`. Sending the same
  /// end again makes its ack ambiguous (Karn's rule): it is no longer timed.
  void sent(std::uint64_t to, std::uint64_t now) {
    for (timed_send& t : timing_) {
      if (t.to == to) {
        t.once = false;
        return;
      }
    }
    if (timing_.size() == max_timed) timing_.erase(timing_.begin());
    timing_.push_back(timed_send{to, now, true});
  }

  /// A timeout expired and the interval goes again: wait longer next time.
  void expired() noexcept { backoff_ = std::min(backoff_ + 1, max_backoff); }

  /// Anything arrived from the peer: the link works, back to the base timeout.
  void heard() noexcept { backoff_ = 0; }

  /// The peer acknowledged up to `to`. When the send it answers went once,
  /// the sample is left due for the next tick: `receive` has no clock, and
  /// the time the caller spends joining what arrived belongs in the RTT.
  void acked(std::uint64_t to) {
    for (const timed_send& t : timing_) {
      if (t.to == to && t.once) rtt_from_ = t.at;
    }
    std::erase_if(timing_, [&](const timed_send& t) { return t.to <= to; });
    backoff_ = 0;
  }

  /// The replica itself did not run for longer than the timeout: an ack now
  /// would time the pause, so nothing pending is timed.
  void stalled() noexcept {
    rtt_from_.reset();
    for (timed_send& t : timing_) t.once = false;
  }

  /// Takes the sample an acknowledgement left due, at `now`.
  void sample(std::uint64_t now) noexcept {
    if (!rtt_from_) return;
    const std::uint64_t sent_at = *std::exchange(rtt_from_, std::nullopt);
    if (now >= sent_at) {
      const std::uint64_t s = now - sent_at;
      srtt_ = srtt_ == 0 ? std::max<std::uint64_t>(s, 1) : (7 * srtt_ + s) / 8;
    }
  }

  /// A new life of the peer: nothing in flight is timed (the RTT estimate stays).
  void restart() noexcept {
    timing_.clear();
    rtt_from_.reset();
  }

 private:
  /// A send of the interval ending at `to`; `once` until it is resent.
  struct timed_send {
    std::uint64_t to = 0;
    std::uint64_t at = 0;
    bool once = true;
  };

  std::vector<timed_send> timing_;         // oldest first, at most max_timed
  std::optional<std::uint64_t> rtt_from_;  // send time of an ack just received
  std::uint64_t srtt_ = 0;
  unsigned backoff_ = 0;
};

}  // namespace converge::replication
