#pragma once
/// @file
/// `converge::replicator<State>`: sans-IO delta-interval anti-entropy with
/// acknowledgements (Almeida, Shoker, Baquero, "Delta State Replicated Data
/// Types", JPDC 2018, Algorithm 2), with the avoid-back-propagation (BP) and
/// remove-redundant (RR) optimizations of Enes et al., "Efficient
/// Synchronization of State-based CRDTs" (ICDE 2019), a state-transfer
/// fallback, chunking under a message-size cap, and session nonces for
/// restarts.
///
/// A replicator owns no socket, thread or clock: events and `now` go in,
/// messages and the next deadline come out (quinn-proto style).
/// @code
///   converge::replicator<converge::gset<int>> r(converge::replica_id{1}, {.session = random()});
///   r.add_peer(2);
///   r.mutate([](auto& s) { return s.insert(7); });
///   for (;;) {
///     auto out = r.tick(now);                    // after every event, and at out.next_deadline
///     for (auto& m : out.messages) send(m.to, m.bytes);
///     ... r.receive(from, bytes) for every message that arrives ...
///   }
/// @endcode
///
/// # The protocol
/// The replicator numbers the deltas it buffers with a counter `c`; the buffer
/// `D` maps sequence numbers to deltas (each with the peers known to hold it),
/// and `A(j)` is the highest sequence number peer `j` acknowledged. On a tick,
/// every peer with `A(j) < c` gets the join of `D[A(j)..c)` as one interval
/// message ending at `c`; if `A(j)` is unknown (new peer, peer restarted) or
/// older than the oldest retained entry, it gets the whole state instead. The
/// receiver joins the payload and acknowledges `c`; entries every peer
/// acknowledged are dropped.
///
/// # Pacing
/// One interval is in flight per peer. Until it is acknowledged nothing new
/// is sent to that peer: what accumulates meanwhile travels as the next
/// interval, so every delta crosses a link about once however far acks lag
/// (resending the growing unacknowledged range every `gossip_interval` would
/// cost quadratic bytes under load). An interval not acknowledged within the
/// retransmission timeout is sent again, extended to `c`. The timeout is
/// `max(min_timeout_intervals × gossip_interval, 2 × smoothed RTT)`, the RTT
/// part capped at `max_rtt_timeout_factor × gossip_interval`, doubled at
/// every expiry without progress (at most 4×) and reset by any message from
/// the peer.
///
/// The floor of several gossip intervals is TCP's minimum RTO in our units:
/// a peer acks at its next tick, which under load comes only after it has
/// joined a backlog, so ack delays swing far beyond the smoothed RTT, and a
/// spurious timeout resends a whole interval. On a loaded 3-node loopback
/// cluster a floor of 1 interval spent 13 MB and 0.85 CPU µs per applied
/// update, a floor of 4 spent 7 MB and 0.62 µs (5 runs each). A lost
/// interval on an idle link waits that much longer: lower it for lossy links.
///
/// The RTT is sampled from acks of an interval end sent once (Karn's rule: a
/// late ack of a resent interval cannot shrink it; a resend extended with new
/// deltas has a new end and is timed afresh, so one early timeout cannot stop
/// sampling while a busy peer keeps acking older ends), at the tick after
/// the ack: the time spent joining what arrived belongs in the RTT. A tick
/// that comes later than a peer's timeout after the previous one means this
/// replica itself stalled (a paused process, a blocked event loop): every
/// pending sample for that peer would time the stall, not the link, so they
/// are all discarded (one such sample once made a replica wait 2 × its own
/// pause before retransmitting to a peer that had restarted). Between
/// intervals a peer waits at least `gossip_interval`.
///
/// A payload larger than `max_message_bytes` is cut with `converge::split`
/// into parts (each a valid delta, each ≤ the sender's state, so joining any
/// subset is safe: nothing is lost or resurrected). The receiver joins each
/// part on arrival and acknowledges it; the sender counts the interval
/// acknowledged once every part is, and resends only the missing parts.
///
/// # Restarts and identity
/// Every message carries the sender's `session` nonce (new at every start;
/// the caller supplies the randomness). An ack echoes the session it
/// acknowledges; acks for another session are ignored. When a peer shows a
/// new session its `A(j)` is forgotten (it may have lost what it acked), so
/// it gets a state transfer. While a peer's acknowledgement is unknown only
/// an ack of a state transfer is accepted from it (a restarted peer may ack a
/// delta interval that does not cover what it lost). A
/// fresh replicator announces itself: every peer gets a state transfer (even
/// of bottom) until it acknowledges one.
///
/// > Rationale: a replica restarted WITHOUT its data must use a new
/// > `replica_id` (`replica_id::with_incarnation(base, incarnation)`), not
/// > wait to relearn its old dots: with a fresh identity it can accept writes
/// > at once, and can never issue a dot its peers already hold for a different
/// > value. Restarting with its data, it keeps its identity and just takes a
/// > new session.
///
/// # Limits
/// Every resource is bounded: message size (`max_message_bytes`, never
/// raised: an indivisible value larger than it cannot be sent and is counted
/// in `metrics().unsendable`), parts per interval (`max_parts`), peers
/// (`max_peers`), buffer bytes (`max_buffer_bytes`: past it the oldest
/// entries are dropped, and peers that lag behind them get a state transfer),
/// and payload decoding (`limits`). `receive` never throws: malformed input is
/// dropped and counted, the state unchanged.

