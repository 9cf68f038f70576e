/* Editing through the public API (sampler.h: simdiff_sampler_run_edit):
 * argument checks, strength 1 = the plain run, kept pixels bit for bit,
 * determinism across batch sizes, chunks and threads, variations,
 * previews, small strengths. The closed forms of edited runs (zero model)
 * are in test_sampler_internal.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "sdtest.h"
#include "simdiff/simdiff.h"

static const int methods[] = {SIMDIFF_SAMPLER_DDPM, SIMDIFF_SAMPLER_DDIM,
                              SIMDIFF_SAMPLER_DPMPP_2M};

/* n images in [-1, 1) and masks of 1 (keep), 0 (generate) and 0.5. */
static void images(int n, uint64_t seed, float *x, float *mask)
{
    uint64_t s = seed | 1;
    for (int j = 0; j < n * PER; j++) {
        x[j] = rnd(&s, 1.0f);
        if (mask) {
            float u = rnd(&s, 1.0f);
            mask[j] = u < -0.2f ? 1.0f : (u < 0.8f ? 0.0f : 0.5f);
        }
    }
}

static void edit_for(simdiff_edit *e, const float *x, int count, const float *mask,
                     double strength)
{
    ck_assert_int_eq(simdiff_edit_init(e), SIMDIFF_OK);
    e->init = x;
    e->init_count = count;
    e->channels = 1;
    e->height = e->width = IMG;
    e->strength = strength;
    e->mask = mask;
    e->mask_count = count;
}

static float *edit_ok(simdiff_sampler *s, int n, const int *labels, uint64_t seed,
                      const simdiff_edit *e)
{
    float *out = malloc((size_t)n * PER * sizeof *out);
    simdiff_status st = simdiff_sampler_run_edit(s, n, labels, seed, e, out);
    ck_assert_msg(st == SIMDIFF_OK, "edit: %s (%s)", simdiff_status_str(st),
                  simdiff_sampler_errmsg(s));
    return out;
}

START_TEST(edit_defaults)
{
    simdiff_edit e;
    ck_assert_int_eq(simdiff_edit_init(&e), SIMDIFF_OK);
    ck_assert_uint_eq(e.struct_size, sizeof e);
    ck_assert_ptr_null(e.init);
    ck_assert_ptr_null(e.mask);
    ck_assert_int_eq(e.init_count, 1);
    ck_assert_int_eq(e.mask_count, 1);
    ck_assert_int_eq(e.mask_channels, 1);
    ck_assert(e.strength == 1.0);
    ck_assert_int_eq(e.resample, 1);
    ck_assert_int_eq(e.resample_jump, 1);
}
END_TEST

/* Every bad input: SIMDIFF_ERR_INVALID_ARG, a message naming what is
 * wrong, out untouched. */
