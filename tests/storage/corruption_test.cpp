// A damaged data directory never crashes the loader: hundreds of seeded
// corruptions of a real journal's data.mdb (bit flips anywhere, overwritten
// ranges, zeroed pages, truncation, garbage) each either open to exactly the
// records written, or fail with a storage_error naming the file. Each one is
// also opened unguarded (verify off) in a child process, to measure what
// LMDB alone does with it; the guarded loader must refuse every file that
// crashed or hung LMDB. CONVERGE_SEED reproduces a run, CONVERGE_CASES
// changes its length; a failure prints the seed and the case;
// CONVERGE_STORAGE_VERBOSE=1 prints each damage with the error it gave.
#include <converge/storage/lmdb_journal.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "storage/storage_support.hpp"
#include "support/random.hpp"

namespace {

namespace fs = std::filesystem;
using converge::storage::lmdb_journal;
using converge::storage::lmdb_options;
using converge::storage::storage_error;
using namespace storage_test;

/// A journal with history: several compactions (so LMDB's free list holds
/// pages), multi-chunk records, and deltas after the last snapshot.
std::vector<bytes> write_base(const fs::path& dir) {
  lmdb_journal j(dir);
  std::uint64_t seq = 0;
  std::vector<bytes> now;
  for (int round = 0; round < 4; ++round) {
    j.replace(snapshot_at(seq, 30000 + 20000 * static_cast<std::size_t>(round)));
    now = {snapshot_at(seq, 30000 + 20000 * static_cast<std::size_t>(round))};
    for (int k = 0; k < 60; ++k, ++seq) {
      j.append(delta_at(seq));
      now.push_back(delta_at(seq));
      if (k % 10 == 9) j.sync();
    }
    j.sync();
  }
  return now;
}

enum class outcome { ok, error, crashed, hung };
const char* name(outcome o) {
  switch (o) {
    case outcome::ok:
      return "opened";
    case outcome::error:
      return "error";
    case outcome::crashed:
      return "crashed";
    case outcome::hung:
      return "hung";
  }
  return "?";
}

/// Opens `dir` with verification off in a child process: how did it end?
outcome unguarded(const fs::path& dir) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (const int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::signal(s, SIG_DFL);
    // LMDB's assertion messages would fill the test's log.
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDERR_FILENO);
    int code = 0;
    try {
      lmdb_options o;
      o.verify = false;
      lmdb_journal j(dir, o);
      (void)j.recover();
    } catch (const std::exception&) {
      code = 1;
    }
    ::_exit(code);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return outcome::hung;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (WIFSIGNALED(status)) return outcome::crashed;
  return WEXITSTATUS(status) == 0 ? outcome::ok : outcome::error;
}

/// Damages `file` (one of several kinds, drawn from `rng`); returns its name.
std::string corrupt(const fs::path& file, converge::testing::seeded_entropy& rng) {
  bytes b = read_file(file);
  const std::size_t page = 4096;
  const std::size_t kind = static_cast<std::size_t>(rng.below(7));
  std::string what;
  auto at = [&](std::size_t n) { return static_cast<std::size_t>(rng.below(n)); };
  switch (kind) {
    case 0: {  // a few bit flips anywhere
      const std::size_t n = 1 + at(8);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t bit = at(b.size() * 8);
        b[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
      }
      what = std::to_string(n) + " bit flips";
      break;
    }
    case 1: {  // a bit flip in the meta pages (which LMDB trusts most)
      const std::size_t bit = at(2 * page * 8);
      b[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
      what = "a bit flip at byte " + std::to_string(bit / 8) + " (meta pages)";
      break;
    }
    case 2: {  // a range overwritten with random bytes
      const std::size_t from = at(b.size()), n = 1 + at(std::min<std::size_t>(4096, b.size() - from));
      for (std::size_t i = 0; i < n; ++i) b[from + i] = static_cast<std::byte>(rng.below(256));
      what = std::to_string(n) + " random bytes at " + std::to_string(from);
      break;
    }
    case 3: {  // a whole page zeroed, or filled with garbage
      const std::size_t p = at(b.size() / page);
      const bool zero = rng.chance(1, 2);
      for (std::size_t i = 0; i < page; ++i)
        b[p * page + i] = zero ? std::byte{0} : std::byte(rng.below(256));
      what = std::string(zero ? "page zeroed: " : "page garbage: ") + std::to_string(p);
      break;
    }
    case 4: {  // truncated
      const std::size_t n = at(b.size());
      b.resize(n);
      what = "truncated to " + std::to_string(n);
      break;
    }
    case 5: {  // one byte changed inside a page header (page numbers, flags, bounds)
      const std::size_t p = 2 + at(b.size() / page - 2);
      const std::size_t off = p * page + at(16);
      b[off] = static_cast<std::byte>(rng.below(256));
      what = "page header byte " + std::to_string(off);
      break;
    }
    default: {  // garbage in its place
      const std::size_t n = at(3 * page);
      b.assign(n, std::byte{0});
      for (auto& c : b) c = static_cast<std::byte>(rng.below(256));
      what = "garbage of " + std::to_string(n) + " bytes";
      break;
    }
  }
  write_file(file, b);
  return what;
}

void copy_dir(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::create_directories(to);
  for (const char* f : {"data.mdb", "converge-journal", "converge.lock"}) fs::copy_file(from / f, to / f);
}

}  // namespace

