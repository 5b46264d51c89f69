// fp16 / bf16 conversions (scalar reference; the scan kernels in
// search/rank.c convert with F16C / AVX-512F and are tested against these).
#include "base/half.h"

#include <string.h>

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t half_from_f32(float f)
{
    uint32_t u = bits_of(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) // inf or NaN
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); // rounds to >= 65520: inf
    if (a < 0x38800000u) {                                   // below 2^-14: subnormal half or zero
        if (a < 0x33000000u) return sign;                    // below half the smallest subnormal (2^-25)
        uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        // value = mant * 2^(e-150) and a half subnormal's unit is 2^-24, so
        // the result is mant * 2^(e-126): mant >> (126 - e), rounded.
        int shift = 126 - (int)(a >> 23); // 14 .. 24
        uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    // normal: rebias the exponent (127 -> 15) and round the mantissa 23 -> 10 bits
    uint32_t r = a - 0x38000000u; // exponent - 112
    uint32_t q = r >> 13, rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1))) q++; // a carry into the exponent is right
    return (uint16_t)(sign | q);
}

float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return float_of(sign | 0x7f800000u | (m << 13));
    if (e) return float_of(sign | ((e + 112) << 23) | (m << 13));
    if (!m) return float_of(sign);
    float v = (float)m * (1.0f / 16777216.0f); // m * 2^-24, exact
    return sign ? -v : v;
}

void half_from_f32_n(const float *x, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = half_from_f32(x[i]);
}

void half_to_f32_n(const uint16_t *h, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = half_to_f32(h[i]);
}

uint16_t bf16_from_f32(float f)
{
    uint32_t u = bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float bf16_to_f32(uint16_t h)
{
    return float_of((uint32_t)h << 16);
}
