#pragma once
/// @file
/// `converge::membership::failure_detector`: SWIM (Das, Gupta, Motivala,
/// DSN 2002) with the Lifeguard refinements (Dadgar, Phillips, Currey,
/// "Lifeguard: Local Health Awareness for More Accurate Failure Detection",
/// 2018; HashiCorp memberlist), sans-IO: messages and `now` go in, messages
/// to send, membership changes and the next deadline come out. No socket,
/// thread or clock.
///
/// @code
///   failure_detector fd(self_record, {}, seed);
///   fd.set_neighbours(view.active());            // whom to probe (the HyParView active view)
///   for (;;) {
///     auto out = fd.tick(now);                   // after every receive, and at out.next_deadline
///     for (auto& [to, m] : out.messages) send(to, m);
///     ... fd.receive(from, message, now) for every message that arrives ...
///   }
/// @endcode
///
/// # Steps (each small and separately testable, as in memberlist's state.go)
/// - **Probe**: every protocol period one neighbour, in a shuffled
///   round-robin order, gets a `ping`; it answers `ack`.
/// - **Indirect probe**: no ack within the probe timeout: `indirect_probes`
///   other neighbours get a `ping_req` and ping the target themselves; each
///   forwards the target's ack, or answers `nack` when its own ping timed out.
/// - **Suspect**: no ack by the end of the period: the target is suspected
///   at its current incarnation; the suspicion is gossiped.
/// - **Verify**: a node that hears another suspects one of its neighbours
///   probes that neighbour next: an independent confirmation (or the ack
///   that clears it) within a period.
/// - **Confirm down**: a suspicion that is not refuted in time becomes
///   `members::confirm_down`, a CRDT delta.
/// - **Refute**: a node that hears it is suspected (or down) raises its
///   incarnation and says `up` again: a higher incarnation always wins.
/// - **Leave**: `leave()` gossips `leaving`; `depart()` gossips `removed`.
/// - **Disseminate**: membership deltas and suspicions ride on every
///   message (piggyback), and every `gossip_interval` go to `gossip_fanout`
///   neighbours; each is sent `retransmit_mult × ⌈log10(N + 1)⌉` times, the
///   fewest-sent first. New neighbours and, every `push_pull_interval`, one
///   random neighbour exchange whole states (`sync`): anti-entropy under the
///   best-effort gossip, and how a joining node learns everyone.
/// - **Reconnect** (Serf's reconnect): every `reconnect_interval` a `sync`
///   goes to one random member this node holds `down` (not `removed`). After
///   a partition, each side holds the other down and neither probes or
///   gossips to it; the first reconnect that gets through makes both sides
///   refute, and the refutations spread through each side. A member stays a
///   reconnect target until it is removed (the grace period).
///
/// # Timeouts and how they scale (T = probe_interval, N = live members)
/// All in the caller's time unit (milliseconds with the defaults, which are
/// memberlist's LAN profile).
/// - **Local health** (Lifeguard LHA): an awareness score `a` in
///   `[0, max_awareness)`, +1 for a probe that failed, + the nacks that did
///   not come back (so a node that hears nothing blames itself), +1 when
///   this node is itself suspected, −1 for a probe acked. The probe period
///   and the probe timeout are multiplied by `a + 1`: a node that loses acks
///   (overloaded, its network degraded) probes more slowly and waits longer,
///   instead of suspecting healthy peers.
/// - **Suspicion timeout** (Lifeguard LHA-suspicion, memberlist suspicion.go):
///   @code
///     min = suspicion_mult × max(1, log10(N)) × T        // 4 × 1.2 × 1 s ≈ 4.8 s for N = 16; 12 s for N =
///     1000 max = suspicion_max_mult × min                       // 6 × min: 28.9 s, 72 s K   =
///     suspicion_mult − 2 (0 when N − 2 < K)          // confirmations expected timeout(c) = max(min, max −
///     (max − min) × log(c + 1) / log(K + 1))
///   @endcode
///   A suspicion starts at `max` and shrinks towards `min` as `c`
///   independent confirmations (suspicions by other nodes of the same
///   incarnation) arrive: one node's bad link alone takes long to declare
///   anyone down, a crash seen by many is declared down fast. Growing with
///   log10(N) leaves time for a refutation to spread through a larger cluster.
/// - **A paused or slow node**: a `tick` that comes more than
///   `stall_threshold` after the deadline the previous one returned means
///   this node itself did not run: its probe in flight is abandoned without suspecting anyone,
///   every suspicion deadline moves by the length of the stall (time it was
///   not running gave no evidence), and awareness rises. So a paused node
///   never declares others down because of its own pause.
/// - **Detection bound** for a crashed node with d neighbours: it is first
///   probed within about `d × T` (each neighbour probes one neighbour a
///   period), suspected one period later, and confirmed down at most `max`
///   after that (typically `min`, with K confirmations), every period
///   scaled by the prober's awareness. Then the `down` delta spreads in
///   O(log N) gossip intervals.
/// - **No false `down` for a pause shorter than `min − T`**: the paused node's
///   suspicion spreads to it the moment it runs again (suspicions of a node
///   ride first on every message to it), and it refutes within one message
///   delay.
///
/// # Incarnations
/// The detector's own record is what it asserts (`self`); whenever the
/// replicated record of this node differs from it — `down`, a suspicion at
/// the current incarnation, a stale record of an earlier life — it announces
/// its own at an incarnation above the one seen. The exception is `removed`
/// of its own replica id: that replica was retired, and the detector stops
/// (`removed()` is true) so the process restarts with a new replica id.

