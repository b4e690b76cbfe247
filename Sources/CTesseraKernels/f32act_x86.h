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

/// A piece: 32 signed bytes `q` and `dm` = [d0, m0, d1, m1] (values 0..15 are d0 * q + m0,
/// values 16..31 are d1 * q + m1). Types with one scale per 32 values give [d, m, d, m].
typedef struct {
    __m256i q;
    __m128 dm;
} tk_piece;

/// Each type's shape, constants the kernels specialise on: whether d1/m1 may differ from d0/m0
/// (scales per 16 values: Q2_K, Q3_K, Q6_K) and whether there is an offset m at all.
#define TK_PER16_q4_0 0
#define TK_PER16_q4_1 0
#define TK_PER16_q5_0 0
#define TK_PER16_q5_1 0
#define TK_PER16_q8_0 0
#define TK_PER16_iq4_nl 0
#define TK_PER16_q2_K 1
#define TK_PER16_q3_K 1
#define TK_PER16_q4_K 0
#define TK_PER16_q5_K 0
#define TK_PER16_q6_K 1
#define TK_MIN_q4_0 0
#define TK_MIN_q4_1 1
#define TK_MIN_q5_0 0
#define TK_MIN_q5_1 1
#define TK_MIN_q8_0 0
#define TK_MIN_iq4_nl 0
#define TK_MIN_q2_K 1
#define TK_MIN_q3_K 0
#define TK_MIN_q4_K 1
#define TK_MIN_q5_K 1
#define TK_MIN_q6_K 0

static inline tk_piece tk_piece_make(__m256i q, __m128 dm) {
    tk_piece p = {q, dm};
    return p;
}

/// [d, m, d, m] from two adjacent halves (d, then m), one conversion, no dependence on any
/// earlier register (a scalar half conversion would merge into one and chain the loop).
static inline __m128 tk_dm_pair(const tk_half *dm) {
    int32_t bits;
    memcpy(&bits, dm, 4);
    __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
    return _mm_castpd_ps(_mm_movedup_pd(_mm_castps_pd(v)));
}

/// [d, 0, d, 0] from one half.
static inline __m128 tk_d_only(const tk_half *d) {
    __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128(*d));
    return _mm_castpd_ps(_mm_movedup_pd(_mm_castps_pd(v)));
}

/// The activation sums the offsets multiply: `out[p]` = [0, sum of x[32p ..< 32p+16], 0, sum of
/// x[32p+16 ..< 32p+32]], so that `dm * out[p]` holds m0 * S0 and m1 * S1 in lanes 1 and 3.
static inline void tk_piece_sums(const float *x, int64_t pieces, __m128 *out) {
    for (int64_t p = 0; p < pieces; p++) {
        __m256 a = _mm256_add_ps(_mm256_loadu_ps(x + 32 * p), _mm256_loadu_ps(x + 32 * p + 8));
        __m256 b = _mm256_add_ps(_mm256_loadu_ps(x + 32 * p + 16), _mm256_loadu_ps(x + 32 * p + 24));
        /* horizontal sums of a and b, side by side */
        __m256 h = _mm256_hadd_ps(a, b);   /* a01 a23 b01 b23 | a45 a67 b45 b67 */
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        q = _mm_hadd_ps(q, q);             /* sa sb sa sb */
        out[p] = _mm_unpacklo_ps(_mm_setzero_ps(), q);  /* 0 sa 0 sb */
    }
}

/// Offset sums live on the stack up to this many pieces x rows; beyond, on the heap.
#define TK_SUMS_ON_STACK 1024

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
static inline float tk_h(tk_half h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

static inline tk_piece tk_piece_q4_0(const uint8_t *row, int64_t c) {
    const tk_block_q4_0 *b = (const tk_block_q4_0 *)row + c;
    return tk_piece_make(_mm256_sub_epi8(tk_nibbles(b->qs), _mm256_set1_epi8(8)), tk_d_only(&b->d));
}

static inline tk_piece tk_piece_q4_1(const uint8_t *row, int64_t c) {
    const tk_block_q4_1 *b = (const tk_block_q4_1 *)row + c;
    return tk_piece_make(tk_nibbles(b->qs), tk_dm_pair(&b->d));
}

static inline tk_piece tk_piece_q5_0(const uint8_t *row, int64_t c) {
    const tk_block_q5_0 *b = (const tk_block_q5_0 *)row + c;
    __m256i q = _mm256_or_si256(tk_nibbles(b->qs), tk_fifth_bits(b->qh));
    return tk_piece_make(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), tk_d_only(&b->d));
}

