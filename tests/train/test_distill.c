/* Progressive distillation (include/simdiff/distill.h): a round lowers the
 * student's error against the guided teacher measured through the public
 * sampler; the target formula against a closed form; bit-exact resume; the
 * exported student's stored settings; bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sampler/fixture.h"
#include "sdtest.h"
#include "simdiff/distill.h"
#include "tensor/rng.h"
#include "train/train_internal.h"

/* The stream keys of distill.c (documented there): step k of round r. */
#define DISTILL_TAG 0x64697374696c6cull
static uint64_t key_of(int round, int64_t step)
{
    return sd_rng_mix(sd_rng_mix(DISTILL_TAG, (uint64_t)round), (uint64_t)step);
}

/* The random-weight tiny U-Net of the sampler tests with its schedule. */
static simdiff_model *teacher_model(int prediction)
{
    simdiff_model *m = make_model_pred(prediction);
    if (!g_sched)
        ck_assert_int_eq(simdiff_schedule_create_shifted(&g_sched, IMG, 64), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_schedule(m, g_sched), SIMDIFF_OK);
    return m;
}

/* A fresh model (its output layer starts at zero: v̂ ≡ 0) with the schedule. */
static simdiff_model *zero_model(void)
{
    simdiff_model_config cfg;
    tiny_config(&cfg, SIMDIFF_PRED_V);
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 5), SIMDIFF_OK);
    if (!g_sched)
        ck_assert_int_eq(simdiff_schedule_create_shifted(&g_sched, IMG, 64), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_schedule(m, g_sched), SIMDIFF_OK);
    return m;
}

static simdiff_distiller *make_distiller(const simdiff_model *t, simdiff_model *s, int N,
                                         double w, double lr, double ema)
{
    simdiff_distill_config dc;
    simdiff_optimizer_config oc;
    ck_assert_int_eq(simdiff_distill_config_init(&dc), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_optimizer_config_init(&oc), SIMDIFF_OK);
    dc.teacher_steps = N;
    dc.guidance = w;
    dc.seed = 17;
    oc.lr = lr;
    oc.warmup_steps = 5;
    oc.ema_decay = ema;
    simdiff_distiller *d;
    ck_assert_msg(simdiff_distiller_create(&d, t, s, &dc, &oc) == SIMDIFF_OK, "%s",
                  simdiff_last_error());
    return d;
}

/* n images in [-1, 1] and labels, deterministic in k. */
static void batch(int n, int k, float *x, int *labels)
{
    uint64_t s = 0x1234567ull + (uint64_t)k * 7919u;
    for (int i = 0; i < n; i++) {
        labels[i] = (i + k) % NCLASS;
        for (int j = 0; j < PER; j++)
            x[i * PER + j] = rnd(&s, 1.0f);
    }
}

static void steps(simdiff_distiller *d, int k0, int k1)
{
    float x[8 * PER];
    int lab[8];
    for (int k = k0; k < k1; k++) {
        batch(8, k, x, lab);
        double loss = NAN;
        ck_assert_msg(simdiff_distiller_step(d, 8, x, lab, &loss) == SIMDIFF_OK, "%s",
                      simdiff_distiller_errmsg(d));
        ck_assert(isfinite(loss));
    }
}

/* mean (a − b)² of the student's DDIM N/2-step samples and the teacher's
 * DDIM N-step samples with guidance w (same seeds, labels, no clipping). */
static double sampler_error(simdiff_model *teacher, double w, simdiff_model *student, int N)
{
    enum { n = 12 };
    int labels[n];
    for (int i = 0; i < n; i++)
        labels[i] = i % NCLASS;
    simdiff_sampler_config c;
    sampler_cfg(&c, SIMDIFF_SAMPLER_DDIM, N);
    c.clip_x = 0;
    c.guidance = w;
    simdiff_sampler *st = make_sampler(teacher, &c);
    c.steps = N / 2;
    c.guidance = 1;
    simdiff_sampler *ss = make_sampler(student, &c);
    float *a = run_ok(st, n, labels, 99), *b = run_ok(ss, n, labels, 99);
    double e = 0;
    for (int j = 0; j < n * PER; j++)
        e += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    free(a);
    free(b);
    simdiff_sampler_destroy(st);
    simdiff_sampler_destroy(ss);
    return e / (n * PER);
}

