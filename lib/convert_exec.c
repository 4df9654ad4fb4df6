/*
 * Conversion execution: writes one planned output file (see convert_impl.h).
 *
 * Weights are processed in bands of 128 rows - one FP8 block row - in
 * parallel (OpenMP), each band read straight from the source mapping (or,
 * for a DeepSeek FP8 source, dequantized into a per-thread F32 buffer),
 * quantized into a per-thread buffer, written with pwrite at its final
 * offset, and its source pages released.  Memory therefore stays at a few
 * bands per thread whatever the checkpoint size; no buffer grows with a
 * tensor or a file.
 */
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/convert_impl.h"
#include "moekit/kernels.h"
#include "moekit/quant.h"

#define BAND_ROWS MK_BLOCK
#define FLAT_CHUNK (1u << 20)         /* elements per chunk of 1-D work */
#define COPY_CHUNK (64ull << 20)      /* bytes per chunk of a verbatim copy */

typedef struct exec {
    const mk_plan *p;
    const mk_kernels *K;
    mk_st_writer *w;
    _Atomic uint64_t *done;
    uint64_t total;
    mk_stat_acc *stats; /* per plan item, or NULL */
} exec;

/* Adds the error of n codes (dequantized with `scale`) against their source
 * to `acc`: both sides are decoded with the same kernels the pipeline uses. */
static void add_error(const mk_kernels *K, mk_dtype sdt, const void *src, mk_dtype qdt,
                      const void *codes, size_t n, float scale, mk_stat_acc *acc) {
    float a[256], b[256];
    size_t ssz = mk_dtype_size(sdt), qsz = mk_dtype_size(qdt);
    for (size_t i = 0; i < n; i += 256) {
        size_t len = n - i < 256 ? n - i : 256;
        K->dequant(sdt, (const uint8_t *)src + i * ssz, len, 1.0f, a);
        K->dequant(qdt, (const uint8_t *)codes + i * qsz, len, scale, b);
        for (size_t j = 0; j < len; j++) {
            double x = a[j], d = x - (double)b[j];
            acc->sig += x * x;
            acc->err += d * d;
            if (fabs(d) > acc->max) acc->max = fabs(d);
        }
        acc->n += len;
    }
}

static void merge_error(exec *x, const mk_plan_item *it, const mk_stat_acc *band) {
    mk_stat_acc *t = &x->stats[it - x->p->items];
    #pragma omp critical(mk_stats)
    {
        t->sig += band->sig;
        t->err += band->err;
        if (band->max > t->max) t->max = band->max;
        t->n += band->n;
    }
}

static void tick(exec *x, uint64_t bytes) {
    uint64_t d = atomic_fetch_add(x->done, bytes) + bytes;
    if (x->p->opts.progress && omp_get_thread_num() == 0)
        x->p->opts.progress(d, x->total, x->p->opts.ctx);
}

static int nonfinite(const mk_plan_item *it, int64_t r0, int64_t r1, mk_error *err) {
    return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': NaN or Inf in rows %lld-%lld",
                   mk_st_path(it->src_file), it->src_name, (long long)r0, (long long)r1 - 1);
}

/* Rows [r0, r1) of a 2-D source in a form the kernels read: a pointer into
 * the mapping, or F32 rows dequantized into `buf` (W = q * scale_inv per
 * block, DeepSeek's weight_dequant). */
static const void *load_rows(const exec *x, const mk_plan_item *it, int64_t r0, int64_t r1,
                             float *buf, mk_dtype *dt) {
    const mk_tensor_info *t = it->src;
    int64_t cols = t->shape[1];
    const uint8_t *base = mk_st_data(it->src_file, t);
    if (!it->scale_inv) {
        *dt = t->dtype;
        return base + (uint64_t)r0 * (uint64_t)cols * mk_dtype_size(t->dtype);
    }
    const float *sinv = mk_st_data(it->scale_file, it->scale_inv);
    int64_t bn = x->p->src_block_n, bk = x->p->src_block_k, nkb = it->scale_inv->shape[1];
    for (int64_t r = r0; r < r1; r++)
        for (int64_t jb = 0; jb < nkb; jb++) {
            int64_t c0 = jb * bk, len = cols - c0 < bk ? cols - c0 : bk;
            x->K->dequant(MK_DT_F8_E4M3, base + r * cols + c0, (size_t)len,
                          sinv[(r / bn) * nkb + jb], buf + (r - r0) * cols + c0);
        }
    *dt = MK_DT_F32;
    return buf;
}

