#pragma once
/// @file
/// `converge::replication::memory_journal`: a journal in memory, for the
/// simulator and the tests, with a crash model in the spirit of Jepsen's
/// LazyFS: a crash loses every record not yet synced, except that a prefix
/// of them may survive, and the first record past that prefix may survive
/// torn (cut short) or corrupted (a flipped bit). A pending compaction is
/// all or nothing. After a crash, recover with `torn_tail::truncate`.

#include "converge/replication/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <variant>
#include <vector>

namespace converge::replication {

/// What a crash does to the records that were not synced.
struct crash_damage {
  std::size_t keep = 0;      ///< how many unsynced appends survive whole (up to the first compaction)
  bool tear = false;         ///< the next one survives cut short…
  std::size_t tear_at = 0;   ///< …to this many bytes (taken modulo its size)
  bool flip = false;         ///< …or whole but with one bit flipped…
  std::size_t flip_bit = 0;  ///< …this one (modulo its bits)
};

class memory_journal final : public journal {
 public:
  std::vector<std::vector<std::byte>> load() override { return synced_; }

  void append(std::span<const std::byte> record) override {
    pending_.emplace_back(std::vector<std::byte>(record.begin(), record.end()));
    pending_bytes_ += record.size();
  }
  void replace(std::span<const std::byte> snapshot) override {
    pending_.emplace_back(compaction{std::vector<std::byte>(snapshot.begin(), snapshot.end())});
    pending_bytes_ += snapshot.size();
  }
  void sync() override {
    for (op& o : pending_) apply(synced_, std::move(o));
    pending_.clear();
    pending_bytes_ = 0;
    ++syncs_;
  }

  /// A crash: see the file comment. Returns how many unsynced records were lost.
  std::size_t crash(const crash_damage& d) {
    std::size_t kept = 0, lost = 0;
    bool stop = false;
    for (op& o : pending_) {
      auto* rec = std::get_if<std::vector<std::byte>>(&o);
      if (stop || rec == nullptr) {
        stop = true;
        ++lost;
        continue;
      }
      if (kept < d.keep) {
        synced_.push_back(std::move(*rec));
        ++kept;
        continue;
      }
      stop = true;
      ++lost;
      if (rec->empty()) continue;
      if (d.tear) {
        rec->resize(d.tear_at % rec->size());
        synced_.push_back(std::move(*rec));
      } else if (d.flip) {
        const std::size_t bit = d.flip_bit % (rec->size() * 8);
        (*rec)[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
        synced_.push_back(std::move(*rec));
      }
    }
    pending_.clear();
    pending_bytes_ = 0;
    return lost;
  }

  /// Records durable now, and bytes queued but not synced.
  [[nodiscard]] std::size_t records() const noexcept { return synced_.size(); }
  [[nodiscard]] std::size_t pending_bytes() const noexcept { return pending_bytes_; }
  /// Bytes held durably (what a disk would hold).
  [[nodiscard]] std::size_t bytes() const noexcept {
    std::size_t n = 0;
    for (const auto& r : synced_) n += r.size();
    return n;
  }
  [[nodiscard]] std::uint64_t syncs() const noexcept { return syncs_; }

 private:
  struct compaction {
    std::vector<std::byte> snapshot;
  };
  using op = std::variant<std::vector<std::byte>, compaction>;

  static void apply(std::vector<std::vector<std::byte>>& into, op&& o) {
    if (auto* c = std::get_if<compaction>(&o)) {
      into.clear();
      into.push_back(std::move(c->snapshot));
    } else {
      into.push_back(std::move(std::get<std::vector<std::byte>>(o)));
    }
  }

  std::vector<std::vector<std::byte>> synced_;
  std::vector<op> pending_;
  std::size_t pending_bytes_ = 0;
  std::uint64_t syncs_ = 0;
};

}  // namespace converge::replication