#include "converge/membership/detail/rng.hpp"
#include "converge/membership/members.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

namespace converge::membership {

/// The detector's knobs, in the caller's time unit (ms with these defaults).
struct detector_options {
  std::uint64_t probe_interval = 1000;   ///< T: one probe per period (memberlist ProbeInterval)
  std::uint64_t probe_timeout = 500;     ///< wait for a direct ack before probing indirectly
  std::size_t indirect_probes = 3;       ///< k helpers of an indirect probe (memberlist IndirectChecks)
  std::uint64_t suspicion_mult = 4;      ///< min suspicion = mult × log10(N) × T (memberlist SuspicionMult)
  std::uint64_t suspicion_max_mult = 6;  ///< max suspicion = this × min (SuspicionMaxTimeoutMult)
  unsigned max_awareness = 8;            ///< periods and timeouts scale up to this factor
  std::uint64_t gossip_interval = 200;   ///< piggyback-only gossip round
  std::size_t gossip_fanout = 3;         ///< neighbours per gossip round
  std::uint64_t retransmit_mult = 4;     ///< each update sent mult × ⌈log10(N + 1)⌉ times
  std::size_t max_piggyback = 32;        ///< updates and suspicions per message (~1 KB)
  std::uint64_t push_pull_interval =
      10000;  ///< whole-state exchange with one neighbour; 0: only with new ones
  std::uint64_t reconnect_interval = 10000;  ///< sync with one random `down` member; 0: never
  std::uint64_t stall_threshold = 1000;      ///< a tick later than this past its deadline is a stall
  std::size_t max_indirect = 64;             ///< indirect probes run for others at once (more are refused)
};

/// `from` suspects `node` at `incarnation` (gossiped; Lifeguard counts
/// distinct `from` as confirmations).
struct suspicion {
  node_id node = 0;
  std::uint64_t incarnation = 0;
  node_id from = 0;
  bool operator==(const suspicion&) const = default;
};

/// What a detector message is.
enum class probe_kind : std::uint8_t {
  ping = 1,        ///< are you alive? (`seq`)
  ack = 2,         ///< answers the ping `seq` (directly or forwarded by a helper)
  ping_req = 3,    ///< please ping `target` for my probe `seq`
  nack = 4,        ///< a helper's ping of the target for probe `seq` timed out
  sync = 5,        ///< my whole membership state; answer with yours
  sync_reply = 6,  ///< the answer to a sync
  gossip = 7,      ///< piggyback only
};
/// The largest `probe_kind` value (for decoders).
inline constexpr std::uint8_t max_probe_kind = 7;

/// One detector message; `updates` and `suspicions` are the piggyback (for
/// a sync, `updates` is the whole state).
struct probe_message {
  probe_kind kind = probe_kind::gossip;
  std::uint64_t seq = 0;
  node_id target = 0;
  members updates;
  std::vector<suspicion> suspicions;
  bool operator==(const probe_message&) const = default;
};

/// A member's status changed in this detector's view.
struct member_change {
  node_id node = 0;
  std::optional<member_status> before;  ///< nullopt: the member was unknown
  member_status after = member_status::joining;
  std::uint64_t incarnation = 0;
};

/// What `tick` returns.
struct detector_output {
  std::vector<std::pair<node_id, probe_message>> messages;  ///< send each to its node
  std::vector<member_change> changes;                       ///< since the previous tick, in order
  members deltas;  ///< the CRDT deltas this detector made (feed them to a replicator); bottom if none
  std::uint64_t next_deadline = std::numeric_limits<std::uint64_t>::max();  ///< tick again by then
};

/// What a detector counted.
struct detector_metrics {
  std::uint64_t probes = 0;          ///< pings of own probes
  std::uint64_t probes_failed = 0;   ///< periods that ended without an ack
  std::uint64_t indirect_sent = 0;   ///< ping_req sent
  std::uint64_t suspicions = 0;      ///< suspicions started (own or heard)
  std::uint64_t confirmed_down = 0;  ///< suspicions that expired into `down`
  std::uint64_t refutations = 0;     ///< times this node raised its incarnation
  std::uint64_t stalls = 0;          ///< ticks that came after a stall
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
};

/// K, the independent confirmations that bring a suspicion to its minimum
/// timeout in a cluster of `n`: `suspicion_mult − 2`, or 0 when `n − 2 < K`.
[[nodiscard]] inline std::size_t suspicion_confirmations(const detector_options& o, std::size_t n) {
  const std::size_t k = o.suspicion_mult >= 2 ? static_cast<std::size_t>(o.suspicion_mult - 2) : 0;
  return n < k + 2 ? 0 : k;
}

/// The Lifeguard suspicion timeout (see the file comment) for `confirmations`
/// independent confirmations, in a cluster of `n` live members.
[[nodiscard]] inline std::uint64_t suspicion_timeout(const detector_options& o, std::size_t n,
                                                     std::size_t confirmations) {
  const double scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(n))));
  const double min = static_cast<double>(o.suspicion_mult) * scale * static_cast<double>(o.probe_interval);
  const double max = static_cast<double>(o.suspicion_max_mult) * min;
  const std::size_t k = suspicion_confirmations(o, n);
  if (k == 0) return static_cast<std::uint64_t>(min);
  const double frac = std::log(static_cast<double>(std::min<std::size_t>(confirmations, k)) + 1.0) /
                      std::log(static_cast<double>(k) + 1.0);
  return static_cast<std::uint64_t>(std::max(min, std::floor(max - (max - min) * frac)));
}

