/*
 * The sampler's pure pieces, for tests of internal code (not installed, not
 * API): the noise stream of each image and step, and the update
 * coefficients of one step.
 */
#ifndef SIMDIFF_LIB_SAMPLER_INTERNAL_H
#define SIMDIFF_LIB_SAMPLER_INTERNAL_H

#include <stdint.h>

#include "simdiff/sampler.h"
#include "tensor/tensor.h"

/* Keeps the sampler's Philox streams apart from other users of a seed. */
#define SD_SAMPLER_STREAM_TAG 0x73616d706c657221ull /* "sampler!" */

/* The Philox stream of image i's noise at step j under a run's seed:
 * j = 0 is the initial z at t = 1, j = k + 1 the noise added by step k.
 * Elements 0..P−1 of (seed, stream) are the image's noise. */
uint64_t sd_sampler_noise_stream(uint64_t image, uint64_t step);

/* Editing runs (simdiff_sampler_run_edit) draw further noise from streams
 * of their own: kind STEP with visit v > 0 (a step taken again after a
 * RePaint jump), JUMP (the noise of a jump back to a point) and KNOWN (the
 * kept region noised to a point), each keyed by the image, the grid index
 * of the point the move arrives at, and the how-many-th arrival there
 * this is (the start of a run is the first arrival at its point 0). A
 * step's first arrival (v = 0) uses sd_sampler_noise_stream,
 * so an edit without jumps shares a plain run's noise. */
#define SD_SAMPLER_EDIT_TAG 0x65646974696e6721ull /* "editing!" */
enum { SD_EDIT_NOISE_STEP = 0, SD_EDIT_NOISE_JUMP = 1, SD_EDIT_NOISE_KNOWN = 2 };
uint64_t sd_sampler_edit_stream(int kind, uint64_t image, uint64_t point, uint64_t visit);

/* One step from log-SNR lam_t to lam_s (lam_s > lam_t) as
 *     z' = coefs[0]·z + coefs[1]·x̂ + coefs[2]·x̂_prev + coefs[3]·noise
 * for method (simdiff_sampler_method), eta (DDIM), first (DPM-Solver++:
 * first order, lam_prev unused) and lam_prev (the previous grid point, for
 * the second-order DPM-Solver++ step). */
void sd_sampler_step_coefs(int method, double eta, int first, double lam_prev,
                           double lam_t, double lam_s, double *coefs);

/* simdiff_sampler_config's sizes (core/internal.h, sd_struct_read). */
extern const sd_struct_layout sd_sampler_config_layout;
/* simdiff_run_options' sizes. */
extern const sd_struct_layout sd_run_options_layout;
/* simdiff_edit's sizes. */
extern const sd_struct_layout sd_edit_layout;

/* Checks a config of this library's layout (read with sd_struct_read, or
 * filled by simdiff_sampler_config_init) by the rules of
 * simdiff_sampler_create (the stored fields by sd_sampler_settings_check,
 * batch_chunk, precision); messages start with fn. */
simdiff_status sd_sampler_check_config(const simdiff_sampler_config *c, const char *fn);

/* The sampler's compute context (tests: grad must be off). */
sd_ctx *sd_sampler_ctx(simdiff_sampler *s);

#endif
