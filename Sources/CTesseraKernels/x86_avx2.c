/// The AVX2 level (AVX2 + FMA + F16C): activation quantisation byte-identical to the portable
/// rule, f32/f16/bf16 dot products, and the integer block products of x86_simple.h and
/// x86_kquants.h with vpmaddubsw + vpmaddwd. Selected at run time by dispatch.c.
#if defined(__x86_64__)

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#include <immintrin.h>
#include "kernel_table.h"

/// u8 x s8 products, four per i32 lane. The i16 pair sums of vpmaddubsw cannot saturate here:
/// every weight byte is at most 128 and every activation byte is in -127..127 (2 * 128 * 127 < 32768).
static inline __attribute__((always_inline)) __m256i tk_dp(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

#include "x86_common.h"
#include "x86_simple.h"
#include "x86_kquants.h"

// MARK: - Activation quantisation (the rule of activation.c, vectorised)

/// max |x| over 32 k floats.
TK_INLINE float tk_absmax(const float *x, int64_t n) {
    const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), mask));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/// q = round-half-even(x * id) for 32 floats into dst; sums[0], sums[1]: sums of the first and last 16 q.
TK_INLINE void tk_quant32(const float *x, float id, int8_t *dst, int32_t sums[2]) {
    const __m256 v = _mm256_set1_ps(id);
    /* vcvtps2dq rounds by MXCSR: nearest, ties to even, like nearbyintf */
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), v));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), v));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), v));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), v));
    sums[0] = tk_hsum_epi32(_mm256_add_epi32(i0, i1));
    sums[1] = tk_hsum_epi32(_mm256_add_epi32(i2, i3));
    /* the packs interleave 128-bit lanes: dwords come out as i0a i1a i2a i3a i0b i1b i2b i3b */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, p);
}

static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    tk_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / TK_QK; b++, x += TK_QK) {
        const float d = tk_absmax(x, TK_QK) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int32_t sums[2];
        tk_quant32(x, id, y[b].qs, sums);
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void quantize_q8_1(const float *x, void *dst, int64_t n) {
    tk_block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / TK_QK; b++, x += TK_QK) {
        const float d = tk_absmax(x, TK_QK) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int32_t sums[2];
        tk_quant32(x, id, y[b].qs, sums);
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[b].s = _cvtss_sh(d * (float)(sums[0] + sums[1]), _MM_FROUND_TO_NEAREST_INT);
    }
}

static void quantize_q8_k(const float *x, void *dst, int64_t n) {
    tk_block_q8_K *y = dst;
    for (int64_t b = 0; b < n / TK_QK_K; b++, x += TK_QK_K) {
        const float d = tk_absmax(x, TK_QK_K) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = d;
        for (int c = 0; c < TK_QK_K / TK_QK; c++) {
            int32_t sums[2];
            tk_quant32(x + TK_QK * c, id, y[b].qs + TK_QK * c, sums);
            y[b].bsums[2 * c] = (int16_t)sums[0];
            y[b].bsums[2 * c + 1] = (int16_t)sums[1];
        }
    }
}

// MARK: - Float weights against f32 activations

/// 8 weights from `w` (element type `type`) as floats.
TK_INLINE __m256 tk_load8(int type, const void *w, int64_t i) {
    switch (type) {
    case TK_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    case TK_BF16: {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
    default: return _mm256_loadu_ps((const float *)w + i);
    }
}

TK_INLINE float tk_load1(int type, const void *w, int64_t i) {
    switch (type) {
    case TK_F16: return tk_h2f(((const uint16_t *)w)[i]);
    case TK_BF16: return tk_bf16_to_float(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

TK_INLINE float tk_float_dot(int type, int64_t n, const void *w, const float *a) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(tk_load8(type, w, i), _mm256_loadu_ps(a + i), s0);
        s1 = _mm256_fmadd_ps(tk_load8(type, w, i + 8), _mm256_loadu_ps(a + i + 8), s1);
        s2 = _mm256_fmadd_ps(tk_load8(type, w, i + 16), _mm256_loadu_ps(a + i + 16), s2);
        s3 = _mm256_fmadd_ps(tk_load8(type, w, i + 24), _mm256_loadu_ps(a + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(tk_load8(type, w, i), _mm256_loadu_ps(a + i), s0);
    float s = tk_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += tk_load1(type, w, i) * a[i];
    return s;
}

static float dot_f32(int64_t n, const void *w, const void *a) { return tk_float_dot(TK_F32, n, w, a); }
static float dot_f16(int64_t n, const void *w, const void *a) { return tk_float_dot(TK_F16, n, w, a); }
static float dot_bf16(int64_t n, const void *w, const void *a) { return tk_float_dot(TK_BF16, n, w, a); }

void tk_fill_avx2(tk_kernel_table *t) {
    t->quantize[TK_Q8_0] = quantize_q8_0;
    t->quantize[TK_Q8_1] = quantize_q8_1;
    t->quantize[TK_Q8_K] = quantize_q8_k;
    t->dot[TK_F32] = dot_f32;
    t->dot[TK_F16] = dot_f16;
    t->dot[TK_BF16] = dot_bf16;
    tk_x86_fill_simple(t);
    tk_x86_fill_kquants(t);
}

#pragma clang attribute pop

#endif
