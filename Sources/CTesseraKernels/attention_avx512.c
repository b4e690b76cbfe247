/// Attention's kernels for AVX-512 (F/BW/DQ/VL, 16 lanes): the AVX2 file's blocking (4 query
/// rows x 2 keys for scores, 4 rows x 32 columns for the weighted values) on 16-lane vectors,
/// partial chunks by masks, and the 16-bit conversions 16 at a time.
#include "attention_variants.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TK_AVX512_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"
#define TK_AVX512 __attribute__((target(TK_AVX512_TARGET)))
#define TK_AVX512_INLINE static inline __attribute__((always_inline, target(TK_AVX512_TARGET)))

TK_AVX512_INLINE __mmask16 lanes(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/// Eight sums in one 8-lane vector: each 16-lane accumulator folded to 8, then a hadd tree.
TK_AVX512_INLINE __m256 sum8(const __m512 a[8]) {
    __m256 h[8];
    for (int i = 0; i < 8; i++)
        h[i] = _mm256_add_ps(_mm512_castps512_ps256(a[i]), _mm512_extractf32x8_ps(a[i], 1));
    __m256 t0 = _mm256_hadd_ps(h[0], h[1]), t1 = _mm256_hadd_ps(h[2], h[3]);
    __m256 t2 = _mm256_hadd_ps(h[4], h[5]), t3 = _mm256_hadd_ps(h[6], h[7]);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

TK_AVX512_INLINE void scores_block(const float *q, int64_t hd, const float *k, int64_t stride, float *s,
                                   int64_t score_stride, const int R, const int K) {
    __m512 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m512 k0 = _mm512_loadu_ps(k + d);
        __m512 k1 = K > 1 ? _mm512_loadu_ps(k + stride + d) : k0;
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_loadu_ps(q + r * hd + d);
            acc[2 * r] = _mm512_fmadd_ps(x, k0, acc[2 * r]);
            if (K > 1) acc[2 * r + 1] = _mm512_fmadd_ps(x, k1, acc[2 * r + 1]);
        }
    }
    if (d < hd) {
        __mmask16 m = lanes(hd - d);
        __m512 k0 = _mm512_maskz_loadu_ps(m, k + d);
        __m512 k1 = K > 1 ? _mm512_maskz_loadu_ps(m, k + stride + d) : k0;
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_maskz_loadu_ps(m, q + r * hd + d);
            acc[2 * r] = _mm512_fmadd_ps(x, k0, acc[2 * r]);
            if (K > 1) acc[2 * r + 1] = _mm512_fmadd_ps(x, k1, acc[2 * r + 1]);
        }
    }
    if (R == 4 && K == 2) {
        float out[8];
        _mm256_storeu_ps(out, sum8(acc));
        for (int r = 0; r < 4; r++) {
            s[r * score_stride] = out[2 * r];
            s[r * score_stride + 1] = out[2 * r + 1];
        }
        return;
    }
    for (int r = 0; r < R; r++) {
        s[r * score_stride] = _mm512_reduce_add_ps(acc[2 * r]);
        if (K > 1) s[r * score_stride + 1] = _mm512_reduce_add_ps(acc[2 * r + 1]);
    }
}

TK_AVX512_INLINE void scores_rows(const float *q, int64_t hd, const float *keys, int64_t stride, int64_t count,
                                  float *s, int64_t score_stride, const int R) {
    int64_t t = 0;
    for (; t + 2 <= count; t += 2) scores_block(q, hd, keys + t * stride, stride, s + t, score_stride, R, 2);
    if (t < count) scores_block(q, hd, keys + t * stride, stride, s + t, score_stride, R, 1);
}

TK_AVX512 void tk_attn_scores_avx512(const float *q, int64_t rows, int64_t hd, const float *keys, int64_t stride,
                                     int64_t count, float *scores, int64_t score_stride) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) scores_rows(q + r * hd, hd, keys, stride, count, scores + r * score_stride, score_stride, 4);
    const float *qr = q + r * hd;
    float *sr = scores + r * score_stride;
    switch (rows - r) {
    case 3: scores_rows(qr, hd, keys, stride, count, sr, score_stride, 3); break;
    case 2: scores_rows(qr, hd, keys, stride, count, sr, score_stride, 2); break;
    case 1: scores_rows(qr, hd, keys, stride, count, sr, score_stride, 1); break;
    default: break;
    }
}

