/*
 * Conversion planning: from headers and config.json to a plan (see
 * convert_impl.h).  No tensor data is read here.
 *
 * What gets quantized: the 2-D `weight` of every linear module of the decoder
 * (attention projections, dense MLPs, routed and shared experts, and the same
 * modules inside DeepSeek's MTP layers).  What stays in source precision:
 * embeddings, lm_head, norms, biases, routers (mlp.gate, block_sparse_moe.gate,
 * shared_expert_gate, e_score_correction_bias), MTP's eh_proj and
 * shared_head, and every 1-D tensor - vLLM builds all of these unquantized
 * (routers "always run at half / full precision", mixtral.py; DeepSeek's
 * gate asserts quant_config is None), so a quantized copy would be misloaded.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fileio.h"
#include "lib/convert_impl.h"
#include "moekit/recipe.h"

static const char *const k_shard_names[] = {"expert", "layer-expert", "size"};

const char *mk_shard_by_name(mk_shard_by s) {
    return (unsigned)s < 3 ? k_shard_names[s] : "?";
}

int mk_shard_by_parse(const char *s, mk_shard_by *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(s, k_shard_names[i]) == 0) {
            *out = (mk_shard_by)i;
            return 0;
        }
    return -1;
}

void mk_convert_defaults(mk_convert_opts *o) {
    memset(o, 0, sizeof *o);
    o->scheme = MK_SCHEME_FP8_BLOCK;
    o->shard_by = MK_SHARD_BY_EXPERT;
    o->max_shard_bytes = 5000000000ull; /* huggingface_hub's default "5GB" */
}

static bool is_float(mk_dtype d) { return d == MK_DT_F32 || d == MK_DT_F16 || d == MK_DT_BF16; }

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* The linear layers whose weights a quantized checkpoint stores quantized. */
static bool is_linear_weight(const mk_tensor_info *t, const mk_tensor_role *r) {
    if (t->ndim != 2 || strcmp(t->name + r->suffix_off, "weight") != 0) return false;
    switch (r->kind) {
    case MK_T_ATTENTION:
    case MK_T_DENSE_MLP:
    case MK_T_ROUTED_EXPERT:
    case MK_T_SHARED_EXPERT: return true;
    case MK_T_MTP:
        /* The MTP layer's decoder block is quantized like any layer; its
         * eh_proj, shared_head and embed_tokens are not (vLLM deepseek_mtp). */
        return (strstr(t->name, ".self_attn.") || strstr(t->name, ".mlp.")) &&
               !strstr(t->name, ".mlp.gate.") && !strstr(t->name, "shared_expert_gate");
    default: return false;
    }
}

