/// Attention's kernels in plain C: the fallback level, and the reference the vector levels
/// are tested against (with a double-precision computation above all of them).
#include "attention_variants.h"

void tk_attn_scores_portable(const float *q, int64_t rows, int64_t hd, const float *keys, int64_t stride,
                             int64_t count, float *scores, int64_t score_stride) {
    for (int64_t r = 0; r < rows; r++) {
        const float *qr = q + r * hd;
        for (int64_t t = 0; t < count; t++) {
            const float *k = keys + t * stride;
            float s = 0;
            for (int64_t d = 0; d < hd; d++) s += qr[d] * k[d];
            scores[r * score_stride + t] = s;
        }
    }
}

void tk_attn_accumulate_portable(const float *w, int64_t weight_stride, int64_t rows, const float *values,
                                 int64_t stride, int64_t count, int64_t hd, float *out) {
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * hd;
        const float *wr = w + r * weight_stride;
        for (int64_t t = 0; t < count; t++) {
            const float *v = values + t * stride;
            float p = wr[t];
            for (int64_t d = 0; d < hd; d++) o[d] += p * v[d];
        }
    }
}

void tk_f16_to_f32_portable(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = tk_attn_f16_to_f32(src[i]);
}

void tk_bf16_to_f32_portable(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = tk_attn_bf16_to_f32(src[i]);
}

void tk_f32_to_f16_portable(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = tk_attn_f32_to_f16(src[i]);
}

void tk_f32_to_bf16_portable(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = tk_attn_f32_to_bf16(src[i]);
}
