/*
 * Noise schedules: cosine, shifted and interpolated (include/simdiff/schedule.h):
 * the math, creation, evaluation and queries (the text forms: text.c).
 *
 * Every kind is one formula,
 *
 *     λ(t) = λ_cos(t) + s0 + t·(s1 − s0),
 *     λ_cos(t) = −2·log(tan(a + t·Δ)),     a = atan(exp(−λ_max/2)) = t_min,
 *                                          b = atan(exp(λ_min/2)) = π/2 − t_max,
 *                                          Δ = π/2 − a − b = t_max − t_min,
 *
 * with shifts s0 = s1 = 0 (cosine), s0 = s1 = 2·log(base_d/image_d)
 * (shifted), s0 = 2·log(noise_d_at_t0/image_d), s1 = 2·log(noise_d_at_t1/
 * image_d) (interpolated: (1 − t)·(λ_cos + s0) + t·(λ_cos + s1)).
 *
 * Accuracy near both ends: the angle u = a + t·Δ and its complement
 * w = π/2 − u = b + (1 − t)·Δ are both formed from small, accurately known
 * parts, and λ_cos is evaluated from whichever is smaller (λ = −2·log tan u
 * = 2·log tan w), so neither tan(≈π/2) nor π/2 − (≈π/2) ever occurs. Δ
 * itself is computed without cancellation (see sched_new).
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "schedule/schedule_internal.h"
#include "schedule/schedule_object.h"

#define SD_PI_2 1.57079632679489661923

/* The clipping of the cosine under shifted and interpolated schedules. */
#define SHIFT_BASE_LMIN (-15.0)
#define SHIFT_BASE_LMAX 15.0

/* ---- errors -------------------------------------------------------------- */

simdiff_status sd_schedule_fail(const simdiff_schedule *s, simdiff_status st,
                                 const char *fmt, ...)
{
    char msg[SD_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sd_fail(NULL, st, "%s", msg);
    if (s) {
        /* Schedules are heap objects, never defined const: writing the
         * message buffer through a cast is well defined. The lock keeps
         * concurrent failing calls from interleaving their copies. */
        simdiff_schedule *m = (simdiff_schedule *)s;
        pthread_mutex_lock(&m->err_lock);
        sd_fail_keep(&m->err, st);
        pthread_mutex_unlock(&m->err_lock);
    }
    return st;
}

SIMDIFF_API const char *simdiff_schedule_errmsg(const simdiff_schedule *s)
{
    return s ? s->err.msg : "";
}

/* ---- the formula --------------------------------------------------------- */

/* λ_cos(t) and the angle min(u, w) it came from. */
static double cos_logsnr(const simdiff_schedule *s, double t, double *angle)
{
    double u = s->a + t * s->width;
    double w = s->b + (1.0 - t) * s->width;
    if (u <= w) {
        *angle = u;
        return -2.0 * log(tan(u));
    }
    *angle = w;
    return 2.0 * log(tan(w));
}

double sd_schedule_logsnr1(const simdiff_schedule *s, double t)
{
    double angle;
    return cos_logsnr(s, t, &angle) + s->s0 + t * (s->s1 - s->s0);
}

double sd_schedule_dlogsnr_dt1(const simdiff_schedule *s, double t)
{
    /* d/du (−2·log tan u) = −2/(sin u·cos u) = −4/sin(2u), and
     * sin(2u) = sin(2w) for w = π/2 − u. */
    double angle;
    cos_logsnr(s, t, &angle);
    return -4.0 * s->width / sin(2.0 * angle) + (s->s1 - s->s0);
}

void sd_schedule_alpha_sigma1(const simdiff_schedule *s, double t,
                              double *alpha, double *sigma)
{
    sd_alpha_sigma_from_logsnr(sd_schedule_logsnr1(s, t), alpha, sigma);
}

static double clamp01(double t) { return t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t); }

/* The exact inverse of λ_cos, clamped to [0, 1]; ±inf allowed. */
static double cos_t_from_logsnr(const simdiff_schedule *s, double l)
{
    if (l >= 0.0) { /* u = atan(e^(−λ/2)) <= π/4: t = (u − a)/Δ */
        double u = atan(exp(-0.5 * l));
        return clamp01((u - s->a) / s->width);
    }
    /* w = atan(e^(λ/2)) < π/4: 1 − t = (w − b)/Δ */
    double w = atan(exp(0.5 * l));
    return clamp01(1.0 - (w - s->b) / s->width);
}

