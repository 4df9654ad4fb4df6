#!/usr/bin/env python3
"""Writes one malformed checkpoint per failure case into OUT_DIR and prints a
manifest, one case a line: `<path>\t<expected message fragment>`.

Each case breaks exactly one rule of docs/formats.md; the CLI test runs
`moekit inspect <path>` on each and expects exit 2, one line on stderr naming
the file, and the fragment."""
import json
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
cases = []


def raw(header_bytes, data=b"", n=None):
    """Bytes of a safetensors file with a literal header."""
    if n is None:
        n = len(header_bytes)
    return struct.pack("<Q", n) + header_bytes + data


def st(header, data=b""):
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    b = text.encode()
    b += b" " * (-len(b) % 8)
    return raw(b, data)


def case(name, content, fragment):
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(content)
    cases.append((path, fragment))


def folder(name, files, fragment, target=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    for fname, content in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
    cases.append((os.path.join(d, target) if target else d, fragment))


T = lambda dt, shape, b, e: {"dtype": dt, "shape": shape, "data_offsets": [b, e]}
ok_tensor = st({"a": T("F32", [2], 0, 8)}, b"\0" * 8)

case("short.safetensors", b"\x01\x02\x03", "too small")
case("empty.safetensors", b"", "too small")
case("past_eof.safetensors", raw(b"{}", n=1000), "runs past the end")
case("too_large.safetensors", raw(b"{}", n=100_000_001), "exceeds the 100000000-byte limit")
case("bad_json.safetensors", st("{not json"), "invalid header JSON")
case("bad_utf8.safetensors", raw(b'{"\xff\xfe":1}      '), "invalid header JSON")
case("not_object.safetensors", st("[1,2]"), "not a JSON object")
case("entry_not_object.safetensors", st({"a": 5}), "entry is not a JSON object")
case("unknown_dtype.safetensors", st({"a": T("F7", [1], 0, 1)}, b"\0"), "unknown dtype")
case("subbyte_dtype.safetensors", st({"a": T("F4", [2], 0, 1)}, b"\0"), "sub-byte")
case("negative_shape.safetensors", st({"a": T("U8", [-1], 0, 0)}), "is negative")
case("float_shape.safetensors", st({"a": T("U8", [1.5], 0, 1)}, b"\0"), "not an integer")
case("string_shape.safetensors", st({"a": T("U8", ["2"], 0, 2)}, b"\0\0"), "not a number")
case("shape_overflow.safetensors",
     st({"a": T("F32", [4294967296, 4294967296, 2], 0, 0)}), "overflows")
case("too_many_dims.safetensors", st({"a": T("U8", [1] * 9, 0, 1)}, b"\0"), "dimensions")
case("offsets_three.safetensors",
     st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', b"\0"), "data_offsets")
case("offsets_negative.safetensors",
     st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', b"\0"), "is negative")
case("end_before_begin.safetensors",
     st({"a": T("U8", [0], 0, 0), "b": T("U8", [4], 0, 4), "c": T("U8", [0], 8, 4)}, b"\0" * 4),
     "end before begin")
case("hole.safetensors", st({"a": T("F32", [1], 0, 4), "b": T("F32", [1], 8, 12)}, b"\0" * 12),
     "a hole before it")
case("overlap.safetensors", st({"a": T("F32", [2], 0, 8), "b": T("F32", [2], 4, 12)}, b"\0" * 12),
     "overlaps")
case("size_mismatch.safetensors", st({"a": T("F32", [2], 0, 4)}, b"\0" * 4), "needs 8")
case("out_of_range.safetensors", st({"a": T("F32", [250], 0, 1000)}, b"\0" * 8), "truncated")
case("trailing.safetensors", ok_tensor + b"xyz", "3 trailing bytes")
case("misaligned.safetensors", st({"a": T("U8", [3], 0, 3), "b": T("BF16", [2], 3, 7)}, b"\0" * 7), "misaligned")
case("duplicate.safetensors",
     st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
        '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"\0\0"), "duplicate")
case("meta_not_string.safetensors", st({"__metadata__": {"format": 1}}), "is not a string")
case("meta_not_object.safetensors", st({"__metadata__": [1]}), "__metadata__ is not")
case("missing_dtype.safetensors", st({"a": {"shape": [1], "data_offsets": [0, 1]}}, b"\0"),
     "\"dtype\"")

idx = lambda wm: json.dumps({"metadata": {"total_size": 8}, "weight_map": wm})
folder("index_missing_shard", {"model.safetensors.index.json": idx({"a": "model-00001-of-00001.safetensors"})},
       "is missing")
folder("index_dotdot", {"model.safetensors.index.json": idx({"a": "../escape.safetensors"})},
       "not a plain file name")
folder("index_absolute", {"model.safetensors.index.json": idx({"a": "/etc/passwd"})},
       "not a plain file name")
folder("index_dot", {"model.safetensors.index.json": idx({"a": "."})}, "not a plain file name")
folder("index_lists_absent_tensor",
       {"model.safetensors.index.json": idx({"a": "s.safetensors", "zz": "s.safetensors"}),
        "s.safetensors": ok_tensor}, "'zz' listed in")
folder("index_bad_json", {"model.safetensors.index.json": "{\"weight_map\": "}, "invalid JSON")
folder("index_no_weight_map", {"model.safetensors.index.json": "{\"metadata\": {}}"}, "weight_map")
folder("index_entry_not_string", {"model.safetensors.index.json": idx({"a": 3})}, "not a string")
folder("no_weights", {"config.json": "{}"}, "no model.safetensors.index.json")
folder("bad_shard_in_index",
       {"model.safetensors.index.json": idx({"a": "s.safetensors"}), "s.safetensors": b"\0\0"},
       "too small")

ds = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 64,
      "num_hidden_layers": 1, "num_attention_heads": 1, "vocab_size": 8, "intermediate_size": 64,
      "moe_intermediate_size": 64, "kv_lora_rank": 16, "qk_nope_head_dim": 16,
      "qk_rope_head_dim": 16, "v_head_dim": 16, "num_experts_per_tok": 1}
folder("config_missing_key", {"config.json": json.dumps(ds), "model.safetensors": ok_tensor},
       "n_routed_experts")
folder("config_unsupported",
       {"config.json": json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}),
        "model.safetensors": ok_tensor}, "unsupported architecture")
folder("config_bad_json", {"config.json": "{\"architectures\": [", "model.safetensors": ok_tensor},
       "config.json")
bad_type = dict(ds, n_routed_experts="many")
folder("config_bad_type", {"config.json": json.dumps(bad_type), "model.safetensors": ok_tensor},
       "n_routed_experts")

# Other formats: YAML recipes (convert --recipe), GPU catalogs (plan
# --catalog) and forward/validate inputs (hidden_states); the third column
# says which command reads them.
def other(kind, name, content, fragment):
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())
    cases.append((path, fragment, kind))


