#pragma once
/// @file
/// `converge::zmq_node<State>`: a `replicator<State>` pumped over ZeroMQ.
///
/// Sockets: the node binds one ROUTER for inbound connections and connects
/// one DEALER (a link) to each peer endpoint (ZeroMQ reconnects to peers that
/// are not up yet, or that restart). Every message starts with an envelope
/// frame that names the sending node (see detail/envelope.hpp), so a peer is
/// known by its id whichever side opened the connection, and replies travel
/// back over the same connection: a peer need not list this node to exchange
/// with it.
///
/// Embedding, two ways:
/// - threaded: `start()` runs the node on a background thread; `mutate`,
///   `read`, `snapshot` are thread-safe, and subscribers are called on the
///   node's thread after every change, local or remote;
/// - poll-driven, for a service that owns its event loop: wait on `fd()`
///   (readable when the node may have work) or at most `next_timeout()`,
///   then call `process()`; or call `poll(timeout)`, which does both.
///   Subscribers are then called inside `mutate` and `process`.
///
/// Subscribers: while there is one, the replicator reports every delta it
/// applies (`replicator_options::report_applied`), and each subscriber gets
/// it as a `state_change` (state_change.hpp): exactly what changed, with the
/// peer it came from. Nothing is copied or compared per state: the cost of a
/// change is proportional to the change.
///
/// Durability: with a journal (`node_options::replication.journal`), nothing
/// leaves the node and nothing is acknowledged before it is durable (see the
/// replicator's "Durability"). A write is durable once `durable_position()`
/// reaches the `journal_position()` read after its `mutate`;
/// `wait_durable` waits for that (and asks for the sync at once rather than
/// with the next gossip). Without waiting, a write is still synced within
/// a gossip interval, and always before it leaves.
///
/// Security: with `node_options::curve`, traffic is CURVE-encrypted, the
/// node's ZAP handler (inproc://zeromq.zap.01 in the node's context) refuses
/// every public key not in the allow-list, and a message is accepted only
/// when its claimed sender id is the id the allow-list binds to the key that
/// authenticated the connection (ZAP User-Id inbound, the server key
/// outbound). Without CURVE any host that reaches the port can claim any id.
///
/// Limits: ZMQ_MAXMSGSIZE on every socket (an oversized message costs its
/// sender the connection), send and receive high-water marks, sends that
/// never block (a full queue or a missing connection drops the message,
/// counted apart in `transport_metrics`, and the replicator retransmits),
/// a bounded queue of changes for subscribers. Malformed, oversized and
/// spoofed messages are dropped, counted and logged (rate-limited).
///
/// # Membership
/// With `node_options::membership` the node runs the failure detector and
/// the partial views of `include/converge/membership/` (pure state machines)
/// from `process()`, with their deadlines in `next_timeout()`. Their
/// messages travel on the same links and ROUTER, in `probe` and `view`
/// envelopes of one payload frame (`converge::encode` of the message; one
/// that does not decode is dropped and counted in `dropped_malformed`).
/// - Joining: while it has no link the node connects to every seed
///   (`membership_options::seeds`, the configured peers, `seed_source`) each
///   `join_retry`; a seed that answers names its node id, and the views join
///   through it. A node with no seed at all is the first member (up at once).
/// - The replicator's peers are the active view (plus configured peers, data
///   senders, and peers that run no membership, as without it), and so are
///   the detector's neighbours, with the passive view (`probe_passive`).
/// - Links open to members' advertised endpoints (their records) when the
///   views or the detector address them, and close when no longer needed:
///   active members keep theirs, the `transient_links` most recently used
///   others stay open while used within `transient_idle`. A message to a
///   member with no live connection yet is held (`held_per_member`,
///   `held_for`) until one is up.
/// - `members()`, `member()`, `leave()`, `depart()`; `isolate()` is a fault
///   injection for tests (every link lost for a while).
/// - The roster is also a CRDT replicated by a replicator of its own, in
///   `members` envelopes to the replicator's peers, with the record of
///   retired replicas; departed replicas are retired from the state
///   (transport/detail/member_replication.hpp, node_retirement.hpp):
///   `replica_retired()`, `retirement_stats()`, `read_including_retired()`,
///   `mutate_including_retired()`.
/// See docs/membership.md for the timeouts and what is not done yet.
///
/// # Quorum operations
/// `start_op(op, callback)` runs `op(replicator&)` — a `write`, `read` or
/// `decrement` at a consistency level (replicator.hpp, "Consistency
/// levels"), timeouts in milliseconds — and calls `callback` with its
/// outcome; `run_op`, `run_write`, `run_read` and `run_decrement` wait for
/// it. The members quorums count are the membership view's up members
/// (refreshed at every start and every 200 ms), or the peers without
/// membership. Only replicator peers can answer: with `--join` alone those
/// are the active view, so `all` in a cluster larger than the active view
/// times out (configured peers always replicate).
///
/// # Memory
/// What a peer can make this node hold is bounded by the options:
/// - The node takes at most `receive_budget` (4096) messages per
///   `process()`, each of at most 4 frames (more are dropped as they are
///   read, counted in `dropped_too_many_frames`), a data frame of at most
///   `max_message_bytes`; the replicator's own bounds are in replicator.hpp
///   ("Limits").
/// - libzmq 4.3 cannot bound what it buffers before the node sees a
///   message: ZMQ_MAXMSGSIZE bounds one frame, ZMQ_RCVHWM counts whole
///   messages (`pipe_t::write` counts a message only at its last frame), and
///   a multipart message is read whole into the session's pipe before the
///   ROUTER delivers it; an unfinished one stays until the connection
///   closes. So without CURVE (when anyone can connect), tcp binds go
///   through the inbound guard (detail/inbound_guard.hpp;
///   `node_options::inbound_guard`): a relay that reads each connection's
///   ZMTP stream itself, closes a connection at the first message of more
///   than 2 frames or more than `M = max_message_bytes + 84` bytes, stops
///   reading a connection whose buffer (`buffer_bytes` each way) is full,
///   and refuses connections beyond `max_connections` (counted in
///   `guard_closed` and `guard_connections_refused`). Behind it the ROUTER
///   queues at most `receive_hwm` (the guard's, 16) whole messages per
///   connection, plus one unfinished. Worst case, with `Z` libzmq's own
///   buffers per connection (about 64 KiB):
///       per connection: (receive_hwm + 1) × M + 2 × buffer_bytes + Z
///       per node: max_connections × that (defaults: 17.6 MiB and 4.4 GiB;
///       lower `max_message_bytes` or `max_connections` for less).
///   Measured (`meson test --benchmark 'hostile memory'` and the test
///   `hostile guard`, a fresh 6.7 MB node each time; before the guard in
///   brackets): 1000-frame messages of 1 MiB as fast as loopback takes them,
///   9.9 MB peak (0.4 to 1 GB); 10,000 connections each opening a message of
///   one 4 KiB frame, 256 admitted, 53 MB (200 MB); 100 connections sending
///   3 frames of which two are 1 MiB, 12 MB (215 MB); 1000 connections each
///   holding an unfinished 1 MiB frame, 256 admitted, 495 MB. The relay
///   costs CPU: the 3-node cluster benchmark measured 0.98M applied
///   updates/s per node with it against 1.31M without (medians of 3; lag
///   unchanged).
/// - With CURVE the guard cannot read the stream (the frame flags are
///   encrypted), so it does not run: only allow-listed keys complete the
///   handshake, and an insider can still make the node hold what libzmq
///   buffers (unbounded in frames, as above). Nor does it guard ipc binds
///   or this node's own links to the peer endpoints it was given (those
///   peers are chosen by the operator).
///
/// # Parts
/// `node_options.hpp`, `membership_options.hpp`, `transport_metrics.hpp`, `peer_status.hpp`,
/// `state_change.hpp` (the public types); in `detail/`: `listener.hpp` (the
/// ROUTER and its monitor), `link.hpp` (one DEALER to a peer), `peer_table.hpp`
/// (one record per peer, routing, expiry), `zap_handler.hpp` (CURVE
/// authentication), `change_feed.hpp` (subscribers), `pump.hpp` (drain and
/// wait loops), `unique_fd.hpp` (eventfd, epoll), `sockets.hpp`,
/// `envelope.hpp`, `rate_limited_log.hpp`, `inbound_guard.hpp` (the relay
/// that bounds inbound tcp connections). This file ties them together.

