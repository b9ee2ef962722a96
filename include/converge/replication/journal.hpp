#pragma once
/// @file
/// What a durable replicator keeps, and the one interface it keeps it
/// through. The replicator decides what must be durable and when; a
/// `journal` only stores opaque, checksummed records in order and makes them
/// durable on `sync()`. `memory_journal.hpp` is the simulator's and the
/// tests' journal; `storage/` holds the LMDB one.
///
/// # Records
/// A journal holds a snapshot record followed by the records written since,
/// oldest first. Each record is `u32le crc32c(body) | body`, and its body
/// starts with a kind byte:
/// @code
///   snapshot := 1 varint(format=1) varint(self) varint(end)
///               varint(n) n × (varint(peer) varint(acked) varint(session))
///               varint(len) state
///   delta    := 2 varint(seq) byte(flags: 1 buffered, 2 has origin) [varint(origin)] delta
///   acks     := 3 varint(n) n × (varint(peer) varint(acked) varint(session))
/// @endcode
/// `state` and `delta` are `converge::encode`d. `end` is the replicator's
/// sequence counter `c` at the snapshot, and `seq` the number a delta took:
/// the deltas after a snapshot number `end`, `end + 1`, … with no gap, so a
/// lost record in the middle is detected, never silently skipped. An acks
/// record replaces the acknowledgements before it.
///
/// # Recovery
/// `read_journal` parses the records into a `recovered_journal` (it never
/// decodes a state: that is the replicator's job, with its `decode_limits`).
/// A record whose checksum or layout is wrong, a snapshot that is not first,
/// or a sequence gap throws `journal_error` naming the record. A caller that
/// knows a crash may have torn the records it had not synced (the memory
/// journal's crash model) asks for `torn_tail::truncate`: the first bad
/// record and everything after it are dropped, since nothing in them was
/// ever acknowledged or sent. LMDB commits atomically, so the storage layer
/// treats any bad record as corruption and refuses to start.

#include "converge/replica_id.hpp"
#include "converge/replication/metrics.hpp"
#include "converge/wire/varint.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace converge::replication {

/// A journal that cannot be read or written; `record()` is the index of the
/// record at fault (0 is the snapshot), when one is.
class journal_error : public std::runtime_error {
 public:
  explicit journal_error(const std::string& what, std::optional<std::size_t> record = {})
      : std::runtime_error(record ? "record " + std::to_string(*record) + ": " + what : what),
        record_(record) {}
  [[nodiscard]] std::optional<std::size_t> record() const noexcept { return record_; }

 private:
  std::optional<std::size_t> record_;
};

/// Stores a replicator's records; see the file comment. Calls come from one
/// thread at a time (the replicator's).
class journal {
 public:
  virtual ~journal() = default;
  /// Every record kept, oldest first; empty for a new journal. Throws
  /// `journal_error` when the store cannot be read.
  [[nodiscard]] virtual std::vector<std::vector<std::byte>> load() = 0;
  /// Queues `record` after the others. It is durable once `sync` returns.
  virtual void append(std::span<const std::byte> record) = 0;
  /// Queues the replacement of every record, those queued before included,
  /// by `snapshot` (compaction). It takes effect at the next `sync`, which
  /// makes it durable together with what is queued after it.
  virtual void replace(std::span<const std::byte> snapshot) = 0;
  /// Makes everything queued durable, in order. Throws `journal_error` when
  /// it cannot; then what was queued stays queued, for the next `sync`.
  virtual void sync() = 0;
};

/// What a peer acknowledged, as a journal keeps it.
struct durable_ack {
  std::uint64_t acked = 0;    ///< A(j): the peer holds every delta numbered below it
  std::uint64_t session = 0;  ///< the peer's session when it acknowledged
  auto operator<=>(const durable_ack&) const = default;
};
using durable_acks = std::map<peer_id, durable_ack>;

/// One delta record, as read back.
struct journaled_delta {
  std::uint64_t seq = 0;          ///< the sequence number it took
  std::size_t record = 0;         ///< its index among the records (for errors)
  bool buffered = false;          ///< kept in the delta buffer (else only numbered)
  std::optional<peer_id> origin;  ///< the peer it came from; none for a local delta
  std::vector<std::byte> delta;   ///< encoded
};

/// Everything a journal holds, parsed (states still encoded).
struct recovered_journal {
  replica_id self;
  std::uint64_t snapshot_end = 0;  ///< `c` at the snapshot
  std::uint64_t end = 0;           ///< `c` after the last delta
  std::vector<std::byte> state;    ///< the snapshot's encoded state
  std::vector<journaled_delta> deltas;
  durable_acks acks;               ///< the newest acknowledgements
  std::size_t records = 0;         ///< records read (the snapshot included)
  std::size_t dropped = 0;         ///< torn records dropped at the tail (`torn_tail::truncate`)
  std::size_t log_bytes = 0;       ///< bytes of the records after the snapshot
  std::size_t snapshot_bytes = 0;  ///< bytes of the snapshot record
};

