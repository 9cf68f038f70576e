/* The sampler's numbers against independent formulas.
 *
 *  - Closed forms: a fresh model predicts exactly 0 (its output layers start
 *    at zero), so with v̂ ≡ 0 the data estimate is x̂ = α·z (and with
 *    ε̂ ≡ 0, x̂ = z/α). Every method then reduces to a scalar recurrence in
 *    z, written here straight from the papers (DDPM as in simple
 *    diffusion, DDIM's Eq. 12, DPM-Solver++(2M) Algorithm 2 with
 *    λ = log(α/σ)), fed with the documented noise streams and compared
 *    with the sampler's output.
 *  - Solver order: on 1-D Gaussian data the exact denoiser and the exact
 *    probability-flow ODE solution are known; DDIM's error must fall ~2x
 *    and DPM-Solver++(2M)'s ~4x per doubling of the steps.
 *  - Coefficient identities: DDIM(η = 1) = DDPM, DPM-Solver++ first order =
 *    DDIM(η = 0).
 *  - Inference memory: no gradient buffers, no tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "sampler/sampler_internal.h"
#include "sdtest.h"
#include "simdiff/simdiff.h"
#include "tensor/rng.h"

#define IMG 8
#define PER (IMG * IMG)

static simdiff_model *zero_model(int prediction, int num_classes)
{
    simdiff_model_config cfg;
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UNET, IMG, 1), SIMDIFF_OK);
    cfg.num_levels = 2;
    cfg.level_channels[0] = cfg.level_channels[1] = 8;
    cfg.level_blocks[0] = cfg.level_blocks[1] = 1;
    cfg.norm_groups = 4;
    cfg.emb_dim = 16;
    cfg.attn_resolution = 4;
    cfg.attn_heads = 2;
    cfg.num_classes = num_classes;
    cfg.prediction = (simdiff_prediction)prediction;
    simdiff_model *m = NULL;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 3), SIMDIFF_OK);
    return m;
}

/* A sampler of m on sch with these settings (the rest: defaults). */
static simdiff_sampler *zero_sampler(simdiff_model *m, const simdiff_schedule *sch, int method,
                                     int steps, double eta, int clip, int spacing)
{
    simdiff_sampler_config c;
    simdiff_sampler_config_init(&c);
    c.method = (simdiff_sampler_method)method;
    c.steps = steps;
    c.eta = eta;
    c.clip_x = clip;
    c.spacing = (simdiff_spacing)spacing;
    c.schedule = sch;
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &c), SIMDIFF_OK);
    return s;
}

/* The grid of a run, recomputed through the public schedule API. */
static void grid(const simdiff_schedule *s, int K, int spacing, double *lam,
                 double *al, double *sg)
{
    double l1, l0, t1 = 1.0, t0 = 0.0;
    simdiff_schedule_logsnr(s, 1, &t1, &l1);
    simdiff_schedule_logsnr(s, 1, &t0, &l0);
    for (int k = 0; k <= K; k++) {
        double t = 1.0 - (double)k / K;
        if (spacing == SIMDIFF_SPACING_UNIFORM_LOGSNR)
            lam[k] = l1 + (l0 - l1) * k / K;
        else
            simdiff_schedule_logsnr(s, 1, &t, &lam[k]);
        if (k == 0)
            lam[k] = l1;
        if (k == K)
            lam[k] = l0;
        /* α² = sigmoid(λ), σ² = sigmoid(−λ) */
        al[k] = sqrt(1.0 / (1.0 + exp(-lam[k])));
        sg[k] = sqrt(1.0 / (1.0 + exp(lam[k])));
    }
}

static double clampd(double x, int on)
{
    return on ? (x < -1 ? -1 : (x > 1 ? 1 : x)) : x;
}