double sd_schedule_t_from_logsnr1(const simdiff_schedule *s, double l)
{
    if (s->s0 == s->s1)
        return cos_t_from_logsnr(s, l - s->s0);

    /* Interpolated: f(t) = λ(t) − l is strictly decreasing; Newton's method
     * kept inside a shrinking bracket [lo, hi] with f(lo) > 0 > f(hi),
     * falling back to bisection whenever a step would leave it. */
    if (l >= sd_schedule_logsnr1(s, 0.0))
        return 0.0;
    if (l <= sd_schedule_logsnr1(s, 1.0))
        return 1.0;
    double lo = 0.0, hi = 1.0;
    /* Start from the cosine inverse with the mean shift. */
    double t = cos_t_from_logsnr(s, l - 0.5 * (s->s0 + s->s1));
    if (!(t > lo && t < hi))
        t = 0.5;
    for (int it = 0; it < 200; it++) {
        double f = sd_schedule_logsnr1(s, t) - l;
        if (f == 0.0)
            return t;
        if (f > 0.0)
            lo = t;
        else
            hi = t;
        double next = t - f / sd_schedule_dlogsnr_dt1(s, t);
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        double step = fabs(next - t);
        t = next;
        if (step <= 1e-15 || hi - lo <= 1e-15)
            break;
    }
    return t;
}

/* ---- creation ------------------------------------------------------------ */

static simdiff_status sched_new(simdiff_schedule **out, simdiff_schedule_kind kind,
                                double lmin, double lmax, int image_d, int nd0,
                                int nd1, const char *fn)
{
    simdiff_schedule *s = calloc(1, sizeof *s);
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    if (pthread_mutex_init(&s->err_lock, NULL) != 0) {
        free(s);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: cannot create a mutex", fn);
    }
    s->kind = kind;
    s->image_d = image_d;
    s->nd0 = nd0;
    s->nd1 = nd1;
    s->lmin = lmin;
    s->lmax = lmax;
    s->a = atan(exp(-0.5 * lmax));
    s->b = atan(exp(0.5 * lmin));
    /* Δ = atan(e^(−λmin/2)) − atan(e^(−λmax/2)) = atan((x − y)/(1 + x·y))
     * with x − y = −e^(−λmin/2)·expm1(−(λmax − λmin)/2), divided through by
     * e^(−λmin/2): no cancellation even when the whole range lies far on
     * one side of 0 (cosine(999, 1000): Δ ≈ 5e-218), and no overflow. */
    s->width = atan(-expm1(-0.5 * (lmax - lmin)) /
                    (exp(0.5 * lmin) + exp(-0.5 * lmax)));
    s->s0 = image_d > 0 ? 2.0 * log((double)nd0 / (double)image_d) : 0.0;
    s->s1 = image_d > 0 ? 2.0 * log((double)nd1 / (double)image_d) : 0.0;
    *out = s;
    return SIMDIFF_OK;
}

static simdiff_status check_range(double lmin, double lmax, const char *fn)
{
    const double lim = SIMDIFF_SCHEDULE_LOGSNR_LIMIT;
    if (!isfinite(lmin) || !isfinite(lmax))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: logsnr_min = %g, logsnr_max = %g: both must be "
                       "finite",
                       fn, lmin, lmax);
    if (!(lmin < lmax))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: logsnr_min = %.17g must be < logsnr_max = %.17g",
                       fn, lmin, lmax);
    if (!(lmax - lmin >= SIMDIFF_SCHEDULE_LOGSNR_MIN_SPAN))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: logsnr_max - logsnr_min = %g must be at least %g",
                       fn, lmax - lmin, SIMDIFF_SCHEDULE_LOGSNR_MIN_SPAN);
    if (fabs(lmin) > lim || fabs(lmax) > lim)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: logsnr_min = %g, logsnr_max = %g: each must be in "
                       "[-%g, %g]",
                       fn, lmin, lmax, lim, lim);
    return SIMDIFF_OK;
}

