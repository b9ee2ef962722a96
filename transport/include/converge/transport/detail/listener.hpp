#pragma once
/// @file
/// The node's inbound side: one ROUTER bound to the node's endpoints (a CURVE
/// server when configured), and a monitor that reports refused handshakes
/// and closed connections. Replies go back on the connection they came from,
/// named by its ZeroMQ routing id.

#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/detail/sockets.hpp"
#include "converge/transport/node_options.hpp"

#include <zmq.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace converge::transport::detail {

class listener {
 public:
  /// Creates the ROUTER and its monitor, and binds `o.bind`. Throws
  /// `zmq::error_t` (bad endpoint, address in use).
  listener(zmq::context_t& ctx, const node_options& o, std::size_t max_message)
      : router_(ctx, zmq::socket_type::router) {
    set_common_options(router_, o, max_message);
    router_.set(zmq::sockopt::router_mandatory, 1);  // an unknown routing id is an error, not a silent drop
    if (o.curve) {
      router_.set(zmq::sockopt::curve_server, 1);
      router_.set(zmq::sockopt::curve_secretkey, o.curve->own.secret_key);
      router_.set(zmq::sockopt::zap_domain, "converge");
    }
    const std::string address =
        "inproc://converge-monitor-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    if (zmq_socket_monitor(router_.handle(), address.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_DISCONNECTED) == 0) {
      monitor_.emplace(ctx, zmq::socket_type::pair);
      monitor_->set(zmq::sockopt::linger, 0);
      monitor_->connect(address);
    }
    for (const auto& endpoint : o.bind) {
      router_.bind(endpoint);
      bound_.push_back(router_.get(zmq::sockopt::last_endpoint));
    }
  }

  [[nodiscard]] zmq::socket_t& socket() noexcept { return router_; }
  [[nodiscard]] zmq::socket_t* monitor() noexcept { return monitor_ ? &*monitor_ : nullptr; }
  /// The endpoints actually bound (a tcp port 0 resolved).
  [[nodiscard]] const std::vector<std::string>& endpoints() const noexcept { return bound_; }

  /// Sends on the connection named `routing_id`, without blocking.
  send_result send(std::string_view routing_id, kind what, std::span<const std::byte> envelope,
                   std::span<const std::byte> payload) {
    if (routing_id.empty()) return send_result::no_route;
    return send_envelope(router_, routing_id, what, envelope, payload);
  }

  /// A monitor event: a connection closed, or a handshake failed (`where` says on which address).
  struct event {
    bool disconnected = false;
    std::string where;
  };

  /// Decodes one monitor message; nullopt when it is not an event.
  [[nodiscard]] static std::optional<event> read_event(const std::vector<zmq::message_t>& frames) {
    if (frames.empty() || frames[0].size() < 6) return std::nullopt;
    std::uint16_t id = 0;
    std::memcpy(&id, frames[0].data(), sizeof id);
    return event{id == ZMQ_EVENT_DISCONNECTED, frames.size() > 1 ? frames[1].to_string() : std::string("?")};
  }

 private:
  zmq::socket_t router_;
  std::optional<zmq::socket_t> monitor_;
  std::vector<std::string> bound_;
};

}  // namespace converge::transport::detail
