/* What an embedding application needs from the sampler, through the public
 * API: per-handle thread budgets, per-image seeds and first indices (image
 * i alone == image i in a batch), variation seeds (checked against a
 * spherical interpolation computed here), caller-supplied starting noise,
 * conditioning vectors (checked against simdiff_model_forward_cond), the
 * getters, RGB8/RGBA8 conversion (checked against the quantization rule
 * computed by hand), sticky cancel and messages for misuse. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

#include "fixture.h"

static float *run_with_ok(simdiff_sampler *s, int n, const int *labels, uint64_t seed,
                          const simdiff_run_options *o)
{
    float *out = malloc((size_t)n * PER * sizeof *out);
    simdiff_status st = simdiff_sampler_run_with(s, n, labels, seed, NULL, o, out);
    ck_assert_msg(st == SIMDIFF_OK, "run_with: %s (%s)", simdiff_status_str(st),
                  simdiff_sampler_errmsg(s));
    return out;
}

static float *noise_ok(simdiff_sampler *s, int n, uint64_t seed, const simdiff_run_options *o)
{
    float *out = malloc((size_t)n * PER * sizeof *out);
    simdiff_status st = simdiff_sampler_initial_noise(s, n, seed, o, out);
    ck_assert_msg(st == SIMDIFF_OK, "initial_noise: %s", simdiff_sampler_errmsg(s));
    return out;
}

/* g_sched (made by the first sampler_cfg). */
static void need_sched(void)
{
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 1);
}

/* ---- threads ------------------------------------------------------------- */

typedef struct thr_seen {
    int max_threads;
} thr_seen;

static int see_threads(void *user, int step, int total, const float *x)
{
    (void)step, (void)total, (void)x;
    thr_seen *t = user;
    int n = omp_get_max_threads();
    if (n > t->max_threads)
        t->max_threads = n;
    return 0;
}

START_TEST(thread_budget_per_handle)
{
    simdiff_model *m = make_model();
    ck_assert_int_eq(simdiff_set_adaptive_threads(0), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_get_adaptive_threads(), 0);
    ck_assert_int_eq(simdiff_set_num_threads(2), SIMDIFF_OK);
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, 3);
    c.num_threads = 3;
    simdiff_sampler *s3 = make_sampler(m, &c);
    c.num_threads = 1;
    simdiff_sampler *s1 = make_sampler(m, &c);
    c.num_threads = 0;
    simdiff_sampler *s0 = make_sampler(m, &c);
    thr_seen t3 = {0}, t1 = {0}, t0 = {0};
    simdiff_sampler_set_progress(s3, see_threads, &t3);
    simdiff_sampler_set_progress(s1, see_threads, &t1);
    simdiff_sampler_set_progress(s0, see_threads, &t0);
    float *a = run_ok(s3, 2, NULL, 5), *b = run_ok(s1, 2, NULL, 5), *d = run_ok(s0, 2, NULL, 5);
    /* each handle ran with its own count, the process-wide one untouched */
    ck_assert_int_eq(t3.max_threads, 3);
    ck_assert_int_eq(t1.max_threads, 1);
    ck_assert_int_eq(t0.max_threads, 2);
    ck_assert_int_eq(simdiff_get_num_threads(), 2);
    ck_assert_mem_eq(a, b, 2 * PER * sizeof(float));
    ck_assert_mem_eq(a, d, 2 * PER * sizeof(float));
    /* adaptive: never more than the budget, at least one */
    ck_assert_int_eq(simdiff_set_adaptive_threads(1), SIMDIFF_OK);
    t3.max_threads = 0;
    free(run_ok(s3, 2, NULL, 5));
    ck_assert_int_ge(t3.max_threads, 1);
    ck_assert_int_le(t3.max_threads, 3);
    ck_assert_int_eq(simdiff_set_adaptive_threads(2), SIMDIFF_ERR_INVALID_ARG);
    /* refused budgets */
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, 3);
    simdiff_sampler *bad = NULL;
    c.num_threads = -3;
    ck_assert_int_eq(simdiff_sampler_create(&bad, m, &c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "num_threads is -3"));
    c.num_threads = 5000;
    ck_assert_int_eq(simdiff_sampler_create(&bad, m, &c), SIMDIFF_ERR_INVALID_ARG);
    simdiff_trainer_config tc;
    simdiff_trainer_config_init(&tc);
    tc.num_threads = -1;
    simdiff_trainer *tr = NULL;
    ck_assert_int_eq(simdiff_trainer_create(&tr, m, g_sched, &tc, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "num_threads"));
    simdiff_set_num_threads(0);
    free(a);
    free(b);
    free(d);
    simdiff_sampler_destroy(s0);
    simdiff_sampler_destroy(s1);
    simdiff_sampler_destroy(s3);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- seeds ----------------------------------------------------------------- */

