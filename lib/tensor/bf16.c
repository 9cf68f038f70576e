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

/* The rounding is integer arithmetic, so every vector width gives the same
 * bits: the loop is compiled for AVX-512, AVX2 and the baseline, and the
 * loader picks one for the CPU (target_clones, an ifunc; the pattern of
 * lib/ops/norm.c), while the library stays baseline x86-64. Training
 * rounds every operand of a bf16 product here, so this loop is on the hot
 * path (docs/performance.md). */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__clang__)
#define BF16_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#elif __has_attribute(target_clones)
#define BF16_CLONES \
    __attribute__((target_clones("avx512f", "arch=haswell", "default"), noinline))
#endif
#endif
#ifndef BF16_CLONES
#define BF16_CLONES
#endif

BF16_CLONES
static void convert_run(uint16_t *restrict dst, const float *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = bf16_round(src[i]);
}

/* Chunks of whole cache lines of src, so threads do not share a line of
 * dst either (a chunk of 4096 floats writes 8 KiB). */
#define CONVERT_CHUNK 4096

void sd_bf16_convert(uint16_t *dst, const float *src, int64_t n)
{
    if (n <= SD_PAR_MIN) {
        convert_run(dst, src, n);
        return;
    }
    const int64_t chunks = (n + CONVERT_CHUNK - 1) / CONVERT_CHUNK;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < chunks; k++) {
        const int64_t i0 = k * CONVERT_CHUNK;
        convert_run(dst + i0, src + i0, n - i0 < CONVERT_CHUNK ? n - i0 : CONVERT_CHUNK);
    }
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
