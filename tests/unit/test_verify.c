/* `verify`: every quantized form it accepts, and one test per problem it
 * must catch, each on a tiny checkpoint written here with the real writer.
 * The model is a DeepSeek-V3 shape small enough to read at a glance: layer 0
 * dense, layer 1 MoE, layer 2 the MTP layer. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "harness.h"
#include "moekit/checkpoint.h"
#include "moekit/model.h"
#include "moekit/safetensors.h"
#include "moekit/verify.h"

static const char k_deepseek_tiny[] =
    "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"model_type\": \"deepseek_v3\","
    " \"hidden_size\": 64, \"intermediate_size\": 128, \"moe_intermediate_size\": 32,"
    " \"num_hidden_layers\": 2, \"first_k_dense_replace\": 1, \"n_routed_experts\": 4,"
    " \"num_experts_per_tok\": 2, \"n_shared_experts\": 1, \"kv_lora_rank\": 16,"
    " \"q_lora_rank\": 32, \"qk_nope_head_dim\": 8, \"qk_rope_head_dim\": 8, \"v_head_dim\": 8,"
    " \"num_attention_heads\": 4, \"num_key_value_heads\": 4, \"vocab_size\": 256,"
    " \"num_nextn_predict_layers\": 1, \"n_group\": 2, \"topk_group\": 1,"
    " \"topk_method\": \"noaux_tc\", \"scoring_func\": \"sigmoid\", \"torch_dtype\": \"bfloat16\","
    " \"max_position_embeddings\": 1024, \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": false}";

static const char k_mixtral_tiny[] =
    "{\"architectures\": [\"MixtralForCausalLM\"], \"model_type\": \"mixtral\","
    " \"hidden_size\": 64, \"intermediate_size\": 32, \"num_hidden_layers\": 1,"
    " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"num_local_experts\": 4,"
    " \"num_experts_per_tok\": 2, \"vocab_size\": 256, \"torch_dtype\": \"bfloat16\"}";

/* ---- checkpoint description ---- */

typedef enum form {
    FP8_BLOCK, FP8_TENSOR, CT_CHANNEL, CT_BLOCK, CT_TENSOR, INT8_CHANNEL, INT8_GROUP, NONE,
    N_FORMS
} form;

static const char *const k_form_scheme[N_FORMS] = {
    "fp8-block",    "fp8-tensor", "fp8-channel", "fp8-ct-block",
    "fp8-tensor",   "int8-channel", "int8-group", "none",
};

typedef struct tdef {
    char name[128];
    mk_dtype dt;
    int ndim;
    int64_t shape[2];
    int64_t values[2]; /* I64 [2] tensors (weight_shape) hold these */
} tdef;

typedef struct spec {
    tdef t[48];
    size_t n;
} spec;

