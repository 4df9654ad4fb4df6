#!/usr/bin/env bash
# Benchmarks: print figures and ratios against baselines measured in the same run.
#   bench/run.sh [BUILD_DIR] [index|kernels|convert|rss ...]   (default: all)
# BENCH_DIR (default: a temporary folder) must have ~25 GB free for `convert` and `rss`.
set -euo pipefail
BUILD=${1:-build}
shift || true
parts=${*:-index dryrun plan kernels moe pack convert rss}
MK=$(realpath "$BUILD/moekit")
tmp=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$tmp"
trap 'rm -rf "$tmp"/bench-*' EXIT

secs() { # secs CMD...: wall seconds of CMD
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

for part in $parts; do
case $part in
index)
    echo "== index load: DeepSeek-V3-sized model.safetensors.index.json"
    mkdir -p "$tmp/bench-idx"
    "$BUILD/bench_index" "$tmp/bench-idx" | tee "$tmp/bench-idx.txt"
    # Baseline: what transformers does with the same file (json.load, then
    # the sorted set of shard names), median of 7 like ours.
    python3 - "$tmp/bench-idx" <<'PY' | tee -a "$tmp/bench-idx.txt"
import json, sys, time, statistics, os
p = os.path.join(sys.argv[1], "model.safetensors.index.json")
ts = []
for _ in range(7):
    t0 = time.perf_counter()
    with open(p) as f:
        idx = json.load(f)
    shards = sorted(set(idx["weight_map"].values()))
    ts.append(time.perf_counter() - t0)
print(f"python_json_load_ms {statistics.median(ts)*1e3:.2f}")
PY
    awk '/^moekit_open_ms/{m=$2} /^python_json_load_ms/{p=$2} END{printf "ratio_open_vs_python_json %.2f (target: open well under 1000 ms)\n", m/p}' "$tmp/bench-idx.txt"
    ;;
dryrun)
    echo "== convert --dry-run of a DeepSeek-V3-sized BF16 checkpoint (163 sparse shards, real headers)"
    mkdir -p "$tmp/bench-dry"
    "$BUILD/bench_dryrun" "$tmp/bench-dry" | tee "$tmp/bench-dry.txt"
    python3 - "$tmp/bench-dry" <<'PY' | tee -a "$tmp/bench-dry.txt"
import json, os, sys, time
t0 = time.perf_counter()
json.load(open(os.path.join(sys.argv[1], "model.safetensors.index.json")))
print(f"python_json_load_index_ms {(time.perf_counter() - t0) * 1e3:.1f}")
PY
    awk '/^moekit_dry_run_ms/{m=$2} /^python_json_load_index_ms/{p=$2} END{printf "ratio_dry_run_vs_python_index_load %.2f (target: dry run under 1000 ms)\n", m/p}' "$tmp/bench-dry.txt"
    ;;
plan)
    echo "== plan: one query (DeepSeek-V3 on H200, search), process start included, best of 20"
    best=999
    for i in $(seq 20); do
        t=$(secs "$MK" plan deepseek-v3 --gpu h200)
        best=$(echo "if ($t < $best) $t else $best" | bc -l)
    done
    t_true=$(secs /bin/true)
    printf "plan_query_ms %.1f (target < 20)\nprocess_start_baseline_ms %.1f\n" "$(echo "$best * 1000" | bc -l)" "$(echo "$t_true * 1000" | bc -l)"
    ;;
