/// Checks the NEON level of CTesseraKernels against its portable level, on AArch64 (natively,
/// or under qemu user-mode emulation: scripts/test_arm64.sh). Built with every file of
/// Sources/CTesseraKernels. For random odd shapes every gemm_f32 type must agree within 1e-5
/// of sum |w * a| (the portable level rounds in another order, the result itself is not
/// exact), the attention scores and weighted sums likewise, and the 16-bit conversions bit for
/// bit: every f16 and bf16 value, and f32 values around every rounding boundary, NaNs,
/// infinities and subnormals included. Exits 1 naming the first failing kernel.
/// `neon_check --time` also prints rough timings of both levels (indicative only under qemu).
#include "blocks.h"
#include "kernel_table.h"
#include "tessera_kernels.h"
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if !defined(__aarch64__)
#error "neon_check is for AArch64 (see scripts/test_arm64.sh)"
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {           /* xorshift64*: reproducible, no libc rand */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}
static float rnd_float(void) { return (float)rnd() / 4294967296.0f * 2.0f - 1.0f; }   /* [-1, 1) */

static int failures = 0;
static void fail(const char *kernel, const char *detail) {
    fprintf(stderr, "neon_check: FAIL %s: %s\n", kernel, detail);
    failures++;
}

// MARK: - gemm_f32

typedef struct { int type; const char *name; int required; } weight_type;
static const weight_type types[] = {
    {TK_Q4_1, "q4_1", 1}, {TK_Q8_0, "q8_0", 1}, {TK_Q4_0, "q4_0", 1}, {TK_Q5_0, "q5_0", 1},
    {TK_Q6_K, "q6_K", 1}, {TK_Q4_K, "q4_K", 1}, {TK_F16, "f16", 1},   {TK_F32, "f32", 1},
    {TK_Q5_1, "q5_1", 0}, {TK_IQ4_NL, "iq4_nl", 0}, {TK_Q2_K, "q2_K", 0}, {TK_Q3_K, "q3_K", 0},
    {TK_Q5_K, "q5_K", 0}, {TK_BF16, "bf16", 0},
};

/// Byte offsets of each block's f16 scales, which must be finite (the other bytes are random).
static void half_fields(int type, int offsets[2], int *count) {
    *count = 1;
    offsets[0] = 0;
    switch (type) {
    case TK_Q4_1: case TK_Q5_1: case TK_Q4_K: case TK_Q5_K: *count = 2; offsets[1] = 2; break;
    case TK_Q2_K: offsets[0] = offsetof(tk_block_q2_K, d); offsets[1] = offsetof(tk_block_q2_K, dmin); *count = 2; break;
    case TK_Q3_K: offsets[0] = offsetof(tk_block_q3_K, d); break;
    case TK_Q6_K: offsets[0] = offsetof(tk_block_q6_K, d); break;
    default: break;
    }
}

/// `rows` random rows of `k` values of `type`, `row_bytes` each.
static void random_weights(int type, unsigned char *w, int64_t rows, int64_t k, size_t row_bytes) {
    for (size_t i = 0; i < row_bytes * (size_t)rows; i++) w[i] = (unsigned char)rnd();
    if (type == TK_F32) {
        float *f = (float *)w;
        for (int64_t i = 0; i < rows * k; i++) f[i] = rnd_float();
        return;
    }
    if (type == TK_F16 || type == TK_BF16) {
        uint16_t *h = (uint16_t *)w;
        for (int64_t i = 0; i < rows * k; i++) {
            float f = rnd_float();
            uint32_t bits;
            memcpy(&bits, &f, 4);
            h[i] = type == TK_F16 ? tk_float_to_half(f) : (uint16_t)(bits >> 16);
        }
        return;
    }
    int offsets[2], count;
    half_fields(type, offsets, &count);
    size_t block = tk_block_bytes(type);
    for (int64_t r = 0; r < rows; r++)
        for (size_t b = 0; b < row_bytes / block; b++)
            for (int f = 0; f < count; f++) {
                tk_half h = tk_float_to_half(rnd_float() * 0.05f);
                memcpy(w + (size_t)r * row_bytes + b * block + (size_t)offsets[f], &h, 2);
            }
}