START_TEST(first_index_redraws_one_image)
{
    /* DDPM adds noise at every step: every stream of the image matters. */
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, 5);
    c.guidance = 2.0;
    simdiff_sampler *s = make_sampler(m, &c);
    int labels[5] = {2, 0, 1, 1, -1};
    float *all = run_ok(s, 5, labels, 41);
    simdiff_run_options o;
    ck_assert_int_eq(simdiff_run_options_init(&o), SIMDIFF_OK);
    /* no options at all and default options: the plain run */
    float *same = run_with_ok(s, 5, labels, 41, &o);
    ck_assert_mem_eq(same, all, 5 * PER * sizeof(float));
    free(same);
    for (int i = 0; i < 5; i++) {
        o.first_index = (uint64_t)i;
        float *one = run_with_ok(s, 1, labels + i, 41, &o);
        ck_assert_msg(!memcmp(one, all + (size_t)i * PER, PER * sizeof(float)), "image %d", i);
        free(one);
    }
    o.first_index = 2;
    float *tail = run_with_ok(s, 3, labels + 2, 41, &o);
    ck_assert_mem_eq(tail, all + 2 * PER, 3 * PER * sizeof(float));
    free(tail);
    free(all);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(per_image_seeds)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 4);
    c.eta = 0.7;
    simdiff_sampler *s = make_sampler(m, &c);
    const uint64_t seeds[4] = {11, 7, 7, 30};
    const int labels[4] = {0, 1, 1, 2};
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    o.seeds = seeds;
    o.first_index = 99; /* ignored with seeds */
    float *b = run_with_ok(s, 4, labels, 12345, &o);
    for (int i = 0; i < 4; i++) {
        float *alone = run_ok(s, 1, labels + i, seeds[i]);
        ck_assert_msg(!memcmp(alone, b + (size_t)i * PER, PER * sizeof(float)), "image %d", i);
        free(alone);
    }
    ck_assert_mem_eq(b + PER, b + 2 * PER, PER * sizeof(float));
    free(b);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* slerp(v; a, b) computed here, in double, from the header's formula. */
static void slerp_ref(const float *a, const float *b, double v, float *out)
{
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < PER; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    double th = acos(ab / sqrt(aa * bb));
    for (int j = 0; j < PER; j++)
        out[j] = (float)((sin((1 - v) * th) * a[j] + sin(v * th) * b[j]) / sin(th));
}