static char *str_printf(const char *fmt, const char *a, const char *b) {
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

/* Module path of a `.weight` tensor: the name without its last component. */
static char *module_of(const char *name, size_t suffix_off) {
    size_t n = suffix_off ? suffix_off - 1 : strlen(name);
    char *m = malloc(n + 1);
    if (m) {
        memcpy(m, name, n);
        m[n] = '\0';
    }
    return m;
}

static void set_out(mk_out_tensor *o, char *name, mk_dtype dt, int ndim, int64_t d0, int64_t d1) {
    o->name = name;
    o->dtype = dt;
    o->ndim = ndim;
    o->shape[0] = d0;
    o->shape[1] = d1;
}

static uint64_t out_bytes(const mk_out_tensor *o) {
    uint64_t e = 1;
    for (int d = 0; d < o->ndim; d++) e *= (uint64_t)o->shape[d];
    return e * mk_dtype_size(o->dtype);
}

/* The tensors a quantized weight X.weight [N,K] becomes under `s`. */
static int quant_outputs(mk_plan *p, mk_plan_item *it, const char *module, int64_t N, int64_t K) {
    mk_dtype scale_dt = p->cfg.torch_dtype;
    switch (it->scheme) {
    case MK_SCHEME_FP8_BLOCK:
        set_out(&it->out[0], str_printf("%s.weight", module, NULL), MK_DT_F8_E4M3, 2, N, K);
        /* DeepSeek's name in the fp8 form; compressed-tensors calls it weight_scale. */
        set_out(&it->out[1], str_printf(p->ct_form ? "%s.weight_scale" : "%s.weight_scale_inv", module, NULL), MK_DT_F32, 2,
                (int64_t)ceil_div((uint64_t)N, MK_BLOCK), (int64_t)ceil_div((uint64_t)K, MK_BLOCK));
        it->n_out = 2;
        break;
    case MK_SCHEME_FP8_TENSOR:
        set_out(&it->out[0], str_printf("%s.weight", module, NULL), MK_DT_F8_E4M3, 2, N, K);
        set_out(&it->out[1], str_printf("%s.weight_scale", module, NULL), MK_DT_F32, 0, 0, 0);
        it->n_out = 2;
        break;
    case MK_SCHEME_FP8_CHANNEL:
    case MK_SCHEME_INT8_CHANNEL:
        set_out(&it->out[0], str_printf("%s.weight", module, NULL),
                it->scheme == MK_SCHEME_FP8_CHANNEL ? MK_DT_F8_E4M3 : MK_DT_I8, 2, N, K);
        set_out(&it->out[1], str_printf("%s.weight_scale", module, NULL), MK_DT_F32, 2, N, 1);
        it->n_out = 2;
        break;
    case MK_SCHEME_INT8_GROUP:
        /* compressed-tensors stores group scales in the model dtype, and
         * vLLM's WNA16 layers keep them in params_dtype. */
        set_out(&it->out[0], str_printf("%s.weight_packed", module, NULL), MK_DT_I32, 2, N,
                (int64_t)ceil_div((uint64_t)K, 4));
        set_out(&it->out[1], str_printf("%s.weight_scale", module, NULL), scale_dt, 2, N,
                (int64_t)ceil_div((uint64_t)K, MK_BLOCK));
        set_out(&it->out[2], str_printf("%s.weight_shape", module, NULL), MK_DT_I64, 1, 2, 0);
        it->n_out = 3;
        break;
    default: return -1;
    }
    for (int i = 0; i < it->n_out; i++)
        if (!it->out[i].name) return -1;
    return 0;
}

static int add_ignore(mk_plan *p, const char *name, size_t suffix_off) {
    char *m = module_of(name, suffix_off);
    if (!m) return -1;
    char **g = realloc(p->ignore, (p->n_ignore + 1) * sizeof *g);
    if (!g) {
        free(m);
        return -1;
    }
    p->ignore = g;
    p->ignore[p->n_ignore++] = m;
    return 0;
}

/* Reads config.json as a document (kept for the output) and as a model. */
static int load_config(mk_plan *p, mk_error *err) {
    char path[PATH_MAX], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", mk_ckpt_dir(p->ck));
    struct stat st;
    if (stat(path, &st) != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: missing: convert needs the model's config.json",
                       path);
    int rc = mk_read_file(path, 64u << 20, &text, &len, err);
    if (rc) return rc;
    rc = mk_config_parse(text, len, path, &p->cfg, err);
    if (!rc) {
        json_error_t je;
        p->config = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!p->config) rc = mk_fail(err, MK_ERR_INPUT, "%s: %s", path, je.text);
    }
    free(text);
    if (rc) return rc;
    json_t *qc = json_object_get(p->config, "quantization_config");
    if (!qc || json_is_null(qc)) return MK_OK;
    const char *method = json_string_value(json_object_get(qc, "quant_method"));
    json_t *wbs = json_object_get(qc, "weight_block_size");
    if (method && strcmp(method, "fp8") == 0 && json_is_array(wbs) && json_array_size(wbs) == 2 &&
        json_is_integer(json_array_get(wbs, 0)) && json_is_integer(json_array_get(wbs, 1)) &&
        json_integer_value(json_array_get(wbs, 0)) > 0 && json_integer_value(json_array_get(wbs, 1)) > 0 &&
        json_integer_value(json_array_get(wbs, 0)) <= 65536 && json_integer_value(json_array_get(wbs, 1)) <= 65536) {
        p->src_fp8 = true;
        p->src_block_n = json_integer_value(json_array_get(wbs, 0));
        p->src_block_k = json_integer_value(json_array_get(wbs, 1));
        return MK_OK;
    }
    return mk_fail(err, MK_ERR_INPUT,
                   "%s: quantization_config (quant_method '%s') is not a supported source; "
                   "moekit reads FP16/BF16/F32 checkpoints and DeepSeek-style FP8 "
                   "(quant_method fp8 with weight_block_size)",
                   path, method ? method : "?");
}

