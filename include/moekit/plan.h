/*
 * moekit/plan.h - VRAM per GPU and the smallest GPU count for a model, a
 * weight format and a KV budget, with vLLM's memory accounting.
 *
 * Per GPU:  budget = memory x util;  KV = budget - weights - activation peak
 * - non-torch memory (vLLM's determine_available_memory); CUDA graphs are
 * captured after the KV cache is allocated and are shown apart.  Every
 * constant and its source: docs/planner.md.
 */
#ifndef MOEKIT_PLAN_H
#define MOEKIT_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "moekit/catalog.h"
#include "moekit/error.h"
#include "moekit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_plan_quant {
    MK_PQ_AUTO,        /* the config's own quantization_config, else its torch_dtype */
    MK_PQ_BF16, MK_PQ_FP16,
    MK_PQ_FP8,         /* per tensor */
    MK_PQ_FP8_BLOCK,   /* 128x128 blocks */
    MK_PQ_FP8_CHANNEL,
    MK_PQ_INT8,        /* per channel */
    MK_PQ_INT4,        /* weight-only, groups of 128, BF16 scales */
    MK_PQ_COUNT
} mk_plan_quant;

typedef enum mk_kv_dtype { MK_KV_AUTO, MK_KV_BF16, MK_KV_FP8 } mk_kv_dtype;

typedef struct mk_plan_opts {
    mk_plan_quant quant;
    mk_kv_dtype kv_dtype;
    const mk_gpu *gpu;
    double util;                 /* gpu_memory_utilization, default 0.9 */
    int64_t ctx;                 /* tokens per sequence, default 8192 */
    int64_t seqs;                /* concurrent sequences, default 1 */
    int gpus, tp, pp;            /* 0: search */
    bool ep;                     /* expert parallelism (experts not split, spread over ranks) */
    int max_num_seqs, max_num_batched_tokens; /* 0: vLLM's defaults for the GPU */
    bool mtp;                    /* load DeepSeek's MTP layers (speculative decoding) */
    int block_size;              /* KV block, default 16 */
} mk_plan_opts;

void mk_plan_defaults(mk_plan_opts *o);
const char *mk_plan_quant_name(mk_plan_quant q);
int mk_plan_quant_parse(const char *s, mk_plan_quant *out);

typedef struct mk_plan_params {
    uint64_t total, active, embedding, mtp, routed;
} mk_plan_params;

enum { MK_WCLASS_ATTENTION, MK_WCLASS_DENSE_MLP, MK_WCLASS_ROUTED, MK_WCLASS_SHARED, MK_WCLASS_ROUTER,
       MK_WCLASS_EMBEDDING, MK_WCLASS_LM_HEAD, MK_WCLASS_NORM, MK_WCLASS_MTP, MK_WCLASS_COUNT };
const char *mk_wclass_name(int c);

typedef struct mk_plan_layout {
    int gpus, tp, pp;
    bool ep;
    bool valid;                  /* the engine can shard the model this way */
    char why[200];               /* when not valid */
    int layers_per_stage;        /* the largest stage */
    double budget_bytes;         /* memory x util */
    double weight_bytes_per_gpu;
    double activation_bytes;
    double non_torch_bytes;
    double cudagraph_bytes;      /* shown apart, not subtracted (vLLM) */
    double kv_cache_bytes;       /* may be negative: does not fit */
    double free_bytes;           /* memory - budget - CUDA graphs */
    uint64_t kv_bytes_per_token;
    int64_t kv_tokens;           /* rounded down to whole blocks */
    double max_concurrency;      /* kv_tokens / ctx */
    bool fits;
} mk_plan_layout;

typedef struct mk_plan_result {
    mk_plan_params params;
    char weight_format[48];      /* "fp8-block", "bf16", "compressed-tensors mixed" ... */
    double weight_bytes_total;
    double weight_bytes_by_class[MK_WCLASS_COUNT];
    int kv_dtype_bytes;
    bool mla;
    int max_num_seqs, max_num_batched_tokens;
    double mem_bytes;
    double sampler_bytes, forward_bytes; /* the two activation terms */
    mk_plan_layout chosen;       /* the smallest layout that fits, or the evaluated one */
    bool found;
    mk_plan_layout candidates[8];/* the next layouts tried (search) */
    int n_candidates;
} mk_plan_result;

/* Plans `cfg` (from config.json, a folder or the catalog).  With
 * gpus/tp/pp set, evaluates that layout; otherwise searches 1, 2, 4, 8 GPUs
 * in a node, then whole 8-GPU nodes (TP 8, PP or EP across nodes). */
int mk_plan(const mk_model_config *cfg, const char *config_json, const mk_plan_opts *o,
            mk_plan_result *r, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
