/*
 * lib/convert_impl.h - private: the conversion plan shared by planning
 * (convert_plan.c), execution (convert_exec.c) and the driver (convert.c).
 *
 * A plan is a list of items, one per source tensor that survives (DeepSeek
 * weight_scale_inv tensors are folded into their weights), each saying what
 * to do (keep, cast, quantize), which tensors it produces and in which output
 * file.  Everything in it is derived from headers and config.json alone.
 */
#ifndef MK_LIB_CONVERT_IMPL_H
#define MK_LIB_CONVERT_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/checkpoint.h"
#include "moekit/convert.h"
#include "moekit/model.h"
#include "moekit/safetensors.h"

#define MK_BLOCK 128      /* FP8 block edge and INT8 group size */

typedef enum { OP_KEEP, OP_CAST, OP_QUANT } mk_op;

/* An output tensor the item produces. */
typedef struct mk_out_tensor {
    char *name;
    mk_dtype dtype;
    int ndim;
    int64_t shape[MK_MAX_DIMS];
} mk_out_tensor;

typedef struct mk_plan_item {
    const char *src_name;
    const mk_st_file *src_file;
    const mk_tensor_info *src;
    /* DeepSeek FP8 source: its F32 weight_scale_inv, block bn x bk. */
    const mk_st_file *scale_file;
    const mk_tensor_info *scale_inv;
    mk_tensor_role role;
    mk_op op;
    mk_scheme scheme;          /* OP_QUANT: the scheme; OP_CAST: BF16/F16 target */
    mk_dtype out_dtype;        /* OP_CAST / OP_KEEP: dtype of the main output */
    mk_out_tensor out[3];      /* main output, then scale, then weight_shape */
    int n_out;
    int file;                  /* index into plan->files */
    uint64_t in_bytes, out_bytes;
} mk_plan_item;

typedef struct mk_plan_file {
    char name[96];
    size_t *items;
    size_t n_items, cap;
    uint64_t bytes;
} mk_plan_file;

typedef struct mk_plan {
    mk_ckpt *ck;
    mk_model_config cfg;
    json_t *config;            /* the source config.json document */
    bool src_fp8;              /* DeepSeek-style FP8 source */
    int64_t src_block_n, src_block_k;
    mk_convert_opts opts;
    mk_scheme base_scheme;     /* the recipe's default, else --scheme */
    unsigned schemes_used;     /* bit per mk_scheme among quantized weights */
    bool mixed;                /* more than one quantization scheme */
    bool ct_form;              /* compressed-tensors config (else quant_method fp8) */
    mk_plan_item *items;
    size_t n_items;
    mk_plan_file *files;
    size_t n_files;
    json_t *file_ids;          /* file name -> index, while planning */
    char **ignore;             /* unquantized modules, in checkpoint order */
    size_t n_ignore;
    uint64_t bytes_in, bytes_out;
    uint64_t n_quantized;
} mk_plan;

/* Running error sums of one quantized tensor (with --stats). */
typedef struct mk_stat_acc {
    double sig, err, max;
    uint64_t n;
} mk_stat_acc;

int mk_convert_plan(const char *src, const mk_convert_opts *o, mk_plan *p, mk_error *err);
void mk_convert_plan_free(mk_plan *p);
/* Writes one output file of the plan into `out_dir`. `done` accumulates
 * source bytes processed, for progress; `seq` numbers the tensors done. */
int mk_convert_exec_file(const mk_plan *p, size_t file, const char *out_dir,
                         uint64_t *done, uint64_t total, size_t *seq, mk_stat_acc *stats,
                         mk_error *err);
/* "fp8-block", "keep", "dequant+bf16"...: what happens to an item. */
const char *mk_convert_action(const mk_plan_item *it);
/* The quantization_config object for the plan's scheme (NULL for casts). */
json_t *mk_convert_quant_config(const mk_plan *p);

/* ---- journal of finished output files (convert_journal.c) ---- */

typedef struct mk_file_record {
    char name[96];
    uint64_t bytes, xxh64;
} mk_file_record;

typedef struct mk_journal {
    char path[4096];
    int fd;
    json_t *header;            /* first line */
    mk_file_record *rec;
    size_t n, cap;
    bool done;                 /* a part's closing line was seen */
} mk_journal;

/* ".moekit-journal.jsonl" for a whole run, ".moekit-part-00003-of-00016.jsonl" for a part. */
void mk_journal_name(char *buf, size_t cap, int part_index, int part_count);
int mk_journal_create(mk_journal *j, const char *path, json_t *header, mk_error *err);
/* Reads a journal; a torn last line (a crash mid-append) is ignored. */
int mk_journal_read(mk_journal *j, const char *path, mk_error *err);
/* The files a finished run's manifest lists; MK_ERR_INPUT when its plan
 * fingerprint is not `fingerprint`. */
int mk_journal_from_manifest(mk_journal *j, const char *path, uint64_t fingerprint, mk_error *err);
int mk_journal_append(mk_journal *j, const mk_file_record *r, mk_error *err);
int mk_journal_finish(mk_journal *j, mk_error *err);
const mk_file_record *mk_journal_find(const mk_journal *j, const char *name);
void mk_journal_close(mk_journal *j);

/* XXH64 of a whole file, read in chunks (page cache, not resident memory). */
int mk_hash_file(const char *path, uint64_t *bytes, uint64_t *hash, mk_error *err);
/* A digest of everything the plan will write: names, dtypes, shapes, operations. */
uint64_t mk_plan_fingerprint(const mk_plan *p);
/* Size-balanced, deterministic split of the plan's files into parts:
 * owner[f] = the part that writes file f. */
void mk_plan_parts(const mk_plan *p, int part_count, int *owner);

/* ---- statistics (convert_stats.c) ---- */
int mk_convert_stats_fill(const mk_plan *p, const mk_stat_acc *acc, mk_convert_result *res);

#endif
