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
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "formats/fileio.h"
#include "moekit/recipe.h"
#include "lib/convert_impl.h"

#define MANIFEST_NAME "moekit.json"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
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
    if (!(p->schemes_used & (1u << MK_SCHEME_FP8_BLOCK))) return;
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


static const char *plan_scheme(const mk_plan *p) {
    unsigned u = p->schemes_used;
    if (p->mixed) return "mixed";
    for (int s = 0; s < MK_SCHEME_COUNT; s++)
        if (u == 1u << s) return mk_scheme_name((mk_scheme)s);
    return mk_scheme_name(p->base_scheme);
}

static int write_manifest(const mk_plan *p, const char *out, name_list *others,
                          const mk_file_record *shards, size_t n_shards, mk_error *err) {
    /* One sorted list of every file: shards with the hashes their journal
     * recorded (no second read), the rest hashed now. */
    size_t n = n_shards + others->n;
    mk_file_record *all = calloc(n ? n : 1, sizeof *all);
    if (!all) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    memcpy(all, shards, n_shards * sizeof *all);
    int rc = MK_OK;
    for (size_t i = 0; i < others->n && !rc; i++) {
        mk_file_record *r = &all[n_shards + i];
        char path[PATH_MAX];
        snprintf(r->name, sizeof r->name, "%s", others->v[i]);
        snprintf(path, sizeof path, "%s/%s", out, r->name);
        rc = mk_hash_file(path, &r->bytes, &r->xxh64, err);
    }
    if (!rc) {
        for (size_t a = 1; a < n; a++) /* few hundred names at most: insertion sort */
            for (size_t b = a; b > 0 && strcmp(all[b - 1].name, all[b].name) > 0; b--) {
                mk_file_record t = all[b];
                all[b] = all[b - 1];
                all[b - 1] = t;
            }
        json_t *files = json_array();
        for (size_t i = 0; i < n; i++) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)all[i].xxh64);
            json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", all[i].name, "bytes",
                                                   (json_int_t)all[i].bytes, "xxh64", hex));
        }
        const mk_recipe *r = p->opts.recipe;
        char fp[17];
        snprintf(fp, sizeof fp, "%016llx", (unsigned long long)mk_plan_fingerprint(p));
        json_t *m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:s, s:o}", "format", "moekit-manifest",
                              "version", 1, "moekit_version", "0.1.0", "scheme", plan_scheme(p),
                              "shard_by", mk_shard_by_name(p->opts.shard_by), "recipe",
                              r ? json_string(r->text) : json_null(), "fingerprint", fp, "files", files);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", out, MANIFEST_NAME);
        rc = mk_write_json_atomic(path, m, JSON_INDENT(2), err);
        json_decref(m);
    }
    free(all);
    return rc;
}

/* Everything after the shards: config.json, side files, index, manifest. */
static int finalize(const mk_plan *p, const char *out, const mk_file_record *shards,
                    size_t n_shards, int *copied, mk_error *err) {
    name_list others = {0};
    int rc = write_config(p, out, err);
    if (!rc && push_name(&others, "config.json")) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    if (!rc) rc = copy_side_files(p, out, &others, copied, err);
    if (!rc) rc = write_index(p, out, err);
    if (!rc && push_name(&others, MK_INDEX_NAME)) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    if (!rc) rc = write_manifest(p, out, &others, shards, n_shards, err);
    free_names(&others);
    return rc;
}

static void fill_result(const mk_plan *p, mk_convert_result *res) {
    snprintf(res->scheme, sizeof res->scheme, "%s", plan_scheme(p));
    res->tensors_in = mk_ckpt_n_tensors(p->ck);
    for (size_t i = 0; i < p->n_items; i++) {
        const mk_plan_item *it = &p->items[i];
        res->tensors_out += (uint64_t)it->n_out;
        res->params += it->src->n_elems;
        if (it->op == OP_QUANT) {
            res->quantized_params += it->src->n_elems;
            res->quantized_bytes += it->out_bytes;
        }
    }
    res->quantized = p->n_quantized;
    res->bytes_in = p->bytes_in;
    res->bytes_out = p->bytes_out;
    res->files = (int)p->n_files;
    res->bits_per_weight = res->params ? (double)res->bytes_out * 8.0 / (double)res->params : 0;
    res->bits_per_quantized_weight =
        res->quantized_params ? (double)res->quantized_bytes * 8.0 / (double)res->quantized_params : 0;
}

