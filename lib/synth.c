/*
 * Synthetic checkpoints (see synth.h).
 *
 * The tensor list comes from mk_model_expected() applied to the config we
 * write, so `synth` and `inspect` share one description of each
 * architecture, and the config is parsed back with mk_config_parse() before
 * anything is written: a synthetic model is by construction one our own
 * reader accepts.
 *
 * Values come from a counter-based generator (splitmix64 of seed, tensor name
 * and element index), so any chunk of any tensor can be produced
 * independently and in parallel, and the bytes do not depend on the thread
 * count or the sharding.  The normal deviate is an Irwin-Hall sum of four
 * 16-bit uniforms: integer arithmetic and one float multiply, identical on
 * every platform (Box-Muller would depend on libm's log/cos).
 */
#include "moekit/synth.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/fileio.h"
#include "moekit/checkpoint.h"
#include "moekit/kernels.h"
#include "moekit/model.h"
#include "moekit/safetensors.h"

#define CHUNK_ELEMS (1u << 18)

void mk_synth_defaults(mk_synth_opts *o) {
    memset(o, 0, sizeof *o);
    o->arch = "deepseek-v3";
    o->layers = 4;
    o->hidden = 256;
    o->experts = 8;
    o->topk = 2;
    o->moe_inter = 128;
    o->vocab = 512;
    o->dtype = MK_DT_BF16;
    o->shards = 2;
    o->seed = 0;
}

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t name_seed(uint64_t seed, const char *s) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return mix64(h ^ mix64(seed));
}

