/*
 * config.json -> mk_model_config.
 *
 * A checkpoint's config.json is the only description of its shape, and
 * transformers fills in a default for every key it lacks; we apply the same
 * defaults so that a config that loads in transformers describes the same
 * tensors here.  Everything the tensor list depends on is validated up
 * front (types, ranges, divisibility), so the rest of moekit can trust the
 * struct: every dimension is in [1, 2^30] and every layer or expert count
 * below 1,000,000, which keeps shape products inside int64 and layer numbers
 * inside what mk_classify() accepts.  Keys are looked up by their on-disk
 * spelling so that a message can name exactly the key a user must fix.
 */
#include "moekit/model.h"
#include "formats/fileio.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shape products (heads * head_dim, experts * width) must fit in int64. */
#define MAX_DIM ((int64_t)1 << 30)
/* mk_classify() rejects layer and expert numbers from 1,000,000 on. */
#define MAX_INDEX ((int64_t)999999)

static const struct {
    const char *architecture, *model_type;
} g_arch[MK_ARCH_COUNT] = {
    [MK_ARCH_MIXTRAL] = {"MixtralForCausalLM", "mixtral"},
    [MK_ARCH_QWEN2_MOE] = {"Qwen2MoeForCausalLM", "qwen2_moe"},
    [MK_ARCH_QWEN3_MOE] = {"Qwen3MoeForCausalLM", "qwen3_moe"},
    [MK_ARCH_DEEPSEEK_V2] = {"DeepseekV2ForCausalLM", "deepseek_v2"},
    [MK_ARCH_DEEPSEEK_V3] = {"DeepseekV3ForCausalLM", "deepseek_v3"},
    [MK_ARCH_LLAMA] = {"LlamaForCausalLM", "llama"},
    [MK_ARCH_MISTRAL] = {"MistralForCausalLM", "mistral"},
    [MK_ARCH_QWEN2] = {"Qwen2ForCausalLM", "qwen2"},
    [MK_ARCH_QWEN3] = {"Qwen3ForCausalLM", "qwen3"},
};

const char *mk_arch_name(mk_arch a) {
    return (unsigned)a < MK_ARCH_COUNT ? g_arch[a].architecture : "?";
}

bool mk_arch_is_moe(mk_arch a) {
    switch (a) {
    case MK_ARCH_MIXTRAL:
    case MK_ARCH_QWEN2_MOE:
    case MK_ARCH_QWEN3_MOE:
    case MK_ARCH_DEEPSEEK_V2:
    case MK_ARCH_DEEPSEEK_V3:
        return true;
    default:
        return false;
    }
}

int mk_config_n_moe_layers(const mk_model_config *cfg) {
    if (!cfg || !cfg->is_moe) return 0;
    int n_moe = 0;
    for (int64_t l = 0; l < cfg->num_layers; l++) n_moe += cfg->is_moe[l];
    return n_moe;
}

/* What parsing needs at hand to look up keys and word its errors. */
typedef struct parser {
    json_t *root;
    const char *path;
    const char *arch_name;
    mk_error *err;
} parser;