pack)
    echo "== pack/unpack vs zstd -3 and zstd -19 on the same files (BF16 synthetic, and its FP8 conversion)"
    "$MK" synth "$tmp/bench-pk" --arch deepseek-v3 --hidden 2048 --moe-inter 1024 --experts 12 --layers 2 --vocab 8192 >/dev/null
    "$MK" convert "$tmp/bench-pk" "$tmp/bench-pk8" >/dev/null 2>&1
    for set in bench-pk bench-pk8; do
        d="$tmp/$set"
        raw=$(du -sb "$d" | cut -f1)
        sync; cat "$d"/* >/dev/null
        tp=$(secs "$MK" pack "$d" "$tmp/$set.mkp" --force)
        packed=$(stat -c %s "$tmp/$set.mkp")
        rm -rf "$tmp/$set-u"; sync
        tu=$(secs "$MK" unpack "$tmp/$set.mkp" "$tmp/$set-u")
        diff -r "$d" "$tmp/$set-u" >/dev/null || echo "ROUND TRIP FAILED for $set"
        z3=0; t3=0; z19=0; t19=0
        for f in "$d"/*; do
            t=$(secs sh -c "zstd -q -3 -T0 -c '$f' > '$tmp/z'"); z3=$((z3 + $(stat -c %s "$tmp/z"))); t3=$(echo "$t3 + $t" | bc -l)
            t=$(secs sh -c "zstd -q -19 -T0 -c '$f' > '$tmp/z'"); z19=$((z19 + $(stat -c %s "$tmp/z"))); t19=$(echo "$t19 + $t" | bc -l)
        done
        t=$(secs sh -c "zstd -q -d -T0 -c '$tmp/z' > /dev/null")
        awk -v n="$set" -v raw="$raw" -v p="$packed" -v tp="$tp" -v tu="$tu" -v z3="$z3" -v t3="$t3" -v z19="$z19" -v t19="$t19" 'BEGIN{
            printf "%s: %.0f MB raw\n", n, raw/1e6;
            printf "  moekit pack    ratio %.3fx  compress %6.0f MB/s  decompress %6.0f MB/s\n", raw/p, raw/tp/1e6, raw/tu/1e6;
            printf "  zstd -3  -T0   ratio %.3fx  compress %6.0f MB/s\n", raw/z3, raw/t3/1e6;
            printf "  zstd -19 -T0   ratio %.3fx  compress %6.0f MB/s\n", raw/z19, raw/t19/1e6;
            printf "  ratio gain vs zstd -3: %+.1f%%, vs zstd -19: %+.1f%%\n", (z3/p-1)*100, (z19/p-1)*100 }'
    done
    echo "(targets: BF16 >= 1.45x, FP8 >= 1.10x, >= 15% better than zstd -3, compress >= 400 MB/s, decompress >= 1000 MB/s)"
    rm -rf "$tmp"/bench-pk*
    ;;
moe)
    echo "== MoE layer, DeepSeek-V2-Lite shapes, T=2048: grouped expert GEMMs vs one sgemm of the same total shapes"
    "$BUILD/bench_moe"
    echo "== validate wall time on the demo model (deepseek-v3 synth, fp8-block, 512 tokens)"
    "$MK" synth "$tmp/bench-demo" >/dev/null
    "$MK" convert "$tmp/bench-demo" "$tmp/bench-demo-fp8" >/dev/null 2>&1
    t=$(secs "$MK" validate "$tmp/bench-demo" "$tmp/bench-demo-fp8")
    printf "validate_demo_s %.2f\n" "$t"
    rm -rf "$tmp/bench-demo" "$tmp/bench-demo-fp8"
    ;;
kernels)
    echo "== kernels: F16/BF16 -> E4M3 with 128x128 block scales, one core, vs memcpy on one core"
    taskset -c 0 "$BUILD/bench_kernels"
    echo "(target: ratio_vs_memcpy >= 0.5 for the dispatched ISA)"
    ;;
convert)
    echo "== convert: ~4 GB BF16 DeepSeek-V3-shaped checkpoint -> fp8-block, warm page cache, vs cp -r"
    src="$tmp/bench-src"
    rm -rf "$src" "$tmp/bench-out" "$tmp/bench-cp"
    "$MK" synth "$src" --arch deepseek-v3 --layers 2 --hidden 7168 --moe-inter 2048 --experts 12 \
        --topk 8 --vocab 4096 --shards 4 >/dev/null
    du -sb "$src" | awk '{printf "source_bytes %.0f\n", $1}'
    sync; cat "$src"/* >/dev/null                     # settle writes, warm the page cache
    t_cp=$(secs cp -r "$src" "$tmp/bench-cp")
    sync
    t_cp_sync=$( { t0=$(date +%s.%N); rm -rf "$tmp/bench-cp"; cp -r "$src" "$tmp/bench-cp"; sync; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; } )
    rm -rf "$tmp/bench-cp"; sync
    cat "$src"/* >/dev/null
    t_mk=$(secs "$MK" convert "$src" "$tmp/bench-out" --scheme fp8-block)
    du -sb "$tmp/bench-out" | awk '{printf "output_bytes %.0f\n", $1}'
    printf "cp_r_s %.2f\ncp_r_sync_s %.2f\nmoekit_convert_s %.2f (fsyncs every file)\n" "$t_cp" "$t_cp_sync" "$t_mk"
    echo "ratio_convert_vs_cp_r $(echo "$t_mk / $t_cp" | bc -l | cut -c1-5) (target <= 1.0)"
    echo "ratio_convert_vs_cp_r_sync $(echo "$t_mk / $t_cp_sync" | bc -l | cut -c1-5)"
    rm -rf "$tmp/bench-out"
    ;;
rss)
    echo "== peak RSS of convert (file pages included, /usr/bin/time -v): 1 GB vs 8 GB input"
    for gb in 1 8; do
        src="$tmp/bench-rss-$gb"
        # ~0.7 GB of attention + 88 MB per V3-sized expert in each of two MoE layers (incl. MTP)
        experts=$(( (gb * 1000 - 700) / 176 )); [ "$experts" -ge 1 ] || experts=1
        "$MK" synth "$src" --arch deepseek-v3 --layers 1 --hidden 7168 --moe-inter 2048 \
            --experts "$experts" --topk 1 --vocab 4096 --shards 4 >/dev/null
        bytes=$(du -sb "$src" | cut -f1)
        /usr/bin/time -v "$MK" convert "$src" "$src-out" 2>"$tmp/bench-time.txt" >/dev/null
        rss=$(awk -F: '/Maximum resident set size/{gsub(/ /,"",$2); print $2}' "$tmp/bench-time.txt")
        printf "input_%dGB_bytes %.0f peak_rss_MiB %.1f\n" "$gb" "$bytes" "$(echo "$rss / 1024" | bc -l)"
        rm -rf "$src" "$src-out"
    done
    echo "(target: peak RSS < 512 MiB for both)"
    ;;
*) echo "unknown part '$part'"; exit 2 ;;
esac
done
