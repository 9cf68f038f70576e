/* Sequence conditioning end to end (docs/text.md): a tiny U-ViT whose
 * context decides the image trains (loss finite and falling), resumes bit
 * for bit, samples with guidance against the null context; bad context
 * inputs are refused by the trainer and the sampler, nothing changed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "toytrain.h"
#include "simdiff/sampler.h"
#include "train/trainer_internal.h"

enum { T = 3, D = 4, B = 8, P = 64 };

/* The tiny U-ViT of the other training tests, without classes, with a
 * context of up to 3 tokens of 4 floats. */
static simdiff_model *ctx_model(uint64_t seed)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.num_classes = 0;
    cfg.ctx_dim = D;
    cfg.ctx_len = T;
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, seed), SIMDIFF_OK);
    return m;
}

static simdiff_trainer *ctx_trainer(simdiff_model *m, double lr)
{
    simdiff_trainer *t = sdtest_toy_trainer(m, lr);
    ck_assert(t->cfg.ctx_dropout == 0.1); /* the documented default */
    return t;
}

/* Two contexts: "bright" (2 tokens) and "dark" (1 token; its unused token
 * slots hold NaN, which must never be read). Example i of step k gets
 * context (i + k) % 2 and the constant image +0.8 or -0.8. */
static void ctx_of(int which, float *ctx, int *len)
{
    for (int j = 0; j < T * D; j++)
        ctx[j] = NAN;
    if (which == 0) {
        const float a[2 * D] = {1, 0, 0.5f, 0, 0, 1, 0, -0.5f};
        memcpy(ctx, a, sizeof a);
        *len = 2;
    } else {
        const float b[D] = {0, 0, -1, 1};
        memcpy(ctx, b, sizeof b);
        *len = 1;
    }
}

static void toy_batch(int k, float *x, float *ctx, int *len)
{
    for (int i = 0; i < B; i++) {
        int w = (i + k) % 2;
        ctx_of(w, ctx + i * T * D, &len[i]);
        for (int j = 0; j < P; j++)
            x[i * P + j] = w == 0 ? 0.8f : -0.8f;
    }
}

static double run(simdiff_trainer *t, int k0, int k1, double *losses)
{
    float x[B * P], ctx[B * T * D];
    int len[B];
    double last = 0;
    for (int k = k0; k < k1; k++) {
        toy_batch(k, x, ctx, len);
        ck_assert_msg(simdiff_trainer_step_ctx(t, B, x, NULL, NULL, ctx, len, &last) ==
                          SIMDIFF_OK,
                      "%s", simdiff_trainer_errmsg(t));
        ck_assert(isfinite(last));
        if (losses)
            losses[k] = last;
    }
    return last;
}

START_TEST(trains_and_samples_with_guidance)
{
    simdiff_model *m = ctx_model(1);
    simdiff_trainer *t = ctx_trainer(m, 3e-3);
    enum { STEPS = 60 };
    double loss[STEPS];
    run(t, 0, STEPS, loss);
    double first = 0, last = 0;
    for (int k = 0; k < 10; k++) {
        first += loss[k] / 10;
        last += loss[STEPS - 10 + k] / 10;
    }
    printf("# context toy: loss %.4f (first 10 steps) -> %.4f (last 10)\n", first, last);
    ck_assert_msg(last < 0.8 * first, "loss %.4f -> %.4f", first, last);

    /* Sampling with guidance 3: the bright context gives a brighter image
     * than the dark one. */
    simdiff_sampler_config sc;
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&sc, m), SIMDIFF_OK);
    sc.steps = 16;
    sc.guidance = 3;
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &sc), SIMDIFF_OK);
    float ctx[2 * T * D], out[2 * P], out0[2 * P];
    int len[2];
    ctx_of(0, ctx, &len[0]);
    ctx_of(1, ctx + T * D, &len[1]);
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    o.context = ctx;
    o.context_len = len;
    ck_assert_msg(simdiff_sampler_run_with(s, 2, NULL, 7, NULL, &o, out) == SIMDIFF_OK, "%s",
                  simdiff_sampler_errmsg(s));
    double mean[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < P; j++) {
            ck_assert(isfinite(out[i * P + j]));
            mean[i] += out[i * P + j] / P;
        }
    printf("# context toy: guided sample means %.3f (bright) %.3f (dark)\n", mean[0], mean[1]);
    ck_assert_msg(mean[0] > mean[1] + 0.5, "means %.3f %.3f", mean[0], mean[1]);
    simdiff_sampler_destroy(s);

    /* Guidance 0 is the unconditional model alone: the null context, the
     * same images as a run without a context. */
    sc.guidance = 0;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &sc), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_run_with(s, 2, NULL, 7, NULL, &o, out), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_run(s, 2, NULL, 7, out0), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(out, out0, sizeof out), 0);
    simdiff_sampler_destroy(s);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
}
END_TEST

static void steps(simdiff_trainer *t, int k0, int k1)
{
    run(t, k0, k1, NULL);
}

