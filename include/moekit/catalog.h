/*
 * moekit/catalog.h - embedded catalogs for the planner: GPUs (YAML, parsed
 * with libyaml; users can load their own file of the same form) and models
 * (the config.json values of well-known checkpoints).  Sources for every
 * number are in docs/planner.md.
 */
#ifndef MOEKIT_CATALOG_H
#define MOEKIT_CATALOG_H

#include <stddef.h>

#include "moekit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_gpu {
    char name[32];        /* catalog key: "h100", "h200", "mi300x" */
    char label[64];       /* "NVIDIA H100 SXM 80GB" */
    double mem_gib;       /* total memory as CUDA/ROCm reports it, GiB (H100: 79.1) */
    double bw_gbps;       /* memory bandwidth, GB/s */
    double bf16_tflops;   /* dense */
    double fp8_tflops;    /* dense; 0 when the GPU has no FP8 tensor cores */
} mk_gpu;

typedef struct mk_gpu_catalog {
    mk_gpu *gpus;
    size_t n;
} mk_gpu_catalog;

/* The embedded catalog. */
int mk_gpu_catalog_default(mk_gpu_catalog *c, mk_error *err);
/* A user catalog file of the same YAML form (see docs/planner.md). Errors name the line. */
int mk_gpu_catalog_load(const char *path, mk_gpu_catalog *c, mk_error *err);
int mk_gpu_catalog_parse(const char *yaml, size_t len, const char *path, mk_gpu_catalog *c, mk_error *err);
/* Case-insensitive look-up by name; NULL when absent. */
const mk_gpu *mk_gpu_find(const mk_gpu_catalog *c, const char *name);
void mk_gpu_catalog_free(mk_gpu_catalog *c);

typedef struct mk_model_entry {
    const char *name;        /* "deepseek-v3" */
    const char *hf_id;       /* "deepseek-ai/DeepSeek-V3" */
    const char *config_json; /* a config.json with the published values */
} mk_model_entry;

const mk_model_entry *mk_model_catalog(size_t *n);
/* Case-insensitive by name or hf_id; NULL when absent. */
const mk_model_entry *mk_model_catalog_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
