/*
 * safetensors reader over mmap.
 *
 * The checks follow the reference reader (huggingface/safetensors tensor.rs,
 * SafeTensors::read_metadata and Metadata::validate) in the same order, so a
 * file we accept is one the ecosystem accepts and vice versa; we add three of
 * our own: duplicate tensor names are an error (the reference silently keeps
 * the last one), sub-byte dtypes are refused, and shapes have at most
 * MK_MAX_DIMS dimensions.  Every number read from the file is range-checked
 * before it is used in arithmetic.
 */
#include "moekit/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct mk_st_file {
    char *path;
    int fd;
    uint8_t *map;
    uint64_t size;
    uint64_t header_len;
    json_t *root;            /* kept alive: tensor names point into it */
    mk_tensor_info *tensors; /* in offset order */
    size_t n;
    size_t *by_name;         /* indices sorted by name, for bsearch */
    json_t *meta;            /* __metadata__ object or NULL */
    int64_t mtime_s, mtime_ns; /* at open, to notice a file changed under us */
};

int mk_st_check_unchanged(const mk_st_file *f, mk_error *err) {
    struct stat st;
    if (fstat(f->fd, &st) != 0 || (uint64_t)st.st_size != f->size ||
        (int64_t)st.st_mtim.tv_sec != f->mtime_s || (int64_t)st.st_mtim.tv_nsec != f->mtime_ns)
        return mk_fail(err, MK_ERR_INPUT, "%s: changed while being read (size or modification time differ)",
                       f->path);
    return MK_OK;
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Reads a non-negative JSON integer; describes what is wrong otherwise. */
static int get_uint(const json_t *v, uint64_t *out, const char **why) {
    if (!json_is_integer(v)) {
        *why = json_is_real(v) ? "is not an integer" : "is not a number";
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < 0) {
        *why = "is negative";
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

static int parse_tensor(mk_st_file *f, const char *name, json_t *v, mk_tensor_info *t,
                        mk_error *err) {
    const char *why = NULL;
    if (!json_is_object(v))
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': entry is not a JSON object",
                       f->path, name);
    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': missing or non-string \"dtype\"",
                       f->path, name);
    if (!json_is_array(js))
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': missing or non-array \"shape\"",
                       f->path, name);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return mk_fail(err, MK_ERR_INPUT,
                       "%s: tensor '%s': \"data_offsets\" must be an array of two integers",
                       f->path, name);
    t->name = name;
    int prc = mk_dtype_parse(json_string_value(jd), json_string_length(jd), &t->dtype);
    if (prc == -2)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': dtype %s (sub-byte) is not supported",
                       f->path, name, json_string_value(jd));
    if (prc != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': unknown dtype \"%.40s\"", f->path,
                       name, json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > MK_MAX_DIMS)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': %zu dimensions, at most %d supported",
                       f->path, name, nd, MK_MAX_DIMS);
    t->ndim = (int)nd;
    for (size_t d = 0; d < nd; d++) {
        uint64_t dim;
        if (get_uint(json_array_get(js, d), &dim, &why) != 0)
            return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': shape[%zu] %s", f->path, name, d,
                           why);
        t->shape[d] = (int64_t)dim;
    }
    if (get_uint(json_array_get(jo, 0), &t->begin, &why) != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': data_offsets[0] %s", f->path, name,
                       why);
    if (get_uint(json_array_get(jo, 1), &t->end, &why) != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': data_offsets[1] %s", f->path, name,
                       why);
    return MK_OK;
}