#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/envelope.hpp"
#include "converge/replication/metrics.hpp"
#include "converge/wire/encode.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace converge {

/// How a replicator behaves; every field has a usable default.
struct replicator_options {
  bool avoid_back_propagation = true;  ///< BP: never send a delta to a peer known to hold it
  bool remove_redundant = true;        ///< RR: buffer only the novel part of a received delta
  std::uint64_t gossip_interval = 50;  ///< virtual time between sends / retransmissions to a peer
  /// A resend waits at least this many gossip intervals (at least 1), however
  /// short the measured round trip: see "Pacing" in the file comment.
  std::uint64_t min_timeout_intervals = 4;
  std::size_t max_message_bytes = std::size_t{1} << 20;  ///< cap on every message, never raised
  std::size_t max_buffer_bytes = std::size_t{64} << 20;  ///< delta buffer bound (encoded bytes)
  std::size_t max_peers = 1024;        ///< add_peer refuses more
  std::size_t max_parts = 4096;        ///< cap on the parts of one interval (sent and accepted)
  std::uint64_t session = 0;           ///< nonce new at every start (smaller values encode shorter)
  decode_limits limits = {};           ///< bounds on decoding a received payload
};

/// One message to send.
struct outgoing {
  peer_id to;
  std::vector<std::byte> bytes;
};

/// What `tick` returns: messages to send now, and when to call `tick` again
/// at the latest (`UINT64_MAX`: only after the next event).
struct tick_result {
  std::vector<outgoing> messages;
  std::uint64_t next_deadline = std::numeric_limits<std::uint64_t>::max();
};

namespace replication::detail {

/// Cuts `x` into at most about `n` parts whose join is `x`: `converge::split`,
/// with a fallback for sets exposing `elements()` / `from_elements()`.
template <class State>
std::vector<State> split_payload(const State& x, std::size_t n) {
  std::vector<State> parts = converge::split(x, n);
  if constexpr (requires { State::from_elements(x.elements()); }) {
    if (parts.size() <= 1 && n > 1 && x.elements().size() > 1) {
      parts.clear();
      const auto& all = x.elements();
      const std::size_t per = (all.size() + n - 1) / n;
      std::remove_cvref_t<decltype(all)> chunk;
      for (const auto& v : all) {
        chunk.insert(chunk.end(), v);
        if (chunk.size() == per) parts.push_back(State::from_elements(std::exchange(chunk, {})));
      }
      if (!chunk.empty()) parts.push_back(State::from_elements(std::move(chunk)));
    }
  }
  return parts;
}

/// True when `part ≤ whole`, by the cheapest test the type offers.
template <class State>
bool covered_by(const State& part, const State& whole) {
  if constexpr (requires { part.leq(whole); }) {
    return part.leq(whole);
  } else {
    return converge::is_bottom(converge::novel(part, whole));
  }
}

}  // namespace replication::detail

