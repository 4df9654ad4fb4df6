/*
 * Index loading benchmark: a DeepSeek-V3-sized model.safetensors.index.json
 * (every real tensor name of the 671B model plus its FP8 weight_scale_inv,
 * ~91k names, 163 shards, as the published checkpoint) is written to a
 * temporary folder; we time mk_ckpt_open() and one look-up of every name.
 *   bench_index OUT_DIR   -> prints figures; bench/run.sh adds the baseline.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moekit/catalog.h"
#include "moekit/checkpoint.h"
#include "moekit/model.h"

typedef struct names {
    FILE *out;
    size_t n;
} names;

#define N_SHARDS 163
#define TOTAL_NAMES_EST 92000

static int emit(const mk_expected_tensor *t, void *ctx) {
    names *s = ctx;
    int shard = (int)(s->n * N_SHARDS / TOTAL_NAMES_EST) + 1;
    if (shard > N_SHARDS) shard = N_SHARDS;
    fprintf(s->out, "%s\n    \"%s\": \"model-%05d-of-%05d.safetensors\"", s->n ? "," : "", t->name,
            shard, N_SHARDS);
    s->n++;
    bool quantized = t->ndim == 2 && t->role.kind != MK_T_EMBEDDING &&
                     t->role.kind != MK_T_LM_HEAD && t->role.kind != MK_T_ROUTER &&
                     !strstr(t->name, "shared_head.head") && !strstr(t->name, "embed_tokens");
    if (quantized) {
        fprintf(s->out, ",\n    \"%s_scale_inv\": \"model-%05d-of-%05d.safetensors\"", t->name,
                shard, N_SHARDS);
        s->n++;
    }
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bench_index OUT_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    mk_model_config cfg;
    mk_error err = {0};
    const char *v3 = mk_model_catalog_find("deepseek-v3")->config_json; /* the published config */
    if (mk_config_parse(v3, strlen(v3), "v3", &cfg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, MK_INDEX_NAME);
    names s = {.out = fopen(path, "w")};
    if (!s.out) {
        perror(path);
        return 1;
    }
    fprintf(s.out, "{\n  \"metadata\": {\n    \"total_size\": 688586727753\n  },\n  \"weight_map\": {");
    mk_model_expected(&cfg, emit, &s);
    fprintf(s.out, "\n  }\n}\n");
    long index_bytes = ftell(s.out);
    fclose(s.out);
    for (int i = 1; i <= N_SHARDS; i++) {
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, i, N_SHARDS);
        FILE *f = fopen(path, "w");
        if (f) fclose(f);
    }
    enum { RUNS = 7 };
    double t_open[RUNS], t_lookup[RUNS];
    size_t n_tensors = 0, n_files = 0;
    for (int r = 0; r < RUNS; r++) {
        mk_ckpt *c;
        double t0 = now();
        if (mk_ckpt_open(dir, &c, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = now();
        size_t sum = 0;
        for (size_t i = 0; i < mk_ckpt_n_tensors(c); i++) sum += mk_ckpt_tensor_file(c, i);
        double t2 = now();
        n_tensors = mk_ckpt_n_tensors(c);
        n_files = mk_ckpt_n_files(c);
        if (sum == 0) return 1;
        mk_ckpt_close(c);
        t_open[r] = t1 - t0;
        t_lookup[r] = t2 - t1;
    }
    qsort(t_open, RUNS, sizeof *t_open, cmp_d);
    qsort(t_lookup, RUNS, sizeof *t_lookup, cmp_d);
    printf("index_tensors %zu\nindex_shards %zu\nindex_bytes %ld\n", n_tensors, n_files, index_bytes);
    printf("moekit_open_ms %.2f\nmoekit_lookup_all_ms %.2f\n", t_open[RUNS / 2] * 1e3,
           t_lookup[RUNS / 2] * 1e3);
    mk_config_free(&cfg);
    return 0;
}
