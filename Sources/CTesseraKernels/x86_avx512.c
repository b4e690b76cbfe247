/// The AVX-512 level (F, BW, DQ, VL, VNNI): the block products of x86_simple.h and x86_kquants.h
/// with vpdpbusd (u8 x s8 summed into i32 in one instruction, no i16 saturation) on 256-bit
/// vectors. Filled after the AVX2 level, which keeps the quantisers and the float products.
#if defined(__x86_64__)

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)

#include <immintrin.h>
#include "kernel_table.h"

static inline __attribute__((always_inline)) __m256i tk_dp(__m256i acc, __m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(acc, u, s);
}

#include "x86_common.h"
#include "x86_simple.h"
#include "x86_kquants.h"

void tk_fill_avx512(tk_kernel_table *t) {
    tk_x86_fill_simple(t);
    tk_x86_fill_kquants(t);
}

#pragma clang attribute pop

#endif
