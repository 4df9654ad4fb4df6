/*
 * The GPU catalog (see moekit/catalog.h): an embedded YAML document, and the
 * parser that reads it and users' files of the same form with libyaml's
 * document API, so every error names the line at fault.
 *
 * Memory is the total a framework sees (torch.cuda.get_device_properties /
 * the "total capacity" of an OOM message, or nvidia-smi's MiB where no torch
 * figure was found), in GiB, because that is what vLLM multiplies by
 * gpu_memory_utilization.  Nameplate "80 GB" is neither 80 GiB nor usable.
 * Throughputs are dense (no 2:4 sparsity).  Sources are in the YAML comments
 * and in /work/shared/reference/planner.md section 6.
 */
#include "moekit/catalog.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "formats/yaml_doc.h"

#include "formats/fileio.h"

static const char k_default_yaml[] =
    "# moekit GPU catalog.  memory_gib: total memory as CUDA/ROCm reports it (GiB);\n"
    "# bandwidth_gbps: memory bandwidth (GB/s); *_tflops: dense tensor-core TFLOPS\n"
    "# (0 = no FP8 tensor cores).\n"
    "gpus:\n"
    "  # torch OOM messages on A100 40GB: \"39.39 GiB total capacity\" (nvidia-smi 40,960 MiB);\n"
    "  # 1,555 GB/s, 312 BF16: cli99/llm-analysis gpu_configs/a100-sxm-40gb.json.\n"
    "  - name: a100-40g\n"
    "    label: NVIDIA A100 SXM 40GB\n"
    "    memory_gib: 39.39\n"
    "    bandwidth_gbps: 1555\n"
    "    bf16_tflops: 312\n"
    "    fp8_tflops: 0\n"
    "  # torch OOM messages on A100 80GB (81,920 MiB cards): \"79.15 GiB total capacity\";\n"
    "  # 2,039 GB/s, 312 BF16: llm-analysis a100-sxm-80gb.json.\n"
    "  - name: a100-80g\n"
    "    label: NVIDIA A100 SXM 80GB\n"
    "    memory_gib: 79.15\n"
    "    bandwidth_gbps: 2039\n"
    "    bf16_tflops: 312\n"
    "    fp8_tflops: 0\n"
    "  # torch 79.10 GiB (vLLM PR #10927; llm-d measured 79.18); 3,350 GB/s, 989 / 1,979:\n"
    "  # pytorch/ao torchao/testing/training/roofline_utils.py, llm-analysis h100-sxm-80gb.json.\n"
    "  - name: h100\n"
    "    label: NVIDIA H100 SXM 80GB\n"
    "    memory_gib: 79.1\n"
    "    bandwidth_gbps: 3350\n"
    "    bf16_tflops: 989\n"
    "    fp8_tflops: 1979\n"
    "  # nvidia-smi 81,559 MiB = 79.65 GiB (no torch figure found; torch likely ~0.5 GiB less);\n"
    "  # 2,000 GB/s, 756 / 1,513: VladislavDuma/gpu_specs, llm-analysis h100-pcie-80gb.json.\n"
    "  - name: h100-pcie\n"
    "    label: NVIDIA H100 PCIe 80GB\n"
    "    memory_gib: 79.65\n"
    "    bandwidth_gbps: 2000\n"
    "    bf16_tflops: 756\n"
    "    fp8_tflops: 1513\n"
    "  # nvidia-smi 143,771 MiB = 140.4 GiB (sglang#3196, vllm-project/recipes#381);\n"
    "  # 4.8 TB/s, 989.4 / 1,978.9: citsjtu2020/LLM-Prof hardware_spec.md, mlcommons H200 json.\n"
    "  - name: h200\n"
    "    label: NVIDIA H200 SXM 141GB\n"
    "    memory_gib: 140.4\n"
    "    bandwidth_gbps: 4800\n"
    "    bf16_tflops: 989.4\n"
    "    fp8_tflops: 1978.9\n"
    "  # UNCERTAIN memory: nvidia-smi shows 97,871 MiB = 95.58 GiB; torch's figure was not found,\n"
    "  # 95.0 assumes the same ~0.5 GiB gap as H100.  4,022 GB/s, 148 BF16: LLM-Prof\n"
    "  # hardware_spec.md, huggingface.co/hardware/h20.  FP8 296 is listed there as INT8\n"
    "  # (UNCERTAIN; Hopper FP8 = 2x BF16).\n"
    "  - name: h20\n"
    "    label: NVIDIA H20 96GB\n"
    "    memory_gib: 95.0\n"
    "    bandwidth_gbps: 4022\n"
    "    bf16_tflops: 148\n"
    "    fp8_tflops: 296\n"
    "  # torch 178.35 GiB (pytorch/ao PR #4002; unsloth#3411); 8.0 TB/s spec; 2,250 / 4,500:\n"
    "  # ao roofline_utils.py.\n"
    "  - name: b200\n"
    "    label: NVIDIA B200 180GB\n"
    "    memory_gib: 178.35\n"
    "    bandwidth_gbps: 8000\n"
    "    bf16_tflops: 2250\n"
    "    fp8_tflops: 4500\n"
    "  # nvidia-smi 46,068 MiB = 44.99 GiB; 864 GB/s, 362 / 733: winston-zhang-orz/gpu-specs\n"
    "  # specs.md, VladislavDuma/gpu_specs.\n"
    "  - name: l40s\n"
    "    label: NVIDIA L40S 48GB\n"
    "    memory_gib: 44.99\n"
    "    bandwidth_gbps: 864\n"
    "    bf16_tflops: 362\n"
    "    fp8_tflops: 733\n"
    "  # nvidia-smi 23,034 MiB = 22.49 GiB; 300 GB/s, 121 / 242: same sources as L40S.\n"
    "  - name: l4\n"
    "    label: NVIDIA L4 24GB\n"
    "    memory_gib: 22.49\n"
    "    bandwidth_gbps: 300\n"
    "    bf16_tflops: 121\n"
    "    fp8_tflops: 242\n"
    "  # nvidia-smi 23,028 MiB (A10) = 22.49 GiB; 600 GB/s: VladislavDuma/gpu_specs.\n"
    "  # BF16 70 is llm-analysis a10g-pcie-24gb.json (UNCERTAIN: the A10 is listed at 125).\n"
    "  - name: a10g\n"
    "    label: NVIDIA A10G 24GB\n"
    "    memory_gib: 22.49\n"
    "    bandwidth_gbps: 600\n"
    "    bf16_tflops: 70\n"
    "    fp8_tflops: 0\n"
    "  # nvidia-smi 24,564 MiB = 23.99 GiB; 1,008 GB/s, 330 / 660: VladislavDuma/gpu_specs\n"
    "  # (UNCERTAIN: GeForce FP32-accumulate tensor rate may be half).\n"
    "  - name: rtx4090\n"
    "    label: NVIDIA GeForce RTX 4090 24GB\n"
    "    memory_gib: 23.99\n"
    "    bandwidth_gbps: 1008\n"
    "    bf16_tflops: 330\n"
    "    fp8_tflops: 660\n"
    "  # \"31.4 GiB usable\" (vllm-project/recipes); 1,792 GB/s, 209.5 / 419: ao roofline_utils.py.\n"
    "  - name: rtx5090\n"
    "    label: NVIDIA GeForce RTX 5090 32GB\n"
    "    memory_gib: 31.4\n"
    "    bandwidth_gbps: 1792\n"
    "    bf16_tflops: 209.5\n"
    "    fp8_tflops: 419\n"
    "  # ROCm/torch report 192 GiB of HBM3 as \"total capacity of 191.98 GiB\" (HIP OOM\n"
    "  # messages, vLLM start-up \"x/191.98 GiB\"); 5.3 TB/s, 1,307 / 2,614: ao roofline_utils.py.\n"
    "  - name: mi300x\n"
    "    label: AMD Instinct MI300X 192GB\n"
    "    memory_gib: 191.98\n"
    "    bandwidth_gbps: 5300\n"
    "    bf16_tflops: 1307\n"
    "    fp8_tflops: 2614\n"
    "  # ROCm \"VRAM (GiB)\" 256, 6.0 TB/s: docs.vultr.com inference-cookbook (AMD product page).\n"
    "  # 1,307 / 2,614 assume MI300X's CDNA3 compute (UNCERTAIN: not read for MI325X).\n"
    "  - name: mi325x\n"
    "    label: AMD Instinct MI325X 256GB\n"
    "    memory_gib: 256\n"
    "    bandwidth_gbps: 6000\n"
    "    bf16_tflops: 1307\n"
    "    fp8_tflops: 2614\n";


