/// Products of stored weights with f32 activations, AArch64 Advanced SIMD (4 floats per
/// register): each 32-value piece of a weight row is widened once to eight registers of f32
/// weights (exactly the values tk_dequantize_row gives, up to the rounding of one fused
/// multiply-add) and dotted with up to 8 activation rows by FMA; each row's sums are reduced
/// across lanes once, at the row's end. Types without a NEON piece keep the portable entries.
#if defined(__aarch64__)
#include "kernel_table.h"
#include "portable.h"
#include <arm_neon.h>
#include <string.h>

/// One 32-value piece of a quantised row: signed bytes for values 0..15 (`lo`) and 16..31
/// (`hi`), each half valued d * q + m with its own d and m (the same pair twice for types with
/// one scale per 32 values). Every quantised type reduces to this form.
typedef struct {
    int8x16_t lo, hi;
    float d0, m0, d1, m1;
} tk_neon_piece;

/// binary16 to f32 by the FCVT instruction: exact for every finite value and infinity, as the
/// portable conversion (block scales are never NaN).
static inline float tk_neon_h(tk_half h) {
    __fp16 v;
    memcpy(&v, &h, sizeof(v));
    return (float)v;
}

static inline tk_neon_piece tk_neon_piece_make(int8x16_t lo, int8x16_t hi, float d0, float m0, float d1, float m1) {
    tk_neon_piece p = {lo, hi, d0, m0, d1, m1};
    return p;
}

/// Bytes `x >> shift` (shift 0..7, a run-time value) masked to `mask`.
static inline uint8x16_t tk_neon_bits(uint8x16_t x, int shift, uint8_t mask) {
    return vandq_u8(vshlq_u8(x, vdupq_n_s8((int8_t)-shift)), vdupq_n_u8(mask));
}

/// Bit i of the little-endian 32-bit `qh` as 0x10 in byte i, for i in 0..15 (`lo`) and 16..31 (`hi`).
static inline void tk_neon_fifth_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t pick_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t pick_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t select[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint32_t bits;
    memcpy(&bits, qh, 4);
    uint8x16_t table = vreinterpretq_u8_u32(vdupq_n_u32(bits));
    uint8x16_t sel = vld1q_u8(select), bit = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(table, vld1q_u8(pick_lo)), sel), bit);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(table, vld1q_u8(pick_hi)), sel), bit);
}

/// Bytes to signed values minus `offset` (values stay within int8: at most 63 - 32 or 15 + 0).
static inline int8x16_t tk_neon_minus(uint8x16_t x, uint8_t offset) {
    return vreinterpretq_s8_u8(vsubq_u8(x, vdupq_n_u8(offset)));
}

static inline tk_neon_piece tk_neon_piece_q4_0(const uint8_t *row, int64_t c) {
    const tk_block_q4_0 *b = (const tk_block_q4_0 *)row + c;
    uint8x16_t x = vld1q_u8(b->qs);
    float d = tk_neon_h(b->d);
    return tk_neon_piece_make(tk_neon_minus(vandq_u8(x, vdupq_n_u8(0x0f)), 8), tk_neon_minus(vshrq_n_u8(x, 4), 8), d,
                              0.0f, d, 0.0f);
}

static inline tk_neon_piece tk_neon_piece_q4_1(const uint8_t *row, int64_t c) {
    const tk_block_q4_1 *b = (const tk_block_q4_1 *)row + c;
    uint8x16_t x = vld1q_u8(b->qs);
    float d = tk_neon_h(b->d), m = tk_neon_h(b->m);
    return tk_neon_piece_make(vreinterpretq_s8_u8(vandq_u8(x, vdupq_n_u8(0x0f))),
                              vreinterpretq_s8_u8(vshrq_n_u8(x, 4)), d, m, d, m);
}

static inline tk_neon_piece tk_neon_piece_q5_0(const uint8_t *row, int64_t c) {
    const tk_block_q5_0 *b = (const tk_block_q5_0 *)row + c;
    uint8x16_t x = vld1q_u8(b->qs), flo, fhi;
    tk_neon_fifth_bits(b->qh, &flo, &fhi);
    float d = tk_neon_h(b->d);
    return tk_neon_piece_make(tk_neon_minus(vorrq_u8(vandq_u8(x, vdupq_n_u8(0x0f)), flo), 16),
                              tk_neon_minus(vorrq_u8(vshrq_n_u8(x, 4), fhi), 16), d, 0.0f, d, 0.0f);
}

