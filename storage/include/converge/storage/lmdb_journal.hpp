#pragma once
/// @file
/// `converge::storage::lmdb_journal`: a `replication::journal` kept in an
/// LMDB environment in a directory, so a replica survives a crash or a
/// power loss.
///
/// # What is in the directory
/// - `data.mdb`: the LMDB file. Two databases: `records`, the journal's
///   records in order, keyed `u64be(index) u32be(chunk)` (each record cut
///   into chunks that fit a leaf page, see `detail::chunk_size`), the
///   snapshot at index 0 once there has been a compaction; and `meta`, the
///   format marker. LMDB runs with MDB_NOLOCK: the lock file below is what
///   keeps a second process out, so LMDB's shared-memory lock.mdb (a file a
///   stray write could corrupt into a hang) is never created.
/// - `converge-journal`: the format marker, written once when the journal is
///   created (`converge journal format 1`). It also tells "a new directory"
///   from "a directory whose data.mdb was lost": with the marker and no
///   data.mdb (or an empty one), the journal refuses to open.
/// - `converge.lock`: holds an exclusive flock (and the holder's pid) while a
///   journal is open: a second open, by any process, is refused.
///
/// # Durability, call by call
/// - `append`, `replace`: only queue, in memory. Nothing reaches the disk;
///   a crash loses them.
/// - `sync`: one LMDB write transaction applies the queue in order (a
///   `replace` empties `records` and puts the snapshot, then what followed
///   it) and commits with LMDB's default durability: data pages written and
///   fdatasync'd, then the meta page written and synced. When `sync`
///   returns, everything queued survives a process crash and a power loss
///   (given a disk that honours flushes). If it throws, nothing of this
///   transaction is on disk (LMDB commits atomically) and the queue is kept
///   for the next `sync`. A full map is grown (doubled, up to
///   `max_map_size`) and the transaction retried before `sync` gives up.
///   After an I/O error during a commit, LMDB marks the environment failed
///   (MDB_PANIC): every later `sync` throws, and the process should stop and
///   reopen the journal, which then holds exactly what the last successful
///   `sync` made durable.
/// - `load`, `recover`: read what the last successful `sync` made durable.
/// - The constructor creates the directory and the files when missing and
///   syncs their names (directory fsync), so a new journal's existence is
///   durable before it is used.
///
/// # A bad directory never crashes the loader
/// Every failure is a `storage_error` (a `replication::journal_error`) whose
/// message starts with the file at fault: a path that is not a directory,
/// permissions, a lock held elsewhere, garbage or a foreign LMDB file, an
/// unknown format, a lost data.mdb, and any corruption of data.mdb. LMDB
/// itself trusts its pages and can crash on a damaged file, so by default
/// the file is first checked in a child process (`detail/verify.hpp`); a
/// crash there becomes `DIR/data.mdb: corrupt: reading it crashed the
/// verifying process (signal 11, ...)`. The records are then checked with
/// their checksums by `recover` (`read_journal`, strict: LMDB commits
/// atomically, so no record is ever torn by a crash, and a bad one is
/// corruption): `DIR/data.mdb: record 12: checksum mismatch`. Such a
/// directory is refused, never repaired: a replica told to start fresh
/// moves it aside with `set_aside(dir)` and opens a new journal.
///
/// # Limits
/// One sync is one LMDB transaction, and LMDB bounds the pages one
/// transaction may dirty (MDB_TXN_FULL; it spills some to the file first):
/// a sync past that bound fails and keeps its queue. Snapshots of tens of
/// megabytes are measured by `converge-bench-storage`. The map grows up to `max_map_size`; the file never
/// shrinks (LMDB reuses freed pages), so after a compaction it stays near its high-water mark: the old
/// snapshot, the log and the new snapshot at the commit.

#include "converge/replication/journal.hpp"
#include "converge/storage/detail/files.hpp"
#include "converge/storage/detail/lmdb.hpp"
#include "converge/storage/detail/verify.hpp"
#include "converge/storage/storage_error.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <lmdb.h>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace converge::storage {

