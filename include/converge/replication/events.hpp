#pragma once
/// @file
/// What a replicator reports to its application: every delta that changed
/// its state, local or received, with where it came from (quinn-proto's
/// `Connection::poll` shape: the state machine queues events, the caller
/// drains them after each call).

#include "converge/lattice.hpp"
#include "converge/replication/metrics.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

namespace converge {

/// A delta the replicator applied: the part of the state that changed.
///
/// With remove-redundant on (the default), `delta` is exactly what was new
/// to this replica (`converge::absorb`'s novel part), so `state ⊔ delta`
/// before equals the state after and a subscriber can mirror the state by
/// joining the deltas. With it off, `delta` is the received payload, which
/// may also hold what was already here.
template <class State>
struct applied_delta {
  State delta;
  /// The peer whose message carried it; nullopt for a local `mutate`, or for
  /// an event folded from several sources (see `local`).
  std::optional<peer_id> from;
  /// True when every delta in it came from a local `mutate`.
  bool local = false;
};

namespace replication {

/// The queue of `applied_delta` events, bounded: past `max_events` a new
/// event is joined into the last one, so a caller that drains late gets
/// fewer, larger events, and memory stays within the state's size.
template <class State>
class event_queue {
 public:
  explicit event_queue(std::size_t max_events) noexcept : max_(max_events == 0 ? 1 : max_events) {}

  /// Queues a change; returns true when it was folded into the last event.
  bool push(State delta, std::optional<peer_id> from) {
    const bool local = !from.has_value();
    if (events_.size() < max_) {
      events_.push_back(applied_delta<State>{std::move(delta), from, local});
      return false;
    }
    applied_delta<State>& last = events_.back();
    converge::join_into(last.delta, delta);
    if (last.from != from) last.from.reset();
    last.local = last.local && local;
    return true;
  }

  /// The oldest event, removed from the queue; nullopt when none.
  std::optional<applied_delta<State>> pop() {
    if (events_.empty()) return std::nullopt;
    applied_delta<State> e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

  [[nodiscard]] bool empty() const noexcept { return events_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return events_.size(); }
  void clear() noexcept { events_.clear(); }

 private:
  std::size_t max_;
  std::deque<applied_delta<State>> events_;
};

}  // namespace replication
}  // namespace converge