/// Replicates a `State` with its peers; see the file comment.
template <delta_lattice State>
class replicator {
 public:
  /// Starts a replicator for replica `self` holding `initial` (bottom for a
  /// fresh replica, the saved state for a restart with data).
  explicit replicator(replica_id self, replicator_options options = {}, State initial = {})
      : self_(self), opt_(options), state_(std::move(initial)) {
    if (opt_.gossip_interval == 0) opt_.gossip_interval = 1;
    if (opt_.max_parts == 0) opt_.max_parts = 1;
  }

  /// Applies a local mutator: `fn(State&)` changes the state and returns the
  /// delta. Buffers the delta for the peers and returns it. Call `tick` after.
  template <class F>
    requires std::invocable<F&, State&> && std::same_as<std::invoke_result_t<F&, State&>, State>
  State mutate(F&& fn) {
    State delta = fn(state_);
    if (!converge::is_bottom(delta)) {
      converge::join_into(state_, delta);
      ++metrics_.local_deltas;
      push_entry(delta, std::nullopt);
    }
    return delta;
  }

  /// Handles one message from `from` (call for every message that arrives,
  /// then `tick`). Never throws: malformed bytes, messages from unknown peers
  /// and stale messages are dropped and counted; the state is unchanged.
  void receive(peer_id from, std::span<const std::byte> bytes) noexcept {
    const auto it = peers_.find(from);
    if (it == peers_.end()) {
      ++metrics_.unknown_peer_dropped;
      return;
    }
    peer_state& p = it->second;
    p.backoff = 0;  // the link carries messages again: retransmit at the base timeout
    add(p, &peer_metrics::messages_in);
    add(p, &peer_metrics::bytes_in, bytes.size());
    try {
      if (bytes.size() > opt_.max_message_bytes) {
        add(p, &peer_metrics::malformed_dropped);
        return;
      }
      const std::optional<replication::envelope> e = replication::read_envelope(bytes, opt_.max_parts);
      if (!e) {
        add(p, &peer_metrics::malformed_dropped);
        return;
      }
      if (e->kind == replication::message_kind::delta) {
        // Decode before anything changes, so a bad payload leaves no trace.
        State d = converge::decode<State>(e->payload, opt_.limits);
        if (!observe_session(from, p, e->session)) return;
        apply_received(from, p, std::move(d), e->state_transfer, e->payload.size());
        if (e->multipart) {
          part_acks_.push_back({from, e->session, e->to, e->part, e->state_transfer});
        } else {
          pending_ack& a = acks_[from];
          if (a.session != e->session) a = pending_ack{e->session};
          std::uint64_t& slot = e->state_transfer ? a.whole_to : a.delta_to;
          slot = std::max(slot, e->to + 1);
        }
      } else {
        if (!observe_session(from, p, e->session)) return;
        handle_ack(p, *e);
      }
    } catch (const decode_error&) {
      add(p, &peer_metrics::malformed_dropped);
    } catch (...) {
      // Out of memory or a type's own validation: treat as malformed.
      add(p, &peer_metrics::malformed_dropped);
    }
  }

  /// Advances time to `now` (never decreasing): returns the acks and
  /// intervals due, and the time of the next retransmission. Call after
  /// every `mutate`/`receive` batch and whenever `next_deadline` passes.
  tick_result tick(std::uint64_t now) {
    const std::uint64_t idle = std::max(now_, now) - now_;
    now_ = std::max(now_, now);
    tick_result out;
    for (const auto& [to, a] : acks_) {
      if (a.whole_to != 0) emit(out, to, replication::write_ack(opt_.session, a.session, a.whole_to - 1, true, false, 0), false);
      if (a.delta_to != 0) emit(out, to, replication::write_ack(opt_.session, a.session, a.delta_to - 1, false, false, 0), false);
    }
    acks_.clear();
    for (const part_ack& a : part_acks_) {
      emit(out, a.peer, replication::write_ack(opt_.session, a.session, a.to, a.whole, true, a.part), false);
    }
    part_acks_.clear();

    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    for (auto& [id, p] : peers_) {
      if (idle > timeout(p)) forget_timing(p);
      sample_rtt(p);
      if (!needs_send(p)) continue;
      const std::uint64_t due = send_due(p);
      if (due > now_) {
        next = std::min(next, due);
        continue;
      }
      send_to(out, id, p);
      if (needs_send(p)) next = std::min(next, std::max(send_due(p), now_ + 1));
    }
    out.next_deadline = next;
    return out;
  }

