/* The sampler through the public API: argument checks, determinism across
 * batch sizes, chunking and thread counts, guidance, callbacks,
 * cancellation from another thread, several samplers sharing one model.
 *
 * The model is a tiny U-Net (8x8, 1 channel, 3 classes, attention at 4x4)
 * with random weights: a fresh model predicts v = 0 everywhere (its output
 * layers start at zero), which would make most of these checks vacuous, so
 * make_model() saves it, overwrites every weight in the file with
 * pseudo-random values and loads it back (public API only). */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

#include "fixture.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const int methods[] = {SIMDIFF_SAMPLER_DDPM, SIMDIFF_SAMPLER_DDIM,
                              SIMDIFF_SAMPLER_DPMPP_2M};

/* ---- config and arguments ---------------------------------------------- */

START_TEST(config_defaults)
{
    simdiff_sampler_config c;
    memset(&c, 0xab, sizeof c);
    ck_assert_int_eq(simdiff_sampler_config_init(&c), SIMDIFF_OK);
    ck_assert_uint_eq(c.struct_size, sizeof c);
    ck_assert_int_eq(c.method, SIMDIFF_SAMPLER_DPMPP_2M);
    ck_assert_int_eq(c.steps, 32);
    ck_assert(c.eta == 0.0);
    ck_assert(c.guidance == 1.0);
    ck_assert_int_eq(c.clip_x, 1);
    ck_assert_int_eq(c.spacing, SIMDIFF_SPACING_UNIFORM_T);
    ck_assert_ptr_null(c.schedule);
    ck_assert_int_eq(c.batch_chunk, 0);
    ck_assert_int_eq(simdiff_sampler_config_init(NULL), SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

static void create_fails(simdiff_model *m, const simdiff_sampler_config *c,
                         simdiff_status want, const char *needle)
{
    simdiff_sampler *s = (simdiff_sampler *)&s; /* must be reset to NULL */
    simdiff_status st = simdiff_sampler_create(&s, m, c);
    ck_assert_msg(st == want, "want %s, got %s (%s)", simdiff_status_str(want),
                  simdiff_status_str(st), simdiff_last_error());
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(simdiff_last_error(), needle) != NULL,
                  "message '%s' lacks '%s'", simdiff_last_error(), needle);
}

START_TEST(create_bad_arguments)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    ck_assert_int_eq(simdiff_sampler_create(NULL, m, NULL), SIMDIFF_ERR_INVALID_ARG);
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    create_fails(NULL, &c, SIMDIFF_ERR_INVALID_ARG, "model is NULL");
    /* The loaded test model carries no schedule: one is needed. */
    create_fails(m, NULL, SIMDIFF_ERR_INVALID_ARG, "schedule");
    c.schedule = NULL;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "schedule");

    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    c.struct_size = offsetof(simdiff_sampler_config, batch_chunk); /* below v1 */
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "struct_size");
    sampler_cfg(&c, 7, 4);
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "method");
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 0);
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "steps");
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, SIMDIFF_SAMPLER_MAX_STEPS + 1);
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "steps");
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    c.guidance = NAN;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "guidance");
    c.guidance = INFINITY;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "guidance");
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    c.eta = NAN;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "eta");
    c.eta = 1.5;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "eta");
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    c.clip_x = 2;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "clip_x");
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    c.spacing = (simdiff_spacing)5;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "spacing");
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    c.batch_chunk = -1;
    create_fails(m, &c, SIMDIFF_ERR_INVALID_ARG, "batch_chunk");

    /* NULL handles are harmless. */
    simdiff_sampler_destroy(NULL);
    simdiff_sampler_cancel(NULL);
    ck_assert_str_eq(simdiff_sampler_errmsg(NULL), "");
    ck_assert_int_eq(simdiff_sampler_set_progress(NULL, NULL, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_set_preview_every(NULL, 1), SIMDIFF_ERR_INVALID_ARG);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(run_bad_arguments)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 3);
    simdiff_sampler *s = make_sampler(m, &c);
    float out[2 * PER];
    for (int i = 0; i < 2 * PER; i++)
        out[i] = 42.0f;
    ck_assert_int_eq(simdiff_sampler_run(NULL, 1, NULL, 0, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_run(s, 0, NULL, 0, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "n is 0"));
    ck_assert_int_eq(simdiff_sampler_run(s, -3, NULL, 0, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 0, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "out is NULL"));
    int bad1[2] = {0, NCLASS};
    ck_assert_int_eq(simdiff_sampler_run(s, 2, bad1, 0, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "labels[1] = 3"));
    int bad2[2] = {-2, 0};
    ck_assert_int_eq(simdiff_sampler_run(s, 2, bad2, 0, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "labels[0] = -2"));
    ck_assert_int_eq(simdiff_sampler_set_preview_every(s, -1), SIMDIFF_ERR_INVALID_ARG);
    /* Failed runs leave out alone. */
    for (int i = 0; i < 2 * PER; i++)
        ck_assert(out[i] == 42.0f);
    /* And the sampler still works afterwards. */
    int good[2] = {2, -1};
    ck_assert_int_eq(simdiff_sampler_run(s, 2, good, 0, out), SIMDIFF_OK);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);

    /* Labels for an unconditional model. */
    simdiff_model_config mc;
    tiny_config(&mc, SIMDIFF_PRED_V);
    mc.num_classes = 0;
    ck_assert_int_eq(simdiff_model_create(&m, &mc, 1), SIMDIFF_OK);
    s = make_sampler(m, &c);
    int l0[1] = {0};
    ck_assert_int_eq(simdiff_sampler_run(s, 1, l0, 0, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "unconditional"));
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 0, out), SIMDIFF_OK);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- outputs and determinism -------------------------------------------- */

