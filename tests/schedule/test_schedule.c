/*
 * Noise schedules and the v / ε / x helpers, through the public API.
 *
 * Expected numbers come from outside the library: a 50-digit mpmath table
 * (schedule_values.h, made by tests/reference/schedule_values.py), libm's
 * cos/sin for the unclipped cosine, hand arithmetic, and a Monte Carlo
 * measurement of SNR under average pooling.
 */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

#include "schedule_values.h"

/* ---- helpers ------------------------------------------------------------- */

static simdiff_schedule *make_ref(const ref_sched *r)
{
    simdiff_schedule *s = NULL;
    simdiff_status st;
    switch (r->kind) {
    case 0: st = simdiff_schedule_create_cosine(&s, r->p[0], r->p[1]); break;
    case 1:
        st = simdiff_schedule_create_shifted(&s, (int)r->p[0], (int)r->p[1]);
        break;
    default:
        st = simdiff_schedule_create_interpolated(&s, (int)r->p[0], (int)r->p[1],
                                                  (int)r->p[2]);
        break;
    }
    ck_assert_msg(st == SIMDIFF_OK, "create failed: %s", simdiff_last_error());
    ck_assert_ptr_nonnull(s);
    return s;
}

static double logsnr1(const simdiff_schedule *s, double t)
{
    double l = NAN;
    ck_assert_int_eq(simdiff_schedule_logsnr(s, 1, &t, &l), SIMDIFF_OK);
    return l;
}

static double t_of(const simdiff_schedule *s, double l)
{
    double t = NAN;
    ck_assert_int_eq(simdiff_schedule_t_from_logsnr(s, 1, &l, &t), SIMDIFF_OK);
    return t;
}

static void close_rel(double got, double want, double rtol, const char *what,
                      double at)
{
    double err = fabs(got - want) / fmax(fabs(want), DBL_MIN);
    ck_assert_msg(err <= rtol, "%s at %.17g: got %.17g, want %.17g (rel %.3g)",
                  what, at, got, want, err);
}

/* Every schedule the generic checks run on: the reference ones and a few
 * extreme ones (very wide clipping, the steepest allowed blends). */
static simdiff_schedule *make_nth(int i)
{
    int nref = (int)(sizeof ref_scheds / sizeof ref_scheds[0]);
    if (i < nref)
        return make_ref(&ref_scheds[i]);
    simdiff_schedule *s = NULL;
    simdiff_status st = SIMDIFF_OK;
    switch (i - nref) {
    case 0: st = simdiff_schedule_create_cosine(&s, -1000, 1000); break;
    case 1: st = simdiff_schedule_create_cosine(&s, -60, 60); break;
    case 2: st = simdiff_schedule_create_cosine(&s, -3, -2); break;
    case 3: st = simdiff_schedule_create_interpolated(&s, 512, 32, 736); break;
    case 4: st = simdiff_schedule_create_interpolated(&s, 64, 65536, 1); break;
    case 5: st = simdiff_schedule_create_shifted(&s, 1048576, 1); break;
    default: return NULL;
    }
    ck_assert_msg(st == SIMDIFF_OK, "create failed: %s", simdiff_last_error());
    return s;
}

/* splitmix64 and Box–Muller: the tests' own deterministic normal numbers. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t *state) /* in (0, 1) */
{
    return ((double)(splitmix64(state) >> 11) + 0.5) * 0x1p-53;
}
static void normals(uint64_t *state, size_t n, float *out)
{
    for (size_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform01(state)));
        double th = 2.0 * M_PI * uniform01(state);
        out[i] = (float)(r * cos(th));
        if (i + 1 < n)
            out[i + 1] = (float)(r * sin(th));
    }
}

/* ---- values against the mpmath table -------------------------------------- */

START_TEST(reference_values)
{
    size_t nref = sizeof ref_values / sizeof ref_values[0];
    for (size_t k = 0; k < nref; k++) {
        const ref_value *r = &ref_values[k];
        simdiff_schedule *s = make_ref(&ref_scheds[r->sched]);
        double l = logsnr1(s, r->t), a = NAN, sg = NAN;
        ck_assert_int_eq(simdiff_schedule_alpha_sigma(s, 1, &r->t, &a, &sg),
                         SIMDIFF_OK);
        /* λ to 1e-12 (relative, absolute below |λ| = 1). */
        ck_assert_msg(fabs(l - r->logsnr) <= 1e-12 * fmax(1.0, fabs(r->logsnr)),
                      "schedule %d, t = %g: logsnr %.17g, want %.17g", r->sched,
                      r->t, l, r->logsnr);
        close_rel(a, r->alpha, 1e-12, "alpha", r->t);
        close_rel(sg, r->sigma, 1e-12, "sigma", r->t);
        simdiff_schedule_destroy(s);
    }
}
END_TEST

START_TEST(reference_inverses)
{
    size_t nref = sizeof ref_inverses / sizeof ref_inverses[0];
    for (size_t k = 0; k < nref; k++) {
        const ref_inverse *r = &ref_inverses[k];
        simdiff_schedule *s = make_ref(&ref_scheds[r->sched]);
        double t = t_of(s, r->logsnr);
        ck_assert_msg(fabs(t - r->t) <= 1e-12,
                      "schedule %d, logsnr %g: t = %.17g, want %.17g", r->sched,
                      r->logsnr, t, r->t);
        simdiff_schedule_destroy(s);
    }
}
END_TEST

START_TEST(tails_from_logsnr)
{
    size_t nref = sizeof ref_tails / sizeof ref_tails[0];
    for (size_t k = 0; k < nref; k++) {
        double a = NAN, sg = NAN;
        ck_assert_int_eq(simdiff_alpha_sigma_from_logsnr(1, &ref_tails[k].logsnr,
                                                         &a, &sg),
                         SIMDIFF_OK);
        close_rel(a, ref_tails[k].alpha, 1e-12, "alpha", ref_tails[k].logsnr);
        close_rel(sg, ref_tails[k].sigma, 1e-12, "sigma", ref_tails[k].logsnr);
    }
    /* Infinite and huge log-SNR: exact limits, never NaN. */
    double l[6] = {INFINITY, -INFINITY, 1e308, -1e308, 5000, -5000};
    double a[6], sg[6];
    ck_assert_int_eq(simdiff_alpha_sigma_from_logsnr(6, l, a, sg), SIMDIFF_OK);
    for (int i = 0; i < 6; i++) {
        double want_a = l[i] > 0 ? 1.0 : 0.0;
        ck_assert_msg(a[i] == want_a && sg[i] == 1.0 - want_a,
                      "logsnr %g: alpha %g sigma %g", l[i], a[i], sg[i]);
    }
}
END_TEST

/* Unclipped, the cosine schedule is α = cos(πt/2): with clipping at ±1000
 * the difference is below e^-500, so libm's cos and sin are the truth. */
START_TEST(wide_cosine_is_cos)
{
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, -1000, 1000), SIMDIFF_OK);
    for (int k = 1; k < 256; k++) {
        double t = k / 256.0, a, sg;
        ck_assert_int_eq(simdiff_schedule_alpha_sigma(s, 1, &t, &a, &sg),
                         SIMDIFF_OK);
        close_rel(a, cos(M_PI_2 * t), 1e-12, "alpha vs cos", t);
        close_rel(sg, sin(M_PI_2 * t), 1e-12, "sigma vs sin", t);
        double want_l = -2.0 * log(tan(M_PI_2 * t));
        ck_assert_msg(fabs(logsnr1(s, t) - want_l) <= 1e-12 * fmax(1, fabs(want_l)),
                      "t = %g: logsnr %.17g want %.17g", t, logsnr1(s, t), want_l);
    }
    /* The clipped ends are the clipping values. */
    ck_assert_double_eq_tol(logsnr1(s, 0.0), 1000.0, 1e-9);
    ck_assert_double_eq_tol(logsnr1(s, 1.0), -1000.0, 1e-9);
    simdiff_schedule_destroy(s);
}
END_TEST

