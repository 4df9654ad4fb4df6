/*
 * Unit tests for config.json parsing, tensor-name classification and the
 * expected-tensor list (formats/hfconfig.c, classify.c, expected.c).
 *
 * The configs below are the published config.json files of real models
 * (trimmed of keys moekit ignores), so that defaults and key spellings are
 * exercised as they occur on the Hub.  Parameter totals are recomputed here
 * from the dimensions by hand, and checked against the published totals
 * where those are well known, rather than trusted from the code under test.
 */
#include "moekit/model.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- configs ---- */

static const char *const k_mixtral_8x7b =
    "{\"architectures\": [\"MixtralForCausalLM\"], \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\", \"hidden_size\": 4096,"
    " \"initializer_range\": 0.02, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 32768, \"model_type\": \"mixtral\","
    " \"num_attention_heads\": 32, \"num_experts_per_tok\": 2, \"num_hidden_layers\": 32,"
    " \"num_key_value_heads\": 8, \"num_local_experts\": 8, \"output_router_logits\": false,"
    " \"rms_norm_eps\": 1e-05, \"rope_theta\": 1000000.0, \"router_aux_loss_coef\": 0.02,"
    " \"sliding_window\": null, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
    " \"transformers_version\": \"4.36.0.dev0\", \"use_cache\": true, \"vocab_size\": 32000}";

/* A small Qwen2-MoE shaped like Qwen1.5-MoE but with sparse steps and
 * dense-only layers, so that the MoE-layer rule is exercised. */
static const char *const k_qwen2_moe_small =
    "{\"architectures\": [\"Qwen2MoeForCausalLM\"], \"model_type\": \"qwen2_moe\","
    " \"hidden_size\": 64, \"intermediate_size\": 160, \"moe_intermediate_size\": 32,"
    " \"shared_expert_intermediate_size\": 128, \"num_experts\": 8,"
    " \"num_experts_per_tok\": 2, \"num_hidden_layers\": 6, \"num_attention_heads\": 4,"
    " \"num_key_value_heads\": 4, \"vocab_size\": 1000, \"decoder_sparse_step\": 2,"
    " \"mlp_only_layers\": [0, 3], \"norm_topk_prob\": false, \"rms_norm_eps\": 1e-06,"
    " \"max_position_embeddings\": 8192, \"tie_word_embeddings\": false,"
    " \"torch_dtype\": \"float32\", \"use_sliding_window\": false}";

static const char *const k_qwen3_30b_a3b =
    "{\"architectures\": [\"Qwen3MoeForCausalLM\"], \"attention_bias\": false,"
    " \"attention_dropout\": 0.0, \"bos_token_id\": 151643, \"decoder_sparse_step\": 1,"
    " \"eos_token_id\": 151645, \"head_dim\": 128, \"hidden_act\": \"silu\","
    " \"hidden_size\": 2048, \"initializer_range\": 0.02, \"intermediate_size\": 6144,"
    " \"max_position_embeddings\": 40960, \"max_window_layers\": 48, \"mlp_only_layers\": [],"
    " \"model_type\": \"qwen3_moe\", \"moe_intermediate_size\": 768, \"norm_topk_prob\": true,"
    " \"num_attention_heads\": 32, \"num_experts\": 128, \"num_experts_per_tok\": 8,"
    " \"num_hidden_layers\": 48, \"num_key_value_heads\": 4, \"output_router_logits\": false,"
    " \"rms_norm_eps\": 1e-06, \"rope_scaling\": null, \"rope_theta\": 1000000.0,"
    " \"router_aux_loss_coef\": 0.001, \"sliding_window\": null, \"tie_word_embeddings\": false,"
    " \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"use_sliding_window\": false,"
    " \"vocab_size\": 151936}";

static const char *const k_deepseek_v2 =
    "{\"architectures\": [\"DeepseekV2ForCausalLM\"], \"model_type\": \"deepseek_v2\","
    " \"hidden_size\": 5120, \"intermediate_size\": 12288, \"moe_intermediate_size\": 1536,"
    " \"num_hidden_layers\": 60, \"num_attention_heads\": 128, \"num_key_value_heads\": 128,"
    " \"n_routed_experts\": 160, \"n_shared_experts\": 2, \"num_experts_per_tok\": 6,"
    " \"first_k_dense_replace\": 1, \"moe_layer_freq\": 1, \"n_group\": 8, \"topk_group\": 3,"
    " \"topk_method\": \"group_limited_greedy\", \"scoring_func\": \"softmax\","
    " \"routed_scaling_factor\": 16.0, \"norm_topk_prob\": false, \"q_lora_rank\": 1536,"
    " \"kv_lora_rank\": 512, \"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64,"
    " \"v_head_dim\": 128, \"vocab_size\": 102400, \"max_position_embeddings\": 163840,"
    " \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
    " \"aux_loss_alpha\": 0.001, \"ep_size\": 1, \"seq_aux\": true}";

/* DeepSeek-V2-Lite: no query compression (q_lora_rank null). */
static const char *const k_deepseek_v2_lite =
    "{\"architectures\": [\"DeepseekV2ForCausalLM\"], \"model_type\": \"deepseek_v2\","
    " \"hidden_size\": 2048, \"intermediate_size\": 10944, \"moe_intermediate_size\": 1408,"
    " \"num_hidden_layers\": 27, \"num_attention_heads\": 16, \"num_key_value_heads\": 16,"
    " \"n_routed_experts\": 64, \"n_shared_experts\": 2, \"num_experts_per_tok\": 6,"
    " \"first_k_dense_replace\": 1, \"moe_layer_freq\": 1, \"n_group\": 1, \"topk_group\": 1,"
    " \"topk_method\": \"greedy\", \"scoring_func\": \"softmax\", \"routed_scaling_factor\": 1.0,"
    " \"norm_topk_prob\": false, \"q_lora_rank\": null, \"kv_lora_rank\": 512,"
    " \"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64, \"v_head_dim\": 128,"
    " \"vocab_size\": 102400, \"torch_dtype\": \"bfloat16\"}";

static const char *const k_deepseek_v3 =
    "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"attention_bias\": false,"
    " \"attention_dropout\": 0.0, \"aux_loss_alpha\": 0.001, \"bos_token_id\": 0,"
    " \"eos_token_id\": 1, \"ep_size\": 1, \"first_k_dense_replace\": 3, \"hidden_act\": \"silu\","
    " \"hidden_size\": 7168, \"initializer_range\": 0.02, \"intermediate_size\": 18432,"
    " \"kv_lora_rank\": 512, \"max_position_embeddings\": 163840, \"model_type\": \"deepseek_v3\","
    " \"moe_intermediate_size\": 2048, \"moe_layer_freq\": 1, \"n_group\": 8,"
    " \"n_routed_experts\": 256, \"n_shared_experts\": 1, \"norm_topk_prob\": true,"
    " \"num_attention_heads\": 128, \"num_experts_per_tok\": 8, \"num_hidden_layers\": 61,"
    " \"num_key_value_heads\": 128, \"num_nextn_predict_layers\": 1, \"q_lora_rank\": 1536,"
    " \"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64, \"quantization_config\":"
    " {\"activation_scheme\": \"dynamic\", \"fmt\": \"e4m3\", \"quant_method\": \"fp8\","
    " \"weight_block_size\": [128, 128]}, \"rms_norm_eps\": 1e-06, \"rope_scaling\":"
    " {\"beta_fast\": 32, \"beta_slow\": 1, \"factor\": 40, \"mscale\": 1.0,"
    " \"mscale_all_dim\": 1.0, \"original_max_position_embeddings\": 4096, \"type\": \"yarn\"},"
    " \"rope_theta\": 10000, \"routed_scaling_factor\": 2.5, \"scoring_func\": \"sigmoid\","
    " \"seq_aux\": true, \"tie_word_embeddings\": false, \"topk_group\": 4,"
    " \"topk_method\": \"noaux_tc\", \"torch_dtype\": \"bfloat16\","
    " \"transformers_version\": \"4.33.1\", \"use_cache\": true, \"v_head_dim\": 128,"
    " \"vocab_size\": 129280}";

