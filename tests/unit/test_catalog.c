/*
 * Unit tests for the planner's catalogs (formats/catalog_gpu.c,
 * formats/catalog_models.c).
 *
 * The GPU catalog must hold the memory totals frameworks report (the planner
 * multiplies them by gpu_memory_utilization), and a user's catalog file must
 * fail with a message naming the file and line at fault.  Every model
 * config must parse, and the parameter count its tensor list implies must
 * match the total its publisher states, which catches a mistyped dimension
 * far better than re-reading the numbers.
 */
#include "moekit/catalog.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "moekit/model.h"

/* ---- GPUs ---- */

TEST(gpu_default_catalog_has_every_required_gpu) {
    static const char *const required[] = {"a100-40g", "a100-80g", "h100", "h100-pcie", "h200",
                                           "h20",      "b200",     "l40s", "l4",        "a10g",
                                           "rtx4090",  "rtx5090",  "mi300x", "mi325x"};
    mk_gpu_catalog c;
    mk_error err = {0};
    int rc = mk_gpu_catalog_default(&c, &err);
    CHECKF(rc == MK_OK, "default catalog: %s", err.msg);
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        const mk_gpu *g = mk_gpu_find(&c, required[i]);
        if (!g) mk_gpu_catalog_free(&c);
        CHECKF(g, "'%s' is missing from the default catalog", required[i]);
        bool sane = g->label[0] && g->mem_gib > 16 && g->mem_gib < 300 && g->bw_gbps >= 300 &&
                    g->bf16_tflops > 0 && g->fp8_tflops >= 0;
        if (!sane) mk_gpu_catalog_free(&c);
        CHECKF(sane, "'%s': label '%s' mem %g bw %g bf16 %g fp8 %g", required[i], g->label,
               g->mem_gib, g->bw_gbps, g->bf16_tflops, g->fp8_tflops);
    }
    mk_gpu_catalog_free(&c);
    CHECK(c.gpus == NULL && c.n == 0);
}

/* The totals the planner multiplies by gpu_memory_utilization: what
 * torch/ROCm report, not the nameplate. */
TEST(gpu_default_catalog_uses_reported_memory_and_datasheet_rates) {
    static const struct {
        const char *name;
        double mem_gib, bw_gbps, bf16, fp8;
    } want[] = {
        {"h100", 79.1, 3350, 989, 1979},      {"h200", 140.4, 4800, 989.4, 1978.9},
        {"b200", 178.35, 8000, 2250, 4500},   {"a100-40g", 39.39, 1555, 312, 0},
        {"a100-80g", 79.15, 2039, 312, 0},    {"h100-pcie", 79.65, 2000, 756, 1513},
        {"l40s", 44.99, 864, 362, 733},       {"l4", 22.49, 300, 121, 242},
        {"rtx4090", 23.99, 1008, 330, 660},   {"rtx5090", 31.4, 1792, 209.5, 419},
        {"mi300x", 191.98, 5300, 1307, 2614}, {"mi325x", 256, 6000, 1307, 2614},
    };
    mk_gpu_catalog c;
    mk_error err = {0};
    CHECKF(mk_gpu_catalog_default(&c, &err) == MK_OK, "%s", err.msg);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const mk_gpu *g = mk_gpu_find(&c, want[i].name);
        bool ok = g && g->mem_gib == want[i].mem_gib && g->bw_gbps == want[i].bw_gbps &&
                  g->bf16_tflops == want[i].bf16 && g->fp8_tflops == want[i].fp8;
        if (!ok) {
            mk_gpu_catalog_free(&c);
            CHECKF(ok, "'%s' differs from the sourced values", want[i].name);
        }
    }
    /* Memory as reported is below the nameplate: 80 GB is 74.5 GiB decimal,
     * 80 GiB binary, and CUDA reserves some of it. */
    const mk_gpu *h100 = mk_gpu_find(&c, "H100");
    bool case_insensitive = h100 && strcmp(h100->name, "h100") == 0;
    bool absent = mk_gpu_find(&c, "h1000") == NULL && mk_gpu_find(&c, "") == NULL &&
                  mk_gpu_find(&c, NULL) == NULL && mk_gpu_find(NULL, "h100") == NULL;
    mk_gpu_catalog_free(&c);
    CHECK(case_insensitive);
    CHECK(absent);
}

