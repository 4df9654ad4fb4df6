/*
 * Lossless checkpoint archives (see moekit/pack.h; format in docs/formats.md).
 *
 * Why byte planes: in a BF16 weight nearly all the entropy left after zstd's
 * match finding sits in the exponent, which straddles the two bytes of each
 * value.  Moving the sign next to the mantissa makes one plane the pure 8-bit
 * exponent (a few dozen distinct values, ~2.6 bits of entropy) and the other
 * sign+mantissa (close to random); zstd's Huffman literals then code the
 * exponent plane to about a third and store the other nearly raw - the
 * ZipNN / DFloat11 observation, with zstd as the only engine.
 *
 * Work is cut into chunks of at most 4 MiB of input, transformed and
 * compressed in parallel batches (OpenMP), written in order; memory stays at
 * one batch whatever the checkpoint size.
 */
#include "moekit/pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "formats/fileio.h"
#include "moekit/safetensors.h"

#define MAGIC "MKPACK\0\1"
#define FOOTER_MAGIC "MKPACKIX"
#define CHUNK (4u << 20)
#define MAX_INDEX_BYTES (1u << 30)

typedef enum { PLANE_RAW, PLANE_BF16, PLANE_F16, PLANE_F32 } plane_kind;
static const char *const k_planes[] = {"raw", "bf16", "f16", "f32"};

void mk_pack_defaults(mk_pack_opts *o) {
    memset(o, 0, sizeof *o);
    /* Level 1 beats 3 on exponent planes in size as well as speed: short
     * matches found at higher levels cost more than Huffman literals on an
     * 8-bit alphabet with ~2.6 bits of entropy. */
    o->level = 1;
}

bool mk_pack_is_archive(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 32) return false;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    char m[8];
    bool yes = fd >= 0 && read(fd, m, 8) == 8 && memcmp(m, MAGIC, 8) == 0;
    if (fd >= 0) close(fd);
    return yes;
}

/* ---- byte planes ---- */

static void to_planes(plane_kind k, const uint8_t *src, size_t n, uint8_t *dst) {
    if (k == PLANE_BF16) {
        size_t m = n / 2;
        for (size_t i = 0; i < m; i++) {
            uint16_t v = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            dst[i] = (uint8_t)(v >> 7);                                /* exponent */
            dst[m + i] = (uint8_t)(((v >> 8) & 0x80u) | (v & 0x7fu)); /* sign | mantissa */
        }
    } else if (k == PLANE_F16 || k == PLANE_F32) {
        size_t w = k == PLANE_F16 ? 2 : 4, m = n / w;
        for (size_t i = 0; i < m; i++)
            for (size_t b = 0; b < w; b++) dst[(w - 1 - b) * m + i] = src[w * i + b]; /* high byte first */
    } else {
        memcpy(dst, src, n);
    }
}

static void from_planes(plane_kind k, const uint8_t *src, size_t n, uint8_t *dst) {
    if (k == PLANE_BF16) {
        size_t m = n / 2;
        for (size_t i = 0; i < m; i++) {
            uint16_t e = src[i], sm = src[m + i];
            uint16_t v = (uint16_t)((e << 7) | ((sm & 0x80u) << 8) | (sm & 0x7fu));
            dst[2 * i] = (uint8_t)v;
            dst[2 * i + 1] = (uint8_t)(v >> 8);
        }
    } else if (k == PLANE_F16 || k == PLANE_F32) {
        size_t w = k == PLANE_F16 ? 2 : 4, m = n / w;
        for (size_t i = 0; i < m; i++)
            for (size_t b = 0; b < w; b++) dst[w * i + b] = src[(w - 1 - b) * m + i];
    } else {
        memcpy(dst, src, n);
    }
}

/* ---- pack ---- */

typedef struct job {
    int file;               /* index into the file list */
    const uint8_t *src;     /* mapped bytes, or NULL: read from fd at off */
    int fd;
    uint64_t off;
    size_t len;
    plane_kind plane;
    const char *tensor;     /* NULL for headers and plain files */
    const mk_st_file *st;   /* mapped source, to release its pages after use */
    const mk_tensor_info *t;
    uint64_t toff;
    uint64_t off_out;       /* where its frames go in the archive */
    uint8_t *copy;          /* the input bytes of an unmapped job, kept for the file hash */
    /* results */
    uint8_t *out;
    size_t csize;
    uint64_t hash;
    int err;
} job;

