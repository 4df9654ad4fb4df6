/* `moekit pack` / `moekit unpack`, and archives as input to other commands. */
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moekit/pack.h"
#include "tools/cli.h"

static void pack_help(FILE *out) {
    fprintf(out,
            "usage: moekit pack SRC ARCHIVE [--level N] [--threads N] [--force] [--json]\n"
            "\n"
            "Pack a checkpoint folder losslessly: safetensors headers verbatim, tensor bytes split\n"
            "into byte planes by dtype (BF16: exponent / sign+mantissa) and compressed as\n"
            "independent zstd frames of at most 4 MiB, other files as zstd frames, with an index\n"
            "of every frame and the xxhash64 of every chunk and file.\n"
            "\n"
            "  --level N     zstd level for exponent and byte planes (default 1; mantissa planes use 1)\n"
            "  --threads N   worker threads (default: all cores)\n"
            "  --force       replace an existing ARCHIVE\n"
            "  --json        print a JSON summary\n"
            "  -h, --help    this help\n");
}

static void unpack_help(FILE *out) {
    fprintf(out,
            "usage: moekit unpack ARCHIVE DIR [--only PATTERN] [--threads N] [--force] [--json]\n"
            "\n"
            "Extract a `moekit pack` archive: byte-identical files, every chunk and file checked\n"
            "against its xxhash64; nothing is published unless everything verified.\n"
            "\n"
            "  --only PATTERN  only the files whose name matches (shell glob), e.g. one expert's shard\n"
            "  --threads N     worker threads (default: all cores)\n"
            "  --force         replace files that exist in DIR\n"
            "  --json          print a JSON summary\n"
            "  -h, --help      this help\n");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run(bool unpack, int argc, char **argv) {
    static const struct option opts[] = {
        {"level", required_argument, 0, 'l'}, {"threads", required_argument, 0, 't'},
        {"only", required_argument, 0, 'o'},  {"force", no_argument, 0, 'f'},
        {"json", no_argument, 0, 'j'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = unpack ? "unpack" : "pack";
    mk_pack_opts o;
    mk_pack_defaults(&o);
    bool json = false;
    long long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (unpack || !cli_parse_int(optarg, -7, 22, &v)) return cli_fail(cmd, 2, "--level: '%s' is not a zstd level in [-7, 22]", optarg);
            o.level = (int)v;
            break;
        case 't':
            if (!cli_parse_int(optarg, 1, 4096, &v)) return cli_fail(cmd, 2, "--threads: '%s' is not an integer in [1, 4096]", optarg);
            o.threads = (int)v;
            break;
        case 'o':
            if (!unpack) return cli_fail(cmd, 2, "--only applies to unpack");
            o.only = optarg;
            break;
        case 'f': o.force = true; break;
        case 'j': json = true; break;
        case 'h': unpack ? unpack_help(stdout) : pack_help(stdout); return 0;
        case ':': return cli_fail(cmd, 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail(cmd, 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 2) {
        unpack ? unpack_help(stderr) : pack_help(stderr);
        return 2;
    }
    cli_progress pg;
    cli_progress_init(&pg, cmd);
    o.progress = cli_progress_cb;
    o.ctx = &pg;
    mk_pack_result r;
    mk_error err = {0};
    double t0 = now();
    int rc = unpack ? mk_unpack(argv[optind], argv[optind + 1], &o, &r, &err)
                    : mk_pack(argv[optind], argv[optind + 1], &o, &r, &err);
    double secs = now() - t0;
    cli_progress_end(&pg);
    if (rc) return cli_report(cmd, &err);
    uint64_t raw = unpack ? r.bytes_out : r.bytes_in, packed = unpack ? r.bytes_in : r.bytes_out;
    if (json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:f}", "from", argv[optind], "to", argv[optind + 1],
                              "files", (json_int_t)r.files, "chunks", (json_int_t)r.chunks, "raw_bytes",
                              (json_int_t)raw, "archive_bytes", (json_int_t)packed, "ratio",
                              packed ? (double)raw / (double)packed : 0.0, "seconds", secs);
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        char a[32], b[32], s[32];
        printf("%s %s -> %s: %llu files, %s %s %s (ratio %.3fx), %.1f s (%s/s)\n", unpack ? "unpacked" : "packed",
               argv[optind], argv[optind + 1], (unsigned long long)r.files, cli_bytes(raw, a, sizeof a),
               unpack ? "from" : "->", cli_bytes(packed, b, sizeof b), packed ? (double)raw / (double)packed : 0.0,
               secs, cli_bytes(secs > 0 ? (uint64_t)((double)raw / secs) : 0, s, sizeof s));
    }
    return 0;
}

int cmd_pack(int argc, char **argv) { return run(false, argc, argv); }
int cmd_unpack(int argc, char **argv) { return run(true, argc, argv); }

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int cli_open_input(const char *cmd, const char *path, char *dir, size_t cap, bool *is_temp) {
    *is_temp = false;
    if (!mk_pack_is_archive(path)) {
        snprintf(dir, cap, "%s", path);
        return 0;
    }
    /* An archive as input: unpacked (and verified) into a temporary folder
     * that cli_close_input removes. */
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/moekit-unpack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return cli_fail(cmd, 1, "cannot create a temporary folder in %s", tmp ? tmp : "/tmp");
    mk_pack_opts o;
    mk_pack_defaults(&o);
    mk_pack_result r;
    mk_error err = {0};
    if (mk_unpack(path, dir, &o, &r, &err)) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return cli_report(cmd, &err);
    }
    *is_temp = true;
    return 0;
}

void cli_close_input(const char *dir, bool is_temp) {
    if (is_temp) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
