// Replays inputs through a harness without libFuzzer, so every harness also
// runs as an ordinary test over its checked-in corpus and regressions
// ({fmt}'s test/fuzzing/main.cc). Arguments are files or directories (every
// regular file in them, in name order); a missing directory is skipped.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.string().c_str());
    return false;
  }
  // One spare byte: data() is never null, as with libFuzzer.
  const auto size = static_cast<std::size_t>(std::filesystem::file_size(file));
  std::vector<std::uint8_t> data(size + 1);
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size));
  std::fprintf(stderr, "replaying %s (%zu bytes)\n", file.string().c_str(), size);
  LLVMFuzzerTestOneInput(data.data(), size);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 0;
  bool ok = true;
  for (int a = 1; a < argc; ++a) {
    const std::filesystem::path p(argv[a]);
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(p)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        ok = replay(f) && ok;
        ++count;
      }
    } else if (std::filesystem::exists(p)) {
      ok = replay(p) && ok;
      ++count;
    } else {
      std::fprintf(stderr, "skipping %s: not found\n", p.string().c_str());
    }
  }
  std::printf("replayed %zu inputs\n", count);
  return ok ? 0 : 1;
}