#include "converge/lattice.hpp"
#include "converge/membership/failure_detector.hpp"
#include "converge/membership/members.hpp"
#include "converge/membership/views.hpp"
#include "converge/membership/wire.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/detail/change_feed.hpp"
#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/detail/inbound_guard.hpp"
#include "converge/transport/detail/link.hpp"
#include "converge/transport/detail/listener.hpp"
#include "converge/transport/detail/member_replication.hpp"
#include "converge/transport/detail/peer_table.hpp"
#include "converge/transport/detail/pump.hpp"
#include "converge/transport/detail/rate_limited_log.hpp"
#include "converge/transport/detail/sockets.hpp"
#include "converge/transport/detail/unique_fd.hpp"
#include "converge/transport/detail/zap_handler.hpp"
#include "converge/transport/membership_options.hpp"
#include "converge/transport/node_options.hpp"
#include "converge/transport/peer_status.hpp"
#include "converge/transport/state_change.hpp"
#include "converge/transport/transport_metrics.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace converge {

template <delta_lattice State>
class zmq_node {
 public:
  using callback = std::function<void(const state_change<State>&)>;

  /// Creates the sockets, binds and connects. Throws `zmq::error_t` (bad
  /// endpoint, address in use) or `std::invalid_argument` (CURVE settings).
  explicit zmq_node(node_options options, State initial = {})
      : opts_(std::move(options)),
        replica_(opts_.recovered ? opts_.recovered->self
                 : opts_.replica ? *opts_.replica
                                 : replica_id::with_incarnation(opts_.id, random_incarnation())),
        replicator_(opts_.recovered
                        ? replicator<State>::restore(*opts_.recovered, replication_options(opts_))
                        : replicator<State>(replica_, replication_options(opts_), std::move(initial))),
        log_(opts_.log),
        epoch_(std::chrono::steady_clock::now()),
        own_context_(opts_.context == nullptr ? std::make_unique<zmq::context_t>(1) : nullptr),
        ctx_(opts_.context == nullptr ? own_context_.get() : opts_.context),
        max_message_(std::max<std::size_t>(opts_.replication.max_message_bytes, 64)),
        envelopes_(opts_.id, replica_.value()),
        zap_(make_zap(*ctx_, opts_)),
        guard_path_(guarded_binds_(opts_).empty() ? std::string{}
                                                  : transport::detail::inbound_guard::private_socket_path()),
        listener_(*ctx_, listener_options_(opts_, guard_path_), max_message_),
        peers_(3 * static_cast<std::uint64_t>(std::max<std::int64_t>(0, opts_.heartbeat_interval.count()))) {
    for (const auto& endpoint : opts_.peers)
      peers_.add_link(transport::detail::link(*ctx_, endpoint, opts_, max_message_));
    start_guard_();
    if (opts_.membership) start_membership_();
  }

  zmq_node(const zmq_node&) = delete;
  zmq_node& operator=(const zmq_node&) = delete;

  /// Stops the thread if running; closes sockets (pending sends wait at most `linger`).
  ~zmq_node() { stop(); }

  // --- identity -----------------------------------------------------------

  [[nodiscard]] std::uint64_t id() const noexcept { return opts_.id; }
  /// The replica identity this life of the node writes as.
  [[nodiscard]] replica_id replica() const noexcept { return replica_; }
  /// The endpoints actually bound (a tcp port 0 resolved).
  [[nodiscard]] const std::vector<std::string>& endpoints() const noexcept { return endpoints_; }

  // --- state --------------------------------------------------------------

  /// Applies `fn(State&) -> State` (a delta mutator) and returns its delta.
  /// Thread-safe; the delta is gossiped at the next tick.
  template <class F>
  State mutate(F&& fn) {
    return change_([&] { return replicator_.mutate(std::forward<F>(fn)); });
  }

  /// Calls `fn(const State&)` under the node's lock and returns its result:
  /// a consistent view. Keep `fn` short; do not call the node from it.
  template <class F>
  decltype(auto) read(F&& fn) const {
    std::lock_guard lock(mutex_);
    return std::forward<F>(fn)(replicator_.state());
  }

  /// A copy of the state.
  [[nodiscard]] State snapshot() const {
    return read([](const State& s) { return s; });
  }

  /// Calls `cb` with every change made after this call (local or remote; see
  /// `state_change`), on the node's thread (threaded mode) or inside
  /// `mutate`/`process` (poll mode). Returns a token for `unsubscribe`.
  /// Callbacks may call `read` and `mutate`. Thread-safe.
  std::size_t subscribe(callback cb) {
    std::lock_guard lock(mutex_);
    replicator_.report_applied(true);
    return feed_.subscribe(std::move(cb));
  }

  /// Stops calls to the subscriber `token`. Thread-safe; a call in progress
  /// on the node's thread may still finish.
  void unsubscribe(std::size_t token) {
    std::lock_guard lock(mutex_);
    if (feed_.unsubscribe(token)) replicator_.report_applied(false);
  }

  // --- threaded mode ------------------------------------------------------

  /// Runs the node on a background thread until `stop()` or destruction.
  void start() {
    if (running_) return;
    stop_requested_ = false;
    running_ = true;
    thread_ = std::thread([this] {
      while (!stop_requested_) poll_once_(std::chrono::milliseconds(1000));
    });
  }

  /// Stops the background thread (returns after it has exited).
  void stop() {
    if (!running_) return;
    stop_requested_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
    running_ = false;
  }

  [[nodiscard]] bool running() const noexcept { return running_; }

  // --- poll-driven mode ---------------------------------------------------

  /// Waits up to `max_wait` (less when a timer is due) for traffic, then
  /// processes. Returns true when a message arrived. Not while `start()`ed.
  bool poll(std::chrono::milliseconds max_wait) { return poll_once_(max_wait); }

  /// Receives what is pending, runs due timers, sends. Never blocks.
  void process() { process_(); }

  /// A file descriptor (epoll) that becomes readable when the node may have
  /// work; call `process()` then, and at the latest after `next_timeout()`.
  [[nodiscard]] int fd() {
    std::lock_guard lock(mutex_);
    if (!epoll_) {
      transport::detail::epoll_set ep;
      for (zmq::socket_t* s : sockets_()) ep.add(s->get(zmq::sockopt::fd));
      ep.add(wake_.get());
      epoll_.emplace(std::move(ep));
    }
    return epoll_->get();
  }

  /// How long until `process()` must run even if `fd()` stays quiet.
  [[nodiscard]] std::chrono::milliseconds next_timeout() const {
    if (more_pending_ || dirty_) return std::chrono::milliseconds(0);
    const std::uint64_t now = now_ms_();
    std::uint64_t due = std::min(next_tick_, next_heartbeat_);
    if (ms_) due = std::min({due, ms_->next, ms_->next_hello});
    return std::chrono::milliseconds(due > now ? due - now : 0);
  }

  /// Wakes the node's thread (or the owner's `fd()` wait) early.
  void wake() noexcept { wake_.notify(); }

  // --- status -------------------------------------------------------------

  /// Every configured peer endpoint, then peers known only from inbound connections.
  [[nodiscard]] std::vector<peer_status> peers() const {
    std::lock_guard lock(mutex_);
    return peers_.status(now_ms_());
  }

  /// The current replica identity of peer `id`, once heard from.
  [[nodiscard]] std::optional<replica_id> peer_replica(std::uint64_t id) const {
    std::lock_guard lock(mutex_);
    return peers_.replica_of(id);
  }

  [[nodiscard]] transport_metrics transport_stats() const {
    std::lock_guard lock(mutex_);
    transport_metrics m = metrics_;
    if (guard_) {
      const auto& g = guard_->counters();
      m.guard_connections_refused = g.refused_connections;
      m.guard_closed = g.closed_frames + g.closed_bytes + g.closed_protocol;
    }
    return m;
  }

  [[nodiscard]] replicator_metrics replication_stats() const {
    std::lock_guard lock(mutex_);
    return replicator_.metrics();
  }

  /// True when the replicator has nothing left to send (and its journal,
  /// if any, nothing left to sync).
  [[nodiscard]] bool quiescent() const {
    std::lock_guard lock(mutex_);
    return replicator_.quiescent();
  }

  // --- membership (see "Membership" in the file comment) ---------------------

  /// One member as this node sees it.
  struct member_view {
    membership::member_record record;
    bool active = false;  ///< in this node's active view (a replicator peer, probed)
    bool self = false;    ///< this node
  };

