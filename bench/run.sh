#!/usr/bin/env bash
# Benchmarks: prints figures and ratios against baselines measured in the same run.
#   bench/run.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== index load: DeepSeek-V3-sized model.safetensors.index.json"
"$BUILD/bench_index" "$tmp" | tee "$tmp/idx.txt"
# Baseline: what transformers does with the same file (json.load, then the
# sorted set of shard names), best-of-7 like ours (median).
python3 - "$tmp" <<'PY' | tee -a "$tmp/idx.txt"
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
awk '/^moekit_open_ms/{m=$2} /^python_json_load_ms/{p=$2} END{printf "ratio_open_vs_python %.2f (lower is better; target: open well under 1000 ms)\n", m/p}' "$tmp/idx.txt"
