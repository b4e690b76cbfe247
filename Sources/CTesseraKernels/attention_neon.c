/// Attention's kernels for AArch64 Advanced SIMD (4 lanes): scores as blocks of up to 4 query
/// rows x 2 keys (each key load feeds four products), the weighted sum of values as 16 output
/// columns held in registers across all keys, and the KV cache's 16-bit conversions, bit-exact
/// with the portable ones (hardware FCVT for f16 with NaNs rebuilt by the portable rule,
/// integer adds for bf16's rounding).
#include "attention_variants.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define TK_NEON_INLINE static inline __attribute__((always_inline))

/// Scores of `R` rows (1...4) against `K` keys (1 or 2); both constants after inlining.
TK_NEON_INLINE void scores_block(const float *q, int64_t hd, const float *k, int64_t stride, float *s,
                                 int64_t score_stride, const int R, const int K) {
    float32x4_t acc[8];
    for (int i = 0; i < 8; i++) acc[i] = vdupq_n_f32(0.0f);
    int64_t d = 0;
    for (; d + 4 <= hd; d += 4) {
        float32x4_t k0 = vld1q_f32(k + d);
        float32x4_t k1 = K > 1 ? vld1q_f32(k + stride + d) : k0;
        for (int r = 0; r < R; r++) {
            float32x4_t x = vld1q_f32(q + r * hd + d);
            acc[2 * r] = vfmaq_f32(acc[2 * r], x, k0);
            if (K > 1) acc[2 * r + 1] = vfmaq_f32(acc[2 * r + 1], x, k1);
        }
    }
    for (int r = 0; r < R; r++) {
        float s0 = vaddvq_f32(acc[2 * r]), s1 = K > 1 ? vaddvq_f32(acc[2 * r + 1]) : 0.0f;
        for (int64_t e = d; e < hd; e++) {           /* head_dim not a multiple of 4 */
            s0 += q[r * hd + e] * k[e];
            if (K > 1) s1 += q[r * hd + e] * k[stride + e];
        }
        s[r * score_stride] = s0;
        if (K > 1) s[r * score_stride + 1] = s1;
    }
}

TK_NEON_INLINE void scores_rows(const float *q, int64_t hd, const float *keys, int64_t stride, int64_t count,
                                float *s, int64_t score_stride, const int R) {
    int64_t t = 0;
    for (; t + 2 <= count; t += 2) scores_block(q, hd, keys + t * stride, stride, s + t, score_stride, R, 2);
    if (t < count) scores_block(q, hd, keys + t * stride, stride, s + t, score_stride, R, 1);
}

void tk_attn_scores_neon(const float *q, int64_t rows, int64_t hd, const float *keys, int64_t stride,
                         int64_t count, float *scores, int64_t score_stride) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) scores_rows(q + r * hd, hd, keys, stride, count, scores + r * score_stride, score_stride, 4);
    switch (rows - r) {
    case 3: scores_rows(q + r * hd, hd, keys, stride, count, scores + r * score_stride, score_stride, 3); break;
    case 2: scores_rows(q + r * hd, hd, keys, stride, count, scores + r * score_stride, score_stride, 2); break;
    case 1: scores_rows(q + r * hd, hd, keys, stride, count, scores + r * score_stride, score_stride, 1); break;
    default: break;
    }
}

