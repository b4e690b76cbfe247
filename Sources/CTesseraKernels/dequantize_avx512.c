/// Dequantisation of stored rows to f32 with AVX-512 (16 floats per register), bit-identical
/// to the portable code in dequantize.c by the same rules as dequantize_avx2.c: separate
/// multiplies and adds in the portable order, exact conversions, scalar per-block scales.
/// Covers the types prefill meets most (Q5_0, Q6_K, Q4_K, Q4_1, Q8_0, Q5_K, Q4_0); the others
/// keep their AVX2 entries.
#if defined(__x86_64__)
#include "kernel_table.h"
#include "portable.h"
#include <immintrin.h>

#pragma clang fp contract(off)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), \
                             apply_to = function)

/// 16 signed bytes as floats, times `scale`.
static inline __m512 tk_scaled16(__m128i b, __m512 scale) {
    return _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)));
}

/// 16 signed bytes: (scale * q) + min or - min.
static inline __m512 tk_affine16(__m128i b, __m512 scale, __m512 min, int add) {
    __m512 x = _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)));
    /* Opaque to the optimiser: otherwise clang folds the subtraction into an addition of a
       negated minimum, which flips the sign of a NaN minimum and changes which NaN wins. */
    __asm__("" : "+v"(min));
    if (!add) return _mm512_sub_ps(x, min);
    /* The sum in assembly, so that the product stays the first source: when both are NaN,
       x86 returns the first source's NaN, as the portable code's addition does. */
    __m512 sum;
    __asm__("vaddps %2, %1, %0" : "=v"(sum) : "v"(x), "v"(min));
    return sum;
}

/// 32 signed bytes; values 0..15 times s0, 16..31 times s1.
static inline void tk_store32(__m256i q, __m512 s0, __m512 s1, float *y) {
    _mm512_storeu_ps(y, tk_scaled16(_mm256_castsi256_si128(q), s0));
    _mm512_storeu_ps(y + 16, tk_scaled16(_mm256_extracti128_si256(q, 1), s1));
}

static inline void tk_store32_affine(__m256i q, __m512 s, __m512 m, int add, float *y) {
    _mm512_storeu_ps(y, tk_affine16(_mm256_castsi256_si128(q), s, m, add));
    _mm512_storeu_ps(y + 16, tk_affine16(_mm256_extracti128_si256(q, 1), s, m, add));
}

/// The 16 bytes of a 32-value block as 32 nibbles: low nibbles (values 0..15), then high.
static inline __m256i tk_nibbles(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/// Q5's fifth bits: byte i is 0x10 when bit i of the 32-bit qh is set (a mask register does it).
static inline __m256i tk_fifth_bits(const uint8_t qh[4]) {
    uint32_t bits = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    return _mm256_maskz_mov_epi8((__mmask32)bits, _mm256_set1_epi8(0x10));
}

static void dq_q4_0(const void *src, float *y, int64_t n) {
    const tk_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m512 d = _mm512_set1_ps(tk_half_to_float_inline(b[i].d));
        tk_store32(_mm256_sub_epi8(tk_nibbles(b[i].qs), _mm256_set1_epi8(8)), d, d, y);
    }
}

static void dq_q4_1(const void *src, float *y, int64_t n) {
    const tk_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m512 d = _mm512_set1_ps(tk_half_to_float_inline(b[i].d));
        __m512 m = _mm512_set1_ps(tk_half_to_float_inline(b[i].m));
        tk_store32_affine(tk_nibbles(b[i].qs), d, m, 1, y);
    }
}

static void dq_q5_0(const void *src, float *y, int64_t n) {
    const tk_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m512 d = _mm512_set1_ps(tk_half_to_float_inline(b[i].d));
        __m256i q = _mm256_or_si256(tk_nibbles(b[i].qs), tk_fifth_bits(b[i].qh));
        tk_store32(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), d, d, y);
    }
}

static void dq_q8_0(const void *src, float *y, int64_t n) {
    const tk_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m512 d = _mm512_set1_ps(tk_half_to_float_inline(b[i].d));
        tk_store32(_mm256_loadu_si256((const __m256i *)b[i].qs), d, d, y);
    }
}

static void dq_q4_K(const void *src, float *y, int64_t n) {
    const tk_block_q4_K *b = src;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    for (int64_t i = 0; i < n / TK_QK_K; i++) {
        float d = tk_half_to_float_inline(b[i].d), dmin = tk_half_to_float_inline(b[i].dmin);
        for (int j = 0; j < 8; j++, y += 32) {
            int sc, mn;
            tk_scale_min_k4(b[i].scales, j, &sc, &mn);
            __m512 s = _mm512_set1_ps(d * (float)sc), m = _mm512_set1_ps(dmin * (float)mn);
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * (j / 2)));
            tk_store32_affine(_mm256_and_si256(_mm256_srli_epi16(bytes, 4 * (j % 2)), low4), s, m, 0, y);
        }
    }
}

static void dq_q5_K(const void *src, float *y, int64_t n) {
    const tk_block_q5_K *b = src;
    const __m256i low4 = _mm256_set1_epi8(0x0f), sixteen = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < n / TK_QK_K; i++) {
        float d = tk_half_to_float_inline(b[i].d), dmin = tk_half_to_float_inline(b[i].dmin);
        __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
        for (int j = 0; j < 8; j++, y += 32) {
            int sc, mn;
            tk_scale_min_k4(b[i].scales, j, &sc, &mn);
            __m512 s = _mm512_set1_ps(d * (float)sc), m = _mm512_set1_ps(dmin * (float)mn);
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * (j / 2)));
            __m256i q = _mm256_and_si256(_mm256_srli_epi16(bytes, 4 * (j % 2)), low4);
            __mmask32 high = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << j)));
            q = _mm256_or_si256(q, _mm256_maskz_mov_epi8(high, sixteen));
            tk_store32_affine(q, s, m, 0, y);
        }
    }
}

static void dq_q6_K(const void *src, float *y, int64_t n) {
    const tk_block_q6_K *b = src;
    const __m256i low4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / TK_QK_K; i++) {
        float d = tk_half_to_float_inline(b[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            for (int t = 0; t < 4; t++, y += 32) {
                int g = 8 * h + 2 * t;
                __m256i ql = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32 * (t % 2)));
                __m256i low = _mm256_and_si256(_mm256_srli_epi16(ql, 4 * (t / 2)), low4);
                __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * t), three);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), bias);
                __m512 s0 = _mm512_set1_ps(d * (float)b[i].scales[g]);
                __m512 s1 = _mm512_set1_ps(d * (float)b[i].scales[g + 1]);
                tk_store32(q, s0, s1, y);
            }
        }
    }
}

void tk_fill_dequantize_avx512(tk_kernel_table *t) {
    t->dequantize[TK_Q4_0] = dq_q4_0;
    t->dequantize[TK_Q4_1] = dq_q4_1;
    t->dequantize[TK_Q5_0] = dq_q5_0;
    t->dequantize[TK_Q8_0] = dq_q8_0;
    t->dequantize[TK_Q4_K] = dq_q4_K;
    t->dequantize[TK_Q5_K] = dq_q5_K;
    t->dequantize[TK_Q6_K] = dq_q6_K;
}

#pragma clang attribute pop
#endif