/* A short rendering of a JSON value for messages ("\"4096\"", "1.5", "null"). */
static void describe(const json_t *v, char *buf, size_t size) {
    switch (json_typeof(v)) {
    case JSON_STRING:
        snprintf(buf, size, "\"%.40s\"%s", json_string_value(v),
                 json_string_length(v) > 40 ? "..." : "");
        break;
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: snprintf(buf, size, "%g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, size, "true"); break;
    case JSON_FALSE: snprintf(buf, size, "false"); break;
    case JSON_NULL: snprintf(buf, size, "null"); break;
    case JSON_ARRAY: snprintf(buf, size, "an array"); break;
    case JSON_OBJECT: snprintf(buf, size, "an object"); break;
    }
}

static int missing(parser *p, const char *key) {
    return mk_fail(p->err, MK_ERR_INPUT, "%s: missing required key '%s' for %s", p->path, key,
                   p->arch_name);
}

static int bad_value(parser *p, const char *key, const json_t *v, const char *wanted) {
    char shown[64];
    describe(v, shown, sizeof shown);
    return mk_fail(p->err, MK_ERR_INPUT, "%s: key '%s' must be %s, got %s", p->path, key, wanted,
                   shown);
}

/* JSON null counts as absent: transformers writes None for "use the default"
 * (q_lora_rank, n_group, sliding_window, ...). */
static json_t *lookup(parser *p, const char *key) {
    json_t *v = json_object_get(p->root, key);
    return json_is_null(v) ? NULL : v;
}

/* Reads an integer in [min_value, max_value]; `dflt` < 0 makes the key
 * required.  Only JSON integers are accepted: a real such as 4096.0 would be
 * a float in Python too and break the model's layer constructors. */
static int get_int(parser *p, const char *key, int64_t min_value, int64_t max_value, int64_t dflt,
                   int64_t *out) {
    json_t *v = lookup(p, key);
    if (!v) {
        if (dflt < 0) return missing(p, key);
        *out = dflt;
        return MK_OK;
    }
    char wanted[96];
    if (min_value == 0)
        snprintf(wanted, sizeof wanted, "an integer in [0, %" PRId64 "]", max_value);
    else
        snprintf(wanted, sizeof wanted, "a positive integer (at most %" PRId64 ")", max_value);
    if (!json_is_integer(v)) return bad_value(p, key, v, wanted);
    json_int_t value = json_integer_value(v);
    if (value < min_value || value > max_value) return bad_value(p, key, v, wanted);
    *out = (int64_t)value;
    return MK_OK;
}

/* Like get_int() but tries `alias` when `key` is absent (transformers'
 * attribute_map lets either spelling set the same attribute); messages name
 * the primary key. */
static int get_int_alias(parser *p, const char *key, const char *alias, int64_t min_value,
                         int64_t max_value, int64_t dflt, int64_t *out) {
    if (!lookup(p, key) && lookup(p, alias))
        return get_int(p, alias, min_value, max_value, dflt, out);
    return get_int(p, key, min_value, max_value, dflt, out);
}

static int get_bool(parser *p, const char *key, bool dflt, bool *out) {
    json_t *v = lookup(p, key);
    if (!v) {
        *out = dflt;
        return MK_OK;
    }
    if (!json_is_boolean(v)) return bad_value(p, key, v, "a boolean (true or false)");
    *out = json_is_true(v);
    return MK_OK;
}

static int get_positive_double(parser *p, const char *key, double dflt, double *out) {
    json_t *v = lookup(p, key);
    if (!v) {
        *out = dflt;
        return MK_OK;
    }
    if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v)))
        return bad_value(p, key, v, "a positive number");
    *out = json_number_value(v);
    return MK_OK;
}

/* A string-valued key; NULL in *out when absent. */
static int get_string(parser *p, const char *key, const char **out) {
    json_t *v = lookup(p, key);
    *out = NULL;
    if (!v) return MK_OK;
    if (!json_is_string(v)) return bad_value(p, key, v, "a string");
    *out = json_string_value(v);
    return MK_OK;
}

static int find_arch(const char *s, bool by_model_type, mk_arch *out) {
    for (int a = 0; a < MK_ARCH_COUNT; a++) {
        const char *known = by_model_type ? g_arch[a].model_type : g_arch[a].architecture;
        if (strcmp(s, known) == 0) {
            *out = (mk_arch)a;
            return 0;
        }
    }
    return -1;
}

static int unsupported(parser *p, const char *what, const char *s) {
    char supported[512] = "";
    size_t used = 0;
    for (int a = 0; a < MK_ARCH_COUNT; a++) {
        int n = snprintf(supported + used, sizeof supported - used, "%s%s", a ? ", " : "",
                         g_arch[a].architecture);
        if (n < 0 || (size_t)n >= sizeof supported - used) break;
        used += (size_t)n;
    }
    return mk_fail(p->err, MK_ERR_INPUT, "%s: unsupported %s '%.80s' (supported: %s)", p->path,
                   what, s, supported);
}

/* architectures[0] names the class transformers instantiates; model_type is
 * the fallback older or hand-written configs rely on. */
