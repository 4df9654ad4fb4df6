/* `moekit validate`: prints an mk_validate_report as a table, JSON or HTML,
 * and turns the --min-sqnr / --max-flip gates into exit status 3. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moekit/validate.h"
#include "tools/cli.h"

#define EXIT_GATE 3

static void help(FILE *out) {
    fprintf(out,
            "usage: moekit validate REF QUANT [OPTIONS]\n"
            "\n"
            "Run each layer's reference FP32 MLP block (router, experts, shared experts) with REF's\n"
            "and QUANT's weights on the same tokens and report, per layer: output SQNR, cosine,\n"
            "relative L2 and max error; router top-k flip rate, top-k overlap, top-1 change rate\n"
            "and mean |weight change|; per-expert weight SQNR with the worst experts named.\n"
            "REF and QUANT are any two checkpoints of the same model (e.g. BF16 and its FP8).\n"
            "\n"
            "  --layers SPEC     all (default), 3, 3,5 or 3-9 (MTP layers by number)\n"
            "  --tokens N        synthetic tokens (default 512)\n"
            "  --input X         real activations: safetensors with hidden_states [T, hidden]\n"
            "  --seed S          seed of the synthetic tokens (default 0)\n"
            "  --min-sqnr DB     exit 3 if a layer's output SQNR is below DB\n"
            "  --max-flip RATE   exit 3 if a layer's router flip rate is above RATE (0..1)\n"
            "  --report FILE     write a self-contained HTML report\n"
            "  --threads N       worker threads (default: all cores)\n"
            "  --json            print every figure as JSON\n"
            "  -h, --help        this help\n"
            "\n"
            "Exit status: 0 ok, 2 bad input, 3 a gate failed, 1 internal error.\n");
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static int cmp_expert(const void *a, const void *b) {
    const mk_expert_error *x = a, *y = b;
    if (x->sqnr_db != y->sqnr_db) return x->sqnr_db < y->sqnr_db ? -1 : 1;
    return x->expert - y->expert;
}

/* The five worst experts of a layer (a sorted copy). */
static int worst(const mk_layer_report *l, mk_expert_error *out5) {
    if (!l->n_experts) return 0;
    mk_expert_error *c = malloc((size_t)l->n_experts * sizeof *c);
    if (!c) return 0;
    memcpy(c, l->experts, (size_t)l->n_experts * sizeof *c);
    qsort(c, (size_t)l->n_experts, sizeof *c, cmp_expert);
    int n = l->n_experts < 5 ? l->n_experts : 5;
    memcpy(out5, c, (size_t)n * sizeof *c);
    free(c);
    return n;
}

static void fmt_db(char *buf, size_t cap, double v) {
    if (isfinite(v)) snprintf(buf, cap, "%.2f", v);
    else snprintf(buf, cap, "exact");
}

static void print_table(const mk_validate_report *r, const char *ref, const char *quant) {
    printf("validate %s vs %s: %s, %d tokens per layer\n", ref, quant, r->architecture, r->tokens);
    printf("%5s %-5s %8s %9s %9s %10s %7s %7s %6s %9s  %s\n", "layer", "kind", "SQNR dB", "cosine",
           "relL2", "max|err|", "flip%", "overlap", "top1%", "mean|dw|", "worst experts (weight SQNR dB)");
    for (int i = 0; i < r->n_layers; i++) {
        const mk_layer_report *l = &r->layers[i];
        char s[32];
        fmt_db(s, sizeof s, l->sqnr_db);
        printf("%5d %-5s %8s %9.6f %9.6f %10.4g", l->layer, l->moe ? "moe" : "dense", s, l->cosine,
               l->rel_l2, l->max_abs);
        if (l->moe) {
            printf(" %7.2f %7.4f %6.2f %9.4g ", 100 * l->flip_rate, l->mean_overlap,
                   100 * l->top1_change_rate, l->mean_abs_dweight);
            mk_expert_error w[5];
            int n = worst(l, w);
            for (int j = 0; j < n; j++) {
                fmt_db(s, sizeof s, w[j].sqnr_db);
                printf(" e%d:%s", w[j].expert, s);
            }
        } else {
            printf(" %7s %7s %6s %9s ", "-", "-", "-", "-");
        }
        printf("\n");
    }
    char mn[32], me[32];
    fmt_db(mn, sizeof mn, r->min_sqnr_db);
    fmt_db(me, sizeof me, r->mean_sqnr_db);
    printf("model: output SQNR min %s dB, mean %s dB; router flips %.2f%% of tokens per MoE layer, "
           "mean top-k overlap %.4f\n",
           mn, me, 100 * r->flip_rate, r->mean_overlap);
}

