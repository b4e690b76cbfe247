/// Internal to the x86 kernel files: products of the 32-value block types (Q4_0, Q4_1, Q5_0,
/// Q5_1, Q8_0, IQ4_NL) with Q8_0 / Q8_1 activations, compiled once per level (see x86_common.h).
/// Each block gives 8 partial integer sums (exact), scaled by d_w * d_a into a float
/// accumulator per weight row; Q4_1/Q5_1 add m_w * s_a (s_a = d_a * sum of the activations).
#ifndef TESSERA_X86_SIMPLE_H
#define TESSERA_X86_SIMPLE_H

#include "x86_common.h"

TK_INLINE size_t sb_weight_bytes(int type) {
    switch (type) {
    case TK_Q4_1: return sizeof(tk_block_q4_1);
    case TK_Q5_0: return sizeof(tk_block_q5_0);
    case TK_Q5_1: return sizeof(tk_block_q5_1);
    case TK_Q8_0: return sizeof(tk_block_q8_0);
    case TK_IQ4_NL: return sizeof(tk_block_iq4_nl);
    default: return sizeof(tk_block_q4_0);
    }
}

/// Q4_1 and Q5_1 store a minimum and read Q8_1 activations.
TK_INLINE int sb_has_min(int type) { return type == TK_Q4_1 || type == TK_Q5_1; }

/// Q4_0 and Q5_0 multiply their unsigned codes (0..15, 0..31) and take off offset * sum(q_a):
/// `aoff` = (8 or 16) times the partial sums of the activations, computed once per activation
/// block for all rows (cheaper than the sign trick on every weight block).
TK_INLINE int sb_has_offset(int type) { return type == TK_Q4_0 || type == TK_Q5_0; }

/// One weight block `b` against the 32 activation bytes `aq`: 8 i32 partial sums of q_w * q_a.
TK_INLINE __m256i sb_isum(int type, const uint8_t *b, __m256i aq, __m256i aoff) {
    const __m256i zero = _mm256_setzero_si256();
    switch (type) {
    case TK_Q4_1:
        return tk_dp(zero, tk_nibbles(b + 4), aq);
    case TK_Q5_0: {
        __m256i hi = _mm256_and_si256(tk_bits_to_bytes(b + 2), _mm256_set1_epi8(0x10));
        return _mm256_sub_epi32(tk_dp(zero, _mm256_or_si256(tk_nibbles(b + 6), hi), aq), aoff);
    }
    case TK_Q5_1: {
        __m256i hi = _mm256_and_si256(tk_bits_to_bytes(b + 4), _mm256_set1_epi8(0x10));
        return tk_dp(zero, _mm256_or_si256(tk_nibbles(b + 8), hi), aq);
    }
    case TK_Q8_0:
        return tk_dp_signed(zero, _mm256_loadu_si256((const __m256i *)(b + 2)), aq);
    case TK_IQ4_NL: {
        const __m256i levels = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tk_iq4nl_values));
        return tk_dp_signed(zero, _mm256_shuffle_epi8(levels, tk_nibbles(b + 2)), aq);
    }
    default: /* Q4_0 */
        return _mm256_sub_epi32(tk_dp(zero, tk_nibbles(b + 2), aq), aoff);
    }
}

