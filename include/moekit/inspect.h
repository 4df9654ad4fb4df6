/*
 * moekit/inspect.h - what a checkpoint holds, and where it disagrees with
 * its config.json.
 *
 * mk_inspect() opens a checkpoint (see checkpoint.h), reads every shard's
 * header (never the tensor data), classifies each tensor and counts
 * parameters from the tensors themselves.  When config.json is present and
 * supported, it also lists every expected tensor that is missing, every
 * tensor that is not expected, and every shape that differs, as findings.
 */
#ifndef MOEKIT_INSPECT_H
#define MOEKIT_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/dtype.h"
#include "moekit/error.h"
#include "moekit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_finding_kind {
    MK_FIND_MISSING,   /* config expects it, checkpoint lacks it */
    MK_FIND_EXTRA,     /* checkpoint has it, config does not explain it */
    MK_FIND_SHAPE,     /* both have it, shapes differ */
    MK_FIND_INDEX,     /* index disagrees with the shards */
    MK_FIND_CONFIG     /* config.json absent */
} mk_finding_kind;

typedef struct mk_finding {
    mk_finding_kind kind;
    char *tensor;      /* NULL when not about one tensor */
    char *detail;      /* one line */
} mk_finding;

typedef struct mk_dtype_count {
    uint64_t tensors, elems, bytes;
} mk_dtype_count;

typedef struct mk_inspect_report {
    char *path;
    bool has_config;
    mk_model_config cfg;        /* valid when has_config */
    size_t n_files;
    uint64_t file_bytes;        /* sum of shard file sizes */
    uint64_t n_tensors;
    uint64_t tensor_bytes;      /* sum of tensor data sizes */
    mk_dtype_count by_dtype[MK_DT_COUNT];
    uint64_t elems_by_kind[MK_T_KIND_COUNT];

    /* Parameter counts, in tensor elements (quantization scales included). */
    uint64_t params_total;
    uint64_t params_embedding;  /* input embedding (model.embed_tokens) */
    uint64_t params_routed;     /* all routed experts, main layers */
    uint64_t params_mtp;        /* DeepSeek MTP layers */
    uint64_t params_active;     /* per token: total - MTP - unselected experts */

    /* Per decoder layer (main layers): routed experts found in the tensors. */
    int n_layers;
    int *experts_found;         /* distinct expert ids seen per layer */

    mk_finding *findings;
    size_t n_findings;
} mk_inspect_report;

int mk_inspect(const char *path, mk_inspect_report *r, mk_error *err);
void mk_inspect_free(mk_inspect_report *r);
const char *mk_finding_kind_name(mk_finding_kind k); /* "missing", "extra", ... */

#ifdef __cplusplus
}
#endif
#endif
