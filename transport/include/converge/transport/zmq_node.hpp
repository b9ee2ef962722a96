#pragma once
/// @file
/// `converge::zmq_node<State>`: a `replicator<State>` pumped over ZeroMQ.
///
/// Sockets: the node binds one ROUTER for inbound connections and connects
/// one DEALER to each peer endpoint (ZeroMQ reconnects to peers that are not
/// up yet, or that restart). Every message starts with an envelope frame that
/// names the sending node (see detail/envelope.hpp), so a peer is known by its
/// id whichever side opened the connection, and replies travel back over the
/// same connection: a peer need not list this node to exchange with it.
///
/// Embedding, two ways:
/// - threaded: `start()` runs the node on a background thread; `mutate`,
///   `read`, `snapshot` are thread-safe, and subscribers are called on the
///   node's thread after every change, local or remote;
/// - poll-driven, for a service that owns its event loop: wait on `fd()`
///   (readable when the node may have work) or at most `next_timeout()`,
///   then call `process()`; or call `poll(timeout)`, which does both.
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
/// never block (a full queue drops the message and the replicator
/// retransmits), bounded notification queue. Malformed, oversized and
/// spoofed messages are dropped, counted and logged (rate-limited).

#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"
#include "converge/replication/replicator.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/detail/field_changes.hpp"
#include "converge/transport/detail/rate_limited_log.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace converge {

/// How a `zmq_node` runs. Only `id` and `bind` are required.
struct node_options {
  /// This node's id on the wire (a peer's `peer_id`); unique in the cluster.
  std::uint64_t id = 0;
  /// The replica identity for updates; default `replica_id::with_incarnation(id, r)`
  /// with `r` random, so that a restart without data never reuses a dot.
  std::optional<replica_id> replica;
  /// Endpoints to bind (tcp://, ipc://, inproc://). May be empty for a node that only connects.
  std::vector<std::string> bind;
  /// Peer endpoints to connect to.
  std::vector<std::string> peers;
  /// How often the replicator gossips.
  std::chrono::milliseconds gossip_interval{50};
  /// How often each outbound connection says hello; a peer unheard for three
  /// intervals is reported unreachable.
  std::chrono::milliseconds heartbeat_interval{500};
  /// Replicator settings; `gossip_interval` is taken from above, and a zero
  /// `session` is replaced by a random nonce.
  replicator_options replication{};
  /// CURVE encryption, authentication and allow-list (off when empty).
  std::optional<curve_options> curve;
  int send_hwm = 1000;     ///< messages queued per connection before sends are dropped
  int receive_hwm = 1000;  ///< messages queued per connection before the peer is throttled
  std::chrono::milliseconds linger{200};  ///< how long close waits for unsent messages
  std::chrono::milliseconds reconnect_interval{100};
  std::chrono::milliseconds reconnect_interval_max{1000};
  /// The ZeroMQ context; nullptr makes one for this node. Nodes that talk
  /// over inproc:// must share one. At most one CURVE node per context.
  zmq::context_t* context = nullptr;
  /// Where log lines go (rate-limited); default stderr. Set an empty function to silence.
  std::function<void(std::string_view)> log = [](std::string_view line) { std::cerr << line << '\n'; };
};

/// What the transport counted (the replicator counts the rest).
struct transport_metrics {
  std::uint64_t messages_in = 0;       ///< data messages handed to the replicator
  std::uint64_t messages_out = 0;      ///< data messages sent
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t dropped_malformed = 0; ///< bad envelope or frame count
  std::uint64_t dropped_oversized = 0; ///< payload over max_message_bytes
  std::uint64_t dropped_spoofed = 0;   ///< sender id not the one bound to the CURVE key
  std::uint64_t dropped_peer_limit = 0;///< from a new peer beyond max_peers
  std::uint64_t send_dropped = 0;      ///< queue full, or no route to the peer
  std::uint64_t auth_denied = 0;       ///< ZAP refusals
  std::uint64_t handshake_failures = 0;///< ZMTP handshake failures (garbage, bad keys)
  std::uint64_t disconnects = 0;       ///< inbound connections closed (incl. oversized messages)
};