START_TEST(outputs_in_range_and_seeded)
{
    int method = methods[_i];
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, method, 6);
    c.eta = 0.5;
    simdiff_sampler *s = make_sampler(m, &c);
    int labels[3] = {0, 1, 2};
    float *a = run_ok(s, 3, labels, 11);
    float *b = run_ok(s, 3, labels, 11);
    float *d = run_ok(s, 3, labels, 12);
    ck_assert_mem_eq(a, b, 3 * PER * sizeof(float));
    int differ = 0, nonbound = 0;
    for (int i = 0; i < 3 * PER; i++) {
        ck_assert(a[i] >= -1.0f && a[i] <= 1.0f);
        differ += a[i] != d[i];
        nonbound += fabsf(a[i]) < 1.0f;
    }
    ck_assert_int_gt(differ, 3 * PER / 2);
    ck_assert_int_gt(nonbound, 0);
    /* Images of one run differ from each other. */
    ck_assert(memcmp(a, a + PER, PER * sizeof(float)) != 0);
    free(a);
    free(b);
    free(d);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* Image i is the same bit for bit alone, in batches of 3 and 5, with any
 * batch_chunk, for every method (stochastic ones included). */
START_TEST(batch_invariance)
{
    int method = methods[_i];
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, method, 5);
    c.eta = 1.0;
    c.guidance = 2.0; /* exercises the 2n-row batched call as well */
    simdiff_sampler *s = make_sampler(m, &c);
    int labels[5] = {2, 0, 1, 1, -1};
    float *b5 = run_ok(s, 5, labels, 3);
    float *b3 = run_ok(s, 3, labels, 3);
    ck_assert_mem_eq(b3, b5, 3 * PER * sizeof(float));
    for (int i = 0; i < 5; i++) {
        /* image i alone is image 0 of a run of one: the index matters, so
         * only image 0 can be compared that way */
        if (i == 0) {
            float *b1 = run_ok(s, 1, labels, 3);
            ck_assert_mem_eq(b1, b5, PER * sizeof(float));
            free(b1);
        }
    }
    /* Any part first .. first+n-1 of the run, drawn alone (first_index:
     * a process's share of a split run), is those rows of the whole run
     * bit for bit. */
    for (int first = 0; first < 5; first++)
        for (int n = 1; first + n <= 5; n++) {
            float part[5 * PER];
            simdiff_run_options ro;
            simdiff_run_options_init(&ro);
            ro.first_index = (uint64_t)first;
            ck_assert_int_eq(simdiff_sampler_run_with(s, n, labels + first, 3, NULL, &ro, part),
                             SIMDIFF_OK);
            ck_assert_msg(!memcmp(part, b5 + first * PER, (size_t)n * PER * sizeof(float)),
                          "part %d + %d", first, n);
        }
    simdiff_sampler_destroy(s);
    for (int chunk = 1; chunk <= 4; chunk++) {
        c.batch_chunk = chunk;
        s = make_sampler(m, &c);
        float *bc = run_ok(s, 5, labels, 3);
        ck_assert_msg(!memcmp(bc, b5, 5 * PER * sizeof(float)), "batch_chunk %d", chunk);
        free(bc);
        simdiff_sampler_destroy(s);
    }
    free(b5);
    free(b3);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(thread_count_invariance)
{
    int method = methods[_i];
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, method, 4);
    c.eta = 1.0;
    c.guidance = 3.0;
    simdiff_sampler *s = make_sampler(m, &c);
    int labels[4] = {0, 1, 2, 0};
    ck_assert_int_eq(simdiff_set_num_threads(1), SIMDIFF_OK);
    float *a = run_ok(s, 4, labels, 99);
    ck_assert_int_eq(simdiff_set_num_threads(2), SIMDIFF_OK);
    float *b = run_ok(s, 4, labels, 99);
    ck_assert_int_eq(simdiff_set_num_threads(3), SIMDIFF_OK);
    float *d = run_ok(s, 4, labels, 99);
    ck_assert_int_eq(simdiff_set_num_threads(0), SIMDIFF_OK);
    ck_assert_mem_eq(a, b, 4 * PER * sizeof(float));
    ck_assert_mem_eq(a, d, 4 * PER * sizeof(float));
    free(a);
    free(b);
    free(d);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* DDIM with η = 1 is DDPM ancestral (the same noise streams, coefficients
 * equal up to rounding); DDIM η = 0 is deterministic: independent of the
 * seed except through the initial noise — so two seeds differ, but the
 * same seed under η = 0 and η = 0.5 differ too. */
