/* matmul.c ops (linear, batched matmul, softmax, attention): against PyTorch
 * fixtures (tests/reference/ops_matmul.py), finite differences, shape
 * errors, and primitive reuse. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops.h"
#include "sdfx.h"
#include "sdtest.h"

static sdfx *fx;

/* Per-case parameters (the graph functions read what they need). */
typedef struct params {
    int ta, tb;
    float alpha;
    int heads;
    int64_t chunk; /* sd_attention_set_chunk_bytes (0: default) */
    const int *lens; /* sd_attention_masked's key lengths (NULL: none) */
} params;

/* MASK_LENS in ops_matmul.py */
static const int mask_lens[3] = {6, 2, 1};

static sd_tensor *g_linear(sd_ctx *c, sd_tensor **in, void *ud)
{
    (void)ud;
    return sd_linear(c, in[0], in[1], in[2]);
}
static sd_tensor *g_linear_nobias(sd_ctx *c, sd_tensor **in, void *ud)
{
    (void)ud;
    return sd_linear(c, in[0], in[1], NULL);
}
static sd_tensor *g_linear_twice(sd_ctx *c, sd_tensor **in, void *ud)
{
    (void)ud;
    return sd_linear(c, sd_linear(c, in[0], in[1], in[2]), in[1], in[2]);
}
static sd_tensor *g_matmul(sd_ctx *c, sd_tensor **in, void *ud)
{
    const params *p = ud;
    return sd_matmul(c, in[0], in[1], p->ta, p->tb, p->alpha);
}
static sd_tensor *g_softmax(sd_ctx *c, sd_tensor **in, void *ud)
{
    (void)ud;
    return sd_softmax(c, in[0]);
}
static sd_tensor *g_attention(sd_ctx *c, sd_tensor **in, void *ud)
{
    const params *p = ud;
    return sd_attention(c, in[0], in[1], in[2], p->heads);
}
static sd_tensor *g_attention_residual(sd_ctx *c, sd_tensor **in, void *ud)
{
    const params *p = ud;
    return sd_add(c, sd_attention(c, in[0], in[1], in[2], p->heads), in[2]);
}
static sd_tensor *g_attention_masked(sd_ctx *c, sd_tensor **in, void *ud)
{
    const params *p = ud;
    return sd_attention_masked(c, in[0], in[1], in[2], p->heads, p->lens);
}
static sd_tensor *g_attention_self(sd_ctx *c, sd_tensor **in, void *ud)
{
    const params *p = ud;
    return sd_attention(c, in[0], in[0], in[0], p->heads);
}

