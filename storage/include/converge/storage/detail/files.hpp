#pragma once
/// @file
/// The POSIX file operations the storage layer needs beyond LMDB: an owned
/// descriptor, fsync of a directory (so a new file's name is durable, which
/// LMDB does not do), the one-process lock, and small marker files written
/// atomically. Errors throw `storage_error` naming the path.

#include "converge/storage/storage_error.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace converge::storage::detail {

/// `path: what: strerror(err)`.
[[noreturn]] inline void fail_errno(const std::filesystem::path& path, const std::string& what, int err) {
  throw storage_error(path, what + ": " + std::strerror(err));
}

/// Owns one file descriptor and closes it once (never throws from its destructor).
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// Makes the entries of directory `dir` durable (a file created or renamed in it).
inline void fsync_directory(const std::filesystem::path& dir) {
  const unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) fail_errno(dir, "cannot open the directory to sync it", errno);
  if (::fsync(fd.get()) != 0) fail_errno(dir, "fsync of the directory failed", errno);
}

/// Creates `dir` (and its parents) when missing, syncing each parent so the
/// new names survive a power loss; refuses a path that is not a directory.
inline void make_directory(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw storage_error(dir, "not a directory");
    return;
  }
  const int err = errno;
  const std::filesystem::path parent = dir.has_parent_path() ? dir.parent_path() : ".";
  // ENOTDIR: a parent is a file; the recursion names it.
  if (err == ENOTDIR && parent != dir) make_directory(parent);
  if (err != ENOENT) fail_errno(dir, "cannot stat the data directory", err);
  if (parent != dir) make_directory(parent);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    fail_errno(dir, "cannot create the data directory", errno);
  fsync_directory(parent);
}

/// What `stat` says of a file: absent, or its type and size.
struct file_status {
  bool exists = false;
  bool regular = false;
  std::size_t size = 0;
  std::size_t allocated = 0;  ///< bytes of disk it takes (st_blocks × 512)
};
inline file_status status_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    fail_errno(path, "cannot stat", errno);
  }
  return {true, S_ISREG(st.st_mode), static_cast<std::size_t>(st.st_size),
          static_cast<std::size_t>(st.st_blocks) * 512U};
}

/// An exclusive `flock` on `path` (created if missing), held while the
/// object lives. LMDB would let a second writer queue behind the first
/// (and, with MDB_NOLOCK, let it corrupt the file), so a second open of the
/// directory, by this process or another, is refused here. The holder's pid
/// is written into the file so the refusal can name it.
class directory_lock {
 public:
  directory_lock(const std::filesystem::path& path, const std::filesystem::path& dir)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (!fd_) fail_errno(path, "cannot open the lock file", errno);
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) fail_errno(path, "cannot stat the lock file", errno);
    if (!S_ISREG(st.st_mode)) throw storage_error(path, "the lock file is not a regular file");
    while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK) {
        char buf[32] = {};
        const ssize_t n = ::pread(fd_.get(), buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        throw storage_error(dir, "already in use: " + path.string() + " is locked" +
                                     (holder.empty() ? std::string() : " by pid " + holder) +
                                     " (one process, one open journal per directory)");
      }
      fail_errno(path, "cannot lock", errno);
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    // The pid is only a hint for the message above: failing to write it is
    // no reason to refuse the journal.
    if (::ftruncate(fd_.get(), 0) == 0) {
      [[maybe_unused]] const ssize_t n = ::pwrite(fd_.get(), pid.data(), pid.size(), 0);
    }
  }
  /// The locked descriptor (a forked helper closes its copy).
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

 private:
  unique_fd fd_;
};

/// The contents of a small file, or nullopt when it does not exist; a file
/// longer than `limit` is refused (a marker is a few bytes: anything long is
/// not ours, and is never read whole).
inline std::optional<std::string> read_small_file(const std::filesystem::path& path, std::size_t limit) {
  const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    fail_errno(path, "cannot open", errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_errno(path, "cannot stat", errno);
  if (!S_ISREG(st.st_mode)) throw storage_error(path, "not a regular file");
  if (static_cast<std::size_t>(st.st_size) > limit)
    throw storage_error(path, "unexpected contents (" + std::to_string(st.st_size) + " bytes)");
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd.get(), out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(path, "cannot read", errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

/// Writes `path` atomically and durably: a temporary file, fsync, rename,
/// fsync of the directory. After a crash the file is either absent or whole.
inline void write_file_durably(const std::filesystem::path& path, const std::string& contents) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    const unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) fail_errno(tmp, "cannot create", errno);
    std::size_t put = 0;
    while (put < contents.size()) {
      const ssize_t n = ::write(fd.get(), contents.data() + put, contents.size() - put);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno(tmp, "cannot write", errno);
      put += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail_errno(tmp, "fsync failed", errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    fail_errno(path, "cannot rename " + tmp.string() + " to it", errno);
  fsync_directory(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
}

}  // namespace converge::storage::detail
