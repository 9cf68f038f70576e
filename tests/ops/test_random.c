/* dropout (random.c): identity outside training, statistics of the mask,
 * determinism from the ctx rng, gradients, bad arguments. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops.h"
#include "sdtest.h"

START_TEST(identity_when_off)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    sd_tensor *x = gc_rand(2, (int64_t[]){4, 5}, 1);
    size_t used = sd_ctx_arena_used(c);
    /* Not training: x itself, nothing allocated, nothing recorded. */
    ck_assert_ptr_eq(sd_dropout(c, x, 0.5f), x);
    ck_assert_uint_eq(sd_ctx_arena_used(c), used);
    /* Training with p = 0: the same. */
    sd_ctx_set_training(c, 1);
    ck_assert_ptr_eq(sd_dropout(c, x, 0.0f), x);
    ck_assert_uint_eq(sd_ctx_arena_used(c), used);
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_OK);
    sd_ctx_destroy(c);
    gc_free(x);
}
END_TEST

/* Over n = 2e5 elements (parallel kernels): the dropped fraction is p and
 * the mean of the output is the mean of the input, within 5 binomial
 * standard deviations; kept elements are x / (1-p) exactly. */
START_TEST(statistics)
{
    static const float ps[] = {0.1f, 0.3f, 0.5f, 0.9f};
    const int64_t n = 200000;
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_training(c, 1);
    sd_ctx_set_rng(c, 42, 7);
    for (size_t k = 0; k < SD_ARRAY_LEN(ps); k++) {
        double p = ps[k];
        sd_tensor *x = sd_new(c, 1, &n);
        for (int64_t i = 0; i < n; i++)
            x->data[i] = 1.0f + 0.5f * (float)(i % 7);
        sd_tensor *y = sd_dropout(c, x, ps[k]);
        ck_assert_ptr_nonnull(y);
        ck_assert_ptr_ne(y, x);
        float scale = 1.0f / (1.0f - ps[k]);
        int64_t dropped = 0;
        double sx = 0, sy = 0;
        for (int64_t i = 0; i < n; i++) {
            if (y->data[i] == 0.0f)
                dropped++;
            else
                ck_assert_float_eq(y->data[i], x->data[i] * scale);
            sx += x->data[i];
            sy += y->data[i];
        }
        double frac = (double)dropped / (double)n, sd = sqrt(p * (1 - p) / (double)n);
        ck_assert_msg(fabs(frac - p) <= 5 * sd, "p=%g: dropped %.5f (5 sd = %.5f)", p, frac,
                      5 * sd);
        /* mean(y) - mean(x) = mean(x_i (k_i/(1-p) - 1)); var of each term
         * x_i^2 p/(1-p); x_i <= 4. */
        double sdm = 4.0 * sqrt(p / (1 - p) / (double)n);
        ck_assert_msg(fabs(sy / n - sx / n) <= 5 * sdm, "p=%g: mean %.5f vs %.5f", p, sy / n,
                      sx / n);
    }
    sd_ctx_destroy(c);
}
END_TEST

/* Masks are a function of (seed, step, op index), not of threads. */
static void run_masks(uint64_t seed, uint64_t step, int threads, float *out, int64_t n)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_training(c, 1);
    sd_ctx_set_rng(c, seed, step);
    omp_set_num_threads(threads);
    sd_tensor *x = sd_new(c, 1, &n);
    for (int64_t i = 0; i < n; i++)
        x->data[i] = 1.0f;
    sd_tensor *a = sd_dropout(c, x, 0.5f), *b = sd_dropout(c, x, 0.5f);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    memcpy(out, a->data, (size_t)n * sizeof(float));
    memcpy(out + n, b->data, (size_t)n * sizeof(float));
    sd_ctx_destroy(c);
    omp_set_num_threads(2);
}

