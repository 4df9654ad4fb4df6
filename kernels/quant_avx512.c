/*
 * AVX-512 (F, BW, VL) quantization kernels, bit-identical to the scalar
 * reference (kernels/quant_ref.c).  Same arithmetic as quant_avx2.c on 16
 * lanes; the tail is one more pass with a lane mask (masked loads read
 * nothing past the end and fill zeros, which no maximum or code depends on),
 * so every element goes through the same vector code.  Source types without
 * a vector path go to the reference.
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
 *    sum are the code.
 *  - clamps are min(limit, v) / max(-limit, v): with the operands in that
 *    order a NaN passes through like the reference's two comparisons, so
 *    even out-of-contract inputs (x / 0) encode to the reference's bits.
 *  - x / scale is a true division and there is no FMA: both are part of the
 *    arithmetic contract.
 *  - F16 (vcvtph2ps) and BF16 (a 16-bit shift) widen exactly.
 */
#include <immintrin.h>

#include "kernels/quant_impl.h"
#include "moekit/kernels.h"

#define MK_INLINE static inline __attribute__((always_inline))
#define UNROLL 4 /* full 16-lane vectors per main-loop iteration */

static const mk_kernels *const ref = &mk_kernels_scalar_table;

static const void *advance(mk_dtype dt, const void *src, size_t i) {
    size_t size = dt == MK_DT_F32 ? 4 : (dt == MK_DT_F16 || dt == MK_DT_BF16) ? 2 : 1;
    return (const char *)src + i * size;
}

/* Lanes [0, left) of a 16-lane vector. */
MK_INLINE __mmask16 mask16(size_t left) {
    return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1u);
}

/* E4M3 codes (0..255 in 32-bit lanes) to F32, as mk_e4m3_decode. */
MK_INLINE __m512 e4m3_decode16(__m512i q) {
    __m512i mag = _mm512_and_si512(q, _mm512_set1_epi32(0x7f));
    __m512i r = _mm512_add_epi32(_mm512_slli_epi32(mag, 20), _mm512_set1_epi32(120 << 23));
    __m512 m = _mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(7)));
    __m512i subnormal = _mm512_castps_si512(_mm512_mul_ps(m, _mm512_set1_ps(0x1p-9f)));
    r = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(mag, _mm512_set1_epi32(8)), r, subnormal);
    r = _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7f)), r,
                                _mm512_set1_epi32(0x7fc00000));
    __m512i sign = _mm512_slli_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0x80)), 24);
    return _mm512_castsi512_ps(_mm512_or_si512(r, sign));
}

/* The lanes of src[i .. i+16) selected by `m` as exact F32, zeros elsewhere;
 * dt is a constant at every call site. */
MK_INLINE __m512 load16(mk_dtype dt, const void *src, size_t i, __mmask16 m) {
    const void *p = advance(dt, src, i);
    switch (dt) {
    case MK_DT_F32: return _mm512_maskz_loadu_ps(m, p);
    case MK_DT_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    case MK_DT_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
    case MK_DT_I8: return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
    default: return e4m3_decode16(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p))); /* F8_E4M3 */
    }
}

MK_INLINE __m512 clamp(__m512 v, float limit) {
    return _mm512_max_ps(_mm512_set1_ps(-limit), _mm512_min_ps(_mm512_set1_ps(limit), v));
}

/* E4M3 codes of clamp(v, 448), as mk_e4m3_encode, in the low byte of each
 * lane.  Clamping the magnitude is the same as clamping v and one
 * instruction cheaper; the sign comes from v itself. */
MK_INLINE __m512i e4m3_encode16(__m512 v) {
    __m512i x = _mm512_castps_si512(v);
    __m512 abs = _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)));
    __m512i a = _mm512_castps_si512(_mm512_min_ps(_mm512_set1_ps(MK_E4M3_MAX), abs));
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(a, 20), _mm512_set1_epi32(1));
    /* Rounding increment and re-bias in one constant: a >= 2^-6 keeps the sum positive. */
    __m512i r =
        _mm512_add_epi32(_mm512_add_epi32(a, _mm512_set1_epi32(0x7ffff - (960 << 20))), lsb);
    r = _mm512_srli_epi32(r, 20);
    __m512 grid = _mm512_add_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(0x1p14f));
    __m512i subnormal = _mm512_sub_epi32(_mm512_castps_si512(grid), _mm512_set1_epi32(141 << 23));
    r = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(a, _mm512_set1_epi32(0x3c800000)), r,
                                subnormal);
    __m512i sign = _mm512_and_si512(_mm512_srli_epi32(x, 24), _mm512_set1_epi32(0x80));
    return _mm512_or_si512(r, sign);
}

enum op { OP_E4M3, OP_INT8, OP_DEQUANT };

/* One operation on 16 elements; lanes outside `m` are neither read nor written.
 * op and dt are constants at every call site. */
MK_INLINE void step16(enum op op, mk_dtype dt, const void *src, size_t i, __mmask16 m, __m512 s,
                      void *dst) {
    __m512 x = load16(dt, src, i, m);
    if (op == OP_DEQUANT) {
        _mm512_mask_storeu_ps((float *)dst + i, m, _mm512_mul_ps(x, s));
        return;
    }
    __m512 v = _mm512_div_ps(x, s);
    __m512i q;
    if (op == OP_E4M3) {
        q = e4m3_encode16(v);
    } else {
        v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_cvtps_epi32(clamp(v, MK_INT8_MAX)); /* integral already: exact */
    }
    _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)dst + i, m, q); /* keeps the low bytes */
}