START_TEST(ddim_eta1_is_ddpm)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, 8);
    simdiff_sampler *s1 = make_sampler(m, &c);
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 8);
    c.eta = 1.0;
    simdiff_sampler *s2 = make_sampler(m, &c);
    c.eta = 0.0;
    simdiff_sampler *s3 = make_sampler(m, &c);
    int labels[2] = {1, 2};
    float *a = run_ok(s1, 2, labels, 5), *b = run_ok(s2, 2, labels, 5),
          *d = run_ok(s3, 2, labels, 5);
    double e = sdtest_max_rel_err(b, a, 2 * PER, 1.0);
    ck_assert_msg(e < 1e-4, "DDIM(eta=1) vs DDPM: %g", e);
    ck_assert_double_gt(sdtest_max_rel_err(d, a, 2 * PER, 1.0), 1e-3);
    free(a);
    free(b);
    free(d);
    simdiff_sampler_destroy(s1);
    simdiff_sampler_destroy(s2);
    simdiff_sampler_destroy(s3);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(spacing_and_schedule_override)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DPMPP_2M, 6);
    simdiff_sampler *st = make_sampler(m, &c);
    c.spacing = SIMDIFF_SPACING_UNIFORM_LOGSNR;
    simdiff_sampler *sl = make_sampler(m, &c);
    simdiff_schedule *cos;
    ck_assert_int_eq(simdiff_schedule_create_cosine(&cos, -15, 15), SIMDIFF_OK);
    c.spacing = SIMDIFF_SPACING_UNIFORM_T;
    c.schedule = cos;
    simdiff_sampler *sc = make_sampler(m, &c);
    simdiff_schedule_destroy(cos); /* copied by the sampler */
    float *a = run_ok(st, 1, NULL, 1), *b = run_ok(sl, 1, NULL, 1),
          *d = run_ok(sc, 1, NULL, 1);
    ck_assert(memcmp(a, b, PER * sizeof(float)) != 0);
    ck_assert(memcmp(a, d, PER * sizeof(float)) != 0);
    free(a);
    free(b);
    free(d);
    simdiff_sampler_destroy(st);
    simdiff_sampler_destroy(sl);
    simdiff_sampler_destroy(sc);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- guidance ----------------------------------------------------------- */

/* w = 0 is the unconditional model (= labels NULL, = labels all −1);
 * w = 1 is the conditional model; in between and beyond, with one step and
 * no clipping, the output x̂ = α·z − σ·(u + w·(c − u)) is affine in w:
 * out(w) = out(0) + w·(out(1) − out(0)). */
START_TEST(guidance_convention)
{
    int pred = _i ? SIMDIFF_PRED_EPS : SIMDIFF_PRED_V;
    simdiff_model *m = make_model_pred(pred);
    int labels[3] = {0, 2, 1}, none[3] = {-1, -1, -1};
    float *o[4];
    const double ws[4] = {0.0, 1.0, 2.5, -0.75};
    for (int r = 0; r < 4; r++) {
        simdiff_sampler_config c;
        sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 1);
        c.guidance = ws[r];
        c.clip_x = 0;
        simdiff_sampler *s = make_sampler(m, &c);
        o[r] = run_ok(s, 3, labels, 21);
        if (r == 0) {
            float *u = run_ok(s, 3, NULL, 21);
            ck_assert_mem_eq(u, o[0], 3 * PER * sizeof(float));
            free(u);
        }
        if (r == 1) {
            /* w = 1 with labels all −1 is unconditional again */
            float *u = run_ok(s, 3, none, 21);
            ck_assert_mem_eq(u, o[0], 3 * PER * sizeof(float));
            free(u);
        }
        if (r == 2) {
            /* guidance with no labels: nothing to guide, unconditional */
            float *u = run_ok(s, 3, NULL, 21);
            ck_assert_mem_eq(u, o[0], 3 * PER * sizeof(float));
            free(u);
        }
        simdiff_sampler_destroy(s);
    }
    /* cond differs from uncond (the class embedding is random) */
    ck_assert_double_gt(sdtest_max_rel_err(o[1], o[0], 3 * PER, 1.0), 1e-4);
    for (int r = 2; r < 4; r++) {
        float want[3 * PER];
        for (int j = 0; j < 3 * PER; j++)
            want[j] = (float)(o[0][j] + ws[r] * ((double)o[1][j] - o[0][j]));
        double e = sdtest_max_rel_err(o[r], want, 3 * PER, 1.0);
        ck_assert_msg(e < 2e-5, "w = %g: affine in w, rel err %g", ws[r], e);
    }
    for (int r = 0; r < 4; r++)
        free(o[r]);
    simdiff_model_destroy(m);
}
END_TEST

/* A guidance interval against DDIM (η = 0) written out by hand with
 * simdiff_model_forward: steps whose log-SNR is in [lo, hi] use
 * uncond + w·(cond − uncond), the others the conditional output alone.
 * Then: an interval that holds no step is exactly guidance 1; evals count
 * only the steps inside; bad intervals are refused. */
