#!/bin/sh
# The main job: install what is missing, build, and run lpsim on the default data.
# Extra arguments go to the main job (see `build/experiments/lpsim --help`).
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh
./scripts/build.sh
# Default: LeNet-5 on Fashion-MNIST with int8 weights, activations and errors
# (min-max scaling, stochastic rounding of errors), fp32 accumulation; about
# 4 minutes on 2 cores. Arguments replace the defaults' values (see --help).
exec build/experiments/lpsim train --model lenet5 --epochs 8 --lr 0.05 \
  --w int8/minmax/channel --a int8/minmax/tensor --e int8/minmax/tensor --e-round sr "$@"
