/* `convert` end to end on synthetic checkpoints: the on-disk form of each
 * scheme, the codes against the arithmetic contract, reconstruction error
 * (SQNR), DeepSeek FP8 sources, determinism, sharding, refusals. */
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "moekit/checkpoint.h"
#include "moekit/convert.h"
#include "moekit/inspect.h"
#include "moekit/kernels.h"
#include "moekit/quant.h"
#include "moekit/synth.h"

static int synth(const char *dir, const char *arch, bool outliers) {
    mk_synth_opts o;
    mk_synth_defaults(&o);
    o.arch = arch;
    o.no_outliers = !outliers;
    mk_error err = {0};
    int rc = mk_synth(mk_test_path(dir), &o, &err);
    if (rc) fprintf(stderr, "synth: %s\n", err.msg);
    return rc;
}

static int convert(const char *src, const char *dst, mk_scheme s, mk_error *err) {
    mk_convert_opts o;
    mk_convert_defaults(&o);
    o.scheme = s;
    return mk_convert(mk_test_path(src), mk_test_path(dst), &o, NULL, err);
}

static float load(mk_dtype dt, const void *p, uint64_t i) {
    if (dt == MK_DT_BF16) return mk_bf16_to_f32(((const uint16_t *)p)[i]);
    if (dt == MK_DT_F16) return mk_f16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

/* Signal and error energy of one dequantized weight against its source. */
typedef struct energy { double sig, err; } energy;

static double sqnr_db(energy e) { return 10.0 * log10(e.sig / e.err); }

static const char *file_of(mk_ckpt *c, const char *name) {
    for (size_t i = 0; i < mk_ckpt_n_tensors(c); i++)
        if (strcmp(mk_ckpt_tensor_name(c, i), name) == 0)
            return mk_ckpt_file_name(c, mk_ckpt_tensor_file(c, i));
    return "";
}

static json_t *load_qcfg(const char *dir, json_t **root) {
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", mk_test_path(dir));
    *root = json_load_file(p, 0, NULL);
    return json_object_get(*root, "quantization_config");
}

/* Dequantizes every quantized linear weight of `dst` and accumulates its
 * error against `src`. */
static energy measure(const char *src, const char *dst, mk_scheme s) {
    energy e = {0, 0};
    mk_ckpt *a, *b;
    mk_error err = {0};
    if (mk_ckpt_open(mk_test_path(src), &a, &err) || mk_ckpt_open(mk_test_path(dst), &b, &err)) return e;
    const char *suffix = s == MK_SCHEME_FP8_BLOCK ? "weight_scale_inv" : "weight_scale";
    for (size_t i = 0; i < mk_ckpt_n_tensors(b); i++) {
        const char *name = mk_ckpt_tensor_name(b, i);
        const char *dot = strrchr(name, '.');
        if (strcmp(dot + 1, suffix) != 0) continue;
        char base[512], wname[600];
        snprintf(base, sizeof base, "%.*s", (int)(dot - name), name);
        snprintf(wname, sizeof wname, "%s.%s", base, s == MK_SCHEME_INT8_GROUP ? "weight_packed" : "weight");
        const mk_st_file *fs, *fq, *fo;
        const mk_tensor_info *ts, *tq, *to;
        char oname[520];
        snprintf(oname, sizeof oname, "%s.weight", base);
        if (mk_ckpt_find(b, name, &fs, &ts, &err) || mk_ckpt_find(b, wname, &fq, &tq, &err) ||
            mk_ckpt_find(a, oname, &fo, &to, &err))
            continue;
        int64_t N = to->shape[0], K = to->shape[1];
        const void *orig = mk_st_data(fo, to), *q = mk_st_data(fq, tq), *sc = mk_st_data(fs, ts);
        for (int64_t r = 0; r < N; r++)
            for (int64_t c = 0; c < K; c++) {
                double x = load(to->dtype, orig, (uint64_t)(r * K + c)), y;
                switch (s) {
                case MK_SCHEME_FP8_BLOCK:
                    y = (double)mk_e4m3_decode(((const uint8_t *)q)[r * K + c]) *
                        ((const float *)sc)[(r / 128) * ts->shape[1] + c / 128];
                    break;
                case MK_SCHEME_FP8_TENSOR:
                    y = (double)mk_e4m3_decode(((const uint8_t *)q)[r * K + c]) * ((const float *)sc)[0];
                    break;
                case MK_SCHEME_FP8_CHANNEL:
                    y = (double)mk_e4m3_decode(((const uint8_t *)q)[r * K + c]) * ((const float *)sc)[r];
                    break;
                case MK_SCHEME_INT8_CHANNEL:
                    y = (double)((const int8_t *)q)[r * K + c] * ((const float *)sc)[r];
                    break;
                case MK_SCHEME_INT8_GROUP: {
                    int64_t words = tq->shape[1];
                    uint32_t w = ((const uint32_t *)q)[r * words + c / 4];
                    int code = (int)((w >> (8 * (c % 4))) & 0xff) - 128;
                    y = (double)code * load(ts->dtype, sc, (uint64_t)(r * ts->shape[1] + c / 128));
                    break;
                }
                default: y = 0;
                }
                e.sig += x * x;
                e.err += (x - y) * (x - y);
            }
    }
    mk_ckpt_close(a);
    mk_ckpt_close(b);
    return e;
}

TEST(convert_fp8_block_form_codes_and_sqnr) {
    CHECK_EQ_INT(synth("src", "deepseek-v3", true), MK_OK);
    mk_error err = {0};
    CHECKF(convert("src", "out", MK_SCHEME_FP8_BLOCK, &err) == MK_OK, "%s", err.msg);
    mk_ckpt *c, *s;
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("out"), &c, &err), MK_OK);
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("src"), &s, &err), MK_OK);
    const char *w = "model.layers.2.mlp.experts.3.down_proj.weight";
    const mk_st_file *f, *fs, *fsrc;
    const mk_tensor_info *t, *ts, *tsrc;
    CHECK_EQ_INT(mk_ckpt_find(c, w, &f, &t, &err), MK_OK);
    CHECK(t->dtype == MK_DT_F8_E4M3 && t->shape[0] == 256 && t->shape[1] == 128);
    CHECK_EQ_INT(mk_ckpt_find(c, "model.layers.2.mlp.experts.3.down_proj.weight_scale_inv", &fs, &ts, &err), MK_OK);
    CHECK(ts->dtype == MK_DT_F32 && ts->ndim == 2 && ts->shape[0] == 2 && ts->shape[1] == 1);
    CHECK(strcmp(file_of(c, w), "model-expert-00003-of-00008.safetensors") == 0);
    CHECK(strcmp(file_of(c, "model.layers.2.mlp.gate.weight"), "model-00001-of-00001.safetensors") == 0);
    /* every code is the contract applied to the source */
    CHECK_EQ_INT(mk_ckpt_find(s, w, &fsrc, &tsrc, &err), MK_OK);
    const uint16_t *x = mk_st_data(fsrc, tsrc);
    const uint8_t *q = mk_st_data(f, t);
    const float *sc = mk_st_data(fs, ts);
    for (int band = 0; band < 2; band++) {
        float amax = 0;
        for (int r = band * 128; r < band * 128 + 128; r++)
            for (int k = 0; k < 128; k++) amax = fmaxf(amax, fabsf(mk_bf16_to_f32(x[r * 128 + k])));
        float scale = amax / 448.0f;
        CHECKF(sc[band] == scale, "band %d scale %g, expected %g", band, (double)sc[band], (double)scale);
        for (int r = band * 128; r < band * 128 + 128; r++)
            for (int k = 0; k < 128; k++) {
                float v = mk_bf16_to_f32(x[r * 128 + k]) / scale;
                v = v > 448.0f ? 448.0f : v < -448.0f ? -448.0f : v;
                CHECKF(q[r * 128 + k] == mk_e4m3_encode(v), "code (%d,%d)", r, k);
            }
    }
    /* stays unquantized, and the ignore lists say so */
    CHECK_EQ_INT(mk_ckpt_find(c, "model.layers.2.mlp.gate.weight", &f, &t, &err), MK_OK);
    CHECK(t->dtype == MK_DT_BF16);
    CHECK_EQ_INT(mk_ckpt_find(c, "model.layers.2.mlp.gate.e_score_correction_bias", &f, &t, &err), MK_OK);
    CHECK(t->dtype == MK_DT_F32);
    CHECK_EQ_INT(mk_ckpt_find(c, "model.layers.4.eh_proj.weight", &f, &t, &err), MK_OK);
    CHECK(t->dtype == MK_DT_BF16);
    CHECK_EQ_INT(mk_ckpt_find(c, "model.layers.4.mlp.experts.0.up_proj.weight", &f, &t, &err), MK_OK);
    CHECK(t->dtype == MK_DT_F8_E4M3); /* MTP experts are quantized too */
    mk_ckpt_close(c);
    mk_ckpt_close(s);
    json_t *root;
    json_t *qc = load_qcfg("out", &root);
    CHECK(strcmp(json_string_value(json_object_get(qc, "quant_method")), "fp8") == 0);
    CHECK(strcmp(json_string_value(json_object_get(qc, "activation_scheme")), "dynamic") == 0);
    CHECK(strcmp(json_string_value(json_object_get(qc, "fmt")), "e4m3") == 0);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(qc, "weight_block_size"), 1)), 128);
    json_t *ign = json_object_get(qc, "ignored_layers");
    CHECK(json_equal(ign, json_object_get(qc, "modules_to_not_convert")));
    bool gate = false, head = false, bad = false;
    size_t i;
    json_t *v;
    json_array_foreach(ign, i, v) {
        const char *m = json_string_value(v);
        gate |= strcmp(m, "model.layers.2.mlp.gate") == 0;
        head |= strcmp(m, "lm_head") == 0;
        bad |= strstr(m, "experts.") != NULL || strstr(m, "down_proj") != NULL || strstr(m, "q_a_proj") != NULL;
    }
    json_decref(root);
    CHECK(gate && head && !bad);
    double db = sqnr_db(measure("src", "out", MK_SCHEME_FP8_BLOCK));
    CHECKF(db > 29.0 && db < 34.0, "fp8-block SQNR %.2f dB", db);
    mk_inspect_report r;
    CHECK_EQ_INT(mk_inspect(mk_test_path("out"), &r, &err), MK_OK);
    CHECKF(r.n_findings == 0, "%zu findings", r.n_findings);
    mk_inspect_free(&r);
}