/* Reference sample of one image with a zero network. */
static void reference(int method, int pred, double eta, int clip, int K,
                      const double *lam, const double *al, const double *sg,
                      uint64_t seed, int image, double *out)
{
    double z[PER], xh[PER], xp[PER];
    float nz[PER];
    sd_rng_normal(seed, sd_sampler_noise_stream((uint64_t)image, 0), 0, PER, nz);
    for (int j = 0; j < PER; j++)
        z[j] = nz[j];
    for (int k = 0; k < K; k++) {
        for (int j = 0; j < PER; j++)
            xh[j] = clampd(pred == SIMDIFF_PRED_V ? al[k] * z[j] : z[j] / al[k], clip);
        if (k == K - 1)
            break;
        const double at = al[k], st = sg[k], as = al[k + 1], ss = sg[k + 1];
        sd_rng_normal(seed, sd_sampler_noise_stream((uint64_t)image, (uint64_t)k + 1), 0,
                      PER, nz);
        for (int j = 0; j < PER; j++) {
            if (method == SIMDIFF_SAMPLER_DDPM) {
                /* simple diffusion: c = −expm1(λ_t − λ_s), μ, var = σ_s²c */
                double c = -expm1(lam[k] - lam[k + 1]);
                double mu = as * (z[j] * (1 - c) / at + c * xh[j]);
                z[j] = mu + sqrt(ss * ss * c) * nz[j];
            } else if (method == SIMDIFF_SAMPLER_DDIM) {
                /* DDIM Eq. 12 with ᾱ = α²: σ_η = η·sqrt((1−ᾱ_s)/(1−ᾱ_t))·
                 * sqrt(1 − ᾱ_t/ᾱ_s) */
                double eps = (z[j] - at * xh[j]) / st;
                double se = eta * sqrt((ss * ss) / (st * st)) *
                            sqrt(1 - (at * at) / (as * as));
                z[j] = as * xh[j] + sqrt(ss * ss - se * se) * eps + se * nz[j];
            } else {
                /* DPM-Solver++(2M), λ = log(α/σ) */
                double lt = log(at / st), ls = log(as / ss);
                double h = ls - lt;
                double D = xh[j];
                if (k > 0) {
                    double hp = lt - log(al[k - 1] / sg[k - 1]);
                    double r = hp / h;
                    D = (1 + 1 / (2 * r)) * xh[j] - 1 / (2 * r) * xp[j];
                }
                z[j] = ss / st * z[j] - as * (exp(-h) - 1) * D;
            }
            xp[j] = xh[j];
        }
    }
    for (int j = 0; j < PER; j++)
        out[j] = xh[j];
}

typedef struct cf_case {
    int method, pred, steps, clip, spacing;
    double eta;
} cf_case;

static const cf_case cf_cases[] = {
    {SIMDIFF_SAMPLER_DDIM, SIMDIFF_PRED_V, 1, 0, 0, 0.0},
    {SIMDIFF_SAMPLER_DDIM, SIMDIFF_PRED_V, 2, 0, 0, 0.0},
    {SIMDIFF_SAMPLER_DDIM, SIMDIFF_PRED_V, 5, 1, 0, 0.0},
    {SIMDIFF_SAMPLER_DDIM, SIMDIFF_PRED_V, 5, 0, 1, 0.3},
    {SIMDIFF_SAMPLER_DDPM, SIMDIFF_PRED_V, 4, 0, 0, 0.0},
    {SIMDIFF_SAMPLER_DDPM, SIMDIFF_PRED_V, 6, 1, 1, 0.0},
    {SIMDIFF_SAMPLER_DPMPP_2M, SIMDIFF_PRED_V, 3, 0, 0, 0.0},
    {SIMDIFF_SAMPLER_DPMPP_2M, SIMDIFF_PRED_V, 7, 1, 1, 0.0},
    {SIMDIFF_SAMPLER_DDIM, SIMDIFF_PRED_EPS, 1, 1, 0, 0.0},
    {SIMDIFF_SAMPLER_DDIM, SIMDIFF_PRED_EPS, 4, 1, 0, 0.0},
    {SIMDIFF_SAMPLER_DDPM, SIMDIFF_PRED_EPS, 4, 1, 0, 0.0},
    {SIMDIFF_SAMPLER_DPMPP_2M, SIMDIFF_PRED_EPS, 4, 1, 0, 0.0},
};

