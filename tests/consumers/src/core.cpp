// A consumer of the installed core: types, composition, wire and JSON, found
// through the package under test (CMake, meson or pkg-config).
#include <converge/converge.hpp>

#include <cstdio>
#include <string>

int main() {
  const converge::replica_id r{1};
  converge::or_set<std::string> here, there;
  const auto delta = here.insert(r, "installed");
  there.join(converge::decode<converge::or_set<std::string>>(converge::encode(delta)));
  if (!(here == there) || !there.contains("installed")) return 1;
  std::printf("consumer core: %s\n", converge::to_json(there).c_str());
}