static const char *const k_llama3_8b =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false,"
    " \"attention_dropout\": 0.0, \"bos_token_id\": 128000, \"eos_token_id\": 128001,"
    " \"hidden_act\": \"silu\", \"hidden_size\": 4096, \"initializer_range\": 0.02,"
    " \"intermediate_size\": 14336, \"max_position_embeddings\": 8192, \"model_type\": \"llama\","
    " \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8,"
    " \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05, \"rope_scaling\": null,"
    " \"rope_theta\": 500000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
    " \"use_cache\": true, \"vocab_size\": 128256}";

static const char *const k_mistral_7b =
    "{\"architectures\": [\"MistralForCausalLM\"], \"bos_token_id\": 1, \"eos_token_id\": 2,"
    " \"hidden_act\": \"silu\", \"hidden_size\": 4096, \"initializer_range\": 0.02,"
    " \"intermediate_size\": 14336, \"max_position_embeddings\": 32768,"
    " \"model_type\": \"mistral\", \"num_attention_heads\": 32, \"num_hidden_layers\": 32,"
    " \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,"
    " \"sliding_window\": 4096, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
    " \"use_cache\": true, \"vocab_size\": 32000}";

static const char *const k_qwen2_05b =
    "{\"architectures\": [\"Qwen2ForCausalLM\"], \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 151643, \"eos_token_id\": 151643, \"hidden_act\": \"silu\","
    " \"hidden_size\": 896, \"initializer_range\": 0.02, \"intermediate_size\": 4864,"
    " \"max_position_embeddings\": 131072, \"max_window_layers\": 24, \"model_type\": \"qwen2\","
    " \"num_attention_heads\": 14, \"num_hidden_layers\": 24, \"num_key_value_heads\": 2,"
    " \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"sliding_window\": 131072,"
    " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"use_cache\": true,"
    " \"use_sliding_window\": false, \"vocab_size\": 151936}";

/* Newer transformers writes "dtype" rather than "torch_dtype". */
static const char *const k_qwen3_06b =
    "{\"architectures\": [\"Qwen3ForCausalLM\"], \"attention_bias\": false,"
    " \"attention_dropout\": 0.0, \"bos_token_id\": 151643, \"eos_token_id\": 151645,"
    " \"head_dim\": 128, \"hidden_act\": \"silu\", \"hidden_size\": 1024,"
    " \"initializer_range\": 0.02, \"intermediate_size\": 3072,"
    " \"max_position_embeddings\": 40960, \"max_window_layers\": 28, \"model_type\": \"qwen3\","
    " \"num_attention_heads\": 16, \"num_hidden_layers\": 28, \"num_key_value_heads\": 8,"
    " \"rms_norm_eps\": 1e-06, \"rope_scaling\": null, \"rope_theta\": 1000000,"
    " \"sliding_window\": null, \"tie_word_embeddings\": true, \"dtype\": \"float16\","
    " \"use_cache\": true, \"use_sliding_window\": false, \"vocab_size\": 151936}";

/* ---- helpers ---- */

static int parse(const char *json, mk_model_config *cfg, mk_error *err) {
    mk_error_clear(err);
    return mk_config_parse(json, strlen(json), "config.json", cfg, err);
}

/* `base` with `key` set to the JSON text `raw`, or removed when raw is NULL.
 * The caller frees the result. */
static char *variant(const char *base, const char *key, const char *raw) {
    json_t *root = json_loads(base, 0, NULL);
    if (!root) abort();
    if (raw) {
        json_t *v = json_loads(raw, JSON_DECODE_ANY, NULL);
        if (!v) abort();
        json_object_set_new(root, key, v);
    } else {
        json_object_del(root, key);
    }
    char *text = json_dumps(root, 0);
    json_decref(root);
    if (!text) abort();
    return text;
}

/* Parses `base` with one key changed and expects MK_ERR_INPUT, no is_moe
 * left allocated, and a message containing `needle`. */
#define CHECK_REJECTS(base, key, raw, needle)                                   \
    do {                                                                        \
        char *json_ = variant(base, key, raw);                                  \
        mk_model_config cfg_;                                                   \
        mk_error err_;                                                          \
        int rc_ = parse(json_, &cfg_, &err_);                                   \
        free(json_);                                                            \
        if (rc_ == MK_OK) mk_config_free(&cfg_);                                \
        CHECKF(rc_ == MK_ERR_INPUT, "%s=%s: rc %d, expected MK_ERR_INPUT", key, \
               raw ? raw : "(removed)", rc_);                                   \
        CHECK(cfg_.is_moe == NULL);                                             \
        CHECK_STR_CONTAINS(err_.msg, needle);                                   \
    } while (0)

/* Accumulates what mk_model_expected() lists and cross-checks each entry. */
typedef struct tally {
    const mk_model_config *cfg;
    int64_t n_tensors, n_params, n_f32;
    int64_t n_by_kind[MK_T_KIND_COUNT];
    uint64_t *hashes;
    size_t n_hashes, cap_hashes;
    char problem[512]; /* the first inconsistency found, "" when none */
    const char *find;  /* a name to capture into `found` */
    mk_expected_tensor found;
    bool was_found;
} tally;

static void note(tally *t, const char *fmt, const char *name) {
    if (!t->problem[0]) snprintf(t->problem, sizeof t->problem, fmt, name);
}