TEST(convert_channel_tensor_and_group_schemes) {
    CHECK_EQ_INT(synth("plain", "qwen3-moe", false), MK_OK);
    const struct { mk_scheme s; const char *dir; double min_db; } cases[] = {
        {MK_SCHEME_FP8_TENSOR, "t", 29.0},  {MK_SCHEME_FP8_CHANNEL, "c", 29.0},
        {MK_SCHEME_INT8_CHANNEL, "i", 38.0}, {MK_SCHEME_INT8_GROUP, "g", 38.0},
    };
    for (size_t k = 0; k < 4; k++) {
        mk_error err = {0};
        CHECKF(convert("plain", cases[k].dir, cases[k].s, &err) == MK_OK, "%s", err.msg);
        double db = sqnr_db(measure("plain", cases[k].dir, cases[k].s));
        CHECKF(db >= cases[k].min_db, "%s SQNR %.2f dB", mk_scheme_name(cases[k].s), db);
        mk_ckpt *c;
        CHECK_EQ_INT(mk_ckpt_open(mk_test_path(cases[k].dir), &c, &err), MK_OK);
        const mk_st_file *f;
        const mk_tensor_info *t;
        const char *m = "model.layers.1.self_attn.q_proj";
        char n[128];
        json_t *root;
        json_t *qc = load_qcfg(cases[k].dir, &root);
        const char *method = json_string_value(json_object_get(qc, "quant_method"));
        json_t *g0 = json_object_get(json_object_get(qc, "config_groups"), "group_0");
        json_t *wa = json_object_get(g0, "weights");
        switch (cases[k].s) {
        case MK_SCHEME_FP8_TENSOR:
            snprintf(n, sizeof n, "%s.weight_scale", m);
            CHECK_EQ_INT(mk_ckpt_find(c, n, &f, &t, &err), MK_OK);
            CHECK(t->ndim == 0 && t->dtype == MK_DT_F32);
            CHECK(strcmp(method, "fp8") == 0 && !json_object_get(qc, "weight_block_size"));
            break;
        case MK_SCHEME_FP8_CHANNEL:
        case MK_SCHEME_INT8_CHANNEL:
            snprintf(n, sizeof n, "%s.weight", m);
            CHECK_EQ_INT(mk_ckpt_find(c, n, &f, &t, &err), MK_OK);
            CHECK(t->dtype == (cases[k].s == MK_SCHEME_FP8_CHANNEL ? MK_DT_F8_E4M3 : MK_DT_I8));
            snprintf(n, sizeof n, "%s.weight_scale", m);
            CHECK_EQ_INT(mk_ckpt_find(c, n, &f, &t, &err), MK_OK);
            CHECK(t->ndim == 2 && t->shape[0] == 512 && t->shape[1] == 1 && t->dtype == MK_DT_F32);
            CHECK(strcmp(method, "compressed-tensors") == 0);
            CHECK(strcmp(json_string_value(json_object_get(wa, "strategy")), "channel") == 0);
            CHECK(strcmp(json_string_value(json_object_get(
                             json_object_get(g0, "input_activations"), "strategy")), "token") == 0);
            CHECK(strcmp(json_string_value(json_object_get(qc, "format")),
                         cases[k].s == MK_SCHEME_FP8_CHANNEL ? "float-quantized" : "int-quantized") == 0);
            break;
        case MK_SCHEME_INT8_GROUP: {
            snprintf(n, sizeof n, "%s.weight_packed", m);
            CHECK_EQ_INT(mk_ckpt_find(c, n, &f, &t, &err), MK_OK);
            CHECK(t->dtype == MK_DT_I32 && t->shape[0] == 512 && t->shape[1] == 64);
            snprintf(n, sizeof n, "%s.weight_scale", m);
            CHECK_EQ_INT(mk_ckpt_find(c, n, &f, &t, &err), MK_OK);
            CHECK(t->dtype == MK_DT_BF16 && t->shape[0] == 512 && t->shape[1] == 2);
            snprintf(n, sizeof n, "%s.weight_shape", m);
            CHECK_EQ_INT(mk_ckpt_find(c, n, &f, &t, &err), MK_OK);
            const int64_t *ws = mk_st_data(f, t);
            CHECK(t->dtype == MK_DT_I64 && ws[0] == 512 && ws[1] == 256);
            CHECK(strcmp(json_string_value(json_object_get(qc, "format")), "pack-quantized") == 0);
            CHECK(!json_object_get(g0, "input_activations"));
            CHECK_EQ_INT(json_integer_value(json_object_get(wa, "group_size")), 128);
            break;
        }
        default: break;
        }
        json_decref(root);
        mk_ckpt_close(c);
    }
}

