/* eltwise ops: against PyTorch fixtures and finite differences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops.h"
#include "sdfx.h"
#include "sdtest.h"

static sdfx *fx;

static sd_tensor *g_silu(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_silu(c, in[0]); }
static sd_tensor *g_gelu(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_gelu(c, in[0]); }
static sd_tensor *g_add(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_add(c, in[0], in[1]); }
static sd_tensor *g_mul(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_mul(c, in[0], in[1]); }
static sd_tensor *g_affine(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_affine(c, in[0], 0.5f, -0.25f); }
static sd_tensor *g_mean(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_mean(c, in[0]); }
static sd_tensor *g_sum(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_sum(c, in[0]); }
static sd_tensor *g_mse(sd_ctx *c, sd_tensor **in, void *ud) { (void)ud; return sd_mse(c, in[0], in[1]); }

static const struct {
    const char *name;
    int nin;
    gc_graph_fn fn;
} cases[] = {
    {"silu", 1, g_silu},       {"gelu", 1, g_gelu},         {"add_same", 2, g_add},
    {"add_bcast", 2, g_add},   {"add_bcast2", 2, g_add},    {"mul_bcast", 2, g_mul},
    {"affine", 1, g_affine},   {"mean", 1, g_mean},         {"sum", 1, g_sum},
    {"mse", 2, g_mse},
};

START_TEST(against_pytorch)
{
    char msg[512];
    ck_assert_ptr_nonnull(fx);
    int rc = gc_fixture(fx, cases[_i].name, cases[_i].nin, cases[_i].fn, NULL,
                        1e-4, 1e-3, msg, sizeof msg);
    ck_assert_msg(rc == 0, "%s", msg);
}
END_TEST

START_TEST(finite_differences)
{
    /* Same graphs on fresh random inputs of the fixture's shapes. */
    char key[64], msg[512];
    sd_tensor *in[2] = {0};
    for (int i = 0; i < cases[_i].nin; i++) {
        snprintf(key, sizeof key, "%s.in%d", cases[_i].name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        ck_assert_ptr_nonnull(a);
        in[i] = gc_rand(a->ndim, a->shape, 100 + (uint64_t)i);
    }
    gc_opts o = {.h = 1e-2, .rtol = 3e-3};
    int rc = gc_check(cases[_i].fn, NULL, cases[_i].nin, in, &o, msg, sizeof msg);
    for (int i = 0; i < cases[_i].nin; i++)
        gc_free(in[i]);
    ck_assert_msg(rc == 0, "%s: %s", cases[_i].name, msg);
}
END_TEST

START_TEST(bad_shapes)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *a = sd_zeros(c, 2, (int64_t[]){2, 3});
    sd_tensor *b = sd_zeros(c, 2, (int64_t[]){2, 4});
    ck_assert_ptr_null(sd_add(c, a, b));
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sd_ctx_errmsg(c), "2x3"));
    /* Sticky: later ops are no-ops until reset. */
    ck_assert_ptr_null(sd_silu(c, a));
    sd_ctx_reset(c);
    a = sd_zeros(c, 2, (int64_t[]){2, 3});
    ck_assert_ptr_nonnull(sd_silu(c, a));
    ck_assert_ptr_null(sd_mse(c, a, sd_zeros(c, 1, (int64_t[]){6})));
    sd_ctx_destroy(c);
}
END_TEST

/* The broadcast fast path (one operand full, the other one contiguous run
 * of dims) gives the same bits as the plain definition: forward, and both
 * gradients summed in increasing output index, in parallel (sizes above
 * SD_PAR_MIN) and serial. */
static sd_tensor *bparam(int nd, const int64_t *shape, uint64_t seed)
{
    sd_tensor *t = gc_rand(nd, shape, seed); /* a parameter with its own grad buffer */
    t->name = "p";
    return t;
}

