/* The compute runtime: Philox known answers, stream consistency, the
 * arena's steady state, the tape's accumulation, sticky errors and
 * cancellation, the primitive cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "sdtest.h"
#include "tensor/rng.h"
#include "tensor/tensor_internal.h"

/* Random123's known-answer vectors for Philox-4x32-10. */
START_TEST(philox_known_answers)
{
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < SD_ARRAY_LEN(kat); k++) {
        uint32_t o[4];
        sd_philox4x32(kat[k].ctr, kat[k].key, o);
        for (int i = 0; i < 4; i++)
            ck_assert_uint_eq(o[i], kat[k].out[i]);
    }
}
END_TEST

/* Element i of a stream does not depend on where a request starts or how
 * long it is, nor on the thread count. */
START_TEST(streams_are_position_addressed)
{
    enum { N = 100003 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    double *d1 = malloc(N * sizeof(double)), *d2 = malloc(N * sizeof(double));
    sd_rng_uniform(42, 7, 0, N, a);
    sd_rng_normal(42, 7, 0, N, b);
    sd_rng_uniform_f64(42, 7, 0, N, d1);
    static const size_t offs[] = {1, 2, 3, 5, 4097, 50001};
    for (size_t k = 0; k < SD_ARRAY_LEN(offs); k++) {
        size_t off = offs[k], len = N - off - 1;
        float *p = malloc(len * sizeof(float));
        sd_rng_uniform(42, 7, off, len, p);
        ck_assert_int_eq(memcmp(p, a + off, len * sizeof(float)), 0);
        sd_rng_normal(42, 7, off, len, p);
        ck_assert_int_eq(memcmp(p, b + off, len * sizeof(float)), 0);
        sd_rng_uniform_f64(42, 7, off, len, d2);
        ck_assert_int_eq(memcmp(d2, d1 + off, len * sizeof(double)), 0);
        free(p);
    }
    /* Uniform word i is u24 of Philox block i/4 word i%4, counter (block,
     * stream), key seed: check a few against the block function. */
    for (uint64_t i = 0; i < 40; i += 13) {
        uint32_t w[4];
        const uint32_t ctr[4] = {(uint32_t)(i >> 2), 0, 7, 0}, key[2] = {42, 0};
        sd_philox4x32(ctr, key, w);
        ck_assert_float_eq(a[i], ((float)(w[i & 3] >> 8) + 0.5f) * 0x1p-24f);
    }
    /* Moments: mean 1/2 and var 1/12; normals mean 0, var 1 (5 sigma). */
    double su = 0, sn = 0, sn2 = 0, sn4 = 0;
    for (int i = 0; i < N; i++) {
        ck_assert(a[i] > 0 && a[i] < 1);
        su += a[i];
        sn += b[i];
        sn2 += (double)b[i] * b[i];
        sn4 += pow(b[i], 4);
    }
    ck_assert(fabs(su / N - 0.5) < 5 * sqrt(1.0 / 12 / N));
    ck_assert(fabs(sn / N) < 5 / sqrt(N));
    ck_assert(fabs(sn2 / N - 1) < 5 * sqrt(2.0 / N));
    ck_assert(fabs(sn4 / N - 3) < 5 * sqrt(96.0 / N));
    /* Other seeds and streams differ. */
    sd_rng_uniform(43, 7, 0, 16, (float *)d2);
    ck_assert_int_ne(memcmp(d2, a, 16 * sizeof(float)), 0);
    sd_rng_uniform(42, 8, 0, 16, (float *)d2);
    ck_assert_int_ne(memcmp(d2, a, 16 * sizeof(float)), 0);
    free(a);
    free(b);
    free(d1);
    free(d2);
}
END_TEST

/* After a first step, a step of the same shapes fits in the coalesced
 * arena: the arena stays one block and its peak does not grow. */
START_TEST(arena_reaches_steady_state)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    size_t peak1 = 0;
    for (int step = 0; step < 4; step++) {
        for (int k = 0; k < 50; k++) /* 50 x 1 MiB > the 4 MiB first block */
            ck_assert_ptr_nonnull(sd_new(c, 1, (int64_t[]){1 << 18}));
        if (step == 0)
            peak1 = sd_ctx_arena_peak(c);
        else {
            ck_assert_int_eq(sd_ctx_arena_peak(c), peak1);
            ck_assert_int_eq(c->arena.nblocks, 1);
        }
        sd_ctx_reset(c);
        ck_assert_int_eq(sd_ctx_arena_used(c), 0);
    }
    ck_assert_int_ge(peak1, 50u << 20);
    /* Alignment of every allocation. */
    for (int k = 1; k < 20; k++)
        ck_assert_int_eq((uintptr_t)sd_alloc(c, (size_t)k * 3) % 64, 0);
    sd_ctx_destroy(c);
}
END_TEST

