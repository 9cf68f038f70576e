/* IEEE half and bfloat16 <-> float conversions (format.h). */
#include <stdint.h>
#include <string.h>

#include "format/format.h"

/* ---- 16-bit floats ------------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t sd_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) & 0x8000u) | 0x7fc0u;
    u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; overflow rounds to inf */
    return (uint16_t)(u >> 16);
}

float sd_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t sd_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u; /* NaN */
    if (a >= 0x477ff000u)
        return sign | 0x7c00u; /* >= 65520 (incl. inf) rounds to inf */
    if (a < 0x38800000u) {
        /* Result is subnormal (or zero): value / 2^-24, rounded to even. */
        if (a < 0x33000000u)
            return sign; /* < 2^-25: rounds to 0 (2^-25 itself ties to 0) */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)e; /* 14..24: value = m * 2^(e-150) */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return sign | (uint16_t)q;
    }
    /* Normal: rebias exponent 127 -> 15, round 23 -> 10 mantissa bits. */
    uint32_t r = a - 0x38000000u; /* exponent -= 112 */
    r += 0xfffu + ((r >> 13) & 1u);
    return sign | (uint16_t)(r >> 13);
}

float sd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f)
        return bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0)
            return bits_f32(sign);
        /* Subnormal: m * 2^-24, exact in float. */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}