namespace detail {

/// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 and LevelDB's logs:
/// better at burst errors than CRC-32, and what storage formats expect.
inline std::uint32_t crc32c(std::span<const std::byte> bytes) noexcept {
  static constexpr auto table = [] {
    std::array<std::array<std::uint32_t, 256>, 4> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1U) ? (c >> 1) ^ 0x82f63b78U : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i) {
      for (std::size_t s = 1; s < 4; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffU];
    }
    return t;
  }();
  std::uint32_t c = 0xffffffffU;
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  // Four bytes a step (slicing-by-4): a snapshot of tens of megabytes is
  // checked in a few tens of milliseconds.
  for (; i + 4 <= n; i += 4) {
    c ^= std::to_integer<std::uint32_t>(bytes[i]) | std::to_integer<std::uint32_t>(bytes[i + 1]) << 8 |
         std::to_integer<std::uint32_t>(bytes[i + 2]) << 16 |
         std::to_integer<std::uint32_t>(bytes[i + 3]) << 24;
    c = table[3][c & 0xffU] ^ table[2][(c >> 8) & 0xffU] ^ table[1][(c >> 16) & 0xffU] ^ table[0][c >> 24];
  }
  for (; i < n; ++i) c = (c >> 8) ^ table[0][(c ^ std::to_integer<std::uint32_t>(bytes[i])) & 0xffU];
  return c ^ 0xffffffffU;
}

enum class record_kind : std::uint8_t { snapshot = 1, delta = 2, acks = 3 };
inline constexpr std::uint64_t snapshot_format = 1;
inline constexpr std::uint8_t delta_buffered = 1;
inline constexpr std::uint8_t delta_has_origin = 2;

/// Starts a record: room for the checksum, then the kind.
inline std::vector<std::byte> begin_record(record_kind kind, std::size_t reserve = 0) {
  std::vector<std::byte> r;
  r.reserve(5 + reserve);
  r.resize(4);
  r.push_back(static_cast<std::byte>(kind));
  return r;
}
/// Fills in the checksum of a record begun with `begin_record`.
inline std::vector<std::byte> seal_record(std::vector<std::byte> r) {
  const std::uint32_t c = crc32c(std::span<const std::byte>(r).subspan(4));
  for (int k = 0; k < 4; ++k) r[static_cast<std::size_t>(k)] = static_cast<std::byte>((c >> (8 * k)) & 0xffU);
  return r;
}

inline void put_acks(std::vector<std::byte>& out, const durable_acks& acks) {
  using wire::detail::put_varint;
  put_varint(out, acks.size());
  for (const auto& [peer, a] : acks) {
    put_varint(out, peer);
    put_varint(out, a.acked);
    put_varint(out, a.session);
  }
}

/// Reads one record's fields; every failure is a `journal_error` for `index`.
class record_reader {
 public:
  record_reader(std::span<const std::byte> body, std::size_t index) : body_(body), index_(index) {}
  std::uint64_t varint(const char* what) {
    wire::detail::varint_error e = wire::detail::varint_error::none;
    const std::uint64_t v = wire::detail::read_varint(body_, pos_, e);
    if (e != wire::detail::varint_error::none) fail(std::string(what) + ": " + wire::detail::describe(e));
    return v;
  }
  std::uint8_t byte(const char* what) {
    if (pos_ >= body_.size()) fail(std::string(what) + ": truncated");
    return std::to_integer<std::uint8_t>(body_[pos_++]);
  }
  std::vector<std::byte> bytes(std::uint64_t n, const char* what) {
    if (n > body_.size() - pos_)
      fail(std::string(what) + ": length " + std::to_string(n) + " past the record");
    const auto first = body_.begin() + static_cast<std::ptrdiff_t>(pos_);
    pos_ += static_cast<std::size_t>(n);
    return {first, first + static_cast<std::ptrdiff_t>(n)};
  }
  std::vector<std::byte> rest() { return bytes(body_.size() - pos_, "payload"); }
  durable_acks acks() {
    durable_acks out;
    const std::uint64_t n = varint("acks count");
    // Each entry takes at least three bytes: a count past that is garbage,
    // refused before it drives a loop.
    if (n > (body_.size() - pos_) / 3) fail("acks count " + std::to_string(n) + " past the record");
    for (std::uint64_t k = 0; k < n; ++k) {
      const peer_id peer = varint("ack peer");
      durable_ack a;
      a.acked = varint("ack");
      a.session = varint("ack session");
      if (!out.emplace(peer, a).second) fail("peer " + std::to_string(peer) + " acknowledged twice");
    }
    return out;
  }
  void done() const {
    if (pos_ != body_.size()) fail(std::to_string(body_.size() - pos_) + " trailing bytes");
  }
  [[noreturn]] void fail(const std::string& what) const { throw journal_error(what, index_); }

 private:
  std::span<const std::byte> body_;
  std::size_t index_;
  std::size_t pos_ = 0;
};

}  // namespace detail

