/// Tessera's CPU kernels: GGML block formats kept as stored, products of those weights with
/// activations, and a thread pool. Plain C so that each instruction-set variant can carry its
/// own `target` attribute (Swift has no per-function target features); the best variant the
/// CPU supports is chosen once at run time. No intrinsics headers here: Swift imports this.
#ifndef TESSERA_KERNELS_H
#define TESSERA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Element types, numbered as `ggml_type`

enum {
    TK_F32 = 0, TK_F16 = 1, TK_Q4_0 = 2, TK_Q4_1 = 3, TK_Q5_0 = 6, TK_Q5_1 = 7,
    TK_Q8_0 = 8, TK_Q8_1 = 9, TK_Q2_K = 10, TK_Q3_K = 11, TK_Q4_K = 12, TK_Q5_K = 13,
    TK_Q6_K = 14, TK_Q8_K = 15, TK_IQ4_NL = 20, TK_BF16 = 30,
};

/// 1 when weights of `type` can be dequantised and multiplied, else 0.
int tk_type_supported(int type);
/// Values per block (1 for f32/f16/bf16), 0 for an unsupported type.
int64_t tk_block_elements(int type);
/// Bytes per block, 0 for an unsupported type.
size_t tk_block_bytes(int type);
/// Bytes of a row of `n` values; 0 when `n` is not a whole number of blocks.
size_t tk_row_bytes(int type, int64_t n);

/// `n` values (a whole number of blocks) of `type` to f32, bit for bit as gguf-py computes
/// them (one rounding per operation, no fused multiply-add).
void tk_dequantize_row(int type, const void *src, float *dst, int64_t n);

// MARK: - Activations

/// The form activations take for products with weights of `weight_type`: TK_Q8_0 (Q4_0, Q5_0,
/// Q8_0, IQ4_NL), TK_Q8_1 (Q4_1, Q5_1: block sums kept for the minimum), TK_Q8_K (the
/// K-quants), TK_F32 (f32, f16, bf16 weights read f32 activations).
int tk_activation_type(int weight_type);
/// Converts `n` f32 values to `act_type` (a `tk_activation_type` result); f32 is a copy.
void tk_quantize_activation_row(int act_type, const float *x, void *dst, int64_t n);

// MARK: - Products

/// The dot product of one weight row (`n` values of `weight_type`) with one activation row
/// already converted to `tk_activation_type(weight_type)`.
float tk_vec_dot(int weight_type, int64_t n, const void *w, const void *a);

/// Weight rows `j0 ..< j1` of `w` (`n_rows` x `k`, rows of `tk_row_bytes(weight_type, k)` bytes)
/// against `m` prepared activation rows `a` (each `tk_row_bytes(act, k)` bytes, contiguous):
/// `c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + dot(w_j, a_i)` for `i < m`.
/// One thread; the caller splits `j` ranges over the pool.
void tk_gemm_rows(int weight_type, const void *w, int64_t k, const void *a, int64_t m,
                  float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate);

/// The same product with the activations kept in f32 (`a` is `m` rows of `k` floats,
/// contiguous): weights widened block by block in registers, no 8-bit rounding of the input,
/// so the result equals the f32 path's up to summation order. For decode and small batches,
/// where reading the weights is the cost and the arithmetic is free.
void tk_gemm_rows_f32(int weight_type, const void *w, int64_t k, const float *a, int64_t m,
                      float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate);

// MARK: - Attention

/// Attention's inner products over a tile of keys/values already in f32 (rows `head_dim` floats
/// apart, keys and values `stride` floats apart), and the 16-bit KV cache's conversions. Each
/// call runs the variant of `tk_isa_current()`; the sums' order differs between levels (FMA,
/// lane counts), the conversions are bit-exact at every level.

/// `scores[r * score_stride + t] = q_r . k_t` for `r < rows`, `t < count`.
void tk_attn_scores(const float *queries, int64_t rows, int64_t head_dim, const float *keys, int64_t stride,
                    int64_t count, float *scores, int64_t score_stride);
