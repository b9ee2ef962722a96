// lmdb_journal: records round trip, compaction, reopening, a failed sync
// keeps its queue, the map grows, one open per directory, and every bad
// directory that is not a corrupt data.mdb (corruption_test.cpp) gives a
// clear error naming the file.
#include <converge/storage/lmdb_journal.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <lmdb.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "storage/storage_support.hpp"

namespace {

using converge::storage::lmdb_journal;
using converge::storage::lmdb_options;
using converge::storage::storage_error;
using namespace storage_test;

/// The message of the `storage_error` that `f` throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const storage_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("records round trip in order, across syncs and reopenings") {
  temp_dir dir;
  std::vector<bytes> expect{snapshot_at(0)};
  {
    lmdb_journal j(dir.path());
    CHECK(j.load().empty());
    CHECK_FALSE(j.recover().has_value());
    j.append(expect[0]);
    for (std::uint64_t s = 0; s < 200; ++s) {
      expect.push_back(delta_at(s));
      j.append(expect.back());
      if (s % 7 == 0) j.sync();
    }
    j.sync();
    CHECK(j.pending() == 0);
    CHECK(j.load() == expect);
  }
  lmdb_journal j(dir.path());
  CHECK(j.load() == expect);
  // Appends after a reopening follow the records already there.
  for (std::uint64_t s = 200; s < 230; ++s) {
    expect.push_back(delta_at(s));
    j.append(expect.back());
  }
  j.sync();
  CHECK(j.load() == expect);
  const auto r = j.recover();
  REQUIRE(r.has_value());
  CHECK(r->self == self);
  CHECK(r->end == 230);
  REQUIRE(r->deltas.size() == 230);
  for (std::uint64_t s = 0; s < 230; ++s) {
    CAPTURE(s);
    CHECK(r->deltas[s].seq == s);
    CHECK(r->deltas[s].delta == payload(s));
  }
  CHECK(j.disk_bytes() > 0);
}

TEST_CASE("nothing queued is durable before sync") {
  temp_dir dir;
  {
    lmdb_journal j(dir.path());
    j.append(snapshot_at(0));
    j.sync();
    j.append(delta_at(0));
    j.replace(snapshot_at(5));
    CHECK(j.pending() == 2);
    CHECK(j.load().size() == 1);  // load reads only what is durable
  }
  lmdb_journal j(dir.path());
  CHECK(j.load() == std::vector<bytes>{snapshot_at(0)});
  j.sync();  // an empty queue: nothing to do
  CHECK(j.syncs() == 0);
}

TEST_CASE("compaction keeps only the snapshot and what follows it") {
  temp_dir dir;
  lmdb_journal j(dir.path());
  j.append(snapshot_at(0));
  for (std::uint64_t s = 0; s < 50; ++s) j.append(delta_at(s));
  j.sync();

  SUBCASE("a replacement synced alone") {
    j.replace(snapshot_at(50, 20000));
    j.sync();
    CHECK(j.load() == std::vector<bytes>{snapshot_at(50, 20000)});
    j.append(delta_at(50));
    j.sync();
    CHECK(j.load() == std::vector<bytes>{snapshot_at(50, 20000), delta_at(50)});
  }
  SUBCASE("records queued before a replacement go with it, those after stay") {
    j.append(delta_at(50));
    j.replace(snapshot_at(40));  // drops delta 50, queued before it
    j.append(delta_at(40));
    j.replace(snapshot_at(51));  // the last replacement wins
    j.append(delta_at(51));
    j.append(delta_at(52));
    j.sync();
    const std::vector<bytes> expect{snapshot_at(51), delta_at(51), delta_at(52)};
    CHECK(j.load() == expect);
    const auto r = j.recover();
    REQUIRE(r.has_value());
    CHECK(r->snapshot_end == 51);
    CHECK(r->end == 53);
  }
  const auto now = j.load();
  CHECK(now.front()[4] == std::byte{1});  // a snapshot record first
}

