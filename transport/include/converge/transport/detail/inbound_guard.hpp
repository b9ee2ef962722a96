#pragma once
/// @file
/// A relay in front of the node's ROUTER that reads each inbound TCP
/// connection's ZMTP stream itself, so that what libzmq may buffer for a
/// peer is bounded (see "Memory" in zmq_node.hpp).
///
/// Why: libzmq reads a whole multipart message, of any number of frames,
/// before the ROUTER delivers it, and keeps an unfinished one until the
/// connection closes; no socket option bounds that. The guard listens on the
/// public endpoint, connects each accepted connection to the ROUTER's
/// private loopback endpoint, and copies bytes both ways. On the way in it
/// parses ZMTP 3 framing (NULL mechanism only: the guard runs only when
/// CURVE is off, which is when anyone can connect) and closes a connection
/// whose message has more than `max_frames` frames, a frame larger than
/// `max_frame_bytes`, or a message larger than `max_message_bytes`. Each
/// direction buffers at most `buffer_bytes`; past it the guard stops reading
/// that side, so TCP flow control reaches the sender (the ROUTER's receive
/// high-water mark, in whole messages, then bounds what libzmq queues).
/// Connections beyond `max_connections` are closed at once.

#include "converge/transport/detail/rate_limited_log.hpp"

#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <map>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace converge::transport::detail {

/// The guard's bounds.
struct guard_limits {
  std::size_t max_connections = 256;          ///< open inbound connections; more are closed at once
  std::size_t max_frames = 4;                 ///< frames of one message
  std::size_t max_frame_bytes = 1 << 20;      ///< one message frame
  std::size_t max_message_bytes = 1 << 20;    ///< all frames of one message
  std::size_t max_command_bytes = 64 * 1024;  ///< one ZMTP command (READY, PING, ...)
  std::size_t buffer_bytes = 256 * 1024;      ///< per direction per connection
};

/// What the guard counted (read from any thread).
struct guard_counters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused_connections{0};  ///< beyond max_connections
  std::atomic<std::uint64_t> closed_frames{0};        ///< a message of too many frames
  std::atomic<std::uint64_t> closed_bytes{0};         ///< a frame, command or message too large
  std::atomic<std::uint64_t> closed_protocol{0};      ///< not ZMTP 3 with the NULL mechanism
};

/// Parses the inbound ZMTP 3 byte stream of one connection, as it arrives.
class zmtp_meter {
 public:
  enum class verdict : std::uint8_t { ok, too_many_frames, too_large, protocol };

  explicit zmtp_meter(const guard_limits& l) : lim_(l) {}

  /// Accounts `bytes` (the next ones of the stream); not ok at the first
  /// byte that breaks a limit (the connection must then be closed), and
  /// `accepted` is then how many of the `n` bytes came before it.
  verdict feed(const unsigned char* p, std::size_t n, std::size_t& accepted) {
    accepted = 0;
    for (std::size_t i = 0; i < n; accepted = i) {
      if (greeting_ < 64) {
        const std::size_t k = std::min<std::size_t>(64 - greeting_, n - i);
        for (std::size_t j = 0; j < k; ++j) {
          const std::size_t at = greeting_ + j;
          const unsigned char c = p[i + j];
          if ((at == 0 && c != 0xff) || (at == 9 && (c & 1) != 1) || (at == 10 && c < 3))
            return verdict::protocol;
          if (at >= 12 && at < 32 && c != static_cast<unsigned char>(mechanism_[at - 12]))
            return verdict::protocol;
        }
        greeting_ += k;
        i += k;
        continue;
      }
      if (body_left_ > 0) {
        const std::uint64_t k = std::min<std::uint64_t>(body_left_, n - i);
        body_left_ -= k;
        i += static_cast<std::size_t>(k);
        continue;
      }
      header_[header_len_++] = p[i++];
      const unsigned char flags = header_[0];
      const std::size_t need = (flags & 0x02) ? 9 : 2;
      if (header_len_ < need) continue;
      std::uint64_t size = 0;
      for (std::size_t j = 1; j < need; ++j) size = (size << 8) | header_[j];
      header_len_ = 0;
      if (const verdict v = frame_(flags, size); v != verdict::ok) return v;
      body_left_ = size;
    }
    return verdict::ok;
  }

