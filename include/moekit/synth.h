/*
 * moekit/synth.h - small, structurally faithful synthetic checkpoints.
 *
 * mk_synth() writes a folder that a Hugging Face loader would take for a real
 * model of the chosen architecture: config.json with that architecture's
 * real keys, every tensor under its real name and shape, sharded with a
 * model.safetensors.index.json.  Weights are seeded and realistic enough for
 * quantization studies: roughly N(0, 0.02), a few input channels 20-50x
 * larger (the same hidden channels in every layer, as in real LLMs), norm
 * weights near 1.  Each tensor's values depend only on the seed and the
 * tensor's name, so the same options give byte-identical files.
 */
#ifndef MOEKIT_SYNTH_H
#define MOEKIT_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "moekit/dtype.h"
#include "moekit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_synth_opts {
    const char *arch;      /* "mixtral", "qwen2-moe", "qwen3-moe", "deepseek-v3" */
    int layers;            /* decoder layers (DeepSeek: plus one MTP layer) */
    int64_t hidden;
    int experts;
    int topk;
    int64_t moe_inter;     /* expert intermediate width */
    int64_t vocab;
    mk_dtype dtype;        /* BF16, F16 or F32 */
    int shards;            /* 1: a single model.safetensors, no index */
    uint64_t seed;
    bool force;            /* allow a non-empty output folder */
    bool no_outliers;      /* plain N(0, 0.02) weights, no outlier input channels */
    /* Called after each chunk of tensor data with bytes done / total. */
    void (*progress)(uint64_t done, uint64_t total, void *ctx);
    void *progress_ctx;
} mk_synth_opts;

/* Fills `o` with the defaults (deepseek-v3, 4 layers, hidden 256, 8 experts,
 * top-2, expert width 128, vocab 512, BF16, 2 shards, seed 0). */
void mk_synth_defaults(mk_synth_opts *o);

/* Writes the checkpoint into `out_dir` (created if missing).  MK_ERR_INPUT
 * for bad options or a non-empty folder without `force`. */
int mk_synth(const char *out_dir, const mk_synth_opts *o, mk_error *err);

/* Summary of what mk_synth wrote, for printing. */
typedef struct mk_synth_result {
    uint64_t n_tensors, n_params, data_bytes;
    int n_files;
} mk_synth_result;
int mk_synth_ex(const char *out_dir, const mk_synth_opts *o, mk_synth_result *res,
                mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