static int cmp_offsets(const void *a, const void *b) {
    const mk_tensor_info *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* qsort_r is a GNU extension; the name comparison needs the tensor array. */
static int cmp_by_name(const void *a, const void *b, void *ctx) {
    const mk_tensor_info *t = ctx;
    return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

static int validate_layout(mk_st_file *f, mk_error *err) {
    qsort(f->tensors, f->n, sizeof *f->tensors, cmp_offsets);
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n; i++) {
        mk_tensor_info *t = &f->tensors[i];
        if (t->begin != expect || t->end < t->begin) {
            if (t->end < t->begin)
                return mk_fail(err, MK_ERR_INPUT,
                               "%s: tensor '%s': data_offsets [%llu, %llu] end before begin",
                               f->path, t->name, (unsigned long long)t->begin,
                               (unsigned long long)t->end);
            return mk_fail(err, MK_ERR_INPUT,
                           "%s: tensor '%s': data_offsets begin at %llu, expected %llu (%s)",
                           f->path, t->name, (unsigned long long)t->begin,
                           (unsigned long long)expect,
                           t->begin > expect ? "a hole before it" : "overlaps the previous tensor");
        }
        uint64_t elems = 1;
        for (int d = 0; d < t->ndim; d++)
            if (__builtin_mul_overflow(elems, (uint64_t)t->shape[d], &elems))
                return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': shape product overflows",
                               f->path, t->name);
        uint64_t bytes;
        if (__builtin_mul_overflow(elems, (uint64_t)mk_dtype_size(t->dtype), &bytes))
            return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': byte size overflows", f->path,
                           t->name);
        t->n_elems = elems;
        if (t->end - t->begin != bytes)
            return mk_fail(err, MK_ERR_INPUT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s x "
                           "shape needs %llu",
                           f->path, t->name, (unsigned long long)t->begin,
                           (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
                           mk_dtype_name(t->dtype), (unsigned long long)bytes);
        /* Stricter than the reference: a tensor must start at a multiple of
         * its element size (from the file start), as torch needs to view the
         * bytes in place and as every reference-written file does; typed
         * reads of a misaligned tensor would be undefined behaviour. */
        uint64_t esz = mk_dtype_size(t->dtype);
        if ((8 + f->header_len + t->begin) % esz != 0)
            return mk_fail(err, MK_ERR_INPUT,
                           "%s: tensor '%s' starts at file byte %llu, not a multiple of its %llu-byte %s "
                           "elements (misaligned)",
                           f->path, t->name, (unsigned long long)(8 + f->header_len + t->begin),
                           (unsigned long long)esz, mk_dtype_name(t->dtype));
        expect = t->end;
    }
    uint64_t data_len = f->size - 8 - f->header_len;
    if (expect != data_len) {
        if (expect < data_len)
            return mk_fail(err, MK_ERR_INPUT,
                           "%s: %llu trailing bytes after the last tensor (data ends at %llu)",
                           f->path, (unsigned long long)(data_len - expect),
                           (unsigned long long)(8 + f->header_len + expect));
        return mk_fail(err, MK_ERR_INPUT,
                       "%s: truncated: tensors need %llu data bytes, file holds %llu", f->path,
                       (unsigned long long)expect, (unsigned long long)data_len);
    }
    return MK_OK;
}

static int parse_header(mk_st_file *f, mk_error *err) {
    json_error_t je;
    f->root = json_loadb((const char *)f->map + 8, (size_t)f->header_len, JSON_REJECT_DUPLICATES,
                         &je);
    if (!f->root)
        return mk_fail(err, MK_ERR_INPUT, "%s: invalid header JSON at header byte %d: %s",
                       f->path, je.position, je.text);
    if (!json_is_object(f->root))
        return mk_fail(err, MK_ERR_INPUT, "%s: header is not a JSON object", f->path);
    size_t cap = json_object_size(f->root);
    f->tensors = calloc(cap ? cap : 1, sizeof *f->tensors);
    if (!f->tensors) return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", f->path);
    const char *key;
    json_t *val;
    json_object_foreach(f->root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val))
                return mk_fail(err, MK_ERR_INPUT, "%s: __metadata__ is not a JSON object",
                               f->path);
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv))
                    return mk_fail(err, MK_ERR_INPUT,
                                   "%s: __metadata__ value of '%s' is not a string", f->path, mk);
            }
            f->meta = val;
            continue;
        }
        int rc = parse_tensor(f, key, val, &f->tensors[f->n], err);
        if (rc) return rc;
        f->n++;
    }
    int rc = validate_layout(f, err);
    if (rc) return rc;
    f->by_name = malloc((f->n ? f->n : 1) * sizeof *f->by_name);
    if (!f->by_name) return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", f->path);
    for (size_t i = 0; i < f->n; i++) f->by_name[i] = i;
    qsort_r(f->by_name, f->n, sizeof *f->by_name, cmp_by_name, f->tensors);
    return MK_OK;
}

