#pragma once
// A deterministic in-process network of membership nodes (failure detector +
// partial views, glued as a converge-node would glue them) on virtual time
// in milliseconds. Links are FIFO per pair (as TCP and ZeroMQ are), with a
// seeded delay; nodes can crash, pause (SIGSTOP: messages wait, ticks stop)
// and lose every link (a blackout, where the transport also reports every
// link lost). Everything derives from one seed.
#include <converge/membership/failure_detector.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/views.hpp>
#include <converge/testing/entropy.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace test::membership {

using namespace converge::membership;

struct sim_options {
  std::size_t nodes = 16;
  std::uint64_t seed = 1;
  std::uint64_t step = 10;  // ms of virtual time per step
  std::uint64_t min_delay = 1;
  std::uint64_t max_delay = 5;
  bool endpoints = true;  // give each record an endpoint (off: cheaper records for large runs)
  detector_options detector{};
  view_options view{};
};

class sim {
 public:
  using body = std::variant<probe_message, view_message>;

  /// Called for every membership change a node's detector reports: (now, observer, change).
  std::function<void(std::uint64_t, std::size_t, const member_change&)> on_change;

  explicit sim(sim_options o) : opt_(o), rng_(converge::testing::seeded_entropy::derive(o.seed, 1)) {
    nodes_.resize(o.nodes);
  }

  static node_id id(std::size_t i) { return i + 1; }
  static std::size_t index(node_id n) { return static_cast<std::size_t>(n - 1); }