/* m's distillation record is (steps, teacher_steps, rounds, guidance); steps 0:
 * no record. */
static void expect_record(const simdiff_model *m, int steps, int teacher_steps, int rounds,
                          double guidance)
{
    simdiff_distill_info di;
    memset(&di, 0x5a, sizeof di);
    di.struct_size = sizeof di;
    ck_assert_msg(simdiff_model_distill_info(m, &di) == SIMDIFF_OK, "%s", simdiff_last_error());
    ck_assert_uint_eq(di.struct_size, sizeof di);
    ck_assert_int_eq(di.distilled, steps > 0);
    ck_assert_int_eq(di.steps, steps);
    ck_assert_int_eq(di.teacher_steps, teacher_steps);
    ck_assert_int_eq(di.rounds, rounds);
    ck_assert_msg(di.guidance == guidance, "guidance %g, expected %g", di.guidance, guidance);
}

/* (a) One round lowers the student's sampler error against the teacher. */
START_TEST(round_lowers_the_sampler_error)
{
    const int N = 8;
    const double w = 3;
    simdiff_model *t = teacher_model(SIMDIFF_PRED_V), *s = teacher_model(SIMDIFF_PRED_V);
    double before = sampler_error(t, w, s, N);
    simdiff_distiller *d = make_distiller(t, s, N, w, 2e-3, 0);
    steps(d, 0, 80);
    double after = sampler_error(t, w, s, N);
    fprintf(stderr, "# sampler error of the %d-step student: before %g, after %g\n", N / 2,
            before, after);
    ck_assert_msg(before > 1e-4, "the comparison is vacuous (before %g)", before);
    ck_assert_msg(after < 0.5 * before, "before %g, after %g", before, after);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    simdiff_model_destroy(t);
}
END_TEST

/* (b) The loss at step 0 with zero-output models (x̂ = α·z everywhere)
 * against the closed form: a DDIM step from t to s maps z to
 * c(t, s)·z, c = α_s·α_t + σ_s·(1 − α_t²)/σ_t; for i > 1 the target is
 * x̃ = (c'' c' − r)/(α'' − r·α_t)·z_t (r = σ''/σ_t), for i = 1 it is the
 * teacher's x̂ at 1/N: α'·c'·z_t; the student's x̂ is α_t·z_t. Loop over
 * N = 2 (only the last step), 4 and 16, and both weightings. */
START_TEST(loss_matches_the_closed_form)
{
    static const int Ns[] = {2, 4, 16};
    const int N = Ns[_i % 3];
    const int weighting = _i / 3;
    simdiff_model *t = zero_model(), *s = zero_model();
    simdiff_distill_config dc;
    simdiff_distill_config_init(&dc);
    dc.teacher_steps = N;
    dc.guidance = 2.5; /* guidance of zeros is zero */
    dc.seed = 3;
    dc.weighting = (simdiff_distill_weighting)weighting;
    simdiff_distiller *d;
    ck_assert_int_eq(simdiff_distiller_create(&d, t, s, &dc, NULL), SIMDIFF_OK);
    enum { n = 6 };
    float x[n * PER];
    int lab[n];
    batch(n, 1, x, lab);
    double loss;
    ck_assert_int_eq(simdiff_distiller_step(d, n, x, lab, &loss), SIMDIFF_OK);

    /* The same draws, by hand. */
    const int K = N / 2;
    const uint64_t key = key_of(0, 0);
    double u[n];
    float *eps = malloc(sizeof(float) * n * PER);
    sd_rng_uniform_f64(3, sd_rng_mix(key, 1), 0, n, u);
    sd_rng_normal(3, sd_rng_mix(key, 2), 0, (size_t)n * PER, eps);
    double want = 0;
    int saw_last = 0, saw_other = 0;
    for (int e = 0; e < n; e++) {
        int i = 1 + (int)(u[e] * K);
        if (i > K)
            i = K;
        double tt[3] = {(double)(2 * i) / N, (double)(2 * i - 1) / N, (double)(2 * i - 2) / N};
        double al[3], sg[3], lam0;
        ck_assert_int_eq(simdiff_schedule_alpha_sigma(g_sched, 3, tt, al, sg), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_schedule_logsnr(g_sched, 1, tt, &lam0), SIMDIFF_OK);
        double c1 = al[1] * al[0] + sg[1] * (1 - al[0] * al[0]) / sg[0];
        double k;
        if (i == 1) {
            k = al[1] * c1;
            saw_last = 1;
        } else {
            double c2 = al[2] * al[1] + sg[2] * (1 - al[1] * al[1]) / sg[1];
            double r = sg[2] / sg[0];
            k = (c2 * c1 - r) / (al[2] - r * al[0]);
            saw_other = 1;
        }
        double snr = exp(lam0);
        double wgt = weighting ? snr + 1 : fmax(snr, 1);
        double m2 = 0;
        for (int j = 0; j < PER; j++) {
            double z = al[0] * x[e * PER + j] + sg[0] * eps[e * PER + j];
            m2 += z * z;
        }
        want += wgt * (al[0] - k) * (al[0] - k) * m2 / PER;
    }
    want /= n;
    free(eps);
    ck_assert(saw_last);
    if (N > 2)
        ck_assert(saw_other || N == 4); /* N = 4: both are likely, not certain */
    ck_assert_msg(want > 1e-6, "vacuous: %g", want);
    ck_assert_msg(fabs(loss - want) <= 5e-4 * want, "N = %d: loss %.9g, closed form %.9g", N,
                  loss, want);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    simdiff_model_destroy(t);
}
END_TEST

