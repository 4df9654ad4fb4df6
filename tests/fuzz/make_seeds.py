#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets: tests/fuzz/corpus/<target>/.

    python3 tests/fuzz/make_seeds.py [OUT_DIR]      (default: tests/fuzz/corpus)

Standard library only, deterministic (the same bytes on every run), so the
checked-in corpus can be regenerated and diffed.  Each target gets a handful of
small valid inputs plus a few deliberately broken ones that sit right at a
check (truncation, overlap, overflow, a NaN), which gives the fuzzer a head
start on the error paths.  Everything stays far below 1 MB.
"""
import json
import os
import shutil
import struct
import sys

DTYPE_SIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "F64": 8, "I64": 8, "U64": 8, "C64": 8,
}


def pattern(n, salt=0):
    return bytes(((i * 31 + salt * 7 + 3) & 0xFF) for i in range(n))


def safetensors(tensors, metadata=None, pad=True, extra=b"", order=None):
    """tensors: list of (name, dtype, shape[, data bytes]) laid out in list order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    entries = []
    for i, t in enumerate(tensors):
        name, dtype, shape = t[0], t[1], t[2]
        n = DTYPE_SIZE[dtype]
        for d in shape:
            n *= d
        blob = t[3] if len(t) > 3 else pattern(n, i)
        entries.append((name, {"dtype": dtype, "shape": list(shape),
                               "data_offsets": [len(data), len(data) + len(blob)]}))
        data += blob
    for name, e in (entries if order is None else [entries[k] for k in order]):
        header[name] = e
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data + extra


def raw_safetensors(header_text, data=b"", header_len=None):
    h = header_text.encode()
    return struct.pack("<Q", len(h) if header_len is None else header_len) + h + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def bf16(values):
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:]
                    for v in values)


def f16(values):
    return struct.pack("<%de" % len(values), *values)