static const struct {
    const char *name;
    int nin;
    gc_graph_fn fn;
    params p;
    /* Finite differences: inputs are fresh uniform [-1,1) values times
     * fd_scale, or the fixture's own inputs when fd_fixture is set; at most
     * fd_max elements per input are perturbed (0: all, which every case
     * affords since the check runs on one thread, see below). */
    float fd_scale;
    int fd_fixture;
    int fd_max;
} cases[] = {
    {"linear_2d", 3, g_linear, {0}, 1, 0, 0},
    {"linear_3d", 3, g_linear, {0}, 1, 0, 0},
    {"linear_nobias", 2, g_linear_nobias, {0}, 1, 0, 0},
    {"linear_wide", 3, g_linear, {0}, 1, 0, 0},
    {"linear_twice", 3, g_linear_twice, {0}, 1, 0, 0},
    /* mirrors MM in ops_matmul.py */
    {"matmul_b1_t00", 2, g_matmul, {.ta = 0, .tb = 0, .alpha = 1.0f}, 1, 0, 0},
    {"matmul_b1_t01", 2, g_matmul, {.ta = 0, .tb = 1, .alpha = 0.5f}, 1, 0, 0},
    {"matmul_b1_t10", 2, g_matmul, {.ta = 1, .tb = 0, .alpha = 0.5f}, 1, 0, 0},
    {"matmul_b1_t11", 2, g_matmul, {.ta = 1, .tb = 1, .alpha = 0.5f}, 1, 0, 0},
    {"matmul_b3_t00", 2, g_matmul, {.ta = 0, .tb = 0, .alpha = -1.25f}, 1, 0, 0},
    {"matmul_b3_t01", 2, g_matmul, {.ta = 0, .tb = 1, .alpha = -1.25f}, 1, 0, 0},
    {"matmul_b3_t10", 2, g_matmul, {.ta = 1, .tb = 0, .alpha = -1.25f}, 1, 0, 0},
    {"matmul_b3_t11", 2, g_matmul, {.ta = 1, .tb = 1, .alpha = -1.25f}, 1, 0, 0},
    {"softmax_2d", 1, g_softmax, {0}, 3, 0, 0},
    {"softmax_3d", 1, g_softmax, {0}, 3, 0, 0},
    {"softmax_big", 1, g_softmax, {0}, 1, 1, 0},
    /* mirrors ATT in ops_matmul.py; q, k scaled so the softmax is peaked */
    {"attn_small", 3, g_attention, {.heads = 2}, 2, 0, 0},
    {"attn_big", 3, g_attention, {.heads = 4}, 2, 0, 0},
    {"attn_cross", 3, g_attention, {.heads = 2}, 2, 0, 0},
    {"attn_onehead", 3, g_attention, {.heads = 1}, 2, 0, 0},
    {"attn_self", 1, g_attention_self, {.heads = 2}, 2, 0, 0},
    /* Batch chunks: one example per chunk (chunk = 1 byte), and chunks of
     * 2 + 2 + 1 (the score block of one example of attn_batch5 is
     * 2*4*3 floats = 96 bytes). */
    {"attn_small", 3, g_attention, {.heads = 2, .chunk = 1}, 2, 0, 0},
    {"attn_cross", 3, g_attention, {.heads = 2, .chunk = 1}, 2, 0, 0},
    {"attn_self", 1, g_attention_self, {.heads = 2, .chunk = 1}, 2, 0, 0},
    {"attn_batch5", 3, g_attention, {.heads = 2}, 2, 0, 0},
    {"attn_batch5", 3, g_attention, {.heads = 2, .chunk = 192}, 2, 0, 0},
    {"attn_residual", 3, g_attention_residual, {.heads = 2}, 2, 0, 0},
    {"attn_residual", 3, g_attention_residual, {.heads = 2, .chunk = 1}, 2, 0, 0},
    /* key mask (cross-attention over padded context tokens) */
    {"attn_masked", 3, g_attention_masked, {.heads = 2, .lens = mask_lens}, 2, 0, 0},
    {"attn_masked", 3, g_attention_masked, {.heads = 2, .lens = mask_lens, .chunk = 1}, 2, 0, 0},
};

START_TEST(against_pytorch)
{
    char msg[512];
    ck_assert_ptr_nonnull(fx);
    params p = cases[_i].p;
    sd_attention_set_chunk_bytes(p.chunk);
    int rc = gc_fixture(fx, cases[_i].name, cases[_i].nin, cases[_i].fn, &p,
                        1e-4, 1e-3, msg, sizeof msg);
    sd_attention_set_chunk_bytes(0);
    ck_assert_msg(rc == 0, "%s (chunk %lld)", msg, (long long)p.chunk);
}
END_TEST