  /// What the failure detector counted, and its Lifeguard awareness score
  /// (0 healthy; periods and timeouts scale by awareness + 1); zeros without membership.
  [[nodiscard]] std::pair<membership::detector_metrics, unsigned> detector_stats() const {
    std::lock_guard lock(mutex_);
    if (!ms_) return {};
    return {ms_->fd.metrics(), ms_->fd.awareness()};
  }

  /// True when the node runs membership (`node_options::membership`).
  [[nodiscard]] bool has_membership() const noexcept { return opts_.membership.has_value(); }

  /// Every member this node knows, by node id; empty without membership.
  [[nodiscard]] std::vector<member_view> members() const {
    std::lock_guard lock(mutex_);
    std::vector<member_view> out;
    if (!ms_) return out;
    for (const auto& r : ms_->fd.view().records())
      out.push_back({r, ms_->v.in_active(r.node), r.node == opts_.id});
    return out;
  }

  /// The record of member `id`, if known.
  [[nodiscard]] std::optional<membership::member_record> member(std::uint64_t id) const {
    std::lock_guard lock(mutex_);
    if (!ms_) return std::nullopt;
    const membership::member_record* r = ms_->fd.view().find(id);
    return r != nullptr ? std::optional(*r) : std::nullopt;
  }

  /// Starts a graceful leave: this node's record says `leaving` (gossiped
  /// with the next messages). Keep the node running a few gossip intervals,
  /// then `depart()`. No-op without membership.
  void leave() {
    membership_call_([](auto& m) { m.fd.leave(); });
  }

  /// Ends a graceful leave: this node removes itself (its replica id is
  /// retired) and stops probing; keep it running a few gossip intervals so
  /// the removal spreads, then stop it.
  void depart() {
    membership_call_([](auto& m) { m.fd.depart(); });
  }

  /// True when the cluster retired this life's replica id (it was down past
  /// the retirement period, or removed): the process must restart as a new
  /// replica and never send its old state again (node_retirement.hpp).
  [[nodiscard]] bool replica_retired() const {
    std::lock_guard lock(mutex_);
    return ms_ && ms_->fd.view().is_retired(replica_);
  }

  /// What retirement left in the state: the distinct replica ids in the
  /// user state's metadata, and the retired replicas recorded.
  struct retirement_counts {
    std::size_t metadata_replica_ids = 0;
    std::size_t retired_replicas = 0;
  };
  [[nodiscard]] retirement_counts retirement_stats() const {
    std::lock_guard lock(mutex_);
    retirement_counts c;
    if constexpr (membership::retirable<State>())
      c.metadata_replica_ids = membership::replica_ids(replicator_.state()).size();
    if (ms_) c.retired_replicas = ms_->record->retired_count();
    return c;
  }

  /// `read` over the state with the retired replicas' final contributions
  /// joined in: the values and rights as if no replica had been retired
  /// (node_retirement.hpp). The same as `read` without membership.
  template <class F>
  decltype(auto) read_including_retired(F&& fn) const {
    std::lock_guard lock(mutex_);
    if (!ms_ || !ms_->record->has_contributions()) return std::forward<F>(fn)(replicator_.state());
    const State view = ms_->record->including_retired(replicator_.state());
    return std::forward<F>(fn)(view);
  }

  /// `mutate` decided over the state `read_including_retired` shows (the
  /// mutator changes that copy and returns its delta, which is then applied
  /// and gossiped): for spending bounded-counter rights, which must count
  /// the transfers of retired replicas.
  template <class F>
  State mutate_including_retired(F&& fn) {
    return change_([&] {
      if (!ms_ || !ms_->record->has_contributions()) return replicator_.mutate(std::forward<F>(fn));
      State view = ms_->record->including_retired(replicator_.state());
      const State d = std::forward<F>(fn)(view);
      return replicator_.mutate([&](State& s) {
        converge::join_into(s, d);
        return d;
      });
    });
  }

  /// The detector's gossip interval (ms), what `leave` should wait a few of; 0 without membership.
  [[nodiscard]] std::uint64_t membership_gossip_interval() const noexcept {
    return opts_.membership ? std::max<std::uint64_t>(1, opts_.membership->detector.gossip_interval) : 0;
  }

