/* `moekit plan`: model and GPU look-up, printing of an mk_plan_result. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "formats/fileio.h"
#include "moekit/catalog.h"
#include "moekit/plan.h"
#include "tools/cli.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

static void help(FILE *out) {
    fprintf(out,
            "usage: moekit plan MODEL [OPTIONS]\n"
            "       moekit plan --list\n"
            "\n"
            "VRAM per GPU with vLLM's accounting (weights incl. scales, profiled activation peak,\n"
            "non-torch memory, KV cache incl. MLA and FP8 KV; CUDA graphs shown apart) and the\n"
            "smallest GPU count and parallel layout that fit. MODEL is a config.json, a checkpoint\n"
            "folder, or a catalog name (see --list).\n"
            "\n"
            "  --gpu NAME              GPU from the catalog (default h100)\n"
            "  --gpu-mem GIB           any other GPU: its memory as CUDA reports it\n"
            "  --catalog FILE.yaml     a GPU catalog of your own (same form as the embedded one)\n"
            "  --quant Q               auto (the config's own quantization_config), bf16, fp16,\n"
            "                          fp8, fp8-block, fp8-channel, int8, int4 (weight-only, g128)\n"
            "  --kv-dtype D            auto (model dtype) | bf16 | fp8\n"
            "  --ctx N                 tokens per sequence (default 8192)\n"
            "  --seqs N                concurrent sequences that must fit (default 1)\n"
            "  --gpus N --tp N --pp N  evaluate this layout instead of searching\n"
            "  --ep                    expert parallelism (experts spread, not split)\n"
            "  --util F                gpu_memory_utilization (default 0.9)\n"
            "  --max-num-seqs N        vLLM max_num_seqs (default 1024 on >= 70 GiB GPUs, else 256)\n"
            "  --max-num-batched-tokens N  (default 8192 on >= 70 GiB GPUs, else 2048)\n"
            "  --mtp                   also load DeepSeek's MTP layers\n"
            "  --explain               every formula with its numbers\n"
            "  --json                  machine-readable result\n"
            "  --list                  the model and GPU catalogs\n"
            "  -h, --help              this help\n");
}

static double gib(double b) { return b / GIB; }

static void list_catalogs(const mk_gpu_catalog *gc) {
    size_t n;
    const mk_model_entry *m = mk_model_catalog(&n);
    printf("models:\n");
    for (size_t i = 0; i < n; i++) printf("  %-18s %s\n", m[i].name, m[i].hf_id);
    printf("gpus:\n");
    for (size_t i = 0; i < gc->n; i++)
        printf("  %-10s %-28s %7.2f GiB %6.0f GB/s %6.0f BF16 %6.0f FP8 TFLOPS\n", gc->gpus[i].name,
               gc->gpus[i].label, gc->gpus[i].mem_gib, gc->gpus[i].bw_gbps, gc->gpus[i].bf16_tflops,
               gc->gpus[i].fp8_tflops);
}

/* MODEL -> config.json text: a file, a folder's config.json, or the catalog. */
static int model_text(const char *model, char **text, char *label, size_t cap, mk_error *err) {
    struct stat st;
    if (stat(model, &st) == 0) {
        char path[PATH_MAX];
        if (S_ISDIR(st.st_mode)) snprintf(path, sizeof path, "%s/config.json", model);
        else snprintf(path, sizeof path, "%s", model);
        size_t len;
        snprintf(label, cap, "%s", model);
        return mk_read_file(path, 64u << 20, text, &len, err);
    }
    const mk_model_entry *e = mk_model_catalog_find(model);
    if (!e)
        return mk_fail(err, MK_ERR_INPUT, "'%s' is neither a config.json, a folder nor a catalog model (see --list)",
                       model);
    *text = strdup(e->config_json);
    snprintf(label, cap, "%s (%s)", e->name, e->hf_id);
    return *text ? MK_OK : mk_fail(err, MK_ERR_INTERNAL, "out of memory");
}

