#pragma once
/// @file
/// Thin RAII over LMDB's C handles (an environment, a transaction, a
/// cursor; cppzmq's shape), and the layout of the journal inside the
/// environment: two named databases, `meta` (the format marker) and
/// `records`, whose keys are `u64be(record index) u32be(chunk)`.

#include "converge/storage/storage_error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <lmdb.h>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace converge::storage::detail {

/// The format marker, in the `meta` database under `format_key` and in the
/// marker file beside data.mdb. A future layout bumps the number; a build
/// that finds another number refuses the directory, saying which.
inline constexpr std::uint64_t journal_format = 1;
inline constexpr std::string_view format_key = "format";
inline constexpr std::string_view format_prefix = "converge journal format ";
inline std::string format_marker() {
  return std::string(format_prefix) + std::to_string(journal_format) + "\n";
}

inline constexpr std::size_t key_size = 12;

/// Big-endian, so LMDB's byte order is the records' order and MDB_APPEND holds.
inline std::array<std::byte, key_size> record_key(std::uint64_t index, std::uint32_t chunk) noexcept {
  std::array<std::byte, key_size> k{};
  for (std::size_t i = 0; i < 8; ++i) k[i] = static_cast<std::byte>((index >> (56 - 8 * i)) & 0xffU);
  for (std::size_t i = 0; i < 4; ++i) k[8 + i] = static_cast<std::byte>((chunk >> (24 - 8 * i)) & 0xffU);
  return k;
}
inline std::pair<std::uint64_t, std::uint32_t> parse_key(const MDB_val& k) noexcept {
  const auto* p = static_cast<const unsigned char*>(k.mv_data);
  std::uint64_t index = 0;
  std::uint32_t chunk = 0;
  for (std::size_t i = 0; i < 8; ++i) index = index << 8 | p[i];
  for (std::size_t i = 8; i < 12; ++i) chunk = chunk << 8 | p[i];
  return {index, chunk};
}

/// The largest chunk LMDB keeps inside a leaf page for our 12-byte keys
/// (its `me_nodemax`: two nodes a page, minus the node header). Records are
/// cut into chunks of this size so that no value ever needs LMDB's overflow
/// pages: those must be contiguous, and a state that grows at each
/// compaction would never fit in the run the previous snapshot freed, so
/// the file would grow by a snapshot at every compaction. Single pages are
/// always reusable, which keeps disk use near the live data.
inline std::size_t chunk_size(std::size_t page_size) noexcept {
  const std::size_t nodemax = (((page_size - 16) / 2) & ~std::size_t{1}) - 2;
  return nodemax - 8 - key_size;
}

inline MDB_val as_val(std::span<const std::byte> b) noexcept {
  return MDB_val{b.size(), const_cast<std::byte*>(b.data())};
}
inline MDB_val as_val(std::string_view s) noexcept { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::span<const std::byte> as_bytes(const MDB_val& v) noexcept {
  return {static_cast<const std::byte*>(v.mv_data), v.mv_size};
}

/// An LMDB return code that is not success, as a `storage_error`.
[[noreturn]] inline void fail_mdb(const std::filesystem::path& path, const std::string& what, int rc) {
  throw storage_error(path, what + ": " + ::mdb_strerror(rc));
}

/// Owns an `MDB_env`; closes it once.
class env {
 public:
  env() = default;
  explicit env(const std::filesystem::path& data_file) : data_file_(data_file) {
    if (const int rc = ::mdb_env_create(&env_); rc != 0) fail_mdb(data_file_, "mdb_env_create", rc);
  }
  env(env&& o) noexcept : env_(std::exchange(o.env_, nullptr)), data_file_(std::move(o.data_file_)) {}
  env& operator=(env&& o) noexcept {
    if (this != &o) {
      close();
      env_ = std::exchange(o.env_, nullptr);
      data_file_ = std::move(o.data_file_);
    }
    return *this;
  }
  env(const env&) = delete;
  env& operator=(const env&) = delete;
  ~env() { close(); }
  void close() noexcept {
    if (env_ != nullptr) ::mdb_env_close(std::exchange(env_, nullptr));
  }
  [[nodiscard]] MDB_env* get() const noexcept { return env_; }
  [[nodiscard]] const std::filesystem::path& data_file() const noexcept { return data_file_; }

 private:
  MDB_env* env_ = nullptr;
  std::filesystem::path data_file_;
};

/// A transaction: aborted by the destructor unless committed.
class txn {
 public:
  txn(const env& e, unsigned flags) : path_(e.data_file()) {
    if (const int rc = ::mdb_txn_begin(e.get(), nullptr, flags, &txn_); rc != 0)
      fail_mdb(
          path_,
          (flags & MDB_RDONLY) != 0 ? "cannot begin a read transaction" : "cannot begin a write transaction",
          rc);
  }
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;
  ~txn() { abort(); }
  void abort() noexcept {
    if (txn_ != nullptr) ::mdb_txn_abort(std::exchange(txn_, nullptr));
  }
  /// Commits; returns LMDB's code (the transaction is gone either way).
  [[nodiscard]] int commit() noexcept { return ::mdb_txn_commit(std::exchange(txn_, nullptr)); }
  [[nodiscard]] MDB_txn* get() const noexcept { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
  std::filesystem::path path_;
};

/// A cursor, closed by the destructor (before its read transaction ends).
class cursor {
 public:
  cursor(const txn& t, MDB_dbi dbi, const std::filesystem::path& path) {
    if (const int rc = ::mdb_cursor_open(t.get(), dbi, &c_); rc != 0)
      fail_mdb(path, "cannot open a cursor", rc);
  }
  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;
  ~cursor() {
    if (c_ != nullptr) ::mdb_cursor_close(c_);
  }
  [[nodiscard]] MDB_cursor* get() const noexcept { return c_; }

 private:
  MDB_cursor* c_ = nullptr;
};

}  // namespace converge::storage::detail