static int ascii_lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch; }

/* strcasecmp without depending on POSIX feature macros; ASCII only. */
static bool same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b)) return false;
    return *a == *b;
}

/* A number written as a YAML scalar: strtod must consume all of it, and the
 * result must be finite ("nan", ".inf" and "12GB" are all refused). */
static int parse_number(ctx *c, const char *key, const yaml_node_t *v, bool positive,
                        double *out) {
    const char *s = scalar(v);
    char *end = NULL;
    double x = 0;
    if (s && *s && *s != ' ' && *s != '\t') x = strtod(s, &end);
    const char *wanted = positive ? "a positive number" : "a non-negative number";
    if (!s || !*s || !end || *end != '\0' || !isfinite(x))
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: '%s' must be %s, got '%.40s'", c->path,
                       line_of(v), key, wanted, s ? s : "(not a scalar)");
    if (positive ? !(x > 0) : !(x >= 0))
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: '%s' must be %s, got %s", c->path,
                       line_of(v), key, wanted, s);
    *out = x;
    return MK_OK;
}

static int parse_name(ctx *c, const yaml_node_t *v, char *out, size_t size) {
    const char *s = scalar(v);
    size_t len = s ? strlen(s) : 0;
    bool ok = s && len > 0 && len < size;
    for (size_t i = 0; ok && i < len; i++) {
        char ch = s[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
             ch == '-';
    }
    if (!ok)
        return mk_fail(c->err, MK_ERR_INPUT,
                       "%s:%d: 'name' must be 1 to %zu characters of [a-z0-9._-], got '%.40s'",
                       c->path, line_of(v), size - 1, s ? s : "(not a scalar)");
    memcpy(out, s, len + 1);
    return MK_OK;
}

enum { K_NAME, K_LABEL, K_MEM, K_BW, K_BF16, K_FP8, K_COUNT };
static const char *const k_keys[K_COUNT] = {"name",           "label",       "memory_gib",
                                            "bandwidth_gbps", "bf16_tflops", "fp8_tflops"};

static int parse_gpu(ctx *c, const yaml_node_t *m, mk_gpu *g) {
    if (m->type != YAML_MAPPING_NODE)
        return mk_fail(c->err, MK_ERR_INPUT,
                       "%s:%d: each entry of 'gpus' is a mapping with name, memory_gib, ...",
                       c->path, line_of(m));
    const yaml_node_t *val[K_COUNT] = {NULL};
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *key = scalar(k);
        int slot = -1;
        for (int i = 0; key && i < K_COUNT; i++)
            if (strcmp(key, k_keys[i]) == 0) slot = i;
        if (slot < 0)
            return mk_fail(c->err, MK_ERR_INPUT,
                           "%s:%d: unknown key '%.40s' in a GPU entry (expected name, label, "
                           "memory_gib, bandwidth_gbps, bf16_tflops, fp8_tflops)",
                           c->path, line_of(k), key ? key : "?");
        if (val[slot])
            return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: duplicate key '%s'", c->path, line_of(k),
                           key);
        val[slot] = yaml_document_get_node(c->doc, p->value);
    }
    if (!val[K_NAME])
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: a GPU entry needs 'name'", c->path,
                       line_of(m));
    int rc = parse_name(c, val[K_NAME], g->name, sizeof g->name);
    if (rc) return rc;
    if (!val[K_MEM])
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: GPU '%s' needs 'memory_gib'", c->path,
                       line_of(m), g->name);
    if (val[K_LABEL]) {
        const char *s = scalar(val[K_LABEL]);
        if (!s || strlen(s) >= sizeof g->label)
            return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: 'label' must be a string of at most %zu "
                           "characters", c->path, line_of(val[K_LABEL]), sizeof g->label - 1);
        memcpy(g->label, s, strlen(s) + 1);
    }
    double *dst[K_COUNT] = {[K_MEM] = &g->mem_gib, [K_BW] = &g->bw_gbps,
                            [K_BF16] = &g->bf16_tflops, [K_FP8] = &g->fp8_tflops};
    for (int i = K_MEM; i < K_COUNT; i++)
        if (val[i] && (rc = parse_number(c, k_keys[i], val[i], i == K_MEM, dst[i]))) return rc;
    return MK_OK;
}

