/*
 * `validate`: the reference MLP block of each selected layer run with two
 * checkpoints' weights (see moekit/validate.h).
 *
 * Two questions get two setups.  How much error does this layer's
 * quantization add?  Both models run the layer on the same input, so the
 * figure belongs to this layer alone.  How often do the routers choose other
 * experts?  With the same input and an unquantized router the answer is
 * always "never", so the selected layers are also chained through a residual
 * stream per model, h += block(rmsnorm(h) * w), from the same tokens: the
 * quantized stream drifts as it would in the real model and reaches the
 * later routers.  Attention is not modelled.
 */
#include "moekit/validate.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moekit/checkpoint.h"
#include "moekit/kernels.h"
#include "moekit/moe.h"
#include "moekit/safetensors.h"

void mk_validate_defaults(mk_validate_opts *o) {
    memset(o, 0, sizeof *o);
    o->layers = "all";
    o->tokens = 512;
}

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void mk_synthetic_tokens(uint64_t seed, size_t T, int64_t H, const float *norm, float *x) {
    for (size_t t = 0; t < T; t++) {
        float *row = x + t * (size_t)H;
        double ss = 0;
        for (int64_t h = 0; h < H; h++) {
            uint64_t r = mix64(seed * 0x100000001b3ull + t * (uint64_t)H + (uint64_t)h);
            /* Irwin-Hall of four 16-bit uniforms: ~N(0,1), platform-exact. */
            int32_t s = (int32_t)((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
            float g = (float)(s - 131070) * (1.0f / 37837.23f);
            /* ~1 in 64 hidden channels carries a 10-30x larger activation,
             * the massive-activation pattern of real LLM residual streams. */
            uint64_t c = mix64(seed ^ 0xac71u ^ ((uint64_t)h * 0x100000001b3ull));
            if (c % 64 == 0) g *= (float)(10 + (c >> 32) % 21);
            row[h] = g;
            ss += (double)g * g;
        }
        float inv = (float)(1.0 / sqrt(ss / (double)H + 1e-6));
        for (int64_t h = 0; h < H; h++) row[h] *= inv * (norm ? norm[h] : 1.0f);
    }
}

/* "all", "3", "3,5", "3-9", "1,4-6": a sorted list of layers. */
static int parse_layers(const char *spec, int64_t n_main, int64_t n_all, int **out, int *n, mk_error *err) {
    int *v = calloc((size_t)n_all + 1, sizeof *v);
    unsigned char *on = calloc((size_t)n_all + 1, 1);
    if (!v || !on) {
        free(v);
        free(on);
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    if (!spec || strcmp(spec, "all") == 0) {
        memset(on, 1, (size_t)n_main);
    } else {
        const char *p = spec;
        while (*p) {
            char *end;
            long a = strtol(p, &end, 10), b = a;
            if (end == p || a < 0) break;
            p = end;
            if (*p == '-') {
                b = strtol(p + 1, &end, 10);
                if (end == p + 1) break;
                p = end;
            }
            if (b < a || b >= n_all) {
                free(v);
                free(on);
                return mk_fail(err, MK_ERR_INPUT, "--layers '%s': layer %ld does not exist (the model has %lld)",
                               spec, b, (long long)n_all);
            }
            for (long l = a; l <= b; l++) on[l] = 1;
            if (*p == ',') p++;
            else if (*p) break;
        }
        if (*p) {
            free(v);
            free(on);
            return mk_fail(err, MK_ERR_INPUT, "--layers '%s' is not all, N, N,M or N-M", spec);
        }
    }
    *n = 0;
    for (int64_t l = 0; l < n_all; l++)
        if (on[l]) v[(*n)++] = (int)l;
    free(on);
    *out = v;
    return MK_OK;
}

static int open_model(const char *path, mk_ckpt **ck, mk_model_config *cfg, mk_error *err) {
    int rc = mk_ckpt_open(path, ck, err);
    if (rc) return rc;
    char c[PATH_MAX];
    snprintf(c, sizeof c, "%s/config.json", mk_ckpt_dir(*ck));
    return mk_config_load(c, cfg, err);
}

static float *load_norm(mk_ckpt *ck, int L) {
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", L);
    const mk_st_file *f;
    const mk_tensor_info *t;
    mk_error ignore = {0};
    if (mk_ckpt_find(ck, name, &f, &t, &ignore) != MK_OK || t->ndim != 1) return NULL;
    float *v = malloc(t->n_elems * sizeof *v);
    if (!v) return NULL;
    const void *d = mk_st_data(f, t);
    for (uint64_t i = 0; i < t->n_elems; i++)
        v[i] = t->dtype == MK_DT_F32    ? ((const float *)d)[i]
               : t->dtype == MK_DT_BF16 ? mk_bf16_to_f32(((const uint16_t *)d)[i])
                                        : mk_f16_to_f32(((const uint16_t *)d)[i]);
    return v;
}

/* y = x / rms(x) * w per token (w NULL: 1), as the model's RMSNorm. */
static void rms_norm(const float *h, size_t T, int64_t H, const float *w, float eps, float *y) {
    for (size_t t = 0; t < T; t++) {
        const float *row = h + t * (size_t)H;
        double ss = 0;
        for (int64_t i = 0; i < H; i++) ss += (double)row[i] * row[i];
        float inv = (float)(1.0 / sqrt(ss / (double)H + eps));
        for (int64_t i = 0; i < H; i++) y[t * (size_t)H + (size_t)i] = row[i] * inv * (w ? w[i] : 1.0f);
    }
}

static double sqnr(double sig, double err) {
    return err > 0 ? 10.0 * log10(sig / err) : INFINITY;
}

/* Weight SQNR of each routed expert of layer L, gate+up+down together. */
static int expert_errors(mk_ckpt *a, mk_ckpt *b, const mk_model_config *cfg, int L, mk_layer_report *lr,
                         mk_error *err) {
    int E = (int)cfg->n_routed_experts;
    lr->experts = calloc((size_t)E, sizeof *lr->experts);
    if (!lr->experts) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    lr->n_experts = E;
    bool mixtral = cfg->arch == MK_ARCH_MIXTRAL;
    static const char *const qw[3] = {"gate_proj", "up_proj", "down_proj"};
    static const char *const mx[3] = {"w1", "w3", "w2"};
    for (int e = 0; e < E; e++) {
        double sig = 0, er = 0;
        for (int p = 0; p < 3; p++) {
            char m[256];
            if (mixtral) snprintf(m, sizeof m, "model.layers.%d.block_sparse_moe.experts.%d.%s", L, e, mx[p]);
            else snprintf(m, sizeof m, "model.layers.%d.mlp.experts.%d.%s", L, e, qw[p]);
            float *wa = NULL, *wb = NULL;
            int64_t ra, ca, rb, cb;
            int rc = mk_load_weight_f32(a, m, &wa, &ra, &ca, err);
            if (!rc) rc = mk_load_weight_f32(b, m, &wb, &rb, &cb, err);
            if (!rc && (ra != rb || ca != cb))
                rc = mk_fail(err, MK_ERR_INPUT, "'%s' has different shapes in the two checkpoints", m);
            for (int64_t i = 0; !rc && i < ra * ca; i++) {
                double d = (double)wa[i] - wb[i];
                sig += (double)wa[i] * wa[i];
                er += d * d;
            }
            free(wa);
            free(wb);
            if (rc) return rc;
        }
        lr->experts[e].expert = e;
        lr->experts[e].sqnr_db = sqnr(sig, er);
    }
    return MK_OK;
}

static void compare(const mk_forward_out *a, const mk_forward_out *b, size_t T, int64_t H, mk_layer_report *lr) {
    double sig = 0, er = 0, dot = 0, nb = 0, mx = 0;
    for (size_t i = 0; i < T * (size_t)H; i++) {
        double x = a->output[i], y = b->output[i], d = x - y;
        sig += x * x;
        nb += y * y;
        dot += x * y;
        er += d * d;
        if (fabs(d) > mx) mx = fabs(d);
    }
    lr->sqnr_db = sqnr(sig, er);
    lr->cosine = sig > 0 && nb > 0 ? dot / sqrt(sig * nb) : 1.0;
    lr->rel_l2 = sig > 0 ? sqrt(er / sig) : 0.0;
    lr->max_abs = mx;
    if (!a->topk_ids) return;
    int k = a->top_k;
    size_t flips = 0, top1 = 0;
    double overlap = 0, dw = 0;
    for (size_t t = 0; t < T; t++) {
        const int32_t *ia = a->topk_ids + t * (size_t)k, *ib = b->topk_ids + t * (size_t)k;
        const float *wa = a->topk_weights + t * (size_t)k, *wb = b->topk_weights + t * (size_t)k;
        int common = 0;
        double d = 0;
        for (int i = 0; i < k; i++) {
            int j = 0;
            while (j < k && ib[j] != ia[i]) j++;
            if (j < k) {
                common++;
                d += fabs((double)wa[i] - wb[j]);
            } else {
                d += fabs((double)wa[i]); /* chosen by REF only */
            }
        }
        for (int j = 0; j < k; j++) {
            int i = 0;
            while (i < k && ia[i] != ib[j]) i++;
            if (i == k) d += fabs((double)wb[j]); /* chosen by QUANT only */
        }
        if (common != k) flips++;
        if (ia[0] != ib[0]) top1++;
        overlap += (double)common / k;
        dw += d / k;
    }
    lr->flip_rate = (double)flips / (double)T;
    lr->top1_change_rate = (double)top1 / (double)T;
    lr->mean_overlap = overlap / (double)T;
    lr->mean_abs_dweight = dw / (double)T;
}

int mk_validate(const char *ref, const char *quant, const mk_validate_opts *o, mk_validate_report *r,
                mk_error *err) {
    memset(r, 0, sizeof *r);
    mk_ckpt *a = NULL, *b = NULL;
    mk_model_config ca = {0}, cb = {0};
    int rc = open_model(ref, &a, &ca, err);
    if (!rc) rc = open_model(quant, &b, &cb, err);
    if (!rc && (ca.arch != cb.arch || ca.hidden_size != cb.hidden_size || ca.num_layers != cb.num_layers ||
                ca.n_routed_experts != cb.n_routed_experts || ca.top_k != cb.top_k))
        rc = mk_fail(err, MK_ERR_INPUT,
                     "%s and %s are not the same model (architecture, hidden size, layers or experts differ)",
                     ref, quant);
    int *layers = NULL, n_layers = 0;
    int64_t n_all = ca.num_layers + ca.num_nextn_predict_layers;
    if (!rc) rc = parse_layers(o->layers, ca.num_layers, n_all, &layers, &n_layers, err);
    float *input = NULL;
    size_t T = (size_t)(o->tokens > 0 ? o->tokens : 512);
    if (!rc && o->input) {
        mk_st_file *f;
        rc = mk_st_open(o->input, &f, err);
        if (!rc) {
            const mk_tensor_info *t = mk_st_find(f, "hidden_states");
            if (!t || t->ndim != 2 || t->shape[1] != ca.hidden_size || t->shape[0] < 1 ||
                (t->dtype != MK_DT_F32 && t->dtype != MK_DT_BF16 && t->dtype != MK_DT_F16))
                rc = mk_fail(err, MK_ERR_INPUT, "%s: needs 'hidden_states' [T, %lld] in F32, BF16 or F16",
                             o->input, (long long)ca.hidden_size);
            if (!rc) {
                T = (size_t)t->shape[0];
                input = malloc(t->n_elems * sizeof *input);
                const void *d = mk_st_data(f, t);
                for (uint64_t i = 0; input && i < t->n_elems; i++)
                    input[i] = t->dtype == MK_DT_F32    ? ((const float *)d)[i]
                               : t->dtype == MK_DT_BF16 ? mk_bf16_to_f32(((const uint16_t *)d)[i])
                                                        : mk_f16_to_f32(((const uint16_t *)d)[i]);
                if (!input) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            }
            mk_st_close(f);
        }
    }
    if (!rc) {
        r->layers = calloc((size_t)n_layers + 1, sizeof *r->layers); /* +1: see mk_validate_free */
        if (!r->layers) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        snprintf(r->architecture, sizeof r->architecture, "%s", ca.architecture);
        r->tokens = (int)T;
    }
    int64_t H = ca.hidden_size;
    float *x = rc ? NULL : malloc(T * (size_t)H * sizeof *x);
    if (!rc && !x) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    double flips = 0, overlap = 0, sum_sqnr = 0;
    int moe_layers = 0, finite = 0;
    r->min_sqnr_db = INFINITY;
    /* Two residual streams, one per model, start equal; each selected layer
     * reads rmsnorm(h) * post_attention_layernorm and adds its block output,
     * so quantization error accumulates as it does in the real model and can
     * reach the later routers (attention is not modelled). */
    float *ha = rc ? NULL : malloc(T * (size_t)H * sizeof *ha);
    float *hb = rc ? NULL : malloc(T * (size_t)H * sizeof *hb);
    float *xb = rc ? NULL : malloc(T * (size_t)H * sizeof *xb);
    if (!rc && (!ha || !hb || !xb)) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    if (!rc) {
        if (input) memcpy(ha, input, T * (size_t)H * sizeof *ha);
        else mk_synthetic_tokens(o->seed, T, H, NULL, ha);
        memcpy(hb, ha, T * (size_t)H * sizeof *hb);
    }
    for (int i = 0; !rc && i < n_layers; i++) {
        int L = layers[i];
        mk_layer_report *lr = &r->layers[r->n_layers];
        lr->layer = L;
        float *na = load_norm(a, L), *nb = load_norm(b, L);
        rms_norm(ha, T, H, na, (float)ca.rms_norm_eps, x);
        rms_norm(hb, T, H, nb, (float)cb.rms_norm_eps, xb);
        free(na);
        free(nb);
        /* REF on its own stream; QUANT on REF's input (this layer's error
         * alone: output figures) and on its own stream (accumulated drift:
         * router figures, and the stream goes on). */
        mk_forward_out fa, fb, fc;
        rc = mk_forward_layer(a, &ca, L, x, T, &fa, err);
        if (!rc) {
            rc = mk_forward_layer(b, &cb, L, x, T, &fb, err);
            if (!rc) {
                rc = mk_forward_layer(b, &cb, L, xb, T, &fc, err);
                if (!rc) {
                    lr->moe = fa.topk_ids != NULL;
                    compare(&fa, &fb, T, H, lr);
                    double isolated = lr->flip_rate;
                    mk_layer_report chain = *lr;
                    compare(&fa, &fc, T, H, &chain);
                    lr->flip_rate_isolated = isolated;
                    lr->flip_rate = chain.flip_rate;
                    lr->mean_overlap = chain.mean_overlap;
                    lr->top1_change_rate = chain.top1_change_rate;
                    lr->mean_abs_dweight = chain.mean_abs_dweight;
                    for (size_t j = 0; j < T * (size_t)H; j++) {
                        ha[j] += fa.output[j];
                        hb[j] += fc.output[j];
                    }
                    mk_forward_out_free(&fc);
                }
                mk_forward_out_free(&fb);
            }
            mk_forward_out_free(&fa);
        }
        if (!rc && lr->moe) rc = expert_errors(a, b, &ca, L, lr, err);
        if (rc) break;
        r->n_layers++;
        if (lr->sqnr_db < r->min_sqnr_db) r->min_sqnr_db = lr->sqnr_db;
        if (isfinite(lr->sqnr_db)) {
            sum_sqnr += lr->sqnr_db;
            finite++;
        }
        if (lr->moe) {
            moe_layers++;
            flips += lr->flip_rate;
            overlap += lr->mean_overlap;
        }
        if (o->on_layer) o->on_layer(lr, o->ctx);
    }
    r->mean_sqnr_db = finite ? sum_sqnr / finite : (r->n_layers ? INFINITY : 0);
    r->flip_rate = moe_layers ? flips / moe_layers : 0;
    r->mean_overlap = moe_layers ? overlap / moe_layers : 1;
    free(x);
    free(xb);
    free(ha);
    free(hb);
    free(input);
    free(layers);
    mk_config_free(&ca);
    mk_config_free(&cb);
    mk_ckpt_close(a);
    mk_ckpt_close(b);
    if (rc) mk_validate_free(r);
    return rc;
}

void mk_validate_free(mk_validate_report *r) {
    for (int i = 0; i < r->n_layers; i++) free(r->layers[i].experts);
    /* a layer that failed midway may hold experts too */
    if (r->layers) free(r->layers[r->n_layers].experts);
    free(r->layers);
    memset(r, 0, sizeof *r);
}