/// A peer as the node sees it.
struct peer_status {
  std::string endpoint;  ///< empty for a peer known only from its inbound connection
  std::optional<std::uint64_t> id;
  bool reachable = false;
  std::optional<replica_id> replica;  ///< its current incarnation, once heard
};

/// What a subscriber is told after a change.
template <class State>
struct state_change {
  const State& delta;                      ///< the part of the state that changed
  std::vector<std::string_view> fields;    ///< names of changed members (Hana structs), else empty
  bool local = false;                      ///< from `mutate` on this node
};

template <delta_lattice State>
class zmq_node {
 public:
  using callback = std::function<void(const state_change<State>&)>;

  /// Creates the sockets, binds and connects. Throws `zmq::error_t` (bad
  /// endpoint, address in use) or `std::invalid_argument` (CURVE settings).
  explicit zmq_node(node_options options, State initial = {})
      : opts_(std::move(options)),
        replica_(opts_.replica ? *opts_.replica : replica_id::with_incarnation(opts_.id, random_incarnation())),
        replicator_(replica_, replication_options(opts_), std::move(initial)),
        log_(opts_.log),
        epoch_(std::chrono::steady_clock::now()) {
    if (opts_.context == nullptr) {
      own_context_ = std::make_unique<zmq::context_t>(1);
      ctx_ = own_context_.get();
    } else {
      ctx_ = opts_.context;
    }
    max_message_ = std::max<std::size_t>(opts_.replication.max_message_bytes, 64);
    if (opts_.curve) setup_zap();
    setup_router();
    for (const auto& endpoint : opts_.peers) add_outbound(endpoint);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    next_heartbeat_ = 0;
  }

  zmq_node(const zmq_node&) = delete;
  zmq_node& operator=(const zmq_node&) = delete;

