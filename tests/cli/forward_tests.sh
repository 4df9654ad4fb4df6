#!/usr/bin/env bash
# End-to-end tests of `moekit forward` against an independent numpy reference (ref_moe.py).
#   forward_tests.sh MOEKIT_UNDER_TEST [RELEASE_MOEKIT]
# Prints one line per test and ends with "N passed, N failed" (exit 1 if any failed).
set -u
MK=$(realpath "$1")
REL=$(realpath "${2:-$1}")
here=$(cd "$(dirname "$0")" && pwd)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"


# the reference needs numpy: the first python that has it
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' >/dev/null 2>&1; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
    bad python_numpy "no python3 with numpy"
    echo "$pass passed, $fail failed"
    exit 1
fi
REF=("$PY" "$here/ref_moe.py")

# the reference's own routing/dequantization unit checks
if "${REF[@]}" --self-test >"$tmp/st" 2>&1; then ok ref_self_test; else bad ref_self_test "$(head -c 800 "$tmp/st")"; fi

run help_forward 0 "$MK" forward --help && { grep -q "usage: moekit forward" <<<"$out" && ok help_forward || bad help_forward "no usage line"; }
run help_top_lists_forward 0 "$MK" --help && { grep -qE '^ +forward ' <<<"$out" && ok help_top_lists_forward || bad help_top_lists_forward "forward not listed"; }

# inputs: hidden_states [64, 256], N(0,1) with 4 columns x20; F32, BF16, F16
"${REF[@]}" --make-input "$tmp/x-f32.safetensors" --dtype f32 --seed 11 &&
"${REF[@]}" --make-input "$tmp/x-bf16.safetensors" --dtype bf16 --seed 12 &&
"${REF[@]}" --make-input "$tmp/x-f16.safetensors" --dtype f16 --seed 13 ||
    bad make_input "input generator failed"
X32=$tmp/x-f32.safetensors

