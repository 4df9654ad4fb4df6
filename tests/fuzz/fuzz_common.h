/*
 * tests/fuzz/fuzz_common.h - helpers shared by the libFuzzer targets.
 *
 * Parsers that take a path get the fuzz input through a real file in a
 * per-process temporary folder: "$MK_FUZZ_TMP/moekit-fuzz-<pid>-XXXXXX"
 * (default /dev/shm, so nothing touches a disk).  The folder is removed at
 * exit; a crash skips that, so start-up sweeps the folders of dead processes,
 * and tests/fuzz/run.sh points MK_FUZZ_TMP at its own work folder anyway.
 */
#ifndef MK_TESTS_FUZZ_COMMON_H
#define MK_TESTS_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fz_dir[PATH_MAX];

/* Removes the files in `dir` (the harness makes no subfolders) and `dir`. */
static void fz_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PATH_MAX + 256];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void fz_cleanup(void) {
    if (!fz_dir[0]) return;
    fz_rmdir(fz_dir);
    fz_dir[0] = '\0';
}

/* A crash skips atexit, so folders of dead harness processes
 * ("moekit-fuzz-<pid>-XXXXXX" whose pid is gone) are swept at start-up. */
static void fz_sweep_stale(const char *base) {
    DIR *d = opendir(base);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX + 256];
    while ((e = readdir(d)) != NULL) {
        int pid, end = 0;
        if (sscanf(e->d_name, "moekit-fuzz-%d-%*6[A-Za-z0-9]%n", &pid, &end) != 1 || end == 0 ||
            e->d_name[end] != '\0' || pid <= 0 || pid == (int)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(p, sizeof p, "%s/%s", base, e->d_name);
        fz_rmdir(p);
    }
    closedir(d);
}

/* The per-process temporary folder, created on first use; aborts if it
 * cannot be made (a harness problem, not a finding). */
static const char *fz_tmpdir(void) {
    if (fz_dir[0]) return fz_dir;
    const char *base = getenv("MK_FUZZ_TMP");
    struct stat st;
    if (!base || !*base) base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    fz_sweep_stale(base);
    snprintf(fz_dir, sizeof fz_dir, "%s/moekit-fuzz-%d-XXXXXX", base, (int)getpid());
    if (!mkdtemp(fz_dir)) {
        perror("fuzz harness: mkdtemp");
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir;
}

/* "<tmpdir>/<name>" in a static buffer per call site's `buf`. */
static const char *fz_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", fz_tmpdir(), name);
    return buf;
}

/* Replaces the file at `path` with exactly `n` bytes; aborts on I/O errors. */
static void fz_write(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror("fuzz harness: open");
        abort();
    }
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror("fuzz harness: write");
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* A broken invariant of the API contract: a bug the sanitizers cannot see. */
#define FZ_CHECK(cond)                                                                 \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__,     \
                    __LINE__);                                                         \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#endif