static int parse_arch(parser *p, mk_model_config *cfg) {
    json_t *archs = lookup(p, "architectures");
    if (archs && !json_is_array(archs))
        return bad_value(p, "architectures", archs, "an array of strings");
    if (archs && json_array_size(archs) > 0) {
        json_t *first = json_array_get(archs, 0);
        if (!json_is_string(first))
            return bad_value(p, "architectures[0]", first, "a string");
        if (find_arch(json_string_value(first), false, &cfg->arch) != 0)
            return unsupported(p, "architecture", json_string_value(first));
    } else {
        const char *model_type;
        int rc = get_string(p, "model_type", &model_type);
        if (rc) return rc;
        if (!model_type)
            return mk_fail(p->err, MK_ERR_INPUT,
                           "%s: neither 'architectures' nor 'model_type' is set; cannot tell the "
                           "architecture",
                           p->path);
        if (find_arch(model_type, true, &cfg->arch) != 0)
            return unsupported(p, "model_type", model_type);
    }
    snprintf(cfg->architecture, sizeof cfg->architecture, "%s", g_arch[cfg->arch].architecture);
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", g_arch[cfg->arch].model_type);
    p->arch_name = g_arch[cfg->arch].architecture;
    return MK_OK;
}

/* Newer transformers writes "dtype", older "torch_dtype"; both mean the
 * dtype the weights were saved in. */
static int parse_dtype(parser *p, mk_model_config *cfg) {
    const char *key = lookup(p, "dtype") ? "dtype" : "torch_dtype";
    const char *s;
    int rc = get_string(p, key, &s);
    if (rc) return rc;
    if (!s || strcmp(s, "bfloat16") == 0) cfg->torch_dtype = MK_DT_BF16;
    else if (strcmp(s, "float16") == 0) cfg->torch_dtype = MK_DT_F16;
    else if (strcmp(s, "float32") == 0) cfg->torch_dtype = MK_DT_F32;
    else
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: key '%s' has unsupported value '%.40s' (expected bfloat16, float16 "
                       "or float32)",
                       p->path, key, s);
    return MK_OK;
}

static int parse_common(parser *p, mk_model_config *cfg) {
    int rc;
    if ((rc = get_int(p, "hidden_size", 1, MAX_DIM, -1, &cfg->hidden_size)) ||
        (rc = get_int(p, "num_hidden_layers", 1, MAX_INDEX, -1, &cfg->num_layers)) ||
        (rc = get_int(p, "num_attention_heads", 1, MAX_DIM, -1, &cfg->num_heads)) ||
        (rc = get_int(p, "vocab_size", 1, MAX_DIM, -1, &cfg->vocab_size)) ||
        /* Required even for MoE models: dense layers (DeepSeek's first k,
         * Qwen's mlp_only_layers) use it, and Mixtral's experts do. */
        (rc = get_int(p, "intermediate_size", 1, MAX_DIM, -1, &cfg->intermediate_size)) ||
        (rc = get_int(p, "num_key_value_heads", 1, MAX_DIM, cfg->num_heads, &cfg->num_kv_heads)) ||
        (rc = get_int(p, "max_position_embeddings", 1, INT64_MAX, 0,
                      &cfg->max_position_embeddings)) ||
        (rc = get_bool(p, "tie_word_embeddings", false, &cfg->tie_word_embeddings)) ||
        /* MixtralConfig alone defaults to 1e-5. */
        (rc = get_positive_double(p, "rms_norm_eps", cfg->arch == MK_ARCH_MIXTRAL ? 1e-5 : 1e-6,
                                  &cfg->rms_norm_eps)) ||
        (rc = parse_dtype(p, cfg)))
        return rc;
    return MK_OK;
}