/* DeepSeek FP8 source: X.weight F8_E4M3 pairs with X.weight_scale_inv F32
 * [ceil(N/bn), ceil(K/bk)]; a mismatch would misplace every scale. */
static int find_scale_inv(mk_plan *p, mk_plan_item *it, mk_error *err) {
    char name[1024];
    snprintf(name, sizeof name, "%s_scale_inv", it->src_name);
    const mk_st_file *f;
    const mk_tensor_info *s;
    mk_error ignore = {0};
    if (mk_ckpt_find(p->ck, name, &f, &s, &ignore) != MK_OK)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s' is F8_E4M3 but '%s' is missing",
                       mk_st_path(it->src_file), it->src_name, name);
    const mk_tensor_info *w = it->src;
    if (w->ndim != 2 || s->dtype != MK_DT_F32 || s->ndim != 2 ||
        (uint64_t)s->shape[0] != ceil_div((uint64_t)w->shape[0], (uint64_t)p->src_block_n) ||
        (uint64_t)s->shape[1] != ceil_div((uint64_t)w->shape[1], (uint64_t)p->src_block_k))
        return mk_fail(err, MK_ERR_INPUT,
                       "%s: tensor '%s' must be F32 [ceil(%lld/%lld), ceil(%lld/%lld)] for its "
                       "weight",
                       mk_st_path(f), name, (long long)w->shape[0], (long long)p->src_block_n,
                       (long long)w->shape[1], (long long)p->src_block_k);
    it->scale_file = f;
    it->scale_inv = s;
    return MK_OK;
}

static bool is_scale_inv_name(const char *name) {
    size_t n = strlen(name);
    return n > 10 && strcmp(name + n - 10, "_scale_inv") == 0;
}

/* The scheme a quantizable weight gets: the recipe's first matching rule,
 * else the recipe's default, else --scheme.  -1 means "keep". */
static int choose_scheme(const mk_plan *p, const char *name) {
    const mk_recipe *r = p->opts.recipe;
    if (r) {
        const mk_recipe_rule *rule = mk_recipe_match(r, name);
        if (rule) return rule->keep ? -1 : (int)rule->scheme;
        if (r->has_scheme) return (int)r->scheme;
    }
    return (int)p->opts.scheme;
}

