/* Quantization kernels.  Every SIMD table this CPU has must give the scalar
 * reference's bits exactly: on all 2^16 F16 and BF16 patterns, on millions
 * of F32 values aimed at the rounding edges, and on odd shapes in every
 * source type, with misaligned starts and lengths that exercise the tails.
 * The reference itself is checked against an independent rounding: a
 * nearest-value search in double precision over the E4M3 code values
 * computed from the OCP definition, and round-half-even to an integer. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "moekit/kernels.h"
#include "moekit/quant.h"

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) { /* xorshift64 */
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}

static size_t dt_size(mk_dtype dt) {
    return dt == MK_DT_F32 ? 4 : (dt == MK_DT_F16 || dt == MK_DT_BF16) ? 2 : 1;
}
static const char *dt_name(mk_dtype dt) {
    switch (dt) {
    case MK_DT_F32: return "F32";
    case MK_DT_F16: return "F16";
    case MK_DT_BF16: return "BF16";
    case MK_DT_F8_E4M3: return "F8_E4M3";
    case MK_DT_I8: return "I8";
    default: return "?";
    }
}

/* Buffers reused across tests (and so never reported as leaks when a CHECK
 * returns early). */
enum { S_SRC, S_WANT, S_GOT, S_COUNT };
static void *scratch(int slot, size_t bytes) {
    static void *buf[S_COUNT];
    static size_t cap[S_COUNT];
    if (bytes > cap[slot]) {
        free(buf[slot]);
        buf[slot] = malloc(bytes);
        if (!buf[slot]) abort();
        cap[slot] = bytes;
    }
    return buf[slot];
}

/* The SIMD tables this CPU supports. */
static int simd_tables(const mk_kernels *out[MK_ISA_COUNT]) {
    int n = 0;
    for (int isa = MK_ISA_AVX2; isa < MK_ISA_COUNT; isa++) {
        const mk_kernels *k = mk_kernels_for((mk_isa)isa);
        if (k) out[n++] = k;
    }
    return n;
}

enum op { OP_E4M3, OP_INT8, OP_DEQUANT };
static const char *const op_names[] = {"quant_e4m3", "quant_int8", "dequant"};

static void run_op(const mk_kernels *k, enum op op, mk_dtype dt, const void *src, size_t n,
                   float scale, void *dst) {
    switch (op) {
    case OP_E4M3: k->quant_e4m3(dt, src, n, scale, dst); break;
    case OP_INT8: k->quant_int8(dt, src, n, scale, dst); break;
    case OP_DEQUANT: k->dequant(dt, src, n, scale, dst); break;
    }
}

#define CANARY 64 /* bytes after the output that no kernel may touch */

/* Fails unless every SIMD table matches the reference on src[0, n): absmax
 * for a few starting accumulators, then each scale through the quantizers
 * (skipped when `quant` is false: the source holds NaN or infinity) and
 * dequant.  Callers check mk_test_failed() afterwards. */
static void check_ops(mk_dtype dt, const void *src, size_t n, const float *scales, int n_scales,
                      bool quant) {
    static const uint32_t accs[] = {0, 0x3f800000u, MK_ABS_NONFINITE + 5u};
    const mk_kernels *ref = mk_kernels_ref(), *ks[MK_ISA_COUNT];
    int nk = simd_tables(ks);
    uint8_t *want = scratch(S_WANT, n * 4 + CANARY), *got = scratch(S_GOT, n * 4 + CANARY);
    for (size_t a = 0; a < sizeof accs / sizeof accs[0]; a++) {
        uint32_t w = ref->absmax(dt, src, n, accs[a]);
        for (int t = 0; t < nk; t++) {
            uint32_t g = ks[t]->absmax(dt, src, n, accs[a]);
            CHECKF(g == w, "%s absmax %s n=%zu acc=0x%08x: 0x%08x, reference 0x%08x",
                   mk_isa_name(ks[t]->isa), dt_name(dt), n, accs[a], g, w);
        }
    }
    for (int s = 0; s < n_scales; s++) {
        for (enum op op = quant ? OP_E4M3 : OP_DEQUANT; op <= OP_DEQUANT; op++) {
            size_t width = op == OP_DEQUANT ? 4 : 1, len = n * width;
            run_op(ref, op, dt, src, n, scales[s], want);
            for (int t = 0; t < nk; t++) {
                memset(got, 0xa5, len + CANARY);
                run_op(ks[t], op, dt, src, n, scales[s], got);
                size_t i = 0;
                while (i < len && got[i] == want[i]) i++;
                if (i < len) {
                    size_t e = i / width;
                    uint32_t x = 0, g = 0, w = 0;
                    memcpy(&x, (const char *)src + e * dt_size(dt), dt_size(dt));
                    memcpy(&g, got + e * width, width);
                    memcpy(&w, want + e * width, width);
                    CHECKF(0,
                           "%s %s %s n=%zu scale=%a: element %zu (0x%x) gives 0x%x, reference 0x%x",
                           mk_isa_name(ks[t]->isa), op_names[op], dt_name(dt), n, (double)scales[s],
                           e, x, g, w);
                }
                for (size_t j = len; j < len + CANARY; j++)
                    CHECKF(got[j] == 0xa5, "%s %s %s n=%zu writes past the end",
                           mk_isa_name(ks[t]->isa), op_names[op], dt_name(dt), n);
            }
        }
    }
}

