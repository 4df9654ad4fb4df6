/*
 * moekit/pack.h - lossless checkpoint archives (`moekit pack` / `unpack`).
 *
 * A pack holds a checkpoint folder: each safetensors file's header verbatim,
 * each tensor's bytes split into byte planes by dtype (BF16: the pure 8-bit
 * exponent, then sign+mantissa; F16: high, low byte; F32: four planes; 1-byte
 * types as they are) and compressed as independent zstd frames of at most
 * 4 MiB of input, other files as plain zstd frames, and an index with every
 * frame's place and the xxhash64 of every decoded chunk and file.  Any file
 * can be extracted without decoding the rest.  Format: docs/formats.md.
 */
#ifndef MOEKIT_PACK_H
#define MOEKIT_PACK_H

#include <stdbool.h>
#include <stdint.h>

#include "moekit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_pack_opts {
    int level;                 /* zstd level of the exponent / byte planes, default 1 */
    int threads;               /* 0: all cores */
    bool force;                /* overwrite an existing archive / non-empty folder */
    const char *only;          /* unpack: fnmatch pattern on file names, NULL = all */
    void (*progress)(uint64_t done, uint64_t total, void *ctx);
    void *ctx;
} mk_pack_opts;

typedef struct mk_pack_result {
    uint64_t files, chunks;
    uint64_t bytes_in, bytes_out;  /* pack: folder -> archive; unpack: archive -> files */
} mk_pack_result;

void mk_pack_defaults(mk_pack_opts *o);
/* true when `path` is a regular file starting with the pack magic. */
bool mk_pack_is_archive(const char *path);
int mk_pack(const char *src_dir, const char *archive, const mk_pack_opts *o, mk_pack_result *r,
            mk_error *err);
/* Extracts (all, or the files matching o->only) into `dir`, verifying every
 * chunk and file hash; each file is published atomically. */
int mk_unpack(const char *archive, const char *dir, const mk_pack_opts *o, mk_pack_result *r,
              mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
