/* F16/BF16 <-> F32 reference conversions: exhaustive round trips over all
 * 2^16 bit patterns, round-to-nearest-even at ties, and agreement with the
 * CPU's own F16C conversion (an independent implementation) when present. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "moekit/kernels.h"

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

TEST(f16_all_patterns_round_trip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mk_f16_to_f32((uint16_t)h);
        bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan) {
            CHECKF(isnan(f), "0x%04x should decode to NaN", h);
            CHECKF((mk_f32_to_f16(f) & 0x7e00) == 0x7e00, "NaN 0x%04x re-encodes as non-NaN", h);
            continue;
        }
        CHECKF(mk_f32_to_f16(f) == h, "0x%04x -> %a -> 0x%04x", h, (double)f, mk_f32_to_f16(f));
    }
}

TEST(bf16_all_patterns_round_trip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mk_bf16_to_f32((uint16_t)h);
        CHECK(bits(f) == h << 16);
        if (isnan(f)) {
            CHECK(isnan(mk_bf16_to_f32(mk_f32_to_bf16(f))));
            continue;
        }
        CHECKF(mk_f32_to_bf16(f) == h, "0x%04x round trip", h);
    }
}

TEST(bf16_rounds_ties_to_even) {
    CHECK_EQ_INT(mk_f32_to_bf16(from_bits(0x3f808000)), 0x3f80); /* 1 + 2^-8: tie, keep even */
    CHECK_EQ_INT(mk_f32_to_bf16(from_bits(0x3f818000)), 0x3f82); /* tie, round up to even */
    CHECK_EQ_INT(mk_f32_to_bf16(from_bits(0x3f808001)), 0x3f81); /* above the tie */
    CHECK_EQ_INT(mk_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80); /* FLT_MAX -> inf */
    CHECK_EQ_INT(mk_f32_to_bf16(-0.0f), 0x8000);
}

TEST(f16_edges) {
    CHECK_EQ_INT(mk_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(mk_f32_to_f16(65519.99f), 0x7bff);
    CHECK_EQ_INT(mk_f32_to_f16(65520.0f), 0x7c00);
    CHECK_EQ_INT(mk_f32_to_f16(-INFINITY), 0xfc00);
    CHECK_EQ_INT(mk_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_EQ_INT(mk_f32_to_f16(0x1p-25f), 0x0000);       /* tie to even: 0 */
    CHECK_EQ_INT(mk_f32_to_f16(0x1.8p-24f), 0x0002);     /* tie 1.5 -> 2 */
    CHECK_EQ_INT(mk_f32_to_f16(-0x1.000002p-25f), 0x8001);
    CHECK_EQ_INT(mk_f32_to_f16(0x1.ff8p-15f), 0x03ff);   /* largest subnormal */
    CHECK_EQ_INT(mk_f32_to_f16(0x1.ffcp-15f), 0x0400);   /* tie rounds up into the smallest normal */
}

__attribute__((target("f16c"))) static uint16_t hw_f16(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

TEST(f16_matches_hardware_f16c) {
    if (!__builtin_cpu_supports("f16c")) return; /* nothing independent to compare with */
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        /* Concentrate on the F16 range and its edges: exponents 100..150. */
        uint32_t u = (uint32_t)s;
        if (i & 1) u = (u & 0x807fffffu) | ((100u + (uint32_t)(s >> 40) % 51u) << 23);
        float f = from_bits(u);
        if (isnan(f)) continue;
        CHECKF(mk_f32_to_f16(f) == hw_f16(f), "%a: ours 0x%04x, F16C 0x%04x", (double)f,
               mk_f32_to_f16(f), hw_f16(f));
    }
}
