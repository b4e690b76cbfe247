/// Dequantisation of stored rows to f32 with AVX2 + F16C, bit-identical to the portable code in
/// dequantize.c (and so to gguf-py): the same products and sums in the same order, each its own
/// rounded instruction (contraction is off, so no fused multiply-add appears), and only exact
/// conversions (small integers to float; per-block scales are computed by the same scalar code).
/// Multiplications by a scale cannot differ even for NaN scales, since the other factor is never
/// NaN; the subtraction of a minimum keeps the portable operand order (value first).
#if defined(__x86_64__)
#include "kernel_table.h"
#include "portable.h"
#include <immintrin.h>

#pragma clang fp contract(off)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

/// 8 signed bytes (the low half of `b`) as floats, times `scale`.
static inline __m256 tk_scaled_i8(__m128i b, __m256 scale) {
    return _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)));
}

/// 32 signed bytes, each group of 8 times `scale`, stored at y.
static inline void tk_store32_i8(__m256i q, __m256 scale, float *y) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y, tk_scaled_i8(lo, scale));
    _mm256_storeu_ps(y + 8, tk_scaled_i8(_mm_srli_si128(lo, 8), scale));
    _mm256_storeu_ps(y + 16, tk_scaled_i8(hi, scale));
    _mm256_storeu_ps(y + 24, tk_scaled_i8(_mm_srli_si128(hi, 8), scale));
}

/// 32 signed bytes; values 0..15 times s0, values 16..31 times s1.
static inline void tk_store32_i8_2(__m256i q, __m256 s0, __m256 s1, float *y) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y, tk_scaled_i8(lo, s0));
    _mm256_storeu_ps(y + 8, tk_scaled_i8(_mm_srli_si128(lo, 8), s0));
    _mm256_storeu_ps(y + 16, tk_scaled_i8(hi, s1));
    _mm256_storeu_ps(y + 24, tk_scaled_i8(_mm_srli_si128(hi, 8), s1));
}

/// 8 signed bytes: (scale * q) - min (or + min when `add`).
static inline __m256 tk_affine_i8(__m128i b, __m256 scale, __m256 min, int add) {
    __m256 x = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)));
    /* Opaque to the optimiser: otherwise clang folds the subtraction into an addition of a
       negated minimum, which flips the sign of a NaN minimum and changes which NaN wins. */
    __asm__("" : "+v"(min));
    if (!add) return _mm256_sub_ps(x, min);
    /* The sum in assembly, so that the product stays the first source: when both are NaN,
       x86 returns the first source's NaN, as the portable code's addition does. */
    __m256 sum;
    __asm__("vaddps %2, %1, %0" : "=x"(sum) : "x"(x), "x"(min));
    return sum;
}

/// 32 signed bytes, groups of 16 with their own scale and minimum.
static inline void tk_store32_affine(__m256i q, __m256 s0, __m256 m0, __m256 s1, __m256 m1, int add, float *y) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y, tk_affine_i8(lo, s0, m0, add));
    _mm256_storeu_ps(y + 8, tk_affine_i8(_mm_srli_si128(lo, 8), s0, m0, add));
    _mm256_storeu_ps(y + 16, tk_affine_i8(hi, s1, m1, add));
    _mm256_storeu_ps(y + 24, tk_affine_i8(_mm_srli_si128(hi, 8), s1, m1, add));
}

/// The 16 bytes of a 32-value block as 32 nibbles: low nibbles (values 0..15), then high.
static inline __m256i tk_nibbles(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/// Q5's fifth bits: byte i is 0x10 when bit i of the 32-bit qh is set.
static inline __m256i tk_fifth_bits(const uint8_t qh[4]) {
    uint32_t bits = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    /* byte i takes qh byte i / 8, then tests bit i % 8 */
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i select = _mm256_set1_epi64x((int64_t)0x8040201008040201);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, select), select);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

// MARK: - 32-value blocks

static void dq_q4_0(const void *src, float *y, int64_t n) {
    const tk_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m256 d = _mm256_set1_ps(tk_half_to_float_inline(b[i].d));
        __m256i q = _mm256_sub_epi8(tk_nibbles(b[i].qs), _mm256_set1_epi8(8));
        tk_store32_i8(q, d, y);
    }
}

static void dq_q4_1(const void *src, float *y, int64_t n) {
    const tk_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m256 d = _mm256_set1_ps(tk_half_to_float_inline(b[i].d));
        __m256 m = _mm256_set1_ps(tk_half_to_float_inline(b[i].m));
        tk_store32_affine(tk_nibbles(b[i].qs), d, m, d, m, 1, y);
    }
}

static void dq_q5_0(const void *src, float *y, int64_t n) {
    const tk_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m256 d = _mm256_set1_ps(tk_half_to_float_inline(b[i].d));
        __m256i q = _mm256_or_si256(tk_nibbles(b[i].qs), tk_fifth_bits(b[i].qh));
        tk_store32_i8(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), d, y);
    }
}

static void dq_q5_1(const void *src, float *y, int64_t n) {
    const tk_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m256 d = _mm256_set1_ps(tk_half_to_float_inline(b[i].d));
        __m256 m = _mm256_set1_ps(tk_half_to_float_inline(b[i].m));
        __m256i q = _mm256_or_si256(tk_nibbles(b[i].qs), tk_fifth_bits(b[i].qh));
        tk_store32_affine(q, d, m, d, m, 1, y);
    }
}

static void dq_q8_0(const void *src, float *y, int64_t n) {
    const tk_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m256 d = _mm256_set1_ps(tk_half_to_float_inline(b[i].d));
        tk_store32_i8(_mm256_loadu_si256((const __m256i *)b[i].qs), d, y);
    }
}

