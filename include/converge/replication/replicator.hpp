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
/// # Durability
/// With a `journal` (`replicator_options::journal`), every change of the
/// state is appended to it as a record — a local delta, or a received
/// payload that changed something — and the invariant is: **nothing leaves
/// this replicator, and nothing is acknowledged, before it is durable.**
/// `tick` syncs the journal before it returns any message, so the records of
/// every delta the messages carry, and of every payload they acknowledge,
/// are durable first. Syncs are grouped: one per tick that sends something,
/// however many writes came before it, and otherwise at most a gossip
/// interval after the first unsynced write, or at the next tick after
/// `request_sync()` (a writer waiting for its write: compare
/// `journal_position()` after the `mutate` with `durable_position()`). A
/// sync that fails withholds the tick's messages (as if the network lost
/// them) and is retried a gossip interval later; `sync_error()` says why.
///
/// The journal also keeps the identity, the sequence counter `c` and every
/// peer's acknowledgement with its session, and is compacted into a snapshot
/// once the records after the last one outgrow `min_compaction_bytes` and
/// 1/`compaction_divisor` of it. `restore` rebuilds a replicator from it:
/// the same identity (so no new version-vector entries, and bounded-counter
/// rights survive), the state, the buffered deltas since the snapshot, the
/// counter and the peers' acknowledgements. A restored replicator takes a
/// new session and marks its messages `resumed`: since everything it
/// acknowledged was durable, its peers keep their `A(j)` for it and send
/// only what it missed; it does the same for them, and sends a state
/// transfer only to peers its restored buffer no longer reaches. A crash
/// loses only unsynced records, which no peer ever saw: the dots they held
/// are issued again after the restart, and no one holds them with other
/// content. A replica whose journal is lost starts fresh, under a new
/// identity (see "Restarts and identity").
///
/// # Retired replicas
/// `retire(ids)` tells the replicator that replicas left for good (usually
/// the ids of `members::retired()`, which the application reads from the
/// state it replicates, see membership/retirement.hpp): it strips them from
/// the state at once, and from every received payload — delta interval or
/// state transfer — before it is joined, so the state never holds a retired
/// id again and a retired replica's old state changes nothing. Stripping is
/// a lattice homomorphism, so this changes no protocol step: sequence
/// numbers, acknowledgements and the buffer are as before (buffered deltas
/// keep what they held: their receivers strip them), back-propagation only
/// misses a payload the strip changed (it may send some of it back), and a
/// payload the strip changed is journaled as it was joined. The retired ids
/// are not journaled: they are part of the replicated state (the members
/// CRDT), so after `restore` the application calls `retire` again with the
/// restored state's ids, which strips what older records brought back.
///
/// # Amplification
/// A hostile peer (an allow-listed insider, or anyone when CURVE is off) can
/// send anything; what it makes this replicator send back stays small:
/// - Malformed, stale, or unknown-session messages get no answer at all, and
///   do not reset the retransmission back-off (only a delta that decodes or
///   an accepted ack proves the link works).
/// - Only a delta that decodes, or an ack echoing this replicator's own
///   session (proof that the sender receives its messages), can announce a
///   peer's new session; an ack of another session changes nothing.
/// - A received delta earns at most one ack message, and an ack is at most
///   4× the delta that called for it (a delta is ≥ 4 bytes; the ack repeats
///   its session, `to` and `part`, and adds this replicator's session, ≤ 10
///   bytes, and one byte).
/// - State transfers to a peer — first sends and retransmissions, whole or
///   in parts — are spaced by `min_state_transfer_interval` (`transfer_pacer.hpp`),
///   whatever the peer sends; one held back is counted once in
///   `state_transfers_deferred`.
/// - Quorum messages: a `read_request` is answered only for a member whose
///   session this replicator heard (from a delta or an ack of its own
///   session) and whose claimed point it did number; any other gets nothing
///   (`reads_refused`). A member gets at most one answer per gossip
///   interval: a header of at most 53 bytes (≤ 4 × the ≥ 14-byte request of
///   a heard session, plus 11) and only what it is owed: the delta from the
///   later of its claimed point and its acknowledgement, which anti-entropy
///   would send it anyway, or, when neither is known, the whole state, paced
///   with state transfers (`min_state_transfer_interval`). A `rights_ask`
///   earns one small answer once per request.
/// So over any time `T`, with no local writes, the bytes sent to one peer
/// are at most `4 × bytes received from it + (1 + T / min_state_transfer_interval)
/// × W`, where `W` is one state transfer (all its parts), plus, for a member
/// that sends read requests, `T / gossip_interval × (53 + B)` more, `B` the
/// deltas it has not acknowledged (a reader that holds everything costs 53
/// bytes per gossip interval). A strict `4 ×` with
/// no time term is impossible without refusing state to a replica that
/// restarted without its data (it legitimately sends a few bytes and needs
/// the whole state).
///
/// # Events
/// With `report_applied` on, every delta that changed the state — a local
/// `mutate`, or the novel part of a received payload — is queued as an
/// `applied_delta` (the delta and the peer it came from); `poll()` takes
/// them oldest first. An application mirrors or reacts to changes from them
/// in time proportional to each change, never to the state. The queue is
/// bounded (`max_events`): past it events are folded into the last one.
///
/// # Consistency levels
/// `write`, `read` and `decrement` take a `consistency` level and a timeout
/// (virtual time) and return an `operation_token`; `tick` resolves them and
/// `poll_outcome()` reports `done`, or `timed_out` with how many members
/// took part of how many were required. Members are what `set_members`
/// says (membership's up members), never the configured links.
/// - A write is `mutate` plus waiting: it completes once `required` members
///   acknowledged an interval ending at or after its delta (an ack leaves a
///   replica only once what it acknowledges is durable), this replica
///   counting once its journal synced the write. While a write waits,
///   intervals go out at every tick instead of every gossip interval, and
///   an interval already in flight to a member is sent again at once,
///   extended to the write (once per flight), instead of after its ack. A
///   write thus costs about one round trip and two syncs in sequence (this
///   replica's before its interval leaves, then the members' before they
///   ack). **A timed-out write is not rolled back**: it stays applied here
///   and converges everywhere like any other write; the timeout only says
///   the quorum was not seen.
/// - A read sends `read_request` to the members (again every base timeout
///   while unanswered), each naming the point up to which this replica holds
///   that member's numbered deltas (the end of the last whole interval it
///   joined from it). Each answers `read_done` (durable first, like every
///   message; at most one answer with a payload per reader per gossip
///   interval, "nothing newer" at once) with its end `c` and what the
///   reader lacks below it: the join of its buffered entries from the
///   later of that point and the reader's acknowledgement, or nothing ("nothing newer"), or its whole state
///   when neither point is known or the buffer no longer reaches it. Every change of a replica's state is
///   numbered in its buffer, so the reader then holds the member's state at `c`. The read completes once
///   `required` members, this one included, answered: a majority read then
///   holds every write a majority acknowledged before it began (the two
///   majorities share a member, which held the write when it answered).
/// - A decrement of the `set_rights_counter` field that local rights cannot
///   cover sends `rights_ask` to the members known to hold the most rights
///   (those whose replica is not known yet too). A member gives, once per
///   request, `transfer(self, asker, k)` from its own rights only, less what
///   its own waiting decrements need, and answers `rights_answer` with the
///   transfer delta (also gossiped as usual). The decrement runs once the
///   rights are here, then is written at its level; `no_rights` when they
///   did not come before the timeout. Rights only ever move from their
///   holder, so the counter never goes below zero, whatever the interleaving.
///
/// Operations live in memory: a replicator rebuilt by `restore` has none
/// (their writes, once durable, are in the journal like any other).
///
/// # Broadcast trees
/// With `broadcast = tree`, new deltas go eagerly only along the links of an
/// epidemic broadcast tree; the other peers get lazy digests, and are sent
/// their interval only when a digest or a long safety timeout says they
/// need it (broadcast_tree.hpp). Anti-entropy is unchanged underneath.
///
/// # Parts
/// `delta_buffer.hpp` (the buffer `D`), `peer_timing.hpp` (RTT, Karn, back-off),
/// `back_propagation.hpp` (the BP filters), `chunking.hpp` (cutting under the
/// cap), `envelope.hpp` (the message header), `events.hpp`, `metrics.hpp`.
/// This file holds the protocol that ties them together.
///
/// # Limits
/// Every resource is bounded: message size (`max_message_bytes`, never
/// raised: an indivisible value larger than it cannot be sent and is counted
/// in `metrics().unsendable`), parts per interval (`max_parts`), peers
/// (`max_peers`), buffer bytes (`max_buffer_bytes`: past it the oldest
/// entries are dropped, and peers that lag behind them get a state transfer),
/// and payload decoding (`limits`). `receive` never throws: malformed input is
/// dropped and counted, the state unchanged.