START_TEST(finite_differences)
{
    /* One thread (this test's forked process only): a finite-difference
     * check runs thousands of tiny primitive executions, and with two
     * threads each is a fork/join that costs milliseconds whenever the
     * machine is oversubscribed (e.g. meson running tests in parallel).
     * The math is the same; the fixture test above covers two threads. */
    omp_set_num_threads(1);
    char key[64], msg[512];
    sd_tensor *in[3] = {0};
    params p = cases[_i].p;
    for (int i = 0; i < cases[_i].nin; i++) {
        snprintf(key, sizeof key, "%s.in%d", cases[_i].name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        ck_assert_ptr_nonnull(a);
        if (cases[_i].fd_fixture) {
            in[i] = gc_from(a->ndim, a->shape, a->data);
        } else {
            in[i] = gc_rand(a->ndim, a->shape, 300 + (uint64_t)i);
            for (int64_t j = 0; j < in[i]->numel; j++)
                in[i]->data[j] *= cases[_i].fd_scale;
        }
    }
    /* Defaults h = 1e-2, rtol = 3e-3 (gradcheck.h) hold for every case:
     * the products are bilinear (no truncation error at all) and the
     * softmax inputs are O(1)-spaced, so h^2 * L''' stays well below the
     * tolerance; the float32 noise floor is ~1e-5 relative. */
    gc_opts o = {.h = 1e-2, .rtol = 3e-3, .max_checks = cases[_i].fd_max};
    sd_attention_set_chunk_bytes(p.chunk);
    int rc = gc_check(cases[_i].fn, &p, cases[_i].nin, in, &o, msg, sizeof msg);
    sd_attention_set_chunk_bytes(0);
    for (int i = 0; i < cases[_i].nin; i++)
        gc_free(in[i]);
    ck_assert_msg(rc == 0, "%s (chunk %lld): %s", cases[_i].name, (long long)p.chunk, msg);
}
END_TEST

/* The message of a failed op names the shapes. */
static void expect_fail(sd_ctx *c, sd_tensor *r, const char *s1, const char *s2)
{
    ck_assert_ptr_null(r);
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    const char *m = sd_ctx_errmsg(c);
    ck_assert_msg(strstr(m, s1) && (!s2 || strstr(m, s2)),
                  "message \"%s\" lacks %s / %s", m, s1, s2 ? s2 : "");
    sd_ctx_reset(c);
}

static sd_tensor *zeros(sd_ctx *c, int nd, int64_t a, int64_t b, int64_t d)
{
    const int64_t s[3] = {a, b, d};
    return sd_zeros(c, nd, s);
}

START_TEST(bad_shapes)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    /* linear: I mismatch, bias length, w rank */
    expect_fail(c, sd_linear(c, zeros(c, 3, 2, 3, 7), zeros(c, 2, 5, 6, 0), NULL),
                "2x3x7", "5x6");
    expect_fail(c, sd_linear(c, zeros(c, 2, 3, 7, 0), zeros(c, 2, 5, 7, 0),
                             zeros(c, 1, 4, 0, 0)),
                "bias 4", "5x7");
    expect_fail(c, sd_linear(c, zeros(c, 2, 3, 7, 0), zeros(c, 3, 1, 5, 7), NULL),
                "1x5x7", NULL);
    /* matmul: K mismatch (depends on the trans flags), batch, rank */
    expect_fail(c, sd_matmul(c, zeros(c, 3, 2, 3, 4), zeros(c, 3, 2, 5, 6), 0, 0, 1.0f),
                "2x3x4", "2x5x6");
    expect_fail(c, sd_matmul(c, zeros(c, 3, 2, 3, 4), zeros(c, 3, 2, 4, 6), 1, 0, 1.0f),
                "trans_a 1", "2x4x6");
    expect_fail(c, sd_matmul(c, zeros(c, 3, 2, 3, 4), zeros(c, 3, 3, 4, 6), 0, 0, 1.0f),
                "2x3x4", "3x4x6");
    expect_fail(c, sd_matmul(c, zeros(c, 2, 3, 4, 0), zeros(c, 2, 4, 6, 0), 0, 0, 1.0f),
                "3x4", "4x6");
    /* softmax: a scalar */
    expect_fail(c, sd_softmax(c, sd_zeros(c, 0, NULL)), "scalar", NULL);
    /* attention: heads not dividing D, heads 0, k/v mismatch, batch */
    sd_tensor *q = zeros(c, 3, 2, 5, 8);
    expect_fail(c, sd_attention(c, q, q, q, 3), "2x5x8", "3 heads");
    q = zeros(c, 3, 2, 5, 8);
    expect_fail(c, sd_attention(c, q, q, q, 0), "0 heads", NULL);
    q = zeros(c, 3, 2, 5, 8);
    expect_fail(c, sd_attention(c, q, zeros(c, 3, 2, 5, 6), q, 2), "k 2x5x6", NULL);
    q = zeros(c, 3, 2, 5, 8);
    expect_fail(c, sd_attention(c, q, zeros(c, 3, 1, 5, 8), zeros(c, 3, 1, 5, 8), 2),
                "k 1x5x8", NULL);
    /* Sticky: after a failure every op returns NULL until reset. */
    q = zeros(c, 3, 2, 5, 8);
    ck_assert_ptr_null(sd_attention(c, q, q, q, 3));
    ck_assert_ptr_null(sd_softmax(c, q));
    sd_ctx_reset(c);
    q = zeros(c, 3, 2, 5, 8);
    ck_assert_ptr_nonnull(sd_softmax(c, q));
    sd_ctx_destroy(c);
}
END_TEST