static tdef *add(spec *s, const char *name, mk_dtype dt, int ndim, int64_t d0, int64_t d1) {
    tdef *t = &s->t[s->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dt = dt;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    return t;
}

static tdef *find(spec *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

static void drop(spec *s, const char *name) {
    tdef *t = find(s, name);
    if (!t) return;
    *t = s->t[--s->n];
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Adds module `m`'s tensors as form `f` stores a quantized [n, k] linear. */
static void add_quantized(spec *s, form f, const char *m, int64_t n, int64_t k) {
    char w[128], sc[128], sh[128];
    snprintf(w, sizeof w, "%s.weight", m);
    snprintf(sc, sizeof sc, "%s.weight_scale", m);
    switch (f) {
    case FP8_BLOCK:
        add(s, w, MK_DT_F8_E4M3, 2, n, k);
        snprintf(sc, sizeof sc, "%s.weight_scale_inv", m);
        add(s, sc, MK_DT_F32, 2, cdiv(n, 16), cdiv(k, 16));
        break;
    case FP8_TENSOR:
        add(s, w, MK_DT_F8_E4M3, 2, n, k);
        add(s, sc, MK_DT_F32, 0, 0, 0);
        break;
    case CT_CHANNEL:
        add(s, w, MK_DT_F8_E4M3, 2, n, k);
        add(s, sc, MK_DT_BF16, 2, n, 1);
        break;
    case CT_BLOCK:
        add(s, w, MK_DT_F8_E4M3, 2, n, k);
        add(s, sc, MK_DT_BF16, 2, cdiv(n, 16), cdiv(k, 32));
        break;
    case CT_TENSOR:
        add(s, w, MK_DT_F8_E4M3, 2, n, k);
        add(s, sc, MK_DT_F32, 1, 1, 0);
        break;
    case INT8_CHANNEL:
        add(s, w, MK_DT_I8, 2, n, k);
        add(s, sc, MK_DT_F32, 2, n, 1);
        break;
    case INT8_GROUP: {
        snprintf(w, sizeof w, "%s.weight_packed", m);
        snprintf(sh, sizeof sh, "%s.weight_shape", m);
        add(s, w, MK_DT_I32, 2, n, cdiv(k, 4));
        add(s, sc, MK_DT_F16, 2, n, cdiv(k, 32));
        tdef *t = add(s, sh, MK_DT_I64, 1, 2, 0);
        t->values[0] = n;
        t->values[1] = k;
        break;
    }
    case NONE:
    case N_FORMS: add(s, w, MK_DT_BF16, 2, n, k); break;
    }
}

/* Three quantized linears (one with K = 70, so block and group counts
 * round up), the three linears every form leaves unquantized, and a few
 * tensors no rule is about. */
static void base_spec(spec *s, form f) {
    s->n = 0;
    add_quantized(s, f, "model.layers.0.self_attn.q_a_proj", 40, 70);
    add_quantized(s, f, "model.layers.0.mlp.down_proj", 64, 128);
    add_quantized(s, f, "model.layers.1.mlp.experts.0.gate_proj", 32, 64);
    add(s, "model.layers.1.mlp.gate.weight", MK_DT_BF16, 2, 4, 64);
    add(s, "lm_head.weight", MK_DT_BF16, 2, 256, 64);
    add(s, "model.layers.2.eh_proj.weight", MK_DT_BF16, 2, 64, 128);
    add(s, "model.embed_tokens.weight", MK_DT_BF16, 2, 256, 64);
    add(s, "model.layers.1.mlp.gate.e_score_correction_bias", MK_DT_F32, 1, 4, 0);
    add(s, "model.layers.0.input_layernorm.weight", MK_DT_BF16, 1, 64, 0);
    add(s, "model.norm.weight", MK_DT_BF16, 1, 64, 0);
}

#define FP8_IGNORE "[\"lm_head\", \"model.layers.1.mlp.gate\", \"model.layers.2.eh_proj\"]"
#define CT_IGNORE \
    "[\"lm_head\", \"re:.*mlp\\\\.gate$\", \"re:model\\\\.layers\\\\.\\\\d+\\\\.eh_proj\"]"

static const char *ct_config(const char *format, const char *weights, bool input) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"quant_method\": \"compressed-tensors\", \"format\": \"%s\","
             " \"quantization_status\": \"compressed\", \"config_groups\": {\"group_0\":"
             " {\"targets\": [\"Linear\"], \"weights\": %s%s}}, \"ignore\": " CT_IGNORE "}",
             format, weights,
             input ? ", \"input_activations\": {\"num_bits\": 8, \"type\": \"float\","
                     " \"symmetric\": true, \"dynamic\": true, \"strategy\": \"token\"}"
                   : "");
    return buf;
}

/* quantization_config text for form f (NULL: none). */
static const char *quant_config(form f) {
    switch (f) {
    case FP8_BLOCK:
        return "{\"quant_method\": \"fp8\", \"fmt\": \"e4m3\", \"activation_scheme\": \"dynamic\","
               " \"weight_block_size\": [16, 16], \"ignored_layers\": " FP8_IGNORE
               ", \"modules_to_not_convert\": " FP8_IGNORE "}";
    case FP8_TENSOR:
        return "{\"quant_method\": \"fp8\", \"activation_scheme\": \"dynamic\","
               " \"ignored_layers\": " FP8_IGNORE ", \"modules_to_not_convert\": " FP8_IGNORE "}";
    case CT_CHANNEL:
        return ct_config("float-quantized",
                         "{\"num_bits\": 8, \"type\": \"float\", \"symmetric\": true,"
                         " \"dynamic\": false, \"strategy\": \"channel\"}",
                         true);
    case CT_BLOCK:
        return ct_config("float-quantized",
                         "{\"num_bits\": 8, \"type\": \"float\", \"symmetric\": true,"
                         " \"dynamic\": false, \"strategy\": \"block\","
                         " \"block_structure\": [16, 32]}",
                         true);
    case CT_TENSOR:
        return ct_config("float-quantized",
                         "{\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"tensor\"}", true);
    case INT8_CHANNEL:
        return ct_config("int-quantized",
                         "{\"num_bits\": 8, \"type\": \"int\", \"symmetric\": true,"
                         " \"strategy\": \"channel\"}",
                         true);
    case INT8_GROUP:
        return ct_config("pack-quantized",
                         "{\"num_bits\": 8, \"type\": \"int\", \"symmetric\": true,"
                         " \"strategy\": \"group\", \"group_size\": 32}",
                         false);
    default: return NULL;
    }
}

/* ---- writing a checkpoint folder ---- */

static const char *const k_shards[2] = {"model-00001-of-00002.safetensors",
                                        "model-00002-of-00002.safetensors"};

static int write_shard(const char *path, const tdef *const *ts, size_t n) {
    mk_st_decl d[48];
    memset(d, 0, sizeof d);
    for (size_t i = 0; i < n; i++) {
        d[i] = (mk_st_decl){ts[i]->name, ts[i]->dt, ts[i]->ndim,
                            {ts[i]->shape[0], ts[i]->shape[1]}};
    }
    mk_st_writer *w;
    mk_error err = {0};
    if (mk_st_writer_open(path, d, n, NULL, NULL, 0, &w, &err)) return -1;
    for (size_t i = 0; i < n; i++) {
        long idx = mk_st_writer_find(w, ts[i]->name);
        const mk_tensor_info *info = mk_st_writer_tensor(w, (size_t)idx);
        size_t bytes = (size_t)(info->end - info->begin);
        unsigned char *buf = malloc(bytes + 16);
        if (ts[i]->dt == MK_DT_I64 && bytes == 16) {
            memcpy(buf, ts[i]->values, 16);
        } else if (ts[i]->dt == MK_DT_F32) {
            float one = 1.0f;
            for (size_t b = 0; b + 4 <= bytes; b += 4) memcpy(buf + b, &one, 4);
        } else {
            for (size_t b = 0; b < bytes; b++) buf[b] = (unsigned char)(b * 7 + i + 1) & 0x7e;
        }
        int rc = bytes ? mk_st_writer_write(w, (size_t)idx, 0, buf, bytes, &err) : 0;
        free(buf);
        if (rc) {
            mk_st_writer_abort(w);
            return -1;
        }
    }
    return mk_st_writer_finish(w, &err);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    mk_test_write_file(p, text, strlen(text));
}

/* config.json = `base` with quantization_config set to `qc` (unless NULL). */
static void write_config(const char *dir, const char *base, const char *qc) {
    json_t *root = json_loads(base, 0, NULL);
    if (qc) json_object_set_new(root, "quantization_config", json_loads(qc, 0, NULL));
    char *text = json_dumps(root, JSON_INDENT(2));
    write_text(dir, "config.json", text);
    free(text);
    json_decref(root);
}

/* Tensors alternate between two shards, so a scale often sits in another
 * shard than its weight.  `unlisted` names a tensor left out of the index. */
static int write_sharded(const char *dir, const spec *s, const char *unlisted) {
    const tdef *parts[2][48];
    size_t n[2] = {0, 0};
    json_t *wm = json_object();
    int64_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        int k = (int)(i % 2);
        parts[k][n[k]++] = &s->t[i];
        int64_t elems = 1;
        for (int d = 0; d < s->t[i].ndim; d++) elems *= s->t[i].shape[d];
        total += elems * (int64_t)mk_dtype_size(s->t[i].dt);
        if (!unlisted || strcmp(unlisted, s->t[i].name) != 0)
            json_object_set_new(wm, s->t[i].name, json_string(k_shards[k]));
    }
    for (int k = 0; k < 2; k++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, k_shards[k]);
        if (write_shard(p, parts[k], n[k])) return -1;
    }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total,
                            "weight_map", wm);
    char *text = json_dumps(idx, JSON_INDENT(2));
    write_text(dir, MK_INDEX_NAME, text);
    free(text);
    json_decref(idx);
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* moekit.json over every file of the folder, hashed here independently. */
static void write_manifest(const char *dir, const char *scheme) {
    char *names[64];
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "moekit.json") != 0)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "rb");
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        unsigned char *buf = malloc((size_t)len + 1);
        size_t got = fread(buf, 1, (size_t)len, f);
        fclose(f);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH64(buf, got, 0));
        free(buf);
        json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", names[i], "bytes",
                                               (json_int_t)len, "xxh64", hex));
        free(names[i]);
    }
    json_t *m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o}", "format", "moekit-manifest", "version",
                          1, "moekit_version", "0.1.0", "scheme", scheme, "shard_by", "expert",
                          "files", files);
    char *text = json_dumps(m, JSON_INDENT(2));
    write_text(dir, "moekit.json", text);
    free(text);
    json_decref(m);
}

