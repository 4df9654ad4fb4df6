/*
 * The conversion journal: what makes `--resume` and `--part I/N` work.
 *
 * A run appends one JSON line per output file it has published - name, size,
 * xxhash64 - and fsyncs it, after a header line that fingerprints the plan.
 * Because each file is itself published atomically, a file with a journal
 * line whose size and hash still match is complete and current; everything
 * else is redone.  A crash can only tear the last line, which reading
 * ignores.  A part run closes its journal with {"done": true}; `merge`
 * waits for every part's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "formats/fileio.h"
#include "lib/convert_impl.h"

void mk_journal_name(char *buf, size_t cap, int part_index, int part_count) {
    if (part_count > 0)
        snprintf(buf, cap, ".moekit-part-%05d-of-%05d.jsonl", part_index, part_count);
    else
        snprintf(buf, cap, ".moekit-journal.jsonl");
}

static int write_line(mk_journal *j, json_t *obj, mk_error *err) {
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room for its NUL, which we overwrite */
    ssize_t w = write(j->fd, text, len + 1);
    free(text);
    if (w != (ssize_t)(len + 1) || fsync(j->fd) != 0)
        return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot append: %s", j->path, strerror(errno));
    return MK_OK;
}

int mk_journal_create(mk_journal *j, const char *path, json_t *header, mk_error *err) {
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    j->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0) return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot create: %s", path, strerror(errno));
    j->header = json_incref(header);
    return write_line(j, header, err);
}

static int add_record(mk_journal *j, const mk_file_record *r) {
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 64;
        mk_file_record *g = realloc(j->rec, cap * sizeof *g);
        if (!g) return -1;
        j->rec = g;
        j->cap = cap;
    }
    j->rec[j->n++] = *r;
    return 0;
}

int mk_journal_read(mk_journal *j, const char *path, mk_error *err) {
    memset(j, 0, sizeof *j);
    j->fd = -1;
    snprintf(j->path, sizeof j->path, "%s", path);
    char *text;
    size_t len;
    int rc = mk_read_file(path, 256u << 20, &text, &len, err);
    if (rc) return rc;
    char *line = text;
    for (size_t k = 0; line < text + len; k++) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl) break; /* torn last line: the crash happened mid-append */
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)(nl - line), JSON_REJECT_DUPLICATES, &je);
        line = nl + 1;
        if (!o || !json_is_object(o)) {
            json_decref(o);
            free(text);
            return mk_fail(err, MK_ERR_INPUT, "%s: line %zu is not a journal record", path, k + 1);
        }
        if (k == 0) {
            if (!json_is_integer(json_object_get(o, "moekit_journal"))) {
                json_decref(o);
                free(text);
                return mk_fail(err, MK_ERR_INPUT, "%s: not a moekit journal", path);
            }
            j->header = o;
            continue;
        }
        if (json_is_true(json_object_get(o, "done"))) {
            j->done = true;
        } else {
            const char *name = json_string_value(json_object_get(o, "file"));
            const char *hex = json_string_value(json_object_get(o, "xxh64"));
            json_t *bytes = json_object_get(o, "bytes");
            mk_file_record r = {0};
            if (!name || strlen(name) >= sizeof r.name || strchr(name, '/') || !hex ||
                strlen(hex) != 16 || !json_is_integer(bytes) || json_integer_value(bytes) < 0) {
                json_decref(o);
                free(text);
                return mk_fail(err, MK_ERR_INPUT, "%s: line %zu is not a file record", path, k + 1);
            }
            snprintf(r.name, sizeof r.name, "%s", name);
            r.bytes = (uint64_t)json_integer_value(bytes);
            r.xxh64 = strtoull(hex, NULL, 16);
            if (add_record(j, &r)) {
                json_decref(o);
                free(text);
                return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            }
        }
        json_decref(o);
    }
    free(text);
    if (!j->header) return mk_fail(err, MK_ERR_INPUT, "%s: empty journal", path);
    return MK_OK;
}

int mk_journal_append(mk_journal *j, const mk_file_record *r, mk_error *err) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r->xxh64);
    json_t *o = json_pack("{s:s, s:I, s:s}", "file", r->name, "bytes", (json_int_t)r->bytes, "xxh64", hex);
    int rc = write_line(j, o, err);
    json_decref(o);
    if (!rc && add_record(j, r)) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    return rc;
}

int mk_journal_finish(mk_journal *j, mk_error *err) {
    json_t *o = json_pack("{s:b}", "done", 1);
    int rc = write_line(j, o, err);
    json_decref(o);
    return rc;
}

const mk_file_record *mk_journal_find(const mk_journal *j, const char *name) {
    for (size_t i = j->n; i-- > 0;) /* the latest record of a name wins */
        if (strcmp(j->rec[i].name, name) == 0) return &j->rec[i];
    return NULL;
}

