/* Error reporting helpers (see moekit/error.h). */
#include "moekit/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mk_fail(mk_error *err, int code, const char *fmt, ...) {
    if (!err || err->code != MK_OK) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* One line: a newline smuggled in through a file name or key would let
     * a crafted input forge extra output lines. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return code;
}

void mk_error_prefix(mk_error *err, const char *fmt, ...) {
    if (!err) return;
    char out[MK_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t used = (size_t)n < sizeof out ? (size_t)n : sizeof out - 1;
    size_t room = sizeof out - 1 - used;
    size_t keep = strnlen(err->msg, sizeof err->msg);
    if (keep > room) keep = room;
    memcpy(out + used, err->msg, keep);
    out[used + keep] = '\0';
    memcpy(err->msg, out, sizeof out);
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

void mk_error_clear(mk_error *err) {
    if (!err) return;
    err->code = MK_OK;
    err->msg[0] = '\0';
}