/* A fresh sub-folder of the test folder. */
static const char *subdir(const char *name) {
    const char *p = mk_test_path(name);
    mkdir(p, 0700);
    return p;
}

/* A complete folder: shards, index, config with form f's quantization_config
 * (or `qc` when given), a tokenizer file and, with `manifest`, moekit.json. */
static int write_folder(const char *dir, const spec *s, form f, const char *qc, bool manifest) {
    if (write_sharded(dir, s, NULL)) return -1;
    write_config(dir, k_deepseek_tiny, qc ? qc : quant_config(f));
    write_text(dir, "tokenizer.json", "{\"version\": \"1.0\"}");
    if (manifest) write_manifest(dir, k_form_scheme[f]);
    return 0;
}

/* Flips the lowest bit of byte `at` of a tensor's data in `shard`. */
static int flip_tensor_byte(const char *dir, const char *shard, const char *tensor, uint64_t at) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, shard);
    mk_st_file *f;
    mk_error err = {0};
    if (mk_st_open(p, &f, &err)) return -1;
    const mk_tensor_info *t = mk_st_find(f, tensor);
    if (!t) {
        mk_st_close(f);
        return -1;
    }
    off_t off = (off_t)(8 + mk_st_header_bytes(f) + t->begin + at);
    mk_st_close(f);
    int fd = open(p, O_RDWR);
    unsigned char b = 0;
    int ok = fd >= 0 && pread(fd, &b, 1, off) == 1;
    b ^= 1;
    ok = ok && pwrite(fd, &b, 1, off) == 1;
    if (fd >= 0) close(fd);
    return ok ? 0 : -1;
}

/* Runs verify on `dir` and checks that it fails with MK_ERR_INPUT naming
 * `a` and `b` (b may be NULL). */
#define EXPECT_REJECTS(dir, a, b)                                          \
    do {                                                                   \
        mk_verify_report r_;                                               \
        mk_error e_ = {0};                                                 \
        CHECK_EQ_INT(mk_verify((dir), &r_, &e_), MK_ERR_INPUT);            \
        CHECK_EQ_INT(e_.code, MK_ERR_INPUT);                               \
        CHECK_STR_CONTAINS(e_.msg, (a));                                   \
        if ((b) != NULL) CHECK_STR_CONTAINS(e_.msg, (const char *)(b));    \
        CHECK(strchr(e_.msg, '\n') == NULL);                               \
    } while (0)

/* ---- accepted forms ---- */

TEST(verify_test_config_is_a_supported_deepseek_v3) {
    mk_model_config c;
    mk_error err = {0};
    CHECK_EQ_INT(mk_config_parse(k_deepseek_tiny, strlen(k_deepseek_tiny), NULL, &c, &err), MK_OK);
    CHECK_EQ_INT(c.num_layers, 2);
    CHECK_EQ_INT(c.num_nextn_predict_layers, 1);
    mk_config_free(&c);
}

TEST(verify_accepts_every_scheme_form_with_its_manifest) {
    for (int f = 0; f < N_FORMS; f++) {
        char name[32];
        snprintf(name, sizeof name, "form%d", f);
        const char *dir = subdir(name);
        spec s;
        base_spec(&s, (form)f);
        CHECK_EQ_INT(write_folder(dir, &s, (form)f, NULL, true), 0);
        mk_verify_report r;
        mk_error err = {0};
        int rc = mk_verify(dir, &r, &err);
        CHECKF(rc == MK_OK, "%s: %s", k_form_scheme[f], err.msg);
        CHECKF(strcmp(r.scheme, k_form_scheme[f]) == 0, "form %d reported as %s", f, r.scheme);
        CHECK_EQ_INT(r.n_files, 2);
        CHECK_EQ_INT(r.n_tensors, s.n);
        CHECK_EQ_INT(r.n_quantized, f == NONE ? 0 : 3);
        CHECK(r.has_manifest);
        CHECK_EQ_INT(r.n_manifest_files, 5); /* 2 shards, index, config, tokenizer */
    }
}

TEST(verify_accepts_deepseek_release_form_without_ignore_list) {
    /* DeepSeek-V3's own config has no ignore list; its routers, lm_head and
     * MTP eh_proj are BF16 all the same because vLLM never quantizes them. */
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, FP8_BLOCK);
    const char *qc = "{\"quant_method\": \"fp8\", \"fmt\": \"e4m3\", \"activation_scheme\":"
                     " \"dynamic\", \"weight_block_size\": [16, 16]}";
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, qc, false), 0);
    mk_verify_report r;
    mk_error err = {0};
    CHECKF(mk_verify(dir, &r, &err) == MK_OK, "%s", err.msg);
    CHECK(strcmp(r.scheme, "fp8-block") == 0);
    CHECK(!r.has_manifest);
    CHECK_EQ_INT(r.n_manifest_files, 0);
    /* ... but a dense MLP weight left in BF16 is still caught. */
    const char *dir2 = subdir("dense_bf16");
    drop(&s, "model.layers.0.mlp.down_proj.weight_scale_inv");
    find(&s, "model.layers.0.mlp.down_proj.weight")->dt = MK_DT_BF16;
    CHECK_EQ_INT(write_folder(dir2, &s, FP8_BLOCK, qc, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.0.mlp.down_proj.weight", "has no ignored_layers");
}

TEST(verify_accepts_single_file_with_static_fp8_tensor_scales) {
    /* Mixtral, one model.safetensors, per-tensor FP8 with static activations. */
    const char *dir = mk_test_tmpdir();
    spec s = {.n = 0};
    add(&s, "model.layers.0.block_sparse_moe.experts.0.w1.weight", MK_DT_F8_E4M3, 2, 32, 64);
    add(&s, "model.layers.0.block_sparse_moe.experts.0.w1.weight_scale", MK_DT_F32, 0, 0, 0);
    add(&s, "model.layers.0.block_sparse_moe.experts.0.w1.input_scale", MK_DT_F32, 1, 1, 0);
    add(&s, "model.layers.0.block_sparse_moe.gate.weight", MK_DT_BF16, 2, 4, 64);
    const tdef *ts[4] = {&s.t[0], &s.t[1], &s.t[2], &s.t[3]};
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK_EQ_INT(write_shard(p, ts, 4), 0);
    write_config(dir, k_mixtral_tiny,
                 "{\"quant_method\": \"fp8\", \"activation_scheme\": \"static\","
                 " \"ignored_layers\": [\"model.layers.0.block_sparse_moe.gate\"]}");
    mk_verify_report r;
    mk_error err = {0};
    CHECKF(mk_verify(dir, &r, &err) == MK_OK, "%s", err.msg);
    CHECK(strcmp(r.scheme, "fp8-tensor") == 0);
    CHECK_EQ_INT(r.n_files, 1);
    CHECK_EQ_INT(r.n_tensors, 4);
    CHECK_EQ_INT(r.n_quantized, 1);
    /* Static activations need every input_scale. */
    CHECK_EQ_INT(write_shard(p, ts, 2), 0);
    EXPECT_REJECTS(dir, "model.layers.0.block_sparse_moe.experts.0.w1.input_scale", "static");
}

/* ---- rejected: scales ---- */

TEST(verify_rejects_quantized_weight_without_scale) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, FP8_BLOCK);
    drop(&s, "model.layers.0.mlp.down_proj.weight_scale_inv");
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir, "model.layers.0.mlp.down_proj.weight_scale_inv", "has no scale");
}