static inline tk_neon_piece tk_neon_piece_q5_1(const uint8_t *row, int64_t c) {
    const tk_block_q5_1 *b = (const tk_block_q5_1 *)row + c;
    uint8x16_t x = vld1q_u8(b->qs), flo, fhi;
    tk_neon_fifth_bits(b->qh, &flo, &fhi);
    float d = tk_neon_h(b->d), m = tk_neon_h(b->m);
    return tk_neon_piece_make(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(x, vdupq_n_u8(0x0f)), flo)),
                              vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(x, 4), fhi)), d, m, d, m);
}

static inline tk_neon_piece tk_neon_piece_q8_0(const uint8_t *row, int64_t c) {
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)row + c;
    float d = tk_neon_h(b->d);
    return tk_neon_piece_make(vld1q_s8(b->qs), vld1q_s8(b->qs + 16), d, 0.0f, d, 0.0f);
}

static inline tk_neon_piece tk_neon_piece_iq4_nl(const uint8_t *row, int64_t c) {
    const tk_block_iq4_nl *b = (const tk_block_iq4_nl *)row + c;
    uint8x16_t x = vld1q_u8(b->qs);
    int8x16_t table = vld1q_s8(tk_iq4nl_values);
    float d = tk_neon_h(b->d);
    return tk_neon_piece_make(vqtbl1q_s8(table, vandq_u8(x, vdupq_n_u8(0x0f))), vqtbl1q_s8(table, vshrq_n_u8(x, 4)),
                              d, 0.0f, d, 0.0f);
}

/* K-quants: piece c is sub-block c % 8 (32 values) of super-block c / 8. */

static inline tk_neon_piece tk_neon_piece_q2_K(const uint8_t *row, int64_t c) {
    const tk_block_q2_K *b = (const tk_block_q2_K *)row + c / 8;
    int s = (int)(c % 8);
    float d = tk_neon_h(b->d), dmin = tk_neon_h(b->dmin);
    const uint8_t *qs = b->qs + 32 * (s / 4);
    uint8_t g0 = b->scales[2 * s], g1 = b->scales[2 * s + 1];
    return tk_neon_piece_make(vreinterpretq_s8_u8(tk_neon_bits(vld1q_u8(qs), 2 * (s % 4), 3)),
                              vreinterpretq_s8_u8(tk_neon_bits(vld1q_u8(qs + 16), 2 * (s % 4), 3)),
                              d * (float)(g0 & 0x0f), -(dmin * (float)(g0 >> 4)), d * (float)(g1 & 0x0f),
                              -(dmin * (float)(g1 >> 4)));
}

/// Q3_K's 6-bit signed scale of group g (0..15).
static inline int tk_neon_q3_K_scale(const uint8_t s[12], int g) {
    int low = (s[g % 8] >> (4 * (g / 8))) & 0x0f;
    int high = (s[8 + g % 4] >> (2 * (g / 4))) & 0x03;
    return (low | high << 4) - 32;
}

static inline tk_neon_piece tk_neon_piece_q3_K(const uint8_t *row, int64_t c) {
    const tk_block_q3_K *b = (const tk_block_q3_K *)row + c / 8;
    int s = (int)(c % 8);
    float d = tk_neon_h(b->d);
    const uint8_t *qs = b->qs + 32 * (s / 4);
    /* 2 low bits, plus 4 when the hmask bit is set, minus 4 */
    uint8x16_t lo = vorrq_u8(tk_neon_bits(vld1q_u8(qs), 2 * (s % 4), 3),
                             vshlq_n_u8(tk_neon_bits(vld1q_u8(b->hmask), s, 1), 2));
    uint8x16_t hi = vorrq_u8(tk_neon_bits(vld1q_u8(qs + 16), 2 * (s % 4), 3),
                             vshlq_n_u8(tk_neon_bits(vld1q_u8(b->hmask + 16), s, 1), 2));
    return tk_neon_piece_make(tk_neon_minus(lo, 4), tk_neon_minus(hi, 4), d * (float)tk_neon_q3_K_scale(b->scales, 2 * s),
                              0.0f, d * (float)tk_neon_q3_K_scale(b->scales, 2 * s + 1), 0.0f);
}