 private:
  verdict frame_(unsigned char flags, std::uint64_t size) {
    if ((flags & 0xf8) != 0) return verdict::protocol;
    const bool more = (flags & 0x01) != 0;
    if ((flags & 0x04) != 0) {  // a command: alone, and small
      if (more || frames_ != 0) return verdict::protocol;
      return size <= lim_.max_command_bytes ? verdict::ok : verdict::too_large;
    }
    if (size > lim_.max_frame_bytes) return verdict::too_large;
    if (++frames_ > lim_.max_frames) return verdict::too_many_frames;
    message_bytes_ += size;
    if (message_bytes_ > lim_.max_message_bytes) return verdict::too_large;
    if (!more) {
      frames_ = 0;
      message_bytes_ = 0;
    }
    return verdict::ok;
  }

  static constexpr std::array<char, 20> mechanism_{'N', 'U', 'L', 'L'};
  const guard_limits& lim_;
  std::size_t greeting_ = 0;
  std::array<unsigned char, 9> header_{};
  std::size_t header_len_ = 0;
  std::uint64_t body_left_ = 0;
  std::size_t frames_ = 0;
  std::uint64_t message_bytes_ = 0;
};

/// The relay: a thread with its own epoll set. Construct it with the
/// public endpoints it takes over and the path of the ROUTER's private ipc
/// endpoint (in a directory only this user can enter, so nothing bypasses
/// the guard).
class inbound_guard {
 public:
  using log_fn = std::function<void(std::string_view)>;

  /// A fresh private directory for the ROUTER's ipc endpoint; returns the
  /// socket path in it. First removes what nodes of this user killed before
  /// they could clean up left behind (a directory older than a minute whose
  /// socket nothing listens on). Throws
  /// `std::system_error`.
  [[nodiscard]] static std::string private_socket_path() {
    remove_stale_();
    std::string dir = "/tmp/converge-guard-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) fail_("mkdtemp");
    return dir + "/router";
  }

  /// True when `endpoint` is one the guard can take: tcp:// with a numeric
  /// IPv4 host, `*` or `localhost`, and a numeric port (0 or `*`: any).
  [[nodiscard]] static bool handles(std::string_view endpoint) { return parse_(endpoint).has_value(); }

