/*
 * Run-time choice of the kernel table: the CPU's features (CPUID through
 * __builtin_cpu_supports) decide, and MOEKIT_ISA can only lower the choice.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/quant_impl.h"

const char *mk_isa_name(mk_isa isa) {
    static const char *const names[] = {"scalar", "avx2", "avx512"};
    return (unsigned)isa < MK_ISA_COUNT ? names[isa] : "?";
}

static int cpu_has(mk_isa isa) {
    switch (isa) {
    case MK_ISA_SCALAR: return 1;
    case MK_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    case MK_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c");
    default: return 0;
    }
}

const mk_kernels *mk_kernels_for(mk_isa isa) {
    if (!cpu_has(isa)) return NULL;
    const mk_kernels *k = NULL;
    switch (isa) {
    case MK_ISA_SCALAR: k = &mk_kernels_scalar_table; break;
    case MK_ISA_AVX2: k = &mk_kernels_avx2_table; break;
    case MK_ISA_AVX512: k = &mk_kernels_avx512_table; break;
    default: return NULL;
    }
    /* A table left incomplete in a build is treated as absent. */
    return k->absmax && k->quant_e4m3 && k->quant_int8 && k->dequant ? k : NULL;
}

const mk_kernels *mk_kernels_best(void) {
    mk_isa cap = MK_ISA_AVX512;
    const char *env = getenv("MOEKIT_ISA");
    if (env) {
        for (int i = 0; i < MK_ISA_COUNT; i++)
            if (strcmp(env, mk_isa_name((mk_isa)i)) == 0) cap = (mk_isa)i;
    }
    for (int i = (int)cap; i >= 0; i--) {
        const mk_kernels *k = mk_kernels_for((mk_isa)i);
        if (k) return k;
    }
    return &mk_kernels_scalar_table;
}
