/*
 * AVX2 + F16C quantization kernels, bit-identical to the scalar reference
 * (kernels/quant_ref.c).  The vector loops take 32 elements per step; the
 * last n % 32 elements, and source types without a vector path, go to the
 * reference itself, so tails cannot drift from the specification.
 *
 * Why the tricks are exact:
 *  - absmax compares bit patterns, never floats: for non-negative values the
 *    integer order of the bits is the value order, with Inf and NaN above
 *    every finite value, just as the reference's integer compare sees them.
 *    F16 and BF16 stay in 16-bit lanes (h & 0x7fff orders the same way) and
 *    only the final maximum is widened to F32 bits, which is sound because
 *    widening is monotonic on non-negative patterns, NaN patterns included.
 *  - E4M3 encoding: adding 0x7ffff plus the lowest kept bit to |v|'s bits
 *    carries into bit 20 exactly when the 20 dropped bits round up under
 *    ties-to-even, which is the reference's normal path.  Below 2^-6 the
 *    code counts multiples of 2^-9, and adding 2^14 (whose ulp is 2^-9)
 *    makes the FPU round |v| to that grid, ties to even: the low bits of the
 *    sum are the code.  (Checked once against the reference on all 2^32
 *    F32 patterns; the unit tests sweep this range densely.)
 *  - the E4M3 sign bits are packed separately, by signed saturation of the
 *    quotients' bit patterns, which keeps the sign: cheaper than one shift,
 *    mask and OR per vector, and this loop is compute-bound on AVX2.
 *  - clamps are min(limit, v) / max(-limit, v): with the operands in that
 *    order a NaN passes through like the reference's two comparisons, so
 *    even out-of-contract inputs (x / 0) encode to the reference's bits.
 *  - x / scale is a true division and there is no FMA anywhere (the file is
 *    built without -mfma): both are part of the arithmetic contract.
 *  - F16 (vcvtph2ps) and BF16 (a 16-bit shift) widen exactly.
 */
#include <immintrin.h>

#include "kernels/quant_impl.h"
#include "moekit/kernels.h"

#define MK_INLINE static inline __attribute__((always_inline))
#define STEP 32 /* elements per loop iteration: four 8-lane vectors */

static const mk_kernels *const ref = &mk_kernels_scalar_table;

static const void *advance(mk_dtype dt, const void *src, size_t i) {
    size_t size = dt == MK_DT_F32 ? 4 : (dt == MK_DT_F16 || dt == MK_DT_BF16) ? 2 : 1;
    return (const char *)src + i * size;
}

/* E4M3 codes (0..255 in 32-bit lanes) to F32, as mk_e4m3_decode. */
MK_INLINE __m256 e4m3_decode8(__m256i q) {
    __m256i mag = _mm256_and_si256(q, _mm256_set1_epi32(0x7f));
    __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(mag, 20), _mm256_set1_epi32(120 << 23));
    __m256 m = _mm256_cvtepi32_ps(_mm256_and_si256(q, _mm256_set1_epi32(7)));
    __m256i subnormal = _mm256_castps_si256(_mm256_mul_ps(m, _mm256_set1_ps(0x1p-9f)));
    __m256i r =
        _mm256_blendv_epi8(normal, subnormal, _mm256_cmpgt_epi32(_mm256_set1_epi32(8), mag));
    r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7fc00000),
                           _mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7f)));
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(0x80)), 24);
    return _mm256_castsi256_ps(_mm256_or_si256(r, sign));
}

/* src[i .. i+8) as exact F32; dt is a constant at every call site. */
MK_INLINE __m256 load8(mk_dtype dt, const void *src, size_t i) {
    const __m128i *p = (const __m128i *)advance(dt, src, i);
    switch (dt) {
    case MK_DT_F32: return _mm256_loadu_ps((const float *)p);
    case MK_DT_F16: return _mm256_cvtph_ps(_mm_loadu_si128(p));
    case MK_DT_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
    case MK_DT_I8: return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p)));
    default: return e4m3_decode8(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p))); /* F8_E4M3 */
    }
}

MK_INLINE __m256 clamp(__m256 v, float limit) {
    return _mm256_max_ps(_mm256_set1_ps(-limit), _mm256_min_ps(_mm256_set1_ps(limit), v));
}

/* The E4M3 code of |clamp(v, 448)| (mk_e4m3_encode without the sign bit),
 * in the low byte of each lane.  Clamping the magnitude is the same as
 * clamping v and one instruction cheaper. */
