/*
 * Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011).
 *
 * Every number is a pure function of (seed, stream, index): element i of a
 * stream always comes from Philox block i/4, word i%4, whatever the batch
 * split, the thread count or the order of evaluation. Streams separate uses
 * (noise of step s, dropout op k of step s, t of example j, ...).
 */
#ifndef SIMDIFF_LIB_TENSOR_RNG_H
#define SIMDIFF_LIB_TENSOR_RNG_H

#include <stddef.h>
#include <stdint.h>

/* One Philox-4x32-10 block: ctr (4 words) under key (2 words). */
void sd_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* out[j] = uniform in (0, 1) for elements offset .. offset+n-1 of the
 * stream; never exactly 0 or 1. */
void sd_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, size_t n,
                    float *out);
/* Standard normals (Box-Muller on element pairs (2k, 2k+1) of the stream's
 * uniforms, in double precision). */
void sd_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, size_t n,
                   float *out);
/* Double-precision uniforms in (0, 1) (53 random bits from two words). */
void sd_rng_uniform_f64(uint64_t seed, uint64_t stream, uint64_t offset,
                        size_t n, double *out);

/* Mix several 64-bit values into one stream id (SplitMix64 finalizer). */
uint64_t sd_rng_mix(uint64_t a, uint64_t b);

#endif
