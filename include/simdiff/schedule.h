/*
 * libsimdiff — noise schedules and the v / ε / x parametrization helpers.
 *
 * The diffusion process is variance preserving in continuous time
 * t ∈ [0, 1]:
 *
 *     z_t = α_t·x + σ_t·ε,   ε ~ N(0, I),
 *     λ(t) = log SNR(t) = log(α_t² / σ_t²),
 *     α_t² = sigmoid(λ),  σ_t² = sigmoid(−λ)      (so α² + σ² = 1).
 *
 * t = 0 is (almost) clean data, t = 1 (almost) pure noise; every schedule
 * here is strictly decreasing in t. A schedule is an immutable handle: after
 * creation no call changes it, so one schedule may be shared by any number
 * of threads (see simdiff_schedule_errmsg() for the one caveat).
 *
 * The three kinds (Hoogeboom, Heek & Salimans 2023, "simple diffusion"):
 *
 *  - cosine(λ_min, λ_max):
 *        λ(t) = −2·log(tan(t_min + t·(t_max − t_min))),
 *        t_min = atan(exp(−λ_max/2)),  t_max = atan(exp(−λ_min/2)),
 *    so λ(0) = λ_max and λ(1) = λ_min. Unclipped (λ_max → ∞, λ_min → −∞) it
 *    is α = cos(πt/2).
 *
 *  - shifted(image_d, base_d): cosine(−15, 15) + 2·log(base_d / image_d).
 *    A schedule tuned for base_d×base_d images, moved to image_d×image_d
 *    images: s×s average pooling multiplies the SNR of iid noise by s², so
 *    a larger image needs more noise (a negative shift) for its low
 *    frequencies to see the same schedule.
 *
 *  - interpolated(image_d, noise_d_at_t0, noise_d_at_t1):
 *        λ(t) = (1 − t)·shifted(image_d, noise_d_at_t0)(t)
 *             +      t ·shifted(image_d, noise_d_at_t1)(t).
 *    noise_d_at_t1 dominates near pure noise (t = 1), noise_d_at_t0 near
 *    data (t = 0). The paper's appendix code is, at 512×512,
 *    interpolated(512, 256, 32); the equation as printed in the paper,
 *    λ = t·λ_shift256 + (1 − t)·λ_shift32, is interpolated(512, 32, 256).
 *    See docs/schedules.md.
 *
 * Textual form (simdiff_schedule_to_string / _from_string), used to store a
 * schedule inside model and checkpoint files:
 *     "cosine(-15,15)"   "shifted(128,64)"   "interpolated(512,256,32)"
 *
 * Arrays: every batch function takes a count n and arrays of n doubles;
 * n = 0 is a no-op and then the array pointers may be NULL. Inputs are
 * checked before anything is written: on failure no output is modified.
 */
#ifndef SIMDIFF_SCHEDULE_H
#define SIMDIFF_SCHEDULE_H

#include <stddef.h>

#include "simdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct simdiff_schedule simdiff_schedule;

/* The kind of a schedule (append-only; numbers never change). */
typedef enum simdiff_schedule_kind {
    SIMDIFF_SCHEDULE_COSINE = 0,
    SIMDIFF_SCHEDULE_SHIFTED = 1,
    SIMDIFF_SCHEDULE_INTERPOLATED = 2
} simdiff_schedule_kind;

/* Names: simdiff_schedule_kind_name gives "cosine", "shifted" or
 * "interpolated" (the words of the text form, simdiff_schedule_to_string)
 * (NULL for a value without a name). The _from_name calls take these
 * names (and the aliases listed) in any case, with '-', '_' and spaces
 * ignored and '+' read as 'p'; an unknown or NULL name is
 * SIMDIFF_ERR_INVALID_ARG with a message listing the known names, *out
 * untouched. */
SIMDIFF_API const char *simdiff_schedule_kind_name(simdiff_schedule_kind kind);
SIMDIFF_API simdiff_status simdiff_schedule_kind_from_name(const char *name,
                                                           simdiff_schedule_kind *out);

/* Largest |λ_min|, |λ_max| accepted by simdiff_schedule_create_cosine()
 * (beyond it exp(−|λ|/2) underflows and λ(0) or λ(1) would be infinite). */
