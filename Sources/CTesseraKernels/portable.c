/// Dot products of weight rows with prepared activation rows in plain C: the fallback on CPUs
/// without a vector variant, and the baseline the vector variants are tested against. Each block's
/// integer products are summed exactly in int32 (unpacked weights times int8 activations), then
/// scaled once in f32. Unpacking into small arrays first lets the compiler vectorise the sums.
#include "blocks.h"
#include "kernel_table.h"

/* No fused multiply-adds: each product and sum rounds on its own. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/// binary16 to f32 exactly, inline: the magnitude's bits moved into f32 position read as a float
/// 2^-112 times too small (subnormal halves land on f32 subnormals), so one exact multiply by
/// 2^112 rebiases both normal and subnormal values; infinities and NaNs are set directly.
static inline float half_to_float(tk_half h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t magnitude = (uint32_t)(h & 0x7fff) << 13;
    union { uint32_t u; float f; } v;
    if (magnitude >= 0x0f800000u) {          /* exponent 31: inf / nan, payload kept */
        v.u = sign | 0x7f800000u | magnitude;
        return v.f;
    }
    v.u = magnitude;
    v.f *= 0x1p112f;
    v.u |= sign;
    return v.f;
}

/// Sum of a[i] * b[i], exact (|a|, |b| <= 128 and count <= 256 cannot overflow).
static inline int32_t dot_i8(const int8_t *a, const int8_t *b, int count) {
    int32_t sum = 0;
    for (int i = 0; i < count; i++) sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

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
        float d = half_to_float(w[b].d) * half_to_float(a[b].d);
        sum += d * (float)dot_i8(q, a[b].qs, TK_QK);
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
        float d = half_to_float(w[b].d) * half_to_float(a[b].d);
        float scaled = d * (float)dot_i8(q, a[b].qs, TK_QK);
        float shift = half_to_float(w[b].m) * half_to_float(a[b].s);
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
        float d = half_to_float(w[b].d) * half_to_float(a[b].d);
        sum += d * (float)dot_i8(q, a[b].qs, TK_QK);
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
        float d = half_to_float(w[b].d) * half_to_float(a[b].d);
        float scaled = d * (float)dot_i8(q, a[b].qs, TK_QK);
        float shift = half_to_float(w[b].m) * half_to_float(a[b].s);
        sum += scaled + shift;
    }
    return sum;
}

static float dot_q8_0(int64_t n, const void *wv, const void *av) {
    const tk_block_q8_0 *w = wv;
    const tk_block_q8_0 *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK; b++) {
        float d = half_to_float(w[b].d) * half_to_float(a[b].d);
        sum += d * (float)dot_i8(w[b].qs, a[b].qs, TK_QK);
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
        float d = half_to_float(w[b].d) * half_to_float(a[b].d);
        sum += d * (float)dot_i8(q, a[b].qs, TK_QK);
    }
    return sum;
}

// MARK: - K-quants against Q8_K

/// The 2-bit field of value v of a Q2_K / Q3_K super-block: qs[32 (v / 128) + v % 32], bit 2 ((v / 32) % 4).
static inline void unpack_2bit(const uint8_t qs[64], int8_t q[TK_QK_K]) {
    for (int h = 0; h < 2; h++)
        for (int t = 0; t < 4; t++)
            for (int l = 0; l < 32; l++) q[128 * h + 32 * t + l] = (int8_t)((qs[32 * h + l] >> (2 * t)) & 3);
}

/// x = d sc q - dmin m per group of 16: the mins meet the activations through bsums.
static float dot_q2_K(int64_t n, const void *wv, const void *av) {
    const tk_block_q2_K *w = wv;
    const tk_block_q8_K *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK_K; b++) {
        int8_t q[TK_QK_K];
        unpack_2bit(w[b].qs, q);
        int32_t scaled = 0, mins = 0;
        for (int g = 0; g < 16; g++) {
            scaled += (w[b].scales[g] & 0x0f) * dot_i8(q + 16 * g, a[b].qs + 16 * g, 16);
            mins += (w[b].scales[g] >> 4) * a[b].bsums[g];
        }
        float d = half_to_float(w[b].d) * a[b].d;
        float dmin = half_to_float(w[b].dmin) * a[b].d;
        float x = d * (float)scaled;
        float y = dmin * (float)mins;
        sum += x - y;
    }
    return sum;
}