START_TEST(guidance_interval_by_hand)
{
    enum { N = 2, K = 6 };
    simdiff_model *m = make_model();
    const double w = 2.5;
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, K); /* makes g_sched */
    double lam[K + 1];
    for (int k = 0; k <= K; k++) {
        double t = 1.0 - (double)k / K;
        ck_assert_int_eq(simdiff_schedule_logsnr(g_sched, 1, &t, &lam[k]), SIMDIFF_OK);
    }
    /* λ rises with k: steps 2 and 3 inside, the bounds exactly on them */
    const double lo = lam[2], hi = lam[3];
    c.guidance = w;
    c.clip_x = 0;
    c.guidance_interval = 1;
    c.guidance_logsnr_min = lo;
    c.guidance_logsnr_max = hi;
    simdiff_sampler *s = make_sampler(m, &c);
    int labels[N] = {2, 0}, none[N] = {-1, -1};
    float *got = run_ok(s, N, labels, 77);
    int evals = 0;
    ck_assert_int_eq(simdiff_sampler_edit_evals(s, NULL, &evals), SIMDIFF_OK);
    ck_assert_int_eq(evals, K);

    float z[N * PER], vc[N * PER], vu[N * PER];
    ck_assert_int_eq(simdiff_sampler_initial_noise(s, N, 77, NULL, z), SIMDIFF_OK);
    double xh[N * PER];
    int guided_steps = 0;
    for (int k = 0; k < K; k++) {
        double l[N] = {lam[k], lam[k]};
        ck_assert_int_eq(simdiff_model_forward(m, N, z, l, labels, vc), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_model_forward(m, N, z, l, none, vu), SIMDIFF_OK);
        const int in = lam[k] >= lo && lam[k] <= hi;
        guided_steps += in;
        const double wk = in ? w : 1.0;
        const double at = sqrt(1.0 / (1.0 + exp(-lam[k]))), st = sqrt(1.0 / (1.0 + exp(lam[k])));
        for (int j = 0; j < N * PER; j++) {
            double v = (double)vu[j] + wk * ((double)vc[j] - (double)vu[j]);
            xh[j] = at * z[j] - st * v; /* x̂ = α·z − σ·v */
        }
        if (k == K - 1)
            break;
        const double as = sqrt(1.0 / (1.0 + exp(-lam[k + 1]))),
                     ss = sqrt(1.0 / (1.0 + exp(lam[k + 1])));
        for (int j = 0; j < N * PER; j++) {
            double eps = (z[j] - at * xh[j]) / st;
            z[j] = (float)(as * xh[j] + ss * eps);
        }
    }
    ck_assert_int_eq(guided_steps, 2);
    float want[N * PER];
    for (int j = 0; j < N * PER; j++)
        want[j] = (float)xh[j];
    double e = sdtest_max_rel_err(got, want, N * PER, 1.0);
    ck_assert_msg(e < 5e-5, "guidance interval vs by hand: rel err %g", e);
    /* the same run with guidance everywhere is another image */
    c.guidance_interval = 0;
    simdiff_sampler *all = make_sampler(m, &c);
    float *everywhere = run_ok(all, N, labels, 77);
    ck_assert_double_gt(sdtest_max_rel_err(everywhere, got, N * PER, 1.0), 1e-4);
    simdiff_sampler_destroy(all);
    free(everywhere);

    /* no step inside: the conditional model alone, bit for bit */
    c.guidance_interval = 1;
    c.guidance_logsnr_min = lam[K] + 1.0;
    c.guidance_logsnr_max = lam[K] + 2.0;
    simdiff_sampler *none_in = make_sampler(m, &c);
    float *a = run_ok(none_in, N, labels, 77);
    c.guidance_interval = 0;
    c.guidance = 1.0;
    simdiff_sampler *cond_only = make_sampler(m, &c);
    float *b = run_ok(cond_only, N, labels, 77);
    ck_assert_mem_eq(a, b, N * PER * sizeof(float));
    simdiff_sampler_destroy(none_in);
    simdiff_sampler_destroy(cond_only);
    free(a);
    free(b);

    /* refused: min > max, a NaN or infinite bound, a flag not 0/1 */
    const double bad[][2] = {{1.0, -1.0}, {NAN, 1.0}, {-1.0, INFINITY}};
    for (int r = 0; r < 4; r++) {
        sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, K);
        c.guidance = w;
        c.guidance_interval = r < 3 ? 1 : 2;
        c.guidance_logsnr_min = r < 3 ? bad[r][0] : -1.0;
        c.guidance_logsnr_max = r < 3 ? bad[r][1] : 1.0;
        simdiff_sampler *x = NULL;
        ck_assert_int_eq(simdiff_sampler_create(&x, m, &c), SIMDIFF_ERR_INVALID_ARG);
        ck_assert_ptr_null(x);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "guidance"));
        ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &c), SIMDIFF_ERR_INVALID_ARG);
    }
    simdiff_sampler_destroy(s);
    free(got);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- callbacks ---------------------------------------------------------- */

