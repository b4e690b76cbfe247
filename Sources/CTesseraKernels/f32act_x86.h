/// Internal to f32act_avx2.c / f32act_avx512.c: one 32-value piece of a quantised weight row
/// as 32 signed bytes plus a scale and offset per 16 values (value = d * q + m). Every type
/// reduces to this form (offsets such as Q4_0's -8 are subtracted in the bytes), so each level
/// only converts bytes to floats its own way. Included after each file's `target` pragma, so
/// the helpers compile for that file's instruction sets.
#ifndef TESSERA_F32ACT_X86_H
#define TESSERA_F32ACT_X86_H

#include "portable.h"
#include <immintrin.h>
#include <string.h>

typedef struct {
    __m256i q;           /* values 0..31 as int8 */
    float d0, m0, d1, m1; /* values 0..15: d0 * q + m0; values 16..31: d1 * q + m1 */
} tk_piece;

static inline tk_piece tk_piece_make(__m256i q, float d0, float m0, float d1, float m1) {
    tk_piece p = {q, d0, m0, d1, m1};
    return p;
}

/// 16 bytes of nibbles as 32 bytes: low nibbles are values 0..15, high nibbles 16..31.
static inline __m256i tk_nibbles(const uint8_t *qs) {
    __m128i x = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(x, mask), hi = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

/// Bit i of the little-endian 32-bit `qh` as 0x10 in byte i (the fifth bit of Q5_0/Q5_1).
static inline __m256i tk_fifth_bits(const uint8_t qh[4]) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    /* byte i takes byte i / 8 of qh (the shuffle works per 128-bit lane; both lanes hold qh) */
    __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                         _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                           0x0101010101010101, 0x0000000000000000));
    __m256i select = _mm256_set1_epi64x((int64_t)0x8040201008040201);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/// Bytes >> `shift` masked to `mask` (a per-byte shift built from the 16-bit one).
static inline __m256i tk_bits(__m256i x, int shift, int mask) {
    return _mm256_and_si256(_mm256_srl_epi16(x, _mm_cvtsi32_si128(shift)), _mm256_set1_epi8((char)mask));
}

/// F16C's conversion: exact, as the portable one (one instruction instead of a dozen).
static inline float tk_h(tk_half h) { return _cvtsh_ss(h); }

static inline tk_piece tk_piece_q4_0(const uint8_t *row, int64_t c) {
    const tk_block_q4_0 *b = (const tk_block_q4_0 *)row + c;
    float d = tk_h(b->d);
    return tk_piece_make(_mm256_sub_epi8(tk_nibbles(b->qs), _mm256_set1_epi8(8)), d, 0.0f, d, 0.0f);
}

static inline tk_piece tk_piece_q4_1(const uint8_t *row, int64_t c) {
    const tk_block_q4_1 *b = (const tk_block_q4_1 *)row + c;
    float d = tk_h(b->d), m = tk_h(b->m);
    return tk_piece_make(tk_nibbles(b->qs), d, m, d, m);
}

static inline tk_piece tk_piece_q5_0(const uint8_t *row, int64_t c) {
    const tk_block_q5_0 *b = (const tk_block_q5_0 *)row + c;
    float d = tk_h(b->d);
    __m256i q = _mm256_or_si256(tk_nibbles(b->qs), tk_fifth_bits(b->qh));
    return tk_piece_make(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), d, 0.0f, d, 0.0f);
}

static inline tk_piece tk_piece_q5_1(const uint8_t *row, int64_t c) {
    const tk_block_q5_1 *b = (const tk_block_q5_1 *)row + c;
    float d = tk_h(b->d), m = tk_h(b->m);
    return tk_piece_make(_mm256_or_si256(tk_nibbles(b->qs), tk_fifth_bits(b->qh)), d, m, d, m);
}

static inline tk_piece tk_piece_q8_0(const uint8_t *row, int64_t c) {
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)row + c;
    float d = tk_h(b->d);
    return tk_piece_make(_mm256_loadu_si256((const __m256i *)b->qs), d, 0.0f, d, 0.0f);
}