START_TEST(edit_bad_arguments)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DPMPP_2M, 6);
    simdiff_sampler *s = make_sampler(m, &c);
    enum { N = 2 };
    float x[N * PER], mk[N * PER], out[N * PER];
    images(N, 3, x, mk);
    struct bad {
        const char *what, *msg;
    } cases[] = {
        {"strength 0", "strength"},      {"strength 1.5", "strength"},
        {"strength NaN", "strength"},    {"strength<1 no init", "init is NULL"},
        {"mask no init", "needs an init"}, {"channels 3", "model makes"},
        {"height 16", "model makes"},    {"init_count 3", "init_count"},
        {"mask_count 0", "mask_count"},  {"mask_channels 2", "mask_channels"},
        {"init NaN", "init["},           {"init 1.5", "init["},
        {"mask NaN", "mask["},           {"mask -0.1", "mask["},
        {"resample no mask", "needs a mask"}, {"resample 0", "resample"},
        {"jump too long", "resample_jump"}, {"struct_size 3", "struct_size"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float xb[N * PER], mb[N * PER];
        memcpy(xb, x, sizeof xb);
        memcpy(mb, mk, sizeof mb);
        simdiff_edit e;
        edit_for(&e, xb, N, mb, 0.5);
        const char *w = cases[k].what;
        if (!strcmp(w, "strength 0"))
            e.strength = 0;
        else if (!strcmp(w, "strength 1.5"))
            e.strength = 1.5;
        else if (!strcmp(w, "strength NaN"))
            e.strength = NAN;
        else if (!strcmp(w, "strength<1 no init"))
            e.init = NULL, e.mask = NULL;
        else if (!strcmp(w, "mask no init"))
            e.init = NULL, e.strength = 1;
        else if (!strcmp(w, "channels 3"))
            e.channels = 3;
        else if (!strcmp(w, "height 16"))
            e.height = 16;
        else if (!strcmp(w, "init_count 3"))
            e.init_count = 3;
        else if (!strcmp(w, "mask_count 0"))
            e.mask_count = 0;
        else if (!strcmp(w, "mask_channels 2"))
            e.mask_channels = 2;
        else if (!strcmp(w, "init NaN"))
            xb[PER + 5] = NAN;
        else if (!strcmp(w, "init 1.5"))
            xb[7] = 1.5f;
        else if (!strcmp(w, "mask NaN"))
            mb[9] = NAN;
        else if (!strcmp(w, "mask -0.1"))
            mb[PER] = -0.1f;
        else if (!strcmp(w, "resample no mask"))
            e.mask = NULL, e.resample = 2;
        else if (!strcmp(w, "resample 0"))
            e.resample = 0;
        else if (!strcmp(w, "jump too long"))
            e.resample = 2, e.resample_jump = 3; /* strength 0.5 of 6: 3 steps */
        else if (!strcmp(w, "struct_size 3"))
            e.struct_size = 3;
        for (int j = 0; j < N * PER; j++)
            out[j] = 7.0f;
        simdiff_status st = simdiff_sampler_run_edit(s, N, NULL, 1, &e, out);
        ck_assert_msg(st == SIMDIFF_ERR_INVALID_ARG, "%s: status %s", w,
                      simdiff_status_str(st));
        ck_assert_msg(strstr(simdiff_sampler_errmsg(s), cases[k].msg), "%s: message '%s'", w,
                      simdiff_sampler_errmsg(s));
        for (int j = 0; j < N * PER; j++)
            ck_assert_msg(out[j] == 7.0f, "%s: out written", w);
    }
    int ev = 0;
    ck_assert_int_eq(simdiff_sampler_edit_evals(NULL, NULL, &ev), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_edit_evals(s, NULL, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_edit_evals(s, NULL, &ev), SIMDIFF_OK);
    ck_assert_int_eq(ev, 6);
    ck_assert_int_eq(simdiff_edit_init(NULL), SIMDIFF_ERR_INVALID_ARG);
    /* the sampler still works */
    free(run_ok(s, 1, NULL, 1));
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* Strength 1 without a mask is the plain run, bit for bit, whatever the
 * init image; so is a NULL edit. */
START_TEST(strength_one_is_plain)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, methods[_i], 5);
    c.eta = 0.5;
    c.guidance = 2.0;
    simdiff_sampler *s = make_sampler(m, &c);
    int labels[3] = {0, 2, -1};
    float x[3 * PER];
    images(3, 11, x, NULL);
    simdiff_edit e;
    edit_for(&e, x, 3, NULL, 1.0);
    float *a = run_ok(s, 3, labels, 42);
    float *b = edit_ok(s, 3, labels, 42, &e);
    float *d = edit_ok(s, 3, labels, 42, NULL);
    ck_assert_mem_eq(a, b, 3 * PER * sizeof(float));
    ck_assert_mem_eq(a, d, 3 * PER * sizeof(float));
    /* and a strength below 1 is not */
    e.strength = 0.7;
    float *f = edit_ok(s, 3, labels, 42, &e);
    ck_assert(memcmp(a, f, 3 * PER * sizeof(float)) != 0);
    free(a);
    free(b);
    free(d);
    free(f);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* Where the mask is 1 the output is the init image bit for bit (every
 * method, guidance, strengths, resampling); where it is 0 the pixels are
 * generated. */
START_TEST(mask_keeps_pixels)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, methods[_i], 6);
    c.guidance = 3.0;
    simdiff_sampler *s = make_sampler(m, &c);
    int labels[3] = {1, 0, 2};
    float x[3 * PER], mk[3 * PER];
    images(3, 5 + (uint64_t)_i, x, mk);
    const double strengths[] = {1.0, 0.55};
    for (int r = 1; r <= 2; r++)
        for (int q = 0; q < 2; q++) {
            simdiff_edit e;
            edit_for(&e, x, 3, mk, strengths[q]);
            e.resample = r;
            float *o = edit_ok(s, 3, labels, 8, &e);
            int kept = 0, changed = 0, gen = 0;
            for (int j = 0; j < 3 * PER; j++) {
                if (mk[j] == 1.0f) {
                    ck_assert_msg(memcmp(&o[j], &x[j], sizeof(float)) == 0,
                                  "pixel %d: %.9g != %.9g", j, (double)o[j], (double)x[j]);
                    kept++;
                } else if (mk[j] == 0.0f) {
                    gen++;
                    changed += o[j] != x[j];
                }
            }
            ck_assert_int_gt(kept, 10);
            ck_assert_int_ge(changed, gen * 9 / 10);
            free(o);
        }
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* Image i depends only on the seed, i and its own inputs: the same in a
 * batch of 4 or alone, in chunks of 1, on 1 or 2 threads. */
