/*
 * The memory planner (see moekit/plan.h and docs/planner.md).
 *
 * Weights are sized tensor by tensor from the model's expected tensor list
 * (the same list `inspect` and `synth` use), each in the format it would be
 * stored in, scales included; then each tensor is placed the way vLLM
 * shards it: vocab-parallel embeddings and heads, TP-split projections,
 * replicated norms, routers and MLA's q_a/kv_a projections, experts split
 * over the tensor-parallel group, layers over pipeline stages.
 */
#include "moekit/plan.h"

#include "formats/regex_guard.h"

#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1024.0 * 1024.0 * 1024.0)
#define MAX_STAGES 64

/* vLLM's profiled activation peak is dominated by the sampler's FP32
 * [max_num_seqs, vocab] buffers: the llm-d H100 study (docs/planner.md)
 * measured 4.76-5.64 GiB for Llama-3.1-8B, Qwen3-0.6B/32B and Llama-3.3-70B,
 * i.e. 9.6-9.9 such buffers at max_num_seqs 1024. */
#define SAMPLER_BUFFERS 9.65
/* Non-torch memory (NCCL, attention workspaces), same study: 0.13 GiB on one
 * GPU, 0.54-0.55 GiB with tensor parallelism. */
#define NON_TORCH_1 (0.13 * GIB)
#define NON_TORCH_N (0.55 * GIB)
/* CUDA graph memory, observed -0.88..+1.03 GiB (llm-d; vLLM PR #21489). */
#define CUDAGRAPH_DENSE (0.5 * GIB)
#define CUDAGRAPH_MOE (1.0 * GIB)

static const char *const k_quant_names[MK_PQ_COUNT] = {"auto", "bf16", "fp16", "fp8", "fp8-block",
                                                       "fp8-channel", "int8", "int4"};
static const char *const k_class_names[MK_WCLASS_COUNT] = {
    "attention", "dense_mlp", "routed_experts", "shared_experts", "router",
    "embedding", "lm_head", "norm", "mtp"};

const char *mk_plan_quant_name(mk_plan_quant q) { return (unsigned)q < MK_PQ_COUNT ? k_quant_names[q] : "?"; }
const char *mk_wclass_name(int c) { return (unsigned)c < MK_WCLASS_COUNT ? k_class_names[c] : "?"; }

int mk_plan_quant_parse(const char *s, mk_plan_quant *out) {
    for (int i = 0; i < MK_PQ_COUNT; i++)
        if (strcmp(s, k_quant_names[i]) == 0) {
            *out = (mk_plan_quant)i;
            return 0;
        }
    return -1;
}

void mk_plan_defaults(mk_plan_opts *o) {
    memset(o, 0, sizeof *o);
    o->util = 0.9;
    o->ctx = 8192;
    o->seqs = 1;
    o->block_size = 16;
}

/* How one linear weight is stored. */
typedef enum { ST_FLOAT, ST_TENSOR, ST_CHANNEL, ST_BLOCK, ST_GROUP } strat;
typedef struct qspec {
    int bits;          /* 0: unquantized, stored in the model dtype */
    strat s;
    int group;         /* ST_GROUP */
    int scale_bytes;
    double zero_bytes; /* per group (GPTQ/AWQ zero points) */
} qspec;

static qspec spec_of(mk_plan_quant q, int model_bytes) {
    switch (q) {
    case MK_PQ_FP8: return (qspec){8, ST_TENSOR, 0, 4, 0};
    case MK_PQ_FP8_BLOCK: return (qspec){8, ST_BLOCK, 0, 4, 0};
    case MK_PQ_FP8_CHANNEL:
    case MK_PQ_INT8: return (qspec){8, ST_CHANNEL, 0, 4, 0};
    case MK_PQ_INT4: return (qspec){4, ST_GROUP, 128, model_bytes, 0};
    default: return (qspec){0, ST_FLOAT, 0, 0, 0};
    }
}

