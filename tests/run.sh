#!/usr/bin/env bash
# tests/run.sh BUILD_DIR LABEL
#
# Runs every test binary (BUILD_DIR/test_*) of one build, and with LABEL
# normal also the shell tests tests/test_*.sh, prints each one's
# output, counts the `ok - ` / `not ok - ` lines, and writes "PASSED FAILED"
# to BUILD_DIR/run.LABEL.totals for the Makefile to add up.  A binary that crashes,
# times out, or exits non-zero without a `not ok` line counts as one failed
# test named after the binary; so does one that reports no test at all.
#
# Exports CHMSTRESS (BUILD_DIR/chmstress, absolute) and CS_WORKLOAD_DIR (the
# repository's workloads/, absolute) for the stress tool's tests.
#
# LABEL picks the size scale (CHM_TEST_SCALE: normal 1, asan 0.25, tsan 0.25;
# a CHM_TEST_SCALE already in the environment wins) and the sanitizer options.
# TEST_TIMEOUT (seconds, default 300) bounds each binary.  CHM_EXPECTED_TESTS
# (names, set by the Makefile) lists the tests that should have a binary: a
# missing one counts as a failed test (it did not compile).
# Exit status: 0 when nothing failed, 1 otherwise.
set -uo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR LABEL" >&2
    exit 2
fi
dir=$1
label=$2
timeout_s=${TEST_TIMEOUT:-300}

case $label in
    normal) default_scale=1 ;;
    asan|tsan) default_scale=0.25 ;;
    valgrind) default_scale=0.05 ;;
    *) default_scale=1 ;;
esac
export CHM_TEST_SCALE=${CHM_TEST_SCALE:-$default_scale}
# Sanitizer reports must fail the test: abort / exit non-zero on the first one.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
# The stress tool's tests (test_cli, test_stress_*) run this build's own
# chmstress (the Makefile builds BUILD_DIR/chmstress with the same flags) on
# the repository's workload files.
repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=$(cd "$dir" 2>/dev/null && pwd || echo "$dir")
export CHMSTRESS="$build_dir/chmstress"
export CS_WORKLOAD_DIR="$repo_dir/workloads"

passed=0
failed=0
failed_names=()
phase_start=$(date +%s.%N)

echo "=== $label: $dir (CHM_TEST_SCALE=$CHM_TEST_SCALE, timeout ${timeout_s}s per binary)"

shopt -s nullglob
bins=()
for f in "$dir"/test_*; do
    [ -f "$f" ] && [ -x "$f" ] && bins+=("$f")
done
# Shell tests (tests/test_*.sh, of the scripts) run with the normal build only:
# the sanitizer and valgrind runs have nothing to add to them.
if [ "$label" = normal ]; then
    for f in "$repo_dir"/tests/test_*.sh; do
        [ -f "$f" ] && bins+=("$f")
    done
fi

# Tests the Makefile expected (CHM_EXPECTED_TESTS) whose binary is missing:
# they did not compile.
for name in ${CHM_EXPECTED_TESTS:-}; do
    if [ ! -x "$dir/$name" ]; then
        echo "not ok - $name (did not build: see the compiler errors above)"
        failed=$((failed + 1))
        failed_names+=("$label/$name: did not build")
    fi
done

if [ ${#bins[@]} -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "not ok - $label: no test binaries in $dir"
    failed=1
    failed_names+=("$label (no test binaries)")
fi

# ThreadSanitizer needs its fixed memory layout; on kernels with more ASLR
# entropy than it supports it dies at start-up, so TSan runs without ASLR.
wrap=()
if [ "$label" = tsan ] && command -v setarch >/dev/null 2>&1 &&
   setarch "$(uname -m)" -R true 2>/dev/null; then
    wrap=(setarch "$(uname -m)" -R)
fi

# valgrind: the normal build's binaries under memcheck; any leak (definite,
# indirect or possible) or memory error makes the binary exit 99.
if [ "$label" = valgrind ]; then
    wrap=(valgrind -q --leak-check=full
          --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
          --suppressions="$(cd "$(dirname "$0")" && pwd)/valgrind.supp")
fi

log=$(mktemp "${TMPDIR:-/tmp}/chm-test.XXXXXX")
trap 'rm -f "$log"' EXIT

for bin in "${bins[@]}"; do
    name=$(basename "$bin")
    echo "--- $label/$name"
    t0=$(date +%s.%N)
    # --kill-after: a binary that ignores SIGTERM still goes.
    # (the braces take bash's own "Aborted"/"Killed" notice: reported below)
    cmd=("$bin")
    [[ $bin == *.sh ]] && cmd=(bash "$bin")
    { timeout --kill-after=10 "$timeout_s" "${wrap[@]}" "${cmd[@]}" > "$log" 2>&1 < /dev/null; } 2>/dev/null
    rc=$?
    t1=$(date +%s.%N)
    cat "$log"
    ok=$(grep -c '^ok - ' "$log")
    nok=$(grep -c '^not ok - ' "$log")
    passed=$((passed + ok))
    failed=$((failed + nok))
    while IFS= read -r line; do
        failed_names+=("$label/$name: ${line#not ok - }")
    done < <(grep '^not ok - ' "$log")

    why=""
    if [ "$rc" -eq 124 ]; then
        why="TIMED OUT after ${timeout_s}s"
    elif [ "$rc" -eq 137 ]; then
        why="killed by SIGKILL (timed out after ${timeout_s}s and ignored SIGTERM, or out of memory)"
    elif [ "$rc" -eq 134 ]; then
        why="killed by SIGABRT (an assert, abort() or a sanitizer report: see above)"
    elif [ "$rc" -gt 128 ]; then
        why="killed by signal $((rc - 128)) (SIG$(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
    elif [ "$rc" -eq 66 ] && [ "$label" = tsan ]; then
        why="exited with status 66 (a ThreadSanitizer report: see above)"
    elif [ "$rc" -ne 0 ]; then
        why="exited with status $rc"
    fi
    if [ -n "$why" ] && [ "$nok" -eq 0 ]; then
        # A crash, sanitizer report or timeout with no failing test to blame.
        echo "not ok - $name ($why)"
        failed=$((failed + 1))
        failed_names+=("$label/$name: $why")
    elif [ -n "$why" ]; then
        echo "# $name $why"
    elif [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ]; then
        echo "not ok - $name (exited 0 but reported no test)"
        failed=$((failed + 1))
        failed_names+=("$label/$name: reported no test")
    fi
    printf '# %s/%s: %d ok, %d not ok, rc=%d, %.1f s\n' "$label" "$name" "$ok" "$nok" \
        "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
done

elapsed=$(awk -v a="$phase_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "=== $label: $passed ok, $failed not ok in ${elapsed}s"
for n in "${failed_names[@]}"; do
    echo "===   FAILED $n"
done
echo "$passed $failed" > "$dir/run.$label.totals"
[ "$failed" -eq 0 ]
