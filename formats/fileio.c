/*
 * Atomic publication of output files and other small I/O helpers (see
 * fileio.h).  Errors name the path and the system's reason.
 */
#include "formats/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TEMPS 256
static char g_temp_path[MAX_TEMPS][PATH_MAX];
static _Atomic int g_temp_used[MAX_TEMPS];

static void temp_register(const char *path) {
    for (int i = 0; i < MAX_TEMPS; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&g_temp_used[i], &expect, 2)) { /* 2: being filled */
            snprintf(g_temp_path[i], PATH_MAX, "%s", path);
            atomic_store(&g_temp_used[i], 1);
            return;
        }
    }
}

static void temp_unregister(const char *path) {
    for (int i = 0; i < MAX_TEMPS; i++)
        if (atomic_load(&g_temp_used[i]) == 1 && strcmp(g_temp_path[i], path) == 0) {
            atomic_store(&g_temp_used[i], 0);
            return;
        }
}

void mk_temp_cleanup_from_signal(void) {
    for (int i = 0; i < MAX_TEMPS; i++)
        if (atomic_load(&g_temp_used[i]) == 1) unlink(g_temp_path[i]);
}

void mk_test_crash_point(const char *point) {
    static _Atomic int counts[4];
    static const char *const points[4] = {"commit", "published", "journaled", "band"};
    const char *env = getenv("MOEKIT_TEST_CRASH");
    if (!env) return;
    size_t n = strlen(point);
    if (strncmp(env, point, n) != 0 || env[n] != ':') return;
    for (int i = 0; i < 4; i++)
        if (strcmp(points[i], point) == 0 && atomic_fetch_add(&counts[i], 1) + 1 == atoi(env + n + 1))
            raise(SIGKILL);
}

static void dir_of(const char *path, char *out, size_t cap) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(out, cap, "%s", dirname(tmp));
}

int mk_atomic_open(mk_atomic_file *a, const char *path, mk_error *err) {
    char dir[PATH_MAX], base[PATH_MAX], tmp[PATH_MAX];
    a->fd = -1;
    a->tmp_path[0] = '\0';
    if (strlen(path) >= sizeof a->final_path)
        return mk_fail(err, MK_ERR_INPUT, "%s: path too long", path);
    snprintf(a->final_path, sizeof a->final_path, "%s", path);
    dir_of(path, dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(base, sizeof base, "%s", basename(tmp));
    int n = snprintf(a->tmp_path, sizeof a->tmp_path, "%s/.%s.tmp-XXXXXX", dir, base);
    if (n < 0 || (size_t)n >= sizeof a->tmp_path)
        return mk_fail(err, MK_ERR_INPUT, "%s: path too long", path);
    a->fd = mkstemp(a->tmp_path);
    if (a->fd < 0) {
        int e = errno;
        a->tmp_path[0] = '\0';
        return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot create temporary file in %s: %s", path,
                       dir, strerror(e));
    }
    temp_register(a->tmp_path);
    /* mkstemp creates 0600; outputs are meant to be shared like any checkpoint. */
    if (fchmod(a->fd, 0644) != 0) {
        int e = errno;
        mk_atomic_abort(a);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: chmod: %s", path, strerror(e));
    }
    return MK_OK;
}

int mk_fsync_dir(const char *dir, mk_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return mk_fail(err, MK_ERR_INTERNAL, "%s: open folder: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL)
        return mk_fail(err, MK_ERR_INTERNAL, "%s: fsync folder: %s", dir, strerror(e));
    return MK_OK;
}

int mk_atomic_commit(mk_atomic_file *a, mk_error *err) {
    if (fsync(a->fd) != 0) {
        int e = errno;
        mk_atomic_abort(a);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: fsync: %s", a->final_path, strerror(e));
    }
    if (close(a->fd) != 0) {
        int e = errno;
        a->fd = -1;
        mk_atomic_abort(a);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: close: %s", a->final_path, strerror(e));
    }
    a->fd = -1;
    mk_test_crash_point("commit"); /* after fsync, before rename */
    if (rename(a->tmp_path, a->final_path) != 0) {
        int e = errno;
        mk_atomic_abort(a);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: rename from temporary: %s", a->final_path,
                       strerror(e));
    }
    temp_unregister(a->tmp_path);
    a->tmp_path[0] = '\0';
    char dir[PATH_MAX];
    dir_of(a->final_path, dir, sizeof dir);
    return mk_fsync_dir(dir, err);
}

