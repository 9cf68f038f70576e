#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rng.h"

sd_tensor *gc_from(int ndim, const int64_t *shape, const float *data)
{
    sd_tensor *t = calloc(1, sizeof *t);
    sd_tensor_init(t, ndim, shape, NULL);
    t->data = malloc((size_t)t->numel * sizeof(float) + 4);
    t->grad = malloc((size_t)t->numel * sizeof(float) + 4);
    if (data)
        memcpy(t->data, data, (size_t)t->numel * sizeof(float));
    t->flags = SD_TF_PARAM | SD_TF_REQUIRES_GRAD;
    t->name = "gc-input";
    return t;
}

sd_tensor *gc_rand(int ndim, const int64_t *shape, uint64_t seed)
{
    sd_tensor *t = gc_from(ndim, shape, NULL);
    sd_rng_uniform(seed, 77, 0, (size_t)t->numel, t->data);
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = 2.0f * t->data[i] - 1.0f;
    return t;
}

void gc_free(sd_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    free(t->grad);
    free(t);
}

/* L = sum R*out in double; -1 on failure. */
static int eval(sd_ctx *c, gc_graph_fn fn, void *ud, sd_tensor **in,
                const gc_opts *o, const float *R, int64_t *nout, double *L,
                char *msg, size_t cap)
{
    sd_ctx_reset(c);
    sd_ctx_set_rng(c, o->rng_seed, 0);
    sd_tensor *out = fn(c, in, ud);
    if (!out || sd_ctx_status(c) != SIMDIFF_OK) {
        snprintf(msg, cap, "graph failed: %s", sd_ctx_errmsg(c));
        return -1;
    }
    *nout = out->numel;
    if (R) {
        double s = 0;
        for (int64_t i = 0; i < out->numel; i++)
            s += (double)R[i] * (double)out->data[i];
        *L = s;
    }
    return 0;
}

int gc_check(gc_graph_fn fn, void *ud, int n, sd_tensor **in,
             const gc_opts *opts, char *msg, size_t cap)
{
    gc_opts o = {1e-2, 3e-3, 0, 0, 1234};
    if (opts) {
        o = *opts;
        if (o.h == 0)
            o.h = 1e-2;
        if (o.rtol == 0)
            o.rtol = 3e-3;
    }
    sd_ctx *c = NULL;
    if (sd_ctx_create(&c) != SIMDIFF_OK) {
        snprintf(msg, cap, "no ctx");
        return -1;
    }
    sd_ctx_set_training(c, o.training);
    int rc = -1;
    float *R = NULL;
    float **an = calloc((size_t)n, sizeof *an);
    int64_t nout = 0;
    double L;
    /* 1. output size, then R. */
    sd_ctx_set_grad(c, 0);
    if (eval(c, fn, ud, in, &o, NULL, &nout, &L, msg, cap))
        goto done;
    R = malloc((size_t)nout * sizeof(float));
    sd_rng_uniform(99, 5, 0, (size_t)nout, R);
    for (int64_t i = 0; i < nout; i++)
        R[i] = 2.0f * R[i] - 1.0f;
    /* 2. analytic gradients. */
    for (int k = 0; k < n; k++)
        sd_param_zero_grad(in[k]);
    sd_ctx_set_grad(c, 1);
    sd_ctx_reset(c);
    sd_ctx_set_rng(c, o.rng_seed, 0);
    sd_tensor *out = fn(c, in, ud);
    if (!out || sd_backward_seed(c, out, R) != SIMDIFF_OK) {
        snprintf(msg, cap, "backward failed: %s", sd_ctx_errmsg(c));
        goto done;
    }
    for (int k = 0; k < n; k++) {
        an[k] = calloc((size_t)in[k]->numel, sizeof(float));
        if (in[k]->flags & SD_TF_GRAD_VALID)
            memcpy(an[k], in[k]->grad, (size_t)in[k]->numel * sizeof(float));
    }
    /* 3. central differences. */
    sd_ctx_set_grad(c, 0);
    for (int k = 0; k < n; k++) {
        int64_t m = in[k]->numel;
        int64_t stride = (o.max_checks > 0 && m > o.max_checks) ? (m + o.max_checks - 1) / o.max_checks : 1;
        double *num = calloc((size_t)m, sizeof *num);
        double maxnum = 0;
        for (int64_t j = 0; j < m; j += stride) {
            float x0 = in[k]->data[j];
            double Lp, Lm;
            in[k]->data[j] = (float)(x0 + o.h);
            double hp = (double)in[k]->data[j] - x0;
            if (eval(c, fn, ud, in, &o, R, &nout, &Lp, msg, cap)) { free(num); goto done; }
            in[k]->data[j] = (float)(x0 - o.h);
            double hm = x0 - (double)in[k]->data[j];
            if (eval(c, fn, ud, in, &o, R, &nout, &Lm, msg, cap)) { free(num); goto done; }
            in[k]->data[j] = x0;
            num[j] = (Lp - Lm) / (hp + hm);
            if (fabs(num[j]) > maxnum)
                maxnum = fabs(num[j]);
        }
        double atol = o.rtol * (maxnum > 1e-3 ? maxnum : 1e-3);
        for (int64_t j = 0; j < m; j += stride) {
            double d = fabs((double)an[k][j] - num[j]);
            if (!(d <= atol + o.rtol * fabs(num[j]))) {
                snprintf(msg, cap,
                         "input %d element %lld: analytic %.7g, numeric %.7g "
                         "(|diff| %.3g > %.3g)",
                         k, (long long)j, an[k][j], num[j], d,
                         atol + o.rtol * fabs(num[j]));
                free(num);
                goto done;
            }
        }
        free(num);
    }
    rc = 0;
    msg[0] = 0;
done:
    for (int k = 0; k < n; k++)
        free(an[k]);
    free(an);
    free(R);
    sd_ctx_destroy(c);
    return rc;
}