START_TEST(edit_batch_invariance)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, methods[_i], 6);
    c.guidance = 2.5;
    c.eta = 1.0;
    simdiff_sampler *s = make_sampler(m, &c);
    c.batch_chunk = 1;
    simdiff_sampler *s1 = make_sampler(m, &c);
    int labels[4] = {2, 0, -1, 1};
    float x[4 * PER], mk[4 * PER];
    images(4, 77, x, mk);
    simdiff_edit e;
    edit_for(&e, x, 4, mk, 0.8);
    e.resample = 2;
    e.resample_jump = 2;
    float *a = edit_ok(s, 4, labels, 3, &e);
    float *b = edit_ok(s1, 4, labels, 3, &e);
    ck_assert_mem_eq(a, b, 4 * PER * sizeof(float));
    ck_assert_int_eq(simdiff_set_num_threads(1), SIMDIFF_OK);
    float *d = edit_ok(s, 4, labels, 3, &e);
    ck_assert_int_eq(simdiff_set_num_threads(0), SIMDIFF_OK);
    ck_assert_mem_eq(a, d, 4 * PER * sizeof(float));
    simdiff_edit one = e;
    one.init_count = one.mask_count = 1;
    float *f = edit_ok(s, 1, labels, 3, &one);
    ck_assert_mem_eq(a, f, PER * sizeof(float));
    free(a);
    free(b);
    free(d);
    free(f);
    simdiff_sampler_destroy(s);
    simdiff_sampler_destroy(s1);
    simdiff_model_destroy(m);
}
END_TEST

/* Variations: one init for all images; they differ from each other, come
 * closer to the init as the strength falls, and image 0 is the run of
 * one image. */
START_TEST(variations)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DPMPP_2M, 10);
    simdiff_sampler *s = make_sampler(m, &c);
    float x[PER];
    images(1, 19, x, NULL);
    double dist[2];
    const double strengths[2] = {0.9, 0.3};
    for (int q = 0; q < 2; q++) {
        simdiff_edit e;
        edit_for(&e, x, 1, NULL, strengths[q]);
        float *o = edit_ok(s, 3, NULL, 12, &e);
        float *one = edit_ok(s, 1, NULL, 12, &e);
        ck_assert_mem_eq(o, one, PER * sizeof(float));
        ck_assert(memcmp(o, o + PER, PER * sizeof(float)) != 0);
        ck_assert(memcmp(o + PER, o + 2 * PER, PER * sizeof(float)) != 0);
        dist[q] = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < PER; j++)
                dist[q] += fabs((double)o[i * PER + j] - x[j]);
        free(o);
        free(one);
    }
    ck_assert_msg(dist[1] < dist[0], "strength 0.3 is not closer: %g vs %g", dist[1], dist[0]);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* A small strength returns the init image up to one step of the model:
 * out = α_s²·x₀ + σ_s·(α_s·ε − v̂), so |out − x₀| shrinks like σ_s. */
