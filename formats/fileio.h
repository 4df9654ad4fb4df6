/*
 * formats/fileio.h - small file helpers shared by every writer (private).
 *
 * Every output moekit produces is published atomically: it is written under
 * a temporary name in the destination folder, fsync'd, renamed over the final
 * name, and the folder is fsync'd so the rename itself survives a crash.  A
 * reader therefore sees either the old file, nothing, or the complete new one.
 */
#ifndef MK_FORMATS_FILEIO_H
#define MK_FORMATS_FILEIO_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moekit/error.h"

typedef struct mk_atomic_file {
    int fd;
    char final_path[PATH_MAX];
    char tmp_path[PATH_MAX];
} mk_atomic_file;

/* Creates "<dir>/.<name>.tmp-XXXXXX" next to `path`. */
int mk_atomic_open(mk_atomic_file *a, const char *path, mk_error *err);
/* fsync + close + rename + fsync(dir). On failure the temporary is removed. */
int mk_atomic_commit(mk_atomic_file *a, mk_error *err);
/* Closes and removes the temporary file. Safe to call twice. */
void mk_atomic_abort(mk_atomic_file *a);

/* Temporary files in flight, so that a signal handler can remove them:
 * mk_atomic_open registers, commit/abort unregister.  The clean-up walks a
 * fixed table with unlink() only, both async-signal-safe. */
void mk_temp_cleanup_from_signal(void);

/* Test hook (fault injection): when MOEKIT_TEST_CRASH is "<point>:<n>", the
 * n-th call with that point kills the process with SIGKILL. */
void mk_test_crash_point(const char *point);

/* Writes all of buf at `off` (retrying short writes); names `path` on error. */
int mk_pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *path,
                  mk_error *err);
/* Writes a whole small file atomically. */
int mk_write_file_atomic(const char *path, const void *data, size_t len, mk_error *err);
/* Serialises `json` (a json_t *; jansson flags such as JSON_INDENT(2)) with a
 * final newline and writes it atomically. */
int mk_write_json_atomic(const char *path, const void *json, size_t flags, mk_error *err);
/* Reads a whole file of at most `max_bytes` into a NUL-terminated malloc'd buffer. */
int mk_read_file(const char *path, size_t max_bytes, char **data, size_t *len, mk_error *err);
/* fsyncs a folder (after creating or renaming entries in it). */
int mk_fsync_dir(const char *dir, mk_error *err);
/* Creates `dir` and its parents if missing; error if one is not a folder. */
int mk_mkdir(const char *dir, mk_error *err);
/* Copies a regular file atomically (used for tokenizer files and the like). */
int mk_copy_file_atomic(const char *src, const char *dst, mk_error *err);

#endif
