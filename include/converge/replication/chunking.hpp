#pragma once
/// @file
/// Cutting a payload larger than the message cap into parts, each a valid
/// delta ≤ the whole (so joining any subset of them is safe: nothing is lost
/// or resurrected), each encoding within the budget.

#include "converge/lattice.hpp"
#include "converge/wire/encode.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge::replication {

/// Cuts `x` into at most about `n` parts whose join is `x`: `converge::split`,
/// with a fallback for sets exposing `elements()` / `from_elements()`.
template <class State>
std::vector<State> split_payload(const State& x, std::size_t n) {
  std::vector<State> parts = converge::split(x, n);
  if constexpr (requires { State::from_elements(x.elements()); }) {
    if (parts.size() <= 1 && n > 1 && x.elements().size() > 1) {
      parts.clear();
      const auto& all = x.elements();
      const std::size_t per = (all.size() + n - 1) / n;
      std::remove_cvref_t<decltype(all)> chunk;
      for (const auto& v : all) {
        chunk.insert(chunk.end(), v);
        if (chunk.size() == per) parts.push_back(State::from_elements(std::exchange(chunk, {})));
      }
      if (!chunk.empty()) parts.push_back(State::from_elements(std::move(chunk)));
    }
  }
  return parts;
}

/// `converge::encode` as a function object.
struct encode_state {
  template <class State>
  std::vector<std::byte> operator()(const State& x) const {
    return converge::encode(x);
  }
};

/// The encoded parts of `x` (whose encoding is `encoded_size` bytes), each at
/// most `budget` bytes, at most `max_parts` of them; nullopt when `x` cannot
/// be cut that fine (an indivisible value larger than the budget). `encode`
/// makes a part's bytes (the replicator's adds the part's signatures).
template <class State, class Encode = encode_state>
std::optional<std::vector<std::vector<std::byte>>> cut_payload(const State& x, std::size_t encoded_size,
                                                               std::size_t budget, std::size_t max_parts,
                                                               Encode encode = {}) {
  const auto pieces_for = [&](std::size_t bytes) { return bytes / std::max<std::size_t>(budget, 1) + 2; };
  std::vector<std::vector<std::byte>> pieces;
  std::vector<State> work = split_payload(x, pieces_for(encoded_size));
  if (work.size() <= 1) return std::nullopt;
  while (!work.empty()) {
    State part = std::move(work.back());
    work.pop_back();
    std::vector<std::byte> bytes = encode(part);
    if (bytes.size() <= budget) {
      pieces.push_back(std::move(bytes));
    } else {
      std::vector<State> finer = split_payload(part, pieces_for(bytes.size()));
      if (finer.size() <= 1) return std::nullopt;
      for (State& f : finer) work.push_back(std::move(f));
    }
    if (pieces.size() + work.size() > max_parts) return std::nullopt;
  }
  return pieces;
}

}  // namespace converge::replication
