#pragma once
/// @file
/// The replicator's delta buffer `D`: deltas numbered by a sequence counter,
/// each with its encoded size and the peers known to hold it (for
/// avoid-back-propagation), bounded in encoded bytes.

#include "converge/replication/metrics.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace converge::replication {

/// A set of peers that stores its first few inline: a buffered delta is
/// usually known by its origin alone, and every delta received goes through
/// the buffer, so the common case allocates nothing.
class peer_set {
 public:
  [[nodiscard]] bool contains(peer_id p) const noexcept {
    for (std::size_t i = 0; i < n_; ++i) {
      if (inline_[i] == p) return true;
    }
    return std::find(more_.begin(), more_.end(), p) != more_.end();
  }
  /// Adds `p` (the caller checks it is not there yet).
  void insert(peer_id p) {
    if (n_ < inline_.size()) {
      inline_[n_++] = p;
    } else {
      more_.push_back(p);
    }
  }
  void erase(peer_id p) {
    for (std::size_t i = 0; i < n_; ++i) {
      if (inline_[i] == p) {
        inline_[i] = inline_[--n_];
        if (!more_.empty()) {
          inline_[n_++] = more_.back();
          more_.pop_back();
        }
        return;
      }
    }
    std::erase(more_, p);
  }

 private:
  std::array<peer_id, 2> inline_{};
  std::uint8_t n_ = 0;
  std::vector<peer_id> more_;
};

/// Deltas with sequence numbers in [`begin()`, `end()`); see the replicator's
/// file comment ("The protocol").
template <class State>
class delta_buffer {
 public:
  /// One buffered delta.
  struct entry {
    State delta;
    std::size_t bytes = 0;  ///< its encoded size
    peer_set known;         ///< peers known to hold it (BP)

    [[nodiscard]] bool known_by(peer_id p) const noexcept { return known.contains(p); }
  };

  /// A buffer that evicts its oldest entries past `max_bytes` encoded bytes.
  explicit delta_buffer(std::size_t max_bytes) noexcept : max_bytes_(max_bytes) {}

  /// The sequence number the next delta gets (`c` in the protocol).
  [[nodiscard]] std::uint64_t end() const noexcept { return c_; }
  /// The sequence number of the oldest retained delta (`end()` when empty).
  [[nodiscard]] std::uint64_t begin() const noexcept { return lo_; }
  /// The delta numbered `seq`, for `begin() <= seq < end()`.
  [[nodiscard]] entry& at(std::uint64_t seq) { return entries_[static_cast<std::size_t>(seq - lo_)]; }
  [[nodiscard]] const entry& at(std::uint64_t seq) const {
    return entries_[static_cast<std::size_t>(seq - lo_)];
  }

  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /// Appends `delta` (`bytes` its encoded size), held by `origin` when it
  /// came from that peer. Returns how many of the oldest entries were
  /// evicted to stay within the bound (their peers need a state transfer).
  std::size_t push(State delta, std::size_t bytes, std::optional<peer_id> origin) {
    entry e;
    e.bytes = bytes;
    e.delta = std::move(delta);
    if (origin) e.known.insert(*origin);
    bytes_ += e.bytes;
    entries_.push_back(std::move(e));
    ++c_;
    std::size_t evicted = 0;
    while (bytes_ > max_bytes_ && !entries_.empty()) {
      pop_front();
      ++evicted;
    }
    return evicted;
  }

  /// Numbers a delta that no peer needs (every peer already holds it),
  /// without keeping it. Only for an empty buffer: false (and nothing
  /// numbered) otherwise.
  bool skip() noexcept {
    if (!entries_.empty()) return false;
    lo_ = ++c_;
    return true;
  }

  /// Empties the buffer and numbers the next delta `end` (a replicator
  /// restored from its journal resumes its numbering).
  void restart(std::uint64_t end) noexcept {
    entries_.clear();
    bytes_ = 0;
    lo_ = c_ = end;
  }
  /// Drops the entries numbered below `low` (every peer holds them).
  void drop_before(std::uint64_t low) {
    while (lo_ < low && !entries_.empty()) pop_front();
    if (entries_.empty()) lo_ = c_;
  }

  /// Forgets that `p` holds anything (it left, or restarted and may have lost it).
  void forget_peer(peer_id p) {
    for (entry& e : entries_) e.known.erase(p);
  }

  /// Notes that `p` holds the entries in [from, end()) for which `holds(delta)`.
  template <class Pred>
  void mark_known(peer_id p, std::uint64_t from, Pred&& holds) {
    for (std::uint64_t s = std::max(from, lo_); s < c_; ++s) {
      entry& e = at(s);
      if (!e.known_by(p) && holds(e.delta)) e.known.insert(p);
    }
  }

  /// The first sequence number at or after `from` not known to be held by `p`.
  [[nodiscard]] std::uint64_t first_unknown(peer_id p, std::uint64_t from) const {
    std::uint64_t s = from;
    while (s < c_ && s >= lo_ && at(s).known_by(p)) ++s;
    return s;
  }

 private:
  void pop_front() {
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
    ++lo_;
  }

  std::size_t max_bytes_;
  std::uint64_t c_ = 0;   // sequence number of the next buffered delta
  std::uint64_t lo_ = 0;  // sequence number of entries_.front()
  std::deque<entry> entries_;
  std::size_t bytes_ = 0;
};

}  // namespace converge::replication