  /// Adds a neighbour; it gets a state transfer (which announces this
  /// replicator's session). False when already a peer or past `max_peers`.
  bool add_peer(peer_id id) {
    if (peers_.contains(id)) return false;
    if (peers_.size() >= opt_.max_peers) {
      ++metrics_.peers_refused;
      return false;
    }
    peers_[id];
    return true;
  }

  /// Removes a neighbour and what is pending for it. False when unknown.
  bool remove_peer(peer_id id) {
    if (peers_.erase(id) == 0) return false;
    acks_.erase(id);
    std::erase_if(part_acks_, [&](const part_ack& a) { return a.peer == id; });
    for (entry& e : buffer_) std::erase(e.known, id);
    collect();
    return true;
  }

  /// The current state.
  [[nodiscard]] const State& state() const noexcept { return state_; }
  /// This replica's identity (what its mutators should tag updates with).
  [[nodiscard]] replica_id self() const noexcept { return self_; }
  /// This start's session nonce.
  [[nodiscard]] std::uint64_t session() const noexcept { return opt_.session; }
  /// The options in force.
  [[nodiscard]] const replicator_options& options() const noexcept { return opt_; }
  /// What this replicator counted.
  [[nodiscard]] const replicator_metrics& metrics() const {
    metrics_.peers.clear();
    for (const auto& [id, p] : peers_) metrics_.peers.emplace(id, p.m);
    return metrics_;
  }
  /// The current peers, ascending.
  [[nodiscard]] std::vector<peer_id> peers() const {
    std::vector<peer_id> out;
    for (const auto& [id, p] : peers_) out.push_back(id);
    return out;
  }

  /// One line per peer: its acknowledged sequence number, session and what is
  /// in flight (for diagnostics; the format may change).
  [[nodiscard]] std::string describe() const {
    std::string out = "c=" + std::to_string(c_) + " lo=" + std::to_string(lo_) +
                      " buffered=" + std::to_string(buffer_.size()) + " session=" + std::to_string(opt_.session) + "\n";
    for (const auto& [id, p] : peers_) {
      out += "  peer " + std::to_string(id) + ": acked=" + (p.acked_known ? std::to_string(p.acked) : "?") +
             " session=" + (p.has_session ? std::to_string(p.session) : "?") + " last_to=" + std::to_string(p.last_to) +
             " last_send=" + std::to_string(p.last_send) + " srtt=" + std::to_string(p.srtt) +
             " timeout=" + std::to_string(timeout(p)) +
             (p.multi ? " parts_missing=" + std::to_string(p.multi->missing) : "") + "\n";
    }
    return out;
  }

  /// True when every peer acknowledged everything (nothing to send or resend).
  [[nodiscard]] bool quiescent() const noexcept {
    return std::all_of(peers_.begin(), peers_.end(), [&](const auto& kv) { return !needs_send(kv.second); });
  }

 private:
  struct entry {
    State delta;
    std::size_t bytes = 0;
    std::vector<peer_id> known;  // peers known to hold it (BP)
  };

  struct flight {
    std::uint64_t to = 0;
    std::vector<std::vector<std::byte>> parts;  // encoded messages
    std::vector<bool> acked;
    std::size_t missing = 0;
    bool whole = false;  // a state transfer
  };

  /// A send of the interval ending at `to`; `once` until it is resent
  /// (then its ack is ambiguous: Karn's rule).
  struct timed_send {
    std::uint64_t to = 0;
    std::uint64_t at = 0;
    bool once = true;
  };
  static constexpr std::size_t max_timed = 8;