/* ---- properties on every schedule ------------------------------------------ */

START_TEST(inverse_round_trip)
{
    enum { N = 4097 };
    static double t[N + 6], l[N + 6], back[N + 6];
    for (int i = 0; i < N; i++)
        t[i] = (double)i / (N - 1);
    double extra[6] = {1e-300, 1e-15, 1e-12, 1e-9, 1 - 1e-12, 1 - 1e-15};
    memcpy(t + N, extra, sizeof extra);
    simdiff_schedule *s;
    for (int k = 0; (s = make_nth(k)) != NULL; k++) {
        ck_assert_int_eq(simdiff_schedule_logsnr(s, N + 6, t, l), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_schedule_t_from_logsnr(s, N + 6, l, back),
                         SIMDIFF_OK);
        double worst = 0;
        for (int i = 0; i < N + 6; i++)
            worst = fmax(worst, fabs(back[i] - t[i]));
        char name[SIMDIFF_SCHEDULE_STRING_MAX];
        simdiff_schedule_to_string(s, name, sizeof name);
        ck_assert_msg(worst <= 1e-9, "%s: max |t(logsnr(t)) - t| = %.3g", name,
                      worst);
        /* And the other way: logsnr(t(λ)) = λ inside the range. */
        double top = l[0], bottom = l[N - 1];
        for (int i = 1; i < 200; i++) {
            double lam = bottom + (top - bottom) * i / 200.0, tt = t_of(s, lam);
            double err = fabs(logsnr1(s, tt) - lam);
            /* t is a double: λ can only be matched to within the change of
             * λ over a few ulp of t, which is large at the steep ends
             * (near t = 1 of cosine(-1000, 1000) one ulp of t spans
             * hundreds in λ). */
            double up = fmin(1.0, tt + 4 * DBL_EPSILON);
            double dn = fmax(0.0, tt - 4 * DBL_EPSILON);
            double local = fmax(fabs(logsnr1(s, up) - logsnr1(s, tt)),
                                fabs(logsnr1(s, dn) - logsnr1(s, tt)));
            ck_assert_msg(err <= 1e-9 * fmax(1, fabs(lam)) + local,
                          "%s: logsnr(t(%g)) off by %.3g (local %.3g)", name,
                          lam, err, local);
        }
        /* Out of range clamps to the ends. */
        double far[4] = {top + 1, INFINITY, bottom - 1, -INFINITY}, ft[4];
        ck_assert_int_eq(simdiff_schedule_t_from_logsnr(s, 4, far, ft), SIMDIFF_OK);
        ck_assert(ft[0] == 0.0 && ft[1] == 0.0 && ft[2] == 1.0 && ft[3] == 1.0);
        /* In place. */
        memcpy(back, l, sizeof l);
        ck_assert_int_eq(simdiff_schedule_t_from_logsnr(s, N, back, back),
                         SIMDIFF_OK);
        ck_assert_double_eq_tol(back[N / 3], t[N / 3], 1e-9);
        simdiff_schedule_destroy(s);
    }
}
END_TEST

START_TEST(strictly_decreasing_and_unit_norm)
{
    enum { N = 100001 };
    double *t = malloc(N * sizeof *t), *l = malloc(N * sizeof *l);
    double *a = malloc(N * sizeof *a), *sg = malloc(N * sizeof *sg);
    ck_assert(t && l && a && sg);
    for (int i = 0; i < N; i++)
        t[i] = (double)i / (N - 1);
    simdiff_schedule *s;
    for (int k = 0; (s = make_nth(k)) != NULL; k++) {
        ck_assert_int_eq(simdiff_schedule_logsnr(s, N, t, l), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_schedule_alpha_sigma(s, N, t, a, sg), SIMDIFF_OK);
        /* Plain comparisons, one ck_abort on the first violation: 2 million
         * points would make millions of ck_assert calls otherwise. */
        for (int i = 0; i < N; i++) {
            if (!(isfinite(l[i]) && isfinite(a[i]) && isfinite(sg[i])))
                ck_abort_msg("schedule %d t = %g: not finite", k, t[i]);
            if (i > 0 && !(l[i] < l[i - 1]))
                ck_abort_msg("schedule %d not strictly decreasing at t = %.17g "
                             "(%.17g >= %.17g)",
                             k, t[i], l[i], l[i - 1]);
            if (!(a[i] >= 0 && a[i] <= 1 && sg[i] >= 0 && sg[i] <= 1))
                ck_abort_msg("schedule %d t = %g: alpha %g sigma %g", k, t[i],
                             a[i], sg[i]);
            double unit = a[i] * a[i] + sg[i] * sg[i] - 1.0;
            if (!(fabs(unit) <= 1e-12))
                ck_abort_msg("schedule %d t = %g: alpha^2 + sigma^2 - 1 = %.3g",
                             k, t[i], unit);
            /* λ = log(α²/σ²), recomputed from α, σ (fine while both are
             * well away from underflow, i.e. always here). */
            double back = 2.0 * (log(a[i]) - log(sg[i]));
            if (!(fabs(back - l[i]) <= 1e-10 * fmax(1, fabs(l[i]))))
                ck_abort_msg("schedule %d t = %g: 2 log(a/s) = %.17g, logsnr "
                             "%.17g",
                             k, t[i], back, l[i]);
        }
        simdiff_schedule_destroy(s);
    }
    free(t);
    free(l);
    free(a);
    free(sg);
}
END_TEST

START_TEST(shift_is_two_log_ratio)
{
    simdiff_schedule *c;
    ck_assert_int_eq(simdiff_schedule_create_cosine(&c, -15, 15), SIMDIFF_OK);
    int pairs[][2] = {{64, 64}, {128, 64}, {256, 64}, {512, 64}, {32, 64},
                      {1000, 7}, {3, 1024}};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        simdiff_schedule *s;
        ck_assert_int_eq(simdiff_schedule_create_shifted(&s, pairs[p][0],
                                                         pairs[p][1]),
                         SIMDIFF_OK);
        double want = 2.0 * log((double)pairs[p][1] / pairs[p][0]);
        for (int k = 0; k <= 20; k++) {
            double t = k / 20.0;
            ck_assert_double_eq_tol(logsnr1(s, t) - logsnr1(c, t), want, 1e-12);
        }
        double s0, s1;
        ck_assert_int_eq(simdiff_schedule_get_shifts(s, &s0, &s1), SIMDIFF_OK);
        ck_assert_double_eq_tol(s0, want, 1e-15);
        ck_assert(s0 == s1);
        simdiff_schedule_destroy(s);
    }
    /* shifted(d, d) is the cosine. */
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 64, 64), SIMDIFF_OK);
    ck_assert(logsnr1(s, 0.37) == logsnr1(c, 0.37));
    simdiff_schedule_destroy(s);
    simdiff_schedule_destroy(c);
}
END_TEST

/* λ(t) = (1−t)·shifted(d, n0)(t) + t·shifted(d, n1)(t): the ends and the
 * blend, against the public shifted schedules. */