static int parse_attention(parser *p, mk_model_config *cfg) {
    int rc;
    if (cfg->arch == MK_ARCH_DEEPSEEK_V2 || cfg->arch == MK_ARCH_DEEPSEEK_V3) {
        cfg->attn = MK_ATTN_MLA;
        if ((rc = get_int(p, "q_lora_rank", 1, MAX_DIM, 0, &cfg->q_lora_rank)) ||
            (rc = get_int(p, "kv_lora_rank", 1, MAX_DIM, -1, &cfg->kv_lora_rank)) ||
            (rc = get_int(p, "qk_nope_head_dim", 1, MAX_DIM, -1, &cfg->qk_nope_head_dim)) ||
            (rc = get_int(p, "qk_rope_head_dim", 1, MAX_DIM, -1, &cfg->qk_rope_head_dim)) ||
            (rc = get_int(p, "v_head_dim", 1, MAX_DIM, -1, &cfg->v_head_dim)))
            return rc;
        /* MLA has no single head_dim; the query/key width is what a reader
         * of the struct needs (hidden/heads would be meaningless here). */
        cfg->head_dim = cfg->qk_nope_head_dim + cfg->qk_rope_head_dim;
        return MK_OK;
    }
    if (cfg->num_heads % cfg->num_kv_heads != 0)
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: num_attention_heads %" PRId64
                       " is not a multiple of num_key_value_heads %" PRId64,
                       p->path, cfg->num_heads, cfg->num_kv_heads);
    cfg->attn = cfg->num_kv_heads == cfg->num_heads ? MK_ATTN_MHA : MK_ATTN_GQA;
    if (!lookup(p, "head_dim") && cfg->hidden_size % cfg->num_heads != 0)
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: hidden_size %" PRId64 " is not a multiple of num_attention_heads %" PRId64
                       " and no head_dim is given",
                       p->path, cfg->hidden_size, cfg->num_heads);
    if ((rc = get_int(p, "head_dim", 1, MAX_DIM, cfg->hidden_size / cfg->num_heads,
                      &cfg->head_dim)))
        return rc;
    switch (cfg->arch) {
    case MK_ARCH_QWEN2:
    case MK_ARCH_QWEN2_MOE:
        /* Qwen2's q/k/v projections are built with bias=True unconditionally. */
        cfg->attention_bias = true;
        break;
    case MK_ARCH_MIXTRAL:
    case MK_ARCH_MISTRAL:
        /* MistralAttention/MixtralAttention have no bias, whatever the config says. */
        cfg->attention_bias = false;
        break;
    default:
        if ((rc = get_bool(p, "attention_bias", false, &cfg->attention_bias))) return rc;
        break;
    }
    cfg->qk_norm = cfg->arch == MK_ARCH_QWEN3 || cfg->arch == MK_ARCH_QWEN3_MOE;
    return MK_OK;
}

/* Validates the routing keys against each other; messages name both keys. */
static int check_routing(parser *p, mk_model_config *cfg, const char *experts_key) {
    if (cfg->top_k > cfg->n_routed_experts)
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: num_experts_per_tok %" PRId64 " exceeds %s %" PRId64, p->path,
                       cfg->top_k, experts_key, cfg->n_routed_experts);
    if (cfg->topk_method == MK_TOPK_GREEDY) return MK_OK;
    if (cfg->n_routed_experts % cfg->n_group != 0)
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: %s %" PRId64 " is not a multiple of n_group %" PRId64, p->path,
                       experts_key, cfg->n_routed_experts, cfg->n_group);
    if (cfg->topk_group > cfg->n_group)
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: topk_group %" PRId64 " exceeds n_group %" PRId64, p->path,
                       cfg->topk_group, cfg->n_group);
    /* Group-limited routing picks top_k experts among the topk_group groups
     * it keeps; fewer candidates than top_k cannot be routed. */
    int64_t candidates = cfg->topk_group * (cfg->n_routed_experts / cfg->n_group);
    if (candidates < cfg->top_k)
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: num_experts_per_tok %" PRId64 " exceeds the %" PRId64
                       " experts in topk_group %" PRId64 " of n_group %" PRId64 " groups",
                       p->path, cfg->top_k, candidates, cfg->topk_group, cfg->n_group);
    return MK_OK;
}

static int parse_mixtral(parser *p, mk_model_config *cfg) {
    int rc;
    if ((rc = get_int_alias(p, "num_local_experts", "num_experts", 1, MAX_INDEX, -1,
                            &cfg->n_routed_experts)) ||
        (rc = get_int(p, "num_experts_per_tok", 1, MAX_INDEX, 2, &cfg->top_k)))
        return rc;
    cfg->moe_intermediate_size = cfg->intermediate_size;
    /* Mixtral softmaxes the selected logits, i.e. renormalises the top-k. */
    cfg->norm_topk_prob = true;
    for (int64_t l = 0; l < cfg->num_layers; l++) cfg->is_moe[l] = true;
    return check_routing(p, cfg, "num_local_experts");
}

