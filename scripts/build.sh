#!/bin/sh
# Configures (once) and builds lpsim in ./build, Release, against Debian's /usr/bin/python3.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLPSIM_PYTHON=/usr/bin/python3 >/dev/null
fi
cmake --build build -j "$(nproc)"