/// A SWIM failure detector with Lifeguard; see the file comment.
class failure_detector {
 public:
  /// A detector for the node `self` describes (its status is `joining`
  /// until `bootstrap()` or the first sync answer, unless given as `up`),
  /// drawing its random choices from `seed`. `known` seeds the membership
  /// (a durable node's saved state; bottom for a fresh one).
  failure_detector(member_record self, detector_options options, std::uint64_t seed, members known = {})
      : self_(std::move(self)), opt_(options), rng_(seed), members_(std::move(known)) {
    if (self_.status != member_status::up) self_.status = member_status::joining;
    const member_record* cur = members_.find(self_.node);
    if (cur != nullptr) self_.incarnation = std::max(self_.incarnation, cur->incarnation + 1);
    apply_(members_.announce(self_));
    live_ = members_.live_count();
  }

  // -------------------------------------------------------------- inputs

  /// The first node of a cluster (no one to sync with): up at once.
  void bootstrap() { set_intent_(member_status::up); }

  /// Whom to probe and gossip to (the active view). New neighbours get a
  /// whole-state sync; a probe in flight to a node that left the set is dropped.
  void set_neighbours(const std::vector<node_id>& nodes) {
    std::vector<node_id> next;
    for (const node_id n : nodes) {
      if (n != self_.node) next.push_back(n);
    }
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    for (const node_id n : next) {
      if (!std::binary_search(neighbours_.begin(), neighbours_.end(), n)) sync_to_.push_back(n);
    }
    neighbours_ = std::move(next);
    std::erase_if(probe_order_, [&](node_id n) { return !is_neighbour(n); });
    if (probe_ && !is_neighbour(probe_->target)) probe_.reset();
  }

  /// Handles one message from `from` at time `now`. Never throws on any
  /// message content; call `tick` after.
  void receive(node_id from, const probe_message& m, std::uint64_t now) {
    ++metrics_.messages_received;
    if (removed_) return;
    absorb_(m.updates, m.kind == probe_kind::sync || m.kind == probe_kind::sync_reply ? opt_.max_piggyback
                                                                                      : ~std::size_t{0});
    for (const suspicion& s : m.suspicions) heard_suspicion_(s, now);
    switch (m.kind) {
      case probe_kind::ping:
        send_(from, probe_kind::ack, m.seq, 0);
        break;
      case probe_kind::ack:
        if (probe_ && probe_->seq == m.seq) {
          probe_->acked = true;
        } else if (const auto it = indirect_.find(m.seq); it != indirect_.end()) {
          send_(it->second.requester, probe_kind::ack, it->second.their_seq, 0);
          indirect_.erase(it);
        }
        break;
      case probe_kind::ping_req:
        if (indirect_.size() < opt_.max_indirect && m.target != self_.node) {
          const std::uint64_t s = ++seq_;
          indirect_[s] = indirect_probe{from, m.seq, now + scaled_(opt_.probe_timeout)};
          send_(m.target, probe_kind::ping, s, 0);
        }
        break;
      case probe_kind::nack:
        if (probe_ && probe_->seq == m.seq) ++probe_->nacks;
        break;
      case probe_kind::sync:
        send_sync_(from, probe_kind::sync_reply);
        break;
      case probe_kind::sync_reply:
        // A member answered with its state: this node has joined.
        if (self_.status == member_status::joining && from != self_.node) set_intent_(member_status::up);
        break;
      case probe_kind::gossip:
        break;
    }
  }

  /// Joins membership learned elsewhere (a replicator's applied delta) and
  /// reacts as to gossip, without re-gossiping it.
  void merge(const members& delta) {
    if (!removed_) absorb_(delta, 0);
  }