static void release_rows(const mk_plan_item *it, int64_t r0, int64_t r1) {
    uint64_t row = (uint64_t)it->src->shape[1] * mk_dtype_size(it->src->dtype);
    mk_st_release(it->src_file, it->src, (uint64_t)r0 * row, (uint64_t)(r1 - r0) * row);
}

static uint16_t scale_store(mk_dtype dt, float s, float *used) {
    uint16_t h = dt == MK_DT_F16 ? mk_f32_to_f16(s) : mk_f32_to_bf16(s);
    float back = dt == MK_DT_F16 ? mk_f16_to_f32(h) : mk_bf16_to_f32(h);
    if (!(back > 0.0f)) { /* underflowed: smallest positive value of the dtype */
        h = 1;
        back = dt == MK_DT_F16 ? mk_f16_to_f32(h) : mk_bf16_to_f32(h);
    }
    *used = back;
    return h;
}

typedef struct band_bufs {
    float *f32;     /* dequantized source rows (FP8 sources) */
    uint8_t *out;   /* quantized rows, or packed words */
    uint8_t *scale; /* this band's scales */
    int8_t *q;      /* one row of INT8 codes (int8-group) */
} band_bufs;

static void free_bufs(band_bufs *b) {
    free(b->f32);
    free(b->out);
    free(b->scale);
    free(b->q);
}

static int alloc_bufs(const mk_plan_item *it, band_bufs *b) {
    int64_t cols = it->src->shape[1];
    size_t rows = BAND_ROWS;
    memset(b, 0, sizeof *b);
    if (it->scale_inv) b->f32 = malloc(rows * (size_t)cols * sizeof(float));
    size_t words = (size_t)(cols + 3) / 4;
    b->out = malloc(rows * (it->scheme == MK_SCHEME_INT8_GROUP ? words * 4 : (size_t)cols) + 1);
    size_t groups = (size_t)(cols + MK_BLOCK - 1) / MK_BLOCK;
    b->scale = malloc(rows * groups * sizeof(float) + sizeof(float));
    b->q = malloc((size_t)cols + 4);
    return (it->scale_inv && !b->f32) || !b->out || !b->scale || !b->q ? -1 : 0;
}

