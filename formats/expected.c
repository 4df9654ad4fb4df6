/*
 * The tensors a checkpoint of a given config holds, in checkpoint order.
 *
 * `inspect` diffs a real checkpoint against this list and `synth` writes it,
 * so it is the executable form of the per-architecture tables in
 * docs/formats.md.  Within a module the order follows the model's
 * state_dict (q_proj.weight then q_proj.bias, Mixtral's w1, w2, w3), around
 * the modules it is embeddings, then per layer norm, attention, norm, MLP.
 * Roles are written out here rather than obtained from mk_classify(), so
 * that the unit tests comparing the two cross-check both.
 */
#include "moekit/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct emitter {
    const mk_model_config *cfg;
    int (*fn)(const mk_expected_tensor *t, void *ctx);
    void *ctx;
    int layer;  /* current decoder layer, -1 outside */
    bool mtp;   /* inside a multi-token-prediction layer */
    bool router_bias; /* the next tensor is e_score_correction_bias */
} emitter;

/* Hands one tensor to the callback.  `dims` has `ndim` entries; `fmt` is the
 * name after "model.layers.{L}." inside a layer, the full name outside. */
static int emit(emitter *em, mk_tensor_kind kind, int expert, mk_proj proj, mk_dtype dtype,
                int ndim, int64_t dim0, int64_t dim1, const char *fmt, ...) {
    mk_expected_tensor t;
    memset(&t, 0, sizeof t);
    size_t used = 0;
    if (em->layer >= 0)
        used = (size_t)snprintf(t.name, sizeof t.name, "model.layers.%d.", em->layer);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t.name + used, sizeof t.name - used, fmt, ap);
    va_end(ap);
    t.dtype = dtype;
    t.ndim = ndim;
    t.shape[0] = dim0;
    t.shape[1] = ndim > 1 ? dim1 : 0;
    t.role.kind = em->mtp ? MK_T_MTP : kind;
    t.role.layer = em->layer;
    t.role.expert = expert;
    t.role.proj = proj;
    t.role.is_router_bias = em->router_bias;
    t.role.suffix_off = (size_t)(strrchr(t.name, '.') + 1 - t.name);
    return em->fn(&t, em->ctx);
}

/* Shorthands for the common shapes, in the model's dtype. */
#define VEC(kind, n, ...) emit(em, kind, -1, MK_PROJ_NONE, dt, 1, n, 0, __VA_ARGS__)
#define MAT(kind, rows, cols, ...) emit(em, kind, -1, MK_PROJ_NONE, dt, 2, rows, cols, __VA_ARGS__)

static int emit_attention(emitter *em) {
    const mk_model_config *c = em->cfg;
    mk_dtype dt = c->torch_dtype;
    int64_t H = c->hidden_size, nh = c->num_heads;
    int rc;
    if (c->attn == MK_ATTN_MLA) {
        int64_t qk_dim = c->qk_nope_head_dim + c->qk_rope_head_dim;
        if (c->q_lora_rank > 0) {
            if ((rc = MAT(MK_T_ATTENTION, c->q_lora_rank, H, "self_attn.q_a_proj.weight")) ||
                (rc = VEC(MK_T_NORM, c->q_lora_rank, "self_attn.q_a_layernorm.weight")) ||
                (rc = MAT(MK_T_ATTENTION, nh * qk_dim, c->q_lora_rank, "self_attn.q_b_proj.weight")))
                return rc;
        } else if ((rc = MAT(MK_T_ATTENTION, nh * qk_dim, H, "self_attn.q_proj.weight"))) {
            return rc;
        }
        if ((rc = MAT(MK_T_ATTENTION, c->kv_lora_rank + c->qk_rope_head_dim, H,
                      "self_attn.kv_a_proj_with_mqa.weight")) ||
            (rc = VEC(MK_T_NORM, c->kv_lora_rank, "self_attn.kv_a_layernorm.weight")) ||
            (rc = MAT(MK_T_ATTENTION, nh * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank,
                      "self_attn.kv_b_proj.weight")) ||
            (rc = MAT(MK_T_ATTENTION, H, nh * c->v_head_dim, "self_attn.o_proj.weight")))
            return rc;
        return 0;
    }
    int64_t q_dim = nh * c->head_dim, kv_dim = c->num_kv_heads * c->head_dim;
    static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        int64_t rows = i == 0 ? q_dim : kv_dim;
        if ((rc = MAT(MK_T_ATTENTION, rows, H, "self_attn.%s.weight", qkv[i]))) return rc;
        if (c->attention_bias && (rc = VEC(MK_T_ATTENTION, rows, "self_attn.%s.bias", qkv[i])))
            return rc;
    }
    if ((rc = MAT(MK_T_ATTENTION, H, q_dim, "self_attn.o_proj.weight"))) return rc;
    /* Llama and Qwen3 build o_proj with bias=config.attention_bias; Qwen2's
     * bias is on q/k/v only, and Mistral/Mixtral have none. */
    bool o_bias = c->attention_bias && (c->arch == MK_ARCH_LLAMA || c->arch == MK_ARCH_QWEN3 ||
                                        c->arch == MK_ARCH_QWEN3_MOE);
    if (o_bias && (rc = VEC(MK_T_ATTENTION, H, "self_attn.o_proj.bias"))) return rc;
    if (c->qk_norm && ((rc = VEC(MK_T_NORM, c->head_dim, "self_attn.q_norm.weight")) ||
                       (rc = VEC(MK_T_NORM, c->head_dim, "self_attn.k_norm.weight"))))
        return rc;
    return 0;
}

