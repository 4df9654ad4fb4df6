#!/usr/bin/env python3
"""Independent numpy reference for the MLP block of one decoder layer of an MoE checkpoint.

  ref_moe.py CKPT LAYER X.safetensors Y.safetensors [--rtol 1e-5]
      Recompute the MLP block (routing, experts, shared experts, or the dense MLP) of layer
      LAYER on X's `hidden_states` and compare with Y, as written by `moekit forward`:
      `output` relative L2 error < rtol; identical `topk_ids`; `topk_weights` and
      `router_logits` within relative 1e-5. Exit 0 printing "ref_moe: OK layer L ...",
      else print what differs and exit 1 (2 on bad arguments or unreadable files).
  ref_moe.py --make-input OUT.safetensors [--tokens T] [--hidden H] [--dtype f32|bf16|f16]
             [--seed S] [--outliers N]
      Write a seeded `hidden_states` [T, H] tensor (N(0,1), N columns x20).
  ref_moe.py --tie-gate CKPT LAYER
      Edit CKPT in place: layer LAYER's router rows (and biases) of experts [E/2, 3E/4) become
      copies of those of [E/4, E/2), so that routing meets exact ties (and group ties).
  ref_moe.py --self-test
      Unit checks of the routing rules on hand-made logits.

Written from the Hugging Face / DeepSeek model code semantics, not from moekit's C code.
Everything is computed in float64 from weights dequantized exactly as stored on disk.
"""
import json
import math
import os
import struct
import sys

import numpy as np

# ---------------------------------------------------------------- safetensors reading

def _e4m3fn_table():
    t = np.zeros(256, dtype=np.float64)
    for b in range(256):
        s = -1.0 if b & 0x80 else 1.0
        e = (b >> 3) & 0xF
        m = b & 0x7
        if (b & 0x7F) == 0x7F:
            t[b] = np.nan
        elif e == 0:
            t[b] = s * m * 2.0 ** -9
        else:
            t[b] = s * (1.0 + m / 8.0) * 2.0 ** (e - 7)
    return t

E4M3 = _e4m3fn_table()

_NP = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
       "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
         "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