static int parse_gpus(ctx *c, const yaml_node_t *seq, mk_gpu_catalog *cat) {
    if (seq->type != YAML_SEQUENCE_NODE)
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: 'gpus' must be a list of GPU entries",
                       c->path, line_of(seq));
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n == 0)
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: 'gpus' is empty", c->path, line_of(seq));
    cat->gpus = calloc(n, sizeof *cat->gpus);
    if (!cat->gpus) return mk_fail(c->err, MK_ERR_INTERNAL, "out of memory");
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *m = yaml_document_get_node(c->doc, *it);
        mk_gpu *g = &cat->gpus[cat->n];
        int rc = parse_gpu(c, m, g);
        if (rc) return rc;
        for (size_t j = 0; j < cat->n; j++)
            if (same_name(cat->gpus[j].name, g->name))
                return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: duplicate GPU name '%s'", c->path,
                               line_of(m), g->name);
        cat->n++;
    }
    return MK_OK;
}

int mk_gpu_catalog_parse(const char *yaml, size_t len, const char *path, mk_gpu_catalog *cat,
                         mk_error *err) {
    memset(cat, 0, sizeof *cat);
    if (!path) path = "gpus.yaml";
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return mk_fail(err, MK_ERR_INTERNAL, "yaml: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = mk_fail(err, MK_ERR_INPUT, "%s:%zu: invalid YAML: %s", path,
                         parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_parser_delete(&parser);
    ctx c = {.doc = &doc, .path = path, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = MK_OK;
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = mk_fail(err, MK_ERR_INPUT, "%s:%d: a GPU catalog is a mapping with the key 'gpus'",
                     path, root ? line_of(root) : 1);
        goto done;
    }
    const yaml_node_t *gpus = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        const char *key = scalar(k);
        if (!key || strcmp(key, "gpus") != 0) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s:%d: unknown key '%.40s' (expected gpus)", path,
                         line_of(k), key ? key : "?");
            goto done;
        }
        if (gpus) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s:%d: duplicate key 'gpus'", path, line_of(k));
            goto done;
        }
        gpus = yaml_document_get_node(&doc, p->value);
    }
    if (!gpus) {
        rc = mk_fail(err, MK_ERR_INPUT, "%s:%d: missing key 'gpus'", path, line_of(root));
        goto done;
    }
    rc = parse_gpus(&c, gpus, cat);
