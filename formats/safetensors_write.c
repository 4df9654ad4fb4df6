/*
 * Streaming safetensors writer (see safetensors.h).
 *
 * Layout follows the reference writer (huggingface/safetensors tensor.rs,
 * `prepare`): tensors sorted by dtype in descending alignment order, then by
 * name; offsets contiguous from 0; compact JSON header with __metadata__
 * first, space-padded so the data section starts at a multiple of 8.  With
 * 8-aligned data and larger element types first, every tensor starts at a
 * multiple of its element size, which torch needs to view the bytes in place.
 *
 * Data may arrive in any order and from several threads: each write is a
 * pwrite at a precomputed offset, and per-tensor byte counters (atomics)
 * let finish() prove every byte was written exactly once.
 */
#include "moekit/safetensors.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fileio.h"

struct mk_st_writer {
    mk_atomic_file file;
    mk_tensor_info *t; /* sorted, with offsets */
    size_t n;
    uint64_t data_start; /* 8 + header bytes */
    uint64_t data_bytes;
    _Atomic uint64_t *written;
    size_t *by_name;
};

static int cmp_layout(const void *a, const void *b) {
    const mk_tensor_info *x = a, *y = b;
    if (x->dtype != y->dtype) return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name_idx(const void *a, const void *b, void *ctx) {
    const mk_tensor_info *t = ctx;
    return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

static void free_writer(mk_st_writer *w) {
    if (!w) return;
    if (w->t)
        for (size_t i = 0; i < w->n; i++) free((char *)w->t[i].name);
    free(w->t);
    free((void *)w->written);
    free(w->by_name);
    free(w);
}

static json_t *header_json(const mk_st_writer *w, const char *const *mk, const char *const *mv,
                           size_t n_meta) {
    json_t *root = json_object();
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    for (size_t i = 0; i < n_meta; i++)
        if (strcmp(mk[i], "format") != 0) json_object_set_new(meta, mk[i], json_string(mv[i]));
    json_object_set_new(root, "__metadata__", meta);
    for (size_t i = 0; i < w->n; i++) {
        const mk_tensor_info *t = &w->t[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)t->begin));
        json_array_append_new(offs, json_integer((json_int_t)t->end));
        json_object_set_new(e, "dtype", json_string(mk_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        json_object_set_new(root, t->name, e);
    }
    return root;
}

int mk_st_writer_open(const char *path, const mk_st_decl *decls, size_t n,
                      const char *const *meta_keys, const char *const *meta_values,
                      size_t n_meta, mk_st_writer **out, mk_error *err) {
    *out = NULL;
    mk_st_writer *w = calloc(1, sizeof *w);
    if (!w) return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
    w->file.fd = -1;
    w->t = calloc(n ? n : 1, sizeof *w->t);
    w->written = calloc(n ? n : 1, sizeof *w->written);
    w->by_name = malloc((n ? n : 1) * sizeof *w->by_name);
    if (!w->t || !w->written || !w->by_name) {
        free_writer(w);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
    }
    w->n = n;
    int rc = MK_OK;
    for (size_t i = 0; i < n; i++) {
        const mk_st_decl *d = &decls[i];
        mk_tensor_info *t = &w->t[i];
        if (!d->name || !*d->name || strcmp(d->name, "__metadata__") == 0) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: invalid tensor name '%s'", path,
                         d->name ? d->name : "(null)");
            goto fail;
        }
        if ((unsigned)d->dtype >= MK_DT_COUNT || d->ndim < 0 || d->ndim > MK_MAX_DIMS) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': invalid dtype or rank", path,
                         d->name);
            goto fail;
        }
        t->name = strdup(d->name);
        if (!t->name) {
            rc = mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
            goto fail;
        }
        t->dtype = d->dtype;
        t->ndim = d->ndim;
        t->n_elems = 1;
        for (int k = 0; k < d->ndim; k++) {
            if (d->shape[k] < 0 ||
                __builtin_mul_overflow(t->n_elems, (uint64_t)d->shape[k], &t->n_elems)) {
                rc = mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': invalid shape", path, d->name);
                goto fail;
            }
            t->shape[k] = d->shape[k];
        }
    }
    qsort(w->t, n, sizeof *w->t, cmp_layout);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes;
        if (__builtin_mul_overflow(w->t[i].n_elems, (uint64_t)mk_dtype_size(w->t[i].dtype),
                                   &bytes) ||
            __builtin_add_overflow(off, bytes, &w->t[i].end)) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': size overflows", path, w->t[i].name);
            goto fail;
        }
        w->t[i].begin = off;
        off = w->t[i].end;
        w->by_name[i] = i;
    }
    w->data_bytes = off;
    qsort_r(w->by_name, n, sizeof *w->by_name, cmp_name_idx, w->t);
    for (size_t i = 1; i < n; i++)
        if (strcmp(w->t[w->by_name[i - 1]].name, w->t[w->by_name[i]].name) == 0) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s' declared twice", path,
                         w->t[w->by_name[i]].name);
            goto fail;
        }

    json_t *root = header_json(w, meta_keys, meta_values, n_meta);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) {
        rc = mk_fail(err, MK_ERR_INTERNAL, "%s: cannot build header", path);
        goto fail;
    }
    size_t len = strlen(text);
    size_t padded = (len + 7) / 8 * 8;
    if (padded > MK_ST_MAX_HEADER_BYTES) {
        free(text);
        rc = mk_fail(err, MK_ERR_INPUT, "%s: header of %zu bytes exceeds the safetensors limit",
                     path, padded);
        goto fail;
    }
    uint8_t *hdr = malloc(8 + padded);
    if (!hdr) {
        free(text);
        rc = mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(hdr + 8, text, len);
    memset(hdr + 8 + len, ' ', padded - len);
    free(text);
    w->data_start = 8 + padded;
    rc = mk_atomic_open(&w->file, path, err);
    if (!rc) rc = mk_pwrite_all(w->file.fd, hdr, 8 + padded, 0, path, err);
    free(hdr);
    if (rc) goto fail;
    *out = w;
    return MK_OK;
fail:
    mk_atomic_abort(&w->file);
    free_writer(w);
    return rc;
}

