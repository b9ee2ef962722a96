#pragma once
/// @file
/// The node's peers, one record each, and its links. A record holds
/// everything the node knows of a peer: its current replica identity, the
/// inbound connection it last spoke on (ZeroMQ routing id, when), which
/// links reach it, and whether it is a replicator peer. Admission, routing a
/// send, expiry and status all read this one table, so nothing has to be
/// kept in step by hand.
///
/// The table does not know the replicator: the node admits a replicating
/// peer here and in the replicator together, and removes from both what
/// `expire` returns. With membership, nodes that only exchange membership
/// messages are in the table too (for routing), not replicating.

#include "converge/replica_id.hpp"
#include "converge/transport/detail/link.hpp"
#include "converge/transport/peer_status.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace converge::transport::detail {

class peer_table {
 public:
  /// One admitted peer.
  struct peer {
    replica_id replica;                        ///< its current incarnation
    std::string routing_id;                    ///< its inbound connection (empty: none yet)
    std::optional<std::uint64_t> route_heard;  ///< when it last spoke on that connection
    std::vector<std::size_t> links;            ///< the links that reach it
    bool replicating = true;                   ///< a peer of the replicator
    std::optional<std::uint64_t> data_heard;   ///< when it last sent replicator data
  };

  /// Where a send to a peer goes: over a link, or back on its inbound connection.
  struct route {
    link* via_link = nullptr;
    std::string_view routing_id;  ///< when `via_link` is null; empty: no route at all
    bool live = false;            ///< the peer was heard on it within the live window
  };

  /// `live_window`: how long (ms) after it last spoke a connection counts as up.
  explicit peer_table(std::uint64_t live_window) noexcept : live_window_(live_window) {}

  /// Adds a link; returns its index. A peer it is known to reach (CURVE, or
  /// a member's link) counts it at once.
  std::size_t add_link(link l) {
    links_.push_back(std::move(l));
    const std::size_t i = links_.size() - 1;
    if (const auto id = links_[i].peer()) {
      if (peer* p = find(*id)) p->links.push_back(i);
    }
    return i;
  }

  /// Closes link `index` (a dynamic one): later links move down by one.
  /// Not while iterating over the links.
  void remove_link(std::size_t index) {
    links_.erase(links_.begin() + static_cast<std::ptrdiff_t>(index));
    for (auto& [id, p] : peers_) {
      std::erase(p.links, index);
      for (std::size_t& i : p.links) {
        if (i > index) --i;
      }
    }
  }

  /// The index of the link to `endpoint`, if there is one.
  [[nodiscard]] std::optional<std::size_t> link_to(std::string_view endpoint) const {
    for (std::size_t i = 0; i < links_.size(); ++i) {
      if (links_[i].endpoint() == endpoint) return i;
    }
    return std::nullopt;
  }

  /// True when a configured link reaches peer `id`.
  [[nodiscard]] bool configured(std::uint64_t id) const {
    const peer* p = find(id);
    if (p == nullptr) return false;
    return std::any_of(p->links.begin(), p->links.end(),
                       [&](std::size_t i) { return links_[i].role() == link_role::configured; });
  }
  [[nodiscard]] std::deque<link>& links() noexcept { return links_; }
  [[nodiscard]] const std::deque<link>& links() const noexcept { return links_; }

