/// Products of quantised weights with f32 activations, plain C: each weight row is widened
/// 256 values at a time into a stack buffer (exactly as tk_dequantize_row does) and dotted with
/// every activation row while the buffer is hot, so a weight row is read from memory once.
/// The reference the vector levels are tested against, and the fallback for every type.
#include "kernel_table.h"

/// Values widened at a time: one K-quant super-block, or eight 32-value blocks (every
/// supported row length is a multiple of 32 or of the type's block, see `chunk_values`).
#define TK_F32ACT_CHUNK 256
/// Activation rows per pass; more rows take further passes over the (now cached) weight row.
#define TK_F32ACT_ROWS 8

/// The largest number of values <= TK_F32ACT_CHUNK that is a whole number of blocks and
/// divides into the row from the current position.
static int64_t chunk_values(int type, int64_t remaining) {
    int64_t per_block = tk_block_elements(type);
    int64_t chunk = TK_F32ACT_CHUNK - TK_F32ACT_CHUNK % per_block;
    return remaining < chunk ? remaining : chunk;
}

static void gemm_f32_portable(int type, const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m,
                              float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {
    float buffer[TK_F32ACT_CHUNK];
    size_t block_bytes = tk_block_bytes(type);
    int64_t per_block = tk_block_elements(type);
    for (int64_t j = j0; j < j1; j++) {
        const unsigned char *row = (const unsigned char *)w + (size_t)j * w_row_bytes;
        for (int64_t i0 = 0; i0 < m; i0 += TK_F32ACT_ROWS) {
            int64_t rows = m - i0 < TK_F32ACT_ROWS ? m - i0 : TK_F32ACT_ROWS;
            float sums[TK_F32ACT_ROWS] = {0};
            for (int64_t x = 0; x < k;) {
                int64_t n = chunk_values(type, k - x);
                tk_dequantize_row(type, row + (size_t)(x / per_block) * block_bytes, buffer, n);
                for (int64_t i = 0; i < rows; i++) {
                    const float *ai = a + (i0 + i) * k + x;
                    float s = 0.0f;
                    for (int64_t v = 0; v < n; v++) s += buffer[v] * ai[v];
                    sums[i] += s;
                }
                x += n;
            }
            for (int64_t i = 0; i < rows; i++) {
                float *out = &c[(i0 + i) * ldc + j];
                *out = accumulate ? *out + sums[i] : sums[i];
            }
        }
    }
}

/// One table entry per type: the table's signature carries no type, so each is a thin wrapper.
#define TK_F32ACT_ENTRY(name, type)                                                                          \
    static void name(const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m, float *c,      \
                     int64_t ldc, int64_t j0, int64_t j1, int accumulate) {                                   \
        gemm_f32_portable(type, w, w_row_bytes, k, a, m, c, ldc, j0, j1, accumulate);                        \
    }
TK_F32ACT_ENTRY(gemm_f32_f32, TK_F32)
TK_F32ACT_ENTRY(gemm_f32_f16, TK_F16)
TK_F32ACT_ENTRY(gemm_f32_bf16, TK_BF16)
TK_F32ACT_ENTRY(gemm_f32_q4_0, TK_Q4_0)
TK_F32ACT_ENTRY(gemm_f32_q4_1, TK_Q4_1)
TK_F32ACT_ENTRY(gemm_f32_q5_0, TK_Q5_0)
TK_F32ACT_ENTRY(gemm_f32_q5_1, TK_Q5_1)
TK_F32ACT_ENTRY(gemm_f32_q8_0, TK_Q8_0)
TK_F32ACT_ENTRY(gemm_f32_iq4_nl, TK_IQ4_NL)
TK_F32ACT_ENTRY(gemm_f32_q2_K, TK_Q2_K)
TK_F32ACT_ENTRY(gemm_f32_q3_K, TK_Q3_K)
TK_F32ACT_ENTRY(gemm_f32_q4_K, TK_Q4_K)
TK_F32ACT_ENTRY(gemm_f32_q5_K, TK_Q5_K)
TK_F32ACT_ENTRY(gemm_f32_q6_K, TK_Q6_K)
#undef TK_F32ACT_ENTRY

void tk_fill_f32act_portable(tk_kernel_table *t) {
    t->gemm_f32[TK_F32] = gemm_f32_f32;
    t->gemm_f32[TK_F16] = gemm_f32_f16;
    t->gemm_f32[TK_BF16] = gemm_f32_bf16;
    t->gemm_f32[TK_Q4_0] = gemm_f32_q4_0;
    t->gemm_f32[TK_Q4_1] = gemm_f32_q4_1;
    t->gemm_f32[TK_Q5_0] = gemm_f32_q5_0;
    t->gemm_f32[TK_Q5_1] = gemm_f32_q5_1;
    t->gemm_f32[TK_Q8_0] = gemm_f32_q8_0;
    t->gemm_f32[TK_IQ4_NL] = gemm_f32_iq4_nl;
    t->gemm_f32[TK_Q2_K] = gemm_f32_q2_K;
    t->gemm_f32[TK_Q3_K] = gemm_f32_q3_K;
    t->gemm_f32[TK_Q4_K] = gemm_f32_q4_K;
    t->gemm_f32[TK_Q5_K] = gemm_f32_q5_K;
    t->gemm_f32[TK_Q6_K] = gemm_f32_q6_K;
}

void tk_gemm_rows_f32(int weight_type, const void *w, int64_t k, const float *a, int64_t m, float *c,
                      int64_t ldc, int64_t j0, int64_t j1, int accumulate) {
    /* Reading the table once selects the level (tk_isa_current() also fills it on first use). */
    (void)tk_isa_current();
    if (weight_type < 0 || weight_type >= TK_TYPE_SLOTS) return;
    tk_gemm_f32_fn fn = __atomic_load_n(&tk_active.gemm_f32[weight_type], __ATOMIC_RELAXED);
    if (!fn) return;
    fn(w, tk_row_bytes(weight_type, k), k, a, m, c, ldc, j0, j1, accumulate);
}