TEST(gpu_user_catalog_loads_with_defaults_for_optional_keys) {
    const char *path = mk_test_path("gpus.yaml");
    const char *text =
        "# my cluster\n"
        "gpus:\n"
        "  - name: lab-card_2.0\n"
        "    memory_gib: 47.5\n"
        "  - name: fast\n"
        "    label: \"Fast card: 96GB\"\n"
        "    memory_gib: 9.5e1\n"
        "    bandwidth_gbps: 4000\n"
        "    bf16_tflops: 500.5\n"
        "    fp8_tflops: 0\n";
    mk_test_write_file(path, text, strlen(text));
    mk_gpu_catalog c;
    mk_error err = {0};
    CHECKF(mk_gpu_catalog_load(path, &c, &err) == MK_OK, "%s", err.msg);
    const mk_gpu *a = mk_gpu_find(&c, "LAB-CARD_2.0"), *b = mk_gpu_find(&c, "fast");
    bool ok = c.n == 2 && a && b && a->mem_gib == 47.5 && a->label[0] == '\0' &&
              a->bw_gbps == 0 && a->bf16_tflops == 0 && a->fp8_tflops == 0 &&
              strcmp(b->label, "Fast card: 96GB") == 0 && b->mem_gib == 95 &&
              b->bw_gbps == 4000 && b->bf16_tflops == 500.5;
    mk_gpu_catalog_free(&c);
    CHECK(ok);
}

/* Each bad file fails with MK_ERR_INPUT, "PATH:LINE: ..." naming the key, and
 * leaves the catalog empty (ASan reports anything half-built that leaked). */
TEST(gpu_user_catalog_errors_name_file_line_and_key) {
    static const struct {
        const char *what, *text, *where, *mentions;
    } cases[] = {
        {"unknown key", "gpus:\n  - name: x\n    memory_gib: 10\n    colour: red\n", ":4:",
         "'colour'"},
        {"missing memory_gib", "gpus:\n  - name: x\n    memory_gib: 10\n  - name: y\n    label: Y\n",
         ":4:", "memory_gib"},
        {"missing name", "gpus:\n  - memory_gib: 10\n", ":2:", "'name'"},
        {"negative number", "gpus:\n  - name: x\n    memory_gib: 10\n    bandwidth_gbps: -5\n",
         ":4:", "bandwidth_gbps"},
        {"zero memory", "gpus:\n  - name: x\n    memory_gib: 0\n", ":3:", "memory_gib"},
        {"trailing unit", "gpus:\n  - name: x\n    memory_gib: 80GB\n", ":3:", "memory_gib"},
        {"not a number", "gpus:\n  - name: x\n    memory_gib: 80\n    fp8_tflops: [1]\n", ":4:",
         "fp8_tflops"},
        {"nan", "gpus:\n  - name: x\n    memory_gib: nan\n", ":3:", "memory_gib"},
        {"empty number", "gpus:\n  - name: x\n    memory_gib: 10\n    bf16_tflops: ''\n", ":4:",
         "bf16_tflops"},
        {"duplicate name",
         "gpus:\n  - name: h100\n    memory_gib: 79.1\n  - name: h100x\n    memory_gib: 1\n"
         "  - name: h100\n    memory_gib: 80\n",
         ":6:", "duplicate GPU name 'h100'"},
        {"duplicate key", "gpus:\n  - name: x\n    memory_gib: 1\n    memory_gib: 2\n", ":4:",
         "duplicate key 'memory_gib'"},
        {"bad name", "gpus:\n  - name: My GPU\n    memory_gib: 1\n", ":2:", "'name'"},
        {"long name",
         "gpus:\n  - name: abcdefghijabcdefghijabcdefghij123\n    memory_gib: 1\n", ":2:",
         "'name'"},
        {"long label", "gpus:\n  - name: x\n    memory_gib: 1\n    label: "
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
         ":4:", "'label'"},
        {"unknown top-level key", "gpus:\n  - name: x\n    memory_gib: 1\nmodels: []\n", ":4:",
         "'models'"},
        {"gpus not a list", "gpus:\n  name: x\n", ":2:", "'gpus'"},
        {"empty list", "gpus: []\n", ":1:", "'gpus'"},
        {"not a mapping", "just some text\n", ":1:", "mapping"},
        {"empty file", "", ":1:", "gpus"},
        {"not YAML", "gpus:\n  - name: x\n    memory_gib: [1, 2\n", ":4:", "invalid YAML"},
        {"not YAML (tab)", "gpus:\n\t- name: x\n", ":2:", "invalid YAML"},
    };
    const char *path = mk_test_path("bad.yaml");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mk_test_write_file(path, cases[i].text, strlen(cases[i].text));
        mk_gpu_catalog c;
        mk_error err = {0};
        int rc = mk_gpu_catalog_load(path, &c, &err);
        CHECKF(rc == MK_ERR_INPUT && err.code == MK_ERR_INPUT, "%s: rc %d (%s)", cases[i].what,
               rc, err.msg);
        CHECKF(c.gpus == NULL && c.n == 0, "%s: catalog not emptied", cases[i].what);
        char where[1200];
        snprintf(where, sizeof where, "%s%s", path, cases[i].where);
        CHECKF(strncmp(err.msg, where, strlen(where)) == 0, "%s: \"%s\" does not start with \"%s\"",
               cases[i].what, err.msg, where);
        CHECKF(strstr(err.msg, cases[i].mentions), "%s: \"%s\" does not mention \"%s\"",
               cases[i].what, err.msg, cases[i].mentions);
    }
    /* The in-memory parser names the path it is given. */
    mk_gpu_catalog c;
    mk_error err = {0};
    const char *text = "gpus:\n  - name: x\n    speed: 1\n";
    CHECK(mk_gpu_catalog_parse(text, strlen(text), "mine.yaml", &c, &err) == MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "mine.yaml:3: unknown key 'speed'");
}

