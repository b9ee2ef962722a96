#pragma once
/// @file
/// `converge::storage::storage_error`: a `replication::journal_error` that
/// names the file at fault, first: `DIR/data.mdb: record 12: checksum
/// mismatch`. Every error of the storage layer is one, so a caller that
/// knows only journals catches `journal_error` and still prints the path.

#include "converge/replication/journal.hpp"

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace converge::storage {

/// A journal error located in a file (and, when known, a record).
class storage_error : public replication::journal_error {
 public:
  /// `path: what`, or `path: record N: what` when `record` is given.
  storage_error(std::filesystem::path path, const std::string& what, std::optional<std::size_t> record = {})
      : replication::journal_error(what, record),
        path_(std::move(path)),
        message_(path_.string() + ": " + replication::journal_error::what()) {}
  /// The same error, located in `path` (the record index is kept).
  storage_error(std::filesystem::path path, const replication::journal_error& e)
      : replication::journal_error(e), path_(std::move(path)), message_(path_.string() + ": " + e.what()) {}

  /// `journal_error`'s message would put the record first; ours puts the file
  /// first, which is what an operator looks for.
  [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }
  /// The file (or directory) at fault.
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  std::string message_;
};

}  // namespace converge::storage
