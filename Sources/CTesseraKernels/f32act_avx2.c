/// Products of stored weights with f32 activations, AVX2 + FMA + F16C (8 floats per register):
/// each 32-value piece of a weight row is loaded once for up to 8 activation rows, and each
/// row's sums are reduced across lanes once, at its end.
#if defined(__x86_64__)
#include "kernel_table.h"

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#include "f32act_x86.h"
#include <stdlib.h>

static inline void tk_widen_f32(const uint8_t *row, int64_t c, __m256 v[4]) {
    const float *x = (const float *)row + 32 * c;
    for (int q = 0; q < 4; q++) v[q] = _mm256_loadu_ps(x + 8 * q);
}

static inline void tk_widen_f16(const uint8_t *row, int64_t c, __m256 v[4]) {
    const uint16_t *x = (const uint16_t *)row + 32 * c;
    for (int q = 0; q < 4; q++) v[q] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 8 * q)));
}

static inline void tk_widen_bf16(const uint8_t *row, int64_t c, __m256 v[4]) {
    const uint16_t *x = (const uint16_t *)row + 32 * c;
    for (int q = 0; q < 4; q++) {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + 8 * q)));
        v[q] = _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
}

static inline float tk_hsum(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/// The values past the last whole 32 (f32/f16/bf16 rows only), dotted in plain C.
static float tk_tail(int type, const uint8_t *row, int64_t k, const float *x) {
    int64_t start = k - k % 32;
    float values[32], s = 0.0f;
    tk_dequantize_row(type, row + (size_t)start * tk_block_bytes(type), values, k - start);
    for (int64_t v = 0; v < k - start; v++) s += values[v] * x[start + v];
    return s;
}

/// Float weights (f32, f16, bf16): `rows` activation rows (a compile-time constant after
/// inlining, so the sums stay in registers) against weight rows j0 ..< j1, each 32 values
/// widened once for all rows. With few rows each row's sum is split over `parts` registers,
/// so that enough independent FMA chains are in flight.
#define TK_GEMM_F32_AVX2(type, TYPE)                                                                               \
    static inline __attribute__((always_inline)) void tk_rows_##type(                                              \
        const uint8_t *w, size_t w_row_bytes, int64_t k, const float *a, float *c, int64_t ldc, int64_t j0,        \
        int64_t j1, int accumulate, const int rows) {                                                              \
        const int parts = rows == 1 ? 4 : rows <= 4 ? 2 : 1;                                                       \
        int64_t pieces = k / 32;                                                                                   \
        for (int64_t j = j0; j < j1; j++) {                                                                        \
            const uint8_t *row = w + (size_t)j * w_row_bytes;                                                      \
            __m256 s[8];                                                                                           \
            for (int r = 0; r < rows * parts; r++) s[r] = _mm256_setzero_ps();                                     \
            for (int64_t p = 0; p < pieces; p++) {                                                                 \
                __m256 v[4];                                                                                       \
                tk_widen_##type(row, p, v);                                                                        \
                for (int r = 0; r < rows; r++) {                                                                   \
                    const float *x = a + r * k + 32 * p;                                                           \
                    for (int q = 0; q < 4; q++)                                                                    \
                        s[r * parts + q % parts] =                                                                 \
                            _mm256_fmadd_ps(v[q], _mm256_loadu_ps(x + 8 * q), s[r * parts + q % parts]);           \
                }                                                                                                  \
            }                                                                                                      \
            for (int r = 0; r < rows; r++) {                                                                       \
                __m256 total = s[r * parts];                                                                       \
                for (int q = 1; q < parts; q++) total = _mm256_add_ps(total, s[r * parts + q]);                    \
                float sum = tk_hsum(total);                                                                        \
                if (k % 32) sum += tk_tail(TYPE, row, k, a + r * k);                                               \
                float *out = &c[r * ldc + j];                                                                      \
                *out = accumulate ? *out + sum : sum;                                                              \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
    static void tk_gemm_f32_##type(const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m,        \
                                   float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {                \
        for (int64_t i = 0; i < m; i += 8) {                                                                       \
            const float *ai = a + i * k;                                                                           \
            float *ci = c + i * ldc;                                                                               \
            switch (m - i < 8 ? m - i : 8) {                                                                       \
            case 1: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 1); break;            \
            case 2: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 2); break;            \
            case 3: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 3); break;            \
            case 4: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 4); break;            \
            case 5: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 5); break;            \
            case 6: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 6); break;            \
            case 7: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 7); break;            \
            default: tk_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 8); break;           \
            }                                                                                                      \
        }                                                                                                          \
    }