#define SIMDIFF_SCHEDULE_LOGSNR_LIMIT 1000.0
/* Smallest logsnr_max − logsnr_min accepted (narrower clipping cannot be
 * resolved in double precision: t would no longer be determined by λ). */
#define SIMDIFF_SCHEDULE_LOGSNR_MIN_SPAN 1e-6
/* Largest image_d / base_d / noise_d accepted by the constructors. */
#define SIMDIFF_SCHEDULE_MAX_D 1048576
/* Buffer sizes always large enough for simdiff_schedule_to_string() and
 * simdiff_schedule_describe() (terminating NUL included). */
#define SIMDIFF_SCHEDULE_STRING_MAX 128
#define SIMDIFF_SCHEDULE_DESCRIBE_MAX 512

/* ---- creation ------------------------------------------------------------ */

/* Cosine schedule clipped to [logsnr_min, logsnr_max] (the paper's default
 * is cosine(−15, 15)). Both finite, logsnr_min < logsnr_max with
 * logsnr_max − logsnr_min >= SIMDIFF_SCHEDULE_LOGSNR_MIN_SPAN, and
 * |each| <= SIMDIFF_SCHEDULE_LOGSNR_LIMIT; otherwise SIMDIFF_ERR_INVALID_ARG.
 * The range need not contain 0. On failure *out is NULL. */
SIMDIFF_API simdiff_status simdiff_schedule_create_cosine(
    simdiff_schedule **out, double logsnr_min, double logsnr_max);

/* Shifted cosine: cosine(−15, 15) + 2·log(base_d / image_d), for
 * image_d×image_d images with a schedule tuned at base_d×base_d (the
 * paper uses base_d = 64). Sizes must be in 1..SIMDIFF_SCHEDULE_MAX_D.
 * image_d == base_d gives cosine(−15, 15) (kind SHIFTED still). */
SIMDIFF_API simdiff_status simdiff_schedule_create_shifted(
    simdiff_schedule **out, int image_d, int base_d);

/* Interpolated shifted cosine:
 *   λ(t) = (1 − t)·shifted(image_d, noise_d_at_t0)(t)
 *        +      t ·shifted(image_d, noise_d_at_t1)(t).
 * Sizes in 1..SIMDIFF_SCHEDULE_MAX_D. The blend adds a term linear in t to
 * the cosine, whose slope is at most −4·(π/2 − 2·atan(e^−7.5)) ≈ −6.28; the
 * schedule must stay strictly decreasing, so noise_d_at_t1 / noise_d_at_t0
 * must be below exp(2·(π/2 − 2·atan(e^−7.5))) ≈ 23.1 (SIMDIFF_ERR_INVALID_ARG
 * otherwise). The usual direction, noise_d_at_t1 < noise_d_at_t0, is always
 * fine. The paper's appendix preset at 512×512 is (512, 256, 32). */
SIMDIFF_API simdiff_status simdiff_schedule_create_interpolated(
    simdiff_schedule **out, int image_d, int noise_d_at_t0, int noise_d_at_t1);

/* A new, independent copy of s (same kind and parameters). */
SIMDIFF_API simdiff_status simdiff_schedule_clone(simdiff_schedule **out,
                                                  const simdiff_schedule *s);

/* Frees s. NULL is a no-op. */
SIMDIFF_API void simdiff_schedule_destroy(simdiff_schedule *s);

/* The message of the last failed call that was given this schedule ("" if
 * none, or if s is NULL). Calls on one schedule from several threads at
 * once each record their own failure safely, but which message is then
 * read here is unspecified: under concurrent use prefer
 * simdiff_last_error(), which is per thread. Never NULL; valid until the
 * next failing call on s or its destruction. */
SIMDIFF_API const char *simdiff_schedule_errmsg(const simdiff_schedule *s);

/* ---- evaluation ---------------------------------------------------------- */

/* logsnr[i] = λ(t[i]) for i < n. Each t[i] must be in [0, 1] (NaN is an
 * error). λ is finite for every t in [0, 1]. */
SIMDIFF_API simdiff_status simdiff_schedule_logsnr(const simdiff_schedule *s,
                                                   size_t n, const double *t,
                                                   double *logsnr);