typedef struct joblist {
    job *v;
    size_t n, cap;
} joblist;

static int push_job(joblist *l, job j) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        job *g = realloc(l->v, cap * sizeof *g);
        if (!g) return -1;
        l->v = g;
        l->cap = cap;
    }
    l->v[l->n++] = j;
    return 0;
}

static plane_kind plane_of(mk_dtype dt) {
    return dt == MK_DT_BF16 ? PLANE_BF16 : dt == MK_DT_F16 ? PLANE_F16 : dt == MK_DT_F32 ? PLANE_F32 : PLANE_RAW;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_begin(const void *a, const void *b) {
    const mk_tensor_info *x = *(const mk_tensor_info *const *)a, *y = *(const mk_tensor_info *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int mk_pack(const char *src_dir, const char *archive, const mk_pack_opts *o, mk_pack_result *r,
            mk_error *err) {
    memset(r, 0, sizeof *r);
    if (o->threads > 0) omp_set_num_threads(o->threads);
    struct stat st;
    if (stat(src_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mk_fail(err, MK_ERR_INPUT, "%s: not a folder", src_dir);
    if (!o->force && stat(archive, &st) == 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: exists (use --force to replace it)", archive);
    /* The files: every regular file of the folder, sorted. */
    DIR *d = opendir(src_dir);
    if (!d) return mk_fail(err, MK_ERR_INPUT, "%s: cannot list: %s", src_dir, strerror(errno));
    char **names = NULL;
    size_t n_names = 0;
    struct dirent *e;
    int rc = MK_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", src_dir, e->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        char **g = realloc(names, (n_names + 1) * sizeof *g);
        if (!g || !(g[n_names] = strdup(e->d_name))) {
            free(g ? g : names);
            closedir(d);
            return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        }
        names = g;
        n_names++;
    }
    closedir(d);
    if (n_names) qsort(names, n_names, sizeof *names, cmp_names);
    mk_st_file **sts = calloc(n_names ? n_names : 1, sizeof *sts);
    int *fds = malloc((n_names ? n_names : 1) * sizeof *fds);
    uint64_t *sizes = calloc(n_names ? n_names : 1, sizeof *sizes);
    joblist jl = {0};
    if (!sts || !fds || !sizes) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n_names; i++) fds[i] = -1;
    uint64_t total = 0;
    for (size_t i = 0; !rc && i < n_names; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", src_dir, names[i]);
        if (ends_with(names[i], ".safetensors")) {
            rc = mk_st_open(p, &sts[i], err);
            if (rc) break;
            mk_st_file *f = sts[i];
            sizes[i] = mk_st_file_bytes(f);
            /* The 8-byte length and the header, verbatim, read from the file. */
            fds[i] = open(p, O_RDONLY | O_CLOEXEC);
            if (fds[i] < 0) {
                rc = mk_fail(err, MK_ERR_INPUT, "%s: cannot open: %s", p, strerror(errno));
                break;
            }
            uint64_t hdr = 8 + mk_st_header_bytes(f);
            if (push_job(&jl, (job){.file = (int)i, .fd = fds[i], .off = 0, .len = (size_t)hdr, .plane = PLANE_RAW}))
                rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            size_t nt = mk_st_count(f);
            const mk_tensor_info **order = malloc((nt ? nt : 1) * sizeof *order);
            if (!order) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            for (size_t k = 0; !rc && k < nt; k++) order[k] = mk_st_tensor(f, k);
            if (!rc && nt) qsort(order, nt, sizeof *order, cmp_begin);
            for (size_t k = 0; !rc && k < nt; k++) {
                const mk_tensor_info *t = order[k];
                plane_kind pk = plane_of(t->dtype);
                const uint8_t *data = mk_st_data(f, t);
                for (uint64_t off = 0; off < t->end - t->begin; off += CHUNK) {
                    uint64_t len = t->end - t->begin - off < CHUNK ? t->end - t->begin - off : CHUNK;
                    if (push_job(&jl, (job){.file = (int)i, .src = data + off, .fd = -1, .off = hdr + t->begin + off,
                                            .len = (size_t)len, .plane = pk, .tensor = t->name,
                                            .st = f, .t = t, .toff = off})) {
                        rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
                        break;
                    }
                }
            }
            free(order);
        } else {
            fds[i] = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            if (fds[i] < 0 || fstat(fds[i], &st) != 0) {
                rc = mk_fail(err, MK_ERR_INPUT, "%s: cannot open: %s", p, strerror(errno));
                break;
            }
            sizes[i] = (uint64_t)st.st_size;
            for (uint64_t off = 0; off < sizes[i] || (off == 0 && sizes[i] == 0); off += CHUNK) {
                uint64_t len = sizes[i] - off < CHUNK ? sizes[i] - off : CHUNK;
                if (push_job(&jl, (job){.file = (int)i, .fd = fds[i], .off = off, .len = (size_t)len, .plane = PLANE_RAW})) {
                    rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
                    break;
                }
                if (sizes[i] == 0) break;
            }
        }
        total += sizes[i];
    }
    mk_atomic_file af = {.fd = -1};
    if (!rc) rc = mk_atomic_open(&af, archive, err);
    uint64_t pos = 8;
    if (!rc) rc = mk_pwrite_all(af.fd, MAGIC, 8, 0, archive, err);
    json_t *files = json_array();
    json_t **chunk_lists = calloc(n_names ? n_names : 1, sizeof *chunk_lists);
    XXH64_state_t **fhash = calloc(n_names ? n_names : 1, sizeof *fhash);
    for (size_t i = 0; chunk_lists && fhash && i < n_names; i++) {
        chunk_lists[i] = json_array();
        fhash[i] = XXH64_createState();
        if (fhash[i]) XXH64_reset(fhash[i], 0);
        else rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    if (!chunk_lists || !fhash) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    int threads = omp_get_max_threads();
    if (threads < 1) threads = 1;
    size_t batch = (size_t)threads * 2;
    uint64_t done = 0;
    /* Per-thread contexts and buffers, made once: allocating 4 MiB buffers
     * per batch would cost a page fault per page of every chunk. */
    ZSTD_CCtx **ccs = calloc((size_t)threads, sizeof *ccs);
    uint8_t **ins = calloc((size_t)threads, sizeof *ins), **pls = calloc((size_t)threads, sizeof *pls);
    for (int t = 0; ccs && ins && pls && t < threads; t++) {
        ccs[t] = ZSTD_createCCtx();
        ins[t] = malloc(CHUNK);
        pls[t] = malloc(CHUNK);
    }
    for (size_t b0 = 0; !rc && b0 < jl.n; b0 += batch) {
        size_t b1 = b0 + batch < jl.n ? b0 + batch : jl.n;
        #pragma omp parallel num_threads(threads)
        {
            int me = omp_get_thread_num();
            ZSTD_CCtx *cc = ccs ? ccs[me] : NULL;
            uint8_t *in = ins ? ins[me] : NULL, *pl = pls ? pls[me] : NULL;
            #pragma omp for schedule(dynamic)
            for (size_t k = b0; k < b1; k++) {
                job *j = &jl.v[k];
                const uint8_t *src = j->src;
                if (!cc || !in || !pl) {
                    j->err = ENOMEM;
                    continue;
                }
                if (!src) {
                    /* Read into a buffer of its own: the bytes also feed
                     * the file hash, in order, after the batch. */
                    j->copy = malloc(j->len ? j->len : 1);
                    size_t got = 0;
                    while (j->copy && got < j->len) {
                        ssize_t n = pread(j->fd, j->copy + got, j->len - got, (off_t)(j->off + got));
                        if (n <= 0) break;
                        got += (size_t)n;
                    }
                    if (!j->copy || got != j->len) {
                        j->err = j->copy ? EIO : ENOMEM;
                        continue;
                    }
                    src = j->copy;
                }
                (void)in;
                j->hash = XXH64(src, j->len, 0);
                to_planes(j->plane, src, j->len, pl);
                /* Planar dtypes: the first plane (exponent, or high byte)
                 * and the rest are separate zstd frames, back to back.  The
                 * rest is near-random mantissa: level 1 stores it as raw
                 * blocks at memory speed; the exponent plane gets the
                 * chosen level.  One decompress call reads both frames. */
                size_t first = j->plane == PLANE_BF16 || j->plane == PLANE_F16 ? j->len / 2
                               : j->plane == PLANE_F32 ? j->len / 4 : j->len;
                size_t cap = ZSTD_compressBound(first) + ZSTD_compressBound(j->len - first);
                j->out = malloc(cap ? cap : 1);
                if (!j->out) {
                    j->err = ENOMEM;
                    continue;
                }
                size_t c1 = ZSTD_compressCCtx(cc, j->out, cap, pl, first, o->level);
                size_t c2 = 0;
                if (!ZSTD_isError(c1) && first < j->len)
                    c2 = ZSTD_compressCCtx(cc, j->out + c1, cap - c1, pl + first, j->len - first, 1);
                if (ZSTD_isError(c1) || ZSTD_isError(c2)) j->err = EIO;
                else j->csize = c1 + c2;
            }
        }
        /* Archive offsets of this batch, then the writes in parallel too:
         * copying into the page cache is a large share of the work. */
        uint64_t at = pos;
        for (size_t k = b0; k < b1; k++) {
            jl.v[k].off_out = at;
            at += jl.v[k].err ? 0 : jl.v[k].csize;
        }
        #pragma omp parallel for num_threads(threads) schedule(dynamic)
        for (size_t k = b0; k < b1; k++) {
            job *j = &jl.v[k];
            if (j->err || !j->out) continue;
            const uint8_t *w = j->out;
            size_t left = j->csize;
            uint64_t o2 = j->off_out;
            while (left > 0) {
                ssize_t n = pwrite(af.fd, w, left, (off_t)o2);
                if (n <= 0) break;
                w += n;
                left -= (size_t)n;
                o2 += (uint64_t)n;
            }
            if (left) j->err = EIO;
        }
        for (size_t k = b0; k < b1 && !rc; k++) {
            job *j = &jl.v[k];
            if (j->err) {
                rc = mk_fail(err, j->err == ENOMEM ? MK_ERR_INTERNAL : MK_ERR_INPUT, "%s/%s: cannot read or compress at offset %llu",
                             src_dir, names[j->file], (unsigned long long)j->off);
                break;
            }
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)j->hash);
            json_t *c = json_pack("{s:I, s:I, s:I, s:s, s:s}", "offset", (json_int_t)pos, "csize",
                                  (json_int_t)j->csize, "usize", (json_int_t)j->len, "xxh64", hex, "plane",
                                  k_planes[j->plane]);
            if (j->tensor) json_object_set_new(c, "tensor", json_string(j->tensor));
            json_array_append_new(chunk_lists[j->file], c);
            /* Jobs of a file come in file order and tile it: one pass
             * hashes the whole file. */
            XXH64_update(fhash[j->file], j->src ? j->src : j->copy, j->len);
            pos += j->csize;
            done += j->len;
            r->chunks++;
            free(j->out);
            j->out = NULL;
            if (o->progress) o->progress(done, total, o->ctx);
        }
        for (size_t k = b0; k < b1; k++) {
            free(jl.v[k].out);
            jl.v[k].out = NULL;
            free(jl.v[k].copy);
            jl.v[k].copy = NULL;
            /* Mapped pages read by this batch leave the resident set. */
            if (jl.v[k].st) mk_st_release(jl.v[k].st, jl.v[k].t, jl.v[k].toff, jl.v[k].len);
        }
    }
    for (int t = 0; ccs && ins && pls && t < threads; t++) {
        ZSTD_freeCCtx(ccs[t]);
        free(ins[t]);
        free(pls[t]);
    }
    free(ccs);
    free(ins);
    free(pls);
    /* Whole-file hashes, and a check that no source changed meanwhile. */
    for (size_t i = 0; !rc && i < n_names; i++) {
        char p[PATH_MAX], hex[17];
        snprintf(p, sizeof p, "%s/%s", src_dir, names[i]);
        if (sts[i]) {
            rc = mk_st_check_unchanged(sts[i], err);
        } else if (fstat(fds[i], &st) != 0 || (uint64_t)st.st_size != sizes[i]) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: changed while being packed", p);
        }
        if (rc) break;
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH64_digest(fhash[i]));
        json_array_append_new(files, json_pack("{s:s, s:I, s:s, s:s, s:O}", "name", names[i], "bytes",
                                               (json_int_t)sizes[i], "xxh64", hex, "kind",
                                               sts[i] ? "safetensors" : "raw", "chunks", chunk_lists[i]));
    }
    if (!rc) {
        json_t *idx = json_pack("{s:s, s:i, s:i, s:o}", "format", "moekit-pack", "version", 1, "chunk_bytes",
                                (int)CHUNK, "files", json_incref(files));
        char *text = json_dumps(idx, JSON_COMPACT);
        json_decref(idx);
        size_t cap = text ? ZSTD_compressBound(strlen(text)) : 0;
        uint8_t *z = text ? malloc(cap) : NULL;
        size_t zs = z ? ZSTD_compress(z, cap, text, strlen(text), 19) : 0;
        if (!z || ZSTD_isError(zs)) rc = mk_fail(err, MK_ERR_INTERNAL, "cannot compress the index");
        if (!rc) rc = mk_pwrite_all(af.fd, z, zs, pos, archive, err);
        uint8_t foot[24];
        for (int b = 0; b < 8; b++) {
            foot[b] = (uint8_t)(pos >> (8 * b));
            foot[8 + b] = (uint8_t)((uint64_t)zs >> (8 * b));
        }
        memcpy(foot + 16, FOOTER_MAGIC, 8);
        if (!rc) rc = mk_pwrite_all(af.fd, foot, 24, pos + zs, archive, err);
        r->bytes_out = pos + zs + 24;
        free(z);
        free(text);
    }
    if (!rc) rc = mk_atomic_commit(&af, err);
    else if (af.fd >= 0 || af.tmp_path[0]) mk_atomic_abort(&af);
    r->files = n_names;
    r->bytes_in = total;
    json_decref(files);
    for (size_t i = 0; i < n_names; i++) {
        if (fhash && fhash[i]) XXH64_freeState(fhash[i]);
        if (chunk_lists) json_decref(chunk_lists[i]);
        if (sts[i]) mk_st_close(sts[i]);
        if (fds[i] >= 0) close(fds[i]);
        free(names[i]);
    }
    free(chunk_lists);
    free(fhash);
    free(names);
    free(sts);
    free(fds);
    free(sizes);
    for (size_t k = 0; k < jl.n; k++) {
        free(jl.v[k].out);
        free(jl.v[k].copy);
    }
    free(jl.v);
    return rc;
}

/* ---- unpack ---- */

typedef struct chunk {
    uint64_t off, csize, usize, hash;
    plane_kind plane;
} chunk;

typedef struct entry {
    const char *name;
    uint64_t bytes, hash;
    chunk *chunks;
    size_t n;
} entry;

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static bool hex64(const char *s, uint64_t *out) {
    if (!s || strlen(s) != 16) return false;
    char *end;
    *out = strtoull(s, &end, 16);
    return *end == '\0';
}

static bool uint_field(json_t *o, const char *k, uint64_t *out) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Reads and checks the index: every offset inside the archive, every size
 * bounded, every name a plain file name. */
static int read_index(int fd, const char *archive, uint64_t size, json_t **root, entry **ents, size_t *n_ents,
                      mk_error *err) {
    uint8_t head[8], foot[24];
    if (pread(fd, head, 8, 0) != 8 || memcmp(head, MAGIC, 8) != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: not a moekit pack (bad magic)", archive);
    if (pread(fd, foot, 24, (off_t)(size - 24)) != 24 || memcmp(foot + 16, FOOTER_MAGIC, 8) != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: truncated or damaged: no index footer", archive);
    uint64_t ioff = le64(foot), isz = le64(foot + 8);
    if (ioff < 8 || isz > MAX_INDEX_BYTES || ioff > size - 24 || isz != size - 24 - ioff)
        return mk_fail(err, MK_ERR_INPUT, "%s: damaged: index at %llu (+%llu) does not fit the file", archive,
                       (unsigned long long)ioff, (unsigned long long)isz);
    uint8_t *z = malloc(isz ? isz : 1);
    if (!z) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    if (pread(fd, z, isz, (off_t)ioff) != (ssize_t)isz) {
        free(z);
        return mk_fail(err, MK_ERR_INPUT, "%s: cannot read the index", archive);
    }
    unsigned long long usz = ZSTD_getFrameContentSize(z, isz);
    if (usz == ZSTD_CONTENTSIZE_ERROR || usz == ZSTD_CONTENTSIZE_UNKNOWN || usz > MAX_INDEX_BYTES) {
        free(z);
        return mk_fail(err, MK_ERR_INPUT, "%s: damaged index frame", archive);
    }
    char *text = malloc(usz + 1);
    size_t got = text ? ZSTD_decompress(text, usz, z, isz) : 0;
    free(z);
    if (!text || ZSTD_isError(got) || got != usz) {
        free(text);
        return mk_fail(err, MK_ERR_INPUT, "%s: damaged index frame", archive);
    }
    json_error_t je;
    *root = json_loadb(text, got, JSON_REJECT_DUPLICATES, &je);
    free(text);
    json_t *files = json_object_get(*root, "files");
    const char *fmt = json_string_value(json_object_get(*root, "format"));
    if (!*root || !fmt || strcmp(fmt, "moekit-pack") != 0 || !json_is_array(files) ||
        json_integer_value(json_object_get(*root, "version")) != 1)
        return mk_fail(err, MK_ERR_INPUT, "%s: damaged or unsupported index", archive);
    *n_ents = json_array_size(files);
    *ents = calloc(*n_ents ? *n_ents : 1, sizeof **ents);
    if (!*ents) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < *n_ents; i++) {
        json_t *f = json_array_get(files, i), *cs = json_object_get(f, "chunks");
        entry *en = &(*ents)[i];
        en->name = json_string_value(json_object_get(f, "name"));
        if (!en->name || !*en->name || en->name[0] == '.' || strchr(en->name, '/') || !json_is_array(cs) ||
            !uint_field(f, "bytes", &en->bytes) || !hex64(json_string_value(json_object_get(f, "xxh64")), &en->hash))
            return mk_fail(err, MK_ERR_INPUT, "%s: index entry %zu is damaged", archive, i);
        for (size_t k = 0; k < i; k++)
            if (strcmp((*ents)[k].name, en->name) == 0)
                return mk_fail(err, MK_ERR_INPUT, "%s: '%s' listed twice", archive, en->name);
        en->n = json_array_size(cs);
        en->chunks = calloc(en->n ? en->n : 1, sizeof *en->chunks);
        if (!en->chunks) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        uint64_t sum = 0;
        for (size_t k = 0; k < en->n; k++) {
            json_t *c = json_array_get(cs, k);
            chunk *ch = &en->chunks[k];
            const char *pl = json_string_value(json_object_get(c, "plane"));
            int pk = -1;
            for (int p = 0; pl && p < 4; p++)
                if (strcmp(pl, k_planes[p]) == 0) pk = p;
            if (!uint_field(c, "offset", &ch->off) || !uint_field(c, "csize", &ch->csize) ||
                !uint_field(c, "usize", &ch->usize) || !hex64(json_string_value(json_object_get(c, "xxh64")), &ch->hash) ||
                pk < 0 || ch->off < 8 || ch->csize > ioff || ch->off > ioff - ch->csize || ch->usize > CHUNK ||
                (pk == PLANE_BF16 && ch->usize % 2) || (pk == PLANE_F16 && ch->usize % 2) || (pk == PLANE_F32 && ch->usize % 4))
                return mk_fail(err, MK_ERR_INPUT, "%s: chunk table of '%s' is damaged (chunk %zu)", archive, en->name, k);
            ch->plane = (plane_kind)pk;
            sum += ch->usize;
        }
        if (sum != en->bytes)
            return mk_fail(err, MK_ERR_INPUT, "%s: chunk table of '%s' covers %llu of %llu bytes", archive, en->name,
                           (unsigned long long)sum, (unsigned long long)en->bytes);
    }
    return MK_OK;
}

int mk_unpack(const char *archive, const char *dir, const mk_pack_opts *o, mk_pack_result *r, mk_error *err) {
    memset(r, 0, sizeof *r);
    if (o->threads > 0) omp_set_num_threads(o->threads);
    int fd = open(archive, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0) return mk_fail(err, MK_ERR_INPUT, "%s: cannot open: %s", archive, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 32) {
        close(fd);
        return mk_fail(err, MK_ERR_INPUT, "%s: not a moekit pack", archive);
    }
    json_t *root = NULL;
    entry *ents = NULL;
    size_t n = 0;
    int rc = read_index(fd, archive, (uint64_t)st.st_size, &root, &ents, &n, err);
    if (!rc) rc = mk_mkdir(dir, err);
    /* Every file is written under a temporary name and published only when
     * all of them decoded and verified: a damaged archive leaves nothing. */
    mk_atomic_file *out = calloc(n ? n : 1, sizeof *out);
    bool *sel = calloc(n ? n : 1, sizeof *sel);
    if (!rc && (!out || !sel)) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    uint64_t total = 0, done = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        out[i].fd = -1;
        sel[i] = !o->only || fnmatch(o->only, ents[i].name, 0) == 0;
        if (!sel[i]) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, ents[i].name);
        if (!o->force && access(p, F_OK) == 0) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: exists (use --force to replace it)", p);
            break;
        }
        total += ents[i].bytes;
    }
    if (!rc && o->only && total == 0) {
        bool any = false;
        for (size_t i = 0; i < n; i++) any |= sel[i];
        if (!any) rc = mk_fail(err, MK_ERR_INPUT, "%s: no file matches '%s'", archive, o->only);
    }
    /* Per-thread decoders and buffers, made once. */
    int threads = omp_get_max_threads();
    if (threads < 1) threads = 1;
    size_t nbuf = (size_t)threads * 2;
    ZSTD_DCtx **dcs = calloc((size_t)threads, sizeof *dcs);
    uint8_t **zs = calloc((size_t)threads, sizeof *zs), **pls = calloc((size_t)threads, sizeof *pls);
    uint8_t **bufs = calloc(nbuf, sizeof *bufs);
    int *bad = calloc(nbuf, sizeof *bad);
    bool ready = dcs && zs && pls && bufs && bad;
    for (int t = 0; ready && t < threads; t++) {
        dcs[t] = ZSTD_createDCtx();
        zs[t] = malloc(CHUNK + CHUNK / 8 + 1024);
        pls[t] = malloc(CHUNK);
        ready = dcs[t] && zs[t] && pls[t];
    }
    for (size_t k = 0; ready && k < nbuf; k++) ready = (bufs[k] = malloc(CHUNK)) != NULL;
    if (!rc && !ready) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!sel[i]) continue;
        entry *en = &ents[i];
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, en->name);
        rc = mk_atomic_open(&out[i], p, err);
        if (rc) break;
        XXH64_state_t *hs = XXH64_createState();
        XXH64_reset(hs, 0);
        uint64_t pos = 0;
        /* offs[k]: where chunk k starts in the file. */
        uint64_t *offs = malloc((en->n + 1) * sizeof *offs);
        if (!offs) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
        if (offs) offs[0] = 0;
        for (size_t k = 0; offs && k < en->n; k++) offs[k + 1] = offs[k] + en->chunks[k].usize;
        size_t batch = (size_t)threads * 2;
        for (size_t b0 = 0; !rc && b0 < en->n; b0 += batch) {
            size_t b1 = b0 + batch < en->n ? b0 + batch : en->n;
            #pragma omp parallel num_threads(threads)
            {
                int me = omp_get_thread_num();
                ZSTD_DCtx *dc = dcs[me];
                uint8_t *z = zs[me], *pl = pls[me];
                #pragma omp for schedule(dynamic)
                for (size_t k = b0; k < b1; k++) {
                    chunk *ch = &en->chunks[k];
                    uint8_t *dst = bufs[k - b0];
                    bad[k - b0] = 0;
                    if (!dc || !z || !pl || !dst || ch->csize > CHUNK + CHUNK / 8 + 1024) {
                        bad[k - b0] = 1;
                        continue;
                    }
                    if (pread(fd, z, ch->csize, (off_t)ch->off) != (ssize_t)ch->csize) {
                        bad[k - b0] = 2;
                        continue;
                    }
                    size_t got = ZSTD_decompressDCtx(dc, pl, CHUNK, z, ch->csize);
                    if (ZSTD_isError(got) || got != ch->usize) {
                        bad[k - b0] = 2;
                        continue;
                    }
                    from_planes(ch->plane, pl, got, dst);
                    if (XXH64(dst, got, 0) != ch->hash) {
                        bad[k - b0] = 3;
                        continue;
                    }
                    /* Each thread writes its own chunk at its place: the copy
                     * into the page cache is the largest cost of unpacking. */
                    const uint8_t *w = dst;
                    size_t left = got;
                    uint64_t at = pos + (offs[k] - offs[b0]);
                    while (left > 0) {
                        ssize_t n = pwrite(out[i].fd, w, left, (off_t)at);
                        if (n <= 0) break;
                        w += n;
                        left -= (size_t)n;
                        at += (uint64_t)n;
                    }
                    if (left) bad[k - b0] = 4;
                }
            }
            for (size_t k = b0; k < b1 && !rc; k++) {
                chunk *ch = &en->chunks[k];
                if (bad[k - b0] == 4)
                    rc = mk_fail(err, MK_ERR_INTERNAL, "%s: write failed: %s", p, strerror(errno));
                else if (bad[k - b0])
                    rc = mk_fail(err, bad[k - b0] == 1 ? MK_ERR_INTERNAL : MK_ERR_INPUT,
                                 "%s: chunk %zu of '%s' at offset %llu is damaged (%s)", archive, k, en->name,
                                 (unsigned long long)ch->off,
                                 bad[k - b0] == 3 ? "xxh64 mismatch" : bad[k - b0] == 2 ? "bad zstd frame" : "out of memory");
                if (!rc) {
                    XXH64_update(hs, bufs[k - b0], (size_t)ch->usize);
                    pos += ch->usize;
                    done += ch->usize;
                    r->chunks++;
                    if (o->progress) o->progress(done, total, o->ctx);
                }
            }
        }
        free(offs);
        uint64_t h = XXH64_digest(hs);
        XXH64_freeState(hs);
        if (!rc && h != en->hash)
            rc = mk_fail(err, MK_ERR_INPUT, "%s: '%s' decodes to a different file (xxh64 mismatch)", archive, en->name);
        r->files++;
        r->bytes_out += en->bytes;
    }
    for (size_t i = 0; i < n; i++) {
        if (!sel || !sel[i] || !out || out[i].fd < 0) continue;
        if (!rc) rc = mk_atomic_commit(&out[i], err);
        else mk_atomic_abort(&out[i]);
    }
    for (int t = 0; dcs && zs && pls && t < threads; t++) {
        ZSTD_freeDCtx(dcs[t]);
        free(zs[t]);
        free(pls[t]);
    }
    for (size_t k = 0; bufs && k < nbuf; k++) free(bufs[k]);
    free(dcs);
    free(zs);
    free(pls);
    free(bufs);
    free(bad);
    r->bytes_in = (uint64_t)st.st_size;
    for (size_t i = 0; ents && i < n; i++) free(ents[i].chunks);
    free(ents);
    free(out);
    free(sel);
    json_decref(root);
    close(fd);
    return rc;
}
