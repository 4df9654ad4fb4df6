/* synth writes what inspect expects: for every architecture the findings
 * are empty and the counts add up; a doctored checkpoint yields exactly the
 * missing / extra / shape findings it should; weights look like weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "moekit/checkpoint.h"
#include "moekit/inspect.h"
#include "moekit/kernels.h"
#include "moekit/synth.h"

static const char *const k_archs[] = {"mixtral", "qwen2-moe", "qwen3-moe", "deepseek-v3"};

TEST(synth_every_arch_inspects_clean) {
    for (size_t a = 0; a < 4; a++) {
        char dir[64];
        snprintf(dir, sizeof dir, "m-%s", k_archs[a]);
        mk_synth_opts o;
        mk_synth_defaults(&o);
        o.arch = k_archs[a];
        o.shards = 3;
        mk_synth_result res;
        mk_error err = {0};
        CHECKF(mk_synth_ex(mk_test_path(dir), &o, &res, &err) == MK_OK, "%s: %s", k_archs[a], err.msg);
        mk_inspect_report r;
        CHECKF(mk_inspect(mk_test_path(dir), &r, &err) == MK_OK, "%s: %s", k_archs[a], err.msg);
        CHECKF(r.n_findings == 0, "%s: %zu findings, first: %s %s", k_archs[a], r.n_findings,
               r.n_findings ? r.findings[0].tensor : "", r.n_findings ? r.findings[0].detail : "");
        CHECK_EQ_INT(r.n_tensors, res.n_tensors);
        CHECK_EQ_INT(r.params_total, res.n_params);
        CHECK_EQ_INT(r.tensor_bytes, res.data_bytes);
        CHECK_EQ_INT(r.n_files, 3);
        uint64_t sum = 0;
        for (int k = 0; k < MK_T_KIND_COUNT; k++) sum += r.elems_by_kind[k];
        CHECK_EQ_INT(sum, r.params_total);
        CHECK_EQ_INT(r.elems_by_kind[MK_T_UNKNOWN], 0);
        for (int L = 0; L < r.n_layers; L++)
            if (r.cfg.is_moe[L]) CHECK_EQ_INT(r.experts_found[L], o.experts);
        mk_inspect_free(&r);
    }
}

TEST(inspect_active_params_for_deepseek_by_hand) {
    mk_synth_opts o;
    mk_synth_defaults(&o); /* deepseek-v3: 4 layers (1 dense), 8 experts top-2, H 256, I 128 */
    mk_error err = {0};
    CHECK_EQ_INT(mk_synth(mk_test_path("ds"), &o, &err), MK_OK);
    mk_inspect_report r;
    CHECK_EQ_INT(mk_inspect(mk_test_path("ds"), &r, &err), MK_OK);
    uint64_t per_expert = 3ull * 256 * 128;
    uint64_t routed_main = 3ull * 8 * per_expert; /* 3 MoE layers; MTP excluded */
    CHECK_EQ_INT(r.params_routed, routed_main);
    CHECK_EQ_INT(r.params_embedding, 512ull * 256);
    CHECK(r.params_mtp > 8 * per_expert);
    CHECK_EQ_INT(r.params_active, r.params_total - r.params_mtp - 3ull * 6 * per_expert);
    mk_inspect_free(&r);
}

/* Copies a single-file checkpoint minus one tensor, with one reshaped and
 * one foreign tensor added, and checks inspect reports exactly those. */
TEST(inspect_reports_missing_extra_and_shape) {
    mk_synth_opts o;
    mk_synth_defaults(&o);
    o.arch = "mixtral";
    o.shards = 1;
    mk_error err = {0};
    CHECK_EQ_INT(mk_synth(mk_test_path("src"), &o, &err), MK_OK);
    mk_ckpt *c;
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("src"), &c, &err), MK_OK);
    mk_st_file *f;
    CHECK_EQ_INT(mk_ckpt_file(c, 0, &f, &err), MK_OK);
    size_t n = mk_st_count(f);
    mk_st_decl *d = calloc(n + 1, sizeof *d);
    size_t m = 0;
    const char *drop = "model.layers.1.block_sparse_moe.experts.3.w2.weight";
    const char *reshape = "model.layers.0.self_attn.o_proj.weight";
    for (size_t i = 0; i < n; i++) {
        const mk_tensor_info *t = mk_st_tensor(f, i);
        if (strcmp(t->name, drop) == 0) continue;
        d[m] = (mk_st_decl){t->name, t->dtype, t->ndim, {t->shape[0], t->shape[1]}};
        if (strcmp(t->name, reshape) == 0) d[m].shape[1] = 2 * t->shape[1];
        m++;
    }
    d[m++] = (mk_st_decl){"model.layers.0.mlp.mystery.weight", MK_DT_BF16, 1, {4}};
    char out[512];
    snprintf(out, sizeof out, "%s/dst", mk_test_tmpdir());
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/config.json' '%s/'", out,
             mk_test_path("src"), out);
    CHECK_EQ_INT(system(cmd), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    mk_st_writer *w;
    CHECK_EQ_INT(mk_st_writer_open(path, d, m, NULL, NULL, 0, &w, &err), MK_OK);
    static uint8_t zeros[1 << 20];
    for (size_t i = 0; i < mk_st_writer_count(w); i++) {
        const mk_tensor_info *t = mk_st_writer_tensor(w, i);
        for (uint64_t off = 0; off < t->end - t->begin; off += sizeof zeros) {
            uint64_t len = t->end - t->begin - off;
            if (len > sizeof zeros) len = sizeof zeros;
            CHECK_EQ_INT(mk_st_writer_write(w, i, off, zeros, (size_t)len, &err), MK_OK);
        }
    }
    CHECK_EQ_INT(mk_st_writer_finish(w, &err), MK_OK);
    free(d);
    mk_ckpt_close(c);
    mk_inspect_report r;
    CHECK_EQ_INT(mk_inspect(out, &r, &err), MK_OK);
    CHECK_EQ_INT(r.n_findings, 3);
    int seen = 0;
    for (size_t i = 0; i < r.n_findings; i++) {
        const mk_finding *fd = &r.findings[i];
        if (fd->kind == MK_FIND_MISSING && strcmp(fd->tensor, drop) == 0) seen |= 1;
        if (fd->kind == MK_FIND_SHAPE && strcmp(fd->tensor, reshape) == 0) {
            CHECK_STR_CONTAINS(fd->detail, "config implies [256, 256], checkpoint has [256, 512]");
            seen |= 2;
        }
        if (fd->kind == MK_FIND_EXTRA && strcmp(fd->tensor, "model.layers.0.mlp.mystery.weight") == 0)
            seen |= 4;
    }
    CHECK_EQ_INT(seen, 7);
    CHECK_EQ_INT(r.experts_found[1], 8); /* w1/w3 of expert 3 remain */
    mk_inspect_free(&r);
}