static double qbytes(const qspec *q, int64_t N, int64_t K, int elem_bytes) {
    double n = (double)N, k = (double)K;
    if (!q->bits) return n * k * elem_bytes;
    double b = n * k * q->bits / 8.0;
    switch (q->s) {
    case ST_TENSOR: return b + q->scale_bytes;
    case ST_CHANNEL: return b + n * q->scale_bytes;
    case ST_BLOCK: return b + ceil(n / 128) * ceil(k / 128) * q->scale_bytes;
    case ST_GROUP: return b + n * ceil(k / q->group) * (q->scale_bytes + q->zero_bytes);
    default: return b;
    }
}

/* ---- the config's own quantization_config (--quant auto) ---- */

typedef struct group {
    qspec q;
    json_t *targets;
    bool linear;       /* targets a Linear class */
} group;

typedef struct autoq {
    bool present;
    qspec single;      /* fp8 / awq / gptq: one scheme */
    group *groups;     /* compressed-tensors */
    int n_groups;
    json_t *ignore;
    char label[48];
} autoq;

static bool matches(const char *target, const char *module) {
    if (strncmp(target, "re:", 3) != 0) return strcmp(target, module) == 0;
    regex_t re;
    char buf[1024];
    const char *why;
    if (!mk_regex_safe(target + 3, &why)) return false; /* from config.json: untrusted */
    snprintf(buf, sizeof buf, "^(%s)", target + 3);
    if (regcomp(&re, buf, REG_EXTENDED | REG_NOSUB)) return false;
    bool m = regexec(&re, module, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static bool in_list(json_t *list, const char *module) {
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s && matches(s, module)) return true;
    }
    return false;
}

static qspec ct_spec(json_t *w, int model_bytes) {
    qspec q = {0, ST_FLOAT, 0, 4, 0};
    q.bits = (int)json_integer_value(json_object_get(w, "num_bits"));
    const char *st = json_string_value(json_object_get(w, "strategy"));
    const char *type = json_string_value(json_object_get(w, "type"));
    json_t *gs = json_object_get(w, "group_size");
    q.group = json_is_integer(gs) ? (int)json_integer_value(gs) : 128;
    if (!st) st = json_is_integer(gs) && q.group > 0 ? "group" : "tensor";
    q.s = !strcmp(st, "channel") ? ST_CHANNEL : !strcmp(st, "block") ? ST_BLOCK
          : !strcmp(st, "group") ? ST_GROUP : ST_TENSOR;
    /* group scales are kept in the model dtype (compressed-tensors, vLLM WNA16) */
    if (q.s == ST_GROUP || (type && !strcmp(type, "int") && q.bits < 8)) q.scale_bytes = model_bytes;
    return q;
}