static simdiff_status check_d(int d, const char *name, const char *fn)
{
    if (d < 1 || d > SIMDIFF_SCHEDULE_MAX_D)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: %s = %d, expected 1..%d", fn, name, d,
                       SIMDIFF_SCHEDULE_MAX_D);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_create_cosine(simdiff_schedule **out,
                                                          double logsnr_min,
                                                          double logsnr_max)
{
    static const char fn[] = "simdiff_schedule_create_cosine";
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    simdiff_status st = check_range(logsnr_min, logsnr_max, fn);
    if (st != SIMDIFF_OK)
        return st;
    return sched_new(out, SIMDIFF_SCHEDULE_COSINE, logsnr_min, logsnr_max, 0,
                     0, 0, fn);
}

SIMDIFF_API simdiff_status simdiff_schedule_create_shifted(simdiff_schedule **out,
                                                           int image_d,
                                                           int base_d)
{
    static const char fn[] = "simdiff_schedule_create_shifted";
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    simdiff_status st = check_d(image_d, "image_d", fn);
    if (st == SIMDIFF_OK)
        st = check_d(base_d, "base_d", fn);
    if (st != SIMDIFF_OK)
        return st;
    return sched_new(out, SIMDIFF_SCHEDULE_SHIFTED, SHIFT_BASE_LMIN,
                     SHIFT_BASE_LMAX, image_d, base_d, base_d, fn);
}

SIMDIFF_API simdiff_status simdiff_schedule_create_interpolated(
    simdiff_schedule **out, int image_d, int noise_d_at_t0, int noise_d_at_t1)
{
    static const char fn[] = "simdiff_schedule_create_interpolated";
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    simdiff_status st = check_d(image_d, "image_d", fn);
    if (st == SIMDIFF_OK)
        st = check_d(noise_d_at_t0, "noise_d_at_t0", fn);
    if (st == SIMDIFF_OK)
        st = check_d(noise_d_at_t1, "noise_d_at_t1", fn);
    if (st != SIMDIFF_OK)
        return st;
    simdiff_schedule *s = NULL;
    st = sched_new(&s, SIMDIFF_SCHEDULE_INTERPOLATED, SHIFT_BASE_LMIN,
                   SHIFT_BASE_LMAX, image_d, noise_d_at_t0, noise_d_at_t1, fn);
    if (st != SIMDIFF_OK)
        return st;
    /* dλ/dt = −4Δ/sin(2u) + (s1 − s0) <= −4Δ + (s1 − s0), with equality at
     * u = π/4 (inside [a, π/2 − b] for the [−15, 15] clipping). */
    const double width = s->width, blend = s->s1 - s->s0;
    if (!(-4.0 * width + blend < 0.0)) {
        simdiff_schedule_destroy(s);
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: (%d, %d, %d) is not strictly decreasing in t: "
                       "noise_d_at_t1 / noise_d_at_t0 = %g must be < %.4f "
                       "(the blend adds 2*log(%d/%d) = %.4f to the slope, the "
                       "cosine's is at most %.4f)",
                       fn, image_d, noise_d_at_t0, noise_d_at_t1,
                       (double)noise_d_at_t1 / noise_d_at_t0, exp(2.0 * width),
                       noise_d_at_t1, noise_d_at_t0, blend, -4.0 * width);
    }
    *out = s;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_clone(simdiff_schedule **out,
                                                  const simdiff_schedule *s)
{
    static const char fn[] = "simdiff_schedule_clone";
    if (!out)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: schedule is NULL", fn);
    simdiff_status st = sched_new(out, s->kind, s->lmin, s->lmax, s->image_d,
                                  s->nd0, s->nd1, fn);
    if (st != SIMDIFF_OK)
        return sd_schedule_fail(s, st, "%s", simdiff_last_error());
    return SIMDIFF_OK;
}

SIMDIFF_API void simdiff_schedule_destroy(simdiff_schedule *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->err_lock);
    free(s);
}

/* ---- evaluation ---------------------------------------------------------- */

