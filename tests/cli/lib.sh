# Shared by the CLI test scripts (sourced): a temporary folder removed on
# exit, the pass/fail counters, and one line per check - "ok   NAME" or
# "FAIL NAME: why" - so each script can end with finish's
# "N passed, N failed".
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# run NAME EXPECTED_EXIT CMD...: runs CMD, keeps stdout/stderr in $out/$err;
# a different exit status is a failure of NAME.
run() {
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
    if [ "$rc" -ne "$want" ]; then
        bad "$name" "exit $rc, expected $want; stderr: $(head -c 600 "$tmp/err")"
        return 1
    fi
    return 0
}

finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
