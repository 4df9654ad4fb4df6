/* `moekit convert` and `moekit merge`: argument parsing, progress and printing
 * around mk_convert() / mk_convert_merge(). */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moekit/convert.h"
#include "moekit/recipe.h"
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
            "  --recipe FILE.yaml    per-tensor schemes: default scheme, keep: and overrides:\n"
            "  --shard-by B          expert (default) | layer-expert | size\n"
            "  --max-shard-size SZ   cap for the non-expert files, e.g. 5GB (default), 500MB\n"
            "  --dry-run             print the plan (files, sizes, bits per weight), write nothing\n"
            "  --stats               report rmse, max error and SQNR of every quantized weight\n"
            "  --part I/N            convert only part I (0-based) of N; then `moekit merge OUT`\n"
            "  --resume              keep the files an interrupted run finished, redo the rest\n"
            "  --force               replace a checkpoint or unfinished conversion in OUT\n"
            "  --threads N           worker threads (default: all cores)\n"
            "  -v, --verbose         one line per tensor\n"
            "  --json                print a JSON summary\n"
            "  -h, --help            this help\n");
}

static void merge_help(FILE *out) {
    fprintf(out,
            "usage: moekit merge OUT [--json]\n"
            "\n"
            "Finish a conversion run as `moekit convert SRC OUT --part I/N` parts: check that all N\n"
            "parts completed and agree, then write the index, config.json, side files and the\n"
            "manifest. The result is byte-identical to a single `moekit convert SRC OUT`.\n"
            "Refuses while a part is missing or unfinished.\n"
            "\n"
            "  --json        print a JSON summary\n"
            "  -h, --help    this help\n");
}

typedef struct ui {
    cli_progress pg;
    bool verbose, json;
    json_t *files; /* dry-run file list for --json */
} ui;

static void clear_bar(ui *u) {
    if (u->pg.enabled) fprintf(stderr, "\r\033[K");
}

static void on_tensor(const mk_convert_event *ev, void *ctx) {
    ui *u = ctx;
    if (!u->verbose || u->json) return;
    char shape[96] = "[", a[32], b[32];
    size_t n = 1;
    for (int d = 0; d < ev->ndim; d++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%lld", d ? ", " : "", (long long)ev->shape[d]);
    snprintf(shape + n, sizeof shape - n, "]");
    clear_bar(u);
    printf("[%*zu/%zu] %s - %s, %s -> %s .. %s -> %s\n", ev->count >= 1000 ? 5 : 4, ev->index,
           ev->count, ev->name, shape, mk_dtype_short(ev->src_dtype), ev->action,
           cli_bytes(ev->in_bytes, a, sizeof a), cli_bytes(ev->out_bytes, b, sizeof b));
    fflush(stdout);
}

static void on_file(const char *name, uint64_t bytes, size_t tensors, const char *what, void *ctx) {
    ui *u = ctx;
    if (u->files)
        json_array_append_new(u->files, json_pack("{s:s, s:I, s:I, s:s}", "name", name, "bytes",
                                                  (json_int_t)bytes, "tensors", (json_int_t)tensors,
                                                  "status", what));
    if (u->json || (strcmp(what, "planned") != 0 && strcmp(what, "kept") != 0)) return;
    char a[32];
    clear_bar(u);
    printf("%-8s %-48s %10s  %zu tensors\n", what, name, cli_bytes(bytes, a, sizeof a), tensors);
}

static void on_warning(const char *msg, void *ctx) {
    clear_bar(ctx);
    fprintf(stderr, "moekit convert: warning: %s\n", msg);
}

static void on_progress(uint64_t done, uint64_t total, void *ctx) {
    cli_progress_cb(done, total, &((ui *)ctx)->pg);
}

static json_t *stats_json(const mk_error_stats *s, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f}", "name", s[i].label, "tensors",
                              (json_int_t)s[i].tensors, "elements", (json_int_t)s[i].elems, "rmse",
                              s[i].rmse, "max_abs_error", s[i].max_abs_err);
        json_object_set_new(o, "sqnr_db", isfinite(s[i].sqnr_db) ? json_real(s[i].sqnr_db) : json_null());
        if (s[i].scheme) json_object_set_new(o, "scheme", json_string(s[i].scheme));
        json_array_append_new(a, o);
    }
    return a;
}