TEST(verify_rejects_scale_with_wrong_shape) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, FP8_BLOCK);
    /* [40, 70] in 16x16 blocks is [3, 5]; [3, 4] forgets the partial block */
    tdef *t = find(&s, "model.layers.0.self_attn.q_a_proj.weight_scale_inv");
    CHECK(t->shape[0] == 3 && t->shape[1] == 5);
    t->shape[1] = 4;
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir, "model.layers.0.self_attn.q_a_proj.weight_scale_inv", "needs [3, 5]");
    /* A per-channel scale must be [N, 1]. */
    const char *dir2 = subdir("channel");
    base_spec(&s, CT_CHANNEL);
    find(&s, "model.layers.1.mlp.experts.0.gate_proj.weight_scale")->shape[1] = 2;
    CHECK_EQ_INT(write_folder(dir2, &s, CT_CHANNEL, NULL, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.1.mlp.experts.0.gate_proj.weight_scale", "needs [32, 1]");
}

TEST(verify_rejects_wrong_dtypes) {
    /* DeepSeek-form scales are F32. */
    const char *dir = subdir("scale");
    spec s;
    base_spec(&s, FP8_BLOCK);
    find(&s, "model.layers.0.mlp.down_proj.weight_scale_inv")->dt = MK_DT_BF16;
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir, "model.layers.0.mlp.down_proj.weight_scale_inv", "BF16");
    /* An INT8 weight in an FP8 checkpoint. */
    const char *dir2 = subdir("weight");
    base_spec(&s, FP8_BLOCK);
    find(&s, "model.layers.0.mlp.down_proj.weight")->dt = MK_DT_I8;
    CHECK_EQ_INT(write_folder(dir2, &s, FP8_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.0.mlp.down_proj.weight", "F8_E4M3");
}

TEST(verify_rejects_orphan_and_misnamed_scales) {
    /* A scale beside an unquantized weight. */
    const char *dir = subdir("orphan");
    spec s;
    base_spec(&s, FP8_BLOCK);
    add(&s, "model.layers.1.mlp.gate.weight_scale_inv", MK_DT_F32, 2, 1, 4);
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir, "model.layers.1.mlp.gate.weight_scale_inv", "orphan");
    /* A scale with no weight at all. */
    const char *dir2 = subdir("no_weight");
    base_spec(&s, FP8_BLOCK);
    add(&s, "model.layers.0.self_attn.o_proj.weight_scale_inv", MK_DT_F32, 2, 4, 1);
    CHECK_EQ_INT(write_folder(dir2, &s, FP8_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.0.self_attn.o_proj.weight_scale_inv",
                   "no quantized weight");
    /* compressed-tensors names its scales weight_scale, not weight_scale_inv. */
    const char *dir3 = subdir("misnamed");
    base_spec(&s, CT_BLOCK);
    snprintf(find(&s, "model.layers.0.mlp.down_proj.weight_scale")->name, 128,
             "model.layers.0.mlp.down_proj.weight_scale_inv");
    CHECK_EQ_INT(write_folder(dir3, &s, CT_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir3, "model.layers.0.mlp.down_proj.weight_scale_inv",
                   "not a name this scheme uses");
    /* ... and a DeepSeek-form checkpoint has no weight_scale. */
    const char *dir4 = subdir("foreign");
    base_spec(&s, FP8_BLOCK);
    add(&s, "model.layers.1.mlp.gate.weight_scale", MK_DT_F32, 0, 0, 0);
    CHECK_EQ_INT(write_folder(dir4, &s, FP8_BLOCK, NULL, false), 0);
    EXPECT_REJECTS(dir4, "model.layers.1.mlp.gate.weight_scale'", "not part of the fp8-block form");
    /* An input_scale where activations are dynamic. */
    const char *dir5 = subdir("input_scale");
    base_spec(&s, CT_CHANNEL);
    add(&s, "model.layers.0.mlp.down_proj.input_scale", MK_DT_F32, 1, 1, 0);
    CHECK_EQ_INT(write_folder(dir5, &s, CT_CHANNEL, NULL, false), 0);
    EXPECT_REJECTS(dir5, "model.layers.0.mlp.down_proj.input_scale", "dynamic");
}

TEST(verify_rejects_weight_shape_values_that_disagree) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, INT8_GROUP);
    /* K = 90 would pack into 23 words, not the 18 stored */
    find(&s, "model.layers.0.self_attn.q_a_proj.weight_shape")->values[1] = 90;
    CHECK_EQ_INT(write_folder(dir, &s, INT8_GROUP, NULL, false), 0);
    EXPECT_REJECTS(dir, "model.layers.0.self_attn.q_a_proj.weight_shape", "[40, 90]");
    const char *dir2 = subdir("rows");
    base_spec(&s, INT8_GROUP);
    find(&s, "model.layers.0.mlp.down_proj.weight_shape")->values[0] = 65;
    CHECK_EQ_INT(write_folder(dir2, &s, INT8_GROUP, NULL, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.0.mlp.down_proj.weight_shape", "[65, 128]");
}

/* ---- rejected: ignore lists ---- */

TEST(verify_rejects_quantized_module_in_ignore_list) {
    const char *dir = subdir("fp8");
    spec s;
    base_spec(&s, FP8_TENSOR);
    const char *qc =
        "{\"quant_method\": \"fp8\", \"activation_scheme\": \"dynamic\", \"ignored_layers\":"
        " [\"lm_head\", \"model.layers.1.mlp.gate\", \"model.layers.2.eh_proj\","
        " \"model.layers.0.mlp.down_proj\"]}";
    CHECK_EQ_INT(write_folder(dir, &s, FP8_TENSOR, qc, false), 0);
    EXPECT_REJECTS(dir, "model.layers.0.mlp.down_proj", "ignored_layers");
    /* compressed-tensors: matched by a regex entry */
    const char *dir2 = subdir("ct");
    base_spec(&s, INT8_CHANNEL);
    const char *qc2 = "{\"quant_method\": \"compressed-tensors\", \"format\": \"int-quantized\","
                      " \"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\":"
                      " {\"num_bits\": 8, \"type\": \"int\", \"strategy\": \"channel\"}}},"
                      " \"ignore\": [\"lm_head\", \"re:.*mlp\\\\.gate$\", \"re:.*eh_proj\","
                      " \"re:.*experts\\\\.(?:0|1)\\\\.\"]}";
    CHECK_EQ_INT(write_folder(dir2, &s, INT8_CHANNEL, qc2, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.1.mlp.experts.0.gate_proj", "quantization_config.ignore");
}

TEST(verify_rejects_unquantized_linear_not_in_ignore_list) {
    const char *dir = subdir("fp8");
    spec s;
    base_spec(&s, FP8_BLOCK);
    const char *qc = "{\"quant_method\": \"fp8\", \"activation_scheme\": \"dynamic\","
                     " \"weight_block_size\": [16, 16], \"ignored_layers\": [\"lm_head\","
                     " \"model.layers.1.mlp.gate\"]}";
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, qc, false), 0);
    EXPECT_REJECTS(dir, "model.layers.2.eh_proj.weight", "ignored_layers");
    /* compressed-tensors, an attention projection left in BF16 */
    const char *dir2 = subdir("ct");
    base_spec(&s, CT_CHANNEL);
    drop(&s, "model.layers.0.self_attn.q_a_proj.weight_scale");
    find(&s, "model.layers.0.self_attn.q_a_proj.weight")->dt = MK_DT_BF16;
    CHECK_EQ_INT(write_folder(dir2, &s, CT_CHANNEL, NULL, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.0.self_attn.q_a_proj.weight", "attention");
}

TEST(verify_rejects_ignored_layers_that_differ_from_modules_to_not_convert) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, FP8_BLOCK);
    const char *qc = "{\"quant_method\": \"fp8\", \"activation_scheme\": \"dynamic\","
                     " \"weight_block_size\": [16, 16], \"ignored_layers\": " FP8_IGNORE ","
                     " \"modules_to_not_convert\": [\"lm_head\", \"model.layers.1.mlp.gate\"]}";
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, qc, false), 0);
    EXPECT_REJECTS(dir, "ignored_layers", "modules_to_not_convert");
    EXPECT_REJECTS(dir, "config.json", "model.layers.2.eh_proj");
}

TEST(verify_rejects_unsupported_quantization_configs) {
    const char *dir = subdir("bits");
    spec s;
    base_spec(&s, INT8_CHANNEL);
    CHECK_EQ_INT(write_folder(dir, &s, INT8_CHANNEL,
                              ct_config("pack-quantized",
                                        "{\"num_bits\": 4, \"type\": \"int\", \"strategy\":"
                                        " \"group\", \"group_size\": 128}",
                                        false),
                              false),
                 0);
    EXPECT_REJECTS(dir, "num_bits 4", "unsupported");
    const char *dir2 = subdir("method");
    CHECK_EQ_INT(write_folder(dir2, &s, INT8_CHANNEL, "{\"quant_method\": \"gptq\"}", false), 0);
    EXPECT_REJECTS(dir2, "config.json", "'gptq' is unsupported");
}

/* ---- rejected: structure ---- */

TEST(verify_rejects_shard_file_missing_from_index) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, FP8_BLOCK);
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, NULL, false), 0);
    const tdef *extra[1] = {&s.t[0]};
    char p[1024];
    snprintf(p, sizeof p, "%s/model-00003-of-00003.safetensors", dir);
    CHECK_EQ_INT(write_shard(p, extra, 1), 0);
    EXPECT_REJECTS(dir, "model-00003-of-00003.safetensors is not listed in "
                        "model.safetensors.index.json", NULL);
    /* Hidden files (a half-written temporary) do not count. */
    char hidden[1024];
    snprintf(hidden, sizeof hidden, "%s/.model-00003-of-00003.safetensors", dir);
    CHECK(rename(p, hidden) == 0);
    mk_verify_report r;
    mk_error err = {0};
    CHECKF(mk_verify(dir, &r, &err) == MK_OK, "%s", err.msg);
}

