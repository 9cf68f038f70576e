/* bfloat16 conversion and the shared weight copies. See tensor.h. */
#include <string.h>

#include "tensor/tensor_internal.h"

static inline uint16_t bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u); /* NaN: keep it a (quiet) NaN */
    u += 0x7fffu + ((u >> 16) & 1u);         /* round to nearest even      */
    return (uint16_t)(u >> 16);
}

void sd_bf16_convert(uint16_t *dst, const float *src, int64_t n)
{
#pragma omp parallel for if (n > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] = bf16_round(src[i]);
}

void sd_ctx_set_bf16_weights(sd_ctx *c, const float *base, int64_t n,
                             const uint16_t *copy)
{
    c->w32 = copy ? base : NULL;
    c->nw32 = copy ? n : 0;
    c->w16 = copy;
}

const uint16_t *sd_ctx_bf16_weight(const sd_ctx *c, const float *src, int64_t n)
{
    if (c->w16 && src >= c->w32 && n <= c->nw32 && src - c->w32 <= c->nw32 - n)
        return c->w16 + (src - c->w32);
    return NULL;
}

const uint16_t *sd_bf16_of(sd_ctx *c, const float *src, int64_t n)
{
    const uint16_t *w = sd_ctx_bf16_weight(c, src, n);
    if (w)
        return w;
    uint16_t *dst = sd_alloc(c, (size_t)n * sizeof *dst);
    if (dst)
        sd_bf16_convert(dst, src, n);
    return dst;
}