/* Approximately N(0,1), bounded by +-3.46: sum of four 16-bit uniforms. */
static float gauss(uint64_t r) {
    int32_t s = (int32_t)((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
    return (float)(s - 131070) * (1.0f / 37837.23f);
}

/* Outlier input channels: shared by every matrix of the same width, like the
 * hidden-state outlier features of real LLMs. */
static float channel_scale(uint64_t seed, int64_t k, int64_t c) {
    uint64_t o = mix64(seed ^ 0x0071e700ull ^ ((uint64_t)c * 0x100000001b3ull));
    bool outlier = (o % 64) == 0 || (uint64_t)c == mix64(seed ^ (uint64_t)k) % (uint64_t)k;
    return outlier ? (float)(20 + (o >> 32) % 31) : 1.0f;
}

typedef enum { INIT_WEIGHT, INIT_EMBED, INIT_NORM, INIT_BIAS } init_kind;

static init_kind init_of(const mk_expected_tensor *t) {
    if (t->role.kind == MK_T_NORM || strstr(t->name, "norm.weight")) return INIT_NORM;
    if (t->ndim == 1) return INIT_BIAS;
    if (strstr(t->name, "embed_tokens")) return INIT_EMBED;
    return INIT_WEIGHT;
}

static void gen_chunk(const mk_expected_tensor *t, uint64_t seed, bool outliers, uint64_t tseed,
                      uint64_t first, size_t n, float *out) {
    init_kind kind = init_of(t);
    if (kind == INIT_WEIGHT && !outliers) kind = INIT_EMBED;
    int64_t k = t->ndim == 2 ? t->shape[1] : 1;
    for (size_t j = 0; j < n; j++) {
        uint64_t i = first + j;
        float g = gauss(mix64(tseed + i));
        switch (kind) {
        case INIT_NORM: out[j] = 1.0f + 0.05f * g; break;
        case INIT_BIAS: out[j] = 0.02f * g; break;
        case INIT_EMBED: out[j] = 0.02f * g; break;
        case INIT_WEIGHT:
            out[j] = 0.02f * g * channel_scale(seed, k, (int64_t)(i % (uint64_t)k));
            break;
        }
    }
}

typedef struct tensor_list {
    mk_expected_tensor *t;
    size_t n, cap;
} tensor_list;

static int collect(const mk_expected_tensor *t, void *ctx) {
    tensor_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        mk_expected_tensor *g = realloc(l->t, cap * sizeof *g);
        if (!g) return -1;
        l->t = g;
        l->cap = cap;
    }
    l->t[l->n++] = *t;
    return 0;
}

static uint64_t tensor_elems(const mk_expected_tensor *t) {
    uint64_t e = 1;
    for (int d = 0; d < t->ndim; d++) e *= (uint64_t)t->shape[d];
    return e;
}

static uint64_t tensor_bytes(const mk_expected_tensor *t) {
    return tensor_elems(t) * mk_dtype_size(t->dtype);
}

/* ---- config.json per architecture ---- */

static const char *dtype_torch_name(mk_dtype d) {
    return d == MK_DT_F16 ? "float16" : d == MK_DT_F32 ? "float32" : "bfloat16";
}

#define SET_INT(o, k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
#define SET_REAL(o, k, v) json_object_set_new(o, k, json_real(v))
#define SET_STR(o, k, v) json_object_set_new(o, k, json_string(v))
#define SET_BOOL(o, k, v) json_object_set_new(o, k, json_boolean(v))

static json_t *make_config(const mk_synth_opts *o, mk_error *err) {
    const char *arch = o->arch;
    int64_t h = o->hidden;
    int64_t heads = h / 64 > 0 ? h / 64 : 1;
    int64_t kv_heads = heads % 2 == 0 ? heads / 2 : heads; /* must divide heads */
    json_t *c = json_object();
    json_t *archs = json_array();
    SET_INT(c, "hidden_size", h);
    SET_INT(c, "num_hidden_layers", o->layers);
    SET_INT(c, "num_attention_heads", heads);
    SET_INT(c, "vocab_size", o->vocab);
    SET_INT(c, "num_experts_per_tok", o->topk);
    SET_STR(c, "hidden_act", "silu");
    SET_STR(c, "torch_dtype", dtype_torch_name(o->dtype));
    SET_BOOL(c, "tie_word_embeddings", false);
    SET_BOOL(c, "use_cache", true);
    SET_REAL(c, "initializer_range", 0.02);
    SET_REAL(c, "attention_dropout", 0.0);
    SET_INT(c, "bos_token_id", 0);
    SET_INT(c, "eos_token_id", 1);
    SET_STR(c, "transformers_version", "4.57.1");
    if (strcmp(arch, "mixtral") == 0) {
        json_array_append_new(archs, json_string("MixtralForCausalLM"));
        SET_STR(c, "model_type", "mixtral");
        SET_INT(c, "num_key_value_heads", kv_heads);
        SET_INT(c, "intermediate_size", o->moe_inter);
        SET_INT(c, "num_local_experts", o->experts);
        SET_INT(c, "max_position_embeddings", 32768);
        SET_REAL(c, "rms_norm_eps", 1e-5);
        SET_REAL(c, "rope_theta", 1e6);
        SET_REAL(c, "router_aux_loss_coef", 0.02);
        SET_REAL(c, "router_jitter_noise", 0.0);
        SET_BOOL(c, "output_router_logits", false);
        json_object_set_new(c, "sliding_window", json_null());
    } else if (strcmp(arch, "qwen2-moe") == 0 || strcmp(arch, "qwen3-moe") == 0) {
        bool q3 = arch[4] == '3';
        json_array_append_new(archs, json_string(q3 ? "Qwen3MoeForCausalLM" : "Qwen2MoeForCausalLM"));
        SET_STR(c, "model_type", q3 ? "qwen3_moe" : "qwen2_moe");
        SET_INT(c, "num_key_value_heads", kv_heads);
        SET_INT(c, "num_experts", o->experts);
        SET_INT(c, "moe_intermediate_size", o->moe_inter);
        SET_INT(c, "intermediate_size", 3 * h);
        SET_INT(c, "decoder_sparse_step", 1);
        json_object_set_new(c, "mlp_only_layers", json_array());
        SET_BOOL(c, "norm_topk_prob", q3);
        SET_REAL(c, "router_aux_loss_coef", 0.001);
        SET_BOOL(c, "output_router_logits", false);
        SET_REAL(c, "rms_norm_eps", 1e-6);
        SET_REAL(c, "rope_theta", 1e6);
        SET_BOOL(c, "use_sliding_window", false);
        SET_INT(c, "sliding_window", 32768);
        SET_INT(c, "max_window_layers", o->layers);
        if (q3) {
            /* Qwen3 decouples head_dim from hidden/heads (30B-A3B: 2048
             * hidden, 32 heads of 128), so q_proj is wider than hidden. */
            SET_INT(c, "head_dim", 2 * h / heads);
            SET_BOOL(c, "attention_bias", false);
            SET_INT(c, "max_position_embeddings", 40960);
        } else {
            SET_INT(c, "shared_expert_intermediate_size", 4 * o->moe_inter);
            SET_INT(c, "max_position_embeddings", 8192);
        }
    } else if (strcmp(arch, "deepseek-v3") == 0) {
        json_array_append_new(archs, json_string("DeepseekV3ForCausalLM"));
        SET_STR(c, "model_type", "deepseek_v3");
        int n_group = o->experts >= 8 ? 4 : o->experts >= 2 ? 2 : 1;
        while (o->experts % n_group) n_group--;
        int topk_group = n_group > 1 ? n_group / 2 : 1;
        if ((int64_t)o->topk > (int64_t)topk_group * (o->experts / n_group)) topk_group = n_group;
        SET_INT(c, "num_key_value_heads", heads);
        SET_INT(c, "intermediate_size", 9 * o->moe_inter);
        SET_INT(c, "moe_intermediate_size", o->moe_inter);
        SET_INT(c, "n_routed_experts", o->experts);
        SET_INT(c, "n_shared_experts", 1);
        SET_INT(c, "first_k_dense_replace", o->layers > 1 ? 1 : 0);
        SET_INT(c, "moe_layer_freq", 1);
        SET_INT(c, "n_group", n_group);
        SET_INT(c, "topk_group", topk_group);
        SET_STR(c, "topk_method", "noaux_tc");
        SET_STR(c, "scoring_func", "sigmoid");
        SET_REAL(c, "routed_scaling_factor", 2.5);
        SET_BOOL(c, "norm_topk_prob", true);
        SET_INT(c, "q_lora_rank", h / 2 > 64 ? h / 2 : 64);
        SET_INT(c, "kv_lora_rank", h / 4 > 32 ? h / 4 : 32);
        SET_INT(c, "qk_nope_head_dim", 64);
        SET_INT(c, "qk_rope_head_dim", 32);
        SET_INT(c, "v_head_dim", 64);
        SET_INT(c, "num_nextn_predict_layers", 1);
        SET_INT(c, "ep_size", 1);
        SET_REAL(c, "aux_loss_alpha", 0.001);
        SET_BOOL(c, "seq_aux", true);
        SET_BOOL(c, "attention_bias", false);
        SET_INT(c, "max_position_embeddings", 163840);
        SET_REAL(c, "rms_norm_eps", 1e-6);
        SET_REAL(c, "rope_theta", 10000.0);
        json_t *rs = json_object();
        SET_STR(rs, "type", "yarn");
        SET_REAL(rs, "factor", 40.0);
        SET_INT(rs, "original_max_position_embeddings", 4096);
        SET_INT(rs, "beta_fast", 32);
        SET_INT(rs, "beta_slow", 1);
        SET_REAL(rs, "mscale", 1.0);
        SET_REAL(rs, "mscale_all_dim", 1.0);
        json_object_set_new(c, "rope_scaling", rs);
    } else {
        json_decref(c);
        json_decref(archs);
        mk_fail(err, MK_ERR_INPUT,
                "unknown --arch '%s' (expected mixtral, qwen2-moe, qwen3-moe or deepseek-v3)", arch);
        return NULL;
    }
    json_object_set_new(c, "architectures", archs);
    return c;
}

static int check_opts(const mk_synth_opts *o, mk_error *err) {
    if (o->layers < 1 || o->layers > 1000)
        return mk_fail(err, MK_ERR_INPUT, "--layers must be between 1 and 1000 (got %d)", o->layers);
    if (o->hidden < 64 || o->hidden % 64 != 0 || o->hidden > 65536)
        return mk_fail(err, MK_ERR_INPUT, "--hidden must be a multiple of 64 in [64, 65536] (got %lld)",
                       (long long)o->hidden);
    if (o->experts < 1 || o->experts > 4096)
        return mk_fail(err, MK_ERR_INPUT, "--experts must be between 1 and 4096 (got %d)", o->experts);
    if (o->topk < 1 || o->topk > o->experts)
        return mk_fail(err, MK_ERR_INPUT, "--topk must be between 1 and --experts (got %d)", o->topk);
    if (o->moe_inter < 1 || o->moe_inter > 1 << 20)
        return mk_fail(err, MK_ERR_INPUT, "--moe-inter must be between 1 and 1048576 (got %lld)",
                       (long long)o->moe_inter);
    if (o->vocab < 1 || o->vocab > 1 << 22)
        return mk_fail(err, MK_ERR_INPUT, "vocabulary size must be between 1 and 4194304");
    if (o->dtype != MK_DT_BF16 && o->dtype != MK_DT_F16 && o->dtype != MK_DT_F32)
        return mk_fail(err, MK_ERR_INPUT, "--dtype must be bf16, f16 or f32");
    if (o->shards < 1 || o->shards > 99999)
        return mk_fail(err, MK_ERR_INPUT, "--shards must be between 1 and 99999 (got %d)", o->shards);
    return MK_OK;
}

/* Refuses to write into a folder that already holds something, unless forced;
 * when forced, removes the checkpoint files a previous run may have left so a
 * stale shard cannot outlive the new index. */
static int prepare_dir(const char *dir, bool force, mk_error *err) {
    int rc = mk_mkdir(dir, err);
    if (rc) return rc;
    DIR *d = opendir(dir);
    if (!d) return mk_fail(err, MK_ERR_INPUT, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *e;
    bool nonempty = false;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        nonempty = true;
        if (force && (strncmp(e->d_name, "model", 5) == 0 &&
                      strstr(e->d_name, ".safetensors") != NULL)) {
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    if (nonempty && !force)
        return mk_fail(err, MK_ERR_INPUT, "%s: folder is not empty (use --force to overwrite)", dir);
    return MK_OK;
}

typedef struct progress {
    const mk_synth_opts *o;
    _Atomic uint64_t done;
    uint64_t total;
} progress;

static int write_tensor(mk_st_writer *w, const mk_expected_tensor *t, uint64_t seed,
                        bool outliers, progress *pg, mk_error *err) {
    long idx = mk_st_writer_find(w, t->name);
    if (idx < 0) return mk_fail(err, MK_ERR_INTERNAL, "tensor '%s' not declared", t->name);
    uint64_t n = tensor_elems(t);
    uint64_t tseed = name_seed(seed, t->name);
    size_t esz = mk_dtype_size(t->dtype);
    uint64_t n_chunks = (n + CHUNK_ELEMS - 1) / CHUNK_ELEMS;
    int rc = MK_OK;
    #pragma omp parallel
    {
        float *f = malloc(CHUNK_ELEMS * sizeof *f);
        uint16_t *h = malloc(CHUNK_ELEMS * sizeof *h);
        mk_error local = {0};
        int lrc = (!f || !h) ? mk_fail(&local, MK_ERR_INTERNAL, "out of memory") : MK_OK;
        #pragma omp for schedule(static)
        for (uint64_t c = 0; c < n_chunks; c++) {
            if (lrc) continue;
            uint64_t first = c * CHUNK_ELEMS;
            size_t len = (size_t)(n - first < CHUNK_ELEMS ? n - first : CHUNK_ELEMS);
            gen_chunk(t, seed, outliers, tseed, first, len, f);
            const void *bytes = f;
            if (t->dtype == MK_DT_BF16) {
                mk_f32_to_bf16_row(f, h, len);
                bytes = h;
            } else if (t->dtype == MK_DT_F16) {
                mk_f32_to_f16_row(f, h, len);
                bytes = h;
            }
            lrc = mk_st_writer_write(w, (size_t)idx, first * esz, bytes, len * esz, &local);
            uint64_t done = atomic_fetch_add(&pg->done, (uint64_t)len * esz) + len * esz;
            if (pg->o->progress && omp_get_thread_num() == 0)
                pg->o->progress(done, pg->total, pg->o->progress_ctx);
        }
        #pragma omp critical
        if (lrc && rc == MK_OK) {
            rc = lrc;
            if (err && err->code == MK_OK) *err = local;
        }
        free(f);
        free(h);
    }
    return rc;
}

int mk_synth_ex(const char *out_dir, const mk_synth_opts *o, mk_synth_result *res,
                mk_error *err) {
    int rc = check_opts(o, err);
    if (rc) return rc;
    json_t *cj = make_config(o, err);
    if (!cj) return MK_ERR_INPUT;
    char *ctext = json_dumps(cj, JSON_COMPACT);
    mk_model_config cfg;
    rc = ctext ? mk_config_parse(ctext, strlen(ctext), "config.json", &cfg, err)
               : mk_fail(err, MK_ERR_INTERNAL, "cannot serialise config");
    free(ctext);
    if (rc) {
        json_decref(cj);
        return rc;
    }
    tensor_list l = {0};
    if (mk_model_expected(&cfg, collect, &l) != 0) {
        rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        goto done;
    }
    int shards = o->shards;
    if ((size_t)shards > l.n) {
        rc = mk_fail(err, MK_ERR_INPUT, "--shards %d exceeds the %zu tensors of this model", shards,
                     l.n);
        goto done;
    }
    rc = prepare_dir(out_dir, o->force, err);
    if (rc) goto done;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    rc = mk_write_json_atomic(path, cj, JSON_INDENT(2) | JSON_SORT_KEYS, err);
    if (rc) goto done;

    uint64_t total = 0, params = 0;
    for (size_t i = 0; i < l.n; i++) {
        total += tensor_bytes(&l.t[i]);
        params += tensor_elems(&l.t[i]);
    }
    progress pg = {.o = o, .total = total};
    json_t *wm = json_object();
    size_t next = 0;
    uint64_t cum = 0;
    for (int s = 0; s < shards && !rc; s++) {
        /* Contiguous groups of roughly equal bytes, at least one tensor each. */
        size_t first = next;
        uint64_t target = total / (uint64_t)shards * (uint64_t)(s + 1);
        do {
            cum += tensor_bytes(&l.t[next]);
            next++;
        } while (next < l.n && (l.n - next) > (size_t)(shards - s - 1) &&
                 (s == shards - 1 || cum + tensor_bytes(&l.t[next]) / 2 <= target));
        if (s == shards - 1) next = l.n;
        char name[64];
        if (shards == 1)
            snprintf(name, sizeof name, "%s", MK_SINGLE_NAME);
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        snprintf(path, sizeof path, "%s/%s", out_dir, name);
        size_t n = next - first;
        mk_st_decl *decls = calloc(n, sizeof *decls);
        if (!decls) {
            rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            const mk_expected_tensor *t = &l.t[first + i];
            decls[i].name = t->name;
            decls[i].dtype = t->dtype;
            decls[i].ndim = t->ndim;
            for (int d = 0; d < t->ndim; d++) decls[i].shape[d] = t->shape[d];
            json_object_set_new(wm, t->name, json_string(name));
        }
        mk_st_writer *w;
        rc = mk_st_writer_open(path, decls, n, NULL, NULL, 0, &w, err);
        free(decls);
        for (size_t i = 0; i < n && !rc; i++) rc = write_tensor(w, &l.t[first + i], o->seed, !o->no_outliers, &pg, err);
        if (!rc)
            rc = mk_st_writer_finish(w, err);
        else if (w)
            mk_st_writer_abort(w);
    }
    if (!rc && shards > 1) {
        json_t *idx = json_object(), *meta = json_object();
        SET_INT(meta, "total_size", total);
        json_object_set_new(idx, "metadata", meta);
        json_object_set(idx, "weight_map", wm);
        snprintf(path, sizeof path, "%s/%s", out_dir, MK_INDEX_NAME);
        rc = mk_write_json_atomic(path, idx, JSON_INDENT(2) | JSON_SORT_KEYS, err);
        json_decref(idx);
    }
    json_decref(wm);
    if (!rc && res) {
        res->n_tensors = l.n;
        res->n_params = params;
        res->data_bytes = total;
        res->n_files = shards;
    }
done:
    free(l.t);
    mk_config_free(&cfg);
    json_decref(cj);
    return rc;
}

int mk_synth(const char *out_dir, const mk_synth_opts *o, mk_error *err) {
    return mk_synth_ex(out_dir, o, NULL, err);
}
