/// Dot products of weight rows with prepared activation rows in plain C: the fallback on CPUs
/// without a vector variant, and the baseline the vector variants are tested against. Each block's
/// integer products are summed exactly in int32 (unpacked weights times int8 activations), then
/// scaled once in f32. Unpacking into small arrays first lets the compiler vectorise the sums.
#include "kernel_table.h"
#include "portable.h"

/* No fused multiply-adds: each product and sum rounds on its own. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/// The 32 nibbles of a Q4_0-ordered block (low halves are values 0..15, high 16..31) minus `offset`.
static inline void unpack_nibbles(const uint8_t qs[16], int offset, int8_t w[32]) {
    for (int j = 0; j < 16; j++) {
        w[j] = (int8_t)((qs[j] & 0x0f) - offset);
        w[j + 16] = (int8_t)((qs[j] >> 4) - offset);
    }
}

/// Byte i of row n is 16 when bit i of n is set: four fifth bits at a time.
static const uint8_t fifth_bits[16][4] = {
    {0, 0, 0, 0}, {16, 0, 0, 0}, {0, 16, 0, 0}, {16, 16, 0, 0}, {0, 0, 16, 0}, {16, 0, 16, 0}, {0, 16, 16, 0}, {16, 16, 16, 0},
    {0, 0, 0, 16}, {16, 0, 0, 16}, {0, 16, 0, 16}, {16, 16, 0, 16}, {0, 0, 16, 16}, {16, 0, 16, 16}, {0, 16, 16, 16}, {16, 16, 16, 16},
};

/// Adds the fifth bits of a Q5 block (bit i of qh for value i), then subtracts `offset`.
static inline void unpack_q5(const uint8_t qs[16], const uint8_t qh[4], int offset, int8_t w[32]) {
    uint8_t high[32];
    for (int i = 0; i < 4; i++) {
        for (int t = 0; t < 4; t++) high[8 * i + t] = fifth_bits[qh[i] & 0x0f][t];
        for (int t = 0; t < 4; t++) high[8 * i + 4 + t] = fifth_bits[qh[i] >> 4][t];
    }
    for (int j = 0; j < 16; j++) {
        w[j] = (int8_t)(((qs[j] & 0x0f) | high[j]) - offset);
        w[j + 16] = (int8_t)(((qs[j] >> 4) | high[j + 16]) - offset);
    }
}

// MARK: - 32-value blocks against Q8_0 / Q8_1

static float dot_q4_0(int64_t n, const void *wv, const void *av) {
    const tk_block_q4_0 *w = wv;
    const tk_block_q8_0 *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        int8_t q[TK_QK];
        unpack_nibbles(w[b].qs, 8, q);
        float d = tk_half_to_float_inline(w[b].d) * tk_half_to_float_inline(a[b].d);
        sum += d * (float)tk_dot_i8(q, a[b].qs, TK_QK);
    }
    return sum;
}

/// x = d q + m: sum x a = d_w d_a sum(q q_a) + m s_a, with s_a = d_a sum(q_a) stored in the block.
static float dot_q4_1(int64_t n, const void *wv, const void *av) {
    const tk_block_q4_1 *w = wv;
    const tk_block_q8_1 *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        int8_t q[TK_QK];
        unpack_nibbles(w[b].qs, 0, q);
        float d = tk_half_to_float_inline(w[b].d) * tk_half_to_float_inline(a[b].d);
        float scaled = d * (float)tk_dot_i8(q, a[b].qs, TK_QK);
        float shift = tk_half_to_float_inline(w[b].m) * tk_half_to_float_inline(a[b].s);
        sum += scaled + shift;
    }
    return sum;
}

static float dot_q5_0(int64_t n, const void *wv, const void *av) {
    const tk_block_q5_0 *w = wv;
    const tk_block_q8_0 *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        int8_t q[TK_QK];
        unpack_q5(w[b].qs, w[b].qh, 16, q);
        float d = tk_half_to_float_inline(w[b].d) * tk_half_to_float_inline(a[b].d);
        sum += d * (float)tk_dot_i8(q, a[b].qs, TK_QK);
    }
    return sum;
}

static float dot_q5_1(int64_t n, const void *wv, const void *av) {
    const tk_block_q5_1 *w = wv;
    const tk_block_q8_1 *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        int8_t q[TK_QK];
        unpack_q5(w[b].qs, w[b].qh, 0, q);
        float d = tk_half_to_float_inline(w[b].d) * tk_half_to_float_inline(a[b].d);
        float scaled = d * (float)tk_dot_i8(q, a[b].qs, TK_QK);
        float shift = tk_half_to_float_inline(w[b].m) * tk_half_to_float_inline(a[b].s);
        sum += scaled + shift;
    }
    return sum;
}

static float dot_q8_0(int64_t n, const void *wv, const void *av) {
    const tk_block_q8_0 *w = wv;
    const tk_block_q8_0 *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        float d = tk_half_to_float_inline(w[b].d) * tk_half_to_float_inline(a[b].d);
        sum += d * (float)tk_dot_i8(w[b].qs, a[b].qs, TK_QK);
    }
    return sum;
}

static float dot_iq4_nl(int64_t n, const void *wv, const void *av) {
    const tk_block_iq4_nl *w = wv;
    const tk_block_q8_0 *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        int8_t q[TK_QK];
        for (int j = 0; j < 16; j++) {
            q[j] = tk_iq4nl_values[w[b].qs[j] & 0x0f];
            q[j + 16] = tk_iq4nl_values[w[b].qs[j] >> 4];
        }
        float d = tk_half_to_float_inline(w[b].d) * tk_half_to_float_inline(a[b].d);
        sum += d * (float)tk_dot_i8(q, a[b].qs, TK_QK);
    }
    return sum;
}

// MARK: - Float weights against f32 activations

/// Eight partial sums: shorter addition chains (less rounding) and independent of one another.
#define TK_FLOAT_DOT(name, type, convert)                                                   \
    static float name(int64_t n, const void *wv, const void *av) {                          \
        const type *w = wv;                                                                 \
        const float *a = av;                                                                \
        float part[8] = {0};                                                                \
        int64_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8)                                                          \
            for (int k = 0; k < 8; k++) {                                                   \
                float p = convert(w[i + k]) * a[i + k];                                     \
                part[k] += p;                                                               \
            }                                                                               \
        for (; i < n; i++) {                                                                \
            float p = convert(w[i]) * a[i];                                                 \
            part[i % 8] += p;                                                               \
        }                                                                                   \
        return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7])); \
    }

static inline float identity(float x) { return x; }
TK_FLOAT_DOT(dot_f32, float, identity)
TK_FLOAT_DOT(dot_f16, tk_half, tk_half_to_float_inline)
TK_FLOAT_DOT(dot_bf16, uint16_t, tk_bf16_to_float)
#undef TK_FLOAT_DOT

// MARK: - Table

void tk_fill_portable(tk_kernel_table *t) {
    t->quantize[TK_Q8_0] = tk_quantize_q8_0_portable;
    t->quantize[TK_Q8_1] = tk_quantize_q8_1_portable;
    t->quantize[TK_Q8_K] = tk_quantize_q8_K_portable;
    t->quantize[TK_F32] = tk_quantize_f32_portable;
    t->dot[TK_F32] = dot_f32;
    t->dot[TK_F16] = dot_f16;
    t->dot[TK_BF16] = dot_bf16;
    t->dot[TK_Q4_0] = dot_q4_0;
    t->dot[TK_Q4_1] = dot_q4_1;
    t->dot[TK_Q5_0] = dot_q5_0;
    t->dot[TK_Q5_1] = dot_q5_1;
    t->dot[TK_Q8_0] = dot_q8_0;
    t->dot[TK_IQ4_NL] = dot_iq4_nl;
    t->dot[TK_Q2_K] = tk_dot_q2_K_portable;
    t->dot[TK_Q3_K] = tk_dot_q3_K_portable;
    t->dot[TK_Q4_K] = tk_dot_q4_K_portable;
    t->dot[TK_Q5_K] = tk_dot_q5_K_portable;
    t->dot[TK_Q6_K] = tk_dot_q6_K_portable;
    for (int i = 0; i < TK_TYPE_SLOTS; i++) t->gemm[i] = 0;
}