typedef struct cb_state {
    int calls, last_step, total, stop_at, previews;
    int order_ok;
    float last_preview[2 * PER];
    simdiff_sampler *s; /* for the re-entrancy check */
    simdiff_status reenter;
} cb_state;

static int progress_cb(void *user, int step, int total, const float *x)
{
    cb_state *st = user;
    st->calls++;
    if (step != st->last_step + 1)
        st->order_ok = 0;
    st->last_step = step;
    st->total = total;
    if (x) {
        st->previews++;
        memcpy(st->last_preview, x, sizeof st->last_preview);
    }
    if (st->s) {
        float tmp[PER];
        st->reenter = simdiff_sampler_run(st->s, 1, NULL, 0, tmp);
    }
    return st->stop_at && step == st->stop_at;
}

START_TEST(progress_and_preview)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DPMPP_2M, 7);
    simdiff_sampler *s = make_sampler(m, &c);
    cb_state st = {.order_ok = 1};
    ck_assert_int_eq(simdiff_sampler_set_progress(s, progress_cb, &st), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_set_preview_every(s, 3), SIMDIFF_OK);
    float *a = run_ok(s, 2, NULL, 8);
    ck_assert_int_eq(st.calls, 7);
    ck_assert_int_eq(st.total, 7);
    ck_assert_int_eq(st.last_step, 7);
    ck_assert(st.order_ok);
    ck_assert_int_eq(st.previews, 2); /* steps 3 and 6 */
    /* every step: the final preview is the output */
    ck_assert_int_eq(simdiff_sampler_set_preview_every(s, 1), SIMDIFF_OK);
    memset(&st, 0, sizeof st);
    st.order_ok = 1;
    float *b = run_ok(s, 2, NULL, 8);
    ck_assert_int_eq(st.previews, 7);
    ck_assert_mem_eq(st.last_preview, b, 2 * PER * sizeof(float));
    ck_assert_mem_eq(a, b, 2 * PER * sizeof(float)); /* callbacks change nothing */
    /* removing the callback */
    ck_assert_int_eq(simdiff_sampler_set_progress(s, NULL, NULL), SIMDIFF_OK);
    memset(&st, 0, sizeof st);
    free(run_ok(s, 1, NULL, 8));
    ck_assert_int_eq(st.calls, 0);
    free(a);
    free(b);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(callback_stops)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, 10);
    simdiff_sampler *s = make_sampler(m, &c);
    cb_state st = {.order_ok = 1, .stop_at = 3};
    ck_assert_int_eq(simdiff_sampler_set_progress(s, progress_cb, &st), SIMDIFF_OK);
    float out[PER];
    for (int i = 0; i < PER; i++)
        out[i] = 7.0f;
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 0, out), SIMDIFF_ERR_CANCELLED);
    ck_assert_int_eq(st.calls, 3);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "callback"));
    for (int i = 0; i < PER; i++)
        ck_assert(out[i] == 7.0f);
    /* stopping at the very last step still cancels */
    memset(&st, 0, sizeof st);
    st.stop_at = 10;
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 0, out), SIMDIFF_ERR_CANCELLED);
    ck_assert(out[0] == 7.0f);
    /* re-entering the sampler from its callback is a misuse, reported */
    memset(&st, 0, sizeof st);
    st.s = s;
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 0, out), SIMDIFF_OK);
    ck_assert_int_eq(st.reenter, SIMDIFF_ERR_MISUSE);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- cancellation ------------------------------------------------------- */

typedef struct run_arg {
    simdiff_sampler *s;
    int n;
    const int *labels;
    uint64_t seed;
    float *out;
    simdiff_status st;
    double t_end;
} run_arg;

static void *run_thread(void *p)
{
    run_arg *a = p;
    a->st = simdiff_sampler_run(a->s, a->n, a->labels, a->seed, a->out);
    a->t_end = now();
    return NULL;
}

