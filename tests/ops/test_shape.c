/* shape ops (shape.c) and embedding (embed.c): against PyTorch fixtures,
 * finite differences, views, batch 1 and shape errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops.h"
#include "sdfx.h"
#include "sdtest.h"

static sdfx *fx;

enum { RESHAPE, PERMUTE, CONCAT, SLICE, POOL2, POOL, UP2, S2D, D2S, EMBED };

/* One case: the op and its parameters (the same as in ops_shape.py). */
typedef struct scase {
    const char *name;
    int nin, op;
    int p[6];   /* perm, or {axis, start, len}, or {s}/{b}, or {ndim, shape...} */
    int np;
    int *ids;   /* embedding: from the fixture */
    int nids;
} scase;

static sd_tensor *g_op(sd_ctx *c, sd_tensor **in, void *ud)
{
    const scase *k = ud;
    switch (k->op) {
    case RESHAPE: {
        int64_t sh[SD_MAX_DIMS];
        for (int i = 0; i < k->p[0]; i++)
            sh[i] = k->p[1 + i];
        /* A view: the graph goes on through an op reading it. */
        return sd_reshape(c, in[0], k->p[0], sh);
    }
    case PERMUTE: return sd_permute(c, in[0], k->p);
    case CONCAT: return sd_concat(c, in[0], in[1], k->p[0]);
    case SLICE: return sd_slice(c, in[0], k->p[0], k->p[1], k->p[2]);
    case POOL2: return sd_avg_pool2(c, in[0]);
    case POOL: return sd_avg_pool(c, in[0], k->p[0]);
    case UP2: return sd_upsample2(c, in[0]);
    case S2D: return sd_space_to_depth(c, in[0], k->p[0]);
    case D2S: return sd_depth_to_space(c, in[0], k->p[0]);
    default: return sd_embedding(c, in[0], k->nids, k->ids);
    }
}

static scase cases[] = {
    {"reshape", 1, RESHAPE, {2, 4, -1}, 3, NULL, 0},
    {"reshape_mid", 1, RESHAPE, {3, 2, -1, 5}, 4, NULL, 0},
    {"permute_nhwc", 1, PERMUTE, {0, 2, 3, 1}, 4, NULL, 0},
    {"permute_nchw", 1, PERMUTE, {0, 3, 1, 2}, 4, NULL, 0},
    {"permute_tok", 1, PERMUTE, {0, 2, 1}, 3, NULL, 0},
    {"permute_rows", 1, PERMUTE, {1, 0, 2}, 3, NULL, 0},
    {"permute_5d", 1, PERMUTE, {3, 0, 4, 2, 1}, 5, NULL, 0},
    {"permute_6d", 1, PERMUTE, {5, 3, 1, 0, 4, 2}, 6, NULL, 0},
    {"concat_ax1", 2, CONCAT, {1}, 1, NULL, 0},
    {"concat_ax0", 2, CONCAT, {0}, 1, NULL, 0},
    {"concat_last", 2, CONCAT, {-1}, 1, NULL, 0},
    {"slice_ax1", 1, SLICE, {1, 2, 3}, 3, NULL, 0},
    {"slice_last", 1, SLICE, {-1, 1, 4}, 3, NULL, 0},
    {"avg_pool2", 1, POOL2, {0}, 0, NULL, 0},
    {"avg_pool3", 1, POOL, {3}, 1, NULL, 0},
    {"avg_pool4", 1, POOL, {4}, 1, NULL, 0},
    {"upsample2", 1, UP2, {0}, 0, NULL, 0},
    {"s2d_2", 1, S2D, {2}, 1, NULL, 0},
    {"s2d_3", 1, S2D, {3}, 1, NULL, 0},
    {"d2s_2", 1, D2S, {2}, 1, NULL, 0},
    {"d2s_3", 1, D2S, {3}, 1, NULL, 0},
    {"permute_nhwc_b1", 1, PERMUTE, {0, 2, 3, 1}, 4, NULL, 0},
    {"upsample2_b1", 1, UP2, {0}, 0, NULL, 0},
    {"embedding", 1, EMBED, {0}, 0, NULL, 0},
};