TEST_CASE("reopening a compacted journal continues it") {
  temp_dir dir;
  {
    lmdb_journal j(dir.path());
    j.append(snapshot_at(0));
    for (std::uint64_t s = 0; s < 20; ++s) j.append(delta_at(s));
    j.replace(snapshot_at(20));
    j.append(delta_at(20));
    j.sync();
  }
  lmdb_journal j(dir.path());
  j.append(delta_at(21));
  j.sync();
  CHECK(j.load() == std::vector<bytes>{snapshot_at(20), delta_at(20), delta_at(21)});
}

TEST_CASE("a failed sync throws, names the file and keeps the queue") {
  temp_dir dir;
  lmdb_options o;
  o.map_size = 256 << 10;
  o.max_map_size = o.map_size;  // no growth: the map fills up
  lmdb_journal j(dir.path(), o);
  j.append(snapshot_at(0));
  j.sync();
  std::vector<bytes> expect{snapshot_at(0)};
  for (std::uint64_t s = 0; s < 200; ++s) {
    expect.push_back(delta_at(s));
    j.append(expect.back());
  }
  const std::size_t queued = j.pending();
  const std::string e = error_of([&] { j.sync(); });
  CAPTURE(e);
  CHECK(contains(e, (dir.path() / "data.mdb").string() + ": sync failed"));
  CHECK(contains(e, "map is full"));
  CHECK(j.pending() == queued);
  CHECK(j.load() == std::vector<bytes>{snapshot_at(0)});  // nothing of the failed sync landed
  // Appends after a failure join the queue; once the map may grow, one sync
  // writes them all, in order.
  expect.push_back(delta_at(200));
  j.append(expect.back());
  CHECK(!error_of([&] { j.sync(); }).empty());
  j.set_max_map_size(64 << 20);
  j.sync();
  CHECK(j.pending() == 0);
  CHECK(j.load() == expect);
  CHECK(j.map_size() > o.map_size);
}

TEST_CASE("the map grows as the journal does, and a reopening keeps its size") {
  temp_dir dir;
  lmdb_options o;
  o.map_size = 128 << 10;
  std::size_t grown = 0;
  {
    lmdb_journal j(dir.path(), o);
    j.append(snapshot_at(0, 4 << 20));  // a 4 MiB snapshot in a 128 KiB map
    j.sync();
    grown = j.map_size();
    CHECK(grown >= (4U << 20));
  }
  lmdb_journal j(dir.path(), o);
  // Reopened with room for the data and as much again.
  CHECK(j.map_size() >= 2 * std::filesystem::file_size(dir / "data.mdb"));
  CHECK(j.load() == std::vector<bytes>{snapshot_at(0, 4 << 20)});
  j.append(snapshot_at(0, 16 << 20));
  j.sync();
  CHECK(j.map_size() > grown);
}