  /// Starts a graceful leave: `leaving` is gossiped; keep ticking until it
  /// has spread, then call `depart`.
  void leave() { set_intent_(member_status::leaving); }

  /// Ends a graceful leave: this node removes itself (its replica id is
  /// retired) and stops probing. Keep ticking a few gossip intervals so the
  /// removal spreads, then stop.
  void depart() {
    const int old = status_code_(self_.node);
    const members d = members_.remove(self_.node);
    if (!d.empty()) report_(self_.node, old, member_status::removed, self_.incarnation);
    apply_(d);
    removed_ = true;
    probe_.reset();
  }

  /// Advances to `now` (never decreasing): expires timers, runs the probe,
  /// gossip and sync steps; returns what to send and what changed.
  detector_output tick(std::uint64_t now) {
    // Late past the deadline this detector asked for: it did not run (a pause,
    // a blocked loop). A tick that merely comes when asked is never a stall,
    // however long the deadline was.
    if (due_ && now > *due_ + opt_.stall_threshold) stalled_(now - *due_);
    expire_suspicions_(now);
    if (!removed_) {
      step_probe_(now);
      expire_indirect_(now);
      step_gossip_(now);
      step_sync_(now);
      step_reconnect_(now);
    } else if (now >= next_gossip_ && queued_ != 0) {
      step_gossip_(now);  // a departed node still spreads its removal
    }
    detector_output out;
    out.messages = std::move(outbox_);
    out.changes = std::move(changes_);
    out.deltas = std::move(deltas_);
    outbox_.clear();
    changes_.clear();
    deltas_ = members{};
    out.next_deadline = next_deadline_();
    due_ = out.next_deadline;
    return out;
  }

  // ------------------------------------------------------------- queries

  /// This detector's view of the membership.
  [[nodiscard]] const members& view() const noexcept { return members_; }
  /// This node's id.
  [[nodiscard]] node_id self() const noexcept { return self_.node; }
  /// This node's current incarnation.
  [[nodiscard]] std::uint64_t incarnation() const noexcept { return self_.incarnation; }
  /// The live members (joining, up, leaving) in this view, this node included.
  [[nodiscard]] std::size_t live_members() const noexcept { return live_; }
  /// The Lifeguard awareness score (0 = healthy).
  [[nodiscard]] unsigned awareness() const noexcept { return awareness_; }
  /// True when `n` is currently suspected here.
  [[nodiscard]] bool suspects(node_id n) const { return find_suspicion_(n) != suspicions_.end(); }
  /// True once this node's replica was removed (it must restart with a new replica id).
  [[nodiscard]] bool removed() const noexcept { return removed_; }
  /// The neighbours probed.
  [[nodiscard]] const std::vector<node_id>& neighbours() const noexcept { return neighbours_; }
  [[nodiscard]] const detector_metrics& metrics() const noexcept { return metrics_; }
  [[nodiscard]] const detector_options& options() const noexcept { return opt_; }

 private:
  struct probe_state {
    node_id target = 0;
    std::uint64_t seq = 0;
    std::uint64_t ack_deadline = 0;
    std::uint64_t period_end = 0;
    bool acked = false;
    bool indirect = false;
    std::size_t nacks_expected = 0;
    std::size_t nacks = 0;
  };
  struct indirect_probe {
    node_id requester = 0;
    std::uint64_t their_seq = 0;
    std::uint64_t deadline = 0;
  };
  struct suspicion_state {
    std::uint64_t incarnation = 0;
    std::uint64_t start = 0;
    std::uint64_t deadline = 0;
    std::size_t cluster = 1;          // live members when it started
    std::vector<node_id> confirmers;  // distinct suspecting nodes, the first one first
  };
  /// A queued update: a record (current while `version` is its node's
  /// latest) or a suspicion note (current while the record it suspects is).
  struct gossip_item {
    std::optional<member_record> record;
    suspicion note;
    std::uint64_t version = 0;
  };

  static constexpr auto by_node_ = [](const std::pair<node_id, suspicion_state>& x, node_id n) {
    return x.first < n;
  };
  using suspicion_map = std::vector<std::pair<node_id, suspicion_state>>;
  [[nodiscard]] suspicion_map::iterator find_suspicion_(node_id n) {
    const auto it = std::lower_bound(suspicions_.begin(), suspicions_.end(), n, by_node_);
    return it != suspicions_.end() && it->first == n ? it : suspicions_.end();
  }
  [[nodiscard]] suspicion_map::const_iterator find_suspicion_(node_id n) const {
    const auto it = std::lower_bound(suspicions_.begin(), suspicions_.end(), n, by_node_);
    return it != suspicions_.end() && it->first == n ? it : suspicions_.end();
  }

