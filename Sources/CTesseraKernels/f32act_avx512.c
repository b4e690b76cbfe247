/// Products of quantised weights with f32 activations, AVX-512: as f32act_avx2.c, with each
/// 32-value piece widened into 2 x 16 floats (one register per scale/offset pair).
#if defined(__x86_64__)
#include "kernel_table.h"

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), \
                             apply_to = function)
#include "f32act_x86.h"

static inline void tk_widen_piece512(tk_piece p, __m512 v[2]) {
    __m128i lo = _mm256_castsi256_si128(p.q), hi = _mm256_extracti128_si256(p.q, 1);
    v[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), _mm512_set1_ps(p.d0), _mm512_set1_ps(p.m0));
    v[1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), _mm512_set1_ps(p.d1), _mm512_set1_ps(p.m1));
}

#define TK_WIDEN_QUANT(type)                                                                     \
    static inline void tk_widen512_##type(const uint8_t *row, int64_t c, __m512 v[2]) {          \
        tk_widen_piece512(tk_piece_##type(row, c), v);                                           \
    }
TK_WIDEN_QUANT(q4_0)
TK_WIDEN_QUANT(q4_1)
TK_WIDEN_QUANT(q5_0)
TK_WIDEN_QUANT(q5_1)
TK_WIDEN_QUANT(q8_0)
TK_WIDEN_QUANT(iq4_nl)
TK_WIDEN_QUANT(q2_K)
TK_WIDEN_QUANT(q3_K)
TK_WIDEN_QUANT(q4_K)
TK_WIDEN_QUANT(q5_K)
TK_WIDEN_QUANT(q6_K)
#undef TK_WIDEN_QUANT

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

/// As in f32act_avx2.c: `rows` is a constant after inlining; with few rows each row's sum is
/// split over `parts` registers (pieces alternate between pairs of them when rows == 1).
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
TK_GEMM_F32_AVX512(q4_0, TK_Q4_0)
TK_GEMM_F32_AVX512(q4_1, TK_Q4_1)
TK_GEMM_F32_AVX512(q5_0, TK_Q5_0)
TK_GEMM_F32_AVX512(q5_1, TK_Q5_1)
TK_GEMM_F32_AVX512(q8_0, TK_Q8_0)
TK_GEMM_F32_AVX512(iq4_nl, TK_IQ4_NL)
TK_GEMM_F32_AVX512(q2_K, TK_Q2_K)
TK_GEMM_F32_AVX512(q3_K, TK_Q3_K)
TK_GEMM_F32_AVX512(q4_K, TK_Q4_K)
TK_GEMM_F32_AVX512(q5_K, TK_Q5_K)
TK_GEMM_F32_AVX512(q6_K, TK_Q6_K)
#undef TK_GEMM_F32_AVX512

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