START_TEST(closed_form_zero_model)
{
    const cf_case *cc = &cf_cases[_i];
    simdiff_model *m = zero_model(cc->pred, 2);
    simdiff_schedule *sch;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&sch, IMG, 64), SIMDIFF_OK);
    simdiff_sampler *s = zero_sampler(m, sch, cc->method, cc->steps, cc->eta, cc->clip,
                                      cc->spacing);
    enum { N = 3 };
    float out[N * PER];
    int labels[N] = {1, 0, -1};
    ck_assert_msg(simdiff_sampler_run(s, N, labels, 1234, out) == SIMDIFF_OK, "%s",
                  simdiff_sampler_errmsg(s));
    double lam[64], al[64], sg[64];
    grid(sch, cc->steps, cc->spacing, lam, al, sg);
    for (int i = 0; i < N; i++) {
        double want[PER];
        float wf[PER];
        reference(cc->method, cc->pred, cc->eta, cc->clip, cc->steps, lam, al, sg,
                  1234, i, want);
        double maxabs = 0;
        for (int j = 0; j < PER; j++) {
            wf[j] = (float)want[j];
            maxabs = fmax(maxabs, fabs(want[j]));
        }
        ck_assert_double_gt(maxabs, 1e-3); /* not a trivial comparison */
        double e = sdtest_max_rel_err(out + i * PER, wf, PER, 1e-3);
        ck_assert_msg(e < 1e-5, "case %d image %d: rel err %g (max |x| %g)", _i, i, e,
                      maxabs);
    }
    simdiff_sampler_destroy(s);
    simdiff_schedule_destroy(sch);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- editing: closed forms with the zero model ------------------------- */

/* One image of an edited run with v̂ ≡ 0 (x̂ = α·z, no clipping), written
 * from the definitions in sampler.h: start at t = strength from
 * α·x₀ + σ·ε (ε at t = 1), the grid points below it, after each step the
 * kept region replaced by x₀ noised to the new point (KNOWN streams),
 * RePaint jumps of `jump` steps at every jump-th point, r − 1 times each
 * (JUMP streams; steps taken again draw STEP streams with their visit
 * number), output m·x₀ + (1 − m)·x̂. */
typedef struct edit_case {
    int method, steps;
    double eta, strength;
    int masked, resample, jump;
} edit_case;

static void as_lam(double l, double *a, double *s)
{
    *a = sqrt(1.0 / (1.0 + exp(-l)));
    *s = sqrt(1.0 / (1.0 + exp(l)));
}

static void noise_of(uint64_t seed, int kind, int image, int g, int v, double *out)
{
    float f[PER];
    uint64_t st = kind == SD_EDIT_NOISE_STEP && v == 0
                      ? sd_sampler_noise_stream((uint64_t)image, (uint64_t)g)
                      : sd_sampler_edit_stream(kind, (uint64_t)image, (uint64_t)g,
                                               (uint64_t)v);
    sd_rng_normal(seed, st, 0, PER, f);
    for (int j = 0; j < PER; j++)
        out[j] = f[j];
}

