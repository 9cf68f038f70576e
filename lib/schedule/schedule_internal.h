/*
 * Noise schedules for the other areas (trainer, sampler): scalar versions of
 * the public batch calls, without argument checks. Not installed, not API.
 *
 * Preconditions (the caller's job; nothing is checked): s is a valid
 * schedule, t ∈ [0, 1], logsnr is not NaN.
 */
#ifndef SIMDIFF_LIB_SCHEDULE_INTERNAL_H
#define SIMDIFF_LIB_SCHEDULE_INTERNAL_H

#include <math.h>

#include "simdiff/schedule.h"

/* λ(t). */
double sd_schedule_logsnr1(const simdiff_schedule *s, double t);
/* dλ/dt at t (always < 0; large in magnitude near t = 0 and t = 1). */
double sd_schedule_dlogsnr_dt1(const simdiff_schedule *s, double t);
/* α(t), σ(t). */
void sd_schedule_alpha_sigma1(const simdiff_schedule *s, double t,
                              double *alpha, double *sigma);
/* The inverse of λ(t), clamped to [0, 1] (±inf allowed). */
double sd_schedule_t_from_logsnr1(const simdiff_schedule *s, double logsnr);

/* softplus(x) = log(1 + e^x), without overflow (x = ±inf allowed). */
static inline double sd_softplus(double x)
{
    return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

/* sigmoid(x) = 1 / (1 + e^−x), without overflow or 0/0. */
static inline double sd_sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* α = sqrt(sigmoid(λ)) = exp(−softplus(−λ)/2), σ = sqrt(sigmoid(−λ)) =
 * exp(−softplus(λ)/2): each accurate to a few ulp at both tails (no
 * 1 − tiny cancellation); λ = ±inf gives (1, 0) / (0, 1). */
static inline void sd_alpha_sigma_from_logsnr(double lambda, double *alpha,
                                              double *sigma)
{
    *alpha = exp(-0.5 * sd_softplus(-lambda));
    *sigma = exp(-0.5 * sd_softplus(lambda));
}

#endif
