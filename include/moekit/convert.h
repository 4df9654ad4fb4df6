/*
 * moekit/convert.h - FP16/BF16 (or DeepSeek FP8) checkpoints to FP8 / INT8
 * per-expert shards that vLLM and SGLang load unchanged.
 *
 * Conversion runs in two stages.  Planning (mk_convert_plan) reads only
 * headers and config.json: it decides what happens to each tensor (quantize,
 * dequantize, cast, keep), which output file each result goes to, and what
 * the new config.json says.  Execution streams the data file by file,
 * bounded memory, with every output published atomically; the index,
 * config.json, copied side files and the moekit.json manifest follow.
 * Splitting the two is what lets recipes (per-tensor schemes), partial runs
 * and resume act on a plan without touching the numerics.
 *
 * Numerics follow moekit/quant.h; the schemes' on-disk forms are in
 * docs/quantization.md.
 */
#ifndef MOEKIT_CONVERT_H
#define MOEKIT_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "moekit/dtype.h"
#include "moekit/error.h"
#include "moekit/scheme.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_shard_by {
    MK_SHARD_BY_EXPERT,       /* one file per routed expert id + size-capped rest */
    MK_SHARD_BY_LAYER_EXPERT, /* one file per (layer, expert) + size-capped rest */
    MK_SHARD_BY_SIZE          /* size-capped files only, as huggingface_hub shards */
} mk_shard_by;

const char *mk_shard_by_name(mk_shard_by s);
int mk_shard_by_parse(const char *s, mk_shard_by *out);

/* One line of `convert -v`: what happened to one source tensor. */
typedef struct mk_convert_event {
    size_t index, count;     /* 1-based position in processing order, total */
    const char *name;
    int ndim;
    const int64_t *shape;
    mk_dtype src_dtype;
    const char *action;      /* "fp8-block", "keep", "bf16", "dequant+int8-group", ... */
    uint64_t in_bytes, out_bytes; /* weight (and scale) bytes read and written */
} mk_convert_event;

struct mk_recipe;

typedef struct mk_convert_opts {
    mk_scheme scheme;
    const struct mk_recipe *recipe; /* optional; its scheme, keep and overrides win */
    mk_shard_by shard_by;         /* MoE default: EXPERT; dense models fall back to SIZE */
    uint64_t max_shard_bytes;     /* size-capped files; default 5 GB (5e9) */
    int threads;                  /* 0: OpenMP default */
    bool force;                   /* replace a checkpoint or partial conversion in OUT */
    bool resume;                  /* keep the journaled files that still verify, redo the rest */
    bool dry_run;                 /* plan and report, write nothing */
    bool stats;                   /* measure the reconstruction error of quantized weights */
    int part_index, part_count;   /* convert part I of N (0-based); N = 0: everything */
    void (*progress)(uint64_t done, uint64_t total, void *ctx);
    void (*on_tensor)(const mk_convert_event *ev, void *ctx);
    /* One call per output file: planned (dry run), kept (resume) or written. */
    void (*on_file)(const char *name, uint64_t bytes, size_t tensors, const char *what, void *ctx);
    void (*on_warning)(const char *msg, void *ctx);
    void *ctx;
} mk_convert_opts;

void mk_convert_defaults(mk_convert_opts *o);

/* Reconstruction error of dequantized weights against the source, for one
 * tensor or a group of them (llama.cpp quantize-stats' figures, plus SQNR). */
typedef struct mk_error_stats {
    char label[160];          /* tensor name, class ("routed_expert") or "layer 12" */
    const char *scheme;       /* tensors only */
    uint64_t tensors, elems;
    double sum_sq_src, sum_sq_err, max_abs_err;
    double rmse;              /* sqrt(sum_sq_err / elems) */
    double sqnr_db;           /* 10 log10(sum_sq_src / sum_sq_err); +inf when exact */
} mk_error_stats;

typedef struct mk_convert_result {
    char scheme[16];                /* the scheme, or "mixed" */
    uint64_t tensors_in, tensors_out, quantized;
    uint64_t bytes_in, bytes_out;   /* tensor data */
    uint64_t params;                /* source elements */
    uint64_t quantized_params, quantized_bytes; /* quantized weights and their scales */
    double bits_per_weight;         /* bytes_out * 8 / params */
    double bits_per_quantized_weight;
    int files;                      /* safetensors files in the plan */
    int files_written, files_kept;  /* this run (parts: this part's share) */
    int copied;                     /* side files copied (tokenizer, ...) */
    /* With opts.stats: per quantized tensor, per class and per layer. */
    mk_error_stats *tensor_stats, *class_stats, *layer_stats;
    size_t n_tensor_stats, n_class_stats, n_layer_stats;
} mk_convert_result;

void mk_convert_result_free(mk_convert_result *r);

/* Converts checkpoint `src` into folder `out`.  MK_ERR_INPUT for bad input
 * (naming the file and tensor or key), MK_ERR_INTERNAL for I/O failures on
 * output.  On failure no finished-looking output is left: shards already
 * published stay, but the index, config.json and manifest are written only
 * at the end. */
int mk_convert(const char *src, const char *out, const mk_convert_opts *o,
               mk_convert_result *res, mk_error *err);

/* After every `part_index/part_count` run has finished: checks that all
 * parts are complete and agree, then writes the index, config.json, side
 * files and manifest exactly as a single run would have.  Uses the
 * callbacks and `threads` of `o` only. */
int mk_convert_merge(const char *out, const mk_convert_opts *o, mk_convert_result *res,
                     mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