static int reference_edit(const edit_case *ec, const simdiff_schedule *sch, const float *x0,
                          const float *mask, uint64_t seed, int image, double *out)
{
    const int K = ec->steps;
    double glam[130], gal[130], gsg[130];
    grid(sch, K, SIMDIFF_SPACING_UNIFORM_T, glam, gal, gsg);
    /* The run's points: 0 = the start, q >= 1 = grid point k0 − 1 + q. */
    double lam[130];
    int k0 = 1;
    lam[0] = glam[0];
    if (ec->strength < 1) {
        simdiff_schedule_logsnr(sch, 1, &ec->strength, &lam[0]);
        while (k0 < K && glam[k0] <= lam[0])
            k0++;
    }
    const int R = K - k0 + 1;
    for (int q = 1; q <= R; q++)
        lam[q] = glam[k0 - 1 + q];
    double z[PER], xh[PER], xp[PER], nz[PER];
    noise_of(seed, SD_EDIT_NOISE_STEP, image, 0, 0, nz);
    double a0, s0;
    as_lam(lam[0], &a0, &s0);
    for (int j = 0; j < PER; j++)
        z[j] = ec->strength < 1 ? a0 * x0[j] + s0 * nz[j] : nz[j];
    int visits[130] = {1}, left[130] = {0}, evals = 0, prev_ok = 0; /* start: visit 0 of point 0 */
    for (int q = ec->jump; ec->resample > 1 && q < R; q += ec->jump)
        left[q] = ec->resample - 1;
    int pos = 0;
    while (pos < R) {
        /* a step pos -> pos + 1 */
        double at, st, as, ss;
        as_lam(lam[pos], &at, &st);
        as_lam(lam[pos + 1], &as, &ss);
        for (int j = 0; j < PER; j++)
            xh[j] = at * z[j];
        evals++;
        int to = pos + 1, v = visits[to]++, g = k0 - 1 + to;
        if (to == R)
            break;
        noise_of(seed, SD_EDIT_NOISE_STEP, image, g, v, nz);
        for (int j = 0; j < PER; j++) {
            if (ec->method == SIMDIFF_SAMPLER_DDPM) {
                double c = -expm1(lam[pos] - lam[to]);
                z[j] = as * (z[j] * (1 - c) / at + c * xh[j]) + ss * sqrt(c) * nz[j];
            } else if (ec->method == SIMDIFF_SAMPLER_DDIM) {
                double eps = (z[j] - at * xh[j]) / st;
                double se = ec->eta * (ss / st) * sqrt(1 - (at * at) / (as * as));
                z[j] = as * xh[j] + sqrt(ss * ss - se * se) * eps + se * nz[j];
            } else {
                double lt = log(at / st), ls = log(as / ss), h = ls - lt, D = xh[j];
                if (prev_ok) {
                    double ap, sp;
                    as_lam(lam[pos - 1], &ap, &sp);
                    double r = (lt - log(ap / sp)) / h;
                    D = (1 + 1 / (2 * r)) * xh[j] - 1 / (2 * r) * xp[j];
                }
                z[j] = ss / st * z[j] - as * (exp(-h) - 1) * D;
            }
            xp[j] = xh[j];
        }
        prev_ok = 1;
        if (mask) {
            noise_of(seed, SD_EDIT_NOISE_KNOWN, image, g, v, nz);
            for (int j = 0; j < PER; j++)
                z[j] = mask[j] * (as * x0[j] + ss * nz[j]) + (1 - mask[j]) * z[j];
        }
        pos = to;
        if (left[pos] > 0) { /* jump back: q(z_hi | z_lo) */
            left[pos]--;
            int hi = pos - ec->jump;
            double ah, sh, al_, sl;
            as_lam(lam[hi], &ah, &sh);
            as_lam(lam[pos], &al_, &sl);
            int vh = visits[hi]++;
            noise_of(seed, SD_EDIT_NOISE_JUMP, image, k0 - 1 + hi, vh, nz);
            double ratio = ah / al_, var = sh * sh - ratio * ratio * sl * sl;
            for (int j = 0; j < PER; j++)
                z[j] = ratio * z[j] + sqrt(var) * nz[j];
            pos = hi;
            prev_ok = 0;
        }
    }
    for (int j = 0; j < PER; j++)
        out[j] = mask ? mask[j] * x0[j] + (1 - mask[j]) * xh[j] : xh[j];
    return evals;
}