TEST(verify_rejects_tensor_missing_from_index) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, FP8_BLOCK);
    CHECK_EQ_INT(write_sharded(dir, &s, "model.norm.weight"), 0);
    write_config(dir, k_deepseek_tiny, quant_config(FP8_BLOCK));
    EXPECT_REJECTS(dir, "model.norm.weight", "is not listed");
}

TEST(verify_rejects_wrong_total_size) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, NONE);
    CHECK_EQ_INT(write_folder(dir, &s, NONE, NULL, false), 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, MK_INDEX_NAME);
    json_t *idx = json_load_file(p, 0, NULL);
    json_t *meta = json_object_get(idx, "metadata");
    json_int_t ts = json_integer_value(json_object_get(meta, "total_size"));
    json_object_set_new(meta, "total_size", json_integer(ts + 1));
    json_dump_file(idx, p, 0);
    json_decref(idx);
    EXPECT_REJECTS(dir, "model.safetensors.index.json", "total_size");
}

/* ---- rejected: manifest ---- */

TEST(verify_catches_a_flipped_byte) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, FP8_BLOCK);
    CHECK_EQ_INT(write_folder(dir, &s, FP8_BLOCK, NULL, true), 0);
    mk_verify_report r;
    mk_error err = {0};
    CHECKF(mk_verify(dir, &r, &err) == MK_OK, "%s", err.msg);
    /* tensor 1 of the list went to the second shard */
    CHECK_EQ_INT(flip_tensor_byte(dir, k_shards[1], s.t[1].name, 3), 0);
    EXPECT_REJECTS(dir, "model-00002-of-00002.safetensors: xxh64 0x",
                   "does not match the manifest's 0x");
    /* flipping it back restores the match */
    CHECK_EQ_INT(flip_tensor_byte(dir, k_shards[1], s.t[1].name, 3), 0);
    mk_error err2 = {0};
    CHECKF(mk_verify(dir, &r, &err2) == MK_OK, "%s", err2.msg);
    CHECK_EQ_INT(r.n_manifest_files, 5);
}

