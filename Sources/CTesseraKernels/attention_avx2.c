/// Attention's kernels for AVX2 + FMA + F16C (8 lanes): scores as blocks of 4 query rows x 2
/// keys (each key load feeds four products, each query load two), the weighted sum of values
/// as 4 rows x 16 columns held in registers across the tile, and the KV cache's 16-bit
/// conversions (F16C for f16, integer shifts and adds for bf16).
#include "attention_variants.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TK_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/// Lanes `< n` (n in 0...8) set, for loads and stores of a partial last chunk.
TK_AVX2_INLINE __m256i lane_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// Eight sums in one vector: lane i is the total of `a[i]`'s lanes.
TK_AVX2_INLINE __m256 sum8(const __m256 a[8]) {
    __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

TK_AVX2_INLINE float sum1(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Scores of `R` rows (1...4) against `K` keys (1 or 2); both constants after inlining, so
/// the accumulators stay in registers.
TK_AVX2_INLINE void scores_block(const float *q, int64_t hd, const float *k, int64_t stride, float *s,
                                 int64_t score_stride, const int R, const int K) {
    __m256 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) {
        __m256 k0 = _mm256_loadu_ps(k + d);
        __m256 k1 = K > 1 ? _mm256_loadu_ps(k + stride + d) : k0;
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_loadu_ps(q + r * hd + d);
            acc[2 * r] = _mm256_fmadd_ps(x, k0, acc[2 * r]);
            if (K > 1) acc[2 * r + 1] = _mm256_fmadd_ps(x, k1, acc[2 * r + 1]);
        }
    }
    if (d < hd) {
        __m256i m = lane_mask(hd - d);
        __m256 k0 = _mm256_maskload_ps(k + d, m);
        __m256 k1 = K > 1 ? _mm256_maskload_ps(k + stride + d, m) : k0;
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_maskload_ps(q + r * hd + d, m);
            acc[2 * r] = _mm256_fmadd_ps(x, k0, acc[2 * r]);
            if (K > 1) acc[2 * r + 1] = _mm256_fmadd_ps(x, k1, acc[2 * r + 1]);
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
        s[r * score_stride] = sum1(acc[2 * r]);
        if (K > 1) s[r * score_stride + 1] = sum1(acc[2 * r + 1]);
    }
}

TK_AVX2_INLINE void scores_rows(const float *q, int64_t hd, const float *keys, int64_t stride, int64_t count,
                                float *s, int64_t score_stride, const int R) {
    int64_t t = 0;
    for (; t + 2 <= count; t += 2) scores_block(q, hd, keys + t * stride, stride, s + t, score_stride, R, 2);
    if (t < count) scores_block(q, hd, keys + t * stride, stride, s + t, score_stride, R, 1);
}

TK_AVX2 void tk_attn_scores_avx2(const float *q, int64_t rows, int64_t hd, const float *keys, int64_t stride,
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

/// `R` rows (1...4) of output, columns `d ..< d + 8 * C` (C = 1 or 2; the last chunk masked
/// to `tail` lanes when `tail < 8`), accumulated over all `count` values.
TK_AVX2_INLINE void accumulate_block(const float *w, int64_t weight_stride, const float *v, int64_t stride,
                                     int64_t count, int64_t hd, float *o, const int R, const int C, int64_t tail) {
    __m256 acc[8];
    __m256i m = lane_mask(tail);
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            const float *p = o + r * hd + 8 * c;
            acc[2 * r + c] = c == C - 1 && tail < 8 ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p);
        }
    }
    for (int64_t t = 0; t < count; t++) {
        const float *vt = v + t * stride;
        __m256 v0 = C == 1 && tail < 8 ? _mm256_maskload_ps(vt, m) : _mm256_loadu_ps(vt);
        __m256 v1 = C > 1 ? (tail < 8 ? _mm256_maskload_ps(vt + 8, m) : _mm256_loadu_ps(vt + 8)) : v0;
        for (int r = 0; r < R; r++) {
            __m256 p = _mm256_broadcast_ss(w + r * weight_stride + t);
            acc[2 * r] = _mm256_fmadd_ps(p, v0, acc[2 * r]);
            if (C > 1) acc[2 * r + 1] = _mm256_fmadd_ps(p, v1, acc[2 * r + 1]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            float *p = o + r * hd + 8 * c;
            if (c == C - 1 && tail < 8) _mm256_maskstore_ps(p, m, acc[2 * r + c]);
            else _mm256_storeu_ps(p, acc[2 * r + c]);
        }
    }
}

TK_AVX2_INLINE void accumulate_rows(const float *w, int64_t weight_stride, const float *v, int64_t stride,
                                    int64_t count, int64_t hd, float *o, const int R) {
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) accumulate_block(w, weight_stride, v + d, stride, count, hd, o + d, R, 2, 8);
    if (hd - d > 8) accumulate_block(w, weight_stride, v + d, stride, count, hd, o + d, R, 2, hd - d - 8);
    else if (d < hd) accumulate_block(w, weight_stride, v + d, stride, count, hd, o + d, R, 1, hd - d);
}

TK_AVX2 void tk_attn_accumulate_avx2(const float *w, int64_t weight_stride, int64_t rows, const float *values,
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

/// F16C widens every finite and infinite value exactly but quiets signalling NaNs; NaN lanes
/// are rebuilt from their bits (payload moved up 13 places), as the portable conversion does.
TK_AVX2_INLINE __m256 widen_f16(__m128i h) {
    __m256 f = _mm256_cvtph_ps(h);
    __m256i bits = _mm256_cvtepu16_epi32(h);
    __m256i magnitude = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fff));
    __m256i nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7c00));
    if (_mm256_testz_si256(nan, nan)) return f;
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x8000)), 16);
    __m256i exact = _mm256_or_si256(_mm256_or_si256(_mm256_slli_epi32(magnitude, 13), sign),
                                    _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_ps(f, _mm256_castsi256_ps(exact), _mm256_castsi256_ps(nan));
}

TK_AVX2 void tk_f16_to_f32_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, widen_f16(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = tk_attn_f16_to_f32(src[i]);
}

TK_AVX2 void tk_bf16_to_f32_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i b = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(b, 16));
    }
    for (; i < n; i++) dst[i] = tk_attn_bf16_to_f32(src[i]);
}

/// Rounding mode in the instruction (nearest even), so MXCSR does not matter; NaNs come out
/// quiet with the payload's top bits, as the portable conversion gives (tested on every f32).
TK_AVX2 void tk_f32_to_f16_avx2(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = tk_attn_f32_to_f16(src[i]);
}

/// Integer rounding, not a conversion instruction: AVX-512 BF16's flushes subnormals.
TK_AVX2_INLINE __m256i narrow_bf16(__m256i x) {
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), odd), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

TK_AVX2 void tk_f32_to_bf16_avx2(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = narrow_bf16(_mm256_loadu_si256((const __m256i *)(src + i)));
        __m256i b = narrow_bf16(_mm256_loadu_si256((const __m256i *)(src + i + 8)));
        /* packus works within 128-bit lanes: the 64-bit quarters come out a0 b0 a1 b1. */
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    for (; i < n; i++) dst[i] = tk_attn_f32_to_bf16(src[i]);
}

#endif