MK_INLINE __m256i e4m3_magnitude8(__m256 v) {
    __m256 abs = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    __m256i a = _mm256_castps_si256(_mm256_min_ps(_mm256_set1_ps(MK_E4M3_MAX), abs));
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, 20), _mm256_set1_epi32(1));
    /* Rounding increment and re-bias in one constant: a >= 2^-6 keeps the sum positive. */
    __m256i normal =
        _mm256_add_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(0x7ffff - (960 << 20))), lsb);
    normal = _mm256_srli_epi32(normal, 20);
    __m256 grid = _mm256_add_ps(_mm256_castsi256_ps(a), _mm256_set1_ps(0x1p14f));
    __m256i subnormal = _mm256_sub_epi32(_mm256_castps_si256(grid), _mm256_set1_epi32(141 << 23));
    __m256i small = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3c800000), a);
    return _mm256_blendv_epi8(normal, subnormal, small);
}

/* Packs the low bytes of 4 x 8 lanes in the in-lane order of
 * vpackus: a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7. */
MK_INLINE __m256i pack_bytes_in_lane(const __m256i q[4]) {
    const __m256i lo = _mm256_set1_epi32(0xff);
    __m256i ab = _mm256_packus_epi32(_mm256_and_si256(q[0], lo), _mm256_and_si256(q[1], lo));
    __m256i cd = _mm256_packus_epi32(_mm256_and_si256(q[2], lo), _mm256_and_si256(q[3], lo));
    return _mm256_packus_epi16(ab, cd);
}

/* Element order from pack_bytes_in_lane's order. */
MK_INLINE __m256i lane_order(__m256i p) {
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Bit 7 of each byte: the sign bits of 4 x 8 floats, packed like
 * pack_bytes_in_lane (signed saturation keeps the sign). */
MK_INLINE __m256i pack_signs_in_lane(const __m256 v[4]) {
    __m256i ab = _mm256_packs_epi32(_mm256_castps_si256(v[0]), _mm256_castps_si256(v[1]));
    __m256i cd = _mm256_packs_epi32(_mm256_castps_si256(v[2]), _mm256_castps_si256(v[3]));
    return _mm256_and_si256(_mm256_packs_epi16(ab, cd), _mm256_set1_epi8((char)0x80));
}

/* max(m, |x|) lane-wise, on 8 F32 or 16 F16/BF16 bit patterns. */
MK_INLINE __m256i abs_max(mk_dtype dt, __m256i m, __m256i x) {
    if (dt == MK_DT_F32)
        return _mm256_max_epu32(m, _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)));
    return _mm256_max_epu16(m, _mm256_and_si256(x, _mm256_set1_epi16(0x7fff)));
}

/* The largest lane of m, as the F32 bits of |x|. */
MK_INLINE uint32_t reduce_abs_max(mk_dtype dt, __m256i m) {
    __m128i h = _mm256_extracti128_si256(m, 1);
    if (dt == MK_DT_F32) {
        h = _mm_max_epu32(h, _mm256_castsi256_si128(m));
        h = _mm_max_epu32(h, _mm_srli_si128(h, 8));
        return (uint32_t)_mm_cvtsi128_si32(_mm_max_epu32(h, _mm_srli_si128(h, 4)));
    }
    h = _mm_max_epu16(h, _mm256_castsi256_si128(m));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 4));
    uint16_t top = (uint16_t)_mm_extract_epi16(_mm_max_epu16(h, _mm_srli_si128(h, 2)), 0);
    return dt == MK_DT_BF16 ? (uint32_t)top << 16 : mk_f32_bits(mk_f16_to_f32(top));
}

MK_INLINE uint32_t absmax_run(mk_dtype dt, const void *src, size_t n, uint32_t acc) {
    const char *p = src;
    size_t size = dt == MK_DT_F32 ? 4 : 2, i = 0; /* i counts bytes */
    __m256i m[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
    for (; i + 4 * 32 <= n * size; i += 4 * 32)
        for (int k = 0; k < 4; k++)
            m[k] = abs_max(dt, m[k], _mm256_loadu_si256((const __m256i *)(p + i + 32 * k)));
    uint32_t bits =
        reduce_abs_max(dt, abs_max(dt, abs_max(dt, m[0], m[1]), abs_max(dt, m[2], m[3])));
    return ref->absmax(dt, p + i, n - i / size, bits > acc ? bits : acc);
}

MK_INLINE void quant_e4m3_run(mk_dtype dt, const void *src, size_t n, float scale, uint8_t *dst) {
    const __m256 s = _mm256_set1_ps(scale);
    size_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        __m256 v[4];
        __m256i q[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_div_ps(load8(dt, src, i + 8 * k), s);
            q[k] = e4m3_magnitude8(v[k]);
        }
        __m256i codes = _mm256_or_si256(pack_bytes_in_lane(q), pack_signs_in_lane(v));
        _mm256_storeu_si256((__m256i *)(dst + i), lane_order(codes));
    }
    ref->quant_e4m3(dt, advance(dt, src, i), n - i, scale, dst + i);
}