/// A snapshot record: the replica's identity, its counter `c`, the peers'
/// acknowledgements and the encoded state.
inline std::vector<std::byte> snapshot_record(replica_id self, std::uint64_t end, const durable_acks& acks,
                                              std::span<const std::byte> state) {
  using wire::detail::put_varint;
  auto r = detail::begin_record(detail::record_kind::snapshot, 40 + 30 * acks.size() + state.size());
  put_varint(r, detail::snapshot_format);
  put_varint(r, self.value());
  put_varint(r, end);
  detail::put_acks(r, acks);
  put_varint(r, state.size());
  r.insert(r.end(), state.begin(), state.end());
  return detail::seal_record(std::move(r));
}

/// A delta record: the encoded delta that took sequence number `seq`.
inline std::vector<std::byte> delta_record(std::uint64_t seq, bool buffered, std::optional<peer_id> origin,
                                           std::span<const std::byte> delta) {
  using wire::detail::put_varint;
  auto r = detail::begin_record(detail::record_kind::delta, 22 + delta.size());
  put_varint(r, seq);
  r.push_back(static_cast<std::byte>((buffered ? detail::delta_buffered : 0) |
                                     (origin ? detail::delta_has_origin : 0)));
  if (origin) put_varint(r, *origin);
  r.insert(r.end(), delta.begin(), delta.end());
  return detail::seal_record(std::move(r));
}

/// An acks record: every peer's acknowledgement at the time.
inline std::vector<std::byte> acks_record(const durable_acks& acks) {
  auto r = detail::begin_record(detail::record_kind::acks, 30 * acks.size());
  detail::put_acks(r, acks);
  return detail::seal_record(std::move(r));
}

/// What to do with a bad record: refuse (`strict`), or drop it and all that
/// follows (`truncate`, only where a crash can tear unsynced records).
enum class torn_tail { strict, truncate };

/// Parses a journal's records (see "Recovery" in the file comment). Nullopt
/// for a journal without records (a new replica). Throws `journal_error`.
inline std::optional<recovered_journal> read_journal(const std::vector<std::vector<std::byte>>& records,
                                                     torn_tail tail = torn_tail::strict) {
  if (records.empty()) return std::nullopt;
  recovered_journal out;
  std::uint64_t next_seq = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::vector<std::byte>& rec = records[i];
    try {
      if (rec.size() < 5) throw journal_error("truncated: " + std::to_string(rec.size()) + " bytes", i);
      std::uint32_t stored = 0;
      for (int k = 0; k < 4; ++k)
        stored |= std::to_integer<std::uint32_t>(rec[static_cast<std::size_t>(k)]) << (8 * k);
      const auto body = std::span<const std::byte>(rec).subspan(4);
      if (detail::crc32c(body) != stored) throw journal_error("checksum mismatch", i);
      detail::record_reader in(body.subspan(1), i);
      const auto kind = std::to_integer<std::uint8_t>(body[0]);
      if (i == 0) {
        if (kind != static_cast<std::uint8_t>(detail::record_kind::snapshot))
          in.fail("the first record is not a snapshot");
        const std::uint64_t format = in.varint("format");
        if (format != detail::snapshot_format) in.fail("unknown snapshot format " + std::to_string(format));
        out.self = replica_id{in.varint("replica id")};
        out.snapshot_end = in.varint("sequence counter");
        out.acks = in.acks();
        out.state = in.bytes(in.varint("state length"), "state");
        in.done();
        out.snapshot_bytes = rec.size();
        next_seq = out.snapshot_end;
      } else if (kind == static_cast<std::uint8_t>(detail::record_kind::delta)) {
        journaled_delta d;
        d.record = i;
        d.seq = in.varint("sequence number");
        if (d.seq != next_seq)
          in.fail("sequence number " + std::to_string(d.seq) + " where " + std::to_string(next_seq) +
                  " was due: a record is missing");
        const std::uint8_t flags = in.byte("flags");
        if ((flags & ~(detail::delta_buffered | detail::delta_has_origin)) != 0)
          in.fail("unknown flags " + std::to_string(flags));
        d.buffered = (flags & detail::delta_buffered) != 0;
        if ((flags & detail::delta_has_origin) != 0) d.origin = in.varint("origin");
        d.delta = in.rest();
        if (d.delta.empty()) in.fail("empty delta");
        ++next_seq;
        out.deltas.push_back(std::move(d));
        out.log_bytes += rec.size();
      } else if (kind == static_cast<std::uint8_t>(detail::record_kind::acks)) {
        // Parsed whole before it replaces anything: with torn_tail::truncate
        // a bad acks record is dropped and must leave the ones before it.
        durable_acks acks = in.acks();
        in.done();
        out.acks = std::move(acks);
        out.log_bytes += rec.size();
      } else if (kind == static_cast<std::uint8_t>(detail::record_kind::snapshot)) {
        in.fail("a snapshot after the first record");
      } else {
        in.fail("unknown record kind " + std::to_string(kind));
      }
      ++out.records;
      out.end = next_seq;
    } catch (const journal_error&) {
      if (tail == torn_tail::strict || i == 0) throw;
      out.dropped = records.size() - i;
      break;
    }
  }
  return out;
}

}  // namespace converge::replication