  [[nodiscard]] bool is_neighbour(node_id n) const {
    return std::binary_search(neighbours_.begin(), neighbours_.end(), n);
  }
  [[nodiscard]] std::uint64_t scaled_(std::uint64_t t) const { return t * (awareness_ + 1); }
  void adjust_awareness_(int delta) {
    const int next = std::clamp(static_cast<int>(awareness_) + delta, 0,
                                static_cast<int>(std::max(opt_.max_awareness, 1U)) - 1);
    awareness_ = static_cast<unsigned>(next);
  }
  [[nodiscard]] std::size_t cluster_size_() const { return std::max<std::size_t>(1, live_); }
  [[nodiscard]] std::uint64_t retransmit_limit_() const {
    const double n = static_cast<double>(cluster_size_()) + 1.0;
    return std::max<std::uint64_t>(
        1, opt_.retransmit_mult * static_cast<std::uint64_t>(std::ceil(std::log10(n))));
  }

  // ---------------------------------------------------------- membership

  /// The status of `n` as a number, -1 when unknown (a plain int: GCC 12
  /// misreads copies of an optional enum as uninitialised).
  [[nodiscard]] int status_code_(node_id n) const noexcept {
    const member_record* r = members_.find(n);
    return r != nullptr ? static_cast<int>(r->status) : -1;
  }
  void report_(node_id n, int before, member_status after, std::uint64_t incarnation) {
    if (before >= 0 && is_live(static_cast<member_status>(before))) --live_;
    if (is_live(after)) ++live_;
    member_change c;
    c.node = n;
    if (before >= 0) c.before = static_cast<member_status>(before);
    c.after = after;
    c.incarnation = incarnation;
    changes_.push_back(c);
  }

  /// Joins a delta; reports changes, reacts to records of this node, and
  /// queues the novel records for gossip when there are at most `spread`:
  /// news (a joiner's record in its sync) spreads, while many novel records
  /// in a whole state mean this node was behind, not that others are.
  void absorb_(const members& delta, std::size_t spread) {
    if (delta.empty()) return;
    std::vector<std::pair<int, const member_record*>> seen;
    const members fresh = members_.absorb(delta, [&](int before, const member_record& r) {
      seen.emplace_back(before, &r);  // `r` lives in `delta`, which outlives this call
    });
    const bool gossip = fresh.records().size() <= spread;
    for (const auto& [before, r] : seen) {
      noted_(*r, before);
      if (gossip) enqueue_record_(*r);
    }
    check_self_();
  }

  /// Applies a local mutation's delta: reported, gossiped, handed out.
  void apply_(const members& delta) {
    for (const member_record& r : delta.records()) enqueue_record_(r);
    deltas_.join(delta);
  }

  /// A record that changed this view: reported, and a suspicion it
  /// overrides (a refutation, or `down` already decided) is dropped.
  void noted_(const member_record& r, int old) {
    if (old != static_cast<int>(r.status)) report_(r.node, old, r.status, r.incarnation);
    if (suspicions_.empty()) return;
    const auto s = find_suspicion_(r.node);
    if (s != suspicions_.end() && (r.incarnation > s->second.incarnation || !is_live(r.status)))
      suspicions_.erase(s);
  }

  /// Asserts this node's own record again when the replicated one differs.
  void check_self_() {
    const member_record* cur = members_.find(self_.node);
    if (cur == nullptr) {  // unreachable once announced (records never vanish), kept for safety
      const members d = members_.announce(self_);
      for (const member_record& r : d.records()) noted_(r, -1);
      apply_(d);
      return;
    }
    if (cur->status == member_status::removed && cur->replica == self_.replica) {
      if (!removed_) {
        removed_ = true;
        probe_.reset();
      }
      return;
    }
    member_record mine = self_;
    mine.incarnation = cur->incarnation;
    if (*cur == mine) {
      self_.incarnation = cur->incarnation;
      return;
    }
    reassert_(cur->incarnation + 1);
  }

  void reassert_(std::uint64_t incarnation) {
    self_.incarnation = std::max(self_.incarnation, incarnation);
    ++metrics_.refutations;
    const int old = status_code_(self_.node);
    const members d = members_.announce(self_);
    for (const member_record& r : d.records()) noted_(r, old);
    apply_(d);
  }

  void set_intent_(member_status s) {
    if (removed_ || self_.status >= s) return;
    self_.status = s;
    const member_record* cur = members_.find(self_.node);
    const int old = status_code_(self_.node);
    member_record r = self_;
    r.incarnation = cur ? std::max(cur->incarnation, self_.incarnation) : self_.incarnation;
    self_.incarnation = r.incarnation;
    const members d = members_.announce(r);
    for (const member_record& x : d.records()) noted_(x, old);
    apply_(d);
    check_self_();
  }

  // ----------------------------------------------------------- suspicion

  void heard_suspicion_(const suspicion& s, std::uint64_t now) {
    if (s.node == self_.node) {
      if (s.incarnation >= self_.incarnation && !removed_) {
        adjust_awareness_(1);  // Lifeguard: being suspected hints that this node is the slow one
        reassert_(s.incarnation + 1);
      }
      return;
    }
    suspect_(s.node, s.incarnation, s.from, now);
  }