static int tally_fn(const mk_expected_tensor *e, void *ctx) {
    tally *t = ctx;
    t->n_tensors++;
    int64_t elems = e->shape[0] * (e->ndim == 2 ? e->shape[1] : 1);
    t->n_params += elems;
    t->n_by_kind[e->role.kind]++;
    if (e->dtype == MK_DT_F32) t->n_f32++;
    if (e->ndim < 1 || e->ndim > 2 || e->shape[0] <= 0 || (e->ndim == 2 && e->shape[1] <= 0))
        note(t, "%s: bad shape", e->name);
    bool bias = strstr(e->name, "e_score_correction_bias") != NULL;
    if (e->dtype != (bias ? MK_DT_F32 : t->cfg->torch_dtype)) note(t, "%s: wrong dtype", e->name);

    mk_tensor_role r;
    mk_classify(t->cfg, e->name, &r);
    if (r.kind != e->role.kind) note(t, "%s: classify kind differs", e->name);
    if (r.layer != e->role.layer) note(t, "%s: classify layer differs", e->name);
    if (r.expert != e->role.expert) note(t, "%s: classify expert differs", e->name);
    if (r.proj != e->role.proj) note(t, "%s: classify proj differs", e->name);
    if (r.is_router_bias != e->role.is_router_bias) note(t, "%s: router bias differs", e->name);
    if (r.suffix_off != e->role.suffix_off) note(t, "%s: suffix_off differs", e->name);
    if (r.kind == MK_T_UNKNOWN) note(t, "%s: classifies as unknown", e->name);

    uint64_t h = 1469598103934665603ull; /* FNV-1a, to find duplicate names */
    for (const char *c = e->name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    if (t->n_hashes == t->cap_hashes) {
        t->cap_hashes = t->cap_hashes ? t->cap_hashes * 2 : 1024;
        t->hashes = realloc(t->hashes, t->cap_hashes * sizeof *t->hashes);
        if (!t->hashes) abort();
    }
    t->hashes[t->n_hashes++] = h;
    if (t->find && strcmp(t->find, e->name) == 0) {
        t->found = *e;
        t->was_found = true;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs mk_model_expected() into `t`; afterwards t->problem says what, if
 * anything, was inconsistent (including duplicate names). */
static void run_expected(const mk_model_config *cfg, tally *t, const char *find) {
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->find = find;
    int rc = mk_model_expected(cfg, tally_fn, t);
    if (rc != 0) note(t, "%s", "mk_model_expected returned non-zero");
    qsort(t->hashes, t->n_hashes, sizeof *t->hashes, cmp_u64);
    for (size_t i = 1; i < t->n_hashes; i++)
        if (t->hashes[i] == t->hashes[i - 1]) note(t, "%s", "duplicate tensor name");
    free(t->hashes);
    t->hashes = NULL;
}

/* Shape of `name` in cfg's expected list; ndim 0 when absent. */
static mk_expected_tensor find_tensor(const mk_model_config *cfg, const char *name) {
    tally t;
    run_expected(cfg, &t, name);
    mk_expected_tensor none;
    memset(&none, 0, sizeof none);
    return t.was_found ? t.found : none;
}

#define CHECK_SHAPE(cfg, name, d0, d1)                                          \
    do {                                                                        \
        mk_expected_tensor t_ = find_tensor(cfg, name);                         \
        CHECKF(t_.ndim > 0, "%s not listed", name);                             \
        CHECK_EQ_INT(t_.shape[0], d0);                                          \
        CHECK_EQ_INT(t_.ndim == 2 ? t_.shape[1] : 0, d1);                       \
    } while (0)

/* ---- parsing: one test per architecture ---- */

TEST(config_mixtral_8x7b_parses_with_every_layer_moe) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_mixtral_8x7b, &c, &err), MK_OK);
    CHECK_EQ_INT(c.arch, MK_ARCH_MIXTRAL);
    CHECK(strcmp(c.architecture, "MixtralForCausalLM") == 0);
    CHECK(strcmp(c.model_type, "mixtral") == 0);
    CHECK_EQ_INT(c.torch_dtype, MK_DT_BF16);
    CHECK_EQ_INT(c.hidden_size, 4096);
    CHECK_EQ_INT(c.num_layers, 32);
    CHECK_EQ_INT(c.num_heads, 32);
    CHECK_EQ_INT(c.num_kv_heads, 8);
    CHECK_EQ_INT(c.head_dim, 128);
    CHECK_EQ_INT(c.attn, MK_ATTN_GQA);
    CHECK(!c.attention_bias && !c.qk_norm && !c.tie_word_embeddings);
    CHECK_EQ_INT(c.max_position_embeddings, 32768);
    CHECK(c.rms_norm_eps == 1e-5);
    CHECK_EQ_INT(c.n_routed_experts, 8);
    CHECK_EQ_INT(c.top_k, 2);
    CHECK_EQ_INT(c.moe_intermediate_size, 14336);
    CHECK_EQ_INT(c.n_shared_experts, 0);
    CHECK_EQ_INT(c.shared_intermediate_size, 0);
    CHECK(!c.shared_expert_gate && !c.has_correction_bias);
    CHECK_EQ_INT(c.scoring, MK_SCORE_SOFTMAX);
    CHECK_EQ_INT(c.topk_method, MK_TOPK_GREEDY);
    CHECK(c.norm_topk_prob);
    CHECK_EQ_INT(c.num_nextn_predict_layers, 0);
    CHECK_EQ_INT(mk_config_n_moe_layers(&c), 32);
    mk_config_free(&c);
    CHECK(c.is_moe == NULL && c.hidden_size == 0);
}

TEST(config_qwen2_moe_applies_sparse_step_and_mlp_only_layers) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_qwen2_moe_small, &c, &err), MK_OK);
    CHECK_EQ_INT(c.arch, MK_ARCH_QWEN2_MOE);
    CHECK_EQ_INT(c.torch_dtype, MK_DT_F32);
    CHECK_EQ_INT(c.attn, MK_ATTN_MHA);
    CHECK_EQ_INT(c.head_dim, 16);
    CHECK(c.attention_bias); /* Qwen2 always has q/k/v biases */
    CHECK(!c.qk_norm);
    CHECK_EQ_INT(c.n_routed_experts, 8);
    CHECK_EQ_INT(c.top_k, 2);
    CHECK_EQ_INT(c.moe_intermediate_size, 32);
    CHECK_EQ_INT(c.n_shared_experts, 1);
    CHECK_EQ_INT(c.shared_intermediate_size, 128);
    CHECK(c.shared_expert_gate);
    CHECK(!c.norm_topk_prob);
    /* (L+1) % 2 == 0 -> 1, 3, 5; layer 3 is listed in mlp_only_layers. */
    static const bool want[6] = {false, true, false, false, false, true};
    for (int l = 0; l < 6; l++) CHECKF(c.is_moe[l] == want[l], "layer %d", l);
    CHECK_EQ_INT(mk_config_n_moe_layers(&c), 2);
    mk_config_free(&c);
}

TEST(config_qwen3_30b_a3b_parses) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_qwen3_30b_a3b, &c, &err), MK_OK);
    CHECK_EQ_INT(c.arch, MK_ARCH_QWEN3_MOE);
    CHECK_EQ_INT(c.head_dim, 128); /* explicit: hidden/heads would be 64 */
    CHECK_EQ_INT(c.attn, MK_ATTN_GQA);
    CHECK(!c.attention_bias);
    CHECK(c.qk_norm);
    CHECK_EQ_INT(c.n_routed_experts, 128);
    CHECK_EQ_INT(c.top_k, 8);
    CHECK_EQ_INT(c.moe_intermediate_size, 768);
    CHECK_EQ_INT(c.n_shared_experts, 0);
    CHECK(!c.shared_expert_gate);
    CHECK(c.norm_topk_prob);
    CHECK_EQ_INT(c.vocab_size, 151936);
    CHECK_EQ_INT(mk_config_n_moe_layers(&c), 48);
    mk_config_free(&c);
}

TEST(config_deepseek_v2_parses_group_limited_routing) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_deepseek_v2, &c, &err), MK_OK);
    CHECK_EQ_INT(c.arch, MK_ARCH_DEEPSEEK_V2);
    CHECK_EQ_INT(c.attn, MK_ATTN_MLA);
    CHECK_EQ_INT(c.q_lora_rank, 1536);
    CHECK_EQ_INT(c.kv_lora_rank, 512);
    CHECK_EQ_INT(c.n_routed_experts, 160);
    CHECK_EQ_INT(c.n_shared_experts, 2);
    CHECK_EQ_INT(c.shared_intermediate_size, 3072);
    CHECK_EQ_INT(c.top_k, 6);
    CHECK_EQ_INT(c.scoring, MK_SCORE_SOFTMAX);
    CHECK_EQ_INT(c.topk_method, MK_TOPK_GROUP_LIMITED_GREEDY);
    CHECK(!c.has_correction_bias);
    CHECK_EQ_INT(c.n_group, 8);
    CHECK_EQ_INT(c.topk_group, 3);
    CHECK(c.routed_scaling_factor == 16.0);
    CHECK(!c.norm_topk_prob);
    CHECK_EQ_INT(c.num_nextn_predict_layers, 0);
    CHECK(!c.is_moe[0] && c.is_moe[1] && c.is_moe[59]);
    CHECK_EQ_INT(mk_config_n_moe_layers(&c), 59);
    mk_config_free(&c);
}

TEST(config_deepseek_v2_lite_null_q_lora_means_plain_q_proj) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_deepseek_v2_lite, &c, &err), MK_OK);
    CHECK_EQ_INT(c.q_lora_rank, 0);
    CHECK_EQ_INT(c.topk_method, MK_TOPK_GREEDY);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.q_proj.weight", 16 * 192, 2048);
    CHECK(find_tensor(&c, "model.layers.0.self_attn.q_a_proj.weight").ndim == 0);
    mk_config_free(&c);
}