int mk_st_open(const char *path, mk_st_file **out, mk_error *err) {
    *out = NULL;
    mk_st_file *f = calloc(1, sizeof *f);
    if (!f) return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory", path);
    }
    int rc;
    struct stat st;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0) {
        rc = mk_fail(err, MK_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = mk_fail(err, MK_ERR_INPUT, "%s: not a regular file", path);
        goto fail;
    }
    f->size = (uint64_t)st.st_size;
    f->mtime_s = (int64_t)st.st_mtim.tv_sec;
    f->mtime_ns = (int64_t)st.st_mtim.tv_nsec;
    if (f->size < 8) {
        rc = mk_fail(err, MK_ERR_INPUT,
                     "%s: file is %llu bytes, too small for the 8-byte header length", path,
                     (unsigned long long)f->size);
        goto fail;
    }
    f->map = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        rc = mk_fail(err, MK_ERR_INPUT, "%s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    f->header_len = le64(f->map);
    if (f->header_len > MK_ST_MAX_HEADER_BYTES) {
        rc = mk_fail(err, MK_ERR_INPUT, "%s: header length %llu exceeds the %llu-byte limit", path,
                     (unsigned long long)f->header_len, MK_ST_MAX_HEADER_BYTES);
        goto fail;
    }
    if (f->header_len > f->size - 8) {
        rc = mk_fail(err, MK_ERR_INPUT,
                     "%s: header length %llu runs past the end of the file (%llu bytes)", path,
                     (unsigned long long)f->header_len, (unsigned long long)f->size);
        goto fail;
    }
    rc = parse_header(f, err);
    if (rc) goto fail;
    *out = f;
    return MK_OK;
fail:
    mk_st_close(f);
    return rc;
}

void mk_st_close(mk_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, (size_t)f->size);
    if (f->fd >= 0) close(f->fd);
    json_decref(f->root);
    free(f->tensors);
    free(f->by_name);
    free(f->path);
    free(f);
}

const char *mk_st_path(const mk_st_file *f) { return f->path; }
size_t mk_st_count(const mk_st_file *f) { return f->n; }
const mk_tensor_info *mk_st_tensor(const mk_st_file *f, size_t i) {
    return i < f->n ? &f->tensors[i] : NULL;
}

const mk_tensor_info *mk_st_find(const mk_st_file *f, const char *name) {
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mk_tensor_info *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const void *mk_st_data(const mk_st_file *f, const mk_tensor_info *t) {
    return f->map + 8 + f->header_len + t->begin;
}

const char *mk_st_metadata(const mk_st_file *f, const char *key) {
    if (!f->meta) return NULL;
    return json_string_value(json_object_get(f->meta, key));
}

uint64_t mk_st_file_bytes(const mk_st_file *f) { return f->size; }
uint64_t mk_st_header_bytes(const mk_st_file *f) { return f->header_len; }

void mk_st_release(const mk_st_file *f, const mk_tensor_info *t, uint64_t off, uint64_t len) {
    long page = sysconf(_SC_PAGESIZE);
    uint64_t start = 8 + f->header_len + t->begin + off;
    uint64_t end = start + len;
    if (end > f->size) end = f->size;
    /* Only whole pages inside the range: a page shared with a neighbour
     * that is still in use would just be faulted back in. */
    uint64_t a = (start + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
    uint64_t b = end / (uint64_t)page * (uint64_t)page;
    if (b > a) madvise(f->map + a, (size_t)(b - a), MADV_DONTNEED);
}
