/// Products of stored weights with f32 activations, AVX-512 (16 floats per register).
#if defined(__x86_64__)
#include "kernel_table.h"

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), \
                             apply_to = function)
#include "f32act_x86.h"
#include <stdlib.h>

static inline void tk_widen512_f32(const uint8_t *row, int64_t c, __m512 v[2]) {
    const float *x = (const float *)row + 32 * c;
    v[0] = _mm512_loadu_ps(x);
    v[1] = _mm512_loadu_ps(x + 16);
}

static inline void tk_widen512_f16(const uint8_t *row, int64_t c, __m512 v[2]) {
    const uint16_t *x = (const uint16_t *)row + 32 * c;
    v[0] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
    v[1] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 16)));
}

static inline void tk_widen512_bf16(const uint8_t *row, int64_t c, __m512 v[2]) {
    const uint16_t *x = (const uint16_t *)row + 32 * c;
    for (int q = 0; q < 2; q++) {
        __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + 16 * q)));
        v[q] = _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    }
}

/// The values past the last whole 32 (f32/f16/bf16 rows only), dotted in plain C.
static float tk_tail512(int type, const uint8_t *row, int64_t k, const float *x) {
    int64_t start = k - k % 32;
    float values[32], s = 0.0f;
    tk_dequantize_row(type, row + (size_t)start * tk_block_bytes(type), values, k - start);
    for (int64_t v = 0; v < k - start; v++) s += values[v] * x[start + v];
    return s;
}