static int plan_item(mk_plan *p, const char *name, mk_error *err) {
    const mk_st_file *f;
    const mk_tensor_info *t;
    int rc = mk_ckpt_find(p->ck, name, &f, &t, err);
    if (rc) return rc;
    mk_plan_item *it = &p->items[p->n_items];
    memset(it, 0, sizeof *it);
    it->src_name = name;
    it->src_file = f;
    it->src = t;
    it->file = -1;
    mk_classify(&p->cfg, name, &it->role);
    bool fp8 = t->dtype == MK_DT_F8_E4M3;
    if (fp8 && !p->src_fp8)
        return mk_fail(err, MK_ERR_INPUT,
                       "%s: tensor '%s' is F8_E4M3 but config.json has no fp8 "
                       "quantization_config with weight_block_size",
                       mk_st_path(f), name);
    if (fp8 && (rc = find_scale_inv(p, it, err))) return rc;
    bool linear = is_linear_weight(t, &it->role);
    if (!fp8 && !is_float(t->dtype) && linear)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s' has dtype %s; expected F16, BF16, F32 "
                       "or F8_E4M3",
                       mk_st_path(f), name, mk_dtype_name(t->dtype));
    mk_scheme base = p->base_scheme;
    bool cast_scheme = !mk_scheme_is_quant(base);
    mk_dtype cast_dt = base == MK_SCHEME_F16 ? MK_DT_F16 : MK_DT_BF16;
    int chosen = linear && !cast_scheme ? choose_scheme(p, name) : -1;
    if (chosen >= 0) {
        it->op = OP_QUANT;
        it->scheme = (mk_scheme)chosen;
        p->schemes_used |= 1u << chosen;
        p->n_quantized++;
    } else if (fp8) {
        /* An FP8 weight that stays unquantized (or any FP8 weight under a
         * cast scheme) is dequantized: W = q * scale_inv, as DeepSeek's
         * fp8_cast_bf16.py does. */
        it->op = OP_CAST;
        it->out_dtype = cast_scheme ? cast_dt : p->cfg.torch_dtype;
    } else if (cast_scheme && is_float(t->dtype) && t->dtype != cast_dt && !it->role.is_router_bias) {
        /* The F32 correction bias stays F32: DeepSeek and vLLM keep it so. */
        it->op = OP_CAST;
        it->out_dtype = cast_dt;
    } else {
        it->op = OP_KEEP;
        it->out_dtype = t->dtype;
    }
    p->n_items++;
    return MK_OK;
}

/* Modules vLLM fuses into one layer must share a scheme: all routed experts
 * of a layer (FusedMoE), q/k/v (QKVParallelLinear), MLA's q_a/kv_a
 * (fused_qkv_a_proj), and gate/up (MergedColumnParallelLinear).  Returns
 * the fusion key of a weight in `key`, or false when it is not fused. */
static bool fusion_key(const mk_plan_item *it, char *key, size_t cap) {
    const char *n = it->src_name;
    const mk_tensor_role *r = &it->role;
    if (r->expert >= 0 && (r->kind == MK_T_ROUTED_EXPERT || r->kind == MK_T_MTP)) {
        snprintf(key, cap, "model.layers.%d.mlp.experts.*", r->layer);
        return true;
    }
    static const struct { const char *suffix, *group; } fused[] = {
        {"q_proj.weight", "q_proj/k_proj/v_proj"}, {"k_proj.weight", "q_proj/k_proj/v_proj"},
        {"v_proj.weight", "q_proj/k_proj/v_proj"}, {"q_a_proj.weight", "q_a_proj/kv_a_proj_with_mqa"},
        {"kv_a_proj_with_mqa.weight", "q_a_proj/kv_a_proj_with_mqa"},
        {"gate_proj.weight", "gate_proj/up_proj"}, {"up_proj.weight", "gate_proj/up_proj"},
    };
    const char *last = n + (r->suffix_off ? r->suffix_off - 1 : 0);
    const char *mod = last;
    while (mod > n && mod[-1] != '.') mod--;
    for (size_t i = 0; i < sizeof fused / sizeof *fused; i++)
        if (strcmp(mod, fused[i].suffix) == 0) {
            snprintf(key, cap, "%.*s%s", (int)(mod - n), n, fused[i].group);
            return true;
        }
    return false;
}

static const char *scheme_or_keep(const mk_plan_item *it) {
    return it->op == OP_QUANT ? mk_scheme_name(it->scheme) : "kept unquantized";
}