static const edit_case edit_cases[] = {
    {SIMDIFF_SAMPLER_DDIM, 8, 0.0, 0.5, 0, 1, 1},   /* on the grid: 4 steps */
    {SIMDIFF_SAMPLER_DDIM, 8, 0.3, 0.37, 0, 1, 1},  /* between grid points */
    {SIMDIFF_SAMPLER_DDPM, 6, 0.0, 0.9, 1, 1, 1},   /* inpainting */
    {SIMDIFF_SAMPLER_DPMPP_2M, 7, 0.0, 0.6, 1, 1, 1},
    {SIMDIFF_SAMPLER_DPMPP_2M, 10, 0.0, 1.0, 1, 3, 2}, /* RePaint */
    {SIMDIFF_SAMPLER_DDIM, 9, 1.0, 1.0, 1, 2, 3},
    {SIMDIFF_SAMPLER_DDPM, 12, 0.0, 0.75, 1, 2, 1},
    {SIMDIFF_SAMPLER_DDIM, 5, 0.0, 0.01, 0, 1, 1},  /* below the last grid point */
    {SIMDIFF_SAMPLER_DDPM, 6, 0.0, 0.9, 1, 1, 1},   /* above t_1 = 5/6 */
    {SIMDIFF_SAMPLER_DDIM, 3, 0.0, 1.0, 1, 2, 1},
};

static int edit_progress_total;
static int count_total(void *u, int step, int total, const float *x)
{
    (void)u;
    (void)step;
    (void)x;
    edit_progress_total = total;
    return 0;
}

START_TEST(closed_form_edits)
{
    const edit_case *ec = &edit_cases[_i];
    simdiff_model *m = zero_model(SIMDIFF_PRED_V, 2);
    simdiff_schedule *sch;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&sch, IMG, 64), SIMDIFF_OK);
    simdiff_sampler *s = zero_sampler(m, sch, ec->method, ec->steps, ec->eta, 0,
                                      SIMDIFF_SPACING_UNIFORM_T);
    enum { N = 2 };
    float x0[N * PER], mask[N * PER], out[N * PER];
    uint64_t r = 99;
    for (int j = 0; j < N * PER; j++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x0[j] = (float)((double)(r >> 11) * 0x1p-53 * 2 - 1);
        int q = (int)(r >> 60) % 3; /* keep, generate, or blend */
        mask[j] = q == 0 ? 1.0f : (q == 1 ? 0.0f : 0.25f);
    }
    simdiff_edit e;
    ck_assert_int_eq(simdiff_edit_init(&e), SIMDIFF_OK);
    e.init = x0;
    e.init_count = N;
    e.channels = 1;
    e.height = e.width = IMG;
    e.strength = ec->strength;
    e.mask = ec->masked ? mask : NULL;
    e.mask_count = N;
    e.resample = ec->resample;
    e.resample_jump = ec->jump;
    simdiff_sampler_set_progress(s, count_total, NULL);
    int labels[N] = {1, -1};
    ck_assert_msg(simdiff_sampler_run_edit(s, N, labels, 777, &e, out) == SIMDIFF_OK, "%s",
                  simdiff_sampler_errmsg(s));
    int evals = -1;
    ck_assert_int_eq(simdiff_sampler_edit_evals(s, &e, &evals), SIMDIFF_OK);
    for (int i = 0; i < N; i++) {
        double want[PER];
        float wf[PER];
        int ev = reference_edit(ec, sch, x0 + i * PER, ec->masked ? mask + i * PER : NULL,
                                777, i, want);
        ck_assert_int_eq(evals, ev);
        ck_assert_int_eq(edit_progress_total, ev);
        for (int j = 0; j < PER; j++)
            wf[j] = (float)want[j];
        double err = sdtest_max_rel_err(out + i * PER, wf, PER, 1e-3);
        ck_assert_msg(err < 1e-5, "case %d image %d: rel err %g", _i, i, err);
    }
    /* The number of evaluations, from sampler.h's formula: #{k >= 1 :
     * t_k < s} plus the jumps' (r − 1)·jump per jump point. */
    int R = 0;
    for (int k = 1; k <= ec->steps; k++)
        R += 1.0 - (double)k / ec->steps < ec->strength;
    int want_ev = R + (ec->resample > 1 ? (R - 1) / ec->jump * (ec->resample - 1) * ec->jump : 0);
    ck_assert_int_eq(evals, want_ev);
    simdiff_sampler_destroy(s);
    simdiff_schedule_destroy(sch);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- solver order on Gaussian data ------------------------------------- */