TEST(convert_int8_channel_suffers_from_outlier_channels) {
    /* The reason per-group and FP8 exist: one outlier input channel sets
     * every row's INT8 scale. */
    CHECK_EQ_INT(synth("src", "mixtral", true), MK_OK);
    mk_error err = {0};
    CHECK_EQ_INT(convert("src", "i8", MK_SCHEME_INT8_CHANNEL, &err), MK_OK);
    CHECK_EQ_INT(convert("src", "f8", MK_SCHEME_FP8_CHANNEL, &err), MK_OK);
    double i8 = sqnr_db(measure("src", "i8", MK_SCHEME_INT8_CHANNEL));
    double f8 = sqnr_db(measure("src", "f8", MK_SCHEME_FP8_CHANNEL));
    CHECKF(i8 < 36.0 && f8 > 29.0, "int8 %.2f dB, fp8 %.2f dB", i8, f8);
}

static int read_all(const char *path, char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    *buf = malloc(*len + 1);
    size_t got = fread(*buf, 1, *len, f);
    fclose(f);
    return got == *len ? 0 : -1;
}

TEST(convert_deepseek_fp8_to_bf16_and_requantize) {
    CHECK_EQ_INT(synth("src", "deepseek-v3", true), MK_OK);
    mk_error err = {0};
    CHECK_EQ_INT(convert("src", "fp8", MK_SCHEME_FP8_BLOCK, &err), MK_OK);
    CHECKF(convert("fp8", "bf16", MK_SCHEME_BF16, &err) == MK_OK, "%s", err.msg);
    mk_ckpt *a, *b;
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("fp8"), &a, &err), MK_OK);
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("bf16"), &b, &err), MK_OK);
    const char *w = "model.layers.1.self_attn.kv_b_proj.weight";
    const mk_st_file *fq, *fs, *fb;
    const mk_tensor_info *tq, *ts, *tb;
    CHECK_EQ_INT(mk_ckpt_find(a, w, &fq, &tq, &err), MK_OK);
    CHECK_EQ_INT(mk_ckpt_find(a, "model.layers.1.self_attn.kv_b_proj.weight_scale_inv", &fs, &ts, &err), MK_OK);
    CHECK_EQ_INT(mk_ckpt_find(b, w, &fb, &tb, &err), MK_OK);
    CHECK(tb->dtype == MK_DT_BF16 && tb->shape[0] == tq->shape[0] && tb->shape[1] == tq->shape[1]);
    const uint8_t *q = mk_st_data(fq, tq);
    const float *s = mk_st_data(fs, ts);
    const uint16_t *y = mk_st_data(fb, tb);
    int64_t N = tq->shape[0], K = tq->shape[1];
    for (int64_t r = 0; r < N; r++)
        for (int64_t c = 0; c < K; c++) {
            float want = mk_e4m3_decode(q[r * K + c]) * s[(r / 128) * ts->shape[1] + c / 128];
            CHECKF(y[r * K + c] == mk_f32_to_bf16(want), "(%lld,%lld)", (long long)r, (long long)c);
        }
    CHECK(mk_ckpt_find(b, "model.layers.1.self_attn.kv_b_proj.weight_scale_inv", NULL, NULL, &err) != MK_OK);
    mk_ckpt_close(a);
    mk_ckpt_close(b);
    json_t *root;
    CHECK(load_qcfg("bf16", &root) == NULL);
    json_decref(root);
    mk_inspect_report r;
    mk_error e2 = {0};
    CHECK_EQ_INT(mk_inspect(mk_test_path("bf16"), &r, &e2), MK_OK);
    CHECKF(r.n_findings == 0, "%zu findings", r.n_findings);
    mk_inspect_free(&r);
    /* FP8 in, INT8 out: dequantize, then quantize by the INT8 contract */
    mk_error e3 = {0};
    CHECKF(convert("fp8", "i8", MK_SCHEME_INT8_CHANNEL, &e3) == MK_OK, "%s", e3.msg);
    double db = sqnr_db(measure("src", "i8", MK_SCHEME_INT8_CHANNEL));
    CHECKF(db > 20.0, "requantized SQNR %.2f dB", db);
}

