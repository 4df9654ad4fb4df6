/*
 * moekit/kernels.h - numeric kernels: element type conversion.
 *
 * Every conversion here is exact or rounds to nearest, ties to even, and is
 * the specification that faster variants must match bit for bit.  NaN inputs
 * stay NaN (quiet, sign kept); values past a format's range become infinity
 * where the format has one.
 */
#ifndef MOEKIT_KERNELS_H
#define MOEKIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Scalar conversions (the reference semantics). */
float mk_bf16_to_f32(uint16_t h);
uint16_t mk_f32_to_bf16(float f);
float mk_f16_to_f32(uint16_t h);
uint16_t mk_f32_to_f16(float f);

/* Row conversions over n elements. */
void mk_f32_to_bf16_row(const float *src, uint16_t *dst, size_t n);
void mk_f32_to_f16_row(const float *src, uint16_t *dst, size_t n);
void mk_bf16_to_f32_row(const uint16_t *src, float *dst, size_t n);
void mk_f16_to_f32_row(const uint16_t *src, float *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif
