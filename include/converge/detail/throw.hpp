#pragma once
// Throwing the standard exceptions (std::length_error, std::overflow_error,
// std::invalid_argument) from the lattice types without <stdexcept>.
//
// Why: <stdexcept> brings <string>, about a third of what <or_set.hpp>
// costs to compile, for a few lines that run only on broken input or
// exhausted counters. libstdc++ already declares these throwers in a header
// that <vector> includes; elsewhere, <stdexcept> it is. The exception types
// callers catch are the same either way.

#include <cstddef>  // defines __GLIBCXX__ with libstdc++

#if defined(__GLIBCXX__)
#include <bits/functexcept.h>
#else
#include <stdexcept>
#endif

namespace converge::detail {

[[noreturn]] inline void throw_length_error(const char* what) {
#if defined(__GLIBCXX__)
  std::__throw_length_error(what);
#else
  throw std::length_error(what);
#endif
}

[[noreturn]] inline void throw_overflow_error(const char* what) {
#if defined(__GLIBCXX__)
  std::__throw_overflow_error(what);
#else
  throw std::overflow_error(what);
#endif
}

[[noreturn]] inline void throw_invalid_argument(const char* what) {
#if defined(__GLIBCXX__)
  std::__throw_invalid_argument(what);
#else
  throw std::invalid_argument(what);
#endif
}

}  // namespace converge::detail
