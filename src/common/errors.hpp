#pragma once
/// @file
/// How converge-node and converge-sim report a failure: one line on stderr.

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace converge_cli {

/// A bad command line, as one line of text (the program exits with status 2).
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Prints `PROGRAM: error: WHAT HINT` on stderr as one line, whatever `what`
/// holds.
inline void print_error(std::string_view program, std::string what, std::string_view hint = {}) {
  std::replace_if(
      what.begin(), what.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  std::fprintf(stderr, "%.*s: error: %s%.*s\n", static_cast<int>(program.size()), program.data(),
               what.c_str(), static_cast<int>(hint.size()), hint.data());
  std::fflush(stderr);
}

}  // namespace converge_cli