static void parse_auto(const char *config_json, int model_bytes, autoq *a) {
    memset(a, 0, sizeof *a);
    snprintf(a->label, sizeof a->label, "unquantized");
    if (!config_json) return;
    json_t *root = json_loads(config_json, 0, NULL);
    json_t *qc = json_object_get(root, "quantization_config");
    if (!json_is_object(qc)) qc = json_object_get(root, "compression_config");
    const char *m = json_string_value(json_object_get(qc, "quant_method"));
    if (!m) {
        json_decref(root);
        return;
    }
    a->present = true;
    if (!strcmp(m, "fp8")) {
        bool block = json_is_array(json_object_get(qc, "weight_block_size"));
        a->single = block ? spec_of(MK_PQ_FP8_BLOCK, 2) : spec_of(MK_PQ_FP8, 2);
        json_t *ig = json_object_get(qc, "ignored_layers");
        if (!json_array_size(ig)) ig = json_object_get(qc, "modules_to_not_convert");
        a->ignore = json_incref(ig);
        snprintf(a->label, sizeof a->label, "%s", block ? "fp8-block (config)" : "fp8 (config)");
    } else if (!strcmp(m, "compressed-tensors")) {
        json_t *groups = json_object_get(qc, "config_groups");
        a->groups = calloc(json_object_size(groups) + 1, sizeof *a->groups);
        const char *k;
        json_t *g;
        json_object_foreach(groups, k, g) {
            group *gr = &a->groups[a->n_groups++];
            gr->q = ct_spec(json_object_get(g, "weights"), model_bytes);
            gr->targets = json_incref(json_object_get(g, "targets"));
            size_t i;
            json_t *t;
            json_array_foreach(gr->targets, i, t) {
                const char *s = json_string_value(t);
                size_t n = s ? strlen(s) : 0;
                if (n >= 6 && !strcmp(s + n - 6, "Linear")) gr->linear = true;
            }
        }
        a->ignore = json_incref(json_object_get(qc, "ignore"));
        snprintf(a->label, sizeof a->label, "compressed-tensors (config)");
    } else if (!strcmp(m, "awq") || !strcmp(m, "gptq")) {
        int bits = (int)json_integer_value(json_object_get(qc, "bits"));
        json_t *gs = json_object_get(qc, "group_size");
        a->single = (qspec){bits ? bits : 4, ST_GROUP, json_is_integer(gs) && json_integer_value(gs) > 0
                                                          ? (int)json_integer_value(gs) : 128,
                            2, (bits ? bits : 4) / 8.0};
        a->ignore = json_incref(json_object_get(qc, "modules_to_not_convert"));
        snprintf(a->label, sizeof a->label, "%s int%d (config)", m, a->single.bits);
    } else {
        a->present = false;
    }
    json_decref(root);
}

static void free_auto(autoq *a) {
    for (int i = 0; i < a->n_groups; i++) json_decref(a->groups[i].targets);
    free(a->groups);
    json_decref(a->ignore);
}

static qspec auto_spec(const autoq *a, const char *module) {
    qspec none = {0, ST_FLOAT, 0, 0, 0};
    if (!a->present || (a->ignore && in_list(a->ignore, module))) return none;
    if (!a->n_groups) return a->single;
    for (int i = 0; i < a->n_groups; i++)
        if (in_list(a->groups[i].targets, module)) return a->groups[i].q;
    for (int i = 0; i < a->n_groups; i++)
        if (a->groups[i].linear) return a->groups[i].q;
    return none;
}

/* ---- weights per tensor, placed on stages and ranks ---- */

typedef struct acc {
    const mk_model_config *cfg;
    mk_plan_quant quant;
    autoq au;
    bool mtp;
    int model_bytes;
    mk_plan_result *r;
    /* per tensor placement, summed: [stage-relevant layer][split?] */
    double *layer_split, *layer_repl;   /* per decoder layer (incl. MTP at the end) */
    double *layer_expert;               /* routed experts per layer */
    double first_split, last_split, last_repl;
    bool experts_block, dense_block;    /* block-quantized expert / dense weights */
} acc;

static bool linear_weight(const mk_expected_tensor *t) {
    if (t->ndim != 2) return false;
    switch (t->role.kind) {
    case MK_T_ATTENTION: case MK_T_DENSE_MLP: case MK_T_ROUTED_EXPERT: case MK_T_SHARED_EXPERT: return true;
    case MK_T_MTP:
        return (strstr(t->name, ".self_attn.") || strstr(t->name, ".mlp.")) && !strstr(t->name, ".mlp.gate.") &&
               !strstr(t->name, "shared_expert_gate");
    default: return false;
    }
}