TEST(config_deepseek_v3_parses) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_deepseek_v3, &c, &err), MK_OK);
    CHECK_EQ_INT(c.arch, MK_ARCH_DEEPSEEK_V3);
    CHECK(strcmp(c.model_type, "deepseek_v3") == 0);
    CHECK_EQ_INT(c.hidden_size, 7168);
    CHECK_EQ_INT(c.intermediate_size, 18432);
    CHECK_EQ_INT(c.num_layers, 61);
    CHECK_EQ_INT(c.vocab_size, 129280);
    CHECK_EQ_INT(c.num_heads, 128);
    CHECK_EQ_INT(c.attn, MK_ATTN_MLA);
    CHECK_EQ_INT(c.q_lora_rank, 1536);
    CHECK_EQ_INT(c.kv_lora_rank, 512);
    CHECK_EQ_INT(c.qk_nope_head_dim, 128);
    CHECK_EQ_INT(c.qk_rope_head_dim, 64);
    CHECK_EQ_INT(c.v_head_dim, 128);
    CHECK_EQ_INT(c.head_dim, 192);
    CHECK_EQ_INT(c.n_routed_experts, 256);
    CHECK_EQ_INT(c.top_k, 8);
    CHECK_EQ_INT(c.moe_intermediate_size, 2048);
    CHECK_EQ_INT(c.n_shared_experts, 1);
    CHECK_EQ_INT(c.shared_intermediate_size, 2048);
    CHECK(!c.shared_expert_gate);
    CHECK_EQ_INT(c.scoring, MK_SCORE_SIGMOID);
    CHECK_EQ_INT(c.topk_method, MK_TOPK_NOAUX_TC);
    CHECK(c.has_correction_bias);
    CHECK_EQ_INT(c.n_group, 8);
    CHECK_EQ_INT(c.topk_group, 4);
    CHECK(c.routed_scaling_factor == 2.5);
    CHECK(c.norm_topk_prob);
    CHECK_EQ_INT(c.num_nextn_predict_layers, 1);
    CHECK_EQ_INT(c.max_position_embeddings, 163840);
    for (int l = 0; l < 61; l++) CHECKF(c.is_moe[l] == (l >= 3), "layer %d", l);
    mk_config_free(&c);
}

