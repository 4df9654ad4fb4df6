/*
 * `convert` driver: plan, execute file by file, then publish the index,
 * config.json, side files and the manifest (see moekit/convert.h).
 *
 * Publication order is what makes an interrupted run safe: shards appear one
 * by one under their final names, but a loader looks for the index first,
 * and it is written only after every shard is complete; the manifest, which
 * `verify` trusts, comes last.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "formats/fileio.h"
#include "lib/convert_impl.h"

#define MANIFEST_NAME "moekit.json"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A folder that already holds a checkpoint is only reused with --force, and
 * then our own earlier outputs are removed first so that no stale shard can
 * sit beside a new index. */
static int prepare_out(const char *src_dir, const char *out, bool force, mk_error *err) {
    int rc = mk_mkdir(out, err);
    if (rc) return rc;
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(src_dir, a) && realpath(out, b) && strcmp(a, b) == 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: output folder is the source folder", out);
    DIR *d = opendir(out);
    if (!d) return mk_fail(err, MK_ERR_INPUT, "%s: cannot list: %s", out, strerror(errno));
    struct dirent *e;
    bool holds = false;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        bool ours = ends_with(n, ".safetensors") || strcmp(n, MK_INDEX_NAME) == 0 ||
                    strcmp(n, MANIFEST_NAME) == 0 || strcmp(n, "config.json") == 0;
        if (!ours) continue;
        holds = true;
        if (force && strcmp(n, "config.json") != 0) {
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", out, n);
            unlink(p);
        }
    }
    closedir(d);
    if (holds && !force)
        return mk_fail(err, MK_ERR_INPUT, "%s: already holds a checkpoint (use --force to replace it)",
                       out);
    return MK_OK;
}

static void warn(const mk_convert_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const mk_convert_opts *o, const char *fmt, ...) {
    if (!o->on_warning) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->on_warning(msg, o->ctx);
}

/* vLLM refuses block-FP8 layers whose per-rank share of a dimension is not a
 * multiple of the block (fp8.py: "I_per_partition % block_n"); say which
 * tensor-parallel degrees this model rules out. */
static void warn_tp(const mk_plan *p) {
    if (p->opts.scheme != MK_SCHEME_FP8_BLOCK) return;
    struct { const char *key; int64_t width; bool used; } dims[] = {
        {"moe_intermediate_size", p->cfg.moe_intermediate_size, p->cfg.n_routed_experts > 0},
        {"intermediate_size", p->cfg.intermediate_size,
         p->cfg.n_routed_experts == 0 || mk_config_n_moe_layers(&p->cfg) < p->cfg.num_layers},
    };
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        if (!dims[i].used || dims[i].width <= 0) continue;
        char list[64] = "";
        size_t used = 0;
        for (int tp = 2; tp <= 16; tp *= 2)
            if (dims[i].width % tp || (dims[i].width / tp) % MK_BLOCK)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", used ? ", " : "", tp);
        if (used)
            warn(&p->opts,
                 "fp8-block: %s %lld cannot be split into 128-multiples at tensor-parallel degree "
                 "%s (vLLM requires each rank's share %% 128 == 0); serve those with expert "
                 "parallelism or a smaller TP",
                 dims[i].key, (long long)dims[i].width, list);
    }
}

static int write_index(const mk_plan *p, const char *out, mk_error *err) {
    json_t *wm = json_object();
    for (size_t i = 0; i < p->n_items; i++) {
        const mk_plan_item *it = &p->items[i];
        for (int o = 0; o < it->n_out; o++)
            json_object_set_new(wm, it->out[o].name, json_string(p->files[it->file].name));
    }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)p->bytes_out,
                            "weight_map", wm);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", out, MK_INDEX_NAME);
    int rc = mk_write_json_atomic(path, idx, JSON_INDENT(2) | JSON_SORT_KEYS, err);
    json_decref(idx);
    return rc;
}

