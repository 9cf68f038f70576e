/* The precision setting through the public API: simdiff_precision_check,
 * simdiff_runtime_info, trainer and sampler configs, simdiff_model_set_
 * precision. meson runs this program twice: as is (on this CPU), and as
 * 'precision-no-bf16' with ONEDNN_MAX_CPU_ISA=AVX512_CORE, where oneDNN
 * dispatches to a CPU without bf16 and every bf16 request must fail with
 * SIMDIFF_ERR_UNSUPPORTED and a message that says why. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

/* What this process should see: native bf16 unless the test capped the ISA
 * below it; the capped run must see it unavailable. */
static int expect_native(void)
{
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    if (cap && *cap) {
        ck_assert_ptr_nonnull(strstr(simdiff_runtime_info(), "bf16 unavailable"));
        return 0;
    }
    return strstr(simdiff_runtime_info(), "bf16 native") != NULL;
}

static simdiff_model *tiny_model(void)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.num_classes = 0;
    cfg.dropout_max_resolution = 16;
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 1), SIMDIFF_OK);
    return m;
}

static void assert_unsupported(simdiff_status st)
{
    ck_assert_int_eq(st, SIMDIFF_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "bf16"));
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "AVX-512 BF16"));
}

START_TEST(check_and_info)
{
    const int native = expect_native();
    ck_assert_int_eq(simdiff_precision_check(SIMDIFF_PRECISION_F32), SIMDIFF_OK);
    simdiff_status st = simdiff_precision_check(SIMDIFF_PRECISION_BF16);
    if (native)
        ck_assert_int_eq(st, SIMDIFF_OK);
    else
        assert_unsupported(st);
    ck_assert_int_eq(simdiff_precision_check((simdiff_precision)7), SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

START_TEST(config_defaults)
{
    simdiff_trainer_config tc;
    simdiff_sampler_config sc;
    memset(&tc, 0xff, sizeof tc);
    memset(&sc, 0xff, sizeof sc);
    ck_assert_int_eq(simdiff_trainer_config_init(&tc), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_sampler_config_init(&sc), SIMDIFF_OK);
    ck_assert_int_eq(tc.precision, SIMDIFF_PRECISION_F32);
    ck_assert_int_eq(sc.precision, SIMDIFF_PRECISION_F32);
}
END_TEST

START_TEST(trainer_sampler_model)
{
    const int native = expect_native();
    simdiff_model *m = tiny_model();
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 8, 64), SIMDIFF_OK);

    simdiff_trainer_config tc;
    simdiff_trainer_config_init(&tc);
    tc.precision = (simdiff_precision)2;
    simdiff_trainer *t = NULL;
    ck_assert_int_eq(simdiff_trainer_create(&t, m, s, &tc, NULL), SIMDIFF_ERR_INVALID_ARG);
    tc.precision = SIMDIFF_PRECISION_BF16;
    simdiff_status st = simdiff_trainer_create(&t, m, s, &tc, NULL);
    if (native) {
        ck_assert_int_eq(st, SIMDIFF_OK);
        float x[2 * 64];
        for (int i = 0; i < 2 * 64; i++)
            x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
        double loss;
        ck_assert_int_eq(simdiff_trainer_step(t, 2, x, NULL, &loss), SIMDIFF_OK);
        ck_assert(isfinite(loss));
        simdiff_trainer_destroy(t);
    } else {
        assert_unsupported(st);
        ck_assert_ptr_null(t);
    }

    simdiff_sampler_config sc;
    simdiff_sampler_config_init(&sc);
    sc.schedule = s;
    sc.steps = 2;
    sc.precision = (simdiff_precision)-1;
    simdiff_sampler *sp = NULL;
    ck_assert_int_eq(simdiff_sampler_create(&sp, m, &sc), SIMDIFF_ERR_INVALID_ARG);
    sc.precision = SIMDIFF_PRECISION_BF16;
    st = simdiff_sampler_create(&sp, m, &sc);
    float img32[2 * 64], img16[2 * 64];
    if (native) {
        ck_assert_int_eq(st, SIMDIFF_OK);
        ck_assert_int_eq(simdiff_sampler_run(sp, 2, NULL, 3, img16), SIMDIFF_OK);
        simdiff_sampler_destroy(sp);
        sc.precision = SIMDIFF_PRECISION_F32;
        ck_assert_int_eq(simdiff_sampler_create(&sp, m, &sc), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_sampler_run(sp, 2, NULL, 3, img32), SIMDIFF_OK);
        simdiff_sampler_destroy(sp);
        /* Close (bf16 arithmetic), not equal (bf16 in use). */
        double diff = 0;
        for (int i = 0; i < 2 * 64; i++)
            diff = fmax(diff, fabs(img16[i] - img32[i]));
        ck_assert_msg(diff > 0 && diff < 0.1, "bf16 vs f32 samples: max diff %g", diff);
    } else {
        assert_unsupported(st);
        ck_assert_ptr_null(sp);
    }

    st = simdiff_model_set_precision(m, SIMDIFF_PRECISION_BF16);
    if (native) {
        ck_assert_int_eq(st, SIMDIFF_OK);
    } else {
        assert_unsupported(st);
        ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(m), "bf16"));
    }
    ck_assert_int_eq(simdiff_model_set_precision(m, (simdiff_precision)5),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_set_precision(NULL, SIMDIFF_PRECISION_F32),
                     SIMDIFF_ERR_INVALID_ARG);
    simdiff_schedule_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