START_TEST(variation_seeds)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DPMPP_2M, 4); /* no step noise */
    simdiff_sampler *s = make_sampler(m, &c);
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    float *base = noise_ok(s, 3, 5, &o);
    float *other = noise_ok(s, 3, 77, &o);
    o.variation_seed = 77;
    o.variation_strength = 1.0;
    float *full = noise_ok(s, 3, 5, &o);
    ck_assert_mem_eq(full, other, 3 * PER * sizeof(float));
    o.variation_strength = 0.0;
    float *none = noise_ok(s, 3, 5, &o);
    ck_assert_mem_eq(none, base, 3 * PER * sizeof(float));
    o.variation_strength = 0.3;
    float *mid = noise_ok(s, 3, 5, &o);
    float ref[PER];
    for (int i = 0; i < 3; i++) {
        slerp_ref(base + i * PER, other + i * PER, 0.3, ref);
        double na = 0, nm = 0;
        for (int j = 0; j < PER; j++) {
            ck_assert_msg(fabsf(mid[i * PER + j] - ref[j]) < 1e-5f, "image %d, %d: %g vs %g", i,
                          j, mid[i * PER + j], ref[j]);
            na += (double)base[i * PER + j] * base[i * PER + j];
            nm += (double)mid[i * PER + j] * mid[i * PER + j];
        }
        /* close to orthogonal noise: the norm stays (a lerp would shrink it
         * by about sqrt(0.7² + 0.3²) = 0.76) */
        ck_assert_msg(fabs(sqrt(nm / na) - 1.0) < 0.2, "norm ratio %g", sqrt(nm / na));
    }
    /* the run starts from that noise; at strength 1 it is the run of the
     * variation seed */
    float *run_mid = run_with_ok(s, 3, NULL, 5, &o);
    simdiff_run_options l;
    simdiff_run_options_init(&l);
    l.latents = mid;
    float *run_lat = run_with_ok(s, 3, NULL, 5, &l);
    ck_assert_mem_eq(run_mid, run_lat, 3 * PER * sizeof(float));
    o.variation_strength = 1.0;
    float *run_full = run_with_ok(s, 3, NULL, 5, &o);
    float *run_other = run_ok(s, 3, NULL, 77);
    ck_assert_mem_eq(run_full, run_other, 3 * PER * sizeof(float));
    /* per-image variation seeds */
    const uint64_t vs[3] = {77, 8, 77};
    o.variation_seeds = vs;
    o.variation_strength = 1.0;
    float *per = noise_ok(s, 3, 5, &o);
    ck_assert_mem_eq(per, other, PER * sizeof(float));
    ck_assert_mem_eq(per + 2 * PER, other + 2 * PER, PER * sizeof(float));
    ck_assert(memcmp(per + PER, other + PER, PER * sizeof(float)) != 0);
    /* refused */
    float out[3 * PER];
    o.variation_strength = 1.5;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 3, NULL, 5, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "variation_strength"));
    o.variation_strength = 0.5;
    o.latents = base;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 3, NULL, 5, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "latents"));
    free(base), free(other), free(full), free(none), free(mid), free(per);
    free(run_mid), free(run_lat), free(run_full), free(run_other);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(latents_from_the_caller)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, 4);
    simdiff_sampler *s = make_sampler(m, &c);
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    float *eps = noise_ok(s, 2, 9, &o);
    /* the starting noise of a plain run is N(0, 1) from the image's stream */
    double sum = 0, sq = 0;
    for (int j = 0; j < 2 * PER; j++)
        sum += eps[j], sq += (double)eps[j] * eps[j];
    ck_assert(fabs(sum / (2 * PER)) < 0.3 && fabs(sq / (2 * PER) - 1.0) < 0.4);
    o.latents = eps;
    float *a = run_with_ok(s, 2, NULL, 9, &o);
    float *b = run_ok(s, 2, NULL, 9);
    ck_assert_mem_eq(a, b, 2 * PER * sizeof(float));
    /* other latents, other image; non-finite latents refused */
    float *lat = malloc(2 * PER * sizeof *lat);
    for (int j = 0; j < 2 * PER; j++)
        lat[j] = -eps[j];
    o.latents = lat;
    float *d = run_with_ok(s, 2, NULL, 9, &o);
    ck_assert(memcmp(d, b, 2 * PER * sizeof(float)) != 0);
    lat[PER + 3] = NAN;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 2, NULL, 9, NULL, &o, d),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "latents[67] (image 1)"));
    free(eps), free(a), free(b), free(d), free(lat);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* ---- conditioning vectors --------------------------------------------------- */

