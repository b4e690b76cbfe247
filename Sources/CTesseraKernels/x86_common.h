/// Internal to the x86 kernel files: small SIMD helpers shared by the AVX2 and AVX-512 levels.
/// Included after `#include <immintrin.h>` inside the including file's
/// `#pragma clang attribute push(target(...))`, so every helper is compiled for that level.
/// The including file defines `tk_dp(acc, u, s)` first: acc (8 x i32) plus, for each i32 lane,
/// the sum of four products of unsigned bytes `u` with signed bytes `s`.
#ifndef TESSERA_X86_COMMON_H
#define TESSERA_X86_COMMON_H

#include "blocks.h"
#include <string.h>

#define TK_INLINE static inline __attribute__((always_inline))

/// f16 -> f32 with F16C (exact, as tk_half_to_float).
TK_INLINE float tk_h2f(tk_half h) { return _cvtsh_ss(h); }

TK_INLINE float tk_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TK_INLINE int32_t tk_hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/// Four accumulators to their four sums, in one vector (lane r = sum of v_r).
TK_INLINE __m128 tk_hsum4_ps(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    __m256 s01 = _mm256_hadd_ps(v0, v1);      /* v0 pairs, v1 pairs, per 128-bit lane */
    __m256 s23 = _mm256_hadd_ps(v2, v3);
    __m256 s = _mm256_hadd_ps(s01, s23);      /* lane halves: (v0, v1, v2, v3) partial sums */
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/// 16 bytes of packed nibbles to 32 bytes: the low nibbles (values 0..15) then the high (16..31).
/// (The load goes to both halves; the high half is shifted by 4: one shift, one and.)
TK_INLINE __m256i tk_nibbles(const uint8_t *qs) {
    __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    both = _mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/// The two f16 at `p` (d and m, or d and s, or d and 2 other bytes) as lanes 0 and 1.
TK_INLINE __m128 tk_h2f_pair(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(v));
}

/// 32 bits (little-endian at `p`) to 32 bytes: byte i is 0xFF when bit i is set, else 0.
TK_INLINE __m256i tk_bits_to_bytes(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    /* byte i of the result starts as byte i / 8 of `bits`, then keeps only bit i % 8 */
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, select), select);
}

/// Signed bytes w times signed bytes a, four at a time into i32 lanes (|w| may be 128).
TK_INLINE __m256i tk_dp_signed(__m256i acc, __m256i w, __m256i a) {
    return tk_dp(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

/// An i16 vector whose low 128-bit lane holds element 2t of `s16` and high lane element 2t + 1
/// (the scales of the two 16-value halves of 32-value chunk t).
TK_INLINE __m256i tk_scale_pair(__m256i s16, int t) {
    __m256i pair = _mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(t));
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    return _mm256_shuffle_epi8(pair, pick);
}

/// Distance, in groups of rows, of the software prefetch in the multi-row products.
#ifndef TK_PREFETCH_GROUPS
#define TK_PREFETCH_GROUPS 2
#endif

/// Prefetches part i of n of the `span` bytes at `p`, line by line in address order. The
/// multi-row products read several rows side by side, interleaved streams that the hardware
/// prefetcher follows badly (Q8_0 on Zen 4: 7 GB/s without, 20 with); spreading one ordered
/// walk over the next group's bytes across the current group's iterations keeps memory busy.
TK_INLINE void tk_prefetch_part(const uint8_t *p, size_t span, int64_t i, int64_t n) {
    for (size_t o = ((size_t)i * span / (size_t)n) & ~(size_t)63; o < (size_t)(i + 1) * span / (size_t)n; o += 64)
        _mm_prefetch((const char *)(p + o), _MM_HINT_T0);
}

#endif