/* Data x ~ N(mu, s²) in one dimension: E[x | z] at log-SNR λ, and the
 * probability-flow ODE keeps (z − α·mu)/sqrt(α²s² + σ²) constant. */
#define G_MU 0.3
#define G_S 0.5

static void as_of(double l, double *a, double *s)
{
    *a = sqrt(1.0 / (1.0 + exp(-l)));
    *s = sqrt(1.0 / (1.0 + exp(l)));
}

static double denoise(double z, double l)
{
    double a, s;
    as_of(l, &a, &s);
    return G_MU + a * G_S * G_S * (z - a * G_MU) / (a * a * G_S * G_S + s * s);
}

static double exact(double z0, double l0, double l1)
{
    double a0, s0, a1, s1;
    as_of(l0, &a0, &s0);
    as_of(l1, &a1, &s1);
    double xi = (z0 - a0 * G_MU) / sqrt(a0 * a0 * G_S * G_S + s0 * s0);
    return a1 * G_MU + xi * sqrt(a1 * a1 * G_S * G_S + s1 * s1);
}

static double integrate(int method, int N, double z, double la, double lb)
{
    double xp = 0;
    for (int k = 0; k < N; k++) {
        double lt = la + (lb - la) * k / N, ls = la + (lb - la) * (k + 1) / N;
        double lprev = la + (lb - la) * (k - 1) / N;
        double cf[4];
        sd_sampler_step_coefs(method, 0.0, k == 0, lprev, lt, ls, cf);
        double x = denoise(z, lt);
        ck_assert(cf[3] == 0.0);
        z = cf[0] * z + cf[1] * x + cf[2] * xp;
        xp = x;
    }
    return z;
}

START_TEST(solver_order)
{
    /* From λ = −4 to 6 (log-SNR), 16..128 steps: in the asymptotic range
     * (at 8 steps DPM-Solver++'s first, first-order step still shows). */
    const double la = -4, lb = 6, z0 = 1.7;
    double want = exact(z0, la, lb);
    double e_ddim[4], e_dpm[4];
    for (int r = 0; r < 4; r++) {
        int N = 16 << r;
        e_ddim[r] = fabs(integrate(SIMDIFF_SAMPLER_DDIM, N, z0, la, lb) - want);
        e_dpm[r] = fabs(integrate(SIMDIFF_SAMPLER_DPMPP_2M, N, z0, la, lb) - want);
    }
    for (int r = 0; r < 3; r++) {
        double q1 = e_ddim[r] / e_ddim[r + 1], q2 = e_dpm[r] / e_dpm[r + 1];
        ck_assert_msg(q1 > 1.8 && q1 < 2.2, "DDIM error ratio %g (%g -> %g)", q1,
                      e_ddim[r], e_ddim[r + 1]);
        ck_assert_msg(q2 > 3.5 && q2 < 4.5, "DPM-Solver++(2M) error ratio %g (%g -> %g)",
                      q2, e_dpm[r], e_dpm[r + 1]);
        ck_assert_double_lt(e_dpm[r], 0.1 * e_ddim[r]);
    }
}
END_TEST

