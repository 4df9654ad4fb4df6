/*
 * moekit/model.h - what a Hugging Face config.json says about a model, and
 * what each tensor name means.
 *
 * mk_config_parse() turns config.json into an mk_model_config for the
 * supported architectures (MoE: Mixtral, Qwen2-MoE, Qwen3-MoE, DeepSeek-V2,
 * DeepSeek-V3; dense: Llama, Mistral, Qwen2, Qwen3), applying the same
 * defaults transformers applies when a key is absent.  mk_classify() maps a
 * tensor name to its role (routed expert with layer/expert/projection, router,
 * attention, ...).  mk_model_expected() lists every tensor a checkpoint of
 * that config holds, with its HF name and shape; `inspect` compares against
 * it and `synth` writes it.  Sources for every name and key are cited in
 * docs/formats.md.
 */
#ifndef MOEKIT_MODEL_H
#define MOEKIT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/dtype.h"
#include "moekit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_arch {
    MK_ARCH_MIXTRAL,     /* MixtralForCausalLM */
    MK_ARCH_QWEN2_MOE,   /* Qwen2MoeForCausalLM */
    MK_ARCH_QWEN3_MOE,   /* Qwen3MoeForCausalLM */
    MK_ARCH_DEEPSEEK_V2, /* DeepseekV2ForCausalLM */
    MK_ARCH_DEEPSEEK_V3, /* DeepseekV3ForCausalLM */
    MK_ARCH_LLAMA,       /* LlamaForCausalLM */
    MK_ARCH_MISTRAL,     /* MistralForCausalLM */
    MK_ARCH_QWEN2,       /* Qwen2ForCausalLM */
    MK_ARCH_QWEN3,       /* Qwen3ForCausalLM */
    MK_ARCH_COUNT
} mk_arch;

typedef enum mk_attn_kind { MK_ATTN_MHA, MK_ATTN_GQA, MK_ATTN_MLA } mk_attn_kind;
typedef enum mk_scoring { MK_SCORE_SOFTMAX, MK_SCORE_SIGMOID } mk_scoring;
typedef enum mk_topk_method {
    MK_TOPK_GREEDY,               /* plain top-k over all experts */
    MK_TOPK_GROUP_LIMITED_GREEDY, /* DeepSeek-V2: best groups by max score */
    MK_TOPK_NOAUX_TC              /* DeepSeek-V3: groups by top-2 sum, biased choice */
} mk_topk_method;

typedef struct mk_model_config {
    mk_arch arch;
    char architecture[64]; /* "DeepseekV3ForCausalLM" */
    char model_type[32];   /* "deepseek_v3" */
    mk_dtype torch_dtype;  /* BF16 when absent */

    int64_t hidden_size;
    int64_t intermediate_size;   /* dense MLP width (Mixtral: expert width) */
    int64_t num_layers;          /* num_hidden_layers, MTP layers excluded */
    int64_t vocab_size;
    int64_t num_heads;
    int64_t num_kv_heads;
    int64_t head_dim;            /* config head_dim, else hidden/heads */
    bool tie_word_embeddings;
    bool attention_bias;         /* q/k/v biases (Qwen2 family: always) */
    bool qk_norm;                /* per-head q_norm/k_norm (Qwen3 family) */
    int64_t max_position_embeddings;
    double rms_norm_eps;

    mk_attn_kind attn;
    /* MLA (DeepSeek) - zero elsewhere; q_lora_rank 0 means "null" (q_proj). */
    int64_t q_lora_rank, kv_lora_rank;
    int64_t qk_nope_head_dim, qk_rope_head_dim, v_head_dim;

    /* MoE - n_routed_experts 0 for dense models. */
    int64_t n_routed_experts;
    int64_t top_k;                        /* num_experts_per_tok */
    int64_t moe_intermediate_size;        /* expert width */
    int64_t n_shared_experts;             /* DeepSeek: count; Qwen2-MoE: 1 when present */
    int64_t shared_intermediate_size;     /* total width of the shared expert MLP */
    bool shared_expert_gate;              /* Qwen2-MoE sigmoid gate on the shared expert */
    bool has_correction_bias;             /* e_score_correction_bias (noaux_tc) */
    mk_scoring scoring;
    mk_topk_method topk_method;
    int64_t n_group, topk_group;
    double routed_scaling_factor;
    bool norm_topk_prob;
    int64_t num_nextn_predict_layers;     /* DeepSeek-V3 MTP layers after the main ones */

    /* is_moe[L] for L < num_layers: the layer uses routed experts. */
    bool *is_moe;
} mk_model_config;