static void check_gemm_type(const weight_type *t) {
    tk_isa_select(TK_ISA_PORTABLE);
    tk_gemm_f32_fn portable = tk_active.gemm_f32[t->type];
    tk_isa_select(TK_ISA_NEON);
    tk_gemm_f32_fn neon = tk_active.gemm_f32[t->type];
    if (t->required && neon == portable) fail(t->name, "the NEON level has no kernel of its own");
    static const int64_t ms[] = {1, 2, 5, 8, 11};
    int64_t per_block = tk_block_elements(t->type), block_elements = per_block == 1 ? 32 : per_block;
    for (int trial = 0; trial < 24; trial++) {
        int64_t k = (1 + rnd() % 9) * block_elements;
        if (per_block == 1) k += rnd() % 32;              /* float rows: any length */
        int64_t n = 1 + rnd() % 13, m = ms[trial % 5];
        int64_t j0 = rnd() % n, j1 = j0 + 1 + rnd() % (n - j0);
        int64_t ldc = n + rnd() % 3;
        int accumulate = trial % 3 == 2;
        size_t row_bytes = tk_row_bytes(t->type, k);
        unsigned char *w = malloc(row_bytes * (size_t)n);
        float *a = malloc(sizeof(float) * (size_t)(m * k)), *dense = malloc(sizeof(float) * (size_t)k);
        float *c0 = malloc(sizeof(float) * (size_t)(m * ldc)), *c1 = malloc(sizeof(float) * (size_t)(m * ldc));
        if (!w || !a || !dense || !c0 || !c1) { fail(t->name, "out of memory"); exit(1); }
        random_weights(t->type, w, n, k, row_bytes);
        for (int64_t i = 0; i < m * k; i++) a[i] = rnd_float();
        for (int64_t i = 0; i < m * ldc; i++) c0[i] = c1[i] = rnd_float();
        tk_isa_select(TK_ISA_PORTABLE);
        tk_gemm_rows_f32(t->type, w, k, a, m, c0, ldc, j0, j1, accumulate);
        tk_isa_select(TK_ISA_NEON);
        tk_gemm_rows_f32(t->type, w, k, a, m, c1, ldc, j0, j1, accumulate);
        for (int64_t j = 0; j < n; j++) {
            tk_dequantize_row(t->type, w + (size_t)j * row_bytes, dense, k);
            for (int64_t i = 0; i < m; i++) {
                double bound = 0;
                for (int64_t x = 0; x < k; x++) bound += fabs((double)dense[x] * a[i * k + x]);
                float want = c0[i * ldc + j], got = c1[i * ldc + j];
                int inside = j >= j0 && j < j1;
                double tolerance = inside ? 1e-5 * (bound + (accumulate ? fabs(want) : 0)) + 1e-30 : 0;
                if (!(fabs((double)got - want) <= tolerance)) {
                    char detail[200];
                    snprintf(detail, sizeof detail, "k=%lld m=%lld rows %lld..<%lld acc=%d: c[%lld][%lld] = %.9g, portable %.9g",
                             (long long)k, (long long)m, (long long)j0, (long long)j1, accumulate, (long long)i,
                             (long long)j, got, want);
                    fail(t->name, detail);
                    i = m, j = n;
                }
            }
        }
        free(w), free(a), free(dense), free(c0), free(c1);
    }
}

// MARK: - Attention

static void check_attention(const tk_attn_kernels *p, const tk_attn_kernels *v) {
    static const int64_t dims[] = {1, 3, 4, 7, 16, 33, 64, 80, 128};
    for (int trial = 0; trial < 60; trial++) {
        int64_t hd = dims[trial % 9], rows = 1 + rnd() % 9, count = 1 + rnd() % 13;
        int64_t stride = hd + rnd() % 5, score_stride = count + rnd() % 3;
        float *q = malloc(sizeof(float) * (size_t)(rows * hd)), *keys = malloc(sizeof(float) * (size_t)(count * stride));
        float *s0 = calloc((size_t)(rows * score_stride), sizeof(float)), *s1 = calloc((size_t)(rows * score_stride), sizeof(float));
        float *o0 = malloc(sizeof(float) * (size_t)(rows * hd)), *o1 = malloc(sizeof(float) * (size_t)(rows * hd));
        if (!q || !keys || !s0 || !s1 || !o0 || !o1) { fail("attention", "out of memory"); exit(1); }
        for (int64_t i = 0; i < rows * hd; i++) { q[i] = rnd_float(); o0[i] = o1[i] = rnd_float(); }
        for (int64_t i = 0; i < count * stride; i++) keys[i] = rnd_float();
        p->scores(q, rows, hd, keys, stride, count, s0, score_stride);
        v->scores(q, rows, hd, keys, stride, count, s1, score_stride);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t t = 0; t < count; t++) {
                double bound = 0;
                for (int64_t d = 0; d < hd; d++) bound += fabs((double)q[r * hd + d] * keys[t * stride + d]);
                if (!(fabs((double)s1[r * score_stride + t] - s0[r * score_stride + t]) <= 1e-5 * bound + 1e-30)) {
                    char detail[160];
                    snprintf(detail, sizeof detail, "hd=%lld rows=%lld count=%lld: score[%lld][%lld] = %.9g, portable %.9g",
                             (long long)hd, (long long)rows, (long long)count, (long long)r, (long long)t,
                             s1[r * score_stride + t], s0[r * score_stride + t]);
                    fail("attn_scores", detail);
                    r = rows, t = count;
                }
            }
        /* the scores serve as weights: any values do */
        float *before = malloc(sizeof(float) * (size_t)(rows * hd));
        if (!before) { fail("attention", "out of memory"); exit(1); }
        memcpy(before, o0, sizeof(float) * (size_t)(rows * hd));
        p->accumulate(s0, score_stride, rows, keys, stride, count, hd, o0);
        v->accumulate(s0, score_stride, rows, keys, stride, count, hd, o1);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t d = 0; d < hd; d++) {
                double bound = fabs((double)before[r * hd + d]);
                for (int64_t t = 0; t < count; t++) bound += fabs((double)s0[r * score_stride + t] * keys[t * stride + d]);
                if (!(fabs((double)o1[r * hd + d] - o0[r * hd + d]) <= 1e-5 * bound + 1e-30)) {
                    char detail[160];
                    snprintf(detail, sizeof detail, "hd=%lld rows=%lld count=%lld: out[%lld][%lld] = %.9g, portable %.9g",
                             (long long)hd, (long long)rows, (long long)count, (long long)r, (long long)d,
                             o1[r * hd + d], o0[r * hd + d]);
                    fail("attn_accumulate", detail);
                    r = rows, d = hd;
                }
            }
        free(q), free(keys), free(s0), free(s1), free(o0), free(o1), free(before);
    }
}