TEST_CASE("one open journal per directory, in this process or another") {
  temp_dir dir;
  lmdb_journal first(dir.path());
  const std::string e = error_of([&] { lmdb_journal second(dir.path()); });
  CAPTURE(e);
  CHECK(contains(e, dir.path().string() + ": already in use"));
  CHECK(contains(e, "by pid " + std::to_string(::getpid())));

  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Another process: refused the same way (exit 0 only on that refusal).
    int code = 1;
    try {
      lmdb_journal other(dir.path());
    } catch (const storage_error& err) {
      code = contains(err.what(), "already in use") ? 0 : 2;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("the directory is free again once the journal is closed") {
  temp_dir dir;
  { lmdb_journal j(dir.path()); }
  lmdb_journal again(dir.path());
  CHECK(again.load().empty());
}

TEST_CASE("a missing directory is created, a file in its place is refused") {
  temp_dir dir;
  {
    lmdb_journal j(dir / "a/b/c");
    j.append(snapshot_at(0));
    j.sync();
  }
  CHECK(std::filesystem::is_regular_file(dir / "a/b/c/data.mdb"));
  write_file(dir / "file", bytes(10));
  const std::string e = error_of([&] { lmdb_journal j(dir / "file"); });
  CHECK(e == (dir / "file").string() + ": not a directory");
  const std::string under = error_of([&] { lmdb_journal j(dir / "file/sub"); });
  CHECK(contains(under, (dir / "file").string() + ": not a directory"));
}

TEST_CASE("a lost data.mdb is refused, not taken for a new journal") {
  temp_dir dir;
  {
    lmdb_journal j(dir.path());
    j.append(snapshot_at(0));
    j.sync();
  }
  SUBCASE("deleted") { std::filesystem::remove(dir / "data.mdb"); }
  SUBCASE("truncated to nothing") { std::filesystem::resize_file(dir / "data.mdb", 0); }
  const std::string e = error_of([&] { lmdb_journal j(dir.path()); });
  CAPTURE(e);
  CHECK(contains(e, (dir / "data.mdb").string() + ": "));
  CHECK(contains(e, "its data is lost"));
}

TEST_CASE("a data.mdb that is not a file, or the marker gone, or another format") {
  temp_dir dir;
  SUBCASE("data.mdb is a directory") {
    std::filesystem::create_directory(dir / "data.mdb");
    CHECK(error_of([&] { lmdb_journal j(dir.path()); }) ==
          (dir / "data.mdb").string() + ": not a regular file");
  }
  SUBCASE("the marker file says a future format") {
    { lmdb_journal j(dir.path()); }
    std::ofstream(dir / "converge-journal", std::ios::trunc) << "converge journal format 2\n";
    CHECK(error_of([&] { lmdb_journal j(dir.path()); }) ==
          (dir / "converge-journal").string() + ": journal format 2, but this build reads format 1");
  }
  SUBCASE("the marker file is garbage") {
    { lmdb_journal j(dir.path()); }
    std::ofstream(dir / "converge-journal", std::ios::trunc) << "hello";
    CHECK(error_of([&] { lmdb_journal j(dir.path()); }) ==
          (dir / "converge-journal").string() + ": not a converge journal format marker");
  }
  SUBCASE("the marker inside data.mdb says a future format") {
    {
      lmdb_journal j(dir.path());
      j.append(snapshot_at(0));
      j.sync();
    }
    MDB_env* e = nullptr;
    REQUIRE(::mdb_env_create(&e) == 0);
    ::mdb_env_set_maxdbs(e, 4);
    REQUIRE(::mdb_env_open(e, dir.path().c_str(), MDB_NOLOCK, 0644) == 0);
    MDB_txn* t = nullptr;
    REQUIRE(::mdb_txn_begin(e, nullptr, 0, &t) == 0);
    MDB_dbi meta = 0;
    REQUIRE(::mdb_dbi_open(t, "meta", 0, &meta) == 0);
    std::string k = "format", v = "converge journal format 7\n";
    MDB_val kv{k.size(), k.data()}, vv{v.size(), v.data()};
    REQUIRE(::mdb_put(t, meta, &kv, &vv, 0) == 0);
    REQUIRE(::mdb_txn_commit(t) == 0);
    ::mdb_env_close(e);
    CHECK(error_of([&] { lmdb_journal j(dir.path()); }) ==
          (dir / "data.mdb").string() + ": journal format 7, but this build reads format 1");
  }
  SUBCASE("the marker file deleted: rewritten from data.mdb's own") {
    {
      lmdb_journal j(dir.path());
      j.append(snapshot_at(0));
      j.sync();
    }
    std::filesystem::remove(dir / "converge-journal");
    lmdb_journal j(dir.path());
    CHECK(j.load().size() == 1);
    CHECK(std::filesystem::exists(dir / "converge-journal"));
  }
}

TEST_CASE("an LMDB file of someone else's is not a journal") {
  temp_dir dir;
  MDB_env* e = nullptr;
  REQUIRE(::mdb_env_create(&e) == 0);
  ::mdb_env_set_maxdbs(e, 4);
  REQUIRE(::mdb_env_open(e, dir.path().c_str(), MDB_NOLOCK, 0644) == 0);
  MDB_txn* t = nullptr;
  REQUIRE(::mdb_txn_begin(e, nullptr, 0, &t) == 0);
  MDB_dbi other = 0;
  REQUIRE(::mdb_dbi_open(t, "accounts", MDB_CREATE, &other) == 0);
  REQUIRE(::mdb_txn_commit(t) == 0);
  ::mdb_env_close(e);
  CHECK(error_of([&] { lmdb_journal j(dir.path()); }) ==
        (dir / "data.mdb").string() + ": not a converge journal (it holds a database or key \"accounts\")");
}

/// The error that opening a journal in `dir` gives, tried in a child process
/// that, when run as root (to whom permissions do not apply), first becomes
/// the user nobody.
std::string open_error_as_user(const std::filesystem::path& dir) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out = "(no error)";
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0))
      out = "(cannot drop privileges)";
    else
      out = error_of([&] { lmdb_journal j(dir); });
    [[maybe_unused]] const auto n = ::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

