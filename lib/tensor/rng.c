/* Philox-4x32-10 and the distributions built on it. See rng.h. */
#include <math.h>

#include "tensor/rng.h"
#include "tensor/tensor.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void sd_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Block b of stream (seed, stream): counter (b, stream). */
static inline void block(uint64_t seed, uint64_t stream, uint64_t b, uint32_t w[4])
{
    const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)stream,
                             (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    sd_philox4x32(ctr, key, w);
}

/* 24 random bits -> (0, 1), exactly representable in float. */
static inline float u24(uint32_t x) { return ((float)(x >> 8) + 0.5f) * 0x1p-24f; }

/* Blocks [b0, b1) of the stream, each giving 4 words: the loops below run
 * over whole blocks (one Philox evaluation per 4 outputs) and trim the
 * partial blocks at both ends. */
void sd_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, size_t n,
                    float *out)
{
    if (n == 0)
        return;
    uint64_t first = offset >> 2, last = (offset + n - 1) >> 2;
    int64_t nblk = (int64_t)(last - first + 1);
#pragma omp parallel for if (nblk > SD_PAR_MIN / 4) schedule(static)
    for (int64_t k = 0; k < nblk; k++) {
        uint64_t b = first + (uint64_t)k;
        uint32_t w[4];
        block(seed, stream, b, w);
        for (int q = 0; q < 4; q++) {
            uint64_t i = (b << 2) + (uint64_t)q;
            if (i >= offset && i < offset + n)
                out[i - offset] = u24(w[q]);
        }
    }
}

void sd_rng_uniform_f64(uint64_t seed, uint64_t stream, uint64_t offset,
                        size_t n, double *out)
{
    /* Element i uses words 2i and 2i+1 of the stream. */
    int64_t nb = (int64_t)n;
#pragma omp parallel for if (nb > SD_PAR_MIN) schedule(static)
    for (int64_t j = 0; j < nb; j++) {
        uint64_t i = offset + (uint64_t)j;
        uint32_t w[4];
        block(seed, stream, i >> 1, w);
        uint64_t hi = w[(i & 1) * 2], lo = w[(i & 1) * 2 + 1];
        uint64_t bits = ((hi << 32) | lo) >> 11; /* 53 bits */
        out[j] = ((double)bits + 0.5) * 0x1p-53;
    }
}

void sd_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, size_t n,
                   float *out)
{
    if (n == 0)
        return;
    /* Block b gives uniforms 4b..4b+3, i.e. the Box-Muller pairs (4b, 4b+1)
     * and (4b+2, 4b+3): one Philox evaluation per 4 normals. */
    uint64_t first = offset >> 2, last = (offset + n - 1) >> 2;
    int64_t nblk = (int64_t)(last - first + 1);
#pragma omp parallel for if (nblk > SD_PAR_MIN / 16) schedule(static)
    for (int64_t k = 0; k < nblk; k++) {
        uint64_t b = first + (uint64_t)k;
        uint32_t w[4];
        block(seed, stream, b, w);
        for (int o = 0; o < 4; o += 2) {
            uint64_t i0 = (b << 2) + (uint64_t)o;
            int lo = i0 >= offset && i0 < offset + n;
            int hi = i0 + 1 >= offset && i0 + 1 < offset + n;
            if (!lo && !hi)
                continue;
            double u1 = ((double)(w[o] >> 8) + 0.5) * 0x1p-24;
            double u2 = ((double)(w[o + 1] >> 8) + 0.5) * 0x1p-24;
            double r = sqrt(-2.0 * log(u1));
            double a = 6.283185307179586476925 * u2;
            if (lo)
                out[i0 - offset] = (float)(r * cos(a));
            if (hi)
                out[i0 + 1 - offset] = (float)(r * sin(a));
        }
    }
}

uint64_t sd_rng_mix(uint64_t a, uint64_t b)
{
    return sd_splitmix64(a + SD_SPLITMIX64_GOLDEN * (b + 1));
}
