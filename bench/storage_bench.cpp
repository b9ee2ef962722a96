// converge-bench-storage: the LMDB journal (storage/) on this machine's disk.
//
//   converge-bench-storage [--dir DIR] [--elements N] [--syncs S] [--quick]
//
// 1. Sync latency and records per second for small deltas: batches of 1,
//    10 and 100 one-element or_set delta records (about 20 bytes each) per
//    sync, S syncs each; latency of each `sync` (median, p99, max) and
//    records/s over the whole run. Every sync is a durable LMDB commit
//    (fdatasync), so this measures the disk as much as the code.
// 2. A 1M-element `or_set<std::uint64_t>` in a durable replicator: built
//    with eight large deltas (N/10 inserts each) and then 200 smaller ones
//    (N/1000 each), one tick (so one sync) after each, with the replicator's
//    compaction (log > max(1 MiB, snapshot / 4)); after every sync,
//    `disk_bytes()` is compared with the encoded state (max ratio, reported
//    for the whole load and for states of at least 4 MiB, where the 1 MiB
//    compaction floor no longer dominates). Then the journal is compacted,
//    closed, and reopened: the time to open (with the child-process check),
//    `recover` and `replicator::restore`, and the restored state is checked
//    equal to the one written.
//
// Prints one JSON object. DIR (default: a new directory under $TMPDIR or
// /tmp) is removed at the end.

#include <converge/or_set.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/storage/lmdb_journal.hpp>
#include <converge/wire/encode.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using state = converge::or_set<std::uint64_t>;
using converge::storage::lmdb_journal;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string sync_latency(const std::filesystem::path& dir, int syncs) {
  std::string out = "[";
  const converge::replica_id self{1};
  for (const int batch : {1, 10, 100}) {
    std::filesystem::remove_all(dir);
    lmdb_journal j(dir);
    state s;
    std::uint64_t seq = 0;
    // Small real records: one-element deltas, as the replicator writes them.
    j.append(converge::replication::snapshot_record(self, 0, {}, converge::encode(s)));
    j.sync();
    std::vector<double> lat;
    std::size_t bytes = 0;
    const auto t0 = clock_type::now();
    for (int k = 0; k < syncs; ++k) {
      for (int b = 0; b < batch; ++b) {
        const auto d = converge::encode(s.insert(self, converge_bench::key(seq)));
        const auto r = converge::replication::delta_record(seq++, true, std::nullopt, d);
        bytes += r.size();
        j.append(r);
      }
      const auto t = clock_type::now();
      j.sync();
      lat.push_back(ms_since(t));
    }
    const double total_s = ms_since(t0) / 1000;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"records_per_sync\": %d, \"syncs\": %d, \"record_bytes_mean\": %.1f, "
                  "\"sync_ms_median\": %.3f, \"sync_ms_p99\": %.3f, \"sync_ms_max\": %.3f, "
                  "\"records_per_s\": %.0f}",
                  out.size() > 1 ? ", " : "", batch, syncs,
                  static_cast<double>(bytes) / static_cast<double>(seq), percentile(lat, 0.5),
                  percentile(lat, 0.99), percentile(lat, 1.0), static_cast<double>(seq) / total_s);
    out += buf;
  }
  return out + "]";
}

