// Writes the seed corpora of the fuzz harnesses:
//   build/fuzz/make_corpus fuzz/corpus
// For each type of each harness's catalog, a few inputs: random step bytes
// (every byte string is a meaningful run for the structure-aware harnesses),
// and for fuzz_decode the encodings of real states and deltas of that type,
// alone and in pairs. Deterministic: the same files every time.
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

bytes_t encoded(std::uint8_t lead, const auto& x) {
  bytes_t b{lead};
  for (const std::byte c : converge::encode(x)) b.push_back(std::to_integer<std::uint8_t>(c));
  return b;
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
  std::printf("wrote the seed corpora under %s\n", out_dir.string().c_str());
  return 0;
}
