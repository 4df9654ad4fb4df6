/* Test runner: see harness.h.  Usage: unit_tests [substring-filter]. */
#include "harness.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TESTS 1024

static struct { const char *name; mk_test_fn fn; } g_tests[MAX_TESTS];
static int g_n_tests;
static int g_failed_now;
static char g_fail_msg[2048];
static char g_root[512];
static char g_dir[600];

void mk_test_register(const char *name, mk_test_fn fn) {
    if (g_n_tests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(1);
    }
    g_tests[g_n_tests].name = name;
    g_tests[g_n_tests].fn = fn;
    g_n_tests++;
}

void mk_test_fail(const char *file, int line, const char *fmt, ...) {
    if (g_failed_now) return;
    g_failed_now = 1;
    int n = snprintf(g_fail_msg, sizeof g_fail_msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_fail_msg + n, sizeof g_fail_msg - (size_t)n, fmt, ap);
    va_end(ap);
}

int mk_test_failed(void) { return g_failed_now; }

const char *mk_test_tmpdir(void) { return g_dir; }

const char *mk_test_path(const char *name) {
    static char ring[16][1024];
    static int next;
    char *p = ring[next++ % 16];
    snprintf(p, 1024, "%s/%s", g_dir, name);
    return p;
}

void mk_test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/moekit-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_root)) {
        perror("mkdtemp");
        return 1;
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < g_n_tests; i++) {
        if (filter && !strstr(g_tests[i].name, filter)) continue;
        snprintf(g_dir, sizeof g_dir, "%s/%s", g_root, g_tests[i].name);
        if (mkdir(g_dir, 0700) != 0) {
            perror(g_dir);
            return 1;
        }
        g_failed_now = 0;
        g_tests[i].fn();
        if (g_failed_now) {
            failed++;
            printf("FAIL %s: %s\n", g_tests[i].name, g_fail_msg);
        } else {
            passed++;
            printf("ok   %s\n", g_tests[i].name);
        }
        fflush(stdout);
    }
    if (!getenv("MK_TEST_KEEP")) nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
