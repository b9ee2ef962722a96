#!/usr/bin/env bash
# Builds and runs the consumers with nothing but pkg-config and a compiler,
# as a Makefile would:  PKG_CONFIG_PATH=<prefix>/share/pkgconfig build.sh OUTDIR
# shellcheck disable=SC2046,SC2086  # compiler flags from pkg-config and CXXFLAGS are meant to split
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
cxx=${CXX:-c++}
# converge needs C++20; like any pkg-config user, we choose the standard.
cxxflags=${CXXFLAGS:--std=c++20}
pc=${PKG_CONFIG:-pkg-config}
mkdir -p "$out"
"$cxx" $cxxflags $("$pc" --cflags converge) "$here/../src/core.cpp" -o "$out/core" $("$pc" --libs converge)
"$out/core"
if "$pc" --exists converge-transport; then
  "$cxx" $cxxflags $("$pc" --cflags converge-transport) "$here/../src/transport.cpp" -o "$out/transport" \
    $("$pc" --libs converge-transport)
  "$out/transport"
else
  echo "converge-transport.pc not installed: transport consumer skipped"
fi
if "$pc" --exists converge-storage; then
  "$cxx" $cxxflags $("$pc" --cflags converge-storage) "$here/../src/storage.cpp" -o "$out/storage" \
    $("$pc" --libs converge-storage)
  "$out/storage"
else
  echo "converge-storage.pc not installed: storage consumer skipped"
fi