/* Parses config.json text (`len` bytes; `path` is only used in messages).
 * MK_ERR_INPUT for invalid JSON, an unsupported architecture, or a missing or
 * ill-typed required key, naming the key. */
int mk_config_parse(const char *json_text, size_t len, const char *path,
                    mk_model_config *out, mk_error *err);
/* Reads and parses a config.json file. */
int mk_config_load(const char *path, mk_model_config *out, mk_error *err);
void mk_config_free(mk_model_config *cfg);

const char *mk_arch_name(mk_arch a);       /* "DeepseekV3ForCausalLM" */
bool mk_arch_is_moe(mk_arch a);
int mk_config_n_moe_layers(const mk_model_config *cfg);

/* ---- tensor roles ---- */

typedef enum mk_tensor_kind {
    MK_T_UNKNOWN,
    MK_T_EMBEDDING,      /* model.embed_tokens */
    MK_T_LM_HEAD,        /* lm_head */
    MK_T_NORM,           /* any RMSNorm weight, incl. q/k/kv_a norms */
    MK_T_ATTENTION,      /* projections of self_attn */
    MK_T_DENSE_MLP,      /* mlp.{gate,up,down}_proj of a dense layer */
    MK_T_ROUTER,         /* router gate, e_score_correction_bias, shared_expert_gate */
    MK_T_ROUTED_EXPERT,  /* one routed expert's projection */
    MK_T_SHARED_EXPERT,  /* shared expert(s) projection */
    MK_T_MTP,            /* DeepSeek-V3 multi-token-prediction layer, any tensor */
    MK_T_KIND_COUNT
} mk_tensor_kind;

typedef enum mk_proj { MK_PROJ_NONE, MK_PROJ_GATE, MK_PROJ_UP, MK_PROJ_DOWN } mk_proj;

typedef struct mk_tensor_role {
    mk_tensor_kind kind;
    int layer;        /* -1 when not inside a decoder layer */
    int expert;       /* routed expert id, -1 otherwise */
    mk_proj proj;     /* for experts, shared experts and dense MLPs */
    bool is_router_bias; /* e_score_correction_bias */
    /* Byte offset in the name of the final component ("weight", "bias",
     * "weight_scale_inv", ...), and of the module path before it. */
    size_t suffix_off;
} mk_tensor_role;

/* Classifies `name` for `cfg` (cfg may be NULL: then MTP layers cannot be told
 * apart and layer-based rules use only the name). */
void mk_classify(const mk_model_config *cfg, const char *name, mk_tensor_role *out);
const char *mk_tensor_kind_name(mk_tensor_kind k);  /* "routed_expert" */
const char *mk_proj_name(mk_proj p);                /* "gate", "up", "down" */

/* ---- the tensors a checkpoint of this config holds ---- */

typedef struct mk_expected_tensor {
    char name[160];
    mk_dtype dtype;      /* torch_dtype, or F32 for e_score_correction_bias */
    int ndim;
    int64_t shape[2];
    mk_tensor_role role;
} mk_expected_tensor;

/* Calls `fn` once per tensor in checkpoint order (embeddings, then layer by
 * layer, then the final norm, lm_head, then MTP layers).  Stops early and
 * returns fn's value if it returns non-zero; returns 0 otherwise. */
int mk_model_expected(const mk_model_config *cfg,
                      int (*fn)(const mk_expected_tensor *t, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