/// Float weights (f32, f16, bf16): each 32 values widened once and multiplied into the sums of
/// up to 8 activation rows. `rows` is a constant after inlining; with few rows each row's sum
/// is split over `parts` registers (pieces alternate between pairs of them when rows == 1).
#define TK_GEMM_F32_AVX512(type, TYPE)                                                                             \
    static inline __attribute__((always_inline)) void tk_rows512_##type(                                           \
        const uint8_t *w, size_t w_row_bytes, int64_t k, const float *a, float *c, int64_t ldc, int64_t j0,        \
        int64_t j1, int accumulate, const int rows) {                                                              \
        const int parts = rows <= 2 ? 4 : rows <= 4 ? 2 : 1;                                                       \
        int64_t pieces = k / 32;                                                                                   \
        for (int64_t j = j0; j < j1; j++) {                                                                        \
            const uint8_t *row = w + (size_t)j * w_row_bytes;                                                      \
            __m512 s[8];                                                                                           \
            for (int r = 0; r < rows * parts; r++) s[r] = _mm512_setzero_ps();                                     \
            int64_t p = 0;                                                                                         \
            for (; p + 2 <= pieces; p += 2) {                                                                      \
                __m512 v[4];                                                                                       \
                tk_widen512_##type(row, p, v);                                                                     \
                tk_widen512_##type(row, p + 1, v + 2);                                                             \
                for (int r = 0; r < rows; r++) {                                                                   \
                    const float *x = a + r * k + 32 * p;                                                           \
                    for (int q = 0; q < 4; q++)                                                                    \
                        s[r * parts + q % parts] =                                                                 \
                            _mm512_fmadd_ps(v[q], _mm512_loadu_ps(x + 16 * q), s[r * parts + q % parts]);          \
                }                                                                                                  \
            }                                                                                                      \
            if (p < pieces) {                                                                                      \
                __m512 v[2];                                                                                       \
                tk_widen512_##type(row, p, v);                                                                     \
                for (int r = 0; r < rows; r++) {                                                                   \
                    const float *x = a + r * k + 32 * p;                                                           \
                    for (int q = 0; q < 2; q++)                                                                    \
                        s[r * parts + q % parts] =                                                                 \
                            _mm512_fmadd_ps(v[q], _mm512_loadu_ps(x + 16 * q), s[r * parts + q % parts]);          \
                }                                                                                                  \
            }                                                                                                      \
            for (int r = 0; r < rows; r++) {                                                                       \
                __m512 total = s[r * parts];                                                                       \
                for (int q = 1; q < parts; q++) total = _mm512_add_ps(total, s[r * parts + q]);                    \
                float sum = _mm512_reduce_add_ps(total);                                                           \
                if (k % 32) sum += tk_tail512(TYPE, row, k, a + r * k);                                            \
                float *out = &c[r * ldc + j];                                                                      \
                *out = accumulate ? *out + sum : sum;                                                              \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
    TK_GEMM_F32_ENTRY512(type)

/// Quantised weights: for each piece and activation row, the integer values are dotted with the
/// activations first (q . x, per 16 values) and scaled once (d * (q . x)); the offsets add
/// m * (sum of x) from sums computed once per call. Three vector operations per 16 values and
/// row, against four when each value is first widened to d * q + m. Every row (and, with scales
/// per 16 values, every half) has its own accumulators, and with one or two rows pieces
/// alternate between two sets, so enough independent chains are in flight.
#define TK_GEMM_Q_AVX512(type, TYPE)                                                                               \
    static inline __attribute__((always_inline)) void tk_rows512_##type(                                           \
        const uint8_t *w, size_t w_row_bytes, int64_t k, const float *a, const __m128 *sums, float *c,            \
        int64_t ldc, int64_t j0, int64_t j1, int accumulate, const int rows) {                                     \
        const int per16 = TK_PER16_##type, has_min = TK_MIN_##type;                                               \
        const int sets = rows <= 2 ? 2 : 1, halves = per16 ? 2 : 1;                                                \
        int64_t pieces = k / 32;                                                                                   \
        for (int64_t j = j0; j < j1; j++) {                                                                        \
            const uint8_t *row = w + (size_t)j * w_row_bytes;                                                      \
            __m512 s[16];                                                                                          \
            __m128 mins[8];                                                                                        \
            for (int r = 0; r < rows * sets * halves; r++) s[r] = _mm512_setzero_ps();                             \
            for (int r = 0; r < rows; r++) mins[r] = _mm_setzero_ps();                                             \
            for (int64_t p = 0; p < pieces; p++) {                                                                 \
                tk_piece piece = tk_piece_##type(row, p);                                                          \
                __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(piece.q)));             \
                __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(piece.q, 1)));        \
                __m512 d0 = _mm512_broadcastss_ps(piece.dm);                                                       \
                __m512 d1 = per16 ? _mm512_broadcastss_ps(_mm_movehl_ps(piece.dm, piece.dm)) : d0;                 \
                int set = sets == 2 ? (int)(p & 1) : 0;                                                            \
                for (int r = 0; r < rows; r++) {                                                                   \
                    const float *x = a + r * k + 32 * p;                                                           \
                    __m512 tlo = _mm512_mul_ps(lo, _mm512_loadu_ps(x));                                            \
                    __m512 *acc = &s[(r * sets + set) * halves];                                                   \
                    if (per16) {                                                                                   \
                        acc[0] = _mm512_fmadd_ps(tlo, d0, acc[0]);                                                 \
                        acc[1] = _mm512_fmadd_ps(_mm512_mul_ps(hi, _mm512_loadu_ps(x + 16)), d1, acc[1]);          \
                    } else {                                                                                       \
                        acc[0] = _mm512_fmadd_ps(_mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), tlo), d0, acc[0]);   \
                    }                                                                                              \
                    if (has_min) mins[r] = _mm_fmadd_ps(piece.dm, sums[r * pieces + p], mins[r]);                  \
                }                                                                                                  \
            }                                                                                                      \
            for (int r = 0; r < rows; r++) {                                                                       \
                __m512 total = s[r * sets * halves];                                                               \
                for (int q = 1; q < sets * halves; q++) total = _mm512_add_ps(total, s[r * sets * halves + q]);    \
                float sum = _mm512_reduce_add_ps(total);                                                           \
                if (has_min) sum += _mm_cvtss_f32(_mm_shuffle_ps(mins[r], mins[r], 1)) +                           \
                                    _mm_cvtss_f32(_mm_shuffle_ps(mins[r], mins[r], 3));                            \
                float *out = &c[r * ldc + j];                                                                      \
                *out = accumulate ? *out + sum : sum;                                                              \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
    static void tk_gemm512_f32_##type(const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m,     \
                                      float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {             \
        int64_t pieces = k / 32;                                                                                   \
        __m128 stack[TK_SUMS_ON_STACK];                                                                            \
        __m128 *sums = stack;                                                                                      \
        if (TK_MIN_##type && pieces * (m < 8 ? m : 8) > TK_SUMS_ON_STACK) {                                        \
            sums = malloc(sizeof(__m128) * (size_t)(pieces * 8));                                                  \
            if (!sums) abort();                                                                                    \
        }                                                                                                          \
        for (int64_t i = 0; i < m; i += 8) {                                                                       \
            const float *ai = a + i * k;                                                                           \
            float *ci = c + i * ldc;                                                                               \
            int64_t rows = m - i < 8 ? m - i : 8;                                                                  \
            if (TK_MIN_##type)                                                                                     \
                for (int64_t r = 0; r < rows; r++) tk_piece_sums(ai + r * k, pieces, sums + r * pieces);           \
            switch (rows) {                                                                                        \
            case 1: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 1); break;         \
            case 2: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 2); break;         \
            case 3: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 3); break;         \
            case 4: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 4); break;         \
            case 5: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 5); break;         \
            case 6: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 6); break;         \
            case 7: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 7); break;         \
            default: tk_rows512_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 8); break;        \
            }                                                                                                      \
        }                                                                                                          \
        if (sums != stack) free(sums);                                                                             \
    }

