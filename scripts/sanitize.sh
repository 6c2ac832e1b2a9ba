#!/bin/sh
# The C++ doctest suites under AddressSanitizer + UndefinedBehaviorSanitizer
# (GCC), in ./build-asan: configured once, RelWithDebInfo (-O2 -g), only the
# test executables built (no Python module, no benches, no CLI). ./test.sh
# runs it after the normal ctest; extra arguments go to this ctest.
#
# What runs: the ctest entries labelled "quick" that are C++ only, i.e. all
# but the two pytest entries (pytest: the Python module; experiments: the CLI
# through pytest), which would need the interpreter run under an ASan
# runtime preloaded into it.
#
# Time on the 2-core machine: about 8 minutes from scratch (build 3.5, tests
# 4.5 with two suites at a time; the longest are arith_exhaustive_float,
# ~150 s, and nn, ~125 s), about 4.5 once built; with the ~12 minutes of the
# normal ./test.sh that keeps CI near 20 minutes, so every quick C++ suite
# runs and no subset is needed.
#
# Every report is fatal: halt_on_error=1 and -fno-sanitize-recover=undefined
# make the first sanitizer report abort the test process (ctest then shows it
# failed, with the report and a symbolized stack in its output).
#
# Leaks: LeakSanitizer is on (detect_leaks=1). libgomp keeps its thread pool
# and per-thread team state allocated until exit by design; LSan scans the
# threads' stacks and libgomp's globals, so this is not reported on this
# toolchain (GCC 12, Debian 12) and no suppression file is needed. Should a
# future libgomp be reported, add "leak:libgomp.so" to a suppression file
# passed with LSAN_OPTIONS=suppressions=... here, with the reason.
set -eu
cd "$(dirname "$0")/.."
B=build-asan
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# -Wno-maybe-uninitialized: GCC's instrumentation makes that warning fire
# falsely (here inside Boost.Multiprecision inlined into the test oracle;
# GCC's manual warns that -fsanitize=address can give false warnings). The
# Release build in ./build keeps it, as an error; every other warning stays
# an error here too.
WARN="-Wno-maybe-uninitialized"
if [ ! -f "$B/CMakeCache.txt" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLPSIM_PYTHON=/usr/bin/python3 \
    -DCMAKE_CXX_FLAGS="$SAN $WARN" -DCMAKE_EXE_LINKER_FLAGS="$SAN" >/dev/null
fi
cmake --build "$B" -j "$(nproc)" --target test_arith test_sim test_data test_nn

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:print_stacktrace=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:report_error_type=1"
# The suites side by side (-j): most of their time is single-threaded. Two
# OpenMP threads each, sleeping rather than spinning when idle, so that two
# suites share the cores without slowing each other down.
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
cd "$B"
exec ctest --output-on-failure --timeout 1500 -j "$(nproc)" -L quick -E '^(pytest|experiments)$' "$@"