/* y = x*x + x: dy/dx = 2x + 1 — x used twice, gradients accumulate. */
START_TEST(tape_accumulates_reuse)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    float xd[3] = {1, -2, 0.5f}, xg[3];
    sd_tensor x;
    sd_param_init(&x, "x", 1, (int64_t[]){3}, xd, xg);
    sd_ctx_set_grad(c, 1);
    sd_tensor *y = sd_add(c, sd_mul(c, &x, &x), &x);
    sd_tensor *l = sd_sum(c, y);
    ck_assert_int_eq(sd_backward(c, l), SIMDIFF_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq_tol(xg[i], 2 * xd[i] + 1, 1e-6);
    /* A second backward accumulates; zero_grad resets in O(1). */
    sd_ctx_reset(c);
    l = sd_sum(c, sd_add(c, sd_mul(c, &x, &x), &x));
    ck_assert_int_eq(sd_backward(c, l), SIMDIFF_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq_tol(xg[i], 2 * (2 * xd[i] + 1), 1e-6);
    sd_param_zero_grad(&x);
    ck_assert(!(x.flags & SD_TF_GRAD_VALID));
    /* Without grad mode nothing is recorded. */
    sd_ctx_reset(c);
    sd_ctx_set_grad(c, 0);
    ck_assert_ptr_nonnull(sd_silu(c, &x));
    ck_assert_int_eq(c->ntape, 0);
    sd_ctx_destroy(c);
}
END_TEST

/* The backward pass reuses dead gradient buffers: a chain of K residual
 * steps h <- h + silu(h) over a 1 MiB tensor needs about two live gradient
 * buffers, not 2K. Gradients against the closed form, per element in
 * double: dL/dx = prod_k (1 + silu'(h_k)), L = sum(h_K). */
START_TEST(backward_reuses_gradient_memory)
{
    enum { N = 1 << 18, K = 12 };
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    float *xd = malloc(N * sizeof *xd), *xg = malloc(N * sizeof *xg);
    sd_rng_normal(3, 1, 0, N, xd);
    sd_tensor x;
    sd_param_init(&x, "x", 1, (int64_t[]){N}, xd, xg);
    sd_ctx_set_grad(c, 1);
    sd_tensor *h = &x;
    for (int k = 0; k < K; k++)
        h = sd_add(c, h, sd_silu(c, h));
    sd_tensor *l = sd_sum(c, h);
    ck_assert_ptr_nonnull(l);
    size_t fwd = sd_ctx_arena_used(c);
    ck_assert_int_eq(sd_backward(c, l), SIMDIFF_OK);
    size_t extra = sd_ctx_arena_used(c) - fwd, buf = N * sizeof(float);
    ck_assert_msg(extra <= 4 * buf, "backward took %zu bytes = %.1f buffers", extra,
                  (double)extra / (double)buf);
    ck_assert_uint_gt(sd_ctx_grad_reused(c), (size_t)K * buf);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double v = xd[i], d = 1;
        for (int k = 0; k < K; k++) {
            double sg = 1 / (1 + exp(-v));
            d *= 1 + sg * (1 + v * (1 - sg));
            v += v * sg;
        }
        double e = fabs(xg[i] - d) / (1 + fabs(d));
        worst = e > worst ? e : worst;
    }
    ck_assert_msg(worst < 1e-4, "relative gradient error %g", worst);
    sd_ctx_destroy(c);
    free(xd);
    free(xg);
}
END_TEST

/* Inference release on the first pass of a shape, when the arena spilled
 * into new blocks and a tensor's header and data sit in different blocks:
 * everything after the mark except the kept tensor is freed, the kept
 * values survive, and later allocations do not overlap them. (Before,
 * such a release kept everything: a batch-128 evaluation of the bundled
 * model peaked at 1.1 GiB instead of 0.2.) */
START_TEST(release_frees_spilled_blocks)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *below = sd_zeros(c, 1, (int64_t[]){16});
    ck_assert_ptr_nonnull(below);
    below->data[3] = 7;
    sd_mark mk = sd_arena_mark(c);
    for (int i = 0; i < 5; i++) /* 12 MiB each: blocks of their own */
        ck_assert_ptr_nonnull(sd_zeros(c, 1, (int64_t[]){3 << 20}));
    const int64_t n = 2 << 20; /* 8 MiB */
    sd_tensor *keep = sd_zeros(c, 1, &n);
    ck_assert_ptr_nonnull(keep);
    for (int64_t i = 0; i < n; i++)
        keep->data[i] = (float)(i % 1000);
    size_t before = sd_ctx_arena_used(c);
    keep = sd_arena_release(c, mk, keep);
    size_t after = sd_ctx_arena_used(c);
    ck_assert_uint_gt(before, (size_t)60 << 20);
    ck_assert_msg(after <= mk.total + (size_t)n * sizeof(float) + 256,
                  "after release %zu bytes in use (mark %zu)", after, mk.total);
    sd_tensor *more = sd_zeros(c, 1, &n);
    ck_assert_ptr_nonnull(more);
    for (int64_t i = 0; i < n; i++)
        more->data[i] = -1;
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq(keep->data[i], (float)(i % 1000));
    ck_assert_float_eq(below->data[3], 7);
    sd_ctx_destroy(c);
}
END_TEST