/// The entry of a float-weight kernel: activation rows in groups of up to 8.
#define TK_GEMM_F32_ENTRY512(type)                                                                                 \
    static void tk_gemm512_f32_##type(const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m,     \
                                      float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {             \
        for (int64_t i = 0; i < m; i += 8) {                                                                       \
            const float *ai = a + i * k;                                                                           \
            float *ci = c + i * ldc;                                                                               \
            switch (m - i < 8 ? m - i : 8) {                                                                       \
            case 1: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 1); break;               \
            case 2: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 2); break;               \
            case 3: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 3); break;               \
            case 4: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 4); break;               \
            case 5: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 5); break;               \
            case 6: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 6); break;               \
            case 7: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 7); break;               \
            default: tk_rows512_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 8); break;              \
            }                                                                                                      \
        }                                                                                                          \
    }

TK_GEMM_F32_AVX512(f32, TK_F32)
TK_GEMM_F32_AVX512(f16, TK_F16)
TK_GEMM_F32_AVX512(bf16, TK_BF16)
#undef TK_GEMM_F32_AVX512
#undef TK_GEMM_F32_ENTRY512
TK_GEMM_Q_AVX512(q4_0, TK_Q4_0)
TK_GEMM_Q_AVX512(q4_1, TK_Q4_1)
TK_GEMM_Q_AVX512(q5_0, TK_Q5_0)
TK_GEMM_Q_AVX512(q5_1, TK_Q5_1)
TK_GEMM_Q_AVX512(q8_0, TK_Q8_0)
TK_GEMM_Q_AVX512(iq4_nl, TK_IQ4_NL)
TK_GEMM_Q_AVX512(q2_K, TK_Q2_K)
TK_GEMM_Q_AVX512(q3_K, TK_Q3_K)
TK_GEMM_Q_AVX512(q4_K, TK_Q4_K)
TK_GEMM_Q_AVX512(q5_K, TK_Q5_K)
TK_GEMM_Q_AVX512(q6_K, TK_Q6_K)
#undef TK_GEMM_Q_AVX512

void tk_fill_f32act_avx512(tk_kernel_table *t) {
    t->gemm_f32[TK_F32] = tk_gemm512_f32_f32;
    t->gemm_f32[TK_F16] = tk_gemm512_f32_f16;
    t->gemm_f32[TK_BF16] = tk_gemm512_f32_bf16;
    t->gemm_f32[TK_Q4_0] = tk_gemm512_f32_q4_0;
    t->gemm_f32[TK_Q4_1] = tk_gemm512_f32_q4_1;
    t->gemm_f32[TK_Q5_0] = tk_gemm512_f32_q5_0;
    t->gemm_f32[TK_Q5_1] = tk_gemm512_f32_q5_1;
    t->gemm_f32[TK_Q8_0] = tk_gemm512_f32_q8_0;
    t->gemm_f32[TK_IQ4_NL] = tk_gemm512_f32_iq4_nl;
    t->gemm_f32[TK_Q2_K] = tk_gemm512_f32_q2_K;
    t->gemm_f32[TK_Q3_K] = tk_gemm512_f32_q3_K;
    t->gemm_f32[TK_Q4_K] = tk_gemm512_f32_q4_K;
    t->gemm_f32[TK_Q5_K] = tk_gemm512_f32_q5_K;
    t->gemm_f32[TK_Q6_K] = tk_gemm512_f32_q6_K;
}

#pragma clang attribute pop
#endif