/* Refuses, before any work, the combinations no loader can read. */
static int check_schemes(mk_plan *p, mk_error *err) {
    json_t *seen = json_object();
    int rc = MK_OK;
    for (size_t i = 0; i < p->n_items && !rc; i++) {
        mk_plan_item *it = &p->items[i];
        if (!is_linear_weight(it->src, &it->role)) continue;
        char key[512];
        if (!fusion_key(it, key, sizeof key)) continue;
        json_t *first = json_object_get(seen, key);
        if (!first) {
            json_object_set_new(seen, key, json_integer((json_int_t)i));
            continue;
        }
        const mk_plan_item *a = &p->items[json_integer_value(first)];
        bool same = a->op == it->op && (it->op != OP_QUANT || a->scheme == it->scheme);
        if (!same)
            rc = mk_fail(err, MK_ERR_INPUT,
                         "recipe: '%s' is %s but '%s' is %s; vLLM loads %s as one fused layer, "
                         "which takes one scheme%s",
                         it->src_name, scheme_or_keep(it), a->src_name, scheme_or_keep(a), key,
                         strstr(key, "experts") ? " (its fused MoE covers every expert and projection)" : "");
    }
    json_decref(seen);
    if (rc) return rc;
    unsigned used = p->schemes_used;
    bool mixed = used & (used - 1);
    if (mixed && (used & (1u << MK_SCHEME_FP8_TENSOR)))
        return mk_fail(err, MK_ERR_INPUT,
                       "recipe: fp8-tensor cannot be mixed with other schemes: it exists only in "
                       "the quant_method fp8 form, which holds a single scheme");
    p->mixed = mixed;
    /* quant_method "fp8" (DeepSeek form) only for a single native FP8 scheme;
     * everything else is compressed-tensors. */
    p->ct_form = mixed || !(used & ((1u << MK_SCHEME_FP8_BLOCK) | (1u << MK_SCHEME_FP8_TENSOR)));
    return MK_OK;
}

/* Output tensors, sizes and the ignore list, once schemes and form are known. */
static int build_outputs(mk_plan *p, mk_error *err) {
    for (size_t i = 0; i < p->n_items; i++) {
        mk_plan_item *it = &p->items[i];
        const mk_tensor_info *t = it->src;
        if (it->op == OP_QUANT) {
            char *module = module_of(it->src_name, it->role.suffix_off);
            int bad = !module || quant_outputs(p, it, module, t->shape[0], t->shape[1]);
            free(module);
            if (bad) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        } else {
            char *name = strdup(it->src_name);
            if (!name) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            set_out(&it->out[0], name, it->out_dtype, t->ndim, 0, 0);
            memcpy(it->out[0].shape, t->shape, sizeof t->shape);
            it->n_out = 1;
            if (mk_scheme_is_quant(p->base_scheme) &&
                strcmp(it->src_name + it->role.suffix_off, "weight") == 0 &&
                add_ignore(p, it->src_name, it->role.suffix_off))
                return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        }
        it->in_bytes = (t->end - t->begin) + (it->scale_inv ? it->scale_inv->end - it->scale_inv->begin : 0);
        for (int k = 0; k < it->n_out; k++) it->out_bytes += out_bytes(&it->out[k]);
        p->bytes_in += it->in_bytes;
        p->bytes_out += it->out_bytes;
    }
    return MK_OK;
}

static int file_for(mk_plan *p, const char *name, mk_error *err) {
    json_t *known = json_object_get(p->file_ids, name);
    if (known) return (int)json_integer_value(known);
    mk_plan_file *g = realloc(p->files, (p->n_files + 1) * sizeof *g);
    if (!g) return mk_fail(err, MK_ERR_INTERNAL, "out of memory"), -1;
    p->files = g;
    memset(&p->files[p->n_files], 0, sizeof *p->files);
    snprintf(p->files[p->n_files].name, sizeof p->files[p->n_files].name, "%s", name);
    json_object_set_new(p->file_ids, name, json_integer((json_int_t)p->n_files));
    return (int)p->n_files++;
}

