#!/usr/bin/env bash
# End-to-end tests of the `moekit` program.
#   cli_tests.sh MOEKIT_UNDER_TEST [RELEASE_MOEKIT]
# Prints one line per test and ends with "N passed, N failed".
set -u
MK=$(realpath "$1")
REL=$(realpath "${2:-$1}")
here=$(cd "$(dirname "$0")" && pwd)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"


# --- usage and help ---
for c in inspect synth convert verify merge forward validate; do
    run "help_$c" 0 "$MK" "$c" --help && { grep -q "usage: moekit $c" <<<"$out" && ok "help_$c" || bad "help_$c" "no usage line"; }
done
run help_top 0 "$MK" --help && { grep -q "commands:" <<<"$out" && ok help_top || bad help_top "no command list"; }
run unknown_command 2 "$MK" frobnicate && { grep -q "unknown command 'frobnicate'" <<<"$err" && ok unknown_command || bad unknown_command "$err"; }
run no_command 2 "$MK" && ok no_command
run inspect_no_arg 2 "$MK" inspect && ok inspect_no_arg
run synth_bad_option 2 "$MK" synth "$tmp/x" --bogus && { grep -q "unknown option '--bogus'" <<<"$err" && ok synth_bad_option || bad synth_bad_option "$err"; }
run synth_bad_value 2 "$MK" synth "$tmp/x" --layers zero && { grep -q -- "--layers" <<<"$err" && ok synth_bad_value || bad synth_bad_value "$err"; }
run synth_bad_arch 2 "$MK" synth "$tmp/x" --arch gpt2 && { grep -q "unknown --arch 'gpt2'" <<<"$err" && ok synth_bad_arch || bad synth_bad_arch "$err"; }
run synth_topk_gt_experts 2 "$MK" synth "$tmp/x" --experts 4 --topk 5 && ok synth_topk_gt_experts

# --- malformed input: exit 2, one line naming the file and the fault ---
python3 "$here/make_bad.py" "$tmp/bad" >"$tmp/manifest" || bad make_bad "generator failed"
"$MK" synth "$tmp/bad-src" >/dev/null
ncases=0
while IFS=$'\t' read -r path frag kind; do
    name="malformed_$(basename "$path")"
    ncases=$((ncases + 1))
    out_dir="$tmp/bad-out-$ncases"
    case "$kind" in
        recipe) cmd=("$MK" convert "$tmp/bad-src" "$out_dir" --recipe "$path") ;;
        catalog) cmd=("$MK" plan deepseek-v3 --catalog "$path") ;;
        hidden) cmd=("$MK" forward "$tmp/bad-src" --layer 1 --input "$path" --output "$out_dir.safetensors") ;;
        *) cmd=("$MK" inspect "$path") ;;
    esac
    if run "$name" 2 timeout 20 "${cmd[@]}"; then
        lines=$(wc -l <"$tmp/err")
        if [ "$lines" -ne 1 ]; then
            bad "$name" "expected one stderr line, got $lines: $(head -c 400 "$tmp/err")"
        elif ! grep -qF -- "$frag" <<<"$err"; then
            bad "$name" "message lacks '$frag': $err"
        elif ! grep -qF -- "$(basename "$path")" <<<"$err" && ! grep -qF -- "config.json" <<<"$err" && ! grep -qF -- ".safetensors" <<<"$err"; then
            bad "$name" "message names no file: $err"
        elif [ -e "$out_dir" ] || [ -e "$out_dir.safetensors" ]; then
            bad "$name" "left output behind"
        else
            ok "$name"
        fi
    fi
done <"$tmp/manifest"

# --- synth: every architecture, checked by an independent reader ---
for arch in mixtral qwen2-moe qwen3-moe deepseek-v3; do
    d="$tmp/synth-$arch"
    if run "synth_$arch" 0 "$MK" synth "$d" --arch "$arch" --shards 3; then
        if python3 "$here/independent_check.py" "$d" >"$tmp/ic" 2>&1; then
            ok "synth_${arch}_independent_check"
        else
            bad "synth_${arch}_independent_check" "$(head -c 800 "$tmp/ic")"
        fi
        if run "inspect_$arch" 0 "$MK" inspect --json "$d"; then
            python3 - "$d" "$tmp/out" <<'PY' >"$tmp/cmp" 2>&1 && ok "inspect_${arch}_counts" || bad "inspect_${arch}_counts" "$(cat "$tmp/cmp")"
