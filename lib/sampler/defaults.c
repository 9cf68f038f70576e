/*
 * Sampler settings stored with a model: what simdiff_sampler_create uses
 * when it is given no config, so that a model file ships with the settings
 * its quality was measured at (the bundled model: DPM-Solver++(2M),
 * 16 steps, guidance 3; docs/sampling.md).
 *
 * The model keeps them as canonical text (model_internal.h), written to and
 * read from the safetensors metadata key 'simdiff.sampler' by
 * lib/model/file.c, which calls sd_sampler_defaults_parse to validate the
 * text before trusting it. Format: "key=value" pairs separated by ';', keys
 * method, steps, eta, guidance, clip_x, spacing (the simdiff_sampler_config
 * fields; enums by their stable numbers). batch_chunk and the schedule are
 * not stored: the first is a memory choice of the caller, the second is
 * already the model's own.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "model/model_internal.h"
#include "sampler/sampler_internal.h"
#include "simdiff/sampler.h"

enum { K_METHOD, K_STEPS, K_ETA, K_GUIDANCE, K_CLIP, K_SPACING, K_COUNT };
static const char *const keys[K_COUNT] = {"method",   "steps",  "eta",
                                          "guidance", "clip_x", "spacing"};

static int parse_num(const char *s, size_t len, double *v)
{
    char buf[48];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    *v = strtod(buf, &end);
    return *end || errno || !isfinite(*v) ? -1 : 0;
}

simdiff_status sd_sampler_defaults_parse(const char *txt, simdiff_sampler_config *cfg)
{
    if (!txt || !cfg)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sampler settings: NULL argument");
    if (strlen(txt) >= SD_SAMPLER_DEFAULTS_MAX)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "sampler settings: text of %zu bytes (at most %d)", strlen(txt),
                       SD_SAMPLER_DEFAULTS_MAX - 1);
    simdiff_sampler_config c = *cfg;
    int seen[K_COUNT] = {0};
    const char *p = txt;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "sampler settings: '%.*s' is not key=value", (int)len, p);
        size_t kl = (size_t)(eq - p);
        int k = 0;
        while (k < K_COUNT && !(strlen(keys[k]) == kl && !memcmp(keys[k], p, kl)))
            k++;
        if (k == K_COUNT)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "sampler settings: unknown key '%.*s' (known: method, steps, "
                           "eta, guidance, clip_x, spacing)",
                           (int)kl, p);
        if (seen[k]++)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "sampler settings: '%s' given twice",
                           keys[k]);
        double v;
        if (parse_num(eq + 1, len - kl - 1, &v))
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "sampler settings: %s: '%.*s' is not a finite number", keys[k],
                           (int)(len - kl - 1), eq + 1);
        int is_int = k != K_ETA && k != K_GUIDANCE;
        if (is_int && (v != floor(v) || fabs(v) > 1e9))
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "sampler settings: %s: '%.*s' is not an integer", keys[k],
                           (int)(len - kl - 1), eq + 1);
        switch (k) {
        case K_METHOD: c.method = (simdiff_sampler_method)(int)v; break;
        case K_STEPS: c.steps = (int)v; break;
        case K_ETA: c.eta = v; break;
        case K_GUIDANCE: c.guidance = v; break;
        case K_CLIP: c.clip_x = (int)v; break;
        default: c.spacing = (simdiff_spacing)(int)v; break;
        }
        p = end ? end + 1 : p + len;
    }
    simdiff_status st = sd_sampler_check_config(&c, "sampler settings");
    if (st)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s", simdiff_last_error());
    *cfg = c;
    return SIMDIFF_OK;
}

simdiff_status sd_sampler_defaults_format(const simdiff_sampler_config *c, char *buf,
                                          size_t cap)
{
    /* %.17g: doubles round-trip exactly. */
    int k = snprintf(buf, cap, "method=%d;steps=%d;eta=%.17g;guidance=%.17g;clip_x=%d;spacing=%d",
                     (int)c->method, c->steps, c->eta, c->guidance, c->clip_x,
                     (int)c->spacing);
    if (k < 0 || (size_t)k >= cap)
        return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "sampler settings: text does not fit");
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_sampler_config_init_for_model_sized(
    simdiff_sampler_config *cfg, size_t size, const simdiff_model *m)
{
    const char *fn = "simdiff_sampler_config_init_for_model";
    if (!cfg || !m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL argument", fn);
    simdiff_sampler_config c;
    simdiff_sampler_config_init(&c);
    /* Validated when stored; a failure here is a library bug. */
    if (m->sampler_defaults[0] && sd_sampler_defaults_parse(m->sampler_defaults, &c))
        return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "stored sampler settings: %s",
                       simdiff_last_error());
    return sd_struct_write(&sd_sampler_config_layout, cfg, size, &c, fn);
}

SIMDIFF_API simdiff_status simdiff_sampler_set_model_defaults(simdiff_model *m,
                                                              const simdiff_sampler_config *cfg)
{
    const char *fn = "simdiff_sampler_set_model_defaults";
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!cfg) {
        m->sampler_defaults[0] = 0;
        return SIMDIFF_OK;
    }
    simdiff_sampler_config c;
    simdiff_status st = sd_struct_read(&sd_sampler_config_layout, &c, cfg, fn);
    if (!st)
        st = sd_sampler_check_config(&c, fn);
    if (!st)
        st = sd_sampler_defaults_format(&c, m->sampler_defaults, sizeof m->sampler_defaults);
    return st ? sd_fail_keep(&m->err, st) : SIMDIFF_OK;
}