  /// Stops the thread if running; closes sockets (pending sends wait at most `linger`).
  ~zmq_node() {
    stop();
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  // --- identity -----------------------------------------------------------

  [[nodiscard]] std::uint64_t id() const noexcept { return opts_.id; }
  /// The replica identity this life of the node writes as.
  [[nodiscard]] replica_id replica() const noexcept { return replica_; }
  /// The endpoints actually bound (a tcp port 0 resolved).
  [[nodiscard]] const std::vector<std::string>& endpoints() const noexcept { return bound_; }

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
      if (!subscribers_.empty() && !is_bottom(delta)) {
        join_into(shadow_, delta);
        queue_change_(delta, transport_detail::nonbottom_fields(delta), true);
      }
    }
    if (running_) {
      wake();
    } else {
      dispatch_();
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

  /// Calls `cb` after every change (local or remote), on the node's thread
  /// (threaded mode) or inside `mutate`/`process` (poll mode). Returns a
  /// token for `unsubscribe`. Callbacks may call `read` and `mutate`.
  std::size_t subscribe(callback cb) {
    std::lock_guard lock(mutex_);
    if (subscribers_.empty()) shadow_ = replicator_.state();
    subscribers_.emplace_back(++next_token_, std::make_shared<callback>(std::move(cb)));
    return next_token_;
  }

  void unsubscribe(std::size_t token) {
    std::lock_guard lock(mutex_);
    std::erase_if(subscribers_, [&](const auto& s) { return s.first == token; });
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
    if (epoll_fd_ >= 0) return epoll_fd_;
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    auto add = [&](int fd) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST) {
        throw std::system_error(errno, std::generic_category(), "epoll_ctl");
      }
    };
    for_each_socket_([&](zmq::socket_t& s) { add(s.get(zmq::sockopt::fd)); });
    add(wake_fd_);
    return epoll_fd_;
  }

  /// How long until `process()` must run even if `fd()` stays quiet.
  [[nodiscard]] std::chrono::milliseconds next_timeout() const {
    if (more_pending_ || dirty_) return std::chrono::milliseconds(0);
    const std::uint64_t now = now_ms_();
    const std::uint64_t due = std::min(next_tick_, next_heartbeat_);
    return std::chrono::milliseconds(due > now ? due - now : 0);
  }

  /// Wakes the node's thread (or the owner's `fd()` wait) early.
  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  }

  // --- status -------------------------------------------------------------

  /// Every configured peer endpoint, then peers known only from inbound connections.
  [[nodiscard]] std::vector<peer_status> peers() const {
    std::lock_guard lock(mutex_);
    const std::uint64_t now = now_ms_();
    std::vector<peer_status> out;
    for (const auto& d : outbound_) {
      if (d.self) continue;
      peer_status p;
      p.endpoint = d.endpoint;
      p.id = d.id ? d.id : d.expected;
      p.reachable = live_(d.last_heard, now);
      if (p.id) p.replica = peer_replica_locked_(*p.id);
      out.push_back(std::move(p));
    }
    for (const auto& [pid, route] : routes_) {
      const bool listed = std::any_of(outbound_.begin(), outbound_.end(),
                                      [&](const outbound& d) { return d.id == pid || d.expected == pid; });
      if (listed) continue;
      peer_status p;
      p.id = pid;
      p.reachable = live_(route.last_heard, now);
      p.replica = peer_replica_locked_(pid);
      out.push_back(std::move(p));
    }
    return out;
  }

  /// The current replica identity of peer `id`, once heard from.
  [[nodiscard]] std::optional<replica_id> peer_replica(std::uint64_t id) const {
    std::lock_guard lock(mutex_);
    return peer_replica_locked_(id);
  }

  [[nodiscard]] transport_metrics transport_stats() const {
    std::lock_guard lock(mutex_);
    return metrics_;
  }

  [[nodiscard]] auto replication_stats() const {
    std::lock_guard lock(mutex_);
    return replicator_.metrics();
  }

  /// True when the replicator has nothing left to send.
  [[nodiscard]] bool quiescent() const {
    std::lock_guard lock(mutex_);
    return replicator_.quiescent();
  }

 private:
  struct outbound {
    std::string endpoint;
    zmq::socket_t socket;
    std::optional<std::uint64_t> id;        // learned from the peer's envelopes
    std::optional<std::uint64_t> expected;  // bound by the allow-list (CURVE)
    std::optional<std::uint64_t> last_heard;
    bool self = false;
  };
  struct route {
    std::string routing_id;
    std::optional<std::uint64_t> last_heard;
  };
  struct known_peer {
    replica_id replica;
  };
  struct pending_change {
    State delta;
    std::vector<std::string_view> fields;
    bool local;
  };
  struct inbound_data {
    std::uint64_t from;
    zmq::message_t bytes;
  };

  static constexpr std::size_t max_pending_changes = 1024;
  static constexpr int receive_budget = 4096;

  static std::uint32_t random_incarnation() {
    std::random_device rd;
    return static_cast<std::uint32_t>(rd()) & 0xffffffU;
  }

  static replicator_options replication_options(const node_options& o) {
    replicator_options r = o.replication;
    r.gossip_interval = static_cast<std::uint64_t>(std::max<std::int64_t>(1, o.gossip_interval.count()));
    if (r.session == 0) {
      std::random_device rd;
      r.session = (std::uint64_t{rd()} << 32) ^ rd();
      if (r.session == 0) r.session = 1;
    }
    return r;
  }

  [[nodiscard]] std::uint64_t now_ms_() const {
    return static_cast<std::uint64_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - epoch_)
                   .count()) +
           1;
  }

  [[nodiscard]] bool live_(const std::optional<std::uint64_t>& heard, std::uint64_t now) const {
    const auto window = static_cast<std::uint64_t>(3 * opts_.heartbeat_interval.count());
    return heard && now - std::min(now, *heard) <= window;
  }

  [[nodiscard]] std::optional<replica_id> peer_replica_locked_(std::uint64_t id) const {
    const auto it = known_.find(id);
    if (it == known_.end()) return std::nullopt;
    return it->second.replica;
  }

  void common_options_(zmq::socket_t& s) {
    s.set(zmq::sockopt::linger, static_cast<int>(opts_.linger.count()));
    s.set(zmq::sockopt::sndhwm, opts_.send_hwm);
    s.set(zmq::sockopt::rcvhwm, opts_.receive_hwm);
    s.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(max_message_ + 64));
    s.set(zmq::sockopt::heartbeat_ivl, 1000);
    s.set(zmq::sockopt::heartbeat_timeout, 3000);
    s.set(zmq::sockopt::heartbeat_ttl, 3000);
    s.set(zmq::sockopt::handshake_ivl, 5000);
    s.set(zmq::sockopt::reconnect_ivl, static_cast<int>(opts_.reconnect_interval.count()));
    s.set(zmq::sockopt::reconnect_ivl_max, static_cast<int>(opts_.reconnect_interval_max.count()));
  }

  void setup_zap() {
    const auto& c = *opts_.curve;
    if (!curve_available()) throw std::invalid_argument("CURVE requested but libzmq has no CURVE support");
    if (!is_z85_key(c.own.public_key) || !is_z85_key(c.own.secret_key)) {
      throw std::invalid_argument("CURVE key pair is not two 40-character Z85 keys");
    }
    zap_ = zmq::socket_t(*ctx_, zmq::socket_type::rep);
    zap_->set(zmq::sockopt::linger, 0);
    try {
      zap_->bind("inproc://zeromq.zap.01");
    } catch (const zmq::error_t& e) {
      throw std::invalid_argument(std::string("cannot run the ZAP handler (another CURVE node in this context?): ") +
                                  e.what());
    }
  }

  void setup_router() {
    router_ = zmq::socket_t(*ctx_, zmq::socket_type::router);
    common_options_(router_);
    router_.set(zmq::sockopt::router_mandatory, 1);
    if (opts_.curve) {
      router_.set(zmq::sockopt::curve_server, 1);
      router_.set(zmq::sockopt::curve_secretkey, opts_.curve->own.secret_key);
      router_.set(zmq::sockopt::zap_domain, "converge");
    }
    // Watch the ROUTER for refused handshakes and closed connections.
    monitor_address_ = "inproc://converge-monitor-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    if (zmq_socket_monitor(router_.handle(), monitor_address_.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_DISCONNECTED) == 0) {
      monitor_ = zmq::socket_t(*ctx_, zmq::socket_type::pair);
      monitor_->set(zmq::sockopt::linger, 0);
      monitor_->connect(monitor_address_);
    }
    for (const auto& endpoint : opts_.bind) {
      router_.bind(endpoint);
      bound_.push_back(router_.get(zmq::sockopt::last_endpoint));
    }
  }

  void add_outbound(const std::string& endpoint) {
    outbound d;
    d.endpoint = endpoint;
    d.socket = zmq::socket_t(*ctx_, zmq::socket_type::dealer);
    common_options_(d.socket);
    d.socket.set(zmq::sockopt::immediate, 1);
    if (opts_.curve) {
      const curve_peer* server = opts_.curve->find_endpoint(endpoint);
      if (server == nullptr) {
        throw std::invalid_argument("CURVE: no allow-list entry 'KEY ID " + endpoint +
                                    "' gives the server key of peer " + endpoint);
      }
      d.expected = server->id;
      d.socket.set(zmq::sockopt::curve_serverkey, server->public_key);
      d.socket.set(zmq::sockopt::curve_publickey, opts_.curve->own.public_key);
      d.socket.set(zmq::sockopt::curve_secretkey, opts_.curve->own.secret_key);
    }
    d.socket.connect(endpoint);
    outbound_.push_back(std::move(d));
  }

  template <class F>
  void for_each_socket_(F&& f) {
    f(router_);
    for (auto& d : outbound_) f(d.socket);
    if (zap_) f(*zap_);
    if (monitor_) f(*monitor_);
  }

  bool poll_once_(std::chrono::milliseconds max_wait) {
    std::vector<zmq::pollitem_t> items;
    items.reserve(outbound_.size() + 4);
    for_each_socket_([&](zmq::socket_t& s) { items.push_back({s.handle(), 0, ZMQ_POLLIN, 0}); });
    items.push_back({nullptr, wake_fd_, ZMQ_POLLIN, 0});
    const auto wait = std::min(max_wait, next_timeout());
    int n = 0;
    try {
      n = zmq::poll(items, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    if (items.back().revents & ZMQ_POLLIN) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_, &count, sizeof count);
    }
    process_();
    return n > 0;
  }

  // Receives up to `budget` multipart messages from `s`; false when it ran dry.
  template <class Handler>
  bool drain_(zmq::socket_t& s, int& budget, Handler&& handle, std::size_t max_frames = 4) {
    std::vector<zmq::message_t> frames;
    while (budget > 0) {
      frames.clear();
      zmq::message_t first;
      if (!s.recv(first, zmq::recv_flags::dontwait)) return true;
      --budget;
      bool overflow = false;
      bool more = first.more();
      frames.push_back(std::move(first));
      while (more) {
        zmq::message_t part;
        if (!s.recv(part, zmq::recv_flags::none)) break;
        more = part.more();
        if (frames.size() < max_frames) {
          frames.push_back(std::move(part));
        } else {
          overflow = true;
        }
      }
      handle(frames, overflow);
    }
    return false;
  }

  static std::span<const std::byte> bytes_of(const zmq::message_t& m) {
    return {static_cast<const std::byte*>(m.data()), m.size()};
  }

  void drop_(std::uint64_t& counter, const std::string& why) {
    {
      std::lock_guard lock(mutex_);
      ++counter;
    }
    log_("converge node " + std::to_string(opts_.id) + ": dropped " + why);
  }

  // Checks an envelope and its payload; the envelope when acceptable.
  std::optional<transport_detail::envelope> check_(const std::vector<zmq::message_t>& frames, std::size_t first,
                                                   bool overflow, const std::string& from) {
    using transport_detail::kind;
    if (overflow || frames.size() <= first) {
      drop_(metrics_.dropped_malformed, "a message with a bad frame count from " + from);
      return std::nullopt;
    }
    const auto env = transport_detail::read_envelope(bytes_of(frames[first]));
    if (!env) {
      drop_(metrics_.dropped_malformed, "a message with a bad envelope from " + from);
      return std::nullopt;
    }
    const std::size_t expected_frames = first + (env->what == kind::data ? 2 : 1);
    if (frames.size() != expected_frames) {
      drop_(metrics_.dropped_malformed, "a message with a bad frame count from " + from);
      return std::nullopt;
    }
    if (env->what == kind::data && frames.back().size() > max_message_) {
      drop_(metrics_.dropped_oversized, "an oversized message (" + std::to_string(frames.back().size()) +
                                            " bytes) from " + from);
      return std::nullopt;
    }
    return env;
  }

  // Records a valid sender; false when it cannot be admitted (peer limit).
  bool admit_(const transport_detail::envelope& env) {
    std::lock_guard lock(mutex_);
    auto it = known_.find(env.sender);
    if (it == known_.end()) {
      if (known_.size() >= opts_.replication.max_peers || !replicator_.add_peer(env.sender)) {
        ++metrics_.dropped_peer_limit;
        return false;
      }
      known_.emplace(env.sender, known_peer{replica_id{env.replica}});
      dirty_ = true;  // tick soon: the new peer gets a state transfer
    } else {
      it->second.replica = replica_id{env.replica};
    }
    return true;
  }

  void on_router_(std::vector<zmq::message_t>& frames, bool overflow, std::vector<inbound_data>& data,
                  std::uint64_t now) {
    using transport_detail::kind;
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
        drop_(metrics_.dropped_spoofed, "a message claiming id " + std::to_string(env->sender) +
                                            " from a key bound to id '" + user + "'");
        return;
      }
    }
    if (env->what == kind::hello) {
      send_router_(frames[0].to_string(), kind::hello_ack, {});
    }
    if (env->sender == opts_.id) return;  // our own outbound connection, looped back
    if (!admit_(*env)) return;
    {
      std::lock_guard lock(mutex_);
      auto& r = routes_[env->sender];
      r.routing_id = frames[0].to_string();
      r.last_heard = now;
    }
    if (env->what == kind::data) data.push_back({env->sender, std::move(frames[2])});
  }

  void on_outbound_(outbound& d, std::vector<zmq::message_t>& frames, bool overflow,
                    std::vector<inbound_data>& data, std::uint64_t now) {
    using transport_detail::kind;
    const auto env = check_(frames, 0, overflow, d.endpoint);
    if (!env) return;
    if (d.expected && *d.expected != env->sender) {
      drop_(metrics_.dropped_spoofed, "a message claiming id " + std::to_string(env->sender) + " from " + d.endpoint +
                                          ", whose key is bound to id " + std::to_string(*d.expected));
      return;
    }
    if (env->sender == opts_.id) {
      std::lock_guard lock(mutex_);
      d.self = true;
      return;
    }
    if (!admit_(*env)) return;
    {
      std::lock_guard lock(mutex_);
      d.id = env->sender;
      d.last_heard = now;
    }
    if (env->what == kind::data) data.push_back({env->sender, std::move(frames[1])});
  }

  void on_zap_(std::vector<zmq::message_t>& frames) {
    // ZAP request: version, request id, domain, address, identity, mechanism, credentials...
    std::string status = "400";
    std::string text = "not in the allow-list";
    std::string user;
    if (frames.size() >= 6 && frames[0].to_string_view() == "1.0") {
      const auto mechanism = frames[5].to_string_view();
      if (mechanism == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
        const std::string key = z85_key(frames[6].data());
        if (const curve_peer* p = opts_.curve->find_key(key)) {
          status = "200";
          text = "OK";
          user = std::to_string(p->id);
        } else {
          log_("converge node " + std::to_string(opts_.id) + ": refused CURVE key " + key + " from " +
               frames[3].to_string());
        }
      }
    }
    if (status != "200") {
      std::lock_guard lock(mutex_);
      ++metrics_.auth_denied;
    }
    const std::string request_id = frames.size() >= 2 ? frames[1].to_string() : std::string();
    zap_->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(status), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(text), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(user), zmq::send_flags::sndmore);
    zap_->send(zmq::str_buffer(""), zmq::send_flags::none);
  }

  void on_monitor_(std::vector<zmq::message_t>& frames) {
    if (frames.empty() || frames[0].size() < 6) return;
    std::uint16_t event = 0;
    std::memcpy(&event, frames[0].data(), sizeof event);
    const std::string where = frames.size() > 1 ? frames[1].to_string() : std::string("?");
    std::lock_guard lock(mutex_);
    if (event == ZMQ_EVENT_DISCONNECTED) {
      ++metrics_.disconnects;
    } else {
      ++metrics_.handshake_failures;
      log_("converge node " + std::to_string(opts_.id) + ": handshake failed on " + where);
    }
  }

  bool send_router_(const std::string& routing_id, transport_detail::kind what, std::span<const std::byte> payload) {
    const auto env = transport_detail::write_envelope({what, opts_.id, replica_.value()});
    const bool data = what == transport_detail::kind::data;
    try {
      if (!router_.send(zmq::buffer(routing_id), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
      router_.send(zmq::buffer(env), data ? zmq::send_flags::sndmore : zmq::send_flags::none);
      if (data) router_.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::none);
      return true;
    } catch (const zmq::error_t&) {
      return false;  // EHOSTUNREACH: that connection is gone
    }
  }

  bool send_outbound_(outbound& d, transport_detail::kind what, std::span<const std::byte> payload) {
    const auto env = transport_detail::write_envelope({what, opts_.id, replica_.value()});
    const bool data = what == transport_detail::kind::data;
    try {
      if (!d.socket.send(zmq::buffer(env), (data ? zmq::send_flags::sndmore : zmq::send_flags::none) |
                                               zmq::send_flags::dontwait)) {
        return false;
      }
      if (data) d.socket.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::none);
      return true;
    } catch (const zmq::error_t&) {
      return false;
    }
  }

  // Sends a replicator message to `to`, over a live connection when there is one.
  bool send_data_(std::uint64_t to, std::span<const std::byte> payload, std::uint64_t now) {
    outbound* out = nullptr;
    for (auto& d : outbound_) {
      if (d.id == to || (!d.id && d.expected == to)) {
        if (out == nullptr || live_(d.last_heard, now)) out = &d;
      }
    }
    const auto r = routes_.find(to);
    const bool out_live = out != nullptr && live_(out->last_heard, now);
    const bool route_live = r != routes_.end() && live_(r->second.last_heard, now);
    using transport_detail::kind;
    if (out_live) return send_outbound_(*out, kind::data, payload);
    if (route_live) return send_router_(r->second.routing_id, kind::data, payload);
    if (out != nullptr) return send_outbound_(*out, kind::data, payload);
    if (r != routes_.end()) return send_router_(r->second.routing_id, kind::data, payload);
    return false;
  }

  void process_() {
    const std::uint64_t now = now_ms_();
    std::vector<inbound_data> data;
    int budget = receive_budget;
    bool dry = drain_(router_, budget, [&](auto& frames, bool overflow) { on_router_(frames, overflow, data, now); });
    for (auto& d : outbound_) {
      dry = drain_(d.socket, budget, [&](auto& frames, bool overflow) { on_outbound_(d, frames, overflow, data, now); }) &&
            dry;
    }
    if (zap_) {
      int zap_budget = receive_budget;
      drain_(*zap_, zap_budget, [&](auto& frames, bool) { on_zap_(frames); }, 16);
    }
    if (monitor_) {
      int monitor_budget = receive_budget;
      drain_(*monitor_, monitor_budget, [&](auto& frames, bool) { on_monitor_(frames); });
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
      if (!data.empty() && !subscribers_.empty()) {
        State delta;
        std::vector<std::string_view> fields;
        if (transport_detail::catch_up(shadow_, replicator_.state(), delta, fields)) {
          queue_change_(std::move(delta), std::move(fields), false);
        }
      }
      if (now >= next_tick_ || dirty_ || !data.empty()) {
        // The clock again: joining what arrived may have taken a while, and
        // RTT samples and timeouts should count it.
        const std::uint64_t at = data.empty() ? now : now_ms_();
        result = replicator_.tick(at);
        next_tick_ = std::max(result.next_deadline, at + 1);
        dirty_ = false;
        ticked = true;
      }
    }
    if (ticked) {
      for (const auto& m : result.messages) {
        const bool ok = send_data_(m.to, m.bytes, now);
        std::lock_guard lock(mutex_);
        if (ok) {
          ++metrics_.messages_out;
          metrics_.bytes_out += m.bytes.size();
        } else {
          ++metrics_.send_dropped;
        }
      }
    }
    if (now >= next_heartbeat_) {
      for (auto& d : outbound_) {
        if (!d.self) send_outbound_(d, transport_detail::kind::hello, {});
      }
      next_heartbeat_ = now + static_cast<std::uint64_t>(std::max<std::int64_t>(1, opts_.heartbeat_interval.count()));
      expire_(now);
    }
    dispatch_();
  }

  // Forgets peers known only from inbound connections that have been silent
  // for long (at least 10 s): whatever the replicator buffered for them goes,
  // and a peer that comes back is admitted again with a state transfer. Keeps
  // the peer table from filling with senders that left (or never were).
  void expire_(std::uint64_t now) {
    const std::uint64_t window =
        std::max<std::uint64_t>(10000, 30 * static_cast<std::uint64_t>(opts_.heartbeat_interval.count()));
    std::lock_guard lock(mutex_);
    for (auto it = routes_.begin(); it != routes_.end();) {
      const std::uint64_t pid = it->first;
      const bool listed = std::any_of(outbound_.begin(), outbound_.end(),
                                      [&](const outbound& d) { return d.id == pid || d.expected == pid; });
      const std::uint64_t heard = it->second.last_heard.value_or(0);
      if (listed || now - std::min(now, heard) <= window) {
        ++it;
        continue;
      }
      replicator_.remove_peer(pid);
      known_.erase(pid);
      it = routes_.erase(it);
      log_("converge node " + std::to_string(opts_.id) + ": forgot peer " + std::to_string(pid) +
           " (silent, not a configured peer)");
    }
  }

  void queue_change_(State delta, std::vector<std::string_view> fields, bool local) {
    if (pending_.size() >= max_pending_changes) {
      // A slow subscriber: fold into the last notification instead of growing.
      auto& last = pending_.back();
      join_into(last.delta, delta);
      for (auto f : fields) {
        if (std::find(last.fields.begin(), last.fields.end(), f) == last.fields.end()) last.fields.push_back(f);
      }
      last.local = last.local && local;
      return;
    }
    pending_.push_back({std::move(delta), std::move(fields), local});
  }

  void dispatch_() {
    if (dispatching_) return;
    dispatching_ = true;
    for (;;) {
      std::vector<pending_change> batch;
      std::vector<std::shared_ptr<callback>> subs;
      {
        std::lock_guard lock(mutex_);
        if (pending_.empty()) break;
        batch.swap(pending_);
        for (const auto& s : subscribers_) subs.push_back(s.second);
      }
      for (const auto& c : batch) {
        const state_change<State> change{c.delta, c.fields, c.local};
        for (const auto& s : subs) (*s)(change);
      }
    }
    dispatching_ = false;
  }

  node_options opts_;
  replica_id replica_;
  mutable std::mutex mutex_;  // guards everything below but the sockets (the node's thread owns those)
  replicator<State> replicator_;
  transport_detail::rate_limited_log log_;
  std::chrono::steady_clock::time_point epoch_;

  std::unique_ptr<zmq::context_t> own_context_;
  zmq::context_t* ctx_ = nullptr;
  std::optional<zmq::socket_t> zap_;
  zmq::socket_t router_;
  std::optional<zmq::socket_t> monitor_;
  std::string monitor_address_;
  std::vector<outbound> outbound_;
  std::vector<std::string> bound_;
  std::size_t max_message_ = 0;

  std::map<std::uint64_t, route> routes_;
  std::map<std::uint64_t, known_peer> known_;
  transport_metrics metrics_;

  State shadow_{};
  std::vector<pending_change> pending_;
  std::vector<std::pair<std::size_t, std::shared_ptr<callback>>> subscribers_;
  std::size_t next_token_ = 0;
  std::atomic<bool> dispatching_{false};

  std::uint64_t next_tick_ = 0;
  std::uint64_t next_heartbeat_ = 0;
  std::atomic<bool> dirty_{false};
  bool more_pending_ = false;

  int wake_fd_ = -1;
  int epoll_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace converge