static int parse_qwen_moe(parser *p, mk_model_config *cfg) {
    bool qwen2 = cfg->arch == MK_ARCH_QWEN2_MOE;
    int64_t sparse_step;
    int rc;
    if ((rc = get_int(p, "num_experts", 1, MAX_INDEX, -1, &cfg->n_routed_experts)) ||
        (rc = get_int(p, "num_experts_per_tok", 1, MAX_INDEX, qwen2 ? 4 : 8, &cfg->top_k)) ||
        (rc = get_int(p, "moe_intermediate_size", 1, MAX_DIM, -1, &cfg->moe_intermediate_size)) ||
        /* Qwen2MoeConfig and Qwen3MoeConfig both default to False. */
        (rc = get_bool(p, "norm_topk_prob", false, &cfg->norm_topk_prob)) ||
        (rc = get_int(p, "decoder_sparse_step", 1, MAX_INDEX, 1, &sparse_step)))
        return rc;
    if (qwen2) {
        /* Absent means no shared expert (vLLM builds one only when the width
         * is > 0) rather than Qwen2MoeConfig's model-specific 5632. */
        if ((rc = get_int(p, "shared_expert_intermediate_size", 0, MAX_DIM, 0,
                          &cfg->shared_intermediate_size)))
            return rc;
        if (cfg->shared_intermediate_size > 0) {
            cfg->n_shared_experts = 1;
            cfg->shared_expert_gate = true;
        }
    }
    for (int64_t l = 0; l < cfg->num_layers; l++) cfg->is_moe[l] = (l + 1) % sparse_step == 0;
    json_t *dense = lookup(p, "mlp_only_layers");
    if (dense && !json_is_array(dense))
        return bad_value(p, "mlp_only_layers", dense, "an array of layer numbers");
    size_t i;
    json_t *v;
    json_array_foreach(dense, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return bad_value(p, "mlp_only_layers", v, "a list of non-negative layer numbers");
        if (json_integer_value(v) < cfg->num_layers) cfg->is_moe[json_integer_value(v)] = false;
    }
    return check_routing(p, cfg, "num_experts");
}

