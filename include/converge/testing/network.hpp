#pragma once
/// @file
/// `converge::testing::network`: an in-process packet network on virtual
/// time with seeded faults, each a named knob (TigerBeetle's
/// packet_simulator): delay, loss, duplication, reordering and partitions.
/// It carries bytes between numbered nodes and knows nothing of what they
/// mean; `cluster` (converge/testing/cluster.hpp) puts replicators on it.
///
/// Packets are delivered in two ways: by time (`take_due(now)`, what the
/// simulator does), or by hand (`at`, `take`, `drop`, `duplicate`,
/// `take_all`: a test or a fuzzer decides which packet moves next). In both,
/// the packets in flight are in the order they are due, and among those due
/// together in the order they were sent.

#include "converge/testing/entropy.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace converge::testing {

/// A message from node `from` to node `to`.
struct packet {
  std::size_t from = 0;
  std::size_t to = 0;
  std::vector<std::byte> bytes;
};

/// The network's knobs; every fault off by default.
struct network_options {
  std::uint64_t delay = 1;            ///< base delay of every message (at least 1)
  double loss = 0;                    ///< probability a message is dropped
  double duplicate = 0;               ///< probability a message is delivered twice
  bool reorder = false;               ///< each copy gets a random extra delay
  std::uint64_t max_extra_delay = 0;  ///< reorder's extra delay is in [0, max_extra_delay]
};

/// What the network did.
struct network_stats {
  std::uint64_t messages_sent = 0;  ///< every message handed to the network (lost ones too)
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_lost = 0;  ///< dropped by loss, a partition, a drop, or a receiver that is down
  std::uint64_t messages_duplicated = 0;
  std::uint64_t partitions = 0;  ///< partitions formed
};

namespace detail {

/// The bucket and position of the `k`-th packet in flight of `queue`.
template <class Queue>
auto locate(Queue& queue, std::size_t k) {
  for (auto b = queue.begin(); b != queue.end(); ++b) {
    if (k < b->second.size()) return std::pair{b, b->second.begin() + static_cast<std::ptrdiff_t>(k)};
    k -= b->second.size();
  }
  throw std::out_of_range("network: no such packet in flight");
}

}  // namespace detail

/// A seeded, faulty network between `nodes` nodes.
class network {
 public:
  /// A network of `nodes` nodes drawing its faults from `rng`.
  explicit network(std::size_t nodes = 0, network_options options = {},
                   seeded_entropy rng = seeded_entropy{0})
      : opt_(options), rng_(rng), side_(nodes, 0) {}

  /// Makes room for `nodes` nodes.
  void resize(std::size_t nodes) { side_.resize(nodes, 0); }

  /// Hands `bytes` from `from` to `to` to the network at time `now`: it may
  /// be lost or duplicated, and each copy is due after the delay.
  void send(std::uint64_t now, std::size_t from, std::size_t to, std::vector<std::byte> bytes) {
    ++stats_.messages_sent;
    stats_.bytes_sent += bytes.size();
    if (rng_.chance(opt_.loss)) {
      ++stats_.messages_lost;
      return;
    }
    const int copies = rng_.chance(opt_.duplicate) ? 2 : 1;
    if (copies == 2) ++stats_.messages_duplicated;
    for (int c = 0; c < copies; ++c) {
      std::uint64_t delay = std::max<std::uint64_t>(1, opt_.delay);
      if (opt_.reorder) delay += rng_.below(opt_.max_extra_delay + 1);
      if (c + 1 < copies) {
        put(now + delay, {from, to, bytes});
      } else {
        put(now + delay, {from, to, std::move(bytes)});
      }
    }
  }

  /// Queues `p` to be due at `due`, as is (no fault, not counted as sent).
  void put(std::uint64_t due, packet p) {
    queue_[due].push_back(std::move(p));
    ++size_;
  }

  /// Every packet due at or before `now`, in order, taken off the network.
  std::vector<packet> take_due(std::uint64_t now) {
    std::vector<packet> out;
    while (!queue_.empty() && queue_.begin()->first <= now) {
      auto node = queue_.extract(queue_.begin());
      if (out.empty()) {
        out = std::move(node.mapped());
      } else {
        std::move(node.mapped().begin(), node.mapped().end(), std::back_inserter(out));
      }
    }
    size_ -= out.size();
    return out;
  }

  /// When the next packet is due, if any is in flight.
  [[nodiscard]] std::optional<std::uint64_t> next_due() const {
    if (queue_.empty()) return std::nullopt;
    return queue_.begin()->first;
  }

  /// Packets in flight.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// The `k`-th packet in flight (k < size()).
  [[nodiscard]] const packet& at(std::size_t k) const { return *detail::locate(queue_, k).second; }
  /// Takes the `k`-th packet off the network.
  packet take(std::size_t k) {
    const auto [bucket, it] = detail::locate(queue_, k);
    packet p = std::move(*it);
    bucket->second.erase(it);
    if (bucket->second.empty()) queue_.erase(bucket);
    --size_;
    return p;
  }
  /// Drops the `k`-th packet (counted as lost).
  void drop(std::size_t k) {
    (void)take(k);
    ++stats_.messages_lost;
  }
  /// Sends a copy of the `k`-th packet, last in flight.
  void duplicate(std::size_t k) {
    packet copy = at(k);
    ++stats_.messages_duplicated;
    queue_.rbegin()->second.push_back(std::move(copy));
    ++size_;
  }
  /// Every packet in flight, in order, taken off the network.
  std::vector<packet> take_all() { return take_due(~std::uint64_t{0}); }

  /// Splits the nodes in two sides, `side()` (0 or 1) drawn for each node
  /// in order; packets across are lost when they arrive, until `heal`.
  template <class Side>
  void partition(Side&& side) {
    partitioned_ = true;
    ++stats_.partitions;
    for (auto& s : side_) s = static_cast<unsigned char>(side());
  }
  /// Ends the partition.
  void heal() {
    partitioned_ = false;
    std::fill(side_.begin(), side_.end(), 0);
  }
  [[nodiscard]] bool partitioned() const noexcept { return partitioned_; }
  /// True when a partition separates `from` and `to`.
  [[nodiscard]] bool cut(std::size_t from, std::size_t to) const {
    return partitioned_ && side_.at(from) != side_.at(to);
  }
  /// Counts a packet that arrived and could not be delivered.
  void count_lost() noexcept { ++stats_.messages_lost; }

  [[nodiscard]] const network_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] const network_options& options() const noexcept { return opt_; }

 private:
  using queue_t = std::map<std::uint64_t, std::vector<packet>>;

  network_options opt_;
  seeded_entropy rng_;
  queue_t queue_;
  std::size_t size_ = 0;
  std::vector<unsigned char> side_;
  bool partitioned_ = false;
  network_stats stats_{};
};

}  // namespace converge::testing
