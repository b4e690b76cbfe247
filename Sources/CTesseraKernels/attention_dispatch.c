/// The public attention entry points: each call runs the kernels of the level in use, so
/// `tk_isa_select` applies here as it does to the products; `tk_attn_kernels_for` hands out
/// one level's kernels without touching the process-wide level (for tests running in parallel).
#include "attention_variants.h"

#define TK_ATTN_TABLE(level)                                                                          \
    { tk_attn_scores_##level, tk_attn_accumulate_##level, tk_f16_to_f32_##level, tk_bf16_to_f32_##level, \
      tk_f32_to_f16_##level, tk_f32_to_bf16_##level }

static const tk_attn_kernels portable_kernels = TK_ATTN_TABLE(portable);
#if defined(__x86_64__)
static const tk_attn_kernels avx2_kernels = TK_ATTN_TABLE(avx2);
static const tk_attn_kernels avx512_kernels = TK_ATTN_TABLE(avx512);
#elif defined(__aarch64__)
static const tk_attn_kernels neon_kernels = TK_ATTN_TABLE(neon);
#endif

/// The kernels of `level`, or NULL when this CPU lacks it (every AArch64 CPU has NEON).
static const tk_attn_kernels *kernels_for(int level) {
    switch (level) {
    case TK_ISA_PORTABLE: return &portable_kernels;
#if defined(__x86_64__)
    case TK_ISA_AVX2: return tk_isa_best() >= TK_ISA_AVX2 ? &avx2_kernels : NULL;
    case TK_ISA_AVX512: return tk_isa_best() == TK_ISA_AVX512 ? &avx512_kernels : NULL;
#elif defined(__aarch64__)
    case TK_ISA_NEON: return &neon_kernels;
#endif
    default: return NULL;
    }
}

int tk_attn_kernels_for(int level, tk_attn_kernels *out) {
    const tk_attn_kernels *k = kernels_for(level);
    if (!k) return -1;
    *out = *k;
    return 0;
}

/// The level in use, which tk_isa_select only sets to a level the CPU has: no check of the
/// CPU here, since the KV cache calls this once per token and head (a few hundred values).
static inline const tk_attn_kernels *current(void) {
    switch (tk_isa_current()) {
#if defined(__x86_64__)
    case TK_ISA_AVX512: return &avx512_kernels;
    case TK_ISA_AVX2: return &avx2_kernels;
#elif defined(__aarch64__)
    case TK_ISA_NEON: return &neon_kernels;
#endif
    default: return &portable_kernels;
    }
}

void tk_attn_scores(const float *queries, int64_t rows, int64_t head_dim, const float *keys, int64_t stride,
                    int64_t count, float *scores, int64_t score_stride) {
    current()->scores(queries, rows, head_dim, keys, stride, count, scores, score_stride);
}

void tk_attn_accumulate(const float *weights, int64_t weight_stride, int64_t rows, const float *values,
                        int64_t stride, int64_t count, int64_t head_dim, float *out) {
    current()->accumulate(weights, weight_stride, rows, values, stride, count, head_dim, out);
}

void tk_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n) { current()->f16_to_f32(src, dst, n); }
void tk_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n) { current()->bf16_to_f32(src, dst, n); }
void tk_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n) { current()->f32_to_f16(src, dst, n); }
void tk_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n) { current()->f32_to_bf16(src, dst, n); }