TEST(config_dense_archs_parse_without_experts) {
    static const struct {
        const char *json;
        mk_arch arch;
        int64_t heads, kv_heads, head_dim;
        bool bias, qk_norm, tied;
        mk_dtype dtype;
    } cases[] = {
        {k_llama3_8b, MK_ARCH_LLAMA, 32, 8, 128, false, false, false, MK_DT_BF16},
        {k_mistral_7b, MK_ARCH_MISTRAL, 32, 8, 128, false, false, false, MK_DT_BF16},
        {k_qwen2_05b, MK_ARCH_QWEN2, 14, 2, 64, true, false, true, MK_DT_BF16},
        {k_qwen3_06b, MK_ARCH_QWEN3, 16, 8, 128, false, true, true, MK_DT_F16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mk_model_config c;
        mk_error err;
        CHECKF(parse(cases[i].json, &c, &err) == MK_OK, "case %zu: %s", i, err.msg);
        CHECK_EQ_INT(c.arch, cases[i].arch);
        CHECK(!mk_arch_is_moe(c.arch));
        CHECK_EQ_INT(c.num_heads, cases[i].heads);
        CHECK_EQ_INT(c.num_kv_heads, cases[i].kv_heads);
        CHECK_EQ_INT(c.head_dim, cases[i].head_dim);
        CHECK_EQ_INT(c.attn, MK_ATTN_GQA);
        CHECK_EQ_INT(c.attention_bias, cases[i].bias);
        CHECK_EQ_INT(c.qk_norm, cases[i].qk_norm);
        CHECK_EQ_INT(c.tie_word_embeddings, cases[i].tied);
        CHECK_EQ_INT(c.torch_dtype, cases[i].dtype);
        CHECK_EQ_INT(c.n_routed_experts, 0);
        CHECK_EQ_INT(mk_config_n_moe_layers(&c), 0);
        CHECK(c.is_moe != NULL);
        mk_config_free(&c);
    }
}

TEST(config_defaults_match_transformers_when_keys_are_absent) {
    mk_model_config c;
    mk_error err;
    /* A minimal V3 config: routing keys fall back to the V3 behaviour. */
    static const char *const v3_min =
        "{\"model_type\": \"deepseek_v3\", \"hidden_size\": 64, \"intermediate_size\": 128,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100,"
        " \"n_routed_experts\": 4, \"num_experts_per_tok\": 2, \"moe_intermediate_size\": 32,"
        " \"kv_lora_rank\": 16, \"qk_nope_head_dim\": 8, \"qk_rope_head_dim\": 4,"
        " \"v_head_dim\": 8}";
    CHECK_EQ_INT(parse(v3_min, &c, &err), MK_OK);
    CHECK_EQ_INT(c.arch, MK_ARCH_DEEPSEEK_V3); /* from model_type */
    CHECK_EQ_INT(c.torch_dtype, MK_DT_BF16);
    CHECK_EQ_INT(c.num_kv_heads, 4);
    CHECK_EQ_INT(c.q_lora_rank, 0);
    CHECK_EQ_INT(c.scoring, MK_SCORE_SIGMOID);
    CHECK_EQ_INT(c.topk_method, MK_TOPK_NOAUX_TC);
    CHECK(c.has_correction_bias && c.norm_topk_prob);
    CHECK_EQ_INT(c.n_group, 1);
    CHECK_EQ_INT(c.topk_group, 1);
    CHECK(c.routed_scaling_factor == 1.0);
    CHECK_EQ_INT(c.n_shared_experts, 0);
    CHECK_EQ_INT(c.num_nextn_predict_layers, 0);
    CHECK_EQ_INT(c.max_position_embeddings, 0);
    CHECK(c.rms_norm_eps == 1e-6);
    CHECK_EQ_INT(mk_config_n_moe_layers(&c), 2);
    mk_config_free(&c);

    char *v2 = variant(v3_min, "model_type", "\"deepseek_v2\"");
    int rc = parse(v2, &c, &err);
    free(v2);
    CHECK_EQ_INT(rc, MK_OK);
    CHECK_EQ_INT(c.scoring, MK_SCORE_SOFTMAX);
    CHECK_EQ_INT(c.topk_method, MK_TOPK_GREEDY);
    CHECK(!c.has_correction_bias && !c.norm_topk_prob);
    mk_config_free(&c);

    /* Mixtral: top-2 by default, expert count through the num_experts alias. */
    char *mx = variant(k_mixtral_8x7b, "num_experts_per_tok", NULL);
    char *mx2 = variant(mx, "num_local_experts", NULL);
    char *mx3 = variant(mx2, "num_experts", "4");
    rc = parse(mx3, &c, &err);
    free(mx);
    free(mx2);
    free(mx3);
    CHECK_EQ_INT(rc, MK_OK);
    CHECK_EQ_INT(c.top_k, 2);
    CHECK_EQ_INT(c.n_routed_experts, 4);
    mk_config_free(&c);

    /* Qwen3-MoE: Qwen3MoeConfig defaults top-8 and norm_topk_prob False. */
    char *q3 = variant(k_qwen3_30b_a3b, "norm_topk_prob", NULL);
    char *q3b = variant(q3, "num_experts_per_tok", NULL);
    rc = parse(q3b, &c, &err);
    free(q3);
    free(q3b);
    CHECK_EQ_INT(rc, MK_OK);
    CHECK(!c.norm_topk_prob);
    CHECK_EQ_INT(c.top_k, 8);
    mk_config_free(&c);

    /* Qwen2-MoE without a shared expert width has no shared expert. */
    char *q2 = variant(k_qwen2_moe_small, "shared_expert_intermediate_size", NULL);
    rc = parse(q2, &c, &err);
    free(q2);
    CHECK_EQ_INT(rc, MK_OK);
    CHECK_EQ_INT(c.n_shared_experts, 0);
    CHECK(!c.shared_expert_gate);
    tally t;
    run_expected(&c, &t, NULL);
    CHECK_EQ_INT(t.n_by_kind[MK_T_SHARED_EXPERT], 0);
    mk_config_free(&c);

    /* Llama without num_key_value_heads is multi-head; attention_bias honoured. */
    char *ll = variant(k_llama3_8b, "num_key_value_heads", NULL);
    char *ll2 = variant(ll, "attention_bias", "true");
    rc = parse(ll2, &c, &err);
    free(ll);
    free(ll2);
    CHECK_EQ_INT(rc, MK_OK);
    CHECK_EQ_INT(c.num_kv_heads, 32);
    CHECK_EQ_INT(c.attn, MK_ATTN_MHA);
    CHECK(c.attention_bias);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.v_proj.bias", 4096, 0);
    mk_config_free(&c);
}

TEST(config_load_reads_a_file_and_names_a_missing_one) {
    const char *path = mk_test_path("config.json");
    mk_test_write_file(path, k_qwen3_30b_a3b, strlen(k_qwen3_30b_a3b));
    mk_model_config c;
    mk_error err = {0};
    CHECK_EQ_INT(mk_config_load(path, &c, &err), MK_OK);
    CHECK_EQ_INT(c.arch, MK_ARCH_QWEN3_MOE);
    mk_config_free(&c);

    const char *absent = mk_test_path("absent.json");
    mk_error_clear(&err);
    CHECK_EQ_INT(mk_config_load(absent, &c, &err), MK_ERR_INPUT);
    CHECK(c.is_moe == NULL);
    CHECK_STR_CONTAINS(err.msg, absent);
    CHECK_STR_CONTAINS(err.msg, "No such file");

    const char *bad = mk_test_path("bad.json");
    mk_test_write_file(bad, "{\n  \"a\": 1,\n  oops\n}", 20);
    mk_error_clear(&err);
    CHECK_EQ_INT(mk_config_load(bad, &c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, bad);
    CHECK_STR_CONTAINS(err.msg, ":3:");
}

/* ---- malformed configs ---- */

TEST(config_rejects_invalid_json_and_non_objects) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse("{\"hidden_size\": 1,,}", &c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "config.json:1:");
    CHECK_STR_CONTAINS(err.msg, "invalid JSON");
    CHECK(c.is_moe == NULL);
    CHECK_EQ_INT(parse("", &c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "invalid JSON");
    CHECK_EQ_INT(parse("{\"a\": 1, \"a\": 2}", &c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "invalid JSON");
    CHECK_EQ_INT(parse("[1, 2]", &c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "not a JSON object");
    CHECK_EQ_INT(parse("{\"hidden_size\": 1}", &c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "architectures");
    CHECK_STR_CONTAINS(err.msg, "model_type");
    /* Length-delimited: bytes after `len` are not read. */
    mk_error_clear(&err);
    CHECK_EQ_INT(mk_config_parse(k_llama3_8b, 10, "x.json", &c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "x.json");
}

TEST(config_rejects_unsupported_architectures) {
    CHECK_REJECTS(k_llama3_8b, "architectures", "[\"GPT2LMHeadModel\"]",
                  "unsupported architecture 'GPT2LMHeadModel'");
    CHECK_REJECTS(k_llama3_8b, "architectures", "[\"GPT2LMHeadModel\"]",
                  "supported: MixtralForCausalLM");
    CHECK_REJECTS(k_llama3_8b, "architectures", "\"LlamaForCausalLM\"", "architectures");
    CHECK_REJECTS(k_llama3_8b, "architectures", "[7]", "architectures[0]");
    char *no_arch = variant(k_llama3_8b, "architectures", NULL);
    CHECK_REJECTS(no_arch, "model_type", "\"gpt2\"", "unsupported model_type 'gpt2'");
    free(no_arch);
}

TEST(config_rejects_each_missing_required_key) {
    static const char *const common[] = {"hidden_size", "num_hidden_layers",
                                         "num_attention_heads", "vocab_size",
                                         "intermediate_size"};
    static const struct {
        const char *json;
        const char *arch_name;
        const char *extra[8];
    } cases[] = {
        {k_mixtral_8x7b, "MixtralForCausalLM", {"num_local_experts"}},
        {k_qwen2_moe_small, "Qwen2MoeForCausalLM", {"num_experts", "moe_intermediate_size"}},
        {k_qwen3_30b_a3b, "Qwen3MoeForCausalLM", {"num_experts", "moe_intermediate_size"}},
        {k_deepseek_v2, "DeepseekV2ForCausalLM",
         {"n_routed_experts", "moe_intermediate_size", "num_experts_per_tok", "kv_lora_rank",
          "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"}},
        {k_deepseek_v3, "DeepseekV3ForCausalLM",
         {"n_routed_experts", "moe_intermediate_size", "num_experts_per_tok", "kv_lora_rank",
          "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"}},
        {k_llama3_8b, "LlamaForCausalLM", {NULL}},
        {k_mistral_7b, "MistralForCausalLM", {NULL}},
        {k_qwen2_05b, "Qwen2ForCausalLM", {NULL}},
        {k_qwen3_06b, "Qwen3ForCausalLM", {NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *keys[16];
        size_t n_keys = 0;
        for (size_t k = 0; k < 5; k++) keys[n_keys++] = common[k];
        for (size_t k = 0; k < 8 && cases[i].extra[k]; k++) keys[n_keys++] = cases[i].extra[k];
        for (size_t k = 0; k < n_keys; k++) {
            char needle[160];
            snprintf(needle, sizeof needle, "missing required key '%s' for %s", keys[k],
                     cases[i].arch_name);
            CHECK_REJECTS(cases[i].json, keys[k], NULL, needle);
            /* null is "not set" too. */
            CHECK_REJECTS(cases[i].json, keys[k], "null", needle);
        }
    }
}

TEST(config_rejects_ill_typed_values_naming_the_key) {
    CHECK_REJECTS(k_deepseek_v3, "hidden_size", "-7168", "'hidden_size'");
    CHECK_REJECTS(k_deepseek_v3, "hidden_size", "-7168", "-7168");
    CHECK_REJECTS(k_deepseek_v3, "num_attention_heads", "1.5", "'num_attention_heads'");
    CHECK_REJECTS(k_deepseek_v3, "vocab_size", "\"129280\"", "'vocab_size'");
    CHECK_REJECTS(k_deepseek_v3, "vocab_size", "\"129280\"", "\"129280\"");
    CHECK_REJECTS(k_deepseek_v3, "num_hidden_layers", "0", "'num_hidden_layers'");
    CHECK_REJECTS(k_deepseek_v3, "num_hidden_layers", "4000000", "'num_hidden_layers'");
    CHECK_REJECTS(k_deepseek_v3, "n_routed_experts", "0", "'n_routed_experts'");
    CHECK_REJECTS(k_deepseek_v3, "n_routed_experts", "true", "'n_routed_experts'");
    CHECK_REJECTS(k_deepseek_v3, "n_group", "0", "'n_group'");
    CHECK_REJECTS(k_deepseek_v3, "first_k_dense_replace", "-1", "'first_k_dense_replace'");
    CHECK_REJECTS(k_deepseek_v3, "q_lora_rank", "0", "'q_lora_rank'");
    CHECK_REJECTS(k_deepseek_v3, "kv_lora_rank", "[512]", "'kv_lora_rank'");
    CHECK_REJECTS(k_deepseek_v3, "num_nextn_predict_layers", "\"1\"", "'num_nextn_predict_layers'");
    CHECK_REJECTS(k_deepseek_v3, "routed_scaling_factor", "-2.5", "'routed_scaling_factor'");
    CHECK_REJECTS(k_deepseek_v3, "norm_topk_prob", "1", "'norm_topk_prob'");
    CHECK_REJECTS(k_deepseek_v3, "tie_word_embeddings", "\"false\"", "'tie_word_embeddings'");
    CHECK_REJECTS(k_deepseek_v3, "torch_dtype", "\"int8\"", "'torch_dtype'");
    CHECK_REJECTS(k_deepseek_v3, "torch_dtype", "16", "'torch_dtype'");
    CHECK_REJECTS(k_deepseek_v3, "scoring_func", "\"relu\"", "'scoring_func'");
    CHECK_REJECTS(k_deepseek_v3, "scoring_func", "\"relu\"", "'relu'");
    CHECK_REJECTS(k_deepseek_v3, "topk_method", "\"best\"", "'topk_method'");
    CHECK_REJECTS(k_deepseek_v3, "topk_method", "3", "'topk_method'");
    CHECK_REJECTS(k_llama3_8b, "head_dim", "0", "'head_dim'");
    CHECK_REJECTS(k_llama3_8b, "rms_norm_eps", "\"1e-5\"", "'rms_norm_eps'");
    CHECK_REJECTS(k_llama3_8b, "attention_bias", "0", "'attention_bias'");
    CHECK_REJECTS(k_llama3_8b, "num_key_value_heads", "5", "num_key_value_heads");
    CHECK_REJECTS(k_llama3_8b, "num_key_value_heads", "0", "num_key_value_heads");
    CHECK_REJECTS(k_llama3_8b, "hidden_size", "4097", "num_attention_heads");
    CHECK_REJECTS(k_qwen2_moe_small, "mlp_only_layers", "\"0\"", "'mlp_only_layers'");
    CHECK_REJECTS(k_qwen2_moe_small, "mlp_only_layers", "[-1]", "'mlp_only_layers'");
    CHECK_REJECTS(k_qwen2_moe_small, "decoder_sparse_step", "0", "'decoder_sparse_step'");
    CHECK_REJECTS(k_qwen2_moe_small, "shared_expert_intermediate_size", "-1",
                  "'shared_expert_intermediate_size'");
    CHECK_REJECTS(k_mixtral_8x7b, "num_local_experts", "8.0", "'num_local_experts'");
}

TEST(config_rejects_inconsistent_routing_naming_the_keys) {
    CHECK_REJECTS(k_deepseek_v3, "num_experts_per_tok", "257", "num_experts_per_tok 257");
    CHECK_REJECTS(k_deepseek_v3, "num_experts_per_tok", "257", "n_routed_experts 256");
    CHECK_REJECTS(k_mixtral_8x7b, "num_experts_per_tok", "9", "num_local_experts");
    CHECK_REJECTS(k_qwen3_30b_a3b, "num_experts_per_tok", "129", "num_experts 128");
    CHECK_REJECTS(k_deepseek_v3, "n_group", "7", "n_group 7");
    CHECK_REJECTS(k_deepseek_v3, "topk_group", "9", "topk_group 9");
    /* One kept group of 32 experts cannot supply 33. */
    char *one_group = variant(k_deepseek_v3, "topk_group", "1");
    CHECK_REJECTS(one_group, "num_experts_per_tok", "33", "topk_group");
    free(one_group);
    /* Plain greedy routing ignores the group keys. */
    char *greedy = variant(k_deepseek_v3, "topk_method", "\"greedy\"");
    char *greedy2 = variant(greedy, "n_group", "7");
    mk_model_config c;
    mk_error err;
    int rc = parse(greedy2, &c, &err);
    free(greedy);
    free(greedy2);
    CHECK_EQ_INT(rc, MK_OK);
    CHECK(!c.has_correction_bias);
    mk_config_free(&c);
}

/* ---- expected tensors ---- */

TEST(expected_deepseek_v3_counts_names_and_parameters) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_deepseek_v3, &c, &err), MK_OK);
    tally t;
    run_expected(&c, &t, NULL);
    CHECKF(!t.problem[0], "%s", t.problem);

    const int64_t H = 7168, I = 18432, mI = 2048, nh = 128, E = 256, V = 129280;
    const int64_t q_lora = 1536, kv_lora = 512, nope = 128, rope = 64, v_dim = 128;
    const int64_t attn = q_lora * H + q_lora + nh * (nope + rope) * q_lora +
                         (kv_lora + rope) * H + kv_lora + nh * (nope + v_dim) * kv_lora +
                         H * nh * v_dim;
    const int64_t norms = 2 * H;
    const int64_t dense_mlp = 3 * I * H;
    const int64_t moe_mlp = E * H + E /* bias */ + E * 3 * mI * H + 3 * mI * H /* shared */;
    const int64_t mtp = V * H + 2 * H + H * 2 * H + norms + attn + moe_mlp + H + V * H;
    const int64_t total = V * H + 3 * (norms + attn + dense_mlp) + 58 * (norms + attn + moe_mlp) +
                          H + V * H + mtp;
    CHECK_EQ_INT(total, 684489845504LL); /* the 685B of the model card */
    CHECK_EQ_INT(t.n_params, total);

    /* 3 top-level; dense layer 2+7+3; MoE layer 2+7+2+768+3; MTP 6 + a MoE layer. */
    CHECK_EQ_INT(t.n_tensors, 3 + 3 * 12 + 58 * 782 + 788);
    CHECK_EQ_INT(t.n_by_kind[MK_T_ROUTED_EXPERT], 58 * 768);
    CHECK_EQ_INT(t.n_by_kind[MK_T_SHARED_EXPERT], 58 * 3);
    CHECK_EQ_INT(t.n_by_kind[MK_T_DENSE_MLP], 9);
    CHECK_EQ_INT(t.n_by_kind[MK_T_ROUTER], 58 * 2);
    CHECK_EQ_INT(t.n_by_kind[MK_T_MTP], 788);
    CHECK_EQ_INT(t.n_f32, 59); /* one correction bias per MoE layer, MTP included */

    CHECK_SHAPE(&c, "model.layers.0.self_attn.q_b_proj.weight", 24576, 1536);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", 576, 7168);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.kv_b_proj.weight", 32768, 512);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.o_proj.weight", 7168, 16384);
    CHECK_SHAPE(&c, "model.layers.0.mlp.down_proj.weight", 7168, 18432);
    CHECK_SHAPE(&c, "model.layers.3.mlp.gate.e_score_correction_bias", 256, 0);
    CHECK_SHAPE(&c, "model.layers.60.mlp.experts.255.down_proj.weight", 7168, 2048);
    CHECK_SHAPE(&c, "model.layers.60.mlp.shared_experts.up_proj.weight", 2048, 7168);
    CHECK_SHAPE(&c, "model.layers.61.eh_proj.weight", 7168, 14336);
    CHECK_SHAPE(&c, "model.layers.61.shared_head.head.weight", 129280, 7168);
    mk_expected_tensor bias = find_tensor(&c, "model.layers.61.mlp.gate.e_score_correction_bias");
    CHECK_EQ_INT(bias.dtype, MK_DT_F32);
    CHECK_EQ_INT(bias.role.kind, MK_T_MTP);
    CHECK(bias.role.is_router_bias);
    mk_config_free(&c);
}

TEST(expected_mixtral_8x7b_counts) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_mixtral_8x7b, &c, &err), MK_OK);
    tally t;
    run_expected(&c, &t, NULL);
    CHECKF(!t.problem[0], "%s", t.problem);
    const int64_t H = 4096, I = 14336, V = 32000, kv = 1024;
    const int64_t layer = 2 * H + 2 * H * H + 2 * kv * H + 8 * H + 8 * 3 * I * H;
    CHECK_EQ_INT(t.n_params, 2 * V * H + H + 32 * layer);
    CHECK_EQ_INT(t.n_params, 46702792704LL);
    CHECK_EQ_INT(t.n_tensors, 3 + 32 * (2 + 4 + 1 + 24));
    CHECK_SHAPE(&c, "model.layers.31.block_sparse_moe.experts.7.w2.weight", 4096, 14336);
    CHECK_SHAPE(&c, "model.layers.0.block_sparse_moe.gate.weight", 8, 4096);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.k_proj.weight", 1024, 4096);
    mk_config_free(&c);
}

TEST(expected_qwen_moe_counts) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_qwen3_30b_a3b, &c, &err), MK_OK);
    tally t;
    run_expected(&c, &t, NULL);
    CHECKF(!t.problem[0], "%s", t.problem);
    const int64_t H = 2048, V = 151936, hd = 128, mI = 768;
    const int64_t layer = 2 * H + 2 * (32 * hd * H) + 2 * (4 * hd * H) + 2 * hd + 128 * H +
                          128 * 3 * mI * H;
    CHECK_EQ_INT(t.n_params, 2 * V * H + H + 48 * layer);
    CHECK_EQ_INT(t.n_params, 30532122624LL); /* "30.5B" */
    CHECK_EQ_INT(t.n_tensors, 3 + 48 * (2 + 4 + 2 + 1 + 384));
    CHECK_SHAPE(&c, "model.layers.0.self_attn.q_proj.weight", 4096, 2048);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.o_proj.weight", 2048, 4096);
    CHECK_SHAPE(&c, "model.layers.0.self_attn.k_norm.weight", 128, 0);
    mk_config_free(&c);

    CHECK_EQ_INT(parse(k_qwen2_moe_small, &c, &err), MK_OK);
    run_expected(&c, &t, NULL);
    CHECKF(!t.problem[0], "%s", t.problem);
    /* Per layer: 2 norms, q/k/v weight+bias, o; MoE: gate, 8*3, shared 3, shared gate. */
    CHECK_EQ_INT(t.n_tensors, 3 + 6 * (2 + 7) + 4 * 3 + 2 * (1 + 24 + 3 + 1));
    CHECK_EQ_INT(t.n_by_kind[MK_T_DENSE_MLP], 12);
    CHECK_EQ_INT(t.n_by_kind[MK_T_ROUTER], 4);
    CHECK_SHAPE(&c, "model.layers.1.mlp.shared_expert_gate.weight", 1, 64);
    CHECK_SHAPE(&c, "model.layers.5.mlp.shared_expert.down_proj.weight", 64, 128);
    CHECK_SHAPE(&c, "model.layers.3.mlp.up_proj.weight", 160, 64);
    CHECK(find_tensor(&c, "model.layers.3.mlp.gate.weight").ndim == 0);
    mk_config_free(&c);
}

