/*
 * moekit/checkpoint.h - a Hugging Face checkpoint folder as one set of tensors.
 *
 * A checkpoint is a folder with `model.safetensors.index.json` (metadata +
 * weight_map) and the shards it names, or a folder with one
 * `model.safetensors`, or a path to a single .safetensors file.  Opening reads
 * and validates the index only: every shard name must be a plain file name
 * inside the folder (no '/', no "..") that resolves - symlinks followed, as in
 * the Hugging Face cache's snapshots/ -> blobs/ layout - to a regular file.
 * Shards are opened (mmap'd and validated) the first time they are needed,
 * so looking one tensor up in a 160-shard checkpoint touches one shard.
 */
#ifndef MOEKIT_CHECKPOINT_H
#define MOEKIT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/error.h"
#include "moekit/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_INDEX_NAME "model.safetensors.index.json"
#define MK_SINGLE_NAME "model.safetensors"

typedef struct mk_ckpt mk_ckpt;

int mk_ckpt_open(const char *path, mk_ckpt **out, mk_error *err);
void mk_ckpt_close(mk_ckpt *c);

/* The folder holding the checkpoint (for a single file: its folder). */
const char *mk_ckpt_dir(const mk_ckpt *c);
bool mk_ckpt_has_index(const mk_ckpt *c);
/* metadata.total_size from the index; -1 when absent or there is no index. */
int64_t mk_ckpt_index_total_size(const mk_ckpt *c);

size_t mk_ckpt_n_files(const mk_ckpt *c);
const char *mk_ckpt_file_name(const mk_ckpt *c, size_t i); /* as in the index */
/* Opens shard i if needed (thread-safe) and returns it. */
int mk_ckpt_file(mk_ckpt *c, size_t i, mk_st_file **out, mk_error *err);

/* Tensors in index order (or file order for a single file). */
size_t mk_ckpt_n_tensors(const mk_ckpt *c);
const char *mk_ckpt_tensor_name(const mk_ckpt *c, size_t i);
size_t mk_ckpt_tensor_file(const mk_ckpt *c, size_t i);

/* Finds a tensor by name: opens its shard and returns its info and data.
 * MK_ERR_INPUT if the name is not in the checkpoint or the shard lacks it. */
int mk_ckpt_find(mk_ckpt *c, const char *name, const mk_st_file **file,
                 const mk_tensor_info **info, mk_error *err);

/* Opens every shard and checks that each indexed tensor is in the shard the
 * index names.  Tensors present in a shard but absent from the index are
 * collected (see below), not an error: loaders that read whole shards would
 * still see them. */
int mk_ckpt_load_all(mk_ckpt *c, mk_error *err);
size_t mk_ckpt_n_unlisted(const mk_ckpt *c);
const char *mk_ckpt_unlisted(const mk_ckpt *c, size_t i);

#ifdef __cplusplus
}
#endif
#endif
