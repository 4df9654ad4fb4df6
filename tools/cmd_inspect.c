/* `moekit inspect`: prints an mk_inspect_report as text or JSON. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "moekit/inspect.h"
#include "tools/cli.h"

static void help(FILE *out) {
    fprintf(out,
            "usage: moekit inspect CKPT [--json] [--max-findings N]\n"
            "\n"
            "Summarise a checkpoint (a folder with model.safetensors.index.json or\n"
            "model.safetensors, or one .safetensors file): architecture, layers, experts\n"
            "per MoE layer and top-k, dtype histogram, bytes, tensor and parameter counts\n"
            "(total, active per token, input embedding), and every disagreement between\n"
            "config.json and the tensors (missing, extra, wrong shape) as a finding.\n"
            "Reads headers only.\n"
            "\n"
            "  --json             machine-readable report on stdout (all findings)\n"
            "  --max-findings N   findings printed in text mode (default 20)\n"
            "  -h, --help         this help\n");
}

static const char *attn_name(mk_attn_kind k) {
    return k == MK_ATTN_MLA ? "mla" : k == MK_ATTN_GQA ? "gqa" : "mha";
}
static const char *topk_name(mk_topk_method m) {
    return m == MK_TOPK_NOAUX_TC ? "noaux_tc"
         : m == MK_TOPK_GROUP_LIMITED_GREEDY ? "group_limited_greedy" : "greedy";
}

static json_t *report_json(const mk_inspect_report *r) {
    json_t *j = json_object();
    json_object_set_new(j, "path", json_string(r->path));
    json_object_set_new(j, "files", json_integer((json_int_t)r->n_files));
    json_object_set_new(j, "file_bytes", json_integer((json_int_t)r->file_bytes));
    json_object_set_new(j, "tensors", json_integer((json_int_t)r->n_tensors));
    json_object_set_new(j, "tensor_bytes", json_integer((json_int_t)r->tensor_bytes));
    if (r->has_config) {
        const mk_model_config *c = &r->cfg;
        json_object_set_new(j, "architecture", json_string(c->architecture));
        json_object_set_new(j, "model_type", json_string(c->model_type));
        json_object_set_new(j, "torch_dtype", json_string(mk_dtype_name(c->torch_dtype)));
        json_t *layers = json_object(), *moe_l = json_array(), *dense_l = json_array();
        for (int L = 0; L < c->num_layers; L++)
            json_array_append_new(c->is_moe[L] ? moe_l : dense_l, json_integer(L));
        json_object_set_new(layers, "total", json_integer(c->num_layers));
        json_object_set_new(layers, "moe", moe_l);
        json_object_set_new(layers, "dense", dense_l);
        json_object_set_new(layers, "mtp", json_integer(c->num_nextn_predict_layers));
        json_object_set_new(j, "layers", layers);
        if (c->n_routed_experts) {
            json_t *m = json_object(), *found = json_array();
            for (int L = 0; L < r->n_layers; L++)
                if (c->is_moe[L]) json_array_append_new(found, json_integer(r->experts_found[L]));
            json_object_set_new(m, "n_routed_experts", json_integer(c->n_routed_experts));
            json_object_set_new(m, "top_k", json_integer(c->top_k));
            json_object_set_new(m, "moe_intermediate_size", json_integer(c->moe_intermediate_size));
            json_object_set_new(m, "n_shared_experts", json_integer(c->n_shared_experts));
            json_object_set_new(m, "scoring_func",
                                json_string(c->scoring == MK_SCORE_SIGMOID ? "sigmoid" : "softmax"));
            json_object_set_new(m, "topk_method", json_string(topk_name(c->topk_method)));
            json_object_set_new(m, "n_group", json_integer(c->n_group));
            json_object_set_new(m, "topk_group", json_integer(c->topk_group));
            json_object_set_new(m, "routed_scaling_factor", json_real(c->routed_scaling_factor));
            json_object_set_new(m, "norm_topk_prob", json_boolean(c->norm_topk_prob));
            json_object_set_new(m, "experts_found_per_moe_layer", found);
            json_object_set_new(j, "moe", m);
        }
        json_t *a = json_object();
        json_object_set_new(a, "kind", json_string(attn_name(c->attn)));
        json_object_set_new(a, "num_heads", json_integer(c->num_heads));
        json_object_set_new(a, "num_kv_heads", json_integer(c->num_kv_heads));
        if (c->attn == MK_ATTN_MLA) {
            json_object_set_new(a, "q_lora_rank", json_integer(c->q_lora_rank));
            json_object_set_new(a, "kv_lora_rank", json_integer(c->kv_lora_rank));
            json_object_set_new(a, "qk_nope_head_dim", json_integer(c->qk_nope_head_dim));
            json_object_set_new(a, "qk_rope_head_dim", json_integer(c->qk_rope_head_dim));
            json_object_set_new(a, "v_head_dim", json_integer(c->v_head_dim));
        } else {
            json_object_set_new(a, "head_dim", json_integer(c->head_dim));
        }
        json_object_set_new(j, "attention", a);
    }
    json_t *dt = json_object();
    for (int d = 0; d < MK_DT_COUNT; d++) {
        if (!r->by_dtype[d].tensors) continue;
        json_object_set_new(dt, mk_dtype_name((mk_dtype)d),
                            json_pack("{s:I, s:I, s:I}", "tensors", (json_int_t)r->by_dtype[d].tensors,
                                      "elements", (json_int_t)r->by_dtype[d].elems, "bytes",
                                      (json_int_t)r->by_dtype[d].bytes));
    }
    json_object_set_new(j, "dtypes", dt);
    json_t *p = json_object(), *kinds = json_object();
    json_object_set_new(p, "total", json_integer((json_int_t)r->params_total));
    json_object_set_new(p, "active_per_token", json_integer((json_int_t)r->params_active));
    json_object_set_new(p, "active_per_token_non_embedding",
                        json_integer((json_int_t)(r->params_active - r->params_embedding)));
    json_object_set_new(p, "input_embedding", json_integer((json_int_t)r->params_embedding));
    json_object_set_new(p, "routed_experts", json_integer((json_int_t)r->params_routed));
    json_object_set_new(p, "mtp", json_integer((json_int_t)r->params_mtp));
    for (int k = 0; k < MK_T_KIND_COUNT; k++)
        if (r->elems_by_kind[k])
            json_object_set_new(kinds, mk_tensor_kind_name((mk_tensor_kind)k),
                                json_integer((json_int_t)r->elems_by_kind[k]));
    json_object_set_new(p, "by_kind", kinds);
    json_object_set_new(j, "parameters", p);
    json_t *fs = json_array();
    for (size_t i = 0; i < r->n_findings; i++) {
        const mk_finding *f = &r->findings[i];
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(mk_finding_kind_name(f->kind)));
        json_object_set_new(o, "tensor", f->tensor ? json_string(f->tensor) : json_null());
        json_object_set_new(o, "detail", json_string(f->detail));
        json_array_append_new(fs, o);
    }
    json_object_set_new(j, "findings", fs);
    return j;
}

static void print_text(const mk_inspect_report *r, long long max_findings) {
    char a[32], b[32], c3[32], d[32];
    printf("checkpoint    %s (%zu file%s, %s)\n", r->path, r->n_files, r->n_files == 1 ? "" : "s",
           cli_bytes(r->file_bytes, a, sizeof a));
    if (r->has_config) {
        const mk_model_config *c = &r->cfg;
        int n_moe = mk_config_n_moe_layers(c);
        printf("architecture  %s (%s), %s\n", c->architecture, c->model_type,
               mk_dtype_name(c->torch_dtype));
        printf("layers        %lld: %d MoE, %lld dense", (long long)c->num_layers, n_moe,
               (long long)c->num_layers - n_moe);
        if (c->num_nextn_predict_layers) printf(", + %lld MTP", (long long)c->num_nextn_predict_layers);
        printf("\n");
        if (c->n_routed_experts) {
            printf("experts       %lld routed per MoE layer, top-%lld, width %lld", (long long)c->n_routed_experts,
                   (long long)c->top_k, (long long)c->moe_intermediate_size);
            if (c->n_shared_experts) printf(", %lld shared", (long long)c->n_shared_experts);
            printf("; %s scores, %s", c->scoring == MK_SCORE_SIGMOID ? "sigmoid" : "softmax",
                   topk_name(c->topk_method));
            if (c->topk_method != MK_TOPK_GREEDY)
                printf(" (%lld groups, best %lld)", (long long)c->n_group, (long long)c->topk_group);
            printf("\n              found per MoE layer:");
            int shown = 0;
            for (int L = 0; L < r->n_layers; L++)
                if (c->is_moe[L] && shown++ < 16) printf(" %d", r->experts_found[L]);
            if (shown > 16) printf(" ... (%d layers)", shown);
            printf("\n");
        }
        if (c->attn == MK_ATTN_MLA)
            printf("attention     MLA, %lld heads (q_lora %lld, kv_lora %lld, nope %lld, rope %lld, v %lld)\n",
                   (long long)c->num_heads, (long long)c->q_lora_rank, (long long)c->kv_lora_rank,
                   (long long)c->qk_nope_head_dim, (long long)c->qk_rope_head_dim,
                   (long long)c->v_head_dim);
        else
            printf("attention     %s, %lld heads, %lld kv heads, head_dim %lld\n",
                   c->attn == MK_ATTN_GQA ? "GQA" : "MHA", (long long)c->num_heads,
                   (long long)c->num_kv_heads, (long long)c->head_dim);
    }
    printf("tensors       %llu, %s of data\n", (unsigned long long)r->n_tensors,
           cli_bytes(r->tensor_bytes, a, sizeof a));
    printf("dtypes       ");
    for (int dt = MK_DT_COUNT - 1; dt >= 0; dt--)
        if (r->by_dtype[dt].tensors)
            printf(" %s: %llu tensors, %s;", mk_dtype_name((mk_dtype)dt),
                   (unsigned long long)r->by_dtype[dt].tensors,
                   cli_bytes(r->by_dtype[dt].bytes, a, sizeof a));
    printf("\n");
    printf("parameters    total %s, active/token %s (%s without input embedding), routed experts %s",
           cli_count(r->params_total, a, sizeof a), cli_count(r->params_active, b, sizeof b),
           cli_count(r->params_active - r->params_embedding, c3, sizeof c3),
           cli_count(r->params_routed, d, sizeof d));
    if (r->params_mtp) printf(", MTP %s", cli_count(r->params_mtp, a, sizeof a));
    printf("\n");
    if (!r->n_findings) {
        printf("findings      none\n");
        return;
    }
    printf("findings      %zu\n", r->n_findings);
    for (size_t i = 0; i < r->n_findings && (long long)i < max_findings; i++) {
        const mk_finding *f = &r->findings[i];
        printf("  %-8s %s%s%s\n", mk_finding_kind_name(f->kind), f->tensor ? f->tensor : "",
               f->tensor ? ": " : "", f->detail);
    }
    if ((long long)r->n_findings > max_findings)
        printf("  ... %lld more (use --json for all)\n", (long long)r->n_findings - max_findings);
}

int cmd_inspect(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'},
        {"max-findings", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    bool json = false;
    long long max_findings = 20;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'm':
            if (!cli_parse_int(optarg, 0, 1LL << 40, &max_findings))
                return cli_fail("inspect", 2, "--max-findings: '%s' is not a non-negative integer", optarg);
            break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("inspect", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("inspect", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        help(stderr);
        return 2;
    }
    mk_inspect_report r;
    mk_error err = {0};
    char dir[4096];
    bool tmp;
    int orc = cli_open_input("inspect", argv[optind], dir, sizeof dir, &tmp);
    if (orc) return orc;
    if (mk_inspect(dir, &r, &err)) {
        cli_close_input(dir, tmp);
        return cli_report("inspect", &err);
    }
    cli_close_input(dir, tmp);
    if (json) {
        json_t *j = report_json(&r);
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        print_text(&r, max_findings);
    }
    mk_inspect_free(&r);
    return 0;
}
