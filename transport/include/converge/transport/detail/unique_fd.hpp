#pragma once
/// @file
/// File descriptors the node owns: `unique_fd` closes its descriptor once
/// (move-only, never throws from its destructor), `event_fd` is the eventfd
/// that wakes the node, and `epoll_set` the descriptor `zmq_node::fd()` hands
/// to an event loop. Failures to create them throw `std::system_error`.

#include <cerrno>
#include <cstdint>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace converge::transport::detail {

/// Owns one file descriptor (or none: -1) and closes it once.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  /// The descriptor, or -1.
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives up ownership: returns the descriptor, which the caller now closes.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// A non-blocking eventfd: `notify` makes it readable, `clear` quiet again.
class event_fd {
 public:
  event_fd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "eventfd");
  }

  [[nodiscard]] int get() const noexcept { return fd_.get(); }

  /// Makes the descriptor readable (async-signal-safe, never blocks).
  void notify() const noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(fd_.get(), &one, sizeof one);
  }

  /// Consumes every pending notification.
  void clear() const noexcept {
    std::uint64_t count = 0;
    [[maybe_unused]] const auto n = ::read(fd_.get(), &count, sizeof count);
  }

 private:
  unique_fd fd_;
};

/// An epoll descriptor watching other descriptors for input.
class epoll_set {
 public:
  epoll_set() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }

  [[nodiscard]] int get() const noexcept { return fd_.get(); }

  /// Watches `fd` for input (watching it twice is not an error).
  void add(int fd) const {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
  }

 private:
  unique_fd fd_;
};

}  // namespace converge::transport::detail
