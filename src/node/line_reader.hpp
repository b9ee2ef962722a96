#pragma once
/// @file
/// Cuts converge-node's standard input into command lines of bounded length.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace converge_node {

/// Cuts a byte stream, fed in chunks of any size, into lines of at most
/// `max_line` bytes, the newline not counted. A longer line is reported once,
/// as soon as it is known to be too long, and skipped up to its newline: it
/// never holds more than `max_line` bytes, and the limit is exact whatever
/// the chunks are.
class line_reader {
 public:
  enum class kind { line, too_long };

  explicit line_reader(std::size_t max_line) : max_(max_line) {}

  /// Feeds `bytes`; calls `on(kind, std::string_view line)` for every line
  /// completed and every line found too long (with an empty view), in order.
  /// Stops and returns false as soon as `on` returns false.
  template <class F>
  bool feed(std::string_view bytes, F&& on) {
    while (!bytes.empty()) {
      const auto nl = bytes.find('\n');
      const bool complete = nl != std::string_view::npos;
      const std::string_view piece = bytes.substr(0, nl);
      bytes = complete ? bytes.substr(nl + 1) : std::string_view{};
      if (skipping_) {
        skipping_ = !complete;
        continue;
      }
      if (piece.size() > max_ - partial_.size()) {
        partial_.clear();
        skipping_ = !complete;
        if (!on(kind::too_long, std::string_view{})) return false;
        continue;
      }
      if (!complete) {
        partial_.append(piece);
      } else if (partial_.empty()) {
        if (!on(kind::line, piece)) return false;
      } else {
        partial_.append(piece);
        const std::string line = std::exchange(partial_, {});
        if (!on(kind::line, std::string_view(line))) return false;
      }
    }
    return true;
  }

  /// At the end of the input: calls `on` for a last line that had no
  /// newline, if any. Returns what `on` returned, or true.
  template <class F>
  bool finish(F&& on) {
    const bool skipped = std::exchange(skipping_, false);
    if (skipped || partial_.empty()) return true;
    const std::string line = std::exchange(partial_, {});
    return on(kind::line, std::string_view(line));
  }

 private:
  std::size_t max_;
  std::string partial_;    // the current line so far, at most max_ bytes
  bool skipping_ = false;  // inside a line already reported too long
};

}  // namespace converge_node