START_TEST(coefficient_identities)
{
    const double pts[][2] = {{-12, -9}, {-3, -2.5}, {0, 0.1}, {4, 9}, {10, 13.5}};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        double a[4], b[4], d[4], e[4];
        sd_sampler_step_coefs(SIMDIFF_SAMPLER_DDPM, 0, 1, 0, pts[i][0], pts[i][1], a);
        sd_sampler_step_coefs(SIMDIFF_SAMPLER_DDIM, 1.0, 1, 0, pts[i][0], pts[i][1], b);
        sd_sampler_step_coefs(SIMDIFF_SAMPLER_DDIM, 0.0, 1, 0, pts[i][0], pts[i][1], d);
        sd_sampler_step_coefs(SIMDIFF_SAMPLER_DPMPP_2M, 0, 1, 0, pts[i][0], pts[i][1], e);
        for (int j = 0; j < 4; j++) {
            ck_assert_msg(fabs(a[j] - b[j]) <= 1e-12 * fmax(1, fabs(a[j])),
                          "DDPM vs DDIM(1) coef %d at %zu: %.17g %.17g", j, i, a[j], b[j]);
            ck_assert_msg(fabs(d[j] - e[j]) <= 1e-12 * fmax(1, fabs(d[j])),
                          "DDIM(0) vs DPM++ first coef %d at %zu: %.17g %.17g", j, i,
                          d[j], e[j]);
        }
        /* z-coefficient + x-coefficient·α_t... the posterior mean of a
         * point mass: if z = α_t·x exactly (σ-free), DDIM(0) gives α_s·x */
        double at, st, as, ss;
        as_of(pts[i][0], &at, &st);
        as_of(pts[i][1], &as, &ss);
        ck_assert(fabs(d[0] * at + d[1] - as) < 1e-12);
        (void)st;
        (void)ss;
    }
}
END_TEST

/* ---- memory --------------------------------------------------------------- */

START_TEST(inference_has_no_gradients)
{
    simdiff_model *m = zero_model(SIMDIFF_PRED_V, 0);
    simdiff_schedule *sch;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&sch, IMG, 64), SIMDIFF_OK);
    simdiff_sampler_config c;
    simdiff_sampler_config_init(&c);
    c.schedule = sch;
    c.steps = 3;
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &c), SIMDIFF_OK);
    float out[2 * PER];
    ck_assert_int_eq(simdiff_sampler_run(s, 2, NULL, 1, out), SIMDIFF_OK);
    ck_assert_ptr_null(m->grad); /* no gradient buffers were made */
    ck_assert_int_eq(sd_ctx_grad(sd_sampler_ctx(s)), 0);
    ck_assert_int_eq(sd_ctx_training(sd_sampler_ctx(s)), 0);
    /* the arena holds one forward pass: a few activations of 2 images */
    ck_assert_uint_gt(sd_ctx_arena_peak(sd_sampler_ctx(s)), 0);
    ck_assert_uint_lt(sd_ctx_arena_peak(sd_sampler_ctx(s)), (size_t)4 << 20);
    simdiff_sampler_destroy(s);
    simdiff_schedule_destroy(sch);
    simdiff_model_destroy(m);
}
END_TEST

/* A model's own schedule is used by default. */
START_TEST(model_schedule_default)
{
    simdiff_model *m = zero_model(SIMDIFF_PRED_V, 0);
    simdiff_schedule *sch;
    ck_assert_int_eq(simdiff_schedule_create_cosine(&sch, -10, 12), SIMDIFF_OK);
    m->schedule = sch; /* as if loaded from a file that had it */
    simdiff_sampler *s1, *s2;
    ck_assert_int_eq(simdiff_sampler_create(&s1, m, NULL), SIMDIFF_OK);
    simdiff_sampler_config c;
    simdiff_sampler_config_init(&c);
    c.schedule = sch;
    ck_assert_int_eq(simdiff_sampler_create(&s2, m, &c), SIMDIFF_OK);
    float a[PER], b[PER];
    ck_assert_int_eq(simdiff_sampler_run(s1, 1, NULL, 9, a), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_run(s2, 1, NULL, 9, b), SIMDIFF_OK);
    ck_assert_mem_eq(a, b, sizeof a);
    simdiff_sampler_destroy(s1);
    simdiff_sampler_destroy(s2);
    simdiff_model_destroy(m); /* frees sch */
}
END_TEST