import json, struct, sys, os, math
d, rep = sys.argv[1], json.load(open(sys.argv[2]))
idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
elems = nbytes = count = 0
for f in sorted(set(idx["weight_map"].values())):
    with open(os.path.join(d, f), "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        h = json.loads(fh.read(n))
    for k, v in h.items():
        if k == "__metadata__": continue
        count += 1
        elems += math.prod(v["shape"])
        nbytes += v["data_offsets"][1] - v["data_offsets"][0]
p = rep["parameters"]
assert rep["tensors"] == count, (rep["tensors"], count)
assert p["total"] == elems, (p["total"], elems)
assert rep["tensor_bytes"] == nbytes, (rep["tensor_bytes"], nbytes)
assert sum(v["elements"] for v in rep["dtypes"].values()) == elems
assert sum(p["by_kind"].values()) == elems
assert rep["findings"] == [], rep["findings"]
assert 0 < p["active_per_token"] < p["total"]
print("ok")
PY
        fi
    fi
done

# --- determinism: same arguments, byte-identical files (release binary too) ---
if run synth_repeat_a 0 "$REL" synth "$tmp/rep-a" --arch qwen2-moe --seed 7 &&
   run synth_repeat_b 0 "$MK" synth "$tmp/rep-b" --arch qwen2-moe --seed 7; then
    if diff -r "$tmp/rep-a" "$tmp/rep-b" >/dev/null; then ok synth_byte_identical; else bad synth_byte_identical "outputs differ"; fi
fi
if run synth_other_seed 0 "$REL" synth "$tmp/rep-c" --arch qwen2-moe --seed 8; then
    if cmp -s "$tmp/rep-a/model-00001-of-00002.safetensors" "$tmp/rep-c/model-00001-of-00002.safetensors"; then
        bad synth_seed_matters "seed 7 and 8 gave the same bytes"
    else ok synth_seed_matters; fi
fi
run synth_refuses_nonempty 2 "$MK" synth "$tmp/rep-a" --arch qwen2-moe && { grep -q -- "--force" <<<"$err" && ok synth_refuses_nonempty || bad synth_refuses_nonempty "$err"; }
run synth_force 0 "$MK" synth "$tmp/rep-a" --arch qwen2-moe --seed 7 --shards 1 --force &&
    { [ -f "$tmp/rep-a/model.safetensors" ] && [ ! -e "$tmp/rep-a/model-00001-of-00002.safetensors" ] &&
      [ ! -e "$tmp/rep-a/model.safetensors.index.json" ] && ok synth_force || bad synth_force "stale files: $(ls "$tmp/rep-a")"; }
# single-file checkpoint: no index, and inspect accepts the folder and the file
run synth_single 0 "$MK" synth "$tmp/single" --shards 1 --dtype f16 &&
    { [ -f "$tmp/single/model.safetensors" ] && [ ! -e "$tmp/single/model.safetensors.index.json" ] && ok synth_single_layout || bad synth_single_layout "unexpected files: $(ls "$tmp/single")"; }
run inspect_single_file 0 "$MK" inspect "$tmp/single/model.safetensors" && ok inspect_single_file
run synth_json 0 "$MK" synth "$tmp/js" --json && { python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["files"]==2 and j["tensors"]>0' <<<"$out" && ok synth_json || bad synth_json "$out"; }
run synth_default_small 0 "$REL" synth "$tmp/def" &&
    { sz=$(du -sb "$tmp/def" | cut -f1); [ "$sz" -lt 20000000 ] && ok synth_default_small || bad synth_default_small "$sz bytes"; }

# --- Hugging Face cache layout: snapshot files are symlinks into blobs/ ---
hf="$tmp/hf/models--x--y"
mkdir -p "$hf/blobs" "$hf/snapshots/abc123"
for f in "$tmp/def"/*; do
    b=$(sha256sum "$f" | cut -c1-40)
    cp "$f" "$hf/blobs/$b"
    ln -s "../../blobs/$b" "$hf/snapshots/abc123/$(basename "$f")"
done
run inspect_hf_cache_symlinks 0 "$MK" inspect "$hf/snapshots/abc123" && { grep -q "findings      none" <<<"$out" && ok inspect_hf_cache_symlinks || bad inspect_hf_cache_symlinks "$out"; }
# a shard symlinked to a folder must be refused
mkdir -p "$tmp/dirlink" && cp "$tmp/def/config.json" "$tmp/def/model.safetensors.index.json" "$tmp/dirlink/"
ln -s "$tmp" "$tmp/dirlink/model-00001-of-00002.safetensors"
cp "$tmp/def/model-00002-of-00002.safetensors" "$tmp/dirlink/"
run inspect_symlink_to_dir 2 "$MK" inspect "$tmp/dirlink" && { grep -q "not a regular file" <<<"$err" && ok inspect_symlink_to_dir || bad inspect_symlink_to_dir "$err"; }

# --- text report shape ---
run inspect_text 0 "$REL" inspect "$tmp/def" &&
    { grep -q "architecture  DeepseekV3ForCausalLM" <<<"$out" && grep -q "+ 1 MTP" <<<"$out" && ok inspect_text || bad inspect_text "$out"; }


# --- convert and verify ---
src="$tmp/conv-src"
"$MK" synth "$src" --arch qwen2-moe --shards 2 >/dev/null && echo '{"tok": 1}' >"$src/tokenizer.json"
for scheme in fp8-block fp8-tensor fp8-channel int8-channel int8-group bf16 f16; do
    d="$tmp/conv-$scheme"
    if run "convert_$scheme" 0 "$MK" convert "$src" "$d" --scheme "$scheme"; then
        grep -q "converted .* $scheme, " <<<"$out" || bad "convert_${scheme}_summary" "$out"
        if run "verify_$scheme" 0 "$MK" verify "$d"; then
            grep -q "manifest" <<<"$out" && ok "verify_$scheme" || bad "verify_$scheme" "$out"
        fi
        [ -f "$d/tokenizer.json" ] && [ -f "$d/moekit.json" ] && ok "convert_${scheme}_side_files" ||
            bad "convert_${scheme}_side_files" "$(ls "$d")"
    fi
done
run convert_again_needs_force 2 "$MK" convert "$src" "$tmp/conv-fp8-block" && { grep -q -- "--force" <<<"$err" && ok convert_again_needs_force || bad convert_again_needs_force "$err"; }
run convert_repeat 0 "$REL" convert "$src" "$tmp/conv-repeat" &&
    { diff -r "$tmp/conv-fp8-block" "$tmp/conv-repeat" >/dev/null && ok convert_byte_identical || bad convert_byte_identical "outputs differ"; }
run convert_verbose 0 "$MK" convert "$src" "$tmp/conv-v" -v &&
    { grep -qE '^\[ +[0-9]+/[0-9]+\] model\.layers\.0\.mlp\.experts\.0\.down_proj\.weight - \[256, 128\], bf16 -> fp8-block \.\. 64\.00 KiB -> 32\.01 KiB$' <<<"$out" && ok convert_verbose || bad convert_verbose "$(head -3 <<<"$out")"; }
run convert_json 0 "$MK" convert "$src" "$tmp/conv-j" --json --scheme int8-channel &&
    { python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["scheme"]=="int8-channel" and j["quantized"]>0 and j["bytes_out"]<j["bytes_in"]' <<<"$out" && ok convert_json || bad convert_json "$out"; }
run convert_bad_scheme 2 "$MK" convert "$src" "$tmp/conv-x" --scheme fp4 && { grep -q "not one of" <<<"$err" && ok convert_bad_scheme || bad convert_bad_scheme "$err"; }
run convert_bad_size 2 "$MK" convert "$src" "$tmp/conv-x" --max-shard-size lots && ok convert_bad_size
run convert_nested_out 0 "$MK" convert "$src" "$tmp/nest/a/b" --scheme fp8-channel && { [ -f "$tmp/nest/a/b/moekit.json" ] && ok convert_nested_out || bad convert_nested_out "no output"; }
mkdir -p "$tmp/noconfig" && cp "$src"/*.safetensors "$src/model.safetensors.index.json" "$tmp/noconfig/"
run convert_needs_config 2 "$MK" convert "$tmp/noconfig" "$tmp/conv-x" && { grep -q "config.json" <<<"$err" && ok convert_needs_config || bad convert_needs_config "$err"; }
# a flipped byte in a shard is caught by the manifest hashes
cp -r "$tmp/conv-fp8-block" "$tmp/conv-flip"
shard="$tmp/conv-flip/model-expert-00003-of-00008.safetensors"
size=$(stat -c %s "$shard")
printf '\x5a' | dd of="$shard" bs=1 seek=$((size - 100)) conv=notrunc status=none
run verify_flipped_byte 2 "$MK" verify "$tmp/conv-flip" && { grep -q "model-expert-00003-of-00008.safetensors" <<<"$err" && ok verify_flipped_byte || bad verify_flipped_byte "$err"; }
# a deleted scale is caught even without a manifest
cp -r "$tmp/conv-int8-channel" "$tmp/conv-noscale" && rm "$tmp/conv-noscale/moekit.json"
python3 - "$tmp/conv-noscale" <<'PY'
import json, os, struct, sys
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
name = "model.layers.1.self_attn.q_proj.weight_scale"
fn = os.path.join(d, idx["weight_map"][name])
data = open(fn, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
h = json.loads(data[8:8 + n])
body = data[8 + n:]
# rebuild the shard without that tensor
keep = sorted(((k, v) for k, v in h.items() if k not in ("__metadata__", name)), key=lambda kv: kv[1]["data_offsets"][0])
out, off, nh = b"", 0, {"__metadata__": h["__metadata__"]}
for k, v in keep:
    b0, b1 = v["data_offsets"]
    out += body[b0:b1]
    nh[k] = dict(v, data_offsets=[off, off + b1 - b0])
    off += b1 - b0
hj = json.dumps(nh, separators=(",", ":")).encode()
hj += b" " * (-len(hj) % 8)
open(fn, "wb").write(struct.pack("<Q", len(hj)) + hj + out)
del idx["weight_map"][name]
b0, b1 = h[name]["data_offsets"]
idx["metadata"]["total_size"] -= b1 - b0
json.dump(idx, open(os.path.join(d, "model.safetensors.index.json"), "w"))
PY
run verify_missing_scale 2 "$MK" verify "$tmp/conv-noscale" && { grep -q "model.layers.1.self_attn.q_proj" <<<"$err" && ok verify_missing_scale || bad verify_missing_scale "$err"; }
# DeepSeek-native FP8 back to BF16, then inspect finds nothing amiss
"$MK" synth "$tmp/ds" >/dev/null
run convert_ds_fp8 0 "$MK" convert "$tmp/ds" "$tmp/ds-fp8" && run convert_ds_fp8_to_bf16 0 "$MK" convert "$tmp/ds-fp8" "$tmp/ds-bf16" --scheme bf16 &&
    run inspect_ds_bf16 0 "$MK" inspect "$tmp/ds-bf16" && { grep -q "findings      none" <<<"$out" && ok convert_fp8_roundtrip_bf16 || bad convert_fp8_roundtrip_bf16 "$out"; }

# --- validate ---
vsrc="$tmp/ds"   # deepseek-v3 synth from above, and its fp8 conversion
run validate_same 0 "$MK" validate "$vsrc" "$vsrc" --tokens 64 && { grep -q "output SQNR min exact dB" <<<"$out" && grep -q "router flips 0.00%" <<<"$out" && ok validate_same_model_is_exact || bad validate_same_model_is_exact "$out"; }
if run validate_fp8_json 0 "$MK" validate "$vsrc" "$tmp/ds-fp8" --tokens 128 --json; then
    echo "$out" >"$tmp/val.json"
    python3 - "$tmp/val.json" <<'PY' && ok validate_fp8_bands || bad validate_fp8_bands "$(head -c 400 "$tmp/val.json")"
import json, sys
j = json.load(open(sys.argv[1]))
ls = j["layers"]
assert [l["layer"] for l in ls] == [0, 1, 2, 3] and ls[0]["kind"] == "dense" and ls[1]["kind"] == "moe"
for l in ls:
    assert 18 < l["sqnr_db"] < 40, l["sqnr_db"]          # three FP8 matmuls in a row
    assert 0.99 < l["cosine"] <= 1 and 0 < l["rel_l2"] < 0.15
for l in ls[1:]:
    assert l["flip_rate_same_input"] == 0                 # routers stay BF16
    assert 0 <= l["flip_rate"] <= 1 and 0 < l["mean_topk_overlap"] <= 1
    e = l["expert_weight_sqnr_db"]
    assert len(e) == 8 and all(29 < v < 34 for v in e), e   # FP8 weights ~31 dB
    assert len(l["worst_experts"]) == 5
assert j["summary"]["min_sqnr_db"] == min(l["sqnr_db"] for l in ls)
PY
fi
run validate_gate_sqnr 3 "$MK" validate "$vsrc" "$tmp/ds-fp8" --tokens 32 --min-sqnr 60 && { grep -q "gate failed: layer 0 output SQNR" <<<"$err" && ok validate_gate_sqnr || bad validate_gate_sqnr "$err"; }
run validate_gate_pass 0 "$MK" validate "$vsrc" "$tmp/ds-fp8" --tokens 32 --min-sqnr 10 && ok validate_gate_pass
run validate_layers 0 "$MK" validate "$vsrc" "$tmp/ds-fp8" --tokens 16 --layers 1,3-4 --json && { python3 -c 'import json,sys; j=json.load(sys.stdin); assert [l["layer"] for l in j["layers"]]==[1,3,4]' <<<"$out" && ok validate_layers || bad validate_layers "$out"; }
run validate_bad_layers 2 "$MK" validate "$vsrc" "$vsrc" --layers 9 && { grep -q "layer 9 does not exist" <<<"$err" && ok validate_bad_layers || bad validate_bad_layers "$err"; }
run validate_bad_layer_spec 2 "$MK" validate "$vsrc" "$vsrc" --layers one && ok validate_bad_layer_spec
run validate_other_model 2 "$MK" validate "$vsrc" "$tmp/synth-mixtral" && { grep -q "not the same model" <<<"$err" && ok validate_other_model || bad validate_other_model "$err"; }
run validate_bad_flip 2 "$MK" validate "$vsrc" "$vsrc" --max-flip 2 && ok validate_bad_flip
python3 - "$tmp/hs.safetensors" <<'PY'
import json, struct, sys, random
random.seed(1)
T, H = 8, 128                       # wrong hidden size for the 256-wide model
vals = [random.gauss(0, 1) for _ in range(T * H)]
h = json.dumps({"hidden_states": {"dtype": "F32", "shape": [T, H], "data_offsets": [0, 4 * T * H]}}).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + struct.pack(f"<{T*H}f", *vals))
PY
run validate_input_wrong_width 2 "$MK" validate "$vsrc" "$vsrc" --input "$tmp/hs.safetensors" && { grep -q "hidden_states" <<<"$err" && ok validate_input_wrong_width || bad validate_input_wrong_width "$err"; }
run forward_wrong_width 2 "$MK" forward "$vsrc" --layer 1 --input "$tmp/hs.safetensors" --output "$tmp/y.safetensors" && { grep -q "hidden_states" <<<"$err" && ok forward_wrong_width || bad forward_wrong_width "$err"; }

finish