  struct peer_state {
    bool acked_known = false;  // false: needs a state transfer
    std::uint64_t acked = 0;   // A(j)
    bool has_session = false;
    std::uint64_t session = 0;
    bool ever_sent = false;
    std::uint64_t last_send = 0;
    std::uint64_t last_to = 0;    // the end of the last interval sent
    std::optional<flight> multi;  // a multi-part interval in flight
    std::vector<timed_send> timing;  // sends awaiting their ack, oldest first (at most max_timed)
    std::optional<std::uint64_t> rtt_from;  // send time of an ack just received: sample at the next tick
    bool sent_whole = false;      // the last interval sent was a state transfer
    State heard{};                // BP: delta payloads received from the peer lately (it holds them)
    std::uint64_t heard_since = 0;  // c when `heard` was last emptied
    std::uint64_t srtt = 0;       // smoothed round-trip time, 0 until sampled
    unsigned backoff = 0;         // the timeout is doubled this many times
    peer_metrics m;
  };

  static constexpr unsigned max_backoff = 2;
  /// Bounds what one bad RTT estimate can cost: however slow the link
  /// looked, a lost interval is resent within this many gossip intervals
  /// (times the backoff).
  static constexpr std::uint64_t max_rtt_timeout_factor = 64;

  struct pending_ack {
    std::uint64_t session = 0;
    std::uint64_t whole_to = 0;  // 1 + the highest state transfer to ack, 0: none
    std::uint64_t delta_to = 0;  // 1 + the highest delta interval to ack, 0: none
  };
  struct part_ack {
    peer_id peer;
    std::uint64_t session;
    std::uint64_t to;
    std::uint64_t part;
    bool whole;
  };

  void add(peer_state& p, std::uint64_t peer_metrics::*field, std::uint64_t n = 1) noexcept {
    p.m.*field += n;
    metrics_.total.*field += n;
  }

  [[nodiscard]] bool needs_send(const peer_state& p) const noexcept {
    return !p.acked_known || p.acked < c_ || p.multi.has_value();
  }

  /// True while an interval sent to `p` waits for its acknowledgement.
  [[nodiscard]] static bool awaiting_ack(const peer_state& p) noexcept {
    return p.multi.has_value() || (p.ever_sent && (!p.acked_known || p.acked < p.last_to));
  }

  /// The retransmission timeout for `p` (see "Pacing" in the file comment).
  [[nodiscard]] std::uint64_t timeout(const peer_state& p) const noexcept {
    const std::uint64_t rtt_cap = max_rtt_timeout_factor * opt_.gossip_interval;
    const std::uint64_t floor = std::max<std::uint64_t>(opt_.min_timeout_intervals, 1) * opt_.gossip_interval;
    const std::uint64_t base = std::max(floor, std::min(2 * p.srtt, rtt_cap));
    return base << p.backoff;
  }

  /// When `p` may be sent to next: at once the first time, after the
  /// timeout while an interval is in flight, else a gossip interval after
  /// the last send.
  [[nodiscard]] std::uint64_t send_due(const peer_state& p) const noexcept {
    if (!p.ever_sent) return 0;
    return p.last_send + (awaiting_ack(p) ? timeout(p) : opt_.gossip_interval);
  }

  /// Notes a send of the interval ending at `to` to `p`, for timing its ack.
  void record_send(peer_state& p, std::uint64_t to) {
    for (timed_send& t : p.timing) {
      if (t.to == to) {
        t.once = false;
        return;
      }
    }
    if (p.timing.size() == max_timed) p.timing.erase(p.timing.begin());
    p.timing.push_back(timed_send{to, now_, true});
  }

  /// An acknowledgement advanced to `to`: reset the backoff, and time the
  /// ack when the send it answers went once. An ack names the end of the
  /// interval it acknowledges and a resend extended with new deltas has a
  /// new end, so a peer kept busy by a too-early timeout is still timed.
  /// The sample is taken at the next tick: `receive` has no clock, and the
  /// time the caller spends joining what arrived belongs in the RTT.
  void ack_progress(peer_state& p, std::uint64_t to) noexcept {
    for (const timed_send& t : p.timing) {
      if (t.to == to && t.once) p.rtt_from = t.at;
    }
    std::erase_if(p.timing, [&](const timed_send& t) { return t.to <= to; });
    p.backoff = 0;
  }

  /// Makes every send to `p` awaiting its ack untimeable: this replica did
  /// not run for longer than the timeout, so an ack now would time the pause.
  static void forget_timing(peer_state& p) noexcept {
    p.rtt_from.reset();
    for (timed_send& t : p.timing) t.once = false;
  }