static void bref_offsets(int nd, const int64_t *shape, const sd_tensor *x, int64_t i,
                         int64_t *off)
{
    int64_t o = 0, st = 1;
    for (int k = nd - 1; k >= 0; k--) {
        int kx = k - (nd - x->ndim);
        int64_t dx = kx >= 0 ? x->shape[kx] : 1;
        int64_t idx = i % shape[k];
        i /= shape[k];
        if (dx != 1)
            o += idx * st;
        st *= dx;
    }
    *off = o;
}

START_TEST(bcast_run_bit_exact)
{
    static const struct {
        int mul, na, nb;
        int64_t a[4], b[4];
    } bc[] = {
        {1, 4, 4, {8, 3, 64, 64}, {8, 1, 1, 1}},
        {1, 4, 4, {8, 1, 1, 1}, {8, 3, 64, 64}},
        {0, 3, 2, {16, 64, 48}, {64, 48}},
        {1, 2, 3, {64, 48}, {16, 64, 48}},
        {0, 4, 4, {4, 16, 32, 32}, {1, 16, 1, 1}},
        {1, 1, 1, {40000}, {1}},
        {1, 2, 2, {70, 600}, {70, 1}},
        {1, 4, 4, {2, 3, 4, 5}, {2, 3, 1, 1}},
        {0, 3, 3, {3, 5, 7}, {1, 5, 1}},
    };
    for (size_t k = 0; k < SD_ARRAY_LEN(bc); k++) {
        sd_ctx *c;
        ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
        sd_tensor *a = bparam(bc[k].na, bc[k].a, 11 + k), *b = bparam(bc[k].nb, bc[k].b, 29 + k);
        sd_param_zero_grad(a);
        sd_param_zero_grad(b);
        sd_ctx_set_grad(c, 1);
        sd_tensor *y = bc[k].mul ? sd_mul(c, a, b) : sd_add(c, a, b);
        ck_assert_ptr_nonnull(y);
        int64_t m = y->numel;
        float *dy = malloc((size_t)m * sizeof *dy), *yr = malloc((size_t)m * sizeof *yr);
        float *ga = calloc((size_t)a->numel, sizeof *ga), *gb = calloc((size_t)b->numel, sizeof *gb);
        for (int64_t i = 0; i < m; i++)
            dy[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (int64_t i = 0; i < m; i++) {
            int64_t oa, ob;
            bref_offsets(y->ndim, y->shape, a, i, &oa);
            bref_offsets(y->ndim, y->shape, b, i, &ob);
            yr[i] = bc[k].mul ? a->data[oa] * b->data[ob] : a->data[oa] + b->data[ob];
            float g1 = dy[i], g2 = dy[i];
            if (bc[k].mul) {
                g1 *= b->data[ob];
                g2 *= a->data[oa];
            }
            ga[oa] += g1;
            gb[ob] += g2;
        }
        ck_assert_msg(memcmp(y->data, yr, (size_t)m * sizeof *yr) == 0, "case %zu: forward", k);
        ck_assert_int_eq(sd_backward_seed(c, y, dy), SIMDIFF_OK);
        ck_assert_msg(memcmp(a->grad, ga, (size_t)a->numel * sizeof *ga) == 0, "case %zu: da", k);
        ck_assert_msg(memcmp(b->grad, gb, (size_t)b->numel * sizeof *gb) == 0, "case %zu: db", k);
        free(dy);
        free(yr);
        free(ga);
        free(gb);
        gc_free(a);
        gc_free(b);
        sd_ctx_destroy(c);
    }
}
END_TEST

static void setup(void) { fx = sdfx_load("ops/eltwise.sdfx"); }
static void teardown(void) { sdfx_free(fx); }

static Suite *suite(void)
{
    Suite *s = suite_create("ops-eltwise");
    TCase *tc = tcase_create("eltwise");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, against_pytorch, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_loop_test(tc, finite_differences, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_test(tc, bad_shapes);
    tcase_add_test(tc, bcast_run_bit_exact);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
