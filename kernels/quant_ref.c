/*
 * Scalar reference quantization kernels: the specification every SIMD path
 * must reproduce bit for bit (see moekit/quant.h for the contract).
 *
 * E4M3 encoding works on the F32 bit pattern with integer arithmetic only,
 * so it does not depend on the floating-point environment: for normal
 * results the top 3 mantissa bits are kept and the 20 dropped bits decide
 * the rounding (ties to even); below 2^-6 the value is a multiple of 2^-9
 * and the integer multiple is rounded the same way.
 */
#include <math.h>

#include "kernels/quant_impl.h"
#include "moekit/kernels.h"

float mk_abs_bits_to_f32(uint32_t bits) { return mk_bits_f32(bits); }

uint8_t mk_e4m3_encode(float v) {
    uint32_t x = mk_f32_bits(v);
    uint8_t sign = (uint8_t)((x >> 24) & 0x80u);
    uint32_t a = x & 0x7fffffffu;
    if (a >= 0x3c800000u) { /* |v| >= 2^-6: normal E4M3 */
        uint32_t keep = a >> 20;   /* exponent and top 3 mantissa bits */
        uint32_t rem = a & 0xfffffu;
        if (rem > 0x80000u || (rem == 0x80000u && (keep & 1u))) keep++;
        return (uint8_t)(sign | (keep - (120u << 3))); /* re-bias 127 -> 7 */
    }
    uint32_t e = a >> 23;
    if (e <= 116u) return sign; /* |v| <= 2^-11 (or F32 subnormal): rounds to zero */
    /* |v| = m * 2^(e-150); in units of 2^-9 that is m * 2^(e-141). */
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 141u - e; /* 21..24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint8_t)(sign | q); /* q == 8 is the smallest normal, 0x08: encodings are contiguous */
}

float mk_e4m3_decode(uint8_t q) {
    uint32_t sign = (uint32_t)(q & 0x80u) << 24;
    uint32_t e = (q >> 3) & 0xfu, m = q & 7u;
    if (e == 15 && m == 7) return mk_bits_f32(sign | 0x7fc00000u); /* NaN */
    if (e == 0) return mk_bits_f32(sign | mk_f32_bits((float)m * 0x1p-9f));
    return mk_bits_f32(sign | ((e + 120u) << 23) | (m << 20));
}

int8_t mk_int8_encode(float v) {
    /* nearbyintf rounds half to even in the default rounding mode, which
     * moekit never changes. */
    float r = nearbyintf(v);
    if (r > MK_INT8_MAX) r = MK_INT8_MAX;
    if (r < -MK_INT8_MAX) r = -MK_INT8_MAX;
    return (int8_t)r;
}

/* amax == 0 gives 1.0; so does an amax so small (a subnormal below about
 * 2^-140) that amax / 448 underflows to 0, which would turn x / s into
 * NaN or infinity.  With s = 1 every such value encodes as (signed) zero. */
float mk_fp8_scale(uint32_t amax_bits) {
    float s = mk_bits_f32(amax_bits) / MK_E4M3_MAX;
    return s == 0.0f ? 1.0f : s;
}

float mk_int8_scale(uint32_t amax_bits) {
    float s = mk_bits_f32(amax_bits) / MK_INT8_MAX;
    return s == 0.0f ? 1.0f : s;
}

/* |x| as F32 bits, for any source element. */
static inline uint32_t abs_bits(mk_dtype dt, const void *src, size_t i) {
    switch (dt) {
    case MK_DT_F32: return ((const uint32_t *)src)[i] & 0x7fffffffu;
    case MK_DT_BF16: return (uint32_t)(((const uint16_t *)src)[i] & 0x7fffu) << 16;
    case MK_DT_F16: return mk_f32_bits(mk_f16_to_f32(((const uint16_t *)src)[i] & 0x7fffu));
    default: return MK_ABS_NONFINITE + 1u; /* unsupported: poison the result */
    }
}

static inline float load_f32(mk_dtype dt, const void *src, size_t i) {
    switch (dt) {
    case MK_DT_F32: return ((const float *)src)[i];
    case MK_DT_BF16: return mk_bf16_to_f32(((const uint16_t *)src)[i]);
    case MK_DT_F16: return mk_f16_to_f32(((const uint16_t *)src)[i]);
    case MK_DT_F8_E4M3: return mk_e4m3_decode(((const uint8_t *)src)[i]);
    case MK_DT_I8: return (float)((const int8_t *)src)[i];
    default: return NAN;
    }
}

static uint32_t absmax_ref(mk_dtype dt, const void *src, size_t n, uint32_t acc) {
    for (size_t i = 0; i < n; i++) {
        uint32_t b = abs_bits(dt, src, i);
        if (b > acc) acc = b;
    }
    return acc;
}

static float clamp_e4m3(float v) {
    if (v > MK_E4M3_MAX) return MK_E4M3_MAX;
    if (v < -MK_E4M3_MAX) return -MK_E4M3_MAX;
    return v;
}

static void quant_e4m3_ref(mk_dtype dt, const void *src, size_t n, float scale, uint8_t *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = mk_e4m3_encode(clamp_e4m3(load_f32(dt, src, i) / scale));
}

static void quant_int8_ref(mk_dtype dt, const void *src, size_t n, float scale, int8_t *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = mk_int8_encode(load_f32(dt, src, i) / scale);
}

static void dequant_ref(mk_dtype dt, const void *src, size_t n, float scale, float *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = load_f32(dt, src, i) * scale;
}

const mk_kernels mk_kernels_scalar_table = {
    .isa = MK_ISA_SCALAR,
    .absmax = absmax_ref,
    .quant_e4m3 = quant_e4m3_ref,
    .quant_int8 = quant_int8_ref,
    .dequant = dequant_ref,
};

const mk_kernels *mk_kernels_ref(void) { return &mk_kernels_scalar_table; }
