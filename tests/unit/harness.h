/*
 * A minimal test harness: each TEST() registers itself at start-up, the
 * runner (harness.c) executes them in registration order and prints one line
 * per test and a closing "N passed, N failed".  A CHECK that fails ends the
 * current test with a message saying what differed.
 */
#ifndef MK_TEST_HARNESS_H
#define MK_TEST_HARNESS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef void (*mk_test_fn)(void);
void mk_test_register(const char *name, mk_test_fn fn);
/* Records a failure of the running test; printf-style message. */
void mk_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mk_test_failed(void);

/* A fresh empty folder for this test (removed when the run ends). */
const char *mk_test_tmpdir(void);
/* Joins the test folder and `name` into a static-lifetime path (per call buffer ring). */
const char *mk_test_path(const char *name);
/* Writes `len` bytes to `path` (creating it); aborts the run on I/O error. */
void mk_test_write_file(const char *path, const void *data, size_t len);

#define TEST(fn)                                                          \
    static void fn(void);                                                 \
    __attribute__((constructor)) static void mk_register_##fn(void) {     \
        mk_test_register(#fn, fn);                                        \
    }                                                                     \
    static void fn(void)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            mk_test_fail(__FILE__, __LINE__, "%s", #cond);                \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECKF(cond, ...)                                                 \
    do {                                                                  \
        if (!(cond)) {                                                    \
            mk_test_fail(__FILE__, __LINE__, __VA_ARGS__);                \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                \
    do {                                                                  \
        long long mk_a_ = (long long)(a), mk_b_ = (long long)(b);         \
        if (mk_a_ != mk_b_) {                                             \
            mk_test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
                         #a, mk_a_, #b, mk_b_);                           \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                   \
    do {                                                                  \
        const char *mk_h_ = (hay), *mk_n_ = (needle);                     \
        if (!mk_h_ || !strstr(mk_h_, mk_n_)) {                            \
            mk_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", \
                         mk_h_ ? mk_h_ : "(null)", mk_n_);                \
            return;                                                       \
        }                                                                 \
    } while (0)

#endif