/* alpha[i] = α(t[i]) = sqrt(sigmoid(λ)), sigma[i] = σ(t[i]) =
 * sqrt(sigmoid(−λ)), computed without cancellation at either tail (each is
 * accurate to a few ulp, not merely 1 − tiny). Same rules for t as
 * simdiff_schedule_logsnr(). alpha and sigma must be distinct arrays. */
SIMDIFF_API simdiff_status simdiff_schedule_alpha_sigma(
    const simdiff_schedule *s, size_t n, const double *t, double *alpha,
    double *sigma);

/* The inverse of λ(t): t[i] with λ(t[i]) = logsnr[i]. Values above λ(0)
 * (including +inf) give t = 0, values below λ(1) (including −inf) give
 * t = 1; NaN is an error. Closed form for cosine and shifted schedules; a
 * safeguarded (bracketed) Newton iteration to |Δt| <= 1e-15 for
 * interpolated ones.
 * simdiff_schedule_t_from_logsnr(simdiff_schedule_logsnr(t)) = t to 1e-9
 * or better for every t in [0, 1]. logsnr and t may be the same array. */
SIMDIFF_API simdiff_status simdiff_schedule_t_from_logsnr(
    const simdiff_schedule *s, size_t n, const double *logsnr, double *t);

/* α and σ from log-SNR values (no schedule needed): alpha[i] =
 * sqrt(sigmoid(logsnr[i])), sigma[i] = sqrt(sigmoid(−logsnr[i])), stable
 * at both tails; ±inf are allowed (α, σ = 1, 0 or 0, 1), NaN is an error. */
SIMDIFF_API simdiff_status simdiff_alpha_sigma_from_logsnr(size_t n,
                                                          const double *logsnr,
                                                          double *alpha,
                                                          double *sigma);

/* ---- what a schedule is -------------------------------------------------- */

SIMDIFF_API simdiff_status simdiff_schedule_get_kind(const simdiff_schedule *s,
                                                     simdiff_schedule_kind *kind);

/* The clipping range of the underlying cosine, before any shift: the
 * arguments of create_cosine(), and −15, 15 for shifted and interpolated
 * schedules. Either pointer may be NULL. */
SIMDIFF_API simdiff_status simdiff_schedule_get_cosine_range(
    const simdiff_schedule *s, double *logsnr_min, double *logsnr_max);

/* The resolutions: for shifted(image_d, base_d) noise_d_at_t0 =
 * noise_d_at_t1 = base_d; for interpolated the three arguments; for cosine
 * all three are 0 (no resolution). Any pointer may be NULL. */
SIMDIFF_API simdiff_status simdiff_schedule_get_resolutions(
    const simdiff_schedule *s, int *image_d, int *noise_d_at_t0,
    int *noise_d_at_t1);

/* The log-SNR shifts added to the cosine at each end: every schedule is
 *   λ(t) = cosine(λ_min, λ_max)(t) + (1 − t)·shift_at_t0 + t·shift_at_t1,
 * with shift = 2·log(noise_d / image_d) (0 for cosine). Either pointer may
 * be NULL. */
SIMDIFF_API simdiff_status simdiff_schedule_get_shifts(
    const simdiff_schedule *s, double *shift_at_t0, double *shift_at_t1);

/* A human-readable one-line description into buf (cap bytes, NUL included),
 * e.g. "interpolated: 512x512 image; shifted(512,256) at t=0 (log-SNR shift
 * -1.386294) blended linearly to shifted(512,32) at t=1 (shift -5.545177);
 * cosine clipped to [-15,15]; logsnr(0)=13.613706, logsnr(1)=-20.545177".
 * cap >= SIMDIFF_SCHEDULE_DESCRIBE_MAX always suffices; a smaller buffer
 * that cannot hold the text gives SIMDIFF_ERR_INVALID_ARG (and buf = "" when
 * cap > 0). Not a stable format: use simdiff_schedule_to_string() to store
 * a schedule. */
SIMDIFF_API simdiff_status simdiff_schedule_describe(const simdiff_schedule *s,
                                                     char *buf, size_t cap);

/* ---- serialization ------------------------------------------------------- */

