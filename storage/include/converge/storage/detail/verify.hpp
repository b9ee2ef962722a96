#pragma once
/// @file
/// Checking an LMDB file before trusting it, in a child process.
///
/// LMDB trusts its pages: it maps data.mdb and follows the page numbers and
/// offsets it finds there without bounds checks, so a flipped bit in a
/// branch page or a truncated file makes it read outside its map (SIGSEGV,
/// SIGBUS) or loop. The storage test `corrupt files never crash the loader`
/// measures this on this machine (it counts how an unguarded open ends).
///
/// `verify_environment` therefore forks a child that opens the file
/// read-only and walks every database the journal uses and the free list,
/// touching every key and value byte, checking that keys strictly increase,
/// that entry counts match the databases' own, that free page numbers lie
/// inside the file, and that the file is as long as its meta page says.
/// Those are all the pages a later read or write of the journal reaches, so
/// if the child finishes, the parent may open the file. If the child dies by
/// a signal, does not finish within the timeout, or reports an error, the
/// file is refused with a message naming it.
///
/// The child runs only LMDB, our checks, write(2) and _exit(2): after fork
/// in a multithreaded process that is safe with glibc (its malloc is reset
/// for the child); open the journal before starting threads to avoid even
/// that question.

#include "converge/storage/detail/files.hpp"
#include "converge/storage/detail/lmdb.hpp"
#include "converge/storage/storage_error.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <lmdb.h>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace converge::storage::detail {

/// The result of the checks, in a fixed buffer: the child allocates nothing
/// of its own.
struct check_result {
  char message[512] = {};
  bool corrupt = true;  ///< false when the file could not even be opened (permissions, ...)
  [[nodiscard]] bool ok() const noexcept { return message[0] == '\0'; }
};

template <class... A>
void set_message(check_result& r, const char* fmt, A... a) noexcept {
  std::snprintf(r.message, sizeof r.message, fmt, a...);
}

/// LMDB's default key order: bytes, then length.
inline int compare_keys(const MDB_val& a, const MDB_val& b) noexcept {
  const std::size_t n = a.mv_size < b.mv_size ? a.mv_size : b.mv_size;
  const int c = n == 0 ? 0 : std::memcmp(a.mv_data, b.mv_data, n);
  if (c != 0) return c;
  return a.mv_size < b.mv_size ? -1 : (a.mv_size > b.mv_size ? 1 : 0);
}

/// Walks one database (see the file comment); `freelist` checks the free
/// list's values, page numbers each below `pages`.
inline bool walk_database(MDB_txn* t, MDB_dbi dbi, const char* name, bool freelist, std::size_t pages,
                          check_result& r) noexcept {
  MDB_stat st{};
  if (const int rc = ::mdb_stat(t, dbi, &st); rc != 0) {
    set_message(r, "database %s: %s", name, ::mdb_strerror(rc));
    return false;
  }
  MDB_cursor* c = nullptr;
  if (const int rc = ::mdb_cursor_open(t, dbi, &c); rc != 0) {
    set_message(r, "database %s: %s", name, ::mdb_strerror(rc));
    return false;
  }
  unsigned char prev[512];
  MDB_val prev_key{0, prev};
  bool first = true;
  std::size_t entries = 0;
  volatile unsigned char sink = 0;
  MDB_val k{}, v{};
  int rc = ::mdb_cursor_get(c, &k, &v, MDB_FIRST);
  bool ok = true;
  for (; rc == 0; rc = ::mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size == 0 || k.mv_size > sizeof prev || ++entries > st.ms_entries) {
      set_message(r, "database %s: entry %zu is malformed", name, entries);
      ok = false;
      break;
    }
    // The free list is keyed by transaction ids in native byte order
    // (MDB_INTEGERKEY), the other databases by bytes.
    bool in_order = true;
    if (freelist) {
      std::size_t a = 0, b = 0;
      if (k.mv_size != sizeof b) {
        set_message(r, "free list: a key of %zu bytes", k.mv_size);
        ok = false;
        break;
      }
      std::memcpy(&b, k.mv_data, sizeof b);
      if (!first) std::memcpy(&a, prev, sizeof a);
      in_order = first || a < b;
    } else {
      in_order = first || compare_keys(prev_key, k) < 0;
    }
    if (!in_order) {
      set_message(r, "database %s: keys out of order at entry %zu", name, entries);
      ok = false;
      break;
    }
    first = false;
    std::memcpy(prev, k.mv_data, k.mv_size);
    prev_key.mv_size = k.mv_size;
    // Reading every byte is the point: a value that runs off the map
    // faults here, in the child, rather than later in the parent.
    unsigned char acc = 0;
    for (std::size_t i = 0; i < v.mv_size; ++i) acc ^= static_cast<const unsigned char*>(v.mv_data)[i];
    sink = static_cast<unsigned char>(sink ^ acc);
    if (freelist) {
      std::size_t n = 0;
      if (v.mv_size >= sizeof n) std::memcpy(&n, v.mv_data, sizeof n);
      if (v.mv_size < sizeof n || v.mv_size % sizeof n != 0 || n != v.mv_size / sizeof n - 1) {
        set_message(r, "free list: entry %zu is malformed", entries);
        ok = false;
        break;
      }
      for (std::size_t i = 1; i <= n && ok; ++i) {
        std::size_t pg = 0;
        std::memcpy(&pg, static_cast<const unsigned char*>(v.mv_data) + i * sizeof pg, sizeof pg);
        if (pg < 2 || pg >= pages) {
          set_message(r, "free list: page %zu outside the file's %zu pages", pg, pages);
          ok = false;
        }
      }
      if (!ok) break;
    }
  }
  if (ok && rc != MDB_NOTFOUND) {
    set_message(r, "database %s: %s", name, ::mdb_strerror(rc));
    ok = false;
  }
  if (ok && entries != st.ms_entries) {
    set_message(r, "database %s: %zu entries where it counts %zu", name, entries, st.ms_entries);
    ok = false;
  }
  ::mdb_cursor_close(c);
  return ok;
}

