#!/usr/bin/env bash
# Proves the packaging the way {fmt}'s test/find-package-test does: stages an
# install of this source tree, then builds and runs three consumer projects
# against it, each with a core program and (when the transport and the
# storage layer are installed) a transport program and a storage program:
#   pkgconfig/  a compiler and `pkg-config --cflags converge`
#   meson/      dependency('converge'): first from the staged install (via
#               pkg-config), then as a subproject of the source tree
#   cmake/      find_package(converge CONFIG REQUIRED), against the staged
#               install after moving it elsewhere (the package is relocatable)
#
#   tests/consumers/run.sh [WORKDIR]     # default: a fresh temporary dir
#
# Staging compiles nothing: `meson install --tags devel --no-rebuild` copies
# the headers, pkg-config files and CMake package. Needs meson, ninja,
# pkg-config and cmake; CXX picks the compiler (default c++).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
here="$src/tests/consumers"
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/converge-consumers.XXXXXX")}
mkdir -p "$work"
work=$(cd "$work" && pwd)
export CXX=${CXX:-c++}
step() { printf '\n--- %s (%ss)\n' "$*" "$SECONDS"; }
for tool in meson ninja pkg-config cmake "$CXX"; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found"; exit 77; }
done

step "stage an install into $work/prefix"
for d in build-stage prefix moved pkgconfig meson-installed meson-sub meson-sub-src src cmake; do rm -rf "${work:?}/$d"; done
meson setup "$work/build-stage" "$src" --prefix="$work/prefix" \
  -Dtests=false -Dexamples=false -Dbench=false >"$work/stage-setup.log" ||
  { cat "$work/stage-setup.log"; exit 1; }
meson install -C "$work/build-stage" --tags devel --no-rebuild --quiet
stage_pc="$work/prefix/share/pkgconfig"
test -f "$stage_pc/converge.pc"
test -f "$work/prefix/share/cmake/converge/converge-config.cmake"
test -f "$work/prefix/include/converge/converge.hpp"
have_storage=0
[ -f "$stage_pc/converge-storage.pc" ] && have_storage=1
if [ -f "$stage_pc/converge-transport.pc" ]; then
  have_transport=1
else
  have_transport=0
  echo "transport not installed (no libzmq3-dev/cppzmq-dev at configure): transport consumers skipped"
fi

step "pkg-config consumer"
PKG_CONFIG_PATH="$stage_pc" "$here/pkgconfig/build.sh" "$work/pkgconfig"

step "meson consumer: dependency('converge') from the staged install"
PKG_CONFIG_PATH="$stage_pc" meson setup "$work/meson-installed" "$here/meson" >"$work/meson-installed.log" ||
  { cat "$work/meson-installed.log"; exit 1; }
grep -q "Run-time dependency converge found: YES" "$work/meson-installed.log" ||
  { echo "meson did not find the installed converge by pkg-config"; cat "$work/meson-installed.log"; exit 1; }
ninja -C "$work/meson-installed" >/dev/null
"$work/meson-installed/core"
[ "$have_transport" = 0 ] || "$work/meson-installed/transport"
[ "$have_storage" = 0 ] || "$work/meson-installed/storage"

step "meson consumer: dependency('converge') as a subproject"
# A copy of the consumer, so that the subprojects/converge link never lands
# in the source tree; the link points at the source tree itself.
cp -r "$here/meson" "$work/meson-sub-src"
cp -r "$here/src" "$work/src"
rm -rf "$work/meson-sub-src/subprojects/converge"
ln -s "$src" "$work/meson-sub-src/subprojects/converge"
env -u PKG_CONFIG_PATH meson setup "$work/meson-sub" "$work/meson-sub-src" --force-fallback-for=converge,converge-transport,converge-storage \
  >"$work/meson-sub.log" || { cat "$work/meson-sub.log"; exit 1; }
grep -q "Executing subproject converge" "$work/meson-sub.log" ||
  { echo "meson did not use converge as a subproject"; cat "$work/meson-sub.log"; exit 1; }
ninja -C "$work/meson-sub" >/dev/null
"$work/meson-sub/core"
[ "$have_transport" = 0 ] || "$work/meson-sub/transport"
[ "$have_storage" = 0 ] || "$work/meson-sub/storage"

step "CMake consumer: find_package(converge CONFIG REQUIRED), installed tree moved"
mv "$work/prefix" "$work/moved"
components=""
[ "$have_transport" = 1 ] || components="-DCONVERGE_CONSUMER_CORE_ONLY=ON"
cmake -S "$here/cmake" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/moved" $components \
  -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/cmake" >/dev/null
"$work/cmake/core"
[ "$have_transport" = 0 ] || "$work/cmake/transport"
[ "$have_storage" = 0 ] || "$work/cmake/storage"

step "all consumers built and ran"