static bool f16_finite(uint16_t h) { return (h & 0x7c00) != 0x7c00; }
static bool bf16_finite(uint16_t h) { return (h & 0x7f80) != 0x7f80; }

/* All finite patterns of a 16-bit type, in order, into `out`; returns the count. */
static size_t finite_patterns(mk_dtype dt, uint16_t *out) {
    size_t n = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if (dt == MK_DT_F16 ? f16_finite((uint16_t)h) : bf16_finite((uint16_t)h))
            out[n++] = (uint16_t)h;
    return n;
}

TEST(quant_simd_tables_exist_when_cpu_has_them) {
    const mk_kernels *ks[MK_ISA_COUNT];
    int nk = simd_tables(ks);
    for (int t = 0; t < nk; t++) {
        CHECK(ks[t]->absmax && ks[t]->quant_e4m3 && ks[t]->quant_int8 && ks[t]->dequant);
        if (!getenv("MOEKIT_ISA")) CHECK(mk_kernels_best()->isa >= ks[t]->isa);
    }
    if (nk == 0) printf("     (no SIMD table on this CPU: only the reference is tested)\n");
}

TEST(quant_simd_matches_ref_all_f16_bf16_patterns) {
    static const mk_dtype dts[] = {MK_DT_F16, MK_DT_BF16};
    for (int d = 0; d < 2; d++) {
        mk_dtype dt = dts[d];
        uint16_t *all = scratch(S_SRC, (65536 + 8) * 2);
        /* Every pattern, NaN and infinities included: absmax flags them,
         * dequant passes them through like the reference. */
        for (uint32_t h = 0; h < 65536; h++) all[h] = (uint16_t)h;
        const float one = 1.0f, scales_nf[] = {1.0f, 0.375f};
        CHECK(mk_kernels_ref()->absmax(dt, all, 65536, 0) >= MK_ABS_NONFINITE);
        check_ops(dt, all, 65536, scales_nf, 2, false);
        if (mk_test_failed()) return;
        check_ops(dt, all + 1, 65535, &one, 1, false);
        if (mk_test_failed()) return;

        size_t n = finite_patterns(dt, all);
        uint32_t amax = mk_kernels_ref()->absmax(dt, all, n, 0);
        CHECK(amax < MK_ABS_NONFINITE);
        const float scales[] = {
            mk_fp8_scale(amax), mk_int8_scale(amax), 1.0f, 1e-3f, 3.7e4f, 0x1p-20f,
            0x1p100f, /* scaled values become F32 subnormals */
            -0.75f,
        };
        const int n_scales = (int)(sizeof scales / sizeof scales[0]);
        check_ops(dt, all, n, scales, n_scales, true);
        if (mk_test_failed()) return;
        check_ops(dt, all + 1, n - 1, scales, n_scales, true); /* misaligned, odd length */
        if (mk_test_failed()) return;
        /* Every tail length from a misaligned start. */
        for (size_t len = 0; len <= 140; len++) {
            check_ops(dt, all + 3 + 211 * len % 60000, len, scales, 3, true);
            if (mk_test_failed()) return;
        }
    }
}

