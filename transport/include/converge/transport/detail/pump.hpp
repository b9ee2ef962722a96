#pragma once
/// @file
/// The pump's two loops, free of any node state: draining a socket of its
/// multipart messages within a budget, and waiting until a socket or the
/// wake descriptor has input (or a timeout passes).

#include <zmq.hpp>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace converge::transport::detail {

/// Receives up to `budget` multipart messages from `s` without blocking,
/// calling `handle(frames, overflow)` for each; `overflow` is true when the
/// message had more than `max_frames` parts (those past it are dropped).
/// Returns true when the socket ran dry, false when the budget ran out.
template <class Handler>
bool drain(zmq::socket_t& s, int& budget, Handler&& handle, std::size_t max_frames = 4) {
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
      if (!s.recv(part, zmq::recv_flags::none)) break;  // the rest of a multipart message is already here
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

/// Waits at most `wait` until one of `sockets` or the descriptor `fd` has
/// input. Returns true when something did; an interrupted wait returns false.
inline bool wait_for_input(std::span<zmq::socket_t* const> sockets, int fd, std::chrono::milliseconds wait) {
  std::vector<zmq::pollitem_t> items;
  items.reserve(sockets.size() + 1);
  for (zmq::socket_t* s : sockets) items.push_back({s->handle(), 0, ZMQ_POLLIN, 0});
  items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
  try {
    return zmq::poll(items, wait) > 0;
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    return false;
  }
}

}  // namespace converge::transport::detail
