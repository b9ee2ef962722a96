#pragma once
/// @file
/// The node's ZAP handler (ZeroMQ's authentication protocol, RFC 27): a REP
/// socket at inproc://zeromq.zap.01 in the node's context that accepts a
/// CURVE client only when its public key is in the allow-list, and tells
/// the ROUTER the node id bound to that key (as the ZAP User-Id, which every
/// message from that connection then carries).

#include "converge/transport/curve.hpp"

#include <zmq.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace converge::transport::detail {

class zap_handler {
 public:
  /// Checks `curve` and binds the handler. Throws `std::invalid_argument`
  /// when CURVE is unavailable, the key pair is not Z85, or another handler
  /// is bound in this context.
  zap_handler(zmq::context_t& ctx, curve_options curve)
      : curve_(std::move(curve)), socket_(ctx, zmq::socket_type::rep) {
    if (!curve_available()) throw std::invalid_argument("CURVE requested but libzmq has no CURVE support");
    if (!is_z85_key(curve_.own.public_key) || !is_z85_key(curve_.own.secret_key)) {
      throw std::invalid_argument("CURVE key pair is not two 40-character Z85 keys");
    }
    socket_.set(zmq::sockopt::linger, 0);
    try {
      socket_.bind("inproc://zeromq.zap.01");
    } catch (const zmq::error_t& e) {
      throw std::invalid_argument(
          std::string("cannot run the ZAP handler (another CURVE node in this context?): ") + e.what());
    }
  }

  [[nodiscard]] zmq::socket_t& socket() noexcept { return socket_; }

  /// What was decided about one request.
  struct decision {
    bool allowed = false;
    std::optional<std::uint64_t> id;  ///< the node id bound to the key, when allowed
    std::string key;                  ///< the client's public key (Z85), when it offered one
    std::string address;              ///< where it connected from
  };

  /// Answers one request (version, request id, domain, address, identity,
  /// mechanism, credentials...) and returns the decision.
  decision answer(const std::vector<zmq::message_t>& frames) {
    decision d;
    std::string status = "400";
    std::string text = "not in the allow-list";
    std::string user;
    if (frames.size() >= 6 && frames[0].to_string_view() == "1.0") {
      d.address = frames[3].to_string();
      if (frames[5].to_string_view() == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
        d.key = z85_key(frames[6].data());
        if (const curve_peer* p = curve_.find_key(d.key)) {
          status = "200";
          text = "OK";
          user = std::to_string(p->id);
          d.allowed = true;
          d.id = p->id;
        }
      }
    }
    const std::string request_id = frames.size() >= 2 ? frames[1].to_string() : std::string();
    socket_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(user), zmq::send_flags::sndmore);
    socket_.send(zmq::str_buffer(""), zmq::send_flags::none);
    return d;
  }

 private:
  curve_options curve_;
  zmq::socket_t socket_;
};

}  // namespace converge::transport::detail