void mk_journal_close(mk_journal *j) {
    if (j->fd >= 0) close(j->fd);
    j->fd = -1;
    json_decref(j->header);
    free(j->rec);
    j->header = NULL;
    j->rec = NULL;
    j->n = j->cap = 0;
}

int mk_hash_file(const char *path, uint64_t *bytes, uint64_t *hash, mk_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot open: %s", path, strerror(errno));
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    char *buf = malloc(1 << 20);
    int rc = buf ? MK_OK : mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    *bytes = 0;
    while (!rc) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = mk_fail(err, MK_ERR_INTERNAL, "%s: read: %s", path, strerror(errno));
        if (n <= 0) break;
        XXH64_update(st, buf, (size_t)n);
        *bytes += (uint64_t)n;
    }
    close(fd);
    free(buf);
    *hash = XXH64_digest(st);
    XXH64_freeState(st);
    return rc;
}

uint64_t mk_plan_fingerprint(const mk_plan *p) {
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0x6d6f656b6974ull);
    for (size_t f = 0; f < p->n_files; f++) {
        const mk_plan_file *pf = &p->files[f];
        XXH64_update(st, pf->name, strlen(pf->name) + 1);
        for (size_t i = 0; i < pf->n_items; i++) {
            const mk_plan_item *it = &p->items[pf->items[i]];
            int32_t head[4] = {(int32_t)it->op, (int32_t)it->scheme, (int32_t)it->src->dtype, it->n_out};
            XXH64_update(st, head, sizeof head);
            for (int o = 0; o < it->n_out; o++) {
                XXH64_update(st, it->out[o].name, strlen(it->out[o].name) + 1);
                int32_t dt = (int32_t)it->out[o].dtype, nd = it->out[o].ndim;
                XXH64_update(st, &dt, sizeof dt);
                XXH64_update(st, &nd, sizeof nd);
                XXH64_update(st, it->out[o].shape, sizeof(int64_t) * (size_t)it->out[o].ndim);
            }
        }
    }
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

static int cmp_bytes_desc(const void *a, const void *b, void *ctx) {
    const mk_plan *p = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (p->files[x].bytes != p->files[y].bytes) return p->files[x].bytes > p->files[y].bytes ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Longest-processing-time-first: the biggest file goes to the least loaded
 * part; ties go to the lower file name and part number, so every process
 * computes the same split. */
void mk_plan_parts(const mk_plan *p, int part_count, int *owner) {
    size_t n = p->n_files;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    uint64_t *load = calloc((size_t)part_count, sizeof *load);
    if (!order || !load) { /* degrade to round robin rather than fail */
        for (size_t f = 0; f < n; f++) owner[f] = (int)(f % (size_t)part_count);
        free(order);
        free(load);
        return;
    }
    for (size_t f = 0; f < n; f++) order[f] = f;
    qsort_r(order, n, sizeof *order, cmp_bytes_desc, (void *)p);
    for (size_t k = 0; k < n; k++) {
        int best = 0;
        for (int i = 1; i < part_count; i++)
            if (load[i] < load[best]) best = i;
        owner[order[k]] = best;
        load[best] += p->files[order[k]].bytes;
    }
    free(order);
    free(load);
}

int mk_journal_from_manifest(mk_journal *j, const char *path, uint64_t fingerprint, mk_error *err) {
    memset(j, 0, sizeof *j);
    j->fd = -1;
    snprintf(j->path, sizeof j->path, "%s", path);
    json_error_t je;
    json_t *m = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fingerprint);
    const char *fp = json_string_value(json_object_get(m, "fingerprint"));
    int rc = MK_OK;
    if (!fp || strcmp(fp, hex) != 0)
        rc = mk_fail(err, MK_ERR_INPUT,
                     "%s: this conversion used another source or other options; rerun it with "
                     "those, or use --force to replace it", path);
    if (!rc) {
        json_t *files = json_object_get(m, "files"), *f;
        size_t i;
        json_array_foreach(files, i, f) {
            const char *name = json_string_value(json_object_get(f, "name"));
            const char *x = json_string_value(json_object_get(f, "xxh64"));
            json_t *b = json_object_get(f, "bytes");
            mk_file_record r = {0};
            if (!name || strlen(name) >= sizeof r.name || !x || !json_is_integer(b)) continue;
            snprintf(r.name, sizeof r.name, "%s", name);
            r.bytes = (uint64_t)json_integer_value(b);
            r.xxh64 = strtoull(x, NULL, 16);
            if (add_record(j, &r)) {
                rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
                break;
            }
        }
    }
    json_decref(m);
    return rc;
}