static inline tk_neon_piece tk_neon_piece_q4_K(const uint8_t *row, int64_t c) {
    const tk_block_q4_K *b = (const tk_block_q4_K *)row + c / 8;
    int s = (int)(c % 8), sc, mn;
    tk_scale_min_k4(b->scales, s, &sc, &mn);
    float dl = tk_neon_h(b->d) * (float)sc, ml = -(tk_neon_h(b->dmin) * (float)mn);
    const uint8_t *qs = b->qs + 32 * (s / 2);
    return tk_neon_piece_make(vreinterpretq_s8_u8(tk_neon_bits(vld1q_u8(qs), 4 * (s % 2), 0x0f)),
                              vreinterpretq_s8_u8(tk_neon_bits(vld1q_u8(qs + 16), 4 * (s % 2), 0x0f)), dl, ml, dl,
                              ml);
}

static inline tk_neon_piece tk_neon_piece_q5_K(const uint8_t *row, int64_t c) {
    const tk_block_q5_K *b = (const tk_block_q5_K *)row + c / 8;
    int s = (int)(c % 8), sc, mn;
    tk_scale_min_k4(b->scales, s, &sc, &mn);
    float dl = tk_neon_h(b->d) * (float)sc, ml = -(tk_neon_h(b->dmin) * (float)mn);
    const uint8_t *qs = b->qs + 32 * (s / 2);
    uint8x16_t lo = vorrq_u8(tk_neon_bits(vld1q_u8(qs), 4 * (s % 2), 0x0f),
                             vshlq_n_u8(tk_neon_bits(vld1q_u8(b->qh), s, 1), 4));
    uint8x16_t hi = vorrq_u8(tk_neon_bits(vld1q_u8(qs + 16), 4 * (s % 2), 0x0f),
                             vshlq_n_u8(tk_neon_bits(vld1q_u8(b->qh + 16), s, 1), 4));
    return tk_neon_piece_make(vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi), dl, ml, dl, ml);
}

static inline tk_neon_piece tk_neon_piece_q6_K(const uint8_t *row, int64_t c) {
    const tk_block_q6_K *b = (const tk_block_q6_K *)row + c / 8;
    int s = (int)(c % 8), h = s / 4, t = s % 4;
    float d = tk_neon_h(b->d);
    const uint8_t *ql = b->ql + 64 * h + 32 * (t % 2), *qh = b->qh + 32 * h;
    uint8x16_t lo = vorrq_u8(tk_neon_bits(vld1q_u8(ql), 4 * (t / 2), 0x0f),
                             vshlq_n_u8(tk_neon_bits(vld1q_u8(qh), 2 * t, 3), 4));
    uint8x16_t hi = vorrq_u8(tk_neon_bits(vld1q_u8(ql + 16), 4 * (t / 2), 0x0f),
                             vshlq_n_u8(tk_neon_bits(vld1q_u8(qh + 16), 2 * t, 3), 4));
    return tk_neon_piece_make(tk_neon_minus(lo, 32), tk_neon_minus(hi, 32), d * (float)b->scales[2 * s], 0.0f,
                              d * (float)b->scales[2 * s + 1], 0.0f);
}

/// Sixteen signed bytes as four registers of f32 weights d * q + m (`has_min` a constant).
static inline __attribute__((always_inline)) void tk_neon_widen16(int8x16_t q, float d, float m, int has_min,
                                                                  float32x4_t v[4]) {
    int16x8_t q0 = vmovl_s8(vget_low_s8(q)), q1 = vmovl_s8(vget_high_s8(q));
    float32x4_t f[4] = {vcvtq_f32_s32(vmovl_s16(vget_low_s16(q0))), vcvtq_f32_s32(vmovl_s16(vget_high_s16(q0))),
                        vcvtq_f32_s32(vmovl_s16(vget_low_s16(q1))), vcvtq_f32_s32(vmovl_s16(vget_high_s16(q1)))};
    float32x4_t dv = vdupq_n_f32(d), mv = vdupq_n_f32(m);
    for (int i = 0; i < 4; i++) v[i] = has_min ? vfmaq_f32(mv, f[i], dv) : vmulq_f32(f[i], dv);
}