static const char *layout_str(const mk_plan_layout *l, char *buf, size_t cap) {
    if (l->gpus > l->tp * l->pp)
        snprintf(buf, cap, "%d GPUs: TP %d x PP %d per replica, experts over all %d GPUs (EP, DP attention)", l->gpus,
                 l->tp, l->pp, l->gpus);
    else
        snprintf(buf, cap, "%d GPU%s: TP %d, PP %d, EP %s", l->gpus, l->gpus == 1 ? "" : "s", l->tp, l->pp,
                 l->ep ? "on" : "off");
    return buf;
}

static void print_text(const char *label, const mk_model_config *c, const mk_gpu *g, const mk_plan_opts *o,
                       const mk_plan_result *r, bool explain) {
    const mk_plan_layout *l = &r->chosen;
    char buf[256];
    printf("model       %s, %s\n", label, c->architecture);
    printf("parameters  %.2fB total, %.2fB active per token, %.2fB input embedding", r->params.total / 1e9,
           r->params.active / 1e9, r->params.embedding / 1e9);
    if (r->params.mtp) printf(", MTP %.2fB (%s)", r->params.mtp / 1e9, o->mtp ? "loaded" : "not loaded; --mtp");
    printf("\n");
    printf("weights     %s: %.2f GiB total (", r->weight_format, gib(r->weight_bytes_total));
    int first = 1;
    for (int k = 0; k < MK_WCLASS_COUNT; k++)
        if (r->weight_bytes_by_class[k] > 0.005 * GIB) {
            printf("%s%s %.2f", first ? "" : ", ", mk_wclass_name(k), gib(r->weight_bytes_by_class[k]));
            first = 0;
        }
    printf(")\n");
    printf("gpu         %s, %.2f GiB, util %.2f; vLLM max_num_seqs %d, max_num_batched_tokens %d\n", g->label[0] ? g->label : g->name,
           g->mem_gib, o->util, r->max_num_seqs, r->max_num_batched_tokens);
    printf("layout      %s\n", layout_str(l, buf, sizeof buf));
    printf("per GPU     %-9s %-9s %-10s %-9s %-9s %-11s %-9s (GiB)\n", "budget", "weights", "activation", "non-torch",
           "KV cache", "CUDA graphs", "free");
    printf("            %-9.2f %-9.2f %-10.2f %-9.2f %-9.2f %-11.2f %-9.2f\n", gib(l->budget_bytes),
           gib(l->weight_bytes_per_gpu), gib(l->activation_bytes), gib(l->non_torch_bytes), gib(l->kv_cache_bytes),
           gib(l->cudagraph_bytes), gib(l->free_bytes));
    printf("KV          %llu B per token per GPU (%s, %s) -> %lld tokens; %.2f concurrent %lld-token sequences\n",
           (unsigned long long)l->kv_bytes_per_token, r->mla ? "MLA latent, replicated on every TP rank" : "K and V",
           r->kv_dtype_bytes == 1 ? "fp8" : "bf16", (long long)l->kv_tokens, l->max_concurrency, (long long)o->ctx);
    if (!l->valid) printf("invalid     %s\n", l->why);
    if (r->found)
        printf("verdict     FITS on %d x %s: KV holds %.2f x %lld tokens (needed %lld)\n", l->gpus, g->name,
               l->max_concurrency, (long long)o->ctx, (long long)o->seqs);
    else if (o->gpus || o->tp || o->pp)
        printf("verdict     DOES NOT FIT on %d x %s%s\n", l->gpus, g->name,
               l->kv_cache_bytes <= 0 ? ": weights and activations exceed the budget" : ": KV too small for ctx x seqs");
    else
        printf("verdict     DOES NOT FIT on up to 128 x %s\n", g->name);
    for (int i = 0; i < r->n_candidates; i++) {
        const mk_plan_layout *n = &r->candidates[i];
        printf("next        %s: weights %.2f GiB, KV %.2f GiB, %.2f x %lld tokens%s%s\n", layout_str(n, buf, sizeof buf),
               gib(n->weight_bytes_per_gpu), gib(n->kv_cache_bytes), n->max_concurrency, (long long)o->ctx,
               n->valid ? "" : " - invalid: ", n->valid ? "" : n->why);
    }
    if (!explain) return;
    printf("\nhow these numbers come about (vLLM semantics; sources in docs/planner.md):\n");
    printf("  params_total        = sum of tensor elements of the %lld decoder layers, embeddings, norms, head = %llu\n",
           (long long)c->num_layers, (unsigned long long)r->params.total);
    printf("  params_active       = total - routed experts x (1 - top_k / experts) = %llu\n", (unsigned long long)r->params.active);
    printf("  params_embedding    = vocab x hidden = %llu;  params_mtp = %llu (%s)\n", (unsigned long long)r->params.embedding,
           (unsigned long long)r->params.mtp, o->mtp ? "loaded" : "not loaded");
    printf("  weight_bytes_total  = sum over tensors of their stored bytes (%s; quantized linears: codes +\n"
           "                        scales; embeddings, lm_head, norms, routers at model precision) = %.0f B = %.2f GiB\n",
           r->weight_format, r->weight_bytes_total, gib(r->weight_bytes_total));
    printf("  weight_bytes_per_gpu= fullest of %d pipeline stages (%d layers): replicated tensors + split tensors / TP %d\n"
           "                        + experts / %s = %.2f GiB\n",
           l->pp, l->layers_per_stage, l->tp, l->gpus > l->tp * l->pp ? "all GPUs" : "TP", gib(l->weight_bytes_per_gpu));
    printf("  activation_bytes    = max(sampler %.2f x max_num_seqs %d x vocab %lld x 4 B = %.2f GiB,\n"
           "                            forward max_num_batched_tokens %d x 2 B x (8 x hidden + 2 x widest MLP / TP) = %.2f GiB)\n",
           9.65, r->max_num_seqs, (long long)c->vocab_size, gib(r->sampler_bytes), r->max_num_batched_tokens,
           gib(r->forward_bytes));
    printf("  non_torch_bytes     = %.2f GiB (NCCL and workspaces: 0.13 GiB on 1 GPU, 0.55 GiB with several)\n",
           gib(l->non_torch_bytes));
    printf("  budget              = %.2f GiB x util %.2f = %.2f GiB\n", g->mem_gib, o->util, gib(l->budget_bytes));
    printf("  kv_cache_bytes      = budget - weights - activation - non-torch = %.2f - %.2f - %.2f - %.2f = %.2f GiB\n",
           gib(l->budget_bytes), gib(l->weight_bytes_per_gpu), gib(l->activation_bytes), gib(l->non_torch_bytes),
           gib(l->kv_cache_bytes));
    if (r->mla)
        printf("  kv_bytes_per_token  = layers %d x (kv_lora_rank %lld + qk_rope_head_dim %lld) x %d B = %llu B\n",
               (int)(c->num_layers / l->pp + (c->num_layers % l->pp ? 1 : 0)), (long long)c->kv_lora_rank,
               (long long)c->qk_rope_head_dim, r->kv_dtype_bytes, (unsigned long long)l->kv_bytes_per_token);
    else
        printf("  kv_bytes_per_token  = 2 x layers %d x max(1, kv_heads %lld / TP %d) x head_dim %lld x %d B = %llu B\n",
               (int)(c->num_layers / l->pp + (c->num_layers % l->pp ? 1 : 0)), (long long)c->num_kv_heads, l->tp,
               (long long)c->head_dim, r->kv_dtype_bytes, (unsigned long long)l->kv_bytes_per_token);
    printf("  kv_cache_tokens     = floor(kv_cache_bytes / (bytes_per_token x block %d)) x %d = %lld\n",
           o->block_size, o->block_size, (long long)l->kv_tokens);
    printf("  max_concurrency     = kv_cache_tokens x replicas %d / ctx %lld = %.2f\n", l->gpus / (l->tp * l->pp),
           (long long)o->ctx, l->max_concurrency);
    printf("  cudagraph_bytes     = %.2f GiB, captured after the KV cache: not in the budget, shown apart\n",
           gib(l->cudagraph_bytes));
    printf("  fits                = valid layout and kv_cache_bytes > 0 and tokens >= ctx %lld x seqs %lld\n",
           (long long)o->ctx, (long long)o->seqs);
}

