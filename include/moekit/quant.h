/*
 * moekit/quant.h - quantization kernels: absolute maxima, FP8 (E4M3) and
 * INT8 encoding, decoding back to F32.
 *
 * Arithmetic contract (identical in every code path, see docs/quantization.md):
 *   FP8:  s = amax / 448.0f;  q = e4m3_rne(clamp(x / s, -448, 448))
 *   INT8: s = amax / 127.0f;  q = clamp(round_half_even(x / s), -127, 127)
 *   amax == 0 gives s = 1.0f (so does an amax whose scale underflows to 0).  `x / s` is an IEEE F32 division, never a
 *   multiplication by 1/s (the two differ by an ulp on some inputs).
 * E4M3 is OCP E4M3FN (torch.float8_e4m3fn): bias 7, no infinities, 0x7F/0xFF
 * NaN, max 448, subnormals down to 2^-9, round to nearest even, the sign of
 * zero kept (-0.0 and negative values that round to zero give 0x80).
 *
 * Each operation has a plain scalar reference (mk_kernels_ref()) that *is*
 * the specification; SIMD tables (AVX2+F16C, AVX-512) are chosen at run time
 * and must produce the same bits on every input, which the tests prove.
 */
#ifndef MOEKIT_QUANT_H
#define MOEKIT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "moekit/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_E4M3_MAX 448.0f
#define MK_INT8_MAX 127.0f

/* Absolute maxima are carried as the bit pattern of a non-negative F32:
 * for non-negative floats, integer order is value order, so maxima combine
 * exactly with integer max, and a value >= MK_ABS_NONFINITE means a NaN or
 * infinity was seen. */
#define MK_ABS_NONFINITE 0x7f800000u

typedef enum mk_isa { MK_ISA_SCALAR, MK_ISA_AVX2, MK_ISA_AVX512, MK_ISA_COUNT } mk_isa;

typedef struct mk_kernels {
    mk_isa isa;
    /* max(acc, bits(|x|)) over n elements of `src` (F32, F16 or BF16). */
    uint32_t (*absmax)(mk_dtype dt, const void *src, size_t n, uint32_t acc);
    /* q[i] = e4m3_rne(clamp(x[i] / scale, -448, 448)); src F32, F16 or BF16. */
    void (*quant_e4m3)(mk_dtype dt, const void *src, size_t n, float scale, uint8_t *dst);
    /* q[i] = clamp(rne(x[i] / scale), -127, 127). */
    void (*quant_int8)(mk_dtype dt, const void *src, size_t n, float scale, int8_t *dst);
    /* dst[i] = decode(src[i]) * scale, in F32 (scale 1 decodes exactly);
     * src F32, F16, BF16, F8_E4M3 or I8. */
    void (*dequant)(mk_dtype dt, const void *src, size_t n, float scale, float *dst);
} mk_kernels;

/* The scalar reference. */
const mk_kernels *mk_kernels_ref(void);
/* The table for `isa`, or NULL when this CPU (or build) lacks it. */
const mk_kernels *mk_kernels_for(mk_isa isa);
/* The fastest table this CPU supports; MOEKIT_ISA=scalar|avx2|avx512 in the
 * environment caps the choice (for benchmarks and bug hunts). */
const mk_kernels *mk_kernels_best(void);
const char *mk_isa_name(mk_isa isa);

/* Scalar element operations (the specification). */
uint8_t mk_e4m3_encode(float v);   /* v already clamped to [-448, 448], not NaN */
float mk_e4m3_decode(uint8_t q);
int8_t mk_int8_encode(float v);    /* clamp(rne(v), -127, 127) */
float mk_abs_bits_to_f32(uint32_t bits);

/* Scales by the contract; amax_bits from absmax (must be finite). */
float mk_fp8_scale(uint32_t amax_bits);
float mk_int8_scale(uint32_t amax_bits);

#ifdef __cplusplus
}
#endif
#endif