/* One band of a quantized weight; writes the codes and the band's scales. */
static int quant_band(exec *x, const mk_plan_item *it, const long *idx, int64_t band, float tensor_scale,
                      band_bufs *b, mk_error *err) {
    const mk_kernels *K = x->K;
    int64_t N = it->src->shape[0], cols = it->src->shape[1];
    int64_t r0 = band * BAND_ROWS, r1 = r0 + BAND_ROWS < N ? r0 + BAND_ROWS : N, rows = r1 - r0;
    mk_dtype dt;
    const uint8_t *src = load_rows(x, it, r0, r1, b->f32, &dt);
    size_t esz = mk_dtype_size(dt);
    int64_t nkb = (cols + MK_BLOCK - 1) / MK_BLOCK;
    int rc = MK_OK;
    mk_stat_acc stat = {0, 0, 0, 0};
    switch (it->scheme) {
    case MK_SCHEME_FP8_BLOCK: {
        uint32_t acc[nkb > 0 ? nkb : 1];
        float *sc = (float *)b->scale;
        memset(acc, 0, sizeof acc);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < nkb; j++) {
                int64_t c0 = j * MK_BLOCK, len = cols - c0 < MK_BLOCK ? cols - c0 : MK_BLOCK;
                acc[j] = K->absmax(dt, src + ((uint64_t)r * (uint64_t)cols + (uint64_t)c0) * esz,
                                   (size_t)len, acc[j]);
            }
        for (int64_t j = 0; j < nkb; j++) {
            if (acc[j] >= MK_ABS_NONFINITE) return nonfinite(it, r0, r1, err);
            sc[j] = mk_fp8_scale(acc[j]);
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < nkb; j++) {
                int64_t c0 = j * MK_BLOCK, len = cols - c0 < MK_BLOCK ? cols - c0 : MK_BLOCK;
                uint64_t e = (uint64_t)r * (uint64_t)cols + (uint64_t)c0;
                K->quant_e4m3(dt, src + e * esz, (size_t)len, sc[j], b->out + e);
                if (x->stats)
                    add_error(K, dt, src + e * esz, MK_DT_F8_E4M3, b->out + e, (size_t)len, sc[j], &stat);
            }
        rc = mk_st_writer_write(x->w, (size_t)idx[0], (uint64_t)r0 * (uint64_t)cols, b->out,
                                (size_t)(rows * cols), err);
        if (!rc)
            rc = mk_st_writer_write(x->w, (size_t)idx[1], (uint64_t)band * (uint64_t)nkb * 4, sc,
                                    (size_t)nkb * 4, err);
        break;
    }
    case MK_SCHEME_FP8_TENSOR:
        for (int64_t r = 0; r < rows; r++) {
            uint64_t e = (uint64_t)r * (uint64_t)cols;
            K->quant_e4m3(dt, src + e * esz, (size_t)cols, tensor_scale, b->out + e);
            if (x->stats)
                add_error(K, dt, src + e * esz, MK_DT_F8_E4M3, b->out + e, (size_t)cols, tensor_scale, &stat);
        }
        rc = mk_st_writer_write(x->w, (size_t)idx[0], (uint64_t)r0 * (uint64_t)cols, b->out,
                                (size_t)(rows * cols), err);
        break;
    case MK_SCHEME_FP8_CHANNEL:
    case MK_SCHEME_INT8_CHANNEL: {
        float *sc = (float *)b->scale;
        bool fp8 = it->scheme == MK_SCHEME_FP8_CHANNEL;
        for (int64_t r = 0; r < rows; r++) {
            uint64_t e = (uint64_t)r * (uint64_t)cols;
            uint32_t a = K->absmax(dt, src + e * esz, (size_t)cols, 0);
            if (a >= MK_ABS_NONFINITE) return nonfinite(it, r0 + r, r0 + r + 1, err);
            sc[r] = fp8 ? mk_fp8_scale(a) : mk_int8_scale(a);
            if (fp8)
                K->quant_e4m3(dt, src + e * esz, (size_t)cols, sc[r], b->out + e);
            else
                K->quant_int8(dt, src + e * esz, (size_t)cols, sc[r], (int8_t *)b->out + e);
            if (x->stats)
                add_error(K, dt, src + e * esz, fp8 ? MK_DT_F8_E4M3 : MK_DT_I8, b->out + e,
                          (size_t)cols, sc[r], &stat);
        }
        rc = mk_st_writer_write(x->w, (size_t)idx[0], (uint64_t)r0 * (uint64_t)cols, b->out,
                                (size_t)(rows * cols), err);
        if (!rc)
            rc = mk_st_writer_write(x->w, (size_t)idx[1], (uint64_t)r0 * 4, sc, (size_t)rows * 4, err);
        break;
    }
    case MK_SCHEME_INT8_GROUP: {
        /* Scales are stored in the model dtype (compressed-tensors, vLLM
         * WNA16), so the codes are computed with the stored, rounded scale:
         * dequantization q * scale then uses exactly the scale quantization
         * used. */
        mk_dtype sdt = it->out[1].dtype;
        size_t ssz = mk_dtype_size(sdt);
        int64_t words = (cols + 3) / 4;
        uint32_t *packed = (uint32_t *)b->out;
        for (int64_t r = 0; r < rows; r++) {
            uint64_t e = (uint64_t)r * (uint64_t)cols;
            for (int64_t g = 0; g < nkb; g++) {
                int64_t c0 = g * MK_BLOCK, len = cols - c0 < MK_BLOCK ? cols - c0 : MK_BLOCK;
                uint32_t a = K->absmax(dt, src + (e + (uint64_t)c0) * esz, (size_t)len, 0);
                if (a >= MK_ABS_NONFINITE) return nonfinite(it, r0 + r, r0 + r + 1, err);
                float s = mk_int8_scale(a), used = s;
                uint8_t *slot = b->scale + ((uint64_t)r * (uint64_t)nkb + (uint64_t)g) * ssz;
                if (sdt == MK_DT_F32) {
                    memcpy(slot, &s, 4);
                } else {
                    uint16_t h = scale_store(sdt, s, &used);
                    memcpy(slot, &h, 2);
                }
                K->quant_int8(dt, src + (e + (uint64_t)c0) * esz, (size_t)len, used, b->q + c0);
                if (x->stats)
                    add_error(K, dt, src + (e + (uint64_t)c0) * esz, MK_DT_I8, b->q + c0, (size_t)len,
                              used, &stat);
            }
            /* compressed-tensors pack_to_int32: code + 128 as a byte, four
             * per little-endian int32, element 4j+t in bits 8t..8t+7; the
             * padding past K is zero. */
            for (int64_t j = 0; j < words; j++) {
                uint32_t word = 0;
                for (int t = 0; t < 4; t++) {
                    int64_t c = 4 * j + t;
                    uint32_t byte = c < cols ? (uint32_t)(uint8_t)(b->q[c] + 128) : 0u;
                    word |= byte << (8 * t);
                }
                packed[r * words + j] = word;
            }
        }
        rc = mk_st_writer_write(x->w, (size_t)idx[0], (uint64_t)r0 * (uint64_t)words * 4, packed,
                                (size_t)(rows * words) * 4, err);
        if (!rc)
            rc = mk_st_writer_write(x->w, (size_t)idx[1], (uint64_t)r0 * (uint64_t)nkb * ssz,
                                    b->scale, (size_t)(rows * nkb) * ssz, err);
        break;
    }
    default: rc = mk_fail(err, MK_ERR_INTERNAL, "scheme %d is not a quantization", it->scheme);
    }
    if (x->stats) merge_error(x, it, &stat);
    release_rows(it, r0, r1);
    tick(x, (uint64_t)rows * (uint64_t)cols * mk_dtype_size(it->src->dtype));
    return rc;
}