  /// Admitted peers.
  [[nodiscard]] std::size_t size() const noexcept { return peers_.size(); }
  [[nodiscard]] peer* find(std::uint64_t id) {
    const auto it = peers_.find(id);
    return it == peers_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const peer* find(std::uint64_t id) const {
    const auto it = peers_.find(id);
    return it == peers_.end() ? nullptr : &it->second;
  }

  /// Calls `fn(id, peer&)` for every peer, by id.
  template <class F>
  void for_each(F&& fn) {
    for (auto& [id, p] : peers_) fn(id, p);
  }

  /// Adds peer `id` (not yet in the table), with the links that reach it.
  peer& admit(std::uint64_t id, replica_id replica, bool replicating = true) {
    peer& p = peers_[id];
    p.replica = replica;
    p.replicating = replicating;
    for (std::size_t i = 0; i < links_.size(); ++i) {
      if (links_[i].reaches(id)) p.links.push_back(i);
    }
    return p;
  }

  /// Peer `id` (admitted) spoke on the inbound connection `routing_id` at `now`.
  void heard_inbound(std::uint64_t id, std::string_view routing_id, std::uint64_t now) {
    peer* p = find(id);
    if (p == nullptr) return;
    if (p->routing_id != routing_id) p->routing_id.assign(routing_id);
    p->route_heard = now;
  }

  /// Peer `id` (admitted) spoke on link `index` at `now`; the link now reaches it.
  void heard_on_link(std::size_t index, std::uint64_t id, std::uint64_t now) {
    link& l = links_[index];
    if (const auto before = l.peer(); before && *before != id) {
      if (peer* old = find(*before)) std::erase(old->links, index);
    }
    l.heard(id, now);
    if (peer* p = find(id);
        p != nullptr && std::find(p->links.begin(), p->links.end(), index) == p->links.end()) {
      p->links.push_back(index);
    }
  }

  /// True when a connection last heard at `heard` is up at `now`.
  [[nodiscard]] bool live(const std::optional<std::uint64_t>& heard, std::uint64_t now) const noexcept {
    return heard && now - std::min(now, *heard) <= live_window_;
  }

  /// The best way to peer `id` now: a live link, else its live inbound
  /// connection, else a link that may come up, else the last inbound one.
  [[nodiscard]] route route_to(std::uint64_t id, std::uint64_t now) {
    peer* p = find(id);
    if (p == nullptr) return {};
    link* best = nullptr;
    for (const std::size_t i : p->links) {
      link& l = links_[i];
      if (best == nullptr || live(l.last_heard(), now)) best = &l;
      if (live(l.last_heard(), now)) break;
    }
    if (best != nullptr && live(best->last_heard(), now)) return {best, {}, true};
    if (!p->routing_id.empty() && live(p->route_heard, now)) return {nullptr, p->routing_id, true};
    if (best != nullptr) return {best, {}, false};
    return {nullptr, p->routing_id, false};
  }

  /// Removes the peers no link reaches that have been silent for more than
  /// `window` ms; returns the replicating ones' ids.
  std::vector<std::uint64_t> expire(std::uint64_t now, std::uint64_t window) {
    std::vector<std::uint64_t> gone;
    for (auto it = peers_.begin(); it != peers_.end();) {
      const peer& p = it->second;
      if (p.links.empty() && now - std::min(now, p.route_heard.value_or(0)) > window) {
        if (p.replicating) gone.push_back(it->first);
        it = peers_.erase(it);
      } else {
        ++it;
      }
    }
    return gone;
  }

  /// Every configured link but this node's own, then the replicating peers
  /// no configured link reaches (with the endpoint of a dynamic link that
  /// reaches one, if any).
  [[nodiscard]] std::vector<peer_status> status(std::uint64_t now) const {
    std::vector<peer_status> out;
    for (const link& l : links_) {
      if (l.self() || l.role() != link_role::configured) continue;
      peer_status s;
      s.endpoint = l.endpoint();
      s.id = l.peer();
      s.reachable = live(l.last_heard(), now);
      if (s.id) s.replica = replica_of(*s.id);
      out.push_back(std::move(s));
    }
    for (const auto& [id, p] : peers_) {
      if (!p.replicating || configured(id)) continue;
      peer_status s;
      s.id = id;
      s.reachable = live(p.route_heard, now);
      for (const std::size_t i : p.links) {
        if (s.endpoint.empty()) s.endpoint = links_[i].endpoint();
        s.reachable = s.reachable || live(links_[i].last_heard(), now);
      }
      s.replica = p.replica;
      out.push_back(std::move(s));
    }
    return out;
  }

  /// The replica identity of peer `id`, once admitted.
  [[nodiscard]] std::optional<replica_id> replica_of(std::uint64_t id) const {
    const peer* p = find(id);
    if (p == nullptr) return std::nullopt;
    return p->replica;
  }

 private:
  std::uint64_t live_window_;
  std::deque<link> links_;
  std::map<std::uint64_t, peer> peers_;
};

}  // namespace converge::transport::detail
