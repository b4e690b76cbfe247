/// Internal to the x86 kernel files: products of the K-quant super-blocks (Q2_K .. Q6_K, 256
/// values) with Q8_K activations, compiled once per level (see x86_common.h). Per super-block:
/// exact i32 sums of q_w * q_a weighted by the sub-block scales, times d_w * d_a; the minimums
/// (or the constant offsets of Q3_K/Q6_K) come from the activation block sums `bsums`.
#ifndef TESSERA_X86_KQUANTS_H
#define TESSERA_X86_KQUANTS_H

#include "x86_common.h"

TK_INLINE size_t kq_weight_bytes(int type) {
    switch (type) {
    case TK_Q2_K: return sizeof(tk_block_q2_K);
    case TK_Q3_K: return sizeof(tk_block_q3_K);
    case TK_Q4_K: return sizeof(tk_block_q4_K);
    case TK_Q5_K: return sizeof(tk_block_q5_K);
    default: return sizeof(tk_block_q6_K);
    }
}

TK_INLINE __m256i kq_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// 32 unsigned weight bytes times activation chunk `ch` (32 bytes), pairs weighted by the i16 `scale`.
TK_INLINE __m256i kq_chunk(__m256i acc, __m256i q, const tk_block_q8_K *y, int ch, __m256i scale) {
    __m256i p = _mm256_maddubs_epi16(q, kq_load(y->qs + 32 * ch));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, scale));
}

/// Broadcast of i16 element `e` (0..7) of the low lane of `s16` to all 16 lanes.
TK_INLINE __m256i kq_scale_one(__m256i s16, int e) {
    return _mm256_shuffle_epi8(s16, _mm256_set1_epi16((short)(((2 * e + 1) << 8) | (2 * e))));
}

/// Q4_K / Q5_K: the 6-bit scales and minimums of the 8 sub-blocks, as 8 bytes each.
TK_INLINE void kq_scales_k4(const uint8_t *s, uint32_t sc[2], uint32_t mn[2]) {
    uint32_t w0, w1, w2;
    memcpy(&w0, s, 4);
    memcpy(&w1, s + 4, 4);
    memcpy(&w2, s + 8, 4);
    sc[0] = w0 & 0x3f3f3f3fu;
    mn[0] = w1 & 0x3f3f3f3fu;
    sc[1] = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
    mn[1] = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
}