static float dot_q3_K(int64_t n, const void *wv, const void *av) {
    const tk_block_q3_K *w = wv;
    const tk_block_q8_K *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK_K; b++) {
        int8_t q[TK_QK_K];
        unpack_2bit(w[b].qs, q);
        for (int v = 0; v < TK_QK_K; v++) q[v] = (int8_t)(q[v] - (((w[b].hmask[v % 32] >> (v / 32)) & 1) ? 0 : 4));
        int32_t scaled = 0;
        for (int g = 0; g < 16; g++) {
            int low = (w[b].scales[g % 8] >> (4 * (g / 8))) & 0x0f;
            int high = (w[b].scales[8 + g % 4] >> (2 * (g / 4))) & 0x03;
            scaled += ((low | high << 4) - 32) * dot_i8(q + 16 * g, a[b].qs + 16 * g, 16);
        }
        float d = half_to_float(w[b].d) * a[b].d;
        sum += d * (float)scaled;
    }
    return sum;
}

/// The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K.
static inline void scale_min_k4(const uint8_t s[12], int j, int *scale, int *min) {
    if (j < 4) {
        *scale = s[j] & 0x3f;
        *min = s[j + 4] & 0x3f;
    } else {
        *scale = (s[j + 4] & 0x0f) | ((s[j - 4] >> 2) & 0x30);
        *min = (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30);
    }
}

/// Q4_K and Q5_K: sum over sub-blocks j of d sc_j (q . a) - dmin m_j (sum of a), the latter
/// from the two bsums of sub-block j. `q` holds the unpacked 4- or 5-bit values.
static float k4_block(const uint8_t scales[12], tk_half d16, tk_half dmin16, const int8_t q[TK_QK_K],
                      const tk_block_q8_K *a) {
    int32_t scaled = 0, mins = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        scale_min_k4(scales, j, &sc, &m);
        scaled += sc * dot_i8(q + 32 * j, a->qs + 32 * j, 32);
        mins += m * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
    }
    float d = half_to_float(d16) * a->d;
    float dmin = half_to_float(dmin16) * a->d;
    float x = d * (float)scaled;
    float y = dmin * (float)mins;
    return x - y;
}

static float dot_q4_K(int64_t n, const void *wv, const void *av) {
    const tk_block_q4_K *w = wv;
    const tk_block_q8_K *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK_K; b++) {
        int8_t q[TK_QK_K];
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++) q[32 * j + l] = (int8_t)((w[b].qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f);
        sum += k4_block(w[b].scales, w[b].d, w[b].dmin, q, &a[b]);
    }
    return sum;
}

static float dot_q5_K(int64_t n, const void *wv, const void *av) {
    const tk_block_q5_K *w = wv;
    const tk_block_q8_K *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK_K; b++) {
        int8_t q[TK_QK_K];
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++)
                q[32 * j + l] = (int8_t)(((w[b].qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f) |
                                         ((w[b].qh[l] >> j) & 1) << 4);
        sum += k4_block(w[b].scales, w[b].d, w[b].dmin, q, &a[b]);
    }
    return sum;
}

static float dot_q6_K(int64_t n, const void *wv, const void *av) {
    const tk_block_q6_K *w = wv;
    const tk_block_q8_K *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK_K; b++) {
        int8_t q[TK_QK_K];
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 4; t++)
                for (int l = 0; l < 32; l++) {
                    int low = (w[b].ql[64 * h + 32 * (t % 2) + l] >> (4 * (t / 2))) & 0x0f;
                    int high = (w[b].qh[32 * h + l] >> (2 * t)) & 0x03;
                    q[128 * h + 32 * t + l] = (int8_t)((low | high << 4) - 32);
                }
        int32_t scaled = 0;
        for (int g = 0; g < 16; g++) scaled += w[b].scales[g] * dot_i8(q + 16 * g, a[b].qs + 16 * g, 16);
        float d = half_to_float(w[b].d) * a[b].d;
        sum += d * (float)scaled;
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
TK_FLOAT_DOT(dot_f16, tk_half, tk_half_to_float)
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
    t->dot[TK_Q2_K] = dot_q2_K;
    t->dot[TK_Q3_K] = dot_q3_K;
    t->dot[TK_Q4_K] = dot_q4_K;
    t->dot[TK_Q5_K] = dot_q5_K;
    t->dot[TK_Q6_K] = dot_q6_K;
    for (int i = 0; i < TK_TYPE_SLOTS; i++) t->gemm[i] = 0;
}