TEST_CASE("a directory without permissions gives an error naming the file") {
  namespace fs = std::filesystem;
  temp_dir dir;
  // Let the unprivileged child reach the subdirectories.
  fs::permissions(dir.path(), fs::perms::all, fs::perm_options::add);
  {
    lmdb_journal j(dir / "d");
    j.append(snapshot_at(0));
    j.sync();
  }
  fs::permissions(dir / "d", fs::perms::all);
  fs::permissions(dir / "d/data.mdb", fs::perms::all);
  fs::permissions(dir / "d/converge.lock", fs::perms::all);
  SUBCASE("a directory that cannot be written") {
    fs::create_directory(dir / "ro");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
    CHECK(open_error_as_user(dir / "ro") ==
          (dir / "ro/converge.lock").string() + ": cannot open the lock file: Permission denied");
  }
  SUBCASE("a data.mdb that cannot be read") {
    fs::permissions(dir / "d/data.mdb", fs::perms::none);
    const std::string e = open_error_as_user(dir / "d");
    CAPTURE(e);
    CHECK(contains(e, (dir / "d/data.mdb").string() + ": "));
    CHECK(contains(e, "Permission denied"));
  }
  SUBCASE("a directory that cannot be entered") {
    fs::permissions(dir / "d", fs::perms::owner_all);
    const std::string e = open_error_as_user(dir / "d");
    CAPTURE(e);
    CHECK(contains(e, (dir / "d").string()));
    CHECK(contains(e, "Permission denied"));
  }
}

TEST_CASE("set_aside moves a damaged directory out of the way, never an open one") {
  temp_dir dir;
  const std::filesystem::path d = dir / "node";
  {
    lmdb_journal j(d);
    j.append(snapshot_at(0));
    j.sync();
  }
  write_file(d / "data.mdb", bytes(9000, std::byte{0x42}));  // damaged
  const std::string e = error_of([&] { lmdb_journal j(d); });
  CHECK(contains(e, (d / "data.mdb").string() + ": corrupt"));
  {
    lmdb_journal open_elsewhere(dir / "other");
    CHECK(contains(error_of([&] { (void)converge::storage::set_aside(dir / "other"); }), "already in use"));
  }
  const std::filesystem::path kept = converge::storage::set_aside(d);
  CHECK(kept.string().rfind(d.string() + ".damaged-", 0) == 0);
  CHECK(read_file(kept / "data.mdb") == bytes(9000, std::byte{0x42}));
  CHECK_FALSE(std::filesystem::exists(d));
  lmdb_journal fresh(d);  // a new journal in its place
  CHECK(fresh.load().empty());
  CHECK(converge::storage::set_aside(dir / "other") != kept);
  CHECK(
      contains(error_of([&] { (void)converge::storage::set_aside(dir / "missing"); }), "no such directory"));
}