  /// Takes the RTT sample an acknowledgement left due (see ack_progress).
  void sample_rtt(peer_state& p) noexcept {
    if (!p.rtt_from) return;
    const std::uint64_t sent = *std::exchange(p.rtt_from, std::nullopt);
    if (now_ >= sent) {
      const std::uint64_t sample = now_ - sent;
      p.srtt = p.srtt == 0 ? std::max<std::uint64_t>(sample, 1) : (7 * p.srtt + sample) / 8;
    }
  }

  void emit(tick_result& out, peer_id to, std::vector<std::byte> bytes, bool delta) {
    peer_state& p = peers_.at(to);
    add(p, &peer_metrics::messages_out);
    add(p, &peer_metrics::bytes_out, bytes.size());
    add(p, delta ? &peer_metrics::delta_messages_out : &peer_metrics::acks_out);
    out.messages.push_back({to, std::move(bytes)});
  }

  /// Records a peer's session. A different session is a new life of the
  /// peer (or a message of an old life, delayed): either way what it
  /// acknowledged may be lost, so it gets a state transfer. Sessions are
  /// nonces with no order, so an old life's late message costs one extra
  /// state transfer and is otherwise harmless; a life is never blacklisted
  /// (that would wedge a link when an old message arrives first).
  bool observe_session(peer_id id, peer_state& p, std::uint64_t session) {
    if (!p.has_session) {
      p.has_session = true;
      p.session = session;
      return true;
    }
    if (p.session == session) return true;
    p.session = session;
    p.acked_known = false;
    p.acked = 0;
    p.multi.reset();
    p.timing.clear();
    p.rtt_from.reset();
    p.ever_sent = false;
    p.heard = State{};  // a new life may have lost what the old one sent
    p.heard_since = c_;
    acks_.erase(id);
    std::erase_if(part_acks_, [&](const part_ack& a) { return a.peer == id; });
    for (entry& e : buffer_) std::erase(e.known, id);
    add(p, &peer_metrics::session_resets);
    collect();
    return true;
  }

  void apply_received(peer_id from, peer_state& p, State&& d, bool state_transfer, std::size_t bytes) {
    if (state_transfer) add(p, &peer_metrics::state_transfers_received);
    const bool bp = opt_.avoid_back_propagation;
    if (bp && p.acked_known) {
      // Entries this payload covers are held by the sender: never send them back.
      for (std::uint64_t s = std::max(p.acked, lo_); s < c_; ++s) {
        entry& e = buffer_[static_cast<std::size_t>(s - lo_)];
        if (std::find(e.known.begin(), e.known.end(), from) == e.known.end() &&
            replication::detail::covered_by(e.delta, d)) {
          e.known.push_back(from);
        }
      }
    }
    bool all_novel = false;  // nothing of d was held here
    if (opt_.remove_redundant) {
      State r = converge::absorb(state_, d);  // joins d, returns its novel part
      if (converge::is_bottom(r)) {
        add(p, &peer_metrics::redundant_dropped);
      } else {
        add(p, &peer_metrics::deltas_applied);
        all_novel = bp && converge::leq(d, r);  // r <= d always: equal
        push_entry(std::move(r), from, bytes);
      }
    } else if (converge::leq(d, state_)) {
      add(p, &peer_metrics::redundant_dropped);
    } else {
      converge::join_into(state_, d);
      add(p, &peer_metrics::deltas_applied);
      push_entry(d, from, bytes);
    }
    if (bp) {
      advance_known(from, p);
      // A payload that was all novel overlaps no buffered entry, earlier
      // (they are held here) or later (they are reduced by what is held):
      // remembering it could never shorten an interval to this peer.
      if (!state_transfer && !all_novel) remember_heard(p, std::move(d));  // the last use of d
    }
  }

  /// BP: remembers what the peer sent, so that the parts of later intervals
  /// it already holds are not sent back, even when no buffered entry is
  /// covered whole. Only payloads received since the pending entries were
  /// buffered can overlap them (a received delta is buffered by its novel
  /// part), so `heard` is emptied once the peer acknowledged every entry
  /// older than it: it spans about two round trips of traffic.
  void remember_heard(peer_state& p, State&& d) {
    if (p.acked_known && p.acked >= p.heard_since) {
      p.heard = State{};
      p.heard_since = c_;
    }
    if (converge::is_bottom(p.heard)) {
      p.heard = std::move(d);  // bottom ⊔ d = d: taken, not joined
    } else {
      converge::join_into(p.heard, d);
    }
  }

