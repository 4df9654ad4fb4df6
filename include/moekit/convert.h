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

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_scheme {
    MK_SCHEME_FP8_BLOCK,    /* E4M3 + F32 weight_scale_inv [ceil(N/128), ceil(K/128)] */
    MK_SCHEME_FP8_TENSOR,   /* E4M3 + F32 weight_scale (one value) */
    MK_SCHEME_FP8_CHANNEL,  /* E4M3 + F32 weight_scale [N,1], compressed-tensors */
    MK_SCHEME_INT8_CHANNEL, /* I8 + F32 weight_scale [N,1], compressed-tensors W8A8 */
    MK_SCHEME_INT8_GROUP,   /* weight-only INT8, groups of 128 along K, pack-quantized */
    MK_SCHEME_BF16,         /* cast / dequantize to BF16 */
    MK_SCHEME_F16,          /* cast / dequantize to F16 */
    MK_SCHEME_COUNT
} mk_scheme;

typedef enum mk_shard_by {
    MK_SHARD_BY_EXPERT,       /* one file per routed expert id + size-capped rest */
    MK_SHARD_BY_LAYER_EXPERT, /* one file per (layer, expert) + size-capped rest */
    MK_SHARD_BY_SIZE          /* size-capped files only, as huggingface_hub shards */
} mk_shard_by;

const char *mk_scheme_name(mk_scheme s);            /* "fp8-block" */
int mk_scheme_parse(const char *s, mk_scheme *out); /* 0 ok, -1 unknown */
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

typedef struct mk_convert_opts {
    mk_scheme scheme;
    mk_shard_by shard_by;         /* MoE default: EXPERT; dense models fall back to SIZE */
    uint64_t max_shard_bytes;     /* size-capped files; default 5 GB (5e9) */
    int threads;                  /* 0: OpenMP default */
    bool force;                   /* allow an output folder that holds a checkpoint */
    void (*progress)(uint64_t done, uint64_t total, void *ctx);
    void (*on_tensor)(const mk_convert_event *ev, void *ctx);
    void (*on_warning)(const char *msg, void *ctx);
    void *ctx;
} mk_convert_opts;

void mk_convert_defaults(mk_convert_opts *o);

typedef struct mk_convert_result {
    uint64_t tensors_in, tensors_out, quantized;
    uint64_t bytes_in, bytes_out;   /* tensor data */
    int files;                      /* safetensors files written */
    int copied;                     /* side files copied (tokenizer, ...) */
} mk_convert_result;

/* Converts checkpoint `src` into folder `out`.  MK_ERR_INPUT for bad input
 * (naming the file and tensor or key), MK_ERR_INTERNAL for I/O failures on
 * output.  On failure no finished-looking output is left: shards already
 * published stay, but the index, config.json and manifest are written only
 * at the end. */
int mk_convert(const char *src, const char *out, const mk_convert_opts *o,
               mk_convert_result *res, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