static void same_bits(const float *a, const float *b, int64_t n, const char *what)
{
    ck_assert_msg(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s differ", what);
}

/* (c) 2k steps straight = k, save, load, k (across a round too). */
START_TEST(resume_is_bit_exact)
{
    const int k = 4;
    simdiff_model *t = teacher_model(SIMDIFF_PRED_V);
    simdiff_model *sa = teacher_model(SIMDIFF_PRED_V), *sb = teacher_model(SIMDIFF_PRED_V);
    simdiff_distiller *da = make_distiller(t, sa, 8, 3, 1e-3, 0.9);
    simdiff_distiller *db = make_distiller(t, sb, 8, 3, 1e-3, 0.9);
    steps(da, 0, k);
    ck_assert_int_eq(simdiff_distiller_next_round(da), SIMDIFF_OK);
    steps(da, k, 2 * k);
    char path[512];
    snprintf(path, sizeof path, "%s/distill.sdc", sdtest_work_dir());
    steps(db, 0, k);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: save before the round ends; pass 1: in the middle of round 1. */
        ck_assert_msg(simdiff_distiller_save(db, path) == SIMDIFF_OK, "%s",
                      simdiff_distiller_errmsg(db));
        simdiff_distiller_destroy(db);
        simdiff_model_destroy(sb);
        ck_assert_msg(simdiff_distiller_load(&db, &sb, path) == SIMDIFF_OK, "%s",
                      simdiff_last_error());
        if (pass == 0) {
            ck_assert_int_eq(simdiff_distiller_next_round(db), SIMDIFF_OK);
            steps(db, k, k + k / 2);
        }
    }
    steps(db, k + k / 2, 2 * k);
    const int64_t n = sa->total;
    same_bits(sa->data, sb->data, n, "weights");
    simdiff_optimizer *oa = simdiff_distiller_optimizer(da), *ob = simdiff_distiller_optimizer(db);
    same_bits(oa->ema, ob->ema, n, "EMA weights");
    same_bits(oa->mom, ob->mom, n, "first moments");
    same_bits(oa->var, ob->var, n, "second moments");
    simdiff_distill_stats a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.struct_size = b.struct_size = sizeof a;
    ck_assert_int_eq(simdiff_distiller_stats_get(da, &a), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_distiller_stats_get(db, &b), SIMDIFF_OK);
    ck_assert_int_eq(a.round, 1);
    ck_assert_int_eq(b.round, 1);
    ck_assert_int_eq(a.teacher_steps, 4);
    ck_assert_int_eq(b.teacher_steps, 4);
    ck_assert_int_eq(a.step, k);
    ck_assert_int_eq(b.step, k);
    ck_assert_int_eq(a.total_steps, 2 * k);
    ck_assert_int_eq(b.total_steps, 2 * k);
    ck_assert(a.guidance == 3 && b.guidance == 3);
    /* Not vacuous: the weights moved. */
    ck_assert_int_ne(memcmp(sa->data, t->data, (size_t)n * sizeof(float)), 0);
    /* simdiff_model_load reads the checkpoint as the student's EMA model. */
    simdiff_model *em;
    ck_assert_msg(simdiff_model_load(&em, path) == SIMDIFF_OK, "%s", simdiff_last_error());
    ck_assert_int_eq(em->total, n);
    simdiff_model_destroy(em);
    simdiff_distiller_destroy(da);
    simdiff_distiller_destroy(db);
    simdiff_model_destroy(sa);
    simdiff_model_destroy(sb);
    simdiff_model_destroy(t);
}
END_TEST

