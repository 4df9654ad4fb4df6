/*
 * `inspect`: a checkpoint's contents and its disagreements with config.json
 * (see inspect.h).  Reads headers only, so it runs in the time it takes to
 * parse the index and one small header per shard.
 */
#include "moekit/inspect.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "moekit/checkpoint.h"
#include "moekit/safetensors.h"

const char *mk_finding_kind_name(mk_finding_kind k) {
    static const char *const names[] = {"missing", "extra", "shape", "index", "config"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

static int add_finding(mk_inspect_report *r, mk_finding_kind kind, const char *tensor,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int add_finding(mk_inspect_report *r, mk_finding_kind kind, const char *tensor,
                       const char *fmt, ...) {
    if ((r->n_findings & (r->n_findings + 1)) == 0) { /* grow at 0,1,3,7,... */
        mk_finding *g = realloc(r->findings, (r->n_findings * 2 + 2) * sizeof *g);
        if (!g) return -1;
        r->findings = g;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mk_finding *f = &r->findings[r->n_findings];
    f->kind = kind;
    f->tensor = tensor ? strdup(tensor) : NULL;
    f->detail = strdup(buf);
    if (!f->detail || (tensor && !f->tensor)) {
        free(f->tensor);
        free(f->detail);
        return -1;
    }
    r->n_findings++;
    return 0;
}

/* Suffixes that quantized checkpoints add beside a module's `weight`. */
static const char *const k_companions[] = {
    "weight_scale_inv", "weight_scale", "input_scale", "weight_packed",
    "weight_shape",     "weight_zero_point", "input_zero_point", "weight_global_scale",
};

static bool is_companion(const char *suffix) {
    for (size_t i = 0; i < sizeof k_companions / sizeof *k_companions; i++)
        if (strcmp(suffix, k_companions[i]) == 0) return true;
    return false;
}

static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

typedef struct cmp_ctx {
    mk_inspect_report *r;
    mk_ckpt *ck;
    json_t *expected; /* names */
    int rc;
} cmp_ctx;

static int compare_one(const mk_expected_tensor *e, void *vctx) {
    cmp_ctx *c = vctx;
    json_object_set_new(c->expected, e->name, json_true());
    const mk_tensor_info *t = NULL;
    mk_error ignore = {0};
    if (mk_ckpt_find(c->ck, e->name, NULL, &t, &ignore) != MK_OK) {
        /* INT8 pack-quantized modules store weight_packed instead of weight. */
        size_t len = strlen(e->name);
        if (len > 7 && strcmp(e->name + len - 7, ".weight") == 0) {
            char packed[192];
            snprintf(packed, sizeof packed, "%s_packed", e->name);
            mk_error ig2 = {0};
            if (mk_ckpt_find(c->ck, packed, NULL, NULL, &ig2) == MK_OK) return 0;
        }
        char s[96];
        fmt_shape(s, sizeof s, e->ndim, e->shape);
        if (add_finding(c->r, MK_FIND_MISSING, e->name, "expected %s %s, not in the checkpoint", s,
                        mk_dtype_name(e->dtype)))
            return c->rc = -1;
        return 0;
    }
    bool same = t->ndim == e->ndim;
    for (int d = 0; same && d < e->ndim; d++) same = t->shape[d] == e->shape[d];
    if (!same) {
        char a[96], b[96];
        fmt_shape(a, sizeof a, e->ndim, e->shape);
        fmt_shape(b, sizeof b, t->ndim, t->shape);
        if (add_finding(c->r, MK_FIND_SHAPE, e->name, "config implies %s, checkpoint has %s", a, b))
            return c->rc = -1;
    }
    return 0;
}

static int find_extras(mk_inspect_report *r, mk_ckpt *ck, json_t *expected) {
    for (size_t i = 0; i < mk_ckpt_n_tensors(ck); i++) {
        const char *name = mk_ckpt_tensor_name(ck, i);
        if (json_object_get(expected, name)) continue;
        const char *dot = strrchr(name, '.');
        if (dot && is_companion(dot + 1)) {
            char base[512];
            int n = snprintf(base, sizeof base, "%.*s.weight", (int)(dot - name), name);
            if (n > 0 && (size_t)n < sizeof base && json_object_get(expected, base)) continue;
        }
        if (add_finding(r, MK_FIND_EXTRA, name, "not part of a %s with this config",
                        r->cfg.architecture))
            return -1;
    }
    return 0;
}

int mk_inspect(const char *path, mk_inspect_report *r, mk_error *err) {
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    mk_ckpt *ck = NULL;
    int rc = mk_ckpt_open(path, &ck, err);
    if (!rc) rc = mk_ckpt_load_all(ck, err);
    if (rc) goto done;

    char cpath[PATH_MAX];
    struct stat st;
    snprintf(cpath, sizeof cpath, "%s/config.json", mk_ckpt_dir(ck));
    if (stat(cpath, &st) == 0) {
        rc = mk_config_load(cpath, &r->cfg, err);
        if (rc) goto done;
        r->has_config = true;
    } else if (add_finding(r, MK_FIND_CONFIG, NULL,
                           "no config.json beside the weights: architecture unknown")) {
        goto oom;
    }
    const mk_model_config *cfg = r->has_config ? &r->cfg : NULL;

    /* First pass: sizes; second: per-layer routed parameters and experts. */
    int max_layer = -1, max_expert = -1;
    r->n_files = mk_ckpt_n_files(ck);
    for (size_t fi = 0; fi < r->n_files; fi++) {
        mk_st_file *f;
        rc = mk_ckpt_file(ck, fi, &f, err);
        if (rc) goto done;
        r->file_bytes += mk_st_file_bytes(f);
        for (size_t k = 0; k < mk_st_count(f); k++) {
            const mk_tensor_info *t = mk_st_tensor(f, k);
            mk_tensor_role role;
            mk_classify(cfg, t->name, &role);
            r->n_tensors++;
            r->tensor_bytes += t->end - t->begin;
            r->by_dtype[t->dtype].tensors++;
            r->by_dtype[t->dtype].elems += t->n_elems;
            r->by_dtype[t->dtype].bytes += t->end - t->begin;
            r->elems_by_kind[role.kind] += t->n_elems;
            r->params_total += t->n_elems;
            if (role.kind == MK_T_EMBEDDING) r->params_embedding += t->n_elems;
            if (role.kind == MK_T_MTP) r->params_mtp += t->n_elems;
            if (role.kind == MK_T_ROUTED_EXPERT) {
                r->params_routed += t->n_elems;
                if (role.layer > max_layer) max_layer = role.layer;
                if (role.expert > max_expert) max_expert = role.expert;
            }
        }
    }
    r->n_layers = cfg ? (int)cfg->num_layers : max_layer + 1;
    if (max_layer + 1 > r->n_layers) max_layer = r->n_layers - 1;
    uint64_t *routed_by_layer = calloc((size_t)r->n_layers + 1, sizeof *routed_by_layer);
    unsigned char *seen = calloc(((size_t)r->n_layers + 1) * ((size_t)max_expert + 1), 1);
    r->experts_found = calloc((size_t)r->n_layers + 1, sizeof *r->experts_found);
    if (!routed_by_layer || !seen || !r->experts_found) {
        free(routed_by_layer);
        free(seen);
        goto oom;
    }
    for (size_t fi = 0; fi < r->n_files; fi++) {
        mk_st_file *f;
        mk_ckpt_file(ck, fi, &f, err);
        for (size_t k = 0; k < mk_st_count(f); k++) {
            const mk_tensor_info *t = mk_st_tensor(f, k);
            mk_tensor_role role;
            mk_classify(cfg, t->name, &role);
            if (role.kind != MK_T_ROUTED_EXPERT || role.layer < 0 || role.layer >= r->n_layers)
                continue;
            routed_by_layer[role.layer] += t->n_elems;
            unsigned char *s = &seen[(size_t)role.layer * ((size_t)max_expert + 1) + (size_t)role.expert];
            if (!*s) r->experts_found[role.layer]++;
            *s = 1;
        }
    }
    /* Active per token: a token passes through top_k of the n experts of
     * each MoE layer; experts of one layer have equal size, so the selected
     * share is routed * top_k / n. */
    uint64_t unselected = 0;
    for (int L = 0; L < r->n_layers; L++) {
        uint64_t n = cfg && cfg->n_routed_experts ? (uint64_t)cfg->n_routed_experts
                                                 : (uint64_t)r->experts_found[L];
        uint64_t k = cfg ? (uint64_t)cfg->top_k : n;
        if (n && k <= n) unselected += routed_by_layer[L] - routed_by_layer[L] / n * k;
    }
    r->params_active = r->params_total - r->params_mtp - unselected;
    free(routed_by_layer);
    free(seen);

    if (cfg) {
        cmp_ctx c = {.r = r, .ck = ck, .expected = json_object()};
        mk_model_expected(cfg, compare_one, &c);
        int frc = c.rc ? c.rc : find_extras(r, ck, c.expected);
        json_decref(c.expected);
        if (frc) goto oom;
    }
    int64_t ts = mk_ckpt_index_total_size(ck);
    if (ts >= 0 && (uint64_t)ts != r->tensor_bytes &&
        add_finding(r, MK_FIND_INDEX, NULL,
                    "index metadata.total_size is %lld but the tensors hold %llu bytes",
                    (long long)ts, (unsigned long long)r->tensor_bytes))
        goto oom;
    for (size_t i = 0; i < mk_ckpt_n_unlisted(ck); i++)
        if (add_finding(r, MK_FIND_INDEX, mk_ckpt_unlisted(ck, i),
                        "in a shard but not listed for it in the index"))
            goto oom;
    goto done;
oom:
    rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
done:
    mk_ckpt_close(ck);
    if (rc) mk_inspect_free(r);
    return rc;
}

void mk_inspect_free(mk_inspect_report *r) {
    for (size_t i = 0; i < r->n_findings; i++) {
        free(r->findings[i].tensor);
        free(r->findings[i].detail);
    }
    free(r->findings);
    free(r->experts_found);
    if (r->has_config) mk_config_free(&r->cfg);
    free(r->path);
    memset(r, 0, sizeof *r);
}