/* Runs fn over all bands in parallel; the first error wins. */
#define PARALLEL_BANDS(n_bands, body)                                          \
    do {                                                                       \
        _Pragma("omp parallel")                                                \
        {                                                                      \
            band_bufs b;                                                       \
            mk_error local = {0};                                              \
            int lrc = alloc_bufs(it, &b) ? mk_fail(&local, MK_ERR_INTERNAL, "out of memory") : MK_OK; \
            _Pragma("omp for schedule(dynamic)")                               \
            for (int64_t band = 0; band < (n_bands); band++) {                 \
                if (lrc || atomic_load(&failed)) continue;                     \
                lrc = (body);                                                  \
                if (lrc) atomic_store(&failed, 1);                             \
            }                                                                  \
            _Pragma("omp critical")                                            \
            if (lrc && rc == MK_OK) {                                          \
                rc = lrc;                                                      \
                *err = local;                                                  \
            }                                                                  \
            free_bufs(&b);                                                     \
        }                                                                      \
    } while (0)

static int exec_quant(exec *x, const mk_plan_item *it, const long *idx, mk_error *err) {
    int64_t N = it->src->shape[0], cols = it->src->shape[1];
    int64_t n_bands = (N + BAND_ROWS - 1) / BAND_ROWS;
    int rc = MK_OK;
    _Atomic int failed = 0;
    float tensor_scale = 1.0f;
    if (it->scheme == MK_SCHEME_FP8_TENSOR) {
        /* One scale for the whole tensor: a first pass for its amax. */
        _Atomic uint32_t amax = 0;
        PARALLEL_BANDS(n_bands, ({
            int64_t r0 = band * BAND_ROWS, r1 = r0 + BAND_ROWS < N ? r0 + BAND_ROWS : N;
            mk_dtype dt;
            const void *src = load_rows(x, it, r0, r1, b.f32, &dt);
            uint32_t a = x->K->absmax(dt, src, (size_t)((r1 - r0) * cols), 0);
            uint32_t cur = atomic_load(&amax);
            while (a > cur && !atomic_compare_exchange_weak(&amax, &cur, a)) {}
            release_rows(it, r0, r1);
            a >= MK_ABS_NONFINITE ? nonfinite(it, r0, r1, &local) : MK_OK;
        }));
        if (rc) return rc;
        tensor_scale = mk_fp8_scale(atomic_load(&amax));
        rc = mk_st_writer_write(x->w, (size_t)idx[1], 0, &tensor_scale, 4, err);
        if (rc) return rc;
    }
    if (it->scheme == MK_SCHEME_INT8_GROUP) {
        int64_t shape[2] = {N, cols};
        rc = mk_st_writer_write(x->w, (size_t)idx[2], 0, shape, sizeof shape, err);
        if (rc) return rc;
    }
    PARALLEL_BANDS(n_bands, quant_band(x, it, idx, band, tensor_scale, &b, &local));
    return rc;
}