/// How an `lmdb_journal` opens its environment.
struct lmdb_options {
  /// The map LMDB reserves (address space, not disk: the file grows only as
  /// pages are written). An existing journal is opened with at least twice
  /// its file's size (within `max_map_size`), so its first syncs need no growth.
  std::size_t map_size = std::size_t{64} << 20;
  /// How far `sync` may grow the map when it is full (doubling each time).
  /// Set it to `map_size` to never grow: a full map then fails the `sync`.
  std::size_t max_map_size = sizeof(std::size_t) >= 8 ? std::size_t{1} << 40 : std::size_t{1} << 30;
  /// Check an existing data.mdb in a child process before LMDB maps it in
  /// this one (see the file comment). Turning it off saves a fork and a read
  /// of the file at open, and lets a corrupt file crash the process.
  bool verify = true;
  /// How long that check may take before the file is declared corrupt.
  std::chrono::milliseconds verify_timeout{60'000};
};

/// A journal in an LMDB environment; see the file comment for the layout
/// and exactly what each call makes durable. One thread at a time; one
/// open journal per directory. Neither copyable nor movable: a replicator
/// holds a pointer to it.
class lmdb_journal final : public replication::journal {
 public:
  /// Opens (creating when missing) the journal in `dir`. Throws
  /// `storage_error` naming the file when the directory cannot be used.
  explicit lmdb_journal(std::filesystem::path dir, lmdb_options options = {})
      : dir_(std::move(dir)),
        data_file_(dir_ / "data.mdb"),
        options_(options),
        lock_((detail::make_directory(dir_), dir_ / "converge.lock"), dir_) {
    open();
  }
  lmdb_journal(const lmdb_journal&) = delete;
  lmdb_journal& operator=(const lmdb_journal&) = delete;
  /// Closes the environment and releases the directory; what is queued and
  /// not synced is dropped, as a crash would drop it.
  ~lmdb_journal() override = default;

  /// Every durable record, oldest first (nothing queued). Throws
  /// `storage_error` when the records' keys are out of place.
  [[nodiscard]] std::vector<std::vector<std::byte>> load() override {
    std::vector<std::vector<std::byte>> out;
    detail::txn t(env_, MDB_RDONLY);
    detail::cursor c(t, records_, data_file_);
    MDB_val k{}, v{};
    int rc = ::mdb_cursor_get(c.get(), &k, &v, MDB_FIRST);
    std::uint32_t next_chunk = 0;
    for (; rc == 0; rc = ::mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
      if (k.mv_size != detail::key_size)
        throw storage_error(data_file_, "a key of " + std::to_string(k.mv_size) + " bytes in the records");
      const auto [index, chunk] = detail::parse_key(k);
      if (index == out.size() && chunk == 0) {
        out.emplace_back();
        next_chunk = 0;
      } else if (index >= out.size()) {
        throw storage_error(
            data_file_, index == out.size() ? "its first chunk is missing" : "missing (a gap in the records)",
            out.size());
      } else if (index + 1 != out.size() || chunk != next_chunk) {
        throw storage_error(data_file_, "chunk " + std::to_string(next_chunk) + " is missing",
                            out.size() - 1);
      }
      const auto b = detail::as_bytes(v);
      out.back().insert(out.back().end(), b.begin(), b.end());
      ++next_chunk;
    }
    if (rc != MDB_NOTFOUND) detail::fail_mdb(data_file_, "cannot read the records", rc);
    return out;
  }

  /// Queues `record` (nothing is written before `sync`).
  void append(std::span<const std::byte> record) override {
    pending_.push_back({false, std::vector<std::byte>(record.begin(), record.end())});
    pending_bytes_ += record.size();
  }

  /// Queues the replacement of every record by `snapshot` (at the next `sync`).
  void replace(std::span<const std::byte> snapshot) override {
    pending_.push_back({true, std::vector<std::byte>(snapshot.begin(), snapshot.end())});
    pending_bytes_ += snapshot.size();
  }

