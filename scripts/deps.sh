#!/bin/sh
# Installs every Debian package lpsim builds, tests and runs with, if missing.
# Idempotent: does nothing (and needs no network) when all are present.
# Extra arguments are further packages (scripts/fuzz.sh passes clang's).
set -eu
PKGS="build-essential cmake ninja-build pkg-config
  libeigen3-dev libboost-dev pybind11-dev doctest-dev libhdf5-dev
  libcli11-dev libtomlplusplus-dev libfmt-dev
  libopenblas0-pthread zlib1g-dev iverilog
  python3 python3-dev python3-numpy python3-pytest python3-h5py python3-distributed python3-tqdm python3-pandas
  python3-matplotlib python3-nbclient python3-nbformat python3-ipykernel python3-torch
  dataset-fashion-mnist fortunes-min $*"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "lpsim: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
