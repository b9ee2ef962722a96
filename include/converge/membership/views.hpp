#pragma once
/// @file
/// `converge::membership::views`: HyParView partial views (Leitão, Pereira,
/// Rodrigues, "HyParView: a membership protocol for reliable gossip-based
/// broadcast", DSN 2007), sans-IO and seeded. Each node keeps a small
/// symmetric **active view** (its links: the replicator's peers and the
/// failure detector's neighbours) and a larger **passive view** (candidates
/// to replace a failed link). 1,000 nodes hold about 1,000 × 11 / 2 links,
/// not a million.
///
/// @code
///   views v(self, {}, seed);
///   v.join(seed_node, now);                    // or v.set_seeds({...}) and let it retry
///   for (;;) {
///     auto out = v.tick(now);                  // after every event, and at out.next_deadline
///     for (auto& [to, m] : out.messages) send(to, m);
///     if (out.active_changed) replicator_peers = v.active();
///     ... v.receive(from, message, now); v.neighbour_failed(n, now) when the detector says n is down ...
///   }
/// @endcode
///
/// # Sizes
/// Active capacity `clamp(⌈log2(N)⌉ + c, min_active, max_active)` for a
/// cluster of N (the caller's estimate, `set_cluster_size`, e.g. the live
/// members): 11 for N = 1,000 with c = 1, never above `max_active` (16).
/// Passive capacity `passive_factor × active capacity`, at most `max_passive`.
/// The active view never exceeds its capacity: to admit a node when full, a
/// random member is dropped (told with `disconnect`) into the passive view.
///
/// # Steps
/// - **Join**: a new node sends `join` to a contact; the contact links to it
///   and sends `forward_join` (TTL = ARWL) to its other active members: a
///   random walk that links the new node where the TTL runs out (or at a
///   node with only one link), and puts it in the passive view of the node
///   the walk passes at TTL = PRWL.
/// - **Link**: every node that adds another to its active view tells it with
///   `link`; the receiver adds the sender (dropping a random member if full),
///   so views stay symmetric.
/// - **Repair**: `neighbour_failed` removes a node; while the active view is
///   below capacity, a random passive node gets `neighbor` with priority
///   high when the active view is empty (it must accept, dropping a member if
///   full) and low otherwise (it accepts only with room). A refusal keeps the
///   candidate passive; no answer within `neighbor_timeout` puts it in
///   quarantine with a doubling back-off, not out: after a partition, the
///   passive views are how islands find each other again. A node with no
///   link and no candidate joins again through a seed every `join_retry`.
/// - **Shuffle**: every `shuffle_interval` a node sends itself, a few active
///   and a few passive members on a random walk (`shuffle`, TTL = ARWL); the
///   last node answers with as many of its passive members (`shuffle_reply`).
///   Both merge what they got into their passive views, evicting first what
///   they sent.
/// - **Merge**: a node that comes back from `down` (`revived`, from the
///   membership) may sit on the other side of a healed partition; one such
///   node per `merge_interval` gets a high-priority `neighbor` request, so
///   the two sides of the overlay link up even when every view is full.

#include "converge/membership/detail/rng.hpp"
#include "converge/membership/members.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace converge::membership {

/// The knobs of the partial views, in the caller's time unit.
struct view_options {
  std::size_t max_active = 16;      ///< hard bound on links
  std::size_t min_active = 3;       ///< capacity floor for small clusters
  std::size_t active_constant = 1;  ///< c in ⌈log2 N⌉ + c
  std::size_t passive_factor = 6;   ///< passive capacity = factor × active capacity
  std::size_t max_passive = 128;    ///< hard bound on the passive view
  std::uint64_t arwl = 6;           ///< active random walk length (forward_join TTL)
  std::uint64_t prwl = 3;           ///< passive random walk length
  std::size_t shuffle_active = 3;   ///< active members sent in a shuffle
  std::size_t shuffle_passive = 4;  ///< passive members sent in a shuffle
  std::uint64_t shuffle_interval = 5000;
  std::uint64_t neighbor_timeout = 1000;  ///< a neighbor (or join) request unanswered this long failed
  std::uint64_t repair_interval = 250;    ///< between repair attempts while below capacity
  std::uint64_t join_retry = 2000;        ///< between joins through a seed while alone
  unsigned max_backoff = 5;               ///< quarantine doubles up to 2^max_backoff × neighbor_timeout
  std::uint64_t merge_interval = 2000;    ///< between bridge requests to revived nodes (see `revived`)
};

