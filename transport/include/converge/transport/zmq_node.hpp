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
///   9.0 MB peak (0.4 to 1 GB); 10,000 connections each opening a message of
///   one 4 KiB frame, 256 admitted, 18 MB (200 MB); 100 connections sending
///   3 frames of which two are 1 MiB, 11 MB (215 MB); 1000 connections each
///   holding an unfinished 1 MiB frame, 256 admitted, 346 MB. (The guard's
///   buffers are allocated at their cap but never zeroed, so only the pages
///   a connection fills are resident.) The relay
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
/// `node_options.hpp`, `transport_metrics.hpp`, `peer_status.hpp`,
/// `state_change.hpp` (the public types); in `detail/`: `listener.hpp` (the
/// ROUTER and its monitor), `link.hpp` (one DEALER to a peer), `peer_table.hpp`
/// (one record per peer, routing, expiry), `zap_handler.hpp` (CURVE
/// authentication), `change_feed.hpp` (subscribers), `pump.hpp` (drain and
/// wait loops), `unique_fd.hpp` (eventfd, epoll), `sockets.hpp`,
/// `envelope.hpp`, `rate_limited_log.hpp`, `inbound_guard.hpp` (the relay
/// that bounds inbound tcp connections). This file ties them together.

#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/detail/change_feed.hpp"
#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/detail/inbound_guard.hpp"
#include "converge/transport/detail/link.hpp"
#include "converge/transport/detail/listener.hpp"
#include "converge/transport/detail/peer_table.hpp"
#include "converge/transport/detail/pump.hpp"
#include "converge/transport/detail/rate_limited_log.hpp"
#include "converge/transport/detail/sockets.hpp"
#include "converge/transport/detail/unique_fd.hpp"
#include "converge/transport/detail/zap_handler.hpp"
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
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
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
    State delta;
    {
      std::lock_guard lock(mutex_);
      delta = replicator_.mutate(std::forward<F>(fn));
      dirty_ = true;
      collect_changes_();
    }
    if (running_) {
      wake();
    } else {
      feed_.dispatch();
    }
    return delta;
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
    const std::uint64_t due = std::min(next_tick_, next_heartbeat_);
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
  };

  static constexpr int receive_budget = 4096;

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
    const std::size_t expected_frames = first + (env->what == kind::data ? 2 : 1);
    if (frames.size() != expected_frames) {
      drop_(&transport_metrics::dropped_malformed,
            "a message with a bad frame count from " + std::string(from));
      return std::nullopt;
    }
    if (env->what == kind::data && frames.back().size() > max_message_) {
      drop_(&transport_metrics::dropped_oversized, "an oversized message (" +
                                                       std::to_string(frames.back().size()) +
                                                       " bytes) from " + std::string(from));
      return std::nullopt;
    }
    return env;
  }

  // Admits a valid sender (or records its new incarnation); false when it
  // cannot be admitted (peer limit). Under the lock.
  bool admit_locked_(const transport::detail::envelope& env) {
    if (auto* p = peers_.find(env.sender)) {
      p->replica = replica_id{env.replica};
      return true;
    }
    if (peers_.size() >= opts_.replication.max_peers || !replicator_.add_peer(env.sender)) {
      ++metrics_.dropped_peer_limit;
      return false;
    }
    peers_.admit(env.sender, replica_id{env.replica});
    dirty_ = true;  // tick soon: the new peer gets a state transfer
    return true;
  }

  void on_router_(std::vector<zmq::message_t>& frames, bool overflow, std::vector<inbound_data>& data,
                  std::uint64_t now) {
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
      if (!admit_locked_(*env)) return;
      peers_.heard_inbound(env->sender, frames[0].to_string_view(), now);
    }
    if (env->what == kind::data) data.push_back({env->sender, std::move(frames[2])});
  }

  void on_link_(std::size_t index, std::vector<zmq::message_t>& frames, bool overflow,
                std::vector<inbound_data>& data, std::uint64_t now) {
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
    if (!admit_locked_(*env)) return;
    peers_.heard_on_link(index, env->sender, now);
    if (env->what == kind::data) data.push_back({env->sender, std::move(frames[1])});
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
    {
      std::lock_guard lock(mutex_);
      for (auto& in : data) {
        ++metrics_.messages_in;
        metrics_.bytes_in += in.bytes.size();
        replicator_.receive(in.from, bytes_of(in.bytes));
      }
      collect_changes_();
      if (now >= next_tick_ || dirty_ || !data.empty()) {
        // The clock again: joining what arrived may have taken a while, and
        // RTT samples and timeouts should count it.
        const std::uint64_t at = data.empty() ? now : now_ms_();
        const std::uint64_t durable_before = replicator_.durable_position();
        result = replicator_.tick(at);
        next_tick_ = std::max(result.next_deadline, at + 1);
        dirty_ = false;
        ticked = true;
        if (replicator_.durable_position() != durable_before) durable_cv_.notify_all();
      }
    }
    if (ticked && !result.messages.empty()) {
      std::vector<send_result> sent;
      sent.reserve(result.messages.size());
      for (const auto& m : result.messages) sent.push_back(send_data_(m.to, m.bytes, now));
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < sent.size(); ++i) count_send_(sent[i], result.messages[i].bytes.size());
    }
    if (now >= next_heartbeat_) {
      for (auto& l : links) {
        if (!l.self()) l.send(kind::hello, envelopes_.of(kind::hello), {}, true);
      }
      next_heartbeat_ =
          now + static_cast<std::uint64_t>(std::max<std::int64_t>(1, opts_.heartbeat_interval.count()));
      expire_(now);
    }
    feed_.dispatch();
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
  std::condition_variable durable_cv_;  // the journal synced (wait_durable)
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
