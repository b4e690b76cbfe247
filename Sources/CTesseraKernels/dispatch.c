/// Which kernels run: the CPU's instruction sets are detected once, the table `tk_active` is
/// filled for the best level before any product runs, and the public entry points read it.
#include "blocks.h"
#include "kernel_table.h"
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#endif

tk_kernel_table tk_active;

static int best_level = TK_ISA_PORTABLE;
static int current_level = TK_ISA_PORTABLE;
static pthread_once_t once = PTHREAD_ONCE_INIT;

// MARK: - Detection

#if defined(__x86_64__)
/// XCR0: which register states the OS saves on context switches. Only read when CPUID says
/// OSXSAVE, since xgetbv faults otherwise. Bytes, not the mnemonic, so no target attribute is needed.
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return (uint64_t)edx << 32 | eax;
}

#if defined(__APPLE__)
/// macOS enables the AVX-512 state lazily, on first use, so XCR0 can hide it: ask the kernel.
static int apple_has(const char *name) {
    int value = 0;
    size_t size = sizeof(value);
    return sysctlbyname(name, &value, &size, NULL, 0) == 0 && value != 0;
}
#endif

static int detect_level(void) {
    uint32_t eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return TK_ISA_PORTABLE;
    int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, f16c = (ecx >> 29) & 1;
    if (!osxsave || !avx || !fma || !f16c) return TK_ISA_PORTABLE;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return TK_ISA_PORTABLE;              /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return TK_ISA_PORTABLE;
    if (!((ebx >> 5) & 1)) return TK_ISA_PORTABLE;                 /* AVX2 */
    int avx512 = ((ebx >> 16) & 1) && ((ebx >> 17) & 1) && ((ebx >> 30) & 1) && ((ebx >> 31) & 1) &&
                 ((ecx >> 11) & 1);                                /* F, DQ, BW, VL; VNNI */
    int zmm_state = (xcr0 & 0xe0) == 0xe0;                         /* opmask, ZMM0-15 upper, ZMM16-31 */
#if defined(__APPLE__)
    zmm_state = zmm_state || apple_has("hw.optional.avx512f");
#endif
    return avx512 && zmm_state ? TK_ISA_AVX512 : TK_ISA_AVX2;
}
#elif defined(__aarch64__)
static int detect_level(void) { return TK_ISA_NEON; }   /* Advanced SIMD is part of AArch64 */
#else
static int detect_level(void) { return TK_ISA_PORTABLE; }
#endif

// MARK: - Tables

/// The kernels of `level`: the portable ones, overridden by each vector level up to `level`.
static void fill_table(tk_kernel_table *t, int level) {
    memset(t, 0, sizeof(*t));
    tk_fill_portable(t);
    tk_fill_f32act_portable(t);
    tk_fill_dequantize_portable(t);
#if defined(__x86_64__)
    if (level >= TK_ISA_AVX2 && level <= TK_ISA_AVX512) {
        tk_fill_avx2(t);
        tk_fill_f32act_avx2(t);
        tk_fill_dequantize_avx2(t);
    }
    if (level == TK_ISA_AVX512) {
        tk_fill_avx512(t);
        tk_fill_f32act_avx512(t);
        tk_fill_dequantize_avx512(t);
    }
#elif defined(__aarch64__)
    if (level == TK_ISA_NEON) tk_fill_neon(t);
#endif
}

static void initialise(void) {
    best_level = detect_level();
    fill_table(&tk_active, best_level);
    current_level = best_level;
}

static inline void ensure_initialised(void) { pthread_once(&once, initialise); }

/// Fills the table at load time, so that code reading `tk_active` directly finds it ready; the
/// entry points below check again (cheaply) in case they run before constructors do.
__attribute__((constructor)) static void initialise_at_load(void) { ensure_initialised(); }

int tk_isa_best(void) {
    ensure_initialised();
    return best_level;
}

int tk_isa_current(void) {
    ensure_initialised();
    return current_level;
}

int tk_isa_select(int level) {
    ensure_initialised();
    int allowed = level == TK_ISA_PORTABLE;
#if defined(__x86_64__)
    allowed = allowed || (level == TK_ISA_AVX2 && best_level >= TK_ISA_AVX2) ||
              (level == TK_ISA_AVX512 && best_level == TK_ISA_AVX512);
#elif defined(__aarch64__)
    allowed = allowed || level == TK_ISA_NEON;
#endif
    if (!allowed) return -1;
    tk_kernel_table table;
    fill_table(&table, level);
    /* Entry by entry, each store whole: a product racing with this (which the contract forbids,
       but tests in parallel may do) sees an old or a new kernel, both valid. */
    for (int i = 0; i < TK_TYPE_SLOTS; i++) {
        __atomic_store_n(&tk_active.quantize[i], table.quantize[i], __ATOMIC_RELAXED);
        __atomic_store_n(&tk_active.dot[i], table.dot[i], __ATOMIC_RELAXED);
        __atomic_store_n(&tk_active.gemm[i], table.gemm[i], __ATOMIC_RELAXED);
        __atomic_store_n(&tk_active.gemm_f32[i], table.gemm_f32[i], __ATOMIC_RELAXED);
        __atomic_store_n(&tk_active.dequantize[i], table.dequantize[i], __ATOMIC_RELAXED);
    }
    current_level = level;
    return 0;
}

const char *tk_isa_name(int level) {
    switch (level) {
    case TK_ISA_PORTABLE: return "portable";
    case TK_ISA_AVX2: return "avx2";
    case TK_ISA_AVX512: return "avx512";
    case TK_ISA_NEON: return "neon";
    default: return "unknown";
    }
}

// MARK: - Entry points

void tk_quantize_activation_row(int act_type, const float *x, void *dst, int64_t n) {
    ensure_initialised();
    if (act_type < 0 || act_type >= TK_TYPE_SLOTS || !tk_active.quantize[act_type]) return;
    tk_active.quantize[act_type](x, dst, n);
}

float tk_vec_dot(int weight_type, int64_t n, const void *w, const void *a) {
    ensure_initialised();
    if (weight_type < 0 || weight_type >= TK_TYPE_SLOTS || !tk_active.dot[weight_type]) return 0.0f;
    return tk_active.dot[weight_type](n, w, a);
}

void tk_gemm_rows(int weight_type, const void *w, int64_t k, const void *a, int64_t m, float *c, int64_t ldc,
                  int64_t j0, int64_t j1, int accumulate) {
    ensure_initialised();
    if (weight_type < 0 || weight_type >= TK_TYPE_SLOTS) return;
    size_t w_row = tk_row_bytes(weight_type, k);
    size_t a_row = tk_row_bytes(tk_activation_type(weight_type), k);
    if (tk_active.gemm[weight_type]) {
        tk_active.gemm[weight_type](w, w_row, k, a, a_row, m, c, ldc, j0, j1, accumulate);
        return;
    }
    tk_dot_fn dot = tk_active.dot[weight_type];
    if (!dot) return;
    /* Weight row outer: each is read from memory once and reused from cache for every activation row. */
    for (int64_t j = j0; j < j1; j++) {
        const char *wj = (const char *)w + (size_t)j * w_row;
        for (int64_t i = 0; i < m; i++) {
            float v = dot(k, wj, (const char *)a + (size_t)i * a_row);
            float *out = &c[i * ldc + j];
            *out = accumulate ? *out + v : v;
        }
    }
}