static void print_stats_rows(const char *title, const mk_error_stats *s, size_t n, size_t limit) {
    printf("%s\n  %-44s %7s %12s %12s %9s\n", title, "", "tensors", "rmse", "max |err|", "SQNR dB");
    for (size_t i = 0; i < n && i < limit; i++)
        printf("  %-44.44s %7llu %12.4g %12.4g %9.2f\n", s[i].label, (unsigned long long)s[i].tensors,
               s[i].rmse, s[i].max_abs_err, s[i].sqnr_db);
    if (n > limit) printf("  ... %zu more (--json lists all)\n", n - limit);
}

static void print_result(const char *src, const char *out, const mk_convert_opts *o,
                         const mk_convert_result *r, double secs, bool json, json_t *files,
                         bool merged) {
    if (json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:i, s:i, s:i, s:i, s:f}",
                              "output", out, "scheme", r->scheme, "shard_by", mk_shard_by_name(o->shard_by),
                              "tensors_in", (json_int_t)r->tensors_in, "tensors_out",
                              (json_int_t)r->tensors_out, "quantized", (json_int_t)r->quantized,
                              "bytes_in", (json_int_t)r->bytes_in, "bytes_out", (json_int_t)r->bytes_out,
                              "parameters", (json_int_t)r->params, "bits_per_weight", r->bits_per_weight,
                              "bits_per_quantized_weight", r->bits_per_quantized_weight, "files",
                              r->files, "files_written", r->files_written, "files_kept", r->files_kept,
                              "copied_files", r->copied, "seconds", secs);
        if (src) json_object_set_new(j, "source", json_string(src));
        json_object_set_new(j, "dry_run", json_boolean(o->dry_run));
        if (o->part_count) json_object_set_new(j, "part", json_pack("[i, i]", o->part_index, o->part_count));
        if (files) json_object_set(j, "file_list", files);
        if (o->stats) {
            json_t *st = json_object();
            json_object_set_new(st, "by_class", stats_json(r->class_stats, r->n_class_stats));
            json_object_set_new(st, "by_layer", stats_json(r->layer_stats, r->n_layer_stats));
            json_object_set_new(st, "tensors_worst_first", stats_json(r->tensor_stats, r->n_tensor_stats));
            json_object_set_new(j, "stats", st);
        }
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
        return;
    }
    char a[32], b[32], s[32];
    if (o->dry_run) {
        printf("plan for %s -> %s: %s, %llu tensors (%llu quantized), %s -> %s in %d files; "
               "%.3f bits per weight overall, %.3f per quantized weight (scales included)\n",
               src, out, r->scheme, (unsigned long long)r->tensors_in, (unsigned long long)r->quantized,
               cli_bytes(r->bytes_in, a, sizeof a), cli_bytes(r->bytes_out, b, sizeof b), r->files,
               r->bits_per_weight, r->bits_per_quantized_weight);
        return;
    }
    if (o->stats && r->n_class_stats) {
        print_stats_rows("reconstruction error by class:", r->class_stats, r->n_class_stats, 100);
        print_stats_rows("by layer:", r->layer_stats, r->n_layer_stats, 100);
        print_stats_rows("worst tensors:", r->tensor_stats, r->n_tensor_stats, 10);
    }
    if (o->part_count) {
        printf("part %d/%d of %s -> %s: %d files written, %d kept; when every part is done, run: "
               "moekit merge %s\n",
               o->part_index, o->part_count, src, out, r->files_written, r->files_kept, out);
        return;
    }
    printf("%s %s -> %s: %s, %llu tensors (%llu quantized), %s -> %s in %d files",
           merged ? "merged" : "converted", src ? src : "parts", out, r->scheme,
           (unsigned long long)r->tensors_in, (unsigned long long)r->quantized,
           cli_bytes(r->bytes_in, a, sizeof a), cli_bytes(r->bytes_out, b, sizeof b), r->files);
    if (r->files_kept) printf(" (%d kept from the interrupted run)", r->files_kept);
    printf(", %d side file%s copied, %.1f s", r->copied, r->copied == 1 ? "" : "s", secs);
    if (!merged) printf(" (%s/s)", cli_bytes(secs > 0 ? (uint64_t)((double)r->bytes_in / secs) : 0, s, sizeof s));
    printf("\n");
}