/* The teacher the caller passed is never written. */
START_TEST(teacher_is_untouched)
{
    simdiff_model *t = teacher_model(SIMDIFF_PRED_V), *s = teacher_model(SIMDIFF_PRED_V);
    simdiff_model *ref = teacher_model(SIMDIFF_PRED_V);
    simdiff_distiller *d = make_distiller(t, s, 4, 2, 1e-3, 0.5);
    steps(d, 0, 3);
    ck_assert_int_eq(simdiff_distiller_next_round(d), SIMDIFF_OK);
    steps(d, 3, 5);
    same_bits(t->data, ref->data, t->total, "teacher weights");
    ck_assert_int_ne(memcmp(s->data, ref->data, (size_t)t->total * sizeof(float)), 0);
    /* N = 2 now: no further round. */
    ck_assert_int_eq(simdiff_distiller_next_round(d), SIMDIFF_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(simdiff_distiller_errmsg(d), "1 steps"));
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(ref);
    simdiff_model_destroy(s);
    simdiff_model_destroy(t);
}
END_TEST

/* (d) The exported student samples with DDIM, N/2 steps, guidance 1 when
 * its sampler is created with cfg NULL. */
START_TEST(export_stores_the_sampler_settings)
{
    simdiff_model *t = teacher_model(SIMDIFF_PRED_V), *s = teacher_model(SIMDIFF_PRED_V);
    simdiff_distiller *d = make_distiller(t, s, 16, 3, 1e-3, 0.9);
    steps(d, 0, 2);
    char path[512];
    for (int round = 0; round < 2; round++) {
        snprintf(path, sizeof path, "%s/student-%d.safetensors", sdtest_work_dir(), round);
        ck_assert_int_eq(simdiff_distiller_export(d, path, 0), SIMDIFF_OK);
        simdiff_model *m;
        ck_assert_msg(simdiff_model_load(&m, path) == SIMDIFF_OK, "%s", simdiff_last_error());
        simdiff_sampler_config c;
        ck_assert_int_eq(simdiff_sampler_config_init_for_model(&c, m), SIMDIFF_OK);
        ck_assert_int_eq(c.method, SIMDIFF_SAMPLER_DDIM);
        ck_assert_int_eq(c.steps, round ? 4 : 8);
        ck_assert(c.eta == 0 && c.guidance == 1);
        ck_assert_int_eq(c.spacing, SIMDIFF_SPACING_UNIFORM_T);
        /* The record: 16 -> 8 -> 4 steps, guidance 3 folded in. */
        expect_record(m, round ? 4 : 8, 16, round + 1, 3);
        /* cfg NULL: the stored settings, the same images as that config. */
        simdiff_sampler *sn, *sc;
        ck_assert_int_eq(simdiff_sampler_create(&sn, m, NULL), SIMDIFF_OK);
        sc = make_sampler(m, &c);
        int lab[2] = {0, 1};
        float *a = run_ok(sn, 2, lab, 5), *b = run_ok(sc, 2, lab, 5);
        same_bits(a, b, 2 * PER, "images");
        free(a);
        free(b);
        simdiff_sampler_destroy(sn);
        simdiff_sampler_destroy(sc);
        simdiff_model_destroy(m);
        ck_assert_int_eq(simdiff_distiller_next_round(d), SIMDIFF_OK);
    }
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    simdiff_model_destroy(t);
}
END_TEST

#define REFUSED(call, field)                                                                \
    do {                                                                                    \
        ck_assert_int_eq((call), SIMDIFF_ERR_INVALID_ARG);                                  \
        ck_assert_msg(strstr(simdiff_last_error(), field), "'%s' not in: %s", field,        \
                      simdiff_last_error());                                                \
    } while (0)

