/*
 * The internal schedule helpers other areas use (lib/schedule/
 * schedule_internal.h): the scalar calls agree with the public batch calls
 * bit for bit, dλ/dt agrees with finite differences, and the stable
 * sigmoid / softplus match the naive formulas where those are accurate and
 * stay finite where those overflow.
 */
#include <float.h>
#include <math.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

#include "schedule/schedule_internal.h"

static simdiff_schedule *make(int i)
{
    simdiff_schedule *s = NULL;
    switch (i) {
    case 0: simdiff_schedule_create_cosine(&s, -15, 15); break;
    case 1: simdiff_schedule_create_cosine(&s, -20, 10); break;
    case 2: simdiff_schedule_create_cosine(&s, 30, 40); break;
    case 3: simdiff_schedule_create_shifted(&s, 256, 64); break;
    case 4: simdiff_schedule_create_interpolated(&s, 512, 256, 32); break;
    case 5: simdiff_schedule_create_interpolated(&s, 512, 32, 256); break;
    default: return NULL;
    }
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(scalar_matches_public)
{
    simdiff_schedule *s;
    for (int k = 0; (s = make(k)) != NULL; k++) {
        for (int i = 0; i <= 64; i++) {
            double t = i / 64.0, l, a, sg, tb;
            ck_assert_int_eq(simdiff_schedule_logsnr(s, 1, &t, &l), SIMDIFF_OK);
            ck_assert(sd_schedule_logsnr1(s, t) == l);
            ck_assert_int_eq(simdiff_schedule_alpha_sigma(s, 1, &t, &a, &sg),
                             SIMDIFF_OK);
            double a1, s1;
            sd_schedule_alpha_sigma1(s, t, &a1, &s1);
            ck_assert(a1 == a && s1 == sg);
            sd_alpha_sigma_from_logsnr(l, &a1, &s1);
            ck_assert(a1 == a && s1 == sg);
            ck_assert_int_eq(simdiff_schedule_t_from_logsnr(s, 1, &l, &tb),
                             SIMDIFF_OK);
            ck_assert(sd_schedule_t_from_logsnr1(s, l) == tb);
        }
        simdiff_schedule_destroy(s);
    }
}
END_TEST

/* Central differences: error ~ h²·|λ'''|/6 + eps·|λ|/h; with h = 1e-5 at
 * t in [0.05, 0.95] both are far below the 1e-6 relative tolerance. */
START_TEST(derivative_matches_finite_differences)
{
    simdiff_schedule *s;
    for (int k = 0; (s = make(k)) != NULL; k++) {
        for (int i = 0; i <= 90; i++) {
            double t = 0.05 + 0.01 * i, h = 1e-5;
            double fd = (sd_schedule_logsnr1(s, t + h) -
                         sd_schedule_logsnr1(s, t - h)) / (2 * h);
            double d = sd_schedule_dlogsnr_dt1(s, t);
            ck_assert_msg(d < 0, "schedule %d: dlogsnr/dt(%g) = %g", k, t, d);
            ck_assert_msg(fabs(d - fd) <= 1e-6 * fabs(fd),
                          "schedule %d t = %g: derivative %.12g, finite "
                          "difference %.12g",
                          k, t, d, fd);
        }
        simdiff_schedule_destroy(s);
    }
}
END_TEST

START_TEST(sigmoid_softplus)
{
    for (int i = -300; i <= 300; i++) {
        double x = i / 10.0;
        ck_assert_double_eq_tol(sd_sigmoid(x), 1.0 / (1.0 + exp(-x)), 1e-15);
        ck_assert_double_eq_tol(sd_softplus(x), log(1.0 + exp(x)),
                                1e-14 * fmax(1, fabs(x)));
        ck_assert_double_eq_tol(sd_sigmoid(x) + sd_sigmoid(-x), 1.0, 1e-15);
    }
    /* Tails: exact limits, relative accuracy where the value is tiny. */
    ck_assert(sd_sigmoid(800) == 1.0 && sd_sigmoid(-800) == 0.0);
    ck_assert(sd_sigmoid(INFINITY) == 1.0 && sd_sigmoid(-INFINITY) == 0.0);
    ck_assert(fabs(sd_sigmoid(-40) / exp(-40) - 1) < 1e-15);
    ck_assert(sd_softplus(1000) == 1000 && sd_softplus(-1000) == 0.0);
    ck_assert(fabs(sd_softplus(-40) / exp(-40) - 1) < 1e-15);
    ck_assert(sd_softplus(INFINITY) == INFINITY && sd_softplus(-INFINITY) == 0);
}
END_TEST

static Suite *schedule_internal_suite(void)
{
    Suite *s = suite_create("schedule-internal");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, scalar_matches_public);
    tcase_add_test(tc, derivative_matches_finite_differences);
    tcase_add_test(tc, sigmoid_softplus);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(schedule_internal_suite)