static int on_tensor(const mk_expected_tensor *t, void *ctx) {
    acc *a = ctx;
    mk_plan_result *r = a->r;
    uint64_t elems = 1;
    for (int d = 0; d < t->ndim; d++) elems *= (uint64_t)t->shape[d];
    bool mtp = t->role.kind == MK_T_MTP;
    if (mtp) r->params.mtp += elems;
    else r->params.total += elems;
    if (t->role.kind == MK_T_EMBEDDING) r->params.embedding += elems;
    if (t->role.kind == MK_T_ROUTED_EXPERT) r->params.routed += elems;
    if (mtp && !a->mtp) return 0;
    int eb = (int)mk_dtype_size(t->dtype);
    double bytes = (double)elems * eb;
    if (linear_weight(t)) {
        char module[192];
        snprintf(module, sizeof module, "%.*s", (int)strlen(t->name) - 7, t->name); /* minus ".weight" */
        qspec q = a->quant == MK_PQ_AUTO ? auto_spec(&a->au, module) : spec_of(a->quant, a->model_bytes);
        if (a->quant == MK_PQ_BF16 || a->quant == MK_PQ_FP16) eb = 2;
        bytes = qbytes(&q, t->shape[0], t->shape[1], eb);
        if (q.s == ST_BLOCK) {
            if (t->role.kind == MK_T_ROUTED_EXPERT || (mtp && t->role.expert >= 0)) a->experts_block = true;
            else if (t->role.kind == MK_T_DENSE_MLP || t->role.kind == MK_T_SHARED_EXPERT) a->dense_block = true;
        }
    } else if ((a->quant == MK_PQ_BF16 || a->quant == MK_PQ_FP16) && t->dtype != MK_DT_F32) {
        bytes = (double)elems * 2;
    }
    int cls;
    switch (t->role.kind) {
    case MK_T_ATTENTION: cls = MK_WCLASS_ATTENTION; break;
    case MK_T_DENSE_MLP: cls = MK_WCLASS_DENSE_MLP; break;
    case MK_T_ROUTED_EXPERT: cls = MK_WCLASS_ROUTED; break;
    case MK_T_SHARED_EXPERT: cls = MK_WCLASS_SHARED; break;
    case MK_T_ROUTER: cls = MK_WCLASS_ROUTER; break;
    case MK_T_EMBEDDING: cls = MK_WCLASS_EMBEDDING; break;
    case MK_T_LM_HEAD: cls = MK_WCLASS_LM_HEAD; break;
    case MK_T_MTP: cls = MK_WCLASS_MTP; break;
    default: cls = MK_WCLASS_NORM; break;
    }
    r->weight_bytes_by_class[cls] += bytes;
    r->weight_bytes_total += bytes;
    /* Replicated on every TP rank: norms, routers, MLA's q_a / kv_a
     * projections (vLLM builds them unsharded), MTP's eh_proj. */
    bool repl = cls == MK_WCLASS_NORM || cls == MK_WCLASS_ROUTER || t->ndim < 2 ||
                strstr(t->name, "q_a_proj") || strstr(t->name, "kv_a_proj_with_mqa") ||
                strstr(t->name, "eh_proj") || strstr(t->name, "norm");
    int64_t L = t->role.layer;
    if (cls == MK_WCLASS_EMBEDDING) a->first_split += bytes;
    else if (cls == MK_WCLASS_LM_HEAD) a->last_split += bytes;
    else if (L < 0) a->last_repl += bytes; /* final norm */
    else if (repl) a->layer_repl[L] += bytes;
    else if (t->role.expert >= 0) a->layer_expert[L] += bytes;
    else a->layer_split[L] += bytes;
    return 0;
}

static double non_torch(int gpus) { return gpus > 1 ? NON_TORCH_N : NON_TORCH_1; }