TEST(gpu_catalog_load_reports_a_missing_file) {
    mk_gpu_catalog c;
    mk_error err = {0};
    const char *path = mk_test_path("absent.yaml");
    CHECK(mk_gpu_catalog_load(path, &c, &err) != MK_OK);
    CHECK(c.gpus == NULL && c.n == 0);
    CHECK_STR_CONTAINS(err.msg, path);
}

/* ---- models ---- */

typedef struct counts {
    int64_t num_layers;
    int64_t main_params, mtp_params;
} counts;

static int count_tensor(const mk_expected_tensor *t, void *ctx) {
    counts *c = ctx;
    int64_t elems = t->shape[0] * (t->ndim > 1 ? t->shape[1] : 1);
    /* MTP layers are numbered from num_hidden_layers on. */
    if (t->role.layer >= 0 && t->role.layer >= c->num_layers) c->mtp_params += elems;
    else c->main_params += elems;
    return 0;
}

static bool within(double got, double want, double rel) { return fabs(got - want) <= rel * want; }

TEST(model_catalog_configs_parse_and_match_published_parameter_counts) {
    /* Totals as published on each model card (HF "Model size" / the card's
     * own figure); DeepSeek-V3: "671B main model weights and 14B MTP module
     * weights", 685B on the Hub. */
    static const struct {
        const char *name;
        double total, mtp;
    } want[] = {
        {"deepseek-v3", 671e9, 14e9},  {"deepseek-v2-lite", 15.7e9, 0},
        {"mixtral-8x7b", 46.7e9, 0},   {"mixtral-8x22b", 140.6e9, 0},
        {"qwen3-30b-a3b", 30.5e9, 0},  {"qwen3-235b-a22b", 235e9, 0},
        {"llama-3.1-8b", 8.03e9, 0},   {"llama-3.3-70b", 70.6e9, 0},
        {"qwen3-32b", 32.8e9, 0},      {"qwen3-0.6b", 0.6e9, 0},
    };
    size_t n = 0;
    const mk_model_entry *models = mk_model_catalog(&n);
    CHECK(models && n >= sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        mk_model_config cfg;
        mk_error err = {0};
        int rc = mk_config_parse(models[i].config_json, strlen(models[i].config_json),
                                 models[i].name, &cfg, &err);
        CHECKF(rc == MK_OK, "%s: %s", models[i].name, err.msg);
        CHECKF(cfg.torch_dtype == MK_DT_BF16 && cfg.max_position_embeddings > 0 &&
                   cfg.rms_norm_eps > 0,
               "%s: dtype, max_position_embeddings or rms_norm_eps not as published",
               models[i].name);
        mk_config_free(&cfg);
        CHECKF(strchr(models[i].hf_id, '/'), "%s: hf_id '%s'", models[i].name, models[i].hf_id);
    }
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const mk_model_entry *e = mk_model_catalog_find(want[i].name);
        CHECKF(e, "'%s' is missing from the model catalog", want[i].name);
        mk_model_config cfg;
        mk_error err = {0};
        CHECKF(mk_config_parse(e->config_json, strlen(e->config_json), e->name, &cfg, &err) ==
                   MK_OK,
               "%s: %s", e->name, err.msg);
        counts c = {.num_layers = cfg.num_layers};
        mk_model_expected(&cfg, count_tensor, &c);
        mk_config_free(&cfg);
        CHECKF(within((double)c.main_params, want[i].total, 0.01),
               "%s: %lld parameters, published %.4g", e->name, (long long)c.main_params,
               want[i].total);
        if (want[i].mtp > 0) {
            /* The published 14B is rounded; the total 685B pins it down. */
            CHECKF(within((double)(c.main_params + c.mtp_params), want[i].total + want[i].mtp,
                          0.01),
                   "%s: %lld + %lld MTP parameters, published %.4g", e->name,
                   (long long)c.main_params, (long long)c.mtp_params,
                   want[i].total + want[i].mtp);
            CHECKF(within((double)c.mtp_params, want[i].mtp, 0.05), "%s: %lld MTP parameters",
                   e->name, (long long)c.mtp_params);
        } else {
            CHECKF(c.mtp_params == 0, "%s: unexpected MTP parameters", e->name);
        }
    }
}

