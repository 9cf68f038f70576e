/* Sampler settings stored with a model: the rules of the stored fields and
 * their text (sampler_settings.h). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/internal.h"
#include "format/format.h"
#include "model/sampler_settings.h"

void sd_sampler_settings_defaults(simdiff_sampler_config *c)
{
    c->method = SIMDIFF_SAMPLER_DPMPP_2M;
    c->steps = 32;
    c->eta = 0.0;
    c->guidance = 1.0;
    c->clip_x = 1;
    c->spacing = SIMDIFF_SPACING_UNIFORM_T;
    c->guidance_interval = 0;
    c->guidance_logsnr_min = c->guidance_logsnr_max = 0.0;
}

simdiff_status sd_sampler_settings_check(const simdiff_sampler_config *c, const char *fn)
{
    if (c->method != SIMDIFF_SAMPLER_DDPM && c->method != SIMDIFF_SAMPLER_DDIM &&
        c->method != SIMDIFF_SAMPLER_DPMPP_2M)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: method %d is not SIMDIFF_SAMPLER_DDPM (0), _DDIM (1) "
                       "or _DPMPP_2M (2)",
                       fn, (int)c->method);
    if (c->steps < 1 || c->steps > SIMDIFF_SAMPLER_MAX_STEPS)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: steps is %d; expected 1..%d", fn,
                       c->steps, SIMDIFF_SAMPLER_MAX_STEPS);
    if (!(c->eta >= 0.0 && c->eta <= 1.0))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: eta is %g; expected 0..1", fn,
                       c->eta);
    if (!isfinite(c->guidance))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: guidance is %g; expected a finite number (1 = "
                       "conditional only, 0 = unconditional only)",
                       fn, c->guidance);
    if (c->clip_x != 0 && c->clip_x != 1)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: clip_x is %d; expected 0 or 1", fn,
                       c->clip_x);
    if (c->guidance_interval != 0 && c->guidance_interval != 1)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: guidance_interval is %d; expected 0 (off) or 1", fn,
                       c->guidance_interval);
    if (c->guidance_interval &&
        !(isfinite(c->guidance_logsnr_min) && isfinite(c->guidance_logsnr_max) &&
          c->guidance_logsnr_min <= c->guidance_logsnr_max))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: guidance interval [%g, %g] in log-SNR; expected finite "
                       "bounds with min <= max",
                       fn, c->guidance_logsnr_min, c->guidance_logsnr_max);
    if (c->spacing != SIMDIFF_SPACING_UNIFORM_T && c->spacing != SIMDIFF_SPACING_UNIFORM_LOGSNR)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: spacing %d is not SIMDIFF_SPACING_UNIFORM_T (0) or "
                       "_UNIFORM_LOGSNR (1)",
                       fn, (int)c->spacing);
    return SIMDIFF_OK;
}

#define F(k, t) {#k, t, offsetof(simdiff_sampler_config, k), 0, 0, 0}
static const sd_kv_field fields[] = {
    F(method, SD_KV_INT),      F(steps, SD_KV_INT),  F(eta, SD_KV_DOUBLE),
    F(guidance, SD_KV_DOUBLE), F(clip_x, SD_KV_INT), F(spacing, SD_KV_INT),
    /* Written only with an interval (files without one stay readable by
     * libraries that predate it); missing means off. */
    {"guidance_logsnr_min", SD_KV_DOUBLE, offsetof(simdiff_sampler_config, guidance_logsnr_min),
     0, 0, 1},
    {"guidance_logsnr_max", SD_KV_DOUBLE, offsetof(simdiff_sampler_config, guidance_logsnr_max),
     0, 0, 1},
};
#undef F
enum { N_BASE = 6 }; /* the fields every stored text has */
_Static_assert(sizeof(simdiff_sampler_method) == sizeof(int) &&
                   sizeof(simdiff_spacing) == sizeof(int),
               "enums of the settings are stored as int");

simdiff_status sd_sampler_settings_parse(const char *txt, simdiff_sampler_config *cfg)
{
    if (!txt || !cfg)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sampler settings: NULL argument");
    if (strlen(txt) >= SD_SAMPLER_SETTINGS_MAX)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "sampler settings: text of %zu bytes (at most %d)", strlen(txt),
                       SD_SAMPLER_SETTINGS_MAX - 1);
    simdiff_sampler_config c = *cfg;
    c.guidance_interval = 0;
    c.guidance_logsnr_min = NAN;
    c.guidance_logsnr_max = NAN;
    simdiff_status st =
        sd_kv_parse("sampler settings", fields, SD_ARRAY_LEN(fields), 0, txt, &c);
    if (st)
        return st;
    const int has_min = !isnan(c.guidance_logsnr_min), has_max = !isnan(c.guidance_logsnr_max);
    if (has_min != has_max)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "sampler settings: guidance_logsnr_min and guidance_logsnr_max come "
                       "together");
    c.guidance_interval = has_min;
    if (!has_min)
        c.guidance_logsnr_min = c.guidance_logsnr_max = 0.0;
    if (sd_sampler_settings_check(&c, "sampler settings"))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s", simdiff_last_error());
    *cfg = c;
    return SIMDIFF_OK;
}

simdiff_status sd_sampler_settings_format(const simdiff_sampler_config *c, char *buf,
                                          size_t cap)
{
    simdiff_status st = sd_kv_format("sampler settings", fields, N_BASE, c, buf, cap);
    if (st || !c->guidance_interval)
        return st;
    size_t len = strlen(buf);
    if (len + 1 >= cap)
        return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "sampler settings: text over %zu bytes", cap);
    buf[len] = ';';
    return sd_kv_format("sampler settings", fields + N_BASE, SD_ARRAY_LEN(fields) - N_BASE, c,
                        buf + len + 1, cap - len - 1);
}