# fwd NAME CKPT LAYER INPUT [MOEKIT [extra forward args]]: forward, then the reference check.
# Leaves the output in $tmp/y-NAME.safetensors.
fwd() {
    local name=$1 ck=$2 layer=$3 x=$4 mk=${5:-$MK}
    shift 4; [ $# -gt 0 ] && shift
    local y="$tmp/y-$name.safetensors"
    if run "$name" 0 "$mk" forward "$ck" --layer "$layer" --input "$x" --output "$y" "$@"; then
        if grep -qE "runtime error|Sanitizer" <<<"$err"; then
            bad "$name" "sanitizer report: $(head -c 800 <<<"$err")"
        elif [ ! -s "$y" ]; then
            bad "$name" "no output file"
        elif "${REF[@]}" "$ck" "$layer" "$x" "$y" >"$tmp/ref" 2>&1; then
            ok "$name ($(sed -n 's/.*output rel L2 \([^ ]*\).*/rel L2 \1/p' "$tmp/ref" | head -1))"
        else
            bad "$name" "$(head -c 1500 "$tmp/ref")"
        fi
    fi
}

# ids_sane NAME Y E K: every topk_ids row has K distinct ids in [0, E)
ids_sane() {
    "$PY" -c '
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, ref_moe as R
dt, ids = R.read_tensor(sys.argv[2], "topk_ids")
E, K = int(sys.argv[3]), int(sys.argv[4])
assert dt == "I32" and ids.ndim == 2 and ids.shape[1] == K, (dt, ids.shape)
assert (ids >= 0).all() and (ids < E).all(), "id out of range"
dup = [t for t in range(ids.shape[0]) if len(set(ids[t].tolist())) != K]
assert not dup, "duplicate ids in rows %s" % dup[:8]
_, w = R.read_tensor(sys.argv[2], "topk_weights")
assert np.isfinite(w).all() and (w >= 0).all(), "bad weights"
print("ok")
' "$here" "$2" "$3" "$4" >"$tmp/ids" 2>&1 && ok "$1" || bad "$1" "$(tail -c 600 "$tmp/ids")"
}

# --- every architecture, source precision (BF16 weights) ---
declare -A moe_layers=([mixtral]="0 3" [qwen2-moe]="1" [qwen3-moe]="2" [deepseek-v3]="1 4")
for arch in mixtral qwen2-moe qwen3-moe deepseek-v3; do
    d="$tmp/$arch"
    run "synth_$arch" 0 "$MK" synth "$d" --arch "$arch" || continue
    for L in ${moe_layers[$arch]}; do
        fwd "forward_${arch}_layer${L}" "$d" "$L" "$X32"
    done
    [ "$arch" = deepseek-v3 ] && fwd "forward_${arch}_layer0_dense" "$d" 0 "$X32"
    L=${moe_layers[$arch]%% *}
    fwd "forward_${arch}_bf16_input" "$d" "$L" "$tmp/x-bf16.safetensors"
    fwd "forward_${arch}_f16_input" "$d" "$L" "$tmp/x-f16.safetensors"
    [ -f "$tmp/y-forward_${arch}_layer${L}.safetensors" ] &&
        ids_sane "forward_${arch}_topk_ids_sane" "$tmp/y-forward_${arch}_layer${L}.safetensors" 8 2
done

# --- DeepSeek-V3 MTP layer and more experts/top-k: 16 experts in 4 groups, top-4 ---
d="$tmp/ds16"
if run synth_ds16 0 "$MK" synth "$d" --arch deepseek-v3 --experts 16 --topk 4 --seed 3; then
    fwd forward_ds16_layer2 "$d" 2 "$X32"
    fwd forward_ds16_mtp "$d" 4 "$X32"
    [ -f "$tmp/y-forward_ds16_layer2.safetensors" ] && ids_sane forward_ds16_topk_ids_sane "$tmp/y-forward_ds16_layer2.safetensors" 16 4
fi

# --- single-file checkpoint and F32 / F16 weights ---
if run synth_single_f32 0 "$MK" synth "$tmp/q2-f32" --arch qwen2-moe --shards 1 --dtype f32 --seed 5; then
    fwd forward_single_file_f32_weights "$tmp/q2-f32" 3 "$X32"
fi
if run synth_mixtral_f16 0 "$MK" synth "$tmp/mx-f16" --arch mixtral --dtype f16 --seed 6; then
    fwd forward_f16_weights "$tmp/mx-f16" 1 "$X32"
fi

# --- routing options synth does not write: copies with an edited config.json ---
# variant NAME SRC LAYER PYTHON-EDIT-OF-c
variant() {
    local name=$1 src=$2 layer=$3 edit=$4 d="$tmp/var-$1"
    [ -d "$src" ] || return
    cp -r "$src" "$d" && "$PY" -c "
import json, sys
p = sys.argv[1]; c = json.load(open(p)); $edit; json.dump(c, open(p, 'w'), indent=2)" "$d/config.json" ||
        { bad "variant_$name" "could not edit config"; return; }
    fwd "forward_variant_$name" "$d" "$layer" "$X32"
}
v2="c['architectures'] = ['DeepseekV2ForCausalLM']; c['model_type'] = 'deepseek_v2'; c['scoring_func'] = 'softmax'"
variant qwen3_no_norm_topk "$tmp/qwen3-moe" 1 "c['norm_topk_prob'] = False"
variant qwen2_norm_topk "$tmp/qwen2-moe" 1 "c['norm_topk_prob'] = True"
variant qwen2_no_norm_key "$tmp/qwen2-moe" 1 "del c['norm_topk_prob']"
variant qwen2_sparse_step2 "$tmp/qwen2-moe" 3 "c['decoder_sparse_step'] = 2"
variant dsv3_no_norm_topk "$tmp/deepseek-v3" 1 "c['norm_topk_prob'] = False"
variant dsv3_topk_group1 "$tmp/deepseek-v3" 1 "c['topk_group'] = 1"
variant dsv3_2groups "$tmp/deepseek-v3" 2 "c['n_group'] = 2; c['topk_group'] = 1"
variant dsv3_moe_freq2 "$tmp/deepseek-v3" 2 "c['moe_layer_freq'] = 2"
variant dsv2_greedy "$tmp/deepseek-v3" 1 "$v2; c['topk_method'] = 'greedy'; c['norm_topk_prob'] = False"
variant dsv2_group_limited "$tmp/deepseek-v3" 1 "$v2; c['topk_method'] = 'group_limited_greedy'; c['topk_group'] = 1; c['norm_topk_prob'] = False"
variant dsv2_group_limited_norm "$tmp/deepseek-v3" 3 "$v2; c['topk_method'] = 'group_limited_greedy'; c['topk_group'] = 2; c['norm_topk_prob'] = True"

# --- exact router ties: experts [E/2,3E/4) get the gate rows (and biases) of [E/4,E/2), so
#     scores tie exactly (DeepSeek: whole groups tie too); lower expert / group id must win ---
for src in mixtral:1 qwen2-moe:1 qwen3-moe:2 deepseek-v3:1 ds16:2; do
    arch=${src%%:*} L=${src##*:}
    [ -d "$tmp/$arch" ] || continue
    cp -r "$tmp/$arch" "$tmp/tie-$arch" && "${REF[@]}" --tie-gate "$tmp/tie-$arch" "$L" >"$tmp/tie" 2>&1 ||
        { bad "tie_$arch" "$(cat "$tmp/tie")"; continue; }
    fwd "forward_router_ties_$arch" "$tmp/tie-$arch" "$L" "$X32"
done

# --- converted checkpoints: the reference dequantizes what is on disk ---
for arch in mixtral qwen2-moe qwen3-moe deepseek-v3; do
    [ -d "$tmp/$arch" ] || continue
    for scheme in fp8-block fp8-channel int8-channel int8-group fp8-tensor; do
        c="$tmp/$arch-$scheme"
        run "convert_${arch}_$scheme" 0 "$MK" convert "$tmp/$arch" "$c" --scheme "$scheme" || continue
        L=${moe_layers[$arch]%% *}
        fwd "forward_${arch}_${scheme}_layer$L" "$c" "$L" "$X32"
        if [ "$arch" = deepseek-v3 ]; then
            fwd "forward_${arch}_${scheme}_layer0_dense" "$c" 0 "$X32"
            fwd "forward_${arch}_${scheme}_mtp" "$c" 4 "$X32"
        fi
    done
done
# DeepSeek-native FP8 (fp8-block) back to BF16
if [ -d "$tmp/deepseek-v3-fp8-block" ] && run convert_ds_fp8_to_bf16 0 "$MK" convert "$tmp/deepseek-v3-fp8-block" "$tmp/ds-bf16-again" --scheme bf16; then
    fwd forward_ds_fp8_to_bf16 "$tmp/ds-bf16-again" 1 "$X32"
fi

# --- release binary, thread counts ---
if [ -d "$tmp/deepseek-v3" ]; then
    fwd forward_release "$tmp/deepseek-v3" 1 "$X32" "$REL"
    fwd forward_threads1 "$tmp/deepseek-v3" 1 "$X32" "$MK" --threads 1
    fwd forward_threads2 "$tmp/deepseek-v3" 1 "$X32" "$MK" --threads 2
    if [ -f "$tmp/y-forward_threads1.safetensors" ] && [ -f "$tmp/y-forward_threads2.safetensors" ]; then
        cmp -s "$tmp/y-forward_threads1.safetensors" "$tmp/y-forward_threads2.safetensors" &&
            ok forward_threads_byte_identical || bad forward_threads_byte_identical "--threads 1 and 2 give different bytes"
    fi
fi

# --- token counts: one token, and an odd count over two threads ---
if [ -d "$tmp/deepseek-v3" ]; then
    "${REF[@]}" --make-input "$tmp/x-t1.safetensors" --tokens 1 --seed 21 &&
    "${REF[@]}" --make-input "$tmp/x-t333.safetensors" --tokens 333 --dtype bf16 --seed 22 || bad make_input_tokens "generator failed"
    fwd forward_one_token "$tmp/deepseek-v3" 1 "$tmp/x-t1.safetensors"
    fwd forward_333_tokens_2_threads "$tmp/deepseek-v3" 4 "$tmp/x-t333.safetensors" "$MK" --threads 2
    fwd forward_333_tokens_mixtral "$tmp/mixtral" 2 "$tmp/x-t333.safetensors" "$MK" --threads 2
fi

# --- errors: exit 2 with a message naming the fault ---
d="$tmp/deepseek-v3"
run forward_no_args 2 "$MK" forward && ok forward_no_args
run forward_bad_layer 2 "$MK" forward "$d" --layer 99 --input "$X32" --output "$tmp/y-bad.safetensors" &&
    { grep -q "99" <<<"$err" && grep -qi "layer" <<<"$err" && ok forward_bad_layer || bad forward_bad_layer "$err"; }
run forward_bad_layer_no_output 0 test ! -e "$tmp/y-bad.safetensors" && ok forward_bad_layer_no_output
"$PY" -c '
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, ref_moe as R
R.write_safetensors(sys.argv[2], [("x", "F32", np.zeros((4, 256), np.float32))])
R.write_safetensors(sys.argv[3], [("hidden_states", "F32", np.zeros((4, 128), np.float32))])
' "$here" "$tmp/x-noname.safetensors" "$tmp/x-h128.safetensors"
run forward_missing_input_tensor 2 "$MK" forward "$d" --layer 1 --input "$tmp/x-noname.safetensors" --output "$tmp/y-bad2.safetensors" &&
    { grep -q "hidden_states" <<<"$err" && ok forward_missing_input_tensor || bad forward_missing_input_tensor "$err"; }
run forward_wrong_hidden 2 "$MK" forward "$d" --layer 1 --input "$tmp/x-h128.safetensors" --output "$tmp/y-bad3.safetensors" &&
    { grep -qE "256|hidden" <<<"$err" && ok forward_wrong_hidden || bad forward_wrong_hidden "message names neither hidden size nor 256: $err"; }

finish