static void dq_iq4_nl(const void *src, float *y, int64_t n) {
    const tk_block_iq4_nl *b = src;
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tk_iq4nl_values));
    for (int64_t i = 0; i < n / TK_QK; i++, y += TK_QK) {
        __m256 d = _mm256_set1_ps(tk_half_to_float_inline(b[i].d));
        tk_store32_i8(_mm256_shuffle_epi8(table, tk_nibbles(b[i].qs)), d, y);
    }
}

// MARK: - K-quants

static void dq_q2_K(const void *src, float *y, int64_t n) {
    const tk_block_q2_K *b = src;
    const __m256i three = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n / TK_QK_K; i++) {
        float d = tk_half_to_float_inline(b[i].d), dmin = tk_half_to_float_inline(b[i].dmin);
        for (int h = 0; h < 2; h++) {
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            for (int t = 0; t < 4; t++, y += 32) {
                int g = 8 * h + 2 * t;
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * t), three);
                __m256 s0 = _mm256_set1_ps(d * (float)(b[i].scales[g] & 0x0f));
                __m256 m0 = _mm256_set1_ps(dmin * (float)(b[i].scales[g] >> 4));
                __m256 s1 = _mm256_set1_ps(d * (float)(b[i].scales[g + 1] & 0x0f));
                __m256 m1 = _mm256_set1_ps(dmin * (float)(b[i].scales[g + 1] >> 4));
                tk_store32_affine(q, s0, m0, s1, m1, 0, y);
            }
        }
    }
}

static void dq_q3_K(const void *src, float *y, int64_t n) {
    const tk_block_q3_K *b = src;
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < n / TK_QK_K; i++) {
        float d = tk_half_to_float_inline(b[i].d);
        float dl[16];
        for (int g = 0; g < 16; g++) {
            int low = (b[i].scales[g % 8] >> (4 * (g / 8))) & 0x0f;
            int high = (b[i].scales[8 + g % 4] >> (2 * (g / 4))) & 0x03;
            dl[g] = d * (float)((low | high << 4) - 32);
        }
        __m256i hmask = _mm256_loadu_si256((const __m256i *)b[i].hmask);
        for (int h = 0; h < 2; h++) {
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * h));
            for (int t = 0; t < 4; t++, y += 32) {
                int g = 8 * h + 2 * t;
                __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + t)));
                __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), bit);
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * t), three);
                q = _mm256_sub_epi8(q, _mm256_andnot_si256(set, four));
                tk_store32_i8_2(q, _mm256_set1_ps(dl[g]), _mm256_set1_ps(dl[g + 1]), y);
            }
        }
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
            __m256 s = _mm256_set1_ps(d * (float)sc), m = _mm256_set1_ps(dmin * (float)mn);
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * (j / 2)));
            __m256i q = _mm256_and_si256(_mm256_srli_epi16(bytes, 4 * (j % 2)), low4);
            tk_store32_affine(q, s, m, s, m, 0, y);
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
            __m256 s = _mm256_set1_ps(d * (float)sc), m = _mm256_set1_ps(dmin * (float)mn);
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * (j / 2)));
            __m256i q = _mm256_and_si256(_mm256_srli_epi16(bytes, 4 * (j % 2)), low4);
            __m256i bit = _mm256_set1_epi8((char)(1 << j));
            __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), sixteen);
            tk_store32_affine(_mm256_or_si256(q, high), s, m, s, m, 0, y);
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
                __m256 s0 = _mm256_set1_ps(d * (float)b[i].scales[g]);
                __m256 s1 = _mm256_set1_ps(d * (float)b[i].scales[g + 1]);
                tk_store32_i8_2(q, s0, s1, y);
            }
        }
    }
}

// MARK: - Float rows

/// 8 halves to floats exactly as tk_half_to_float_inline (NaN payloads kept, not quietened as
/// vcvtph2ps would): the magnitude moved into f32 position and scaled by 2^112.
static inline __m256 tk_halves(__m128i h) {
    __m256i x = _mm256_cvtepu16_epi32(h);
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x8000)), 16);
    __m256i mag = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fff)), 13);
    __m256i special = _mm256_or_si256(_mm256_or_si256(sign, _mm256_set1_epi32(0x7f800000)), mag);
    __m256 scaled = _mm256_mul_ps(_mm256_castsi256_ps(mag), _mm256_set1_ps(0x1p112f));
    __m256i normal = _mm256_or_si256(_mm256_castps_si256(scaled), sign);
    __m256i is_special = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x0f7fffff));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(normal, special, is_special));
}

static void dq_f16(const void *src, float *y, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, tk_halves(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) y[i] = tk_half_to_float_inline(h[i]);
}

static void dq_bf16(const void *src, float *y, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
    }
    for (; i < n; i++) y[i] = tk_bf16_to_float(h[i]);
}

void tk_fill_dequantize_avx2(tk_kernel_table *t) {
    t->dequantize[TK_F16] = dq_f16;
    t->dequantize[TK_BF16] = dq_bf16;
    t->dequantize[TK_Q4_0] = dq_q4_0;
    t->dequantize[TK_Q4_1] = dq_q4_1;
    t->dequantize[TK_Q5_0] = dq_q5_0;
    t->dequantize[TK_Q5_1] = dq_q5_1;
    t->dequantize[TK_Q8_0] = dq_q8_0;
    t->dequantize[TK_IQ4_NL] = dq_iq4_nl;
    t->dequantize[TK_Q2_K] = dq_q2_K;
    t->dequantize[TK_Q3_K] = dq_q3_K;
    t->dequantize[TK_Q4_K] = dq_q4_K;
    t->dequantize[TK_Q5_K] = dq_q5_K;
    t->dequantize[TK_Q6_K] = dq_q6_K;
}

#pragma clang attribute pop
#endif
