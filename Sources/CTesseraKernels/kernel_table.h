/// Internal: the per-type kernels the dispatcher chooses from. The portable implementations
/// fill a table; each instruction-set file overrides the entries it implements.
#ifndef TESSERA_KERNEL_TABLE_H
#define TESSERA_KERNEL_TABLE_H

#include "tessera_kernels.h"

#define TK_TYPE_SLOTS 31   /* ggml type numbers 0 ..< 31 */

typedef void (*tk_quantize_fn)(const float *x, void *dst, int64_t n);
typedef float (*tk_dot_fn)(int64_t n, const void *w, const void *a);
/// Weight rows j0 ..< j1 against m activation rows (see tk_gemm_rows); row sizes in bytes.
typedef void (*tk_gemm_fn)(const void *w, size_t w_row_bytes, int64_t k, const void *a, size_t a_row_bytes,
                           int64_t m, float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate);

/// Weight rows j0 ..< j1 against m f32 activation rows (see tk_gemm_rows_f32).
typedef void (*tk_gemm_f32_fn)(const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m,
                               float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate);

/// A row of n values in a stored type widened to f32 (tk_dequantize_row).
typedef void (*tk_dequantize_fn)(const void *src, float *dst, int64_t n);

typedef struct {
    tk_quantize_fn quantize[TK_TYPE_SLOTS];  /* by activation type: Q8_0, Q8_1, Q8_K, F32 */
    tk_dot_fn dot[TK_TYPE_SLOTS];            /* by weight type */
    tk_gemm_fn gemm[TK_TYPE_SLOTS];          /* by weight type; NULL: built from dot */
    tk_gemm_f32_fn gemm_f32[TK_TYPE_SLOTS];  /* by weight type, f32 activations (f32act_*.c) */
    tk_dequantize_fn dequantize[TK_TYPE_SLOTS];  /* by stored type, bit-exact with gguf-py (dequantize*.c) */
} tk_kernel_table;

void tk_fill_portable(tk_kernel_table *t);
/* f32-activation kernels (f32act_*.c): fill gemm_f32[] for each level */
void tk_fill_f32act_portable(tk_kernel_table *t);
/* row dequantisers (dequantize.c portable, dequantize_avx2.c / _avx512.c) */
void tk_fill_dequantize_portable(tk_kernel_table *t);
#if defined(__x86_64__)
void tk_fill_dequantize_avx2(tk_kernel_table *t);
void tk_fill_dequantize_avx512(tk_kernel_table *t);
#endif
#if defined(__x86_64__)
void tk_fill_f32act_avx2(tk_kernel_table *t);
void tk_fill_f32act_avx512(tk_kernel_table *t);
#endif
/// The portable activation quantisers (activation.c): the byte-exact rule every variant matches,
/// and a fallback for tails or types a variant does not cover.
void tk_quantize_q8_0_portable(const float *x, void *dst, int64_t n);
void tk_quantize_q8_1_portable(const float *x, void *dst, int64_t n);
void tk_quantize_q8_K_portable(const float *x, void *dst, int64_t n);
void tk_quantize_f32_portable(const float *x, void *dst, int64_t n);
#if defined(__x86_64__)
void tk_fill_avx2(tk_kernel_table *t);
void tk_fill_avx512(tk_kernel_table *t);
#endif
#if defined(__aarch64__)
void tk_fill_neon(tk_kernel_table *t);
#endif

/// The table in use.
extern tk_kernel_table tk_active;

#endif
