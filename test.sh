#!/bin/sh
# Install what is missing, build, and run every test (doctest via ctest, pytest,
# and the long exhaustive checks). Pass `-LE long` to skip the long ones: extra
# arguments go to this first ctest. Then the C++ doctest suites again under
# AddressSanitizer + UndefinedBehaviorSanitizer in ./build-asan
# (scripts/sanitize.sh); LPSIM_SANITIZE=0 skips that step. Both steps always
# run; the exit status is non-zero when either fails.
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh
./scripts/build.sh
status=0
(cd build && ctest --output-on-failure --timeout 1500 "$@") || status=$?
if [ "${LPSIM_SANITIZE:-1}" != 0 ]; then
  echo "lpsim: C++ suites under ASan+UBSan (scripts/sanitize.sh)"
  ./scripts/sanitize.sh || status=$?
fi
exit "$status"