  /// Starts or confirms a suspicion of `n` at `incarnation` by `from`.
  void suspect_(node_id n, std::uint64_t incarnation, node_id from, std::uint64_t now) {
    const member_record* r = members_.find(n);
    if (r == nullptr || !is_live(r->status) || r->incarnation != incarnation) return;
    const auto it = find_suspicion_(n);
    if (from != self_.node) verify_(n, it);
    if (it == suspicions_.end()) {
      suspicion_state st;
      st.incarnation = incarnation;
      st.start = now;
      st.cluster = cluster_size_();
      st.confirmers.push_back(from);
      st.deadline = now + suspicion_timeout(opt_, st.cluster, 0);
      next_suspicion_ = std::min(next_suspicion_, st.deadline);
      suspicions_.insert(std::lower_bound(suspicions_.begin(), suspicions_.end(), n, by_node_),
                         {n, std::move(st)});
      ++metrics_.suspicions;
      enqueue_note_(suspicion{n, incarnation, from});
      return;
    }
    suspicion_state& st = it->second;
    if (st.incarnation != incarnation) return;
    // Past K confirmations the timeout is already `min`: more would change
    // nothing, so they are neither counted nor gossiped (memberlist's
    // suspicion.Confirm), which keeps the dogpile of a crash seen by many
    // neighbours to K + 1 notes cluster-wide.
    if (st.confirmers.size() > suspicion_confirmations(opt_, st.cluster)) return;
    if (std::find(st.confirmers.begin(), st.confirmers.end(), from) != st.confirmers.end()) return;
    st.confirmers.push_back(from);
    st.deadline = st.start + suspicion_timeout(opt_, st.cluster, st.confirmers.size() - 1);
    next_suspicion_ = std::min(next_suspicion_, st.deadline);
    enqueue_note_(suspicion{n, incarnation, from});
  }

  /// A neighbour another node suspects is this node's next probe target
  /// (unless this node already suspects it, or is probing it): its own probe
  /// is an independent confirmation, or the ack that refutes, within one
  /// period, instead of whenever the round-robin reaches it. A crash is
  /// then confirmed by K members about one period after the first
  /// suspicion, and its suspicion expires at the minimum timeout, however
  /// many neighbours each member probes in turn.
  void verify_(node_id n, suspicion_map::iterator it) {
    if (!is_neighbour(n) || (probe_ && probe_->target == n)) return;
    if (it != suspicions_.end() && std::find(it->second.confirmers.begin(), it->second.confirmers.end(),
                                             self_.node) != it->second.confirmers.end())
      return;
    std::erase(probe_order_, n);
    probe_order_.push_back(n);  // next_target_ takes from the back
  }

  void expire_suspicions_(std::uint64_t now) {
    if (now < next_suspicion_) return;  // the earliest deadline, kept so ticks need not scan
    next_suspicion_ = std::numeric_limits<std::uint64_t>::max();
    std::vector<std::pair<node_id, std::uint64_t>> expired;  // (node, incarnation), by node
    for (const auto& [n, st] : suspicions_) {
      if (st.deadline > now) {
        next_suspicion_ = std::min(next_suspicion_, st.deadline);
      } else {
        expired.emplace_back(n, st.incarnation);
      }
    }
    std::erase_if(suspicions_, [&](const auto& x) { return x.second.deadline <= now; });
    for (const auto& [n, inc] : expired) {
      const int old = status_code_(n);
      const members d = members_.confirm_down(n, inc);
      if (!d.empty()) {
        ++metrics_.confirmed_down;
        report_(n, old, member_status::down, inc);
        apply_(d);
      }
    }
  }

  /// This node did not run for `gap`: nothing that timed out meanwhile is
  /// evidence against anyone else.
  void stalled_(std::uint64_t gap) {
    ++metrics_.stalls;
    adjust_awareness_(1);
    probe_.reset();
    indirect_.clear();
    for (auto& [n, st] : suspicions_) {
      st.start += gap;
      st.deadline += gap;
    }
    if (next_suspicion_ != std::numeric_limits<std::uint64_t>::max()) next_suspicion_ += gap;
    next_probe_ = 0;
  }

  // --------------------------------------------------------------- probe