START_TEST(cancel_from_another_thread)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, SIMDIFF_SAMPLER_MAX_STEPS);
    simdiff_sampler *s = make_sampler(m, &c);
    /* A cancel before the run is discarded when the run starts... */
    simdiff_sampler_cancel(s);
    simdiff_sampler_config c2;
    sampler_cfg(&c2, SIMDIFF_SAMPLER_DDPM, 2);
    simdiff_sampler *quick = make_sampler(m, &c2);
    simdiff_sampler_cancel(quick);
    float *q = run_ok(quick, 1, NULL, 0);
    free(q);
    simdiff_sampler_destroy(quick);

    /* ...and one during the run stops it within a layer. */
    float *out = malloc(4 * PER * sizeof *out);
    for (int i = 0; i < 4 * PER; i++)
        out[i] = 3.0f;
    run_arg a = {.s = s, .n = 4, .seed = 1, .out = out};
    pthread_t th;
    double t0 = now();
    ck_assert_int_eq(pthread_create(&th, NULL, run_thread, &a), 0);
    usleep(200 * 1000);
    double tc = now();
    simdiff_sampler_cancel(s);
    pthread_join(th, NULL);
    ck_assert_int_eq(a.st, SIMDIFF_ERR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "cancel"));
    /* the step, not the op it stopped in ("cancelled (before silu)") */
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "at step"));
    ck_assert_ptr_null(strstr(simdiff_sampler_errmsg(s), "before"));
    double latency = a.t_end - tc;
    ck_assert_msg(latency < 0.5, "cancel took %.3f s", latency);
    ck_assert(a.t_end - t0 < 5.0);
    for (int i = 0; i < 4 * PER; i++)
        ck_assert(out[i] == 3.0f);
    /* The flag is cleared by the next run, which completes. */
    simdiff_sampler_destroy(s);
    free(out);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(cancel_then_rerun)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    simdiff_sampler *s = make_sampler(m, &c);
    float *a = run_ok(s, 2, NULL, 4);
    /* cancel through the callback path: stop at step 2, then rerun */
    cb_state st = {.order_ok = 1, .stop_at = 2};
    simdiff_sampler_set_progress(s, progress_cb, &st);
    float tmp[2 * PER];
    ck_assert_int_eq(simdiff_sampler_run(s, 2, NULL, 4, tmp), SIMDIFF_ERR_CANCELLED);
    simdiff_sampler_set_progress(s, NULL, NULL);
    simdiff_sampler_cancel(s); /* stale: discarded by the next run */
    float *b = run_ok(s, 2, NULL, 4);
    ck_assert_mem_eq(a, b, 2 * PER * sizeof(float));
    free(a);
    free(b);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

START_TEST(shared_model_two_threads)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c1, c2;
    sampler_cfg(&c1, SIMDIFF_SAMPLER_DDPM, 12);
    sampler_cfg(&c2, SIMDIFF_SAMPLER_DPMPP_2M, 12);
    c2.guidance = 3.0;
    int la[3] = {0, 1, 2}, lb[3] = {2, 2, 1};
    /* sequential reference */
    simdiff_sampler *s1 = make_sampler(m, &c1), *s2 = make_sampler(m, &c2);
    float *r1 = run_ok(s1, 3, la, 17), *r2 = run_ok(s2, 3, lb, 18);
    simdiff_sampler_destroy(s1);
    simdiff_sampler_destroy(s2);
    /* concurrent, on fresh samplers, several rounds */
    for (int round = 0; round < 3; round++) {
        s1 = make_sampler(m, &c1);
        s2 = make_sampler(m, &c2);
        float o1[3 * PER], o2[3 * PER];
        run_arg a1 = {.s = s1, .n = 3, .labels = la, .seed = 17, .out = o1};
        run_arg a2 = {.s = s2, .n = 3, .labels = lb, .seed = 18, .out = o2};
        pthread_t t1, t2;
        ck_assert_int_eq(pthread_create(&t1, NULL, run_thread, &a1), 0);
        ck_assert_int_eq(pthread_create(&t2, NULL, run_thread, &a2), 0);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        ck_assert_int_eq(a1.st, SIMDIFF_OK);
        ck_assert_int_eq(a2.st, SIMDIFF_OK);
        ck_assert_mem_eq(o1, r1, sizeof o1);
        ck_assert_mem_eq(o2, r2, sizeof o2);
        simdiff_sampler_destroy(s1);
        simdiff_sampler_destroy(s2);
    }
    free(r1);
    free(r2);
    simdiff_model_destroy(m);
}
END_TEST

/* One sampler used from two threads at once: the second run gets MISUSE
 * (or runs after the first; never a crash or a mixed result). */
START_TEST(one_sampler_two_threads_is_misuse)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 2000);
    simdiff_sampler *s = make_sampler(m, &c);
    float o1[PER], o2[PER];
    run_arg a1 = {.s = s, .n = 1, .seed = 1, .out = o1};
    pthread_t t1;
    ck_assert_int_eq(pthread_create(&t1, NULL, run_thread, &a1), 0);
    usleep(100 * 1000);
    simdiff_status st = simdiff_sampler_run(s, 1, NULL, 1, o2);
    simdiff_sampler_cancel(s);
    pthread_join(t1, NULL);
    ck_assert_int_eq(st, SIMDIFF_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "already running"));
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- settings stored with the model ------------------------------------- */

static void tmp_path(char *path, size_t cap, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, cap, "%s/%s-XXXXXX", base ? base : "/tmp", tag);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void assert_same_settings(const simdiff_sampler_config *a, const simdiff_sampler_config *b)
{
    ck_assert_int_eq(a->method, b->method);
    ck_assert_int_eq(a->steps, b->steps);
    ck_assert(a->eta == b->eta);
    ck_assert(a->guidance == b->guidance);
    ck_assert_int_eq(a->clip_x, b->clip_x);
    ck_assert_int_eq(a->spacing, b->spacing);
    ck_assert_int_eq(a->guidance_interval, b->guidance_interval);
    ck_assert(a->guidance_logsnr_min == b->guidance_logsnr_min);
    ck_assert(a->guidance_logsnr_max == b->guidance_logsnr_max);
}