/* Releasing activations during the backward pass (the trainer's setting)
 * changes no gradient bit: a graph with a skip, reshape views, concat and
 * slices, with and without the release; and the release did happen. */
static sd_tensor *release_graph(sd_ctx *c, sd_tensor *x, sd_tensor **keep)
{
    sd_tensor *a = sd_silu(c, x);                                  /* (64,64)  */
    sd_tensor *b = sd_gelu(c, sd_reshape(c, a, 2, (int64_t[]){32, 128}));
    sd_tensor *d = sd_reshape(c, b, 2, (int64_t[]){64, 64});
    sd_tensor *e = sd_concat(c, sd_add(c, d, a), sd_mul(c, d, x), 1); /* (64,128) */
    sd_tensor *f = sd_mul(c, sd_slice(c, e, 1, 32, 64), sd_slice(c, e, 1, 0, 64));
    *keep = a;
    return sd_sum(c, sd_mul(c, f, a));
}

START_TEST(release_activations_keeps_gradients)
{
    enum { N = 64 * 64 };
    float xd[N], g[2][N];
    sd_rng_normal(9, 1, 0, N, xd);
    for (int rel = 0; rel < 2; rel++) {
        sd_ctx *c;
        ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
        sd_tensor x;
        sd_param_init(&x, "x", 2, (int64_t[]){64, 64}, xd, g[rel]);
        sd_ctx_set_grad(c, 1);
        sd_ctx_set_release_activations(c, rel);
        sd_tensor *a = NULL, *l = release_graph(c, &x, &a);
        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(sd_backward(c, l), SIMDIFF_OK);
        if (rel)
            ck_assert_ptr_null(a->data); /* released */
        else
            ck_assert_ptr_nonnull(a->data);
        sd_ctx_destroy(c);
    }
    ck_assert(memcmp(g[0], g[1], sizeof g[0]) == 0);
}
END_TEST

START_TEST(sticky_errors_and_cancel)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *a = sd_zeros(c, 1, (int64_t[]){4});
    ck_assert_ptr_null(sd_silu(c, NULL));
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INTERNAL);
    ck_assert_ptr_null(sd_silu(c, a)); /* sticky */
    sd_ctx_reset(c);
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_OK);
    atomic_int flag = 0;
    sd_ctx_set_cancel_flag(c, &flag);
    a = sd_zeros(c, 1, (int64_t[]){4});
    ck_assert_ptr_nonnull(sd_silu(c, a));
    atomic_store(&flag, 1);
    ck_assert_ptr_null(sd_silu(c, a));
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(sd_ctx_errmsg(c), "silu"));
    /* The first failure is the one reported. */
    sd_ctx_fail(c, SIMDIFF_ERR_NOMEM, "later");
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_CANCELLED);
    sd_ctx_destroy(c);
    sd_ctx_destroy(NULL);
}
END_TEST

/* The same op on the same shapes twice creates its primitives once; a new
 * shape creates new ones. */
START_TEST(primitives_are_reused)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *x = sd_zeros(c, 2, (int64_t[]){3, 5});
    ck_assert_ptr_nonnull(sd_gelu(c, x));
    int64_t n1 = sd_ctx_primitives_created(c);
    ck_assert_int_ge(n1, 1);
    for (int k = 0; k < 3; k++) {
        sd_ctx_reset(c);
        x = sd_zeros(c, 2, (int64_t[]){3, 5});
        ck_assert_ptr_nonnull(sd_gelu(c, x));
    }
    ck_assert_int_eq(sd_ctx_primitives_created(c), n1);
    x = sd_zeros(c, 2, (int64_t[]){3, 6});
    ck_assert_ptr_nonnull(sd_gelu(c, x));
    ck_assert_int_gt(sd_ctx_primitives_created(c), n1);
    sd_ctx_destroy(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, streams_are_position_addressed);
    tcase_add_test(tc, arena_reaches_steady_state);
    tcase_add_test(tc, tape_accumulates_reuse);
    tcase_add_test(tc, backward_reuses_gradient_memory);
    tcase_add_test(tc, release_frees_spilled_blocks);
    tcase_add_test(tc, release_activations_keeps_gradients);
    tcase_add_test(tc, sticky_errors_and_cancel);
    tcase_add_test(tc, primitives_are_reused);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
