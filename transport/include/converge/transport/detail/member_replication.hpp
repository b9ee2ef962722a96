#pragma once
/// @file
/// Membership replicated as a converge CRDT: a `replicator<cluster_record>`
/// of its own (the roster, and the record of retired replicas; see
/// node_retirement.hpp), beside the user's replicator and the failure
/// detector's gossip. Its messages travel in their own envelope kind
/// (`kind::members`), to the same peers as the user's replicator. The
/// detector's gossip stays the fast path for news (a suspicion, a join);
/// this replicator is the one that guarantees that every node ends with the
/// same roster (anti-entropy with acknowledgements, state transfer for a
/// node that was away), and it carries the retirement record.
///
/// Sans-IO like the replicators it holds: `receive` and `step(now)` in,
/// messages out; `zmq_node` only carries the bytes.

#include "converge/lattice.hpp"
#include "converge/membership/failure_detector.hpp"
#include "converge/membership/members.hpp"
#include "converge/membership/retirement.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/transport/detail/node_retirement.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

namespace converge::transport::detail {

/// What `member_replication::step` returns.
struct member_step {
  tick_result messages;       ///< send each in a `kind::members` envelope
  bool user_changed = false;  ///< retirement mutated or stripped the user's state
};

/// The membership replicator of a node, and the retirement it runs.
template <class State>
class member_replication {
 public:
  using record_type = cluster_record<State>;

  /// For replica `self`; `o` as the user's replicator has it (its journal
  /// and signer are not used: the record lives in memory, and holds no
  /// entry of its own to sign).
  member_replication(replica_id self, replicator_options o, retirement_options r)
      : self_(self), rep_(self, plain_(std::move(o))), retirement_(r) {}

  /// Applies a membership message from `from`; false when it was malformed
  /// (dropped, counted in `metrics().total.malformed_dropped`, nothing
  /// changed). A message from a node that is not a peer (any more) is
  /// dropped too, counted in `unknown_peer_dropped`.
  bool receive(peer_id from, std::span<const std::byte> bytes) {
    const std::uint64_t before = rep_.metrics().total.malformed_dropped;
    rep_.receive(from, bytes);
    return rep_.metrics().total.malformed_dropped == before;
  }

  /// One step at `now`: records the detector's own deltas, hands what the
  /// record learned to the detector, runs retirement over `user` (removals
  /// and contributions recorded here, re-tags and strips applied to
  /// `user`), follows `user`'s peers, and returns the messages to send
  /// (each to its peer, in a `kind::members` envelope).
  member_step step(std::uint64_t now, membership::failure_detector& fd, const membership::members& deltas,
                   replicator<State>& user) {
    member_step out;
    persist_();  // what arrived, before anything is stripped because of it
    if (!deltas.empty()) record_({deltas, {}, {}});
    follow_peers_(user.peers());
    to_detector_(fd);
    if constexpr (membership::retirable<State>()) {
      retirement_actions<State> a =
          retirement_.step(now, fd.view(), self_, rep_.state(), user.state(), user.retired());
      if (!converge::is_bottom(a.record)) record_(std::move(a.record));
      persist_();  // durable before the strips below: a crash must not lose a stripped value
      for (const replica_id gone : a.retag) {
        user.mutate([&](State& s) { return retag_causal(s, gone, self_); });
      }
      if (!a.strip.empty()) user.retire(a.strip);
      out.user_changed = !a.retag.empty() || !a.strip.empty();
      to_detector_(fd);
    }
    out.messages = rep_.tick(now);
    return out;
  }

  /// Called with the retired part of the record (recorded ids and
  /// contributions, roster bottom) whenever it grows, before any strip that
  /// depends on it: the node keeps it on disk with its journal, since the
  /// journaled user state no longer holds the stripped entries.
  void on_retired_change(std::function<void(const record_type&)> save) { save_ = std::move(save); }

  /// Joins a record kept from an earlier life (its retired part, see
  /// `on_retired_change`); it is gossiped like any local change.
  void restore(const record_type& kept) {
    record_type r;
    r.recorded = kept.recorded;
    r.contributions = kept.contributions;
    saved_ = r;
    if (!converge::is_bottom(r)) record_(std::move(r));
  }

  /// The replicated record: roster, recorded ids, contributions.
  [[nodiscard]] const record_type& record() const noexcept { return rep_.state(); }
  /// `s` with every recorded contribution joined in: where values and
  /// rights are read (see node_retirement.hpp).
  [[nodiscard]] State including_retired(const State& s) const {
    return transport::detail::including_retired(s, rep_.state());
  }
  /// True when some retired replica's contribution is recorded (else
  /// `including_retired(s) == s`).
  [[nodiscard]] bool has_contributions() const noexcept { return !rep_.state().contributions.empty(); }
  /// The number of retired replicas recorded.
  [[nodiscard]] std::size_t retired_count() const noexcept { return rep_.state().recorded.size(); }
  /// The membership replicator's counters.
  [[nodiscard]] const replicator_metrics& metrics() const { return rep_.metrics(); }
  [[nodiscard]] const retirement& retirement_state() const noexcept { return retirement_; }

 private:
  static replicator_options plain_(replicator_options o) {
    o.journal = nullptr;
    o.signer = nullptr;
    o.report_applied = true;  // what arrives goes to the detector
    return o;
  }

  void record_(record_type d) {
    rep_.mutate([&](record_type& s) {
      converge::join_into(s, d);
      return d;
    });
  }

  void persist_() {
    const record_type& now = rep_.state();
    if (!save_ || (now.recorded == saved_.recorded && now.contributions == saved_.contributions)) return;
    record_type r;
    r.recorded = now.recorded;
    r.contributions = now.contributions;
    save_(r);  // throws when it cannot: nothing is stripped then
    saved_ = std::move(r);
  }

  void follow_peers_(const std::vector<peer_id>& want) {
    for (const peer_id p : rep_.peers()) {
      if (!std::binary_search(want.begin(), want.end(), p)) rep_.remove_peer(p);
    }
    for (const peer_id p : want) rep_.add_peer(p);  // false when already one
  }

  // The detector absorbs records it may not have heard by gossip (its own
  // deltas come back too: joining them again changes nothing).
  void to_detector_(membership::failure_detector& fd) {
    while (auto e = rep_.poll()) {
      if (!e->delta.roster.empty()) fd.merge(e->delta.roster);
    }
  }

  replica_id self_;
  replicator<record_type> rep_;
  retirement retirement_;
  std::function<void(const record_type&)> save_;
  record_type saved_;  // the retired part as last saved
};

}  // namespace converge::transport::detail
