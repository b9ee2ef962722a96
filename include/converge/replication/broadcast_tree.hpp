#pragma once
/// @file
/// Epidemic broadcast trees (Plumtree, Leitão, Pereira, Rodrigues, SRDS 2007)
/// over the replicator's peers: which links carry new deltas eagerly, which
/// only get lazy "I have" digests, and the tree control messages.
///
/// # How the tree forms and heals
/// Every link starts eager, so the first deltas flood like gossip. A link
/// whose delta messages turn out mostly redundant (remove-redundant measures
/// the novel part of each; `prune_ratio` of the bytes or more were already
/// held) is pruned: this replica stops sending it intervals and tells the
/// peer (`prune`), which does the same, while at least `min_eager_links`
/// eager links remain. The eager links left are the first deliverers: a
/// spanning tree (plus a few extra links) rooted wherever a delta starts.
/// An eager link forwards what arrives as soon as its previous interval is
/// acknowledged (eager push), not a gossip interval later, so a delta
/// crosses the tree in a round trip or two per hop.
///
/// A lazy link gets, at most once a gossip interval while the peer has not
/// acknowledged everything, a digest: this replica's sequence number `c`,
/// a fingerprint of its state, and a sample: a small piece (at most
/// `max_sample_bytes` encoded) of its newest change that the peer is not
/// known to hold. A peer whose state has the same fingerprint holds
/// everything this replica held at `c` and acknowledges `c` with an
/// ordinary ack, so a lazy link costs a digest and an ack, never the
/// deltas. Otherwise the link is grafted (`graft`, eager on both sides;
/// ordinary anti-entropy then sends what is missing) when either
/// - the peer still lacks the sample `lazy_delay_intervals` later (the
///   sample is Plumtree's message id: a working tree delivers a change
///   everywhere within a few round trips, so a change seen over a lazy link
///   and still missing means the eager links do not reach this replica
///   from where it began, even while other changes keep arriving); or
/// - its own state has not changed for `lazy_delay_intervals` (the tree
///   stopped bringing it anything) while the fingerprints differ.
/// A lazy link that delivers mostly novel data (a delta sent before the
/// prune, or the safety net below) is grafted too. A grafted link is not
/// pruned again for two gossip intervals: its first message is the
/// catch-up since the peer's last acknowledgement, mostly redundant by
/// nature, and the link must first show what it brings afterwards.
///
/// > Rationale: the tree only saves bytes. Delta-interval anti-entropy with
/// > acknowledgements stays underneath: a lazy peer still behind after
/// > `lazy_safety_intervals` gets its interval as under gossip (counted in
/// > `lazy_repairs`), so no crash, loss or partition can leave a replica
/// > behind for good, whatever the tree looks like.
/// >
/// > Known cost: a lazy peer's acknowledgement advances only when a digest
/// > matches (equal states), so under long unbroken load the sender buffers
/// > what it sent its eager links until then, and a graft sends the whole
/// > interval since the lazy peer's last ack (mostly redundant).
///
/// # Wire
/// @code
///   tree message  := envelope kind 3: byte0 varint(session) varint(to) control
///   control       := 0x01 fingerprint(8 bytes, little-endian)   "I have up to `to`" (0: my
///                         [sample]                               state still changes); sample: an
///                                                                encoded delta, at most
///                                                                `max_sample_bytes`, or absent
///                  | 0x02                                        graft
///                  | 0x03                                        prune
/// @endcode
/// Anything else is malformed (`read_tree_control` returns nullopt) and is
/// dropped and counted by the replicator, changing nothing.

#include "converge/replication/metrics.hpp"

#include <boost/hana/define_struct.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace converge::replication {

/// How new deltas spread: `gossip` sends every interval to every peer,
/// `tree` eagerly along the broadcast tree and lazily (digests) elsewhere.
enum class broadcast_mode : std::uint8_t { gossip, tree };

