/* Shared command-line helpers (see cli.h). */
#include "tools/cli.h"
#include "formats/fileio.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_fail(const char *cmd, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "moekit %s: %s\n", cmd, msg);
    return code;
}

int cli_report(const char *cmd, const mk_error *err) {
    fprintf(stderr, "moekit %s: %s\n", cmd, err->msg[0] ? err->msg : "failed");
    return err->code ? err->code : MK_ERR_INTERNAL;
}

bool cli_parse_int(const char *s, long long min, long long max, long long *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_size(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return false;
    static const struct { const char *unit; double mul; } units[] = {
        {"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
        {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
        {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double b = v * units[i].mul;
            if (b >= 1.8e19) return false;
            *out = (uint64_t)b;
            return true;
        }
    }
    return false;
}

const char *cli_bytes(uint64_t n, char *buf, int cap) {
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, (size_t)cap, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, (size_t)cap, "%.2f %s", v, u[i]);
    return buf;
}

const char *cli_count(uint64_t n, char *buf, int cap) {
    if (n >= 1000000000ull)
        snprintf(buf, (size_t)cap, "%.2fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, (size_t)cap, "%.2fM", (double)n / 1e6);
    else if (n >= 1000ull)
        snprintf(buf, (size_t)cap, "%.1fk", (double)n / 1e3);
    else
        snprintf(buf, (size_t)cap, "%llu", (unsigned long long)n);
    return buf;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *label) {
    p->label = label;
    p->start = now_s();
    p->last_draw = 0;
    p->enabled = isatty(STDERR_FILENO) != 0;
}

void cli_progress_cb(uint64_t done, uint64_t total, void *ctx) {
    cli_progress *p = ctx;
    if (!p->enabled) return;
    double t = now_s();
    if (done < total && t - p->last_draw < 0.1) return;
    p->last_draw = t;
    double el = t - p->start;
    double rate = el > 0 ? (double)done / el : 0;
    double frac = total ? (double)done / (double)total : 1.0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    char a[32], b[32], r[32];
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %5.1f%% %s / %s  %s/s  ETA %.0fs  ", p->label, bar, frac * 100,
            cli_bytes(done, a, sizeof a), cli_bytes(total, b, sizeof b),
            cli_bytes((uint64_t)rate, r, sizeof r), eta);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->enabled) fprintf(stderr, "\r\033[K");
}

bool cli_stderr_is_tty(void) { return isatty(STDERR_FILENO) != 0; }

/* SIGINT / SIGTERM / SIGHUP: remove the temporaries in flight, then die of
 * the same signal (exit status 128 + n), within a few milliseconds.
 * Finished files and the conversion journal stay, so --resume continues. */
static void on_stop(int sig) {
    mk_temp_cleanup_from_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* SIGBUS: a memory-mapped input shrank under us (truncated while read). */
static void on_bus(int sig) {
    static const char msg[] =
        "moekit: an input file was truncated while being read (SIGBUS); nothing was published\n";
    (void)sig;
    mk_temp_cleanup_from_signal();
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(2);
}

void cli_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_bus;
    sigaction(SIGBUS, &sa, NULL);
    /* Past RLIMIT_FSIZE a write must fail with EFBIG (a clean error), not
     * kill the process. */
    signal(SIGXFSZ, SIG_IGN);
}