START_TEST(interpolated_ends_and_blend)
{
    int cases[][3] = {{512, 256, 32}, {512, 32, 256}, {256, 128, 32},
                      {1024, 512, 64}, {64, 64, 32}, {32, 64, 64}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int d = cases[c][0], n0 = cases[c][1], n1 = cases[c][2];
        simdiff_schedule *s, *a, *b;
        ck_assert_int_eq(simdiff_schedule_create_interpolated(&s, d, n0, n1),
                         SIMDIFF_OK);
        ck_assert_int_eq(simdiff_schedule_create_shifted(&a, d, n0), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_schedule_create_shifted(&b, d, n1), SIMDIFF_OK);
        ck_assert_double_eq_tol(logsnr1(s, 0.0), logsnr1(a, 0.0), 1e-12);
        ck_assert_double_eq_tol(logsnr1(s, 1.0), logsnr1(b, 1.0), 1e-12);
        /* The ends in closed form: ±15 plus the shift. */
        ck_assert_double_eq_tol(logsnr1(s, 0.0), 15 + 2 * log((double)n0 / d),
                                1e-12);
        ck_assert_double_eq_tol(logsnr1(s, 1.0), -15 + 2 * log((double)n1 / d),
                                1e-12);
        for (int k = 0; k <= 40; k++) {
            double t = k / 40.0;
            double want = (1 - t) * logsnr1(a, t) + t * logsnr1(b, t);
            ck_assert_msg(fabs(logsnr1(s, t) - want) <= 1e-12 * fmax(1, fabs(want)),
                          "interpolated(%d,%d,%d) at t = %g: %.17g want %.17g", d,
                          n0, n1, t, logsnr1(s, t), want);
        }
        simdiff_schedule_destroy(s);
        simdiff_schedule_destroy(a);
        simdiff_schedule_destroy(b);
    }
}
END_TEST

/* The blend adds 2·log(n1/n0) to the slope; the cosine(−15, 15) slope is at
 * most −4·(π/2 − 2·atan(e^−7.5)), so n1/n0 must stay below
 * REF_MAX_INTERP_RATIO ≈ 23.09 (from the mpmath script). */
START_TEST(interpolated_must_decrease)
{
    ck_assert(23.0 < REF_MAX_INTERP_RATIO && REF_MAX_INTERP_RATIO < 23.2);
    simdiff_schedule *s = (simdiff_schedule *)1;
    ck_assert_int_eq(simdiff_schedule_create_interpolated(&s, 512, 100, 2309),
                     SIMDIFF_ERR_INVALID_ARG); /* 23.09 > 23.0896 */
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "decreasing"));
    ck_assert_int_eq(simdiff_schedule_create_interpolated(&s, 512, 32, 1024),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_schedule_create_interpolated(&s, 512, 100, 2308),
                     SIMDIFF_OK); /* 23.08 < 23.0896 */
    /* Barely decreasing at t = 1/2: slope −4Δ + 2·log(23.08) ≈ −0.0008. */
    double l1 = logsnr1(s, 0.5), l2 = logsnr1(s, 0.5 + 1e-6);
    ck_assert(l2 < l1);
    ck_assert_double_eq_tol(t_of(s, logsnr1(s, 0.5)), 0.5, 1e-9);
    simdiff_schedule_destroy(s);
}
END_TEST

/* ---- queries -------------------------------------------------------------- */

START_TEST(getters_and_describe)
{
    simdiff_schedule *c, *sh, *in;
    ck_assert_int_eq(simdiff_schedule_create_cosine(&c, -20, 10), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_schedule_create_shifted(&sh, 256, 64), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_schedule_create_interpolated(&in, 512, 256, 32),
                     SIMDIFF_OK);
    simdiff_schedule_kind k;
    ck_assert_int_eq(simdiff_schedule_get_kind(c, &k), SIMDIFF_OK);
    ck_assert_int_eq(k, SIMDIFF_SCHEDULE_COSINE);
    ck_assert_int_eq(simdiff_schedule_get_kind(sh, &k), SIMDIFF_OK);
    ck_assert_int_eq(k, SIMDIFF_SCHEDULE_SHIFTED);
    ck_assert_int_eq(simdiff_schedule_get_kind(in, &k), SIMDIFF_OK);
    ck_assert_int_eq(k, SIMDIFF_SCHEDULE_INTERPOLATED);
    /* The enum numbers are ABI. */
    ck_assert_int_eq(SIMDIFF_SCHEDULE_COSINE, 0);
    ck_assert_int_eq(SIMDIFF_SCHEDULE_SHIFTED, 1);
    ck_assert_int_eq(SIMDIFF_SCHEDULE_INTERPOLATED, 2);

    double lo, hi;
    ck_assert_int_eq(simdiff_schedule_get_cosine_range(c, &lo, &hi), SIMDIFF_OK);
    ck_assert(lo == -20 && hi == 10);
    ck_assert_int_eq(simdiff_schedule_get_cosine_range(in, &lo, NULL), SIMDIFF_OK);
    ck_assert(lo == -15);

    int d = -1, n0 = -1, n1 = -1;
    ck_assert_int_eq(simdiff_schedule_get_resolutions(c, &d, &n0, &n1), SIMDIFF_OK);
    ck_assert(d == 0 && n0 == 0 && n1 == 0);
    ck_assert_int_eq(simdiff_schedule_get_resolutions(sh, &d, &n0, &n1), SIMDIFF_OK);
    ck_assert(d == 256 && n0 == 64 && n1 == 64);
    ck_assert_int_eq(simdiff_schedule_get_resolutions(in, &d, &n0, &n1), SIMDIFF_OK);
    ck_assert(d == 512 && n0 == 256 && n1 == 32);
    ck_assert_int_eq(simdiff_schedule_get_resolutions(in, NULL, NULL, &n1),
                     SIMDIFF_OK);

    double s0, s1;
    ck_assert_int_eq(simdiff_schedule_get_shifts(c, &s0, &s1), SIMDIFF_OK);
    ck_assert(s0 == 0 && s1 == 0);
    ck_assert_int_eq(simdiff_schedule_get_shifts(in, &s0, &s1), SIMDIFF_OK);
    ck_assert_double_eq_tol(s0, -2 * log(2.0), 1e-15);
    ck_assert_double_eq_tol(s1, -2 * log(16.0), 1e-15);

    char buf[SIMDIFF_SCHEDULE_DESCRIBE_MAX];
    ck_assert_int_eq(simdiff_schedule_describe(in, buf, sizeof buf), SIMDIFF_OK);
    ck_assert_str_eq(buf,
                     "interpolated: 512x512 image; shifted(512,256) at t=0 "
                     "(log-SNR shift -1.386294) blended linearly to "
                     "shifted(512,32) at t=1 (shift -5.545177); cosine clipped "
                     "to [-15,15]; logsnr(0)=13.613706, logsnr(1)=-20.545177");
    ck_assert_int_eq(simdiff_schedule_describe(sh, buf, sizeof buf), SIMDIFF_OK);
    ck_assert_ptr_nonnull(strstr(buf, "256x256 image, schedule of 64x64"));
    ck_assert_ptr_nonnull(strstr(buf, "-2.772589")); /* 2 log(1/4) */
    ck_assert_int_eq(simdiff_schedule_describe(c, buf, sizeof buf), SIMDIFF_OK);
    ck_assert_str_eq(buf, "cosine: log-SNR clipped to [-20,10]; "
                          "logsnr(0)=10.000000, logsnr(1)=-20.000000");
    /* Too small: an error and an empty string. */
    char small[16] = "untouched";
    ck_assert_int_eq(simdiff_schedule_describe(c, small, sizeof small),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_str_eq(small, "");
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "too small"));
    ck_assert_str_eq(simdiff_schedule_errmsg(c), simdiff_last_error());

    /* Clone: same values, independent lifetime. */
    simdiff_schedule *cl;
    ck_assert_int_eq(simdiff_schedule_clone(&cl, in), SIMDIFF_OK);
    simdiff_schedule_destroy(in);
    /* λ_cos(1/2) = 0, so λ(1/2) = (s0 + s1)/2 = −log 2 − log 16. */
    ck_assert_double_eq_tol(logsnr1(cl, 0.5), -log(32.0), 1e-12);
    ck_assert_int_eq(simdiff_schedule_get_kind(cl, &k), SIMDIFF_OK);
    ck_assert_int_eq(k, SIMDIFF_SCHEDULE_INTERPOLATED);
    ck_assert_str_eq(simdiff_schedule_errmsg(cl), "");
    simdiff_schedule_destroy(cl);
    simdiff_schedule_destroy(sh);
    simdiff_schedule_destroy(c);
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