TEST(verify_rejects_manifest_size_mismatch) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, INT8_GROUP);
    CHECK_EQ_INT(write_folder(dir, &s, INT8_GROUP, NULL, true), 0);
    write_text(dir, "tokenizer.json", "{\"version\": \"1.0\"} ");
    EXPECT_REJECTS(dir, "tokenizer.json: 19 bytes", "manifest says 18");
}

TEST(verify_rejects_manifest_listing_a_missing_file) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, CT_CHANNEL);
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, NULL, true), 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    CHECK(unlink(p) == 0);
    EXPECT_REJECTS(dir, "tokenizer.json", "missing");
}

static void write_manifest_text(const char *dir, const char *files) {
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"format\": \"moekit-manifest\", \"version\": 1, \"moekit_version\": \"0.1.0\","
             " \"files\": %s}",
             files);
    write_text(dir, "moekit.json", buf);
}

TEST(verify_rejects_manifest_names_outside_the_folder) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, NONE);
    CHECK_EQ_INT(write_folder(dir, &s, NONE, NULL, false), 0);
    write_manifest_text(dir, "[{\"name\": \"sub/config.json\", \"bytes\": 1,"
                             " \"xxh64\": \"0123456789abcdef\"}]");
    EXPECT_REJECTS(dir, "moekit.json", "'sub/config.json' is not a plain file name");
    write_manifest_text(dir, "[{\"name\": \"..\", \"bytes\": 1, \"xxh64\": \"0123456789abcdef\"}]");
    EXPECT_REJECTS(dir, "moekit.json", "'..' is not a plain file name");
}

TEST(verify_rejects_manifest_with_wrong_json_types) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, NONE);
    CHECK_EQ_INT(write_folder(dir, &s, NONE, NULL, false), 0);
    write_manifest_text(dir, "[{\"name\": \"config.json\", \"bytes\": \"12\","
                             " \"xxh64\": \"0123456789abcdef\"}]");
    EXPECT_REJECTS(dir, "moekit.json", "files[0].bytes (config.json) is a string");
    write_manifest_text(dir, "[{\"name\": \"config.json\", \"bytes\": 12,"
                             " \"xxh64\": \"0123456789ABCDEF\"}]");
    EXPECT_REJECTS(dir, "moekit.json", "16 lowercase hex digits");
    write_manifest_text(dir, "{}");
    EXPECT_REJECTS(dir, "moekit.json", "\"files\" is an object, expected an array");
    write_manifest_text(dir, "[{\"name\": \"tokenizer.json\", \"bytes\": 1, \"xxh64\": "
                             "\"0123456789abcdef\"}, {\"name\": \"config.json\", \"bytes\": 1,"
                             " \"xxh64\": \"0123456789abcdef\"}]");
    EXPECT_REJECTS(dir, "moekit.json", "not sorted");
    write_text(dir, "moekit.json",
               "{\"format\": \"moekit-manifest\", \"version\": 2, \"files\": []}");
    EXPECT_REJECTS(dir, "moekit.json", "version 2 is not supported");
}

TEST(verify_rejects_manifest_that_disagrees_or_leaves_a_shard_out) {
    const char *dir = subdir("ckpt");
    spec s;
    base_spec(&s, CT_TENSOR);
    CHECK_EQ_INT(write_folder(dir, &s, CT_TENSOR, NULL, false), 0);
    write_manifest(dir, "fp8-block");
    EXPECT_REJECTS(dir, "moekit.json", "scheme 'fp8-block' does not match the 'fp8-tensor'");
    /* a manifest written while the second shard was elsewhere */
    char a[1024];
    snprintf(a, sizeof a, "%s/%s", dir, k_shards[1]);
    const char *b = mk_test_path("keep");
    CHECK(rename(a, b) == 0);
    write_manifest(dir, "fp8-tensor");
    CHECK(rename(b, a) == 0);
    EXPECT_REJECTS(dir, k_shards[1], "not listed in moekit.json");
}

TEST(verify_reads_plain_checkpoints_from_cast_schemes) {
    /* `convert --scheme bf16` writes no quantization_config and says bf16. */
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, NONE);
    CHECK_EQ_INT(write_folder(dir, &s, NONE, NULL, false), 0);
    write_manifest(dir, "bf16");
    mk_verify_report r;
    mk_error err = {0};
    CHECKF(mk_verify(dir, &r, &err) == MK_OK, "%s", err.msg);
    CHECK(strcmp(r.scheme, "none") == 0);
    CHECK_EQ_INT(r.n_manifest_files, 5);
    write_manifest(dir, "int8-group");
    EXPECT_REJECTS(dir, "moekit.json", "scheme 'int8-group' does not match the 'none'");
}

TEST(verify_honours_compressed_tensors_targets) {
    /* Only the experts are targeted: the BF16 attention and dense MLP need
     * no ignore entry, but a quantized weight outside the targets is wrong. */
    const char *dir = subdir("ok");
    spec s;
    base_spec(&s, CT_CHANNEL);
    for (int i = 0; i < 2; i++) {
        const char *m = i ? "model.layers.0.mlp.down_proj" : "model.layers.0.self_attn.q_a_proj";
        char w[128], sc[128];
        snprintf(w, sizeof w, "%s.weight", m);
        snprintf(sc, sizeof sc, "%s.weight_scale", m);
        drop(&s, sc);
        find(&s, w)->dt = MK_DT_BF16;
    }
    const char *qc = "{\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\","
                     " \"config_groups\": {\"experts\": {\"targets\": [\"re:.*\\\\.experts\\\\.\"],"
                     " \"weights\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\":"
                     " \"channel\"}}}, \"ignore\": []}";
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    mk_verify_report r;
    mk_error err = {0};
    CHECKF(mk_verify(dir, &r, &err) == MK_OK, "%s", err.msg);
    CHECK_EQ_INT(r.n_quantized, 1);
    const char *dir2 = subdir("outside");
    base_spec(&s, CT_CHANNEL);
    CHECK_EQ_INT(write_folder(dir2, &s, CT_CHANNEL, qc, false), 0);
    EXPECT_REJECTS(dir2, "model.layers.0.", "config_groups.experts.targets");
}

