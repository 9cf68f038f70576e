/*
 * The v / ε / x parametrization helpers (include/simdiff/schedule.h).
 *
 * Arrays are n × P floats (P = per_example), one (α, σ) pair per example.
 * The flat index range [0, n·P) is cut into fixed chunks shared out by
 * OpenMP; inside a chunk each run that belongs to one example is a plain
 * loop with its α, σ hoisted, which the compiler vectorizes. Every output
 * element depends only on the same element of the inputs, so results do not
 * depend on the thread count, and in-place use (output == input) is safe.
 */
#include <math.h>

#include "core/internal.h"
#include "simdiff/schedule.h"

enum {
    CHUNK = 8192,           /* elements per OpenMP work item */
    PARALLEL_MIN = 1 << 16, /* below this, one thread */
};

typedef enum op {
    OP_V_TO_X_EPS, /* (z, v)   -> x = αz − σv, ε = σz + αv */
    OP_EPS_TO_X,   /* (z, ε)   -> x = (z − σε)/α          */
    OP_X_TO_EPS,   /* (z, x)   -> ε = (z − αx)/σ          */
    OP_TO_V,       /* (x, ε)   -> v = αε − σx             */
    OP_TO_Z,       /* (x, ε)   -> z = αx + σε             */
} op;

/* One example's run [lo, hi) of the flat arrays. in0/in1 are the two inputs
 * in the order of the op's comment; out1 may be NULL for OP_V_TO_X_EPS. */
static void run_span(op o, size_t lo, size_t hi, const float *in0,
                     const float *in1, double al, double sg, float *out0,
                     float *out1)
{
    switch (o) {
    case OP_V_TO_X_EPS:
        if (out0 && out1) {
            for (size_t k = lo; k < hi; k++) {
                double z = in0[k], v = in1[k];
                out0[k] = (float)(al * z - sg * v);
                out1[k] = (float)(sg * z + al * v);
            }
        } else if (out0) {
            for (size_t k = lo; k < hi; k++)
                out0[k] = (float)(al * (double)in0[k] - sg * (double)in1[k]);
        } else {
            for (size_t k = lo; k < hi; k++)
                out1[k] = (float)(sg * (double)in0[k] + al * (double)in1[k]);
        }
        break;
    case OP_EPS_TO_X:
        for (size_t k = lo; k < hi; k++)
            out0[k] = (float)(((double)in0[k] - sg * (double)in1[k]) / al);
        break;
    case OP_X_TO_EPS:
        for (size_t k = lo; k < hi; k++)
            out0[k] = (float)(((double)in0[k] - al * (double)in1[k]) / sg);
        break;
    case OP_TO_V:
        for (size_t k = lo; k < hi; k++)
            out0[k] = (float)(al * (double)in1[k] - sg * (double)in0[k]);
        break;
    case OP_TO_Z:
        for (size_t k = lo; k < hi; k++)
            out0[k] = (float)(al * (double)in0[k] + sg * (double)in1[k]);
        break;
    }
}

static void run(op o, size_t n, size_t per, const float *in0, const float *in1,
                const double *alpha, const double *sigma, float *out0,
                float *out1)
{
    size_t total = n * per; /* checked by the caller */
    size_t nchunks = (total + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * CHUNK;
        size_t end = total - lo < CHUNK ? total : lo + CHUNK;
        while (lo < end) {
            size_t i = lo / per;
            size_t hi = (i + 1) * per < end ? (i + 1) * per : end;
            run_span(o, lo, hi, in0, in1, alpha[i], sigma[i], out0, out1);
            lo = hi;
        }
    }
}

