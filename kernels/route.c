/*
 * Router kernels: each architecture's exact top-k semantics (the sources and
 * the choices where implementations disagree are in docs/validation.md).
 *
 * Scores are computed in double from FP32 logits; selection scans experts in
 * ascending id with a strict comparison, so ties go to the lower expert id
 * (and the lower group id), and results do not depend on a sort's stability.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moekit/moe.h"

void mk_router_from_config(const mk_model_config *cfg, const float *bias, mk_router_cfg *rc) {
    memset(rc, 0, sizeof *rc);
    rc->n_experts = (int)cfg->n_routed_experts;
    rc->top_k = (int)cfg->top_k;
    rc->scoring = cfg->scoring;
    rc->method = cfg->topk_method;
    rc->n_group = (int)cfg->n_group;
    rc->topk_group = (int)cfg->topk_group;
    rc->norm_topk_prob = cfg->norm_topk_prob;
    rc->routed_scaling_factor = (float)cfg->routed_scaling_factor;
    /* DeepSeek-V2's modeling scales only when it does not normalise; V3
     * normalises, then scales.  Mixtral and Qwen have a factor of 1. */
    rc->scale_after_norm = cfg->arch != MK_ARCH_DEEPSEEK_V2;
    rc->correction_bias = cfg->topk_method == MK_TOPK_NOAUX_TC ? bias : NULL;
}

/* Index of the best allowed, unchosen candidate; -1 if none. */
static int argmax(const double *v, const unsigned char *allowed, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (allowed[i] && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

void mk_route(const mk_router_cfg *rc, const float *logits, size_t T, int32_t *ids, float *weights) {
    int E = rc->n_experts, k = rc->top_k;
    double *p = malloc((size_t)E * sizeof *p), *sel = malloc((size_t)E * sizeof *sel);
    int G = rc->n_group > 0 ? rc->n_group : 1;
    double *gscore = malloc((size_t)G * sizeof *gscore);
    unsigned char *allowed = malloc((size_t)(E > G ? E : G));
    if (!p || !sel || !gscore || !allowed) abort(); /* a few KB: nothing sensible to do */
    bool deepseek = rc->method != MK_TOPK_GREEDY || rc->correction_bias || !rc->scale_after_norm;
    for (size_t t = 0; t < T; t++) {
        const float *z = logits + t * (size_t)E;
        if (rc->scoring == MK_SCORE_SIGMOID) {
            for (int e = 0; e < E; e++) p[e] = 1.0 / (1.0 + exp(-(double)z[e]));
        } else {
            double m = z[0], s = 0;
            for (int e = 1; e < E; e++) m = z[e] > m ? z[e] : m;
            for (int e = 0; e < E; e++) s += (p[e] = exp((double)z[e] - m));
            for (int e = 0; e < E; e++) p[e] /= s;
        }
        /* Selection scores: DeepSeek-V3 adds the correction bias here only. */
        for (int e = 0; e < E; e++) sel[e] = p[e] + (rc->correction_bias ? rc->correction_bias[e] : 0.0);
        memset(allowed, 1, (size_t)E);
        if (rc->method != MK_TOPK_GREEDY && G > 1 && rc->topk_group < G) {
            int per = E / G;
            for (int g = 0; g < G; g++) {
                const double *s = sel + g * per;
                if (rc->method == MK_TOPK_NOAUX_TC) { /* sum of the group's top-2 */
                    int a = 0;
                    for (int i = 1; i < per; i++) a = s[i] > s[a] ? i : a;
                    int b = -1;
                    for (int i = 0; i < per; i++)
                        if (i != a && (b < 0 || s[i] > s[b])) b = i;
                    gscore[g] = s[a] + (b >= 0 ? s[b] : 0.0);
                } else { /* group_limited_greedy: the group's best score */
                    double m = s[0];
                    for (int i = 1; i < per; i++) m = s[i] > m ? s[i] : m;
                    gscore[g] = m;
                }
            }
            unsigned char *gallowed = allowed + 0; /* reuse: groups first, then experts */
            unsigned char keep[4096];
            int gg = G < 4096 ? G : 4096;
            memset(keep, 0, (size_t)gg);
            memset(gallowed, 1, (size_t)gg);
            for (int j = 0; j < rc->topk_group; j++) {
                int g = argmax(gscore, gallowed, gg);
                if (g < 0) break;
                keep[g] = 1;
                gallowed[g] = 0;
            }
            /* Dropped groups' experts cannot be chosen (DeepSeek's -inf). */
            for (int e = 0; e < E; e++) allowed[e] = keep[e / per];
        }
        int32_t *id = ids + t * (size_t)k;
        float *w = weights + t * (size_t)k;
        double sum = 0;
        for (int j = 0; j < k; j++) {
            int e = argmax(sel, allowed, E);
            id[j] = e;
            if (e >= 0) {
                allowed[e] = 0;
                sum += p[e];
            }
        }
        for (int j = 0; j < k; j++) {
            double v = id[j] >= 0 ? p[id[j]] : 0.0;
            if (rc->norm_topk_prob) v /= deepseek ? sum + 1e-20 : sum;
            if (rc->scale_after_norm || !rc->norm_topk_prob) v *= rc->routed_scaling_factor;
            w[j] = (float)v;
        }
    }
    free(p);
    free(sel);
    free(gscore);
    free(allowed);
}

void mk_silu_mul(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