/* (e) Bad arguments: INVALID_ARG naming the field; nothing made. */
START_TEST(bad_arguments)
{
    simdiff_model *t = teacher_model(SIMDIFF_PRED_V), *s = teacher_model(SIMDIFF_PRED_V);
    simdiff_distiller *d = (simdiff_distiller *)1;
    simdiff_distill_config dc;
    simdiff_distill_config_init(&dc);
    dc.teacher_steps = 7;
    REFUSED(simdiff_distiller_create(&d, t, s, &dc, NULL), "teacher_steps");
    ck_assert_ptr_null(d);
    dc.teacher_steps = 0;
    REFUSED(simdiff_distiller_create(&d, t, s, &dc, NULL), "teacher_steps");
    dc.teacher_steps = -4;
    REFUSED(simdiff_distiller_create(&d, t, s, &dc, NULL), "teacher_steps");
    simdiff_distill_config_init(&dc);
    dc.guidance = NAN;
    REFUSED(simdiff_distiller_create(&d, t, s, &dc, NULL), "guidance");
    dc.guidance = -1;
    REFUSED(simdiff_distiller_create(&d, t, s, &dc, NULL), "guidance");
    simdiff_distill_config_init(&dc);
    dc.weighting = (simdiff_distill_weighting)9;
    REFUSED(simdiff_distiller_create(&d, t, s, &dc, NULL), "weighting");
    simdiff_distill_config_init(&dc);
    dc.num_threads = -1;
    REFUSED(simdiff_distiller_create(&d, t, s, &dc, NULL), "num_threads");
    simdiff_optimizer_config oc;
    simdiff_optimizer_config_init(&oc);
    oc.lr = -1;
    REFUSED(simdiff_distiller_create(&d, t, s, NULL, &oc), "lr");
    REFUSED(simdiff_distiller_create(&d, NULL, s, NULL, NULL), "teacher");
    REFUSED(simdiff_distiller_create(&d, t, NULL, NULL, NULL), "student");
    REFUSED(simdiff_distiller_create(NULL, t, s, NULL, NULL), "out");
    REFUSED(simdiff_distiller_create(&d, t, t, NULL, NULL), "same model");
    /* Mismatched configs: the field is named. */
    simdiff_model_config cfg;
    tiny_config(&cfg, SIMDIFF_PRED_EPS);
    simdiff_model *other;
    ck_assert_int_eq(simdiff_model_create(&other, &cfg, 1), SIMDIFF_OK);
    REFUSED(simdiff_distiller_create(&d, t, other, NULL, NULL), "prediction");
    simdiff_model_destroy(other);
    tiny_config(&cfg, SIMDIFF_PRED_V);
    cfg.level_channels[1] = 12;
    ck_assert_int_eq(simdiff_model_create(&other, &cfg, 1), SIMDIFF_OK);
    REFUSED(simdiff_distiller_create(&d, t, other, NULL, NULL), "level_channels");
    /* A teacher without a schedule. */
    REFUSED(simdiff_distiller_create(&d, other, s, NULL, NULL), "schedule");
    simdiff_model_destroy(other);
    ck_assert_ptr_null(d);

    /* Steps, saves and loads. */
    d = make_distiller(t, s, 4, 2, 1e-3, 0);
    float x[2 * PER] = {0};
    int lab[2] = {0, NCLASS};
    REFUSED(simdiff_distiller_step(d, 2, x, lab, NULL), "labels[1]");
    REFUSED(simdiff_distiller_step(d, 0, x, NULL, NULL), "n = 0");
    REFUSED(simdiff_distiller_step(d, 2, NULL, NULL, NULL), "x must not be NULL");
    REFUSED(simdiff_distiller_step(NULL, 2, x, NULL, NULL), "NULL");
    REFUSED(simdiff_distiller_save(d, NULL), "NULL");
    REFUSED(simdiff_distiller_export(NULL, "x", 0), "NULL");
    REFUSED(simdiff_distiller_next_round(NULL), "NULL");
    simdiff_distill_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    REFUSED(simdiff_distiller_stats_get(d, NULL), "NULL");
    ck_assert_int_eq(simdiff_distiller_stats_get(d, &st), SIMDIFF_OK);
    ck_assert_int_eq(st.student_steps, 2);
    simdiff_distiller *l;
    simdiff_model *lm;
    REFUSED(simdiff_distiller_load(&l, NULL, "x"), "NULL");
    /* A training checkpoint is refused with FORMAT. */
    simdiff_trainer *tr;
    simdiff_model *tm = teacher_model(SIMDIFF_PRED_V);
    ck_assert_int_eq(simdiff_trainer_create(&tr, tm, g_sched, NULL, NULL), SIMDIFF_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/train.sdc", sdtest_work_dir());
    ck_assert_int_eq(simdiff_trainer_save(tr, path), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_distiller_load(&l, &lm, path), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "not a distillation checkpoint"));
    ck_assert_ptr_null(l);
    ck_assert_ptr_null(lm);
    simdiff_trainer_destroy(tr);
    simdiff_model_destroy(tm);
    /* Names of the weightings. */
    simdiff_distill_weighting wv;
    ck_assert_int_eq(simdiff_distill_weighting_from_name("snr-plus-one", &wv), SIMDIFF_OK);
    ck_assert_int_eq(wv, SIMDIFF_DISTILL_SNR_PLUS_ONE);
    ck_assert_str_eq(simdiff_distill_weighting_name(SIMDIFF_DISTILL_TRUNCATED_SNR),
                     "truncated_snr");
    REFUSED(simdiff_distill_weighting_from_name("bogus", &wv), "truncated_snr");
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    simdiff_model_destroy(t);
}
END_TEST