TEST_CASE("corrupt files never crash the loader") {
  auto rng = test::rng_for("corrupt files never crash the loader");
  CAPTURE(test::seed());
  temp_dir tmp;
  const std::vector<bytes> written = write_base(tmp / "base");
  const int cases = test::cases(300);
  int tally[2][4] = {};  // [guarded?][outcome]
  int silent = 0;
  for (int c = 0; c < cases; ++c) {
    CAPTURE(c);
    copy_dir(tmp / "base", tmp / "plain");
    const std::string what = corrupt(tmp / "plain/data.mdb", rng);
    CAPTURE(what);
    copy_dir(tmp / "plain", tmp / "guarded");
    const outcome lmdb_alone = unguarded(tmp / "plain");
    ++tally[0][static_cast<int>(lmdb_alone)];

    outcome ours = outcome::ok;
    std::string message;
    try {
      lmdb_options o;
      o.verify_timeout = std::chrono::seconds(10);
      lmdb_journal j(tmp / "guarded", o);
      const auto r = j.recover();
      const auto records = j.load();
      // Accepted: it must be exactly what was written (the damage fell on
      // free space), never something else.
      if (records != written) ++silent;
      CHECK(records == written);
      CHECK(r.has_value());
    } catch (const storage_error& e) {
      ours = outcome::error;
      message = e.what();
      if (std::getenv("CONVERGE_STORAGE_VERBOSE") != nullptr)
        std::printf("%s | %s\n", what.c_str(), message.c_str());
    }
    ++tally[1][static_cast<int>(ours)];
    CAPTURE(message);
    if (ours == outcome::error) {
      // The message starts with the file at fault.
      CHECK(message.rfind((tmp / "guarded").string() + "/", 0) == 0);
    }
    if (lmdb_alone == outcome::crashed || lmdb_alone == outcome::hung) CHECK(ours == outcome::error);
  }
  std::string report =
      "seed " + std::to_string(test::seed()) + ", " + std::to_string(cases) + " corrupt files:";
  for (int g = 0; g < 2; ++g) {
    report += g == 0 ? "\n  LMDB alone (verify off):" : "\n  lmdb_journal:             ";
    for (int o = 0; o < 4; ++o)
      report += std::string(" ") + name(static_cast<outcome>(o)) + " " + std::to_string(tally[g][o]);
  }
  MESSAGE(report);
  CHECK(silent == 0);
  CHECK(tally[1][static_cast<int>(outcome::crashed)] + tally[1][static_cast<int>(outcome::hung)] == 0);
}

TEST_CASE("stray files in the directory are harmless, a damaged lock file too") {
  temp_dir tmp;
  const std::vector<bytes> written = write_base(tmp.path());
  write_file(tmp / "lock.mdb", bytes(5000, std::byte{0x5a}));  // LMDB's lock file: unused (MDB_NOLOCK)
  write_file(tmp / "converge.lock", bytes(100, std::byte{0xff}));
  write_file(tmp / "junk", bytes(10, std::byte{1}));
  lmdb_journal j(tmp.path());
  CHECK(j.load() == written);
}

TEST_CASE("a check that does not finish in time refuses the file") {
  temp_dir tmp;
  {
    lmdb_journal j(tmp.path());
    j.append(snapshot_at(0, 1 << 20));
    j.sync();
  }
  lmdb_options o;
  o.verify_timeout = std::chrono::milliseconds(0);
  std::string message;
  try {
    lmdb_journal j(tmp.path(), o);
  } catch (const storage_error& e) {
    message = e.what();
  }
  CHECK(message == (tmp / "data.mdb").string() +
                       ": corrupt: verifying it did not finish in 0 ms (a damaged B-tree can loop)");
  lmdb_journal j(tmp.path());  // the killed check left nothing behind: the directory opens
  CHECK(j.load().size() == 1);
}

TEST_CASE("the check works in a process that ignores SIGCHLD") {
  // Its children are then reaped by the kernel and waitpid fails (ECHILD):
  // the verdict comes from the pipe alone.
  temp_dir tmp;
  const std::vector<bytes> written = write_base(tmp / "good");
  copy_dir(tmp / "good", tmp / "bad");
  write_file(tmp / "bad/data.mdb", bytes(20000, std::byte{0x17}));
  const auto old = ::signal(SIGCHLD, SIG_IGN);
  std::string good_error, bad_error;
  try {
    lmdb_journal j(tmp / "good");
    CHECK(j.load() == written);
  } catch (const storage_error& e) {
    good_error = e.what();
  }
  try {
    lmdb_journal j(tmp / "bad");
  } catch (const storage_error& e) {
    bad_error = e.what();
  }
  ::signal(SIGCHLD, old);
  CHECK(good_error.empty());
  CHECK(bad_error.rfind((tmp / "bad/data.mdb").string() + ": corrupt", 0) == 0);
}