/* Spot checks of values the planner reads, against the published configs. */
TEST(model_catalog_entries_carry_the_published_values) {
    mk_model_config cfg;
    mk_error err = {0};
    const mk_model_entry *e = mk_model_catalog_find("deepseek-v3");
    CHECK(e && strcmp(e->hf_id, "deepseek-ai/DeepSeek-V3") == 0);
    CHECK_STR_CONTAINS(e->config_json, "\"quant_method\":\"fp8\"");
    CHECK_STR_CONTAINS(e->config_json, "\"weight_block_size\":[128,128]");
    CHECK(mk_config_parse(e->config_json, strlen(e->config_json), e->name, &cfg, &err) == MK_OK);
    bool v3 = cfg.arch == MK_ARCH_DEEPSEEK_V3 && cfg.attn == MK_ATTN_MLA &&
              cfg.vocab_size == 129280 && cfg.max_position_embeddings == 163840 &&
              cfg.num_nextn_predict_layers == 1 && cfg.kv_lora_rank == 512 &&
              cfg.qk_rope_head_dim == 64 && cfg.q_lora_rank == 1536 &&
              cfg.topk_method == MK_TOPK_NOAUX_TC && mk_config_n_moe_layers(&cfg) == 58;
    mk_config_free(&cfg);
    CHECK(v3);

    e = mk_model_catalog_find("DeepSeek-AI/deepseek-v2-lite"); /* by hf_id, any case */
    CHECK(e && strcmp(e->name, "deepseek-v2-lite") == 0);
    CHECK(mk_config_parse(e->config_json, strlen(e->config_json), e->name, &cfg, &err) == MK_OK);
    bool lite = cfg.arch == MK_ARCH_DEEPSEEK_V2 && cfg.q_lora_rank == 0 &&
                cfg.n_routed_experts == 64 && cfg.top_k == 6 && cfg.n_shared_experts == 2 &&
                cfg.topk_method == MK_TOPK_GREEDY && !cfg.norm_topk_prob &&
                mk_config_n_moe_layers(&cfg) == 26;
    mk_config_free(&cfg);
    CHECK(lite);

    e = mk_model_catalog_find("MIXTRAL-8X22B");
    CHECK(e && strcmp(e->hf_id, "mistralai/Mixtral-8x22B-Instruct-v0.1") == 0);
    CHECK(mk_config_parse(e->config_json, strlen(e->config_json), e->name, &cfg, &err) == MK_OK);
    bool m22 = cfg.vocab_size == 32768 && cfg.max_position_embeddings == 65536 &&
               cfg.num_kv_heads == 8 && cfg.head_dim == 128 && cfg.rms_norm_eps == 1e-5;
    mk_config_free(&cfg);
    CHECK(m22);

    e = mk_model_catalog_find("qwen3-0.6b");
    CHECK(e);
    CHECK(mk_config_parse(e->config_json, strlen(e->config_json), e->name, &cfg, &err) == MK_OK);
    bool q06 = cfg.arch == MK_ARCH_QWEN3 && cfg.tie_word_embeddings && cfg.head_dim == 128 &&
               cfg.num_kv_heads == 8 && cfg.max_position_embeddings == 40960;
    mk_config_free(&cfg);
    CHECK(q06);

    e = mk_model_catalog_find("meta-llama/Llama-3.1-8B-Instruct");
    CHECK(e);
    CHECK_STR_CONTAINS(e->config_json, "\"rope_type\":\"llama3\"");
    CHECK(mk_config_parse(e->config_json, strlen(e->config_json), e->name, &cfg, &err) == MK_OK);
    bool l8 = cfg.arch == MK_ARCH_LLAMA && cfg.max_position_embeddings == 131072 &&
              !cfg.tie_word_embeddings && cfg.vocab_size == 128256;
    mk_config_free(&cfg);
    CHECK(l8);

    CHECK(mk_model_catalog_find("gpt-5") == NULL);
    CHECK(mk_model_catalog_find("") == NULL);
    CHECK(mk_model_catalog_find(NULL) == NULL);
}

TEST(model_catalog_names_are_unique) {
    size_t n = 0;
    const mk_model_entry *m = mk_model_catalog(&n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            CHECKF(i == j || mk_model_catalog_find(m[i].name) != &m[j],
                   "'%s' is found as '%s'", m[i].name, m[j].name);
    for (size_t i = 0; i < n; i++)
        CHECKF(mk_model_catalog_find(m[i].name) == &m[i] &&
                   mk_model_catalog_find(m[i].hf_id) == &m[i],
               "'%s' does not find itself", m[i].name);
}