/// What a view message is.
enum class view_kind : std::uint8_t {
  join = 1,            ///< a new node asks the contact to let it in
  forward_join = 2,    ///< random walk of `node` (the new one), `ttl` left
  link = 3,            ///< I added you to my active view: add me to yours
  neighbor = 4,        ///< please link with me (`high_priority`)
  neighbor_reply = 5,  ///< answer to neighbor (`accepted`)
  disconnect = 6,      ///< I dropped you from my active view
  shuffle = 7,         ///< random walk of a sample `nodes` from `node`, `ttl` left
  shuffle_reply = 8,   ///< the last node's sample of its passive view
};
/// The largest `view_kind` value (for decoders).
inline constexpr std::uint8_t max_view_kind = 8;

/// One view message.
struct view_message {
  view_kind kind = view_kind::join;
  node_id node = 0;  ///< forward_join: the new node; shuffle: its origin
  std::uint64_t ttl = 0;
  bool flag = false;  ///< neighbor: high priority; neighbor_reply: accepted
  std::vector<node_id> nodes;
  bool operator==(const view_message&) const = default;
};

/// What `tick` returns.
struct view_output {
  std::vector<std::pair<node_id, view_message>> messages;
  bool active_changed = false;  ///< the active view changed since the previous tick
  std::uint64_t next_deadline = std::numeric_limits<std::uint64_t>::max();
};

/// What the views counted.
struct view_metrics {
  std::uint64_t links_added = 0;
  std::uint64_t links_dropped = 0;  ///< dropped to make room (disconnect sent)
  std::uint64_t failures = 0;       ///< neighbour_failed calls that removed a link
  std::uint64_t neighbor_requests = 0;
  std::uint64_t neighbor_timeouts = 0;
  std::uint64_t joins_sent = 0;
  std::uint64_t shuffles = 0;
};

/// HyParView active and passive views of one node; see the file comment.
class views {
 public:
  /// Views of node `self`, drawing random choices from `seed`.
  views(node_id self, view_options options, std::uint64_t seed) : self_(self), opt_(options), rng_(seed) {}

  // -------------------------------------------------------------- inputs

  /// The seeds to join through when alone (any live member will do).
  void set_seeds(std::vector<node_id> seeds) {
    std::erase(seeds, self_);
    seeds_ = std::move(seeds);
  }

  /// Joins through `contact` now.
  void join(node_id contact, std::uint64_t now) {
    if (contact == self_) return;
    ++metrics_.joins_sent;
    send_(contact, view_message{view_kind::join, self_, 0, false, {}});
    next_join_ = now + opt_.join_retry;
  }

  /// The caller's estimate of the cluster size (live members), which sets
  /// the capacities; at least 1.
  /// A smaller estimate drops no link (estimates swing while members are
  /// suspected); it only bounds what is added.
  void set_cluster_size(std::size_t n) { n_ = std::max<std::size_t>(1, n); }

  /// A node that came back (the membership had it down, then saw it refute):
  /// after a partition it may be on the other side, so once per
  /// `merge_interval` one such node gets a high-priority `neighbor` request,
  /// which links the two sides even when both views are full.
  void revived(node_id n) {
    if (n == self_ || in_active(n)) return;
    offer(n);
    for (candidate& c : passive_) {
      if (c.node == n) c.revived = true;
    }
  }

  /// A node known to be live (from the membership): a passive candidate when
  /// there is room.
  void offer(node_id n) {
    if (n == self_ || in_active(n)) return;
    for (candidate& c : passive_) {
      if (c.node == n) {  // news of it alive ends a quarantine
        c.retry_after = 0;
        c.failures = 0;
        return;
      }
    }
    if (passive_.size() < passive_capacity()) passive_.push_back(candidate{n, 0, 0});
  }