static json_t *layout_json(const mk_plan_layout *l) {
    return json_pack("{s:i, s:i, s:i, s:b, s:b, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:f, s:b}", "gpus",
                     l->gpus, "tp", l->tp, "pp", l->pp, "ep", l->ep, "valid", l->valid, "invalid_reason", l->why,
                     "weight_bytes_per_gpu", l->weight_bytes_per_gpu, "activation_bytes_per_gpu",
                     l->activation_bytes, "non_torch_bytes_per_gpu", l->non_torch_bytes,
                     "cudagraph_bytes_per_gpu", l->cudagraph_bytes, "kv_cache_bytes_per_gpu", l->kv_cache_bytes,
                     "free_bytes_per_gpu", l->free_bytes, "kv_bytes_per_token_per_gpu",
                     (json_int_t)l->kv_bytes_per_token, "kv_cache_tokens", (json_int_t)l->kv_tokens,
                     "max_concurrency", l->max_concurrency, "fits", l->fits);
}

int cmd_plan(int argc, char **argv) {
    static const struct option opts[] = {
        {"gpu", required_argument, 0, 'g'},   {"gpu-mem", required_argument, 0, 'M'},
        {"catalog", required_argument, 0, 'c'}, {"quant", required_argument, 0, 'q'},
        {"kv-dtype", required_argument, 0, 'k'}, {"ctx", required_argument, 0, 'x'},
        {"seqs", required_argument, 0, 's'},  {"gpus", required_argument, 0, 'n'},
        {"tp", required_argument, 0, 't'},    {"pp", required_argument, 0, 'p'},
        {"ep", no_argument, 0, 'e'},          {"util", required_argument, 0, 'u'},
        {"max-num-seqs", required_argument, 0, 'S'}, {"max-num-batched-tokens", required_argument, 0, 'B'},
        {"mtp", no_argument, 0, 'm'},         {"explain", no_argument, 0, 'X'},
        {"json", no_argument, 0, 'j'},        {"list", no_argument, 0, 'l'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    mk_plan_opts o;
    mk_plan_defaults(&o);
    const char *gpu_name = "h100", *catalog = NULL;
    double gpu_mem = 0;
    bool json = false, explain = false, list = false;
    long long v;
    char *end;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'g': gpu_name = optarg; break;
        case 'M':
            gpu_mem = strtod(optarg, &end);
            if (*end || end == optarg || gpu_mem <= 0) return cli_fail("plan", 2, "--gpu-mem: '%s' is not a positive number of GiB", optarg);
            break;
        case 'c': catalog = optarg; break;
        case 'q':
            if (mk_plan_quant_parse(optarg, &o.quant))
                return cli_fail("plan", 2, "--quant: '%s' is not auto, bf16, fp16, fp8, fp8-block, fp8-channel, int8 or int4", optarg);
            break;
        case 'k':
            if (!strcmp(optarg, "auto")) o.kv_dtype = MK_KV_AUTO;
            else if (!strcmp(optarg, "bf16")) o.kv_dtype = MK_KV_BF16;
            else if (!strcmp(optarg, "fp8")) o.kv_dtype = MK_KV_FP8;
            else return cli_fail("plan", 2, "--kv-dtype: '%s' is not auto, bf16 or fp8", optarg);
            break;
        case 'x':
        case 's':
        case 'n':
        case 't':
        case 'p':
        case 'S':
        case 'B':
            if (!cli_parse_int(optarg, 1, 1LL << 40, &v)) return cli_fail("plan", 2, "'%s' is not a positive integer", optarg);
            if (c == 'x') o.ctx = v;
            else if (c == 's') o.seqs = v;
            else if (c == 'n') o.gpus = (int)v;
            else if (c == 't') o.tp = (int)v;
            else if (c == 'p') o.pp = (int)v;
            else if (c == 'S') o.max_num_seqs = (int)v;
            else o.max_num_batched_tokens = (int)v;
            break;
        case 'e': o.ep = true; break;
        case 'u':
            o.util = strtod(optarg, &end);
            if (*end || end == optarg || o.util <= 0 || o.util > 1) return cli_fail("plan", 2, "--util: '%s' is not in (0, 1]", optarg);
            break;
        case 'm': o.mtp = true; break;
        case 'X': explain = true; break;
        case 'j': json = true; break;
        case 'l': list = true; break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("plan", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("plan", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    mk_error err = {0};
    mk_gpu_catalog gc;
    if ((catalog ? mk_gpu_catalog_load(catalog, &gc, &err) : mk_gpu_catalog_default(&gc, &err)))
        return cli_report("plan", &err);
    if (list) {
        list_catalogs(&gc);
        mk_gpu_catalog_free(&gc);
        return 0;
    }
    if (optind != argc - 1) {
        mk_gpu_catalog_free(&gc);
        help(stderr);
        return 2;
    }
    mk_gpu custom = {0};
    const mk_gpu *g;
    if (gpu_mem > 0) {
        snprintf(custom.name, sizeof custom.name, "custom");
        snprintf(custom.label, sizeof custom.label, "GPU with %.2f GiB", gpu_mem);
        custom.mem_gib = gpu_mem;
        g = &custom;
    } else if (!(g = mk_gpu_find(&gc, gpu_name))) {
        mk_gpu_catalog_free(&gc);
        return cli_fail("plan", 2, "--gpu: '%s' is not in the catalog (see --list, or use --gpu-mem)", gpu_name);
    }
    o.gpu = g;
    char *text = NULL, label[512];
    mk_model_config cfg = {0};
    mk_plan_result r;
    int rc = model_text(argv[optind], &text, label, sizeof label, &err);
    if (!rc) rc = mk_config_parse(text, strlen(text), argv[optind], &cfg, &err);
    if (!rc) rc = mk_plan(&cfg, text, &o, &r, &err);
    if (!rc) {
        if (json) {
            const mk_plan_layout *l = &r.chosen;
            json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:I, s:f, s:b, s:i, s:i, s:i, s:b, s:s, s:f}",
                                  "model", label, "architecture", cfg.architecture, "params_total",
                                  (json_int_t)r.params.total, "params_active", (json_int_t)r.params.active,
                                  "params_embedding", (json_int_t)r.params.embedding, "params_mtp",
                                  (json_int_t)r.params.mtp, "weight_format", r.weight_format,
                                  "weight_bytes_total", r.weight_bytes_total, "weight_bytes_per_gpu",
                                  l->weight_bytes_per_gpu, "kv_bytes_per_token_per_gpu",
                                  (json_int_t)l->kv_bytes_per_token, "activation_bytes_per_gpu", l->activation_bytes,
                                  "non_torch_bytes_per_gpu", l->non_torch_bytes, "cudagraph_bytes_per_gpu",
                                  l->cudagraph_bytes, "kv_cache_bytes_per_gpu", l->kv_cache_bytes, "kv_cache_tokens",
                                  (json_int_t)l->kv_tokens, "max_concurrency", l->max_concurrency, "fits", r.found,
                                  "gpus", l->gpus, "tp", l->tp, "pp", l->pp, "ep", l->ep, "gpu", g->name,
                                  "gpu_memory_gib", g->mem_gib);
            json_object_set_new(j, "budget_bytes_per_gpu", json_real(l->budget_bytes));
            json_object_set_new(j, "free_bytes_per_gpu", json_real(l->free_bytes));
            json_object_set_new(j, "util", json_real(o.util));
            json_object_set_new(j, "ctx", json_integer(o.ctx));
            json_object_set_new(j, "seqs", json_integer(o.seqs));
            json_object_set_new(j, "kv_dtype_bytes", json_integer(r.kv_dtype_bytes));
            json_object_set_new(j, "max_num_seqs", json_integer(r.max_num_seqs));
            json_object_set_new(j, "max_num_batched_tokens", json_integer(r.max_num_batched_tokens));
            json_t *wc = json_object();
            for (int k = 0; k < MK_WCLASS_COUNT; k++) json_object_set_new(wc, mk_wclass_name(k), json_real(r.weight_bytes_by_class[k]));
            json_object_set_new(j, "weight_bytes_by_class", wc);
            if (!l->valid) json_object_set_new(j, "invalid_reason", json_string(l->why));
            json_t *cand = json_array();
            for (int i = 0; i < r.n_candidates; i++) json_array_append_new(cand, layout_json(&r.candidates[i]));
            json_object_set_new(j, "next_candidates", cand);
            json_dumpf(j, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(j);
        } else {
            print_text(label, &cfg, g, &o, &r, explain);
        }
    }
    free(text);
    mk_config_free(&cfg);
    mk_gpu_catalog_free(&gc);
    return rc ? cli_report("plan", &err) : 0;
}