/// "gossip" or "tree"; nullopt otherwise.
inline std::optional<broadcast_mode> parse_broadcast(std::string_view s) {
  if (s == "gossip") return broadcast_mode::gossip;
  if (s == "tree") return broadcast_mode::tree;
  return std::nullopt;
}
/// The name `parse_broadcast` reads back.
inline std::string_view broadcast_name(broadcast_mode m) {
  return m == broadcast_mode::tree ? "tree" : "gossip";
}

/// What a tree control message asks.
enum class tree_op : std::uint8_t { ihave = 1, graft = 2, prune = 3 };

/// The largest sample a digest carries (encoded bytes): enough for a few
/// set elements or counter entries, small beside the digest's envelope.
inline constexpr std::size_t max_sample_bytes = 64;

/// The body of a tree message (after the envelope header).
struct tree_control {
  tree_op op = tree_op::ihave;
  std::uint64_t fingerprint = 0;  ///< ihave: the sender's state fingerprint at `to`
  std::vector<std::byte> sample;  ///< ihave: an encoded piece of the sender's newest change, or empty
};

/// The bytes of `c`.
inline std::vector<std::byte> write_tree_control(const tree_control& c) {
  std::vector<std::byte> out{static_cast<std::byte>(c.op)};
  if (c.op == tree_op::ihave) {
    for (int k = 0; k < 8; ++k) out.push_back(static_cast<std::byte>((c.fingerprint >> (8 * k)) & 0xff));
    out.insert(out.end(), c.sample.begin(), c.sample.end());
  }
  return out;
}

/// Parses a tree control body; nullopt for an unknown op, a wrong length or
/// a sample longer than `max_sample_bytes`.
inline std::optional<tree_control> read_tree_control(std::span<const std::byte> bytes) {
  if (bytes.empty()) return std::nullopt;
  const auto op = std::to_integer<std::uint8_t>(bytes[0]);
  if (op == static_cast<std::uint8_t>(tree_op::ihave)) {
    if (bytes.size() < 9 || bytes.size() > 9 + max_sample_bytes) return std::nullopt;
    tree_control c{tree_op::ihave, 0, {bytes.begin() + 9, bytes.end()}};
    for (std::size_t k = 0; k < 8; ++k)
      c.fingerprint |= std::to_integer<std::uint64_t>(bytes[1 + k]) << (8 * k);
    return c;
  }
  if (op != static_cast<std::uint8_t>(tree_op::graft) && op != static_cast<std::uint8_t>(tree_op::prune))
    return std::nullopt;
  if (bytes.size() != 1) return std::nullopt;
  return tree_control{static_cast<tree_op>(op), 0, {}};
}

