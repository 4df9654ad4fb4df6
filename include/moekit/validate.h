/*
 * moekit/validate.h - how far a quantized MoE drifts from its reference.
 *
 * mk_validate() runs the reference FP32 MLP block of each selected layer
 * (moekit/moe.h) with REF's and QUANT's weights and measures each block's
 * output error on identical input, how often the router picks other experts
 * once the quantized model's residual stream has drifted (layers chained,
 * h += block(rmsnorm(h) * w), attention not modelled), and each routed
 * expert's weight error.
 * Definitions: docs/validation.md.
 */
#ifndef MOEKIT_VALIDATE_H
#define MOEKIT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_expert_error {
    int expert;
    double sqnr_db;            /* weights, gate+up+down together */
} mk_expert_error;

typedef struct mk_layer_report {
    int layer;
    bool moe;
    /* block output */
    double sqnr_db, cosine, rel_l2, max_abs;
    /* router (MoE layers), on each model's own residual stream */
    double flip_rate;          /* share of tokens whose top-k set changed */
    double flip_rate_isolated; /* the same with identical input (router weights alone) */
    double mean_overlap;       /* mean |A n B| / k */
    double top1_change_rate;   /* share of tokens whose best expert changed */
    double mean_abs_dweight;   /* mean over tokens of sum_e |w_ref(e) - w_q(e)| / k */
    /* per routed expert weight SQNR, in expert order */
    mk_expert_error *experts;
    int n_experts;
} mk_layer_report;

typedef struct mk_validate_opts {
    const char *layers;        /* "all" (default), "3,5", "3-9" */
    int tokens;                /* synthetic tokens (default 512) */
    const char *input;         /* safetensors with hidden_states [T, hidden] (the residual
                                  stream entering the first selected layer), or NULL */
    uint64_t seed;
    int threads;
    void (*on_layer)(const mk_layer_report *l, void *ctx); /* progress */
    void *ctx;
} mk_validate_opts;

typedef struct mk_validate_report {
    char architecture[64];
    int tokens;
    mk_layer_report *layers;
    int n_layers;
    /* model summary */
    double min_sqnr_db, mean_sqnr_db;  /* over layers */
    double flip_rate;                  /* over MoE layers and tokens */
    double mean_overlap;
} mk_validate_report;

void mk_validate_defaults(mk_validate_opts *o);
int mk_validate(const char *ref, const char *quant, const mk_validate_opts *o,
                mk_validate_report *r, mk_error *err);
void mk_validate_free(mk_validate_report *r);

/* Synthetic residual-stream tokens: seeded N(0,1) with ~1 in 64 channels
 * 10-30x larger, each token scaled to unit RMS, then multiplied by
 * norm_weight when given. */
void mk_synthetic_tokens(uint64_t seed, size_t T, int64_t hidden, const float *norm_weight,
                         float *x);

#ifdef __cplusplus
}
#endif
#endif