TEST(quant_simd_matches_ref_dequant_all_8bit_codes) {
    /* Every E4M3 code (NaN included) and every INT8 value, three times over
     * so each code sits in several lane positions, plus a misaligned start. */
    uint8_t *codes = scratch(S_SRC, 3 * 256 + 7);
    for (size_t i = 0; i < 3 * 256 + 7; i++) codes[i] = (uint8_t)(i * 7 % 256);
    const float scales[] = {1.0f, 0.3f, -2.0f, 0x1p-140f, 0x1p100f};
    check_ops(MK_DT_F8_E4M3, codes, 3 * 256 + 7, scales, 5, false);
    if (mk_test_failed()) return;
    check_ops(MK_DT_F8_E4M3, codes + 1, 3 * 256 + 5, scales, 5, false);
    if (mk_test_failed()) return;
    check_ops(MK_DT_I8, codes, 3 * 256 + 7, scales, 5, true);
    if (mk_test_failed()) return;
    check_ops(MK_DT_I8, codes + 3, 3 * 256 + 1, scales, 5, true);
}

TEST(quant_simd_matches_ref_e4m3_out_of_contract_quotients) {
    /* A scale of 0 (mk_fp8_scale of an amax below 2^-141 underflows to it)
     * or infinity makes x / scale NaN or infinite; E4M3 encoding is still
     * defined by the reference's bit manipulations and must match.  (INT8
     * of NaN is undefined in C, so it is left out.) */
    const mk_kernels *ref = mk_kernels_ref(), *ks[MK_ISA_COUNT];
    int nk = simd_tables(ks);
    uint16_t *x = scratch(S_SRC, 65536 * 2);
    static const mk_dtype dts[] = {MK_DT_F16, MK_DT_BF16};
    static const float scales[] = {0.0f, -0.0f, INFINITY, -INFINITY};
    for (int d = 0; d < 2; d++) {
        size_t n = finite_patterns(dts[d], x);
        uint8_t *want = scratch(S_WANT, n), *got = scratch(S_GOT, n);
        for (int s = 0; s < 4; s++) {
            ref->quant_e4m3(dts[d], x, n, scales[s], want);
            for (int t = 0; t < nk; t++) {
                ks[t]->quant_e4m3(dts[d], x, n, scales[s], got);
                CHECKF(memcmp(want, got, n) == 0, "%s quant_e4m3 %s scale %a differs",
                       mk_isa_name(ks[t]->isa), dt_name(dts[d]), (double)scales[s]);
            }
        }
    }
}

/* A random finite F32 aimed at the interesting regions: anywhere, the E4M3
 * range, E4M3 rounding ties (normal and subnormal) and their neighbours,
 * INT8 half-integers, F32 subnormals. */
static float random_f32(void) {
    uint32_t r = rnd(), sign = rnd() & 0x80000000u, u;
    int nudge = (int)(rnd() % 5) - 2; /* -2..2 ulps */
    switch (r % 6) {
    case 0: u = (r >> 8) % 255u << 23 | (rnd() & 0x7fffffu); break;
    case 1: u = (111u + (r >> 8) % 28u) << 23 | (rnd() & 0x7fffffu); break; /* 2^-16 .. 2^11 */
    case 2: /* normal E4M3 midpoints, 2^-6 .. 2^9 */
        u = (121u + (r >> 8) % 16u) << 23 | (rnd() & 7u) << 20 | 0x80000u;
        u = (uint32_t)((int32_t)u + nudge);
        break;
    case 3: /* multiples of 2^-10: odd ones are subnormal E4M3 ties */
        u = bits((float)((r >> 8) % 18u) * 0x1p-10f);
        u = u ? (uint32_t)((int32_t)u + nudge) : u;
        break;
    case 4: /* half-integers around the INT8 range */
        u = bits((float)((int)((r >> 8) % 300u) - 150) + 0.5f);
        u = (uint32_t)((int32_t)u + nudge / 2);
        break;
    default: u = (r >> 8) % 24u << 23 | (rnd() & 0x7fffffu); break; /* subnormal and tiny */
    }
    return from_bits(u | sign);
}