/* One layout: weights per GPU on the fullest stage, activation, KV. */
static void eval_layout(const acc *a, const mk_plan_opts *o, mk_plan_result *r, int tp, int pp, bool ep,
                        int gpus, int expert_shards, mk_plan_layout *l) {
    const mk_model_config *c = a->cfg;
    memset(l, 0, sizeof *l);
    l->gpus = gpus;
    l->tp = tp;
    l->pp = pp;
    l->ep = ep;
    l->valid = true;
    int64_t n_layers = c->num_layers + (a->mtp ? c->num_nextn_predict_layers : 0);
    if (c->num_heads % tp) {
        l->valid = false;
        snprintf(l->why, sizeof l->why, "TP %d does not divide the %lld attention heads", tp, (long long)c->num_heads);
    } else if (c->attn != MK_ATTN_MLA && c->num_kv_heads % tp && tp % c->num_kv_heads) {
        l->valid = false;
        snprintf(l->why, sizeof l->why, "TP %d and the %lld KV heads do not divide one another", tp,
                 (long long)c->num_kv_heads);
    } else if (pp > c->num_layers) {
        l->valid = false;
        snprintf(l->why, sizeof l->why, "PP %d exceeds the %lld layers", pp, (long long)c->num_layers);
    } else if (a->experts_block && !ep && c->moe_intermediate_size % (128 * tp)) {
        l->valid = false;
        snprintf(l->why, sizeof l->why,
                 "block FP8 experts: moe_intermediate_size %lld / TP %d is not a multiple of 128 (use EP)",
                 (long long)c->moe_intermediate_size, tp);
    } else if (a->dense_block && ((c->intermediate_size % (128 * tp) && mk_config_n_moe_layers(c) < c->num_layers) ||
                                  (c->shared_intermediate_size && c->shared_intermediate_size % (128 * tp)))) {
        l->valid = false;
        snprintf(l->why, sizeof l->why, "block FP8 dense/shared MLP width / TP %d is not a multiple of 128", tp);
    }
    /* Stages: contiguous layer ranges; embeddings on the first, head on the last. */
    double worst = 0;
    int worst_layers = 0;
    for (int s = 0; s < pp; s++) {
        int64_t lo = c->num_layers * s / pp, hi = c->num_layers * (s + 1) / pp;
        if (s == pp - 1) hi = n_layers;
        double b = 0;
        /* Experts go over `expert_shards` ranks (the TP group, or with EP
         * across nodes every GPU); everything else that is split, over TP. */
        for (int64_t L = lo; L < hi; L++)
            b += a->layer_repl[L] + a->layer_split[L] / tp + a->layer_expert[L] / expert_shards;
        if (s == 0) b += a->first_split / tp;
        if (s == pp - 1) b += a->last_split / tp + a->last_repl;
        if (b > worst) {
            worst = b;
            worst_layers = (int)(hi - lo);
        }
    }
    l->layers_per_stage = worst_layers;
    l->weight_bytes_per_gpu = worst;
    l->budget_bytes = r->mem_bytes * o->util;
    /* Activation: the larger of the sampler's buffers and the forward pass's
     * token workspace (max_num_batched_tokens x widths, BF16). */
    double widest = (double)c->intermediate_size;
    if (c->n_routed_experts) {
        double moe = (double)(c->top_k * c->moe_intermediate_size);
        widest = fmax(widest, fmax(moe, (double)c->shared_intermediate_size));
    }
    r->forward_bytes = (double)r->max_num_batched_tokens * 2.0 * (8.0 * (double)c->hidden_size + 2.0 * widest / tp);
    l->activation_bytes = fmax(r->sampler_bytes, r->forward_bytes);
    l->non_torch_bytes = non_torch(gpus);
    l->cudagraph_bytes = c->n_routed_experts ? CUDAGRAPH_MOE : CUDAGRAPH_DENSE;
    l->kv_cache_bytes = l->budget_bytes - l->weight_bytes_per_gpu - l->activation_bytes - l->non_torch_bytes;
    l->free_bytes = r->mem_bytes - l->budget_bytes - l->cudagraph_bytes;
    /* KV bytes per token on one GPU (vLLM get_num_kv_heads, MLA spec). */
    uint64_t per_layer = c->attn == MK_ATTN_MLA
                             ? (uint64_t)(c->kv_lora_rank + c->qk_rope_head_dim) * (uint64_t)r->kv_dtype_bytes
                             : 2ull * (uint64_t)(c->num_kv_heads / tp > 0 ? c->num_kv_heads / tp : 1) *
                                   (uint64_t)c->head_dim * (uint64_t)r->kv_dtype_bytes;
    int kv_layers = (int)(c->num_layers / pp + (c->num_layers % pp ? 1 : 0));
    l->kv_bytes_per_token = per_layer * (uint64_t)kv_layers;
    int bs = o->block_size > 0 ? o->block_size : 16;
    if (l->kv_cache_bytes > 0 && l->kv_bytes_per_token) {
        int64_t blocks = (int64_t)(l->kv_cache_bytes / (double)(l->kv_bytes_per_token * (uint64_t)bs));
        l->kv_tokens = blocks * bs;
    }
    /* DP attention across nodes (EP across nodes) keeps one KV pool per node. */
    int replicas = gpus / (tp * pp);
    l->max_concurrency = o->ctx > 0 ? (double)l->kv_tokens * replicas / (double)o->ctx : 0;
    l->fits = l->valid && l->kv_cache_bytes > 0 && (double)l->kv_tokens * replicas >= (double)o->ctx * (double)o->seqs;
}