/* Empty operands: empty outputs, and an empty contraction gives the bias
 * (linear) or zeros (matmul), with no call into oneDNN. */
START_TEST(empty_shapes)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *b = sd_zeros(c, 1, (int64_t[]){3});
    b->data[0] = 1, b->data[1] = 2, b->data[2] = 3;
    sd_tensor *y = sd_linear(c, zeros(c, 2, 2, 0, 0), zeros(c, 2, 3, 0, 0), b);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->numel, 6);
    ck_assert(y->data[0] == 1 && y->data[4] == 2 && y->data[5] == 3);
    y = sd_linear(c, zeros(c, 2, 0, 4, 0), zeros(c, 2, 3, 4, 0), b);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->numel, 0);
    y = sd_matmul(c, zeros(c, 3, 2, 3, 0), zeros(c, 3, 2, 0, 4), 0, 0, 2.0f);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->numel, 24);
    ck_assert(y->data[0] == 0 && y->data[23] == 0);
    ck_assert_ptr_nonnull(sd_softmax(c, zeros(c, 2, 3, 0, 0)));
    sd_tensor *q = zeros(c, 3, 2, 0, 8);
    ck_assert_ptr_nonnull(sd_attention(c, q, q, q, 2));
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_OK);
    ck_assert_int_eq(sd_ctx_primitives_created(c), 0);
    sd_ctx_destroy(c);
}
END_TEST

/* One step of every op forward and backward; a second identical step must
 * create no primitive. */
static void one_step(sd_ctx *c, sd_tensor **p)
{
    sd_tensor *h = sd_linear(c, p[0], p[1], p[2]);               /* (2,5,8) */
    sd_tensor *a = sd_attention(c, h, h, h, 2);                   /* (2,5,8) */
    sd_tensor *m = sd_matmul(c, a, h, 0, 1, 0.5f);                /* (2,5,5) */
    sd_tensor *m2 = sd_matmul(c, m, a, 1, 0, 1.0f);               /* (2,5,8) */
    sd_tensor *s = sd_softmax(c, m2);
    sd_tensor *l = sd_sum(c, s);
    ck_assert_int_eq(sd_backward(c, l), SIMDIFF_OK);
}

