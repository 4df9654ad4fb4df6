/*
 * Tensor name -> role (routed expert e's down projection, router, norm, ...).
 *
 * Every tool decides what to do with a tensor from its role alone, so the
 * rules here are the single place that knows the on-disk spellings of all
 * supported architectures (Mixtral's block_sparse_moe.experts.{e}.w1/w2/w3,
 * the mlp.experts.{e}.*_proj of Qwen and DeepSeek, DeepSeek's MTP extras).
 * A role is decided by the module path alone; the final dotted component is
 * only located, never interpreted (apart from the router bias), so that
 * quantization companions such as weight_scale_inv or input_scale share the
 * role of the weight they belong to.  It runs once per tensor of a 90k-tensor
 * checkpoint: one left-to-right pass, no allocation.
 */
#include "moekit/model.h"

#include <string.h>

/* Layer and expert numbers from here on are rejected: no real model is near,
 * and it keeps them safely inside an int. */
#define INDEX_LIMIT 1000000

/* The module path being matched: [s, end). */
typedef struct span {
    const char *s, *end;
} span;

/* Consumes `lit` from the front of *sp when it is there. */
static bool eat(span *sp, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(sp->end - sp->s) < n || memcmp(sp->s, lit, n) != 0) return false;
    sp->s += n;
    return true;
}

/* True when what is left of *sp is exactly `lit`. */
static bool is(const span *sp, const char *lit) {
    size_t n = strlen(lit);
    return (size_t)(sp->end - sp->s) == n && memcmp(sp->s, lit, n) == 0;
}

/* Consumes "<decimal>." and stores the number.  Only the canonical spelling
 * counts (no sign, no leading zero), so that one tensor has one name. */
static bool eat_index(span *sp, int *out) {
    const char *c = sp->s;
    if (c == sp->end || *c < '0' || *c > '9') return false;
    if (*c == '0' && c + 1 < sp->end && c[1] >= '0' && c[1] <= '9') return false;
    long value = 0;
    while (c < sp->end && *c >= '0' && *c <= '9') {
        value = value * 10 + (*c - '0');
        if (value >= INDEX_LIMIT) return false;
        c++;
    }
    if (c == sp->end || *c != '.') return false;
    sp->s = c + 1;
    *out = (int)value;
    return true;
}

static mk_proj proj_of(const span *sp, bool mixtral_names) {
    if (mixtral_names) {
        if (is(sp, "w1")) return MK_PROJ_GATE;
        if (is(sp, "w3")) return MK_PROJ_UP;
        if (is(sp, "w2")) return MK_PROJ_DOWN;
    } else {
        if (is(sp, "gate_proj")) return MK_PROJ_GATE;
        if (is(sp, "up_proj")) return MK_PROJ_UP;
        if (is(sp, "down_proj")) return MK_PROJ_DOWN;
    }
    return MK_PROJ_NONE;
}

/* The module path inside "model.layers.{L}."; `suffix` is the final
 * component. */
static void classify_in_layer(span m, const char *suffix, mk_tensor_role *out) {
    if (is(&m, "input_layernorm") || is(&m, "post_attention_layernorm")) {
        out->kind = MK_T_NORM;
        return;
    }
    if (eat(&m, "self_attn.")) {
        if (is(&m, "q_a_layernorm") || is(&m, "kv_a_layernorm") || is(&m, "q_norm") ||
            is(&m, "k_norm"))
            out->kind = MK_T_NORM;
        else if (m.s < m.end)
            out->kind = MK_T_ATTENTION;
        return;
    }
    bool mixtral = eat(&m, "block_sparse_moe.");
    if (mixtral || eat(&m, "mlp.")) {
        int expert;
        if (eat(&m, "experts.")) {
            if (!eat_index(&m, &expert)) return;
            mk_proj proj = proj_of(&m, mixtral);
            if (proj == MK_PROJ_NONE) return;
            out->kind = MK_T_ROUTED_EXPERT;
            out->expert = expert;
            out->proj = proj;
            return;
        }
        if (is(&m, "gate")) {
            out->kind = MK_T_ROUTER;
            out->is_router_bias = !mixtral && strcmp(suffix, "e_score_correction_bias") == 0;
            return;
        }
        if (mixtral) return;
        if (is(&m, "shared_expert_gate")) {
            out->kind = MK_T_ROUTER;
            return;
        }
        mk_tensor_kind kind = MK_T_DENSE_MLP;
        if (eat(&m, "shared_experts.") || eat(&m, "shared_expert.")) kind = MK_T_SHARED_EXPERT;
        mk_proj proj = proj_of(&m, false);
        if (proj == MK_PROJ_NONE) return;
        out->kind = kind;
        out->proj = proj;
        return;
    }
    /* DeepSeek-V3 multi-token-prediction extras beside a decoder layer. */
    if (is(&m, "enorm") || is(&m, "hnorm") || is(&m, "eh_proj") || is(&m, "shared_head.norm") ||
        is(&m, "shared_head.head") || is(&m, "embed_tokens"))
        out->kind = MK_T_MTP;
}

void mk_classify(const mk_model_config *cfg, const char *name, mk_tensor_role *out) {
    out->kind = MK_T_UNKNOWN;
    out->layer = -1;
    out->expert = -1;
    out->proj = MK_PROJ_NONE;
    out->is_router_bias = false;
    const char *last_dot = strrchr(name, '.');
    out->suffix_off = last_dot ? (size_t)(last_dot + 1 - name) : 0;
    /* Every known name is "<module path>.<suffix>" with both parts non-empty. */
    if (!last_dot || last_dot == name || last_dot[1] == '\0') return;
    span m = {name, last_dot};
    const char *suffix = last_dot + 1;

    if (is(&m, "model.embed_tokens")) {
        out->kind = MK_T_EMBEDDING;
    } else if (is(&m, "lm_head")) {
        out->kind = MK_T_LM_HEAD;
    } else if (is(&m, "model.norm")) {
        out->kind = MK_T_NORM;
    } else if (eat(&m, "model.layers.")) {
        int layer;
        if (!eat_index(&m, &layer)) return;
        out->layer = layer;
        classify_in_layer(m, suffix, out);
        /* Layers past num_hidden_layers are V3's MTP modules, whatever they
         * hold; they keep the expert/projection detail so that expert tools
         * can still act on them. */
        if (cfg && cfg->num_nextn_predict_layers > 0 && layer >= cfg->num_layers)
            out->kind = MK_T_MTP;
    }
}

const char *mk_tensor_kind_name(mk_tensor_kind k) {
    static const char *const names[MK_T_KIND_COUNT] = {
        [MK_T_UNKNOWN] = "unknown",       [MK_T_EMBEDDING] = "embedding",
        [MK_T_LM_HEAD] = "lm_head",       [MK_T_NORM] = "norm",
        [MK_T_ATTENTION] = "attention",   [MK_T_DENSE_MLP] = "dense_mlp",
        [MK_T_ROUTER] = "router",         [MK_T_ROUTED_EXPERT] = "routed_expert",
        [MK_T_SHARED_EXPERT] = "shared_expert", [MK_T_MTP] = "mtp",
    };
    return (unsigned)k < MK_T_KIND_COUNT ? names[k] : "?";
}

const char *mk_proj_name(mk_proj p) {
    switch (p) {
    case MK_PROJ_NONE: return "none";
    case MK_PROJ_GATE: return "gate";
    case MK_PROJ_UP: return "up";
    case MK_PROJ_DOWN: return "down";
    }
    return "?";
}
