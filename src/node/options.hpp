#pragma once
/// @file
/// Command-line parsing of `converge-node`.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace converge_node {

/// A bad command line: printed on one line, exit status 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct options {
  bool help = false;
  bool keygen = false;
  std::uint64_t id = 0;
  std::vector<std::string> bind;
  std::vector<std::string> peers;
  std::chrono::milliseconds gossip{50};
  std::chrono::milliseconds heartbeat{500};
  std::string curve_key;
  std::string curve_allow;
  std::size_t max_message_bytes = std::size_t{1} << 20;
  bool daemon = false;
  bool quiet = false;
};

/// Parses a decimal number: digits only (no sign, no spaces, no trailing
/// text), no overflow, at most `max`. Nullopt when it is not one.
std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t max = UINT64_MAX);

/// Parses `argv` (without the program name). Throws `usage_error`.
options parse_options(const std::vector<std::string_view>& args);

/// The `--help` text.
std::string usage();

}  // namespace converge_node