#include "converge/bounded_counter.hpp"
#include "converge/lattice.hpp"
#include "converge/membership/retirement.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/back_propagation.hpp"
#include "converge/replication/broadcast_tree.hpp"
#include "converge/replication/chunking.hpp"
#include "converge/replication/consistency.hpp"
#include "converge/replication/delta_buffer.hpp"
#include "converge/replication/envelope.hpp"
#include "converge/replication/events.hpp"
#include "converge/replication/journal.hpp"
#include "converge/replication/metrics.hpp"
#include "converge/replication/operations.hpp"
#include "converge/replication/origin_signing.hpp"
#include "converge/replication/peer_timing.hpp"
#include "converge/replication/quorum_message.hpp"
#include "converge/replication/transfer_pacer.hpp"
#include "converge/wire/encode.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
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
  std::size_t max_peers = 1024;                          ///< add_peer refuses more
  std::size_t max_parts = 4096;   ///< cap on the parts of one interval (sent and accepted)
  std::uint64_t session = 0;      ///< nonce new at every start (smaller values encode shorter)
  decode_limits limits = {};      ///< bounds on decoding a received payload
  bool report_applied = false;    ///< queue an `applied_delta` for `poll()` at every change
  std::size_t max_events = 4096;  ///< events queued before they are folded into the last one
  /// Where the durable state goes (not owned: it must outlive the
  /// replicator); nullptr for an in-memory replica. See "Durability".
  replication::journal* journal = nullptr;
  /// Compaction: a snapshot is written once the records after the last one
  /// exceed both this many bytes and 1/`compaction_divisor` of the snapshot,
  /// so a journal holds at most about (1 + 1/divisor) × the encoded state
  /// (2 + 1/divisor while a compaction commits, with both snapshots on disk).
  std::size_t min_compaction_bytes = std::size_t{1} << 20;
  std::size_t compaction_divisor = 4;
  /// State transfers to one peer (first sends and retransmissions) are at
  /// least this far apart, whatever it sends (see "Amplification"); 0: the
  /// base retransmission timeout, `min_timeout_intervals × gossip_interval`,
  /// which never delays an honest retransmission.
  std::uint64_t min_state_transfer_interval = 0;
  /// Origin signing (origin_signing.hpp; not owned: it must outlive the
  /// replicator): this replica signs its own counter entries and rights
  /// transfers, and keeps a received one only when its owner's signature
  /// covers it. nullptr: off, every entry is taken as it comes.
  const entry_signer* signer = nullptr;
  /// How new deltas spread: to every peer (`gossip`), or along a broadcast
  /// tree with lazy digests on the other links (`tree`, broadcast_tree.hpp).
  replication::broadcast_mode broadcast = replication::broadcast_mode::gossip;
  /// The tree's knobs (`lazy_delay_intervals`, `prune_ratio`, ...), used with `tree`.
  replication::tree_options tree = {};
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

/// Replicates a `State` with its peers; see the file comment.
template <delta_lattice State>
class replicator {
 public:
  /// Starts a replicator for replica `self` holding `initial` (bottom for a
  /// fresh replica, the saved state for a restart with data).
  /// With a journal, this is a new replica: its identity and `initial`
  /// become the journal's first snapshot (durable at the first tick, before
  /// anything leaves); to restart from a journal, use `restore`.
  explicit replicator(replica_id self, replicator_options options = {}, State initial = {})
      : replicator(self, options, std::move(initial), restoring{}) {
    if (opt_.journal != nullptr) write_snapshot();
  }

  /// Rebuilds the replicator a journal describes (`read_journal`), with a
  /// new session in `options` (and usually the same journal). Throws
  /// `replication::journal_error` naming the record when a stored state does
  /// not decode. A journal whose torn tail was dropped is compacted at the
  /// first tick, so what follows is never appended after a torn record.
  static replicator restore(const replication::recovered_journal& journal, replicator_options options) {
    replicator r(journal.self, options, decode_journaled(journal.state, 0, options.limits), restoring{});
    r.buffer_.restart(journal.snapshot_end);
    for (const replication::journaled_delta& d : journal.deltas) {
      State delta = decode_journaled(d.delta, d.record, r.opt_.limits);
      converge::join_into(r.state_, delta);
      if (d.buffered) {
        r.metrics_.buffer_evictions += r.buffer_.push(std::move(delta), d.delta.size(), d.origin);
      } else {
        r.buffer_.restart(d.seq + 1);  // numbered, not kept: no one needed it
      }
    }
    r.note_own_entries(r.state_);
    r.restored_acks_ = journal.acks;
    r.resumed_ = true;
    r.log_bytes_ = journal.log_bytes;
    r.snapshot_bytes_ = journal.snapshot_bytes;
    if (journal.dropped != 0 && r.opt_.journal != nullptr) r.write_snapshot();
    return r;
  }

  /// Applies a local mutator: `fn(State&)` changes the state and returns the
  /// delta. Buffers the delta for the peers and returns it. Call `tick` after.
  template <class F>
  requires std::invocable<F&, State&> && std::same_as<std::invoke_result_t<F&, State&>, State> State
  mutate(F&& fn) {
    State delta = fn(state_);
    if (!converge::is_bottom(delta)) {
      converge::join_into(state_, delta);
      tree_.state_changed(now_);
      note_own_entries(delta);
      ++metrics_.local_deltas;
      report(delta, std::nullopt);
      push_entry(delta, std::nullopt);
    }
    return delta;
  }

  /// Retires replicas for good (see "Retired replicas"): adds `ids` (in any
  /// order) to the retired set, strips them from the state, and from every
  /// payload received from now on before it is joined. Returns true when
  /// the state changed. Needs a `State` that retirement supports
  /// (`membership::retirable`).
  bool retire(std::span<const replica_id> ids) requires(membership::retirable<State>()) {
    std::vector<replica_id> fresh;
    for (const replica_id r : ids) {
      if (!std::binary_search(retired_.begin(), retired_.end(), r)) fresh.push_back(r);
    }
    if (fresh.empty()) return false;
    std::sort(fresh.begin(), fresh.end());
    fresh.erase(std::unique(fresh.begin(), fresh.end()), fresh.end());
    std::vector<replica_id> all;
    all.reserve(retired_.size() + fresh.size());
    std::merge(retired_.begin(), retired_.end(), fresh.begin(), fresh.end(), std::back_inserter(all));
    retired_ = std::move(all);
    signatures_.forget(retired_);  // their entries go from the state: their signatures too
    tree_.state_changed(now_);
    return membership::strip_retired(state_, retired_);
  }
  /// How many entry signatures this replicator holds (signing on): one per
  /// owned entry of its state, none for a retired replica.
  [[nodiscard]] std::size_t signatures_held() const noexcept { return signatures_.size(); }
  /// The retired replica ids, sorted.
  [[nodiscard]] const std::vector<replica_id>& retired() const noexcept { return retired_; }

  /// How many records this replicator has handed to its journal (0 without
  /// one); read it right after a `mutate` to name that write.
  [[nodiscard]] std::uint64_t journal_position() const noexcept { return appended_; }
  /// How many of them are durable: a write is durable once this reaches its
  /// `journal_position()`. Always equal to it without a journal.
  [[nodiscard]] std::uint64_t durable_position() const noexcept { return synced_; }
  /// Asks the next `tick` to sync the journal even if it sends nothing
  /// (someone waits for a write to be durable).
  void request_sync() noexcept {
    if (appended_ != synced_) sync_requested_ = true;
  }
  /// Why the last sync failed; empty when it succeeded.
  [[nodiscard]] const std::string& sync_error() const noexcept { return sync_error_; }
  /// The sequence number the next buffered delta takes (`c`): a local
  /// delta took `sequence() - 1` right after its `mutate`.
  [[nodiscard]] std::uint64_t sequence() const noexcept { return buffer_.end(); }
  /// True for a replicator rebuilt by `restore` (its messages say `resumed`).
  [[nodiscard]] bool resumed() const noexcept { return resumed_; }

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
    add(p, &peer_metrics::messages_in);
    add(p, &peer_metrics::bytes_in, bytes.size());
    try {
      if (bytes.size() > opt_.max_message_bytes) {
        add(p, &peer_metrics::malformed_dropped);
        return;
      }
      if (replication::is_quorum_message(bytes)) {
        receive_quorum(from, p, bytes);
        return;
      }
      const std::optional<replication::envelope> e = replication::read_envelope(bytes, opt_.max_parts);
      if (!e) {
        add(p, &peer_metrics::malformed_dropped);
        return;
      }
      if (e->kind == replication::message_kind::delta) {
        // Decode before anything changes, so a bad payload leaves no trace.
        std::span<const std::byte> payload = e->payload;
        std::optional<replication::signature_block::parsed> signatures;
        if (e->signed_entries) {
          signatures = replication::signature_block::read(payload);
          if (!signatures) {
            add(p, &peer_metrics::malformed_dropped);
            return;
          }
          payload = signatures->rest;
        }
        State d = converge::decode<State>(payload, opt_.limits);
        // Unsigned or forged entries go, and retired replicas' entries; a
        // payload either changed is journaled by what is joined, not by what
        // arrived.
        const bool unsigned_dropped = check_signatures(p, d, signatures ? &*signatures : nullptr) != 0;
        const bool stripped = strip_received(d);
        if (unsigned_dropped || stripped) payload = {};
        p.timing.heard();  // the link carries messages again: retransmit at the base timeout
        observe_session(from, p, e->session, e->resumed);
        apply_received(from, p, std::move(d), e->state_transfer, payload);
        if (!e->multipart) note_holds(p, e->session, e->to);  // a whole interval: all below e->to
        queue_ack(from, *e);
      } else if (e->kind == replication::message_kind::tree) {
        handle_tree(from, p, *e);
      } else if (e->acked_session != opt_.session) {
        // Not an ack of this life: it proves nothing, so it changes nothing,
        // not even the peer's session (which would cost a state transfer).
        add(p, &peer_metrics::stale_dropped);
      } else {
        // An ack echoing this life's session comes from whoever received its
        // messages: it may announce the peer's new life (a restarted peer
        // whose own announcement was overtaken by an old life's message).
        observe_session(from, p, e->session, e->resumed);
        handle_ack(p, *e);
      }
    } catch (...) {
      // A decode_error, out of memory or a type's own validation: malformed.
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
    // Own entries are signed once per tick, at their latest value, before
    // any message that carries them is built.
    if (opt_.signer != nullptr) metrics_.entries_signed += signatures_.sign_pending(*opt_.signer, self_);
    for (const auto& [to, a] : acks_) {
      if (a.whole_to != 0) emit(out, to, ack(a.session, a.whole_to - 1, true), false);
      if (a.delta_to != 0) emit(out, to, ack(a.session, a.delta_to - 1, false), false);
    }
    acks_.clear();
    for (const part_ack& a : part_acks_) {
      replication::envelope e = ack_envelope(a.session, a.to, a.whole);
      e.multipart = true;
      e.part = a.part;
      emit(out, a.peer, replication::write_envelope(e), false);
    }
    part_acks_.clear();
    std::uint64_t next = tree_on() ? check_samples() : std::numeric_limits<std::uint64_t>::max();
    for (const auto& [to, op] : tree_.take_outbox()) emit_tree(out, to, op);

    // Before the intervals: a decrement whose rights came is buffered now,
    // and goes out in this tick's intervals.
    next = std::min(next, run_operations(out));
    const replication::timing_options t = timing();
    for (auto& [id, p] : peers_) {
      if (idle > p.timing.timeout(t)) p.timing.stalled();
      p.timing.sample(now_);
      if (!needs_send(p)) continue;
      if (tree_on() && hold_back_lazy(out, id, p, next)) continue;
      const std::uint64_t due = tree_on() ? eager_due(id, p) : paced_due(p);
      if (due > now_) {
        if (send_due(p) <= now_ && p.pacer.hold()) add(p, &peer_metrics::state_transfers_deferred);
        next = std::min(next, due);
        continue;
      }
      send_to(out, id, p);
      if (needs_send(p))
        next = std::min(next, std::max(tree_on() ? eager_due(id, p) : paced_due(p), now_ + 1));
    }
    if (opt_.journal != nullptr) {
      // Acknowledgements are journaled as they change (synced with the next
      // batch, or within a gossip interval), so a restart resumes from them.
      if (replication::durable_acks acks = current_acks(); acks != written_acks_) {
        journal_append(replication::acks_record(acks));
        written_acks_ = std::move(acks);
      }
      next = std::min(next, settle_journal(out));
    }
    next = std::min(next, resolve_operations());
    out.next_deadline = next;
    return out;
  }