static inline tk_piece tk_piece_q5_1(const uint8_t *row, int64_t c) {
    const tk_block_q5_1 *b = (const tk_block_q5_1 *)row + c;
    return tk_piece_make(_mm256_or_si256(tk_nibbles(b->qs), tk_fifth_bits(b->qh)), tk_dm_pair(&b->d));
}

static inline tk_piece tk_piece_q8_0(const uint8_t *row, int64_t c) {
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)row + c;
    return tk_piece_make(_mm256_loadu_si256((const __m256i *)b->qs), tk_d_only(&b->d));
}

static inline tk_piece tk_piece_iq4_nl(const uint8_t *row, int64_t c) {
    const tk_block_iq4_nl *b = (const tk_block_iq4_nl *)row + c;
    __m128i table = _mm_loadu_si128((const __m128i *)tk_iq4nl_values);
    __m256i q = _mm256_shuffle_epi8(_mm256_set_m128i(table, table), tk_nibbles(b->qs));
    return tk_piece_make(q, tk_d_only(&b->d));
}

/* K-quants: piece c is sub-block c % 8 of super-block c / 8. */

static inline tk_piece tk_piece_q2_K(const uint8_t *row, int64_t c) {
    const tk_block_q2_K *b = (const tk_block_q2_K *)row + c / 8;
    int s = (int)(c % 8);
    float d = tk_h(b->d), dmin = tk_h(b->dmin);
    __m256i q = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 4))), 2 * (s % 4), 3);
    uint8_t g0 = b->scales[2 * s], g1 = b->scales[2 * s + 1];
    return tk_piece_make(q, _mm_setr_ps(d * (float)(g0 & 0x0f), -(dmin * (float)(g0 >> 4)), d * (float)(g1 & 0x0f),
                                        -(dmin * (float)(g1 >> 4))));
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
    return tk_piece_make(q, _mm_setr_ps(d * (float)tk_q3_K_scale(b->scales, 2 * s), 0.0f,
                                        d * (float)tk_q3_K_scale(b->scales, 2 * s + 1), 0.0f));
}

static inline tk_piece tk_piece_q4_K(const uint8_t *row, int64_t c) {
    const tk_block_q4_K *b = (const tk_block_q4_K *)row + c / 8;
    int s = (int)(c % 8), sc, mn;
    tk_scale_min_k4(b->scales, s, &sc, &mn);
    float dl = tk_h(b->d) * (float)sc, ml = -(tk_h(b->dmin) * (float)mn);
    __m256i q = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 2))), 4 * (s % 2), 0x0f);
    return tk_piece_make(q, _mm_setr_ps(dl, ml, dl, ml));
}

static inline tk_piece tk_piece_q5_K(const uint8_t *row, int64_t c) {
    const tk_block_q5_K *b = (const tk_block_q5_K *)row + c / 8;
    int s = (int)(c % 8), sc, mn;
    tk_scale_min_k4(b->scales, s, &sc, &mn);
    float dl = tk_h(b->d) * (float)sc, ml = -(tk_h(b->dmin) * (float)mn);
    __m256i low = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * (s / 2))), 4 * (s % 2), 0x0f);
    __m256i high = tk_bits(_mm256_loadu_si256((const __m256i *)b->qh), s, 1);
    return tk_piece_make(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), _mm_setr_ps(dl, ml, dl, ml));
}

static inline tk_piece tk_piece_q6_K(const uint8_t *row, int64_t c) {
    const tk_block_q6_K *b = (const tk_block_q6_K *)row + c / 8;
    int s = (int)(c % 8), h = s / 4, t = s % 4;
    float d = tk_h(b->d);
    __m256i low = tk_bits(_mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (t % 2))), 4 * (t / 2), 0x0f);
    __m256i high = tk_bits(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)), 2 * t, 3);
    __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), _mm256_set1_epi8(32));
    return tk_piece_make(q, _mm_setr_ps(d * (float)b->scales[2 * s], 0.0f, d * (float)b->scales[2 * s + 1], 0.0f));
}

#endif