void mk_convert_result_free(mk_convert_result *r) {
    free(r->tensor_stats);
    free(r->class_stats);
    free(r->layer_stats);
    r->tensor_stats = r->class_stats = r->layer_stats = NULL;
    r->n_tensor_stats = r->n_class_stats = r->n_layer_stats = 0;
}

static bool is_temporary(const char *n) { return n[0] == '.' && strstr(n, ".tmp-") != NULL; }
static bool is_journal(const char *n) { return strncmp(n, ".moekit-", 8) == 0 && ends_with(n, ".jsonl"); }

/* Decides what may be reused in OUT.  A whole run owns the folder; a part
 * owns only its files and journal, since other parts may be writing beside
 * it right now. */
static int prepare_out(const mk_plan *p, const char *out, const int *owner, const char *journal,
                       mk_error *err) {
    const mk_convert_opts *o = &p->opts;
    int rc = mk_mkdir(out, err);
    if (rc) return rc;
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(mk_ckpt_dir(p->ck), a) && realpath(out, b) && strcmp(a, b) == 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: output folder is the source folder", out);
    bool part = o->part_count > 0;
    json_t *mine = json_object();
    for (size_t f = 0; f < p->n_files; f++)
        if (!part || owner[f] == o->part_index) json_object_set_new(mine, p->files[f].name, json_true());
    DIR *d = opendir(out);
    if (!d) {
        json_decref(mine);
        return mk_fail(err, MK_ERR_INPUT, "%s: cannot list: %s", out, strerror(errno));
    }
    struct dirent *e;
    bool holds = false;
    name_list doomed = {0};
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        bool ours;
        if (is_temporary(n)) {
            /* ".<file>.tmp-XXXXXX": only this run's own files' leftovers */
            char base[256];
            snprintf(base, sizeof base, "%s", n + 1);
            char *t = strstr(base, ".tmp-");
            if (t) *t = '\0';
            ours = !part || json_object_get(mine, base);
            if (ours && (o->resume || o->force)) push_name(&doomed, n);
            continue;
        }
        if (part)
            ours = json_object_get(mine, n) || strcmp(n, journal) == 0;
        else
            ours = ends_with(n, ".safetensors") || strcmp(n, MK_INDEX_NAME) == 0 ||
                   strcmp(n, MANIFEST_NAME) == 0 || strcmp(n, "config.json") == 0 || is_journal(n);
        if (!ours) continue;
        holds = true;
        if (o->force && strcmp(n, "config.json") != 0) push_name(&doomed, n);
    }
    closedir(d);
    json_decref(mine);
    if (holds && !o->force && !o->resume) {
        free_names(&doomed);
        return mk_fail(err, MK_ERR_INPUT,
                       "%s: already holds %s; use --resume to continue it or --force to replace it",
                       out, part ? "files of this part" : "a checkpoint or an unfinished conversion");
    }
    for (size_t i = 0; i < doomed.n; i++) {
        snprintf(a, sizeof a, "%s/%s", out, doomed.v[i]);
        unlink(a);
    }
    free_names(&doomed);
    return MK_OK;
}

static json_t *journal_header(const mk_plan *p, const char *src, uint64_t fp) {
    char hex[17], abs_src[PATH_MAX];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fp);
    if (!realpath(src, abs_src)) snprintf(abs_src, sizeof abs_src, "%s", src);
    const mk_recipe *r = p->opts.recipe;
    return json_pack("{s:i, s:s, s:s, s:i, s:i, s:s, s:s, s:I, s:o, s:o}", "moekit_journal", 1,
                     "fingerprint", hex, "source", abs_src, "part", p->opts.part_index, "parts",
                     p->opts.part_count, "scheme", mk_scheme_name(p->opts.scheme), "shard_by",
                     mk_shard_by_name(p->opts.shard_by), "max_shard_size",
                     (json_int_t)p->opts.max_shard_bytes, "recipe",
                     r ? json_string(r->text) : json_null(), "recipe_path",
                     r ? json_string(r->path) : json_null());
}

