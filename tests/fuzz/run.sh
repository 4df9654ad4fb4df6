#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of tests/fuzz/.
#   tests/fuzz/run.sh [--smoke] [--build-only] [SECONDS] [TARGET...]
# TARGET is a name such as "safetensors" or "fuzz_safetensors" (default: all).
# Each target runs for SECONDS (default 60; --smoke: 4, with -seed=1 so that
# smoke runs follow the same mutation sequence every time) on a copy of its seed
# corpus tests/fuzz/corpus/TARGET in a temporary work folder, so the committed
# corpus is never modified.  Targets run one after the other, one process at a
# time.  Prints one line per target,
#   ok   fuzz_NAME: N execs, 0 crashes
#   FAIL fuzz_NAME: what went wrong
# and ends with "N passed, N failed"; exits 1 on any crash, leak, timeout,
# out-of-memory or build failure.  On a failure the work folder (log, crashing
# input) is kept and named.
#
# Environment:
#   CLANG               compiler (default clang; needs -fsanitize=fuzzer)
#   MK_FUZZ_BUILD       build folder (default <repo>/build-fuzz)
#   MK_FUZZ_WORKDIR     use (and keep) this work folder instead of a temporary one
#   MK_FUZZ_TIMEOUT     per-input time limit in seconds (default 10)
#   MK_FUZZ_ARGS        extra libFuzzer flags (e.g. "-seed=1")
#   MK_FUZZ_CFLAGS      extra compiler flags (e.g. -fno-sanitize=alignment to fuzz
#                       past a known misaligned load; use another MK_FUZZ_BUILD)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ALL_TARGETS="safetensors index config recipe catalog hidden_states"

smoke=0
build_only=0
secs=""
targets=()
for a in "$@"; do
    case $a in
    --smoke) smoke=1 ;;
    --build-only) build_only=1 ;;
    -h | --help) sed -n '2,/^set -u/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    '' | *[!0-9]*)
        t=${a#fuzz_}
        case " $ALL_TARGETS " in
        *" $t "*) targets+=("$t") ;;
        *) echo "run.sh: unknown target or option '$a' (targets: $ALL_TARGETS)" >&2; exit 2 ;;
        esac
        ;;
    *) secs=$a ;;
    esac
