#pragma once
/// @file
/// What converge-node and converge-sim share around CLI11: strict decimal
/// numbers, help that opens with the program's own synopsis, and usage
/// errors that fit on one line (the programs print it and exit with status 2).

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errors.hpp"
#include "common/number.hpp"

namespace converge_cli {

/// Adds `name N`, a decimal number from `lo` to `hi` (`range`, when given,
/// spells the range for the error message), given at most once; `set`
/// receives it.
inline CLI::Option* add_number(CLI::App& app, const std::string& name, std::uint64_t lo, std::uint64_t hi,
                               std::function<void(std::uint64_t)> set, const std::string& description,
                               const std::string& type = "N", std::string range = {}) {
  if (range.empty()) range = std::to_string(lo) + " to " + std::to_string(hi);
  auto parse = [name, lo, hi, set = std::move(set), range = std::move(range)](const std::string& v) {
    const auto n = parse_number(v, hi);
    if (!n || *n < lo)
      throw CLI::ValidationError(name + " needs a number from " + range + ", not '" + v + "'");
    set(*n);
  };
  return app.add_option_function<std::string>(name, std::move(parse), description)->type_name(type);
}

/// Adds a flag that takes no value (`--flag=1` is refused, not read as true).
inline CLI::Option* add_flag(CLI::App& app, const std::string& names, bool& target,
                             const std::string& description) {
  return app.add_flag(names, target, description)->disable_flag_override();
}

/// CLI11's help, except that the top-level usage line is `synopsis`, and it
/// comes first, before the description.
class help_formatter : public CLI::Formatter {
 public:
  explicit help_formatter(std::string synopsis) : synopsis_(std::move(synopsis)) { column_width(26); }

  std::string make_usage(const CLI::App* app, std::string name) const override {
    if (app->get_parent() != nullptr) return CLI::Formatter::make_usage(app, std::move(name));
    return synopsis_ + "\n";
  }

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub || app->get_parent() != nullptr) {
      return CLI::Formatter::make_help(app, std::move(name), mode);
    }
    std::stringstream out;
    out << make_usage(app, name) << '\n'
        << make_description(app) << make_positionals(app) << make_groups(app, mode)
        << make_subcommands(app, mode) << '\n'
        << make_footer(app);
    return out.str();
  }

 private:
  std::string synopsis_;
};

namespace detail {

// CLI11's messages, said the way the rest of the program says things.
inline std::string readable(std::string what) {
  for (char& c : what) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  // "--id: At Most 1 required but received 2"
  if (const auto at = what.find(": At Most 1 required but received "); at != std::string::npos) {
    return what.substr(0, at) + " is given more than once";
  }
  // "--id: 1 required N missing"
  if (const auto at = what.find(": 1 required "); at != std::string::npos && what.ends_with(" missing")) {
    return what.substr(0, at) + " needs a value";
  }
  // "quiet was given a disallowed flag override"
  if (const auto at = what.find(" was given a disallowed flag override"); at != std::string::npos) {
    const std::string name = what.substr(0, at);
    return (name.starts_with("-") ? name : "--" + name) + " takes no value";
  }
  // "The following argument was not expected: x"
  if (what.size() > 1 && what[0] >= 'A' && what[0] <= 'Z' && what[1] >= 'a' && what[1] <= 'z') {
    what[0] = static_cast<char>(what[0] - 'A' + 'a');
  }
  return what;
}

}  // namespace detail

/// Parses `args` (without the program name) with `app`. Returns true when
/// help was asked for (the caller prints `app.help()`); throws `usage_error`
/// for anything else CLI11 refuses: an unknown option, a missing value, a
/// value refused by a check, a repeated single-valued option, an extra
/// positional argument.
inline bool parse(CLI::App& app, const std::vector<std::string_view>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    return true;
  } catch (const CLI::CallForAllHelp&) {
    return true;
  } catch (const CLI::ParseError& e) {
    throw usage_error(detail::readable(e.what()));
  }
  return false;
}

}  // namespace converge_cli