static int file_add(mk_plan *p, int fi, size_t item, mk_error *err) {
    mk_plan_file *f = &p->files[fi];
    if (f->n_items == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        size_t *g = realloc(f->items, cap * sizeof *g);
        if (!g) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        f->items = g;
        f->cap = cap;
    }
    f->items[f->n_items++] = item;
    f->bytes += p->items[item].out_bytes;
    p->items[item].file = fi;
    return MK_OK;
}

static int cmp_file_name(const void *a, const void *b) {
    return strcmp(((const mk_plan_file *)a)->name, ((const mk_plan_file *)b)->name);
}

/* Routed experts to their own files (by expert id, or layer and expert id);
 * everything else, in checkpoint order, to files of at most max_shard_bytes
 * (a bigger tensor gets a file of its own, as huggingface_hub does). */
static int assign_files(mk_plan *p, mk_error *err) {
    mk_shard_by by = p->opts.shard_by;
    if (!p->cfg.n_routed_experts) by = MK_SHARD_BY_SIZE;
    size_t n_rest_files = 0;
    uint64_t cur = 0;
    bool any_rest = false;
    /* First pass: experts; count the size-capped files of the rest. */
    for (size_t i = 0; i < p->n_items; i++) {
        mk_tensor_role role;
        mk_classify(&p->cfg, p->items[i].src_name, &role);
        bool expert = role.expert >= 0 &&
                      (role.kind == MK_T_ROUTED_EXPERT || role.kind == MK_T_MTP);
        if (by != MK_SHARD_BY_SIZE && expert) {
            char name[96];
            if (by == MK_SHARD_BY_EXPERT)
                snprintf(name, sizeof name, "model-expert-%05d-of-%05lld.safetensors", role.expert,
                         (long long)p->cfg.n_routed_experts);
            else
                snprintf(name, sizeof name, "model-layer-%05d-expert-%05d.safetensors", role.layer,
                         role.expert);
            int fi = file_for(p, name, err);
            if (fi < 0 || file_add(p, fi, i, err)) return err->code;
            continue;
        }
        uint64_t b = p->items[i].out_bytes;
        if (!any_rest || (cur > 0 && cur + b > p->opts.max_shard_bytes)) {
            n_rest_files++;
            cur = 0;
        }
        any_rest = true;
        cur += b;
    }
    /* Second pass: the rest, now that the file count is known. */
    size_t k = 0;
    cur = 0;
    any_rest = false;
    int fi = -1;
    for (size_t i = 0; i < p->n_items; i++) {
        if (p->items[i].file >= 0) continue;
        uint64_t b = p->items[i].out_bytes;
        if (!any_rest || (cur > 0 && cur + b > p->opts.max_shard_bytes)) {
            char name[96];
            snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", ++k, n_rest_files);
            fi = file_for(p, name, err);
            if (fi < 0) return err->code;
            cur = 0;
        }
        any_rest = true;
        cur += b;
        if (file_add(p, fi, i, err)) return err->code;
    }
    /* Process and list files in name order; re-point items at the new slots. */
    if (p->n_files) qsort(p->files, p->n_files, sizeof *p->files, cmp_file_name);
    for (size_t f = 0; f < p->n_files; f++)
        for (size_t j = 0; j < p->files[f].n_items; j++) p->items[p->files[f].items[j]].file = (int)f;
    return MK_OK;
}