static simdiff_status check_ts(const simdiff_schedule *s, size_t n,
                               const double *t, const char *fn)
{
    for (size_t i = 0; i < n; i++)
        if (!(t[i] >= 0.0 && t[i] <= 1.0)) /* also NaN */
            return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG,
                              "%s: t[%zu] = %.17g is outside [0, 1]", fn, i,
                              t[i]);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_logsnr(const simdiff_schedule *s,
                                                   size_t n, const double *t,
                                                   double *logsnr)
{
    static const char fn[] = "simdiff_schedule_logsnr";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: schedule is NULL", fn);
    if (n == 0)
        return SIMDIFF_OK;
    if (!t || !logsnr)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL (n = %zu)",
                          fn, !t ? "t" : "logsnr", n);
    simdiff_status st = check_ts(s, n, t, fn);
    if (st != SIMDIFF_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        logsnr[i] = sd_schedule_logsnr1(s, t[i]);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_alpha_sigma(const simdiff_schedule *s,
                                                        size_t n,
                                                        const double *t,
                                                        double *alpha,
                                                        double *sigma)
{
    static const char fn[] = "simdiff_schedule_alpha_sigma";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: schedule is NULL", fn);
    if (n == 0)
        return SIMDIFF_OK;
    if (!t || !alpha || !sigma)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL (n = %zu)",
                          fn, !t ? "t" : (!alpha ? "alpha" : "sigma"), n);
    if (alpha == sigma)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG,
                          "%s: alpha and sigma are the same array", fn);
    simdiff_status st = check_ts(s, n, t, fn);
    if (st != SIMDIFF_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        double a, sg;
        sd_schedule_alpha_sigma1(s, t[i], &a, &sg);
        alpha[i] = a;
        sigma[i] = sg;
    }
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_t_from_logsnr(
    const simdiff_schedule *s, size_t n, const double *logsnr, double *t)
{
    static const char fn[] = "simdiff_schedule_t_from_logsnr";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: schedule is NULL", fn);
    if (n == 0)
        return SIMDIFF_OK;
    if (!logsnr || !t)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL (n = %zu)",
                          fn, !logsnr ? "logsnr" : "t", n);
    for (size_t i = 0; i < n; i++)
        if (isnan(logsnr[i]))
            return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG,
                              "%s: logsnr[%zu] is NaN", fn, i);
    for (size_t i = 0; i < n; i++)
        t[i] = sd_schedule_t_from_logsnr1(s, logsnr[i]);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_alpha_sigma_from_logsnr(size_t n,
                                                          const double *logsnr,
                                                          double *alpha,
                                                          double *sigma)
{
    static const char fn[] = "simdiff_alpha_sigma_from_logsnr";
    if (n == 0)
        return SIMDIFF_OK;
    if (!logsnr || !alpha || !sigma)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL (n = %zu)",
                       fn, !logsnr ? "logsnr" : (!alpha ? "alpha" : "sigma"),
                       n);
    if (alpha == sigma)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: alpha and sigma are the same array", fn);
    for (size_t i = 0; i < n; i++)
        if (isnan(logsnr[i]))
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "%s: logsnr[%zu] is NaN", fn, i);
    for (size_t i = 0; i < n; i++) {
        double a, sg;
        sd_alpha_sigma_from_logsnr(logsnr[i], &a, &sg);
        alpha[i] = a;
        sigma[i] = sg;
    }
    return SIMDIFF_OK;
}

/* ---- queries ------------------------------------------------------------- */

SIMDIFF_API simdiff_status simdiff_schedule_get_kind(const simdiff_schedule *s,
                                                     simdiff_schedule_kind *kind)
{
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_schedule_get_kind: schedule is NULL");
    if (!kind)
        return sd_schedule_fail(s, SIMDIFF_ERR_INVALID_ARG,
                          "simdiff_schedule_get_kind: kind is NULL");
    *kind = s->kind;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_get_cosine_range(
    const simdiff_schedule *s, double *logsnr_min, double *logsnr_max)
{
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_schedule_get_cosine_range: schedule is NULL");
    if (logsnr_min)
        *logsnr_min = s->lmin;
    if (logsnr_max)
        *logsnr_max = s->lmax;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_get_resolutions(
    const simdiff_schedule *s, int *image_d, int *noise_d_at_t0,
    int *noise_d_at_t1)
{
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_schedule_get_resolutions: schedule is NULL");
    if (image_d)
        *image_d = s->image_d;
    if (noise_d_at_t0)
        *noise_d_at_t0 = s->nd0;
    if (noise_d_at_t1)
        *noise_d_at_t1 = s->nd1;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_schedule_get_shifts(const simdiff_schedule *s,
                                                       double *shift_at_t0,
                                                       double *shift_at_t1)
{
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_schedule_get_shifts: schedule is NULL");
    if (shift_at_t0)
        *shift_at_t0 = s->s0;
    if (shift_at_t1)
        *shift_at_t1 = s->s1;
    return SIMDIFF_OK;
}
