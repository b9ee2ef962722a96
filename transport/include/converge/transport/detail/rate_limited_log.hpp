#pragma once
/// @file
/// A log sink that lets through a few lines per second and counts the rest,
/// so a flood of bad messages cannot flood stderr.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace converge::transport::detail {

class rate_limited_log {
 public:
  using sink = std::function<void(std::string_view)>;

  explicit rate_limited_log(sink s, int per_second = 5) : sink_(std::move(s)), per_second_(per_second) {}

  void operator()(std::string_view line) {
    if (!sink_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - window_ >= std::chrono::seconds(1)) {
      if (suppressed_ > 0) {
        sink_("(" + std::to_string(suppressed_) + " similar messages suppressed)");
      }
      window_ = now;
      in_window_ = 0;
      suppressed_ = 0;
    }
    if (in_window_ < per_second_) {
      ++in_window_;
      sink_(line);
    } else {
      ++suppressed_;
    }
  }

 private:
  sink sink_;
  int per_second_;
  std::chrono::steady_clock::time_point window_{};
  int in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace converge::transport::detail