START_TEST(small_strength_returns_init)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, 16);
    simdiff_sampler *s = make_sampler(m, &c);
    float x[2 * PER];
    images(2, 23, x, NULL);
    for (int j = 0; j < 2 * PER; j++)
        x[j] *= 0.9f; /* inside the clipping range */
    const double st[3] = {0.05, 0.01, 0.002};
    double ratio[3], err[3];
    for (int q = 0; q < 3; q++) {
        simdiff_edit e;
        edit_for(&e, x, 2, NULL, st[q]);
        int ev = 0;
        ck_assert_int_eq(simdiff_sampler_edit_evals(s, &e, &ev), SIMDIFF_OK);
        ck_assert_int_eq(ev, 1); /* below t_15 = 1/16: one step */
        float *o = edit_ok(s, 2, NULL, 4, &e);
        double a = 0, sg = 0;
        ck_assert_int_eq(simdiff_schedule_alpha_sigma(g_sched, 1, &st[q], &a, &sg),
                         SIMDIFF_OK);
        err[q] = 0;
        for (int j = 0; j < 2 * PER; j++)
            err[q] = fmax(err[q], fabs((double)o[j] - x[j]));
        ratio[q] = err[q] / sg;
        free(o);
    }
    ck_assert_msg(err[2] < err[1] && err[1] < err[0], "errors %g %g %g", err[0], err[1],
                  err[2]);
    ck_assert_msg(err[2] < 0.05, "strength 0.002: max error %g", err[2]);
    /* O(σ_s): the ratio stays bounded (it tends to max|α·ε − v̂|). */
    for (int q = 1; q < 3; q++)
        ck_assert_msg(ratio[q] < 2.0 * ratio[0] + 1.0, "err/sigma %g %g %g", ratio[0],
                      ratio[1], ratio[2]);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* Previews of an inpainting show the kept pixels; progress counts the
 * evaluations; a stop from the callback leaves out untouched. */
typedef struct prev_state {
    const float *x, *mask;
    int calls, total, stop_at, ok;
} prev_state;

static int on_step(void *u, int step, int total, const float *xp)
{
    prev_state *p = u;
    p->calls++;
    p->total = total;
    if (xp)
        for (int j = 0; j < 2 * PER; j++)
            if (p->mask[j] == 1.0f && xp[j] != p->x[j])
                p->ok = 0;
    return step == p->stop_at;
}

START_TEST(edit_previews_and_stop)
{
    simdiff_model *m = make_model();
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDPM, 8);
    simdiff_sampler *s = make_sampler(m, &c);
    float x[2 * PER], mk[2 * PER], out[2 * PER];
    images(2, 31, x, mk);
    simdiff_edit e;
    edit_for(&e, x, 2, mk, 0.75);
    e.resample = 3;
    e.resample_jump = 2;
    prev_state p = {x, mk, 0, 0, -1, 1};
    ck_assert_int_eq(simdiff_sampler_set_progress(s, on_step, &p), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_set_preview_every(s, 1), SIMDIFF_OK);
    int ev = 0;
    ck_assert_int_eq(simdiff_sampler_edit_evals(s, &e, &ev), SIMDIFF_OK);
    /* 6 steps below 0.75; jump points 2 and 4, 2 more passes of 2 steps */
    ck_assert_int_eq(ev, 6 + 2 * 2 * 2);
    free(edit_ok(s, 2, NULL, 9, &e));
    ck_assert_int_eq(p.calls, ev);
    ck_assert_int_eq(p.total, ev);
    ck_assert(p.ok);
    p = (prev_state){x, mk, 0, 0, 5, 1};
    for (int j = 0; j < 2 * PER; j++)
        out[j] = 7.0f;
    ck_assert_int_eq(simdiff_sampler_run_edit(s, 2, NULL, 9, &e, out), SIMDIFF_ERR_CANCELLED);
    for (int j = 0; j < 2 * PER; j++)
        ck_assert(out[j] == 7.0f);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("sampler-edit");
    TCase *tc = tcase_create("edit");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, edit_defaults);
    tcase_add_test(tc, edit_bad_arguments);
    tcase_add_loop_test(tc, strength_one_is_plain, 0, 3);
    tcase_add_loop_test(tc, mask_keeps_pixels, 0, 3);
    tcase_add_loop_test(tc, edit_batch_invariance, 0, 3);
    tcase_add_test(tc, variations);
    tcase_add_test(tc, small_strength_returns_init);
    tcase_add_test(tc, edit_previews_and_stop);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