TEST(quant_simd_matches_ref_f32_random) {
    const size_t n = (4u << 20) + 1;
    float *x = scratch(S_SRC, (n + 1) * 4);
    float *v = x + 1; /* misaligned start, odd length */
    static const float special[] = {
        0.0f, -0.0f, 0x1p-149f, -0x1p-149f, 0x1.fffffcp-127f, 0x1p-126f, 448.0f, -448.0f, 464.0f,
        -464.0f, 480.0f, 0x1.fffffep127f, 1.0625f, 1.1875f, 0.013671875f, 0x1p-10f, 0x1.000002p-10f,
        0x1.fffffep-11f, 0x1.8p-9f, 0x1p-6f, 0x1.fffffep-7f, 0x1.ep-7f, 0x1.f8p-7f, 127.5f, 126.5f,
        -127.5f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 240.0f, 248.0f, 232.0f, 0x1.1p-6f,
    };
    const size_t n_special = sizeof special / sizeof special[0];
    memcpy(v, special, sizeof special);
    for (size_t i = n_special; i < n; i++) v[i] = random_f32();
    uint32_t amax = mk_kernels_ref()->absmax(MK_DT_F32, v, n, 0);
    CHECK(amax < MK_ABS_NONFINITE);
    const float scales[] = {1.0f, 3.0f, 0x1p-8f, 0.7f, mk_fp8_scale(amax), mk_int8_scale(amax)};
    check_ops(MK_DT_F32, v, n, scales, (int)(sizeof scales / sizeof scales[0]), true);
}

TEST(quant_simd_matches_ref_e4m3_small_values) {
    /* Below 2^-6 the SIMD kernels round with a float addition instead of the
     * reference's integer shifts: sweep every 5th F32 pattern from 2^-11 to
     * 2^-6, plus the patterns within 3 ulps of each tie (odd multiples of
     * 2^-10). */
    const uint32_t lo = 0x3a000000u, hi = 0x3c800000u;
    size_t n = 0, cap = (hi - lo) / 5 + 1 + 32 * 8;
    float *v = scratch(S_SRC, cap * 4);
    for (uint32_t u = lo; u < hi; u += 5) v[n++] = from_bits(u);
    for (int k = 1; k < 32; k += 2)
        for (int d = -3; d <= 3; d++)
            v[n++] = from_bits((uint32_t)((int32_t)bits((float)k * 0x1p-10f) + d));
    const float one = 1.0f;
    check_ops(MK_DT_F32, v, n, &one, 1, true);
}

/* Random values of `dt` (finite, E4M3 without NaN codes). */
static void fill_random(mk_dtype dt, void *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t r = rnd();
        switch (dt) {
        case MK_DT_F32: /* 2^-12 .. 2^13 */
            ((float *)dst)[i] = from_bits((r & 0x807fffffu) | (115u + r % 25u) << 23);
            break;
        case MK_DT_F16: /* any finite pattern */
            ((uint16_t *)dst)[i] = (uint16_t)(f16_finite((uint16_t)r) ? r : r & 0xbfff);
            break;
        case MK_DT_BF16: /* 2^-20 .. 2^20 */
            ((uint16_t *)dst)[i] = (uint16_t)((r & 0x807f) | (107u + (r >> 16) % 40u) << 7);
            break;
        case MK_DT_F8_E4M3: /* any code but NaN */
            ((uint8_t *)dst)[i] = (uint8_t)((r & 0x7f) == 0x7f ? r & 0xfe : r);
            break;
        default: ((uint8_t *)dst)[i] = (uint8_t)r; break;
        }
    }
}

TEST(quant_simd_matches_ref_odd_shapes) {
    static const size_t shapes[][2] = {{37, 129}, {1, 1}, {255, 300}, {3, 17}, {2, 1031}, {5, 64}};
    static const mk_dtype dts[] = {MK_DT_F32, MK_DT_F16, MK_DT_BF16, MK_DT_F8_E4M3, MK_DT_I8};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
            mk_dtype dt = dts[d];
            size_t rows = shapes[sh][0], cols = shapes[sh][1], size = dt_size(dt);
            char *t = scratch(S_SRC, rows * cols * size);
            fill_random(dt, t, rows * cols);
            float scales[3] = {1.0f, 0.25f, 3.0f};
            if (size > 1) { /* float sources: the scales a conversion would use */
                uint32_t amax = mk_kernels_ref()->absmax(dt, t, rows * cols, 0);
                scales[1] = mk_fp8_scale(amax);
                scales[2] = mk_int8_scale(amax);
            }
            check_ops(dt, t, rows * cols, scales, 3, true);
            for (size_t r = 0; r < rows && !mk_test_failed(); r++) /* rows start misaligned */
                check_ops(dt, t + r * cols * size, cols, scales, 3, true);
            if (mk_test_failed()) return;
        }
    }
}

