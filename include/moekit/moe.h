/*
 * moekit/moe.h - a reference FP32 Mixture-of-Experts block on the CPU.
 *
 * Routing kernels (kernels/route.c) implement each architecture's exact
 * top-k semantics; the forward engine (lib/forward.c) runs one decoder
 * layer's MLP block - router, routed SwiGLU experts, shared experts, or the
 * dense MLP - on FP32 hidden states with OpenBLAS, dequantizing any weight
 * moekit reads (F32/F16/BF16, every scheme `convert` writes, DeepSeek FP8
 * with weight_scale_inv) one expert at a time.  Semantics and the choices
 * made where implementations disagree: docs/validation.md.
 */
#ifndef MOEKIT_MOE_H
#define MOEKIT_MOE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/checkpoint.h"
#include "moekit/error.h"
#include "moekit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_router_cfg {
    int n_experts, top_k;
    mk_scoring scoring;            /* softmax over all experts, or sigmoid */
    mk_topk_method method;         /* greedy, group_limited_greedy (V2), noaux_tc (V3) */
    int n_group, topk_group;
    bool norm_topk_prob;
    float routed_scaling_factor;
    bool scale_after_norm;         /* V3: always scale; V2: scale only when not normalised */
    const float *correction_bias;  /* [n_experts] for noaux_tc, else NULL */
} mk_router_cfg;

/* The router settings of `cfg` (bias: the layer's e_score_correction_bias or NULL). */
void mk_router_from_config(const mk_model_config *cfg, const float *bias, mk_router_cfg *rc);

/* Routes T tokens: logits [T, E] (FP32) -> ids [T, k] (ascending by rank:
 * best first; ties to the lower expert id) and weights [T, k]. */
void mk_route(const mk_router_cfg *rc, const float *logits, size_t T, int32_t *ids, float *weights);

/* gate[i] = silu(gate[i]) * up[i], silu(v) = v / (1 + exp(-v)). */
void mk_silu_mul(float *gate, const float *up, size_t n);

/* Y[n, H] = down(silu(X gate^T) * (X up^T)) with FP32 weights Wg, Wu
 * [inter, H] and Wd [H, inter]: three sgemm calls.  -1 when out of memory. */
int mk_swiglu_f32(const float *X, size_t n, int64_t H, int64_t inter, const float *Wg,
                  const float *Wu, const float *Wd, float *Y);

/* A dense FP32 copy of module `module` (name without ".weight"), whatever
 * its on-disk form; *rows x *cols, malloc'd. */
int mk_load_weight_f32(mk_ckpt *ck, const char *module, float **out, int64_t *rows, int64_t *cols,
                       mk_error *err);

typedef struct mk_forward_out {
    float *output;        /* [T, hidden] */
    int32_t *topk_ids;    /* [T, k] (MoE layers), else NULL */
    float *topk_weights;  /* [T, k] */
    float *router_logits; /* [T, E] */
    int top_k, n_experts;
} mk_forward_out;

/* Runs layer L's MLP block (MoE or dense) on x [T, hidden]; fills `out`
 * (caller frees with mk_forward_out_free). MTP layers are allowed. */
int mk_forward_layer(mk_ckpt *ck, const mk_model_config *cfg, int layer, const float *x, size_t T,
                     mk_forward_out *out, mk_error *err);
void mk_forward_out_free(mk_forward_out *out);

#ifdef __cplusplus
}
#endif
#endif