static void to_dtype(mk_dtype dt, const float *src, size_t n, void *dst) {
    if (dt == MK_DT_BF16)
        mk_f32_to_bf16_row(src, dst, n);
    else if (dt == MK_DT_F16)
        mk_f32_to_f16_row(src, dst, n);
    else
        memcpy(dst, src, n * sizeof(float));
}

/* Dequantize (FP8 source) or convert between float dtypes. */
static int exec_cast(exec *x, const mk_plan_item *it, long idx, mk_error *err) {
    const mk_tensor_info *t = it->src;
    mk_dtype od = it->out_dtype;
    size_t osz = mk_dtype_size(od);
    int rc = MK_OK;
    if (it->scale_inv) {
        int64_t N = t->shape[0], cols = t->shape[1];
        int64_t n_bands = (N + BAND_ROWS - 1) / BAND_ROWS;
        _Atomic int failed = 0;
        PARALLEL_BANDS(n_bands, ({
            int64_t r0 = band * BAND_ROWS, r1 = r0 + BAND_ROWS < N ? r0 + BAND_ROWS : N;
            size_t n = (size_t)((r1 - r0) * cols);
            mk_dtype dt;
            const float *f = load_rows(x, it, r0, r1, b.f32, &dt);
            int r = x->K->absmax(MK_DT_F32, f, n, 0) >= MK_ABS_NONFINITE
                        ? nonfinite(it, r0, r1, &local)
                        : MK_OK;
            void *out = malloc(n * osz);
            if (!r && !out) r = mk_fail(&local, MK_ERR_INTERNAL, "out of memory");
            if (!r) {
                to_dtype(od, f, n, out);
                r = mk_st_writer_write(x->w, (size_t)idx, (uint64_t)r0 * (uint64_t)cols * osz, out,
                                       n * osz, &local);
            }
            free(out);
            release_rows(it, r0, r1);
            tick(x, n);
            r;
        }));
        return rc;
    }
    /* Plain float -> float: flat chunks. */
    size_t isz = mk_dtype_size(t->dtype);
    float *f = malloc(FLAT_CHUNK * sizeof *f);
    uint8_t *out = malloc(FLAT_CHUNK * osz);
    if (!f || !out) rc = mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    const uint8_t *src = mk_st_data(it->src_file, t);
    for (uint64_t off = 0; !rc && off < t->n_elems; off += FLAT_CHUNK) {
        size_t n = (size_t)(t->n_elems - off < FLAT_CHUNK ? t->n_elems - off : FLAT_CHUNK);
        if (x->K->absmax(t->dtype, src + off * isz, n, 0) >= MK_ABS_NONFINITE) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': NaN or Inf", mk_st_path(it->src_file),
                         it->src_name);
            break;
        }
        x->K->dequant(t->dtype, src + off * isz, n, 1.0f, f);
        to_dtype(od, f, n, out);
        rc = mk_st_writer_write(x->w, (size_t)idx, off * osz, out, n * osz, err);
        mk_st_release(it->src_file, t, off * isz, n * isz);
        tick(x, n * isz);
    }
    free(f);
    free(out);
    return rc;
}

/* Verbatim copy straight from the mapping: no buffer at all. */
static int exec_keep(exec *x, const mk_plan_item *it, long idx, mk_error *err) {
    const mk_tensor_info *t = it->src;
    const uint8_t *src = mk_st_data(it->src_file, t);
    uint64_t bytes = t->end - t->begin;
    bool floating = t->dtype == MK_DT_F32 || t->dtype == MK_DT_F16 || t->dtype == MK_DT_BF16;
    size_t esz = mk_dtype_size(t->dtype);
    for (uint64_t off = 0; off < bytes; off += COPY_CHUNK) {
        uint64_t len = bytes - off < COPY_CHUNK ? bytes - off : COPY_CHUNK;
        if (floating && x->K->absmax(t->dtype, src + off, (size_t)(len / esz), 0) >= MK_ABS_NONFINITE)
            return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s': NaN or Inf", mk_st_path(it->src_file),
                           it->src_name);
        int rc = mk_st_writer_write(x->w, (size_t)idx, off, src + off, (size_t)len, err);
        mk_st_release(it->src_file, t, off, len);
        tick(x, len);
        if (rc) return rc;
    }
    if (bytes == 0) return mk_st_writer_write(x->w, (size_t)idx, 0, src, 0, err);
    return MK_OK;
}

