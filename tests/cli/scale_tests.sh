#!/usr/bin/env bash
# Conversion at scale, with real processes: recipes, dry-run, stats,
# partitioned runs merged, and kill -9 followed by --resume.
#   scale_tests.sh MOEKIT_UNDER_TEST [RELEASE_MOEKIT]
# Ends with "N passed, N failed".
set -u
MK=$(realpath "$1")
REL=$(realpath "${2:-$1}")
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
run() {
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
    if [ "$rc" -ne "$want" ]; then bad "$name" "exit $rc, expected $want; stderr: $(head -c 600 "$tmp/err")"; return 1; fi
    return 0
}
same() { # same NAME DIR_A DIR_B: byte-identical folders, nothing else in them
    if diff -r "$2" "$3" >"$tmp/diff" 2>&1; then ok "$1"; else bad "$1" "$(head -5 "$tmp/diff")"; fi
}
dtype_of() { # dtype_of DIR TENSOR
    python3 - "$1" "$2" <<'PY'
import json, os, struct, sys
d, name = sys.argv[1], sys.argv[2]
idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
with open(os.path.join(d, idx["weight_map"][name]), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    print(json.loads(f.read(n))[name]["dtype"])
PY
}

src="$tmp/src"
"$MK" synth "$src" --arch deepseek-v3 --layers 4 >/dev/null
echo '{"bos": 0}' >"$src/tokenizer_config.json"
"$REL" convert "$src" "$tmp/single" >/dev/null 2>&1 || bad setup "reference conversion failed"

# --- recipes ---
cat >"$tmp/mixed.yaml" <<'Y'
# keep the dense first layer and the routers in BF16, attention in INT8, experts in FP8
scheme: fp8-channel
keep:
  - "model.layers.0.*"
  - 're:.*\.mlp\.gate\..*'
overrides:
  - match: "*.self_attn.*"
    scheme: int8-channel
Y
if run recipe_mixed 0 "$MK" convert "$src" "$tmp/mixed" --recipe "$tmp/mixed.yaml"; then
    grep -q "mixed" <<<"$out" && ok recipe_mixed_summary || bad recipe_mixed_summary "$out"
    run recipe_mixed_verifies 0 "$MK" verify "$tmp/mixed" && ok recipe_mixed_verifies
    got="$(dtype_of "$tmp/mixed" model.layers.0.mlp.down_proj.weight) $(dtype_of "$tmp/mixed" model.layers.2.mlp.gate.weight) $(dtype_of "$tmp/mixed" model.layers.2.self_attn.q_b_proj.weight) $(dtype_of "$tmp/mixed" model.layers.2.mlp.experts.3.up_proj.weight) $(dtype_of "$tmp/mixed" model.layers.2.mlp.shared_experts.up_proj.weight)"
    [ "$got" = "BF16 BF16 I8 F8_E4M3 F8_E4M3" ] && ok recipe_mixed_dtypes || bad recipe_mixed_dtypes "$got"
    python3 - "$tmp/mixed" <<'PY' && ok recipe_in_manifest_and_groups || bad recipe_in_manifest_and_groups "see above"
import json, sys, os
d = sys.argv[1]
m = json.load(open(os.path.join(d, "moekit.json")))
assert m["scheme"] == "mixed" and "int8-channel" in m["recipe"], m["scheme"]
q = json.load(open(os.path.join(d, "config.json")))["quantization_config"]
assert q["quant_method"] == "compressed-tensors" and q["format"] == "mixed-precision"
g = q["config_groups"]
assert g["group_0"]["targets"] == ["Linear"] and g["group_0"]["format"] == "float-quantized"
assert g["group_1"]["format"] == "int-quantized" and "model.layers.1.self_attn.q_a_proj" in g["group_1"]["targets"]
assert "model.layers.0.mlp.down_proj" in q["ignore"] and "model.layers.1.mlp.gate" in q["ignore"]
PY
fi
cat >"$tmp/split.yaml" <<'Y'
scheme: fp8-channel
overrides:
  - match: "*.experts.*.down_proj.weight"
    scheme: int8-channel
Y
if run recipe_split_experts_refused 2 "$MK" convert "$src" "$tmp/split" --recipe "$tmp/split.yaml"; then
    grep -q "fused MoE" <<<"$err" && [ ! -e "$tmp/split" ] && ok recipe_split_experts_refused ||
        bad recipe_split_experts_refused "$err; $(ls "$tmp/split" 2>&1)"
fi
printf 'keep:\n  - "*.q_proj.weight"\n' >"$tmp/qkv.yaml"
"$MK" synth "$tmp/mx" --arch mixtral >/dev/null
run recipe_split_qkv_refused 2 "$MK" convert "$tmp/mx" "$tmp/qkv" --recipe "$tmp/qkv.yaml" && { grep -q "q_proj/k_proj/v_proj" <<<"$err" && ok recipe_split_qkv_refused || bad recipe_split_qkv_refused "$err"; }
printf 'scheme: fp8-block\noverrides:\n  - match: "*.self_attn.*"\n    scheme: fp8-tensor\n' >"$tmp/t.yaml"
run recipe_fp8_tensor_mix_refused 2 "$MK" convert "$src" "$tmp/t" --recipe "$tmp/t.yaml" && { grep -q "fp8-tensor cannot be mixed" <<<"$err" && ok recipe_fp8_tensor_mix_refused || bad recipe_fp8_tensor_mix_refused "$err"; }
printf 'scheme: fp8-block\nkeep:\n  - "model.layers.1.*"\n' >"$tmp/keep.yaml"
if run recipe_keep_native_fp8 0 "$MK" convert "$src" "$tmp/keep" --recipe "$tmp/keep.yaml"; then
    run recipe_keep_native_fp8_verifies 0 "$MK" verify "$tmp/keep" &&
    python3 -c 'import json,sys; q=json.load(open(sys.argv[1]))["quantization_config"]; assert q["quant_method"]=="fp8" and "model.layers.1.mlp.experts.0.down_proj" in q["ignored_layers"]' "$tmp/keep/config.json" &&
        ok recipe_keep_native_fp8_verifies || bad recipe_keep_native_fp8_verifies "config"
fi
for c in "unknown_key|scheme: fp8-block\nkepp:\n  - x\n|:2: unknown key 'kepp'" \
         "bad_scheme|scheme: fp8-block\noverrides:\n  - match: x\n    scheme: int4\n|:4: scheme 'int4'" \
         "bad_regex|keep:\n  - \"re:(unclosed\"\n|:2: bad regular expression" \
         "override_key|overrides:\n  - match: x\n    shceme: keep\n|:3: unknown key 'shceme'" \
         "not_yaml|scheme: [fp8\n|invalid YAML"; do
    IFS='|' read -r name body want <<<"$c"
    printf "$body" >"$tmp/$name.yaml"
    run "recipe_error_$name" 2 "$MK" convert "$src" "$tmp/x-$name" --recipe "$tmp/$name.yaml" &&
        { grep -qF -- "$name.yaml$want" <<<"$err" || grep -qF -- "$want" <<<"$err"; } && ok "recipe_error_$name" || bad "recipe_error_$name" "$err"
done

# --- dry run ---
if run dry_run 0 "$MK" convert "$src" "$tmp/dry" --dry-run --json; then
    [ ! -e "$tmp/dry" ] || bad dry_run_writes_nothing "$(ls "$tmp/dry")"
    echo "$out" >"$tmp/dry.json"
    python3 - "$tmp/single" "$tmp/dry.json" <<'PY' && ok dry_run_matches_real_sizes || bad dry_run_matches_real_sizes "$out"
import json, os, struct, sys
j = json.load(open(sys.argv[2]))
assert j["dry_run"] and 8.0 < j["bits_per_quantized_weight"] < 8.01, j["bits_per_quantized_weight"]
for f in j["file_list"]:
    with open(os.path.join(sys.argv[1], f["name"]), "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        size = os.path.getsize(fh.name) - 8 - n
    assert f["bytes"] == size, (f["name"], f["bytes"], size)
PY
fi
run dry_run_text 0 "$MK" convert "$src" "$tmp/dry" --dry-run && { grep -q "^planned  model-expert-00000-of-00008.safetensors" <<<"$out" && grep -q "bits per weight" <<<"$out" && ok dry_run_text || bad dry_run_text "$out"; }

# --- stats ---
if run stats_json 0 "$MK" convert "$src" "$tmp/stats" --stats --json --scheme int8-channel; then
    echo "$out" >"$tmp/stats.json"
    python3 - "$tmp/stats.json" <<'PY' && ok stats_json || bad stats_json "$(head -c 300 <<<"$out")"
import json, sys
j = json.load(open(sys.argv[1]))["stats"]
classes = {c["name"]: c for c in j["by_class"]}
assert {"attention", "routed_expert", "shared_expert", "dense_mlp"} <= set(classes), classes.keys()
for c in classes.values():
    assert 10 < c["sqnr_db"] < 60 and c["rmse"] > 0 and c["max_abs_error"] > 0, c
t = j["tensors_worst_first"]
assert len(t) == sum(c["tensors"] for c in classes.values())
assert all(t[i]["sqnr_db"] <= t[i + 1]["sqnr_db"] for i in range(len(t) - 1))
assert [l["name"] for l in j["by_layer"]][:2] == ["layer 0", "layer 1"]
PY
fi
run stats_text 0 "$MK" convert "$src" "$tmp/stats2" --stats && { grep -q "reconstruction error by class:" <<<"$out" && grep -q "worst tensors:" <<<"$out" && ok stats_text || bad stats_text "$out"; }

# --- partitioned runs: concurrent processes, then merge ---
pids=()
for i in 0 1 2 3; do "$MK" convert "$src" "$tmp/parts" --part "$i/4" >"$tmp/part$i.log" 2>&1 & pids+=($!); done
prc=0; for p in "${pids[@]}"; do wait "$p" || prc=1; done
[ "$prc" -eq 0 ] && ok parts_run_concurrently || bad parts_run_concurrently "$(cat "$tmp"/part*.log)"
run parts_merge 0 "$MK" merge "$tmp/parts" && same parts_equal_single_run "$tmp/single" "$tmp/parts"
"$MK" convert "$src" "$tmp/parts2" --part 0/3 >/dev/null 2>&1
run merge_refuses_missing_part 2 "$MK" merge "$tmp/parts2" && { grep -q "part 1/3 has not run" <<<"$err" && ok merge_refuses_missing_part || bad merge_refuses_missing_part "$err"; }
MOEKIT_TEST_CRASH=published:1 "$MK" convert "$src" "$tmp/parts2" --part 1/3 >/dev/null 2>&1
"$MK" convert "$src" "$tmp/parts2" --part 2/3 >/dev/null 2>&1
run merge_refuses_unfinished_part 2 "$MK" merge "$tmp/parts2" && { grep -q "part 1/3 has not finished" <<<"$err" && ok merge_refuses_unfinished_part || bad merge_refuses_unfinished_part "$err"; }
run part_rerun_needs_resume 2 "$MK" convert "$src" "$tmp/parts2" --part 1/3 && { grep -q -- "--resume" <<<"$err" && ok part_rerun_needs_resume || bad part_rerun_needs_resume "$err"; }
run part_resume 0 "$MK" convert "$src" "$tmp/parts2" --part 1/3 --resume && run parts2_merge 0 "$MK" merge "$tmp/parts2" &&
    same killed_part_resumed_equals_single "$tmp/single" "$tmp/parts2"

# --- kill -9 at several points, then --resume ---
for point in published:1 published:4 journaled:2 journaled:9; do
    d="$tmp/kill-${point/:/-}"
    MOEKIT_TEST_CRASH=$point "$MK" convert "$src" "$d" >/dev/null 2>&1
    rc=$?
    [ "$rc" -eq 137 ] || bad "kill_$point" "expected SIGKILL (137), got $rc"
    run "rerun_refuses_$point" 2 "$MK" convert "$src" "$d" && { grep -q -- "--resume" <<<"$err" && ok "rerun_refuses_$point" || bad "rerun_refuses_$point" "$err"; }
    run "resume_$point" 0 "$MK" convert "$src" "$d" --resume && same "resume_after_kill_${point}_equals_clean_run" "$tmp/single" "$d"
done
# an external kill -9 at an arbitrary moment of a longer run (release binary)
big="$tmp/big"
"$REL" synth "$big" --arch qwen3-moe --hidden 1024 --moe-inter 512 --experts 16 --layers 4 >/dev/null
"$REL" convert "$big" "$tmp/big-ref" >/dev/null 2>&1
for delay in 0.05 0.2 0.4; do
    d="$tmp/big-kill-$delay"
    "$REL" convert "$big" "$d" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    run "external_kill_resume_$delay" 0 "$REL" convert "$big" "$d" --resume && same "external_kill_${delay}_equals_clean_run" "$tmp/big-ref" "$d"
done
# a resume with other options is refused, not mixed into the old output
MOEKIT_TEST_CRASH=published:2 "$MK" convert "$src" "$tmp/other" >/dev/null 2>&1
run resume_other_options_refused 2 "$MK" convert "$src" "$tmp/other" --resume --scheme int8-channel && { grep -q "other options" <<<"$err" && ok resume_other_options_refused || bad resume_other_options_refused "$err"; }
run force_restarts 0 "$MK" convert "$src" "$tmp/other" --force --scheme int8-channel && run force_result_verifies 0 "$MK" verify "$tmp/other" && ok force_restarts

# --resume on a finished run keeps everything its manifest vouches for
run resume_finished_run 0 "$MK" convert "$src" "$tmp/single" --resume && { grep -q "(9 kept" <<<"$out" && ok resume_finished_run || bad resume_finished_run "$out"; }
run resume_finished_other_options 2 "$MK" convert "$src" "$tmp/single" --resume --shard-by size && { grep -q "other options" <<<"$err" && ok resume_finished_other_options || bad resume_finished_other_options "$err"; }

finish