  /// Listens on `endpoints` (each `handles`) and relays to the unix socket
  /// `router_path` (from `private_socket_path`, which the guard removes at
  /// the end). Throws `std::system_error` when a bind fails.
  inbound_guard(const std::vector<std::string>& endpoints, std::string router_path, guard_limits limits,
                log_fn log)
      : lim_(limits), log_(std::move(log)), router_path_(std::move(router_path)) {
    if (router_path_.size() >= sizeof(sockaddr_un{}.sun_path))
      throw std::invalid_argument("inbound guard: socket path too long");
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep_ < 0 || wake_ < 0) fail_("epoll/eventfd");
    watch_(wake_, EPOLLIN, tag_wake);
    for (const auto& e : endpoints) listen_(e);
    thread_ = std::thread([this] { run_(); });
  }

  inbound_guard(const inbound_guard&) = delete;
  inbound_guard& operator=(const inbound_guard&) = delete;

  ~inbound_guard() {
    stop_ = true;
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto w = ::write(wake_, &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    for (auto& [id, c] : conns_) {
      ::close(c->outer);
      if (c->inner >= 0) ::close(c->inner);
    }
    for (const int l : listeners_) ::close(l);
    ::close(wake_);
    ::close(ep_);
    ::unlink(router_path_.c_str());
    ::rmdir(router_path_.substr(0, router_path_.rfind('/')).c_str());
  }

  /// The endpoints listened on, ports resolved (tcp://HOST:PORT).
  [[nodiscard]] const std::vector<std::string>& endpoints() const noexcept { return bound_; }
  [[nodiscard]] const guard_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] const guard_limits& limits() const noexcept { return lim_; }

 private:
  static constexpr std::uint64_t tag_wake = 0, tag_listen = 1;  // else (id << 2) | 2 outer, | 3 inner

  struct pipe_buf {
    std::vector<char> data;
    std::size_t head = 0;
    [[nodiscard]] std::size_t size() const noexcept { return data.size() - head; }
  };
  struct conn {
    explicit conn(const guard_limits& l) : meter(l) {}
    int outer = -1, inner = -1;
    bool inner_connected = false;
    pipe_buf in, out;  // in: outer -> inner; out: inner -> outer
    zmtp_meter meter;
  };

  struct parsed {
    std::string host;
    std::uint16_t port;
  };

  static std::optional<parsed> parse_(std::string_view e) {
    if (!e.starts_with("tcp://")) return std::nullopt;
    e.remove_prefix(6);
    const auto colon = e.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string host(e.substr(0, colon));
    const std::string_view port = e.substr(colon + 1);
    if (host == "*") host = "0.0.0.0";
    if (host == "localhost") host = "127.0.0.1";
    in_addr a{};
    if (::inet_pton(AF_INET, host.c_str(), &a) != 1) return std::nullopt;
    if (port == "*") return parsed{host, 0};
    if (port.empty() || port.size() > 5) return std::nullopt;
    std::uint32_t v = 0;
    for (const char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (v > 65535) return std::nullopt;
    return parsed{host, static_cast<std::uint16_t>(v)};
  }

  static void remove_stale_() {
    DIR* d = ::opendir("/tmp");
    if (d == nullptr) return;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (!name.starts_with("converge-guard-")) continue;
      const std::string dir = "/tmp/" + name, path = dir + "/router";
      struct stat st {};
      if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid()) continue;
      // A node that just made its directory may not be listening yet: leave young ones.
      if (st.st_mtime > ::time(nullptr) - 60) continue;
      const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      if (path.size() < sizeof a.sun_path) {
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
        const int err = errno;
        if (!live && (err == ECONNREFUSED || err == ENOENT)) {
          ::unlink(path.c_str());
          ::rmdir(dir.c_str());
        }
      }
      ::close(fd);
    }
    ::closedir(d);
  }

  [[noreturn]] static void fail_(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
  }

  void watch_(int fd, std::uint32_t events, std::uint64_t tag, int op = EPOLL_CTL_ADD) const {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(ep_, op, fd, &ev) != 0) fail_("epoll_ctl");
  }

  void listen_(const std::string& endpoint) {
    const auto p = parse_(endpoint);
    if (!p) throw std::invalid_argument("inbound guard: cannot take endpoint " + endpoint);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_("socket");
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(p->port);
    ::inet_pton(AF_INET, p->host.c_str(), &a.sin_addr);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0) {
      const int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category(), "bind " + endpoint);
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    bound_.push_back("tcp://" + p->host + ":" + std::to_string(ntohs(a.sin_port)));
    listeners_.push_back(fd);
    watch_(fd, EPOLLIN, tag_listen);
  }

  void run_() {
    std::array<epoll_event, 64> evs{};
    while (!stop_) {
      const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 1000);
      for (int i = 0; i < n && !stop_; ++i) {
        const std::uint64_t tag = evs[static_cast<std::size_t>(i)].data.u64;
        if (tag == tag_wake) continue;
        if (tag == tag_listen) {
          try {
            for (const int l : listeners_) accept_(l);
          } catch (const std::exception&) {  // epoll_ctl refused: that connection is dropped
          }
          continue;
        }
        const auto it = conns_.find(tag >> 2);
        if (it == conns_.end()) continue;
        try {
          service_(tag >> 2, *it->second, (tag & 3) == 3);
        } catch (const std::exception&) {  // epoll_ctl refused (out of memory): drop this connection
          close_(tag >> 2);
        }
      }
    }
  }

  void accept_(int listener) {
    for (;;) {
      const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      if (conns_.size() >= lim_.max_connections) {
        ::close(fd);
        ++counters_.refused_connections;
        log_("inbound guard: refused a connection (" + std::to_string(lim_.max_connections) + " open)");
        continue;
      }
      const int in = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (in < 0) {
        ::close(fd);
        continue;
      }
      const int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::memcpy(a.sun_path, router_path_.c_str(), router_path_.size() + 1);
      if (::connect(in, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        ::close(in);
        continue;
      }
      const std::uint64_t id = next_id_++;
      auto c = std::make_unique<conn>(lim_);
      c->outer = fd;
      c->inner = in;
      conns_.emplace(id, std::move(c));
      try {
        watch_(fd, EPOLLIN, (id << 2) | 2);
        watch_(in, EPOLLOUT, (id << 2) | 3);
      } catch (const std::system_error&) {  // out of epoll watches: refuse this one
        close_(id);
        ++counters_.refused_connections;
        continue;
      }
      ++counters_.accepted;
    }
  }

  void close_(std::uint64_t id) {
    const auto it = conns_.find(id);
    if (it == conns_.end()) return;
    ::close(it->second->outer);  // closing removes them from the epoll set
    ::close(it->second->inner);
    conns_.erase(it);
  }

  // Drops what was sent, so that the buffer never spans more than its cap.
  static void compact_(pipe_buf& b) {
    if (b.head == 0) return;
    b.data.erase(b.data.begin(), b.data.begin() + static_cast<std::ptrdiff_t>(b.head));
    b.head = 0;
  }

  // Reads from `from` into `b` (compacted first) while it has room; false on end of stream or error.
  static bool fill_(int from, pipe_buf& b, std::size_t cap, std::size_t& got) {
    got = 0;
    compact_(b);
    while (b.size() < cap) {
      const std::size_t old = b.data.size();
      const std::size_t want = std::min<std::size_t>(cap - b.size(), 64 * 1024);
      // Grow by doubling, but never past `cap` (a plain resize could double past it).
      if (b.data.capacity() < old + want)
        b.data.reserve(std::min(cap, std::max(old + want, 2 * b.data.capacity())));
      b.data.resize(old + want);
      const ssize_t r = ::recv(from, b.data.data() + old, want, 0);
      if (r <= 0) {
        b.data.resize(old);
        if (r == 0) return false;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      }
      b.data.resize(old + static_cast<std::size_t>(r));
      got += static_cast<std::size_t>(r);
    }
    return true;
  }

  // Writes what `b` holds to `to`; false on error.
  static bool flush_(int to, pipe_buf& b) {
    while (b.size() > 0) {
      const ssize_t w = ::send(to, b.data.data() + b.head, b.size(), MSG_NOSIGNAL);
      if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      b.head += static_cast<std::size_t>(w);
    }
    b.data.clear();
    b.head = 0;
    return true;
  }

  void service_(std::uint64_t id, conn& c, bool inner_side) {
    if (inner_side && !c.inner_connected) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.inner, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return close_(id);
      c.inner_connected = true;
    }
    // outer -> inner, metered; inner -> outer, as is.
    std::size_t got = 0;
    compact_(c.in);
    const std::size_t before = c.in.data.size();  // where the bytes read now start
    bool alive = fill_(c.outer, c.in, lim_.buffer_bytes, got);
    if (got > 0) {
      std::size_t accepted = 0;
      const auto v =
          c.meter.feed(reinterpret_cast<const unsigned char*>(c.in.data.data() + before), got, accepted);
      if (v != zmtp_meter::verdict::ok) {
        // What came before the offending frame still goes (best effort).
        c.in.data.resize(before + accepted);
        if (c.inner_connected) flush_(c.inner, c.in);
        (v == zmtp_meter::verdict::too_many_frames ? counters_.closed_frames
         : v == zmtp_meter::verdict::too_large     ? counters_.closed_bytes
                                                   : counters_.closed_protocol)++;
        log_(std::string("inbound guard: closed a connection: ") +
             (v == zmtp_meter::verdict::too_many_frames
                  ? "a message of more than " + std::to_string(lim_.max_frames) + " frames"
              : v == zmtp_meter::verdict::too_large ? std::string("a frame or message over its limit")
                                                    : std::string("not ZMTP 3 with the NULL mechanism")));
        return close_(id);
      }
    }
    if (c.inner_connected) alive = flush_(c.inner, c.in) && alive;
    alive = fill_(c.inner_connected ? c.inner : -1, c.out, c.inner_connected ? lim_.buffer_bytes : 0, got) &&
            alive;
    alive = flush_(c.outer, c.out) && alive;
    if (!alive) return close_(id);
    // Read a side only while its buffer has room; wait for writability
    // while a buffer holds bytes.
    std::uint32_t outer_ev = 0, inner_ev = 0;
    if (c.in.size() < lim_.buffer_bytes) outer_ev |= EPOLLIN;
    if (c.out.size() > 0) outer_ev |= EPOLLOUT;
    if (!c.inner_connected || c.in.size() > 0) inner_ev |= EPOLLOUT;
    if (c.inner_connected && c.out.size() < lim_.buffer_bytes) inner_ev |= EPOLLIN;
    watch_(c.outer, outer_ev, (id << 2) | 2, EPOLL_CTL_MOD);
    watch_(c.inner, inner_ev, (id << 2) | 3, EPOLL_CTL_MOD);
  }

  guard_limits lim_;
  rate_limited_log log_;  // its own: the node's is not shared across threads
  std::string router_path_;
  int ep_ = -1, wake_ = -1;
  std::vector<int> listeners_;
  std::vector<std::string> bound_;
  std::map<std::uint64_t, std::unique_ptr<conn>> conns_;  // the guard's thread only
  std::uint64_t next_id_ = 1;
  guard_counters counters_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace converge::transport::detail