/* An ε-prediction pair distills too (the conversions both ways) and the
 * config struct grows by the rules. */
START_TEST(eps_prediction_and_config_sizes)
{
    simdiff_model *t = teacher_model(SIMDIFF_PRED_EPS), *s = teacher_model(SIMDIFF_PRED_EPS);
    simdiff_distiller *d = make_distiller(t, s, 4, 1, 1e-3, 0);
    steps(d, 0, 3);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    simdiff_model_destroy(t);
    struct {
        simdiff_distill_config c;
        char more[32];
    } big;
    memset(&big, 0xab, sizeof big);
    ck_assert_int_eq(simdiff_distill_config_init_sized(&big.c, sizeof big), SIMDIFF_OK);
    ck_assert_int_eq(big.c.teacher_steps, 64);
    for (size_t i = 0; i < sizeof big.more; i++)
        ck_assert_int_eq(big.more[i], 0);
    ck_assert_int_eq(simdiff_distill_config_init_sized(&big.c, 3), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_distill_config_init(NULL), SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

/* The record travels: through safetensors (F32, F16) and distiller
 * checkpoints; a student taken as the next teacher continues its chain
 * (16 -> 8 -> 4 keeps teacher_steps 16), at other steps starts a new one;
 * a second guidance on a guided student is refused; a trainer clears it. */
START_TEST(record_chains_and_travels)
{
    simdiff_model *t = teacher_model(SIMDIFF_PRED_V), *s = teacher_model(SIMDIFF_PRED_V);
    expect_record(t, 0, 0, 0, 0);
    simdiff_distiller *d = make_distiller(t, s, 16, 3, 1e-3, 0.9);
    steps(d, 0, 2);
    char path[512], ck[512];
    snprintf(path, sizeof path, "%s/student8.safetensors", sdtest_work_dir());
    snprintf(ck, sizeof ck, "%s/record.sdc", sdtest_work_dir());
    ck_assert_int_eq(simdiff_distiller_export(d, path, 1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_distiller_save(d, ck), SIMDIFF_OK);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    /* The checkpoint: the student comes back with its record, and the next
     * round's student extends it. */
    ck_assert_msg(simdiff_distiller_load(&d, &s, ck) == SIMDIFF_OK, "%s", simdiff_last_error());
    expect_record(s, 8, 16, 1, 3);
    ck_assert_int_eq(simdiff_distiller_next_round(d), SIMDIFF_OK);
    expect_record(s, 4, 16, 2, 3);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    /* The F16 student as a teacher. */
    simdiff_model *st, *s2;
    ck_assert_msg(simdiff_model_load(&st, path) == SIMDIFF_OK, "%s", simdiff_last_error());
    ck_assert_int_eq(simdiff_model_load(&s2, path), SIMDIFF_OK);
    expect_record(st, 8, 16, 1, 3);
    simdiff_distill_config dc;
    ck_assert_int_eq(simdiff_distill_config_init(&dc), SIMDIFF_OK);
    dc.teacher_steps = 8;
    dc.guidance = 2;
    ck_assert_int_eq(simdiff_distiller_create(&d, st, s2, &dc, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "guidance 3 folded in"));
    dc.guidance = 1;
    ck_assert_int_eq(simdiff_distiller_create(&d, st, s2, &dc, NULL), SIMDIFF_OK);
    expect_record(s2, 4, 16, 2, 3); /* continues the chain */
    simdiff_distiller_destroy(d);
    dc.teacher_steps = 4;            /* sampled at other steps: a new chain */
    ck_assert_int_eq(simdiff_distiller_create(&d, st, s2, &dc, NULL), SIMDIFF_OK);
    expect_record(s2, 2, 4, 1, 3);
    simdiff_distiller_destroy(d);
    /* A trainer changes the weights: no record on it or on its export. */
    simdiff_trainer *tr;
    ck_assert_int_eq(simdiff_trainer_create(&tr, s2, g_sched, NULL, NULL), SIMDIFF_OK);
    expect_record(s2, 0, 0, 0, 0);
    snprintf(path, sizeof path, "%s/trained.safetensors", sdtest_work_dir());
    ck_assert_int_eq(simdiff_trainer_export(tr, path, 0), SIMDIFF_OK);
    simdiff_trainer_destroy(tr);
    simdiff_model *e;
    ck_assert_int_eq(simdiff_model_load(&e, path), SIMDIFF_OK);
    expect_record(e, 0, 0, 0, 0);
    simdiff_model_destroy(e);
    simdiff_model_destroy(s2);
    simdiff_model_destroy(st);
    simdiff_model_destroy(t);
}
END_TEST

/* A file whose record is malformed or breaks the rules is refused with
 * SIMDIFF_ERR_FORMAT naming the cause (each case edits the text in place). */
START_TEST(record_hostile)
{
    static const struct {
        const char *to, *needle;
    } cases[] = {
        {"steps=3;teacher_steps=16", "teacher_steps = steps * 2^k"},
        {"steps=8;teacher_steps=08", "teacher_steps = steps * 2^k"},
        {"steps=0;teacher_steps=16", "teacher_steps = steps * 2^k"},
        {"steps=8;teacher_steps=1x", "not a finite number"},
        {"stepX=8;teacher_steps=16", "unknown key"},
        {"steps=8;steps=8;ps=16;gu", "twice"},
    };
    simdiff_model *t = teacher_model(SIMDIFF_PRED_V), *s = teacher_model(SIMDIFF_PRED_V);
    simdiff_distiller *d = make_distiller(t, s, 16, 3, 1e-3, 0.9);
    char path[512];
    snprintf(path, sizeof path, "%s/hostile.safetensors", sdtest_work_dir());
    for (size_t k = 0; k < sizeof cases / sizeof cases[0] + 2; k++) {
        ck_assert_int_eq(simdiff_distiller_export(d, path, 0), SIMDIFF_OK);
        if (k < sizeof cases / sizeof cases[0])
            sdtest_patch_file(path, "steps=8;teacher_steps=16", cases[k].to);
        else /* guidance NaN, negative */
            sdtest_patch_file(path, "guidance=3", k % 2 ? "guidance=n" : "guidance=-");
        simdiff_model *m = (simdiff_model *)&m;
        simdiff_status st = simdiff_model_load(&m, path);
        ck_assert_msg(st == SIMDIFF_ERR_FORMAT, "case %zu: %s (%s)", k, simdiff_status_str(st),
                      simdiff_last_error());
        ck_assert_ptr_null(m);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "simdiff.distilled"));
        if (k < sizeof cases / sizeof cases[0])
            ck_assert_msg(strstr(simdiff_last_error(), cases[k].needle), "case %zu: %s", k,
                          simdiff_last_error());
    }
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(s);
    simdiff_model_destroy(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("distill");
    TCase *tc = tcase_create("distill");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, round_lowers_the_sampler_error);
    tcase_add_loop_test(tc, loss_matches_the_closed_form, 0, 6);
    tcase_add_test(tc, resume_is_bit_exact);
    tcase_add_test(tc, teacher_is_untouched);
    tcase_add_test(tc, export_stores_the_sampler_settings);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, eps_prediction_and_config_sizes);
    tcase_add_test(tc, record_chains_and_travels);
    tcase_add_test(tc, record_hostile);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return sdtest_run(suite()); }
