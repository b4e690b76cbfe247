/// binary16 <-> binary32 by bit manipulation, exact, for the portable kernels and for
/// dequantisation (which must match gguf-py bit for bit whatever the CPU).
#include "blocks.h"
#include <string.h>

float tk_half_to_float(tk_half h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {                 /* inf / nan */
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {             /* normal */
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {             /* zero */
        bits = sign;
    } else {                                /* subnormal: normalise */
        int shift = 0;
        while ((mantissa & 0x400) == 0) { mantissa <<= 1; shift++; }
        mantissa &= 0x3ff;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

tk_half tk_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) {               /* inf / nan */
        return (tk_half)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
    }
    if (abs >= 0x477ff000u) {               /* rounds to >= 65536: inf */
        return (tk_half)(sign | 0x7c00);
    }
    if (abs < 0x38800000u) {                /* below the smallest normal half: subnormal or 0 */
        if (abs < 0x33000000u) return (tk_half)sign;      /* < half the smallest subnormal */
        uint32_t e = abs >> 23;
        uint32_t m = (abs & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;           /* value = m * 2^(e-150); half unit 2^-24 */
        uint32_t q = m >> shift;
        uint32_t rest = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (q & 1))) q++;
        return (tk_half)(sign | q);
    }
    uint32_t q = (abs - 0x38000000u) >> 13;  /* rebias exponent 127 -> 15 */
    uint32_t rest = abs & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (q & 1))) q++;
    return (tk_half)(sign | q);
}
