#pragma once
/// @file
/// A link: this node's outbound connection to one peer endpoint, owning its
/// DEALER socket (ZeroMQ connects, and reconnects after a peer restarts;
/// a host name is resolved at every connect). It knows whom it reaches once
/// that peer has spoken on it.
///
/// A link is `configured` (a `--peer`: kept for the node's life) or
/// `dynamic` (opened by membership to a member's advertised endpoint or to a
/// seed, and closed when no longer needed).

#include "converge/transport/curve.hpp"
#include "converge/transport/detail/envelope.hpp"
#include "converge/transport/detail/sockets.hpp"
#include "converge/transport/node_options.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

namespace converge::transport::detail {

/// What a link is for.
enum class link_role : std::uint8_t {
  configured,  ///< a configured peer endpoint: never closed
  dynamic,     ///< opened by membership: closed when no longer needed
};

class link {
 public:
  /// Connects a DEALER to `endpoint` with the node's options; with CURVE, the
  /// allow-list must give the server key of that endpoint (else
  /// `std::invalid_argument`), and the link then expects that entry's id.
  /// A dynamic link may name the node it `expect`s (a member's record): with
  /// CURVE, that node's allow-list entry gives the server key; a message
  /// from anyone else on it is refused as spoofed.
  link(zmq::context_t& ctx, std::string endpoint, const node_options& o, std::size_t max_message,
       link_role role = link_role::configured, std::optional<std::uint64_t> expect = std::nullopt,
       std::uint64_t now = 0)
      : endpoint_(std::move(endpoint)), socket_(ctx, zmq::socket_type::dealer), role_(role), opened_(now) {
    set_common_options(socket_, o, max_message);
    socket_.set(zmq::sockopt::immediate, 1);  // queue only on a completed connection
    expected_ = expect;
    if (o.curve) {
      const curve_peer* server = o.curve->find_endpoint(endpoint_);
      if (expect) {
        server = nullptr;
        for (const curve_peer& p : o.curve->allow) {
          if (p.id == *expect) server = &p;
        }
      }
      if (server == nullptr) {
        throw std::invalid_argument("CURVE: no allow-list entry 'KEY ID " + endpoint_ +
                                    "' gives the server key of peer " + endpoint_);
      }
      expected_ = server->id;
      socket_.set(zmq::sockopt::curve_serverkey, server->public_key);
      socket_.set(zmq::sockopt::curve_publickey, o.curve->own.public_key);
      socket_.set(zmq::sockopt::curve_secretkey, o.curve->own.secret_key);
    }
    socket_.connect(endpoint_);
  }

  [[nodiscard]] const std::string& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] zmq::socket_t& socket() noexcept { return socket_; }

  /// The peer id the allow-list binds to this endpoint (CURVE), if any.
  [[nodiscard]] std::optional<std::uint64_t> expected() const noexcept { return expected_; }
  /// The peer id heard on this link, else the expected one.
  [[nodiscard]] std::optional<std::uint64_t> peer() const noexcept { return id_ ? id_ : expected_; }
  /// True once the peer at the other end has spoken on it (or is expected).
  [[nodiscard]] bool reaches(std::uint64_t id) const noexcept { return peer() == id; }
  /// When the peer last spoke on it (node milliseconds), if ever.
  [[nodiscard]] std::optional<std::uint64_t> last_heard() const noexcept { return last_heard_; }
  /// True when this endpoint turned out to be this node itself.
  [[nodiscard]] bool self() const noexcept { return self_; }
  [[nodiscard]] link_role role() const noexcept { return role_; }
  /// When it was opened (node milliseconds; 0 for a configured link).
  [[nodiscard]] std::uint64_t opened() const noexcept { return opened_; }
  /// When membership last sent on it or asked for it (dynamic links).
  [[nodiscard]] std::uint64_t used() const noexcept { return used_; }
  void use(std::uint64_t now) noexcept { used_ = std::max(used_, now); }

  /// Records that peer `id` spoke on this link at `now`.
  void heard(std::uint64_t id, std::uint64_t now) noexcept {
    id_ = id;
    last_heard_ = now;
  }
  void mark_self() noexcept { self_ = true; }

  /// Sends without blocking. A DEALER cannot tell a full queue from a
  /// connection that is not up (both "would block"): `live` (the peer was
  /// heard lately) tells them apart.
  send_result send(kind what, std::span<const std::byte> envelope, std::span<const std::byte> payload,
                   bool live) {
    const send_result r = send_envelope(socket_, {}, what, envelope, payload);
    return r == send_result::queue_full && !live ? send_result::no_route : r;
  }

 private:
  std::string endpoint_;
  zmq::socket_t socket_;
  std::optional<std::uint64_t> expected_;
  std::optional<std::uint64_t> id_;
  std::optional<std::uint64_t> last_heard_;
  bool self_ = false;
  link_role role_ = link_role::configured;
  std::uint64_t opened_ = 0;
  std::uint64_t used_ = 0;
};

}  // namespace converge::transport::detail