  /// Fault injection, for tests: for `duration` the node drops every message
  /// it receives and sends nothing (data, membership, hellos), and, when
  /// `report`, it tells its views that every link was lost, as a transport
  /// that saw every connection close would (else only the failure detector
  /// finds out, as with a silent network loss). Sockets stay open.
  void isolate(std::chrono::milliseconds duration, bool report = true) {
    {
      std::lock_guard lock(mutex_);
      const std::uint64_t now = now_ms_();
      isolated_until_ = now + static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count()));
      if (ms_ && report) {
        const std::vector<membership::node_id> active = ms_->v.active();
        for (const membership::node_id n : active) ms_->v.neighbour_failed(n, now);
      }
      if (ms_) ms_->next = 0;
      dirty_ = true;
    }
    if (running_) wake();
  }

  // --- quorum operations (replicator.hpp, "Consistency levels") -------------

  /// Called once with an operation's outcome.
  using outcome_callback = std::function<void(const operation_outcome&)>;

  /// Starts a quorum operation: `op(replicator<State>&)` calls `write`,
  /// `read` or `decrement` on the node's replicator (under the node's lock;
  /// timeouts are in milliseconds) and returns its token; `done` gets the
  /// outcome on the node's thread (threaded mode) or inside `process`
  /// (poll mode). Members are the membership view's up members (refreshed
  /// at every start and every `members_refresh` ms), or the peers without
  /// membership. Thread-safe. Returns the token.
  template <class Op>
  requires std::invocable < Op&, replicator<State>
  & > operation_token start_op(Op&& op, outcome_callback done) {
    return change_([&] {
      refresh_members_locked_(now_ms_());
      const operation_token token = std::forward<Op>(op)(replicator_);
      waiting_ops_.emplace(token, std::move(done));
      return token;
    });
  }

  /// `start_op`, waiting for the outcome: on the node's thread when it runs
  /// (do not call from a subscriber or an outcome callback), else by
  /// running `process` here.
  template <class Op>
  requires std::invocable < Op&, replicator<State>
  & > operation_outcome run_op(Op&& op) {
    auto result = std::make_shared<std::optional<operation_outcome>>();
    std::unique_lock lock(op_mutex_);
    start_op(std::forward<Op>(op), [this, result](const operation_outcome& o) {
      std::lock_guard l(op_mutex_);
      *result = o;
      op_cv_.notify_all();
    });
    while (!result->has_value()) {
      if (running_) {
        op_cv_.wait(lock);
      } else {
        lock.unlock();
        poll_once_(std::chrono::milliseconds(5));
        lock.lock();
      }
    }
    return **result;
  }

  /// `write(fn, level, timeout)`, waiting for its outcome (see `run_op`).
  template <class F>
  operation_outcome run_write(F&& fn, consistency level, std::chrono::milliseconds timeout) {
    return run_op(
        [&](replicator<State>& r) { return r.write(std::forward<F>(fn), level, ms_count_(timeout)); });
  }
  /// `read(level, timeout)`, waiting for its outcome; then `read`/`snapshot` reflect it.
  operation_outcome run_read(consistency level, std::chrono::milliseconds timeout) {
    return run_op([&](replicator<State>& r) { return r.read(level, ms_count_(timeout)); });
  }
  /// `decrement(n, level, timeout)` of the replicator's rights counter
  /// (`set_rights_counter` below), waiting for its outcome.
  operation_outcome run_decrement(std::uint64_t n, consistency level, std::chrono::milliseconds timeout) {
    return run_op([&](replicator<State>& r) { return r.decrement(n, level, ms_count_(timeout)); });
  }
  /// Names the `bounded_counter` field that decrements spend and peers ask
  /// rights of; until it is set this node gives no rights. Thread-safe.
  void set_rights_counter(bounded_counter State::*field) {
    std::lock_guard lock(mutex_);
    replicator_.set_rights_counter(field);
  }
  /// How many members quorums count now, this node included.
  [[nodiscard]] std::size_t quorum_members() {
    std::lock_guard lock(mutex_);
    refresh_members_locked_(now_ms_());
    return replicator_.member_count();
  }

  // --- durability (see the file comment) ------------------------------------

  /// The journal position after every change so far: read it after a
  /// `mutate` to name that write (later writes may share it: waiting for it
  /// waits for yours too). 0 without a journal.
  [[nodiscard]] std::uint64_t journal_position() const {
    std::lock_guard lock(mutex_);
    return replicator_.journal_position();
  }
  /// How far the journal is durable.
  [[nodiscard]] std::uint64_t durable_position() const {
    std::lock_guard lock(mutex_);
    return replicator_.durable_position();
  }
  /// Why the last sync failed; empty when it succeeded.
  [[nodiscard]] std::string sync_error() const {
    std::lock_guard lock(mutex_);
    return replicator_.sync_error();
  }
  /// Waits until everything up to `position` is durable, asking for a sync
  /// now. Threaded, it waits for the node's thread; poll-driven, it runs
  /// `process()` itself. False after `timeout` (the write stays applied and
  /// is synced on a later try: `sync_error()` says what failed).
  bool wait_durable(std::uint64_t position, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
      if (replicator_.durable_position() >= position) return true;
      replicator_.request_sync();
      dirty_ = true;
      if (running_) {
        wake();
        if (durable_cv_.wait_until(lock, until) == std::cv_status::timeout &&
            replicator_.durable_position() < position)
          return false;
        continue;
      }
      lock.unlock();
      process_();
      lock.lock();
      if (replicator_.durable_position() >= position) return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      // A failed sync is retried a gossip interval later: do not spin.
      lock.unlock();
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(opts_.gossip_interval, timeout));
      lock.lock();
    }
  }

 private:
  using kind = transport::detail::kind;
  using send_result = transport::detail::send_result;

  struct inbound_data {
    std::uint64_t from;
    zmq::message_t bytes;
    kind what = kind::data;
  };

  static constexpr int receive_budget = 4096;
  static constexpr std::uint64_t fast_hello_ms = 10;  // hellos on a dynamic link not heard yet

  /// A membership message waiting for a connection to its member.
  struct held_message {
    kind what = kind::probe;
    std::vector<std::byte> bytes;
    std::uint64_t until = 0;
  };

  /// The membership protocols and what the shell keeps around them.
  struct membership_state {
    membership_state(membership::member_record self, const membership_options& o, std::uint64_t seed)
        : fd(std::move(self), o.detector, seed), v(fd.self(), o.views, replica_id::mix(seed ^ 0x5eed)) {}

    membership::failure_detector fd;
    membership::views v;
    std::vector<membership::node_id> active;                  // the active view as last applied
    std::map<membership::node_id, std::uint64_t> dropped_at;  // when each left the active view
    std::map<membership::node_id, std::deque<held_message>> held;
    std::optional<transport::detail::member_replication<State>> record;  // the replicated roster, retirement
    std::vector<std::string> seed_endpoints;                             // tried at the last join attempt
    std::uint64_t next = 0;                                              // tick both protocols by then
    std::uint64_t next_hello = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t next_join = 0;    // the next join attempt through the seeds, while alone
    std::uint64_t alone_since = 0;  // 0: not alone
    bool seed_heard = false;        // a link heard its peer for the first time
  };

  static std::uint32_t random_incarnation() {
    std::random_device rd;
    return static_cast<std::uint32_t>(rd()) & 0xffffffU;
  }

  static replicator_options replication_options(const node_options& o) {
    replicator_options r = o.replication;
    r.gossip_interval = static_cast<std::uint64_t>(std::max<std::int64_t>(1, o.gossip_interval.count()));
    r.report_applied = false;  // on while someone subscribes
    // A node faces peers it cannot trust to pace themselves: one state
    // transfer per peer per second at most, whatever they send (see
    // "Amplification" in replicator.hpp).
    if (r.min_state_transfer_interval == 0)
      r.min_state_transfer_interval = std::max<std::uint64_t>(1000, 4 * r.gossip_interval);
    if (r.session == 0) {
      std::random_device rd;
      r.session = (std::uint64_t{rd()} << 32) ^ rd();
      if (r.session == 0) r.session = 1;
    }
    return r;
  }

  // The tcp binds the inbound guard takes over (none with CURVE).
  static std::vector<std::string> guarded_binds_(const node_options& o) {
    std::vector<std::string> out;
    if (o.curve || !o.inbound_guard.enabled) return out;
    for (const auto& e : o.bind) {
      if (transport::detail::inbound_guard::handles(e)) out.push_back(e);
    }
    return out;
  }

  // The ROUTER's options: with a guard, it binds the guard's private ipc
  // endpoint instead of the guarded tcp ones, with the guard's receive HWM.
  static node_options listener_options_(const node_options& o, const std::string& guard_path) {
    if (guard_path.empty()) return o;
    node_options l = o;
    l.bind.clear();
    for (const auto& e : o.bind) {
      if (!transport::detail::inbound_guard::handles(e)) l.bind.push_back(e);
    }
    l.bind.push_back("ipc://" + guard_path);
    l.receive_hwm = std::min(o.receive_hwm, o.inbound_guard.receive_hwm);
    return l;
  }

  void start_guard_() {
    for (const auto& e : listener_.endpoints()) {
      if (guard_path_.empty() || e != "ipc://" + guard_path_) endpoints_.push_back(e);
    }
    if (guard_path_.empty()) return;
    transport::detail::guard_limits g;
    g.max_connections = opts_.inbound_guard.max_connections;
    g.max_frames = 2;                       // an envelope, then a payload for data
    g.max_frame_bytes = max_message_ + 64;  // the ROUTER's ZMQ_MAXMSGSIZE
    g.max_message_bytes = g.max_frame_bytes + transport::detail::envelope_size;
    g.buffer_bytes = opts_.inbound_guard.buffer_bytes;
    guard_.emplace(guarded_binds_(opts_), guard_path_, g, opts_.log);
    endpoints_.insert(endpoints_.begin(), guard_->endpoints().begin(), guard_->endpoints().end());
  }

  static std::optional<transport::detail::zap_handler> make_zap(zmq::context_t& ctx, const node_options& o) {
    if (!o.curve) return std::nullopt;
    return std::optional<transport::detail::zap_handler>(std::in_place, ctx, *o.curve);
  }

  static std::span<const std::byte> bytes_of(const zmq::message_t& m) {
    return {static_cast<const std::byte*>(m.data()), m.size()};
  }

  [[nodiscard]] std::uint64_t now_ms_() const {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - epoch_)
                                          .count()) +
           1;
  }

  /// Every socket the node reads from.
  std::vector<zmq::socket_t*> sockets_() {
    std::vector<zmq::socket_t*> out;
    out.reserve(peers_.links().size() + 3);
    out.push_back(&listener_.socket());
    for (auto& l : peers_.links()) out.push_back(&l.socket());
    if (zap_) out.push_back(&zap_->socket());
    if (zmq::socket_t* m = listener_.monitor()) out.push_back(m);
    return out;
  }

  // Moves what the replicator applied to the subscribers' queue. Under the lock.
  void collect_changes_() {
    if (!replicator_.options().report_applied) return;
    while (auto e = replicator_.poll()) feed_.push(std::move(*e));
  }

  bool poll_once_(std::chrono::milliseconds max_wait) {
    const auto sockets = sockets_();
    const bool input =
        transport::detail::wait_for_input(sockets, wake_.get(), std::min(max_wait, next_timeout()));
    wake_.clear();
    process_();
    return input;
  }

  void drop_(std::uint64_t transport_metrics::*counter, const std::string& why) {
    {
      std::lock_guard lock(mutex_);
      ++(metrics_.*counter);
    }
    log_("converge node " + std::to_string(opts_.id) + ": dropped " + why);
  }

  // Checks an envelope and its payload; the envelope when acceptable.
  std::optional<transport::detail::envelope> check_(const std::vector<zmq::message_t>& frames,
                                                    std::size_t first, bool overflow, std::string_view from) {
    if (overflow) {
      drop_(&transport_metrics::dropped_too_many_frames,
            "a message of more than " + std::to_string(frames.size()) + " frames from " + std::string(from));
      return std::nullopt;
    }
    if (frames.size() <= first) {
      drop_(&transport_metrics::dropped_malformed,
            "a message with a bad frame count from " + std::string(from));
      return std::nullopt;
    }
    const auto env = transport::detail::read_envelope(bytes_of(frames[first]));
    if (!env) {
      drop_(&transport_metrics::dropped_malformed, "a message with a bad envelope from " + std::string(from));
      return std::nullopt;
    }
    const std::size_t expected_frames = first + (transport::detail::carries_payload(env->what) ? 2 : 1);
    if (frames.size() != expected_frames) {
      drop_(&transport_metrics::dropped_malformed,
            "a message with a bad frame count from " + std::string(from));
      return std::nullopt;
    }
    if (transport::detail::carries_payload(env->what) && frames.back().size() > max_message_) {
      drop_(&transport_metrics::dropped_oversized, "an oversized message (" +
                                                       std::to_string(frames.back().size()) +
                                                       " bytes) from " + std::string(from));
      return std::nullopt;
    }
    return env;
  }

  // Admits a valid sender (or records its new incarnation); false when it
  // cannot be admitted (peer limit), or when its data must be ignored.
  // Without membership every sender is a replicator peer. With it, a sender
  // becomes one when it sends data (it replicates with this node: a static
  // peering from its side), when a configured link reaches it (`configured`),
  // when it enters the active view, or, as without membership, when it says
  // hello and is no member (a peer that runs no membership); from a member,
  // hellos and membership messages only make it routable (its dynamic links
  // say hello). Under the lock.
  bool admit_locked_(const transport::detail::envelope& env, bool configured, std::uint64_t now) {
    const bool replicate = !ms_ || configured || env.what == kind::data ||
                           (env.what == kind::hello && ms_->fd.view().find(env.sender) == nullptr);
    if (auto* p = peers_.find(env.sender)) {
      p->replica = replica_id{env.replica};
      if (!replicate || p->replicating) return true;
      if (recently_dropped_(env.sender, now)) return env.what != kind::data;
      if (!replicator_.add_peer(env.sender)) {
        ++metrics_.dropped_peer_limit;
        return env.what != kind::data;
      }
      p->replicating = true;
      dirty_ = true;
      return true;
    }
    const bool admit_replicating = replicate && !recently_dropped_(env.sender, now);
    if (peers_.size() >= opts_.replication.max_peers ||
        (admit_replicating && !replicator_.add_peer(env.sender))) {
      ++metrics_.dropped_peer_limit;
      return false;
    }
    peers_.admit(env.sender, replica_id{env.replica}, admit_replicating);
    if (admit_replicating) dirty_ = true;  // tick soon: the new peer gets a state transfer
    return admit_replicating || env.what != kind::data;
  }

  // True for a member that left the active view less than 5 s ago: data it
  // sent before it heard so must not make it a replicator peer again.
  [[nodiscard]] bool recently_dropped_(std::uint64_t id, std::uint64_t now) const {
    if (!ms_) return false;
    const auto it = ms_->dropped_at.find(id);
    return it != ms_->dropped_at.end() && now - std::min(now, it->second) < 5000;
  }

  void on_router_(std::vector<zmq::message_t>& frames, bool overflow, std::vector<inbound_data>& data,
                  std::uint64_t now) {
    if (now < isolated_until_) return;  // fault injection: as if the connection were gone
    const auto env = check_(frames, 1, overflow, "an inbound connection");
    if (!env) return;
    if (opts_.curve) {
      std::string user;
      try {
        const char* u = frames[1].gets("User-Id");
        user = u != nullptr ? u : "";
      } catch (const zmq::error_t&) {
        user.clear();
      }
      if (user != std::to_string(env->sender)) {
        drop_(&transport_metrics::dropped_spoofed, "a message claiming id " + std::to_string(env->sender) +
                                                       " from a key bound to id '" + user + "'");
        return;
      }
    }
    if (env->what == kind::hello) {
      listener_.send(frames[0].to_string_view(), kind::hello_ack, envelopes_.of(kind::hello_ack), {});
    }
    if (env->sender == opts_.id) return;  // our own outbound connection, looped back
    {
      std::lock_guard lock(mutex_);
      const bool admitted = admit_locked_(*env, peers_.configured(env->sender), now);
      if (peers_.find(env->sender) != nullptr)
        peers_.heard_inbound(env->sender, frames[0].to_string_view(), now);
      if (!admitted) return;
    }
    if (env->what == kind::data) {
      std::lock_guard lock(mutex_);
      if (auto* p = peers_.find(env->sender)) p->data_heard = now;
    }
    if (transport::detail::carries_payload(env->what))
      data.push_back({env->sender, std::move(frames[2]), env->what});
  }

  void on_link_(std::size_t index, std::vector<zmq::message_t>& frames, bool overflow,
                std::vector<inbound_data>& data, std::uint64_t now) {
    if (now < isolated_until_) return;  // fault injection: as if the connection were gone
    transport::detail::link& l = peers_.links()[index];
    const auto env = check_(frames, 0, overflow, l.endpoint());
    if (!env) return;
    if (l.expected() && *l.expected() != env->sender) {
      drop_(&transport_metrics::dropped_spoofed, "a message claiming id " + std::to_string(env->sender) +
                                                     " from " + l.endpoint() + ", whose key is bound to id " +
                                                     std::to_string(*l.expected()));
      return;
    }
    std::lock_guard lock(mutex_);
    if (env->sender == opts_.id) {
      l.mark_self();
      return;
    }
    if (ms_ && !l.peer()) ms_->seed_heard = true;  // a seed (or a new link) named its node
    const bool admitted = admit_locked_(
        *env, l.role() == transport::detail::link_role::configured || peers_.configured(env->sender), now);
    if (peers_.find(env->sender) != nullptr) peers_.heard_on_link(index, env->sender, now);
    if (!admitted) return;
    if (env->what == kind::data) {
      if (auto* p = peers_.find(env->sender)) p->data_heard = now;
    }
    if (transport::detail::carries_payload(env->what))
      data.push_back({env->sender, std::move(frames[1]), env->what});
  }

  void on_zap_(const std::vector<zmq::message_t>& frames) {
    const auto d = zap_->answer(frames);
    if (d.allowed) return;
    {
      std::lock_guard lock(mutex_);
      ++metrics_.auth_denied;
    }
    if (!d.key.empty()) {
      log_("converge node " + std::to_string(opts_.id) + ": refused CURVE key " + d.key + " from " +
           d.address);
    }
  }

  void on_monitor_(const std::vector<zmq::message_t>& frames) {
    const auto e = transport::detail::listener::read_event(frames);
    if (!e) return;
    std::lock_guard lock(mutex_);
    if (e->disconnected) {
      ++metrics_.disconnects;
    } else {
      ++metrics_.handshake_failures;
      log_("converge node " + std::to_string(opts_.id) + ": handshake failed on " + e->where);
    }
  }

  // Sends a replicator message to `to`, over a live connection when there is one.
  send_result send_data_(std::uint64_t to, std::span<const std::byte> payload, std::uint64_t now) {
    if (now < isolated_until_) return send_result::no_route;
    const auto r = peers_.route_to(to, now);
    const auto env = envelopes_.of(kind::data);
    if (r.via_link != nullptr) return r.via_link->send(kind::data, env, payload, r.live);
    return listener_.send(r.routing_id, kind::data, env, payload);
  }

  void count_send_(send_result r, std::size_t bytes) {
    switch (r) {
      case send_result::sent:
        ++metrics_.messages_out;
        metrics_.bytes_out += bytes;
        return;
      case send_result::queue_full:
        ++metrics_.send_queue_full;
        break;
      case send_result::no_route:
        ++metrics_.send_no_route;
        break;
    }
    ++metrics_.send_dropped;
  }

  /// Runs `f` (which changes the replicator) under the lock, marks the
  /// state for the next tick and tells subscribers; then wakes the node's
  /// thread, or, in poll mode, delivers the changes here. Returns f's result.
  template <class F>
  auto change_(F&& f) {
    std::unique_lock lock(mutex_);
    auto result = std::forward<F>(f)();
    dirty_ = true;
    collect_changes_();
    lock.unlock();
    if (running_) {
      wake();
    } else {
      feed_.dispatch();
    }
    return result;
  }

  // --- quorum operations ------------------------------------------------------

  static std::uint64_t ms_count_(std::chrono::milliseconds t) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, t.count()));
  }

  /// The replicator counts membership's up members (less this node) for
  /// quorums; without membership it counts its peers.
  void refresh_members_locked_(std::uint64_t now) {
    next_members_refresh_ = now + members_refresh;
    if (!ms_) return;
    std::vector<peer_id> up;
    for (const auto& r : ms_->fd.view().records()) {
      if (r.node == opts_.id || r.status != membership::member_status::up) continue;
      up.push_back(r.node);
      replicator_.bind_replica(r.node, r.replica);  // rights go only to a member's own replica
    }
    replicator_.set_members(std::move(up));
  }

  /// The callbacks of the operations `tick` resolved, to call outside the lock.
  std::vector<std::pair<outcome_callback, operation_outcome>> take_outcomes_locked_() {
    std::vector<std::pair<outcome_callback, operation_outcome>> out;
    while (auto o = replicator_.poll_outcome()) {
      const auto it = waiting_ops_.find(o->token);
      if (it == waiting_ops_.end()) continue;
      out.emplace_back(std::move(it->second), *o);
      waiting_ops_.erase(it);
    }
    return out;
  }

  static constexpr std::uint64_t members_refresh = 200;  // ms

  void process_() {
    const std::uint64_t now = now_ms_();
    std::vector<inbound_data> data;
    int budget = receive_budget;
    bool dry = transport::detail::drain(listener_.socket(), budget, [&](auto& frames, bool overflow) {
      on_router_(frames, overflow, data, now);
    });
    auto& links = peers_.links();
    for (std::size_t i = 0; i < links.size(); ++i) {
      dry = transport::detail::drain(
                links[i].socket(), budget,
                [&](auto& frames, bool overflow) { on_link_(i, frames, overflow, data, now); }) &&
            dry;
    }
    if (zap_) {
      int zap_budget = receive_budget;
      transport::detail::drain(
          zap_->socket(), zap_budget, [&](auto& frames, bool) { on_zap_(frames); }, 16);
    }
    if (zmq::socket_t* monitor = listener_.monitor()) {
      int monitor_budget = receive_budget;
      transport::detail::drain(*monitor, monitor_budget, [&](auto& frames, bool) { on_monitor_(frames); });
    }
    more_pending_ = !dry;

    tick_result result;
    bool ticked = false;
    std::vector<std::pair<outcome_callback, operation_outcome>> outcomes;
    {
      std::lock_guard lock(mutex_);
      for (auto& in : data) {
        if (in.what != kind::data) {
          receive_membership_(in, now);
          continue;
        }
        ++metrics_.messages_in;
        metrics_.bytes_in += in.bytes.size();
        replicator_.receive(in.from, bytes_of(in.bytes));
      }
      const bool got_data =
          std::any_of(data.begin(), data.end(), [](const inbound_data& in) { return in.what == kind::data; });
      if (ms_)
        step_membership_(now, std::any_of(data.begin(), data.end(),
                                          [](const inbound_data& in) { return in.what != kind::data; }));
      collect_changes_();
      if (now >= next_tick_ || dirty_ || got_data) {
        // The clock again: joining what arrived may have taken a while, and
        // RTT samples and timeouts should count it.
        const std::uint64_t at = got_data ? now_ms_() : now;
        const std::uint64_t durable_before = replicator_.durable_position();
        result = replicator_.tick(at);
        next_tick_ = std::max(result.next_deadline, at + 1);
        dirty_ = false;
        ticked = true;
        if (replicator_.durable_position() != durable_before) durable_cv_.notify_all();
        outcomes = take_outcomes_locked_();
      }
      if (now >= next_members_refresh_) refresh_members_locked_(now);
    }
    for (auto& [done, o] : outcomes) {
      if (done) done(o);
    }
    if (ticked && !result.messages.empty()) {
      std::vector<send_result> sent;
      sent.reserve(result.messages.size());
      for (const auto& m : result.messages) sent.push_back(send_data_(m.to, m.bytes, now));
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < sent.size(); ++i) count_send_(sent[i], result.messages[i].bytes.size());
    }
    if (now >= next_heartbeat_) {
      if (now >= isolated_until_) {
        for (auto& l : links) {
          if (!l.self()) l.send(kind::hello, envelopes_.of(kind::hello), {}, true);
        }
      }
      next_heartbeat_ =
          now + static_cast<std::uint64_t>(std::max<std::int64_t>(1, opts_.heartbeat_interval.count()));
      expire_(now);
    } else if (ms_ && now >= ms_->next_hello && now >= isolated_until_) {
      // A dynamic link not heard yet says hello every few milliseconds (a
      // send before its connection completes is dropped), so a member's new
      // link carries messages within a round trip, not a heartbeat.
      for (auto& l : links) {
        if (!l.self() && !l.last_heard()) l.send(kind::hello, envelopes_.of(kind::hello), {}, true);
      }
    }
    if (ms_) {
      std::lock_guard lock(mutex_);
      ms_->next_hello = std::numeric_limits<std::uint64_t>::max();
      for (const auto& l : links) {
        if (!l.self() && !l.last_heard() && l.role() == transport::detail::link_role::dynamic &&
            now - std::min(now, l.opened()) < 3000)
          ms_->next_hello = now + fast_hello_ms;
      }
      prune_links_(now);
    }
    feed_.dispatch();
  }

  // --- membership shell ------------------------------------------------------
  // The protocols are pure (include/converge/membership/); this part only
  // carries their messages, opens and closes links, mirrors the active view
  // into the replicator's peers, and runs the seeds. All under the lock.

  void start_membership_() {
    const membership_options& mo = *opts_.membership;
    membership::member_record self;
    self.node = opts_.id;
    self.replica = replica_;
    self.endpoints = mo.advertise.empty() ? advertised_(endpoints_) : mo.advertise;
    self.curve_public_key = !mo.curve_public_key.empty() ? mo.curve_public_key
                            : opts_.curve                ? opts_.curve->own.public_key
                                                         : std::string();
    // The wall clock: every life of this node starts above the incarnations
    // of its earlier lives (which others may hold as `down`).
    self.incarnation =
        mo.incarnation != 0
            ? mo.incarnation
            : static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    std::uint64_t seed = mo.seed;
    if (seed == 0) {
      std::random_device rd;
      seed = (std::uint64_t{rd()} << 32) ^ rd() ^ opts_.id;
    }
    ms_.emplace(std::move(self), mo, seed);
    ms_->record.emplace(
        replica_, replication_options(opts_),
        transport::detail::retirement_options{
            mo.retire_leave_grace != 0 ? mo.retire_leave_grace : 2 * mo.detector.probe_interval,
            mo.retire_down});
    if (!mo.retired_record.empty()) {
      // Kept by this node's earlier life; bytes that do not decode stop the start (decode_error).
      using record_type = typename transport::detail::member_replication<State>::record_type;
      ms_->record->restore(converge::decode<record_type>(std::span<const std::byte>(mo.retired_record)));
    }
    if (mo.save_retired) {
      ms_->record->on_retired_change([save = mo.save_retired](const auto& r) { save(converge::encode(r)); });
    }
    // No one to join through: the first member of a cluster.
    if (mo.seeds.empty() && !mo.seed_source && opts_.peers.empty()) ms_->fd.bootstrap();
  }

  // The bound endpoints as others reach them: a tcp wildcard host is not an
  // address, so it becomes the loopback one.
  static std::vector<std::string> advertised_(const std::vector<std::string>& bound) {
    std::vector<std::string> out;
    for (const std::string& e : bound) {
      std::string a = e;
      for (const std::string_view any : {"tcp://0.0.0.0:", "tcp://*:"}) {
        if (a.starts_with(any)) a = "tcp://127.0.0.1:" + a.substr(any.size());
      }
      if (a.starts_with("tcp://[::]:")) a = "tcp://[::1]:" + a.substr(11);
      out.push_back(std::move(a));
    }
    return out;
  }

  template <class F>
  void membership_call_(F&& fn) {
    {
      std::lock_guard lock(mutex_);
      if (!ms_) return;
      std::forward<F>(fn)(*ms_);
      ms_->next = 0;
      dirty_ = true;
    }
    if (running_) wake();
  }

  // Decodes one membership message and hands it to its protocol; garbage is
  // dropped and counted like any malformed message, and changes nothing.
  void receive_membership_(const inbound_data& in, std::uint64_t now) {
    try {
      if (!ms_) throw std::invalid_argument("this node runs no membership");
      if (in.what == kind::probe) {
        const auto m = converge::decode<membership::probe_message>(bytes_of(in.bytes));
        ms_->fd.receive(in.from, m, now);
      } else if (in.what == kind::members) {
        if (!ms_->record->receive(in.from, bytes_of(in.bytes)))
          throw std::invalid_argument("a members record message that does not decode");
      } else {
        const auto m = converge::decode<membership::view_message>(bytes_of(in.bytes));
        ms_->v.receive(in.from, m, now);
      }
      ++metrics_.membership_in;
    } catch (const std::exception& e) {
      ++metrics_.dropped_malformed;
      log_("converge node " + std::to_string(opts_.id) + ": dropped a membership message from " +
           std::to_string(in.from) + " (" + e.what() + ")");
    }
  }

  // Runs the seeds, ticks the views and the detector when due (or when a
  // message arrived), glues their outputs together, and sends.
  void step_membership_(std::uint64_t now, bool got_message) {
    membership_state& m = *ms_;
    join_step_(now);
    if (got_message || now >= m.next) {
      std::vector<std::pair<membership::node_id, membership::view_message>> view_out;
      std::vector<std::pair<membership::node_id, membership::probe_message>> probe_out;
      std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
      membership::members made;  // the detector's deltas, for the membership replicator
      // A second round when a detector verdict removed a link: the views
      // repair at once, and the detector learns its new neighbours.
      for (int round = 0; round < 2; ++round) {
        m.v.set_cluster_size(m.fd.live_members());
        membership::view_output vo = m.v.tick(now);
        if (vo.active_changed) apply_active_(now);
        update_neighbours_();
        membership::detector_output fo = m.fd.tick(now);
        bool again = false;
        for (const membership::member_change& c : fo.changes) {
          if (c.node == opts_.id) continue;
          if (c.after == membership::member_status::down) ++metrics_.members_down;
          if (!membership::is_live(c.after)) {
            m.v.neighbour_failed(c.node, now);
            again = true;
          } else if (c.before == membership::member_status::down) {
            m.v.revived(c.node);  // maybe the other side of a healed partition
          } else {
            m.v.offer(c.node);
          }
        }
        for (auto& x : vo.messages) view_out.push_back(std::move(x));
        for (auto& x : fo.messages) probe_out.push_back(std::move(x));
        made.join(fo.deltas);
        next = std::min(vo.next_deadline, fo.next_deadline);
        if (!again) break;
      }
      next = std::min(next, step_record_(now, made));
      m.next = std::max(next, now + 1);
      reconcile_peers_(now);
      for (const auto& [to, msg] : view_out) send_member_(to, kind::view, converge::encode(msg), now);
      for (const auto& [to, msg] : probe_out) send_member_(to, kind::probe, converge::encode(msg), now);
    }
    flush_held_(now);
  }

  // The membership replicator and retirement (member_replication.hpp):
  // sends its messages, returns its next deadline.
  std::uint64_t step_record_(std::uint64_t now, const membership::members& made) {
    transport::detail::member_step r = ms_->record->step(now, ms_->fd, made, replicator_);
    if (r.user_changed) dirty_ = true;
    for (auto& msg : r.messages.messages) send_member_(msg.to, kind::members, std::move(msg.bytes), now);
    return r.messages.next_deadline;
  }

  // The replicator's peers follow the active view (configured peers stay),
  // and so do the detector's neighbours.
  void apply_active_(std::uint64_t now) {
    membership_state& m = *ms_;
    const std::vector<membership::node_id> next = m.v.active();
    for (const membership::node_id x : next) {
      if (std::find(m.active.begin(), m.active.end(), x) != m.active.end()) continue;
      m.dropped_at.erase(x);
      ensure_link_(x, now);
      auto* p = peers_.find(x);
      if (p == nullptr && peers_.size() < opts_.replication.max_peers) {
        const membership::member_record* r = m.fd.view().find(x);
        p = &peers_.admit(x, r != nullptr ? r->replica : replica_id{}, false);
      }
      if (p != nullptr && !p->replicating && replicator_.add_peer(x)) {
        p->replicating = true;
        dirty_ = true;
      }
    }
    for (const membership::node_id x : m.active) {
      if (std::find(next.begin(), next.end(), x) != next.end()) continue;
      if (peers_.configured(x)) continue;
      if (auto* p = peers_.find(x); p != nullptr && p->replicating) {
        replicator_.remove_peer(x);
        p->replicating = false;
      }
      m.dropped_at[x] = now;
    }
    m.active = next;
    update_neighbours_();
  }

  // The detector probes the active view and, with `probe_passive`, the
  // passive one too: a crashed member is then suspected independently by
  // many members (Lifeguard's confirmations bring its suspicion to the
  // minimum timeout), not only by its few links, while each member still
  // sends one probe per period.
  void update_neighbours_() {
    membership_state& m = *ms_;
    std::vector<membership::node_id> n = m.v.active();
    if (opts_.membership->probe_passive) {
      for (const membership::node_id x : m.v.passive()) n.push_back(x);
    }
    std::sort(n.begin(), n.end());
    if (n != m.fd.neighbours()) m.fd.set_neighbours(n);
  }

  // A member that became a replicator peer before it was known as one (its
  // hello came first), is not in the active view, no configured link reaches
  // it, and has sent no data for a while, is no replicator peer any more.
  void reconcile_peers_(std::uint64_t now) {
    membership_state& m = *ms_;
    const std::uint64_t quiet = 4 * std::max<std::uint64_t>(1, m.fd.options().probe_interval);
    std::vector<std::uint64_t> drop;
    peers_.for_each([&](std::uint64_t id, transport::detail::peer_table::peer& p) {
      if (!p.replicating || m.v.in_active(id) || m.fd.view().find(id) == nullptr) return;
      if (p.data_heard && now - std::min(now, *p.data_heard) < quiet) return;
      drop.push_back(id);
    });
    for (const std::uint64_t id : drop) {
      if (peers_.configured(id)) continue;
      replicator_.remove_peer(id);
      peers_.find(id)->replicating = false;
    }
  }

  // While this node has no link: every `join_retry`, (re)connects to every
  // seed (a new connection resolves a host name again) and runs the seed
  // source; the views join through a seed once one has named its node.
  void join_step_(std::uint64_t now) {
    membership_state& m = *ms_;
    const membership_options& mo = *opts_.membership;
    const bool alone = m.v.active().empty();
    if (m.seed_heard) {
      m.seed_heard = false;
      update_seeds_(now, alone);
    }
    if (!alone) {
      m.alone_since = 0;
      return;
    }
    if (m.alone_since == 0) m.alone_since = now;
    if (now < m.next_join) return;
    m.next_join = now + std::max<std::uint64_t>(1, mo.join_retry);
    std::vector<std::string> eps = mo.seeds;
    if (mo.seed_source) {
      try {
        for (std::string& e : mo.seed_source()) {
          if (std::find(eps.begin(), eps.end(), e) == eps.end()) eps.push_back(std::move(e));
        }
      } catch (const std::exception& e) {
        log_("converge node " + std::to_string(opts_.id) + ": the seed source failed: " + e.what());
      }
    }
    const auto& own = m.fd.view().find(opts_.id)->endpoints;
    std::erase_if(eps, [&](const std::string& e) {
      return std::find(own.begin(), own.end(), e) != own.end() ||
             std::find(endpoints_.begin(), endpoints_.end(), e) != endpoints_.end();
    });
    m.seed_endpoints = eps;
    for (const std::string& e : eps) {
      if (const auto i = peers_.link_to(e)) {
        transport::detail::link& l = peers_.links()[*i];
        if (l.role() != transport::detail::link_role::dynamic || peers_.live(l.last_heard(), now)) continue;
        peers_.remove_link(*i);
        ++metrics_.links_closed;
      }
      open_link_(e, std::nullopt, now);
    }
    const bool heard = update_seeds_(now, true);
    if (!heard && !(eps.empty() && opts_.peers.empty()) && now - m.alone_since >= mo.join_retry) {
      std::string list;
      for (const std::string& e : eps) list += (list.empty() ? "" : ", ") + e;
      for (const std::string& e : opts_.peers) list += (list.empty() ? "" : ", ") + e;
      log_("converge node " + std::to_string(opts_.id) + ": no member reached yet (seeds: " + list +
           "); trying again every " + std::to_string(mo.join_retry) + " ms");
    }
  }

  // Gives the views the seeds that named their node; joins through one now
  // when alone. True when some seed answered.
  bool update_seeds_(std::uint64_t now, bool alone) {
    membership_state& m = *ms_;
    std::vector<membership::node_id> ids;
    for (const transport::detail::link& l : peers_.links()) {
      if (l.self() || !l.peer() || !peers_.live(l.last_heard(), now)) continue;
      const bool seed =
          l.role() == transport::detail::link_role::configured ||
          std::find(m.seed_endpoints.begin(), m.seed_endpoints.end(), l.endpoint()) != m.seed_endpoints.end();
      if (seed && std::find(ids.begin(), ids.end(), *l.peer()) == ids.end()) ids.push_back(*l.peer());
    }
    m.v.set_seeds(ids);
    if (alone && !ids.empty()) {
      m.v.join(ids[static_cast<std::size_t>(now % ids.size())], now);
      m.next = 0;
    }
    return !ids.empty();
  }

  // Makes sure a link reaches member `x` (its advertised endpoint).
  void ensure_link_(membership::node_id x, std::uint64_t now) {
    for (transport::detail::link& l : peers_.links()) {
      if (!l.self() && l.reaches(x)) {
        l.use(now);
        return;
      }
    }
    const membership::member_record* r = ms_->fd.view().find(x);
    if (r == nullptr || x == opts_.id) return;
    for (const std::string& e : r->endpoints) {
      if (peers_.link_to(e)) continue;  // a link there reaches someone else, or has not said whom yet
      if (open_link_(e, x, now)) return;
    }
  }

  std::optional<std::size_t> open_link_(const std::string& endpoint, std::optional<std::uint64_t> expect,
                                        std::uint64_t now) {
    try {
      const std::size_t i = peers_.add_link(transport::detail::link(
          *ctx_, endpoint, opts_, max_message_, transport::detail::link_role::dynamic, expect, now));
      transport::detail::link& l = peers_.links()[i];
      l.use(now);
      if (epoll_) epoll_->add(l.socket().get(zmq::sockopt::fd));
      ++metrics_.links_opened;
      ms_->next_hello = now;
      return i;
    } catch (const std::exception& e) {
      log_("converge node " + std::to_string(opts_.id) + ": cannot link to " + endpoint + ": " + e.what());
      return std::nullopt;
    }
  }

  // Sends over a connection to `to`; false when there is none (yet). Unlike
  // data, a membership message goes on any connection that is up, even to
  // a member not heard lately: whether it is alive is the detector's
  // question, and a paused member must find its suspicion waiting when it
  // runs again (a link's DEALER queues only on a completed connection, a
  // ROUTER refuses a closed one).
  bool try_send_member_(membership::node_id to, kind what, std::span<const std::byte> bytes,
                        std::uint64_t now) {
    const auto r = peers_.route_to(to, now);
    const auto env = envelopes_.of(what);
    send_result res = send_result::no_route;
    if (r.via_link != nullptr) {
      res = r.via_link->send(what, env, bytes, true);
      r.via_link->use(now);
    } else if (!r.routing_id.empty()) {
      res = listener_.send(r.routing_id, what, env, bytes);
    }
    if (res != send_result::sent && !r.live && r.via_link != nullptr) {
      const auto* p = peers_.find(to);
      if (p != nullptr && !p->routing_id.empty()) res = listener_.send(p->routing_id, what, env, bytes);
    }
    if (res == send_result::sent) {
      ++metrics_.membership_out;
      return true;
    }
    if (r.live && res == send_result::queue_full) {
      ++metrics_.membership_dropped;  // a full queue to a live member: the protocols retry on their own
      return true;
    }
    return false;
  }

  // Sends now, or holds the message (bounded, for `held_for`) while a link
  // to `to` comes up or its record arrives.
  void send_member_(membership::node_id to, kind what, std::vector<std::byte> bytes, std::uint64_t now) {
    if (now < isolated_until_ || to == opts_.id) return;
    if (try_send_member_(to, what, bytes, now)) return;
    ensure_link_(to, now);
    const membership_options& mo = *opts_.membership;
    auto it = ms_->held.find(to);
    if (it == ms_->held.end()) {
      if (ms_->held.size() >= 4 * std::max<std::size_t>(1, mo.transient_links) + 64) {
        ++metrics_.membership_dropped;
        return;
      }
      it = ms_->held.emplace(to, std::deque<held_message>{}).first;
    }
    auto& q = it->second;
    if (q.size() >= std::max<std::size_t>(1, mo.held_per_member)) {
      q.pop_front();
      ++metrics_.membership_dropped;
    }
    q.push_back(held_message{what, std::move(bytes), now + mo.held_for});
  }

  void flush_held_(std::uint64_t now) {
    for (auto it = ms_->held.begin(); it != ms_->held.end();) {
      auto& q = it->second;
      while (!q.empty() && (q.front().until <= now || now < isolated_until_)) {
        q.pop_front();
        ++metrics_.membership_dropped;
      }
      while (!q.empty() && try_send_member_(it->first, q.front().what, q.front().bytes, now)) q.pop_front();
      if (q.empty()) {
        it = ms_->held.erase(it);
      } else {
        ensure_link_(it->first, now);
        ++it;
      }
    }
  }

  // Closes the dynamic links no longer needed: a link is kept while it
  // reaches an active member, holds messages, is a seed link not yet
  // answered, or is among the `transient_links` most recently used others
  // (used within `transient_idle`).
  void prune_links_(std::uint64_t now) {
    membership_state& m = *ms_;
    const membership_options& mo = *opts_.membership;
    auto& links = peers_.links();
    std::vector<std::pair<std::uint64_t, std::size_t>> transient;
    std::vector<std::size_t> close;
    for (std::size_t i = 0; i < links.size(); ++i) {
      const transport::detail::link& l = links[i];
      if (l.role() != transport::detail::link_role::dynamic) continue;
      if (l.self()) {
        close.push_back(i);
        continue;
      }
      const auto peer = l.peer();
      if (peer && (m.v.in_active(*peer) || m.held.contains(*peer))) continue;
      if (!peer || !l.last_heard()) {
        // Not answered yet: a seed link is retried by the join step; any
        // other gets as long as a join attempt.
        if (now - std::min(now, l.opened()) > mo.join_retry + mo.held_for) close.push_back(i);
        continue;
      }
      if (now - std::min(now, l.used()) > mo.transient_idle) {
        close.push_back(i);
      } else {
        transient.emplace_back(l.used(), i);
      }
    }
    if (transient.size() > mo.transient_links) {
      std::sort(transient.begin(), transient.end(), std::greater<>());
      for (std::size_t k = mo.transient_links; k < transient.size(); ++k)
        close.push_back(transient[k].second);
    }
    std::sort(close.begin(), close.end(), std::greater<>());
    for (const std::size_t i : close) {
      peers_.remove_link(i);
      ++metrics_.links_closed;
    }
    std::erase_if(m.dropped_at, [&](const auto& x) { return now - std::min(now, x.second) >= 5000; });
  }

  // Forgets peers known only from inbound connections that have been silent
  // for long (at least 10 s): whatever the replicator buffered for them goes,
  // and a peer that comes back is admitted again with a state transfer. Keeps
  // the peer table from filling with senders that left (or never were).
  void expire_(std::uint64_t now) {
    const std::uint64_t window =
        std::max<std::uint64_t>(10000, 30 * static_cast<std::uint64_t>(opts_.heartbeat_interval.count()));
    std::lock_guard lock(mutex_);
    for (const std::uint64_t id : peers_.expire(now, window)) {
      replicator_.remove_peer(id);
      log_("converge node " + std::to_string(opts_.id) + ": forgot peer " + std::to_string(id) +
           " (silent, not a configured peer)");
    }
  }

  node_options opts_;
  replica_id replica_;
  mutable std::mutex
      mutex_;  // guards the replicator, the peer table and the metrics (the node's thread owns the sockets)
  replicator<State> replicator_;
  std::condition_variable durable_cv_;                       // the journal synced (wait_durable)
  std::map<operation_token, outcome_callback> waiting_ops_;  // quorum operations started, by token
  std::uint64_t next_members_refresh_ = 0;
  std::mutex op_mutex_;  // run_op's wait for its outcome
  std::condition_variable op_cv_;
  transport::detail::rate_limited_log log_;
  std::chrono::steady_clock::time_point epoch_;

  // Sockets close (in reverse order) before the context they belong to.
  std::unique_ptr<zmq::context_t> own_context_;
  zmq::context_t* ctx_ = nullptr;
  std::size_t max_message_ = 0;
  transport::detail::envelopes envelopes_;
  std::optional<transport::detail::zap_handler> zap_;
  std::string guard_path_;  // the ROUTER's private ipc socket behind the guard; empty: no guard
  transport::detail::listener listener_;
  std::optional<transport::detail::inbound_guard> guard_;  // closes before the ROUTER
  std::vector<std::string> endpoints_;
  transport::detail::peer_table peers_;
  transport_metrics metrics_;

  transport::detail::change_feed<State> feed_;

  std::optional<membership_state> ms_;            // with node_options::membership
  std::atomic<std::uint64_t> isolated_until_{0};  // fault injection (`isolate`)

  std::uint64_t next_tick_ = 0;
  std::uint64_t next_heartbeat_ = 0;
  std::atomic<bool> dirty_{false};
  bool more_pending_ = false;

  transport::detail::event_fd wake_;
  std::optional<transport::detail::epoll_set> epoll_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace converge
