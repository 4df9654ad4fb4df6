/*
 * kernels/quant_impl.h - private: the per-ISA kernel tables and shared
 * inline helpers.  Each SIMD file is compiled with its own -m flags and only
 * entered after a CPUID check (see quant_dispatch.c).
 */
#ifndef MK_KERNELS_QUANT_IMPL_H
#define MK_KERNELS_QUANT_IMPL_H

#include <string.h>

#include "moekit/quant.h"

extern const mk_kernels mk_kernels_scalar_table;
extern const mk_kernels mk_kernels_avx2_table;
extern const mk_kernels mk_kernels_avx512_table;

static inline uint32_t mk_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float mk_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#endif