  void step_probe_(std::uint64_t now) {
    if (probe_) {
      probe_state& p = *probe_;
      if (!p.acked && !p.indirect && now >= p.ack_deadline) {
        p.indirect = true;
        std::vector<node_id> helpers;
        for (const node_id n : neighbours_) {
          if (n != p.target && live_or_unknown_(n)) helpers.push_back(n);
        }
        helpers = rng_.sample(std::move(helpers), opt_.indirect_probes);
        p.nacks_expected = helpers.size();
        for (const node_id h : helpers) {
          ++metrics_.indirect_sent;
          send_(h, probe_kind::ping_req, p.seq, p.target);
        }
      }
      if (now < p.period_end) return;
      if (p.acked) {
        adjust_awareness_(-1);
      } else {
        ++metrics_.probes_failed;
        int delta = 1;
        if (p.nacks_expected > 0 && p.nacks < p.nacks_expected)
          delta += static_cast<int>(p.nacks_expected - p.nacks);
        adjust_awareness_(delta);
        const member_record* r = members_.find(p.target);
        if (r != nullptr) suspect_(p.target, r->incarnation, self_.node, now);
      }
      probe_.reset();
    }
    if (now < next_probe_) return;
    const std::optional<node_id> target = next_target_();
    if (!target) {
      next_probe_ = now + scaled_(opt_.probe_interval);
      return;
    }
    probe_state p;
    p.target = *target;
    p.seq = ++seq_;
    p.ack_deadline = now + scaled_(opt_.probe_timeout);
    p.period_end = now + scaled_(opt_.probe_interval);
    next_probe_ = p.period_end;
    probe_ = p;
    ++metrics_.probes;
    send_(p.target, probe_kind::ping, p.seq, 0);
  }

  [[nodiscard]] bool live_or_unknown_(node_id n) const {
    const std::optional<member_status> s = members_.status(n);
    return !s || is_live(*s);
  }

  /// The next neighbour in a shuffled round-robin (reshuffled every round).
  std::optional<node_id> next_target_() {
    for (int round = 0; round < 2; ++round) {
      while (!probe_order_.empty()) {
        const node_id n = probe_order_.back();
        probe_order_.pop_back();
        if (is_neighbour(n) && live_or_unknown_(n)) return n;
      }
      probe_order_ = neighbours_;
      rng_.shuffle(probe_order_);
    }
    return std::nullopt;
  }