#define EXPECT_ERR(call, status, needle)                                       \
    do {                                                                       \
        ck_assert_int_eq((call), (status));                                    \
        ck_assert_msg(strstr(simdiff_last_error(), (needle)) != NULL,          \
                      "message \"%s\" lacks \"%s\"", simdiff_last_error(),     \
                      (needle));                                               \
    } while (0)

START_TEST(creation_errors)
{
    simdiff_schedule *s = (simdiff_schedule *)1;
    const simdiff_status BAD = SIMDIFF_ERR_INVALID_ARG;
    EXPECT_ERR(simdiff_schedule_create_cosine(NULL, -15, 15), BAD, "out is NULL");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, 15, -15), BAD, "must be <");
    ck_assert_ptr_null(s);
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, 3, 3), BAD, "must be <");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, 0, 1e-7), BAD,
               "must be at least 1e-06");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, 1e-20, 1e-19), BAD,
               "at least");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, NAN, 3), BAD, "finite");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, -3, NAN), BAD, "finite");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, -INFINITY, 3), BAD, "finite");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, -1001, 3), BAD, "-1001");
    EXPECT_ERR(simdiff_schedule_create_cosine(&s, 0, 1e6), BAD, "[-1000, 1000]");
    EXPECT_ERR(simdiff_schedule_create_shifted(NULL, 64, 64), BAD, "out is NULL");
    EXPECT_ERR(simdiff_schedule_create_shifted(&s, 0, 64), BAD, "image_d = 0");
    EXPECT_ERR(simdiff_schedule_create_shifted(&s, -64, 64), BAD, "image_d = -64");
    EXPECT_ERR(simdiff_schedule_create_shifted(&s, 64, 0), BAD, "base_d = 0");
    EXPECT_ERR(simdiff_schedule_create_shifted(&s, 64, 1048577), BAD, "1048577");
    EXPECT_ERR(simdiff_schedule_create_interpolated(&s, 512, -1, 32), BAD,
               "noise_d_at_t0 = -1");
    EXPECT_ERR(simdiff_schedule_create_interpolated(&s, 512, 256, 0), BAD,
               "noise_d_at_t1 = 0");
    EXPECT_ERR(simdiff_schedule_create_interpolated(&s, 0, 256, 32), BAD,
               "image_d = 0");
    EXPECT_ERR(simdiff_schedule_create_interpolated(NULL, 512, 256, 32), BAD,
               "out is NULL");
    ck_assert_ptr_null(s);
    EXPECT_ERR(simdiff_schedule_clone(&s, NULL), BAD, "schedule is NULL");
    ck_assert_ptr_null(s);
    simdiff_schedule_destroy(NULL); /* no-op */
    ck_assert_str_eq(simdiff_schedule_errmsg(NULL), "");
}
END_TEST

START_TEST(evaluation_errors)
{
    simdiff_schedule *s;
    const simdiff_status BAD = SIMDIFF_ERR_INVALID_ARG;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 128, 64), SIMDIFF_OK);
    double t[3] = {0.25, 0.5, 0.75}, out[3] = {7, 7, 7}, out2[3] = {7, 7, 7};

    /* n = 0 is a no-op, even with NULL arrays. */
    ck_assert_int_eq(simdiff_schedule_logsnr(s, 0, NULL, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_schedule_alpha_sigma(s, 0, NULL, NULL, NULL),
                     SIMDIFF_OK);
    ck_assert_int_eq(simdiff_schedule_t_from_logsnr(s, 0, NULL, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_alpha_sigma_from_logsnr(0, NULL, NULL, NULL),
                     SIMDIFF_OK);

    EXPECT_ERR(simdiff_schedule_logsnr(NULL, 3, t, out), BAD, "schedule is NULL");
    EXPECT_ERR(simdiff_schedule_logsnr(s, 3, NULL, out), BAD, "t is NULL");
    EXPECT_ERR(simdiff_schedule_logsnr(s, 3, t, NULL), BAD, "logsnr is NULL");
    ck_assert_str_eq(simdiff_schedule_errmsg(s), simdiff_last_error());
    EXPECT_ERR(simdiff_schedule_alpha_sigma(s, 3, t, out, NULL), BAD,
               "sigma is NULL");
    EXPECT_ERR(simdiff_schedule_alpha_sigma(s, 3, t, NULL, out), BAD,
               "alpha is NULL");
    EXPECT_ERR(simdiff_schedule_alpha_sigma(s, 3, t, out, out), BAD,
               "same array");
    EXPECT_ERR(simdiff_schedule_t_from_logsnr(s, 3, NULL, out), BAD,
               "logsnr is NULL");
    EXPECT_ERR(simdiff_schedule_t_from_logsnr(s, 3, t, NULL), BAD, "t is NULL");
    EXPECT_ERR(simdiff_alpha_sigma_from_logsnr(3, t, NULL, out), BAD,
               "alpha is NULL");

    /* t outside [0, 1] or NaN: the index and the value in the message, and
     * nothing written. */
    double bad_ts[][3] = {{0.5, 1.0000000000000002, 0.5},
                          {0.5, 0.5, -0.25},
                          {NAN, 0.5, 0.5},
                          {0.5, INFINITY, 0.5},
                          {0.5, -INFINITY, 0.5}};
    const char *needles[] = {"t[1] = 1.0000000000000002", "t[2] = -0.25",
                             "t[0] = nan", "t[1] = inf", "t[1] = -inf"};
    for (int i = 0; i < 5; i++) {
        EXPECT_ERR(simdiff_schedule_logsnr(s, 3, bad_ts[i], out), BAD,
                   needles[i]);
        EXPECT_ERR(simdiff_schedule_alpha_sigma(s, 3, bad_ts[i], out, out2), BAD,
                   needles[i]);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "outside [0, 1]"));
        for (int j = 0; j < 3; j++)
            ck_assert(out[j] == 7 && out2[j] == 7);
    }
    /* −0 is in [0, 1]. */
    double mz = -0.0;
    ck_assert_int_eq(simdiff_schedule_logsnr(s, 1, &mz, out), SIMDIFF_OK);
    ck_assert_double_eq_tol(out[0], 15 - 2 * log(2.0), 1e-12);

    double nan_l[2] = {1.0, NAN};
    out[0] = out[1] = 7;
    EXPECT_ERR(simdiff_schedule_t_from_logsnr(s, 2, nan_l, out), BAD,
               "logsnr[1] is NaN");
    ck_assert(out[0] == 7);
    EXPECT_ERR(simdiff_alpha_sigma_from_logsnr(2, nan_l, out, out2), BAD,
               "logsnr[1] is NaN");
    ck_assert(out[0] == 7 && out2[0] == 7);

    /* The handle keeps its last message; the thread's last error is the
     * most recent failure anywhere. */
    EXPECT_ERR(simdiff_schedule_logsnr(s, 3, bad_ts[0], out), BAD, "t[1]");
    ck_assert_ptr_nonnull(strstr(simdiff_schedule_errmsg(s), "t[1]"));
    simdiff_schedule *other;
    EXPECT_ERR(simdiff_schedule_create_shifted(&other, 0, 64), BAD, "image_d");
    ck_assert_ptr_nonnull(strstr(simdiff_schedule_errmsg(s), "t[1]"));
    simdiff_schedule_destroy(s);
}
END_TEST

/* Many threads share one schedule: same values everywhere, and each
 * thread's failure is its own (last error is per thread; the handle
 * message is written under a lock). */
typedef struct thread_job {
    const simdiff_schedule *s;
    int id;
    double sum;
    int ok;
} thread_job;