class Fail(Exception):
    pass


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise Fail(f"{path}: too short for a safetensors file")
        n = struct.unpack("<Q", raw)[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h, 8 + n


def read_tensor(path, name, header=None):
    """Returns (dtype string, numpy array in a natural numeric type: F8 -> float64 via table,
    BF16 -> float32, others as stored)."""
    if header is None:
        header = read_header(path)
    h, base = header
    if name not in h:
        raise Fail(f"{path}: no tensor '{name}'")
    info = h[name]
    dt, shape = info["dtype"], tuple(info["shape"])
    b0, b1 = info["data_offsets"]
    n = math.prod(shape)
    if dt not in _SIZE or b1 - b0 != n * _SIZE[dt]:
        raise Fail(f"{path}: tensor '{name}' dtype {dt} shape {list(shape)} has {b1 - b0} bytes")
    with open(path, "rb") as f:
        f.seek(base + b0)
        buf = f.read(b1 - b0)
    if dt == "BF16":
        a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    elif dt == "F8_E4M3":
        a = E4M3[np.frombuffer(buf, dtype=np.uint8)]
    elif dt in _NP:
        a = np.frombuffer(buf, dtype=np.dtype(_NP[dt]).newbyteorder("<")).copy()
    else:
        raise Fail(f"{path}: tensor '{name}': unsupported dtype {dt}")
    return dt, a.reshape(shape)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, numpy array already in that storage type)."""
    hdr, off, blobs = {}, 0, []
    for name, dt, arr in tensors:
        b = np.ascontiguousarray(arr).tobytes()
        hdr[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


class Checkpoint:
    def __init__(self, path):
        if os.path.isfile(path):
            self.dir = os.path.dirname(os.path.abspath(path))
            files = {None: path}
        else:
            self.dir = path
            idx = os.path.join(path, "model.safetensors.index.json")
            files = None
            if os.path.exists(idx):
                wm = json.load(open(idx))["weight_map"]
                self.where = {k: os.path.join(path, v) for k, v in wm.items()}
            elif os.path.exists(os.path.join(path, "model.safetensors")):
                files = {None: os.path.join(path, "model.safetensors")}
            else:
                raise Fail(f"{path}: no model.safetensors.index.json or model.safetensors")
        if files is not None:
            f = files[None]
            self.where = {k: f for k in read_header(f)[0]}
        self.config = json.load(open(os.path.join(self.dir, "config.json")))
        self._headers = {}

    def has(self, name):
        return name in self.where

    def has_linear(self, module):
        return self.has(module + ".weight") or self.has(module + ".weight_packed")

    def get(self, name):
        if name not in self.where:
            raise Fail(f"checkpoint has no tensor '{name}'")
        f = self.where[name]
        if f not in self._headers:
            self._headers[f] = read_header(f)
        return read_tensor(f, name, self._headers[f])

    def get64(self, name):
        return self.get(name)[1].astype(np.float64)

    def linear(self, module):
        """Dequantized weight [N, K] (float64) of a linear module, by what is on disk."""
        if self.has(module + ".weight_packed"):
            _, packed = self.get(module + ".weight_packed")
            _, shp = self.get(module + ".weight_shape")
            n, k = int(shp.reshape(-1)[0]), int(shp.reshape(-1)[1])
            if packed.dtype != np.int32 or packed.shape != (n, (k + 3) // 4):
                raise Fail(f"{module}.weight_packed: shape {packed.shape} for weight_shape [{n}, {k}]")
            codes = packed.astype("<i4").view(np.uint8).reshape(n, -1)[:, :k].astype(np.float64) - 128.0
            s = self.get64(module + ".weight_scale")
            if s.shape != (n, (k + 127) // 128):
                raise Fail(f"{module}.weight_scale: shape {s.shape}, expected [{n}, {(k + 127) // 128}]")
            return codes * np.repeat(s, 128, axis=1)[:, :k]
        wdt, w = self.get(module + ".weight")
        w = w.astype(np.float64)
        if w.ndim != 2:
            raise Fail(f"{module}.weight: not 2-D")
        n, k = w.shape
        bshape = ((n + 127) // 128, (k + 127) // 128)
        if wdt in ("F32", "F16", "BF16", "F64"):
            return w
        if wdt == "F8_E4M3":
            if self.has(module + ".weight_scale_inv"):
                s = self.get64(module + ".weight_scale_inv")
                if s.shape != bshape:
                    raise Fail(f"{module}.weight_scale_inv: shape {s.shape}, expected {list(bshape)}")
                return w * _expand_block(s, n, k)
            s = self.get64(module + ".weight_scale")
            if s.size == 1 and s.ndim <= 1:
                return w * s.reshape(())
            if s.shape == (n, 1):
                return w * s
            if s.shape == bshape:
                return w * _expand_block(s, n, k)
            raise Fail(f"{module}.weight_scale: shape {s.shape} fits no FP8 layout for [{n}, {k}]")
        if wdt == "I8":
            s = self.get64(module + ".weight_scale")
            if s.shape != (n, 1):
                raise Fail(f"{module}.weight_scale: shape {s.shape}, expected [{n}, 1]")
            return w * s
        raise Fail(f"{module}.weight: unsupported dtype {wdt}")

    def apply(self, module, x):
        y = x @ self.linear(module).T
        if self.has(module + ".bias"):
            y = y + self.get64(module + ".bias")
        return y


def _expand_block(s, n, k):
    return np.repeat(np.repeat(s, 128, axis=0), 128, axis=1)[:n, :k]

# ---------------------------------------------------------------- math

def silu(v):
    return v / (1.0 + np.exp(-v))


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def softmax(v):
    m = v.max(axis=-1, keepdims=True)
    e = np.exp(v - m)
    return e / e.sum(axis=-1, keepdims=True)


def topk_desc(scores, k):
    """Indices of the k largest per row, best first, ties -> lower index; -inf never preferred
    over a finite value. scores [T, E]."""
    return np.argsort(-scores, axis=-1, kind="stable")[:, :k]


def route(arch, cfg, logits, bias=None):
    """logits [T, E] float64 -> (ids [T,k] int, weights [T,k] float64)."""
    k = int(cfg["num_experts_per_tok"])
    T, E = logits.shape
    if arch == "MixtralForCausalLM":
        p = softmax(logits)
        ids = topk_desc(p, k)
        w = np.take_along_axis(p, ids, -1)
        return ids, w / w.sum(-1, keepdims=True)
    if arch in ("Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM"):
        p = softmax(logits)
        ids = topk_desc(p, k)
        w = np.take_along_axis(p, ids, -1)
        if cfg.get("norm_topk_prob", False):
            w = w / w.sum(-1, keepdims=True)
        return ids, w
    if arch == "DeepseekV3ForCausalLM":
        s = sigmoid(logits)
        b = s + (bias if bias is not None else 0.0)
        ng = int(cfg.get("n_group") or 1)
        tg = int(cfg.get("topk_group") or ng)
        if E % ng:
            raise Fail(f"n_routed_experts {E} not divisible by n_group {ng}")
        gb = b.reshape(T, ng, E // ng)
        gs = -np.sort(-gb, axis=-1)[:, :, :min(2, E // ng)].sum(-1)  # sum of top-2 per group
        keep = topk_desc(gs, tg)
        mask = np.zeros((T, ng), dtype=bool)
        np.put_along_axis(mask, keep, True, -1)
        sel = np.where(np.repeat(mask, E // ng, axis=1), b, -np.inf)
        ids = topk_desc(sel, k)
        w = np.take_along_axis(s, ids, -1)
        if cfg.get("norm_topk_prob", False):
            w = w / (w.sum(-1, keepdims=True) + 1e-20)
        return ids, w * float(cfg.get("routed_scaling_factor", 1.0))
    if arch == "DeepseekV2ForCausalLM":
        if cfg.get("scoring_func", "softmax") != "softmax":
            raise Fail(f"DeepSeek-V2 scoring_func {cfg.get('scoring_func')} not supported")
        p = softmax(logits)
        method = cfg.get("topk_method", "greedy")
        if method == "greedy":
            sel = p
        elif method == "group_limited_greedy":
            ng = int(cfg["n_group"])
            tg = int(cfg["topk_group"])
            gs = p.reshape(T, ng, E // ng).max(-1)
            keep = topk_desc(gs, tg)
            mask = np.zeros((T, ng), dtype=bool)
            np.put_along_axis(mask, keep, True, -1)
            sel = np.where(np.repeat(mask, E // ng, axis=1), p, -np.inf)
        else:
            raise Fail(f"DeepSeek-V2 topk_method {method} not supported")
        ids = topk_desc(sel, k)
        w = np.take_along_axis(p, ids, -1)
        if cfg.get("norm_topk_prob", False):
            w = w / (w.sum(-1, keepdims=True) + 1e-20)
        else:
            w = w * float(cfg.get("routed_scaling_factor", 1.0))
        return ids, w
    raise Fail(f"architecture {arch} not supported")


def layer_plan(arch, cfg, L):
    """(prefix of the MLP, is_moe, names)"""
    if arch == "MixtralForCausalLM":
        return "block_sparse_moe", True
    if arch in ("Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM"):
        moe = (L not in (cfg.get("mlp_only_layers") or []) and int(cfg.get("num_experts") or 0) > 0
               and (L + 1) % int(cfg.get("decoder_sparse_step") or 1) == 0)
        return "mlp", moe
    if arch in ("DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM"):
        nl = int(cfg["num_hidden_layers"])
        moe = cfg.get("n_routed_experts") is not None and (
            L >= nl or (L >= int(cfg.get("first_k_dense_replace", 0)) and L % int(cfg.get("moe_layer_freq", 1)) == 0))
        return "mlp", moe
    raise Fail(f"architecture {arch} not supported")


def n_experts(arch, cfg):
    if arch == "MixtralForCausalLM":
        return int(cfg["num_local_experts"])
    if arch.startswith("Qwen"):
        return int(cfg["num_experts"])
    return int(cfg["n_routed_experts"])


def reference(ck, L, x):
    """x [T,H] float64 -> dict with output (and topk_ids, topk_weights, router_logits, is_moe)."""
    cfg = ck.config
    arch = cfg["architectures"][0]
    pre, moe = layer_plan(arch, cfg, L)
    base = f"model.layers.{L}.{pre}"
    names = ("w1", "w3", "w2") if arch == "MixtralForCausalLM" else ("gate_proj", "up_proj", "down_proj")

    def mlp(mod, xs):
        g, u, d = (f"{mod}.{n}" for n in names)
        return ck.apply(d, silu(ck.apply(g, xs)) * ck.apply(u, xs))

    if not moe:
        if not ck.has_linear(f"{base}.gate_proj"):
            raise Fail(f"layer {L}: no dense MLP weights under {base}")
        return {"output": mlp(base, x), "is_moe": False}
    E = n_experts(arch, cfg)
    gw = ck.linear(f"{base}.gate")
    if gw.shape != (E, x.shape[1]):
        raise Fail(f"{base}.gate.weight shape {gw.shape}, expected [{E}, {x.shape[1]}]")
    logits = exact_matmul_t(x, gw)
    bias = None
    if arch == "DeepseekV3ForCausalLM":
        bias = ck.get64(f"{base}.gate.e_score_correction_bias") if ck.has(f"{base}.gate.e_score_correction_bias") else None
    ids, w = route(arch, cfg, logits, bias)
    out = np.zeros_like(x)
    for e in range(E):
        rows, slot = np.nonzero(ids == e)
        if rows.size:
            out[rows] += w[rows, slot][:, None] * mlp(f"{base}.experts.{e}", x[rows])
    if arch == "Qwen2MoeForCausalLM" and ck.has_linear(f"{base}.shared_expert.gate_proj"):
        sh = mlp(f"{base}.shared_expert", x)
        if ck.has(f"{base}.shared_expert_gate.weight"):
            sh = sigmoid(ck.apply(f"{base}.shared_expert_gate", x)) * sh
        out += sh
    if arch.startswith("Deepseek") and ck.has_linear(f"{base}.shared_experts.gate_proj"):
        out += mlp(f"{base}.shared_experts", x)
    return {"output": out, "topk_ids": ids, "topk_weights": w, "router_logits": logits, "is_moe": True,
            "selection": _selection_scores(arch, cfg, logits, bias)}


def exact_matmul_t(x, w):
    """x @ w.T with every entry the correctly rounded float64 sum (math.fsum) of exact float64
    products (exact for F32 x BF16/F16/F32 operands): identical weight rows give bit-identical
    logits, so a tie is a tie whatever the summation order."""
    if x.shape[0] * w.shape[0] > 1 << 16:  # large inputs: plain BLAS
        return x @ w.T
    out = np.empty((x.shape[0], w.shape[0]))
    for e in range(w.shape[0]):
        p = x * w[e]
        for t in range(x.shape[0]):
            out[t, e] = math.fsum(p[t])
    return out


def tie_gate(ckpt, L):
    """Edit a checkpoint in place so that layer L's router has exact ties: experts of the second
    quarter of the experts (group 2 of 4 for DeepSeek) get the gate rows (and score-correction
    biases) of the first quarter's successors: rows [E/2, 3E/4) := rows [E/4, E/2)."""
    ck = Checkpoint(ckpt)
    arch = ck.config["architectures"][0]
    pre, moe = layer_plan(arch, ck.config, L)
    if not moe:
        raise Fail(f"layer {L} is not an MoE layer")
    E = n_experts(arch, ck.config)
    q = E // 4
    for name in (f"model.layers.{L}.{pre}.gate.weight", f"model.layers.{L}.{pre}.gate.e_score_correction_bias"):
        if not ck.has(name):
            continue
        f = ck.where[name]
        h, base = read_header(f)
        info = h[name]
        b0, b1 = info["data_offsets"]
        row = (b1 - b0) // E
        with open(f, "r+b") as fh:
            fh.seek(base + b0 + q * row)
            src = fh.read(q * row)
            fh.seek(base + b0 + 2 * q * row)
            fh.write(src)
    return 0


