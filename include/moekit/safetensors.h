/*
 * moekit/safetensors.h - reading and writing safetensors files.
 *
 * Reader: mk_st_open() maps the file read-only and validates the header with
 * every rule of the reference implementation (huggingface/safetensors
 * tensor.rs) plus a few of our own (duplicate names, shape rank); see
 * docs/formats.md for the list.  Nothing read from the file is trusted: sizes,
 * offsets and shapes are checked for overflow before use.  Tensor data is
 * handed out as pointers into the mapping, so reading costs no copy and no
 * memory beyond the page cache.
 *
 * Writer: the caller declares every tensor (name, dtype, shape) up front; the
 * writer sorts them as the reference writer does (dtype by descending
 * alignment, then name) so every tensor starts at a multiple of its element
 * size, writes the header, and then accepts the data in any order and from
 * any thread (pwrite).  The file is built under a temporary name and only
 * fsync'd and renamed into place by mk_st_writer_finish(), so a crash never
 * leaves a half-written file under the final name.
 */
#ifndef MOEKIT_SAFETENSORS_H
#define MOEKIT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "moekit/dtype.h"
#include "moekit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_ST_MAX_HEADER_BYTES 100000000ULL /* reference MAX_HEADER_SIZE */
#define MK_MAX_DIMS 8

typedef struct mk_tensor_info {
    const char *name;          /* NUL-terminated, owned by the file object */
    mk_dtype dtype;
    int ndim;                  /* 0 for a scalar */
    int64_t shape[MK_MAX_DIMS];
    uint64_t n_elems;          /* product of shape (1 for a scalar) */
    uint64_t begin, end;       /* byte offsets relative to the data section */
} mk_tensor_info;

typedef struct mk_st_file mk_st_file;

/* Opens and validates `path`.  On failure returns MK_ERR_INPUT (malformed or
 * unreadable file) with a message naming the file and the tensor or offset at
 * fault, and sets *out to NULL. */
int mk_st_open(const char *path, mk_st_file **out, mk_error *err);
void mk_st_close(mk_st_file *f);

const char *mk_st_path(const mk_st_file *f);
/* Tensors in data-offset order. */
size_t mk_st_count(const mk_st_file *f);
const mk_tensor_info *mk_st_tensor(const mk_st_file *f, size_t i);
/* Look-up by name, NULL when absent. */
const mk_tensor_info *mk_st_find(const mk_st_file *f, const char *name);
/* Pointer to the tensor's bytes inside the mapping (never NULL for a tensor of
 * this file, even when it has zero bytes). */
const void *mk_st_data(const mk_st_file *f, const mk_tensor_info *t);
/* Value of a `__metadata__` entry, NULL when absent. */
const char *mk_st_metadata(const mk_st_file *f, const char *key);
/* Size of the whole file and of the header (the N of the 8-byte prefix). */
uint64_t mk_st_file_bytes(const mk_st_file *f);
uint64_t mk_st_header_bytes(const mk_st_file *f);
/* MK_ERR_INPUT when the file's size or modification time differ from when
 * it was opened: long pipelines call it to notice a source replaced or
 * rewritten under them. */
int mk_st_check_unchanged(const mk_st_file *f, mk_error *err);
/* Tells the kernel that [t.begin+off, +len) of this file will not be needed
 * again soon, so its pages can leave this process's resident set. */
void mk_st_release(const mk_st_file *f, const mk_tensor_info *t, uint64_t off, uint64_t len);

/* ---- writer ---- */

typedef struct mk_st_decl {
    const char *name;
    mk_dtype dtype;
    int ndim;
    int64_t shape[MK_MAX_DIMS];
} mk_st_decl;

typedef struct mk_st_writer mk_st_writer;

/* Declares `n` tensors and writes the header of `path` under a temporary name
 * in the same folder.  `decls` is copied.  Metadata is always
 * {"format":"pt"} plus the optional `meta_keys`/`meta_values` pairs. */
int mk_st_writer_open(const char *path, const mk_st_decl *decls, size_t n,
                      const char *const *meta_keys, const char *const *meta_values,
                      size_t n_meta, mk_st_writer **out, mk_error *err);
/* Index of a declared tensor in the writer's (sorted) order, -1 if unknown. */
long mk_st_writer_find(const mk_st_writer *w, const char *name);
size_t mk_st_writer_count(const mk_st_writer *w);
/* The declared tensor at sorted index i, with its offsets. */
const mk_tensor_info *mk_st_writer_tensor(const mk_st_writer *w, size_t i);
/* Writes `len` bytes at byte `off` of tensor `idx`.  Thread-safe; the ranges
 * written for one tensor must not overlap, and together must cover it. */
int mk_st_writer_write(mk_st_writer *w, size_t idx, uint64_t off, const void *buf,
                       size_t len, mk_error *err);
/* Checks that every byte was written, fsyncs, renames to the final name and
 * fsyncs the folder.  Frees `w` whatever the outcome. */
int mk_st_writer_finish(mk_st_writer *w, mk_error *err);
/* Drops the temporary file and frees `w`. */
void mk_st_writer_abort(mk_st_writer *w);
/* Bytes the finished file will have. */
uint64_t mk_st_writer_file_bytes(const mk_st_writer *w);

#ifdef __cplusplus
}
#endif
#endif