static void *thread_body(void *arg)
{
    thread_job *j = arg;
    j->ok = 1;
    for (int rep = 0; rep < 200; rep++) {
        double t[64], l[64], back[64];
        for (int i = 0; i < 64; i++)
            t[i] = i / 63.0;
        if (simdiff_schedule_logsnr(j->s, 64, t, l) != SIMDIFF_OK ||
            simdiff_schedule_t_from_logsnr(j->s, 64, l, back) != SIMDIFF_OK)
            j->ok = 0;
        if (rep == 0) {
            j->sum = 0;
            for (int i = 0; i < 64; i++)
                j->sum += l[i];
        }
        double bad = 2.0 + j->id;
        if (simdiff_schedule_logsnr(j->s, 1, &bad, l) != SIMDIFF_ERR_INVALID_ARG)
            j->ok = 0;
        char want[64];
        snprintf(want, sizeof want, "t[0] = %d", 2 + j->id);
        if (!strstr(simdiff_last_error(), want))
            j->ok = 0;
    }
    return NULL;
}

START_TEST(shared_between_threads)
{
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_interpolated(&s, 512, 256, 32),
                     SIMDIFF_OK);
    enum { NT = 6 };
    pthread_t th[NT];
    thread_job jobs[NT];
    for (int i = 0; i < NT; i++) {
        jobs[i] = (thread_job){s, i, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_body, &jobs[i]), 0);
    }
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++) {
        ck_assert_msg(jobs[i].ok, "thread %d saw a wrong result or message", i);
        ck_assert(jobs[i].sum == jobs[0].sum);
    }
    /* The handle holds one of the threads' messages, whole. */
    ck_assert_ptr_nonnull(strstr(simdiff_schedule_errmsg(s), "outside [0, 1]"));
    simdiff_schedule_destroy(s);
}
END_TEST

/* ---- text form ------------------------------------------------------------- */

static void expect_text(simdiff_schedule *s, const char *want)
{
    char buf[SIMDIFF_SCHEDULE_STRING_MAX];
    ck_assert_int_eq(simdiff_schedule_to_string(s, buf, sizeof buf), SIMDIFF_OK);
    ck_assert_str_eq(buf, want);
    simdiff_schedule_destroy(s);
}

START_TEST(canonical_text)
{
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, -15, 15), SIMDIFF_OK);
    expect_text(s, "cosine(-15,15)");
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, 0.1, 0.2), SIMDIFF_OK);
    expect_text(s, "cosine(0.1,0.2)");
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, -12.345678901234567, 1e-3),
                     SIMDIFF_OK);
    expect_text(s, "cosine(-12.345678901234567,0.001)");
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, 1e-20, 3), SIMDIFF_OK);
    expect_text(s, "cosine(1e-20,3)");
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, -1000, 999.5), SIMDIFF_OK);
    expect_text(s, "cosine(-1000,999.5)");
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 32, 64), SIMDIFF_OK);
    expect_text(s, "shifted(32,64)");
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 1048576, 1), SIMDIFF_OK);
    expect_text(s, "shifted(1048576,1)");
    ck_assert_int_eq(simdiff_schedule_create_interpolated(&s, 512, 256, 32),
                     SIMDIFF_OK);
    expect_text(s, "interpolated(512,256,32)");

    /* Buffer exactly large enough, one byte short, zero. */
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 32, 64), SIMDIFF_OK);
    char buf[15] = "xxxxxxxxxxxxxx";
    ck_assert_int_eq(simdiff_schedule_to_string(s, buf, 15), SIMDIFF_OK);
    ck_assert_str_eq(buf, "shifted(32,64)");
    memcpy(buf, "xxxxxxxxxxxxxx", 15);
    EXPECT_ERR(simdiff_schedule_to_string(s, buf, 14), SIMDIFF_ERR_INVALID_ARG,
               "15 needed");
    ck_assert_str_eq(buf, "");
    buf[0] = 'x';
    EXPECT_ERR(simdiff_schedule_to_string(s, buf, 0), SIMDIFF_ERR_INVALID_ARG,
               "too small");
    ck_assert_int_eq(buf[0], 'x');
    EXPECT_ERR(simdiff_schedule_to_string(s, NULL, 10), SIMDIFF_ERR_INVALID_ARG,
               "buf is NULL");
    EXPECT_ERR(simdiff_schedule_to_string(NULL, buf, 10), SIMDIFF_ERR_INVALID_ARG,
               "schedule is NULL");
    simdiff_schedule_destroy(s);
}
END_TEST

/* to_string → from_string gives the same schedule, bit for bit. */
static void round_trip(simdiff_schedule *s)
{
    char a[SIMDIFF_SCHEDULE_STRING_MAX], b[SIMDIFF_SCHEDULE_STRING_MAX];
    ck_assert_int_eq(simdiff_schedule_to_string(s, a, sizeof a), SIMDIFF_OK);
    simdiff_schedule *r;
    ck_assert_msg(simdiff_schedule_from_string(&r, a) == SIMDIFF_OK,
                  "\"%s\": %s", a, simdiff_last_error());
    ck_assert_int_eq(simdiff_schedule_to_string(r, b, sizeof b), SIMDIFF_OK);
    ck_assert_str_eq(a, b);
    double lo1, hi1, lo2, hi2;
    simdiff_schedule_get_cosine_range(s, &lo1, &hi1);
    simdiff_schedule_get_cosine_range(r, &lo2, &hi2);
    ck_assert_msg(lo1 == lo2 && hi1 == hi2, "\"%s\" read back as [%.17g, %.17g]",
                  a, lo2, hi2);
    for (int k = 0; k <= 8; k++)
        ck_assert(logsnr1(s, k / 8.0) == logsnr1(r, k / 8.0));
    simdiff_schedule_destroy(r);
    simdiff_schedule_destroy(s);
}

START_TEST(text_round_trip)
{
    simdiff_schedule *s;
    for (int k = 0; (s = make_nth(k)) != NULL; k++)
        round_trip(s);
    /* Random doubles need up to 17 digits. */
    uint64_t st = 42;
    for (int i = 0; i < 2000; i++) {
        double x = (uniform01(&st) * 2 - 1) * 1000, y = (uniform01(&st) * 2 - 1) * 1000;
        if (i % 3 == 0)
            x = ldexp(uniform01(&st), -(int)(splitmix64(&st) % 1000));
        if (fabs(x - y) < 1e-6)
            continue;
        ck_assert_int_eq(simdiff_schedule_create_cosine(&s, fmin(x, y), fmax(x, y)),
                         SIMDIFF_OK);
        round_trip(s);
    }
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, -0.0, 5), SIMDIFF_OK);
    round_trip(s);
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, -DBL_MIN / 4, 5), SIMDIFF_OK);
    round_trip(s);
}
END_TEST

START_TEST(parser_accepts)
{
    static const char *good[] = {
        "cosine(-15,15)", "cosine(-15.0,15.00)", "cosine(-1.5e1,1.5E+1)",
        "cosine(-1,2e-0)", "cosine(0,1)", "cosine(-0,1)", "shifted(512,64)",
        "shifted(1,1048576)", "interpolated(512,256,32)",
        "interpolated(512,32,256)"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        simdiff_schedule *s = NULL;
        ck_assert_msg(simdiff_schedule_from_string(&s, good[i]) == SIMDIFF_OK,
                      "\"%s\" rejected: %s", good[i], simdiff_last_error());
        simdiff_schedule_destroy(s);
    }
    simdiff_schedule *s, *ref;
    ck_assert_int_eq(simdiff_schedule_from_string(&s, "cosine(-1.5e1,1.5E+1)"),
                     SIMDIFF_OK);
    ck_assert_int_eq(simdiff_schedule_create_cosine(&ref, -15, 15), SIMDIFF_OK);
    ck_assert(logsnr1(s, 0.3) == logsnr1(ref, 0.3));
    expect_text(s, "cosine(-15,15)");
    simdiff_schedule_destroy(ref);
}
END_TEST

