/* `moekit forward`: one layer's reference MLP block on given hidden states. */
#include <getopt.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moekit/checkpoint.h"
#include "moekit/kernels.h"
#include "moekit/moe.h"
#include "moekit/safetensors.h"
#include "tools/cli.h"

static void help(FILE *out) {
    fprintf(out,
            "usage: moekit forward CKPT --layer L --input X.safetensors --output Y.safetensors [--threads N]\n"
            "\n"
            "Run layer L's MLP block (router, routed SwiGLU experts, shared experts; or the dense\n"
            "MLP) in FP32 on the CPU, with the checkpoint's weights dequantized exactly whatever\n"
            "their scheme. Reads `hidden_states` [T, hidden] (F32, BF16 or F16) from X and writes\n"
            "`output` [T, hidden] F32 and, for MoE layers, `topk_ids` [T, k] I32 (best first),\n"
            "`topk_weights` [T, k] F32 and `router_logits` [T, E] F32 to Y.\n"
            "\n"
            "  --layer L       decoder layer (DeepSeek-V3 MTP layers follow the last one)\n"
            "  --input X       safetensors file with `hidden_states`\n"
            "  --output Y      safetensors file to write\n"
            "  --threads N     worker threads (default: all cores)\n"
            "  -h, --help      this help\n");
}

/* hidden_states as F32, checked against the model's hidden size. */
int cli_load_hidden_states(const char *path, int64_t hidden, float **x, size_t *T, mk_error *err) {
    mk_st_file *f;
    int rc = mk_st_open(path, &f, err);
    if (rc) return rc;
    const mk_tensor_info *t = mk_st_find(f, "hidden_states");
    if (!t) rc = mk_fail(err, MK_ERR_INPUT, "%s: no tensor 'hidden_states'", path);
    else if (t->ndim != 2 || t->shape[1] != hidden || t->shape[0] < 1)
        rc = mk_fail(err, MK_ERR_INPUT, "%s: tensor 'hidden_states' must be [T, %lld] with T >= 1",
                     path, (long long)hidden);
    else if (t->dtype != MK_DT_F32 && t->dtype != MK_DT_BF16 && t->dtype != MK_DT_F16)
        rc = mk_fail(err, MK_ERR_INPUT, "%s: tensor 'hidden_states' is %s; expected F32, BF16 or F16",
                     path, mk_dtype_name(t->dtype));
    if (!rc) {
        *T = (size_t)t->shape[0];
        *x = malloc(t->n_elems * sizeof **x);
        if (!*x) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        const void *d = mk_st_data(f, t);
        for (uint64_t i = 0; !rc && i < t->n_elems; i++) {
            float v = t->dtype == MK_DT_F32    ? ((const float *)d)[i]
                      : t->dtype == MK_DT_BF16 ? mk_bf16_to_f32(((const uint16_t *)d)[i])
                                               : mk_f16_to_f32(((const uint16_t *)d)[i]);
            if (v != v || v - v != 0) rc = mk_fail(err, MK_ERR_INPUT, "%s: 'hidden_states' holds NaN or Inf", path);
            (*x)[i] = v;
        }
    }
    mk_st_close(f);
    return rc;
}

static int write_output(const char *path, const mk_forward_out *o, size_t T, int64_t H, mk_error *err) {
    mk_st_decl d[4] = {{"output", MK_DT_F32, 2, {(int64_t)T, H}}};
    const void *data[4] = {o->output};
    size_t n = 1;
    if (o->topk_ids) {
        d[1] = (mk_st_decl){"topk_ids", MK_DT_I32, 2, {(int64_t)T, o->top_k}};
        d[2] = (mk_st_decl){"topk_weights", MK_DT_F32, 2, {(int64_t)T, o->top_k}};
        d[3] = (mk_st_decl){"router_logits", MK_DT_F32, 2, {(int64_t)T, o->n_experts}};
        data[1] = o->topk_ids;
        data[2] = o->topk_weights;
        data[3] = o->router_logits;
        n = 4;
    }
    mk_st_writer *w;
    int rc = mk_st_writer_open(path, d, n, NULL, NULL, 0, &w, err);
    for (size_t i = 0; !rc && i < n; i++) {
        long idx = mk_st_writer_find(w, d[i].name);
        const mk_tensor_info *t = mk_st_writer_tensor(w, (size_t)idx);
        rc = mk_st_writer_write(w, (size_t)idx, 0, data[i], (size_t)(t->end - t->begin), err);
    }
    if (rc) {
        if (w) mk_st_writer_abort(w);
        return rc;
    }
    return mk_st_writer_finish(w, err);
}

int cmd_forward(int argc, char **argv) {
    static const struct option opts[] = {
        {"layer", required_argument, 0, 'l'},  {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    long long layer = -1, v;
    const char *in = NULL, *outp = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!cli_parse_int(optarg, 0, 1000000, &layer))
                return cli_fail("forward", 2, "--layer: '%s' is not a layer number", optarg);
            break;
        case 'i': in = optarg; break;
        case 'o': outp = optarg; break;
        case 't':
            if (!cli_parse_int(optarg, 1, 4096, &v))
                return cli_fail("forward", 2, "--threads: '%s' is not an integer in [1, 4096]", optarg);
            omp_set_num_threads((int)v);
            break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("forward", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("forward", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1 || layer < 0 || !in || !outp) {
        help(stderr);
        return 2;
    }
    mk_error err = {0};
    mk_ckpt *ck;
    if (mk_ckpt_open(argv[optind], &ck, &err)) return cli_report("forward", &err);
    char cpath[PATH_MAX];
    snprintf(cpath, sizeof cpath, "%s/config.json", mk_ckpt_dir(ck));
    mk_model_config cfg = {0};
    int rc = mk_config_load(cpath, &cfg, &err);
    float *x = NULL;
    size_t T = 0;
    mk_forward_out o = {0};
    if (!rc) rc = cli_load_hidden_states(in, cfg.hidden_size, &x, &T, &err);
    if (!rc) rc = mk_forward_layer(ck, &cfg, (int)layer, x, T, &o, &err);
    if (!rc) rc = write_output(outp, &o, T, cfg.hidden_size, &err);
    if (!rc)
        printf("layer %lld: %zu tokens -> %s (%s)\n", layer, T, outp, o.topk_ids ? "moe" : "dense");
    mk_forward_out_free(&o);
    free(x);
    mk_config_free(&cfg);
    mk_ckpt_close(ck);
    return rc ? cli_report("forward", &err) : 0;
}
