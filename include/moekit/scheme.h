/*
 * moekit/scheme.h - the quantization schemes a conversion can apply.
 * On-disk forms: docs/quantization.md.
 */
#ifndef MOEKIT_SCHEME_H
#define MOEKIT_SCHEME_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_scheme {
    MK_SCHEME_FP8_BLOCK,    /* E4M3 + F32 scale per 128x128 block */
    MK_SCHEME_FP8_TENSOR,   /* E4M3 + F32 weight_scale (one value) */
    MK_SCHEME_FP8_CHANNEL,  /* E4M3 + F32 weight_scale [N,1], compressed-tensors */
    MK_SCHEME_INT8_CHANNEL, /* I8 + F32 weight_scale [N,1], compressed-tensors W8A8 */
    MK_SCHEME_INT8_GROUP,   /* weight-only INT8, groups of 128 along K, pack-quantized */
    MK_SCHEME_BF16,         /* cast / dequantize to BF16 */
    MK_SCHEME_F16,          /* cast / dequantize to F16 */
    MK_SCHEME_COUNT
} mk_scheme;

const char *mk_scheme_name(mk_scheme s);            /* "fp8-block" */
int mk_scheme_parse(const char *s, mk_scheme *out); /* 0 ok, -1 unknown */
/* The schemes that store quantized codes (not the bf16/f16 casts). */
static inline int mk_scheme_is_quant(mk_scheme s) { return s <= MK_SCHEME_INT8_GROUP; }

#ifdef __cplusplus
}
#endif
#endif