/* ---- batch invariance at realistic widths ------------------------------- */

/* oneDNN picks kernels by shape; the tiny model of test_sampler.c may not
 * reach the blocked AVX-512 paths that 64-channel convolutions and 64-wide
 * token matmuls take. Here: a U-Net with 64/64 channels and attention at
 * 8x8, and a U-ViT of width 64, random weights, image 0 alone vs in
 * batches of 3 and 6 (with guidance: 2n network rows), bit for bit. */
static void randomize(simdiff_model *m, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (int64_t i = 0; i < m->total; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        float u = (float)(s >> 40) * 0x1p-24f * 2.0f - 1.0f;
        m->data[i] = m->data[i] == 0.0f ? 0.05f * u : m->data[i] * (1.0f + 0.1f * u);
    }
}

START_TEST(batch_invariance_realistic)
{
    simdiff_model_config cfg;
    const int D = 16;
    ck_assert_int_eq(simdiff_model_config_init(&cfg, _i ? SIMDIFF_ARCH_UVIT : SIMDIFF_ARCH_UNET,
                                               D, 1),
                     SIMDIFF_OK);
    cfg.num_classes = 4;
    if (_i) {
        cfg.tf_width = 64;
        cfg.tf_depth = 2;
    } else {
        cfg.num_levels = 2;
        cfg.level_channels[0] = cfg.level_channels[1] = 64;
        cfg.level_blocks[0] = cfg.level_blocks[1] = 1;
        cfg.attn_resolution = 8;
    }
    simdiff_model *m;
    ck_assert_msg(simdiff_model_create(&m, &cfg, 5) == SIMDIFF_OK, "%s", simdiff_last_error());
    randomize(m, 77);
    simdiff_schedule *sch;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&sch, D, 64), SIMDIFF_OK);
    simdiff_sampler_config c;
    simdiff_sampler_config_init(&c);
    c.schedule = sch;
    c.steps = 2;
    c.method = SIMDIFF_SAMPLER_DDPM;
    c.guidance = 2.0;
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &c), SIMDIFF_OK);
    const size_t P = (size_t)D * D;
    int labels[6] = {3, 1, 0, 2, 2, 1};
    float *o1 = malloc(P * sizeof(float)), *o3 = malloc(3 * P * sizeof(float)),
          *o6 = malloc(6 * P * sizeof(float));
    ck_assert_int_eq(simdiff_sampler_run(s, 1, labels, 8, o1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_run(s, 3, labels, 8, o3), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_run(s, 6, labels, 8, o6), SIMDIFF_OK);
    ck_assert_mem_eq(o1, o6, P * sizeof(float));
    ck_assert_mem_eq(o3, o6, 3 * P * sizeof(float));
    free(o1);
    free(o3);
    free(o6);
    simdiff_sampler_destroy(s);
    simdiff_schedule_destroy(sch);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("sampler_internal");
    TCase *tc = tcase_create("sampler_internal");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, closed_form_zero_model, 0,
                        (int)(sizeof cf_cases / sizeof cf_cases[0]));
    tcase_add_loop_test(tc, closed_form_edits, 0,
                        (int)(sizeof edit_cases / sizeof edit_cases[0]));
    tcase_add_test(tc, solver_order);
    tcase_add_test(tc, coefficient_identities);
    tcase_add_test(tc, inference_has_no_gradients);
    tcase_add_test(tc, model_schedule_default);
    tcase_add_loop_test(tc, batch_invariance_realistic, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
