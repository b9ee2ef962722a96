#pragma once
/// @file
/// `converge::consistency`: how many members an operation waits for, per
/// call (Akka Distributed Data's write/read levels). `local` is converge's
/// usual autonomy: this replica alone. The others ask for authority when the
/// caller wants it: `of(n)` members, a `majority` of the known members, or
/// `all` of them. Members are counted from membership (`replicator::
/// set_members`), never from configured links, and this replica is one of them.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace converge {

/// A consistency level: how many members must take part before an operation completes.
class consistency {
 public:
  enum class level : std::uint8_t { local, count, majority, all };

  /// This replica alone (the default: today's behaviour).
  static constexpr consistency local() noexcept { return consistency{level::local, 1}; }
  /// `n` members, this replica included; clamped to [1, members] by `required`.
  static constexpr consistency of(std::size_t n) noexcept { return consistency{level::count, n}; }
  /// More than half of the known members: `members / 2 + 1`.
  static constexpr consistency majority() noexcept { return consistency{level::majority, 0}; }
  /// Every known member.
  static constexpr consistency all() noexcept { return consistency{level::all, 0}; }

  /// Parses `local`, `majority` or `all`; nullopt for any other word.
  static std::optional<consistency> parse(std::string_view word) noexcept {
    if (word == "local") return local();
    if (word == "majority") return majority();
    if (word == "all") return all();
    return std::nullopt;
  }

  /// How many of `members` known members (this replica included, so at
  /// least 1) must take part.
  [[nodiscard]] constexpr std::size_t required(std::size_t members) const noexcept {
    members = std::max<std::size_t>(members, 1);
    switch (level_) {
      case level::local:
        return 1;
      case level::count:
        return std::clamp<std::size_t>(n_, 1, members);
      case level::majority:
        return members / 2 + 1;
      case level::all:
        return members;
    }
    return members;
  }

  [[nodiscard]] constexpr level kind() const noexcept { return level_; }
  /// True for `local`: nothing to wait for but this replica.
  [[nodiscard]] constexpr bool is_local() const noexcept { return level_ == level::local; }
  /// The level's name: `local`, `majority`, `all`, or `of(N)`.
  [[nodiscard]] std::string name() const {
    switch (level_) {
      case level::local:
        return "local";
      case level::count:
        return "of(" + std::to_string(n_) + ")";
      case level::majority:
        return "majority";
      case level::all:
        return "all";
    }
    return "?";
  }

  friend constexpr bool operator==(const consistency&, const consistency&) noexcept = default;

 private:
  constexpr consistency(level l, std::size_t n) noexcept : level_(l), n_(n) {}
  level level_;
  std::size_t n_;
};

}  // namespace converge
