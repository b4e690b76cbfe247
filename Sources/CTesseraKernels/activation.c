/// f32 activations to the integer blocks the quantised products read. The rule below is the
/// contract every instruction-set version reproduces byte for byte: per block, amax = max |x|,
/// d = amax / 127 in f32, id = d != 0 ? 1 / d : 0, q = x * id rounded to nearest, ties to even
/// (what SIMD conversions do in the default rounding mode; llama.cpp's reference rounds ties away
/// from zero, which only a few values ever hit).
#include "blocks.h"
#include "kernel_table.h"
#include <math.h>
#include <string.h>

/* No fused multiply-adds: each product and sum rounds on its own. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/// Quantises `count` values into `q`; returns d (f32, before any conversion to f16).
static float quantize_block(const float *x, int8_t *q, int count) {
    float amax = 0.0f;
    for (int i = 0; i < count; i++) {
        float a = fabsf(x[i]);
        if (a > amax) amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < count; i++) {
        float v = x[i] * id;
        q[i] = (int8_t)nearbyintf(v);
    }
    return d;
}

void tk_quantize_q8_0_portable(const float *x, void *dst, int64_t n) {
    tk_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        float d = quantize_block(x + b * TK_QK, y[b].qs, TK_QK);
        y[b].d = tk_float_to_half(d);
    }
}

void tk_quantize_q8_1_portable(const float *x, void *dst, int64_t n) {
    tk_block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        float d = quantize_block(x + b * TK_QK, y[b].qs, TK_QK);
        int sum = 0;
        for (int i = 0; i < TK_QK; i++) sum += y[b].qs[i];
        y[b].d = tk_float_to_half(d);
        y[b].s = tk_float_to_half(d * (float)sum);
    }
}

void tk_quantize_q8_K_portable(const float *x, void *dst, int64_t n) {
    tk_block_q8_K *y = dst;
    for (int64_t b = 0; b < n / TK_QK_K; b++) {
        y[b].d = quantize_block(x + b * TK_QK_K, y[b].qs, TK_QK_K);
        for (int g = 0; g < TK_QK_K / 16; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += y[b].qs[16 * g + i];
            y[b].bsums[g] = (int16_t)sum;
        }
    }
}

void tk_quantize_f32_portable(const float *x, void *dst, int64_t n) {
    if (n > 0) memcpy(dst, x, (size_t)n * sizeof(float));
}

int tk_activation_type(int weight_type) {
    switch (weight_type) {
    case TK_Q4_0: case TK_Q5_0: case TK_Q8_0: case TK_IQ4_NL: return TK_Q8_0;
    case TK_Q4_1: case TK_Q5_1: return TK_Q8_1;
    case TK_Q2_K: case TK_Q3_K: case TK_Q4_K: case TK_Q5_K: case TK_Q6_K: return TK_Q8_K;
    case TK_F32: case TK_F16: case TK_BF16: return TK_F32;
    default: return -1;
    }
}
