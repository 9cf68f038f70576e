/*
 * Sampler settings stored with a model (metadata 'simdiff.sampler' of a
 * model file, section 'sampler' of a checkpoint): what
 * simdiff_sampler_create uses when it is given no config, so that a model
 * file ships with the settings its quality was measured at (the bundled
 * model: DPM-Solver++(2M), 16 steps, guidance 3; docs/sampling.md).
 *
 * This module sits below both the model (which stores, writes and reads
 * the text) and the sampler (which fills a config from it and checks a
 * caller's config with the same rules). Text: "key=value" pairs separated
 * by ';' (lib/format/kv.c), keys method, steps, eta, guidance, clip_x,
 * spacing (the simdiff_sampler_config fields; enums by their stable
 * numbers), in any order, each at most once; a missing key keeps the
 * config's value. batch_chunk and the schedule are not stored: the first
 * is a memory choice of the caller, the second is already the model's own.
 * Not installed, not API.
 */
#ifndef SIMDIFF_LIB_MODEL_SAMPLER_SETTINGS_H
#define SIMDIFF_LIB_MODEL_SAMPLER_SETTINGS_H

#include <stddef.h>

#include "simdiff/sampler.h"

/* Room for the canonical text (with its NUL). */
#define SD_SAMPLER_SETTINGS_MAX 320

/* The defaults of the stored fields (those of simdiff_sampler_config_init:
 * DPM-Solver++(2M), 32 steps, eta 0, guidance 1, clip_x 1, uniform t);
 * the other fields are not touched. */
void sd_sampler_settings_defaults(simdiff_sampler_config *c);

/* The rules for the stored fields (method, steps, eta, guidance, clip_x,
 * spacing): SIMDIFF_ERR_INVALID_ARG with a message starting with fn. */
simdiff_status sd_sampler_settings_check(const simdiff_sampler_config *c, const char *fn);

/* Parse txt over *cfg (filled before), then check; SIMDIFF_ERR_FORMAT with
 * the reason on any unknown key, bad number or out-of-range value (cfg
 * unchanged then). */
simdiff_status sd_sampler_settings_parse(const char *txt, simdiff_sampler_config *cfg);

/* The canonical text of cfg's stored fields; SIMDIFF_ERR_INTERNAL if cap is
 * too small (SD_SAMPLER_SETTINGS_MAX always suffices). */
simdiff_status sd_sampler_settings_format(const simdiff_sampler_config *cfg, char *buf,
                                          size_t cap);

#endif