def _selection_scores(arch, cfg, logits, bias):
    if arch == "DeepseekV3ForCausalLM":
        return sigmoid(logits) + (bias if bias is not None else 0.0)
    return softmax(logits)

# ---------------------------------------------------------------- comparison

def close(a, b, rel=1e-5):
    """|a-b| <= rel*|b| + rel*1e-2*max|b| elementwise; returns (ok, worst index, worst abs diff)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    tol = rel * np.abs(b) + rel * 1e-2 * (np.abs(b).max() if b.size else 0.0)
    d = np.abs(a - b)
    bad = ~(d <= tol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, d / np.maximum(tol, 1e-300), 0)), d.shape)
        return False, i, d[i]
    return True, None, float(d.max()) if d.size else 0.0


def compare(ck, L, xpath, ypath, rtol):
    xdt, x = read_tensor(xpath, "hidden_states")
    x = x.astype(np.float64)
    if x.ndim != 2:
        raise Fail(f"{xpath}: hidden_states is not 2-D")
    ref = reference(ck, L, x)
    yh = read_header(ypath)
    errs = []

    def get(name, dt, shape):
        if name not in yh[0]:
            errs.append(f"{ypath}: no tensor '{name}'")
            return None
        d, a = read_tensor(ypath, name, yh)
        if d != dt or a.shape != tuple(shape):
            errs.append(f"{name}: {d} {list(a.shape)}, expected {dt} {list(shape)}")
            return None
        return a

    T, H = x.shape
    out = get("output", "F32", (T, H))
    rel = float("nan")
    if out is not None:
        r = ref["output"]
        rel = float(np.linalg.norm(out.astype(np.float64) - r) / max(np.linalg.norm(r), 1e-300))
        if not np.isfinite(out).all():
            errs.append("output has non-finite values")
        if not rel < rtol:
            rr = np.linalg.norm(out - r, axis=1) / np.maximum(np.linalg.norm(r, axis=1), 1e-300)
            errs.append(f"output: relative L2 error {rel:.3e} >= {rtol:g} (worst row {int(rr.argmax())}: "
                        f"{rr.max():.3e}; ref[0,:3]={r[0, :3]}, got {out[0, :3]})")
    extra = ""
    if ref["is_moe"]:
        E = ref["router_logits"].shape[1]
        k = ref["topk_ids"].shape[1]
        ids = get("topk_ids", "I32", (T, k))
        tw = get("topk_weights", "F32", (T, k))
        lg = get("router_logits", "F32", (T, E))
        if lg is not None:
            ok, i, d = close(lg, ref["router_logits"])
            if not ok:
                errs.append(f"router_logits differ at {tuple(map(int, i))}: got {lg[i]!r}, ref {ref['router_logits'][i]!r}")
        same = np.ones(T, dtype=bool)
        if ids is not None:
            same = (ids == ref["topk_ids"]).all(axis=1)
            if not same.all():
                for t in np.nonzero(~same)[0][:5]:
                    sc = ref["selection"][t]
                    order = np.argsort(-sc, kind="stable")
                    errs.append(f"topk_ids row {t}: got {ids[t].tolist()}, ref {ref['topk_ids'][t].tolist()} "
                                f"(ref selection scores by rank: " +
                                ", ".join(f"{int(e)}:{sc[e]:.9g}" for e in order[:k + 2]) + ")")
                errs.append(f"topk_ids: {int((~same).sum())} of {T} rows differ")
            extra = f" ids_match={int(same.sum())}/{T}"
        if tw is not None:
            ok, i, d = close(tw[same], ref["topk_weights"][same])
            if not ok:
                rows = np.nonzero(same)[0]
                t = int(rows[i[0]])
                errs.append(f"topk_weights row {t}: got {tw[t].tolist()}, ref {ref['topk_weights'][t].tolist()}")
    else:
        present = [n for n in ("topk_ids", "topk_weights", "router_logits") if n in yh[0]]
        if present:
            extra = f" (dense layer; output also has {','.join(present)})"
    return errs, rel, ref["is_moe"], xdt, extra

# ---------------------------------------------------------------- input generation

def make_input(path, tokens, hidden, dtype, seed, outliers):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, hidden)).astype(np.float32)
    cols = rng.choice(hidden, size=min(outliers, hidden), replace=False)
    x[:, cols] *= 20.0
    if dtype == "f32":
        write_safetensors(path, [("hidden_states", "F32", x)])
    elif dtype == "f16":
        write_safetensors(path, [("hidden_states", "F16", x.astype(np.float16))])
    elif dtype == "bf16":
        u = x.view(np.uint32).astype(np.uint64)
        r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
        write_safetensors(path, [("hidden_states", "BF16", r)])
    else:
        raise Fail(f"--dtype {dtype}: not f32, bf16 or f16")

# ---------------------------------------------------------------- self test

def self_test():
    n = 0

    def check(cond, what):
        nonlocal n
        if not cond:
            raise AssertionError(what)
        n += 1

    # E4M3FN table
    check(E4M3[0x00] == 0 and E4M3[0x80] == 0 and E4M3[0x01] == 2.0 ** -9, "e4m3 subnormal")
    check(E4M3[0x08] == 2.0 ** -6 and E4M3[0x38] == 1.0 and E4M3[0xB8] == -1.0, "e4m3 normal")
    check(E4M3[0x7E] == 448.0 and E4M3[0xFE] == -448.0, "e4m3 max")
    check(np.isnan(E4M3[0x7F]) and np.isnan(E4M3[0xFF]) and np.isfinite(E4M3[0x78]), "e4m3 nan")
    check(E4M3[0x07] == 7 * 2.0 ** -9 and E4M3[0x0F] == 1.875 * 2.0 ** -6, "e4m3 edges")

    # ties -> lower index, best first
    check(topk_desc(np.array([[1.0, 3.0, 3.0, 2.0, 3.0]]), 3).tolist() == [[1, 2, 4]], "tie order")
    check(topk_desc(np.array([[-np.inf, -5.0, -np.inf]]), 2).tolist() == [[1, 0]], "-inf ties")

    mix = {"num_experts_per_tok": 2}
    lg = np.array([[0.0, 2.0, 2.0, 1.0]])
    ids, w = route("MixtralForCausalLM", mix, lg)
    check(ids.tolist() == [[1, 2]] and np.allclose(w, [[0.5, 0.5]]), "mixtral tie + renorm")
    lg = np.array([[1.0, 0.0, 3.0, 2.0]])
    ids, w = route("MixtralForCausalLM", mix, lg)
    p = np.exp(lg[0]) / np.exp(lg[0]).sum()
    check(ids.tolist() == [[2, 3]] and np.allclose(w[0], p[[2, 3]] / p[[2, 3]].sum()), "mixtral renorm")
    ids, w = route("Qwen2MoeForCausalLM", dict(mix), lg)
    check(ids.tolist() == [[2, 3]] and np.allclose(w[0], p[[2, 3]]), "qwen no renorm by default")
    ids, w = route("Qwen3MoeForCausalLM", dict(mix, norm_topk_prob=True), lg)
    check(np.allclose(w[0], p[[2, 3]] / p[[2, 3]].sum()), "qwen norm_topk_prob")

    # DeepSeek-V3: 8 experts, 4 groups of 2, keep 2 groups
    v3 = {"num_experts_per_tok": 2, "n_group": 4, "topk_group": 2, "norm_topk_prob": True,
          "routed_scaling_factor": 2.5}
    inv = lambda s: np.log(s / (1 - s))  # logit for a sigmoid score
    s = np.array([0.9, 0.1, 0.6, 0.6, 0.95, 0.0001, 0.2, 0.3])
    # group sums: g0 1.0, g1 1.2, g2 0.9501, g3 0.5 -> keep g1, g0 -> experts 0..3; best 0.9 (e0), 0.6 (e2 before e3)
    ids, w = route("DeepseekV3ForCausalLM", v3, inv(s)[None], np.zeros(8))
    check(ids.tolist() == [[0, 2]], f"v3 group masking {ids}")
    check(np.allclose(w[0], np.array([0.9, 0.6]) / 1.5 * 2.5), "v3 weights norm*scale")
    # expert 4 has the highest score but its group is dropped
    check(4 not in ids[0], "v3 dropped group excluded")
    # bias changes selection, not weights
    bias = np.array([0, 0, 0, 0.1, 0, 0, 0, 0.0])
    ids, w = route("DeepseekV3ForCausalLM", v3, inv(s)[None], bias)
    check(ids.tolist() == [[0, 3]] and np.allclose(w[0], np.array([0.9, 0.6]) / 1.5 * 2.5), "v3 bias selection only")
    # negative biased scores: masked groups must be -inf, not 0
    bias = -np.ones(8)
    ids, w = route("DeepseekV3ForCausalLM", v3, inv(s)[None], bias)
    check(ids.tolist() == [[0, 2]], f"v3 negative biased scores {ids}")
    # group tie -> lower group id: all equal scores
    ids, w = route("DeepseekV3ForCausalLM", v3, np.zeros((1, 8)), np.zeros(8))
    check(ids.tolist() == [[0, 1]] and np.allclose(w[0], [1.25, 1.25]), "v3 all ties")
    # group-tie between g1 and g3 (g0 best): g1 kept
    s2 = np.array([0.9, 0.9, 0.5, 0.5, 0.1, 0.1, 0.5, 0.5])
    ids, _ = route("DeepseekV3ForCausalLM", dict(v3, num_experts_per_tok=4), inv(s2)[None], np.zeros(8))
    check(ids.tolist() == [[0, 1, 2, 3]], f"v3 group tie {ids}")
    # no normalisation: weights = s * scale
    ids, w = route("DeepseekV3ForCausalLM", dict(v3, norm_topk_prob=False), inv(s)[None], np.zeros(8))
    check(np.allclose(w[0], np.array([0.9, 0.6]) * 2.5), "v3 no norm still scales")
    # group score = sum of the top 2, not max: g0 {0.5,0.5}=1.0 beats g1 {0.8,0.1}=0.9
    v3b = dict(v3, topk_group=1)
    s3 = np.array([0.5, 0.5, 0.8, 0.1, 0.2, 0.2, 0.1, 0.1])
    ids, _ = route("DeepseekV3ForCausalLM", v3b, inv(s3)[None], np.zeros(8))
    check(ids.tolist() == [[0, 1]], f"v3 top-2 group sum {ids}")

    # DeepSeek-V2
    v2 = {"num_experts_per_tok": 2, "n_group": 4, "topk_group": 1, "routed_scaling_factor": 16.0,
          "topk_method": "group_limited_greedy", "norm_topk_prob": False}
    lg = np.log(np.array([[0.5, 0.5, 0.8, 0.1, 0.2, 0.2, 0.1, 0.1]]))
    p = softmax(lg)[0]
    ids, w = route("DeepseekV2ForCausalLM", v2, lg)
    check(ids.tolist() == [[2, 3]], f"v2 group max {ids}")
    check(np.allclose(w[0], p[[2, 3]] * 16.0), "v2 scales when not normalising")
    ids, w = route("DeepseekV2ForCausalLM", dict(v2, norm_topk_prob=True), lg)
    check(np.allclose(w[0], p[[2, 3]] / p[[2, 3]].sum()), "v2 no scaling when normalising")
    ids, w = route("DeepseekV2ForCausalLM", dict(v2, topk_method="greedy"), lg)
    check(ids.tolist() == [[2, 0]] and np.allclose(w[0], p[[2, 0]] * 16.0), "v2 greedy + tie order")

    # layer plans
    q = {"num_experts": 8, "mlp_only_layers": [1], "decoder_sparse_step": 2}
    check([layer_plan("Qwen2MoeForCausalLM", q, L)[1] for L in range(6)] == [False, False, False, True, False, True],
          "qwen sparse step / mlp_only")
    d = {"num_hidden_layers": 4, "first_k_dense_replace": 1, "moe_layer_freq": 2, "n_routed_experts": 8}
    check([layer_plan("DeepseekV3ForCausalLM", d, L)[1] for L in range(6)] == [False, False, True, False, True, True],
          "deepseek first_k_dense / freq / mtp")

    # dequantization on a tiny fake checkpoint
    import tempfile
    with tempfile.TemporaryDirectory() as td:
        rng = np.random.default_rng(0)
        N, K = 130, 260
        q8 = rng.integers(-127, 128, size=(N, K)).astype(np.int8)
        s_row = rng.uniform(0.001, 0.01, size=(N, 1)).astype(np.float32)
        codes = (q8.astype(np.int32) + 128).astype(np.uint8)
        pad = np.zeros((N, 4 * ((K + 3) // 4)), np.uint8)
        pad[:, :K] = codes
        packed = pad.view("<i4")
        s_grp = rng.uniform(0.001, 0.01, size=(N, 3)).astype(np.float32)
        f8 = rng.integers(0, 256, size=(N, K)).astype(np.uint8)
        f8[(f8 & 0x7F) == 0x7F] = 0x38
        s_blk = rng.uniform(0.5, 2, size=(2, 3)).astype(np.float32)
        write_safetensors(os.path.join(td, "model.safetensors"), [
            ("a.weight", "I8", q8), ("a.weight_scale", "F32", s_row),
            ("b.weight_packed", "I32", packed), ("b.weight_scale", "F32", s_grp),
            ("b.weight_shape", "I64", np.array([N, K], np.int64)),
            ("c.weight", "F8_E4M3", f8), ("c.weight_scale_inv", "F32", s_blk),
            ("d.weight", "F8_E4M3", f8), ("d.weight_scale", "F32", np.array(0.25, np.float32)),
            ("e.weight", "F8_E4M3", f8), ("e.weight_scale", "F32", np.array([0.25], np.float32)),
            ("f.weight", "F8_E4M3", f8), ("f.weight_scale", "F32", s_row),
            ("g.weight", "F8_E4M3", f8), ("g.weight_scale", "F32", s_blk),
        ])
        json.dump({"architectures": ["X"]}, open(os.path.join(td, "config.json"), "w"))
        ck = Checkpoint(td)
        ref_i8 = q8.astype(np.float64) * s_row.astype(np.float64)
        check(np.array_equal(ck.linear("a"), ref_i8), "int8 channel")
        grp = np.concatenate([np.full((N, 128), 0.0), np.full((N, 128), 0.0), np.full((N, 4), 0.0)], 1)
        for c in range(K):
            grp[:, c] = s_grp[:, c // 128]
        check(np.array_equal(ck.linear("b"), q8.astype(np.float64) * grp), "int8 group packed")
        f8v = E4M3[f8]
        blk = np.empty((N, K))
        for r in range(N):
            for c in range(K):
                blk[r, c] = s_blk[r // 128, c // 128]
        check(np.array_equal(ck.linear("c"), f8v * blk), "fp8 block scale_inv")
        check(np.array_equal(ck.linear("d"), f8v * 0.25), "fp8 tensor []")
        check(np.array_equal(ck.linear("e"), f8v * 0.25), "fp8 tensor [1]")
        check(np.array_equal(ck.linear("f"), f8v * s_row.astype(np.float64)), "fp8 channel")
        check(np.array_equal(ck.linear("g"), f8v * blk), "fp8 block weight_scale")
        # bf16 input round trip
        xp = os.path.join(td, "x.safetensors")
        make_input(xp, 4, 8, "bf16", 1, 1)
        dt, xb = read_tensor(xp, "hidden_states")
        make_input(xp, 4, 8, "f32", 1, 1)
        _, xf = read_tensor(xp, "hidden_states")
        check(dt == "BF16" and np.allclose(xb, xf, rtol=2 ** -8, atol=0), "bf16 input")
    print(f"ref_moe: self-test OK ({n} checks)")
    return 0

# ---------------------------------------------------------------- main

def main(argv):
    if "--self-test" in argv:
        return self_test()
    if argv and argv[0] == "--tie-gate":
        if len(argv) != 3:
            raise Fail("usage: --tie-gate CKPT LAYER")
        return tie_gate(argv[1], int(argv[2]))
    if argv and argv[0] == "--make-input":
        opts = {"--tokens": "64", "--hidden": "256", "--dtype": "f32", "--seed": "0", "--outliers": "4"}
        if len(argv) < 2:
            raise Fail("--make-input needs an output path")
        rest = argv[2:]
        for i in range(0, len(rest), 2):
            if rest[i] not in opts or i + 1 >= len(rest):
                raise Fail(f"bad option {rest[i]}")
            opts[rest[i]] = rest[i + 1]
        make_input(argv[1], int(opts["--tokens"]), int(opts["--hidden"]), opts["--dtype"],
                   int(opts["--seed"]), int(opts["--outliers"]))
        return 0
    rtol = 1e-5
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--rtol" and i + 1 < len(argv):
            rtol = float(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    ckpt, L, xpath, ypath = args[0], int(args[1]), args[2], args[3]
    ck = Checkpoint(ckpt)
    errs, rel, moe, xdt, extra = compare(ck, L, xpath, ypath, rtol)
    arch = ck.config["architectures"][0]
    if errs:
        print(f"ref_moe: MISMATCH layer {L} {arch} ({'moe' if moe else 'dense'}, input {xdt}): output rel L2 {rel:.3e}")
        for e in errs[:12]:
            print("  " + e)
        return 1
    print(f"ref_moe: OK layer {L} {arch} {'moe' if moe else 'dense'} input {xdt} output rel L2 {rel:.2e}{extra}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        print(f"ref_moe: error: {e}")
        sys.exit(2)
