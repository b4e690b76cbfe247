/// Internal: the GGML block layouts (little-endian, packed, as stored in GGUF files), and the
/// activation blocks the integer products read. Sizes are checked at compile time.
#ifndef TESSERA_BLOCKS_H
#define TESSERA_BLOCKS_H

#include <stdint.h>

typedef uint16_t tk_half;   /* IEEE binary16 bits */

#define TK_QK 32            /* values per block of the simple types */
#define TK_QK_K 256         /* values per super-block of the K-quants */

/* x = d * (q - 8); qs: low nibbles are values 0..15, high nibbles 16..31 */
typedef struct { tk_half d; uint8_t qs[TK_QK / 2]; } tk_block_q4_0;
/* x = d * q + m */
typedef struct { tk_half d, m; uint8_t qs[TK_QK / 2]; } tk_block_q4_1;
/* x = d * (q - 16), q = nibble | (bit i of qh) << 4 */
typedef struct { tk_half d; uint8_t qh[4]; uint8_t qs[TK_QK / 2]; } tk_block_q5_0;
/* x = d * q + m */
typedef struct { tk_half d, m; uint8_t qh[4]; uint8_t qs[TK_QK / 2]; } tk_block_q5_1;
/* x = d * q */
typedef struct { tk_half d; int8_t qs[TK_QK]; } tk_block_q8_0;
/* activations for Q4_1/Q5_1: s = d * sum(qs) */
typedef struct { tk_half d, s; int8_t qs[TK_QK]; } tk_block_q8_1;
/* x = d * table[nibble], nibble order as Q4_0 */
typedef struct { tk_half d; uint8_t qs[TK_QK / 2]; } tk_block_iq4_nl;

typedef struct { uint8_t scales[TK_QK_K / 16]; uint8_t qs[TK_QK_K / 4]; tk_half d, dmin; } tk_block_q2_K;
typedef struct { uint8_t hmask[TK_QK_K / 8]; uint8_t qs[TK_QK_K / 4]; uint8_t scales[12]; tk_half d; } tk_block_q3_K;
typedef struct { tk_half d, dmin; uint8_t scales[12]; uint8_t qs[TK_QK_K / 2]; } tk_block_q4_K;
typedef struct { tk_half d, dmin; uint8_t scales[12]; uint8_t qh[TK_QK_K / 8]; uint8_t qs[TK_QK_K / 2]; } tk_block_q5_K;
typedef struct { uint8_t ql[TK_QK_K / 2]; uint8_t qh[TK_QK_K / 4]; int8_t scales[TK_QK_K / 16]; tk_half d; } tk_block_q6_K;
/* activations for the K-quants: bsums[i] = sum of qs[16 i ..< 16 i + 16] */
typedef struct { float d; int8_t qs[TK_QK_K]; int16_t bsums[TK_QK_K / 16]; } tk_block_q8_K;

_Static_assert(sizeof(tk_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(tk_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(tk_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(tk_block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(tk_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(tk_block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(tk_block_iq4_nl) == 18, "iq4_nl");
_Static_assert(sizeof(tk_block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(tk_block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(tk_block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(tk_block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(tk_block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(tk_block_q8_K) == 292, "q8_K");

/* IQ4_NL's 16 levels (llama.cpp's kvalues_iq4nl, published data) */
static const int8_t tk_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* f16 <-> f32 without F16C, exact (round to nearest even on the way down) */
float tk_half_to_float(tk_half h);
tk_half tk_float_to_half(float f);
static inline float tk_bf16_to_float(uint16_t b) {
    union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
    return v.f;
}

#endif