TEST(expected_dense_models_match_published_sizes) {
    static const struct {
        const char *json;
        int64_t n_params, n_tensors;
    } cases[] = {
        /* 3 top-level (2 when tied) + per layer 2 norms, 4 (+3 bias, +2 qk-norm) attn, 3 MLP. */
        {k_llama3_8b, 8030261248LL, 3 + 32 * 9},
        {k_mistral_7b, 7241732096LL, 3 + 32 * 9},
        {k_qwen2_05b, 494032768LL, 2 + 24 * 12},
        {k_qwen3_06b, 596049920LL, 2 + 28 * 11},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mk_model_config c;
        mk_error err;
        CHECK_EQ_INT(parse(cases[i].json, &c, &err), MK_OK);
        tally t;
        run_expected(&c, &t, NULL);
        bool tied = c.tie_word_embeddings;
        mk_config_free(&c);
        CHECKF(!t.problem[0], "case %zu: %s", i, t.problem);
        CHECKF(t.n_params == cases[i].n_params, "case %zu: %lld params", i,
               (long long)t.n_params);
        CHECK_EQ_INT(t.n_tensors, cases[i].n_tensors);
        CHECK_EQ_INT(t.n_by_kind[MK_T_LM_HEAD], tied ? 0 : 1);
    }
}