/// Whether each type's pieces carry an offset m (the others skip the add).
#define TK_NEON_MIN_q4_0 0
#define TK_NEON_MIN_q4_1 1
#define TK_NEON_MIN_q5_0 0
#define TK_NEON_MIN_q5_1 1
#define TK_NEON_MIN_q8_0 0
#define TK_NEON_MIN_iq4_nl 0
#define TK_NEON_MIN_q2_K 1
#define TK_NEON_MIN_q3_K 0
#define TK_NEON_MIN_q4_K 1
#define TK_NEON_MIN_q5_K 1
#define TK_NEON_MIN_q6_K 0

#define TK_NEON_WIDEN_Q(type)                                                                                     \
    static inline __attribute__((always_inline)) void tk_neon_widen_##type(const uint8_t *row, int64_t c,       \
                                                                            float32x4_t v[8]) {                   \
        tk_neon_piece p = tk_neon_piece_##type(row, c);                                                           \
        tk_neon_widen16(p.lo, p.d0, p.m0, TK_NEON_MIN_##type, v);                                                 \
        tk_neon_widen16(p.hi, p.d1, p.m1, TK_NEON_MIN_##type, v + 4);                                             \
    }
TK_NEON_WIDEN_Q(q4_0)
TK_NEON_WIDEN_Q(q4_1)
TK_NEON_WIDEN_Q(q5_0)
TK_NEON_WIDEN_Q(q5_1)
TK_NEON_WIDEN_Q(q8_0)
TK_NEON_WIDEN_Q(iq4_nl)
TK_NEON_WIDEN_Q(q2_K)
TK_NEON_WIDEN_Q(q3_K)
TK_NEON_WIDEN_Q(q4_K)
TK_NEON_WIDEN_Q(q5_K)
TK_NEON_WIDEN_Q(q6_K)
#undef TK_NEON_WIDEN_Q

static inline void tk_neon_widen_f32(const uint8_t *row, int64_t c, float32x4_t v[8]) {
    const float *x = (const float *)row + 32 * c;
    for (int q = 0; q < 8; q++) v[q] = vld1q_f32(x + 4 * q);
}

static inline void tk_neon_widen_f16(const uint8_t *row, int64_t c, float32x4_t v[8]) {
    const uint16_t *x = (const uint16_t *)row + 32 * c;
    for (int q = 0; q < 8; q++) v[q] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + 4 * q)));
}

static inline void tk_neon_widen_bf16(const uint8_t *row, int64_t c, float32x4_t v[8]) {
    const uint16_t *x = (const uint16_t *)row + 32 * c;
    for (int q = 0; q < 8; q++) v[q] = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(x + 4 * q), 16));
}

/// The values past the last whole 32 (float rows only: quantised rows are whole blocks), in plain C.
static float tk_neon_tail(int type, const uint8_t *row, int64_t k, const float *x) {
    int64_t start = k - k % 32;
    float values[32], s = 0.0f;
    tk_dequantize_row(type, row + (size_t)(start / tk_block_elements(type)) * tk_block_bytes(type), values,
                      k - start);
    for (int64_t v = 0; v < k - start; v++) s += values[v] * x[start + v];
    return s;
}

