#!/usr/bin/env python3
"""Independent verifier for a Hugging Face style MoE checkpoint folder.

Written only from public format knowledge (the safetensors format, the
huggingface_hub shard index, and the parameter names/shapes of the
transformers / DeepSeek model classes), NOT from moekit's C sources, so that
it can catch bugs the C code shares with its own tests.

Usage:
    python3 independent_check.py CKPT_DIR [--expect-names-only]

On success prints one line
    independent_check: OK <n_tensors> tensors, <n_files> files
and exits 0.  Otherwise prints up to 50 lines
    independent_check: FAIL <reason>
and exits 1.

Checks (see the argparse help / section comments below):
  1. safetensors container layout of every shard file;
  2. model.safetensors.index.json consistency;
  3. exact tensor name / dtype / shape set derived from config.json;
  4. cheap value sanity (finite, norms ~1, projection std and outlier
     input channels); skipped with --expect-names-only.

Python 3 standard library only.
"""

import argparse
import json
import math
import operator
import os
import re
import struct
import sys
from array import array

PROG = "independent_check"
MAX_REPORTED = 50
MAX_HEADER_SIZE = 100_000_000  # safetensors MAX_HEADER_SIZE
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"

# safetensors dtype enum in "increasing alignment" order; the reference
# writer sorts tensors by this order DESCENDING, then by name ascending.
DTYPE_ORDER = [
    "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
    "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
    "I32", "U32", "F32", "C64", "F64", "I64", "U64",
]
DTYPE_RANK = {d: i for i, d in enumerate(DTYPE_ORDER)}

# dtypes we accept in a checkpoint, with their element size in bytes.
DTYPE_SIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "F64": 8, "I64": 8, "U64": 8,
}

TORCH_DTYPE = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}

SUPPORTED_ARCHS = (
    "MixtralForCausalLM", "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM",
    "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM",
)

# Linear layers whose 2-D weights get the std / outlier-column checks:
# the last name component before ".weight".
PROJECTION_LEAVES = {
    "q_proj", "k_proj", "v_proj", "o_proj",
    "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj",
    "gate_proj", "up_proj", "down_proj", "w1", "w2", "w3", "eh_proj",
}

SHARD_RE = re.compile(r"^model-(\d{5})-of-(\d{5})\.safetensors$")


class Report:
    """Collects failure messages; printing is capped at MAX_REPORTED lines."""

    def __init__(self):
        self.problems = []

    def fail(self, msg):
        self.problems.append(msg)

    def emit(self):
        for msg in self.problems[:MAX_REPORTED]:
            print("%s: FAIL %s" % (PROG, msg))
        extra = len(self.problems) - MAX_REPORTED
        if extra > 0:
            print("%s: FAIL (%d more problems not shown)" % (PROG, extra))


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------