#include "sdfx.h"
#include "sdtest.h"

int gc_fixture(const sdfx *f, const char *name, int n, gc_graph_fn fn,
               void *ud, double out_tol, double grad_tol, char *msg, size_t cap)
{
    char key[160];
    sd_tensor *in[SD_NODE_MAX_IN * 2] = {0};
    sd_ctx *c = NULL;
    int rc = -1;
    if (!f || n > (int)SD_ARRAY_LEN(in)) {
        snprintf(msg, cap, "%s: no fixture", name);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s.in%d", name, i);
        const sdfx_array *a = sdfx_get(f, key);
        if (!a) {
            snprintf(msg, cap, "fixture has no %s", key);
            goto done;
        }
        in[i] = gc_from(a->ndim, a->shape, a->data);
        sd_param_zero_grad(in[i]);
    }
    snprintf(key, sizeof key, "%s.out", name);
    const sdfx_array *want = sdfx_get(f, key);
    snprintf(key, sizeof key, "%s.R", name);
    const sdfx_array *R = sdfx_get(f, key);
    if (!want || !R) {
        snprintf(msg, cap, "fixture has no %s.out or .R", name);
        goto done;
    }
    if (sd_ctx_create(&c) != SIMDIFF_OK)
        goto done;
    sd_ctx_set_grad(c, 1);
    sd_tensor *y = fn(c, in, ud);
    if (!y) {
        snprintf(msg, cap, "%s: graph failed: %s", name, sd_ctx_errmsg(c));
        goto done;
    }
    if (y->numel != want->numel) {
        snprintf(msg, cap, "%s: output has %lld elements, fixture %lld", name,
                 (long long)y->numel, (long long)want->numel);
        goto done;
    }
    double e = sdtest_max_rel_err(y->data, want->data, (size_t)y->numel, 1e-6);
    if (!(e <= out_tol)) {
        snprintf(msg, cap, "%s: output rel err %.3g > %.3g", name, e, out_tol);
        goto done;
    }
    if (sd_backward_seed(c, y, R->data) != SIMDIFF_OK) {
        snprintf(msg, cap, "%s: backward failed: %s", name, sd_ctx_errmsg(c));
        goto done;
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s.grad%d", name, i);
        const sdfx_array *g = sdfx_get(f, key);
        if (!g)
            continue;
        if (!(in[i]->flags & SD_TF_GRAD_VALID))
            memset(in[i]->grad, 0, (size_t)in[i]->numel * sizeof(float));
        e = sdtest_max_rel_err(in[i]->grad, g->data, (size_t)g->numel, 1e-6);
        if (!(e <= grad_tol)) {
            snprintf(msg, cap, "%s: grad of input %d rel err %.3g > %.3g", name,
                     i, e, grad_tol);
            goto done;
        }
    }
    rc = 0;
    msg[0] = 0;
done:
    sd_ctx_destroy(c);
    for (int i = 0; i < n; i++)
        gc_free(in[i]);
    return rc;
}