static int write_config(const mk_plan *p, const char *out, mk_error *err) {
    json_t *c = json_deep_copy(p->config);
    if (!c) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    mk_scheme s = p->opts.scheme;
    if (s == MK_SCHEME_BF16 || s == MK_SCHEME_F16) {
        json_object_del(c, "quantization_config");
        const char *dt = s == MK_SCHEME_F16 ? "float16" : "bfloat16";
        json_object_set_new(c, "torch_dtype", json_string(dt));
        if (json_object_get(c, "dtype")) json_object_set_new(c, "dtype", json_string(dt));
    } else {
        json_object_set_new(c, "quantization_config", mk_convert_quant_config(p));
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", out);
    int rc = mk_write_json_atomic(path, c, JSON_INDENT(2), err);
    json_decref(c);
    return rc;
}

typedef struct name_list {
    char **v;
    size_t n;
} name_list;

static int push_name(name_list *l, const char *s) {
    char **g = realloc(l->v, (l->n + 1) * sizeof *g);
    if (!g) return -1;
    l->v = g;
    l->v[l->n] = strdup(s);
    return l->v[l->n++] ? 0 : -1;
}

static void free_names(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Tokenizer, generation config, chat template...: every other regular file
 * beside the weights is copied, so the output is a complete model folder. */
static int copy_side_files(const mk_plan *p, const char *out, name_list *written, int *copied,
                           mk_error *err) {
    const char *dir = mk_ckpt_dir(p->ck);
    DIR *d = opendir(dir);
    if (!d) return mk_fail(err, MK_ERR_INPUT, "%s: cannot list: %s", dir, strerror(errno));
    name_list names = {0};
    struct dirent *e;
    int rc = MK_OK;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' || ends_with(n, ".safetensors") || strcmp(n, MK_INDEX_NAME) == 0 ||
            strcmp(n, "config.json") == 0 || strcmp(n, MANIFEST_NAME) == 0)
            continue;
        char src[PATH_MAX];
        struct stat st;
        snprintf(src, sizeof src, "%s/%s", dir, n);
        if (stat(src, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (push_name(&names, n)) {
            rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            break;
        }
    }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n && !rc; i++) {
        char src[PATH_MAX], dst[PATH_MAX];
        snprintf(src, sizeof src, "%s/%s", dir, names.v[i]);
        snprintf(dst, sizeof dst, "%s/%s", out, names.v[i]);
        rc = mk_copy_file_atomic(src, dst, err);
        if (!rc && push_name(written, names.v[i])) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        if (!rc) (*copied)++;
    }
    free_names(&names);
    return rc;
}

/* XXH64 of a whole file, read in chunks: read(), not mmap, so hashing a
 * freshly written shard costs page cache, not resident memory. */
static int hash_file(const char *path, uint64_t *bytes, uint64_t *hash, mk_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot reopen: %s", path, strerror(errno));
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    static __thread char buf[1 << 20];
    size_t n;
    *bytes = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        XXH64_update(st, buf, n);
        *bytes += n;
    }
    int bad = ferror(f);
    fclose(f);
    *hash = XXH64_digest(st);
    XXH64_freeState(st);
    return bad ? mk_fail(err, MK_ERR_INTERNAL, "%s: read error", path) : MK_OK;
}

static int write_manifest(const mk_plan *p, const char *out, name_list *written, mk_error *err) {
    if (written->n) qsort(written->v, written->n, sizeof *written->v, cmp_str);
    json_t *files = json_array();
    int rc = MK_OK;
    for (size_t i = 0; i < written->n && !rc; i++) {
        char path[PATH_MAX], hex[17];
        uint64_t bytes = 0, h = 0;
        snprintf(path, sizeof path, "%s/%s", out, written->v[i]);
        rc = hash_file(path, &bytes, &h, err);
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
        json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", written->v[i], "bytes",
                                               (json_int_t)bytes, "xxh64", hex));
    }
    json_t *m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o}", "format", "moekit-manifest", "version", 1,
                          "moekit_version", "0.1.0", "scheme", mk_scheme_name(p->opts.scheme),
                          "shard_by", mk_shard_by_name(p->opts.shard_by), "files", files);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", out, MANIFEST_NAME);
    if (!rc) rc = mk_write_json_atomic(path, m, JSON_INDENT(2), err);
    json_decref(m);
    return rc;
}

int mk_convert(const char *src, const char *out, const mk_convert_opts *o, mk_convert_result *res,
               mk_error *err) {
    if (o->threads > 0) omp_set_num_threads(o->threads);
    if ((unsigned)o->scheme >= MK_SCHEME_COUNT)
        return mk_fail(err, MK_ERR_INPUT, "unknown scheme %d", (int)o->scheme);
    mk_plan p;
    int rc = mk_convert_plan(src, o, &p, err);
    if (!rc) rc = prepare_out(mk_ckpt_dir(p.ck), out, o->force, err);
    if (rc) {
        mk_convert_plan_free(&p);
        return rc;
    }
    warn_tp(&p);
    uint64_t done = 0;
    size_t seq = 0;
    name_list written = {0};
    for (size_t f = 0; f < p.n_files && !rc; f++) {
        rc = mk_convert_exec_file(&p, f, out, &done, p.bytes_in, &seq, err);
        if (!rc && push_name(&written, p.files[f].name)) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    int copied = 0;
    if (!rc) rc = write_config(&p, out, err);
    if (!rc && push_name(&written, "config.json")) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    if (!rc) rc = copy_side_files(&p, out, &written, &copied, err);
    if (!rc) rc = write_index(&p, out, err);
    if (!rc && push_name(&written, MK_INDEX_NAME)) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    if (!rc) rc = write_manifest(&p, out, &written, err);
    if (!rc && res) {
        memset(res, 0, sizeof *res);
        res->tensors_in = mk_ckpt_n_tensors(p.ck);
        for (size_t i = 0; i < p.n_items; i++) res->tensors_out += (uint64_t)p.items[i].n_out;
        res->quantized = p.n_quantized;
        res->bytes_in = p.bytes_in;
        res->bytes_out = p.bytes_out;
        res->files = (int)p.n_files;
        res->copied = copied;
    }
    free_names(&written);
    mk_convert_plan_free(&p);
    return rc;
}