/* simdiff_model_forward in bf16: close to f32 and not equal; a trainer
 * step on the same model refreshes the shared bf16 weights (the forward
 * after it sees the new weights). */
START_TEST(model_forward_bf16)
{
    if (!expect_native())
        return; /* refusal checked above */
    simdiff_model *m = tiny_model();
    float z[2 * 64], y32[2 * 64], y16[2 * 64], y16b[2 * 64], y32b[2 * 64];
    for (int i = 0; i < 2 * 64; i++)
        z[i] = (float)((i * 53) % 23) / 11.0f - 1.0f;
    const double ls[2] = {-1.0, 2.0};
    /* Training steps give the zero-initialized output layer weights. */
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 8, 64), SIMDIFF_OK);
    simdiff_trainer *t;
    simdiff_optimizer_config oc;
    simdiff_optimizer_config_init(&oc);
    oc.lr = 0.02;
    oc.warmup_steps = 0;
    ck_assert_int_eq(simdiff_trainer_create(&t, m, s, NULL, &oc), SIMDIFF_OK);
    double loss;
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(simdiff_trainer_step(t, 2, z, NULL, &loss), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward(m, 2, z, ls, NULL, y32), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_precision(m, SIMDIFF_PRECISION_BF16), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward(m, 2, z, ls, NULL, y16), SIMDIFF_OK);
    double diff = 0, scale = 0;
    for (int i = 0; i < 2 * 64; i++) {
        diff = fmax(diff, fabs(y16[i] - y32[i]));
        scale = fmax(scale, fabs(y32[i]));
    }
    ck_assert_msg(diff > 0 && diff < 0.05 * scale, "forward bf16 vs f32: %g (scale %g)", diff,
                  scale);
    /* More steps change the weights; the bf16 forward must follow. */
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(simdiff_trainer_step(t, 2, z, NULL, &loss), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward(m, 2, z, ls, NULL, y16b), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_precision(m, SIMDIFF_PRECISION_F32), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward(m, 2, z, ls, NULL, y32b), SIMDIFF_OK);
    double moved = 0, d2 = 0;
    for (int i = 0; i < 2 * 64; i++) {
        moved = fmax(moved, fabs(y32b[i] - y32[i]));
        d2 = fmax(d2, fabs(y16b[i] - y32b[i]));
    }
    /* The steps moved the output by far more than bf16 rounding does, and
     * the bf16 forward follows (it does not use a stale copy). */
    ck_assert_msg(moved > 4 * diff, "the steps moved the output by only %g", moved);
    ck_assert_msg(d2 < 2 * diff + 0.01 * scale, "bf16 after the steps is off by %g (before %g)",
                  d2, diff);
    simdiff_trainer_destroy(t);
    simdiff_schedule_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("precision");
    TCase *tc = tcase_create("precision");
    tcase_add_test(tc, check_and_info);
    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, trainer_sampler_model);
    tcase_add_test(tc, model_forward_bf16);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
