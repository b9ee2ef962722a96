#pragma once
// What every fuzz harness shares: failing loudly, tracing, rendering states,
// and picking a type from a leading byte ({fmt}'s test/fuzzing layout: one
// harness per target, a leading byte that picks the type).

#include <converge/wire/json.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace converge_fuzz {

/// Prints what failed and aborts (the fuzzer records the input).
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "\n==== converge fuzz failure ====\n%s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// True when CONVERGE_FUZZ_TRACE is set: harnesses then record every step
/// (with the states involved) and print them on failure.
inline bool tracing() {
  static const bool on = std::getenv("CONVERGE_FUZZ_TRACE") != nullptr;
  return on;
}

/// Renders a state for a failure message.
template <class T>
std::string show(const T& x) {
  return converge::to_json(x, {.causal_metadata = true});
}

// ------------------------------------------------------------- type lists

template <class... Ts>
struct type_list {
  static constexpr std::size_t size = sizeof...(Ts);
};

template <class A, class B>
struct concat_lists;
template <class... As, class... Bs>
struct concat_lists<type_list<As...>, type_list<Bs...>> {
  using type = type_list<As..., Bs...>;
};
/// The types of list `A`, then those of list `B`.
template <class A, class B>
using concat = typename concat_lists<A, B>::type;

/// Calls `f(std::type_identity<T>{})` for the `i`-th type of the list (i < size).
template <class... Ts, class F>
void with_type(type_list<Ts...>, std::size_t i, F&& f) {
  std::size_t k = 0;
  (void)((k++ == i ? (f(std::type_identity<Ts>{}), true) : false) || ...);
}

}  // namespace converge_fuzz