START_TEST(parser_rejects)
{
    const simdiff_status F = SIMDIFF_ERR_FORMAT, V = SIMDIFF_ERR_INVALID_ARG;
    static const struct {
        const char *text;
        simdiff_status st;
        const char *needle;
    } bad[] = {
        {"", F, "expected cosine(min,max)"},
        {"cosine", F, "expected '(', found the end"},
        {"cosine(", F, "offset 7: expected a decimal number"},
        {"cosine()", F, "offset 7"},
        {"cosine(-15)", F, "expected ','"},
        {"cosine(-15,15", F, "expected ')', found the end"},
        {"cosine(-15,15))", F, "after the closing ')'"},
        {"cosine(-15,15) ", F, "after the closing ')'"},
        {"cosine(-15,15)\n", F, "after the closing ')'"},
        {" cosine(-15,15)", F, "offset 0"},
        {"cosine (-15,15)", F, "found ' '"},
        {"cosine( -15,15)", F, "offset 7"},
        {"cosine(-15, 15)", F, "offset 11"},
        {"Cosine(-15,15)", F, "expected cosine(min,max)"},
        {"COSINE(-15,15)", F, "offset 0"},
        {"cos(-15,15)", F, "offset 0"},
        {"cosines(-15,15)", F, "offset 0"},
        {"linear(0,1)", F, "offset 0"},
        {"cosine(+15,16)", F, "decimal number"},
        {"cosine(inf,15)", F, "decimal number"},
        {"cosine(-15,nan)", F, "decimal number"},
        {"cosine(-inf,15)", F, "decimal number"},
        {"cosine(0x10,20)", F, "expected ','"},
        {"cosine(-15.,15)", F, "digits after the decimal point"},
        {"cosine(.5,15)", F, "decimal number"},
        {"cosine(-15,15e)", F, "exponent"},
        {"cosine(-15,15e+)", F, "exponent"},
        {"cosine(-15,1,5)", F, "cosine takes 2 arguments"},
        {"cosine(-15;15)", F, "found ';'"},
        {"cosine(--15,15)", F, "decimal number"},
        {"shifted(64)", F, "expected ','"},
        {"shifted(64,064)", F, "offset 11: integers are written without leading zeros"},
        {"shifted(-64,64)", F, "no sign"},
        {"shifted(+64,64)", F, "no sign"},
        {"shifted(64,64.0)", F, "expected ')', found '.'"},
        {"shifted(64,1e2)", F, "found 'e'"},
        {"shifted(64,64,64)", F, "shifted takes 2 arguments"},
        {"interpolated(512,256)", F, "expected ','"},
        {"interpolated(512,256,32,16)", F, "interpolated takes 3 arguments"},
        {"cosine(15,-15)", V, "must be <"},
        {"cosine(15,15)", V, "must be <"},
        {"cosine(-1001,15)", V, "[-1000, 1000]"},
        {"cosine(1e400,2e400)", V, "out of range"},
        {"shifted(0,64)", V, "image_d = 0"},
        {"shifted(64,0)", V, "base_d = 0"},
        {"shifted(2000000,64)", V, "larger than 1048576"},
        {"shifted(99999999999999999999999,64)", V, "larger than 1048576"},
        {"interpolated(512,32,1024)", V, "decreasing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        simdiff_schedule *s = (simdiff_schedule *)1;
        simdiff_status st = simdiff_schedule_from_string(&s, bad[i].text);
        ck_assert_msg(st == bad[i].st, "\"%s\": status %d (%s), want %d",
                      bad[i].text, st, simdiff_last_error(), bad[i].st);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(simdiff_last_error(), bad[i].needle) != NULL,
                      "\"%s\": message \"%s\" lacks \"%s\"", bad[i].text,
                      simdiff_last_error(), bad[i].needle);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(),
                                     "simdiff_schedule_from_string"));
    }
    simdiff_schedule *s = (simdiff_schedule *)1;
    EXPECT_ERR(simdiff_schedule_from_string(&s, NULL), SIMDIFF_ERR_INVALID_ARG,
               "str is NULL");
    ck_assert_ptr_null(s);
    EXPECT_ERR(simdiff_schedule_from_string(NULL, "cosine(-15,15)"),
               SIMDIFF_ERR_INVALID_ARG, "out is NULL");
    /* A long text is quoted shortened. */
    char longtxt[400];
    memset(longtxt, 'a', sizeof longtxt - 1);
    longtxt[sizeof longtxt - 1] = '\0';
    EXPECT_ERR(simdiff_schedule_from_string(&s, longtxt), SIMDIFF_ERR_FORMAT,
               "...\" at offset 0");
}
END_TEST

/* Numbers keep '.' whatever LC_NUMERIC the host program chose. Needs a
 * comma-decimal locale on the machine; reported as skipped without one. */
START_TEST(text_ignores_locale)
{
    static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                  "fr_FR.utf8", "de_DE", "fr_FR"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (!got || strcmp(localeconv()->decimal_point, ",") != 0) {
        setlocale(LC_NUMERIC, "C");
        SDTEST_SKIP("no comma-decimal locale (de_DE, fr_FR) is installed");
    }
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_cosine(&s, -12.5, 0.25), SIMDIFF_OK);
    char buf[SIMDIFF_SCHEDULE_STRING_MAX];
    ck_assert_int_eq(simdiff_schedule_to_string(s, buf, sizeof buf), SIMDIFF_OK);
    ck_assert_str_eq(buf, "cosine(-12.5,0.25)");
    simdiff_schedule_destroy(s);
    ck_assert_int_eq(simdiff_schedule_from_string(&s, "cosine(-12.5,0.25)"),
                     SIMDIFF_OK);
    double lo, hi;
    simdiff_schedule_get_cosine_range(s, &lo, &hi);
    ck_assert(lo == -12.5 && hi == 0.25);
    simdiff_schedule_destroy(s);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

/* ---- parametrization helpers ------------------------------------------------ */

/* Two examples of three values; α, σ = (0.6, 0.8) and (0.8, 0.6). */
START_TEST(params_hand_values)
{
    const double al[2] = {0.6, 0.8}, sg[2] = {0.8, 0.6};
    const float x[6] = {1, -1, 0.5f, 2, 0, -0.25f};
    const float e[6] = {2, 1, -1, 0.5f, -2, 4};
    float z[6], v[6], xh[6], eh[6];
    ck_assert_int_eq(simdiff_x_eps_to_z(2, 3, x, e, al, sg, z), SIMDIFF_OK);
    /* z = αx + σε, worked by hand. */
    const float z_want[6] = {0.6f + 1.6f, -0.6f + 0.8f, 0.3f - 0.8f,
                             1.6f + 0.3f, 0 - 1.2f, -0.2f + 2.4f};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(z[i], z_want[i], 1e-6);
    ck_assert_int_eq(simdiff_x_eps_to_v(2, 3, x, e, al, sg, v), SIMDIFF_OK);
    /* v = αε − σx. */
    const float v_want[6] = {1.2f - 0.8f, 0.6f + 0.8f, -0.6f - 0.4f,
                             0.4f - 1.2f, -1.6f - 0, 3.2f + 0.15f};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(v[i], v_want[i], 1e-6);
    /* From (z, v) back to x and ε: x = αz − σv, ε = σz + αv. */
    ck_assert_int_eq(simdiff_v_to_x_eps(2, 3, z, v, al, sg, xh, eh), SIMDIFF_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq_tol(xh[i], x[i], 1e-6);
        ck_assert_float_eq_tol(eh[i], e[i], 1e-6);
    }
    /* x from ε, ε from x. */
    ck_assert_int_eq(simdiff_eps_to_x(2, 3, z, e, al, sg, xh), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_x_to_eps(2, 3, z, x, al, sg, eh), SIMDIFF_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq_tol(xh[i], x[i], 1e-6);
        ck_assert_float_eq_tol(eh[i], e[i], 1e-6);
    }
    /* A single value worked fully: z = 3, ε = 1, α = 0.6, σ = 0.8:
     * x = (3 − 0.8)/0.6 = 11/3. */
    const float z1 = 3, e1 = 1;
    float x1;
    ck_assert_int_eq(simdiff_eps_to_x(1, 1, &z1, &e1, al, sg, &x1), SIMDIFF_OK);
    ck_assert_float_eq_tol(x1, 11.0f / 3.0f, 1e-6);
    /* One output only. */
    float only_x[6], only_e[6];
    ck_assert_int_eq(simdiff_v_to_x_eps(2, 3, z, v, al, sg, only_x, NULL),
                     SIMDIFF_OK);
    ck_assert_int_eq(simdiff_v_to_x_eps(2, 3, z, v, al, sg, NULL, only_e),
                     SIMDIFF_OK);
    ck_assert_int_eq(simdiff_v_to_x_eps(2, 3, z, v, al, sg, xh, eh), SIMDIFF_OK);
    ck_assert_mem_eq(only_x, xh, sizeof xh);
    ck_assert_mem_eq(only_e, eh, sizeof eh);
}
END_TEST

