/* Captions end to end (docs/text.md): a tiny U-ViT with the built-in text
 * encoder trains on captions that decide the image (loss falling), samples
 * from prompts with guidance against the null context, resumes from a
 * checkpoint bit for bit with its vocabulary, splits a step into parts;
 * bad captions and prompts are refused by the trainer and the sampler,
 * nothing changed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "toytrain.h"
#include "simdiff/sampler.h"
#include "simdiff/text.h"
#include "train/trainer_internal.h"

enum { T = 4, D = 8, B = 8, P = 64 };

/* Two kinds of captions: bright ones ("a bright light", "light") give the
 * constant image +0.8, dark ones ("dark night", "the dark") -0.8. */
static const char *captions[] = {"a bright light", "dark night", "light", "the dark"};

static simdiff_model *text_model(uint64_t seed)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.num_classes = 0;
    cfg.ctx_dim = D;
    cfg.ctx_len = T;
    char voc[256];
    int size = 0;
    ck_assert_int_eq(simdiff_text_vocab_build(captions, 4, 100, voc, sizeof voc, NULL, &size),
                     SIMDIFF_OK);
    cfg.text_vocab = size;
    cfg.text_layers = 1;
    cfg.text_heads = 2;
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, seed), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_vocab(m, voc), SIMDIFF_OK);
    return m;
}

static void toy_batch(int k, float *x, const char **cap)
{
    for (int i = 0; i < B; i++) {
        int w = (i + k) % 4;
        cap[i] = captions[w];
        for (int j = 0; j < P; j++)
            x[i * P + j] = w % 2 == 0 ? 0.8f : -0.8f;
    }
}

static void run(simdiff_trainer *t, int k0, int k1, double *losses)
{
    float x[B * P];
    const char *cap[B];
    for (int k = k0; k < k1; k++) {
        toy_batch(k, x, cap);
        double l = NAN;
        ck_assert_msg(simdiff_trainer_step_text(t, B, x, NULL, NULL, cap, &l) == SIMDIFF_OK,
                      "%s", simdiff_trainer_errmsg(t));
        ck_assert(isfinite(l));
        if (losses)
            losses[k] = l;
    }
}

static void sample_means(simdiff_model *m, double w, int n, const char **prompts, double *mean)
{
    simdiff_sampler_config sc;
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&sc, m), SIMDIFF_OK);
    sc.steps = 16;
    sc.guidance = w;
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &sc), SIMDIFF_OK);
    float out[6 * P];
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    o.prompts = prompts;
    ck_assert_msg(simdiff_sampler_run_with(s, n, NULL, 7, NULL, &o, out) == SIMDIFF_OK, "%s",
                  simdiff_sampler_errmsg(s));
    for (int i = 0; i < n; i++) {
        mean[i] = 0;
        for (int j = 0; j < P; j++) {
            ck_assert(isfinite(out[i * P + j]));
            mean[i] += out[i * P + j] / P;
        }
    }
    simdiff_sampler_destroy(s);
}

START_TEST(captions_steer_samples)
{
    simdiff_model *m = text_model(1);
    simdiff_trainer *t = sdtest_toy_trainer(m, 3e-3);
    enum { STEPS = 60 };
    double loss[STEPS];
    run(t, 0, STEPS, loss);
    double first = 0, last = 0;
    for (int k = 0; k < 10; k++) {
        first += loss[k] / 10;
        last += loss[STEPS - 10 + k] / 10;
    }
    printf("# caption toy: loss %.4f (first 10 steps) -> %.4f (last 10)\n", first, last);
    ck_assert_msg(last < 0.8 * first, "loss %.4f -> %.4f", first, last);

    /* Guidance 3: every bright caption gives a brighter image than every
     * dark one (case and punctuation do not matter); single words seen
     * only inside a caption are printed, not judged (a toy this small need
     * not generalize). */
    const char *pr[6] = {"a bright light", "Dark night.", "LIGHT", "the dark", "bright", "night"};
    double mean[6];
    sample_means(m, 3, 6, pr, mean);
    printf("# caption toy: guided sample means %.3f %.3f (bright), %.3f %.3f (dark); "
           "'bright' %.3f, 'night' %.3f\n",
           mean[0], mean[2], mean[1], mean[3], mean[4], mean[5]);
    for (int b = 0; b < 4; b += 2)
        for (int d = 1; d < 4; d += 2)
            ck_assert_msg(mean[b] > mean[d] + 0.5, "means %.3f %.3f", mean[b], mean[d]);

    /* Guidance 0 is the null context: the same images as no prompts, and
     * the empty prompt is the null context at any guidance. */
    simdiff_sampler_config sc;
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&sc, m), SIMDIFF_OK);
    sc.steps = 16;
    sc.guidance = 0;
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &sc), SIMDIFF_OK);
    float a[2 * P], b[2 * P];
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    o.prompts = pr;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 2, NULL, 7, NULL, &o, a), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_run(s, 2, NULL, 7, b), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    simdiff_sampler_destroy(s);
    sc.guidance = 3;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &sc), SIMDIFF_OK);
    const char *empty[2] = {"", "..."};
    o.prompts = empty;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 2, NULL, 7, NULL, &o, a), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_run(s, 2, NULL, 7, b), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
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
    sdtest_check_resume(text_model, steps, 3, 4, "text-resume.sdc", "text.tok", &tc, &mc);
    /* The vocabulary came back with the model, in the checkpoint's model
     * file too. */
    simdiff_model *ma = text_model(3), *ml;
    ck_assert_int_eq(simdiff_model_vocab_size(mc), simdiff_model_vocab_size(ma));
    for (int id = 0; id < simdiff_model_vocab_size(ma); id++)
        ck_assert_str_eq(simdiff_model_vocab_word(mc, id), simdiff_model_vocab_word(ma, id));
    char path[512];
    snprintf(path, sizeof path, "%s/text-resume.sdc", sdtest_tmpdir());
    ck_assert_int_eq(simdiff_model_load(&ml, path), SIMDIFF_OK);
    ck_assert_str_eq(simdiff_model_vocab_word(ml, 2), simdiff_model_vocab_word(ma, 2));
    simdiff_model_destroy(ml);
    simdiff_model_destroy(ma);
    simdiff_trainer_destroy(tc);
    simdiff_model_destroy(mc);
}
END_TEST