/* m saved as F32 and as F16 and loaded back stores exactly want. */
static void files_keep_settings(simdiff_model *m, const simdiff_sampler_config *want,
                                const char *tag)
{
    for (int f16 = 0; f16 < 2; f16++) {
        char path[512];
        tmp_path(path, sizeof path, tag);
        ck_assert_int_eq(f16 ? simdiff_model_save_safetensors_f16(m, path)
                             : simdiff_model_save_safetensors(m, path),
                         SIMDIFF_OK);
        simdiff_model *m2 = NULL;
        ck_assert_msg(simdiff_model_load(&m2, path) == SIMDIFF_OK, "%s", simdiff_last_error());
        simdiff_sampler_config got;
        ck_assert_int_eq(simdiff_sampler_config_init_for_model(&got, m2), SIMDIFF_OK);
        assert_same_settings(&got, want);
        simdiff_model_destroy(m2);
        unlink(path);
    }
}

/* The stored settings: a fresh model has none (library defaults), set ->
 * save (F32 and F16) -> load gives them back exactly, a bad config is
 * refused and leaves the stored ones, NULL removes them. */
START_TEST(model_defaults_round_trip)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config lib, got, want;
    ck_assert_int_eq(simdiff_sampler_config_init(&lib), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&got, m), SIMDIFF_OK);
    assert_same_settings(&got, &lib);

    ck_assert_int_eq(simdiff_sampler_config_init(&want), SIMDIFF_OK);
    want.method = SIMDIFF_SAMPLER_DDIM;
    want.steps = 12;
    want.eta = 0.3;
    want.guidance = 2.7182818284590451; /* needs all 17 digits */
    want.clip_x = 0;
    want.spacing = SIMDIFF_SPACING_UNIFORM_LOGSNR;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &want), SIMDIFF_OK);
    simdiff_sampler_config bad = want;
    bad.steps = 0;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &bad), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "steps"));
    bad = want;
    bad.eta = NAN;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &bad), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(NULL, &want), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(NULL, m), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&got, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&got, m), SIMDIFF_OK);
    assert_same_settings(&got, &want);
    ck_assert_ptr_null(got.schedule);
    ck_assert_int_eq(got.batch_chunk, 0);

    files_keep_settings(m, &want, "defaults");
    /* With a guidance interval (bounds that need all 17 digits): the text
     * names it, files keep it, and a stored text without it reads as off. */
    want.guidance_interval = 1;
    want.guidance_logsnr_min = -3.3843201133891467;
    want.guidance_logsnr_max = 2.5459814407208427;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &want), SIMDIFF_OK);
    char text[256];
    ck_assert_int_eq(simdiff_model_sampler_text(m, text, sizeof text, NULL), SIMDIFF_OK);
    ck_assert_ptr_nonnull(strstr(text, " guidance_logsnr_min=-3.3843201133891"));
    ck_assert_ptr_nonnull(strstr(text, " guidance_logsnr_max=2.5459814407208"));
    files_keep_settings(m, &want, "interval");
    want.guidance_interval = 0;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &want), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_sampler_text(m, text, sizeof text, NULL), SIMDIFF_OK);
    ck_assert_ptr_null(strstr(text, "guidance_logsnr"));
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&got, m), SIMDIFF_OK);
    want.guidance_logsnr_min = want.guidance_logsnr_max = 0.0; /* off: zeros */
    assert_same_settings(&got, &want);

    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&got, m), SIMDIFF_OK);
    assert_same_settings(&got, &lib);
    simdiff_model_destroy(m);
}
END_TEST

/* simdiff_sampler_create(cfg NULL) samples with the stored settings and the
 * model's schedule: the same bits as the explicit config, and not those of
 * the library defaults. */
START_TEST(model_defaults_drive_null_config)
{
    simdiff_model *m = make_model();
    simdiff_sampler *s = (simdiff_sampler *)&s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "schedule"));
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 5); /* sets g_sched */
    ck_assert_int_eq(simdiff_model_set_schedule(m, g_sched), SIMDIFF_OK);
    c.schedule = NULL;
    c.guidance = 2.5;
    c.eta = 0.5;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &c), SIMDIFF_OK);
    const int labels[3] = {0, 2, -1};
    simdiff_sampler *s_null = make_sampler(m, NULL), *s_cfg = make_sampler(m, &c);
    simdiff_sampler_config lib;
    simdiff_sampler_config_init(&lib);
    simdiff_sampler *s_lib = make_sampler(m, &lib);
    float *a = run_ok(s_null, 3, labels, 11), *b = run_ok(s_cfg, 3, labels, 11),
          *d = run_ok(s_lib, 3, labels, 11);
    ck_assert(memcmp(a, b, 3 * PER * sizeof *a) == 0);
    ck_assert(memcmp(a, d, 3 * PER * sizeof *a) != 0);
    free(a);
    free(b);
    free(d);
    simdiff_sampler_destroy(s_null);
    simdiff_sampler_destroy(s_cfg);
    simdiff_sampler_destroy(s_lib);
    ck_assert_int_eq(simdiff_model_set_schedule(m, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_schedule(NULL, g_sched), SIMDIFF_ERR_INVALID_ARG);
    simdiff_model_destroy(m);
}
END_TEST