static void setup(void)
{
    fx = sdfx_load("ops/shape.sdfx");
    const sdfx_array *a = fx ? sdfx_get(fx, "embedding.ids") : NULL;
    for (size_t i = 0; a && i < SD_ARRAY_LEN(cases); i++)
        if (cases[i].op == EMBED) {
            cases[i].nids = (int)a->numel;
            cases[i].ids = malloc((size_t)a->numel * sizeof(int));
            for (int64_t j = 0; j < a->numel; j++)
                cases[i].ids[j] = (int)a->data[j];
        }
}

static void teardown(void)
{
    for (size_t i = 0; i < SD_ARRAY_LEN(cases); i++) {
        free(cases[i].ids);
        cases[i].ids = NULL;
    }
    sdfx_free(fx);
}

START_TEST(against_pytorch)
{
    char msg[512];
    ck_assert_ptr_nonnull(fx);
    int rc = gc_fixture(fx, cases[_i].name, cases[_i].nin, g_op, &cases[_i], 1e-4, 1e-3, msg,
                        sizeof msg);
    ck_assert_msg(rc == 0, "%s", msg);
}
END_TEST

START_TEST(finite_differences)
{
    /* Same graphs on fresh random inputs of the fixture's shapes. */
    char key[64], msg[512];
    sd_tensor *in[2] = {0};
    ck_assert_ptr_nonnull(fx);
    for (int i = 0; i < cases[_i].nin; i++) {
        snprintf(key, sizeof key, "%s.in%d", cases[_i].name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        ck_assert_ptr_nonnull(a);
        in[i] = gc_rand(a->ndim, a->shape, 200 + (uint64_t)i);
    }
    gc_opts o = {.h = 1e-2, .rtol = 3e-3};
    int rc = gc_check(g_op, &cases[_i], cases[_i].nin, in, &o, msg, sizeof msg);
    for (int i = 0; i < cases[_i].nin; i++)
        gc_free(in[i]);
    ck_assert_msg(rc == 0, "%s: %s", cases[_i].name, msg);
}
END_TEST

/* reshape is a view: same data pointer, and its gradient still reaches x
 * when x is also used directly (two paths into x's grad). */
static sd_tensor *g_reshape_twice(sd_ctx *c, sd_tensor **in, void *ud)
{
    (void)ud;
    sd_tensor *v = sd_reshape(c, in[0], 2, (int64_t[]){3, 4});
    sd_tensor *w = sd_reshape(c, v, 1, (int64_t[]){-1});
    sd_tensor *x1 = sd_reshape(c, in[0], 1, (int64_t[]){12});
    return sd_add(c, sd_mul(c, w, w), x1);
}

START_TEST(reshape_view)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *x = sd_zeros(c, 3, (int64_t[]){2, 3, 2});
    sd_tensor *y = sd_reshape(c, x, 2, (int64_t[]){-1, 4});
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_eq(y->data, x->data);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], 3);
    ck_assert_int_eq(y->shape[1], 4);
    sd_tensor *z = sd_reshape(c, x, 0, NULL); /* numel 12 -> scalar: error */
    ck_assert_ptr_null(z);
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    sd_ctx_destroy(c);

    char msg[512];
    sd_tensor *in = gc_rand(2, (int64_t[]){2, 6}, 7);
    int rc = gc_check(g_reshape_twice, NULL, 1, &in, NULL, msg, sizeof msg);
    gc_free(in);
    ck_assert_msg(rc == 0, "%s", msg);
}
END_TEST

/* A permutation large enough to run the kernels in parallel and across
 * many transpose tiles: permute there and back is exact. */
START_TEST(permute_round_trip_large)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *x = sd_new4(c, 3, 37, 33, 35);
    for (int64_t i = 0; i < x->numel; i++)
        x->data[i] = (float)i;
    sd_tensor *t = sd_permute(c, x, (int[]){0, 2, 3, 1});
    ck_assert_ptr_nonnull(t);
    /* t[n, h, w, ch] = x[n, ch, h, w] */
    for (int64_t n = 0; n < 3; n++)
        for (int64_t h = 0; h < 33; h += 4)
            for (int64_t w = 0; w < 35; w += 3)
                for (int64_t ch = 0; ch < 37; ch++)
                    ck_assert_float_eq(t->data[((n * 33 + h) * 35 + w) * 37 + ch],
                                       x->data[((n * 37 + ch) * 33 + h) * 35 + w]);
    sd_tensor *b = sd_permute(c, t, (int[]){0, 3, 1, 2});
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(memcmp(b->data, x->data, (size_t)x->numel * sizeof(float)), 0);
    sd_ctx_destroy(c);
}
END_TEST