done:
    yaml_document_delete(&doc);
    if (rc) mk_gpu_catalog_free(cat); /* nothing half-built reaches the caller */
    return rc;
}

int mk_gpu_catalog_default(mk_gpu_catalog *cat, mk_error *err) {
    return mk_gpu_catalog_parse(k_default_yaml, sizeof k_default_yaml - 1, "<builtin gpus.yaml>",
                                cat, err);
}

int mk_gpu_catalog_load(const char *path, mk_gpu_catalog *cat, mk_error *err) {
    char *text;
    size_t len;
    memset(cat, 0, sizeof *cat);
    int rc = mk_read_file(path, 16u << 20, &text, &len, err);
    if (rc) return rc;
    rc = mk_gpu_catalog_parse(text, len, path, cat, err);
    free(text);
    return rc;
}

const mk_gpu *mk_gpu_find(const mk_gpu_catalog *cat, const char *name) {
    if (!cat || !name) return NULL;
    for (size_t i = 0; i < cat->n; i++)
        if (same_name(cat->gpus[i].name, name)) return &cat->gpus[i];
    return NULL;
}

void mk_gpu_catalog_free(mk_gpu_catalog *cat) {
    if (!cat) return;
    free(cat->gpus);
    memset(cat, 0, sizeof *cat);
}