START_TEST(resume_is_bit_exact)
{
    simdiff_trainer *tc;
    simdiff_model *mc;
    sdtest_check_resume(ctx_model, steps, 3, 4, "ctx-resume.sdc",
                        "tf.blocks.0.xattn.out.weight", &tc, &mc);
    ck_assert(tc->cfg.ctx_dropout == 0.1);
    simdiff_trainer_destroy(tc);
    simdiff_model_destroy(mc);
}
END_TEST

/* The data-parallel step with contexts: one chunk, two chunks (each
 * chunk's contexts and lengths at its offset) and simdiff_trainer_step_ctx
 * see the same examples, noise and context dropout, so their losses agree
 * to float rounding (the sums over examples are split differently). */
START_TEST(step_part_matches_step)
{
    float x[B * P], ctx[B * T * D];
    int len[B];
    double loss[3];
    for (int v = 0; v < 3; v++) {
        simdiff_model *m = ctx_model(4);
        simdiff_trainer *t = ctx_trainer(m, 1e-3);
        for (int k = 0; k < 3; k++) {
            toy_batch(k, x, ctx, len);
            /* Examples 4 and 5 trade contexts: the second half is then no
             * copy of the first, and a chunk reading the wrong offset shows. */
            float tmp[T * D];
            memcpy(tmp, ctx + 4 * T * D, sizeof tmp);
            memcpy(ctx + 4 * T * D, ctx + 5 * T * D, sizeof tmp);
            memcpy(ctx + 5 * T * D, tmp, sizeof tmp);
            int tl = len[4];
            len[4] = len[5];
            len[5] = tl;
            simdiff_status st =
                v == 0 ? simdiff_trainer_step_ctx(t, B, x, NULL, NULL, ctx, len, &loss[v])
                       : simdiff_trainer_step_part_ctx(t, B, 0, B, v, x, NULL, NULL, ctx, len,
                                                       &loss[v]);
            ck_assert_msg(st == SIMDIFF_OK, "%s", simdiff_trainer_errmsg(t));
        }
        simdiff_trainer_destroy(t);
        simdiff_model_destroy(m);
    }
    for (int v = 1; v < 3; v++)
        ck_assert_msg(fabs(loss[v] - loss[0]) <= 1e-5 * loss[0], "loss %.9g vs %.9g (%d chunks)",
                      loss[v], loss[0], v);
}
END_TEST

START_TEST(bad_context_inputs)
{
    simdiff_model *m = ctx_model(2);
    simdiff_trainer *t = ctx_trainer(m, 1e-3);
    float x[B * P], ctx[B * T * D];
    int len[B];
    toy_batch(0, x, ctx, len);
    double loss = 0;
    size_t bytes = (size_t)m->total * sizeof(float);
    float *w0 = malloc(bytes);
    memcpy(w0, m->data, bytes);
    len[3] = 0;
    ck_assert_int_eq(simdiff_trainer_step_ctx(t, B, x, NULL, NULL, ctx, len, &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "context_len[3] = 0"));
    len[3] = T + 1;
    ck_assert_int_eq(simdiff_trainer_step_part_ctx(t, B, 0, B, 2, x, NULL, NULL, ctx, len,
                                                   &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "context_len[3] = 4"));
    toy_batch(0, x, ctx, len);
    ctx[5 * T * D + 1] = INFINITY; /* example 5 has length 2 or 1: within */
    ck_assert_int_eq(simdiff_trainer_step_ctx(t, B, x, NULL, NULL, ctx, len, &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "context of example 5, token 0"));
    ck_assert_int_eq(t->step, 0);
    ck_assert_int_eq(memcmp(w0, m->data, bytes), 0);

    /* The sampler: out untouched. */
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, NULL), SIMDIFF_OK);
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    o.context = ctx;
    o.context_len = len;
    float out[B * P];
    for (int j = 0; j < B * P; j++)
        out[j] = 7.0f;
    ck_assert_int_eq(simdiff_sampler_run_with(s, B, NULL, 1, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "context of example 5"));
    o.context_len = NULL; /* all full: example 0's NaN slot is read */
    toy_batch(0, x, ctx, len);
    ck_assert_int_eq(simdiff_sampler_run_with(s, B, NULL, 1, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "token 2"));
    for (int j = 0; j < B * P; j++)
        ck_assert_float_eq(out[j], 7.0f);
    simdiff_sampler_destroy(s);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
    free(w0);

    /* A context for a model without one. */
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 1), SIMDIFF_OK);
    t = ctx_trainer(m, 1e-3);
    toy_batch(0, x, ctx, len);
    ck_assert_int_eq(simdiff_trainer_step_ctx(t, B, x, NULL, NULL, ctx, len, &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "ctx_dim 0"));
    ck_assert_int_eq(simdiff_sampler_create(&s, m, NULL), SIMDIFF_OK);
    o.context_len = len;
    ck_assert_int_eq(simdiff_sampler_run_with(s, B, NULL, 1, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "ctx_dim 0"));
    simdiff_sampler_destroy(s);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train-context");
    TCase *tc = tcase_create("context");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, trains_and_samples_with_guidance);
    tcase_add_test(tc, resume_is_bit_exact);
    tcase_add_test(tc, step_part_matches_step);
    tcase_add_test(tc, bad_context_inputs);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