  /// `n` failed (the failure detector confirmed it down, or the transport
  /// lost it): out of both views, and the active view is repaired.
  void neighbour_failed(node_id n, std::uint64_t now) {
    std::erase_if(passive_, [&](const candidate& c) { return c.node == n; });
    if (pending_ && pending_->node == n) pending_.reset();
    if (remove_active_(n)) {
      ++metrics_.failures;
      next_repair_ = now;
    }
  }

  /// Handles one message from `from`; call `tick` after.
  void receive(node_id from, const view_message& m, std::uint64_t now) {
    if (from == self_) return;
    switch (m.kind) {
      case view_kind::join:
        add_active_(from, true);
        for (const node_id n : active_) {
          if (n != from) send_(n, view_message{view_kind::forward_join, from, opt_.arwl, false, {}});
        }
        break;
      case view_kind::forward_join:
        forward_join_(from, m);
        break;
      case view_kind::link:
        add_active_(from, false);
        if (pending_ && pending_->node == from) pending_.reset();
        break;
      case view_kind::neighbor: {
        const bool room = active_.size() < active_capacity() || in_active(from);
        const bool accept = m.flag || room;
        if (accept) add_active_(from, false);
        send_(from, view_message{view_kind::neighbor_reply, self_, 0, accept, {}});
        break;
      }
      case view_kind::neighbor_reply:
        if (pending_ && pending_->node == from) pending_.reset();
        if (m.flag) {
          add_active_(from, false);
        } else {
          add_passive_(from);
          next_repair_ = now + opt_.repair_interval;
        }
        break;
      case view_kind::disconnect:
        if (remove_active_(from)) add_passive_(from);
        next_repair_ = now + opt_.repair_interval;
        break;
      case view_kind::shuffle:
        shuffle_(from, m);
        break;
      case view_kind::shuffle_reply:
        merge_passive_(m.nodes, sent_sample_);
        sent_sample_.clear();
        break;
    }
  }

  /// Advances to `now`: times out requests, repairs, shuffles, rejoins.
  view_output tick(std::uint64_t now) {
    if (pending_ && now >= pending_->deadline) {
      ++metrics_.neighbor_timeouts;
      quarantine_(pending_->node, now);
      pending_.reset();
    }
    if (!pending_ && now >= next_repair_ && active_.size() < active_capacity()) repair_(now);
    if (!pending_ && now >= next_merge_) merge_(now);
    if (active_.empty() && !pending_ && now >= next_join_ && !seeds_.empty() && !any_candidate_(now)) {
      join(seeds_[rng_.below(seeds_.size())], now);
    }
    if (now >= next_shuffle_) {
      next_shuffle_ = now + opt_.shuffle_interval;
      if (!active_.empty()) start_shuffle_();
    }
    view_output out;
    out.messages = std::move(outbox_);
    outbox_.clear();
    out.active_changed = std::exchange(changed_, false);
    std::uint64_t d = next_shuffle_;
    if (pending_) d = std::min(d, pending_->deadline);
    if (active_.size() < active_capacity() && !pending_) {
      std::uint64_t r = std::max(next_repair_, now + 1);
      if (!any_candidate_(r)) r = std::max(r, earliest_candidate_());
      d = std::min(d, r);
    }
    if (active_.empty() && !seeds_.empty()) d = std::min(d, std::max(next_join_, now + 1));
    if (std::any_of(passive_.begin(), passive_.end(), [](const candidate& c) { return c.revived; }))
      d = std::min(d, std::max(next_merge_, now + 1));
    out.next_deadline = d;
    return out;
  }

  // ------------------------------------------------------------- queries