/* ---- compressed-tensors with several config groups ---- */

#define T_LINEAR "\"Linear\""
#define T_QA "\"model.layers.0.self_attn.q_a_proj\""
#define T_DOWN "\"model.layers.0.mlp.down_proj\""
#define T_DOWN_RE "\"re:model\\\\.layers\\\\.0\\\\.mlp\\\\.down_proj$\""
#define T_EXPERT "\"model.layers.1.mlp.experts.0.gate_proj\""
#define T_EXPERT_RE "\"re:model\\\\.layers\\\\.1\\\\.mlp\\\\.experts\\\\.[0-9]+\\\\.gate_proj$\""

#define DYNAMIC_TOKEN(type)                                                                  \
    "{\"num_bits\": 8, \"type\": \"" type "\", \"symmetric\": true, \"dynamic\": true,"      \
    " \"strategy\": \"token\", \"group_size\": null}"
#define G_FP8_CHANNEL(targets)                                                               \
    "{\"targets\": [" targets "], \"format\": \"float-quantized\", \"weights\": {\"num_bits\":" \
    " 8, \"type\": \"float\", \"symmetric\": true, \"dynamic\": false, \"strategy\":"        \
    " \"channel\", \"group_size\": null}, \"input_activations\": " DYNAMIC_TOKEN("float") "}"
#define G_INT8_CHANNEL(targets)                                                              \
    "{\"targets\": [" targets "], \"format\": \"int-quantized\", \"weights\": {\"num_bits\":" \
    " 8, \"type\": \"int\", \"symmetric\": true, \"dynamic\": false, \"strategy\":"          \
    " \"channel\", \"group_size\": null}, \"input_activations\": " DYNAMIC_TOKEN("int") "}"
#define G_INT8_GROUP(targets)                                                                \
    "{\"targets\": [" targets "], \"format\": \"pack-quantized\", \"weights\": {\"num_bits\":" \
    " 8, \"type\": \"int\", \"symmetric\": true, \"dynamic\": false, \"strategy\": \"group\"," \
    " \"group_size\": 32}}"
#define G_FP8_BLOCK(targets)                                                                 \
    "{\"targets\": [" targets "], \"format\": \"float-quantized\", \"weights\": {\"num_bits\":" \
    " 8, \"type\": \"float\", \"symmetric\": true, \"dynamic\": false, \"strategy\":"        \
    " \"block\", \"group_size\": null, \"block_structure\": [128, 128]},"                     \
    " \"input_activations\": {\"num_bits\": 8, \"type\": \"float\", \"symmetric\": true,"    \
    " \"dynamic\": true, \"strategy\": \"group\", \"group_size\": 128}}"

/* A config as `convert --recipe` writes it: `groups` is the inside of
 * config_groups, the top-level format "mixed-precision". */
static const char *mixed_config(const char *groups) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"quant_method\": \"compressed-tensors\", \"format\": \"mixed-precision\","
             " \"quantization_status\": \"compressed\", \"config_groups\": {%s}, \"ignore\": "
             CT_IGNORE ", \"kv_cache_scheme\": null, \"global_compression_ratio\": null,"
             " \"sparsity_config\": {}}",
             groups);
    return buf;
}

/* Re-stores module `m` ([n, k]) as form f. */
static void restore_as(spec *s, form f, const char *m, int64_t n, int64_t k) {
    static const char *const suffixes[] = {"weight", "weight_scale", "weight_scale_inv",
                                           "weight_packed", "weight_shape"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char t[128];
        snprintf(t, sizeof t, "%s.%s", m, suffixes[i]);
        drop(s, t);
    }
    add_quantized(s, f, m, n, k);
}

/* Module `m` in compressed-tensors' FP8 128x128 block form. */
static void restore_as_ct_block128(spec *s, const char *m, int64_t n, int64_t k) {
    restore_as(s, NONE, m, n, k);
    char t[128];
    snprintf(t, sizeof t, "%s.weight", m);
    find(s, t)->dt = MK_DT_F8_E4M3;
    snprintf(t, sizeof t, "%s.weight_scale", m);
    add(s, t, MK_DT_F32, 2, cdiv(n, 128), cdiv(k, 128));
}

static void expect_verified(const char *dir, const char *scheme, uint64_t n_quantized) {
    mk_verify_report r;
    mk_error err = {0};
    CHECKF(mk_verify(dir, &r, &err) == MK_OK, "%s", err.msg);
    CHECKF(strcmp(r.scheme, scheme) == 0, "reported as %s", r.scheme);
    CHECK_EQ_INT(r.n_quantized, n_quantized);
}

/* fp8-channel for every Linear, int8-channel for the dense MLP (by name)
 * and the experts (by regex): names win over the class target. */
static void two_group_spec(spec *s) {
    base_spec(s, CT_CHANNEL);
    restore_as(s, INT8_CHANNEL, "model.layers.0.mlp.down_proj", 64, 128);
    restore_as(s, INT8_CHANNEL, "model.layers.1.mlp.experts.0.gate_proj", 32, 64);
}

static const char *two_group_config(void) {
    return mixed_config("\"group_0\": " G_FP8_CHANNEL(T_LINEAR) ", \"group_1\": "
                        G_INT8_CHANNEL(T_DOWN ", " T_EXPERT_RE));
}

TEST(verify_accepts_two_config_groups) {
    const char *dir = subdir("two");
    spec s;
    two_group_spec(&s);
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, two_group_config(), false), 0);
    write_manifest(dir, "mixed");
    expect_verified(dir, "mixed", 3);
    /* The manifest must agree all the same. */
    write_manifest(dir, "fp8-channel");
    EXPECT_REJECTS(dir, "moekit.json", "scheme 'fp8-channel' does not match the 'mixed'");
    /* One group keeps its own name, and "mixed" from a recipe is accepted. */
    const char *dir2 = subdir("one");
    base_spec(&s, INT8_CHANNEL);
    CHECK_EQ_INT(write_folder(dir2, &s, INT8_CHANNEL,
                              mixed_config("\"group_0\": " G_INT8_CHANNEL(T_LINEAR)), false),
                 0);
    write_manifest(dir2, "mixed");
    expect_verified(dir2, "int8-channel", 3);
}

