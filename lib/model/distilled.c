/* The record a distilled student carries (model_internal.h, "distilled"):
 * its rules, its text, and simdiff_model_distill_info. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "format/format.h"
#include "model/model_internal.h"

#define F(k, t) {#k, t, offsetof(sd_distilled, k), 0, 0, 0}
static const sd_kv_field fields[] = {
    F(steps, SD_KV_INT),
    F(teacher_steps, SD_KV_INT),
    F(guidance, SD_KV_DOUBLE),
};
#undef F
#define WHAT "distillation record"

/* log2(teacher_steps / steps) when that is an integer >= 1, else -1. */
static int rounds_of(const sd_distilled *d)
{
    if (d->steps < 1 || d->teacher_steps <= d->steps || d->teacher_steps % d->steps)
        return -1;
    int q = d->teacher_steps / d->steps, r = 0;
    while (q > 1 && q % 2 == 0) {
        q /= 2;
        r++;
    }
    return q == 1 ? r : -1;
}

simdiff_status sd_distilled_check(const sd_distilled *d, const char *fn)
{
    if (d->steps < 1 || d->teacher_steps > SD_DISTILLED_MAX_STEPS || rounds_of(d) < 1)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: a student of %d steps from a teacher of %d steps: expected "
                       "teacher_steps = steps * 2^k (k >= 1), at most %d",
                       fn, d->steps, d->teacher_steps, SD_DISTILLED_MAX_STEPS);
    if (!(isfinite(d->guidance) && d->guidance >= 0))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: folded guidance %g; expected a finite number >= 0", fn, d->guidance);
    return SIMDIFF_OK;
}

simdiff_status sd_distilled_set(simdiff_model *m, const sd_distilled *d)
{
    if (!d) {
        m->distilled[0] = 0;
        return SIMDIFF_OK;
    }
    simdiff_status st = sd_distilled_check(d, WHAT);
    if (!st)
        st = sd_kv_format(WHAT, fields, SD_ARRAY_LEN(fields), d, m->distilled,
                          sizeof m->distilled);
    if (st)
        m->distilled[0] = 0;
    return st;
}

simdiff_status sd_distilled_set_text(simdiff_model *m, const char *txt)
{
    sd_distilled d;
    memset(&d, 0, sizeof d);
    simdiff_status st = sd_kv_parse(WHAT, fields, SD_ARRAY_LEN(fields), 1, txt, &d);
    if (!st)
        st = sd_distilled_set(m, &d);
    if (st)
        return sd_fail(NULL, st == SIMDIFF_ERR_NOMEM ? st : SIMDIFF_ERR_FORMAT,
                       "bad distillation record 'simdiff.distilled': %s", simdiff_last_error());
    return SIMDIFF_OK;
}

int sd_distilled_get(const simdiff_model *m, sd_distilled *d)
{
    memset(d, 0, sizeof *d);
    /* The text was checked when it was stored. */
    return m->distilled[0] &&
           !sd_kv_parse(WHAT, fields, SD_ARRAY_LEN(fields), 1, m->distilled, d);
}

static const sd_struct_layout info_layout = {
    "simdiff_distill_info",
    SD_FIELD_END(simdiff_distill_info, guidance), /* v1 */
    SD_FIELD_END(simdiff_distill_info, guidance), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_model_distill_info(const simdiff_model *m,
                                                      simdiff_distill_info *info)
{
    const char *fn = "simdiff_model_distill_info";
    if (!m || !info)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL argument", fn);
    simdiff_distill_info o;
    memset(&o, 0, sizeof o);
    sd_distilled d;
    if (sd_distilled_get(m, &d)) {
        o.distilled = 1;
        o.steps = d.steps;
        o.teacher_steps = d.teacher_steps;
        o.rounds = rounds_of(&d);
        o.guidance = d.guidance;
    }
    return sd_struct_write(&info_layout, info, info->struct_size, &o, fn);
}