/* The canonical text of s into buf (cap bytes, NUL included):
 * "cosine(<min>,<max>)", "shifted(<image_d>,<base_d>)" or
 * "interpolated(<image_d>,<noise_d_at_t0>,<noise_d_at_t1>)". Cosine limits
 * are written with the fewest digits that read back to the same double
 * ("-15", "0.1", "-12.345678901234567"), always with '.' as the decimal
 * point whatever the C locale. cap >= SIMDIFF_SCHEDULE_STRING_MAX always
 * suffices; a smaller buffer that cannot hold the text gives
 * SIMDIFF_ERR_INVALID_ARG (and buf = "" when cap > 0). */
SIMDIFF_API simdiff_status simdiff_schedule_to_string(const simdiff_schedule *s,
                                                      char *buf, size_t cap);

/* Parse the text form into a new schedule (*out NULL on failure). Strict:
 * lowercase names, no whitespace anywhere, integers as plain decimal
 * without sign or leading zeros, cosine limits as decimal numbers ('.'
 * decimal point, optional '-' and exponent; no inf, nan, hex or '+'),
 * nothing after the closing ')'. The values must then be valid for the
 * matching create function. Malformed text gives SIMDIFF_ERR_FORMAT, valid
 * syntax with invalid values SIMDIFF_ERR_INVALID_ARG; the message says
 * where and why. */
SIMDIFF_API simdiff_status simdiff_schedule_from_string(simdiff_schedule **out,
                                                        const char *str);

/* ---- parametrization helpers --------------------------------------------- */
/*
 * Conversions between the network output and the quantities a sampler or
 * a loss needs, for a batch of n examples of per_example floats each, laid
 * out n × per_example (example i occupies [i·per_example, (i+1)·per_example)),
 * with one α and one σ per example (arrays of n doubles, e.g. from
 * simdiff_schedule_alpha_sigma()). With z = α·x + σ·ε and α² + σ² = 1:
 *
 *     v = α·ε − σ·x,   x = α·z − σ·v,   ε = σ·z + α·v,
 *     x = (z − σ·ε)/α, ε = (z − α·x)/σ.
 *
 * Arithmetic is in double per element, rounded once to float. An output may
 * be the very same array as an input (in place) but must not otherwise
 * overlap one. n = 0 is a no-op (pointers may then be NULL); for n > 0,
 * per_example must be > 0, n·per_example must not overflow, every α and σ
 * must be finite (and α > 0 where the formula divides by α, σ > 0 where it
 * divides by σ); otherwise SIMDIFF_ERR_INVALID_ARG and nothing is written.
 * The formulas above are the α² + σ² = 1 ones; the helpers do not check
 * that identity, so callers may pass any finite α, σ.
 */

/* From a v-prediction: x_hat = α·z − σ·v and eps_hat = σ·z + α·v. Either
 * output may be NULL (not both) to compute only the other. */
SIMDIFF_API simdiff_status simdiff_v_to_x_eps(size_t n, size_t per_example,
                                              const float *z, const float *v,
                                              const double *alpha,
                                              const double *sigma,
                                              float *x_hat, float *eps_hat);

/* From an ε-prediction: x_hat = (z − σ·ε)/α. Needs α > 0. */
SIMDIFF_API simdiff_status simdiff_eps_to_x(size_t n, size_t per_example,
                                            const float *z, const float *eps,
                                            const double *alpha,
                                            const double *sigma, float *x_hat);

/* From an x-prediction: eps_hat = (z − α·x)/σ. Needs σ > 0. */
SIMDIFF_API simdiff_status simdiff_x_to_eps(size_t n, size_t per_example,
                                            const float *z, const float *x,
                                            const double *alpha,
                                            const double *sigma,
                                            float *eps_hat);

/* The v-target of training: v = α·ε − σ·x. */
SIMDIFF_API simdiff_status simdiff_x_eps_to_v(size_t n, size_t per_example,
                                              const float *x, const float *eps,
                                              const double *alpha,
                                              const double *sigma, float *v);

/* The forward process: z = α·x + σ·ε. */
SIMDIFF_API simdiff_status simdiff_x_eps_to_z(size_t n, size_t per_example,
                                              const float *x, const float *eps,
                                              const double *alpha,
                                              const double *sigma, float *z);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_SCHEDULE_H */