TEST(quant_absmax_edges) {
    const mk_kernels *ks[MK_ISA_COUNT + 1];
    int nk = simd_tables(ks);
    ks[nk++] = mk_kernels_ref();
    float x[100];
    for (int t = 0; t < nk; t++) {
        for (int i = 0; i < 100; i++) x[i] = (float)(i % 7) - 3.0f;
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_F32, x, 0, 1234u), 1234u); /* empty: acc unchanged */
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_F32, x, 100, 0), bits(3.0f));
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_F32, x, 100, bits(5.0f)), bits(5.0f));
        x[97] = -INFINITY; /* in the tail of every vector width */
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_F32, x, 100, 0), MK_ABS_NONFINITE);
        x[97] = -NAN;
        CHECK(ks[t]->absmax(MK_DT_F32, x, 100, 0) > MK_ABS_NONFINITE);
        uint16_t h[3] = {0x3c00, 0xfc00, 0x0001}; /* F16 1, -inf, 2^-24 */
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_F16, h, 3, 0), MK_ABS_NONFINITE);
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_F16, h + 2, 1, 0), bits(0x1p-24f));
        uint16_t b[2] = {0x8001, 0xff81}; /* BF16 -min subnormal, -NaN */
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_BF16, b, 1, 0), 0x00010000u);
        CHECK_EQ_INT(ks[t]->absmax(MK_DT_BF16, b, 2, 0), 0x7f810000u);
    }
    CHECK(mk_fp8_scale(0) == 1.0f && mk_int8_scale(0) == 1.0f);
    CHECK(mk_fp8_scale(bits(896.0f)) == 2.0f && mk_int8_scale(bits(254.0f)) == 2.0f);
}

/* ---- Independent reference for the reference's rounding. ---- */

/* The OCP E4M3FN value of a code that is not NaN. */
static double e4m3_value(unsigned c) {
    unsigned e = (c >> 3) & 15u, m = c & 7u;
    double v = e == 0 ? ldexp(m, -9) : ldexp(8 + m, (int)e - 10);
    return c & 0x80u ? -v : v;
}

/* Nearest code to v, ties to the even code, saturating at 448, sign kept. */
static uint8_t e4m3_nearest(float v) {
    double d = fabs((double)v);
    uint8_t sign = signbit(v) ? 0x80 : 0;
    if (d >= 448.0) return sign | 0x7e;
    unsigned lo = 0, hi = 126; /* value(lo) <= d < value(hi) */
    while (hi - lo > 1) {
        unsigned mid = (lo + hi) / 2;
        if (e4m3_value(mid) <= d) lo = mid;
        else hi = mid;
    }
    double midpoint = (e4m3_value(lo) + e4m3_value(hi)) / 2; /* exact */
    unsigned c = d < midpoint ? lo : d > midpoint ? hi : (lo % 2 == 0 ? lo : hi);
    return (uint8_t)(sign | c);
}

static int int8_nearest(float v) {
    double d = v, f = floor(d), frac = d - f; /* exact: F32 values fit in a double */
    double r = frac < 0.5 ? f : frac > 0.5 ? f + 1 : (fmod(f, 2.0) == 0 ? f : f + 1);
    return r > 127 ? 127 : r < -127 ? -127 : (int)r;
}