void mk_atomic_abort(mk_atomic_file *a) {
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    if (a->tmp_path[0]) {
        unlink(a->tmp_path);
        temp_unregister(a->tmp_path);
    }
    a->tmp_path[0] = '\0';
}

int mk_pwrite_all(int fd, const void *buf, size_t len, uint64_t off, const char *path,
                  mk_error *err) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return mk_fail(err, MK_ERR_INTERNAL, "%s: write at offset %llu: %s", path,
                           (unsigned long long)off, strerror(errno));
        }
        if (w == 0)
            return mk_fail(err, MK_ERR_INTERNAL, "%s: write at offset %llu made no progress",
                           path, (unsigned long long)off);
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return MK_OK;
}

int mk_write_file_atomic(const char *path, const void *data, size_t len, mk_error *err) {
    mk_atomic_file a;
    int rc = mk_atomic_open(&a, path, err);
    if (rc) return rc;
    rc = mk_pwrite_all(a.fd, data, len, 0, path, err);
    if (rc) {
        mk_atomic_abort(&a);
        return rc;
    }
    return mk_atomic_commit(&a, err);
}

int mk_read_file(const char *path, size_t max_bytes, char **data, size_t *len, mk_error *err) {
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO would otherwise block the open until a writer came. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return mk_fail(err, MK_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mk_fail(err, MK_ERR_INPUT, "%s: not a regular file", path);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return mk_fail(err, MK_ERR_INPUT, "%s: %lld bytes, more than the %zu allowed", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return mk_fail(err, MK_ERR_INPUT, "%s: read: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return MK_OK;
}

static int mkdir_one(const char *dir, mk_error *err) {
    if (mkdir(dir, 0755) == 0) return MK_OK;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return MK_OK;
    if (e == EEXIST) return mk_fail(err, MK_ERR_INPUT, "%s: exists and is not a folder", dir);
    return mk_fail(err, MK_ERR_INPUT, "%s: cannot create folder: %s", dir, strerror(e));
}

/* Like `mkdir -p`: output paths such as build/demo/fp8 need their parents. */
int mk_mkdir(const char *dir, mk_error *err) {
    char p[PATH_MAX];
    if (strlen(dir) >= sizeof p) return mk_fail(err, MK_ERR_INPUT, "%s: path too long", dir);
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        int rc = mkdir_one(p, err);
        *s = '/';
        if (rc) return rc;
    }
    return mkdir_one(p, err);
}

int mk_copy_file_atomic(const char *src, const char *dst, mk_error *err) {
    int in = open(src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) return mk_fail(err, MK_ERR_INPUT, "%s: cannot open: %s", src, strerror(errno));
    mk_atomic_file a;
    int rc = mk_atomic_open(&a, dst, err);
    if (rc) {
        close(in);
        return rc;
    }
    char buf[1 << 16];
    uint64_t off = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: read: %s", src, strerror(errno));
            break;
        }
        if (r == 0) break;
        rc = mk_pwrite_all(a.fd, buf, (size_t)r, off, dst, err);
        if (rc) break;
        off += (uint64_t)r;
    }
    close(in);
    if (rc) {
        mk_atomic_abort(&a);
        return rc;
    }
    return mk_atomic_commit(&a, err);
}

int mk_write_json_atomic(const char *path, const void *json, size_t flags, mk_error *err) {
    char *text = json_dumps((const json_t *)json, flags);
    if (!text) return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot serialise JSON", path);
    size_t len = strlen(text);
    char *with_nl = realloc(text, len + 2);
    if (!with_nl) {
        free(text);
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    with_nl[len] = '\n';
    with_nl[len + 1] = '\0';
    int rc = mk_write_file_atomic(path, with_nl, len + 1, err);
    free(with_nl);
    return rc;
}