/// `rows` activation rows (a constant after inlining, so the sums stay in registers) against
/// weight rows j0 ..< j1. With few rows each row's sum is split over `parts` registers so that
/// enough independent FMA chains are in flight (a NEON FMA has a latency of about 4 cycles).
#define TK_NEON_GEMM(type, TYPE)                                                                                   \
    static inline __attribute__((always_inline)) void tk_neon_rows_##type(                                         \
        const uint8_t *w, size_t w_row_bytes, int64_t k, const float *a, float *c, int64_t ldc, int64_t j0,        \
        int64_t j1, int accumulate, const int rows) {                                                              \
        const int parts = rows == 1 ? 4 : rows <= 4 ? 2 : 1;                                                       \
        int64_t pieces = k / 32;                                                                                   \
        for (int64_t j = j0; j < j1; j++) {                                                                        \
            const uint8_t *row = w + (size_t)j * w_row_bytes;                                                      \
            float32x4_t s[8];                                                                                      \
            for (int r = 0; r < rows * parts; r++) s[r] = vdupq_n_f32(0.0f);                                       \
            for (int64_t p = 0; p < pieces; p++) {                                                                 \
                float32x4_t v[8];                                                                                  \
                tk_neon_widen_##type(row, p, v);                                                                   \
                for (int r = 0; r < rows; r++) {                                                                   \
                    const float *x = a + r * k + 32 * p;                                                           \
                    for (int q = 0; q < 8; q++)                                                                    \
                        s[r * parts + q % parts] = vfmaq_f32(s[r * parts + q % parts], v[q], vld1q_f32(x + 4 * q)); \
                }                                                                                                  \
            }                                                                                                      \
            for (int r = 0; r < rows; r++) {                                                                       \
                float32x4_t total = s[r * parts];                                                                  \
                for (int q = 1; q < parts; q++) total = vaddq_f32(total, s[r * parts + q]);                        \
                float sum = vaddvq_f32(total);                                                                     \
                if (k % 32) sum += tk_neon_tail(TYPE, row, k, a + r * k);                                          \
                float *out = &c[r * ldc + j];                                                                      \
                *out = accumulate ? *out + sum : sum;                                                              \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
    static void tk_neon_gemm_f32_##type(const void *w, size_t w_row_bytes, int64_t k, const float *a, int64_t m,   \
                                        float *c, int64_t ldc, int64_t j0, int64_t j1, int accumulate) {           \
        for (int64_t i = 0; i < m; i += 8) {                                                                       \
            const float *ai = a + i * k;                                                                           \
            float *ci = c + i * ldc;                                                                               \
            switch (m - i < 8 ? m - i : 8) {                                                                       \
            case 1: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 1); break;             \
            case 2: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 2); break;             \
            case 3: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 3); break;             \
            case 4: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 4); break;             \
            case 5: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 5); break;             \
            case 6: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 6); break;             \
            case 7: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 7); break;             \
            default: tk_neon_rows_##type(w, w_row_bytes, k, ai, ci, ldc, j0, j1, accumulate, 8); break;            \
            }                                                                                                      \
        }                                                                                                          \
    }

TK_NEON_GEMM(f32, TK_F32)
TK_NEON_GEMM(f16, TK_F16)
TK_NEON_GEMM(bf16, TK_BF16)
TK_NEON_GEMM(q4_0, TK_Q4_0)
TK_NEON_GEMM(q4_1, TK_Q4_1)
TK_NEON_GEMM(q5_0, TK_Q5_0)
TK_NEON_GEMM(q5_1, TK_Q5_1)
TK_NEON_GEMM(q8_0, TK_Q8_0)
TK_NEON_GEMM(iq4_nl, TK_IQ4_NL)
TK_NEON_GEMM(q2_K, TK_Q2_K)
TK_NEON_GEMM(q3_K, TK_Q3_K)
TK_NEON_GEMM(q4_K, TK_Q4_K)
TK_NEON_GEMM(q5_K, TK_Q5_K)
TK_NEON_GEMM(q6_K, TK_Q6_K)
#undef TK_NEON_GEMM

/// The NEON level's table: the f32-activation products above. The integer-activation
/// products (dot, gemm) and the activation quantisers stay portable.
void tk_fill_neon(tk_kernel_table *t) {
    t->gemm_f32[TK_F32] = tk_neon_gemm_f32_f32;
    t->gemm_f32[TK_F16] = tk_neon_gemm_f32_f16;
    t->gemm_f32[TK_BF16] = tk_neon_gemm_f32_bf16;
    t->gemm_f32[TK_Q4_0] = tk_neon_gemm_f32_q4_0;
    t->gemm_f32[TK_Q4_1] = tk_neon_gemm_f32_q4_1;
    t->gemm_f32[TK_Q5_0] = tk_neon_gemm_f32_q5_0;
    t->gemm_f32[TK_Q5_1] = tk_neon_gemm_f32_q5_1;
    t->gemm_f32[TK_Q8_0] = tk_neon_gemm_f32_q8_0;
    t->gemm_f32[TK_IQ4_NL] = tk_neon_gemm_f32_iq4_nl;
    t->gemm_f32[TK_Q2_K] = tk_neon_gemm_f32_q2_K;
    t->gemm_f32[TK_Q3_K] = tk_neon_gemm_f32_q3_K;
    t->gemm_f32[TK_Q4_K] = tk_neon_gemm_f32_q4_K;
    t->gemm_f32[TK_Q5_K] = tk_neon_gemm_f32_q5_K;
    t->gemm_f32[TK_Q6_K] = tk_neon_gemm_f32_q6_K;
}

#endif
