/* The Wiener skip's data statistics (simdiff_model_fit_skip); the skip
 * itself is part of the forward pass (graph.c, wiener_add). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

/* Images per pass through the stem. */
#define FIT_CHUNK 16

static simdiff_status fit(simdiff_model *m, int n, const float *x, double *sum, double *sq)
{
    const simdiff_model_config *cf = &m->cfg;
    const int64_t per = (int64_t)cf->channels * cf->image_size * cf->image_size;
    for (int64_t j = 0; j < (int64_t)n * per; j++)
        if (!isfinite(x[j]))
            return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG,
                           "simdiff_model_fit_skip: pixel %lld of image %lld is not finite",
                           (long long)(j % per), (long long)(j / per));
    sd_ctx *c;
    simdiff_status st = sd_apply_threads();
    if (!st)
        st = sd_ctx_create(&c);
    if (st)
        return sd_fail_keep(&m->err, st);
    const int K = m->in_ch;
    int64_t count = 0;
    for (int lo = 0; lo < n && !st; lo += FIT_CHUNK) {
        int nb = n - lo < FIT_CHUNK ? n - lo : FIT_CHUNK;
        const int64_t shape[4] = {nb, cf->channels, cf->image_size, cf->image_size};
        sd_ctx_reset(c);
        sd_tensor *d = sd_model_stem_domain(
            m, c, sd_wrap(c, 4, shape, (float *)(x + (int64_t)lo * per))); /* read only */
        if (!d || d->shape[1] != K) {
            st = sd_ctx_status(c) ? sd_ctx_status(c) : SIMDIFF_ERR_INTERNAL;
            sd_fail(&m->err, st, "simdiff_model_fit_skip: %s", sd_ctx_errmsg(c));
            break;
        }
        const int64_t hw = d->shape[2] * d->shape[3];
        for (int64_t i = 0; i < nb; i++)
            for (int k = 0; k < K; k++) {
                const float *p = d->data + (i * K + k) * hw;
                double s = 0, q = 0;
                for (int64_t j = 0; j < hw; j++) {
                    s += p[j];
                    q += (double)p[j] * p[j];
                }
                sum[k] += s;
                sq[k] += q;
            }
        count += (int64_t)nb * hw;
    }
    sd_ctx_destroy(c);
    if (st)
        return st;
    float *mean = m->params[m->skip_mean].data, *std = m->params[m->skip_std].data;
    for (int k = 0; k < K; k++) {
        double u = sum[k] / (double)count, v = sq[k] / (double)count - u * u;
        mean[k] = (float)u;
        std[k] = (float)sqrt(v > 0 ? v : 0);
    }
    sd_model_weights_changed(m);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_fit_skip(simdiff_model *m, int n, const float *x)
{
    static const char fn[] = "simdiff_model_fit_skip";
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!m->cfg.wiener_skip)
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the model has no Wiener skip (config wiener_skip 0)", fn);
    if (n < 1 || !x)
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG, "%s: n = %d (expected >= 1) or x NULL",
                       fn, n);
    double *acc = calloc(2 * (size_t)m->in_ch, sizeof *acc);
    if (!acc)
        return sd_fail(&m->err, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    simdiff_status st = sd_model_use_begin(m, 1, fn);
    if (!st) {
        st = fit(m, n, x, acc, acc + m->in_ch);
        sd_model_use_end(m, 1);
    }
    free(acc);
    return st;
}
