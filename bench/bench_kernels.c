/*
 * Kernel benchmark: F16 and BF16 -> E4M3 with 128x128 block scales (amax
 * pass + quantize pass, the whole fp8-block inner loop) on one core, in GB/s
 * of input, against memcpy of the same bytes on one core measured in the
 * same run.  Prints each ISA available and the ratio to memcpy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moekit/kernels.h"
#include "moekit/quant.h"

#define ROWS 2048
#define COLS 7168 /* a DeepSeek-V3 expert gate/up projection */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void block_quant(const mk_kernels *K, mk_dtype dt, const uint16_t *w, uint8_t *q, float *scales) {
    int nkb = COLS / 128;
    for (int band = 0; band < ROWS / 128; band++) {
        uint32_t acc[COLS / 128] = {0};
        for (int r = band * 128; r < band * 128 + 128; r++)
            for (int j = 0; j < nkb; j++) acc[j] = K->absmax(dt, w + (size_t)r * COLS + j * 128, 128, acc[j]);
        for (int j = 0; j < nkb; j++) scales[band * nkb + j] = mk_fp8_scale(acc[j]);
        for (int r = band * 128; r < band * 128 + 128; r++)
            for (int j = 0; j < nkb; j++)
                K->quant_e4m3(dt, w + (size_t)r * COLS + j * 128, 128, scales[band * nkb + j],
                              q + (size_t)r * COLS + j * 128);
    }
}

static double best_of(int reps, void (*fn)(void *), void *ctx) {
    double best = 1e9;
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        fn(ctx);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

typedef struct job { const mk_kernels *K; mk_dtype dt; uint16_t *w; uint8_t *q; float *s; void *dst; } job;
static void run_quant(void *c) { job *j = c; block_quant(j->K, j->dt, j->w, j->q, j->s); }
static void run_memcpy(void *c) { job *j = c; memcpy(j->dst, j->w, (size_t)ROWS * COLS * 2); }

int main(void) {
    size_t n = (size_t)ROWS * COLS;
    job j = {0};
    j.w = malloc(n * 2);
    j.q = malloc(n);
    j.s = malloc(sizeof(float) * (ROWS / 128) * (COLS / 128));
    j.dst = malloc(n * 2);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float v = ((float)(x & 0xffff) - 32768.0f) * (0.02f / 32768.0f);
        j.w[i] = mk_f32_to_bf16(v);
    }
    memset(j.dst, 1, n * 2);
    memset(j.q, 1, n);
    double bytes = (double)n * 2;
    double t_mem = best_of(7, run_memcpy, &j);
    printf("memcpy_GBps %.2f\n", bytes / t_mem / 1e9);
    for (int isa = 0; isa < MK_ISA_COUNT; isa++) {
        j.K = mk_kernels_for((mk_isa)isa);
        if (!j.K) continue;
        for (int d = 0; d < 2; d++) {
            j.dt = d ? MK_DT_F16 : MK_DT_BF16;
            if (j.dt == MK_DT_F16)
                for (size_t i = 0; i < n; i++) j.w[i] = mk_f32_to_f16(mk_bf16_to_f32(j.w[i]));
            double t = best_of(isa == MK_ISA_SCALAR ? 2 : 5, run_quant, &j);
            printf("%s_%s_to_e4m3_block_GBps %.2f ratio_vs_memcpy %.2f\n", mk_isa_name((mk_isa)isa),
                   mk_dtype_short(j.dt), bytes / t / 1e9, t_mem / t);
            if (j.dt == MK_DT_F16)
                for (size_t i = 0; i < n; i++) j.w[i] = mk_f32_to_bf16(mk_f16_to_f32(j.w[i]));
        }
    }
    const mk_kernels *best = mk_kernels_best();
    printf("dispatch_choice %s\n", mk_isa_name(best->isa));
    return 0;
}