TEST(expected_every_name_classifies_to_its_role_for_every_arch) {
    const char *const all[] = {k_mixtral_8x7b, k_qwen2_moe_small, k_qwen3_30b_a3b,
                               k_deepseek_v2,  k_deepseek_v2_lite, k_deepseek_v3,
                               k_llama3_8b,    k_mistral_7b,      k_qwen2_05b,
                               k_qwen3_06b};
    bool seen[MK_ARCH_COUNT] = {false};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        mk_model_config c;
        mk_error err;
        CHECK_EQ_INT(parse(all[i], &c, &err), MK_OK);
        seen[c.arch] = true;
        tally t;
        run_expected(&c, &t, NULL);
        CHECKF(!t.problem[0], "%s: %s", mk_arch_name(c.arch), t.problem);
        CHECK_EQ_INT(t.n_by_kind[MK_T_UNKNOWN], 0);
        CHECK_EQ_INT(t.n_by_kind[MK_T_EMBEDDING], 1);
        CHECK_EQ_INT(t.n_by_kind[MK_T_ROUTED_EXPERT] > 0, mk_arch_is_moe(c.arch));
        mk_config_free(&c);
    }
    for (int a = 0; a < MK_ARCH_COUNT; a++) CHECKF(seen[a], "arch %s untested", mk_arch_name(a));
}

static int stop_at_ten(const mk_expected_tensor *t, void *ctx) {
    (void)t;
    return ++*(int *)ctx == 10 ? 7 : 0;
}

TEST(expected_stops_when_the_callback_says_so) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_deepseek_v3, &c, &err), MK_OK);
    int seen = 0;
    CHECK_EQ_INT(mk_model_expected(&c, stop_at_ten, &seen), 7);
    CHECK_EQ_INT(seen, 10);
    mk_config_free(&c);
}

/* ---- classification ---- */

typedef struct role_case {
    const char *name;
    mk_tensor_kind kind;
    int layer, expert;
    mk_proj proj;
    bool router_bias;
    const char *suffix;
} role_case;

