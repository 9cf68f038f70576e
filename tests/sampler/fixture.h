/* Fixtures shared by the sampler tests: a tiny U-Net with random weights
 * (a fresh model predicts v = 0 everywhere, its output layers start at
 * zero, which would make most checks vacuous: make_model() saves it,
 * overwrites every weight in the file with pseudo-random values and loads
 * it back, public API only), sampler configs on one shared schedule. */
#ifndef SDTEST_SAMPLER_FIXTURE_H
#define SDTEST_SAMPLER_FIXTURE_H

#include <stdint.h>
#include <stdio.h>

#include "simdiff/simdiff.h"

#define IMG 8
#define PER (IMG * IMG) /* floats per image */
#define NCLASS 3

/* The tiny model's config (8x8, 1 channel, NCLASS classes, attention at
 * 4x4) with the given prediction type. */
void tiny_config(simdiff_model_config *cfg, int prediction);
/* xorshift in [-a, a) */
float rnd(uint64_t *s, float a);
/* Where a safetensors file's tensor data starts (after the u64 header
 * length N and N bytes of JSON). */
long st_data_offset(FILE *f);
/* The tiny model with every weight random in [-0.3, 0.3). */
simdiff_model *make_model_pred(int prediction);
simdiff_model *make_model(void); /* v prediction */
/* The same for any config. */
simdiff_model *make_model_from(const simdiff_model_config *cfg);
/* The schedule every sampler_cfg config uses: shifted(IMG, 64). */
extern simdiff_schedule *g_sched;
/* Defaults, then g_sched, method and steps. */
void sampler_cfg(simdiff_sampler_config *c, int method, int steps);
simdiff_sampler *make_sampler(simdiff_model *m, const simdiff_sampler_config *c);
/* n images of a plain run (asserts success); free() the result. */
float *run_ok(simdiff_sampler *s, int n, const int *labels, uint64_t seed);

#endif
