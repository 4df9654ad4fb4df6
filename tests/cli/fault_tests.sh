#!/usr/bin/env bash
# Faults during `convert`, with real processes: kill -9 at many points (and
# during merge), disk full, SIGINT/SIGTERM, input truncated or rewritten.
#   fault_tests.sh MOEKIT [RELEASE_MOEKIT]     -> "N passed, N failed"
set -u
MK=$(realpath "$1")
REL=$(realpath "${2:-$1}")
tmp=$(mktemp -d)
mnt=""
cleanup() { [ -n "$mnt" ] && umount "$mnt" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
same() { if diff -r "$2" "$3" >"$tmp/diff" 2>&1; then ok "$1"; else bad "$1" "$(head -3 "$tmp/diff")"; fi; }
no_temps() { ! ls -a "$1" 2>/dev/null | grep -q '\.tmp-'; }
no_publication() { [ ! -e "$1/model.safetensors.index.json" ] && [ ! -e "$1/config.json" ] && [ ! -e "$1/moekit.json" ]; }

src="$tmp/src"
"$MK" synth "$src" --arch deepseek-v3 >/dev/null
"$REL" convert "$src" "$tmp/ref" >/dev/null 2>&1

# --- kill -9 at deterministic points, then --resume: byte-identical and verified ---
# commit:N = after the N-th file's fsync, before its rename; published/journaled
# = after a file is renamed / journaled; band:N = mid-file (after N bands).
trials=0
for point in commit:1 commit:3 commit:7 commit:9 commit:10 commit:11 published:2 published:8 journaled:1 journaled:5 journaled:9; do
    d="$tmp/k-${point/:/-}"
    MOEKIT_TEST_CRASH=$point "$MK" convert "$src" "$d" >/dev/null 2>&1
    rc=$?
    trials=$((trials + 1))
    if [ "$rc" -ne 137 ]; then bad "kill_$point" "exit $rc, expected 137 (SIGKILL)"; continue; fi
    if "$MK" convert "$src" "$d" --resume >/dev/null 2>"$tmp/e" && "$MK" verify "$d" >/dev/null 2>>"$tmp/e"; then
        same "kill_${point}_resume_equals_clean" "$tmp/ref" "$d"
    else bad "kill_${point}_resume" "$(cat "$tmp/e")"; fi
done
# --- kill -9 at random moments of a longer run (release binary) ---
big="$tmp/big"
"$REL" synth "$big" --arch qwen3-moe --hidden 1024 --moe-inter 512 --experts 16 --layers 6 --shards 3 >/dev/null
"$REL" convert "$big" "$tmp/big-ref" >/dev/null 2>&1
RANDOM=7
for i in 1 2 3 4 5 6 7 8; do
    d="$tmp/bk-$i"
    delay=$(printf '0.%03d' $((RANDOM % 700)))
    "$REL" convert "$big" "$d" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    trials=$((trials + 1))
    if "$REL" convert "$big" "$d" --resume >/dev/null 2>"$tmp/e" && "$REL" verify "$d" >/dev/null 2>>"$tmp/e"; then
        same "random_kill_${i}_at_${delay}s_resume_equals_clean" "$tmp/big-ref" "$d"
    else bad "random_kill_$i" "$(cat "$tmp/e")"; fi
done
# --- kill -9 during merge, then merge again ---
for point in commit:1 commit:2 commit:3; do
    d="$tmp/m-${point/:/-}"
    for i in 0 1; do "$MK" convert "$src" "$d" --part "$i/2" >/dev/null 2>&1; done
    MOEKIT_TEST_CRASH=$point "$MK" merge "$d" >/dev/null 2>&1
    rc=$?
    trials=$((trials + 1))
    [ "$rc" -eq 137 ] || { bad "merge_kill_$point" "exit $rc"; continue; }
    if "$MK" merge "$d" >/dev/null 2>"$tmp/e"; then same "merge_kill_${point}_rerun_equals_clean" "$tmp/ref" "$d"
    else bad "merge_kill_${point}_rerun" "$(cat "$tmp/e")"; fi
done
echo "# $trials kill -9 trials"
[ "$trials" -ge 20 ] && ok "at_least_20_kill_trials" || bad at_least_20_kill_trials "$trials"

# --- disk full: a small tmpfs when root, else RLIMIT_FSIZE ---
full="$tmp/full"
mkdir -p "$full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=3m tmpfs "$full" 2>/dev/null; then
    mnt="$full"
    "$MK" convert "$src" "$full/out" >"$tmp/o" 2>"$tmp/e"
    rc=$?
    how=tmpfs
else
    (ulimit -f 2048; "$MK" convert "$src" "$full/out" >"$tmp/o" 2>"$tmp/e")
    rc=$?
    how=rlimit
fi
if [ "$rc" -ne 0 ] && [ "$(grep -c . "$tmp/e" | tail -1)" -ge 1 ] && grep -qE "No space left|File too large" "$tmp/e" &&
   no_temps "$full/out" && no_publication "$full/out"; then
    ok "disk_full_$how: $(tail -1 "$tmp/e" | cut -c1-100)"
else
    bad "disk_full_$how" "exit $rc; $(tail -2 "$tmp/e"); $(ls -a "$full/out" 2>&1 | tr '\n' ' ')"
fi
[ -n "$mnt" ] && { umount "$mnt"; mnt=""; }

# --- SIGINT / SIGTERM: stop within a second, temporaries removed, non-zero exit ---
for sig in INT TERM; do
    d="$tmp/sig-$sig"
    "$REL" convert "$big" "$d" >/dev/null 2>&1 &
    pid=$!
    sleep 0.3
    t0=$(date +%s%N)
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$rc" -ne 0 ] && [ "$ms" -lt 1000 ] && no_temps "$d" && no_publication "$d"; then
        ok "sig$sig stopped in ${ms} ms, exit $rc, no temporaries"
    else bad "sig$sig" "exit $rc after $ms ms; $(ls -a "$d" | grep tmp)"; fi
    "$REL" convert "$big" "$d" --resume >/dev/null 2>&1 && same "sig${sig}_then_resume_equals_clean" "$tmp/big-ref" "$d"
done

# --- input truncated or rewritten while converting ---
cp -r "$big" "$tmp/trunc"
"$REL" convert "$tmp/trunc" "$tmp/t-out" >/dev/null 2>"$tmp/e" &
pid=$!
sleep 0.2
truncate -s 50000000 "$tmp/trunc/model-00001-of-00003.safetensors"
wait "$pid"
rc=$?
if [ "$rc" -eq 2 ] && grep -qE "changed while being read|truncated while being read" "$tmp/e" && no_temps "$tmp/t-out" && no_publication "$tmp/t-out"; then
    ok "input_truncated_detected: $(tail -1 "$tmp/e" | cut -c1-90)"
else bad input_truncated_detected "exit $rc; $(cat "$tmp/e")"; fi
cp -r "$big" "$tmp/rewr"
"$REL" convert "$tmp/rewr" "$tmp/r-out" >/dev/null 2>"$tmp/e" &
pid=$!
sleep 0.2
python3 - "$tmp/rewr/model-00002-of-00003.safetensors" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:      # same size, new bytes near the end
    f.seek(-4096, os.SEEK_END)
    f.write(b"\x11" * 4096)
PY
wait "$pid"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "changed while being read" "$tmp/e" && no_publication "$tmp/r-out"; then
    ok "input_rewritten_detected"
else bad input_rewritten_detected "exit $rc; $(cat "$tmp/e")"; fi

# --- FIFOs and devices are refused without blocking ---
mkfifo "$tmp/fifo.safetensors"
timeout 5 "$MK" inspect "$tmp/fifo.safetensors" >/dev/null 2>"$tmp/e"
rc=$?
[ "$rc" -eq 2 ] && grep -q "regular file" "$tmp/e" && ok fifo_refused_without_blocking || bad fifo_refused_without_blocking "exit $rc $(cat "$tmp/e")"
mkdir -p "$tmp/devck" && cp "$src/config.json" "$tmp/devck/" && ln -s /dev/zero "$tmp/devck/model.safetensors"
timeout 5 "$MK" inspect "$tmp/devck" >/dev/null 2>"$tmp/e"
rc=$?
[ "$rc" -eq 2 ] && grep -q "not a regular file" "$tmp/e" && ok device_refused || bad device_refused "exit $rc $(cat "$tmp/e")"
mkfifo "$tmp/cfgfifo" && mkdir -p "$tmp/fifock" && cp "$src"/*.safetensors "$src/model.safetensors.index.json" "$tmp/fifock/" && ln -s "$tmp/cfgfifo" "$tmp/fifock/config.json"
timeout 5 "$MK" inspect "$tmp/fifock" >/dev/null 2>"$tmp/e"
rc=$?
[ "$rc" -eq 2 ] && ok config_fifo_refused || bad config_fifo_refused "exit $rc $(cat "$tmp/e")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