/* With α, σ from a schedule and random x, ε: every conversion inverts the
 * others, in place too, at sizes that use several threads. */
START_TEST(params_identities)
{
    enum { N = 37, P = 3 * 41 * 43 }; /* P not a multiple of the chunking */
    size_t total = (size_t)N * P;
    float *x = malloc(total * 4), *e = malloc(total * 4), *z = malloc(total * 4);
    float *v = malloc(total * 4), *a1 = malloc(total * 4), *a2 = malloc(total * 4);
    ck_assert(x && e && z && v && a1 && a2);
    uint64_t st = 7;
    normals(&st, total, e);
    for (size_t i = 0; i < total; i++)
        x[i] = (float)(2 * uniform01(&st) - 1);
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 128, 64), SIMDIFF_OK);
    double t[N], al[N], sg[N];
    for (int i = 0; i < N; i++)
        t[i] = 0.02 + 0.96 * i / (N - 1);
    ck_assert_int_eq(simdiff_schedule_alpha_sigma(s, N, t, al, sg), SIMDIFF_OK);

    ck_assert_int_eq(simdiff_x_eps_to_z(N, P, x, e, al, sg, z), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_x_eps_to_v(N, P, x, e, al, sg, v), SIMDIFF_OK);
    for (size_t k = 0; k < total; k += 997) { /* spot checks in double */
        size_t i = k / P;
        ck_assert_float_eq_tol(z[k], al[i] * x[k] + sg[i] * e[k], 1e-6);
        ck_assert_float_eq_tol(v[k], al[i] * e[k] - sg[i] * x[k], 1e-6);
    }
    ck_assert_int_eq(simdiff_v_to_x_eps(N, P, z, v, al, sg, a1, a2), SIMDIFF_OK);
    ck_assert_double_le(sdtest_max_rel_err(a1, x, total, 1.0), 2e-6);
    ck_assert_double_le(sdtest_max_rel_err(a2, e, total, 1.0), 2e-6);
    /* ε → x divides by α, x → ε by σ: float rounding of z (~6e-8·|z|) is
     * amplified by 1/α resp. 1/σ, both <= 1/min(α, σ) here. */
    double amin = 1;
    for (int i = 0; i < N; i++)
        amin = fmin(amin, fmin(al[i], sg[i]));
    ck_assert_int_eq(simdiff_eps_to_x(N, P, z, e, al, sg, a1), SIMDIFF_OK);
    ck_assert_double_le(sdtest_max_rel_err(a1, x, total, 1.0), 5e-7 / amin);
    ck_assert_int_eq(simdiff_x_to_eps(N, P, z, x, al, sg, a2), SIMDIFF_OK);
    ck_assert_double_le(sdtest_max_rel_err(a2, e, total, 1.0), 5e-7 / amin);

    /* In place: x̂ over z and ε̂ over v give the same as separate outputs. */
    ck_assert_int_eq(simdiff_v_to_x_eps(N, P, z, v, al, sg, a1, a2), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_v_to_x_eps(N, P, z, v, al, sg, z, v), SIMDIFF_OK);
    ck_assert_mem_eq(z, a1, total * 4);
    ck_assert_mem_eq(v, a2, total * 4);

    /* Independent of the thread count. */
    ck_assert_int_eq(simdiff_set_num_threads(1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_x_eps_to_z(N, P, x, e, al, sg, a1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_set_num_threads(3), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_x_eps_to_z(N, P, x, e, al, sg, a2), SIMDIFF_OK);
    ck_assert_mem_eq(a1, a2, total * 4);
    ck_assert_int_eq(simdiff_set_num_threads(0), SIMDIFF_OK);

    simdiff_schedule_destroy(s);
    free(x);
    free(e);
    free(z);
    free(v);
    free(a1);
    free(a2);
}
END_TEST

START_TEST(params_errors)
{
    const simdiff_status BAD = SIMDIFF_ERR_INVALID_ARG;
    double al[2] = {0.6, 0.8}, sg[2] = {0.8, 0.6};
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, out[4] = {9, 9, 9, 9};
    /* n = 0: no-op, NULLs fine. */
    ck_assert_int_eq(simdiff_x_eps_to_z(0, 5, NULL, NULL, NULL, NULL, NULL),
                     SIMDIFF_OK);
    ck_assert_int_eq(simdiff_v_to_x_eps(0, 0, NULL, NULL, NULL, NULL, NULL, NULL),
                     SIMDIFF_OK);
    EXPECT_ERR(simdiff_x_eps_to_z(2, 0, a, b, al, sg, out), BAD, "per_example = 0");
    EXPECT_ERR(simdiff_x_eps_to_v(SIZE_MAX / 2, 3, a, b, al, sg, out), BAD,
               "overflows");
    EXPECT_ERR(simdiff_x_eps_to_z(2, 2, NULL, b, al, sg, out), BAD, "x is NULL");
    EXPECT_ERR(simdiff_x_eps_to_z(2, 2, a, NULL, al, sg, out), BAD, "eps is NULL");
    EXPECT_ERR(simdiff_x_eps_to_z(2, 2, a, b, NULL, sg, out), BAD,
               "alpha is NULL");
    EXPECT_ERR(simdiff_x_eps_to_z(2, 2, a, b, al, NULL, out), BAD,
               "sigma is NULL");
    EXPECT_ERR(simdiff_x_eps_to_z(2, 2, a, b, al, sg, NULL), BAD,
               "output array is NULL");
    EXPECT_ERR(simdiff_v_to_x_eps(2, 2, a, b, al, sg, NULL, NULL), BAD,
               "output array is NULL");
    EXPECT_ERR(simdiff_v_to_x_eps(2, 2, NULL, b, al, sg, out, NULL), BAD,
               "z is NULL");
    EXPECT_ERR(simdiff_eps_to_x(2, 2, a, NULL, al, sg, out), BAD, "eps is NULL");
    EXPECT_ERR(simdiff_x_to_eps(2, 2, a, NULL, al, sg, out), BAD, "x is NULL");
    double nan_al[2] = {0.6, NAN}, zero[2] = {0.5, 0.0}, inf_sg[2] = {INFINITY, 1};
    EXPECT_ERR(simdiff_x_eps_to_z(2, 2, a, b, nan_al, sg, out), BAD,
               "alpha[1] = nan");
    EXPECT_ERR(simdiff_x_eps_to_v(2, 2, a, b, al, inf_sg, out), BAD,
               "sigma[0] = inf");
    EXPECT_ERR(simdiff_eps_to_x(2, 2, a, b, zero, sg, out), BAD,
               "alpha[1] = 0, expected > 0");
    EXPECT_ERR(simdiff_x_to_eps(2, 2, a, b, al, zero, out), BAD,
               "sigma[1] = 0, expected > 0");
    for (int i = 0; i < 4; i++)
        ck_assert(out[i] == 9); /* nothing written on failure */
    /* Zero α is fine where nothing divides by it. */
    ck_assert_int_eq(simdiff_x_eps_to_z(2, 2, a, b, zero, sg, out), SIMDIFF_OK);
    ck_assert_float_eq_tol(out[0], 4.5f, 1e-6);
}
END_TEST

/* ---- why shifting: SNR under average pooling ------------------------------------ */

/*
 * A d×d image x that is constant over s×s blocks (a smooth low-frequency
 * pattern), noised with the shifted schedule shifted(d, 64):
 *     z = α·x + σ·ε,  ε iid N(0, 1)   (via simdiff_x_eps_to_z).
 * Average pooling by s keeps the signal (x is constant on the blocks) and
 * averages s² independent noise values, dividing the noise variance by s².
 * So the log-SNR measured on the pooled (d/s)×(d/s) image is λ(t) + 2·log s:
 * with d/s = 64 that is exactly the unshifted 64×64 cosine schedule
 * shifted(64, 64)(t). That is the paper's reason for shifting.
 *
 * Measurement: λ̂_r = log(α² · P_r / mean_r((D_r z − α·D_r x)²)) − log P,
 * P_r = mean_r((D_r x)²), P the full-resolution signal power (P_r = P here),
 * so λ̂ = λ_r − log(Q_r), Q_r = mean of M_r squared N(0, 1) values (the
 * normalized noise) at that resolution.
 *
 * Tolerance: Q_r has mean 1 and standard deviation sqrt(2/M_r) (a χ²_M/M),
 * and for |Q − 1| <= 0.05 |log Q| <= 1.06·|Q − 1|; we allow 6 standard
 * deviations (two-sided probability ~2e-9 per check under the normal
 * approximation) plus 1e-4 for float rounding of z:
 *     tol_r = 6·1.06·sqrt(2/M_r) + 1e-4.
 * The ratio SNR_pooled/SNR_full = s² is checked with tol_full + tol_pooled.
 * With 16 images per t, M_pooled = 16·64² = 65536: tol ≈ 0.035, against
 * 2·log 2 = 1.386 and 2·log 4 = 2.773 (a factor s instead of s² would be off
 * by 0.69 resp. 1.39).
 */
static void pooling_case(int d, int s)
{
    enum { M = 16, NT = 3 };
    const double ts[NT] = {0.3, 0.5, 0.7};
    const size_t per = (size_t)d * d, n = (size_t)M * NT;
    float *x = malloc(n * per * 4), *e = malloc(n * per * 4), *z = malloc(n * per * 4);
    ck_assert(x && e && z);
    uint64_t st = 0x5eed0000u + (uint64_t)d;
    normals(&st, n * per, e);
    const int db = d / s; /* blocks per side = pooled resolution */
    ck_assert_int_eq(db, 64);
    for (size_t ex = 0; ex < n; ex++) {
        double ph1 = 2 * M_PI * uniform01(&st), ph2 = 2 * M_PI * uniform01(&st);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                double I = (i / s + 0.5) / db, J = (j / s + 0.5) / db;
                x[ex * per + (size_t)i * d + j] =
                    (float)(0.8 * sin(2 * M_PI * I + ph1) * cos(4 * M_PI * J + ph2));
            }
    }
    simdiff_schedule *sched, *base;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&sched, d, 64), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_schedule_create_shifted(&base, 64, 64), SIMDIFF_OK);
    double t[M * NT], al[M * NT], sg[M * NT];
    for (size_t ex = 0; ex < n; ex++)
        t[ex] = ts[ex / M];
    ck_assert_int_eq(simdiff_schedule_alpha_sigma(sched, n, t, al, sg), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_x_eps_to_z(n, per, x, e, al, sg, z), SIMDIFF_OK);

    const double m_full = (double)M * per, m_pool = (double)M * db * db;
    const double tol_full = 6 * 1.06 * sqrt(2 / m_full) + 1e-4;
    const double tol_pool = 6 * 1.06 * sqrt(2 / m_pool) + 1e-4;
    for (int k = 0; k < NT; k++) {
        double p_full = 0, p_pool = 0, n_full = 0, n_pool = 0;
        double a = al[k * M];
        for (size_t ex = (size_t)k * M; ex < (size_t)(k + 1) * M; ex++) {
            const float *xe = x + ex * per, *ze = z + ex * per;
            for (size_t q = 0; q < per; q++) {
                double r = ze[q] - a * xe[q];
                p_full += (double)xe[q] * xe[q];
                n_full += r * r;
            }
            for (int bi = 0; bi < db; bi++)
                for (int bj = 0; bj < db; bj++) {
                    double zs = 0, xs = 0;
                    for (int u = 0; u < s; u++)
                        for (int w = 0; w < s; w++) {
                            size_t q = (size_t)(bi * s + u) * d + (size_t)(bj * s + w);
                            zs += ze[q];
                            xs += xe[q];
                        }
                    zs /= s * s;
                    xs /= s * s;
                    double r = zs - a * xs;
                    p_pool += xs * xs;
                    n_pool += r * r;
                }
        }
        p_full /= m_full;
        p_pool /= m_pool;
        n_full /= m_full;
        n_pool /= m_pool;
        /* Blockwise-constant x: pooling keeps the signal power exactly. */
        ck_assert_double_eq_tol(p_pool, p_full, 1e-6 * p_full);
        double lam_full = log(a * a * p_full / n_full) - log(p_full);
        double lam_pool = log(a * a * p_pool / n_pool) - log(p_full);
        double want_full = logsnr1(sched, ts[k]);
        double want_pool = logsnr1(base, ts[k]);
        ck_assert_msg(fabs(lam_full - want_full) <= tol_full,
                      "d=%d t=%g: measured log-SNR %.4f, schedule %.4f (tol %.4f)",
                      d, ts[k], lam_full, want_full, tol_full);
        ck_assert_msg(fabs(lam_pool - want_pool) <= tol_pool,
                      "d=%d pooled by %d, t=%g: measured log-SNR %.4f, 64x64 "
                      "cosine %.4f (tol %.4f)",
                      d, s, ts[k], lam_pool, want_pool, tol_pool);
        ck_assert_msg(fabs((lam_pool - lam_full) - 2 * log((double)s)) <=
                          tol_full + tol_pool,
                      "d=%d s=%d t=%g: SNR ratio e^%.4f, want s^2 = e^%.4f", d, s,
                      ts[k], lam_pool - lam_full, 2 * log((double)s));
    }
    simdiff_schedule_destroy(sched);
    simdiff_schedule_destroy(base);
    free(x);
    free(e);
    free(z);
}