/// Converts `n` values with both levels in rows of varying length (so every vector tail runs)
/// and compares the bits.
static void compare_u16_to_f32(const char *name, void (*p)(const uint16_t *, float *, int64_t),
                               void (*v)(const uint16_t *, float *, int64_t), const uint16_t *src, int64_t n) {
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    if (!a || !b) { fail(name, "out of memory"); exit(1); }
    for (int64_t i = 0, len = 1; i < n; i += len, len = len % 23 + 1) {
        int64_t l = len < n - i ? len : n - i;
        p(src + i, a + i, l);
        v(src + i, b + i, l);
    }
    if (memcmp(a, b, sizeof(float) * (size_t)n) != 0)
        for (int64_t i = 0; i < n; i++) {
            uint32_t x, y;
            memcpy(&x, a + i, 4), memcpy(&y, b + i, 4);
            if (x != y) {
                char detail[120];
                snprintf(detail, sizeof detail, "input 0x%04x gives 0x%08x, portable 0x%08x", src[i], y, x);
                fail(name, detail);
                break;
            }
        }
    free(a), free(b);
}

static void compare_f32_to_u16(const char *name, void (*p)(const float *, uint16_t *, int64_t),
                               void (*v)(const float *, uint16_t *, int64_t), const float *src, int64_t n) {
    uint16_t *a = malloc(2 * (size_t)n), *b = malloc(2 * (size_t)n);
    if (!a || !b) { fail(name, "out of memory"); exit(1); }
    for (int64_t i = 0, len = 1; i < n; i += len, len = len % 23 + 1) {
        int64_t l = len < n - i ? len : n - i;
        p(src + i, a + i, l);
        v(src + i, b + i, l);
    }
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            uint32_t x;
            memcpy(&x, src + i, 4);
            char detail[120];
            snprintf(detail, sizeof detail, "input 0x%08x gives 0x%04x, portable 0x%04x", x, b[i], a[i]);
            fail(name, detail);
            break;
        }
    free(a), free(b);
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void check_conversions(const tk_attn_kernels *p, const tk_attn_kernels *v) {
    /* every 16-bit pattern: zeros, subnormals, normals, infinities, NaNs with every payload */
    uint16_t *all = malloc(2 * 65536);
    if (!all) exit(1);
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    compare_u16_to_f32("f16_to_f32", p->f16_to_f32, v->f16_to_f32, all, 65536);
    compare_u16_to_f32("bf16_to_f32", p->bf16_to_f32, v->bf16_to_f32, all, 65536);
    free(all);
    /* f32 inputs: for every f16 / bf16 value h with bits at 13 / 16 below it, h's f32 pattern
       and its neighbours around the rounding point (exact ties, one below, one above), then
       random patterns and the special values */
    int64_t n = 0, cap = 65536 * 8 + 400000;
    float *src = malloc(sizeof(float) * (size_t)cap);
    if (!src) exit(1);
    for (uint32_t hi = 0; hi < 65536; hi++) {
        uint32_t f16_base = (hi & 0x8000) << 16 | (hi & 0x7fff) << 13;   /* raw bit move: covers all exponents */
        uint32_t bf_base = hi << 16;
        src[n++] = from_bits(f16_base | 0x1000);          /* tie at f16 precision (normal range) */
        src[n++] = from_bits(f16_base | 0x0fff);
        src[n++] = from_bits(f16_base | 0x1001);
        src[n++] = from_bits(bf_base | 0x8000);           /* tie at bf16 precision */
        src[n++] = from_bits(bf_base | 0x7fff);
        src[n++] = from_bits(bf_base | 0x8001);
        src[n++] = from_bits(f16_base);
        src[n++] = from_bits(bf_base);
    }
    /* f16 subnormal range: multiples of 2^-25 (ties between subnormals) and their neighbours */
    for (int i = 0; i < 4096 && n + 3 <= cap; i++) {
        float tie = (float)(2 * i + 1) * 0x1p-25f;
        uint32_t u;
        memcpy(&u, &tie, 4);
        src[n++] = tie, src[n++] = from_bits(u - 1), src[n++] = from_bits(u + 1);
    }
    static const uint32_t special[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfffffu,
                                       0xff812345u, 0x00000001u, 0x80000001u, 0x007fffffu, 0x477fefffu, 0x477ff000u,
                                       0x477fffffu, 0x47800000u, 0x7f7fffffu, 0x7f7f8000u, 0x33000000u, 0x33000001u,
                                       0x387fe000u, 0x387ff000u, 0x38800000u, 0x00000000u, 0x80000000u};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) src[n++] = from_bits(special[i]);
    while (n < cap) src[n++] = from_bits(rnd());
    compare_f32_to_u16("f32_to_f16", p->f32_to_f16, v->f32_to_f16, src, n);
    compare_f32_to_u16("f32_to_bf16", p->f32_to_bf16, v->f32_to_bf16, src, n);
    free(src);
}

