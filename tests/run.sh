#!/usr/bin/env bash
# Runs every test suite and ends with one line "N passed, N failed".
#   tests/run.sh BUILD_DIR SANITIZER_BUILD_DIR
# Unit and CLI tests run against the ASan/UBSan build, so any memory error or
# undefined behaviour on malformed input fails the run; a few CLI tests also
# exercise the release binary that `make demo` uses.
set -u
BUILD=${1:-build}
SAN=${2:-build-san}
here=$(cd "$(dirname "$0")" && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}
export MK_LSAN_SUPP="$here/lsan.supp"
export LSAN_OPTIONS="suppressions=$MK_LSAN_SUPP"
passed=0
failed=0
summary_re='^([0-9]+) passed, ([0-9]+) failed$'

run_suite() {
    local name=$1; shift
    local log
    log=$(mktemp)
    echo "== $name"
    "$@" 2>&1 | tee "$log" | grep -vE "$summary_re"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E "$summary_re" "$log" | tail -n 1)
    if [[ $line =~ $summary_re ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
        echo "[$name] ${BASH_REMATCH[1]} passed ${BASH_REMATCH[2]} failed (exit $rc)"
        if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
            echo "FAIL $name: exited $rc with no failed test (crash or sanitizer report?)"
            failed=$((failed + 1))
        fi
    else
        echo "FAIL $name: no summary line (exit $rc)"
        failed=$((failed + 1))
    fi
    rm -f "$log"
}

run_suite unit "$SAN/unit_tests"
run_suite cli bash "$here/cli/cli_tests.sh" "$SAN/moekit" "$BUILD/moekit"
run_suite scale bash "$here/cli/scale_tests.sh" "$SAN/moekit" "$BUILD/moekit"
run_suite forward bash "$here/cli/forward_tests.sh" "$SAN/moekit" "$BUILD/moekit"
run_suite plan bash "$here/cli/plan_tests.sh" "$SAN/moekit"
run_suite faults bash "$here/cli/fault_tests.sh" "$SAN/moekit" "$BUILD/moekit"
run_suite pack bash "$here/cli/pack_tests.sh" "$SAN/moekit"
run_suite report bash "$here/cli/report_test.sh" "$SAN/moekit"
run_suite fuzz bash "$here/fuzz/run.sh" --smoke
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