/// sum over sub-blocks of 32 of mn[j] * (bsums[2j] + bsums[2j+1]).
TK_INLINE int32_t kq_min_sum32(const uint32_t mn[2], const tk_block_q8_K *y) {
    __m256i bs = kq_load(y->bsums);
    __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    __m128i m16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)mn[1], (int)mn[0]));
    __m128i s = _mm_madd_epi16(m16, pairs);
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/// One super-block: accumulates d_w d_a sum(scale q_w q_a) into acc, and the minimum term into *bias.
TK_INLINE __m256 kq_block(int type, const uint8_t *b, const tk_block_q8_K *y, __m256 acc, float *bias) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i isum = _mm256_setzero_si256();
    float d;
    switch (type) {
    case TK_Q4_K:
    case TK_Q5_K: {
        tk_half dd[2];
        memcpy(dd, b, sizeof dd);
        uint32_t sc[2], mn[2];
        kq_scales_k4(b + 4, sc, mn);
        const __m256i s16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sc[1], (int)sc[0])));
        const uint8_t *qs = b + 16 + (type == TK_Q5_K ? 32 : 0);
        __m256i hb = type == TK_Q5_K ? kq_load(b + 16) : _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q = kq_load(qs + 32 * j);
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (type == TK_Q5_K) {
                /* bit 2j of qh[l] is the fifth bit of value l of sub-block 2j, bit 2j+1 of 2j+1 */
                const __m256i b4 = _mm256_set1_epi8(0x10);
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
                hb = _mm256_srli_epi16(hb, 2);
            }
            isum = kq_chunk(isum, lo, y, 2 * j, kq_scale_one(s16, 2 * j));
            isum = kq_chunk(isum, hi, y, 2 * j + 1, kq_scale_one(s16, 2 * j + 1));
        }
        d = tk_h2f(dd[0]) * y->d;
        *bias -= tk_h2f(dd[1]) * y->d * (float)kq_min_sum32(mn, y);
        break;
    }
    case TK_Q6_K: {
        const tk_block_q6_K *x = (const tk_block_q6_K *)b;
        const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
        const __m256i m2 = _mm256_set1_epi8(0x30);
        for (int n = 0; n < 2; n++) {
            __m256i l0 = kq_load(x->ql + 64 * n), l1 = kq_load(x->ql + 64 * n + 32), h = kq_load(x->qh + 32 * n);
            /* values 0..63 (offset 32 taken off below): low 4 bits from ql, 2 high bits from qh */
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
            isum = kq_chunk(isum, q0, y, 4 * n + 0, tk_scale_pair(s16, 4 * n + 0));
            isum = kq_chunk(isum, q1, y, 4 * n + 1, tk_scale_pair(s16, 4 * n + 1));
            isum = kq_chunk(isum, q2, y, 4 * n + 2, tk_scale_pair(s16, 4 * n + 2));
            isum = kq_chunk(isum, q3, y, 4 * n + 3, tk_scale_pair(s16, 4 * n + 3));
        }
        /* - 32 sum_g scale_g bsums_g */
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(kq_load(y->bsums), s16), 5));
        d = tk_h2f(x->d) * y->d;
        break;
    }
    case TK_Q2_K: {
        const tk_block_q2_K *x = (const tk_block_q2_K *)b;
        const __m128i raw = _mm_loadu_si128((const __m128i *)x->scales);
        const __m256i s16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0x0F)));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)));
        const __m256i m3 = _mm256_set1_epi8(3);
        for (int n = 0; n < 2; n++) {
            __m256i q = kq_load(x->qs + 32 * n);
            for (int j = 0; j < 4; j++) {
                isum = kq_chunk(isum, _mm256_and_si256(q, m3), y, 4 * n + j, tk_scale_pair(s16, 4 * n + j));
                q = _mm256_srli_epi16(q, 2);
            }
        }
        d = tk_h2f(x->d) * y->d;
        *bias -= tk_h2f(x->dmin) * y->d * (float)tk_hsum_epi32(_mm256_madd_epi16(kq_load(y->bsums), m16));
        break;
    }
    default: { /* Q3_K */
        const tk_block_q3_K *x = (const tk_block_q3_K *)b;
        uint32_t a0, a1, t, s[4];
        memcpy(&a0, x->scales, 4);
        memcpy(&a1, x->scales + 4, 4);
        memcpy(&t, x->scales + 8, 4);
        /* 16 six-bit scales: low 4 bits from nibbles of bytes 0..7, high 2 bits from bytes 8..11 */
        s[0] = (a0 & 0x0f0f0f0fu) | ((t & 0x03030303u) << 4);
        s[1] = (a1 & 0x0f0f0f0fu) | (((t >> 2) & 0x03030303u) << 4);
        s[2] = ((a0 >> 4) & 0x0f0f0f0fu) | (((t >> 4) & 0x03030303u) << 4);
        s[3] = ((a1 >> 4) & 0x0f0f0f0fu) | (((t >> 6) & 0x03030303u) << 4);
        __m128i s8 = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)s), _mm_set1_epi8(32));
        const __m256i s16 = _mm256_cvtepi8_epi16(s8);
        const __m256i m3 = _mm256_set1_epi8(3), b2 = _mm256_set1_epi8(4);
        __m256i hm = kq_load(x->hmask);
        for (int n = 0; n < 2; n++) {
            __m256i q = kq_load(x->qs + 32 * n);
            for (int j = 0; j < 4; j++) {
                /* value = (2 low bits | hmask bit << 2) - 4 */
                __m256i v = _mm256_or_si256(_mm256_and_si256(q, m3), _mm256_and_si256(_mm256_slli_epi16(hm, 2), b2));
                isum = kq_chunk(isum, v, y, 4 * n + j, tk_scale_pair(s16, 4 * n + j));
                q = _mm256_srli_epi16(q, 2);
                hm = _mm256_srli_epi16(hm, 1);
            }
        }
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(kq_load(y->bsums), s16), 2));
        d = tk_h2f(x->d) * y->d;
        break;
    }
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
}