/* simdiff_trainer_step_part_text in one and two chunks sees the same
 * examples as simdiff_trainer_step_text (each chunk's captions at its
 * offset): the losses agree to float rounding. */
START_TEST(step_part_matches_step)
{
    float x[B * P];
    const char *cap[B];
    double loss[3];
    for (int v = 0; v < 3; v++) {
        simdiff_model *m = text_model(4);
        simdiff_trainer *t = sdtest_toy_trainer(m, 1e-3);
        for (int k = 0; k < 3; k++) {
            toy_batch(k, x, cap);
            if (v == 0)
                ck_assert_int_eq(simdiff_trainer_step_text(t, B, x, NULL, NULL, cap, &loss[v]),
                                 SIMDIFF_OK);
            else
                ck_assert_int_eq(simdiff_trainer_step_part_text(t, B, 0, B, v, x, NULL, NULL,
                                                                cap, &loss[v]),
                                 SIMDIFF_OK);
        }
        simdiff_trainer_destroy(t);
        simdiff_model_destroy(m);
    }
    ck_assert_msg(fabs(loss[1] - loss[0]) <= 1e-5 * fabs(loss[0]), "%.9g %.9g", loss[0],
                  loss[1]);
    ck_assert_msg(fabs(loss[2] - loss[0]) <= 1e-5 * fabs(loss[0]), "%.9g %.9g", loss[0],
                  loss[2]);
}
END_TEST

START_TEST(bad_captions_and_prompts)
{
    simdiff_model *m = text_model(6);
    simdiff_trainer *t = sdtest_toy_trainer(m, 1e-3);
    float x[B * P];
    const char *cap[B];
    toy_batch(0, x, cap);
    float *before = malloc((size_t)m->total * sizeof(float));
    memcpy(before, m->data, (size_t)m->total * sizeof(float));
    cap[3] = NULL;
    double l;
    ck_assert_int_eq(simdiff_trainer_step_text(t, B, x, NULL, NULL, cap, &l),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "prompt 3 is NULL"));
    cap[3] = "dark";
    float ctx[B * T * D] = {0};
    ck_assert_int_eq(simdiff_trainer_step_ctx(t, B, x, NULL, NULL, ctx, NULL, &l), SIMDIFF_OK);
    memcpy(before, m->data, (size_t)m->total * sizeof(float));
    int64_t steps = t->step;
    ck_assert_int_eq(simdiff_trainer_step_part_text(t, B, 0, B, 1, x, NULL, NULL, NULL, &l),
                     SIMDIFF_OK); /* captions NULL: the null context */
    ck_assert_int_eq(t->step, steps + 1);
    memcpy(before, m->data, (size_t)m->total * sizeof(float));
    steps = t->step;
    cap[0] = NULL;
    ck_assert_int_eq(simdiff_trainer_step_part_text(t, B, 0, B, 2, x, NULL, NULL, cap, &l),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(t->step, steps);
    ck_assert_int_eq(memcmp(before, m->data, (size_t)m->total * sizeof(float)), 0);

    /* The sampler: a NULL prompt, prompts with a context, out untouched. */
    simdiff_sampler_config sc;
    ck_assert_int_eq(simdiff_sampler_config_init_for_model(&sc, m), SIMDIFF_OK);
    sc.steps = 2;
    simdiff_sampler *s;
    ck_assert_int_eq(simdiff_sampler_create(&s, m, &sc), SIMDIFF_OK);
    float out[2 * P];
    for (int j = 0; j < 2 * P; j++)
        out[j] = 42;
    simdiff_run_options o;
    simdiff_run_options_init(&o);
    const char *pr[2] = {"light", NULL};
    o.prompts = pr;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 2, NULL, 1, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    pr[1] = "dark";
    o.context = ctx;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 2, NULL, 1, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    for (int j = 0; j < 2 * P; j++)
        ck_assert(out[j] == 42);
    simdiff_sampler_destroy(s);

    /* A model without an encoder: captions and prompts refused. */
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.num_classes = 0;
    simdiff_model *plain;
    ck_assert_int_eq(simdiff_model_create(&plain, &cfg, 1), SIMDIFF_OK);
    simdiff_trainer *tp = sdtest_toy_trainer(plain, 1e-3);
    ck_assert_int_eq(simdiff_trainer_step_text(tp, B, x, NULL, NULL, cap, &l),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(tp), "no text encoder"));
    ck_assert_int_eq(simdiff_sampler_create(&s, plain, &sc), SIMDIFF_OK);
    o.context = NULL;
    ck_assert_int_eq(simdiff_sampler_run_with(s, 2, NULL, 1, NULL, &o, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_sampler_errmsg(s), "no text encoder"));
    for (int j = 0; j < 2 * P; j++)
        ck_assert(out[j] == 42);
    simdiff_sampler_destroy(s);
    simdiff_trainer_destroy(tp);
    simdiff_model_destroy(plain);
    free(before);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train-text");
    TCase *tc = tcase_create("text");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, captions_steer_samples);
    tcase_add_test(tc, resume_is_bit_exact);
    tcase_add_test(tc, step_part_matches_step);
    tcase_add_test(tc, bad_captions_and_prompts);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
