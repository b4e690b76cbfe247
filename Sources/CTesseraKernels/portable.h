/// Internal: helpers shared by the plain-C kernels (dequantize.c, portable*.c), and the
/// portable K-quant products (portable_kquants.c) for the table.
#ifndef TESSERA_PORTABLE_H
#define TESSERA_PORTABLE_H

#include "blocks.h"

/// binary16 to f32 exactly, inline: the magnitude's bits moved into f32 position read as a float
/// 2^-112 times too small (subnormal halves land on f32 subnormals), so one exact multiply by
/// 2^112 rebiases both normal and subnormal values; infinities and NaNs are set directly.
static inline float tk_half_to_float_inline(tk_half h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t magnitude = (uint32_t)(h & 0x7fff) << 13;
    union { uint32_t u; float f; } v;
    if (magnitude >= 0x0f800000u) {          /* exponent 31: inf / nan, payload kept */
        v.u = sign | 0x7f800000u | magnitude;
        return v.f;
    }
    v.u = magnitude;
    v.f *= 0x1p112f;
    v.u |= sign;
    return v.f;
}

/// Sum of a[i] * b[i], exact (|a|, |b| <= 128 and count <= 256 cannot overflow).
static inline int32_t tk_dot_i8(const int8_t *a, const int8_t *b, int count) {
    int32_t sum = 0;
    for (int i = 0; i < count; i++) sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

/// The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K.
static inline void tk_scale_min_k4(const uint8_t s[12], int j, int *scale, int *min) {
    if (j < 4) {
        *scale = s[j] & 0x3f;
        *min = s[j + 4] & 0x3f;
    } else {
        *scale = (s[j + 4] & 0x0f) | ((s[j - 4] >> 2) & 0x30);
        *min = (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30);
    }
}

float tk_dot_q2_K_portable(int64_t n, const void *w, const void *a);
float tk_dot_q3_K_portable(int64_t n, const void *w, const void *a);
float tk_dot_q4_K_portable(int64_t n, const void *w, const void *a);
float tk_dot_q5_K_portable(int64_t n, const void *w, const void *a);
float tk_dot_q6_K_portable(int64_t n, const void *w, const void *a);

#endif