static int dry_run(const mk_plan *p, mk_convert_result *res) {
    const mk_convert_opts *o = &p->opts;
    size_t seq = 0;
    for (size_t f = 0; f < p->n_files; f++) {
        const mk_plan_file *pf = &p->files[f];
        if (o->on_file) o->on_file(pf->name, pf->bytes, pf->n_items, "planned", o->ctx);
        for (size_t i = 0; i < pf->n_items && o->on_tensor; i++) {
            const mk_plan_item *it = &p->items[pf->items[i]];
            mk_convert_event ev = {
                .index = ++seq, .count = p->n_items, .name = it->src_name, .ndim = it->src->ndim,
                .shape = it->src->shape, .src_dtype = it->src->dtype,
                .action = mk_convert_action(it), .in_bytes = it->in_bytes, .out_bytes = it->out_bytes,
            };
            o->on_tensor(&ev, o->ctx);
        }
    }
    if (res) fill_result(p, res);
    return MK_OK;
}

int mk_convert(const char *src, const char *out, const mk_convert_opts *o, mk_convert_result *res,
               mk_error *err) {
    if (res) memset(res, 0, sizeof *res);
    if (o->threads > 0) omp_set_num_threads(o->threads);
    if ((unsigned)o->scheme >= MK_SCHEME_COUNT)
        return mk_fail(err, MK_ERR_INPUT, "unknown scheme %d", (int)o->scheme);
    if (o->part_count < 0 || o->part_count > 100000 ||
        (o->part_count && (o->part_index < 0 || o->part_index >= o->part_count)))
        return mk_fail(err, MK_ERR_INPUT, "--part %d/%d: I must be in [0, N) and N in [1, 100000]",
                       o->part_index, o->part_count);
    mk_plan p;
    int rc = mk_convert_plan(src, o, &p, err);
    if (rc) {
        mk_convert_plan_free(&p);
        return rc;
    }
    warn_tp(&p);
    if (o->dry_run) {
        rc = dry_run(&p, res);
        mk_convert_plan_free(&p);
        return rc;
    }
    int *owner = calloc(p.n_files ? p.n_files : 1, sizeof *owner);
    mk_stat_acc *acc = o->stats ? calloc(p.n_items ? p.n_items : 1, sizeof *acc) : NULL;
    if (!owner || (o->stats && !acc)) {
        free(owner);
        mk_convert_plan_free(&p);
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    if (o->part_count) mk_plan_parts(&p, o->part_count, owner);
    char jname[64], jpath[PATH_MAX];
    mk_journal_name(jname, sizeof jname, o->part_index, o->part_count);
    snprintf(jpath, sizeof jpath, "%s/%s", out, jname);
    rc = prepare_out(&p, out, owner, jname, err);
    uint64_t fp = mk_plan_fingerprint(&p);
    mk_journal old = {.fd = -1}, j = {.fd = -1};
    bool have_old = false;
    if (!rc && o->resume && access(jpath, F_OK) == 0) {
        rc = mk_journal_read(&old, jpath, err);
        if (!rc) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fp);
            const char *was = json_string_value(json_object_get(old.header, "fingerprint"));
            if (!was || strcmp(was, hex) != 0)
                rc = mk_fail(err, MK_ERR_INPUT,
                             "%s: this unfinished conversion used another source or other options; "
                             "rerun it with those, or use --force to start over", jpath);
            have_old = !rc;
        }
    } else if (!rc && o->resume && !o->part_count) {
        /* A run that had finished: its manifest can vouch for its files. */
        char mpath[PATH_MAX];
        snprintf(mpath, sizeof mpath, "%s/%s", out, MANIFEST_NAME);
        if (access(mpath, F_OK) == 0) {
            rc = mk_journal_from_manifest(&old, mpath, fp, err);
            have_old = !rc;
        }
    }
    json_t *hdr = journal_header(&p, src, fp);
    if (!rc) rc = mk_journal_create(&j, jpath, hdr, err);
    json_decref(hdr);
    /* Progress counts this run's share of the input. */
    uint64_t total = 0, done = 0;
    for (size_t f = 0; f < p.n_files; f++)
        if (!o->part_count || owner[f] == o->part_index)
            for (size_t i = 0; i < p.files[f].n_items; i++) total += p.items[p.files[f].items[i]].in_bytes;
    size_t seq = 0;
    int written = 0, kept = 0;
    for (size_t f = 0; f < p.n_files && !rc; f++) {
        const mk_plan_file *pf = &p.files[f];
        if (o->part_count && owner[f] != o->part_index) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", out, pf->name);
        mk_file_record r = {0};
        snprintf(r.name, sizeof r.name, "%s", pf->name);
        const mk_file_record *prev = have_old ? mk_journal_find(&old, pf->name) : NULL;
        mk_error ignore = {0};
        if (prev && mk_hash_file(path, &r.bytes, &r.xxh64, &ignore) == MK_OK &&
            r.bytes == prev->bytes && r.xxh64 == prev->xxh64) {
            kept++;
            for (size_t i = 0; i < pf->n_items; i++) done += p.items[pf->items[i]].in_bytes;
            if (o->progress) o->progress(done, total, o->ctx);
            if (o->on_file) o->on_file(pf->name, r.bytes, pf->n_items, "kept", o->ctx);
        } else {
            rc = mk_convert_exec_file(&p, f, out, &done, total, &seq, acc, err);
            if (!rc) mk_test_crash_point("published");
            if (!rc) rc = mk_hash_file(path, &r.bytes, &r.xxh64, err);
            written++;
            if (!rc && o->on_file) o->on_file(pf->name, r.bytes, pf->n_items, "written", o->ctx);
        }
        if (!rc) rc = mk_journal_append(&j, &r, err);
        if (!rc) mk_test_crash_point("journaled");
    }
    int copied = 0;
    if (!rc && o->part_count) {
        rc = mk_journal_finish(&j, err);
    } else if (!rc) {
        rc = finalize(&p, out, j.rec, j.n, &copied, err);
        if (!rc) {
            unlink(jpath);
            rc = mk_fsync_dir(out, err);
        }
    }
    if (!rc && res) {
        fill_result(&p, res);
        res->files_written = written;
        res->files_kept = kept;
        res->copied = copied;
        if (acc && mk_convert_stats_fill(&p, acc, res)) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    mk_journal_close(&j);
    mk_journal_close(&old);
    free(owner);
    free(acc);
    mk_convert_plan_free(&p);
    return rc;
}