int mk_convert_plan(const char *src, const mk_convert_opts *o, mk_plan *p, mk_error *err) {
    memset(p, 0, sizeof *p);
    p->opts = *o;
    if (o->max_shard_bytes == 0) p->opts.max_shard_bytes = 5000000000ull;
    int rc = mk_ckpt_open(src, &p->ck, err);
    if (!rc) rc = mk_ckpt_load_all(p->ck, err);
    if (!rc) rc = load_config(p, err);
    if (rc) return rc;
    size_t n = mk_ckpt_n_tensors(p->ck);
    p->file_ids = json_object();
    p->items = calloc(n ? n : 1, sizeof *p->items);
    if (!p->items) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    p->base_scheme = o->recipe && o->recipe->has_scheme ? o->recipe->scheme : o->scheme;
    if (o->recipe && !mk_scheme_is_quant(p->base_scheme) &&
        (o->recipe->n_keep || o->recipe->n_overrides))
        return mk_fail(err, MK_ERR_INPUT, "%s: keep and overrides apply to quantization schemes, "
                       "not to a %s cast", o->recipe->path, mk_scheme_name(p->base_scheme));
    for (size_t i = 0; i < n; i++) {
        const char *name = mk_ckpt_tensor_name(p->ck, i);
        /* DeepSeek scales are consumed with their weights. */
        if (p->src_fp8 && is_scale_inv_name(name)) continue;
        rc = plan_item(p, name, err);
        if (rc) return rc;
    }
    if ((rc = check_schemes(p, err)) || (rc = build_outputs(p, err))) return rc;
    return assign_files(p, err);
}

void mk_convert_plan_free(mk_plan *p) {
    for (size_t i = 0; i < p->n_items; i++)
        for (int k = 0; k < p->items[i].n_out; k++) free(p->items[i].out[k].name);
    free(p->items);
    for (size_t i = 0; i < p->n_files; i++) free(p->files[i].items);
    free(p->files);
    for (size_t i = 0; i < p->n_ignore; i++) free(p->ignore[i]);
    free(p->ignore);
    if (p->config) json_decref(p->config);
    if (p->file_ids) json_decref(p->file_ids);
    if (p->ck) {
        mk_config_free(&p->cfg);
        mk_ckpt_close(p->ck);
    }
    memset(p, 0, sizeof *p);
}

static json_t *ignore_list(const mk_plan *p) {
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_ignore; i++) json_array_append_new(a, json_string(p->ignore[i]));
    return a;
}

static json_t *ct_args(const char *type, const char *strategy, bool dynamic, int group) {
    json_t *a = json_object();
    json_object_set_new(a, "num_bits", json_integer(8));
    json_object_set_new(a, "type", json_string(type));
    json_object_set_new(a, "symmetric", json_true());
    json_object_set_new(a, "dynamic", json_boolean(dynamic));
    json_object_set_new(a, "strategy", json_string(strategy));
    json_object_set_new(a, "group_size", group ? json_integer(group) : json_null());
    return a;
}

static const char *ct_format(mk_scheme s) {
    return s == MK_SCHEME_INT8_CHANNEL ? "int-quantized"
           : s == MK_SCHEME_INT8_GROUP ? "pack-quantized"
                                       : "float-quantized";
}

/* One compressed-tensors scheme (QuantizationScheme) for `s`. */
static json_t *ct_group(mk_scheme s, json_t *targets) {
    json_t *group = json_object();
    json_object_set_new(group, "targets", targets);
    json_object_set_new(group, "format", json_string(ct_format(s)));
    switch (s) {
    case MK_SCHEME_INT8_GROUP:
        json_object_set_new(group, "weights", ct_args("int", "group", false, MK_BLOCK));
        break;
    case MK_SCHEME_FP8_BLOCK: {
        /* llm-compressor's FP8_BLOCK preset. */
        json_t *w = ct_args("float", "block", false, 0);
        json_object_set_new(w, "block_structure", json_pack("[i, i]", MK_BLOCK, MK_BLOCK));
        json_object_set_new(group, "weights", w);
        json_object_set_new(group, "input_activations", ct_args("float", "group", true, MK_BLOCK));
        break;
    }
    default: {
        const char *type = s == MK_SCHEME_INT8_CHANNEL ? "int" : "float";
        json_object_set_new(group, "weights", ct_args(type, "channel", false, 0));
        json_object_set_new(group, "input_activations", ct_args(type, "token", true, 0));
    }
    }
    return group;
}