#define CD 3

START_TEST(cond_vectors_reach_the_network)
{
    simdiff_model_config mc;
    tiny_config(&mc, SIMDIFF_PRED_V);
    mc.cond_dim = CD;
    simdiff_model *m = make_model_from(&mc);
    /* One step from t = 1: the output is x̂ = α·z − σ·v (clipped), v from
     * simdiff_model_forward_cond; with guidance w, v = u + w·(c − u), u the
     * null class with a zero vector. */
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 1);
    c.guidance = 2.5;
    simdiff_sampler *s = make_sampler(m, &c);
    const float cond[2 * CD] = {0.5f, -1.0f, 2.0f, -0.25f, 0.75f, 0.0f};
    const int labels[2] = {1, 2};
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    o.cond = cond;
    float *got = run_with_ok(s, 2, labels, 3, &o);
    float *z = noise_ok(s, 2, 3, &o);
    double lam1, al, sg;
    const double one = 1.0;
    ck_assert_int_eq(simdiff_schedule_logsnr(g_sched, 1, &one, &lam1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_alpha_sigma_from_logsnr(1, &lam1, &al, &sg), SIMDIFF_OK);
    double lams[2] = {lam1, lam1};
    float vc[2 * PER], vu[2 * PER];
    const int nulls[2] = {-1, -1};
    const float zeros[2 * CD] = {0};
    ck_assert_int_eq(simdiff_model_forward_cond(m, 2, z, lams, labels, cond, vc), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward_cond(m, 2, z, lams, nulls, zeros, vu), SIMDIFF_OK);
    for (int j = 0; j < 2 * PER; j++) {
        double v = (double)vu[j] + 2.5 * ((double)vc[j] - (double)vu[j]);
        double x = al * z[j] - sg * v;
        x = x < -1 ? -1 : (x > 1 ? 1 : x);
        ck_assert_msg(fabs(got[j] - x) < 1e-4, "%d: %g vs %g", j, got[j], x);
    }
    /* the vector matters; NULL is zeros */
    o.cond = zeros;
    float *zc = run_with_ok(s, 2, labels, 3, &o);
    o.cond = NULL;
    float *nc = run_with_ok(s, 2, labels, 3, &o);
    ck_assert_mem_eq(zc, nc, 2 * PER * sizeof(float));
    ck_assert(memcmp(zc, got, 2 * PER * sizeof(float)) != 0);
    /* a model without cond_dim refuses them */
    simdiff_model *plain = make_model();
    simdiff_sampler *ps = make_sampler(plain, &c);
    o.cond = cond;
    float out[2 * PER];
    ck_assert_int_eq(simdiff_sampler_run_with(ps, 2, labels, 3, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(ps), "cond_dim = 0"));
    free(got), free(z), free(zc), free(nc);
    simdiff_sampler_destroy(ps);
    simdiff_model_destroy(plain);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(trainer_takes_cond_vectors)
{
    simdiff_model_config mc;
    tiny_config(&mc, SIMDIFF_PRED_V);
    mc.cond_dim = CD;
    need_sched();
    float x[4 * PER], ca[4 * CD], zeros[4 * CD] = {0};
    uint64_t r = 5;
    for (int j = 0; j < 4 * PER; j++)
        x[j] = rnd(&r, 1.0f);
    for (int j = 0; j < 4 * CD; j++)
        ca[j] = rnd(&r, 2.0f);
    const int labels[4] = {0, 1, 2, 0};
    double losses[3][4];
    const float *conds[3] = {NULL, zeros, ca};
    for (int k = 0; k < 3; k++) {
        simdiff_model *m = make_model_from(&mc);
        simdiff_trainer *t = NULL;
        ck_assert_int_eq(simdiff_trainer_create(&t, m, g_sched, NULL, NULL), SIMDIFF_OK);
        for (int step = 0; step < 4; step++)
            ck_assert_int_eq(simdiff_trainer_step_cond(t, 4, x, labels, conds[k], &losses[k][step]),
                             SIMDIFF_OK);
        if (k == 2) { /* refused: a non-finite vector; a model without cond_dim */
            float bad[4 * CD];
            memcpy(bad, ca, sizeof bad);
            bad[5] = INFINITY;
            ck_assert_int_eq(simdiff_trainer_step_cond(t, 4, x, labels, bad, NULL),
                             SIMDIFF_ERR_INVALID_ARG);
            ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "cond[5]"));
        }
        simdiff_trainer_destroy(t);
        simdiff_model_destroy(m);
    }
    /* NULL is zeros, bit for bit; other vectors change the losses */
    ck_assert_mem_eq(losses[0], losses[1], sizeof losses[0]);
    ck_assert(memcmp(losses[0], losses[2], sizeof losses[0]) != 0);
    simdiff_model *plain = make_model();
    simdiff_trainer *t = NULL;
    ck_assert_int_eq(simdiff_trainer_create(&t, plain, g_sched, NULL, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_trainer_step_cond(t, 4, x, labels, ca, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(plain);
}
END_TEST

/* ---- getters and conversion ---------------------------------------------------- */

START_TEST(getters)
{
    simdiff_model *m = make_model();
    need_sched();
    int C = 0, H = 0, W = 0;
    ck_assert_int_eq(simdiff_model_image_shape(m, &C, &H, &W), SIMDIFF_OK);
    ck_assert_int_eq(C, 1);
    ck_assert_int_eq(H, IMG);
    ck_assert_int_eq(W, IMG);
    ck_assert_int_eq(simdiff_model_image_shape(NULL, &C, NULL, NULL), SIMDIFF_ERR_INVALID_ARG);
    char buf[1024];
    size_t len = 99;
    /* the loaded tiny model has no schedule and no settings */
    ck_assert_int_eq(simdiff_model_schedule_text(m, buf, sizeof buf, &len), SIMDIFF_OK);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(len, 0);
    ck_assert_int_eq(simdiff_model_set_schedule(m, g_sched), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_schedule_text(m, buf, sizeof buf, &len), SIMDIFF_OK);
    ck_assert_str_eq(buf, "shifted(8,64)");
    ck_assert_int_eq(len, 13);
    ck_assert_int_eq(simdiff_model_schedule_text(m, buf, 5, &len), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(len, 13);
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 12);
    c.eta = 0.5;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &c), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_sampler_text(m, buf, sizeof buf, &len), SIMDIFF_OK);
    ck_assert_ptr_nonnull(strstr(buf, "ddim"));
    ck_assert_ptr_nonnull(strstr(buf, "12"));
    ck_assert_int_eq(len, strlen(buf));
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(rgba8_conversion)
{
    /* two 1 x 2 images: gray, then RGB */
    const float gray[2] = {-1.0f, 0.0f};
    uint8_t px[2 * 4];
    ck_assert_int_eq(simdiff_images_to_rgb8(1, 1, 1, 2, gray, 4, px), SIMDIFF_OK);
    const uint8_t want_g[8] = {0, 0, 0, 255, 128, 128, 128, 255}; /* 0 -> floor(127.5 + .5) */
    ck_assert_mem_eq(px, want_g, 8);
    /* NCHW planes: R = {1, 0.5}, G = {-0.5, 2 (clamped)}, B = {NaN, -3} */
    const float rgb[6] = {1.0f, 0.5f, -0.5f, 2.0f, NAN, -3.0f};
    uint8_t p3[6];
    ck_assert_int_eq(simdiff_images_to_rgb8(1, 3, 1, 2, rgb, 3, p3), SIMDIFF_OK);
    /* 0.5 -> floor(1.5 * 127.5 + 0.5) = 191; -0.5 -> floor(0.5 * 127.5 + 0.5) = 64 */
    const uint8_t want_rgb[6] = {255, 64, 0, 191, 255, 0};
    ck_assert_mem_eq(p3, want_rgb, 6);
    ck_assert_int_eq(simdiff_images_to_rgb8(1, 2, 1, 2, rgb, 4, px), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_images_to_rgb8(1, 3, 1, 2, rgb, 2, px), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_images_to_rgb8(1, 3, 1, 2, NULL, 4, px), SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

/* ---- cancel and messages --------------------------------------------------------- */

START_TEST(sticky_cancel)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 3);
    simdiff_sampler *s = make_sampler(m, &c);
    float out[PER];
    for (int j = 0; j < PER; j++)
        out[j] = 5.0f;
    /* default: a cancel before the run is discarded */
    simdiff_sampler_cancel(s);
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 1, out), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_set_sticky_cancel(s, 1), SIMDIFF_OK);
    simdiff_sampler_cancel(s);
    for (int j = 0; j < PER; j++)
        out[j] = 5.0f;
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 1, out), SIMDIFF_ERR_CANCELLED);
    const char *msg = simdiff_sampler_errmsg(s);
    ck_assert_ptr_nonnull(strstr(msg, "cancelled"));
    ck_assert_ptr_null(strstr(msg, "before")); /* no op names */
    for (int j = 0; j < PER; j++)
        ck_assert(out[j] == 5.0f);
    /* consumed: the next run completes */
    ck_assert_int_eq(simdiff_sampler_run(s, 1, NULL, 1, out), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_set_sticky_cancel(s, 2), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "sticky"));
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