/// Dot products of `nr` (1..4) weight rows with one Q8_K activation row, `nb` super-blocks each.
TK_INLINE void kq_rows(int type, int nr, const uint8_t *w, size_t wrb, int64_t nb, const tk_block_q8_K *y,
                       float *out) {
    const size_t wb = kq_weight_bytes(type);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float bias[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < nb; i++) {
        if (nr > 1) tk_prefetch_part(w + TK_PREFETCH_GROUPS * (size_t)nr * wrb, (size_t)nr * wrb, i, nb);
        for (int r = 0; r < nr; r++) {
            acc[r] = kq_block(type, w + (size_t)r * wrb + (size_t)i * wb, y + i, acc[r], &bias[r]);
        }
    }
    if (nr == 4) {
        _mm_storeu_ps(out, _mm_add_ps(tk_hsum4_ps(acc[0], acc[1], acc[2], acc[3]), _mm_loadu_ps(bias)));
    } else {
        for (int r = 0; r < nr; r++) out[r] = tk_hsum_ps(acc[r]) + bias[r];
    }
}

TK_INLINE void kq_gemm(int type, const void *w, size_t wrb, int64_t k, const void *a, size_t arb, int64_t m,
                       float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {
    const int64_t nb = k / TK_QK_K;
    const uint8_t *wp = w, *ap = a;
    float out[4];
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        for (int64_t i = 0; i < m; i++) {
            kq_rows(type, 4, wp + (size_t)j * wrb, wrb, nb, (const tk_block_q8_K *)(ap + (size_t)i * arb), out);
            for (int r = 0; r < 4; r++) c[i * ldc + j + r] = accumulate ? c[i * ldc + j + r] + out[r] : out[r];
        }
    }
    for (; j < j1; j++) {
        for (int64_t i = 0; i < m; i++) {
            kq_rows(type, 1, wp + (size_t)j * wrb, wrb, nb, (const tk_block_q8_K *)(ap + (size_t)i * arb), out);
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + out[0] : out[0];
        }
    }
}

#define TK_KQ_ENTRIES(name, type)                                                                   \
    static float kq_dot_##name(int64_t n, const void *w, const void *a) {                           \
        float out;                                                                                  \
        kq_rows(type, 1, w, 0, n / TK_QK_K, a, &out);                                               \
        return out;                                                                                 \
    }                                                                                               \
    static void kq_gemm_##name(const void *w, size_t wrb, int64_t k, const void *a, size_t arb,     \
                               int64_t m, float *c, int64_t ldc, int64_t j0, int64_t j1, int acc) { \
        kq_gemm(type, w, wrb, k, a, arb, m, c, ldc, j0, j1, acc);                                   \
    }

TK_KQ_ENTRIES(q2_k, TK_Q2_K)
TK_KQ_ENTRIES(q3_k, TK_Q3_K)
TK_KQ_ENTRIES(q4_k, TK_Q4_K)
TK_KQ_ENTRIES(q5_k, TK_Q5_K)
TK_KQ_ENTRIES(q6_k, TK_Q6_K)

static void tk_x86_fill_kquants(tk_kernel_table *t) {
#define TK_KQ_SET(name, type) t->dot[type] = kq_dot_##name; t->gemm[type] = kq_gemm_##name;
    TK_KQ_SET(q2_k, TK_Q2_K)
    TK_KQ_SET(q3_k, TK_Q3_K)
    TK_KQ_SET(q4_k, TK_Q4_K)
    TK_KQ_SET(q5_k, TK_Q5_K)
    TK_KQ_SET(q6_k, TK_Q6_K)
#undef TK_KQ_SET
}

#endif
