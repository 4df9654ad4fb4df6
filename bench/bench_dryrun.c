/*
 * Dry-run benchmark: a DeepSeek-V3-sized BF16 checkpoint (every real tensor
 * name and shape of the 671B model plus its MTP layer, 163 shards, ~1.3 TB)
 * written as sparse files - real headers, holes for data - so that planning
 * the conversion of the full model can be timed on a small disk.
 *   bench_dryrun DIR   -> prints figures; bench/run.sh adds the baseline.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "moekit/checkpoint.h"
#include "moekit/convert.h"
#include "moekit/model.h"

static const char *k_v3 =
    "{\"architectures\":[\"DeepseekV3ForCausalLM\"],\"model_type\":\"deepseek_v3\","
    "\"hidden_size\":7168,\"intermediate_size\":18432,\"moe_intermediate_size\":2048,"
    "\"num_hidden_layers\":61,\"num_attention_heads\":128,\"num_key_value_heads\":128,"
    "\"n_routed_experts\":256,\"n_shared_experts\":1,\"num_experts_per_tok\":8,"
    "\"first_k_dense_replace\":3,\"moe_layer_freq\":1,\"n_group\":8,\"topk_group\":4,"
    "\"routed_scaling_factor\":2.5,\"scoring_func\":\"sigmoid\",\"topk_method\":\"noaux_tc\","
    "\"norm_topk_prob\":true,\"q_lora_rank\":1536,\"kv_lora_rank\":512,\"qk_nope_head_dim\":128,"
    "\"qk_rope_head_dim\":64,\"v_head_dim\":128,\"num_nextn_predict_layers\":1,"
    "\"vocab_size\":129280,\"torch_dtype\":\"bfloat16\"}";

#define N_SHARDS 163

typedef struct list {
    mk_expected_tensor *t;
    size_t n, cap;
} list;

static int collect(const mk_expected_tensor *t, void *ctx) {
    list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->t = realloc(l->t, l->cap * sizeof *l->t);
    }
    l->t[l->n++] = *t;
    return 0;
}

static uint64_t bytes_of(const mk_expected_tensor *t) {
    uint64_t e = 2;
    for (int d = 0; d < t->ndim; d++) e *= (uint64_t)t->shape[d];
    return t->dtype == MK_DT_F32 ? e * 2 : e;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bench_dryrun DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    mk_model_config cfg;
    mk_error err = {0};
    if (mk_config_parse(k_v3, strlen(k_v3), "v3", &cfg, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    list l = {0};
    mk_model_expected(&cfg, collect, &l);
    uint64_t total = 0;
    for (size_t i = 0; i < l.n; i++) total += bytes_of(&l.t[i]);
    char path[4096];
    json_t *wm = json_object();
    size_t next = 0;
    for (int s = 0; s < N_SHARDS; s++) {
        uint64_t target = total / N_SHARDS * (uint64_t)(s + 1), cum = 0;
        (void)cum;
        json_t *h = json_object();
        json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
        uint64_t off = 0;
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, N_SHARDS);
        static uint64_t done_bytes;
        while (next < l.n && (s == N_SHARDS - 1 || done_bytes < target)) {
            const mk_expected_tensor *t = &l.t[next++];
            json_t *shape = json_array();
            for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
            uint64_t b = bytes_of(t);
            json_object_set_new(h, t->name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", mk_dtype_name(t->dtype),
                                                      "shape", shape, "data_offsets", (json_int_t)off,
                                                      (json_int_t)(off + b)));
            json_object_set_new(wm, t->name, json_string(name));
            off += b;
            done_bytes += b;
        }
        char *text = json_dumps(h, JSON_COMPACT);
        size_t len = strlen(text), padded = (len + 7) / 8 * 8;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        uint8_t n8[8];
        for (int i = 0; i < 8; i++) n8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        char *pad = malloc(padded);
        memset(pad, ' ', padded);
        memcpy(pad, text, len);
        if (fd < 0 || write(fd, n8, 8) != 8 || write(fd, pad, padded) != (ssize_t)padded ||
            ftruncate(fd, (off_t)(8 + padded + off)) != 0)
            return perror(path), 1;
        close(fd);
        free(pad);
        free(text);
        json_decref(h);
    }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", wm);
    snprintf(path, sizeof path, "%s/%s", dir, MK_INDEX_NAME);
    json_dump_file(idx, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(idx);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs(k_v3, f);
    fclose(f);

    double best = 1e9;
    mk_convert_result r;
    for (int rep = 0; rep < 3; rep++) {
        mk_convert_opts o;
        mk_convert_defaults(&o);
        o.dry_run = true;
        double t0 = now();
        if (mk_convert(dir, "/nonexistent-dry-run-output", &o, &r, &err))
            return fprintf(stderr, "%s\n", err.msg), 1;
        double t = now() - t0;
        if (t < best) best = t;
        mk_convert_result_free(&r);
    }
    printf("checkpoint_tensors %zu\ncheckpoint_shards %d\ncheckpoint_bytes %llu\n", l.n, N_SHARDS,
           (unsigned long long)total);
    printf("plan_files %d\nplan_output_bytes %llu\nbits_per_quantized_weight %.4f\n", r.files,
           (unsigned long long)r.bytes_out, r.bits_per_quantized_weight);
    printf("moekit_dry_run_ms %.1f\n", best * 1e3);
    free(l.t);
    mk_config_free(&cfg);
    return 0;
}
