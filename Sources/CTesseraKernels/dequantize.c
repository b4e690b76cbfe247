/// Block sizes of the GGML types, and their dequantisation to f32 bit for bit as gguf-py 0.19
/// (`gguf.quants.dequantize`) computes it: each NumPy operation is one f32 rounding, so every
/// product and sum below is its own statement, in NumPy's order, and contraction into fused
/// multiply-adds is off.
#include "portable.h"
#include "kernel_table.h"
#include "tessera_kernels.h"
#include <string.h>

/* No fused multiply-adds: each product and sum rounds on its own. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/// Values and bytes per block. Q8_1 and Q8_K are activation formats: sized here (activation
/// rows are measured with `tk_row_bytes`) but not weight types, so not `tk_type_supported`.
static int block_shape(int type, int64_t *elements, size_t *bytes) {
    switch (type) {
    case TK_F32: *elements = 1; *bytes = 4; return 1;
    case TK_F16: *elements = 1; *bytes = 2; return 1;
    case TK_BF16: *elements = 1; *bytes = 2; return 1;
    case TK_Q4_0: *elements = TK_QK; *bytes = sizeof(tk_block_q4_0); return 1;
    case TK_Q4_1: *elements = TK_QK; *bytes = sizeof(tk_block_q4_1); return 1;
    case TK_Q5_0: *elements = TK_QK; *bytes = sizeof(tk_block_q5_0); return 1;
    case TK_Q5_1: *elements = TK_QK; *bytes = sizeof(tk_block_q5_1); return 1;
    case TK_Q8_0: *elements = TK_QK; *bytes = sizeof(tk_block_q8_0); return 1;
    case TK_Q8_1: *elements = TK_QK; *bytes = sizeof(tk_block_q8_1); return 1;
    case TK_IQ4_NL: *elements = TK_QK; *bytes = sizeof(tk_block_iq4_nl); return 1;
    case TK_Q2_K: *elements = TK_QK_K; *bytes = sizeof(tk_block_q2_K); return 1;
    case TK_Q3_K: *elements = TK_QK_K; *bytes = sizeof(tk_block_q3_K); return 1;
    case TK_Q4_K: *elements = TK_QK_K; *bytes = sizeof(tk_block_q4_K); return 1;
    case TK_Q5_K: *elements = TK_QK_K; *bytes = sizeof(tk_block_q5_K); return 1;
    case TK_Q6_K: *elements = TK_QK_K; *bytes = sizeof(tk_block_q6_K); return 1;
    case TK_Q8_K: *elements = TK_QK_K; *bytes = sizeof(tk_block_q8_K); return 1;
    default: *elements = 0; *bytes = 0; return 0;
    }
}

int tk_type_supported(int type) {
    int64_t elements;
    size_t bytes;
    return block_shape(type, &elements, &bytes) && type != TK_Q8_1 && type != TK_Q8_K;
}

int64_t tk_block_elements(int type) {
    int64_t elements;
    size_t bytes;
    block_shape(type, &elements, &bytes);
    return elements;
}

size_t tk_block_bytes(int type) {
    int64_t elements;
    size_t bytes;
    block_shape(type, &elements, &bytes);
    return bytes;
}

size_t tk_row_bytes(int type, int64_t n) {
    int64_t elements;
    size_t bytes;
    if (!block_shape(type, &elements, &bytes) || n < 0 || n % elements != 0) return 0;
    return (size_t)(n / elements) * bytes;
}

// MARK: - 32-value blocks

static void dequantize_q4_0(const tk_block_q4_0 *b, float *y) {
    float d = tk_half_to_float_inline(b->d);
    for (int j = 0; j < TK_QK / 2; j++) {
        y[j] = d * (float)((b->qs[j] & 0x0f) - 8);
        y[j + TK_QK / 2] = d * (float)((b->qs[j] >> 4) - 8);
    }
}

static void dequantize_q4_1(const tk_block_q4_1 *b, float *y) {
    float d = tk_half_to_float_inline(b->d), m = tk_half_to_float_inline(b->m);
    for (int j = 0; j < TK_QK / 2; j++) {
        float lo = d * (float)(b->qs[j] & 0x0f);
        float hi = d * (float)(b->qs[j] >> 4);
        y[j] = lo + m;
        y[j + TK_QK / 2] = hi + m;
    }
}

/// The 32 bits of qh, bit i the fifth bit of value i.
static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void dequantize_q5_0(const tk_block_q5_0 *b, float *y) {
    float d = tk_half_to_float_inline(b->d);
    uint32_t qh = load_qh(b->qh);
    for (int j = 0; j < TK_QK / 2; j++) {
        int lo = (b->qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
        int hi = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = d * (float)(lo - 16);
        y[j + TK_QK / 2] = d * (float)(hi - 16);
    }
}

static void dequantize_q5_1(const tk_block_q5_1 *b, float *y) {
    float d = tk_half_to_float_inline(b->d), m = tk_half_to_float_inline(b->m);
    uint32_t qh = load_qh(b->qh);
    for (int j = 0; j < TK_QK / 2; j++) {
        int lo = (b->qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
        int hi = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        float xlo = d * (float)lo;
        float xhi = d * (float)hi;
        y[j] = xlo + m;
        y[j + TK_QK / 2] = xhi + m;
    }
}

static void dequantize_q8_0(const tk_block_q8_0 *b, float *y) {
    float d = tk_half_to_float_inline(b->d);
    for (int j = 0; j < TK_QK; j++) y[j] = (float)b->qs[j] * d;
}

static void dequantize_iq4_nl(const tk_block_iq4_nl *b, float *y) {
    float d = tk_half_to_float_inline(b->d);
    for (int j = 0; j < TK_QK / 2; j++) {
        y[j] = d * (float)tk_iq4nl_values[b->qs[j] & 0x0f];
        y[j + TK_QK / 2] = d * (float)tk_iq4nl_values[b->qs[j] >> 4];
    }
}

// MARK: - K-quants (256-value super-blocks)

/// Q2_K: 16 groups of 16, scale and min as 4-bit halves of one byte. The 2-bit values of
/// value v sit in qs[32 (v / 128) + v % 32] at bit 2 ((v / 32) % 4).
static void dequantize_q2_K(const tk_block_q2_K *b, float *y) {
    float d = tk_half_to_float_inline(b->d), dmin = tk_half_to_float_inline(b->dmin);
    for (int g = 0; g < 16; g++) {
        float dl = d * (float)(b->scales[g] & 0x0f);
        float ml = dmin * (float)(b->scales[g] >> 4);
        for (int l = 0; l < 16; l++) {
            int v = g * 16 + l;
            int q = (b->qs[32 * (v / 128) + v % 32] >> (2 * ((v / 32) % 4))) & 3;
            float x = dl * (float)q;
            y[v] = x - ml;
        }
    }
}

/// Q3_K: 16 groups of 16 with 6-bit signed scales (low 4 bits in bytes 0..7, high 2 bits in
/// bytes 8..11); value v: 2 low bits as Q2_K, minus 4 unless bit v / 32 of hmask[v % 32] is set.
static void dequantize_q3_K(const tk_block_q3_K *b, float *y) {
    float d = tk_half_to_float_inline(b->d);
    for (int g = 0; g < 16; g++) {
        int low = (b->scales[g % 8] >> (4 * (g / 8))) & 0x0f;
        int high = (b->scales[8 + g % 4] >> (2 * (g / 4))) & 0x03;
        float dl = d * (float)((low | high << 4) - 32);
        for (int l = 0; l < 16; l++) {
            int v = g * 16 + l;
            int q = (b->qs[32 * (v / 128) + v % 32] >> (2 * ((v / 32) % 4))) & 3;
            int h = (b->hmask[v % 32] >> (v / 32)) & 1;
            y[v] = dl * (float)(q - (h ? 0 : 4));
        }
    }
}

/// Q4_K: 8 sub-blocks of 32; sub-block j's nibbles are the low (j even) or high (j odd)
/// halves of qs[32 (j / 2) ..< 32 (j / 2) + 32].
static void dequantize_q4_K(const tk_block_q4_K *b, float *y) {
    float d = tk_half_to_float_inline(b->d), dmin = tk_half_to_float_inline(b->dmin);
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        tk_scale_min_k4(b->scales, j, &sc, &mn);
        float dl = d * (float)sc;
        float ml = dmin * (float)mn;
        const uint8_t *qs = b->qs + 32 * (j / 2);
        for (int l = 0; l < 32; l++) {
            float x = dl * (float)((qs[l] >> (4 * (j % 2))) & 0x0f);
            y[32 * j + l] = x - ml;
        }
    }
}

/// Q5_K: as Q4_K, plus the fifth bit of sub-block j's value l in bit j of qh[l].
static void dequantize_q5_K(const tk_block_q5_K *b, float *y) {
    float d = tk_half_to_float_inline(b->d), dmin = tk_half_to_float_inline(b->dmin);
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        tk_scale_min_k4(b->scales, j, &sc, &mn);
        float dl = d * (float)sc;
        float ml = dmin * (float)mn;
        const uint8_t *qs = b->qs + 32 * (j / 2);
        for (int l = 0; l < 32; l++) {
            int q = ((qs[l] >> (4 * (j % 2))) & 0x0f) | ((b->qh[l] >> j) & 1) << 4;
            float x = dl * (float)q;
            y[32 * j + l] = x - ml;
        }
    }
}

/// Q6_K: 16 groups of 16 with int8 scales. In half h (128 values), quarter t, position l:
/// low 4 bits from ql[64 h + 32 (t % 2) + l] (nibble t / 2), high 2 bits from
/// qh[32 h + l] at bit 2 t; minus 32.
static void dequantize_q6_K(const tk_block_q6_K *b, float *y) {
    float d = tk_half_to_float_inline(b->d);
    for (int v = 0; v < TK_QK_K; v++) {
        int h = v / 128, t = (v / 32) % 4, l = v % 32;
        int low = (b->ql[64 * h + 32 * (t % 2) + l] >> (4 * (t / 2))) & 0x0f;
        int high = (b->qh[32 * h + l] >> (2 * t)) & 0x03;
        float dl = d * (float)b->scales[v / 16];
        y[v] = dl * (float)((low | high << 4) - 32);
    }
}

// MARK: - Rows

/// The portable row functions: the reference every vector level matches bit for bit.
static void dequantize_f32_row(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequantize_f16_row(const void *src, float *dst, int64_t n) {
    const tk_half *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = tk_half_to_float_inline(h[i]);
}

static void dequantize_bf16_row(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = tk_bf16_to_float(h[i]);
}

#define TK_BLOCK_ROW(name, block_type, per_block)                                           \
    static void name##_row(const void *src, float *dst, int64_t n) {                        \
        const block_type *b = src;                                                          \
        for (int64_t i = 0; i < n / (per_block); i++) name(&b[i], dst + i * (per_block));   \
    }
TK_BLOCK_ROW(dequantize_q4_0, tk_block_q4_0, TK_QK)
TK_BLOCK_ROW(dequantize_q4_1, tk_block_q4_1, TK_QK)
TK_BLOCK_ROW(dequantize_q5_0, tk_block_q5_0, TK_QK)
TK_BLOCK_ROW(dequantize_q5_1, tk_block_q5_1, TK_QK)
TK_BLOCK_ROW(dequantize_q8_0, tk_block_q8_0, TK_QK)
TK_BLOCK_ROW(dequantize_iq4_nl, tk_block_iq4_nl, TK_QK)
TK_BLOCK_ROW(dequantize_q2_K, tk_block_q2_K, TK_QK_K)
TK_BLOCK_ROW(dequantize_q3_K, tk_block_q3_K, TK_QK_K)
TK_BLOCK_ROW(dequantize_q4_K, tk_block_q4_K, TK_QK_K)
TK_BLOCK_ROW(dequantize_q5_K, tk_block_q5_K, TK_QK_K)
TK_BLOCK_ROW(dequantize_q6_K, tk_block_q6_K, TK_QK_K)
#undef TK_BLOCK_ROW

void tk_fill_dequantize_portable(tk_kernel_table *t) {
    t->dequantize[TK_F32] = dequantize_f32_row;
    t->dequantize[TK_F16] = dequantize_f16_row;
    t->dequantize[TK_BF16] = dequantize_bf16_row;
    t->dequantize[TK_Q4_0] = dequantize_q4_0_row;
    t->dequantize[TK_Q4_1] = dequantize_q4_1_row;
    t->dequantize[TK_Q5_0] = dequantize_q5_0_row;
    t->dequantize[TK_Q5_1] = dequantize_q5_1_row;
    t->dequantize[TK_Q8_0] = dequantize_q8_0_row;
    t->dequantize[TK_IQ4_NL] = dequantize_iq4_nl_row;
    t->dequantize[TK_Q2_K] = dequantize_q2_K_row;
    t->dequantize[TK_Q3_K] = dequantize_q3_K_row;
    t->dequantize[TK_Q4_K] = dequantize_q4_K_row;
    t->dequantize[TK_Q5_K] = dequantize_q5_K_row;
    t->dequantize[TK_Q6_K] = dequantize_q6_K_row;
}

/// Whole blocks only for the quantised types (a partial block at the end is left alone).
void tk_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    if (type < 0 || type >= TK_TYPE_SLOTS || n <= 0) return;
    (void)tk_isa_current();   /* makes sure the table is filled */
    tk_dequantize_fn fn = __atomic_load_n(&tk_active.dequantize[type], __ATOMIC_RELAXED);
    if (fn) fn(src, dst, n);
}
