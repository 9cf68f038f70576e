/* The one rule for stored values (model_internal.h, "values"): every save
 * and every load of weights, EMA weights and AdamW moments goes through
 * sd_model_check_values, so what one path writes the others read. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"

#define F16_MAX 65504.0f

/* Index of the first value of x[0..n) that breaks rule, or -1. One loop
 * per rule, so each is a plain scan. */
static int64_t first_bad(const float *x, int64_t n, sd_values_rule rule)
{
    switch (rule) {
    case SD_VALUES_NONNEG:
        for (int64_t j = 0; j < n; j++)
            if (!(x[j] >= 0.0f && x[j] <= FLT_MAX)) /* also NaN and +inf */
                return j;
        return -1;
    case SD_VALUES_F16:
        for (int64_t j = 0; j < n; j++)
            if (!(fabsf(x[j]) <= F16_MAX))
                return j;
        return -1;
    case SD_VALUES_FINITE:
        break;
    }
    for (int64_t j = 0; j < n; j++)
        if (!(fabsf(x[j]) <= FLT_MAX))
            return j;
    return -1;
}

static const char *rule_text(sd_values_rule rule)
{
    switch (rule) {
    case SD_VALUES_NONNEG:
        return "must be finite and >= 0";
    case SD_VALUES_F16:
        return "does not fit half precision (finite, |x| <= 65504)";
    case SD_VALUES_FINITE:
        break;
    }
    return "is not finite";
}

simdiff_status sd_model_check_values(const simdiff_model *m, const float *slab,
                                     sd_values_rule rule, const char *what,
                                     simdiff_status fail)
{
    int64_t bad = first_bad(slab, m->total, rule);
    if (bad < 0)
        return SIMDIFF_OK;
    /* Name the parameter holding index `bad` (or the padding after one). */
    for (int i = 0; i < m->nparams; i++) {
        const sd_tensor *p = &m->params[i];
        int64_t off = p->data ? p->data - m->data : -1;
        if (off < 0 || bad < off || bad >= off + ((p->numel + 15) & ~(int64_t)15))
            continue;
        if (bad < off + p->numel)
            return sd_fail(NULL, fail, "%s %s[%lld] = %g %s", what, m->pinfo[i].name,
                           (long long)(bad - off), (double)slab[bad], rule_text(rule));
        return sd_fail(NULL, fail, "%s: the alignment padding after %s holds %g, not a "
                       "finite value",
                       what, m->pinfo[i].name, (double)slab[bad]);
    }
    return sd_fail(NULL, fail, "%s %lld of %lld = %g %s", what, (long long)bad,
                   (long long)m->total, (double)slab[bad], rule_text(rule));
}