START_TEST(pooling_2x2_multiplies_snr_by_4) { pooling_case(128, 2); }
END_TEST

START_TEST(pooling_4x4_multiplies_snr_by_16) { pooling_case(256, 4); }
END_TEST

/* ---------------------------------------------------------------------------- */

static Suite *schedule_suite(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, reference_values);
    tcase_add_test(tc, reference_inverses);
    tcase_add_test(tc, tails_from_logsnr);
    tcase_add_test(tc, wide_cosine_is_cos);
    tcase_add_test(tc, inverse_round_trip);
    tcase_add_test(tc, strictly_decreasing_and_unit_norm);
    tcase_add_test(tc, shift_is_two_log_ratio);
    tcase_add_test(tc, interpolated_ends_and_blend);
    tcase_add_test(tc, interpolated_must_decrease);
    tcase_add_test(tc, getters_and_describe);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, creation_errors);
    tcase_add_test(tc, evaluation_errors);
    tcase_add_test(tc, shared_between_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("text");
    tcase_add_test(tc, canonical_text);
    tcase_add_test(tc, text_round_trip);
    tcase_add_test(tc, parser_accepts);
    tcase_add_test(tc, parser_rejects);
    tcase_add_test(tc, text_ignores_locale);
    suite_add_tcase(s, tc);

    tc = tcase_create("params");
    tcase_add_test(tc, params_hand_values);
    tcase_add_test(tc, params_identities);
    tcase_add_test(tc, params_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("pooling");
    tcase_add_test(tc, pooling_2x2_multiplies_snr_by_4);
    tcase_add_test(tc, pooling_4x4_multiplies_snr_by_16);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(schedule_suite)