/// `R` rows (1...4), columns `d ..< d + 16 * C` (C = 1 or 2), the last chunk masked to `m`.
TK_AVX512_INLINE void accumulate_block(const float *w, int64_t weight_stride, const float *v, int64_t stride,
                                       int64_t count, int64_t hd, float *o, const int R, const int C, __mmask16 m) {
    __m512 acc[8];
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            __mmask16 mc = c == C - 1 ? m : (__mmask16)0xffff;
            acc[2 * r + c] = _mm512_maskz_loadu_ps(mc, o + r * hd + 16 * c);
        }
    }
    for (int64_t t = 0; t < count; t++) {
        const float *vt = v + t * stride;
        __m512 v0 = _mm512_maskz_loadu_ps(C == 1 ? m : (__mmask16)0xffff, vt);
        __m512 v1 = C > 1 ? _mm512_maskz_loadu_ps(m, vt + 16) : v0;
        for (int r = 0; r < R; r++) {
            __m512 p = _mm512_set1_ps(w[r * weight_stride + t]);
            acc[2 * r] = _mm512_fmadd_ps(p, v0, acc[2 * r]);
            if (C > 1) acc[2 * r + 1] = _mm512_fmadd_ps(p, v1, acc[2 * r + 1]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            __mmask16 mc = c == C - 1 ? m : (__mmask16)0xffff;
            _mm512_mask_storeu_ps(o + r * hd + 16 * c, mc, acc[2 * r + c]);
        }
    }
}

TK_AVX512_INLINE void accumulate_rows(const float *w, int64_t weight_stride, const float *v, int64_t stride,
                                      int64_t count, int64_t hd, float *o, const int R) {
    int64_t d = 0;
    for (; d + 32 <= hd; d += 32) accumulate_block(w, weight_stride, v + d, stride, count, hd, o + d, R, 2, 0xffff);
    if (hd - d > 16) accumulate_block(w, weight_stride, v + d, stride, count, hd, o + d, R, 2, lanes(hd - d - 16));
    else if (d < hd) accumulate_block(w, weight_stride, v + d, stride, count, hd, o + d, R, 1, lanes(hd - d));
}

TK_AVX512 void tk_attn_accumulate_avx512(const float *w, int64_t weight_stride, int64_t rows, const float *values,
                                         int64_t stride, int64_t count, int64_t hd, float *out) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4)
        accumulate_rows(w + r * weight_stride, weight_stride, values, stride, count, hd, out + r * hd, 4);
    const float *wr = w + r * weight_stride;
    float *o = out + r * hd;
    switch (rows - r) {
    case 3: accumulate_rows(wr, weight_stride, values, stride, count, hd, o, 3); break;
    case 2: accumulate_rows(wr, weight_stride, values, stride, count, hd, o, 2); break;
    case 1: accumulate_rows(wr, weight_stride, values, stride, count, hd, o, 1); break;
    default: break;
    }
}

/// As in the AVX2 file: the hardware conversion, with NaN lanes rebuilt bit for bit.
TK_AVX512_INLINE __m512 widen_f16(__m256i h) {
    __m512 f = _mm512_cvtph_ps(h);
    __m512i bits = _mm512_cvtepu16_epi32(h);
    __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fff));
    __mmask16 nan = _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7c00));
    if (!nan) return f;
    __m512i sign = _mm512_slli_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x8000)), 16);
    __m512i exact = _mm512_or_si512(_mm512_or_si512(_mm512_slli_epi32(magnitude, 13), sign),
                                    _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_blend_ps(nan, f, _mm512_castsi512_ps(exact));
}

TK_AVX512 void tk_f16_to_f32_avx512(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, widen_f16(_mm256_loadu_si256((const __m256i *)(src + i))));
    for (; i < n; i++) dst[i] = tk_attn_f16_to_f32(src[i]);
}

TK_AVX512 void tk_bf16_to_f32_avx512(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i b = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_si512(dst + i, _mm512_slli_epi32(b, 16));
    }
    for (; i < n; i++) dst[i] = tk_attn_bf16_to_f32(src[i]);
}

TK_AVX512 void tk_f32_to_f16_avx512(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = tk_attn_f32_to_f16(src[i]);
}

/// Integer rounding (VCVTNEPS2BF16 would flush subnormals), NaNs quieted, narrowed by VPMOVDW.
TK_AVX512 void tk_f32_to_bf16_avx512(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i x = _mm512_loadu_si512(src + i);
        __m512i odd = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
        __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7fff)), odd), 16);
        __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
        __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet)));
    }
    for (; i < n; i++) dst[i] = tk_attn_f32_to_bf16(src[i]);
}

#endif