/// A 64-bit fingerprint of encoded bytes (FNV-1a, then a final mix so close
/// inputs differ in every bit). Not cryptographic: a peer that forges one
/// only makes its own replica believe a link is in sync.
inline std::uint64_t fingerprint(std::span<const std::byte> bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::byte b : bytes) h = (h ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

/// The tree's knobs (part of `replicator_options`).
struct tree_options {
  std::size_t min_eager_links = 2;           ///< a replica prunes no link below this many eager ones
  double prune_ratio = 0.75;                 ///< prune a link when this fraction of its bytes was redundant
  std::uint64_t lazy_delay_intervals = 2;    ///< still this long with a differing digest: graft
  std::uint64_t lazy_safety_intervals = 40;  ///< a lazy peer behind this long gets its interval anyway
};

/// What the tree did (summed over peers).
struct tree_metrics {
  BOOST_HANA_DEFINE_STRUCT(tree_metrics, (std::uint64_t, prunes),  ///< links this replica pruned
                           (std::uint64_t, grafts),                ///< links this replica grafted
                           (std::uint64_t, digests_sent),          ///< ihave digests sent
                           (std::uint64_t, digest_bytes),          ///< bytes of tree messages sent
                           (std::uint64_t, digest_acks),  ///< digests that matched and were acknowledged
                           (std::uint64_t,
                            lazy_repairs),  ///< intervals sent on a lazy link by the safety net
                           (std::uint64_t, eager_links));  ///< eager links now (a gauge)
  tree_metrics() noexcept { detail::zero_counters(*this); }
};

/// The eager/lazy state of every link of one replica, and the decisions
/// that change it; the replicator feeds it what it observes and sends what
/// it queues. Plain data, no I/O.
class broadcast_tree {
 public:
  explicit broadcast_tree(tree_options o = {}) : opt_(o) {}

  /// A link is eager until pruned (unknown peers count as eager).
  [[nodiscard]] bool eager(peer_id p) const {
    const auto it = links_.find(p);
    return it == links_.end() || it->second.eager;
  }

  void add_peer(peer_id p) { links_.try_emplace(p); }
  void remove_peer(peer_id p) {
    links_.erase(p);
    std::erase_if(outbox_, [&](const queued& q) { return q.to == p; });
  }

  /// The state changed at `now`: the fingerprint is stale.
  void state_changed(std::uint64_t now) noexcept {
    fingerprint_.reset();
    changed_at_ = now;
  }
  /// The fingerprint of the state (cached, `compute()` when stale; never
  /// `changing`), or `changing` while the state changed within half a
  /// gossip interval before `now`: a state still changing will hardly equal
  /// a peer's, and hashing it at every digest would cost more than the tree saves.
  template <class Compute>
  std::uint64_t state_fingerprint(std::uint64_t now, std::uint64_t interval, Compute&& compute) {
    if (now < changed_at_ + interval / 2) return changing;
    if (!fingerprint_) fingerprint_ = std::max<std::uint64_t>(compute(), 1);
    return *fingerprint_;
  }
  /// The fingerprint a digest carries while the sender's state still changes.
  static constexpr std::uint64_t changing = 0;

  /// A delta message from `p` of `total` payload bytes, `novel` of them new
  /// here, at `now`: prunes a redundant eager link, grafts a useful lazy one
  /// (not one pruned within two gossip intervals: what it delivers then was
  /// sent before the peer heard of the prune, not by the safety net).
  void delivered(peer_id p, std::size_t novel, std::size_t total, std::uint64_t now, std::uint64_t interval) {
    link& l = links_[p];
    l.novel += novel;
    l.total += total;
    if (++l.messages < window) return;
    const double redundant =
        l.total == 0 ? 0 : 1.0 - static_cast<double>(l.novel) / static_cast<double>(l.total);
    l.messages = l.novel = l.total = 0;
    const bool settled = !l.grafted_at || now >= *l.grafted_at + 2 * interval;  // see the file comment
    if (l.eager && settled && redundant >= opt_.prune_ratio && eager_count() > opt_.min_eager_links) {
      l.eager = false;
      l.pruned_at = now;
      ++m_.prunes;
      outbox_.push_back({p, tree_op::prune});
    } else if (!l.eager && now > l.pruned_at + 2 * interval) {
      // The peer still pushes to a link pruned here (a prune and a graft
      // crossed): graft it if it brings news, else prune it again, so both
      // ends agree and each counts its eager links truly.
      if (redundant < 0.5) {
        graft(p, now);
      } else {
        l.pruned_at = now;
        outbox_.push_back({p, tree_op::prune});
      }
    }
  }

  /// A digest from `p` whose fingerprint differs from this state's at `now`:
  /// grafts when the state stood still for `lazy_delay_intervals`.
  void digest_differs(peer_id p, std::uint64_t now, std::uint64_t interval) {
    if (eager(p) || now < changed_at_ + opt_.lazy_delay_intervals * interval) return;
    graft(p, now);
  }

  /// When a sample from lazy peer `p` still missing here at `now` makes this
  /// replica graft the link (see "How the tree forms and heals").
  [[nodiscard]] std::uint64_t sample_due(std::uint64_t now, std::uint64_t interval) const noexcept {
    return now + opt_.lazy_delay_intervals * interval;
  }
  /// A sample from `p` was still missing at `now`: grafts a link still lazy.
  void sample_missing(peer_id p, std::uint64_t now) {
    if (!eager(p)) graft(p, now);
  }

  /// A control message from `p` at `now`: graft or prune makes the link
  /// eager or lazy here too.
  void control(peer_id p, tree_op op, std::uint64_t now) {
    link& l = links_[p];
    l.eager = op == tree_op::graft;
    if (l.eager) {
      l.grafted_at = now;
    } else {
      l.pruned_at = now;
    }
  }

  /// Whether a lazy link to `p`, behind since its ack was `acked`, is held
  /// back at `now` (else the safety net sends its interval). Also says when
  /// to look again.
  [[nodiscard]] bool hold_back(peer_id p, std::uint64_t acked, std::uint64_t now, std::uint64_t interval,
                               std::uint64_t& wake) {
    link& l = links_[p];
    if (l.eager) return false;
    if (!l.behind_since || l.behind_acked != acked) {
      l.behind_since = now;
      l.behind_acked = acked;
    }
    const std::uint64_t safety = *l.behind_since + opt_.lazy_safety_intervals * interval;
    if (now >= safety) {
      ++m_.lazy_repairs;
      l.behind_since = now;  // the next repair of this link waits as long again
      return false;
    }
    wake = std::min(safety, std::max(l.last_digest + interval, now + 1));
    return true;
  }

  /// True when a digest to held-back lazy peer `p` is due at `now` (at most
  /// one a gossip interval); marks it sent.
  bool digest_due(peer_id p, std::uint64_t now, std::uint64_t interval) {
    link& l = links_[p];
    if (l.digested && now < l.last_digest + interval) return false;
    l.digested = true;
    l.last_digest = now;
    ++m_.digests_sent;
    return true;
  }

  /// Control messages waiting to be sent (taken by the replicator's tick).
  struct queued {
    peer_id to;
    tree_op op;
  };
  std::vector<queued> take_outbox() { return std::exchange(outbox_, {}); }

  void count_bytes(std::size_t n) noexcept { m_.digest_bytes += n; }
  void count_digest_ack() noexcept { ++m_.digest_acks; }

  /// What the tree did; `eager_links` is the current count.
  [[nodiscard]] tree_metrics metrics() const {
    tree_metrics m = m_;
    m.eager_links = eager_count();
    return m;
  }

 private:
  static constexpr std::uint64_t window = 1;  // delta messages weighed per prune/graft decision

  struct link {
    bool eager = true;
    std::uint64_t messages = 0, novel = 0, total = 0;  // the current window
    std::optional<std::uint64_t> behind_since;         // lazy: when the peer fell behind `behind_acked`
    std::uint64_t behind_acked = 0;
    bool digested = false;
    std::uint64_t last_digest = 0;
    std::uint64_t pruned_at = 0;
    std::optional<std::uint64_t> grafted_at;  // never grafted: the first flood prunes at once
  };

  void graft(peer_id p, std::uint64_t now) {
    link& l = links_[p];
    l.eager = true;
    l.grafted_at = now;
    ++m_.grafts;
    outbox_.push_back({p, tree_op::graft});
  }

  [[nodiscard]] std::size_t eager_count() const {
    return static_cast<std::size_t>(
        std::count_if(links_.begin(), links_.end(), [](const auto& kv) { return kv.second.eager; }));
  }

  tree_options opt_;
  std::map<peer_id, link> links_;
  std::vector<queued> outbox_;
  std::optional<std::uint64_t> fingerprint_;
  std::uint64_t changed_at_ = 0;
  tree_metrics m_;
};

}  // namespace converge::replication