/* A file whose 'simdiff.sampler' text is malformed or out of range is
 * refused at load with SIMDIFF_ERR_FORMAT and a message naming the cause;
 * each case edits the stored text in place (same length). */
START_TEST(model_defaults_hostile_metadata)
{
    static const struct {
        const char *to, *needle;
    } cases[] = {
        {"method=9;steps=16", "method"},
        {"method=2;steps=00", "steps"},
        {"method=2;steps=1x", "not a finite number"},
        {"method=2;steps=.5", "integer"},
        {"method=2;stXps=16", "unknown key"},
        {"method=2;method=6", "twice"},
        {"method=2;steps16;", "key=value"},
        {"method=2;steps=-5", "steps"},
    };
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    ck_assert_int_eq(simdiff_sampler_config_init(&c), SIMDIFF_OK);
    c.steps = 16;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &c), SIMDIFF_OK);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[512];
        tmp_path(path, sizeof path, "hostile");
        ck_assert_int_eq(simdiff_model_save_safetensors(m, path), SIMDIFF_OK);
        sdtest_patch_file(path, "method=2;steps=16", cases[k].to);
        simdiff_model *m2 = (simdiff_model *)&m2;
        simdiff_status st = simdiff_model_load(&m2, path);
        ck_assert_msg(st == SIMDIFF_ERR_FORMAT, "case %zu: %s (%s)", k, simdiff_status_str(st),
                      simdiff_last_error());
        ck_assert_ptr_null(m2);
        ck_assert_msg(strstr(simdiff_last_error(), cases[k].needle) != NULL,
                      "case %zu: '%s' lacks '%s'", k, simdiff_last_error(), cases[k].needle);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "simdiff.sampler"));
        unlink(path);
    }
    /* A non-finite guidance, a fractional and an out-of-range clip_x: */
    static const char *const gfrom[] = {"guidance=1", "clip_x=1;s", "clip_x=1;s"};
    static const char *const gto[] = {"guidance=n", "clip_x=.5s", "clip_x=2;s"};
    for (size_t k = 0; k < 3; k++) {
        char path[512];
        tmp_path(path, sizeof path, "hostile");
        ck_assert_int_eq(simdiff_model_save_safetensors(m, path), SIMDIFF_OK);
        sdtest_patch_file(path, gfrom[k], gto[k]);
        simdiff_model *m2 = NULL;
        ck_assert_int_eq(simdiff_model_load(&m2, path), SIMDIFF_ERR_FORMAT);
        ck_assert_ptr_null(m2);
        unlink(path);
    }
    simdiff_model_destroy(m);
}
END_TEST

/* F16 saving refuses weights beyond half precision and writes nothing. */
START_TEST(model_save_f16_range)
{
    simdiff_model *m = make_model();
    char path[512];
    tmp_path(path, sizeof path, "f16");
    unlink(path);
    /* Through the file: set one weight to 1e5 (safetensors F32 data starts
     * after the header; make_model's approach). */
    ck_assert_int_eq(simdiff_model_save_safetensors(m, path), SIMDIFF_OK);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    float big = 1e5f;
    ck_assert_int_eq(fseek(f, st_data_offset(f), SEEK_SET), 0);
    ck_assert_int_eq(fwrite(&big, sizeof big, 1, f), 1);
    fclose(f);
    simdiff_model *m2 = NULL;
    ck_assert_int_eq(simdiff_model_load(&m2, path), SIMDIFF_OK);
    unlink(path);
    ck_assert_int_eq(simdiff_model_save_safetensors_f16(m2, path), SIMDIFF_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(m2), "half precision"));
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing written */
    ck_assert_int_eq(simdiff_model_save_safetensors_f16(m, path), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_save_safetensors_f16(NULL, path), SIMDIFF_ERR_INVALID_ARG);
    unlink(path);
    simdiff_model_destroy(m2);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, create_bad_arguments);
    tcase_add_test(tc, run_bad_arguments);
    tcase_add_loop_test(tc, outputs_in_range_and_seeded, 0, 3);
    tcase_add_loop_test(tc, batch_invariance, 0, 3);
    tcase_add_loop_test(tc, thread_count_invariance, 0, 3);
    tcase_add_test(tc, ddim_eta1_is_ddpm);
    tcase_add_test(tc, spacing_and_schedule_override);
    tcase_add_loop_test(tc, guidance_convention, 0, 2);
    tcase_add_test(tc, guidance_interval_by_hand);
    tcase_add_test(tc, progress_and_preview);
    tcase_add_test(tc, callback_stops);
    tcase_add_test(tc, cancel_from_another_thread);
    tcase_add_test(tc, cancel_then_rerun);
    tcase_add_test(tc, shared_model_two_threads);
    tcase_add_test(tc, one_sampler_two_threads_is_misuse);
    tcase_add_test(tc, model_defaults_round_trip);
    tcase_add_test(tc, model_defaults_drive_null_config);
    tcase_add_test(tc, model_defaults_hostile_metadata);
    tcase_add_test(tc, model_save_f16_range);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
