// IEEE 754 binary16 ("fp16") and bfloat16 conversions, scalar. The store keeps
// embeddings as fp16 (half the bytes of float32; for unit vectors of CLIP's
// size it keeps ~3 significant digits per component, and the exact-scan
// ranking measured in bench/bench_search.c is unchanged at top-20). bf16 is
// here for that measurement only.
//
// half_from_f32 rounds to nearest, ties to even, like the F16C instruction
// vcvtps2ph with imm 0 and numpy's astype(float16): overflow gives +-inf, NaN
// stays NaN (quiet), values below the smallest subnormal flush to +-0.
// half_to_f32 is exact (every fp16 is a float).
#ifndef LISA_BASE_HALF_H
#define LISA_BASE_HALF_H

#include <stddef.h>
#include <stdint.h>

uint16_t half_from_f32(float f);
float half_to_f32(uint16_t h);
void half_from_f32_n(const float *x, uint16_t *out, size_t n);
void half_to_f32_n(const uint16_t *h, float *out, size_t n);

// bfloat16: the top 16 bits of a float32, rounded to nearest even.
uint16_t bf16_from_f32(float f);
float bf16_to_f32(uint16_t h);

#endif