static double elapsed(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

int cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {
        {"scheme", required_argument, 0, 's'},  {"shard-by", required_argument, 0, 'b'},
        {"max-shard-size", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
        {"recipe", required_argument, 0, 'r'},  {"part", required_argument, 0, 'p'},
        {"dry-run", no_argument, 0, 'n'},       {"stats", no_argument, 0, 'S'},
        {"resume", no_argument, 0, 'R'},        {"force", no_argument, 0, 'f'},
        {"verbose", no_argument, 0, 'v'},       {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    mk_convert_opts o;
    mk_convert_defaults(&o);
    ui u = {0};
    const char *recipe_path = NULL;
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
        case 'r': recipe_path = optarg; break;
        case 'p': {
            char *slash = strchr(optarg, '/');
            long long i, n;
            if (!slash) return cli_fail("convert", 2, "--part: '%s' is not I/N", optarg);
            *slash = '\0';
            bool ok = cli_parse_int(optarg, 0, 99999, &i) && cli_parse_int(slash + 1, 1, 100000, &n) && i < n;
            *slash = '/';
            if (!ok)
                return cli_fail("convert", 2, "--part: '%s' is not I/N with 0 <= I < N <= 100000", optarg);
            o.part_index = (int)i;
            o.part_count = (int)n;
            break;
        }
        case 'n': o.dry_run = true; break;
        case 'S': o.stats = true; break;
        case 'R': o.resume = true; break;
        case 'f': o.force = true; break;
        case 'v': u.verbose = true; break;
        case 'j': u.json = true; break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("convert", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("convert", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 2) {
        help(stderr);
        return 2;
    }
    if (o.resume && o.force) return cli_fail("convert", 2, "--resume and --force exclude each other");
    const char *src = argv[optind], *out = argv[optind + 1];
    mk_recipe recipe;
    mk_error err = {0};
    if (recipe_path) {
        if (mk_recipe_load(recipe_path, &recipe, &err)) return cli_report("convert", &err);
        o.recipe = &recipe;
    }
    cli_progress_init(&u.pg, "convert");
    if (o.dry_run) u.pg.enabled = false;
    if (o.dry_run && u.json) u.files = json_array();
    o.progress = on_progress;
    o.on_tensor = on_tensor;
    o.on_file = on_file;
    o.on_warning = on_warning;
    o.ctx = &u;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mk_convert_result r;
    char src_dir[4096];
    bool src_tmp;
    int rc = cli_open_input("convert", src, src_dir, sizeof src_dir, &src_tmp);
    if (rc) {
        json_decref(u.files);
        if (recipe_path) mk_recipe_free(&recipe);
        return rc;
    }
    rc = mk_convert(src_dir, out, &o, &r, &err);
    cli_close_input(src_dir, src_tmp);
    cli_progress_end(&u.pg);
    if (!rc) print_result(src, out, &o, &r, elapsed(&t0), u.json, u.files, false);
    else rc = cli_report("convert", &err);
    if (!rc) mk_convert_result_free(&r);
    json_decref(u.files);
    if (recipe_path) mk_recipe_free(&recipe);
    return rc;
}

int cmd_merge(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    mk_convert_opts o;
    mk_convert_defaults(&o);
    ui u = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': u.json = true; break;
        case 'h': merge_help(stdout); return 0;
        default: return cli_fail("merge", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        merge_help(stderr);
        return 2;
    }
    o.on_warning = on_warning;
    o.ctx = &u;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mk_convert_result r;
    mk_error err = {0};
    if (mk_convert_merge(argv[optind], &o, &r, &err)) return cli_report("merge", &err);
    print_result(NULL, argv[optind], &o, &r, elapsed(&t0), u.json, NULL, true);
    mk_convert_result_free(&r);
    return 0;
}