done
[ ${#targets[@]} -eq 0 ] && read -r -a targets <<<"$ALL_TARGETS"
[ -z "$secs" ] && { [ $smoke -eq 1 ] && secs=4 || secs=60; }

passed=0
failed=0
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}
fail_all() { # the tool chain is missing: one line, then stop
    echo "FAIL fuzz: $*"
    failed=$((failed + 1))
    finish
}

CLANG=${CLANG:-clang}
BUILD=${MK_FUZZ_BUILD:-$root/build-fuzz}
command -v "$CLANG" >/dev/null 2>&1 || fail_all "$CLANG not found (libFuzzer targets need clang with -fsanitize=fuzzer)"
command -v pkg-config >/dev/null 2>&1 || fail_all "pkg-config not found"
PKG_CFLAGS=$(pkg-config --cflags jansson yaml-0.1 libxxhash 2>/dev/null) &&
    PKG_LIBS=$(pkg-config --libs jansson yaml-0.1 libxxhash 2>/dev/null) ||
    fail_all "pkg-config cannot find jansson, yaml-0.1 or libxxhash"
mkdir -p "$BUILD/obj" || fail_all "cannot create $BUILD"

# Is libFuzzer there?  (Checked once per compiler, cached in the build folder.)
probe_stamp="$BUILD/libfuzzer-ok"
if [ ! -f "$probe_stamp" ] || [ "$(cat "$probe_stamp")" != "$(command -v "$CLANG")" ]; then
    printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        >"$BUILD/probe.c"
    if ! out=$("$CLANG" -fsanitize=fuzzer,address,undefined "$BUILD/probe.c" -o "$BUILD/probe" 2>&1); then
        fail_all "$CLANG cannot build a libFuzzer target (-fsanitize=fuzzer,address,undefined): $(echo "$out" | grep -m1 -i error)"
    fi
    command -v "$CLANG" >"$probe_stamp"
fi

# ---- build ------------------------------------------------------------------
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-std=c11 -g -O1 -D_GNU_SOURCE -ffp-contract=off -fno-omit-frame-pointer -I$root/include -I$root $PKG_CFLAGS ${MK_FUZZ_CFLAGS:-}"
flags_now="$CLANG $SAN $CFLAGS"
if [ "$(cat "$BUILD/flags" 2>/dev/null)" != "$flags_now" ]; then
    rm -f "$BUILD"/obj/*.o "$BUILD"/obj/*.d "$BUILD"/fuzz_*
    echo "$flags_now" >"$BUILD/flags"
fi

# Extra flags for one source file.
src_flags() {
    case $1 in
    kernels/quant_avx2.c) echo "-mavx2 -mf16c" ;;
    kernels/quant_avx512.c) echo "-mavx512f -mavx512bw -mavx512vl -mavx2 -mf16c" ;;
    lib/forward.c | tools/*.c) echo "-fopenmp $(pkg-config --cflags openblas 2>/dev/null)" ;;
    esac
}

# True when $1 (object) is missing or older than a file its .d lists.
stale() {
    local obj=$1 dep
    [ -f "$obj" ] && [ -f "${obj%.o}.d" ] || return 0
    for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "${obj%.o}.d"); do
        [ -e "$dep" ] && [ ! "$dep" -nt "$obj" ] || return 0
    done
    return 1
}

# Compiles repo-relative source $1; prints the object path.  Library code is
# instrumented (coverage + ASan/UBSan).  Kernels the compiler rejects (clang
# 14 does not know __builtin_cpu_supports("f16c")) are built uninstrumented
# with cc instead: the parsers never run them, they only have to link.
compile() {
    local src=$1 obj flags log
    obj="$BUILD/obj/$(echo "${src%.c}" | tr / _).o"
    echo "$obj"
    stale "$obj" || return 0
    # shellcheck disable=SC2046
    flags="$(src_flags "$src")"
    log="${obj%.o}.log"
    # shellcheck disable=SC2086
    if "$CLANG" $SAN -fsanitize=fuzzer-no-link $CFLAGS $flags -MMD -MF "${obj%.o}.d" \
        -c "$root/$src" -o "$obj" >"$log" 2>&1; then
        return 0
    fi
    case $src in
    kernels/*)
        # shellcheck disable=SC2086
        cc -std=c11 -g -O1 -D_GNU_SOURCE -ffp-contract=off -I"$root/include" -I"$root" $flags \
            -MMD -MF "${obj%.o}.d" -c "$root/$src" -o "$obj" >>"$log" 2>&1 && return 0 ;;
    esac
    rm -f "$obj"
    return 1
}

# Sources and libraries per target.
target_srcs() {
    local f
    (cd "$root" && for f in formats/*.c; do echo "$f"; done)
    echo kernels/convert.c kernels/quant_ref.c kernels/route.c kernels/quant_dispatch.c \
        kernels/quant_avx2.c kernels/quant_avx512.c | tr ' ' '\n'
    echo "tests/fuzz/fuzz_$1.c"
    [ "$1" = hidden_states ] && echo tools/cmd_forward.c tools/cli.c lib/forward.c | tr ' ' '\n'
}
target_libs() {
    local libs="$PKG_LIBS -lm -lpthread"
    [ "$1" = hidden_states ] && libs="-fopenmp $(pkg-config --libs openblas 2>/dev/null) $libs"
    echo "$libs"
}

build_target() { # prints "" on success, a reason otherwise
    local t=$1 bin="$BUILD/fuzz_$1" objs=() src obj relink=0
    for src in $(target_srcs "$t"); do
        if ! obj=$(compile "$src"); then
            echo "build failed: $src: $(grep -m1 -E 'error|Error' "${obj%.o}.log" 2>/dev/null || echo 'see log')"
            return
        fi
        objs+=("$obj")
        [ "$obj" -nt "$bin" ] && relink=1
    done
    [ -f "$bin" ] && [ $relink -eq 0 ] && return
    # shellcheck disable=SC2046
    if ! "$CLANG" -fsanitize=fuzzer,address,undefined "${objs[@]}" -o "$bin.tmp" \
        $(target_libs "$t") >"$BUILD/link_$t.log" 2>&1; then
        echo "link failed: $(grep -m1 -E 'error|undefined' "$BUILD/link_$t.log") (log: $BUILD/link_$t.log)"
        return
    fi
    mv -f "$bin.tmp" "$bin"
}

# ---- run ----------------------------------------------------------------------
if [ -n "${MK_FUZZ_WORKDIR:-}" ]; then
    work=$MK_FUZZ_WORKDIR
    mkdir -p "$work" || fail_all "cannot create $work"
    keep=1
else
    tmpbase=/dev/shm
    [ -d "$tmpbase" ] && [ -w "$tmpbase" ] || tmpbase=${TMPDIR:-/tmp}
    work=$(mktemp -d "$tmpbase/moekit-fuzzrun.XXXXXX") || fail_all "cannot create a work folder"
    keep=0
fi

max_len_of() { case $1 in safetensors) echo 262144 ;; *) echo 65536 ;; esac; }
dict_of() {
    case $1 in hidden_states) echo "$here/dict/safetensors.dict" ;; *) echo "$here/dict/$1.dict" ;; esac
}

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
for t in "${targets[@]}"; do
    name="fuzz_$t"
    why=$(build_target "$t")
    if [ -n "$why" ]; then
        echo "FAIL $name: $why"
        failed=$((failed + 1))
        continue
    fi
    [ $build_only -eq 1 ] && { echo "ok   $name: built ($BUILD/$name)"; passed=$((passed + 1)); continue; }
    corpus="$work/corpus/$t"
    arts="$work/artifacts/$t"
    rm -rf "$corpus" "$arts" "$work/tmp/$t"
    mkdir -p "$corpus" "$arts" "$work/tmp/$t"
    n_seeds=0
    if [ -d "$here/corpus/$t" ]; then
        cp -p "$here/corpus/$t"/* "$corpus"/ 2>/dev/null
        n_seeds=$(find "$corpus" -type f | wc -l)
    fi
    log="$work/$name.log"
    dict=$(dict_of "$t")
    extra_args=()
    [ -f "$dict" ] && extra_args=(-dict="$dict")
    [ $smoke -eq 1 ] && extra_args+=(-seed=1)
    # shellcheck disable=SC2086
    MK_FUZZ_TMP="$work/tmp/$t" "$BUILD/$name" -max_total_time="$secs" -max_len="$(max_len_of "$t")" \
        -rss_limit_mb=2048 -timeout="${MK_FUZZ_TIMEOUT:-10}" -print_final_stats=1 \
        -artifact_prefix="$arts/" "${extra_args[@]}" ${MK_FUZZ_ARGS:-} "$corpus" >"$log" 2>&1
    rc=$?
    rm -rf "$work/tmp/$t"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    if [ $rc -eq 0 ] && [ -n "$execs" ] && [ "$execs" -gt 0 ]; then
        echo "ok   $name: $execs execs, 0 crashes"
        passed=$((passed + 1))
        if [ $smoke -eq 0 ]; then
            n_now=$(find "$corpus" -type f | wc -l)
            kib=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1024}')
            echo "     corpus: $n_seeds seeds -> $n_now inputs ($kib KiB)"
        fi
        continue
    fi
    why=$(grep -m1 -E 'fuzz invariant failed' "$log" ||
        grep -m1 -E 'runtime error:' "$log" ||
        grep -m1 -E '^SUMMARY: ' "$log" ||
        grep -m1 -E 'ALARM: working on the last Unit|ERROR: libFuzzer' "$log" ||
        echo "exit status $rc: $(grep -v '^[[:space:]]*$' "$log" | tail -n 1)")
    art=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | sed 's/^Test unit written to //')
    echo "FAIL $name: ${why#"${why%%[![:space:]]*}"}; ${execs:-0} execs; log: $log${art:+; reproduce: $BUILD/$name $art}"
    failed=$((failed + 1))
    keep=1
done

if [ $keep -eq 1 ]; then
    [ $build_only -eq 1 ] || echo "work folder kept: $work"
else
    rm -rf "$work"
fi
finish