static int parse_enum(parser *p, const char *key, const char *dflt, const char *const *names,
                      int n_names, int *out) {
    const char *s;
    int rc = get_string(p, key, &s);
    if (rc) return rc;
    if (!s) s = dflt;
    for (int i = 0; i < n_names; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return MK_OK;
        }
    }
    char expected[160] = "";
    size_t used = 0;
    for (int i = 0; i < n_names && used < sizeof expected; i++) {
        int n = snprintf(expected + used, sizeof expected - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    return mk_fail(p->err, MK_ERR_INPUT, "%s: key '%s' has unsupported value '%.40s' (expected %s)",
                   p->path, key, s, expected);
}

static int parse_deepseek(parser *p, mk_model_config *cfg) {
    bool v3 = cfg->arch == MK_ARCH_DEEPSEEK_V3;
    static const char *const scorings[] = {[MK_SCORE_SOFTMAX] = "softmax",
                                           [MK_SCORE_SIGMOID] = "sigmoid"};
    static const char *const methods[] = {[MK_TOPK_GREEDY] = "greedy",
                                          [MK_TOPK_GROUP_LIMITED_GREEDY] = "group_limited_greedy",
                                          [MK_TOPK_NOAUX_TC] = "noaux_tc"};
    int64_t first_dense, layer_freq;
    int scoring, method;
    int rc;
    if ((rc = get_int_alias(p, "n_routed_experts", "num_local_experts", 1, MAX_INDEX, -1,
                            &cfg->n_routed_experts)) ||
        (rc = get_int(p, "num_experts_per_tok", 1, MAX_INDEX, -1, &cfg->top_k)) ||
        (rc = get_int(p, "moe_intermediate_size", 1, MAX_DIM, -1, &cfg->moe_intermediate_size)) ||
        (rc = get_int(p, "n_shared_experts", 0, MAX_INDEX, 0, &cfg->n_shared_experts)) ||
        (rc = get_int(p, "first_k_dense_replace", 0, MAX_INDEX, 0, &first_dense)) ||
        (rc = get_int(p, "moe_layer_freq", 1, MAX_INDEX, 1, &layer_freq)) ||
        (rc = get_int(p, "n_group", 1, MAX_INDEX, 1, &cfg->n_group)) ||
        (rc = get_int(p, "topk_group", 1, MAX_INDEX, 1, &cfg->topk_group)) ||
        (rc = get_positive_double(p, "routed_scaling_factor", 1.0, &cfg->routed_scaling_factor)) ||
        (rc = get_bool(p, "norm_topk_prob", v3, &cfg->norm_topk_prob)) ||
        (rc = parse_enum(p, "scoring_func", v3 ? "sigmoid" : "softmax", scorings, 2, &scoring)) ||
        (rc = parse_enum(p, "topk_method", v3 ? "noaux_tc" : "greedy", methods, 3, &method)))
        return rc;
    /* Multi-token prediction layers exist only in V3 checkpoints. */
    if (v3 && (rc = get_int(p, "num_nextn_predict_layers", 0, MAX_INDEX, 0,
                            &cfg->num_nextn_predict_layers)))
        return rc;
    if (cfg->num_layers + cfg->num_nextn_predict_layers > MAX_INDEX + 1)
        return mk_fail(p->err, MK_ERR_INPUT,
                       "%s: num_hidden_layers + num_nextn_predict_layers exceeds %" PRId64,
                       p->path, MAX_INDEX + 1);
    cfg->scoring = (mk_scoring)scoring;
    cfg->topk_method = (mk_topk_method)method;
    cfg->has_correction_bias = cfg->topk_method == MK_TOPK_NOAUX_TC;
    cfg->shared_intermediate_size = cfg->moe_intermediate_size * cfg->n_shared_experts;
    for (int64_t l = 0; l < cfg->num_layers; l++)
        cfg->is_moe[l] = l >= first_dense && l % layer_freq == 0;
    return check_routing(p, cfg, "n_routed_experts");
}

static int parse_moe(parser *p, mk_model_config *cfg) {
    cfg->scoring = MK_SCORE_SOFTMAX;
    cfg->topk_method = MK_TOPK_GREEDY;
    cfg->n_group = 1;
    cfg->topk_group = 1;
    cfg->routed_scaling_factor = 1.0;
    switch (cfg->arch) {
    case MK_ARCH_MIXTRAL: return parse_mixtral(p, cfg);
    case MK_ARCH_QWEN2_MOE:
    case MK_ARCH_QWEN3_MOE: return parse_qwen_moe(p, cfg);
    case MK_ARCH_DEEPSEEK_V2:
    case MK_ARCH_DEEPSEEK_V3: return parse_deepseek(p, cfg);
    default: return MK_OK; /* dense: is_moe stays all false */
    }
}

int mk_config_parse(const char *json_text, size_t len, const char *path, mk_model_config *out,
                    mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!path) path = "config.json";
    json_error_t jerr;
    json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mk_fail(err, MK_ERR_INPUT, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
                       jerr.column, jerr.text);
    parser p = {.root = root, .path = path, .arch_name = "?", .err = err};
    mk_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc;
    if (!json_is_object(root)) {
        rc = mk_fail(err, MK_ERR_INPUT, "%s: config is not a JSON object", path);
        goto done;
    }
    if ((rc = parse_arch(&p, &cfg)) || (rc = parse_common(&p, &cfg)) ||
        (rc = parse_attention(&p, &cfg)))
        goto done;
    cfg.is_moe = calloc((size_t)cfg.num_layers, sizeof *cfg.is_moe);
    if (!cfg.is_moe) {
        rc = mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
        goto done;
    }
    if ((rc = parse_moe(&p, &cfg))) goto done;
    *out = cfg;
    cfg.is_moe = NULL;
done:
    free(cfg.is_moe);
    json_decref(root);
    return rc;
}

int mk_config_load(const char *path, mk_model_config *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    /* mk_read_file refuses FIFOs and devices without blocking, and caps the size. */
    char *text;
    size_t len;
    int rc = mk_read_file(path, 64u << 20, &text, &len, err);
    if (rc) return rc;
    rc = mk_config_parse(text, len, path, out, err);
    free(text);
    return rc;
}

void mk_config_free(mk_model_config *cfg) {
    if (!cfg) return;
    free(cfg->is_moe);
    memset(cfg, 0, sizeof *cfg);
}