START_TEST(primitive_reuse)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_attention_set_chunk_bytes(200); /* attention in 2 chunks of 1 example */
    sd_tensor *p[3] = {gc_rand(3, (int64_t[]){2, 5, 6}, 1),
                       gc_rand(2, (int64_t[]){8, 6}, 2), gc_rand(1, (int64_t[]){8}, 3)};
    sd_ctx_set_grad(c, 1);
    one_step(c, p);
    int64_t n1 = sd_ctx_primitives_created(c);
    /* linear fwd, dx, dw; attention qk, softmax, pv, dv, dp, softmax bwd,
     * dq, dk; matmuls 2 x (fwd, da, db); softmax on (10,8) fwd + bwd */
    ck_assert_int_ge(n1, 16);
    for (int step = 0; step < 3; step++) {
        sd_ctx_reset(c);
        for (int i = 0; i < 3; i++)
            sd_param_zero_grad(p[i]);
        one_step(c, p);
        ck_assert_int_eq(sd_ctx_primitives_created(c), n1);
    }
    /* Forward only (no grad) reuses the same forward primitives. */
    sd_ctx_reset(c);
    sd_ctx_set_grad(c, 0);
    sd_tensor *h = sd_linear(c, p[0], p[1], p[2]);
    ck_assert_ptr_nonnull(sd_softmax(c, sd_attention(c, h, h, h, 2)));
    ck_assert_int_eq(sd_ctx_primitives_created(c), n1);
    for (int i = 0; i < 3; i++)
        gc_free(p[i]);
    sd_ctx_destroy(c);
    sd_attention_set_chunk_bytes(0);
}
END_TEST

/* sd_linear_fused: with grad off one primitive with post-ops, against the
 * ops one by one (sd_linear, sd_gelu / sd_silu, sd_add) within float
 * rounding (1e-6 of the output's scale: the activation is evaluated on the
 * same f32 value, the sum adds one rounding); with grad on the unfused ops
 * themselves (same bits, same gradients). Both precisions. */
START_TEST(linear_fused)
{
    const int act = _i % 3, resid = _i / 3 % 2, bf16 = _i / 6;
    sd_tensor *x = gc_rand(3, (int64_t[]){3, 7, 24}, 41), *w = gc_rand(2, (int64_t[]){40, 24}, 42);
    sd_tensor *b = gc_rand(1, (int64_t[]){40}, 43), *r = gc_rand(3, (int64_t[]){3, 7, 40}, 44);
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_precision(c, bf16 ? SD_PREC_BF16 : SD_PREC_F32);
    float *ref = NULL, *fused = NULL;
    int64_t n = 0;
    for (int grad = 0; grad < 2; grad++) {
        sd_ctx_reset(c);
        sd_ctx_set_grad(c, grad);
        sd_tensor *y = sd_linear(c, x, w, b);
        y = act == SD_ACT_GELU ? sd_gelu(c, y) : act == SD_ACT_SILU ? sd_silu(c, y) : y;
        y = resid ? sd_add(c, r, y) : y;
        ck_assert_ptr_nonnull(y);
        n = y->numel;
        free(ref);
        ref = malloc((size_t)n * sizeof(float));
        memcpy(ref, y->data, (size_t)n * sizeof(float));
        int64_t made = sd_ctx_primitives_created(c);
        sd_tensor *f = sd_linear_fused(c, x, w, b, act, resid ? r : NULL);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(f->numel, n);
        free(fused);
        fused = malloc((size_t)n * sizeof(float));
        memcpy(fused, f->data, (size_t)n * sizeof(float));
        if (grad) { /* the same ops: same bits, no new primitive */
            ck_assert_int_eq(memcmp(ref, fused, (size_t)n * sizeof(float)), 0);
            ck_assert_int_eq(sd_ctx_primitives_created(c), made);
        } else {
            double e = sdtest_max_rel_err(fused, ref, (size_t)n, 1e-6);
            ck_assert_msg(e <= 1e-6, "act %d resid %d bf16 %d: fused vs unfused %.3g", act,
                          resid, bf16, e);
            if (act || resid) /* one primitive with post-ops, not the unfused ops */
                ck_assert_int_gt(sd_ctx_primitives_created(c), made);
        }
    }
    free(ref);
    free(fused);
    sd_ctx_destroy(c);
    gc_free(x);
    gc_free(w);
    gc_free(b);
    gc_free(r);
}
END_TEST

