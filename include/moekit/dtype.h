/*
 * moekit/dtype.h - the element types safetensors files carry.
 *
 * The enum follows the safetensors reference implementation's "alignment
 * order" (huggingface/safetensors tensor.rs, enum Dtype), which is also the
 * order its writer sorts tensors by (descending).  Keeping the same order lets
 * our writer lay tensors out exactly as the reference would.
 * Sub-byte types (F4, F6_*) are recognised by name but not supported.
 */
#ifndef MOEKIT_DTYPE_H
#define MOEKIT_DTYPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_dtype {
    MK_DT_BOOL = 0,
    MK_DT_U8,
    MK_DT_I8,
    MK_DT_F8_E5M2,
    MK_DT_F8_E4M3,
    MK_DT_F8_E8M0,
    MK_DT_F8_E4M3FNUZ,
    MK_DT_F8_E5M2FNUZ,
    MK_DT_I16,
    MK_DT_U16,
    MK_DT_F16,
    MK_DT_BF16,
    MK_DT_I32,
    MK_DT_U32,
    MK_DT_F32,
    MK_DT_C64,
    MK_DT_F64,
    MK_DT_I64,
    MK_DT_U64,
    MK_DT_COUNT
} mk_dtype;

/* Bytes per element (1, 2, 4 or 8). */
size_t mk_dtype_size(mk_dtype dt);

/* The safetensors spelling, e.g. "BF16", "F8_E4M3". */
const char *mk_dtype_name(mk_dtype dt);

/* Lower-case short form used in messages and on the command line ("bf16"). */
const char *mk_dtype_short(mk_dtype dt);

/* Parses a safetensors dtype string of `len` bytes.  Returns 0 and sets *out,
 * -1 for an unknown string, -2 for a known but unsupported (sub-byte) type. */
int mk_dtype_parse(const char *s, size_t len, mk_dtype *out);

#ifdef __cplusplus
}
#endif
#endif
