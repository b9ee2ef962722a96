#pragma once
/// @file
/// Strict decimal numbers, for the programs' options and commands.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace converge_cli {

/// Parses a decimal number: digits only (no sign, no spaces, no `0x`, no
/// trailing text), no overflow, at most `max`. Nullopt when it is not one.
/// (CLI11's own conversion reads `010` as octal, so the programs use this.)
inline std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t max = UINT64_MAX) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || v > max) return std::nullopt;
  return v;
}

}  // namespace converge_cli