typedef struct reenter {
    simdiff_sampler *s;
    simdiff_status st[3];
    char msg[3][512];
} reenter;

static int reenter_cb(void *user, int step, int total, const float *x)
{
    (void)total, (void)x;
    reenter *r = user;
    if (step != 1)
        return 0;
    float out[PER];
    r->st[0] = simdiff_sampler_run(r->s, 1, NULL, 0, out);
    snprintf(r->msg[0], sizeof r->msg[0], "%s", simdiff_sampler_errmsg(r->s));
    r->st[1] = simdiff_sampler_set_preview_every(r->s, 2);
    snprintf(r->msg[1], sizeof r->msg[1], "%s", simdiff_sampler_errmsg(r->s));
    r->st[2] = simdiff_sampler_initial_noise(r->s, 1, 0, NULL, out);
    snprintf(r->msg[2], sizeof r->msg[2], "%s", simdiff_sampler_errmsg(r->s));
    return 0;
}

START_TEST(misuse_leaves_a_message)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 2);
    simdiff_sampler *s = make_sampler(m, &c);
    reenter r = {.s = s};
    simdiff_sampler_set_progress(s, reenter_cb, &r);
    free(run_ok(s, 1, NULL, 0));
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(r.st[k], SIMDIFF_ERR_MISUSE);
        ck_assert_msg(strstr(r.msg[k], "running") != NULL, "call %d: '%s'", k, r.msg[k]);
    }
    ck_assert_ptr_nonnull(strstr(r.msg[0], "simdiff_sampler_run"));
    ck_assert_ptr_nonnull(strstr(r.msg[1], "simdiff_sampler_set_preview_every"));
    /* a later failure of a run replaces it */
    float out[PER];
    ck_assert_int_eq(simdiff_sampler_run(s, 0, NULL, 0, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "n is 0"));
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("sampler-embed");
    TCase *tc = tcase_create("embed");
    tcase_add_test(tc, thread_budget_per_handle);
    tcase_add_test(tc, first_index_redraws_one_image);
    tcase_add_test(tc, per_image_seeds);
    tcase_add_test(tc, variation_seeds);
    tcase_add_test(tc, latents_from_the_caller);
    tcase_add_test(tc, cond_vectors_reach_the_network);
    tcase_add_test(tc, trainer_takes_cond_vectors);
    tcase_add_test(tc, getters);
    tcase_add_test(tc, rgba8_conversion);
    tcase_add_test(tc, sticky_cancel);
    tcase_add_test(tc, misuse_leaves_a_message);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
