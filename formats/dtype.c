/* dtype names and sizes, in the safetensors reference order (see dtype.h). */
#include "moekit/dtype.h"

#include <string.h>

static const struct {
    const char *name, *shrt;
    unsigned char size;
} g_dtypes[MK_DT_COUNT] = {
    [MK_DT_BOOL] = {"BOOL", "bool", 1},
    [MK_DT_U8] = {"U8", "u8", 1},
    [MK_DT_I8] = {"I8", "i8", 1},
    [MK_DT_F8_E5M2] = {"F8_E5M2", "f8_e5m2", 1},
    [MK_DT_F8_E4M3] = {"F8_E4M3", "f8_e4m3", 1},
    [MK_DT_F8_E8M0] = {"F8_E8M0", "f8_e8m0", 1},
    [MK_DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", "f8_e4m3fnuz", 1},
    [MK_DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", "f8_e5m2fnuz", 1},
    [MK_DT_I16] = {"I16", "i16", 2},
    [MK_DT_U16] = {"U16", "u16", 2},
    [MK_DT_F16] = {"F16", "f16", 2},
    [MK_DT_BF16] = {"BF16", "bf16", 2},
    [MK_DT_I32] = {"I32", "i32", 4},
    [MK_DT_U32] = {"U32", "u32", 4},
    [MK_DT_F32] = {"F32", "f32", 4},
    [MK_DT_C64] = {"C64", "c64", 8},
    [MK_DT_F64] = {"F64", "f64", 8},
    [MK_DT_I64] = {"I64", "i64", 8},
    [MK_DT_U64] = {"U64", "u64", 8},
};

/* Known to the reference implementation but not byte-addressable. */
static const char *const g_subbyte[] = {"F4", "F6_E2M3", "F6_E3M2"};

size_t mk_dtype_size(mk_dtype dt) {
    return (unsigned)dt < MK_DT_COUNT ? g_dtypes[dt].size : 0;
}

const char *mk_dtype_name(mk_dtype dt) {
    return (unsigned)dt < MK_DT_COUNT ? g_dtypes[dt].name : "?";
}

const char *mk_dtype_short(mk_dtype dt) {
    return (unsigned)dt < MK_DT_COUNT ? g_dtypes[dt].shrt : "?";
}

int mk_dtype_parse(const char *s, size_t len, mk_dtype *out) {
    for (int i = 0; i < MK_DT_COUNT; i++) {
        if (strlen(g_dtypes[i].name) == len && memcmp(g_dtypes[i].name, s, len) == 0) {
            *out = (mk_dtype)i;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof g_subbyte / sizeof *g_subbyte; i++)
        if (strlen(g_subbyte[i]) == len && memcmp(g_subbyte[i], s, len) == 0) return -2;
    return -1;
}
