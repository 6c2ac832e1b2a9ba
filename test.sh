#!/bin/sh
# Install what is missing, build, and run every test (doctest via ctest, pytest,
# and the long exhaustive checks). Pass `-LE long` to skip the long ones.
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh
./scripts/build.sh
cd build
exec ctest --output-on-failure --timeout 1500 "$@"
