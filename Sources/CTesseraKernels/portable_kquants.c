/// The K-quants' dot products with Q8_K activations in plain C (see portable.c): per group of
/// 16 or sub-block of 32 an exact int32 sum, times the group's integer scale, then one f32
/// scaling per super-block; the mins meet the activations through Q8_K's bsums.
#include "kernel_table.h"
#include "portable.h"

/* No fused multiply-adds: each product and sum rounds on its own. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/// The 2-bit field of value v of a Q2_K / Q3_K super-block: qs[32 (v / 128) + v % 32], bit 2 ((v / 32) % 4).
static inline void unpack_2bit(const uint8_t qs[64], int8_t q[TK_QK_K]) {
    for (int h = 0; h < 2; h++)
        for (int t = 0; t < 4; t++)
            for (int l = 0; l < 32; l++) q[128 * h + 32 * t + l] = (int8_t)((qs[32 * h + l] >> (2 * t)) & 3);
}

/// x = d sc q - dmin m per group of 16: the mins meet the activations through bsums.
float tk_dot_q2_K_portable(int64_t n, const void *wv, const void *av) {
    const tk_block_q2_K *w = wv;
    const tk_block_q8_K *a = av;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / TK_QK_K; b++) {
        int8_t q[TK_QK_K];
        unpack_2bit(w[b].qs, q);
        int32_t scaled = 0, mins = 0;
        for (int g = 0; g < 16; g++) {
            scaled += (w[b].scales[g] & 0x0f) * tk_dot_i8(q + 16 * g, a[b].qs + 16 * g, 16);
            mins += (w[b].scales[g] >> 4) * a[b].bsums[g];
        }
        float d = tk_half_to_float_inline(w[b].d) * a[b].d;
        float dmin = tk_half_to_float_inline(w[b].dmin) * a[b].d;
        float x = d * (float)scaled;
        float y = dmin * (float)mins;
        sum += x - y;
    }
    return sum;
}

float tk_dot_q3_K_portable(int64_t n, const void *wv, const void *av) {
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
            scaled += ((low | high << 4) - 32) * tk_dot_i8(q + 16 * g, a[b].qs + 16 * g, 16);
        }
        float d = tk_half_to_float_inline(w[b].d) * a[b].d;
        sum += d * (float)scaled;
    }
    return sum;
}

/// Q4_K and Q5_K: sum over sub-blocks j of d sc_j (q . a) - dmin m_j (sum of a), the latter
/// from the two bsums of sub-block j. `q` holds the unpacked 4- or 5-bit values.
static float k4_block(const uint8_t scales[12], tk_half d16, tk_half dmin16, const int8_t q[TK_QK_K],
                      const tk_block_q8_K *a) {
    int32_t scaled = 0, mins = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        tk_scale_min_k4(scales, j, &sc, &m);
        scaled += sc * tk_dot_i8(q + 32 * j, a->qs + 32 * j, 32);
        mins += m * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
    }
    float d = tk_half_to_float_inline(d16) * a->d;
    float dmin = tk_half_to_float_inline(dmin16) * a->d;
    float x = d * (float)scaled;
    float y = dmin * (float)mins;
    return x - y;
}

float tk_dot_q4_K_portable(int64_t n, const void *wv, const void *av) {
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

float tk_dot_q5_K_portable(int64_t n, const void *wv, const void *av) {
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

float tk_dot_q6_K_portable(int64_t n, const void *wv, const void *av) {
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
        for (int g = 0; g < 16; g++) scaled += w[b].scales[g] * tk_dot_i8(q + 16 * g, a[b].qs + 16 * g, 16);
        float d = tk_half_to_float_inline(w[b].d) * a[b].d;
        sum += d * (float)scaled;
    }
    return sum;
}