  /// The active view (links), in the order they were made.
  [[nodiscard]] const std::vector<node_id>& active() const noexcept { return active_; }
  /// The passive view's nodes.
  [[nodiscard]] std::vector<node_id> passive() const {
    std::vector<node_id> out;
    for (const candidate& c : passive_) out.push_back(c.node);
    return out;
  }
  [[nodiscard]] bool in_active(node_id n) const {
    return std::find(active_.begin(), active_.end(), n) != active_.end();
  }
  [[nodiscard]] bool in_passive(node_id n) const {
    return std::any_of(passive_.begin(), passive_.end(), [&](const candidate& c) { return c.node == n; });
  }
  /// `clamp(⌈log2 N⌉ + c, min_active, max_active)`.
  [[nodiscard]] std::size_t active_capacity() const noexcept {
    std::size_t log2 = 0;
    while ((std::size_t{1} << log2) < n_) ++log2;
    return std::clamp(log2 + opt_.active_constant, std::min(opt_.min_active, opt_.max_active),
                      opt_.max_active);
  }
  /// `min(passive_factor × active capacity, max_passive)`.
  [[nodiscard]] std::size_t passive_capacity() const noexcept {
    return std::min(opt_.passive_factor * active_capacity(), opt_.max_passive);
  }
  [[nodiscard]] node_id self() const noexcept { return self_; }
  [[nodiscard]] const view_metrics& metrics() const noexcept { return metrics_; }

 private:
  struct candidate {
    node_id node = 0;
    std::uint64_t retry_after = 0;  // quarantined until then
    unsigned failures = 0;
    bool revived = false;  // came back from down: a bridge candidate after a partition
  };
  struct request {
    node_id node = 0;
    std::uint64_t deadline = 0;
  };

  void send_(node_id to, view_message m) { outbox_.emplace_back(to, std::move(m)); }

  /// Adds `n` to the active view (from the passive one), dropping a random
  /// member when full; tells `n` with `link` when `notify` (the additions
  /// this node decides: a join's contact, a walk's end). A `link` is never
  /// answered with one, so a link and a disconnect crossing cannot re-create
  /// a half link.
  void add_active_(node_id n, bool notify) {
    if (n == self_) return;
    if (in_active(n)) return;
    std::erase_if(passive_, [&](const candidate& c) { return c.node == n; });
    while (active_.size() >= active_capacity()) drop_random_active_();
    active_.push_back(n);
    changed_ = true;
    ++metrics_.links_added;
    if (notify) send_(n, view_message{view_kind::link, self_, 0, false, {}});
  }

  void drop_random_active_() {
    const std::size_t i = rng_.below(active_.size());
    const node_id n = active_[i];
    active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
    changed_ = true;
    ++metrics_.links_dropped;
    send_(n, view_message{view_kind::disconnect, self_, 0, false, {}});
    add_passive_(n);
  }

  bool remove_active_(node_id n) {
    const auto it = std::find(active_.begin(), active_.end(), n);
    if (it == active_.end()) return false;
    active_.erase(it);
    changed_ = true;
    return true;
  }

  void add_passive_(node_id n) {
    if (n == self_ || in_active(n) || in_passive(n)) return;
    if (passive_capacity() == 0) return;
    while (passive_.size() >= passive_capacity())
      passive_.erase(passive_.begin() + rng_.below(passive_.size()));
    passive_.push_back(candidate{n, 0, 0});
  }

  void forward_join_(node_id from, const view_message& m) {
    const node_id fresh = m.node;
    if (fresh == self_) return;
    if (m.ttl == 0 || active_.size() <= 1) {
      add_active_(fresh, true);
      return;
    }
    if (m.ttl == opt_.prwl) add_passive_(fresh);
    std::vector<node_id> next;
    for (const node_id n : active_) {
      if (n != from && n != fresh) next.push_back(n);
    }
    if (next.empty()) {
      add_active_(fresh, true);
      return;
    }
    send_(next[rng_.below(next.size())], view_message{view_kind::forward_join, fresh, m.ttl - 1, false, {}});
  }

  [[nodiscard]] bool any_candidate_(std::uint64_t now) const {
    return std::any_of(passive_.begin(), passive_.end(),
                       [&](const candidate& c) { return c.retry_after <= now; });
  }
  [[nodiscard]] std::uint64_t earliest_candidate_() const {
    std::uint64_t t = std::numeric_limits<std::uint64_t>::max();
    for (const candidate& c : passive_) t = std::min(t, c.retry_after);
    return t;
  }

