#!/bin/sh
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) in ./build-fuzz
# and runs each for a while: scripts/fuzz.sh [seconds] [target...]
#   seconds  per target (default 60); a long run is e.g. `scripts/fuzz.sh 1800`
#   target   fuzz_format fuzz_mac fuzz_config_toml fuzz_npy fuzz_idx fuzz_cifar
#            (default: all), with or without the fuzz_ prefix
# Seeds come from fuzz/corpus/<target>/ (small files taken from the test
# suites and experiments/configs); what the fuzzer adds goes to
# build-fuzz/corpus/<target>/ and is reused by the next run. Each finding
# (crash, sanitizer report, broken invariant, hang past the per-input timeout,
# memory past -rss_limit_mb/-malloc_limit_mb) is kept as
# fuzz/findings/<target>/{crash,timeout,oom}-<sha1>; reproduce one with
# `build-fuzz/fuzz/<target> fuzz/findings/<target>/<file>`. libFuzzer runs in
# fork mode, so one run goes on past a finding and collects the others.
# Not part of ./test.sh or CI. Exits 1 when a run left findings.
set -eu
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
ALL="fuzz_format fuzz_mac fuzz_config_toml fuzz_npy fuzz_idx fuzz_cifar"
TARGETS=""
for t in "$@"; do
  case "$t" in fuzz_*) ;; *) t="fuzz_$t" ;; esac
  case " $ALL " in *" $t "*) TARGETS="$TARGETS $t" ;; *) echo "fuzz.sh: unknown target $t (targets: $ALL)" >&2; exit 2 ;; esac
done
[ -n "$TARGETS" ] || TARGETS=$ALL
case "$SECONDS_EACH" in '' | *[!0-9]*) echo "fuzz.sh: seconds must be a whole number, not $SECONDS_EACH" >&2; exit 2 ;; esac

# The project's packages plus clang, its fuzzing/sanitizer runtimes and
# OpenMP (only this script needs them; the main build is GCC).
./scripts/deps.sh clang-14 libclang-rt-14-dev libomp-14-dev

B=build-fuzz
if [ ! -f "$B/CMakeCache.txt" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_C_COMPILER=clang-14 -DLPSIM_FUZZ=ON -DLPSIM_PYTHON=/usr/bin/python3 >/dev/null
fi
# shellcheck disable=SC2086
cmake --build "$B" -j "$(nproc)" --target $TARGETS

# Fatal sanitizer reports with stacks; leaks are findings too (libFuzzer's
# -detect_leaks, on by default).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export OMP_NUM_THREADS=1

summary=""
found_any=0
for t in $TARGETS; do
  work="$B/corpus/$t"
  findings="fuzz/findings/$t"
  mkdir -p "$work" "$findings"
  before=$(ls "$findings" | wc -l)
  log="$B/$t.log"
  echo "fuzz.sh: $t for ${SECONDS_EACH}s (log: $log)"
  # -timeout: seconds per input (a hang); -rss_limit_mb / -malloc_limit_mb: a
  # huge allocation. -dict: the spelling grammar's tokens where there is one.
  dict=""
  [ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
  # shellcheck disable=SC2086
  "$B/fuzz/$t" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -artifact_prefix="$findings/" $dict "$work" "fuzz/corpus/$t" >"$log" 2>&1 || true
  # The last status line of fork mode: "#<execs>: cov: .. exec/s <n> oom/timeout/crash: a/b/c time: <s>s ..."
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -n 1 || true)
  execs=$(echo "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
  secs=$(echo "$last" | sed -n 's/.* time: \([0-9]*\)s.*/\1/p')
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  otc=$(echo "$last" | sed -n 's/.*oom\/timeout\/crash: \([0-9/]*\).*/\1/p')
  rate="?"
  [ -n "$execs" ] && [ -n "$secs" ] && [ "$secs" -gt 0 ] && rate=$((execs / secs))
  after=$(ls "$findings" | wc -l)
  new=$((after - before))
  [ "$new" -gt 0 ] && found_any=1
  line=$(printf '%-18s %12s execs %9s exec/s  cov %6s  oom/timeout/crash %-7s  new findings %3d (%d kept in %s)' \
    "$t" "${execs:-?}" "$rate" "${cov:-?}" "${otc:-?}" "$new" "$after" "$findings")
  echo "$line"
  summary="$summary$line
"
  if ! grep -qE '^#[0-9]+: cov:' "$log"; then
    echo "fuzz.sh: $t did not run; the end of its log:" >&2
    tail -n 30 "$log" >&2
    found_any=1
  fi
done
echo
echo "fuzz.sh: ${SECONDS_EACH}s per target"
printf '%s' "$summary"
exit "$found_any"