/// `out[r * head_dim + d] += sum_t weights[r * weight_stride + t] * values[t * stride + d]`.
void tk_attn_accumulate(const float *weights, int64_t weight_stride, int64_t rows, const float *values,
                        int64_t stride, int64_t count, int64_t head_dim, float *out);
/// binary16 to f32, exact, NaN payloads kept as they are (a signalling NaN stays signalling).
void tk_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
/// bfloat16 to f32 (a shift), exact.
void tk_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
/// f32 to binary16, round to nearest even; overflow gives infinity; NaN gives a quiet NaN with
/// the payload's top 9 bits.
void tk_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n);
/// f32 to bfloat16, round to nearest even (subnormals kept); NaN gives its top half, quieted.
void tk_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n);

/// One level's attention kernels, as the entry points above run them at that level.
typedef struct {
    void (*scores)(const float *queries, int64_t rows, int64_t head_dim, const float *keys, int64_t stride,
                   int64_t count, float *scores, int64_t score_stride);
    void (*accumulate)(const float *weights, int64_t weight_stride, int64_t rows, const float *values,
                       int64_t stride, int64_t count, int64_t head_dim, float *out);
    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    void (*bf16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    void (*f32_to_f16)(const float *src, uint16_t *dst, int64_t n);
    void (*f32_to_bf16)(const float *src, uint16_t *dst, int64_t n);
} tk_attn_kernels;
/// Fills `out` with the kernels of `level` and returns 0, or returns -1 when this CPU lacks
/// it; the process-wide level is left alone (tests compare levels without `tk_isa_select`).
int tk_attn_kernels_for(int level, tk_attn_kernels *out);

// MARK: - Instruction sets

enum { TK_ISA_PORTABLE = 0, TK_ISA_AVX2 = 1, TK_ISA_AVX512 = 2, TK_ISA_NEON = 3 };

/// The best level this CPU (and OS) supports: AVX2 needs AVX2+FMA+F16C; AVX512 needs
/// AVX-512 F, BW, DQ, VL and VNNI (an AVX-512 CPU without VNNI runs the AVX2 kernels).
int tk_isa_best(void);
/// The level in use (the best unless `tk_isa_select` chose another).
int tk_isa_current(void);
/// Uses the kernels of `level` from now on; returns 0, or -1 (nothing changed) when the CPU
/// lacks it. Not for use while products run.
int tk_isa_select(int level);
/// "portable", "avx2", "avx512", "neon".
const char *tk_isa_name(int level);

// MARK: - Thread pool

typedef struct tk_pool tk_pool;
/// Work item `chunk` of a parallel region, run by worker `worker` (0 = the calling thread).
typedef void (*tk_chunk_fn)(void *context, int64_t chunk, int worker);

/// A pool running regions on `threads` threads in all: the caller and `threads - 1` persistent
/// workers (1: everything runs on the caller). NULL when threads cannot be created.
tk_pool *tk_pool_create(int threads);
void tk_pool_destroy(tk_pool *pool);
int tk_pool_threads(const tk_pool *pool);
/// Runs `fn(context, c, worker)` once for every `c < chunks`, chunks claimed by whichever
/// thread is free (the caller too), and returns when all have finished. Workers spin briefly
/// for new work, then sleep; a descheduled worker delays only the chunk it holds. One region
/// at a time per pool (calls from several threads are serialised).
void tk_pool_run(tk_pool *pool, int64_t chunks, tk_chunk_fn fn, void *context);
/// A buffer of at least `bytes` bytes (64-byte aligned) owned by the calling thread, reused by
/// its later calls (its contents are then undefined); NULL when memory runs out.
void *tk_thread_scratch(size_t bytes);
/// The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (v2
/// `cpu.max` or v1 `cfs_quota_us`), rounded up; at least 1.
int tk_available_cpus(void);

#ifdef __cplusplus
}
#endif

#endif