/* Common checks. need_pos: 'a' when α must be > 0, 's' when σ must be. */
static simdiff_status check(const char *fn, size_t n, size_t per,
                            const float *in0, const char *in0_name,
                            const float *in1, const char *in1_name,
                            const double *alpha, const double *sigma,
                            int out_ok, char need_pos)
{
    if (per == 0)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: per_example = 0 (n = %zu); expected > 0", fn, n);
    size_t total;
    if (sd_mul_size(n, per, &total))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: n = %zu times per_example = %zu overflows", fn, n,
                       per);
    if (!in0 || !in1 || !alpha || !sigma)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL (n = %zu)",
                       fn,
                       !in0   ? in0_name
                       : !in1 ? in1_name
                       : !alpha ? "alpha"
                                : "sigma",
                       n);
    if (!out_ok)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the output array is NULL (n = %zu)", fn, n);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(alpha[i]) || !isfinite(sigma[i]))
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "%s: alpha[%zu] = %g, sigma[%zu] = %g: both must be "
                           "finite",
                           fn, i, alpha[i], i, sigma[i]);
        if (need_pos == 'a' && !(alpha[i] > 0.0))
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "%s: alpha[%zu] = %g, expected > 0 (x = (z - "
                           "sigma*eps)/alpha)",
                           fn, i, alpha[i]);
        if (need_pos == 's' && !(sigma[i] > 0.0))
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "%s: sigma[%zu] = %g, expected > 0 (eps = (z - "
                           "alpha*x)/sigma)",
                           fn, i, sigma[i]);
    }
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_v_to_x_eps(size_t n, size_t per_example,
                                              const float *z, const float *v,
                                              const double *alpha,
                                              const double *sigma,
                                              float *x_hat, float *eps_hat)
{
    if (n == 0)
        return SIMDIFF_OK;
    simdiff_status st = check("simdiff_v_to_x_eps", n, per_example, z, "z", v,
                              "v", alpha, sigma, x_hat || eps_hat, 0);
    if (st != SIMDIFF_OK)
        return st;
    if ((st = sd_apply_threads()))
        return st;
    run(OP_V_TO_X_EPS, n, per_example, z, v, alpha, sigma, x_hat, eps_hat);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_eps_to_x(size_t n, size_t per_example,
                                            const float *z, const float *eps,
                                            const double *alpha,
                                            const double *sigma, float *x_hat)
{
    if (n == 0)
        return SIMDIFF_OK;
    simdiff_status st = check("simdiff_eps_to_x", n, per_example, z, "z", eps,
                              "eps", alpha, sigma, x_hat != NULL, 'a');
    if (st != SIMDIFF_OK)
        return st;
    if ((st = sd_apply_threads()))
        return st;
    run(OP_EPS_TO_X, n, per_example, z, eps, alpha, sigma, x_hat, NULL);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_x_to_eps(size_t n, size_t per_example,
                                            const float *z, const float *x,
                                            const double *alpha,
                                            const double *sigma, float *eps_hat)
{
    if (n == 0)
        return SIMDIFF_OK;
    simdiff_status st = check("simdiff_x_to_eps", n, per_example, z, "z", x,
                              "x", alpha, sigma, eps_hat != NULL, 's');
    if (st != SIMDIFF_OK)
        return st;
    if ((st = sd_apply_threads()))
        return st;
    run(OP_X_TO_EPS, n, per_example, z, x, alpha, sigma, eps_hat, NULL);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_x_eps_to_v(size_t n, size_t per_example,
                                              const float *x, const float *eps,
                                              const double *alpha,
                                              const double *sigma, float *v)
{
    if (n == 0)
        return SIMDIFF_OK;
    simdiff_status st = check("simdiff_x_eps_to_v", n, per_example, x, "x", eps,
                              "eps", alpha, sigma, v != NULL, 0);
    if (st != SIMDIFF_OK)
        return st;
    if ((st = sd_apply_threads()))
        return st;
    run(OP_TO_V, n, per_example, x, eps, alpha, sigma, v, NULL);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_x_eps_to_z(size_t n, size_t per_example,
                                              const float *x, const float *eps,
                                              const double *alpha,
                                              const double *sigma, float *z)
{
    if (n == 0)
        return SIMDIFF_OK;
    simdiff_status st = check("simdiff_x_eps_to_z", n, per_example, x, "x", eps,
                              "eps", alpha, sigma, z != NULL, 0);
    if (st != SIMDIFF_OK)
        return st;
    if ((st = sd_apply_threads()))
        return st;
    run(OP_TO_Z, n, per_example, x, eps, alpha, sigma, z, NULL);
    return SIMDIFF_OK;
}