/* UNROLL full vectors per iteration, then masked ones for the rest. */
MK_INLINE void run(enum op op, mk_dtype dt, const void *src, size_t n, float scale, void *dst) {
    const __m512 s = _mm512_set1_ps(scale);
    size_t i = 0;
    for (; i + 16 * UNROLL <= n; i += 16 * UNROLL)
        for (int k = 0; k < UNROLL; k++) step16(op, dt, src, i + 16 * (size_t)k, 0xffff, s, dst);
    for (; i < n; i += 16) step16(op, dt, src, i, mask16(n - i), s, dst);
}

/* max(m, |x|) lane-wise, on 16 F32 or 32 F16/BF16 bit patterns. */
MK_INLINE __m512i abs_max(mk_dtype dt, __m512i m, __m512i x) {
    if (dt == MK_DT_F32)
        return _mm512_max_epu32(m, _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)));
    return _mm512_max_epu16(m, _mm512_and_si512(x, _mm512_set1_epi16(0x7fff)));
}

MK_INLINE uint32_t absmax_run(mk_dtype dt, const void *src, size_t n, uint32_t acc) {
    const char *p = src;
    size_t bytes = n * (dt == MK_DT_F32 ? 4 : 2), i = 0;
    __m512i m[UNROLL];
    for (int k = 0; k < UNROLL; k++) m[k] = _mm512_setzero_si512();
    for (; i + 64 * UNROLL <= bytes; i += 64 * UNROLL)
        for (int k = 0; k < UNROLL; k++)
            m[k] = abs_max(dt, m[k], _mm512_loadu_si512(p + i + 64 * k));
    for (; i < bytes; i += 64) { /* whole elements: bytes - i is a multiple of their size */
        __mmask64 left = bytes - i >= 64 ? ~0ull : (1ull << (bytes - i)) - 1;
        m[0] = abs_max(dt, m[0], _mm512_maskz_loadu_epi8(left, p + i));
    }
    for (int k = 1; k < UNROLL; k++) m[0] = abs_max(dt, m[0], m[k]);
    uint32_t bits;
    if (dt == MK_DT_F32) {
        bits = _mm512_reduce_max_epu32(m[0]);
    } else {
        __m256i h =
            _mm256_max_epu16(_mm512_castsi512_si256(m[0]), _mm512_extracti64x4_epi64(m[0], 1));
        uint16_t top = (uint16_t)_mm512_reduce_max_epu32(_mm512_cvtepu16_epi32(h));
        bits = dt == MK_DT_BF16 ? (uint32_t)top << 16 : mk_f32_bits(mk_f16_to_f32(top));
    }
    return bits > acc ? bits : acc;
}

/* The entry points specialise each loop per source type (a constant dt folds
 * the switches inside load16), and leave other types to the reference. */
static uint32_t absmax_avx512(mk_dtype dt, const void *src, size_t n, uint32_t acc) {
    switch (dt) {
    case MK_DT_F32: return absmax_run(MK_DT_F32, src, n, acc);
    case MK_DT_F16: return absmax_run(MK_DT_F16, src, n, acc);
    case MK_DT_BF16: return absmax_run(MK_DT_BF16, src, n, acc);
    default: return ref->absmax(dt, src, n, acc);
    }
}

static void quant_e4m3_avx512(mk_dtype dt, const void *src, size_t n, float scale, uint8_t *dst) {
    switch (dt) {
    case MK_DT_F32: run(OP_E4M3, MK_DT_F32, src, n, scale, dst); break;
    case MK_DT_F16: run(OP_E4M3, MK_DT_F16, src, n, scale, dst); break;
    case MK_DT_BF16: run(OP_E4M3, MK_DT_BF16, src, n, scale, dst); break;
    default: ref->quant_e4m3(dt, src, n, scale, dst);
    }
}

static void quant_int8_avx512(mk_dtype dt, const void *src, size_t n, float scale, int8_t *dst) {
    switch (dt) {
    case MK_DT_F32: run(OP_INT8, MK_DT_F32, src, n, scale, dst); break;
    case MK_DT_F16: run(OP_INT8, MK_DT_F16, src, n, scale, dst); break;
    case MK_DT_BF16: run(OP_INT8, MK_DT_BF16, src, n, scale, dst); break;
    default: ref->quant_int8(dt, src, n, scale, dst);
    }
}

static void dequant_avx512(mk_dtype dt, const void *src, size_t n, float scale, float *dst) {
    switch (dt) {
    case MK_DT_F32: run(OP_DEQUANT, MK_DT_F32, src, n, scale, dst); break;
    case MK_DT_F16: run(OP_DEQUANT, MK_DT_F16, src, n, scale, dst); break;
    case MK_DT_BF16: run(OP_DEQUANT, MK_DT_BF16, src, n, scale, dst); break;
    case MK_DT_F8_E4M3: run(OP_DEQUANT, MK_DT_F8_E4M3, src, n, scale, dst); break;
    case MK_DT_I8: run(OP_DEQUANT, MK_DT_I8, src, n, scale, dst); break;
    default: ref->dequant(dt, src, n, scale, dst);
    }
}

const mk_kernels mk_kernels_avx512_table = {
    .isa = MK_ISA_AVX512,
    .absmax = absmax_avx512,
    .quant_e4m3 = quant_e4m3_avx512,
    .quant_int8 = quant_int8_avx512,
    .dequant = dequant_avx512,
};