struct growth {
  double max_ratio = 0, max_ratio_4mib = 0;
  std::size_t at_state = 0, at_disk = 0, at_state_4mib = 0, at_disk_4mib = 0;
  std::size_t samples = 0;
  void sample(std::size_t state_bytes, std::size_t disk) {
    ++samples;
    const double r = static_cast<double>(disk) / static_cast<double>(std::max<std::size_t>(state_bytes, 1));
    if (r > max_ratio) {
      max_ratio = r;
      at_state = state_bytes;
      at_disk = disk;
    }
    if (state_bytes >= (std::size_t{4} << 20) && r > max_ratio_4mib) {
      max_ratio_4mib = r;
      at_state_4mib = state_bytes;
      at_disk_4mib = disk;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir;
  std::uint64_t elements = 1'000'000;
  int syncs = 300;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--dir" && a + 1 < argc) {
      dir = argv[++a];
    } else if (arg == "--elements" && a + 1 < argc) {
      elements = std::strtoull(argv[++a], nullptr, 10);
    } else if (arg == "--syncs" && a + 1 < argc) {
      syncs = std::atoi(argv[++a]);
    } else if (arg == "--quick") {
      syncs = 50;
    } else {
      std::fprintf(stderr, "usage: %s [--dir DIR] [--elements N] [--syncs S] [--quick]\n", argv[0]);
      return 2;
    }
  }
  bool remove_dir = false;
  if (dir.empty()) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/converge-bench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return 1;
    dir = tmpl;
    remove_dir = true;
  }

  const std::string latency = sync_latency(dir / "latency", syncs);

  // --- 2. a 1M-element or_set, durable -----------------------------------
  const std::filesystem::path big = dir / "or_set";
  std::filesystem::remove_all(big);
  const converge::replica_id self{42};
  growth g;
  std::size_t final_state_bytes = 0, compacted_disk = 0, build_syncs = 0;
  double build_s = 0;
  state written;
  {
    lmdb_journal j(big);
    converge::replicator_options o;
    o.journal = &j;
    converge::replicator<state> r(self, o);
    std::uint64_t now = 0, next = 0;
    (void)r.tick(now);
    const auto t0 = clock_type::now();
    auto step = [&](std::uint64_t inserts) {
      r.mutate([&](state& s) {
        state d;
        for (std::uint64_t i = 0; i < inserts; ++i) d.join(s.insert(self, converge_bench::key(next++)));
        return d;
      });
      (void)r.tick(now += 100);
      if (!r.sync_error().empty()) {
        std::fprintf(stderr, "sync failed: %s\n", r.sync_error().c_str());
        std::exit(1);
      }
      ++build_syncs;
      g.sample(converge::encode(r.state()).size(), j.disk_bytes());
    };
    // 80 % in eight large deltas, then the rest in 200 smaller ones (the
    // log fills and is compacted under load).
    for (int k = 0; k < 8; ++k) step(elements / 10);
    for (int k = 0; k < 200; ++k) step((elements - next) / static_cast<std::uint64_t>(200 - k));
    build_s = ms_since(t0) / 1000;
  }
  {
    // Compact: restored with a compaction bound of zero, the replicator
    // writes its state as the snapshot at its next sync.
    lmdb_journal j(big);
    converge::replicator_options o;
    o.journal = &j;
    o.min_compaction_bytes = 0;
    o.compaction_divisor = std::numeric_limits<std::size_t>::max();
    auto r = converge::replicator<state>::restore(*j.recover(), o);
    r.mutate([&](state& s) { return s.insert(self, converge_bench::key(elements + 1'000'000)); });
    (void)r.tick(1'000'000'000);
    if (!r.sync_error().empty() || j.load().size() != 1) {
      std::fprintf(stderr, "compaction failed: %s\n", r.sync_error().c_str());
      return 1;
    }
    written = r.state();
    final_state_bytes = converge::encode(written).size();
    compacted_disk = j.disk_bytes();
  }

  // --- reopen and restore ------------------------------------------------
  double open_ms = 0, recover_ms = 0, restore_ms = 0;
  bool equal = false;
  {
    const auto t0 = clock_type::now();
    lmdb_journal j(big);
    open_ms = ms_since(t0);
    const auto t1 = clock_type::now();
    const auto rec = j.recover();
    recover_ms = ms_since(t1);
    const auto t2 = clock_type::now();
    converge::replicator_options o;
    o.journal = &j;
    auto r = converge::replicator<state>::restore(*rec, o);
    restore_ms = ms_since(t2);
    equal = r.state() == written && r.state().size() == written.size();
  }
  const double reopen_ms = open_ms + recover_ms + restore_ms;

  std::printf(
      "{\"bench\": \"storage\", \"dir\": \"%s\", \"small_deltas\": %s,\n"
      " \"or_set\": {\"elements\": %zu, \"encoded_state_bytes\": %zu, \"syncs\": %zu, \"build_s\": %.2f,\n"
      "   \"disk_ratio_max\": %.3f, \"disk_ratio_max_at_state_bytes\": %zu, \"disk_ratio_max_disk_bytes\": "
      "%zu,\n"
      "   \"disk_ratio_max_state_ge_4mib\": %.3f, \"at_state_bytes\": %zu, \"at_disk_bytes\": %zu,\n"
      "   \"disk_bytes_compacted\": %zu, \"disk_ratio_compacted\": %.3f,\n"
      "   \"reopen_ms\": %.1f, \"open_ms\": %.1f, \"recover_ms\": %.1f, \"restore_ms\": %.1f,\n"
      "   \"restored_equal\": %s,\n"
      "   \"targets\": {\"reopen_le_1s\": %s, \"disk_le_3x_state_ge_4mib\": %s}}}\n",
      dir.string().c_str(), latency.c_str(), written.size(), final_state_bytes, build_syncs, build_s,
      g.max_ratio, g.at_state, g.at_disk, g.max_ratio_4mib, g.at_state_4mib, g.at_disk_4mib, compacted_disk,
      static_cast<double>(compacted_disk) / static_cast<double>(final_state_bytes), reopen_ms, open_ms,
      recover_ms, restore_ms, equal ? "true" : "false", reopen_ms <= 1000 ? "true" : "false",
      g.max_ratio_4mib <= 3.0 ? "true" : "false");
  if (remove_dir) std::filesystem::remove_all(dir);
  return equal ? 0 : 1;
}