static int64_t ndiff(const float *a, const float *b, int64_t n)
{
    int64_t d = 0;
    for (int64_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

START_TEST(determinism)
{
    enum { N = 70000 }; /* above SD_PAR_MIN: parallel loops */
    static float r0[2 * N], r1[2 * N], r2[2 * N], r3[2 * N];
    run_masks(11, 3, 1, r0, N);
    run_masks(11, 3, 4, r1, N);
    ck_assert_int_eq(ndiff(r0, r1, 2 * N), 0);   /* same seed/step, any threads */
    ck_assert_int_gt(ndiff(r0, r0 + N, N), N / 4); /* two ops of a step differ */
    run_masks(11, 4, 2, r2, N);
    ck_assert_int_gt(ndiff(r0, r2, N), N / 4);     /* another step */
    run_masks(12, 3, 2, r3, N);
    ck_assert_int_gt(ndiff(r0, r3, N), N / 4);     /* another seed */
    /* A reset starts the op count again: same masks in the next run of a
     * step with the same rng settings. */
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_training(c, 1);
    int64_t n = N;
    for (int rep = 0; rep < 2; rep++) {
        sd_ctx_set_rng(c, 11, 3);
        sd_tensor *x = sd_new(c, 1, &n);
        for (int64_t i = 0; i < n; i++)
            x->data[i] = 1.0f;
        sd_tensor *a = sd_dropout(c, x, 0.5f);
        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(ndiff(a->data, r0, N), 0);
        sd_ctx_reset(c);
    }
    sd_ctx_destroy(c);
}
END_TEST

static sd_tensor *g_dropout(sd_ctx *c, sd_tensor **in, void *ud)
{
    return sd_dropout(c, in[0], *(const float *)ud);
}

/* Finite differences with training on: gc_check's every evaluation calls
 * sd_ctx_set_rng(c, rng_seed, 0) after a reset, so the mask is the same in
 * all of them and the op is linear in x. */
START_TEST(gradient)
{
    static const int64_t shapes[][4] = {{2, 3, 4, 5}, {1, 3, 4, 4}};
    static const float p = 0.3f;
    char msg[512];
    for (size_t s = 0; s < SD_ARRAY_LEN(shapes); s++) {
        sd_tensor *in = gc_rand(4, shapes[s], 9);
        gc_opts o = {.h = 1e-2, .rtol = 3e-3, .training = 1, .rng_seed = 77};
        int rc = gc_check(g_dropout, (void *)&p, 1, &in, &o, msg, sizeof msg);
        ck_assert_msg(rc == 0, "%s", msg);

        /* And exactly: dL/dx = mask / (1-p) for L = sum(y). */
        sd_ctx *c;
        ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
        sd_ctx_set_grad(c, 1);
        sd_ctx_set_training(c, 1);
        sd_ctx_set_rng(c, 5, 0);
        sd_param_zero_grad(in);
        sd_tensor *y = sd_dropout(c, in, p);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(sd_backward(c, sd_sum(c, y)), SIMDIFF_OK);
        int kept = 0;
        for (int64_t i = 0; i < in->numel; i++) {
            float want = y->data[i] != 0.0f ? 1.0f / (1.0f - p) : 0.0f;
            kept += y->data[i] != 0.0f;
            ck_assert_float_eq(in->grad[i], want);
        }
        ck_assert_int_gt(kept, 0);
        ck_assert_int_lt(kept, (int)in->numel);
        sd_ctx_destroy(c);
        gc_free(in);
    }
}
END_TEST

START_TEST(bad_p)
{
    static const float bad[] = {1.0f, -0.1f, 1.5f, NAN};
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    for (int training = 0; training < 2; training++)
        for (size_t k = 0; k < SD_ARRAY_LEN(bad); k++) {
            sd_ctx_set_training(c, training);
            sd_tensor *x = sd_zeros(c, 2, (int64_t[]){3, 4});
            ck_assert_ptr_null(sd_dropout(c, x, bad[k]));
            ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
            ck_assert_ptr_nonnull(strstr(sd_ctx_errmsg(c), "3x4"));
            ck_assert_ptr_nonnull(strstr(sd_ctx_errmsg(c), "p = "));
            sd_ctx_reset(c);
        }
    sd_ctx_destroy(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops-random");
    TCase *tc = tcase_create("dropout");
    tcase_add_test(tc, identity_when_off);
    tcase_add_test(tc, statistics);
    tcase_add_test(tc, determinism);
    tcase_add_test(tc, gradient);
    tcase_add_test(tc, bad_p);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