  /// Writes and commits everything queued, in one durable transaction (see
  /// the file comment). On failure throws `storage_error` and keeps the queue.
  void sync() override {
    if (pending_.empty()) return;
    // Only the last replacement matters: what precedes it is dropped by it.
    std::size_t from = 0;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i].snapshot) from = i;
    }
    const bool compacts = pending_[from].snapshot;
    for (;;) {
      std::uint64_t next = next_index_;
      const int rc = write(from, compacts, next);
      if (rc == 0) {
        next_index_ = next;
        pending_.clear();
        pending_bytes_ = 0;
        ++syncs_;
        return;
      }
      if (rc == MDB_MAP_FULL && grow()) continue;
      if (rc == MDB_MAP_FULL)
        throw storage_error(data_file_, "sync failed: the map is full at " + std::to_string(map_size()) +
                                            " bytes and max_map_size (" +
                                            std::to_string(options_.max_map_size) + ") allows no more; " +
                                            std::to_string(pending_.size()) + " records stay queued");
      detail::fail_mdb(data_file_,
                       "sync failed (" + std::to_string(pending_.size()) + " records stay queued)", rc);
    }
  }

  /// `read_journal(load(), torn_tail::strict)`, with every error located in
  /// data.mdb: nullopt for a journal without records (a new replica).
  [[nodiscard]] std::optional<replication::recovered_journal> recover() {
    auto records = load();
    try {
      return replication::read_journal(records, replication::torn_tail::strict);
    } catch (const storage_error&) {
      throw;
    } catch (const replication::journal_error& e) {
      throw storage_error(data_file_, e);
    }
  }

  /// Bytes the directory's files take on disk (allocated blocks): data.mdb,
  /// the marker and the lock file.
  [[nodiscard]] std::size_t disk_bytes() const {
    std::size_t n = 0;
    for (const char* name : {"data.mdb", "converge-journal", "converge.lock"})
      n += detail::status_of(dir_ / name).allocated;
    return n;
  }

  /// The directory, and its LMDB file (the one error messages name).
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_; }
  [[nodiscard]] const std::filesystem::path& data_file() const noexcept { return data_file_; }
  /// Records queued and not yet synced, and their bytes.
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }
  [[nodiscard]] std::size_t pending_bytes() const noexcept { return pending_bytes_; }
  /// Successful syncs that wrote something.
  [[nodiscard]] std::uint64_t syncs() const noexcept { return syncs_; }
  /// The current map size (bytes of address space LMDB reserves).
  [[nodiscard]] std::size_t map_size() const noexcept {
    MDB_envinfo info{};
    ::mdb_env_info(env_.get(), &info);
    return info.me_mapsize;
  }
  /// Changes how far `sync` may grow the map (an operator's quota).
  void set_max_map_size(std::size_t bytes) noexcept { options_.max_map_size = bytes; }

 private:
  struct queued {
    bool snapshot;
    std::vector<std::byte> bytes;
  };

  void open() {
    const std::filesystem::path marker_file = dir_ / "converge-journal";
    const std::optional<std::string> marker = detail::read_small_file(marker_file, 256);
    if (marker && *marker != detail::format_marker()) refuse_format(marker_file, *marker);
    const detail::file_status data = detail::status_of(data_file_);
    if (data.exists && !data.regular) throw storage_error(data_file_, "not a regular file");
    const bool fresh = !data.exists || data.size == 0;
    if (marker && fresh)
      throw storage_error(data_file_, std::string(data.exists ? "empty" : "missing") + ", but " +
                                          marker_file.string() +
                                          " says a journal was created here: its data is lost; refusing to "
                                          "start as a new journal");
    if (!fresh && options_.verify)
      detail::verify_environment(dir_, data_file_, options_.verify_timeout, lock_.fd());

    env_ = detail::env(data_file_);
    ::mdb_env_set_maxdbs(env_.get(), 4);
    // LMDB maps at least the data; room for as much again spares the first
    // syncs a grow-and-retry.
    const std::size_t initial = std::min(std::max(options_.map_size, round_up(2 * data.size)),
                                         std::max(options_.max_map_size, data.size));
    if (const int rc = ::mdb_env_set_mapsize(env_.get(), initial); rc != 0)
      detail::fail_mdb(data_file_, "cannot set the map size", rc);
    if (const int rc = ::mdb_env_open(env_.get(), dir_.c_str(), MDB_NOLOCK, 0644); rc != 0) {
      if (rc == MDB_INVALID) throw storage_error(data_file_, "not an LMDB file (garbage or damaged)");
      if (rc == MDB_VERSION_MISMATCH)
        throw storage_error(data_file_, "written by an incompatible LMDB version");
      detail::fail_mdb(data_file_, "cannot open", rc);
    }
    MDB_stat st{};
    ::mdb_env_stat(env_.get(), &st);
    chunk_ = detail::chunk_size(st.ms_psize);

    check_layout();
    {
      detail::txn t(env_, 0);
      if (const int rc = ::mdb_dbi_open(t.get(), "meta", MDB_CREATE, &meta_); rc != 0)
        detail::fail_mdb(data_file_, "cannot open the meta database", rc);
      if (const int rc = ::mdb_dbi_open(t.get(), "records", MDB_CREATE, &records_); rc != 0)
        detail::fail_mdb(data_file_, "cannot open the records database", rc);
      MDB_val k = detail::as_val(detail::format_key), v{};
      const int got = ::mdb_get(t.get(), meta_, &k, &v);
      if (got == MDB_NOTFOUND) {
        const std::string m = detail::format_marker();
        MDB_val mv = detail::as_val(std::string_view(m));
        if (const int rc = ::mdb_put(t.get(), meta_, &k, &mv, 0); rc != 0)
          detail::fail_mdb(data_file_, "cannot write the format marker", rc);
      } else if (got != 0) {
        detail::fail_mdb(data_file_, "cannot read the format marker", got);
      } else {
        const std::string found(static_cast<const char*>(v.mv_data), std::min<std::size_t>(v.mv_size, 64));
        if (found != detail::format_marker()) refuse_format(data_file_, found);
      }
      // Committed either way: the database handles opened in a transaction
      // live on only if it commits.
      if (const int rc = t.commit(); rc != 0) detail::fail_mdb(data_file_, "cannot create the journal", rc);
    }
    if (fresh) detail::fsync_directory(dir_);  // data.mdb's name is durable before anything relies on it
    if (!marker) detail::write_file_durably(marker_file, detail::format_marker());

    detail::txn t(env_, MDB_RDONLY);
    detail::cursor c(t, records_, data_file_);
    MDB_val k{}, v{};
    const int rc = ::mdb_cursor_get(c.get(), &k, &v, MDB_LAST);
    if (rc == 0) {
      if (k.mv_size != detail::key_size)
        throw storage_error(data_file_, "a key of " + std::to_string(k.mv_size) + " bytes in the records");
      next_index_ = detail::parse_key(k).first + 1;
    } else if (rc != MDB_NOTFOUND) {
      detail::fail_mdb(data_file_, "cannot read the records", rc);
    }
  }

  /// An LMDB file holding databases of someone else's is not a journal.
  void check_layout() {
    detail::txn t(env_, MDB_RDONLY);
    detail::cursor c(t, 1 /* the main database: the names of the others */, data_file_);
    MDB_val k{}, v{};
    bool has_meta = false, has_records = false;
    int rc = ::mdb_cursor_get(c.get(), &k, &v, MDB_FIRST);
    for (; rc == 0; rc = ::mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
      const std::string_view name(static_cast<const char*>(k.mv_data), k.mv_size);
      if (name == "meta") {
        has_meta = true;
      } else if (name == "records") {
        has_records = true;
      } else {
        throw storage_error(data_file_, "not a converge journal (it holds a database or key \"" +
                                            std::string(name.substr(0, 64)) + "\")");
      }
    }
    if (rc != MDB_NOTFOUND) detail::fail_mdb(data_file_, "cannot read the database names", rc);
    if (has_records && !has_meta)
      throw storage_error(data_file_, "not a converge journal (no format marker)");
  }

  [[noreturn]] static void refuse_format(const std::filesystem::path& file, std::string found) {
    while (!found.empty() && (found.back() == '\n' || found.back() == '\0')) found.pop_back();
    if (found.starts_with(detail::format_prefix))
      throw storage_error(file, "journal format " + found.substr(detail::format_prefix.size()) +
                                    ", but this build reads format " +
                                    std::to_string(detail::journal_format));
    throw storage_error(file, "not a converge journal format marker");
  }

  /// One attempt at the sync's transaction; returns LMDB's code, and the next
  /// record index in `next` on success.
  int write(std::size_t from, bool compacts, std::uint64_t& next) {
    detail::txn t(env_, 0);
    if (compacts) {
      if (const int rc = ::mdb_drop(t.get(), records_, 0); rc != 0) return rc;
      next = 0;
    }
    for (std::size_t i = compacts ? from : 0; i < pending_.size(); ++i) {
      if (const int rc = put(t, next++, pending_[i].bytes); rc != 0) return rc;
    }
    return t.commit();
  }

  int put(detail::txn& t, std::uint64_t index, std::span<const std::byte> record) const {
    std::uint32_t chunk = 0;
    std::size_t at = 0;
    do {
      const std::size_t n = std::min(chunk_, record.size() - at);
      const auto key = detail::record_key(index, chunk++);
      MDB_val k = detail::as_val(std::span<const std::byte>(key)), v = detail::as_val(record.subspan(at, n));
      if (const int rc = ::mdb_put(t.get(), records_, &k, &v, MDB_APPEND); rc != 0) return rc;
      at += n;
    } while (at < record.size());
    return 0;
  }

  /// Doubles the map (at least past the queued bytes), within `max_map_size`.
  bool grow() {
    const std::size_t now = map_size();
    if (now >= options_.max_map_size) return false;
    const std::size_t want = std::max(now * 2, now + 2 * pending_bytes_);
    const std::size_t size = std::min(round_up(want), options_.max_map_size);
    if (const int rc = ::mdb_env_set_mapsize(env_.get(), size); rc != 0)
      detail::fail_mdb(data_file_, "cannot grow the map to " + std::to_string(size) + " bytes", rc);
    return true;
  }

  /// Map sizes in whole MiB.
  static std::size_t round_up(std::size_t n) noexcept {
    constexpr std::size_t mib = std::size_t{1} << 20;
    return (n + mib - 1) / mib * mib;
  }

  std::filesystem::path dir_;
  std::filesystem::path data_file_;
  lmdb_options options_;
  detail::directory_lock lock_;
  detail::env env_;
  MDB_dbi meta_ = 0;
  MDB_dbi records_ = 0;
  std::size_t chunk_ = 0;
  std::uint64_t next_index_ = 0;
  std::vector<queued> pending_;
  std::size_t pending_bytes_ = 0;
  std::uint64_t syncs_ = 0;
};

