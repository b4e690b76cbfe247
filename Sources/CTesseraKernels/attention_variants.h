/// Internal: the attention kernels of each instruction-set level (attention_*.c), chosen per
/// call by attention_dispatch.c from `tk_isa_current()`.
#ifndef TESSERA_ATTENTION_VARIANTS_H
#define TESSERA_ATTENTION_VARIANTS_H

#include "tessera_kernels.h"

#define TK_ATTN_DECLARE(level)                                                                              \
    void tk_attn_scores_##level(const float *q, int64_t rows, int64_t hd, const float *keys, int64_t stride,  \
                                int64_t count, float *scores, int64_t score_stride);                          \
    void tk_attn_accumulate_##level(const float *w, int64_t weight_stride, int64_t rows, const float *values, \
                                    int64_t stride, int64_t count, int64_t hd, float *out);                   \
    void tk_f16_to_f32_##level(const uint16_t *src, float *dst, int64_t n);                                   \
    void tk_bf16_to_f32_##level(const uint16_t *src, float *dst, int64_t n);                                  \
    void tk_f32_to_f16_##level(const float *src, uint16_t *dst, int64_t n);                                   \
    void tk_f32_to_bf16_##level(const float *src, uint16_t *dst, int64_t n);

TK_ATTN_DECLARE(portable)
#if defined(__x86_64__)
TK_ATTN_DECLARE(avx2)
TK_ATTN_DECLARE(avx512)
#endif
#if defined(__aarch64__)
TK_ATTN_DECLARE(neon)
#endif

#undef TK_ATTN_DECLARE

/// One value's conversions, shared by the portable rows and the vector variants' tails: the
/// same bit manipulations as TesseraTensor's Swift `HalfPrecision`, so every level agrees.
static inline float tk_attn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, magnitude = h & 0x7fff, bits;
    if (magnitude >= 0x7c00) {
        bits = (magnitude << 13) | 0x7f800000u;      /* inf, or NaN with its payload as is */
    } else {
        /* Exponent and mantissa under the f32 fields, rebiased by a multiply by 2^112, which
           also normalises subnormals exactly. */
        union { uint32_t u; float f; } v = { magnitude << 13 };
        v.f *= 0x1p112f;
        bits = v.u;
    }
    union { uint32_t u; float f; } r = { bits | sign };
    return r.f;
}

static inline float tk_attn_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } r = { (uint32_t)h << 16 };
    return r.f;
}

static inline uint16_t tk_attn_f32_to_f16(float f) {
    union { float f; uint32_t u; } v = { f };
    uint32_t sign = (v.u >> 16) & 0x8000, magnitude = v.u & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) {                 /* inf or NaN */
        uint32_t nan = magnitude > 0x7f800000u ? 0x200 | ((magnitude >> 13) & 0x3ff) : 0;
        return (uint16_t)(sign | 0x7c00 | nan);
    }
    if (magnitude >= 0x47800000u) return (uint16_t)(sign | 0x7c00);   /* >= 65536 */
    if (magnitude < 0x38800000u) {
        /* Below 2^-14: adding 0.5 leaves the multiple of 2^-24 nearest the value (rounded to
           even by the FPU); its low mantissa bits are the f16 subnormal. */
        union { uint32_t u; float f; } m = { magnitude };
        union { float f; uint32_t u; } sum = { m.f + 0.5f };
        return (uint16_t)(sign | (sum.u - 0x3f000000u));
    }
    uint32_t odd = (magnitude >> 13) & 1;
    return (uint16_t)(sign | ((magnitude - (112u << 23) + 0xfff + odd) >> 13));
}

static inline uint16_t tk_attn_f32_to_bf16(float f) {
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    uint32_t odd = (v.u >> 16) & 1;
    return (uint16_t)((v.u + 0x7fff + odd) >> 16);
}

#endif
