#pragma once
// Shared by the storage tests: a temporary directory removed at the end, and
// journals of real records whose contents follow from their numbers, so a
// test can check every byte read back without keeping a copy.

#include <converge/replication/journal.hpp>
#include <converge/storage/lmdb_journal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace storage_test {

namespace fs = std::filesystem;
using bytes = std::vector<std::byte>;

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/converge-storage-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    // A test may have made a subdirectory read-only: give it back first.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code ignored;
      if (it->is_directory(ignored))
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ignored);
    }
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }
  [[nodiscard]] fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// The payload of delta number `seq`: its length and bytes follow from `seq`
/// (from 1 byte to a few pages, so records of several chunks are common).
inline bytes payload(std::uint64_t seq, std::size_t max = 9000) {
  std::uint64_t x = converge::replica_id::mix(seq + 1);
  const std::size_t n = 1 + static_cast<std::size_t>(x % (x % 4 == 0 ? max : 64));
  bytes out(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 8 == 0) x = converge::replica_id::mix(x);
    out[i] = static_cast<std::byte>((x >> (8 * (i % 8))) & 0xffU);
  }
  return out;
}

inline const converge::replica_id self{0x5e1f};

/// The snapshot at sequence counter `end` (its "state" derived from `end`).
inline bytes snapshot_at(std::uint64_t end, std::size_t state_bytes = 3000) {
  bytes state = payload(end ^ 0xabcdefULL, state_bytes);
  converge::replication::durable_acks acks{{7, {end, 3}}};
  return converge::replication::snapshot_record(self, end, acks, state);
}
inline bytes delta_at(std::uint64_t seq) {
  return converge::replication::delta_record(
      seq, seq % 3 != 0, seq % 2 == 0 ? std::optional<std::uint64_t>(seq % 5) : std::nullopt, payload(seq));
}

/// Reads a whole file.
inline bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(c[i]);
  return out;
}
inline void write_file(const fs::path& p, const bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace storage_test