const char *mk_convert_action(const mk_plan_item *it) {
    static const char *const quant[] = {"fp8-block", "fp8-tensor", "fp8-channel", "int8-channel",
                                        "int8-group"};
    static const char *const dequant[] = {"dequant+fp8-block", "dequant+fp8-tensor",
                                          "dequant+fp8-channel", "dequant+int8-channel",
                                          "dequant+int8-group"};
    if (it->op == OP_QUANT) return it->scale_inv ? dequant[it->scheme] : quant[it->scheme];
    if (it->op == OP_CAST)
        return it->scale_inv ? (it->out_dtype == MK_DT_F16 ? "dequant+f16" : "dequant+bf16")
                             : (it->out_dtype == MK_DT_F16 ? "f16" : it->out_dtype == MK_DT_BF16 ? "bf16" : "f32");
    return "keep";
}

int mk_convert_exec_file(const mk_plan *p, size_t file, const char *out_dir, uint64_t *done,
                         uint64_t total, size_t *seq, mk_stat_acc *stats, mk_error *err) {
    const mk_plan_file *pf = &p->files[file];
    size_t n_decl = 0;
    for (size_t i = 0; i < pf->n_items; i++) n_decl += (size_t)p->items[pf->items[i]].n_out;
    mk_st_decl *d = calloc(n_decl ? n_decl : 1, sizeof *d);
    if (!d) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < pf->n_items; i++) {
        const mk_plan_item *it = &p->items[pf->items[i]];
        for (int o = 0; o < it->n_out; o++, k++) {
            d[k].name = it->out[o].name;
            d[k].dtype = it->out[o].dtype;
            d[k].ndim = it->out[o].ndim;
            memcpy(d[k].shape, it->out[o].shape, sizeof d[k].shape);
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, pf->name);
    const char *mk[] = {"moekit.scheme"}, *mv[] = {mk_scheme_name(p->opts.scheme)};
    exec x = {.p = p, .K = mk_kernels_best(), .done = (_Atomic uint64_t *)done, .total = total,
              .stats = stats};
    int rc = mk_st_writer_open(path, d, n_decl, mk, mv, 1, &x.w, err);
    free(d);
    if (rc) return rc;
    for (size_t i = 0; i < pf->n_items && !rc; i++) {
        const mk_plan_item *it = &p->items[pf->items[i]];
        long idx[3] = {-1, -1, -1};
        for (int o = 0; o < it->n_out; o++) idx[o] = mk_st_writer_find(x.w, it->out[o].name);
        /* A source rewritten under us would mix old and new bytes. */
        rc = mk_st_check_unchanged(it->src_file, err);
        if (!rc && it->scale_file) rc = mk_st_check_unchanged(it->scale_file, err);
        if (rc) break;
        switch (it->op) {
        case OP_QUANT: rc = exec_quant(&x, it, idx, err); break;
        case OP_CAST: rc = exec_cast(&x, it, idx[0], err); break;
        case OP_KEEP: rc = exec_keep(&x, it, idx[0], err); break;
        }
        if (!rc && p->opts.on_tensor) {
            mk_convert_event ev = {
                .index = ++*seq, .count = p->n_items, .name = it->src_name,
                .ndim = it->src->ndim, .shape = it->src->shape, .src_dtype = it->src->dtype,
                .action = mk_convert_action(it), .in_bytes = it->in_bytes, .out_bytes = it->out_bytes,
            };
            p->opts.on_tensor(&ev, p->opts.ctx);
        }
    }
    /* Once more after the last read: a change during the file fails it. */
    for (size_t i = 0; i < pf->n_items && !rc; i++) {
        const mk_plan_item *it = &p->items[pf->items[i]];
        rc = mk_st_check_unchanged(it->src_file, err);
    }
    if (rc) {
        mk_st_writer_abort(x.w);
        return rc;
    }
    return mk_st_writer_finish(x.w, err);
}