long mk_st_writer_find(const mk_st_writer *w, const char *name) {
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->t[w->by_name[mid]].name);
        if (c == 0) return (long)w->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

size_t mk_st_writer_count(const mk_st_writer *w) { return w->n; }
const mk_tensor_info *mk_st_writer_tensor(const mk_st_writer *w, size_t i) {
    return i < w->n ? &w->t[i] : NULL;
}
uint64_t mk_st_writer_file_bytes(const mk_st_writer *w) { return w->data_start + w->data_bytes; }

int mk_st_writer_write(mk_st_writer *w, size_t idx, uint64_t off, const void *buf, size_t len,
                       mk_error *err) {
    if (idx >= w->n)
        return mk_fail(err, MK_ERR_INTERNAL, "%s: write to undeclared tensor #%zu",
                       w->file.final_path, idx);
    const mk_tensor_info *t = &w->t[idx];
    uint64_t size = t->end - t->begin;
    if (off > size || len > size - off)
        return mk_fail(err, MK_ERR_INTERNAL, "%s: tensor '%s': write of %zu bytes at %llu past its %llu bytes",
                       w->file.final_path, t->name, len, (unsigned long long)off,
                       (unsigned long long)size);
    int rc = mk_pwrite_all(w->file.fd, buf, len, w->data_start + t->begin + off,
                           w->file.final_path, err);
    if (rc) return rc;
    atomic_fetch_add(&w->written[idx], (uint64_t)len);
    return MK_OK;
}

int mk_st_writer_finish(mk_st_writer *w, mk_error *err) {
    int rc = MK_OK;
    for (size_t i = 0; i < w->n && !rc; i++) {
        uint64_t want = w->t[i].end - w->t[i].begin;
        uint64_t got = atomic_load(&w->written[i]);
        if (got != want)
            rc = mk_fail(err, MK_ERR_INTERNAL, "%s: tensor '%s': %llu of %llu bytes written",
                         w->file.final_path, w->t[i].name, (unsigned long long)got,
                         (unsigned long long)want);
    }
    if (rc)
        mk_atomic_abort(&w->file);
    else
        rc = mk_atomic_commit(&w->file, err);
    free_writer(w);
    return rc;
}

void mk_st_writer_abort(mk_st_writer *w) {
    if (!w) return;
    mk_atomic_abort(&w->file);
    free_writer(w);
}
