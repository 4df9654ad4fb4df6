/*
 * moekit/error.h - how every moekit function reports failure.
 *
 * Functions that can fail return an int status (MK_OK or one of the codes
 * below) and fill a caller-provided mk_error with one human-readable line
 * that names the file, tensor, key or offset at fault.  The codes double as
 * the process exit status of the `moekit` tool, so a library caller and a
 * shell script see the same classification.
 */
#ifndef MOEKIT_ERROR_H
#define MOEKIT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MK_OK = 0,
    MK_ERR_INTERNAL = 1, /* a bug, an allocation failure or an I/O failure on output */
    MK_ERR_INPUT = 2     /* bad input: malformed file, unknown key, bad argument */
};

#define MK_ERROR_MSG_LEN 1024

typedef struct mk_error {
    int code;                    /* MK_OK until something fails */
    char msg[MK_ERROR_MSG_LEN];  /* one line, no trailing newline */
} mk_error;

/* Records `code` and a printf-formatted message in `err` (which may be NULL)
 * and returns `code`, so that `return mk_fail(err, MK_ERR_INPUT, ...)` reads
 * naturally.  The first failure wins: a message already set is kept, because
 * the innermost context is usually the most precise. */
int mk_fail(mk_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("shard.safetensors: ..."). */
void mk_error_prefix(mk_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears `err` to MK_OK. */
void mk_error_clear(mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