static void expect_fail(sd_ctx *c, sd_tensor *y, const char *needle)
{
    ck_assert_ptr_null(y);
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sd_ctx_errmsg(c), needle) != NULL, "message \"%s\" lacks \"%s\"",
                  sd_ctx_errmsg(c), needle);
    sd_ctx_reset(c);
}

START_TEST(bad_shapes)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
#define X4(...) sd_zeros(c, 4, (int64_t[]){__VA_ARGS__})
    expect_fail(c, sd_reshape(c, X4(2, 3, 4, 5), 2, (int64_t[]){7, -1}), "2x3x4x5");
    expect_fail(c, sd_reshape(c, X4(2, 3, 4, 5), 2, (int64_t[]){-1, -1}), "2x3x4x5");
    expect_fail(c, sd_reshape(c, X4(2, 3, 4, 5), 2, (int64_t[]){10, 11}), "10x11");
    expect_fail(c, sd_permute(c, X4(2, 3, 4, 5), (int[]){0, 1, 1, 2}), "0,1,1,2");
    expect_fail(c, sd_permute(c, X4(2, 3, 4, 5), (int[]){0, 1, 2, 4}), "2x3x4x5");
    expect_fail(c, sd_concat(c, X4(2, 3, 4, 5), X4(2, 3, 4, 6), 1), "2x3x4x6");
    expect_fail(c, sd_concat(c, X4(2, 3, 4, 5), sd_zeros(c, 3, (int64_t[]){2, 3, 4}), 1),
                "2x3x4");
    expect_fail(c, sd_concat(c, X4(2, 3, 4, 5), X4(2, 3, 4, 5), 4), "axis 4");
    expect_fail(c, sd_slice(c, X4(2, 3, 4, 5), 1, 2, 2), "2x3x4x5");
    expect_fail(c, sd_slice(c, X4(2, 3, 4, 5), -5, 0, 1), "axis -5");
    expect_fail(c, sd_slice(c, X4(2, 3, 4, 5), 0, -1, 1), "2x3x4x5");
    expect_fail(c, sd_avg_pool2(c, sd_zeros(c, 3, (int64_t[]){3, 4, 4})), "3x4x4");
    expect_fail(c, sd_avg_pool(c, X4(1, 1, 2, 5), 3), "1x1x2x5");
    expect_fail(c, sd_avg_pool(c, X4(1, 1, 4, 4), 0), "1x1x4x4");
    expect_fail(c, sd_upsample2(c, sd_zeros(c, 2, (int64_t[]){4, 4})), "4x4");
    expect_fail(c, sd_space_to_depth(c, X4(1, 2, 4, 6), 4), "1x2x4x6");
    expect_fail(c, sd_space_to_depth(c, X4(1, 2, 4, 6), 0), "1x2x4x6");
    expect_fail(c, sd_depth_to_space(c, X4(1, 6, 2, 2), 2), "1x6x2x2");
    sd_tensor *t = sd_zeros(c, 2, (int64_t[]){5, 3});
    expect_fail(c, sd_embedding(c, t, 3, (int[]){0, 5, 1}), "ids[1] = 5");
    t = sd_zeros(c, 2, (int64_t[]){5, 3});
    expect_fail(c, sd_embedding(c, t, 2, (int[]){-1, 0}), "ids[0] = -1");
    expect_fail(c, sd_embedding(c, X4(1, 5, 1, 3), 1, (int[]){0}), "1x5x1x3");
#undef X4
    /* After a failure every op is a no-op until reset. */
    sd_tensor *x = sd_zeros(c, 2, (int64_t[]){2, 3});
    ck_assert_ptr_null(sd_slice(c, x, 1, 2, 5));
    ck_assert_ptr_null(sd_permute(c, x, (int[]){1, 0}));
    sd_ctx_reset(c);
    x = sd_zeros(c, 2, (int64_t[]){2, 3});
    ck_assert_ptr_nonnull(sd_permute(c, x, (int[]){1, 0}));
    sd_ctx_destroy(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ops-shape");
    TCase *tc = tcase_create("shape");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, against_pytorch, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_loop_test(tc, finite_differences, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_test(tc, reshape_view);
    tcase_add_test(tc, permute_round_trip_large);
    tcase_add_test(tc, bad_shapes);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
