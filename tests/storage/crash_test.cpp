// A real crash: a child process appends and syncs in a loop (compacting now
// and then) and reports on a pipe each time a sync returns; the test kills
// it with SIGKILL at a random moment, reopens the directory, and checks that
// every record whose sync returned is there, intact, and that the journal
// still reads strictly. Then the next child carries on from what survived.
// CONVERGE_SEED reproduces a run, CONVERGE_CASES sets the number of kills.
#include <converge/storage/lmdb_journal.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "storage/storage_support.hpp"
#include "support/random.hpp"

namespace {

using converge::storage::lmdb_journal;
using namespace storage_test;

/// The size of the snapshot's state at `end`: random-looking, yet known to
/// the checker.
std::size_t snapshot_size(std::uint64_t end) {
  return end == 0 ? 3000 : 2000 + static_cast<std::size_t>(converge::replica_id::mix(end) % 40000);
}

/// The writer: never returns. After each sync it writes the sequence number
/// below which every delta is durable.
[[noreturn]] void writer(const std::filesystem::path& dir, int report, std::uint64_t seed) {
  int code = 0;
  try {
    lmdb_journal j(dir);
    const auto r = j.recover();
    std::uint64_t next = r ? r->end : 0;
    if (!r) {
      j.append(snapshot_at(0));
      j.sync();
    }
    converge::testing::seeded_entropy rng(seed);
    for (;;) {
      // Compact now and then, as the replicator does when the log grows.
      if (rng.chance(1, 8)) j.replace(snapshot_at(next, snapshot_size(next)));
      const std::uint64_t n = 1 + rng.below(6);
      for (std::uint64_t k = 0; k < n; ++k) j.append(delta_at(next++));
      j.sync();
      if (::write(report, &next, sizeof next) != sizeof next) break;
    }
  } catch (const std::exception& e) {
    const std::string m = std::string("writer: ") + e.what() + "\n";
    [[maybe_unused]] const auto w = ::write(STDERR_FILENO, m.data(), m.size());
    code = 1;
  }
  ::_exit(code + 1);
}

}  // namespace

TEST_CASE("kill -9 at random moments loses no record whose sync returned") {
  auto rng = test::rng_for("kill -9 at random moments");
  CAPTURE(test::seed());
  temp_dir tmp;
  const std::filesystem::path dir = tmp / "journal";
  const int kills = test::cases(100);
  std::uint64_t durable = 0;  // every delta below it was reported synced
  std::uint64_t max_end = 0;
  int compactions_seen = 0;
  for (int round = 0; round < kills; ++round) {
    CAPTURE(round);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const std::uint64_t child_seed = rng();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      writer(dir, fds[1], child_seed);
    }
    ::close(fds[1]);
    // Kill after a random number of reported syncs and a random delay, so
    // the kill lands anywhere: in the open, mid-transaction, mid-commit.
    const std::uint64_t wait_reports = rng.below(8);
    const auto delay = std::chrono::microseconds(rng.below(3000));
    std::uint64_t reports = 0;
    auto read_reports = [&](int timeout_ms) {
      pollfd p{fds[0], POLLIN, 0};
      while (::poll(&p, 1, timeout_ms) > 0) {
        std::uint64_t v = 0;
        const ssize_t n = ::read(fds[0], &v, sizeof v);
        if (n != sizeof v) return false;  // the writer is gone
        CHECK(v > durable);
        durable = std::max(durable, v);
        if (++reports >= wait_reports) return true;
      }
      return true;
    };
    if (wait_reports > 0) read_reports(5000);
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));  // it was still writing: it never failed on its own
    // Reports written before the kill count too: their syncs had returned.
    for (std::uint64_t v = 0; ::read(fds[0], &v, sizeof v) == sizeof v;) durable = std::max(durable, v);
    ::close(fds[0]);

    lmdb_journal j(dir);
    const auto records = j.load();
    const auto r = j.recover();
    if (durable == 0 && !r) continue;  // killed before its first sync
    REQUIRE(r.has_value());
    CHECK(r->end >= durable);
    CHECK(r->end >= max_end);  // a later open never sees less than an earlier one
    max_end = std::max(max_end, r->end);
    // Intact: the records are exactly those the writer's rule gives.
    REQUIRE(records.size() == 1 + r->deltas.size());
    CHECK(records[0] == snapshot_at(r->snapshot_end, snapshot_size(r->snapshot_end)));
    if (r->snapshot_end != 0) ++compactions_seen;
    CHECK(r->self == self);
    for (std::size_t i = 0; i < r->deltas.size(); ++i) CHECK(records[1 + i] == delta_at(r->snapshot_end + i));
  }
  MESSAGE("seed " << test::seed() << ": " << kills << " kills, " << durable << " deltas reported durable, "
                  << max_end << " recovered; " << compactions_seen << " reopenings after a compaction");
  CHECK(durable > 0);
  CHECK(compactions_seen > 0);
}