/// out[d] += sum over t of w[t] * values[t][d] for one query row: 16 columns at a time kept in
/// four registers across every key, then 4 at a time, then one by one.
void tk_attn_accumulate_neon(const float *w, int64_t weight_stride, int64_t rows, const float *values,
                             int64_t stride, int64_t count, int64_t hd, float *out) {
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * hd;
        const float *wr = w + r * weight_stride;
        int64_t d = 0;
        for (; d + 16 <= hd; d += 16) {
            float32x4_t o0 = vld1q_f32(o + d), o1 = vld1q_f32(o + d + 4);
            float32x4_t o2 = vld1q_f32(o + d + 8), o3 = vld1q_f32(o + d + 12);
            for (int64_t t = 0; t < count; t++) {
                const float *v = values + t * stride + d;
                float p = wr[t];
                o0 = vfmaq_n_f32(o0, vld1q_f32(v), p);
                o1 = vfmaq_n_f32(o1, vld1q_f32(v + 4), p);
                o2 = vfmaq_n_f32(o2, vld1q_f32(v + 8), p);
                o3 = vfmaq_n_f32(o3, vld1q_f32(v + 12), p);
            }
            vst1q_f32(o + d, o0);
            vst1q_f32(o + d + 4, o1);
            vst1q_f32(o + d + 8, o2);
            vst1q_f32(o + d + 12, o3);
        }
        for (; d + 4 <= hd; d += 4) {
            float32x4_t o0 = vld1q_f32(o + d);
            for (int64_t t = 0; t < count; t++) o0 = vfmaq_n_f32(o0, vld1q_f32(values + t * stride + d), wr[t]);
            vst1q_f32(o + d, o0);
        }
        for (; d < hd; d++) {
            float x = o[d];
            for (int64_t t = 0; t < count; t++) x += wr[t] * values[t * stride + d];
            o[d] = x;
        }
    }
}

/// f16 to f32: FCVT is exact for every non-NaN value; NaN lanes take the portable rule's bits
/// (payload kept as is, where FCVT would set the quiet bit).
void tk_f16_to_f32_neon(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint16x4_t h = vld1_u16(src + i);
        float32x4_t f = vcvt_f32_f16(vreinterpret_f16_u16(h));
        uint32x4_t wide = vmovl_u16(h);
        uint32x4_t magnitude = vandq_u32(wide, vdupq_n_u32(0x7fff));
        uint32x4_t nan = vcgtq_u32(magnitude, vdupq_n_u32(0x7c00));
        uint32x4_t bits = vorrq_u32(vshlq_n_u32(vandq_u32(wide, vdupq_n_u32(0x8000)), 16),
                                    vorrq_u32(vshlq_n_u32(magnitude, 13), vdupq_n_u32(0x7f800000u)));
        vst1q_f32(dst + i, vbslq_f32(nan, vreinterpretq_f32_u32(bits), f));
    }
    for (; i < n; i++) dst[i] = tk_attn_f16_to_f32(src[i]);
}

void tk_bf16_to_f32_neon(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h = vld1q_u16(src + i);
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
        vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
    }
    for (; i < n; i++) dst[i] = tk_attn_bf16_to_f32(src[i]);
}

/// f32 to f16: FCVT rounds to nearest even (the default rounding mode, as the portable rule
/// relies on too) and overflows to infinity as the portable rule does; NaN lanes are rebuilt
/// by the portable rule (quiet bit, top payload bits).
void tk_f32_to_f16_neon(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t f = vld1q_f32(src + i);
        uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(f));
        uint32x4_t u = vreinterpretq_u32_f32(f);
        uint32x4_t magnitude = vandq_u32(u, vdupq_n_u32(0x7fffffffu));
        uint32x4_t nan = vcgtq_u32(magnitude, vdupq_n_u32(0x7f800000u));
        uint32x4_t rule = vorrq_u32(vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x8000)),
                                    vorrq_u32(vdupq_n_u32(0x7e00), vandq_u32(vshrq_n_u32(magnitude, 13), vdupq_n_u32(0x3ff))));
        vst1_u16(dst + i, vbsl_u16(vmovn_u32(nan), vmovn_u32(rule), h));
    }
    for (; i < n; i++) dst[i] = tk_attn_f32_to_f16(src[i]);
}

/// f32 to bf16, round to nearest even by integer adds; NaNs keep their top bits, made quiet.
void tk_f32_to_bf16_neon(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(src + i));
        uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffffu)), vdupq_n_u32(0x7f800000u));
        uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
        uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_u32(u, vdupq_n_u32(0x7fff)), odd), 16);
        uint32x4_t quiet = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40));
        vst1_u16(dst + i, vmovn_u32(vbslq_u32(nan, quiet, rounded)));
    }
    for (; i < n; i++) dst[i] = tk_attn_f32_to_bf16(src[i]);
}

#endif
