/*
 * The reference FP32 MLP block of one decoder layer (see moekit/moe.h).
 *
 * Routed experts run grouped: the rows routed to an expert are gathered,
 * each projection is one sgemm over those rows, and the results are
 * scatter-added with their routing weights - the same dataflow as serving
 * engines' grouped GEMMs, so a weight error shows up exactly where it would
 * there.  An expert's weights are dequantized to FP32 just before use and
 * freed right after: memory stays at one expert plus the layer's
 * activations.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moekit/kernels.h"
#include "moekit/moe.h"
#include "moekit/quant.h"

static int find(mk_ckpt *ck, const char *name, const mk_st_file **f, const mk_tensor_info **t) {
    mk_error ignore = {0};
    return mk_ckpt_find(ck, name, f, t, &ignore) == MK_OK;
}

/* A small tensor (scales, biases) decoded to F32; malloc'd. */
static float *decode_small(const mk_st_file *f, const mk_tensor_info *t) {
    float *v = malloc((t->n_elems ? t->n_elems : 1) * sizeof *v);
    if (!v) return NULL;
    const void *d = mk_st_data(f, t);
    for (uint64_t i = 0; i < t->n_elems; i++) {
        switch (t->dtype) {
        case MK_DT_F32: v[i] = ((const float *)d)[i]; break;
        case MK_DT_BF16: v[i] = mk_bf16_to_f32(((const uint16_t *)d)[i]); break;
        case MK_DT_F16: v[i] = mk_f16_to_f32(((const uint16_t *)d)[i]); break;
        default: free(v); return NULL;
        }
    }
    return v;
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int mk_load_weight_f32(mk_ckpt *ck, const char *module, float **out, int64_t *rows, int64_t *cols,
                       mk_error *err) {
    char name[512];
    const mk_st_file *wf, *sf = NULL;
    const mk_tensor_info *w, *s = NULL;
    *out = NULL;
    bool packed = false;
    snprintf(name, sizeof name, "%s.weight", module);
    if (!find(ck, name, &wf, &w)) {
        snprintf(name, sizeof name, "%s.weight_packed", module);
        if (!find(ck, name, &wf, &w))
            return mk_fail(err, MK_ERR_INPUT, "%s: no tensor '%s.weight' in the checkpoint",
                           mk_ckpt_dir(ck), module);
        packed = true;
    }
    if (w->ndim != 2)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s' is not 2-D", mk_st_path(wf), name);
    int64_t N = w->shape[0], K = w->shape[1];
    if (packed) {
        const mk_st_file *hf;
        const mk_tensor_info *ht;
        snprintf(name, sizeof name, "%s.weight_shape", module);
        if (!find(ck, name, &hf, &ht) || ht->dtype != MK_DT_I64 || ht->n_elems != 2)
            return mk_fail(err, MK_ERR_INPUT, "%s: '%s' missing or not I64 [2]", mk_ckpt_dir(ck), name);
        const int64_t *shape = mk_st_data(hf, ht);
        if (shape[0] != N || shape[1] <= 0 || cdiv(shape[1], 4) != w->shape[1])
            return mk_fail(err, MK_ERR_INPUT, "%s: '%s' does not match weight_packed", mk_st_path(hf), name);
        K = shape[1];
    }
    snprintf(name, sizeof name, "%s.weight_scale_inv", module);
    if (!find(ck, name, &sf, &s)) {
        snprintf(name, sizeof name, "%s.weight_scale", module);
        if (!find(ck, name, &sf, &s)) s = NULL;
    }
    enum { NONE, TENSOR, ROW, BLOCK, GROUP } kind = NONE;
    if (s) {
        if (s->n_elems == 1 && !(packed))
            kind = TENSOR;
        else if (packed && s->ndim == 2 && s->shape[0] == N && s->shape[1] == cdiv(K, 128))
            kind = GROUP;
        else if (s->ndim == 2 && s->shape[0] == N && s->shape[1] == 1)
            kind = ROW;
        else if (s->ndim == 2 && s->shape[0] == cdiv(N, 128) && s->shape[1] == cdiv(K, 128))
            kind = BLOCK;
        else
            return mk_fail(err, MK_ERR_INPUT, "%s: scale '%s' has a shape no scheme uses for [%lld, %lld]",
                           mk_st_path(sf), name, (long long)N, (long long)K);
    }
    bool is_float = w->dtype == MK_DT_F32 || w->dtype == MK_DT_F16 || w->dtype == MK_DT_BF16;
    if ((is_float && s) || (!is_float && !s) ||
        (!is_float && w->dtype != MK_DT_F8_E4M3 && w->dtype != MK_DT_I8 && !(packed && w->dtype == MK_DT_I32)))
        return mk_fail(err, MK_ERR_INPUT, "%s: '%s.weight' (%s) and its scale do not form a known scheme",
                       mk_st_path(wf), module, mk_dtype_name(w->dtype));
    float *sc = s ? decode_small(sf, s) : NULL;
    float *W = malloc((size_t)N * (size_t)K * sizeof *W);
    if ((s && !sc) || !W) {
        free(sc);
        free(W);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot decode '%s'", mk_ckpt_dir(ck), module);
    }
    const mk_kernels *Kn = mk_kernels_best();
    const uint8_t *data = mk_st_data(wf, w);
    size_t esz = mk_dtype_size(w->dtype);
    int64_t nkb = cdiv(K, 128);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < N; r++) {
        float *row = W + r * K;
        if (packed) {
            const uint32_t *words = (const uint32_t *)data + r * w->shape[1];
            for (int64_t c = 0; c < K; c++) {
                int code = (int)((words[c / 4] >> (8 * (c % 4))) & 0xffu) - 128;
                row[c] = (float)code * sc[r * nkb + c / 128];
            }
        } else if (kind == NONE || kind == TENSOR || kind == ROW) {
            float scale = kind == NONE ? 1.0f : kind == TENSOR ? sc[0] : sc[r];
            Kn->dequant(w->dtype, data + (size_t)(r * K) * esz, (size_t)K, scale, row);
        } else { /* BLOCK */
            for (int64_t j = 0; j < nkb; j++) {
                int64_t c0 = j * 128, len = K - c0 < 128 ? K - c0 : 128;
                Kn->dequant(w->dtype, data + (size_t)(r * K + c0) * esz, (size_t)len,
                            sc[(r / 128) * nkb + j], row + c0);
            }
        }
    }
    free(sc);
    *out = W;
    *rows = N;
    *cols = K;
    return MK_OK;
}

