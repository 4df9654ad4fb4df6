/* `moekit convert`: argument parsing, progress and printing around mk_convert(). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "moekit/convert.h"
#include "tools/cli.h"

static void help(FILE *out) {
    fprintf(out,
            "usage: moekit convert SRC OUT [OPTIONS]\n"
            "\n"
            "Quantize a Hugging Face checkpoint (F16/BF16/F32, or DeepSeek FP8) into shards that\n"
            "vLLM and SGLang load unchanged: one file per routed expert plus size-capped files for\n"
            "the rest, a model.safetensors.index.json, config.json with its quantization_config,\n"
            "the source folder's other files, and a moekit.json manifest (sizes, xxhash64).\n"
            "Streams with bounded memory; every file is published atomically.\n"
            "\n"
            "  --scheme S            fp8-block (default; 128x128 E4M3, DeepSeek-V3 format)\n"
            "                        fp8-tensor | fp8-channel | int8-channel | int8-group\n"
            "                        bf16 | f16 (cast, or dequantize a DeepSeek FP8 checkpoint)\n"
            "  --shard-by B          expert (default) | layer-expert | size\n"
            "  --max-shard-size SZ   cap for the non-expert files, e.g. 5GB (default), 500MB\n"
            "  --threads N           worker threads (default: all cores)\n"
            "  --force               replace a checkpoint already in OUT\n"
            "  -v, --verbose         one line per tensor\n"
            "  --json                print a JSON summary\n"
            "  -h, --help            this help\n");
}

typedef struct ui {
    cli_progress pg;
    bool verbose;
} ui;

static void on_tensor(const mk_convert_event *ev, void *ctx) {
    ui *u = ctx;
    if (!u->verbose) return;
    char shape[96] = "[", a[32], b[32];
    size_t n = 1;
    for (int d = 0; d < ev->ndim; d++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%lld", d ? ", " : "", (long long)ev->shape[d]);
    snprintf(shape + n, sizeof shape - n, "]");
    if (u->pg.enabled) fprintf(stderr, "\r\033[K");
    printf("[%*zu/%zu] %s - %s, %s -> %s .. %s -> %s\n", ev->count >= 1000 ? 5 : 4, ev->index,
           ev->count, ev->name, shape, mk_dtype_short(ev->src_dtype), ev->action,
           cli_bytes(ev->in_bytes, a, sizeof a), cli_bytes(ev->out_bytes, b, sizeof b));
    fflush(stdout);
}

static void on_warning(const char *msg, void *ctx) {
    (void)ctx;
    fprintf(stderr, "moekit convert: warning: %s\n", msg);
}

static void on_progress(uint64_t done, uint64_t total, void *ctx) {
    cli_progress_cb(done, total, &((ui *)ctx)->pg);
}

int cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {
        {"scheme", required_argument, 0, 's'},  {"shard-by", required_argument, 0, 'b'},
        {"max-shard-size", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
        {"force", no_argument, 0, 'f'},         {"verbose", no_argument, 0, 'v'},
        {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    mk_convert_opts o;
    mk_convert_defaults(&o);
    bool json = false;
    ui u = {0};
    long long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hv", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (mk_scheme_parse(optarg, &o.scheme))
                return cli_fail("convert", 2,
                                "--scheme: '%s' is not one of fp8-block, fp8-tensor, fp8-channel, "
                                "int8-channel, int8-group, bf16, f16", optarg);
            break;
        case 'b':
            if (mk_shard_by_parse(optarg, &o.shard_by))
                return cli_fail("convert", 2, "--shard-by: '%s' is not expert, layer-expert or size",
                                optarg);
            break;
        case 'm':
            if (!cli_parse_size(optarg, &o.max_shard_bytes) || o.max_shard_bytes == 0)
                return cli_fail("convert", 2, "--max-shard-size: '%s' is not a size like 5GB or 500MB",
                                optarg);
            break;
        case 't':
            if (!cli_parse_int(optarg, 1, 4096, &v))
                return cli_fail("convert", 2, "--threads: '%s' is not an integer in [1, 4096]", optarg);
            o.threads = (int)v;
            break;
        case 'f': o.force = true; break;
        case 'v': u.verbose = true; break;
        case 'j': json = true; break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("convert", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("convert", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 2) {
        help(stderr);
        return 2;
    }
    const char *src = argv[optind], *out = argv[optind + 1];
    cli_progress_init(&u.pg, "convert");
    o.progress = on_progress;
    o.on_tensor = on_tensor;
    o.on_warning = on_warning;
    o.ctx = &u;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mk_convert_result r;
    mk_error err = {0};
    int rc = mk_convert(src, out, &o, &r, &err);
    cli_progress_end(&u.pg);
    if (rc) return cli_report("convert", &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:f}", "source",
                              src, "output", out, "scheme", mk_scheme_name(o.scheme), "shard_by",
                              mk_shard_by_name(o.shard_by), "tensors_in", (json_int_t)r.tensors_in,
                              "tensors_out", (json_int_t)r.tensors_out, "quantized",
                              (json_int_t)r.quantized, "bytes_in", (json_int_t)r.bytes_in,
                              "bytes_out", (json_int_t)r.bytes_out, "files", r.files,
                              "copied_files", r.copied, "seconds", secs);
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        char a[32], b[32], s[32];
        printf("converted %s -> %s: %s, %llu tensors (%llu quantized), %s -> %s in %d files, "
               "%d side file%s copied, %.1f s (%s/s)\n",
               src, out, mk_scheme_name(o.scheme), (unsigned long long)r.tensors_in,
               (unsigned long long)r.quantized, cli_bytes(r.bytes_in, a, sizeof a),
               cli_bytes(r.bytes_out, b, sizeof b), r.files, r.copied, r.copied == 1 ? "" : "s",
               secs, cli_bytes(secs > 0 ? (uint64_t)((double)r.bytes_in / secs) : 0, s, sizeof s));
    }
    return 0;
}