  void expire_indirect_(std::uint64_t now) {
    for (auto it = indirect_.begin(); it != indirect_.end();) {
      if (it->second.deadline <= now) {
        send_(it->second.requester, probe_kind::nack, it->second.their_seq, 0);
        it = indirect_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // ------------------------------------------------------ dissemination

  // The queue is bucketed by how often an item was sent, so a message takes
  // the fewest-sent items in O(items taken), not O(queue); superseded items
  // are dropped lazily when reached.
  void enqueue_record_(const member_record& r) {
    const std::uint64_t v = ++versions_;
    const auto at = std::lower_bound(latest_.begin(), latest_.end(), r.node,
                                     [](const auto& x, node_id n) { return x.first < n; });
    if (at != latest_.end() && at->first == r.node) {
      at->second = v;
    } else {
      latest_.insert(at, {r.node, v});
    }
    push_item_(0, gossip_item{r, {}, v});
  }
  void enqueue_note_(const suspicion& s) {
    if (!notes_.insert({s.node, s.incarnation, s.from}).second) return;
    push_item_(0, gossip_item{std::nullopt, s, 0});
  }
  void push_item_(std::size_t sent, gossip_item g) {
    if (buckets_.size() <= sent) buckets_.resize(sent + 1);
    buckets_[sent].push_back(std::move(g));
    ++queued_;
  }
  [[nodiscard]] std::uint64_t latest_version_(node_id n) const {
    const auto at = std::lower_bound(latest_.begin(), latest_.end(), n,
                                     [](const auto& x, node_id key) { return x.first < key; });
    return at != latest_.end() && at->first == n ? at->second : 0;
  }
  [[nodiscard]] bool current_(const gossip_item& g) const {
    if (g.record) return latest_version_(g.record->node) == g.version;
    const member_record* r = members_.find(g.note.node);
    return r != nullptr && is_live(r->status) && r->incarnation == g.note.incarnation;
  }
  void drop_item_(const gossip_item& g) {
    // A record item's version entry stays (one per node ever gossiped): no
    // shifting on every drop, and a later item simply takes a new version.
    if (!g.record) notes_.erase({g.note.node, g.note.incarnation, g.note.from});
  }

  /// The piggyback for a message to `to`: the fewest-sent current items, each
  /// sent at most `retransmit_mult × ⌈log10(N + 1)⌉` times.
  void piggyback_(node_id to, probe_message& m) {
    // Lifeguard's buddy system: a suspected node hears of it in every
    // message sent to it, even once the gossip of the suspicion is spent.
    if (const auto s = find_suspicion_(to); s != suspicions_.end())
      m.suspicions.push_back(suspicion{to, s->second.incarnation, s->second.confirmers.front()});
    if (queued_ == 0) return;
    const std::uint64_t limit = retransmit_limit_();
    std::vector<member_record> records;
    std::vector<std::pair<std::size_t, gossip_item>> taken;
    for (std::size_t b = 0; b < buckets_.size() && taken.size() < opt_.max_piggyback; ++b) {
      auto& bucket = buckets_[b];
      while (!bucket.empty() && taken.size() < opt_.max_piggyback) {
        gossip_item g = std::move(bucket.front());
        bucket.pop_front();
        --queued_;
        if (!current_(g) || b >= limit) {
          drop_item_(g);
          continue;
        }
        if (g.record) {
          records.push_back(*g.record);
        } else {
          m.suspicions.push_back(g.note);
        }
        taken.emplace_back(b + 1, std::move(g));
      }
    }
    for (auto& [sent, g] : taken) {
      if (sent < limit) {
        push_item_(sent, std::move(g));
      } else {
        drop_item_(g);
      }
    }
    if (!records.empty()) {
      std::sort(records.begin(), records.end(),
                [](const member_record& x, const member_record& y) { return x.node < y.node; });
      m.updates.join(members::from_parts(std::move(records), {}));
    }
  }

  void send_(node_id to, probe_kind kind, std::uint64_t seq, node_id target) {
    probe_message m;
    m.kind = kind;
    m.seq = seq;
    m.target = target;
    piggyback_(to, m);
    outbox_.emplace_back(to, std::move(m));
    ++metrics_.messages_sent;
  }

  void send_sync_(node_id to, probe_kind kind) {
    probe_message m;
    m.kind = kind;
    m.updates = members_;
    outbox_.emplace_back(to, std::move(m));
    ++metrics_.messages_sent;
  }

  void step_gossip_(std::uint64_t now) {
    if (now < next_gossip_) return;
    next_gossip_ = now + opt_.gossip_interval;
    if (queued_ == 0) return;
    std::vector<node_id> targets = neighbours_;
    if (removed_) {  // keep spreading the removal to whoever was known
      targets = members_.live_nodes();
      std::erase(targets, self_.node);
    }
    for (const node_id n : rng_.sample(std::move(targets), opt_.gossip_fanout))
      send_(n, probe_kind::gossip, 0, 0);
  }

  void step_sync_(std::uint64_t now) {
    for (const node_id n : sync_to_) {
      if (is_neighbour(n)) send_sync_(n, probe_kind::sync);
    }
    sync_to_.clear();
    if (opt_.push_pull_interval == 0 || now < next_sync_) return;
    next_sync_ = now + opt_.push_pull_interval;
    if (neighbours_.empty()) return;
    send_sync_(neighbours_[rng_.below(neighbours_.size())], probe_kind::sync);
  }

  void step_reconnect_(std::uint64_t now) {
    if (opt_.reconnect_interval == 0) return;
    if (!next_reconnect_)
      next_reconnect_ = now + rng_.below(opt_.reconnect_interval);  // spread the first ones
    if (now < *next_reconnect_) return;
    next_reconnect_ = now + opt_.reconnect_interval;
    std::vector<node_id> down;
    for (const member_record& r : members_.records()) {
      if (r.status == member_status::down) down.push_back(r.node);
    }
    if (!down.empty()) send_sync_(down[rng_.below(down.size())], probe_kind::sync);
  }

  [[nodiscard]] std::uint64_t next_deadline_() const {
    std::uint64_t d = std::numeric_limits<std::uint64_t>::max();
    if (!removed_) {
      d = std::min(d, next_probe_);
      if (probe_)
        d = std::min(d, probe_->acked || probe_->indirect ? probe_->period_end : probe_->ack_deadline);
      if (opt_.push_pull_interval != 0) d = std::min(d, next_sync_);
      if (next_reconnect_) d = std::min(d, *next_reconnect_);
    }
    if (queued_ != 0) d = std::min(d, next_gossip_);
    if (!suspicions_.empty()) d = std::min(d, next_suspicion_);  // may be early after an erase: harmless
    for (const auto& [s, ip] : indirect_) d = std::min(d, ip.deadline);
    return d;
  }

  member_record self_;
  detector_options opt_;
  detail::rng rng_;
  members members_;
  std::vector<node_id> neighbours_;  // sorted
  std::vector<node_id> probe_order_;
  std::vector<node_id> sync_to_;
  std::optional<probe_state> probe_;
  std::map<std::uint64_t, indirect_probe> indirect_;
  std::vector<std::pair<node_id, suspicion_state>> suspicions_;               // sorted by node (a flat map)
  std::uint64_t next_suspicion_ = std::numeric_limits<std::uint64_t>::max();  // ≤ every suspicion deadline
  std::vector<std::deque<gossip_item>> buckets_;                              // by times sent
  std::size_t queued_ = 0;
  std::uint64_t versions_ = 0;
  std::vector<std::pair<node_id, std::uint64_t>>
      latest_;  // node -> version of its latest record item, sorted
  std::set<std::tuple<node_id, std::uint64_t, node_id>> notes_;  // notes queued
  std::size_t live_ = 0;  // live members in members_, kept with every reported change
  std::vector<std::pair<node_id, probe_message>> outbox_;
  std::vector<member_change> changes_;
  members deltas_;
  unsigned awareness_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t next_probe_ = 0;
  std::uint64_t next_gossip_ = 0;
  std::uint64_t next_sync_ = 0;
  std::optional<std::uint64_t> next_reconnect_;
  std::optional<std::uint64_t> due_;  // the deadline the last tick returned
  bool removed_ = false;
  detector_metrics metrics_{};
};

}  // namespace converge::membership
