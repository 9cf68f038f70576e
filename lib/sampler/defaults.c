/*
 * The public calls on sampler settings stored with a model
 * (simdiff_sampler_config_init_for_model, simdiff_sampler_set_model_defaults).
 * The model keeps them as canonical text; its rules and its text live in
 * lib/model/sampler_settings.c, below both the model and the sampler.
 */

#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "model/model_internal.h"
#include "model/sampler_settings.h"
#include "sampler/sampler_internal.h"
#include "simdiff/sampler.h"

SIMDIFF_API simdiff_status simdiff_sampler_config_init_for_model_sized(
    simdiff_sampler_config *cfg, size_t size, const simdiff_model *m)
{
    const char *fn = "simdiff_sampler_config_init_for_model";
    if (!cfg || !m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL argument", fn);
    simdiff_sampler_config c;
    simdiff_sampler_config_init(&c);
    /* Validated when stored; a failure here is a library bug. */
    if (m->sampler_defaults[0] && sd_sampler_settings_parse(m->sampler_defaults, &c))
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
        st = sd_sampler_settings_format(&c, m->sampler_defaults, sizeof m->sampler_defaults);
    return st ? sd_fail_keep(&m->err, st) : SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_sampler_text(const simdiff_model *m, char *buf,
                                                      size_t cap, size_t *len)
{
    const char *fn = "simdiff_model_sampler_text";
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: model is NULL", fn);
    char text[SD_SAMPLER_SETTINGS_MAX + 128] = "";
    if (m->sampler_defaults[0]) {
        simdiff_sampler_config c;
        memset(&c, 0, sizeof c);
        if (sd_sampler_settings_parse(m->sampler_defaults, &c)) /* checked at store */
            return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "%s: %s", fn, m->sampler_defaults);
        int k = snprintf(text, sizeof text,
                         "method=%s steps=%d eta=%.15g guidance=%.15g clip_x=%d spacing=%s",
                         simdiff_sampler_method_name(c.method), c.steps, c.eta, c.guidance,
                         c.clip_x, simdiff_spacing_name(c.spacing));
        if (c.guidance_interval && k > 0 && (size_t)k < sizeof text)
            snprintf(text + k, sizeof text - (size_t)k,
                     " guidance_logsnr_min=%.15g guidance_logsnr_max=%.15g",
                     c.guidance_logsnr_min, c.guidance_logsnr_max);
    }
    return sd_put_text(text, buf, cap, len, fn);
}