/* ---- merge ---- */

static int header_int(const json_t *h, const char *key, long long *out) {
    json_t *v = json_object_get(h, key);
    if (!json_is_integer(v)) return -1;
    *out = json_integer_value(v);
    return 0;
}

int mk_convert_merge(const char *out, const mk_convert_opts *o, mk_convert_result *res,
                     mk_error *err) {
    if (res) memset(res, 0, sizeof *res);
    if (o->threads > 0) omp_set_num_threads(o->threads);
    DIR *d = opendir(out);
    if (!d) return mk_fail(err, MK_ERR_INPUT, "%s: cannot list: %s", out, strerror(errno));
    struct dirent *e;
    int parts = 0;
    while ((e = readdir(d)))
        if (sscanf(e->d_name, ".moekit-part-%*d-of-%d.jsonl", &parts) == 1) break;
    closedir(d);
    if (parts <= 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: no part journals (.moekit-part-*.jsonl): nothing to merge",
                       out);

    mk_journal *js = calloc((size_t)parts, sizeof *js);
    if (!js) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    int rc = MK_OK;
    for (int i = 0; i < parts && !rc; i++) {
        char name[64], path[PATH_MAX];
        mk_journal_name(name, sizeof name, i, parts);
        snprintf(path, sizeof path, "%s/%s", out, name);
        js[i].fd = -1;
        if (access(path, F_OK) != 0) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: part %d/%d has not run (no %s)", out, i, parts, name);
            break;
        }
        rc = mk_journal_read(&js[i], path, err);
        if (!rc && !js[i].done)
            rc = mk_fail(err, MK_ERR_INPUT, "%s: part %d/%d has not finished; rerun it with --resume",
                         path, i, parts);
        if (!rc && i > 0 &&
            !json_equal(json_object_get(js[i].header, "fingerprint"), json_object_get(js[0].header, "fingerprint")))
            rc = mk_fail(err, MK_ERR_INPUT, "%s: part %d/%d comes from another conversion than part 0/%d",
                         path, i, parts, parts);
    }
    if (!rc) {
        /* Every part has finished, so temporaries here are leftovers of an
         * interrupted merge. */
        d = opendir(out);
        while (d && (e = readdir(d))) {
            if (!is_temporary(e->d_name)) continue;
            char tp[PATH_MAX];
            snprintf(tp, sizeof tp, "%s/%s", out, e->d_name);
            unlink(tp);
        }
        if (d) closedir(d);
    }
    mk_plan p;
    memset(&p, 0, sizeof p);
    mk_recipe recipe;
    memset(&recipe, 0, sizeof recipe);
    bool have_recipe = false;
    if (!rc) {
        /* Re-plan with the options the parts recorded. */
        const json_t *h = js[0].header;
        mk_convert_opts po = *o;
        long long max_shard = 0;
        const char *scheme = json_string_value(json_object_get(h, "scheme"));
        const char *shard = json_string_value(json_object_get(h, "shard_by"));
        const char *src = json_string_value(json_object_get(h, "source"));
        const char *rtext = json_string_value(json_object_get(h, "recipe"));
        const char *rpath = json_string_value(json_object_get(h, "recipe_path"));
        if (!scheme || !shard || !src || mk_scheme_parse(scheme, &po.scheme) ||
            mk_shard_by_parse(shard, &po.shard_by) || header_int(h, "max_shard_size", &max_shard) ||
            max_shard <= 0)
            rc = mk_fail(err, MK_ERR_INPUT, "%s: part journal header is incomplete", js[0].path);
        po.max_shard_bytes = (uint64_t)max_shard;
        po.part_count = 0;
        po.recipe = NULL;
        if (!rc && rtext) {
            rc = mk_recipe_parse(rtext, strlen(rtext), rpath ? rpath : "recipe", &recipe, err);
            have_recipe = !rc;
            po.recipe = &recipe;
        }
        if (!rc) rc = mk_convert_plan(src, &po, &p, err);
        if (!rc) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)mk_plan_fingerprint(&p));
            const char *was = json_string_value(json_object_get(h, "fingerprint"));
            if (!was || strcmp(was, hex) != 0)
                rc = mk_fail(err, MK_ERR_INPUT,
                             "%s: the source checkpoint changed since the parts ran; convert again",
                             src);
        }
    }
    mk_file_record *recs = NULL;
    if (!rc) {
        recs = calloc(p.n_files ? p.n_files : 1, sizeof *recs);
        if (!recs) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    for (size_t f = 0; f < p.n_files && !rc; f++) {
        const mk_file_record *r = NULL;
        for (int i = 0; i < parts && !r; i++) r = mk_journal_find(&js[i], p.files[f].name);
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", out, p.files[f].name);
        if (!r)
            rc = mk_fail(err, MK_ERR_INPUT, "%s: no part recorded this file", path);
        else if (stat(path, &st) != 0 || (uint64_t)st.st_size != r->bytes)
            rc = mk_fail(err, MK_ERR_INPUT, "%s: missing or not the size its part recorded", path);
        else
            recs[f] = *r;
    }
    int copied = 0;
    if (!rc) rc = finalize(&p, out, recs, p.n_files, &copied, err);
    for (int i = 0; i < parts; i++) {
        if (!rc) unlink(js[i].path);
        mk_journal_close(&js[i]);
    }
    if (!rc) rc = mk_fsync_dir(out, err);
    if (!rc && res) {
        fill_result(&p, res);
        res->copied = copied;
    }
    free(js);
    free(recs);
    if (have_recipe) mk_recipe_free(&recipe);
    if (p.ck) mk_convert_plan_free(&p);
    return rc;
}
