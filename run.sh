#!/bin/sh
# The main job: install what is missing, build, and run lpsim on the default data.
# Extra arguments go to the main job (see `build/experiments/lpsim --help`).
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh
./scripts/build.sh
exec build/experiments/lpsim demo "$@"