/* A group's name target for one module; routed experts collapse into one
 * anchored regex per layer and projection (they share a scheme by rule). */
static void add_target(json_t *targets, json_t *seen, const mk_plan_item *it) {
    char *module = module_of(it->src_name, it->role.suffix_off);
    if (!module) return;
    char buf[1024];
    const char *e = it->role.expert >= 0 ? strstr(module, ".experts.") : NULL;
    if (e) {
        size_t o = 0;
        o += (size_t)snprintf(buf + o, sizeof buf - o, "re:");
        for (const char *c = module; *c && o + 8 < sizeof buf; c++) {
            if (c == e + 9) { /* the expert id */
                o += (size_t)snprintf(buf + o, sizeof buf - o, "[0-9]+");
                while (*c >= '0' && *c <= '9') c++;
                c--;
                continue;
            }
            if (*c == '.') buf[o++] = '\\';
            buf[o++] = *c;
        }
        snprintf(buf + o, sizeof buf - o, "$");
    } else {
        snprintf(buf, sizeof buf, "%s", module);
    }
    free(module);
    if (json_object_get(seen, buf)) return;
    json_object_set_new(seen, buf, json_true());
    json_array_append_new(targets, json_string(buf));
}

json_t *mk_convert_quant_config(const mk_plan *p) {
    json_t *q = json_object();
    unsigned used = p->schemes_used;
    if (!p->ct_form) {
        /* vLLM's Fp8Config and SGLang read quant_method, activation_scheme,
         * weight_block_size and ignored_layers; transformers reads
         * modules_to_not_convert; DeepSeek's release adds fmt. */
        json_object_set_new(q, "quant_method", json_string("fp8"));
        json_object_set_new(q, "fmt", json_string("e4m3"));
        json_object_set_new(q, "activation_scheme", json_string("dynamic"));
        if (used & (1u << MK_SCHEME_FP8_BLOCK))
            json_object_set_new(q, "weight_block_size", json_pack("[i, i]", MK_BLOCK, MK_BLOCK));
        json_object_set_new(q, "ignored_layers", ignore_list(p));
        json_object_set_new(q, "modules_to_not_convert", ignore_list(p));
        return q;
    }
    /* The default group targets every Linear; the others name their modules,
     * and vLLM prefers a name match to a class match. */
    mk_scheme dflt = p->base_scheme;
    if (!(used & (1u << dflt)))
        for (int s = 0; s < MK_SCHEME_COUNT; s++)
            if (used & (1u << s)) {
                dflt = (mk_scheme)s;
                break;
            }
    json_t *groups = json_object();
    json_object_set_new(groups, "group_0", ct_group(dflt, json_pack("[s]", "Linear")));
    int g = 1;
    for (int s = 0; s < MK_SCHEME_COUNT; s++) {
        if (s == (int)dflt || !(used & (1u << s))) continue;
        json_t *targets = json_array(), *seen = json_object();
        for (size_t i = 0; i < p->n_items; i++)
            if (p->items[i].op == OP_QUANT && p->items[i].scheme == (mk_scheme)s)
                add_target(targets, seen, &p->items[i]);
        json_decref(seen);
        char name[32];
        snprintf(name, sizeof name, "group_%d", g++);
        json_object_set_new(groups, name, ct_group((mk_scheme)s, targets));
    }
    json_object_set_new(q, "quant_method", json_string("compressed-tensors"));
    json_object_set_new(q, "format", json_string(p->mixed ? "mixed-precision" : ct_format(dflt)));
    json_object_set_new(q, "quantization_status", json_string("compressed"));
    json_object_set_new(q, "config_groups", groups);
    json_object_set_new(q, "ignore", ignore_list(p));
    json_object_set_new(q, "kv_cache_scheme", json_null());
    json_object_set_new(q, "global_compression_ratio", json_null());
    json_object_set_new(q, "sparsity_config", json_object());
    return q;
}
