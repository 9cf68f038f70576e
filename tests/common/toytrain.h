/* Shared pieces of the conditioning toy tests (tests/train/test_context.c,
 * test_text.c): their trainer and the bit-exact resume check. */
#ifndef SDTEST_TOYTRAIN_H
#define SDTEST_TOYTRAIN_H

#include <stdint.h>

#include "simdiff/train.h"

/* A trainer for m: schedule shifted(8, 64), seed 5, AdamW at lr with 5
 * warmup steps, EMA 0.9, the rest the defaults. */
simdiff_trainer *sdtest_toy_trainer(simdiff_model *m, double lr);

typedef simdiff_model *(*sdtest_make_model)(uint64_t seed);
typedef void (*sdtest_run_steps)(simdiff_trainer *t, int k0, int k1);

/* Two models from make(seed): A trains steps 0..2N-1; B trains 0..N-1, is
 * saved to <tmp>/file, loaded as C, and C trains N..2N-1. C's weights and
 * EMA must equal A's bit for bit, and A's parameter `moved` must differ
 * from a fresh model's (not a vacuous comparison). C's trainer and model
 * are returned for more checks (the caller destroys them). */
void sdtest_check_resume(sdtest_make_model make, sdtest_run_steps run, uint64_t seed, int N,
                         const char *file, const char *moved, simdiff_trainer **tc,
                         simdiff_model **mc);

#endif