  /// BP: entries the peer is known to hold count as acknowledged by it.
  void advance_known(peer_id id, peer_state& p) {
    if (!p.acked_known || p.multi) return;
    const std::uint64_t before = p.acked;
    while (p.acked < c_ && p.acked >= lo_) {
      const entry& e = buffer_[static_cast<std::size_t>(p.acked - lo_)];
      if (std::find(e.known.begin(), e.known.end(), id) == e.known.end()) break;
      ++p.acked;
    }
    if (p.acked != before) collect();
  }

  void handle_ack(peer_state& p, const replication::envelope& e) {
    if (e.acked_session != opt_.session) {
      add(p, &peer_metrics::stale_dropped);
      return;
    }
    if (e.to > c_) {
      add(p, &peer_metrics::malformed_dropped);
      return;
    }
    if (!p.acked_known && !e.state_transfer) {
      add(p, &peer_metrics::stale_dropped);
      return;
    }
    if (e.multipart) {
      if (!p.multi || p.multi->to != e.to || p.multi->whole != e.state_transfer || e.part >= p.multi->parts.size()) {
        add(p, &peer_metrics::stale_dropped);
        return;
      }
      flight& f = *p.multi;
      const auto k = static_cast<std::size_t>(e.part);
      if (!f.acked[k]) {
        f.acked[k] = true;
        --f.missing;
      }
      if (f.missing != 0) return;
      p.multi.reset();
    }
    if (!p.acked_known || p.acked < e.to) {
      p.acked_known = true;
      p.acked = e.to;
      ack_progress(p, e.to);
    }
    if (p.multi && p.multi->to <= p.acked) p.multi.reset();
    collect();
  }

  /// Buffers a delta; `bytes` is its encoded size when known (a received
  /// payload's size bounds the size of its novel part), 0 to compute it.
  void push_entry(State delta, std::optional<peer_id> origin, std::size_t bytes = 0) {
    entry e;
    e.bytes = bytes != 0 ? bytes : converge::encoded_size(delta);
    e.delta = std::move(delta);
    if (origin) e.known.push_back(*origin);
    buffer_bytes_ += e.bytes;
    buffer_.push_back(std::move(e));
    ++c_;
    while (buffer_bytes_ > opt_.max_buffer_bytes && !buffer_.empty()) {
      buffer_bytes_ -= buffer_.front().bytes;
      buffer_.pop_front();
      ++lo_;
      ++metrics_.buffer_evictions;
    }
    collect();
    metrics_.max_buffer_bytes = std::max(metrics_.max_buffer_bytes, buffer_bytes_);
  }

  /// Drops the entries every peer holds.
  void collect() {
    std::uint64_t low = c_;
    for (const auto& [id, p] : peers_) {
      if (p.acked_known) {
        low = std::min(low, p.acked);
      } else if (p.ever_sent) {
        low = std::min(low, p.last_to);  // keep what follows the state transfer in flight
      }
    }
    while (lo_ < low && !buffer_.empty()) {
      buffer_bytes_ -= buffer_.front().bytes;
      buffer_.pop_front();
      ++lo_;
    }
    if (buffer_.empty()) lo_ = c_;
    metrics_.buffer_bytes = buffer_bytes_;
    metrics_.buffer_entries = buffer_.size();
  }

  static const State& bottom() {
    static const State b{};
    return b;
  }