int mk_plan(const mk_model_config *cfg, const char *config_json, const mk_plan_opts *o, mk_plan_result *r,
            mk_error *err) {
    memset(r, 0, sizeof *r);
    if (!o->gpu) return mk_fail(err, MK_ERR_INPUT, "no GPU given (--gpu NAME or --gpu-mem GIB)");
    if (o->util <= 0 || o->util > 1) return mk_fail(err, MK_ERR_INPUT, "--util must be in (0, 1]");
    acc a = {.cfg = cfg, .quant = o->quant, .mtp = o->mtp, .r = r};
    a.model_bytes = (int)mk_dtype_size(cfg->torch_dtype);
    int64_t n_layers = cfg->num_layers + cfg->num_nextn_predict_layers;
    a.layer_split = calloc((size_t)n_layers + 1, sizeof(double));
    a.layer_repl = calloc((size_t)n_layers + 1, sizeof(double));
    a.layer_expert = calloc((size_t)n_layers + 1, sizeof(double));
    if (!a.layer_split || !a.layer_repl || !a.layer_expert) {
        free(a.layer_split);
        free(a.layer_repl);
        free(a.layer_expert);
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    if (o->quant == MK_PQ_AUTO) parse_auto(config_json, a.model_bytes, &a.au);
    snprintf(r->weight_format, sizeof r->weight_format, "%s",
             o->quant == MK_PQ_AUTO ? (a.au.present ? a.au.label : mk_dtype_short(cfg->torch_dtype))
                                    : mk_plan_quant_name(o->quant));
    mk_model_expected(cfg, on_tensor, &a);
    /* Active per token: everything but the routed experts a token skips. */
    uint64_t skipped = 0;
    if (cfg->n_routed_experts)
        skipped = r->params.routed - r->params.routed / (uint64_t)cfg->n_routed_experts * (uint64_t)cfg->top_k;
    r->params.active = r->params.total - skipped;
    r->mla = cfg->attn == MK_ATTN_MLA;
    r->kv_dtype_bytes = o->kv_dtype == MK_KV_FP8 ? 1 : o->kv_dtype == MK_KV_BF16 ? 2 : a.model_bytes;
    if (r->kv_dtype_bytes > 2 && o->kv_dtype == MK_KV_AUTO) r->kv_dtype_bytes = 2;
    r->mem_bytes = o->gpu->mem_gib * GIB;
    /* vLLM's defaults: 1024 sequences / 8192 batched tokens on GPUs of at
     * least 70 GiB, else 256 / 2048 (vllm/engine/arg_utils.py). */
    bool big = o->gpu->mem_gib >= 70.0;
    r->max_num_seqs = o->max_num_seqs > 0 ? o->max_num_seqs : big ? 1024 : 256;
    r->max_num_batched_tokens = o->max_num_batched_tokens > 0 ? o->max_num_batched_tokens : big ? 8192 : 2048;
    r->sampler_bytes = SAMPLER_BUFFERS * r->max_num_seqs * (double)cfg->vocab_size * 4.0;
    if (o->gpus || o->tp || o->pp) {
        int tp = o->tp ? o->tp : (o->gpus ? (o->gpus < 8 ? o->gpus : 8) : 1);
        int pp = o->pp ? o->pp : (o->gpus && o->gpus > tp ? o->gpus / tp : 1);
        int gpus = o->gpus ? o->gpus : tp * pp;
        if (tp < 1 || pp < 1 || gpus % (tp * pp) || pp > MAX_STAGES) {
            free_auto(&a.au);
            free(a.layer_split);
            free(a.layer_repl);
            free(a.layer_expert);
            return mk_fail(err, MK_ERR_INPUT, "--gpus %d is not a multiple of TP %d x PP %d", gpus, tp, pp);
        }
        int shards = o->ep ? gpus / pp : tp;
        eval_layout(&a, o, r, tp, pp, o->ep, gpus, shards, &r->chosen);
        r->found = r->chosen.fits;
    } else {
        /* The canonical layouts in order of GPU count: 1, 2, 4, 8 GPUs in a
         * node (TP = GPUs; block-FP8 experts that TP cannot split fall back
         * to EP), then whole nodes: TP 8 with PP across nodes, or TP 8 with
         * the experts spread over every GPU (EP across nodes, DP attention). */
        enum { MAX_LAYOUTS = 4 + 2 * 15 };
        mk_plan_layout *ls = calloc(MAX_LAYOUTS, sizeof *ls);
        int n = 0;
        for (int k = 0; ls && k < 4; k++, n++) {
            int g = 1 << k;
            eval_layout(&a, o, r, g, 1, false, g, g, &ls[n]);
            if (!ls[n].valid && a.experts_block) eval_layout(&a, o, r, g, 1, true, g, g, &ls[n]);
        }
        for (int nodes = 2; ls && nodes <= 16; nodes++) {
            eval_layout(&a, o, r, 8, nodes, false, 8 * nodes, 8, &ls[n]);
            if (!ls[n].valid && a.experts_block) eval_layout(&a, o, r, 8, nodes, true, 8 * nodes, 8, &ls[n]);
            n++;
            if (cfg->n_routed_experts) eval_layout(&a, o, r, 8, 1, true, 8 * nodes, 8 * nodes, &ls[n++]);
        }
        int chosen = -1;
        for (int i = 0; i < n && chosen < 0; i++)
            if (ls[i].fits) chosen = i;
        /* Among equal GPU counts prefer the layout with more KV room. */
        if (chosen >= 0 && chosen + 1 < n && ls[chosen + 1].fits && ls[chosen + 1].gpus == ls[chosen].gpus &&
            ls[chosen + 1].kv_cache_bytes > ls[chosen].kv_cache_bytes)
            chosen++;
        r->found = chosen >= 0;
        r->chosen = ls && n ? ls[chosen >= 0 ? chosen : n - 1] : r->chosen;
        for (int i = (chosen >= 0 ? chosen + 1 : 0); ls && i < n && r->n_candidates < 3; i++)
            if (ls[i].gpus != r->chosen.gpus || ls[i].ep != r->chosen.ep || ls[i].pp != r->chosen.pp)
                r->candidates[r->n_candidates++] = ls[i];
        free(ls);
    }
    free_auto(&a.au);
    free(a.layer_split);
    free(a.layer_repl);
    free(a.layer_expert);
    return MK_OK;
}