/* Matrix products count 2*M*N*K flops each on the ctx (softmax: none). */
START_TEST(flop_count)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *x = gc_rand(3, (int64_t[]){2, 3, 7}, 1), *w = gc_rand(2, (int64_t[]){5, 7}, 2);
    sd_ctx_set_grad(c, 1);
    double f0 = sd_ctx_flops(c);
    sd_tensor *y = sd_linear(c, x, w, NULL);
    ck_assert_ptr_nonnull(y);
    ck_assert(sd_ctx_flops(c) - f0 == 2.0 * 6 * 7 * 5);
    ck_assert_int_eq(sd_backward(c, sd_sum(c, y)), SIMDIFF_OK); /* dx and dw */
    ck_assert(sd_ctx_flops(c) - f0 == 3 * 2.0 * 6 * 7 * 5);
    f0 = sd_ctx_flops(c);
    sd_ctx_set_grad(c, 0);
    ck_assert_ptr_nonnull(sd_attention(c, x, x, x, 1)); /* 2 products of 2*N*T*T*D */
    ck_assert(sd_ctx_flops(c) - f0 == 2 * 2.0 * 2 * 3 * 3 * 7);
    gc_free(x);
    gc_free(w);
    sd_ctx_destroy(c);
}
END_TEST

/* Masked keys: their k and v get exactly zero gradient, their values (even
 * huge ones) never reach the output, and a length outside 1..S is refused. */
START_TEST(attention_mask)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    const int64_t qs[3] = {3, 4, 8}, ks[3] = {3, 6, 8};
    sd_tensor *q = gc_rand(3, qs, 1), *k = gc_rand(3, ks, 2), *v = gc_rand(3, ks, 3);
    sd_tensor *v2 = gc_rand(3, ks, 3);
    for (int i = 0; i < 3; i++) /* v2 = v but huge where masked */
        for (int j = mask_lens[i]; j < 6; j++)
            for (int d = 0; d < 8; d++)
                v2->data[(i * 6 + j) * 8 + d] = 1e6f;
    sd_param_zero_grad(k);
    sd_param_zero_grad(v);
    sd_tensor *y = sd_attention_masked(c, q, k, v, 2, mask_lens);
    sd_tensor *y2 = sd_attention_masked(c, q, k, v2, 2, mask_lens);
    ck_assert(y && y2);
    for (int64_t j = 0; j < y->numel; j++)
        ck_assert_float_eq(y->data[j], y2->data[j]);
    ck_assert_int_eq(sd_backward(c, sd_sum(c, sd_mul(c, y, y))), SIMDIFF_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 6; j++)
            for (int d = 0; d < 8; d++) {
                float gk = k->grad[(i * 6 + j) * 8 + d], gv = v->grad[(i * 6 + j) * 8 + d];
                if (j >= mask_lens[i]) {
                    ck_assert_float_eq(gk, 0.0f);
                    ck_assert_float_eq(gv, 0.0f);
                } else {
                    ck_assert(gv != 0.0f);
                }
            }
    sd_ctx_reset(c);
    const int bad0[3] = {6, 0, 1}, bad7[3] = {6, 7, 1};
    ck_assert_ptr_null(sd_attention_masked(c, q, k, v, 2, bad0));
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sd_ctx_errmsg(c), "key length 0 of example 1"));
    sd_ctx_reset(c);
    ck_assert_ptr_null(sd_attention_masked(c, q, k, v, 2, bad7));
    ck_assert_ptr_nonnull(strstr(sd_ctx_errmsg(c), "key length 7 of example 1"));
    gc_free(q);
    gc_free(k);
    gc_free(v);
    gc_free(v2);
    sd_ctx_destroy(c);
}
END_TEST

static void setup(void) { fx = sdfx_load("ops/matmul.sdfx"); }
static void teardown(void) { sdfx_free(fx); }

static Suite *suite(void)
{
    Suite *s = suite_create("ops-matmul");
    TCase *tc = tcase_create("matmul");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, against_pytorch, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_loop_test(tc, finite_differences, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_test(tc, bad_shapes);
    tcase_add_test(tc, attention_mask);
    tcase_add_test(tc, empty_shapes);
    tcase_add_test(tc, primitive_reuse);
    tcase_add_loop_test(tc, linear_fused, 0, 12);
    tcase_add_test(tc, flop_count);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