  /// Starts node i: the first node bootstraps, the others join through `seed`.
  void start(std::size_t i, std::optional<std::size_t> seed) {
    node& n = nodes_[i];
    member_record self;
    self.node = id(i);
    self.replica = converge::replica_id::with_incarnation(id(i), 0);
    if (opt_.endpoints)
      self.endpoints = {"tcp://10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":7000"};
    n.fd.emplace(self, opt_.detector, converge::replica_id::mix(opt_.seed ^ (2 * i + 1)));
    n.v.emplace(id(i), opt_.view, converge::replica_id::mix(opt_.seed ^ (2 * i + 2)));
    n.started = true;
    if (seed) {
      n.v->set_seeds({id(*seed)});
      n.v->join(id(*seed), now_);
    } else {
      n.fd->bootstrap();
    }
    n.dirty = true;
  }

  void crash(std::size_t i) { nodes_[i].crashed = true; }
  void pause(std::size_t i, std::uint64_t until) { nodes_[i].paused_until = until; }
  /// Every message is lost until `until`; with `report`, the transport
  /// reports every link lost now (else only the failure detector finds out).
  void blackout(std::uint64_t until, bool report = true) {
    blackout_until_ = until;
    if (!report) return;
    for (node& n : nodes_) {
      if (!alive(n)) continue;
      const std::vector<node_id> links = n.v->active();
      for (const node_id l : links) n.v->neighbour_failed(l, now_);
      n.dirty = true;
    }
  }

  /// Runs until `until` (virtual ms).
  void run_until(std::uint64_t until) {
    while (now_ < until) step_();
  }
  /// Runs until `done()` holds (checked every `every` ms) or `until`; returns the time it held.
  std::optional<std::uint64_t> run_until(std::uint64_t until, const std::function<bool()>& done,
                                         std::uint64_t every = 100) {
    while (now_ < until) {
      step_();
      if (now_ % every == 0 && done()) return now_;
    }
    return std::nullopt;
  }

  [[nodiscard]] std::uint64_t now() const { return now_; }
  [[nodiscard]] std::size_t size() const { return nodes_.size(); }
  [[nodiscard]] bool live(std::size_t i) const { return alive(nodes_[i]); }
  [[nodiscard]] bool crashed(std::size_t i) const { return nodes_[i].crashed; }
  [[nodiscard]] const failure_detector& detector(std::size_t i) const { return *nodes_[i].fd; }
  [[nodiscard]] const views& view(std::size_t i) const { return *nodes_[i].v; }
  [[nodiscard]] std::uint64_t messages() const { return messages_; }
  /// Messages sent by kind: probe kinds at their value, view kinds at 8 + value.
  [[nodiscard]] const std::array<std::uint64_t, 17>& messages_by_kind() const { return by_kind_; }

  /// True when the active views of the live nodes, as an undirected graph,
  /// connect every live node.
  [[nodiscard]] bool connected() const {
    std::vector<std::vector<std::size_t>> adj(nodes_.size());
    std::size_t first = nodes_.size();
    std::size_t live_count = 0;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!alive(nodes_[i])) continue;
      ++live_count;
      first = std::min(first, i);
      for (const node_id l : nodes_[i].v->active()) {
        const std::size_t j = index(l);
        if (j < nodes_.size() && alive(nodes_[j])) {
          adj[i].push_back(j);
          adj[j].push_back(i);
        }
      }
    }
    if (live_count == 0) return true;
    std::vector<bool> seen(nodes_.size(), false);
    std::vector<std::size_t> stack{first};
    seen[first] = true;
    std::size_t reached = 1;
    while (!stack.empty()) {
      const std::size_t i = stack.back();
      stack.pop_back();
      for (const std::size_t j : adj[i]) {
        if (!seen[j]) {
          seen[j] = true;
          ++reached;
          stack.push_back(j);
        }
      }
    }
    return reached == live_count;
  }

  /// Links one live end holds and the other live end does not.
  [[nodiscard]] std::size_t half_links() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!alive(nodes_[i])) continue;
      for (const node_id l : nodes_[i].v->active()) {
        const std::size_t j = index(l);
        if (j < nodes_.size() && alive(nodes_[j]) && !nodes_[j].v->in_active(id(i))) ++n;
      }
    }
    return n;
  }

  /// True when every live node sees every live node up and every crashed one not live.
  [[nodiscard]] bool members_agree() const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!alive(nodes_[i])) continue;
      const members& m = nodes_[i].fd->view();
      for (std::size_t j = 0; j < nodes_.size(); ++j) {
        if (!nodes_[j].started) continue;
        const auto s = m.status(id(j));
        if (alive(nodes_[j])) {  // paused nodes are alive too
          if (s != member_status::up) return false;
        } else if (s && is_live(*s)) {
          return false;
        }
      }
    }
    return true;
  }

 private:
  struct node {
    std::optional<failure_detector> fd;
    std::optional<views> v;
    bool started = false;
    bool crashed = false;
    bool dirty = false;
    std::uint64_t paused_until = 0;
    std::uint64_t next_fd = 0;
    std::uint64_t next_v = 0;
    std::vector<std::pair<std::size_t, body>> held;  // arrived while paused
  };
  struct packet {
    std::size_t from, to;
    body b;
  };

  [[nodiscard]] bool alive(const node& n) const { return n.started && !n.crashed; }

  void send_(std::size_t from, std::size_t to, body b) {
    if (to >= nodes_.size()) return;
    ++messages_;
    if (const auto* p = std::get_if<probe_message>(&b)) {
      ++by_kind_[static_cast<std::size_t>(p->kind)];
    } else {
      ++by_kind_[8 + static_cast<std::size_t>(std::get<view_message>(b).kind)];
    }
    const std::uint64_t key = (static_cast<std::uint64_t>(from) << 32) | to;
    std::uint64_t due = now_ + opt_.min_delay + rng_.below(opt_.max_delay - opt_.min_delay + 1);
    auto& last = last_due_[key];
    due = std::max(due, last);  // FIFO per link
    last = due;
    queue_[due].push_back(packet{from, to, std::move(b)});
  }

  void deliver_(std::size_t to, std::size_t from, const body& b) {
    node& n = nodes_[to];
    if (const auto* p = std::get_if<probe_message>(&b)) {
      n.fd->receive(id(from), *p, now_);
    } else {
      n.v->receive(id(from), std::get<view_message>(b), now_);
    }
    n.dirty = true;
  }

  void step_() {
    now_ += opt_.step;
    while (!queue_.empty() && queue_.begin()->first <= now_) {
      std::vector<packet> due = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      for (packet& p : due) {
        node& n = nodes_[p.to];
        if (!alive(n) || now_ < blackout_until_) continue;
        if (n.paused_until > now_) {
          n.held.emplace_back(p.from, std::move(p.b));
          continue;
        }
        deliver_(p.to, p.from, p.b);
      }
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      node& n = nodes_[i];
      if (!alive(n) || n.paused_until > now_) continue;
      if (!n.held.empty()) {
        auto held = std::move(n.held);
        n.held.clear();
        for (auto& [from, b] : held) deliver_(i, from, b);
      }
      if (!n.dirty && now_ < n.next_fd && now_ < n.next_v) continue;
      n.dirty = false;
      tick_(i);
    }
  }

  void tick_(std::size_t i) {
    node& n = nodes_[i];
    n.v->set_cluster_size(n.fd->live_members());
    view_output vo = n.v->tick(now_);
    if (vo.active_changed) n.fd->set_neighbours(n.v->active());
    detector_output fo = n.fd->tick(now_);
    bool again = false;
    for (const member_change& c : fo.changes) {
      if (on_change) on_change(now_, i, c);
      if (c.node == id(i)) continue;
      if (!is_live(c.after)) {
        n.v->neighbour_failed(c.node, now_);
        again = true;
      } else if (c.before == member_status::down) {
        n.v->revived(c.node);
      } else {
        n.v->offer(c.node);
      }
    }
    for (auto& [to, m] : vo.messages) send_(i, index(to), std::move(m));
    for (auto& [to, m] : fo.messages) send_(i, index(to), std::move(m));
    n.next_v = vo.next_deadline;
    n.next_fd = fo.next_deadline;
    if (again) n.dirty = true;
  }

  sim_options opt_;
  converge::testing::seeded_entropy rng_;
  std::vector<node> nodes_;
  std::map<std::uint64_t, std::vector<packet>> queue_;
  std::unordered_map<std::uint64_t, std::uint64_t> last_due_;
  std::uint64_t now_ = 0;
  std::uint64_t blackout_until_ = 0;
  std::uint64_t messages_ = 0;
  std::array<std::uint64_t, 17> by_kind_{};
};

}  // namespace test::membership