TEST(convert_is_deterministic_and_copies_side_files) {
    CHECK_EQ_INT(synth("src", "qwen2-moe", true), MK_OK);
    mk_test_write_file(mk_test_path("src/tokenizer.json"), "{\"v\":1}", 7);
    mk_error err = {0};
    CHECK_EQ_INT(convert("src", "a", MK_SCHEME_FP8_BLOCK, &err), MK_OK);
    CHECK_EQ_INT(convert("src", "b", MK_SCHEME_FP8_BLOCK, &err), MK_OK);
    char *ma, *mb;
    size_t la, lb;
    CHECK_EQ_INT(read_all(mk_test_path("a/moekit.json"), &ma, &la), 0);
    CHECK_EQ_INT(read_all(mk_test_path("b/moekit.json"), &mb, &lb), 0);
    CHECK(la == lb && memcmp(ma, mb, la) == 0); /* every file's size and hash agree */
    CHECK(strstr(ma, "\"tokenizer.json\"") != NULL);
    free(ma);
    free(mb);
    char *t;
    size_t tl;
    CHECK_EQ_INT(read_all(mk_test_path("a/tokenizer.json"), &t, &tl), 0);
    CHECK(tl == 7 && memcmp(t, "{\"v\":1}", 7) == 0);
    free(t);
    /* a second run into the same folder needs --force */
    mk_error e2 = {0};
    CHECK_EQ_INT(convert("src", "a", MK_SCHEME_FP8_BLOCK, &e2), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(e2.msg, "--force");
    mk_convert_opts o;
    mk_convert_defaults(&o);
    o.force = true;
    o.scheme = MK_SCHEME_INT8_CHANNEL;
    CHECK_EQ_INT(mk_convert(mk_test_path("src"), mk_test_path("a"), &o, NULL, &err), MK_OK);
    mk_error e3 = {0};
    CHECK_EQ_INT(convert("src", "src", MK_SCHEME_FP8_BLOCK, &e3), MK_ERR_INPUT);
}

TEST(convert_shard_layouts) {
    CHECK_EQ_INT(synth("src", "mixtral", true), MK_OK);
    mk_convert_opts o;
    mk_convert_defaults(&o);
    o.shard_by = MK_SHARD_BY_LAYER_EXPERT;
    mk_convert_result r;
    mk_error err = {0};
    CHECK_EQ_INT(mk_convert(mk_test_path("src"), mk_test_path("le"), &o, &r, &err), MK_OK);
    CHECK_EQ_INT(r.files, 4 * 8 + 1);
    mk_ckpt *c;
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("le"), &c, &err), MK_OK);
    CHECK(strcmp(file_of(c, "model.layers.3.block_sparse_moe.experts.5.w2.weight_scale_inv"),
                 "model-layer-00003-expert-00005.safetensors") == 0);
    mk_ckpt_close(c);
    o.shard_by = MK_SHARD_BY_SIZE;
    o.max_shard_bytes = 1000000;
    CHECK_EQ_INT(mk_convert(mk_test_path("src"), mk_test_path("sz"), &o, &r, &err), MK_OK);
    CHECK(r.files >= 3);
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("sz"), &c, &err), MK_OK);
    for (size_t i = 0; i < mk_ckpt_n_files(c); i++) {
        mk_st_file *f;
        CHECK_EQ_INT(mk_ckpt_file(c, i, &f, &err), MK_OK);
        uint64_t data = mk_st_file_bytes(f) - 8 - mk_st_header_bytes(f);
        CHECKF(data <= 1000000 || mk_st_count(f) == 1, "%s holds %llu bytes", mk_ckpt_file_name(c, i),
               (unsigned long long)data);
    }
    mk_ckpt_close(c);
}