TEST(classify_recognises_every_spelling) {
    static const role_case cases[] = {
        {"model.embed_tokens.weight", MK_T_EMBEDDING, -1, -1, MK_PROJ_NONE, false, "weight"},
        {"lm_head.weight", MK_T_LM_HEAD, -1, -1, MK_PROJ_NONE, false, "weight"},
        {"model.norm.weight", MK_T_NORM, -1, -1, MK_PROJ_NONE, false, "weight"},
        {"model.layers.0.input_layernorm.weight", MK_T_NORM, 0, -1, MK_PROJ_NONE, false, "weight"},
        {"model.layers.12.self_attn.kv_a_layernorm.weight", MK_T_NORM, 12, -1, MK_PROJ_NONE,
         false, "weight"},
        {"model.layers.12.self_attn.q_norm.weight", MK_T_NORM, 12, -1, MK_PROJ_NONE, false,
         "weight"},
        {"model.layers.12.self_attn.kv_b_proj.weight", MK_T_ATTENTION, 12, -1, MK_PROJ_NONE,
         false, "weight"},
        {"model.layers.7.self_attn.q_proj.bias", MK_T_ATTENTION, 7, -1, MK_PROJ_NONE, false,
         "bias"},
        {"model.layers.3.mlp.experts.17.down_proj.weight_scale_inv", MK_T_ROUTED_EXPERT, 3, 17,
         MK_PROJ_DOWN, false, "weight_scale_inv"},
        {"model.layers.3.mlp.experts.0.gate_proj.weight_packed", MK_T_ROUTED_EXPERT, 3, 0,
         MK_PROJ_GATE, false, "weight_packed"},
        {"model.layers.3.mlp.experts.255.up_proj.input_scale", MK_T_ROUTED_EXPERT, 3, 255,
         MK_PROJ_UP, false, "input_scale"},
        {"model.layers.31.block_sparse_moe.experts.7.w1.weight", MK_T_ROUTED_EXPERT, 31, 7,
         MK_PROJ_GATE, false, "weight"},
        {"model.layers.31.block_sparse_moe.experts.7.w3.weight_scale", MK_T_ROUTED_EXPERT, 31, 7,
         MK_PROJ_UP, false, "weight_scale"},
        {"model.layers.31.block_sparse_moe.experts.7.w2.weight_shape", MK_T_ROUTED_EXPERT, 31, 7,
         MK_PROJ_DOWN, false, "weight_shape"},
        {"model.layers.31.block_sparse_moe.gate.weight", MK_T_ROUTER, 31, -1, MK_PROJ_NONE, false,
         "weight"},
        {"model.layers.4.mlp.gate.weight", MK_T_ROUTER, 4, -1, MK_PROJ_NONE, false, "weight"},
        {"model.layers.4.mlp.gate.e_score_correction_bias", MK_T_ROUTER, 4, -1, MK_PROJ_NONE, true,
         "e_score_correction_bias"},
        {"model.layers.4.mlp.shared_expert_gate.weight", MK_T_ROUTER, 4, -1, MK_PROJ_NONE, false,
         "weight"},
        {"model.layers.4.mlp.shared_experts.down_proj.weight", MK_T_SHARED_EXPERT, 4, -1,
         MK_PROJ_DOWN, false, "weight"},
        {"model.layers.4.mlp.shared_expert.gate_proj.weight", MK_T_SHARED_EXPERT, 4, -1,
         MK_PROJ_GATE, false, "weight"},
        {"model.layers.0.mlp.up_proj.weight", MK_T_DENSE_MLP, 0, -1, MK_PROJ_UP, false, "weight"},
        {"model.layers.61.enorm.weight", MK_T_MTP, 61, -1, MK_PROJ_NONE, false, "weight"},
        {"model.layers.61.shared_head.head.weight", MK_T_MTP, 61, -1, MK_PROJ_NONE, false,
         "weight"},
        {"model.layers.61.embed_tokens.weight", MK_T_MTP, 61, -1, MK_PROJ_NONE, false, "weight"},
        /* Without a config the MTP layer's decoder part looks like any layer. */
        {"model.layers.61.mlp.experts.5.up_proj.weight", MK_T_ROUTED_EXPERT, 61, 5, MK_PROJ_UP,
         false, "weight"},
        {"model.layers.999999.mlp.gate.weight", MK_T_ROUTER, 999999, -1, MK_PROJ_NONE, false,
         "weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const role_case *rc = &cases[i];
        mk_tensor_role r;
        mk_classify(NULL, rc->name, &r);
        CHECKF(r.kind == rc->kind, "%s: kind %s, expected %s", rc->name,
               mk_tensor_kind_name(r.kind), mk_tensor_kind_name(rc->kind));
        CHECKF(r.layer == rc->layer, "%s: layer %d", rc->name, r.layer);
        CHECKF(r.expert == rc->expert, "%s: expert %d", rc->name, r.expert);
        CHECKF(r.proj == rc->proj, "%s: proj %s", rc->name, mk_proj_name(r.proj));
        CHECKF(r.is_router_bias == rc->router_bias, "%s: router bias", rc->name);
        CHECKF(strcmp(rc->name + r.suffix_off, rc->suffix) == 0, "%s: suffix '%s'", rc->name,
               rc->name + r.suffix_off);
    }
}

TEST(classify_marks_layers_past_num_hidden_layers_as_mtp_with_a_config) {
    mk_model_config c;
    mk_error err;
    CHECK_EQ_INT(parse(k_deepseek_v3, &c, &err), MK_OK);
    mk_tensor_role r;
    mk_classify(&c, "model.layers.61.mlp.experts.5.up_proj.weight", &r);
    CHECK_EQ_INT(r.kind, MK_T_MTP);
    CHECK_EQ_INT(r.layer, 61);
    CHECK_EQ_INT(r.expert, 5);
    CHECK_EQ_INT(r.proj, MK_PROJ_UP);
    mk_classify(&c, "model.layers.61.something_new.weight", &r);
    CHECK_EQ_INT(r.kind, MK_T_MTP);
    mk_classify(&c, "model.layers.60.mlp.experts.5.up_proj.weight", &r);
    CHECK_EQ_INT(r.kind, MK_T_ROUTED_EXPERT);
    mk_config_free(&c);

    /* A model without MTP layers has no MTP role. */
    CHECK_EQ_INT(parse(k_mixtral_8x7b, &c, &err), MK_OK);
    mk_classify(&c, "model.layers.40.block_sparse_moe.experts.1.w2.weight", &r);
    CHECK_EQ_INT(r.kind, MK_T_ROUTED_EXPERT);
    mk_config_free(&c);
}

TEST(classify_rejects_malformed_names_without_crashing) {
    static const char *const unknown[] = {
        "",
        ".",
        "weight",
        ".weight",
        "lm_head.",
        "lm_head",
        "model.layers",
        "model.layers.",
        "model.layers.0",
        "model.layers.0.",
        "model.layers.-1.mlp.gate.weight",
        "model.layers.+1.mlp.gate.weight",
        "model.layers.1x.mlp.gate.weight",
        "model.layers.01.mlp.gate.weight",
        "model.layers. 1.mlp.gate.weight",
        "model.layers.1000000.mlp.gate.weight",
        "model.layers.99999999999999999999999999.mlp.gate.weight",
        "model.layers.0.mlp.experts.-3.up_proj.weight",
        "model.layers.0.mlp.experts.4294967297.up_proj.weight",
        "model.layers.0.mlp.experts..up_proj.weight",
        "model.layers.0.mlp.experts.3.weight",
        "model.layers.0.mlp.experts.3.w1.weight",
        "model.layers.0.block_sparse_moe.experts.3.gate_proj.weight",
        "model.layers.0.block_sparse_moe.shared_expert_gate.weight",
        "model.layers.0.mlp.gate.",
        "model.layers.0.mlp.gate_projx.weight",
        "model.layers.0.mlp.shared_experts.w1.weight",
        "model.layers.0.self_attn.weight",
        "model.embed_tokens.weight.extra",
        "model.embed_tokensx.weight",
        "xmodel.norm.weight",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        mk_tensor_role r;
        mk_classify(NULL, unknown[i], &r);
        CHECKF(r.kind == MK_T_UNKNOWN, "'%s' classified as %s", unknown[i],
               mk_tensor_kind_name(r.kind));
        CHECKF(r.expert == -1 && r.proj == MK_PROJ_NONE && !r.is_router_bias, "'%s'", unknown[i]);
        CHECKF(r.suffix_off <= strlen(unknown[i]), "'%s'", unknown[i]);
    }
    /* An unknown module inside a layer still reports the layer. */
    mk_tensor_role r;
    mk_classify(NULL, "model.layers.5.foo.weight", &r);
    CHECK_EQ_INT(r.kind, MK_T_UNKNOWN);
    CHECK_EQ_INT(r.layer, 5);
}

TEST(kind_and_projection_names) {
    CHECK(strcmp(mk_tensor_kind_name(MK_T_UNKNOWN), "unknown") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_EMBEDDING), "embedding") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_LM_HEAD), "lm_head") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_NORM), "norm") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_ATTENTION), "attention") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_DENSE_MLP), "dense_mlp") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_ROUTER), "router") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_ROUTED_EXPERT), "routed_expert") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_SHARED_EXPERT), "shared_expert") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_MTP), "mtp") == 0);
    CHECK(strcmp(mk_tensor_kind_name(MK_T_KIND_COUNT), "?") == 0);
    CHECK(strcmp(mk_proj_name(MK_PROJ_NONE), "none") == 0);
    CHECK(strcmp(mk_proj_name(MK_PROJ_GATE), "gate") == 0);
    CHECK(strcmp(mk_proj_name(MK_PROJ_UP), "up") == 0);
    CHECK(strcmp(mk_proj_name(MK_PROJ_DOWN), "down") == 0);
    CHECK(strcmp(mk_arch_name(MK_ARCH_DEEPSEEK_V3), "DeepseekV3ForCausalLM") == 0);
    CHECK(strcmp(mk_arch_name(MK_ARCH_COUNT), "?") == 0);
    CHECK(mk_arch_is_moe(MK_ARCH_QWEN2_MOE) && !mk_arch_is_moe(MK_ARCH_QWEN2));
}

static int find_name(const mk_expected_tensor *t, void *ctx) {
    return strcmp(t->name, (const char *)ctx) == 0 ? 1 : 0;
}

TEST(attention_bias_adds_o_proj_bias_for_llama_and_qwen3_only) {
    const char *base =
        "{\"architectures\":[\"%s\"],\"hidden_size\":64,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":4,\"vocab_size\":10,\"intermediate_size\":128,"
        "\"attention_bias\":true}";
    const struct { const char *arch; int qkv, o; } cases[] = {
        {"LlamaForCausalLM", 1, 1}, {"Qwen3ForCausalLM", 1, 1},
        {"Qwen2ForCausalLM", 1, 0}, {"MistralForCausalLM", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, base, cases[i].arch);
        mk_model_config cfg;
        mk_error err = {0};
        CHECKF(mk_config_parse(text, strlen(text), "c.json", &cfg, &err) == MK_OK, "%s", err.msg);
        int qkv = mk_model_expected(&cfg, find_name, (void *)"model.layers.0.self_attn.k_proj.bias");
        int o = mk_model_expected(&cfg, find_name, (void *)"model.layers.0.self_attn.o_proj.bias");
        mk_config_free(&cfg);
        CHECKF(qkv == cases[i].qkv && o == cases[i].o, "%s: qkv bias %d o bias %d", cases[i].arch, qkv, o);
    }
}