  void quarantine_(node_id n, std::uint64_t now) {
    for (candidate& c : passive_) {
      if (c.node == n) {
        c.failures = std::min(c.failures + 1, opt_.max_backoff);
        c.retry_after = now + (opt_.neighbor_timeout << c.failures);
        return;
      }
    }
  }

  void repair_(std::uint64_t now) {
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < passive_.size(); ++i) {
      if (passive_[i].retry_after <= now) ready.push_back(i);
    }
    if (ready.empty()) return;
    const candidate c = passive_[ready[rng_.below(ready.size())]];
    ++metrics_.neighbor_requests;
    pending_ = request{c.node, now + opt_.neighbor_timeout};
    // Until it answers the candidate stays passive; it is quarantined if silent.
    send_(c.node, view_message{view_kind::neighbor, self_, 0, active_.empty(), {}});
    next_repair_ = now + opt_.repair_interval;
  }

  void merge_(std::uint64_t now) {
    const auto it =
        std::find_if(passive_.begin(), passive_.end(), [](const candidate& c) { return c.revived; });
    if (it == passive_.end()) return;
    it->revived = false;
    next_merge_ = now + opt_.merge_interval;
    ++metrics_.neighbor_requests;
    pending_ = request{it->node, now + opt_.neighbor_timeout};
    send_(it->node, view_message{view_kind::neighbor, self_, 0, true, {}});
  }

  void start_shuffle_() {
    std::vector<node_id> sample = rng_.sample(active_, opt_.shuffle_active);
    for (const node_id n : rng_.sample(passive(), opt_.shuffle_passive)) sample.push_back(n);
    const node_id to = active_[rng_.below(active_.size())];
    std::erase(sample, to);
    sent_sample_ = sample;
    sample.push_back(self_);
    ++metrics_.shuffles;
    send_(to, view_message{view_kind::shuffle, self_, opt_.arwl, false, std::move(sample)});
  }

  void shuffle_(node_id from, const view_message& m) {
    if (m.node == self_) return;
    if (m.ttl > 1 && active_.size() > 1) {
      std::vector<node_id> next;
      for (const node_id n : active_) {
        if (n != from && n != m.node) next.push_back(n);
      }
      if (!next.empty()) {
        view_message f = m;
        --f.ttl;
        send_(next[rng_.below(next.size())], std::move(f));
        return;
      }
    }
    std::vector<node_id> reply = rng_.sample(passive(), m.nodes.size());
    send_(m.node, view_message{view_kind::shuffle_reply, self_, 0, false, reply});
    merge_passive_(m.nodes, reply);
  }

  /// Merges `got` into the passive view, evicting first what is in `sent`.
  void merge_passive_(const std::vector<node_id>& got, std::vector<node_id> sent) {
    for (const node_id n : got) {
      if (n == self_ || in_active(n) || in_passive(n)) continue;
      if (passive_.size() >= passive_capacity()) {
        bool evicted = false;
        while (!sent.empty() && !evicted) {
          const node_id s = sent.back();
          sent.pop_back();
          const auto it =
              std::find_if(passive_.begin(), passive_.end(), [&](const candidate& c) { return c.node == s; });
          if (it != passive_.end()) {
            passive_.erase(it);
            evicted = true;
          }
        }
        if (!evicted && !passive_.empty()) passive_.erase(passive_.begin() + rng_.below(passive_.size()));
      }
      if (passive_.size() < passive_capacity()) passive_.push_back(candidate{n, 0, 0});
    }
  }

  node_id self_;
  view_options opt_;
  detail::rng rng_;
  std::size_t n_ = 1;
  std::vector<node_id> active_;
  std::vector<candidate> passive_;
  std::vector<node_id> seeds_;
  std::vector<node_id> sent_sample_;
  std::optional<request> pending_;
  std::vector<std::pair<node_id, view_message>> outbox_;
  std::uint64_t next_repair_ = 0;
  std::uint64_t next_join_ = 0;
  std::uint64_t next_shuffle_ = 0;
  std::uint64_t next_merge_ = 0;
  bool changed_ = false;
  view_metrics metrics_{};
};

}  // namespace converge::membership