/// Dot products of `nr` (1..4) weight rows (`w`, `wrb` bytes apart) with one activation row `a`,
/// `nb` blocks each, into out[0 ..< nr]. One activation block load serves all `nr` rows; the
/// rows TK_PREFETCH_GROUPS groups ahead are prefetched (see tk_prefetch_part).
TK_INLINE void sb_rows(int type, int nr, const uint8_t *w, size_t wrb, int64_t nb, const uint8_t *a,
                       float *out) {
    const size_t wb = sb_weight_bytes(type);
    const int has_min = sb_has_min(type);
    const size_t ab = has_min ? sizeof(tk_block_q8_1) : sizeof(tk_block_q8_0);
    /* one row: two accumulators, alternating blocks, so the FMA latency is not the limit */
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    /* lane 1: the sum of m_w * s_a */
    __m128 bias[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ai = a + (size_t)i * ab;
        const __m128 das = tk_h2f_pair(ai);  /* d_a, s_a (Q8_1) */
        const __m256i aq = _mm256_loadu_si256((const __m256i *)(ai + (has_min ? 4 : 2)));
        __m256i aoff = _mm256_setzero_si256();
        if (sb_has_offset(type)) {
            aoff = tk_dp(aoff, _mm256_set1_epi8(1), aq);
            aoff = type == TK_Q4_0 ? _mm256_slli_epi32(aoff, 3) : _mm256_slli_epi32(aoff, 4);
        }
        if (nr > 1) tk_prefetch_part(w + TK_PREFETCH_GROUPS * (size_t)nr * wrb, (size_t)nr * wrb, i, nb);
        for (int r = 0; r < nr; r++) {
            const uint8_t *bw = w + (size_t)r * wrb + (size_t)i * wb;
            /* lane 0: d_w d_a; lane 1: m_w s_a (meaningless without a minimum) */
            const __m128 p = _mm_mul_ps(tk_h2f_pair(bw), das);
            const int slot = nr == 1 ? (int)(i & 1) : r;
            acc[slot] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sb_isum(type, bw, aq, aoff)), _mm256_broadcastss_ps(p), acc[slot]);
            if (has_min) bias[slot] = _mm_add_ps(bias[slot], p);
        }
    }
    if (nr == 1) {
        acc[0] = _mm256_add_ps(acc[0], acc[1]);
        bias[0] = _mm_add_ps(bias[0], bias[1]);
    }
    float b[4] = {0, 0, 0, 0};
    if (has_min) {
        for (int r = 0; r < nr; r++) b[r] = _mm_cvtss_f32(_mm_movehdup_ps(bias[r]));
    }
    if (nr == 4) {
        _mm_storeu_ps(out, _mm_add_ps(tk_hsum4_ps(acc[0], acc[1], acc[2], acc[3]), _mm_loadu_ps(b)));
    } else {
        for (int r = 0; r < nr; r++) out[r] = tk_hsum_ps(acc[r]) + b[r];
    }
}

/// Stores or adds `nr` results of activation row i into c.
TK_INLINE void tk_put(float *c, const float *out, int nr, int accumulate) {
    for (int r = 0; r < nr; r++) c[r] = accumulate ? c[r] + out[r] : out[r];
}

/// tk_gemm_fn for a block type: groups of 4 weight rows, each group against every activation row
/// (the group's weights stay in L1 after the first activation row).
TK_INLINE void sb_gemm(int type, const void *w, size_t wrb, int64_t k, const void *a, size_t arb, int64_t m,
                       float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {
    const int64_t nb = k / TK_QK;
    const uint8_t *wp = w, *ap = a;
    float out[4];
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        for (int64_t i = 0; i < m; i++) {
            sb_rows(type, 4, wp + (size_t)j * wrb, wrb, nb, ap + (size_t)i * arb, out);
            tk_put(c + i * ldc + j, out, 4, accumulate);
        }
    }
    for (; j < j1; j++) {
        for (int64_t i = 0; i < m; i++) {
            sb_rows(type, 1, wp + (size_t)j * wrb, wrb, nb, ap + (size_t)i * arb, out);
            tk_put(c + i * ldc + j, out, 1, accumulate);
        }
    }
}

#define TK_SB_ENTRIES(name, type)                                                                   \
    static float sb_dot_##name(int64_t n, const void *w, const void *a) {                           \
        float out;                                                                                  \
        sb_rows(type, 1, w, 0, n / TK_QK, a, &out);                                                 \
        return out;                                                                                 \
    }                                                                                               \
    static void sb_gemm_##name(const void *w, size_t wrb, int64_t k, const void *a, size_t arb,     \
                               int64_t m, float *c, int64_t ldc, int64_t j0, int64_t j1, int acc) { \
        sb_gemm(type, w, wrb, k, a, arb, m, c, ldc, j0, j1, acc);                                   \
    }

TK_SB_ENTRIES(q4_0, TK_Q4_0)
TK_SB_ENTRIES(q4_1, TK_Q4_1)
TK_SB_ENTRIES(q5_0, TK_Q5_0)
TK_SB_ENTRIES(q5_1, TK_Q5_1)
TK_SB_ENTRIES(q8_0, TK_Q8_0)
TK_SB_ENTRIES(iq4_nl, TK_IQ4_NL)

static void tk_x86_fill_simple(tk_kernel_table *t) {
#define TK_SB_SET(name, type) t->dot[type] = sb_dot_##name; t->gemm[type] = sb_gemm_##name;
    TK_SB_SET(q4_0, TK_Q4_0)
    TK_SB_SET(q4_1, TK_Q4_1)
    TK_SB_SET(q5_0, TK_Q5_0)
    TK_SB_SET(q5_1, TK_Q5_1)
    TK_SB_SET(q8_0, TK_Q8_0)
    TK_SB_SET(iq4_nl, TK_IQ4_NL)
#undef TK_SB_SET
}

#endif