TEST(quant_ref_rounding_matches_independent_search) {
    static const mk_dtype dts[] = {MK_DT_F16, MK_DT_BF16};
    const mk_kernels *ref = mk_kernels_ref();
    for (int d = 0; d < 2; d++) {
        mk_dtype dt = dts[d];
        uint16_t *x = scratch(S_SRC, 65536 * 2);
        size_t n = finite_patterns(dt, x);
        uint8_t *q = scratch(S_GOT, n);
        uint32_t amax = ref->absmax(dt, x, n, 0);
        float fp8_scales[] = {mk_fp8_scale(amax), 1.0f};
        float int8_scales[] = {mk_int8_scale(amax), 1.0f};
        for (int s = 0; s < 2; s++) {
            ref->quant_e4m3(dt, x, n, fp8_scales[s], q);
            for (size_t i = 0; i < n; i++) {
                float f = dt == MK_DT_F16 ? mk_f16_to_f32(x[i]) : mk_bf16_to_f32(x[i]);
                uint8_t want = e4m3_nearest(f / fp8_scales[s]);
                CHECKF(q[i] == want, "%s 0x%04x / %a: E4M3 0x%02x, nearest 0x%02x", dt_name(dt),
                       x[i], (double)fp8_scales[s], q[i], want);
            }
            ref->quant_int8(dt, x, n, int8_scales[s], (int8_t *)q);
            for (size_t i = 0; i < n; i++) {
                float f = dt == MK_DT_F16 ? mk_f16_to_f32(x[i]) : mk_bf16_to_f32(x[i]);
                int want = int8_nearest(f / int8_scales[s]);
                CHECKF((int8_t)q[i] == want, "%s 0x%04x / %a: INT8 %d, nearest %d", dt_name(dt),
                       x[i], (double)int8_scales[s], (int8_t)q[i], want);
            }
        }
    }
    /* The scalar element functions directly, at the edges. */
    CHECK_EQ_INT(mk_e4m3_encode(-0.0f), 0x80);
    CHECK_EQ_INT(mk_e4m3_encode(-0x1p-11f), 0x80);
    CHECK_EQ_INT(mk_e4m3_encode(0x1p-10f), 0x00);        /* tie between 0 and 2^-9 */
    CHECK_EQ_INT(mk_e4m3_encode(0x1.8p-9f), 0x02);       /* tie 1.5 -> 2 */
    CHECK_EQ_INT(mk_e4m3_encode(0x1.ep-7f), 0x08);       /* 7.5 * 2^-9 rounds up to 2^-6 */
    CHECK_EQ_INT(mk_e4m3_encode(1.0625f), 0x38);         /* tie, keep even 1.0 */
    CHECK_EQ_INT(mk_e4m3_encode(1.1875f), 0x3a);         /* tie, up to even 1.25 */
    CHECK_EQ_INT(mk_e4m3_encode(448.0f), 0x7e);
    CHECK_EQ_INT(mk_int8_encode(2.5f), 2);
    CHECK_EQ_INT(mk_int8_encode(-3.5f), -4);
    CHECK_EQ_INT(mk_int8_encode(127.5f), 127);
    CHECK_EQ_INT(mk_int8_encode(-1e30f), -127);
}

TEST(quant_e4m3_round_trips_every_code) {
    for (unsigned c = 0; c < 256; c++) {
        if ((c & 0x7f) == 0x7f) continue; /* NaN */
        float v = mk_e4m3_decode((uint8_t)c);
        CHECKF(mk_e4m3_encode(v) == c, "0x%02x -> %a -> 0x%02x", c, (double)v, mk_e4m3_encode(v));
        CHECKF(e4m3_nearest(v) == c, "0x%02x: independent search gives 0x%02x", c, e4m3_nearest(v));
    }
}

TEST(quant_e4m3_decode_matches_ocp) {
    for (unsigned c = 0; c < 256; c++) {
        float v = mk_e4m3_decode((uint8_t)c);
        if ((c & 0x7f) == 0x7f) {
            CHECKF(isnan(v) && !signbit(v) == !(c & 0x80), "0x%02x should be NaN", c);
            continue;
        }
        float want = (float)e4m3_value(c);
        CHECKF(bits(v) == bits(want), "0x%02x decodes to %a, OCP %a", c, (double)v, (double)want);
    }
    CHECK(mk_e4m3_decode(0x7e) == 448.0f);
    CHECK(mk_e4m3_decode(0xfe) == -448.0f);
    CHECK(mk_e4m3_decode(0x01) == 0x1p-9f);
    CHECK(mk_e4m3_decode(0x07) == 0x1.cp-7f); /* largest subnormal */
    CHECK(mk_e4m3_decode(0x08) == 0x1p-6f);
    CHECK(mk_e4m3_decode(0x38) == 1.0f);
    CHECK(bits(mk_e4m3_decode(0x80)) == 0x80000000u);
    CHECK(bits(mk_e4m3_decode(0x00)) == 0);
}

TEST(scale_never_underflows_to_zero) {
    uint32_t tiny = 1; /* the smallest F32 subnormal, ~1.4e-45 */
    CHECK(mk_fp8_scale(tiny) == 1.0f);
    CHECK(mk_int8_scale(tiny) == 1.0f);
    CHECK(mk_fp8_scale(0) == 1.0f);
    uint32_t b = 0x3f800000u; /* 1.0 */
    CHECK(mk_fp8_scale(b) == (float)1.0f / 448.0f);
    float x = 1e-44f; /* encodes to signed zero with the fallback scale */
    CHECK_EQ_INT(mk_e4m3_encode(x / mk_fp8_scale(1)), 0x00);
    CHECK_EQ_INT(mk_e4m3_encode(-x / mk_fp8_scale(1)), 0x80);
}