def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _dup_checking_hook(dups):
    """object_pairs_hook that records duplicate keys (at any nesting level)
    and returns an insertion-ordered dict."""

    def hook(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        return dict(pairs)

    return hook


def load_json_file(path, rep, what):
    """Parse a JSON file strictly (no duplicate keys). Returns obj or None."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        rep.fail("%s: cannot read %s: %s" % (what, path, e))
        return None
    dups = []
    try:
        obj = json.loads(text, object_pairs_hook=_dup_checking_hook(dups))
    except ValueError as e:
        rep.fail("%s: invalid JSON: %s" % (what, e))
        return None
    for k in dups:
        rep.fail("%s: duplicate JSON key %r" % (what, k))
    return obj


# ---------------------------------------------------------------------------
# 1. safetensors container
# ---------------------------------------------------------------------------

class SafetensorsFile:
    """Parsed header of one .safetensors file.

    tensors: {name: (dtype, shape, begin, end)} for well-formed entries.
    data_start: absolute offset of the byte buffer (8 + N).
    """

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.tensors = {}
        self.data_start = None
        self.ok = False  # header parsed well enough to read values


def check_safetensors(path, rep):
    """Validate the container layout of one file; returns SafetensorsFile."""
    st = SafetensorsFile(path)
    fname = st.name

    def fail(msg):
        rep.fail("%s: %s" % (fname, msg))

    try:
        fsize = os.path.getsize(path)
        with open(path, "rb") as f:
            head8 = f.read(8)
            if len(head8) < 8:
                fail("file shorter than 8 bytes")
                return st
            (n,) = struct.unpack("<Q", head8)
            if n > MAX_HEADER_SIZE:
                fail("header length %d > %d" % (n, MAX_HEADER_SIZE))
                return st
            if 8 + n > fsize:
                fail("header length %d runs past end of file (%d bytes)" % (n, fsize))
                return st
            raw = f.read(n)
    except OSError as e:
        fail("cannot read: %s" % e)
        return st

    st.data_start = 8 + n
    if (8 + n) % 8 != 0:
        fail("8 + header length = %d is not a multiple of 8" % (8 + n))

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("header is not UTF-8: %s" % e)
        return st
    if not text.startswith("{"):
        fail("header does not begin with '{' (starts with %r)" % text[:8])
    start = len(text) - len(text.lstrip(" \t\r\n"))
    dups = []
    try:
        header, end = json.JSONDecoder(
            object_pairs_hook=_dup_checking_hook(dups)).raw_decode(text, start)
    except ValueError as e:
        fail("header is not valid JSON: %s" % e)
        return st
    padding = text[end:]
    if padding.strip(" ") != "":
        fail("header padding contains non-space bytes %r" % padding.strip(" ")[:16])
    for k in dups:
        fail("duplicate key %r in header" % k)
    if not isinstance(header, dict):
        fail("header is not a JSON object")
        return st

    # __metadata__ must be exactly {"format": "pt"} and come first.
    keys = list(header.keys())
    if "__metadata__" not in header:
        fail("__metadata__ missing")
    else:
        if header["__metadata__"] != {"format": "pt"}:
            fail("__metadata__ is %r, expected {'format': 'pt'}" % (header["__metadata__"],))
        if keys[0] != "__metadata__":
            fail("__metadata__ is not the first header key")

    # Per-tensor entries.
    entries_ok = True
    for name in keys:
        if name == "__metadata__":
            continue
        info = header[name]
        if not isinstance(info, dict) or set(info.keys()) != {"dtype", "shape", "data_offsets"}:
            fail("tensor %s: entry must have exactly keys dtype/shape/data_offsets, got %r"
                 % (name, sorted(info.keys()) if isinstance(info, dict) else info))
            entries_ok = False
            continue
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_SIZE:
            fail("tensor %s: unknown dtype %r" % (name, dtype))
            entries_ok = False
            continue
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            fail("tensor %s: bad shape %r" % (name, shape))
            entries_ok = False
            continue
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(_is_int(o) and o >= 0 for o in offs) or offs[1] < offs[0]):
            fail("tensor %s: bad data_offsets %r" % (name, offs))
            entries_ok = False
            continue
        begin, end_ = offs
        nbytes = math.prod(shape) * DTYPE_SIZE[dtype]
        if end_ - begin != nbytes:
            fail("tensor %s: byte size %d != prod(%r)*%d = %d"
                 % (name, end_ - begin, shape, DTYPE_SIZE[dtype], nbytes))
            entries_ok = False
        if (st.data_start + begin) % DTYPE_SIZE[dtype] != 0:
            fail("tensor %s: absolute offset %d not a multiple of element size %d"
                 % (name, st.data_start + begin, DTYPE_SIZE[dtype]))
        st.tensors[name] = (dtype, tuple(shape), begin, end_)

    # Contiguity: sorted by offset, no holes, no overlaps, starting at 0.
    # Ties (zero-size tensors) are broken by writer order so they never
    # produce a spurious ordering complaint.
    def writer_key(item):
        name, (dtype, _s, _b, _e) = item
        return (-DTYPE_RANK[dtype], name)

    writer_order = [n for n, _ in sorted(st.tensors.items(), key=writer_key)]
    writer_pos = {n: i for i, n in enumerate(writer_order)}
    by_offset = sorted(st.tensors.items(),
                       key=lambda it: (it[1][2], it[1][3], writer_pos[it[0]]))
    pos = 0
    contiguous = True
    for name, (_d, _s, begin, end_) in by_offset:
        if begin != pos:
            kind = "hole" if begin > pos else "overlap"
            fail("tensor %s: data_offsets begin %d, expected %d (%s)" % (name, begin, pos, kind))
            contiguous = False
        pos = max(pos, end_)
    if st.data_start + pos != fsize:
        fail("file size %d != 8 + header %d + data %d" % (fsize, n, pos))
        contiguous = False

    # Reference writer order: dtype descending, then name ascending.
    offset_names = [nm for nm, _ in by_offset]
    if offset_names != writer_order:
        for i, (got, exp) in enumerate(zip(offset_names, writer_order)):
            if got != exp:
                fail("tensor layout not in safetensors writer order at position %d: "
                     "found %s (%s), expected %s (%s)"
                     % (i, got, st.tensors[got][0], exp, st.tensors[exp][0]))
                break

    # JSON key order: __metadata__ first, then tensors in offset order.
    header_tensor_keys = [k for k in keys if k != "__metadata__" and k in st.tensors]
    if header_tensor_keys != offset_names:
        for i, (got, exp) in enumerate(zip(header_tensor_keys, offset_names)):
            if got != exp:
                fail("header key order differs from offset order at tensor %d: %s vs %s"
                     % (i, got, exp))
                break

    st.ok = entries_ok and contiguous
    return st


# ---------------------------------------------------------------------------
# 2. index / shard set
# ---------------------------------------------------------------------------

def locate_files(ckpt, rep):
    """Return (shard file names, weight_map or None, total_size or None)."""
    index_path = os.path.join(ckpt, INDEX_NAME)
    on_disk = sorted(f for f in os.listdir(ckpt) if f.endswith(".safetensors"))
    if not os.path.exists(index_path):
        if SINGLE_NAME not in on_disk:
            rep.fail("neither %s nor %s present" % (INDEX_NAME, SINGLE_NAME))
            return [], None, None
        for f in on_disk:
            if f != SINGLE_NAME:
                rep.fail("%s: .safetensors file not referenced (no index)" % f)
        return [SINGLE_NAME], None, None

    index = load_json_file(index_path, rep, INDEX_NAME)
    if not isinstance(index, dict):
        if index is not None:
            rep.fail("%s: not a JSON object" % INDEX_NAME)
        return [], None, None
    meta = index.get("metadata")
    total_size = None
    if not isinstance(meta, dict):
        rep.fail("%s: 'metadata' missing or not an object" % INDEX_NAME)
    elif not _is_int(meta.get("total_size")):
        rep.fail("%s: metadata.total_size missing or not an integer" % INDEX_NAME)
    else:
        total_size = meta["total_size"]
    wmap = index.get("weight_map")
    if not isinstance(wmap, dict) or not wmap:
        rep.fail("%s: 'weight_map' missing, empty or not an object" % INDEX_NAME)
        return [], None, None
    files = []
    for tname, fn in wmap.items():
        if not isinstance(fn, str) or "/" in fn or "\\" in fn:
            rep.fail("%s: weight_map[%s] = %r is not a plain file name" % (INDEX_NAME, tname, fn))
            continue
        if fn not in files:
            files.append(fn)
    files.sort()

    # Shard naming: model-0000i-of-0000N.safetensors (1-based, 5 digits).
    nshards = len(files)
    expected = ["model-%05d-of-%05d.safetensors" % (i, nshards) for i in range(1, nshards + 1)]
    if nshards == 1:
        if files[0] not in (SINGLE_NAME, expected[0]):
            rep.fail("%s: single shard named %r" % (INDEX_NAME, files[0]))
    elif files != expected:
        rep.fail("%s: shard names %r do not match model-0000i-of-%05d.safetensors"
                 % (INDEX_NAME, files[:4] + (["..."] if nshards > 4 else []), nshards))

    for fn in files:
        if not os.path.isfile(os.path.join(ckpt, fn)):
            rep.fail("%s: shard %s referenced but missing" % (INDEX_NAME, fn))
    for fn in on_disk:
        if fn not in files:
            rep.fail("%s: .safetensors file not referenced by the index" % fn)
    return [f for f in files if os.path.isfile(os.path.join(ckpt, f))], wmap, total_size


def check_index_against_files(wmap, total_size, parsed, rep):
    """weight_map lists each tensor once, pointing at the file holding it;
    total_size == sum of tensor byte sizes."""
    where = {}
    for st in parsed:
        for name in st.tensors:
            if name in where:
                rep.fail("tensor %s present in both %s and %s" % (name, where[name], st.name))
            else:
                where[name] = st.name
    if wmap is None:
        return
    for name, fn in wmap.items():
        if name not in where:
            rep.fail("%s: %s listed for %s but found in no shard" % (INDEX_NAME, name, fn))
        elif where[name] != fn:
            rep.fail("%s: %s listed for %s but stored in %s" % (INDEX_NAME, name, fn, where[name]))
    for name, fn in where.items():
        if name not in wmap:
            rep.fail("%s: tensor %s (in %s) not listed in weight_map" % (INDEX_NAME, name, fn))

    total = sum(e - b for st in parsed for (_d, _s, b, e) in st.tensors.values())
    if total_size is not None and total_size != total:
        rep.fail("%s: metadata.total_size %d != sum of tensor bytes %d"
                 % (INDEX_NAME, total_size, total))


# ---------------------------------------------------------------------------
# 3. expected names / dtypes / shapes from config.json
# ---------------------------------------------------------------------------

class ConfigError(Exception):
    pass


_REQUIRED = object()


def cfg_get(cfg, *keys, default=_REQUIRED):
    """First present (non-None) key among `keys`, else default."""
    for k in keys:
        if k in cfg and cfg[k] is not None:
            return cfg[k]
    if default is _REQUIRED:
        raise ConfigError("config.json lacks %s" % "/".join(keys))
    return default


def expected_tensors(cfg):
    """Return {name: (dtype, shape_tuple)} for the architecture in cfg."""
    archs = cfg.get("architectures")
    if not isinstance(archs, list) or not archs:
        raise ConfigError("config.json lacks architectures")
    arch = archs[0]
    if arch not in SUPPORTED_ARCHS:
        raise ConfigError("unsupported architecture %r" % arch)

    tdt = cfg_get(cfg, "torch_dtype", "dtype")
    if tdt not in TORCH_DTYPE:
        raise ConfigError("unsupported torch_dtype %r" % tdt)
    dt = TORCH_DTYPE[tdt]

    H = cfg_get(cfg, "hidden_size")
    V = cfg_get(cfg, "vocab_size")
    n_layers = cfg_get(cfg, "num_hidden_layers")
    n_heads = cfg_get(cfg, "num_attention_heads")
    n_kv = cfg_get(cfg, "num_key_value_heads", default=n_heads)
    head_dim = cfg_get(cfg, "head_dim", default=None)
    if head_dim is None:
        head_dim = H // n_heads
    tie = bool(cfg.get("tie_word_embeddings", False))

    exp = {}

    def add(name, shape, dtype=dt):
        exp[name] = (dtype, tuple(shape))

    def dense_mlp(p, inter):
        add(p + "gate_proj.weight", (inter, H))
        add(p + "up_proj.weight", (inter, H))
        add(p + "down_proj.weight", (H, inter))

    # Global tensors.
    add("model.embed_tokens.weight", (V, H))
    add("model.norm.weight", (H,))
    if not tie:
        add("lm_head.weight", (V, H))

    is_ds = arch.startswith("Deepseek")
    is_qwen = arch.startswith("Qwen")

    if arch == "MixtralForCausalLM":
        E = cfg_get(cfg, "num_local_experts", "num_experts")
        inter = cfg_get(cfg, "intermediate_size")
    elif is_qwen:
        E = cfg_get(cfg, "num_experts", "num_local_experts")
        moe_inter = cfg_get(cfg, "moe_intermediate_size")
        step = cfg_get(cfg, "decoder_sparse_step", default=1)
        mlp_only = cfg_get(cfg, "mlp_only_layers", default=[])
    else:
        E = cfg_get(cfg, "n_routed_experts", "num_local_experts", default=None)
        moe_inter = cfg_get(cfg, "moe_intermediate_size")
        first_dense = cfg_get(cfg, "first_k_dense_replace", default=0)
        freq = cfg_get(cfg, "moe_layer_freq", default=1)
        n_shared = cfg_get(cfg, "n_shared_experts", default=0)
        default_topk = "noaux_tc" if arch == "DeepseekV3ForCausalLM" else "greedy"
        topk_method = cfg_get(cfg, "topk_method", default=default_topk)
        q_lora = cfg.get("q_lora_rank")
        kv_lora = cfg_get(cfg, "kv_lora_rank")
        nope = cfg_get(cfg, "qk_nope_head_dim")
        rope = cfg_get(cfg, "qk_rope_head_dim")
        v_hd = cfg_get(cfg, "v_head_dim")

    def attention(p):
        """Self-attention tensors under prefix p = 'model.layers.L.self_attn.'."""
        if is_ds:
            ds_bias = bool(cfg.get("attention_bias", False))
            qk_hd = nope + rope
            if q_lora is None:
                add(p + "q_proj.weight", (n_heads * qk_hd, H))
            else:
                add(p + "q_a_proj.weight", (q_lora, H))
                if ds_bias:
                    add(p + "q_a_proj.bias", (q_lora,))
                add(p + "q_a_layernorm.weight", (q_lora,))
                add(p + "q_b_proj.weight", (n_heads * qk_hd, q_lora))
            add(p + "kv_a_proj_with_mqa.weight", (kv_lora + rope, H))
            if ds_bias:
                add(p + "kv_a_proj_with_mqa.bias", (kv_lora + rope,))
            add(p + "kv_a_layernorm.weight", (kv_lora,))
            add(p + "kv_b_proj.weight", (n_heads * (nope + v_hd), kv_lora))
            add(p + "o_proj.weight", (H, n_heads * v_hd))
            if ds_bias:
                add(p + "o_proj.bias", (H,))
            return
        q_out, kv_out = n_heads * head_dim, n_kv * head_dim
        add(p + "q_proj.weight", (q_out, H))
        add(p + "k_proj.weight", (kv_out, H))
        add(p + "v_proj.weight", (kv_out, H))
        add(p + "o_proj.weight", (H, q_out))
        if arch == "Qwen2MoeForCausalLM":
            if bool(cfg.get("qkv_bias", True)):  # Qwen2MoeConfig.qkv_bias, default True
                add(p + "q_proj.bias", (q_out,))
                add(p + "k_proj.bias", (kv_out,))
                add(p + "v_proj.bias", (kv_out,))
        elif arch == "Qwen3MoeForCausalLM":
            add(p + "q_norm.weight", (head_dim,))
            add(p + "k_norm.weight", (head_dim,))
            if bool(cfg.get("attention_bias", False)):
                add(p + "q_proj.bias", (q_out,))
                add(p + "k_proj.bias", (kv_out,))
                add(p + "v_proj.bias", (kv_out,))
                add(p + "o_proj.bias", (H,))

    def decoder_layer(L, force_moe=False):
        p = "model.layers.%d." % L
        add(p + "input_layernorm.weight", (H,))
        add(p + "post_attention_layernorm.weight", (H,))
        attention(p + "self_attn.")
        if arch == "MixtralForCausalLM":
            m = p + "block_sparse_moe."
            add(m + "gate.weight", (E, H))
            for e in range(E):
                add(m + "experts.%d.w1.weight" % e, (inter, H))
                add(m + "experts.%d.w3.weight" % e, (inter, H))
                add(m + "experts.%d.w2.weight" % e, (H, inter))
            return
        m = p + "mlp."
        if is_qwen:
            moe = (L not in mlp_only) and E > 0 and (L + 1) % step == 0
        else:
            moe = force_moe or (E is not None and L >= first_dense and L % freq == 0)
        if not moe:
            dense_mlp(m, cfg_get(cfg, "intermediate_size"))
            return
        add(m + "gate.weight", (E, H))
        for e in range(E):
            dense_mlp(m + "experts.%d." % e, moe_inter)
        if arch == "Qwen2MoeForCausalLM":
            dense_mlp(m + "shared_expert.", cfg_get(cfg, "shared_expert_intermediate_size"))
            add(m + "shared_expert_gate.weight", (1, H))
        elif is_ds:
            if topk_method == "noaux_tc":
                add(m + "gate.e_score_correction_bias", (E,), "F32")
            if n_shared:
                dense_mlp(m + "shared_experts.", moe_inter * n_shared)

    for L in range(n_layers):
        decoder_layer(L)

    # DeepSeek-V3 multi-token-prediction layers: indices n_layers, n_layers+1, ...
    if arch == "DeepseekV3ForCausalLM":
        for i in range(cfg_get(cfg, "num_nextn_predict_layers", default=0)):
            L = n_layers + i
            p = "model.layers.%d." % L
            add(p + "embed_tokens.weight", (V, H))
            add(p + "enorm.weight", (H,))
            add(p + "hnorm.weight", (H,))
            add(p + "eh_proj.weight", (H, 2 * H))
            add(p + "shared_head.norm.weight", (H,))
            add(p + "shared_head.head.weight", (V, H))
            decoder_layer(L, force_moe=True)
    return exp


def check_names(ckpt, parsed, rep):
    cfg = load_json_file(os.path.join(ckpt, "config.json"), rep, "config.json")
    if not isinstance(cfg, dict):
        if cfg is not None:
            rep.fail("config.json: not a JSON object")
        return
    try:
        exp = expected_tensors(cfg)
    except ConfigError as e:
        rep.fail(str(e))
        return
    except (TypeError, ValueError) as e:
        rep.fail("config.json: unusable value (%s)" % e)
        return
    got = {}
    for st in parsed:
        for name, (dtype, shape, _b, _e) in st.tensors.items():
            got[name] = (dtype, shape)
    for name in sorted(set(exp) - set(got)):
        rep.fail("missing tensor %s %s%s" % (name, exp[name][0], list(exp[name][1])))
    for name in sorted(set(got) - set(exp)):
        rep.fail("unexpected tensor %s %s%s" % (name, got[name][0], list(got[name][1])))
    for name in sorted(set(exp) & set(got)):
        (ed, es), (gd, gs) = exp[name], got[name]
        if ed != gd:
            rep.fail("tensor %s: dtype %s, expected %s" % (name, gd, ed))
        if es != gs:
            rep.fail("tensor %s: shape %s, expected %s" % (name, list(gs), list(es)))


# ---------------------------------------------------------------------------
# 4. value sanity
# ---------------------------------------------------------------------------

def decode_floats(dtype, raw):
    """Decode little-endian raw bytes to a sequence of Python floats, or None
    for dtypes we do not inspect."""
    if dtype == "BF16":
        # bf16 is the top half of an f32: interleave two zero bytes below
        # each little-endian bf16 pair, then reinterpret as f32.
        n = len(raw) // 2
        buf = bytearray(4 * n)
        buf[2::4] = raw[0::2]
        buf[3::4] = raw[1::2]
        a = array("f")
        a.frombytes(bytes(buf))
    elif dtype == "F16":
        return struct.unpack("<%de" % (len(raw) // 2), raw)
    elif dtype == "F32":
        a = array("f")
        a.frombytes(raw)
    elif dtype == "F64":
        a = array("d")
        a.frombytes(raw)
    else:
        return None
    if sys.byteorder != "little":
        a.byteswap()
    return a


def check_values(parsed, rep):
    for st in parsed:
        if not st.ok:
            continue  # layout broken; offsets cannot be trusted
        with open(st.path, "rb") as f:
            for name, (dtype, shape, begin, end) in sorted(st.tensors.items(),
                                                           key=lambda it: it[1][2]):
                count = math.prod(shape)
                if count == 0:
                    continue
                f.seek(st.data_start + begin)
                vals = decode_floats(dtype, f.read(end - begin))
                if vals is None:
                    continue
                total = sum(vals)  # any NaN/Inf makes this non-finite
                if not math.isfinite(total):
                    bad = sum(1 for x in vals if not math.isfinite(x))
                    rep.fail("tensor %s: %d non-finite values" % (name, bad))
                    continue
                mean = total / count
                if name.endswith("norm.weight"):  # also covers *layernorm.weight
                    if abs(mean - 1.0) > 0.5:
                        rep.fail("norm %s: mean %.4g not within 0.5 of 1.0" % (name, mean))
                    continue
                leaf = name.rsplit(".", 2)
                if (len(shape) != 2 or not name.endswith(".weight")
                        or len(leaf) < 3 or leaf[1] not in PROJECTION_LEAVES):
                    continue
                sumsq = sum(map(operator.mul, vals, vals))
                std = math.sqrt(max(sumsq / count - mean * mean, 0.0))
                if not 0.005 <= std <= 0.2:
                    rep.fail("projection %s: std %.4g outside [0.005, 0.2]" % (name, std))
                rows, cols = shape
                if cols >= 64:
                    colmax = sorted(max(map(abs, vals[j::cols])) for j in range(cols))
                    mid = cols // 2
                    median = colmax[mid] if cols % 2 else 0.5 * (colmax[mid - 1] + colmax[mid])
                    if not colmax[-1] > 8.0 * median:
                        rep.fail("projection %s: no outlier input column (max col max-abs "
                                 "%.4g <= 8 x median %.4g)" % (name, colmax[-1], median))


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt_dir")
    ap.add_argument("--expect-names-only", action="store_true",
                    help="check layout, index and names/shapes; skip value checks")
    args = ap.parse_args(argv)

    rep = Report()
    ckpt = args.ckpt_dir
    if not os.path.isdir(ckpt):
        rep.fail("%s is not a directory" % ckpt)
        rep.emit()
        return 1

    files, wmap, total_size = locate_files(ckpt, rep)
    parsed = [check_safetensors(os.path.join(ckpt, fn), rep) for fn in files]
    check_index_against_files(wmap, total_size, parsed, rep)
    if parsed:  # without any readable shard every tensor would be "missing"
        check_names(ckpt, parsed, rep)
    if not args.expect_names_only:
        check_values(parsed, rep)

    if rep.problems:
        rep.emit()
        return 1
    n_tensors = sum(len(st.tensors) for st in parsed)
    print("%s: OK %d tensors, %d files" % (PROG, n_tensors, len(parsed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