// MARK: - Timing (--time)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/// Seconds per call of one product, n x k weights against m rows, at `level`.
static double time_gemm(int type, int level, int64_t k, int64_t n, int64_t m) {
    size_t row_bytes = tk_row_bytes(type, k);
    unsigned char *w = malloc(row_bytes * (size_t)n);
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *c = malloc(sizeof(float) * (size_t)(m * n));
    if (!w || !a || !c) exit(1);
    random_weights(type, w, n, k, row_bytes);
    for (int64_t i = 0; i < m * k; i++) a[i] = rnd_float();
    tk_isa_select(level);
    int calls = 0;
    double start = now(), elapsed;
    do {
        tk_gemm_rows_f32(type, w, k, a, m, c, n, 0, n, 0);
        calls++;
        elapsed = now() - start;
    } while (elapsed < 0.3);
    free(w), free(a), free(c);
    return elapsed / calls;
}

static void print_timings(void) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (!types[i].required) continue;
        for (int64_t m = 1; m <= 8; m += 7) {
            double tp = time_gemm(types[i].type, TK_ISA_PORTABLE, 1024, 64, m);
            double tn = time_gemm(types[i].type, TK_ISA_NEON, 1024, 64, m);
            printf("neon_check: %-5s 64x1024 m=%lld: portable %8.1f us, neon %8.1f us (%.1fx)\n", types[i].name,
                   (long long)m, tp * 1e6, tn * 1e6, tp / tn);
        }
    }
}

int main(int argc, char **argv) {
    if (tk_isa_best() != TK_ISA_NEON || tk_isa_select(TK_ISA_NEON) != 0) {
        fail("dispatch", "the NEON level is not the best one, or cannot be selected");
        return 1;
    }
    tk_attn_kernels portable, neon;
    if (tk_attn_kernels_for(TK_ISA_PORTABLE, &portable) != 0 || tk_attn_kernels_for(TK_ISA_NEON, &neon) != 0) {
        fail("attention", "tk_attn_kernels_for refused a level");
        return 1;
    }
    if (neon.scores == portable.scores || neon.accumulate == portable.accumulate || neon.f16_to_f32 == portable.f16_to_f32 ||
        neon.bf16_to_f32 == portable.bf16_to_f32 || neon.f32_to_f16 == portable.f32_to_f16 ||
        neon.f32_to_bf16 == portable.f32_to_bf16)
        fail("attention", "the NEON level hands out portable kernels");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) check_gemm_type(&types[i]);
    check_attention(&portable, &neon);
    check_conversions(&portable, &neon);
    if (argc > 1 && strcmp(argv[1], "--time") == 0) print_timings();
    if (failures) {
        fprintf(stderr, "neon_check: %d failure(s)\n", failures);
        return 1;
    }
    printf("neon_check: ok (%zu gemm_f32 types, attention scores/accumulate, f16/bf16 conversions)\n",
           sizeof types / sizeof types[0]);
    return 0;
}