MK_INLINE void quant_int8_run(mk_dtype dt, const void *src, size_t n, float scale, int8_t *dst) {
    const __m256 s = _mm256_set1_ps(scale);
    size_t i = 0;
    for (; i + STEP <= n; i += STEP) {
        __m256i q[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m256 v = _mm256_div_ps(load8(dt, src, i + 8 * k), s);
            v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q[k] = _mm256_cvtps_epi32(clamp(v, MK_INT8_MAX)); /* integral already: exact */
        }
        _mm256_storeu_si256((__m256i *)(dst + i), lane_order(pack_bytes_in_lane(q)));
    }
    ref->quant_int8(dt, advance(dt, src, i), n - i, scale, dst + i);
}

MK_INLINE void dequant_run(mk_dtype dt, const void *src, size_t n, float scale, float *dst) {
    const __m256 s = _mm256_set1_ps(scale);
    size_t i = 0;
    for (; i + STEP <= n; i += STEP)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(dst + i + 8 * k, _mm256_mul_ps(load8(dt, src, i + 8 * k), s));
    ref->dequant(dt, advance(dt, src, i), n - i, scale, dst + i);
}

/* The entry points specialise each loop per source type (a constant dt folds
 * the switches inside load8), and leave other types to the reference. */
static uint32_t absmax_avx2(mk_dtype dt, const void *src, size_t n, uint32_t acc) {
    switch (dt) {
    case MK_DT_F32: return absmax_run(MK_DT_F32, src, n, acc);
    case MK_DT_F16: return absmax_run(MK_DT_F16, src, n, acc);
    case MK_DT_BF16: return absmax_run(MK_DT_BF16, src, n, acc);
    default: return ref->absmax(dt, src, n, acc);
    }
}

static void quant_e4m3_avx2(mk_dtype dt, const void *src, size_t n, float scale, uint8_t *dst) {
    switch (dt) {
    case MK_DT_F32: quant_e4m3_run(MK_DT_F32, src, n, scale, dst); break;
    case MK_DT_F16: quant_e4m3_run(MK_DT_F16, src, n, scale, dst); break;
    case MK_DT_BF16: quant_e4m3_run(MK_DT_BF16, src, n, scale, dst); break;
    default: ref->quant_e4m3(dt, src, n, scale, dst);
    }
}

static void quant_int8_avx2(mk_dtype dt, const void *src, size_t n, float scale, int8_t *dst) {
    switch (dt) {
    case MK_DT_F32: quant_int8_run(MK_DT_F32, src, n, scale, dst); break;
    case MK_DT_F16: quant_int8_run(MK_DT_F16, src, n, scale, dst); break;
    case MK_DT_BF16: quant_int8_run(MK_DT_BF16, src, n, scale, dst); break;
    default: ref->quant_int8(dt, src, n, scale, dst);
    }
}

static void dequant_avx2(mk_dtype dt, const void *src, size_t n, float scale, float *dst) {
    switch (dt) {
    case MK_DT_F32: dequant_run(MK_DT_F32, src, n, scale, dst); break;
    case MK_DT_F16: dequant_run(MK_DT_F16, src, n, scale, dst); break;
    case MK_DT_BF16: dequant_run(MK_DT_BF16, src, n, scale, dst); break;
    case MK_DT_F8_E4M3: dequant_run(MK_DT_F8_E4M3, src, n, scale, dst); break;
    case MK_DT_I8: dequant_run(MK_DT_I8, src, n, scale, dst); break;
    default: ref->dequant(dt, src, n, scale, dst);
    }
}

const mk_kernels mk_kernels_avx2_table = {
    .isa = MK_ISA_AVX2,
    .absmax = absmax_avx2,
    .quant_e4m3 = quant_e4m3_avx2,
    .quant_int8 = quant_int8_avx2,
    .dequant = dequant_avx2,
};