int mk_swiglu_f32(const float *X, size_t n, int64_t H, int64_t inter, const float *Wg,
                  const float *Wu, const float *Wd, float *Y) {
    float *G = malloc((n ? n : 1) * (size_t)inter * sizeof *G);
    float *U = malloc((n ? n : 1) * (size_t)inter * sizeof *U);
    if (!G || !U) {
        free(G);
        free(U);
        return -1;
    }
    int width = (int)inter;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, width, (int)H, 1.0f, X, (int)H, Wg, (int)H,
                0.0f, G, width);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, width, (int)H, 1.0f, X, (int)H, Wu, (int)H,
                0.0f, U, width);
    mk_silu_mul(G, U, n * (size_t)width);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)H, width, 1.0f, G, width, Wd, width, 0.0f, Y,
                (int)H);
    free(G);
    free(U);
    return 0;
}

/* Y[n, H] = down(silu(X gate^T) * (X up^T)) for the module triple. */
static int swiglu(mk_ckpt *ck, const char *gate, const char *up, const char *down, const float *X,
                  size_t n, int64_t H, float *Y, mk_error *err) {
    float *Wg = NULL, *Wu = NULL, *Wd = NULL;
    int64_t gr, gc, ur, uc, dr, dc;
    int rc = mk_load_weight_f32(ck, gate, &Wg, &gr, &gc, err);
    if (!rc) rc = mk_load_weight_f32(ck, up, &Wu, &ur, &uc, err);
    if (!rc) rc = mk_load_weight_f32(ck, down, &Wd, &dr, &dc, err);
    if (!rc && (gc != H || uc != H || ur != gr || dr != H || dc != gr))
        rc = mk_fail(err, MK_ERR_INPUT, "%s: %s/%s/%s shapes do not form a [%lld]-wide SwiGLU MLP",
                     mk_ckpt_dir(ck), gate, up, down, (long long)H);
    if (!rc && mk_swiglu_f32(X, n, H, gr, Wg, Wu, Wd, Y) != 0) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    free(Wg);
    free(Wu);
    free(Wd);
    return rc;
}