/* gate/up/down of a SwiGLU MLP of width `width` under module `prefix`. */
static int emit_swiglu(emitter *em, mk_tensor_kind kind, int expert, int64_t width,
                       const char *prefix) {
    mk_dtype dt = em->cfg->torch_dtype;
    int64_t H = em->cfg->hidden_size;
    int rc;
    if ((rc = emit(em, kind, expert, MK_PROJ_GATE, dt, 2, width, H, "%sgate_proj.weight", prefix)) ||
        (rc = emit(em, kind, expert, MK_PROJ_UP, dt, 2, width, H, "%sup_proj.weight", prefix)) ||
        (rc = emit(em, kind, expert, MK_PROJ_DOWN, dt, 2, H, width, "%sdown_proj.weight", prefix)))
        return rc;
    return 0;
}

static int emit_moe(emitter *em) {
    const mk_model_config *c = em->cfg;
    mk_dtype dt = c->torch_dtype;
    int64_t H = c->hidden_size, E = c->n_routed_experts, width = c->moe_intermediate_size;
    int rc;
    if (c->arch == MK_ARCH_MIXTRAL) {
        if ((rc = MAT(MK_T_ROUTER, E, H, "block_sparse_moe.gate.weight"))) return rc;
        for (int e = 0; e < E; e++) {
            if ((rc = emit(em, MK_T_ROUTED_EXPERT, e, MK_PROJ_GATE, dt, 2, width, H,
                           "block_sparse_moe.experts.%d.w1.weight", e)) ||
                (rc = emit(em, MK_T_ROUTED_EXPERT, e, MK_PROJ_DOWN, dt, 2, H, width,
                           "block_sparse_moe.experts.%d.w2.weight", e)) ||
                (rc = emit(em, MK_T_ROUTED_EXPERT, e, MK_PROJ_UP, dt, 2, width, H,
                           "block_sparse_moe.experts.%d.w3.weight", e)))
                return rc;
        }
        return 0;
    }
    if ((rc = MAT(MK_T_ROUTER, E, H, "mlp.gate.weight"))) return rc;
    /* The correction bias is an F32 parameter whatever the model dtype. */
    if (c->has_correction_bias) {
        em->router_bias = true;
        rc = emit(em, MK_T_ROUTER, -1, MK_PROJ_NONE, MK_DT_F32, 1, E, 0,
                  "mlp.gate.e_score_correction_bias");
        em->router_bias = false;
        if (rc) return rc;
    }
    for (int e = 0; e < E; e++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "mlp.experts.%d.", e);
        if ((rc = emit_swiglu(em, MK_T_ROUTED_EXPERT, e, width, prefix))) return rc;
    }
    if (c->shared_intermediate_size > 0) {
        bool deepseek = c->arch == MK_ARCH_DEEPSEEK_V2 || c->arch == MK_ARCH_DEEPSEEK_V3;
        if ((rc = emit_swiglu(em, MK_T_SHARED_EXPERT, -1, c->shared_intermediate_size,
                              deepseek ? "mlp.shared_experts." : "mlp.shared_expert.")))
            return rc;
    }
    if (c->shared_expert_gate && (rc = MAT(MK_T_ROUTER, 1, H, "mlp.shared_expert_gate.weight")))
        return rc;
    return 0;
}

static int emit_decoder_layer(emitter *em, bool moe) {
    mk_dtype dt = em->cfg->torch_dtype;
    int64_t H = em->cfg->hidden_size;
    int rc;
    if ((rc = VEC(MK_T_NORM, H, "input_layernorm.weight")) || (rc = emit_attention(em)) ||
        (rc = VEC(MK_T_NORM, H, "post_attention_layernorm.weight")))
        return rc;
    if (moe) return emit_moe(em);
    return emit_swiglu(em, MK_T_DENSE_MLP, -1, em->cfg->intermediate_size, "mlp.");
}

int mk_model_expected(const mk_model_config *cfg,
                      int (*fn)(const mk_expected_tensor *t, void *ctx), void *ctx) {
    emitter state = {.cfg = cfg, .fn = fn, .ctx = ctx, .layer = -1};
    emitter *em = &state;
    mk_dtype dt = cfg->torch_dtype;
    int64_t H = cfg->hidden_size, V = cfg->vocab_size;
    int rc;
    if ((rc = MAT(MK_T_EMBEDDING, V, H, "model.embed_tokens.weight"))) return rc;
    for (int l = 0; l < cfg->num_layers; l++) {
        em->layer = l;
        if ((rc = emit_decoder_layer(em, cfg->is_moe && cfg->is_moe[l]))) return rc;
    }
    em->layer = -1;
    if ((rc = VEC(MK_T_NORM, H, "model.norm.weight"))) return rc;
    if (!cfg->tie_word_embeddings && (rc = MAT(MK_T_LM_HEAD, V, H, "lm_head.weight"))) return rc;
    /* DeepSeek-V3 MTP: each layer embeds the next token, mixes it with the
     * hidden state (enorm/hnorm/eh_proj), runs a MoE decoder layer and
     * predicts through its own head. */
    em->mtp = true;
    for (int64_t i = 0; i < cfg->num_nextn_predict_layers; i++) {
        em->layer = (int)(cfg->num_layers + i);
        if ((rc = MAT(MK_T_MTP, V, H, "embed_tokens.weight")) ||
            (rc = VEC(MK_T_MTP, H, "enorm.weight")) || (rc = VEC(MK_T_MTP, H, "hnorm.weight")) ||
            (rc = MAT(MK_T_MTP, H, 2 * H, "eh_proj.weight")) ||
            (rc = emit_decoder_layer(em, true)) ||
            (rc = VEC(MK_T_MTP, H, "shared_head.norm.weight")) ||
            (rc = MAT(MK_T_MTP, V, H, "shared_head.head.weight")))
            return rc;
    }
    return 0;
}