static json_t *report_json(const mk_validate_report *r, const char *ref, const char *quant) {
    json_t *layers = json_array();
    for (int i = 0; i < r->n_layers; i++) {
        const mk_layer_report *l = &r->layers[i];
        json_t *o = json_object();
        json_object_set_new(o, "layer", json_integer(l->layer));
        json_object_set_new(o, "kind", json_string(l->moe ? "moe" : "dense"));
        json_object_set_new(o, "sqnr_db", num(l->sqnr_db));
        json_object_set_new(o, "cosine", num(l->cosine));
        json_object_set_new(o, "rel_l2", num(l->rel_l2));
        json_object_set_new(o, "max_abs_error", num(l->max_abs));
        if (l->moe) {
            json_object_set_new(o, "flip_rate", num(l->flip_rate));
            json_object_set_new(o, "flip_rate_same_input", num(l->flip_rate_isolated));
            json_object_set_new(o, "mean_topk_overlap", num(l->mean_overlap));
            json_object_set_new(o, "top1_change_rate", num(l->top1_change_rate));
            json_object_set_new(o, "mean_abs_weight_change", num(l->mean_abs_dweight));
            json_t *ex = json_array();
            for (int e = 0; e < l->n_experts; e++) json_array_append_new(ex, num(l->experts[e].sqnr_db));
            json_object_set_new(o, "expert_weight_sqnr_db", ex);
            mk_expert_error w[5];
            int n = worst(l, w);
            json_t *wj = json_array();
            for (int j = 0; j < n; j++)
                json_array_append_new(wj, json_pack("{s:i, s:o}", "expert", w[j].expert, "sqnr_db", num(w[j].sqnr_db)));
            json_object_set_new(o, "worst_experts", wj);
        }
        json_array_append_new(layers, o);
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:o}", "ref", ref, "quant", quant, "architecture",
                          r->architecture, "tokens", r->tokens, "layers", layers);
    json_object_set_new(j, "summary", json_pack("{s:o, s:o, s:o, s:o}", "min_sqnr_db", num(r->min_sqnr_db),
                                                "mean_sqnr_db", num(r->mean_sqnr_db), "flip_rate",
                                                num(r->flip_rate), "mean_topk_overlap", num(r->mean_overlap)));
    return j;
}

typedef struct ui {
    bool tty;
    int done;
} ui;

static void on_layer(const mk_layer_report *l, void *ctx) {
    ui *u = ctx;
    u->done++;
    if (u->tty) fprintf(stderr, "\rvalidate: layer %d done (%d so far)   ", l->layer, u->done);
}

int cmd_validate(int argc, char **argv) {
    static const struct option opts[] = {
        {"layers", required_argument, 0, 'l'},  {"tokens", required_argument, 0, 'n'},
        {"input", required_argument, 0, 'i'},   {"seed", required_argument, 0, 's'},
        {"min-sqnr", required_argument, 0, 'q'}, {"max-flip", required_argument, 0, 'f'},
        {"report", required_argument, 0, 'r'},  {"threads", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    mk_validate_opts o;
    mk_validate_defaults(&o);
    bool json = false;
    const char *report = NULL;
    double min_sqnr = -INFINITY, max_flip = INFINITY;
    long long v;
    char *end;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': o.layers = optarg; break;
        case 'n':
            if (!cli_parse_int(optarg, 1, 1 << 20, &v))
                return cli_fail("validate", 2, "--tokens: '%s' is not an integer in [1, 1048576]", optarg);
            o.tokens = (int)v;
            break;
        case 'i': o.input = optarg; break;
        case 's':
            if (!cli_parse_int(optarg, 0, 0x7fffffffffffffffLL, &v))
                return cli_fail("validate", 2, "--seed: '%s' is not a non-negative integer", optarg);
            o.seed = (uint64_t)v;
            break;
        case 'q':
            min_sqnr = strtod(optarg, &end);
            if (*end || end == optarg) return cli_fail("validate", 2, "--min-sqnr: '%s' is not a number", optarg);
            break;
        case 'f':
            max_flip = strtod(optarg, &end);
            if (*end || end == optarg || max_flip < 0 || max_flip > 1)
                return cli_fail("validate", 2, "--max-flip: '%s' is not a rate in [0, 1]", optarg);
            break;
        case 'r': report = optarg; break;
        case 't':
            if (!cli_parse_int(optarg, 1, 4096, &v))
                return cli_fail("validate", 2, "--threads: '%s' is not an integer in [1, 4096]", optarg);
            omp_set_num_threads((int)v);
            break;
        case 'j': json = true; break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("validate", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("validate", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 2) {
        help(stderr);
        return 2;
    }
    const char *ref = argv[optind], *quant = argv[optind + 1];
    ui u = {.tty = cli_stderr_is_tty()};
    o.on_layer = on_layer;
    o.ctx = &u;
    mk_validate_report r;
    mk_error err = {0};
    int rc = mk_validate(ref, quant, &o, &r, &err);
    if (u.tty) fprintf(stderr, "\r\033[K");
    if (rc) return cli_report("validate", &err);
    if (json) {
        json_t *j = report_json(&r, ref, quant);
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        print_table(&r, ref, quant);
    }
    if (report && (rc = cli_write_report_html(report, &r, ref, quant, &err)) != 0) {
        mk_validate_free(&r);
        return cli_report("validate", &err);
    }
    int gate = 0;
    for (int i = 0; i < r.n_layers; i++) {
        const mk_layer_report *l = &r.layers[i];
        if (l->sqnr_db < min_sqnr) {
            fprintf(stderr, "moekit validate: gate failed: layer %d output SQNR %.2f dB < %.2f dB\n", l->layer,
                    l->sqnr_db, min_sqnr);
            gate = 1;
        }
        if (l->moe && l->flip_rate > max_flip) {
            fprintf(stderr, "moekit validate: gate failed: layer %d router flip rate %.4f > %.4f\n", l->layer,
                    l->flip_rate, max_flip);
            gate = 1;
        }
    }
    mk_validate_free(&r);
    return gate ? EXIT_GATE : 0;
}
