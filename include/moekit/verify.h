/*
 * moekit/verify.h - checks a converted (or any quantized) checkpoint folder.
 *
 * mk_verify() proves that a folder is what serving engines will load
 * without surprises: every file is valid safetensors, the index covers every
 * tensor exactly once and every .safetensors file in the folder, each
 * quantized weight has its scale with the dtype and shape its scheme needs,
 * config.json's quantization_config agrees with the tensors (ignored modules
 * unquantized, every other linear weight quantized), and, when a moekit.json
 * manifest is present, every file's size and xxhash64 match it.
 * The first problem found is returned as MK_ERR_INPUT naming the file and
 * tensor or key at fault.
 */
#ifndef MOEKIT_VERIFY_H
#define MOEKIT_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "moekit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_verify_report {
    char scheme[32];           /* "fp8-block", "fp8-tensor", "fp8-channel", "fp8-ct-block",
                                  "int8-channel", "int8-group", "mixed" (several
                                  compressed-tensors groups) or "none" */
    uint64_t n_files;          /* safetensors files */
    uint64_t n_tensors;
    uint64_t n_quantized;      /* quantized weights checked with their scales */
    bool has_manifest;
    uint64_t n_manifest_files; /* files whose size and hash were checked */
} mk_verify_report;

int mk_verify(const char *dir, mk_verify_report *r, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