TEST(convert_rejects_nan_naming_the_tensor) {
    mk_synth_opts so;
    mk_synth_defaults(&so);
    so.arch = "mixtral";
    so.shards = 1;
    mk_error err = {0};
    CHECK_EQ_INT(mk_synth(mk_test_path("src"), &so, &err), MK_OK);
    mk_st_file *f;
    CHECK_EQ_INT(mk_st_open(mk_test_path("src/model.safetensors"), &f, &err), MK_OK);
    const mk_tensor_info *t = mk_st_find(f, "model.layers.2.block_sparse_moe.experts.1.w3.weight");
    uint64_t off = 8 + mk_st_header_bytes(f) + t->begin + 2 * 777;
    mk_st_close(f);
    int fd = open(mk_test_path("src/model.safetensors"), O_WRONLY);
    uint16_t nan = 0x7fc0;
    CHECK(fd >= 0 && pwrite(fd, &nan, 2, (off_t)off) == 2);
    close(fd);
    mk_error e2 = {0};
    CHECK_EQ_INT(convert("src", "out", MK_SCHEME_FP8_BLOCK, &e2), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(e2.msg, "model.layers.2.block_sparse_moe.experts.1.w3.weight");
    CHECK_STR_CONTAINS(e2.msg, "NaN or Inf");
    CHECK(access(mk_test_path("out/model.safetensors.index.json"), F_OK) != 0);
}
