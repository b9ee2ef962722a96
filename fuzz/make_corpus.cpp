// Writes the seed corpora of the fuzz harnesses:
//   build/fuzz/make_corpus fuzz/corpus
// For each type of each harness's catalog, a few inputs: random step bytes
// (every byte string is a meaningful run for the structure-aware harnesses),
// and for fuzz_decode the encodings of real states and deltas of that type,
// alone and in pairs; for fuzz_storage, the journals of real replicators
// (snapshot, deltas, compactions, an acks record). Deterministic: the same
// files every time.
#include <converge/replication/journal.hpp>
#include <converge/replication/memory_journal.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/testing/entropy.hpp>
#include <converge/testing/operations.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/catalogs.hpp"
#include "common/harness.hpp"

namespace {

using namespace converge_fuzz;
using bytes_t = std::vector<std::uint8_t>;

std::filesystem::path out_dir;

void write(const std::string& harness, const bytes_t& b) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::uint8_t c : b) h = (h ^ c) * 0x100000001b3ULL;
  char name[32];
  std::snprintf(name, sizeof name, "seed-%016llx", static_cast<unsigned long long>(h));
  const std::filesystem::path dir = out_dir / harness;
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

bytes_t random_bytes(converge::testing::seeded_entropy& rng, std::uint8_t lead, std::size_t n) {
  bytes_t b{lead};
  for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(rng()));
  return b;
}

bytes_t encoded(std::uint8_t lead, const auto& x, const converge::wire::encode_options& options = {}) {
  bytes_t b{lead};
  for (const std::byte c : converge::encode(x, options)) b.push_back(std::to_integer<std::uint8_t>(c));
  return b;
}

/// A fuzz_storage input: the records, each as varint(length) bytes.
bytes_t journal_input(std::uint8_t lead, const std::vector<std::vector<std::byte>>& records) {
  bytes_t b{lead};
  std::vector<std::byte> tmp;
  for (const auto& r : records) {
    tmp.clear();
    converge::wire::detail::put_varint(tmp, r.size());
    tmp.insert(tmp.end(), r.begin(), r.end());
    for (const std::byte c : tmp) b.push_back(std::to_integer<std::uint8_t>(c));
  }
  return b;
}

/// The journal of a replicator that made `writes` random local writes,
/// ticking now and then (so some records are synced in groups, and the log
/// is compacted when it outgrows `compact_at` bytes), with an acks record.
template <class T>
std::vector<std::vector<std::byte>> real_journal(std::uint64_t seed, int writes, std::size_t compact_at) {
  converge::replication::memory_journal mem;
  converge::replicator_options o;
  o.journal = &mem;
  o.min_compaction_bytes = compact_at;
  converge::replicator<T> r(converge::replica_id{seed}, o);
  converge::testing::seeded_entropy e(seed * 7919);
  std::uint64_t now = 0;
  for (int k = 0; k < writes; ++k) {
    r.mutate([&](T& s) { return converge::testing::random_op<T>(s, converge::replica_id{seed}, e); });
    if (k % 3 == 2) (void)r.tick(now += 100);
  }
  (void)r.tick(now += 100);
  mem.sync();
  auto records = mem.load();
  records.push_back(converge::replication::acks_record({{seed + 1, {2, 5}}, {seed + 2, {1, 9}}}));
  return records;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  converge::testing::seeded_entropy rng(20261126);

  for (std::size_t t = 0; t < catalog::size; ++t) {
    const auto lead = static_cast<std::uint8_t>(t);
    for (const std::size_t n : {12, 48, 160, 400}) write("fuzz_laws", random_bytes(rng, lead, n));
    for (const std::size_t n : {48, 200, 600}) write("fuzz_replicator", random_bytes(rng, lead, n));
    write("fuzz_replicator", random_bytes(rng, static_cast<std::uint8_t>(t + catalog::size), 24));
  }

  for (std::size_t t = 0; t < decode_catalog::size; ++t) {
    with_type(decode_catalog{}, t, [&]<class T>(std::type_identity<T>) {
      const auto single = static_cast<std::uint8_t>(t);
      const auto two = static_cast<std::uint8_t>(t + decode_catalog::size);
      write("fuzz_decode", encoded(single, T{}));
      for (const std::uint64_t seed : {1, 2, 3}) {
        converge::testing::seeded_entropy e(seed);
        const auto [state, delta] =
            converge::testing::random_state_and_delta<T>(e, 4 + 6 * static_cast<int>(seed));
        write("fuzz_decode", encoded(single, state));
        write("fuzz_decode", encoded(single, delta));
        // The same state with every store in columns: format 2 frames (small ones, for the fuzzer).
        const bytes_t columns = encoded(single, state, {.columns_from = 1});
        if (columns != encoded(single, state)) write("fuzz_decode", columns);
        const bytes_t a = encoded(0, delta);
        const bytes_t b = encoded(0, state);
        if (a.size() - 1 <= 255) {
          bytes_t p{two, static_cast<std::uint8_t>(a.size() - 1)};
          p.insert(p.end(), a.begin() + 1, a.end());
          p.insert(p.end(), b.begin() + 1, b.end());
          write("fuzz_decode", p);
        }
      }
    });
  }
  for (std::size_t t = 0; t < storage_catalog::size; ++t) {
    with_type(storage_catalog{}, t, [&]<class T>(std::type_identity<T>) {
      const auto raw = static_cast<std::uint8_t>(t);
      const auto fix = static_cast<std::uint8_t>(t + storage_catalog::size);
      write("fuzz_storage", journal_input(fix, real_journal<T>(1, 0, 1 << 20)));
      write("fuzz_storage", journal_input(raw, real_journal<T>(2, 6, 1 << 20)));
      write("fuzz_storage", journal_input(fix, real_journal<T>(3, 12, 1 << 20)));
      write("fuzz_storage", journal_input(fix, real_journal<T>(4, 30, 64)));  // compacted
    });
  }
  std::printf("wrote the seed corpora under %s\n", out_dir.string().c_str());
  return 0;
}