  void send_to(tick_result& out, peer_id id, peer_state& p) {
    if (p.multi) {  // the timeout expired: resend the parts not yet acknowledged
      for (std::size_t k = 0; k < p.multi->parts.size(); ++k) {
        if (p.multi->acked[k]) continue;
        add(p, &peer_metrics::retransmissions);
        emit(out, id, p.multi->parts[k], true);
      }
      p.ever_sent = true;
      p.last_send = now_;
      record_send(p, p.multi->to);  // the same parts again: their acks are ambiguous now
      p.backoff = std::min(p.backoff + 1, max_backoff);
      return;
    }
    const bool expired = awaiting_ack(p);  // else a new interval
    const bool whole = !p.acked_known || p.acked < lo_;
    std::vector<std::byte> payload;
    State joined;
    if (whole) {
      payload = converge::encode(state_);
    } else {
      const bool bp = opt_.avoid_back_propagation;
      std::vector<const State*> parts;
      for (std::uint64_t s = p.acked; s < c_; ++s) {
        const entry& e = buffer_[static_cast<std::size_t>(s - lo_)];
        if (bp && std::find(e.known.begin(), e.known.end(), id) != e.known.end()) continue;
        parts.push_back(&e.delta);
      }
      // BP: less what the peer sent lately (it holds that), reduced before joining.
      if (!parts.empty()) joined = converge::join_novel(std::span<const State* const>(parts), bp ? p.heard : bottom());
      if (converge::is_bottom(joined)) {  // the peer holds every entry: acknowledged without a message
        p.acked = c_;
        collect();
        return;
      }
      payload = converge::encode(joined);
    }
    // A resent delta interval that became a state transfer (the peer fell
    // behind the buffer meanwhile) counts as a state transfer started.
    if (whole && !(expired && p.sent_whole)) add(p, &peer_metrics::state_transfers_sent);
    p.sent_whole = whole;
    if (expired) {
      add(p, &peer_metrics::retransmissions);
      p.backoff = std::min(p.backoff + 1, max_backoff);
    }
    record_send(p, c_);
    p.ever_sent = true;
    p.last_send = now_;
    p.last_to = c_;
    const std::size_t budget =
        opt_.max_message_bytes > replication::max_envelope_header ? opt_.max_message_bytes - replication::max_envelope_header : 0;
    if (payload.size() <= budget) {
      emit(out, id, replication::write_delta(opt_.session, c_, whole, 0, 1, payload), true);
      return;
    }
    // Too large: cut into parts, each under the cap.
    std::vector<std::vector<std::byte>> pieces;
    std::vector<State> work = replication::detail::split_payload(whole ? state_ : joined, payload.size() / std::max<std::size_t>(budget, 1) + 2);
    if (work.size() <= 1) {
      ++metrics_.unsendable;
      return;
    }
    while (!work.empty()) {
      State x = std::move(work.back());
      work.pop_back();
      std::vector<std::byte> bytes = converge::encode(x);
      if (bytes.size() <= budget) {
        pieces.push_back(std::move(bytes));
      } else {
        std::vector<State> finer = replication::detail::split_payload(x, bytes.size() / std::max<std::size_t>(budget, 1) + 2);
        if (finer.size() <= 1) {
          ++metrics_.unsendable;
          return;
        }
        for (State& f : finer) work.push_back(std::move(f));
      }
      if (pieces.size() + work.size() > opt_.max_parts) {
        ++metrics_.unsendable;
        return;
      }
    }
    if (pieces.size() == 1) {
      emit(out, id, replication::write_delta(opt_.session, c_, whole, 0, 1, pieces.front()), true);
      return;
    }
    flight f;
    f.to = c_;
    f.whole = whole;
    f.missing = pieces.size();
    f.acked.assign(pieces.size(), false);
    for (std::size_t k = 0; k < pieces.size(); ++k) {
      f.parts.push_back(replication::write_delta(opt_.session, c_, whole, k, pieces.size(), pieces[k]));
      emit(out, id, f.parts.back(), true);
    }
    p.multi = std::move(f);
  }

  replica_id self_;
  replicator_options opt_;
  State state_;
  std::uint64_t c_ = 0;   // sequence number of the next buffered delta
  std::uint64_t lo_ = 0;  // sequence number of buffer_.front()
  std::deque<entry> buffer_;
  std::size_t buffer_bytes_ = 0;
  std::map<peer_id, peer_state> peers_;
  std::map<peer_id, pending_ack> acks_;
  std::vector<part_ack> part_acks_;
  std::uint64_t now_ = 0;
  mutable replicator_metrics metrics_;  // `peers` is refreshed by metrics()
};

}  // namespace converge