static inline tk_piece tk_piece_iq4_nl(const uint8_t *row, int64_t c) {
    const tk_block_iq4_nl *b = (const tk_block_iq4_nl *)row + c;
    float d = tk_h(b->d);
    __m128i table = _mm_loadu_si128((const __m128i *)tk_iq4nl_values);
    __m256i q = _mm256_shuffle_epi8(_mm256_set_m128i(table, table), tk_nibbles(b->qs));
    return tk_piece_make(q, d, 0.0f, d, 0.0f);
}

/* K-quants: piece c is sub-block c % 8 of super-block c / 8. */

static inline tk_piece tk_piece_q2_K(const uint8_t *row, int64_t c) {
    const tk_block_q2_K *b = (const tk_block_q2_K *)row + c / 8;
    int s = (int)(c % 8);
    float d = tk_h(b->d), dmin = tk_h(b->dmin);
    __m256i q = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 4))), 2 * (s % 4), 3);
    uint8_t g0 = b->scales[2 * s], g1 = b->scales[2 * s + 1];
    return tk_piece_make(q, d * (float)(g0 & 0x0f), -(dmin * (float)(g0 >> 4)), d * (float)(g1 & 0x0f),
                         -(dmin * (float)(g1 >> 4)));
}

/// Q3_K's 6-bit signed scale of group g (0..15).
static inline int tk_q3_K_scale(const uint8_t s[12], int g) {
    int low = (s[g % 8] >> (4 * (g / 8))) & 0x0f;
    int high = (s[8 + g % 4] >> (2 * (g / 4))) & 0x03;
    return (low | high << 4) - 32;
}

static inline tk_piece tk_piece_q3_K(const uint8_t *row, int64_t c) {
    const tk_block_q3_K *b = (const tk_block_q3_K *)row + c / 8;
    int s = (int)(c % 8);
    float d = tk_h(b->d);
    __m256i low = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 4))), 2 * (s % 4), 3);
    __m256i high = tk_bits(_mm256_loadu_si256((const __m256i *)b->hmask), s, 1);
    /* q - 4 when the high bit is clear: q - 4 + 4 h */
    __m256i q = _mm256_sub_epi8(_mm256_add_epi8(low, _mm256_slli_epi16(high, 2)), _mm256_set1_epi8(4));
    return tk_piece_make(q, d * (float)tk_q3_K_scale(b->scales, 2 * s), 0.0f,
                         d * (float)tk_q3_K_scale(b->scales, 2 * s + 1), 0.0f);
}

static inline tk_piece tk_piece_q4_K(const uint8_t *row, int64_t c) {
    const tk_block_q4_K *b = (const tk_block_q4_K *)row + c / 8;
    int s = (int)(c % 8), sc, mn;
    tk_scale_min_k4(b->scales, s, &sc, &mn);
    float dl = tk_h(b->d) * (float)sc, ml = -(tk_h(b->dmin) * (float)mn);
    __m256i q = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 2))), 4 * (s % 2), 0x0f);
    return tk_piece_make(q, dl, ml, dl, ml);
}

static inline tk_piece tk_piece_q5_K(const uint8_t *row, int64_t c) {
    const tk_block_q5_K *b = (const tk_block_q5_K *)row + c / 8;
    int s = (int)(c % 8), sc, mn;
    tk_scale_min_k4(b->scales, s, &sc, &mn);
    float dl = tk_h(b->d) * (float)sc, ml = -(tk_h(b->dmin) * (float)mn);
    __m256i low = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 2))), 4 * (s % 2), 0x0f);
    __m256i high = tk_bits(_mm256_loadu_si256((const __m256i *)b->qh), s, 1);
    return tk_piece_make(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), dl, ml, dl, ml);
}

static inline tk_piece tk_piece_q6_K(const uint8_t *row, int64_t c) {
    const tk_block_q6_K *b = (const tk_block_q6_K *)row + c / 8;
    int s = (int)(c % 8), h = s / 4, t = s % 4;
    float d = tk_h(b->d);
    __m256i low = tk_bits(_mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (t % 2))), 4 * (t / 2), 0x0f);
    __m256i high = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)), 2 * t, 3);
    __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), _mm256_set1_epi8(32));
    return tk_piece_make(q, d * (float)b->scales[2 * s], 0.0f, d * (float)b->scales[2 * s + 1], 0.0f);
}

#endif