  /// The oldest change not yet taken (see "Events" in the file comment);
  /// nullopt when none. Call after `mutate`/`receive` until it returns nullopt.
  std::optional<applied_delta<State>> poll() { return events_.pop(); }

  /// Turns event reporting on or off (off drops what is queued).
  void report_applied(bool on) {
    opt_.report_applied = on;
    if (!on) events_.clear();
  }

  /// Adds a neighbour; it gets a state transfer (which announces this
  /// replicator's session). False when already a peer or past `max_peers`.
  bool add_peer(peer_id id) {
    if (peers_.contains(id)) return false;
    if (peers_.size() >= opt_.max_peers) {
      ++metrics_.peers_refused;
      return false;
    }
    peer_state& p = peers_[id];
    // Restored: what the peer acknowledged before, and in which of its sessions.
    if (const auto it = restored_acks_.find(id); it != restored_acks_.end()) {
      if (it->second.acked <= buffer_.end()) {
        p.acked = it->second.acked;
        p.session = it->second.session;
      }
      restored_acks_.erase(it);
    }
    tree_.add_peer(id);
    return true;
  }

  /// Removes a neighbour and what is pending for it. False when unknown.
  bool remove_peer(peer_id id) {
    if (peers_.erase(id) == 0) return false;
    tree_.remove_peer(id);
    forget_pending(id);
    read_answers_.erase(id);
    std::erase_if(rights_answers_, [&](const rights_answer_due& r) { return r.to == id; });
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
  /// What the broadcast tree did (all zero with `gossip`).
  [[nodiscard]] replication::tree_metrics tree_metrics() const { return tree_.metrics(); }
  /// The current peers, ascending.
  [[nodiscard]] std::vector<peer_id> peers() const {
    std::vector<peer_id> out;
    for (const auto& [id, p] : peers_) out.push_back(id);
    return out;
  }

  /// One line per peer: its acknowledged sequence number, session and what is
  /// in flight (for diagnostics; the format may change).
  [[nodiscard]] std::string describe() const {
    std::string out =
        "c=" + std::to_string(buffer_.end()) + " lo=" + std::to_string(buffer_.begin()) +
        " buffered=" + std::to_string(buffer_.size()) + " session=" + std::to_string(opt_.session) +
        (resumed_ ? " resumed" : "") +
        (opt_.journal != nullptr ? " journal=" + std::to_string(synced_) + "/" + std::to_string(appended_)
                                 : "") +
        "\n";
    for (const auto& [id, p] : peers_) {
      out += "  peer " + std::to_string(id) + ": acked=" + (p.acked ? std::to_string(*p.acked) : "?") +
             " session=" + (p.session ? std::to_string(*p.session) : "?") +
             " last_to=" + std::to_string(p.last_to) + " last_send=" + std::to_string(p.last_send) +
             " srtt=" + std::to_string(p.timing.srtt()) +
             " timeout=" + std::to_string(p.timing.timeout(timing())) +
             (p.multi ? " parts_missing=" + std::to_string(p.multi->missing) : "") + "\n";
    }
    return out;
  }

  /// True when every peer acknowledged everything (nothing to send or
  /// resend) and the journal, if any, is synced.
  [[nodiscard]] bool quiescent() const noexcept {
    return appended_ == synced_ &&
           std::all_of(peers_.begin(), peers_.end(), [&](const auto& kv) { return !needs_send(kv.second); });
  }

  // --- quorum operations (see "Consistency levels") --------------------------

  /// Sets the other members counted for quorums (usually membership's up
  /// members less this one); this replica always counts once. Until it is
  /// called, the members are this replica and its peers. A member that is
  /// no peer counts but can never answer.
  void set_members(std::vector<peer_id> others) {
    std::sort(others.begin(), others.end());
    others.erase(std::unique(others.begin(), others.end()), others.end());
    members_ = std::move(others);
  }
  /// Says which replica peer `id` speaks for (membership knows it, from an
  /// authenticated link): a `rights_ask` from that peer is then answered
  /// only for that replica, so an insider cannot have rights moved to a
  /// replica that is not its own (where no one could ever spend them).
  /// Without a binding, the replica an asker names is believed.
  void bind_replica(peer_id id, replica_id r) { bound_replicas_[id] = r; }
  /// How many members quorums count now, this replica included.
  [[nodiscard]] std::size_t member_count() const { return 1 + other_members().size(); }

  /// Applies a local mutator (as `mutate`) and returns a token whose outcome
  /// `tick` reports once `level.required(member_count())` members, this one
  /// included once its journal made the write durable, acknowledged the
  /// delta interval that holds it; or `timed_out` after `timeout` (virtual
  /// time from the next `tick`, as for every operation). A timed-out write is not rolled back: it
  /// stays applied here and still converges everywhere by anti-entropy.
  template <class F>
  requires std::invocable<F&, State&> && std::same_as<std::invoke_result_t<F&, State&>, State> operation_token
  write(F&& fn, consistency level, std::uint64_t timeout) {
    mutate(std::forward<F>(fn));
    return start_write(next_token(), level, timeout, false, other_members());
  }

  /// Starts a read: done once this replica joined the states of
  /// `level.required(member_count())` members, itself included; then
  /// `state()` holds every write those members held when they answered.
  /// `timed_out` after `timeout`. A member whose state does not fit in
  /// `max_message_bytes` cannot answer (counted in `metrics().unsendable`).
  operation_token read(consistency level, std::uint64_t timeout) {
    read_op op;
    op.token = next_token();
    op.request = ++requests_;
    op.deadline = timeout;
    op.members = other_members();
    op.required = level.required(1 + op.members.size());
    reads_.push_back(std::move(op));
    return reads_.back().token;
  }

  /// Names the `bounded_counter` field of `State` that `decrement` spends
  /// and peers ask rights of (rights are given only when it is set).
  void set_rights_counter(bounded_counter State::*field) { rights_field_ = field; }

  /// Decrements the rights counter by `n` (`set_rights_counter` first).
  /// When this replica's rights are short, it asks the members that hold
  /// the most (a `rights_ask`); they transfer from their own rights only,
  /// so the counter never goes below zero. Once the rights suffice, the
  /// decrement is written at `level` (as `write`); `no_rights` when they
  /// have not come by the timeout (nothing was decremented then).
  operation_token decrement(std::uint64_t n, consistency level, std::uint64_t timeout) {
    if (rights_field_ == nullptr) throw std::logic_error("replicator::decrement: set_rights_counter first");
    rights_op op;
    op.token = next_token();
    op.n = n;
    op.level = level;
    op.deadline = timeout;
    op.members = other_members();
    const operation_token token = op.token;
    rights_ops_.push_back(std::move(op));
    settle_rights();
    return token;
  }

  /// The rights this replica holds in the rights counter (0 when none is set).
  [[nodiscard]] std::uint64_t own_rights() const {
    return rights_field_ == nullptr ? 0 : (state_.*rights_field_).rights(self_);
  }

  /// The oldest operation outcome not yet taken; nullopt when none.
  std::optional<operation_outcome> poll_outcome() {
    if (outcomes_.empty()) return std::nullopt;
    operation_outcome o = outcomes_.front();
    outcomes_.erase(outcomes_.begin());
    return o;
  }
  /// How many operations wait for their outcome.
  [[nodiscard]] std::size_t pending_operations() const noexcept {
    return writes_.size() + reads_.size() + rights_ops_.size();
  }

 private:
  struct restoring {};
  replicator(replica_id self, replicator_options options, State initial, restoring)
      : self_(self),
        opt_(normalized(options)),
        state_(std::move(initial)),
        buffer_(opt_.max_buffer_bytes),
        events_(opt_.max_events),
        tree_(opt_.tree) {
    note_own_entries(state_);
  }

  /// Decodes a state or delta read from a journal. The journal is this
  /// replica's own, so the element bounds scale with the record (a snapshot
  /// of millions of elements is legitimate); depth stays bounded.
  static State decode_journaled(std::span<const std::byte> bytes, std::size_t record, decode_limits limits) {
    limits.max_elements = std::max(limits.max_elements, bytes.size());
    limits.max_string_bytes = std::max(limits.max_string_bytes, bytes.size());
    try {
      return converge::decode<State>(bytes, limits);
    } catch (const std::exception& e) {
      throw replication::journal_error(e.what(), record);
    }
  }

  /// A multi-part interval in flight.
  struct flight {
    std::uint64_t to = 0;
    std::vector<std::vector<std::byte>> parts;  // encoded messages
    std::vector<bool> acked;
    std::size_t missing = 0;
    bool whole = false;  // a state transfer
  };

  struct peer_state {
    std::optional<std::uint64_t> acked;    // A(j); nullopt: needs a state transfer
    std::optional<std::uint64_t> session;  // the peer's session, once heard
    bool ever_sent = false;
    std::uint64_t last_send = 0;
    std::uint64_t last_to = 0;    // the end of the last interval sent
    bool sent_whole = false;      // the last interval sent was a state transfer
    bool extended = false;        // the last send extended a flight for a waiting write
    std::optional<flight> multi;  // a multi-part interval in flight
    replication::peer_timing timing;
    replication::heard_filter<State> heard;  // BP
    replication::transfer_pacer pacer;       // spaces state transfers (kept across sessions)
    peer_metrics m;
    // Quorum operations: whose rights the peer holds, and what it asked last.
    std::optional<replica_id> replica;
    std::optional<std::uint64_t> last_read_answer;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> last_rights_ask;  // session, request
    // Reads: (the peer's session, c) when this replica holds every delta
    // that session numbered below c (a whole interval or a read answer joined).
    std::optional<std::pair<std::uint64_t, std::uint64_t>> holds;
  };

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

  // --- quorum operations (see "Consistency levels") --------------------------

  struct write_op {
    operation_token token = 0;
    std::uint64_t target = 0;      // the peers must acknowledge up to here (`c` after the write)
    std::uint64_t journal_at = 0;  // this replica counts once durable_position() reaches it
    std::uint64_t deadline = 0;    // the timeout until armed
    bool armed = false;
    std::size_t required = 1;
    std::vector<peer_id> members;  // the other members when it started
  };
  struct read_op {
    operation_token token = 0;
    std::uint64_t request = 0;
    std::uint64_t deadline = 0;  // the timeout until armed
    bool armed = false;
    std::size_t required = 1;
    std::vector<peer_id> members;
    std::vector<peer_id> answered;
    std::optional<std::uint64_t> last_ask;
  };
  struct rights_op {
    operation_token token = 0;
    std::uint64_t n = 0;
    consistency level = consistency::local();
    std::uint64_t deadline = 0;  // the timeout until armed
    bool armed = false;
    std::vector<peer_id> members;
    std::optional<std::uint64_t> last_ask;
  };
  struct read_answer_due {
    std::uint64_t session = 0;
    std::uint64_t request = 0;
    std::optional<std::uint64_t> point;  // the reader holds this replica's deltas below it
  };
  struct rights_answer_due {
    peer_id to = 0;
    std::uint64_t session = 0;
    std::uint64_t request = 0;
    std::uint64_t amount = 0;
    State delta;
  };

  [[nodiscard]] operation_token next_token() noexcept { return ++token_; }

  [[nodiscard]] std::vector<peer_id> other_members() const { return members_ ? *members_ : peers(); }

  /// Asks go again this long after the last when unanswered: the base
  /// retransmission timeout, which never fires before an honest answer.
  [[nodiscard]] std::uint64_t ask_interval() const noexcept {
    return std::max<std::uint64_t>(opt_.min_timeout_intervals, 1) * opt_.gossip_interval;
  }

  operation_token start_write(operation_token token, consistency level, std::uint64_t deadline, bool armed,
                              std::vector<peer_id> members) {
    write_op op;
    op.token = token;
    op.armed = armed;
    op.target = buffer_.end();
    op.journal_at = appended_;
    op.deadline = deadline;
    op.required = level.required(1 + members.size());
    op.members = std::move(members);
    request_sync();  // this replica counts only once the write is durable
    writes_.push_back(std::move(op));
    return token;
  }

  /// How many members hold write `w` durably, this replica included.
  [[nodiscard]] std::size_t write_acks(const write_op& w) const {
    std::size_t n = synced_ >= w.journal_at ? 1 : 0;
    for (const peer_id m : w.members) {
      const auto it = peers_.find(m);
      if (it != peers_.end() && it->second.acked && *it->second.acked >= w.target) ++n;
    }
    return n;
  }

  /// Runs the decrements whose rights are here, in the order they came; the
  /// rest wait. A run decrement becomes a write at its level.
  void settle_rights() {
    // Only a struct has a bounded_counter field to point at; for other
    // states (a gcounter) GCC would see the member pointer write out of
    // bounds (-Warray-bounds) in code that can never run.
    if constexpr (detail::hana_struct<State>) {
      for (auto it = rights_ops_.begin(); it != rights_ops_.end();) {
        if ((state_.*rights_field_).rights(self_) < it->n) {
          ++it;
          continue;
        }
        const std::uint64_t n = it->n;
        mutate([&](State& s) {
          State d{};
          if (auto r = (s.*rights_field_).decrement(self_, n)) d.*rights_field_ = std::move(*r);
          return d;
        });
        start_write(it->token, it->level, it->deadline, it->armed, std::move(it->members));
        it = rights_ops_.erase(it);
      }
    }
  }

  /// The rights this replica keeps for its own waiting decrements.
  [[nodiscard]] std::uint64_t reserved_rights() const noexcept {
    std::uint64_t n = 0;
    for (const rights_op& r : rights_ops_) n += r.n;
    return n;
  }

  /// Whom to ask for `short_by` rights: the members known to hold the most,
  /// until their rights cover it, then every member whose replica is not
  /// known yet (its answer teaches it).
  [[nodiscard]] std::vector<std::pair<peer_id, std::uint64_t>> rights_holders(const rights_op& op,
                                                                              std::uint64_t short_by) const {
    std::vector<std::pair<std::uint64_t, peer_id>> known;
    std::vector<peer_id> unknown;
    for (const peer_id m : op.members) {
      const auto it = peers_.find(m);
      if (it == peers_.end()) continue;
      if (!it->second.replica) {
        unknown.push_back(m);
      } else if (const std::uint64_t r = (state_.*rights_field_).rights(*it->second.replica); r != 0) {
        known.emplace_back(r, m);
      }
    }
    std::sort(known.begin(), known.end(), std::greater<>{});
    std::vector<std::pair<peer_id, std::uint64_t>> out;
    std::uint64_t covered = 0;
    for (const auto& [rights, m] : known) {
      if (covered >= short_by) break;
      const std::uint64_t ask = std::min(rights, short_by - covered);
      out.emplace_back(m, ask);
      covered += ask;
    }
    if (covered < short_by) {
      for (const peer_id m : unknown) out.emplace_back(m, short_by - covered);
    }
    return out;
  }

  [[nodiscard]] replication::quorum_message quorum_header(replication::quorum_kind kind) const {
    return {.kind = kind, .session = opt_.session, .replica = self_.value()};
  }

  /// Sends the quorum messages due and resolves the operations whose
  /// outcome is known (after the journal settled: a durable write counts
  /// this replica). Returns the next time an operation needs a tick.
  std::uint64_t run_operations(tick_result& out) {
    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    // Timeouts count from the first tick that sees the operation, so a
    // caller that ticked long ago does not lose part of its timeout.
    const auto arm = [&](auto& ops) {
      for (auto& op : ops) {
        if (op.armed) continue;
        op.deadline = now_ + std::min(op.deadline, std::numeric_limits<std::uint64_t>::max() - now_);
        op.armed = true;
      }
    };
    arm(writes_);
    arm(reads_);
    arm(rights_ops_);
    // Answers first: a read gets this replica's state, rights their transfer.
    for (auto it = read_answers_.begin(); it != read_answers_.end();) {
      const auto p = peers_.find(it->first);
      if (p == peers_.end()) {
        it = read_answers_.erase(it);
        continue;
      }
      // At most one answer with a payload per peer per gossip interval,
      // however often it asks. "Nothing newer" goes at once: it is no larger
      // than a few requests, and it is what an up-to-date reader gets, so
      // its read costs one round trip, not a wait for the next interval.
      if (!nothing_newer(p->second, it->second) && p->second.last_read_answer &&
          *p->second.last_read_answer + opt_.gossip_interval > now_) {
        next = std::min(next, *p->second.last_read_answer + opt_.gossip_interval);
        ++it;
        continue;
      }
      if (!answer_read(out, it->first, p->second, it->second, next)) {
        ++it;  // a state answer held back by the pacer
        continue;
      }
      it = read_answers_.erase(it);
    }
    for (rights_answer_due& a : rights_answers_) {
      if (!peers_.contains(a.to)) continue;
      replication::quorum_message m = quorum_header(replication::quorum_kind::rights_answer);
      m.echo = a.session;
      m.request = a.request;
      m.amount = a.amount;
      std::vector<std::byte> payload;
      if (a.amount != 0) {
        m.signed_entries = signs_payloads();
        payload = encode_payload(a.delta);
        m.payload = payload;
      }
      emit_quorum(out, a.to, m);
    }
    rights_answers_.clear();

    const auto due_again = [&](std::optional<std::uint64_t>& last) {
      if (last && *last + ask_interval() > now_) {
        next = std::min(next, *last + ask_interval());
        return false;
      }
      last = now_;
      next = std::min(next, now_ + ask_interval());
      return true;
    };
    for (read_op& r : reads_) {
      if (!due_again(r.last_ask)) continue;
      for (const peer_id m : r.members) {
        if (!peers_.contains(m) || std::find(r.answered.begin(), r.answered.end(), m) != r.answered.end())
          continue;
        replication::quorum_message q = quorum_header(replication::quorum_kind::read_request);
        q.request = r.request;
        if (const auto& h = peers_.at(m).holds) {
          q.echo = h->first;
          q.amount = h->second;
        }
        emit_quorum(out, m, q);
      }
    }
    settle_rights();
    for (rights_op& r : rights_ops_) {
      const std::uint64_t have = (state_.*rights_field_).rights(self_);
      if (!due_again(r.last_ask)) continue;
      const std::uint64_t request = ++requests_;
      for (const auto& [m, amount] : rights_holders(r, r.n - std::min(have, r.n))) {
        replication::quorum_message q = quorum_header(replication::quorum_kind::rights_ask);
        q.request = request;
        q.amount = amount;
        emit_quorum(out, m, q);
        ++metrics_.rights_asked;
      }
    }
    return next;
  }

  /// Queues the outcome of every operation that is done or past its deadline.
  std::uint64_t resolve_operations() {
    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    // Done once `got` reaches what `op` requires, timed out past its
    // deadline; else it waits, and its deadline may be the next one.
    const auto settled = [&](const auto& op, std::size_t got) {
      if (got >= op.required) {
        outcomes_.push_back({op.token, operation_status::done, got, op.required});
      } else if (now_ >= op.deadline) {
        outcomes_.push_back({op.token, operation_status::timed_out, got, op.required});
      } else {
        next = std::min(next, op.deadline);
        return false;
      }
      return true;
    };
    std::erase_if(writes_, [&](const write_op& w) { return settled(w, write_acks(w)); });
    std::erase_if(reads_, [&](const read_op& r) { return settled(r, 1 + r.answered.size()); });
    std::erase_if(rights_ops_, [&](const rights_op& r) {
      if (now_ < r.deadline) {
        next = std::min(next, r.deadline);
        return false;
      }
      outcomes_.push_back({r.token, operation_status::no_rights,
                           static_cast<std::size_t>((state_.*rights_field_).rights(self_)),
                           static_cast<std::size_t>(r.n)});
      return true;
    });
    return next;
  }

  /// Answers a read from `id` with what it lacks (see "Consistency levels");
  /// false when the answer must be the whole state and the pacer holds it
  /// back (`next` then says when it may go).
  bool answer_read(tick_result& out, peer_id id, peer_state& p, const read_answer_due& due,
                   std::uint64_t& next) {
    if (!p.session || *p.session != due.session) return true;  // a new life since: it asks again
    const std::optional<std::uint64_t> base = read_base(p, due);
    const bool whole = !base || *base < buffer_.begin();
    if (whole && p.pacer.earliest(state_transfer_interval()) > now_) {
      next = std::min(next, p.pacer.earliest(state_transfer_interval()));
      return false;
    }
    if (!holds_everything(base)) p.last_read_answer = now_;  // "nothing newer" is not paced
    replication::quorum_message m = quorum_header(replication::quorum_kind::read_done);
    m.echo = due.session;
    m.request = due.request;
    m.amount = buffer_.end();
    std::vector<std::byte> payload;
    if (whole) {
      p.pacer.sent(now_);
      payload = encode_payload(state_);
      ++metrics_.read_answers_whole;
    } else if (State d = interval_from(id, p, *base); !converge::is_bottom(d)) {
      payload = encode_payload(d);
      m.delta = true;
      ++metrics_.read_answers_delta;
    } else {
      ++metrics_.read_answers_empty;
    }
    if (!payload.empty()) m.signed_entries = signs_payloads();
    m.payload = payload;
    emit_quorum(out, id, m);
    return true;
  }

  /// Where the answer to `due` starts: the reader's point, or its
  /// acknowledgement when that is later; nullopt when neither is known.
  [[nodiscard]] static std::optional<std::uint64_t> read_base(const peer_state& p,
                                                              const read_answer_due& due) {
    std::optional<std::uint64_t> base = due.point;
    if (p.acked && (!base || *base < *p.acked)) base = p.acked;  // proven by its ack
    return base;
  }

  /// True when `due` is answered "nothing newer" (the reader holds every
  /// numbered delta), or not at all (a new life of the reader since).
  [[nodiscard]] bool nothing_newer(const peer_state& p, const read_answer_due& due) const noexcept {
    return !p.session || *p.session != due.session || holds_everything(read_base(p, due));
  }

  /// True when a reader whose answer starts at `base` holds every numbered delta.
  [[nodiscard]] bool holds_everything(std::optional<std::uint64_t> base) const noexcept {
    return base && *base >= buffer_.end();
  }

  /// Records that this replica holds every delta `session` numbered below `end`.
  static void note_holds(peer_state& p, std::uint64_t session, std::uint64_t end) {
    if (!p.holds || p.holds->first != session) {
      p.holds = std::pair{session, end};
    } else {
      p.holds->second = std::max(p.holds->second, end);
    }
  }

  void emit_quorum(tick_result& out, peer_id to, const replication::quorum_message& m) {
    std::vector<std::byte> bytes = replication::write_quorum_message(m);
    if (bytes.size() > opt_.max_message_bytes) {
      ++metrics_.unsendable;
      return;
    }
    emit(out, to, std::move(bytes), !m.payload.empty());
  }

  /// A quorum message from peer `from` (see quorum_message.hpp). Throws on
  /// a payload that does not decode; `receive` counts it malformed.
  void receive_quorum(peer_id from, peer_state& p, std::span<const std::byte> bytes) {
    const std::optional<replication::quorum_message> m = replication::read_quorum_message(bytes);
    if (!m) {
      add(p, &peer_metrics::malformed_dropped);
      return;
    }
    using replication::quorum_kind;
    if (m->kind == quorum_kind::read_done || m->kind == quorum_kind::rights_answer) {
      if (m->echo != opt_.session) {
        add(p, &peer_metrics::stale_dropped);
        return;
      }
      std::span<const std::byte> payload = m->payload;
      std::optional<State> d;
      if (!payload.empty()) d = decode_received(p, payload, m->signed_entries);  // before anything changes
      p.replica = replica_id{m->replica};
      if (m->kind == quorum_kind::read_done) {
        const auto r = std::find_if(reads_.begin(), reads_.end(),
                                    [&](const read_op& o) { return o.request == m->request; });
        // A delta is journaled as it arrived; a state, by its novel part.
        if (d)
          apply_received(from, p, std::move(*d), !m->delta, m->delta ? payload : std::span<const std::byte>{},
                         false);
        note_holds(p, m->session, m->amount);
        if (r != reads_.end() && std::binary_search(r->members.begin(), r->members.end(), from) &&
            std::find(r->answered.begin(), r->answered.end(), from) == r->answered.end())
          r->answered.push_back(from);
      } else if (d) {
        ++metrics_.rights_received;
        apply_received(from, p, std::move(*d), false, payload);
      }
      return;
    }
    if (m->kind == quorum_kind::read_request) {
      // Only a member of a heard session, for a point this replica numbered:
      // anyone else could only draw states (amplification) or lie.
      const bool member = !members_ || std::binary_search(members_->begin(), members_->end(), from);
      const bool claims = m->echo == opt_.session;
      if (!member || !p.session || *p.session != m->session || (claims && m->amount > buffer_.end())) {
        ++metrics_.reads_refused;
        return;
      }
      p.replica = replica_id{m->replica};
      read_answers_[from] = {m->session, m->request,
                             claims ? std::optional<std::uint64_t>{m->amount} : std::nullopt};
      return;
    }
    p.replica = replica_id{m->replica};
    // rights_ask: once per request (a duplicate or a retry of the same
    // request gives nothing more), from this replica's own rights only,
    // less what its own waiting decrements need.
    if (p.last_rights_ask && p.last_rights_ask->first == m->session &&
        p.last_rights_ask->second >= m->request)
      return;
    p.last_rights_ask = std::pair{m->session, m->request};
    if (rights_field_ == nullptr || m->replica == self_.value()) return;
    // Only a member asks, and only for its own replica.
    const bool member = !members_ || std::binary_search(members_->begin(), members_->end(), from);
    const auto bound = bound_replicas_.find(from);
    if (!member || (bound != bound_replicas_.end() && bound->second.value() != m->replica)) {
      ++metrics_.rights_refused;
      return;
    }
    const std::uint64_t have = (state_.*rights_field_).rights(self_);
    const std::uint64_t spare = have - std::min(have, reserved_rights());
    const std::uint64_t give = std::min(spare, m->amount);
    rights_answer_due a{from, m->session, m->request, give, State{}};
    if (give != 0) {
      a.delta = mutate([&](State& s) {
        State d{};
        if (auto t = (s.*rights_field_).transfer(self_, replica_id{m->replica}, give))
          d.*rights_field_ = std::move(*t);
        return d;
      });
      metrics_.rights_given += give;
    }
    if (rights_answers_.size() < opt_.max_peers) rights_answers_.push_back(std::move(a));
  }

  /// Decodes a received payload with its signatures, less unsigned entries
  /// and retired replicas; clears `payload` (the bytes to journal) when it
  /// had to change what arrived.
  State decode_received(peer_state& p, std::span<const std::byte>& payload, bool signed_entries) {
    std::optional<replication::signature_block::parsed> signatures;
    if (signed_entries) {
      signatures = replication::signature_block::read(payload);
      if (!signatures) throw std::invalid_argument("quorum message: bad signature block");
      payload = signatures->rest;
    }
    State d = converge::decode<State>(payload, opt_.limits);
    const bool unsigned_dropped = check_signatures(p, d, signatures ? &*signatures : nullptr) != 0;
    const bool stripped = strip_received(d);
    if (unsigned_dropped || stripped) payload = {};
    return d;
  }

  /// True while a write waits for acknowledgements: intervals then go out at
  /// the next tick instead of a gossip interval after the last.
  [[nodiscard]] bool quorum_waiting() const noexcept { return !writes_.empty(); }

  static replicator_options normalized(replicator_options o) noexcept {
    if (o.gossip_interval == 0) o.gossip_interval = 1;
    if (o.max_parts == 0) o.max_parts = 1;
    if (o.compaction_divisor == 0) o.compaction_divisor = 1;
    return o;
  }

  [[nodiscard]] replication::timing_options timing() const noexcept {
    return {opt_.gossip_interval, opt_.min_timeout_intervals};
  }

  // --- origin signing (origin_signing.hpp) ----------------------------------

  static constexpr bool signs_entries = replication::has_owned_entries<State>();

  /// Queues this replica's entries in `x` for signing at the next tick.
  void note_own_entries(const State& x) {
    if constexpr (signs_entries) {
      if (opt_.signer == nullptr) return;
      replication::for_each_owned_entry(x, [&](const replication::owned_entry& e) {
        if (e.owner == self_) signatures_.changed(e.key, e.value);
      });
    }
  }

  /// Drops from `d` every owned entry that neither a signature this
  /// replicator holds nor a valid one in `block` covers; keeps the valid new
  /// signatures. Returns how many entries were dropped.
  std::size_t check_signatures(peer_state& p, State& d, const replication::signature_block::parsed* block) {
    if constexpr (signs_entries) {
      if (opt_.signer == nullptr) return 0;
      const std::size_t dropped =
          replication::retain_owned_entries(d, [&](const replication::owned_entry& e) {
            const replication::signed_value* held = signatures_.find(e.key);
            if (held != nullptr && held->value >= e.value) return true;
            if (block == nullptr) return false;
            const auto it = block->by_key.find(e.key);
            if (it == block->by_key.end() || it->second.value < e.value) return false;
            add(p, &peer_metrics::signatures_verified);
            if (!opt_.signer->verify(e.owner, replication::signed_bytes(e.key, it->second.value),
                                     it->second.signature))
              return false;
            signatures_.offer(e.key, e.owner, it->second);
            return true;
          });
      add(p, &peer_metrics::entries_rejected, dropped);
      return dropped;
    } else {
      (void)p;
      (void)d;
      (void)block;
      return 0;
    }
  }

  /// A message's payload: the signatures of its owned entries (signing on),
  /// then the encoded state.
  [[nodiscard]] std::vector<std::byte> encode_payload(const State& x) const {
    if constexpr (signs_entries) {
      if (opt_.signer != nullptr) {
        replication::signature_block block;
        replication::for_each_owned_entry(x, [&](const replication::owned_entry& e) {
          if (const replication::signed_value* s = signatures_.find(e.key)) block.add(e.key, *s);
        });
        std::vector<std::byte> out = block.finish();
        const std::vector<std::byte> state = converge::encode(x);
        out.insert(out.end(), state.begin(), state.end());
        return out;
      }
    }
    return converge::encode(x);
  }
  [[nodiscard]] bool signs_payloads() const noexcept { return signs_entries && opt_.signer != nullptr; }

  void add(peer_state& p, std::uint64_t peer_metrics::*field, std::uint64_t n = 1) noexcept {
    p.m.*field += n;
    metrics_.total.*field += n;
  }

  [[nodiscard]] replication::envelope ack_envelope(std::uint64_t acked_session, std::uint64_t to,
                                                   bool whole) const {
    return {.kind = replication::message_kind::ack,
            .state_transfer = whole,
            .resumed = resumed_,
            .session = opt_.session,
            .acked_session = acked_session,
            .to = to};
  }
  [[nodiscard]] std::vector<std::byte> ack(std::uint64_t acked_session, std::uint64_t to, bool whole) const {
    return replication::write_envelope(ack_envelope(acked_session, to, whole));
  }

  [[nodiscard]] bool needs_send(const peer_state& p) const noexcept {
    return !p.acked || *p.acked < buffer_.end() || p.multi.has_value();
  }

  /// True while an interval sent to `p` waits for its acknowledgement.
  [[nodiscard]] static bool awaiting_ack(const peer_state& p) noexcept {
    return p.multi.has_value() || (p.ever_sent && (!p.acked || *p.acked < p.last_to));
  }

  /// True when a waiting write's delta is newer than the interval in flight
  /// to `p`: the flight is then sent again at once, extended to `c`, instead
  /// of after its ack, which saves a waiting write a round trip and a sync.
  /// The resend starts at the peer's ack, like a retransmission, so it is
  /// safe whatever is lost or reordered. Once per flight: a peer that does
  /// not answer costs one extra interval per timeout, however many writes
  /// wait. Not for state transfers or multi-part flights, which are large.
  [[nodiscard]] bool extends_for_write(const peer_state& p) const noexcept {
    if (p.extended || p.multi || p.sent_whole || !p.acked || *p.acked < buffer_.begin()) return false;
    return std::any_of(writes_.begin(), writes_.end(),
                       [&](const write_op& w) { return w.target > p.last_to; });
  }

  /// When `p` may be sent to next: at once the first time, after the
  /// timeout while an interval is in flight, else a gossip interval after
  /// the last send.
  [[nodiscard]] std::uint64_t send_due(const peer_state& p) const noexcept {
    if (!p.ever_sent) return 0;
    if (awaiting_ack(p)) return extends_for_write(p) ? p.last_send : p.last_send + p.timing.timeout(timing());
    // A waiting write needs its interval now, not at the next gossip round.
    return quorum_waiting() ? p.last_send : p.last_send + opt_.gossip_interval;
  }

  /// True when the next send to `p` is (part of) a state transfer.
  [[nodiscard]] bool next_is_whole(const peer_state& p) const noexcept {
    return p.multi ? p.multi->whole : !p.acked || *p.acked < buffer_.begin();
  }

  [[nodiscard]] std::uint64_t state_transfer_interval() const noexcept {
    if (opt_.min_state_transfer_interval != 0) return opt_.min_state_transfer_interval;
    return std::max<std::uint64_t>(opt_.min_timeout_intervals, 1) * opt_.gossip_interval;
  }

  /// `send_due`, held back by the pacer when the send is a state transfer.
  [[nodiscard]] std::uint64_t paced_due(const peer_state& p) const noexcept {
    const std::uint64_t due = send_due(p);
    return next_is_whole(p) ? std::max(due, p.pacer.earliest(state_transfer_interval())) : due;
  }

  void emit(tick_result& out, peer_id to, std::vector<std::byte> bytes, bool delta) {
    peer_state& p = peers_.at(to);
    add(p, &peer_metrics::messages_out);
    add(p, &peer_metrics::bytes_out, bytes.size());
    add(p, delta ? &peer_metrics::delta_messages_out : &peer_metrics::acks_out);
    out.messages.push_back({to, std::move(bytes)});
  }

  /// Queues an event when reporting is on (a copy only then; an rvalue is moved).
  template <class D>
  void report(D&& delta, std::optional<peer_id> from) {
    if (!opt_.report_applied) return;
    if (events_.push(std::forward<D>(delta), from)) ++metrics_.events_folded;
  }

  /// True when `id` is the only peer and has acknowledged (or is known to
  /// hold) every buffered entry: a delta it sent is needed by no one.
  [[nodiscard]] bool sole_holder(peer_id id, const peer_state& p) const noexcept {
    return peers_.size() == 1 && peers_.begin()->first == id && p.acked && *p.acked == buffer_.end() &&
           !p.multi;
  }

  /// Drops what is queued for `id`, and what the buffer believed it holds.
  void forget_pending(peer_id id) {
    acks_.erase(id);
    samples_.erase(id);
    std::erase_if(part_acks_, [&](const part_ack& a) { return a.peer == id; });
    buffer_.forget_peer(id);
  }

  /// Records a peer's session. A different session is a new life of the
  /// peer (or a message of an old life, delayed): either way what it
  /// acknowledged may be lost, so it gets a state transfer. Sessions are
  /// nonces with no order, so an old life's late message costs one extra
  /// state transfer and is otherwise harmless; a life is never blacklisted
  /// (that would wedge a link when an old message arrives first).
  ///
  /// A `resumed` session is a new life that kept all it acknowledged (its
  /// journal was durable): `A(j)` stays, and only the flight in progress and
  /// what was queued for the old life are dropped.
  void observe_session(peer_id id, peer_state& p, std::uint64_t session, bool resumed) {
    if (!p.session) p.session = session;
    if (*p.session == session) return;
    p.session = session;
    if (resumed && p.acked) {
      p.multi.reset();
      p.timing.restart();
      p.ever_sent = false;  // resend what it lacks at once
      acks_.erase(id);
      std::erase_if(part_acks_, [&](const part_ack& a) { return a.peer == id; });
      add(p, &peer_metrics::session_resumes);
      return;
    }
    p.acked.reset();
    p.multi.reset();
    p.timing.restart();
    p.ever_sent = false;
    p.heard.reset(buffer_.end());  // a new life may have lost what the old one sent
    forget_pending(id);
    add(p, &peer_metrics::session_resets);
    collect();
  }

  // --- broadcast tree (broadcast_tree.hpp) ----------------------------------

  [[nodiscard]] bool tree_on() const noexcept { return opt_.broadcast == replication::broadcast_mode::tree; }

  [[nodiscard]] std::uint64_t state_fingerprint() {
    return tree_.state_fingerprint(now_, opt_.gossip_interval,
                                   [&] { return replication::fingerprint(converge::encode(state_)); });
  }

  /// A tree message: only from the peer's known session (it proves nothing
  /// else, so it announces nothing). A digest matching this state is
  /// acknowledged like the interval it stands for: this replica holds all of it.
  void handle_tree(peer_id from, peer_state& p, const replication::envelope& e) {
    const std::optional<replication::tree_control> c = replication::read_tree_control(e.payload);
    if (!c) {
      add(p, &peer_metrics::malformed_dropped);
      return;
    }
    if (!p.session || *p.session != e.session) {
      add(p, &peer_metrics::stale_dropped);
      return;
    }
    if (c->op != replication::tree_op::ihave) {
      tree_.control(from, c->op, now_);
    } else if (c->fingerprint != replication::broadcast_tree::changing &&
               c->fingerprint == state_fingerprint()) {
      tree_.count_digest_ack();
      queue_ack(from, e);
    } else {
      tree_.digest_differs(from, now_, opt_.gossip_interval);
      if (!c->sample.empty()) await_sample(from, p, c->sample);
    }
  }

  /// A lazy peer's digest sample: when this replica lacks it, the link is
  /// grafted unless the sample arrives within the tree's lazy delay. One
  /// sample awaited per peer; a sample is only compared, never joined, so
  /// a forged one can at worst make this link eager.
  void await_sample(peer_id from, peer_state& p, std::span<const std::byte> bytes) {
    State s;
    try {
      s = converge::decode<State>(bytes, opt_.limits);
    } catch (...) {
      add(p, &peer_metrics::malformed_dropped);
      return;
    }
    if (tree_.eager(from) || samples_.contains(from) || converge::leq(s, state_)) return;
    samples_.emplace(from, awaited_sample{std::move(s), tree_.sample_due(now_, opt_.gossip_interval)});
  }

  /// Grafts the lazy links whose sample is still missing at its due time;
  /// returns when to look again.
  std::uint64_t check_samples() {
    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    for (auto it = samples_.begin(); it != samples_.end();) {
      if (it->second.due > now_) {
        next = std::min(next, it->second.due);
        ++it;
        continue;
      }
      if (!converge::leq(it->second.sample, state_)) tree_.sample_missing(it->first, now_);
      it = samples_.erase(it);
    }
    return next;
  }

  /// The digest's sample for `to`: a piece, at most `max_sample_bytes`
  /// encoded, of the newest of the last few buffered changes that `to` is
  /// not known to hold; empty when there is none (or it is too large to cut).
  [[nodiscard]] std::vector<std::byte> digest_sample(peer_id to) const {
    constexpr std::uint64_t look_back = 8;
    constexpr std::size_t max_cut_bytes = std::size_t{64} << 10;  // bounds the work per digest
    const std::uint64_t lo = buffer_.end() - std::min(buffer_.end() - buffer_.begin(), look_back);
    for (std::uint64_t seq = buffer_.end(); seq-- > lo;) {
      const auto& e = buffer_.at(seq);
      if (e.known_by(to)) continue;
      if (e.bytes > max_cut_bytes) return {};
      const std::size_t size = converge::encoded_size(e.delta);
      if (size <= replication::max_sample_bytes) return converge::encode(e.delta);
      const std::vector<State> parts =
          replication::split_payload(e.delta, size / (replication::max_sample_bytes / 2) + 2);
      if (parts.size() <= 1) return {};
      std::vector<std::byte> bytes = converge::encode(parts.front());
      if (bytes.size() > replication::max_sample_bytes) return {};
      return bytes;
    }
    return {};
  }

  /// Tree mode: an eager link forwards what arrived as soon as its last
  /// interval is acknowledged (Plumtree's eager push), not a gossip interval
  /// later, so a delta crosses the tree in a few round trips per hop.
  [[nodiscard]] std::uint64_t eager_due(peer_id id, const peer_state& p) const {
    const std::uint64_t due = paced_due(p);
    if (!tree_.eager(id) || !p.ever_sent || awaiting_ack(p) || next_is_whole(p)) return due;
    return std::min(due, p.last_send + 1);
  }

  /// Tree mode, a peer behind: a lazy link gets a digest instead of its
  /// interval, until the safety timeout. True when held back.
  bool hold_back_lazy(tick_result& out, peer_id id, const peer_state& p, std::uint64_t& next) {
    if (!p.acked || p.multi || *p.acked < buffer_.begin()) return false;  // state transfers go as always
    std::uint64_t wake = 0;
    if (!tree_.hold_back(id, *p.acked, now_, opt_.gossip_interval, wake)) return false;
    if (tree_.digest_due(id, now_, opt_.gossip_interval)) {
      emit_tree(out, id, replication::tree_op::ihave);
      wake = std::min(wake, now_ + opt_.gossip_interval);
    }
    next = std::min(next, wake);
    return true;
  }

  void emit_tree(tick_result& out, peer_id to, replication::tree_op op) {
    const auto it = peers_.find(to);
    if (it == peers_.end()) return;
    const bool ihave = op == replication::tree_op::ihave;
    const std::vector<std::byte> body = replication::write_tree_control(
        {op, ihave ? state_fingerprint() : 0, ihave ? digest_sample(to) : std::vector<std::byte>{}});
    std::vector<std::byte> bytes = replication::write_envelope({.kind = replication::message_kind::tree,
                                                                .resumed = resumed_,
                                                                .session = opt_.session,
                                                                .to = buffer_.end(),
                                                                .payload = body});
    add(it->second, &peer_metrics::messages_out);
    add(it->second, &peer_metrics::bytes_out, bytes.size());
    tree_.count_bytes(bytes.size());
    out.messages.push_back({to, std::move(bytes)});
  }

  /// Queues the acknowledgement of a received delta for the next tick.
  void queue_ack(peer_id from, const replication::envelope& e) {
    if (e.multipart) {
      part_acks_.push_back({from, e.session, e.to, e.part, e.state_transfer});
      return;
    }
    pending_ack& a = acks_[from];
    if (a.session != e.session) a = pending_ack{e.session};
    std::uint64_t& slot = e.state_transfer ? a.whole_to : a.delta_to;
    slot = std::max(slot, e.to + 1);
  }

  /// Strips retired replicas from a received payload; true when it changed.
  bool strip_received(State& d) {
    if constexpr (membership::retirable<State>()) {
      return !retired_.empty() && membership::strip_retired(d, retired_);
    } else {
      return false;
    }
  }

  void apply_received(peer_id from, peer_state& p, State&& d, bool state_transfer,
                      std::span<const std::byte> payload, bool count_transfer = true) {
    const std::size_t bytes = payload.size();
    // Journaled as it arrived (no encoding), except a state transfer: by its
    // novel part, usually far smaller than the state.
    const std::span<const std::byte> journaled = state_transfer ? std::span<const std::byte>{} : payload;
    if (state_transfer && count_transfer) add(p, &peer_metrics::state_transfers_received);
    const bool bp = opt_.avoid_back_propagation;
    if (bp && p.acked) {
      // Entries this payload covers are held by the sender: never send them back.
      buffer_.mark_known(from, *p.acked, [&](const State& e) { return replication::covered_by(e, d); });
    }
    bool all_novel = false;  // nothing of d was held here
    if (opt_.remove_redundant) {
      State r = converge::absorb(state_, d);  // joins d, returns its novel part
      if (converge::is_bottom(r)) {
        add(p, &peer_metrics::redundant_dropped);
        if (tree_on() && !state_transfer) tree_.delivered(from, 0, bytes, now_, opt_.gossip_interval);
      } else {
        add(p, &peer_metrics::deltas_applied);
        all_novel = bp && converge::leq(d, r);  // r <= d always: equal
        tree_.state_changed(now_);
        if (tree_on() && !state_transfer)
          tree_.delivered(from, (all_novel || converge::leq(d, r)) ? bytes : converge::encoded_size(r), bytes,
                          now_, opt_.gossip_interval);
        if (bp && sole_holder(from, p) && buffer_.size() == 0) {
          // The sender is the only peer and holds everything else: no one
          // needs this entry, so it is numbered, not kept (nor copied).
          journal_delta(false, from, r, journaled);
          buffer_.skip();
          p.acked = buffer_.end();
          report(std::move(r), from);
        } else {
          report(r, from);
          push_entry(std::move(r), from, bytes, journaled);
        }
      }
    } else if (converge::leq(d, state_)) {
      add(p, &peer_metrics::redundant_dropped);
    } else {
      converge::join_into(state_, d);
      tree_.state_changed(now_);
      add(p, &peer_metrics::deltas_applied);
      report(d, from);
      push_entry(d, from, bytes, journaled);
    }
    if (bp) {
      advance_known(from, p);
      // A payload that was all novel overlaps no buffered entry, earlier
      // (they are held here) or later (they are reduced by what is held):
      // remembering it could never shorten an interval to this peer.
      if (!state_transfer && !all_novel)
        p.heard.remember(std::move(d), p.acked, buffer_.end());  // the last use of d
    }
  }

  /// BP: entries the peer is known to hold count as acknowledged by it.
  void advance_known(peer_id id, peer_state& p) {
    if (!p.acked || p.multi) return;
    const std::uint64_t before = *p.acked;
    p.acked = buffer_.first_unknown(id, before);
    if (*p.acked != before) collect();
  }

  void handle_ack(peer_state& p, const replication::envelope& e) {
    if (e.acked_session != opt_.session) {
      add(p, &peer_metrics::stale_dropped);
      return;
    }
    if (e.to > buffer_.end()) {
      add(p, &peer_metrics::malformed_dropped);
      return;
    }
    if (!p.acked && !e.state_transfer) {
      add(p, &peer_metrics::stale_dropped);
      return;
    }
    p.timing.heard();  // an ack of this session: the link carries messages again
    if (e.multipart) {
      if (!p.multi || p.multi->to != e.to || p.multi->whole != e.state_transfer ||
          e.part >= p.multi->parts.size()) {
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
    if (!p.acked || *p.acked < e.to) {
      p.acked = e.to;
      p.timing.acked(e.to);
      p.extended = false;  // the peer answers: the next waiting write may extend again
    }
    if (p.multi && p.multi->to <= *p.acked) p.multi.reset();
    collect();
  }

  /// Buffers a delta; `bytes` is its encoded size when known (a received
  /// payload's size bounds the size of its novel part), 0 to compute it.
  /// `encoded` is its encoding when known, for the journal.
  void push_entry(State delta, std::optional<peer_id> origin, std::size_t bytes = 0,
                  std::span<const std::byte> encoded = {}) {
    const std::size_t journaled = journal_delta(true, origin, delta, encoded);  // 0 without a journal
    if (bytes == 0) bytes = journaled != 0 ? journaled : converge::encoded_size(delta);
    metrics_.buffer_evictions += buffer_.push(std::move(delta), bytes, origin);
    collect();
    metrics_.max_buffer_bytes = std::max(metrics_.max_buffer_bytes, buffer_.bytes());
  }

  /// Drops the entries every peer holds.
  void collect() {
    std::uint64_t low = buffer_.end();
    for (const auto& [id, p] : peers_) {
      if (p.acked) {
        low = std::min(low, *p.acked);
      } else if (p.ever_sent) {
        low = std::min(low, p.last_to);  // keep what follows the state transfer in flight
      }
    }
    buffer_.drop_before(low);
    metrics_.buffer_bytes = buffer_.bytes();
    metrics_.buffer_entries = buffer_.size();
  }

  /// Appends the record of the delta about to take number `c` (`encoded`
  /// when known, else encoded here). Returns the delta's encoded size; 0
  /// without a journal.
  std::size_t journal_delta(bool buffered, std::optional<peer_id> origin, const State& delta,
                            std::span<const std::byte> encoded) {
    if (opt_.journal == nullptr) return 0;
    std::vector<std::byte> own;
    if (encoded.empty()) {
      own = converge::encode(delta);
      encoded = own;
    }
    journal_append(replication::delta_record(buffer_.end(), buffered, origin, encoded));
    return encoded.size();
  }

  void journal_append(const std::vector<std::byte>& record) {
    if (appended_ == synced_) unsynced_since_ = now_;
    opt_.journal->append(record);
    ++appended_;
    log_bytes_ += record.size();
    metrics_.journal_bytes += record.size();
  }

  /// What every peer acknowledged, as the journal keeps it.
  [[nodiscard]] replication::durable_acks current_acks() const {
    replication::durable_acks out = restored_acks_;  // peers not added again yet keep theirs
    for (const auto& [id, p] : peers_) {
      if (p.acked && p.session) out[id] = {*p.acked, *p.session};
    }
    return out;
  }

  /// Replaces the journal's records by a snapshot of the state (compaction).
  void write_snapshot() {
    const std::vector<std::byte> state = converge::encode(state_);
    written_acks_ = current_acks();
    const std::vector<std::byte> record =
        replication::snapshot_record(self_, buffer_.end(), written_acks_, state);
    if (appended_ == synced_) unsynced_since_ = now_;
    opt_.journal->replace(record);
    ++appended_;
    snapshot_bytes_ = record.size();
    log_bytes_ = 0;
    metrics_.journal_bytes += record.size();
    ++metrics_.compactions;
  }

  /// Makes the journal durable before `out` leaves (see "Durability"):
  /// syncs when `out` holds a message, someone asked, or a write has waited
  /// a gossip interval. Returns when the next sync is due.
  std::uint64_t settle_journal(tick_result& out) {
    constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();
    if (appended_ == synced_) return never;
    const std::uint64_t due_at = unsynced_since_ + opt_.gossip_interval;
    if (out.messages.empty() && !sync_requested_ && now_ < due_at) return due_at;
    if (log_bytes_ > std::max(opt_.min_compaction_bytes, snapshot_bytes_ / opt_.compaction_divisor))
      write_snapshot();
    try {
      opt_.journal->sync();
    } catch (const std::exception& e) {
      ++metrics_.sync_failures;
      sync_error_ = e.what();
      out.messages.clear();  // nothing leaves before it is durable
      return now_ + opt_.gossip_interval;
    }
    synced_ = appended_;
    sync_requested_ = false;
    sync_error_.clear();
    ++metrics_.syncs;
    return never;
  }

  static const State& bottom() {
    static const State b{};
    return b;
  }

  /// The timeout expired on a multi-part interval: resend the parts not yet acknowledged.
  void resend_parts(tick_result& out, peer_id id, peer_state& p) {
    for (std::size_t k = 0; k < p.multi->parts.size(); ++k) {
      if (p.multi->acked[k]) continue;
      add(p, &peer_metrics::retransmissions);
      emit(out, id, p.multi->parts[k], true);
    }
    p.ever_sent = true;
    p.last_send = now_;
    if (p.multi->whole) p.pacer.sent(now_);
    p.timing.sent(p.multi->to, now_);  // the same parts again: their acks are ambiguous now
    p.timing.expired();
  }

  /// The interval due to `id`: the join of the entries it lacks, less what
  /// it sent lately (BP); bottom when it holds them all.
  [[nodiscard]] State interval_for(peer_id id, const peer_state& p) const {
    return interval_from(id, p, *p.acked);
  }

  /// The join of the buffered entries from `from` on that `id` lacks (BP as
  /// for intervals); `from` ≥ `buffer_.begin()`.
  [[nodiscard]] State interval_from(peer_id id, const peer_state& p, std::uint64_t from) const {
    const bool bp = opt_.avoid_back_propagation;
    std::vector<const State*> parts;
    for (std::uint64_t s = from; s < buffer_.end(); ++s) {
      const auto& e = buffer_.at(s);
      if (bp && e.known_by(id)) continue;
      parts.push_back(&e.delta);
    }
    if (parts.empty()) return State{};
    // BP: reduced by what the peer holds before joining.
    return converge::join_novel(std::span<const State* const>(parts), bp ? p.heard.known() : bottom());
  }

  void send_to(tick_result& out, peer_id id, peer_state& p) {
    if (p.multi) {
      resend_parts(out, id, p);
      return;
    }
    const std::uint64_t c = buffer_.end();
    const bool in_flight = awaiting_ack(p);  // else a new interval
    const bool extension =
        in_flight && extends_for_write(p) && now_ < p.last_send + p.timing.timeout(timing());
    const bool expired = in_flight && !extension;
    const bool whole = !p.acked || *p.acked < buffer_.begin();
    State joined;
    if (!whole) {
      joined = interval_for(id, p);
      if (converge::is_bottom(joined)) {  // the peer holds every entry: acknowledged without a message
        p.acked = c;
        collect();
        return;
      }
    }
    const State& payload_state = whole ? state_ : joined;
    const std::vector<std::byte> payload = encode_payload(payload_state);
    // A resent delta interval that became a state transfer (the peer fell
    // behind the buffer meanwhile) counts as a state transfer started.
    if (whole && !(expired && p.sent_whole)) add(p, &peer_metrics::state_transfers_sent);
    p.sent_whole = whole;
    if (expired) {
      add(p, &peer_metrics::retransmissions);
      p.timing.expired();
    }
    if (extension) add(p, &peer_metrics::flights_extended);
    p.extended = extension;
    p.timing.sent(c, now_);
    p.ever_sent = true;
    p.last_send = now_;
    p.last_to = c;
    if (whole) p.pacer.sent(now_);
    replication::envelope e{.kind = replication::message_kind::delta,
                            .state_transfer = whole,
                            .resumed = resumed_,
                            .signed_entries = signs_payloads(),
                            .session = opt_.session,
                            .to = c};
    const std::size_t budget = opt_.max_message_bytes > replication::max_envelope_header
                                   ? opt_.max_message_bytes - replication::max_envelope_header
                                   : 0;
    if (payload.size() <= budget) {
      e.payload = payload;
      emit(out, id, replication::write_envelope(e), true);
      return;
    }
    // Too large: cut into parts, each under the cap.
    auto pieces = replication::cut_payload(payload_state, payload.size(), budget, opt_.max_parts,
                                           [this](const State& x) { return encode_payload(x); });
    if (!pieces) {
      ++metrics_.unsendable;
      return;
    }
    if (pieces->size() == 1) {
      e.payload = pieces->front();
      emit(out, id, replication::write_envelope(e), true);
      return;
    }
    flight f;
    f.to = c;
    f.whole = whole;
    f.missing = pieces->size();
    f.acked.assign(pieces->size(), false);
    e.multipart = true;
    e.parts = pieces->size();
    for (std::size_t k = 0; k < pieces->size(); ++k) {
      e.part = k;
      e.payload = (*pieces)[k];
      f.parts.push_back(replication::write_envelope(e));
      emit(out, id, f.parts.back(), true);
    }
    p.multi = std::move(f);
  }

  replica_id self_;
  replicator_options opt_;
  State state_;
  std::vector<replica_id> retired_;  // sorted; see retire()
  replication::delta_buffer<State> buffer_;
  replication::event_queue<State> events_;
  replication::signature_table signatures_;  // signing on: one per owned entry held
  std::map<peer_id, peer_state> peers_;
  std::map<peer_id, pending_ack> acks_;
  std::vector<part_ack> part_acks_;
  std::uint64_t now_ = 0;
  mutable replicator_metrics metrics_;  // `peers` is refreshed by metrics()
  replication::broadcast_tree tree_;    // link modes; unused with gossip
  struct awaited_sample {
    State sample;
    std::uint64_t due = 0;
  };
  std::map<peer_id, awaited_sample> samples_;  // lazy peers' digest samples missing here
  // Durability (see the file comment).
  bool resumed_ = false;
  std::uint64_t appended_ = 0;        // records handed to the journal
  std::uint64_t synced_ = 0;          // of which durable
  std::uint64_t unsynced_since_ = 0;  // when the oldest unsynced record was appended
  bool sync_requested_ = false;
  std::string sync_error_;
  std::size_t log_bytes_ = 0;                // records since the last snapshot
  std::size_t snapshot_bytes_ = 0;           // the last snapshot record
  replication::durable_acks restored_acks_;  // from the journal, until the peer is added
  replication::durable_acks written_acks_;   // as last written to the journal
  // Quorum operations (see "Consistency levels").
  std::optional<std::vector<peer_id>> members_;   // sorted; nullopt: the peers
  std::map<peer_id, replica_id> bound_replicas_;  // see bind_replica
  operation_token token_ = 0;
  std::uint64_t requests_ = 0;
  std::vector<write_op> writes_;
  std::vector<read_op> reads_;
  std::vector<rights_op> rights_ops_;
  std::vector<operation_outcome> outcomes_;
  std::map<peer_id, read_answer_due> read_answers_;
  std::vector<rights_answer_due> rights_answers_;
  bounded_counter State::*rights_field_ = nullptr;
};

}  // namespace converge