/// Quantised weights, as in f32act_avx512.c: per piece and activation row the integer values
/// are dotted with the activations (per 16 values), scaled once by d, and the offsets add
/// m * (sum of x) from sums computed once per call.
#define TK_GEMM_Q_AVX2(type, TYPE)                                                                                 \
    static inline __attribute__((always_inline)) void tk_rows_##type(                                              \
        const uint8_t *w, size_t w_row_bytes, int64_t k, const float *a, const __m128 *sums, float *c,            \
        int64_t ldc, int64_t j0, int64_t j1, int accumulate, const int rows) {                                     \
        const int per16 = TK_PER16_##type, has_min = TK_MIN_##type;                                               \
        int64_t pieces = k / 32;                                                                                   \
        for (int64_t j = j0; j < j1; j++) {                                                                        \
            const uint8_t *row = w + (size_t)j * w_row_bytes;                                                      \
            __m256 s[16];                                                                                          \
            __m128 mins[8];                                                                                        \
            for (int r = 0; r < rows * 2; r++) s[r] = _mm256_setzero_ps();                                         \
            for (int r = 0; r < rows; r++) mins[r] = _mm_setzero_ps();                                             \
            for (int64_t p = 0; p < pieces; p++) {                                                                 \
                tk_piece piece = tk_piece_##type(row, p);                                                          \
                __m128i qlo = _mm256_castsi256_si128(piece.q), qhi = _mm256_extracti128_si256(piece.q, 1);         \
                __m256 v0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qlo));                                         \
                __m256 v1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qlo, 8)));                      \
                __m256 v2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qhi));                                         \
                __m256 v3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qhi, 8)));                      \
                __m256 d0 = _mm256_broadcastss_ps(piece.dm);                                                       \
                __m256 d1 = per16 ? _mm256_broadcastss_ps(_mm_movehl_ps(piece.dm, piece.dm)) : d0;                 \
                for (int r = 0; r < rows; r++) {                                                                   \
                    const float *x = a + r * k + 32 * p;                                                           \
                    __m256 tlo = _mm256_fmadd_ps(v1, _mm256_loadu_ps(x + 8), _mm256_mul_ps(v0, _mm256_loadu_ps(x)));\
                    __m256 thi = _mm256_fmadd_ps(v3, _mm256_loadu_ps(x + 24),                                      \
                                                 _mm256_mul_ps(v2, _mm256_loadu_ps(x + 16)));                      \
                    if (per16) {                                                                                   \
                        s[2 * r] = _mm256_fmadd_ps(tlo, d0, s[2 * r]);                                             \
                        s[2 * r + 1] = _mm256_fmadd_ps(thi, d1, s[2 * r + 1]);                                     \
                    } else {                                                                                       \
                        s[2 * r + (p & 1)] = _mm256_fmadd_ps(_mm256_add_ps(tlo, thi), d0, s[2 * r + (p & 1)]);     \
                    }                                                                                              \
                    if (has_min) mins[r] = _mm_fmadd_ps(piece.dm, sums[r * pieces + p], mins[r]);                  \
                }                                                                                                  \
            }                                                                                                      \
            for (int r = 0; r < rows; r++) {                                                                       \
                float sum = tk_hsum(_mm256_add_ps(s[2 * r], s[2 * r + 1]));                                        \
                if (has_min) sum += _mm_cvtss_f32(_mm_shuffle_ps(mins[r], mins[r], 1)) +                           \
                                    _mm_cvtss_f32(_mm_shuffle_ps(mins[r], mins[r], 3));                            \
                float *out = &c[r * ldc + j];                                                                      \
                *out = accumulate ? *out + sum : sum;                                                              \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
    static void tk_gemm_f32_##type(const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m,        \
                                   float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {                \
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
            case 1: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 1); break;            \
            case 2: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 2); break;            \
            case 3: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 3); break;            \
            case 4: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 4); break;            \
            case 5: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 5); break;            \
            case 6: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 6); break;            \
            case 7: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 7); break;            \
            default: tk_rows_##type(w, w_row_bytes, k, ai, sums, ci, ldc, j0, j1, accumulate, 8); break;           \
            }                                                                                                      \
        }                                                                                                          \
        if (sums != stack) free(sums);                                                                             \
    }

TK_GEMM_F32_AVX2(f32, TK_F32)
TK_GEMM_F32_AVX2(f16, TK_F16)
TK_GEMM_F32_AVX2(bf16, TK_BF16)
#undef TK_GEMM_F32_AVX2
TK_GEMM_Q_AVX2(q4_0, TK_Q4_0)
TK_GEMM_Q_AVX2(q4_1, TK_Q4_1)
TK_GEMM_Q_AVX2(q5_0, TK_Q5_0)
TK_GEMM_Q_AVX2(q5_1, TK_Q5_1)
TK_GEMM_Q_AVX2(q8_0, TK_Q8_0)
TK_GEMM_Q_AVX2(iq4_nl, TK_IQ4_NL)
TK_GEMM_Q_AVX2(q2_K, TK_Q2_K)
TK_GEMM_Q_AVX2(q3_K, TK_Q3_K)
TK_GEMM_Q_AVX2(q4_K, TK_Q4_K)
TK_GEMM_Q_AVX2(q5_K, TK_Q5_K)
TK_GEMM_Q_AVX2(q6_K, TK_Q6_K)
#undef TK_GEMM_Q_AVX2

void tk_fill_f32act_avx2(tk_kernel_table *t) {
    t->gemm_f32[TK_F32] = tk_gemm_f32_f32;
    t->gemm_f32[TK_F16] = tk_gemm_f32_f16;
    t->gemm_f32[TK_BF16] = tk_gemm_f32_bf16;
    t->gemm_f32[TK_Q4_0] = tk_gemm_f32_q4_0;
    t->gemm_f32[TK_Q4_1] = tk_gemm_f32_q4_1;
    t->gemm_f32[TK_Q5_0] = tk_gemm_f32_q5_0;
    t->gemm_f32[TK_Q5_1] = tk_gemm_f32_q5_1;
    t->gemm_f32[TK_Q8_0] = tk_gemm_f32_q8_0;
    t->gemm_f32[TK_IQ4_NL] = tk_gemm_f32_iq4_nl;
    t->gemm_f32[TK_Q2_K] = tk_gemm_f32_q2_K;
    t->gemm_f32[TK_Q3_K] = tk_gemm_f32_q3_K;
    t->gemm_f32[TK_Q4_K] = tk_gemm_f32_q4_K;
    t->gemm_f32[TK_Q5_K] = tk_gemm_f32_q5_K;
    t->gemm_f32[TK_Q6_K] = tk_gemm_f32_q6_K;
}

#pragma clang attribute pop
#endif