def seeds_safetensors():
    yield "all_dtypes", safetensors([
        ("model.layers.0.mlp.experts.0.down_proj.weight", "BF16", [2, 3]),
        ("model.layers.0.mlp.experts.0.down_proj.weight_scale_inv", "F32", [1, 1]),
        ("f16", "F16", [2, 2]),
        ("i8", "I8", [3]),
        ("fp8", "F8_E4M3", [4]),
        ("e5m2", "F8_E5M2", [2]),
        ("e8m0", "F8_E8M0", [1]),
        ("u8", "U8", [5]),
        ("boolean", "BOOL", [2]),
        ("i16", "I16", [1]), ("u16", "U16", [1]), ("i32", "I32", [2]), ("u32", "U32", [1]),
        ("f64", "F64", [1]), ("i64", "I64", [1]), ("u64", "U64", [1]), ("c64", "C64", [1]),
    ], metadata={"format": "pt"})
    yield "scalar_and_empty", safetensors([
        ("scalar", "F64", []),
        ("empty", "F32", [0]),
        ("empty2d", "BF16", [3, 0]),
        ("vec", "F32", [2]),
    ], metadata={"format": "pt", "note": "scalar and zero-size tensors"})
    yield "no_tensors", safetensors([], metadata={"format": "pt"})
    yield "empty_header", raw_safetensors("{}")
    yield "unpadded_header", safetensors([("x", "F32", [3])], pad=False)
    yield "moe_layer", safetensors([
        ("model.layers.1.mlp.gate.weight", "BF16", [4, 8]),
        ("model.layers.1.mlp.gate.e_score_correction_bias", "F32", [4]),
        ("model.layers.1.mlp.experts.0.gate_proj.weight", "F8_E4M3", [4, 8]),
        ("model.layers.1.mlp.experts.0.gate_proj.weight_scale_inv", "F32", [1, 1]),
        ("model.layers.1.block_sparse_moe.experts.3.w2.weight", "BF16", [2, 2]),
        ("model.layers.1.mlp.shared_experts.up_proj.weight", "BF16", [2, 2]),
        ("model.embed_tokens.weight", "BF16", [4, 2]),
        ("lm_head.weight", "BF16", [4, 2]),
    ], metadata={"format": "pt"}, order=[7, 6, 5, 4, 3, 2, 1, 0])
    yield "max_dims", safetensors([("t8", "U8", [1, 2, 1, 2, 1, 2, 1, 1])])
    # Broken right at a check.
    yield "bad_truncated", safetensors([("x", "F32", [4])])[:-3]
    yield "bad_trailing", safetensors([("x", "F32", [1])], extra=b"\0\0")
    yield "bad_overlap", raw_safetensors(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        '"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}', bytes(6))
    yield "bad_overflow", raw_safetensors(
        '{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}')
    yield "bad_header_len", raw_safetensors('{"a":1}', header_len=1 << 40)
    yield "bad_duplicate", raw_safetensors(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
        '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"ab")
    yield "bad_subbyte", raw_safetensors('{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}', b"a")


def seeds_index():
    def idx(wm, meta=True, total=30):
        d = {}
        if meta is True:
            d["metadata"] = {"total_size": total}
        elif meta is not None:
            d["metadata"] = meta
        d["weight_map"] = wm
        return json.dumps(d, indent=2).encode() + b"\n"
    yield "realistic", idx({"w": "a.safetensors", "x": "a.safetensors", "y": "b.safetensors"})
    yield "partial", idx({"x": "a.safetensors"}, meta={"total_size": 8.0, "format": "pt"})
    yield "wrong_shard", idx({"x": "b.safetensors", "y": "a.safetensors"})
    yield "missing_tensor", idx({"x": "a.safetensors", "z": "b.safetensors"}, meta=None)
    yield "missing_shard", idx({"x": "c.safetensors"})
    yield "index_as_shard", idx({"x": "model.safetensors.index.json"})
    yield "escape", idx({"x": "../a.safetensors", "y": "."})
    yield "empty_map", idx({}, meta={"total_size": None})
    yield "bad_type", b'{"metadata":{"total_size":-5},"weight_map":{"x":1}}'


# Small configs, one per supported architecture, in the style of
# formats/catalog_models.c (published key sets, trimmed, shrunk dimensions).
CONFIGS = {
    "mixtral": {"architectures": ["MixtralForCausalLM"], "hidden_size": 64,
                "intermediate_size": 96, "max_position_embeddings": 4096,
                "model_type": "mixtral", "num_attention_heads": 8, "num_experts_per_tok": 2,
                "num_hidden_layers": 2, "num_key_value_heads": 2, "num_local_experts": 4,
                "rms_norm_eps": 1e-05, "sliding_window": None, "tie_word_embeddings": False,
                "torch_dtype": "bfloat16", "vocab_size": 128},
    "qwen2_moe": {"architectures": ["Qwen2MoeForCausalLM"], "decoder_sparse_step": 1,
                  "hidden_size": 64, "intermediate_size": 128, "max_position_embeddings": 8192,
                  "mlp_only_layers": [], "model_type": "qwen2_moe", "moe_intermediate_size": 32,
                  "norm_topk_prob": False, "num_attention_heads": 4, "num_experts": 8,
                  "num_experts_per_tok": 2, "num_hidden_layers": 2, "num_key_value_heads": 4,
                  "rms_norm_eps": 1e-06, "shared_expert_intermediate_size": 64,
                  "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 151},
    "qwen3_moe": {"architectures": ["Qwen3MoeForCausalLM"], "decoder_sparse_step": 2,
                  "head_dim": 16, "hidden_size": 64, "intermediate_size": 96,
                  "max_position_embeddings": 40960, "mlp_only_layers": [0],
                  "model_type": "qwen3_moe", "moe_intermediate_size": 24, "norm_topk_prob": True,
                  "num_attention_heads": 8, "num_experts": 8, "num_experts_per_tok": 2,
                  "num_hidden_layers": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
                  "rope_scaling": None, "tie_word_embeddings": False,
                  "torch_dtype": "bfloat16", "vocab_size": 100},
    "deepseek_v2": {"architectures": ["DeepseekV2ForCausalLM"], "first_k_dense_replace": 1,
                    "hidden_size": 64, "intermediate_size": 128, "kv_lora_rank": 16,
                    "max_position_embeddings": 163840, "model_type": "deepseek_v2",
                    "moe_intermediate_size": 32, "moe_layer_freq": 1, "n_group": 1,
                    "n_routed_experts": 8, "n_shared_experts": 2, "norm_topk_prob": False,
                    "num_attention_heads": 4, "num_experts_per_tok": 2, "num_hidden_layers": 3,
                    "num_key_value_heads": 4, "q_lora_rank": None, "qk_nope_head_dim": 16,
                    "qk_rope_head_dim": 8, "rms_norm_eps": 1e-06, "routed_scaling_factor": 1.0,
                    "scoring_func": "softmax", "tie_word_embeddings": False, "topk_group": 1,
                    "topk_method": "greedy", "torch_dtype": "bfloat16", "v_head_dim": 16,
                    "vocab_size": 128},
    "deepseek_v3": {"architectures": ["DeepseekV3ForCausalLM"], "attention_bias": False,
                    "first_k_dense_replace": 1, "hidden_size": 64, "intermediate_size": 128,
                    "kv_lora_rank": 16, "max_position_embeddings": 163840,
                    "model_type": "deepseek_v3", "moe_intermediate_size": 16, "moe_layer_freq": 1,
                    "n_group": 4, "n_routed_experts": 16, "n_shared_experts": 1,
                    "norm_topk_prob": True, "num_attention_heads": 4, "num_experts_per_tok": 4,
                    "num_hidden_layers": 3, "num_key_value_heads": 4,
                    "num_nextn_predict_layers": 1, "q_lora_rank": 24, "qk_nope_head_dim": 16,
                    "qk_rope_head_dim": 8,
                    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3",
                                            "activation_scheme": "dynamic",
                                            "weight_block_size": [128, 128]},
                    "rms_norm_eps": 1e-06, "routed_scaling_factor": 2.5,
                    "scoring_func": "sigmoid", "tie_word_embeddings": False, "topk_group": 2,
                    "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "v_head_dim": 16,
                    "vocab_size": 129},
    "llama": {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "hidden_size": 64,
              "intermediate_size": 172, "max_position_embeddings": 2048, "model_type": "llama",
              "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
              "rms_norm_eps": 1e-05, "tie_word_embeddings": True, "torch_dtype": "float16",
              "vocab_size": 256},
    "mistral": {"architectures": ["MistralForCausalLM"], "head_dim": 32, "hidden_size": 64,
                "intermediate_size": 224, "max_position_embeddings": 32768,
                "model_type": "mistral", "num_attention_heads": 4, "num_hidden_layers": 2,
                "num_key_value_heads": 1, "rms_norm_eps": 1e-05, "sliding_window": 4096,
                "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 320},
    "qwen2": {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64,
              "intermediate_size": 128, "max_position_embeddings": 32768, "model_type": "qwen2",
              "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
              "rms_norm_eps": 1e-06, "tie_word_embeddings": True, "dtype": "bfloat16",
              "vocab_size": 151},
    "qwen3": {"architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "head_dim": 16,
              "hidden_size": 64, "intermediate_size": 192, "max_position_embeddings": 40960,
              "model_type": "qwen3", "num_attention_heads": 8, "num_hidden_layers": 2,
              "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "tie_word_embeddings": True,
              "torch_dtype": "float32", "vocab_size": 151},
}


def seeds_config():
    for name, cfg in CONFIGS.items():
        yield name, json.dumps(cfg, indent=2).encode() + b"\n"
    # model_type only, nulls for defaults
    yield "model_type_only", json.dumps({
        "model_type": "deepseek_v2", "hidden_size": 32, "intermediate_size": 64,
        "kv_lora_rank": 8, "moe_intermediate_size": 8, "n_routed_experts": 4,
        "n_group": None, "num_attention_heads": 2, "num_experts_per_tok": 2,
        "num_hidden_layers": 2, "qk_nope_head_dim": 8, "qk_rope_head_dim": 8,
        "topk_method": "group_limited_greedy", "topk_group": None,
        "v_head_dim": 8, "vocab_size": 64}, separators=(",", ":")).encode()
    yield "bad_routing", json.dumps(dict(CONFIGS["mixtral"], num_experts_per_tok=9)).encode()
    yield "bad_unsupported", b'{"architectures":["GPT2LMHeadModel"],"hidden_size":64}'


def seeds_recipe():
    yield "docs_example", (
        b"# keep the dense first layer and the routers in BF16, attention in INT8, experts in FP8\n"
        b"scheme: fp8-channel              # default for every quantizable weight\n"
        b"keep:                            # stay in source precision\n"
        b"  - \"model.layers.0.*\"\n"
        b"  - 're:.*\\.mlp\\.gate\\..*'       # single quotes: YAML keeps the backslashes\n"
        b"overrides:                       # ordered; the first match wins\n"
        b"  - match: \"*.self_attn.*\"\n"
        b"    scheme: int8-channel\n")
    yield "flow_style", (b"{scheme: fp8-block, keep: [lm_head.weight, 'model.layers.[0-2].*'],"
                         b" overrides: [{match: 're:.*experts\\.(1[0-9]|[0-9])\\..*', scheme: keep},"
                         b" {scheme: int8-group, match: '*down_proj*'}]}\n")
    yield "overrides_only", (b"overrides:\n"
                             b"  - match: \"model.layers.*.mlp.experts.*\"\n"
                             b"    scheme: fp8-tensor\n"
                             b"  - match: \"re:model\\\\.layers\\\\.[0-9]+\\\\..*\"\n"
                             b"    scheme: int8-channel\n")
    yield "scheme_only", b"---\nscheme: bf16\n...\n"
    yield "anchors", (b"keep: &k\n  - \"*.gate.*\"\n  - \"lm_head.*\"\n"
                      b"overrides:\n  - match: \"*\"\n    scheme: &s fp8-block\n")
    yield "bad_regex", b"keep:\n  - 're:(unclosed'\n"
    yield "bad_key", b"scheme: fp8-block\nkepp:\n  - x\n"


def seeds_catalog():
    yield "two_gpus", (
        b"# user catalog\n"
        b"gpus:\n"
        b"  - name: h100\n"
        b"    label: NVIDIA H100 SXM 80GB\n"
        b"    memory_gib: 79.1\n"
        b"    bandwidth_gbps: 3350\n"
        b"    bf16_tflops: 989\n"
        b"    fp8_tflops: 1979\n"
        b"  - name: mi300x\n"
        b"    label: AMD Instinct MI300X 192GB\n"
        b"    memory_gib: 191.98\n"
        b"    bandwidth_gbps: 5300\n"
        b"    bf16_tflops: 1307\n"
        b"    fp8_tflops: 2614\n")
    yield "minimal", b"gpus:\n  - name: x1\n    memory_gib: 1\n"
    yield "flow_style", (b"{gpus: [{name: a100-80g, memory_gib: 79.15, bandwidth_gbps: 2039,"
                         b" bf16_tflops: 312, fp8_tflops: 0}, {name: l4, memory_gib: 22.49}]}\n")
    yield "bad_duplicate", b"gpus:\n  - name: h100\n    memory_gib: 1\n  - name: H100\n    memory_gib: 2\n"
    yield "bad_number", b"gpus:\n  - name: h100\n    memory_gib: .inf\n"


def seeds_hidden_states():
    vals = [((i * 13) % 17 - 8) / 4.0 for i in range(2 * 64)]
    yield "f32", safetensors([("hidden_states", "F32", [2, 64], f32(vals))],
                             metadata={"format": "pt"})
    yield "bf16", safetensors([("hidden_states", "BF16", [1, 64], bf16(vals[:64]))])
    yield "f16", safetensors([("hidden_states", "F16", [3, 64], f16(vals + vals[:64]))],
                             metadata={"format": "pt"})
    yield "f32_unpadded", safetensors([("hidden_states", "F32", [1, 64], f32(vals[:64]))],
                                      pad=False)
    yield "with_others", safetensors([("a", "U8", [3]), ("hidden_states", "BF16", [1, 64],
                                      bf16(vals[64:]))])
    yield "bad_nan", safetensors([("hidden_states", "F32", [1, 64],
                                   f32(vals[:63]) + struct.pack("<I", 0x7FC00000))])
    yield "bad_hidden", safetensors([("hidden_states", "F32", [2, 32], f32(vals[:64]))])
    yield "bad_dtype", safetensors([("hidden_states", "I32", [1, 64])])
    yield "bad_missing", safetensors([("hidden", "F32", [1, 64], f32(vals[:64]))])


TARGETS = {
    "safetensors": seeds_safetensors, "index": seeds_index, "config": seeds_config,
    "recipe": seeds_recipe, "catalog": seeds_catalog, "hidden_states": seeds_hidden_states,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "corpus")
    total = 0
    for target, gen in TARGETS.items():
        d = os.path.join(out, target)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for name, data in gen():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
    print("wrote %s (%d bytes)" % (out, total))


if __name__ == "__main__":
    main()