TEST(synth_weights_are_realistic) {
    mk_synth_opts o;
    mk_synth_defaults(&o);
    o.arch = "qwen3-moe";
    o.shards = 1;
    mk_error err = {0};
    CHECK_EQ_INT(mk_synth(mk_test_path("q"), &o, &err), MK_OK);
    mk_ckpt *c;
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("q"), &c, &err), MK_OK);
    const mk_st_file *f;
    const mk_tensor_info *t;
    CHECK_EQ_INT(mk_ckpt_find(c, "model.layers.2.mlp.experts.5.up_proj.weight", &f, &t, &err), MK_OK);
    CHECK(t->dtype == MK_DT_BF16 && t->shape[0] == 128 && t->shape[1] == 256);
    const uint16_t *w = mk_st_data(f, t);
    /* column max-abs: most columns near 0.02 * 3.46, a few 20-50x larger */
    int outliers = 0;
    double sum2 = 0;
    size_t cnt = 0;
    for (int64_t col = 0; col < t->shape[1]; col++) {
        float mx = 0;
        for (int64_t r = 0; r < t->shape[0]; r++) {
            float v = fabsf(mk_bf16_to_f32(w[r * t->shape[1] + col]));
            if (v > mx) mx = v;
        }
        if (mx > 0.5f) {
            outliers++;
        } else {
            for (int64_t r = 0; r < t->shape[0]; r++) {
                double v = mk_bf16_to_f32(w[r * t->shape[1] + col]);
                sum2 += v * v;
                cnt++;
            }
        }
    }
    double sd = sqrt(sum2 / (double)cnt);
    CHECKF(outliers >= 1 && outliers <= 16, "%d outlier columns", outliers);
    CHECKF(sd > 0.018 && sd < 0.022, "std %.4f", sd);
    CHECK_EQ_INT(mk_ckpt_find(c, "model.layers.0.self_attn.q_norm.weight", &f, &t, &err), MK_OK);
    const uint16_t *nw = mk_st_data(f, t);
    for (uint64_t i = 0; i < t->n_elems; i++) {
        float v = mk_bf16_to_f32(nw[i]);
        CHECKF(v > 0.8f && v < 1.2f, "norm weight %f", (double)v);
    }
    mk_ckpt_close(c);
}

TEST(synth_is_deterministic_and_independent_of_sharding) {
    mk_synth_opts o;
    mk_synth_defaults(&o);
    o.arch = "mixtral";
    o.shards = 1;
    mk_error err = {0};
    CHECK_EQ_INT(mk_synth(mk_test_path("one"), &o, &err), MK_OK);
    o.shards = 4;
    CHECK_EQ_INT(mk_synth(mk_test_path("four"), &o, &err), MK_OK);
    mk_ckpt *a, *b;
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("one"), &a, &err), MK_OK);
    CHECK_EQ_INT(mk_ckpt_open(mk_test_path("four"), &b, &err), MK_OK);
    CHECK_EQ_INT(mk_ckpt_n_tensors(a), mk_ckpt_n_tensors(b));
    for (size_t i = 0; i < mk_ckpt_n_tensors(a); i++) {
        const char *name = mk_ckpt_tensor_name(a, i);
        const mk_st_file *fa, *fb;
        const mk_tensor_info *ta, *tb;
        CHECK_EQ_INT(mk_ckpt_find(a, name, &fa, &ta, &err), MK_OK);
        CHECK_EQ_INT(mk_ckpt_find(b, name, &fb, &tb, &err), MK_OK);
        CHECK_EQ_INT(ta->end - ta->begin, tb->end - tb->begin);
        CHECKF(memcmp(mk_st_data(fa, ta), mk_st_data(fb, tb), (size_t)(ta->end - ta->begin)) == 0,
               "%s differs between 1 and 4 shards", name);
    }
    mk_ckpt_close(a);
    mk_ckpt_close(b);
    mk_error e2 = {0};
    CHECK_EQ_INT(mk_synth(mk_test_path("one"), &o, &e2), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(e2.msg, "--force");
}