other("recipe", "unknown_key.yaml", "scheme: fp8-block\nkepp:\n  - x\n", ":2: unknown key 'kepp'")
other("recipe", "bad_scheme.yaml", "scheme: fp4\n", ":1: scheme 'fp4'")
other("recipe", "bad_regex.yaml", "keep:\n  - 're:[z-a]'\n", ":2: bad regular expression")
other("recipe", "not_mapping.yaml", "- a\n- b\n", "a recipe is a mapping")
other("recipe", "override_no_match.yaml", "overrides:\n  - scheme: int8-channel\n", "needs both 'match' and 'scheme'")
other("recipe", "alias_bomb.yaml",
      "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
      "unknown key 'a'")
other("recipe", "regex_bomb.yaml", "keep:\n  - 're:a++++++++++++++++++++'\n", "regular expression refused")
other("recipe", "nested_repeat_bomb.yaml", "keep:\n  - 're:(((a{255}){255}){255})'\n", "regular expression refused")
other("recipe", "tab_indent.yaml", "keep:\n\t- x\n", "invalid YAML")
other("catalog", "neg_mem.yaml", "gpus:\n  - name: x\n    memory_gib: -1\n", ":3:")
other("catalog", "no_mem.yaml", "gpus:\n  - name: x\n", "memory_gib")
other("catalog", "dup_gpu.yaml", "gpus:\n  - name: x\n    memory_gib: 1\n  - name: x\n    memory_gib: 2\n", "duplicate")
other("catalog", "unknown_gpu_key.yaml", "gpus:\n  - name: x\n    memory_gib: 1\n    memroy: 2\n", "memroy")
other("catalog", "catalog_not_yaml.yaml", "gpus: [\n", ":")
hs = lambda dt, shape, data: st({"hidden_states": T(dt, shape, 0, len(data))}, data)
other("hidden", "hs_wrong_width.safetensors", hs("F32", [2, 8], b"\0" * 64), "hidden_states")
other("hidden", "hs_wrong_dtype.safetensors", hs("I32", [1, 256], b"\0" * 1024), "hidden_states")
other("hidden", "hs_missing.safetensors", st({"other": T("F32", [1, 256], 0, 1024)}, b"\0" * 1024), "hidden_states")
other("hidden", "hs_nan.safetensors", hs("F32", [1, 256], struct.pack("<f", float("nan")) * 256), "NaN")
other("hidden", "hs_1d.safetensors", hs("F32", [256], b"\0" * 1024), "hidden_states")

for c in cases:
    path, frag = c[0], c[1]
    kind = c[2] if len(c) > 2 else "inspect"
    print(f"{path}\t{frag}\t{kind}")