void mk_forward_out_free(mk_forward_out *o) {
    free(o->output);
    free(o->topk_ids);
    free(o->topk_weights);
    free(o->router_logits);
    memset(o, 0, sizeof *o);
}

static int moe_block(mk_ckpt *ck, const mk_model_config *cfg, int L, const float *x, size_t T,
                     mk_forward_out *out, mk_error *err) {
    int64_t H = cfg->hidden_size;
    int E = (int)cfg->n_routed_experts, k = (int)cfg->top_k;
    bool mixtral = cfg->arch == MK_ARCH_MIXTRAL;
    const char *base = mixtral ? "block_sparse_moe" : "mlp";
    char m[512], m2[512], m3[512];
    snprintf(m, sizeof m, "model.layers.%d.%s.gate", L, base);
    float *Wr = NULL;
    int64_t rr, rcl;
    int rc = mk_load_weight_f32(ck, m, &Wr, &rr, &rcl, err);
    if (rc) return rc;
    if (rr != E || rcl != H) {
        free(Wr);
        return mk_fail(err, MK_ERR_INPUT, "%s: router '%s' is [%lld, %lld], config implies [%d, %lld]",
                       mk_ckpt_dir(ck), m, (long long)rr, (long long)rcl, E, (long long)H);
    }
    out->top_k = k;
    out->n_experts = E;
    out->router_logits = malloc(T * (size_t)E * sizeof(float));
    out->topk_ids = malloc(T * (size_t)k * sizeof(int32_t));
    out->topk_weights = malloc(T * (size_t)k * sizeof(float));
    if (!out->router_logits || !out->topk_ids || !out->topk_weights) {
        free(Wr);
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    /* Router in FP32, as transformers computes DeepSeek-V3's. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, E, (int)H, 1.0f, x, (int)H, Wr,
                (int)H, 0.0f, out->router_logits, E);
    free(Wr);
    float *bias = NULL;
    if (cfg->has_correction_bias) {
        const mk_st_file *bf;
        const mk_tensor_info *bt;
        snprintf(m, sizeof m, "model.layers.%d.mlp.gate.e_score_correction_bias", L);
        if (!find(ck, m, &bf, &bt) || bt->n_elems != (uint64_t)E || !(bias = decode_small(bf, bt)))
            return mk_fail(err, MK_ERR_INPUT, "%s: '%s' missing or not [%d] floats", mk_ckpt_dir(ck), m, E);
    }
    mk_router_cfg rcfg;
    mk_router_from_config(cfg, bias, &rcfg);
    mk_route(&rcfg, out->router_logits, T, out->topk_ids, out->topk_weights);
    free(bias);
    /* Group token slots by expert (counting sort keeps token order). */
    size_t slots = T * (size_t)k;
    size_t *start = calloc((size_t)E + 1, sizeof *start);
    size_t *order = malloc((slots ? slots : 1) * sizeof *order);
    float *X = malloc((slots ? slots : 1) * (size_t)H * sizeof *X);
    float *Y = malloc((slots ? slots : 1) * (size_t)H * sizeof *Y);
    if (!start || !order || !X || !Y) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    for (size_t s = 0; !rc && s < slots; s++) start[out->topk_ids[s] + 1]++;
    for (int e = 0; !rc && e < E; e++) start[e + 1] += start[e];
    size_t *fill = rc ? NULL : malloc(((size_t)E + 1) * sizeof *fill);
    if (!rc && !fill) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    if (!rc) {
        memcpy(fill, start, ((size_t)E + 1) * sizeof *fill);
        for (size_t s = 0; s < slots; s++) order[fill[out->topk_ids[s]]++] = s;
    }
    free(fill);
    for (int e = 0; !rc && e < E; e++) {
        size_t n = start[e + 1] - start[e];
        if (!n) continue;
        for (size_t i = 0; i < n; i++)
            memcpy(X + i * (size_t)H, x + (order[start[e] + i] / (size_t)k) * (size_t)H, (size_t)H * sizeof *X);
        if (mixtral) {
            snprintf(m, sizeof m, "model.layers.%d.block_sparse_moe.experts.%d.w1", L, e);
            snprintf(m2, sizeof m2, "model.layers.%d.block_sparse_moe.experts.%d.w3", L, e);
            snprintf(m3, sizeof m3, "model.layers.%d.block_sparse_moe.experts.%d.w2", L, e);
        } else {
            snprintf(m, sizeof m, "model.layers.%d.mlp.experts.%d.gate_proj", L, e);
            snprintf(m2, sizeof m2, "model.layers.%d.mlp.experts.%d.up_proj", L, e);
            snprintf(m3, sizeof m3, "model.layers.%d.mlp.experts.%d.down_proj", L, e);
        }
        rc = swiglu(ck, m, m2, m3, X, n, H, Y, err);
        for (size_t i = 0; !rc && i < n; i++) {
            size_t slot = order[start[e] + i];
            float w = out->topk_weights[slot];
            float *o = out->output + (slot / (size_t)k) * (size_t)H;
            const float *y = Y + i * (size_t)H;
            for (int64_t h = 0; h < H; h++) o[h] += w * y[h];
        }
    }
    free(start);
    free(order);
    free(X);
    if (!rc && cfg->n_shared_experts > 0) {
        const char *sh = cfg->arch == MK_ARCH_QWEN2_MOE ? "shared_expert" : "shared_experts";
        snprintf(m, sizeof m, "model.layers.%d.mlp.%s.gate_proj", L, sh);
        snprintf(m2, sizeof m2, "model.layers.%d.mlp.%s.up_proj", L, sh);
        snprintf(m3, sizeof m3, "model.layers.%d.mlp.%s.down_proj", L, sh);
        float *S = realloc(Y, (T ? T : 1) * (size_t)H * sizeof *S);
        if (!S) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        else Y = S;
        if (!rc) rc = swiglu(ck, m, m2, m3, x, T, H, Y, err);
        float *g = NULL;
        if (!rc && cfg->shared_expert_gate) {
            /* Qwen2-MoE: sigmoid(shared_expert_gate x) scales the shared expert. */
            int64_t gr, gc;
            snprintf(m, sizeof m, "model.layers.%d.mlp.shared_expert_gate", L);
            rc = mk_load_weight_f32(ck, m, &g, &gr, &gc, err);
            if (!rc && (gr != 1 || gc != H)) rc = mk_fail(err, MK_ERR_INPUT, "%s: '%s' is not [1, %lld]",
                                                         mk_ckpt_dir(ck), m, (long long)H);
        }
        for (size_t t = 0; !rc && t < T; t++) {
            float scale = 1.0f;
            if (g) {
                double dot = 0;
                for (int64_t h = 0; h < H; h++) dot += (double)g[h] * x[t * (size_t)H + (size_t)h];
                scale = (float)(1.0 / (1.0 + exp(-dot)));
            }
            for (int64_t h = 0; h < H; h++) out->output[t * (size_t)H + (size_t)h] += scale * Y[t * (size_t)H + (size_t)h];
        }
        free(g);
    }
    free(Y);
    return rc;
}

int mk_forward_layer(mk_ckpt *ck, const mk_model_config *cfg, int L, const float *x, size_t T,
                     mk_forward_out *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    int64_t n_all = cfg->num_layers + cfg->num_nextn_predict_layers;
    if (L < 0 || L >= n_all)
        return mk_fail(err, MK_ERR_INPUT, "layer %d does not exist: the model has %lld layers%s", L,
                       (long long)cfg->num_layers,
                       cfg->num_nextn_predict_layers ? " plus MTP layers" : "");
    bool moe = L < cfg->num_layers ? cfg->is_moe[L] : cfg->n_routed_experts > 0;
    out->output = calloc((T ? T : 1) * (size_t)cfg->hidden_size, sizeof(float));
    if (!out->output) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    int rc;
    if (moe) {
        rc = moe_block(ck, cfg, L, x, T, out, err);
    } else {
        char g[256], u[256], d[256];
        snprintf(g, sizeof g, "model.layers.%d.mlp.gate_proj", L);
        snprintf(u, sizeof u, "model.layers.%d.mlp.up_proj", L);
        snprintf(d, sizeof d, "model.layers.%d.mlp.down_proj", L);
        rc = swiglu(ck, g, u, d, x, T, cfg->hidden_size, out->output, err);
    }
    if (rc) mk_forward_out_free(out);
    return rc;
}