/// The checks themselves (run in the child by `verify_environment`; also
/// callable directly, unguarded, by the tests that measure LMDB).
inline check_result check_environment(const char* dir, const char* data_file) noexcept {
  check_result r;
  struct stat fst {};
  if (::stat(data_file, &fst) != 0) {
    set_message(r, "cannot stat: %s", std::strerror(errno));
    r.corrupt = false;
    return r;
  }
  MDB_env* e = nullptr;
  if (const int rc = ::mdb_env_create(&e); rc != 0) {
    set_message(r, "mdb_env_create: %s", ::mdb_strerror(rc));
    return r;
  }
  ::mdb_env_set_maxdbs(e, 4);
  MDB_txn* t = nullptr;
  if (const int rc = ::mdb_env_open(e, dir, MDB_RDONLY | MDB_NOLOCK, 0644); rc != 0) {
    set_message(r, "cannot open: %s", ::mdb_strerror(rc));
    r.corrupt = rc < 0;  // LMDB's own codes (MDB_INVALID, ...) say the file is bad; errno values do not
  } else if (const int rc2 = ::mdb_txn_begin(e, nullptr, MDB_RDONLY, &t); rc2 != 0) {
    set_message(r, "cannot begin a read transaction: %s", ::mdb_strerror(rc2));
  } else {
    MDB_envinfo info{};
    MDB_stat est{};
    ::mdb_env_info(e, &info);
    ::mdb_env_stat(e, &est);
    const std::size_t pages = info.me_last_pgno + 1;
    if (est.ms_psize < 512 || pages > static_cast<std::size_t>(fst.st_size) / est.ms_psize) {
      set_message(r, "truncated: %lld bytes where the database needs %zu pages of %u bytes",
                  static_cast<long long>(fst.st_size), pages, est.ms_psize);
    } else if (walk_database(t, 1, "main", false, pages, r) && walk_database(t, 0, "free", true, pages, r)) {
      for (const char* name : {"meta", "records"}) {
        MDB_dbi dbi = 0;
        const int rc = ::mdb_dbi_open(t, name, 0, &dbi);
        if (rc == MDB_NOTFOUND) continue;
        if (rc != 0) {
          set_message(r, "database %s: %s", name, ::mdb_strerror(rc));
          break;
        }
        if (!walk_database(t, dbi, name, false, pages, r)) break;
      }
    }
    ::mdb_txn_abort(t);
  }
  ::mdb_env_close(e);
  return r;
}

/// Runs `check_environment` in a child process and throws `storage_error`
/// naming `data_file` when the file must not be trusted (see the file comment).
inline void verify_environment(const std::filesystem::path& dir, const std::filesystem::path& data_file,
                               std::chrono::milliseconds timeout, int lock_fd = -1) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno(data_file, "cannot create a pipe to verify the file", errno);
  unique_fd rd(fds[0]), wr(fds[1]);
  const std::string d = dir.string(), f = data_file.string();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail_errno(data_file, "cannot fork to verify the file", errno);
  if (pid == 0) {
    // The child must not keep the directory locked (the flock is shared
    // with it by fork) nor outlive a parent killed meanwhile: a restart
    // right after would find the directory in use.
    if (lock_fd >= 0) ::close(lock_fd);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    // Die by the signal itself: a test framework's or sanitizer's handler
    // inherited from the parent would report the parent's test as crashed.
    for (const int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::signal(s, SIG_DFL);
    // LMDB's own assertions print to stderr and abort: their text comes to
    // the parent through the pipe, as the crash's explanation.
    ::dup2(wr.get(), STDERR_FILENO);
    const check_result r = check_environment(d.c_str(), f.c_str());
    const std::size_t n = std::strlen(r.message);
    const char status = r.ok() ? 'O' : (r.corrupt ? 'C' : 'E');
    [[maybe_unused]] ssize_t w = ::write(wr.get(), &status, 1);
    if (n > 0) w = ::write(wr.get(), r.message, n);
    ::_exit(0);
  }
  wr.reset();
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{rd.get(), POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      timed_out = true;
      break;
    }
    char buf[512];
    const ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < 4096) out.append(buf, static_cast<std::size_t>(n));
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno == EINTR) continue;
    // A process that ignores SIGCHLD has its children reaped for it: the
    // pipe alone tells then. A status byte comes only from a child that
    // finished its checks; without one, it died on the way.
    if (errno != ECHILD) fail_errno(data_file, "cannot wait for the verifying process", errno);
    status = out.empty() ? SIGKILL : 0;  // as if killed; or exited 0
    break;
  }
  if (timed_out)
    throw storage_error(data_file, "corrupt: verifying it did not finish in " +
                                       std::to_string(timeout.count()) + " ms (a damaged B-tree can loop)");
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    std::string said = out.substr(0, 200);
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
    throw storage_error(data_file, "corrupt: reading it crashed the verifying process (signal " +
                                       std::to_string(sig) +
                                       (name != nullptr ? std::string(", ") + name : "") +
                                       (said.empty() ? std::string() : ": " + said) +
                                       "); LMDB trusts its pages, so it is not opened");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty())
    throw storage_error(data_file, "corrupt: the verifying process failed (exit status " +
                                       std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  if (out[0] == 'C') throw storage_error(data_file, "corrupt: " + out.substr(1));
  if (out[0] != 'O') throw storage_error(data_file, out.substr(1));
}

}  // namespace converge::storage::detail
