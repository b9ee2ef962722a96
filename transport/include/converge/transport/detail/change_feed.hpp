#pragma once
/// @file
/// The subscribers of a node and the changes waiting for them: a bounded
/// queue of `applied_delta`s (past `max_pending` a change is folded into the
/// last one) and the calls, made without holding any lock.

#include "converge/lattice.hpp"
#include "converge/replication/events.hpp"
#include "converge/transport/detail/field_changes.hpp"
#include "converge/transport/state_change.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace converge::transport::detail {

template <class State>
class change_feed {
 public:
  using callback = std::function<void(const state_change<State>&)>;

  /// Changes queued before new ones are folded into the last.
  static constexpr std::size_t max_pending = 1024;

  /// Adds a subscriber; returns its token (never 0).
  std::size_t subscribe(callback cb) {
    std::lock_guard lock(mutex_);
    subscribers_.emplace_back(++next_token_, std::make_shared<callback>(std::move(cb)));
    return next_token_;
  }

  /// Removes a subscriber; returns true when none is left (what is pending is then dropped).
  bool unsubscribe(std::size_t token) {
    std::lock_guard lock(mutex_);
    std::erase_if(subscribers_, [&](const auto& s) { return s.first == token; });
    if (!subscribers_.empty()) return false;
    pending_.clear();
    return true;
  }

  /// True when nobody subscribes.
  [[nodiscard]] bool empty() const {
    std::lock_guard lock(mutex_);
    return subscribers_.empty();
  }

  /// Queues a change for the subscribers (see `max_pending`).
  void push(applied_delta<State>&& change) {
    std::lock_guard lock(mutex_);
    if (pending_.size() < max_pending) {
      pending_.push_back(std::move(change));
      return;
    }
    applied_delta<State>& last = pending_.back();
    converge::join_into(last.delta, change.delta);
    if (last.from != change.from) last.from.reset();
    last.local = last.local && change.local;
  }

  /// Calls every subscriber for every queued change, oldest first, with no
  /// lock held (a callback may mutate the node). A call made while another
  /// is dispatching (from a callback, or another thread) returns at once:
  /// the running one delivers what was queued.
  void dispatch() {
    bool idle = false;
    if (!dispatching_.compare_exchange_strong(idle, true)) return;
    struct done {
      std::atomic<bool>& flag;
      ~done() { flag = false; }
    } guard{dispatching_};
    for (;;) {
      std::vector<applied_delta<State>> batch;
      std::vector<std::shared_ptr<callback>> subs;
      {
        std::lock_guard lock(mutex_);
        if (pending_.empty()) return;
        batch.swap(pending_);
        subs.reserve(subscribers_.size());
        for (const auto& s : subscribers_) subs.push_back(s.second);
      }
      for (const auto& c : batch) {
        const state_change<State> change{c.delta, nonbottom_fields(c.delta), c.local, c.from};
        for (const auto& s : subs) (*s)(change);
      }
    }
  }

 private:
  mutable std::mutex mutex_;
  std::vector<applied_delta<State>> pending_;
  std::vector<std::pair<std::size_t, std::shared_ptr<callback>>> subscribers_;
  std::size_t next_token_ = 0;
  std::atomic<bool> dispatching_{false};
};

}  // namespace converge::transport::detail