TEST(verify_accepts_three_config_groups_with_ct_block) {
    const char *dir = mk_test_tmpdir();
    spec s;
    base_spec(&s, CT_CHANNEL);
    restore_as_ct_block128(&s, "model.layers.0.mlp.down_proj", 64, 128);
    restore_as(&s, INT8_GROUP, "model.layers.1.mlp.experts.0.gate_proj", 32, 64);
    const char *qc = mixed_config("\"group_0\": " G_FP8_CHANNEL(T_LINEAR) ", \"group_1\": "
                                  G_INT8_GROUP(T_EXPERT_RE) ", \"group_2\": "
                                  G_FP8_BLOCK(T_DOWN_RE));
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    write_manifest(dir, "mixed");
    expect_verified(dir, "mixed", 3);
    /* The block group's scales are [ceil(N/128), ceil(K/128)]. */
    find(&s, "model.layers.0.mlp.down_proj.weight_scale")->shape[1] = 2;
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    EXPECT_REJECTS(dir, "model.layers.0.mlp.down_proj.weight_scale",
                   "fp8-ct-block (config_groups.group_2) weight");
    EXPECT_REJECTS(dir, "needs [1, 1]", NULL);
    /* ... named weight_scale, not weight_scale_inv. */
    restore_as_ct_block128(&s, "model.layers.0.mlp.down_proj", 64, 128);
    snprintf(find(&s, "model.layers.0.mlp.down_proj.weight_scale")->name, 128,
             "model.layers.0.mlp.down_proj.weight_scale_inv");
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    EXPECT_REJECTS(dir, "model.layers.0.mlp.down_proj.weight_scale", "fp8-ct-block");
}

TEST(verify_rejects_module_named_by_two_config_groups) {
    const char *dir = mk_test_tmpdir();
    spec s;
    two_group_spec(&s);
    const char *qc = mixed_config("\"group_0\": " G_FP8_CHANNEL(T_LINEAR) ", \"group_1\": "
                                  G_INT8_CHANNEL(T_DOWN ", " T_EXPERT_RE) ", \"group_2\": "
                                  G_INT8_CHANNEL(T_DOWN_RE));
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    EXPECT_REJECTS(dir, "module 'model.layers.0.mlp.down_proj' is matched by name by both",
                   "config_groups.group_1.targets and config_groups.group_2.targets");
    /* Two class targets would be as ambiguous for every other module. */
    qc = mixed_config("\"group_0\": " G_FP8_CHANNEL(T_LINEAR) ", \"group_1\": "
                      G_INT8_CHANNEL(T_LINEAR ", " T_DOWN));
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    EXPECT_REJECTS(dir, "config_groups.group_0 and config_groups.group_1", "every Linear");
}

TEST(verify_rejects_quantized_module_matching_no_config_group) {
    const char *dir = mk_test_tmpdir();
    spec s;
    two_group_spec(&s);
    const char *qc = mixed_config("\"group_0\": " G_FP8_CHANNEL(T_QA) ", \"group_1\": "
                                  G_INT8_CHANNEL(T_EXPERT_RE));
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    EXPECT_REJECTS(dir, "module 'model.layers.0.mlp.down_proj' is quantized but matches no "
                        "config group",
                   NULL);
}

TEST(verify_rejects_tensors_outside_their_config_groups_form) {
    /* An I8 weight where its group (the Linear one) stores FP8. */
    const char *dir = subdir("i8");
    spec s;
    two_group_spec(&s);
    restore_as(&s, INT8_CHANNEL, "model.layers.0.self_attn.q_a_proj", 40, 70);
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, two_group_config(), false), 0);
    EXPECT_REJECTS(dir, "'model.layers.0.self_attn.q_a_proj.weight' is I8",
                   "fp8-channel (config_groups.group_0) stores quantized weights as F8_E4M3");
    /* An FP8 weight that its name puts in the INT8 group. */
    const char *dir2 = subdir("fp8");
    two_group_spec(&s);
    restore_as(&s, CT_CHANNEL, "model.layers.1.mlp.experts.0.gate_proj", 32, 64);
    CHECK_EQ_INT(write_folder(dir2, &s, CT_CHANNEL, two_group_config(), false), 0);
    EXPECT_REJECTS(dir2, "'model.layers.1.mlp.experts.0.gate_proj.weight' is F8_E4M3",
                   "int8-channel (config_groups.group_1) stores quantized weights as I8");
    /* A packed weight in a group whose weights are not packed. */
    const char *dir3 = subdir("packed");
    two_group_spec(&s);
    restore_as(&s, INT8_GROUP, "model.layers.0.mlp.down_proj", 64, 128);
    CHECK_EQ_INT(write_folder(dir3, &s, CT_CHANNEL, two_group_config(), false), 0);
    EXPECT_REJECTS(dir3, "model.layers.0.mlp.down_proj.weight_packed",
                   "not part of the int8-channel (config_groups.group_1) form");
}

TEST(verify_rejects_unquantized_linear_a_group_names) {
    /* No class target: a BF16 linear no group names needs no ignore entry... */
    const char *dir = subdir("untargeted");
    spec s;
    two_group_spec(&s);
    restore_as(&s, NONE, "model.layers.0.self_attn.q_a_proj", 40, 70);
    const char *qc = mixed_config("\"group_0\": " G_INT8_CHANNEL(T_DOWN) ", \"group_1\": "
                                  G_INT8_CHANNEL(T_EXPERT));
    CHECK_EQ_INT(write_folder(dir, &s, CT_CHANNEL, qc, false), 0);
    expect_verified(dir, "mixed", 2);
    /* ... but one a group names does. */
    const char *dir2 = subdir("named");
    restore_as(&s, NONE, "model.layers.1.mlp.experts.0.gate_proj", 32, 64);
    CHECK_EQ_INT(write_folder(dir2, &s, CT_CHANNEL, qc, false), 0);
    EXPECT_REJECTS(dir2, "'model.layers.1.mlp.experts.0.gate_proj.weight' (routed_expert)",
                   "is not in quantization_config.ignore, so engines would expect it in "
                   "int8-channel (config_groups.group_1) form");
}
