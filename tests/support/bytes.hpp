// Byte strings written out in tests: bytes({0x01, 0xff}).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <vector>

namespace test {

inline std::vector<std::byte> bytes(std::initializer_list<int> xs) {
  std::vector<std::byte> out;
  out.reserve(xs.size());
  for (int x : xs) out.push_back(static_cast<std::byte>(x));
  return out;
}

}  // namespace test
