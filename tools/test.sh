#!/bin/sh
# Builds fdbroker with warnings as errors and runs every test.
#   BUILD_DIR   build directory (default: build)
#   CMAKE_ARGS  extra arguments for cmake (e.g. -DFDBR_SANITIZE=ON)
set -eu
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "tools/test.sh: the tests need root (they drop privileges themselves)" >&2; exit 1; }
tools/deps.sh

build=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$build" -DFDBR_WERROR=ON ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
