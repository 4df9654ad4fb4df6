/* Router semantics per architecture, on hand-made logits whose answers are
 * worked out in the comments. */
#include <math.h>

#include "harness.h"
#include "moekit/moe.h"

static double softmax_at(const float *z, int n, int i) {
    double m = z[0], s = 0;
    for (int e = 1; e < n; e++) m = z[e] > m ? z[e] : m;
    for (int e = 0; e < n; e++) s += exp(z[e] - m);
    return exp(z[i] - m) / s;
}

TEST(route_mixtral_softmax_topk_renormalised) {
    float z[4] = {1, 2, 3, 4};
    mk_router_cfg rc = {.n_experts = 4, .top_k = 2, .scoring = MK_SCORE_SOFTMAX, .method = MK_TOPK_GREEDY,
                        .norm_topk_prob = true, .routed_scaling_factor = 1, .scale_after_norm = true};
    int32_t ids[2];
    float w[2];
    mk_route(&rc, z, 1, ids, w);
    CHECK(ids[0] == 3 && ids[1] == 2);
    double p3 = softmax_at(z, 4, 3), p2 = softmax_at(z, 4, 2);
    CHECKF(fabs(w[0] - p3 / (p2 + p3)) < 1e-6 && fabs(w[1] - p2 / (p2 + p3)) < 1e-6, "%g %g", w[0], w[1]);
}

TEST(route_qwen_without_renormalisation_and_ties_to_lower_id) {
    float z[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    mk_router_cfg rc = {.n_experts = 6, .top_k = 3, .scoring = MK_SCORE_SOFTMAX, .method = MK_TOPK_GREEDY,
                        .norm_topk_prob = false, .routed_scaling_factor = 1, .scale_after_norm = true};
    int32_t ids[3];
    float w[3];
    mk_route(&rc, z, 1, ids, w);
    CHECK(ids[0] == 0 && ids[1] == 1 && ids[2] == 2); /* all tied: lowest ids, in order */
    CHECK(fabs(w[0] - 1.0 / 6) < 1e-7 && fabs(w[2] - 1.0 / 6) < 1e-7);
}

TEST(route_deepseek_v3_noaux_tc_groups_bias_and_scaling) {
    /* sigmoid(0) = 0.5 everywhere; the bias decides.  Groups of 2:
     * g0 {0,1}: 0.75 + 0.0 = 0.75   g1 {2,3}: 0.6 + 0.6 = 1.2
     * g2 {4,5}: 0.5 + 0.5 = 1.0     g3 {6,7}: 0.8 + 0.3 = 1.1
     * keep g1 and g3; expert 0 (0.75, second best alone) is excluded with
     * its group; top-2 of {2:0.6, 3:0.6, 6:0.8, 7:0.3} = 6, then 2 (tie
     * with 3 goes to the lower id).  Weights come from the unbiased 0.5,
     * normalised (0.5 each) and scaled by 2.5. */
    float z[8] = {0};
    float bias[8] = {0.25f, -0.5f, 0.1f, 0.1f, 0, 0, 0.3f, -0.2f};
    mk_router_cfg rc = {.n_experts = 8, .top_k = 2, .scoring = MK_SCORE_SIGMOID, .method = MK_TOPK_NOAUX_TC,
                        .n_group = 4, .topk_group = 2, .norm_topk_prob = true,
                        .routed_scaling_factor = 2.5f, .scale_after_norm = true, .correction_bias = bias};
    int32_t ids[2];
    float w[2];
    mk_route(&rc, z, 1, ids, w);
    CHECKF(ids[0] == 6 && ids[1] == 2, "ids %d %d", ids[0], ids[1]);
    CHECKF(fabs(w[0] - 1.25) < 1e-6 && fabs(w[1] - 1.25) < 1e-6, "w %g %g", w[0], w[1]);
}

TEST(route_deepseek_v2_group_max_and_scaling_rule) {
    /* softmax of {3,0,0,0,2,2,0,0}; groups of 4 scored by their max:
     * g0 = p0, g1 = p4: keep g0 only (topk_group 1) -> top-2 = 0, then 1
     * (ties among 1..3 go to 1). */
    float z[8] = {3, 0, 0, 0, 2, 2, 0, 0};
    mk_router_cfg rc = {.n_experts = 8, .top_k = 2, .scoring = MK_SCORE_SOFTMAX,
                        .method = MK_TOPK_GROUP_LIMITED_GREEDY, .n_group = 2, .topk_group = 1,
                        .norm_topk_prob = false, .routed_scaling_factor = 16.0f, .scale_after_norm = false};
    int32_t ids[2];
    float w[2];
    mk_route(&rc, z, 1, ids, w);
    CHECK(ids[0] == 0 && ids[1] == 1);
    /* V2 without normalisation: probabilities times the factor */
    CHECKF(fabs(w[0] - 16.0 * softmax_at(z, 8, 0)) < 1e-5, "w0 %g", w[0]);
    rc.norm_topk_prob = true; /* normalised: no factor */
    mk_route(&rc, z, 1, ids, w);
    double p0 = softmax_at(z, 8, 0), p1 = softmax_at(z, 8, 1);
    CHECKF(fabs(w[0] - p0 / (p0 + p1 + 1e-20)) < 1e-6, "w0 %g", w[0]);
}

TEST(route_many_tokens_rows_are_independent) {
    float z[3 * 4] = {4, 3, 2, 1, 1, 2, 3, 4, 0, 9, 0, 8};
    mk_router_cfg rc = {.n_experts = 4, .top_k = 2, .scoring = MK_SCORE_SOFTMAX, .method = MK_TOPK_GREEDY,
                        .norm_topk_prob = true, .routed_scaling_factor = 1, .scale_after_norm = true};
    int32_t ids[6];
    float w[6];
    mk_route(&rc, z, 3, ids, w);
    CHECK(ids[0] == 0 && ids[1] == 1 && ids[2] == 3 && ids[3] == 2 && ids[4] == 1 && ids[5] == 3);
    for (int t = 0; t < 3; t++) CHECK(fabs(w[2 * t] + w[2 * t + 1] - 1.0) < 1e-6);
}

TEST(silu_mul_matches_definition) {
    float g[3] = {1.0f, -2.0f, 0.0f}, u[3] = {2.0f, 3.0f, 5.0f};
    mk_silu_mul(g, u, 3);
    CHECK(fabs(g[0] - 2.0 / (1.0 + exp(-1.0))) < 1e-6);
    CHECK(fabs(g[1] - 3.0 * -2.0 / (1.0 + exp(2.0))) < 1e-6);
    CHECK(g[2] == 0.0f);
}