/// Sets a data directory aside so that a replica can start fresh (under a
/// new identity) in its place, keeping the old files for an operator:
/// renames `dir` to `dir.WHY-YYYYMMDDTHHMMSSZ` (`why` is "damaged" unless
/// given; `-N` added if that exists) and syncs the parent directory. Takes
/// the directory's lock first, so a directory another process has open is
/// never moved. Returns the new path; throws `storage_error` (nothing moved)
/// when it cannot.
inline std::filesystem::path set_aside(const std::filesystem::path& dir, std::string_view why = "damaged") {
  const detail::file_status st = detail::status_of(dir);
  if (!st.exists) throw storage_error(dir, "no such directory to set aside");
  const detail::directory_lock lock(dir / "converge.lock", dir);
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  std::filesystem::path to = dir;
  const std::string prefix = "." + std::string(why) + "-";
  to += prefix + stamp;
  for (int n = 1; detail::status_of(to).exists; ++n) {
    to = dir;
    to += prefix + stamp + "-" + std::to_string(n);
  }
  if (::rename(dir.c_str(), to.c_str()) != 0)
    detail::fail_errno(dir, "cannot rename to " + to.string(), errno);
  detail::fsync_directory(dir.has_parent_path() ? dir.parent_path() : std::filesystem::path("."));
  return to;
}

}  // namespace converge::storage
