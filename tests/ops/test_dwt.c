/* 5/3 DWT (dwt.c): against an independent PyTorch reference (convolution
 * form of the filters, tests/reference/ops_dwt.py), finite differences of
 * both directions, exact round trips, the band layout on constant and ramp
 * images, and shape errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops.h"
#include "sdfx.h"
#include "sdtest.h"
#include "tensor/rng.h"

static sdfx *fx;

typedef struct dcase {
    const char *name;
    int levels, inverse;
} dcase;

static const dcase cases[] = {
    {"dwt_l1", 1, 0},  {"dwt_l2", 2, 0},  {"dwt_l3", 3, 0},  {"dwt_l2_b1", 2, 0},
    {"idwt_l1", 1, 1}, {"idwt_l2", 2, 1}, {"idwt_l3", 3, 1},
};

static sd_tensor *g_dwt(sd_ctx *c, sd_tensor **in, void *ud)
{
    const dcase *k = ud;
    return k->inverse ? sd_idwt53(c, in[0], k->levels) : sd_dwt53(c, in[0], k->levels);
}

START_TEST(against_pytorch)
{
    char msg[512];
    ck_assert_ptr_nonnull(fx);
    int rc = gc_fixture(fx, cases[_i].name, 1, g_dwt, (void *)&cases[_i], 1e-4, 1e-3, msg,
                        sizeof msg);
    ck_assert_msg(rc == 0, "%s", msg);
}
END_TEST

START_TEST(finite_differences)
{
    char key[64], msg[512];
    ck_assert_ptr_nonnull(fx);
    snprintf(key, sizeof key, "%s.in0", cases[_i].name);
    const sdfx_array *a = sdfx_get(fx, key);
    ck_assert_ptr_nonnull(a);
    sd_tensor *in = gc_rand(a->ndim, a->shape, 300);
    gc_opts o = {.h = 1e-2, .rtol = 3e-3};
    int rc = gc_check(g_dwt, (void *)&cases[_i], 1, &in, &o, msg, sizeof msg);
    gc_free(in);
    ck_assert_msg(rc == 0, "%s: %s", cases[_i].name, msg);
}
END_TEST

/* Random uniform [-1, 1) data into an arena tensor. */
static sd_tensor *rand4(sd_ctx *c, int64_t n, int64_t ch, int64_t h, int64_t w, uint64_t seed)
{
    sd_tensor *r = gc_rand(4, (int64_t[]){n, ch, h, w}, seed);
    sd_tensor *t = sd_copy_in(c, 4, r->shape, r->data);
    gc_free(r);
    return t;
}

static double max_abs_diff(const sd_tensor *a, const sd_tensor *b)
{
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++)
        m = fmax(m, fabs((double)a->data[i] - (double)b->data[i]));
    return m;
}

/* x -> dwt -> idwt gives x back, and y -> idwt -> dwt gives y back. */
START_TEST(round_trip)
{
    static const int64_t sizes[][2] = {{8, 8}, {32, 32}, {16, 8}, {8, 32}};
    static const int64_t batch[] = {2, 1};
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    for (int L = 1; L <= 3; L++)
        for (size_t s = 0; s < SD_ARRAY_LEN(sizes); s++)
            for (size_t b = 0; b < SD_ARRAY_LEN(batch); b++) {
                int64_t H = sizes[s][0], W = sizes[s][1];
                sd_tensor *x = rand4(c, batch[b], 3, H, W, 10 + (uint64_t)s);
                sd_tensor *y = sd_dwt53(c, x, L);
                ck_assert_ptr_nonnull(y);
                ck_assert_int_eq(y->shape[1], 3 << (2 * L));
                ck_assert_int_eq(y->shape[2], H >> L);
                ck_assert_int_eq(y->shape[3], W >> L);
                sd_tensor *x2 = sd_idwt53(c, y, L);
                ck_assert_ptr_nonnull(x2);
                ck_assert_msg(sd_same_shape(x, x2), "L=%d: shape", L);
                double e = max_abs_diff(x, x2);
                ck_assert_msg(e <= 1e-6, "L=%d %lldx%lld N=%lld: x round trip err %.3g", L,
                              (long long)H, (long long)W, (long long)batch[b], e);
                sd_tensor *yr = rand4(c, batch[b], 3 << (2 * L), H >> L, W >> L, 20 + (uint64_t)s);
                sd_tensor *y2 = sd_dwt53(c, sd_idwt53(c, yr, L), L);
                ck_assert_ptr_nonnull(y2);
                e = max_abs_diff(yr, y2);
                ck_assert_msg(e <= 1e-6, "L=%d %lldx%lld: y round trip err %.3g", L,
                              (long long)H, (long long)W, e);
                sd_ctx_reset(c);
            }
    sd_ctx_destroy(c);
}
END_TEST

/* Coefficient of band k (0 LH, 1 HL, 2 HH; 3 = LL, level L only) of input
 * channel ch at level l, position (r, q) of the band, read from y through
 * the layout of docs/architecture.md. */
static float band_at(const sd_tensor *y, int64_t n, int64_t C, int L, int l, int k, int64_t ch,
                     int64_t r, int64_t q)
{
    int64_t OC = y->shape[1], h = y->shape[2], w = y->shape[3];
    if (k == 3)
        return y->data[((n * OC + ch) * h + r) * w + q];
    int64_t off = C;
    for (int m = L; m > l; m--)
        off += 3 * C << (2 * (L - m));
    int64_t b = (int64_t)1 << (L - l);
    int64_t oc = off + (3 * ch + k) * b * b + (r % b) * b + q % b;
    return y->data[((n * OC + oc) * h + r / b) * w + q / b];
}

START_TEST(constant_image)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    for (int L = 1; L <= 3; L++) {
        sd_tensor *x = sd_new4(c, 2, 3, 16, 8);
        for (int64_t i = 0; i < x->numel; i++)
            x->data[i] = 0.37f * (float)(i / (16 * 8)) - 0.8f; /* one constant per plane */
        sd_tensor *y = sd_dwt53(c, x, L);
        ck_assert_ptr_nonnull(y);
        int64_t hw = y->shape[2] * y->shape[3];
        for (int64_t n = 0; n < 2; n++)
            for (int64_t oc = 0; oc < y->shape[1]; oc++)
                for (int64_t i = 0; i < hw; i++) {
                    float v = y->data[(n * y->shape[1] + oc) * hw + i];
                    /* LL keeps the plane's constant (DC gain 1); details are 0. */
                    float want = oc < 3 ? x->data[(n * 3 + oc) * 16 * 8] : 0.0f;
                    ck_assert_msg(v == want, "L=%d n=%lld oc=%lld: %g, want %g", L,
                                  (long long)n, (long long)oc, (double)v, (double)want);
                }
        sd_ctx_reset(c);
    }
    sd_ctx_destroy(c);
}
END_TEST

/* The 5/3 predicts linear signals exactly: on a ramp a*h + b*w + c (small
 * integers, so every step is exact in float), every detail coefficient is 0
 * except in the last row / last column of its band, where the symmetric
 * extension breaks the line. */
START_TEST(ramp_image)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    const int64_t C = 2, H = 16, W = 32;
    for (int L = 1; L <= 3; L++) {
        sd_tensor *x = sd_new4(c, 1, C, H, W);
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++)
                    x->data[(ch * H + i) * W + j] = (float)(3 * i - 2 * j + 5 + (int64_t)ch * (j - i));
        sd_tensor *y = sd_dwt53(c, x, L);
        ck_assert_ptr_nonnull(y);
        int nonzero = 0;
        for (int l = 1; l <= L; l++)
            for (int k = 0; k < 3; k++)
                for (int64_t ch = 0; ch < C; ch++)
                    for (int64_t r = 0; r < H >> l; r++)
                        for (int64_t q = 0; q < W >> l; q++) {
                            float v = band_at(y, 0, C, L, l, k, ch, r, q);
                            int edge = r == (H >> l) - 1 || q == (W >> l) - 1;
                            nonzero += v != 0.0f;
                            ck_assert_msg(edge || v == 0.0f,
                                          "L=%d level %d band %d ch %lld (%lld,%lld): %g", L, l,
                                          k, (long long)ch, (long long)r, (long long)q, (double)v);
                        }
        ck_assert_int_gt(nonzero, 0); /* the edges do see the ramp */
        /* LL of the last level is the ramp subsampled, away from the edges. */
        for (int64_t r = 0; r + 1 < H >> L; r++)
            for (int64_t q = 0; q + 1 < W >> L; q++) {
                int64_t i = r << L, j = q << L;
                ck_assert_float_eq(band_at(y, 0, C, L, L, 3, 1, r, q), x->data[(H + i) * W + j]);
            }
        sd_ctx_reset(c);
    }
    sd_ctx_destroy(c);
}
END_TEST

/* dwt with a gradient flowing through both directions at once (and x used
 * twice): d/dx of <R, idwt(dwt(x)) + x> = 2R. */
static sd_tensor *g_chain(sd_ctx *c, sd_tensor **in, void *ud)
{
    (void)ud;
    return sd_add(c, sd_idwt53(c, sd_dwt53(c, in[0], 2), 2), in[0]);
}

START_TEST(chain_gradient)
{
    char msg[512];
    sd_tensor *in = gc_rand(4, (int64_t[]){1, 2, 8, 16}, 5);
    int rc = gc_check(g_chain, NULL, 1, &in, NULL, msg, sizeof msg);
    gc_free(in);
    ck_assert_msg(rc == 0, "%s", msg);
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
    expect_fail(c, sd_dwt53(c, sd_zeros(c, 4, (int64_t[]){1, 1, 6, 8}), 2), "1x1x6x8");
    expect_fail(c, sd_dwt53(c, sd_zeros(c, 4, (int64_t[]){1, 1, 8, 6}), 2), "1x1x8x6");
    expect_fail(c, sd_dwt53(c, sd_zeros(c, 4, (int64_t[]){1, 1, 8, 8}), 0), "1x1x8x8");
    expect_fail(c, sd_dwt53(c, sd_zeros(c, 3, (int64_t[]){1, 8, 8}), 1), "1x8x8");
    expect_fail(c, sd_idwt53(c, sd_zeros(c, 4, (int64_t[]){1, 6, 2, 2}), 1), "1x6x2x2");
    expect_fail(c, sd_idwt53(c, sd_zeros(c, 4, (int64_t[]){1, 8, 2, 2}), 2), "1x8x2x2");
    expect_fail(c, sd_idwt53(c, sd_zeros(c, 4, (int64_t[]){1, 4, 2, 2}), -1), "1x4x2x2");
    sd_ctx_destroy(c);
}
END_TEST

/* sd_dwt53_band_std against the closed form at one level (low-pass energy
 * 46/64, high-pass 3/2) and, at every level, against the std that the
 * lifting code itself gives on white noise (interior coefficients, 4 x
 * 256 x 256 samples: about 1.3% sampling error at the coarsest band). */
START_TEST(band_std_on_white_noise)
{
    float s1[12];
    ck_assert_int_eq(sd_dwt53_band_std(3, 1, s1), 0);
    double lo = 46.0 / 64, hi = 1.5, lh = sqrt(lo * hi);
    const double want1[12] = {lo, lo, lo, lh, lh, hi, lh, lh, hi, lh, lh, hi};
    for (int i = 0; i < 12; i++)
        ck_assert_msg(fabs(s1[i] - want1[i]) < 1e-6, "L=1 channel %d: %g, want %g", i,
                      (double)s1[i], want1[i]);
    ck_assert_int_eq(sd_dwt53_band_std(1, 0, s1), -1);
    ck_assert_int_eq(sd_dwt53_band_std(1, 9, s1), -1);
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *x = sd_new4(c, 4, 1, 256, 256);
    ck_assert_ptr_nonnull(x);
    sd_rng_normal(7, 1, 0, (size_t)x->numel, x->data);
    for (int L = 1; L <= 3; L++) {
        sd_tensor *y = sd_dwt53(c, x, L);
        ck_assert_ptr_nonnull(y);
        int64_t OC = y->shape[1], h = y->shape[2], w = y->shape[3];
        float std[64];
        ck_assert_int_eq(sd_dwt53_band_std(1, L, std), 0);
        for (int64_t oc = 0; oc < OC; oc++) {
            double ss = 0;
            int64_t cnt = 0;
            for (int64_t n = 0; n < 4; n++)
                for (int64_t r = 2; r < h - 2; r++)
                    for (int64_t q = 2; q < w - 2; q++, cnt++) {
                        double v = y->data[((n * OC + oc) * h + r) * w + q];
                        ss += v * v;
                    }
            double got = sqrt(ss / (double)cnt);
            ck_assert_msg(fabs(got / std[oc] - 1) < 0.05, "L=%d channel %lld: noise std %g, "
                          "band_std %g", L, (long long)oc, got, (double)std[oc]);
        }
    }
    sd_ctx_destroy(c);
}
END_TEST

/* The unit-variance pair: exact inverse both ways, and it is the plain
 * transform divided channel by channel by band_std. */
START_TEST(unit_round_trip)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    for (int L = 1; L <= 3; L++) {
        sd_tensor *x = rand4(c, 2, 3, 16, 32, 40 + (uint64_t)L);
        sd_tensor *y = sd_dwt53_unit(c, x, L), *yp = sd_dwt53(c, x, L);
        ck_assert_ptr_nonnull(y);
        ck_assert_ptr_nonnull(yp);
        float std[3 * 64];
        ck_assert_int_eq(sd_dwt53_band_std(3, L, std), 0);
        int64_t OC = y->shape[1], hw = y->shape[2] * y->shape[3];
        for (int64_t i = 0; i < y->numel; i++) {
            float want = yp->data[i] / std[(i / hw) % OC];
            ck_assert_msg(fabsf(y->data[i] - want) <= 1e-6f * (1 + fabsf(want)),
                          "L=%d element %lld: %g, want %g", L, (long long)i,
                          (double)y->data[i], (double)want);
        }
        double e = max_abs_diff(x, sd_idwt53_unit(c, y, L));
        ck_assert_msg(e <= 1e-6, "L=%d: x round trip err %.3g", L, e);
        sd_tensor *yr = rand4(c, 2, 3 << (2 * L), 16 >> L, 32 >> L, 50 + (uint64_t)L);
        e = max_abs_diff(yr, sd_dwt53_unit(c, sd_idwt53_unit(c, yr, L), L));
        ck_assert_msg(e <= 2e-6, "L=%d: y round trip err %.3g", L, e);
        sd_ctx_reset(c);
    }
    expect_fail(c, sd_dwt53_unit(c, sd_zeros(c, 4, (int64_t[]){1, 1, 1024, 1024}), 9), "levels 9");
    expect_fail(c, sd_idwt53_unit(c, sd_zeros(c, 4, (int64_t[]){1, 6, 2, 2}), 1), "1x6x2x2");
    expect_fail(c, sd_idwt53_unit(c, sd_zeros(c, 4, (int64_t[]){1, 16, 2, 2}), 0), "levels 0");
    sd_ctx_destroy(c);
}
END_TEST

static sd_tensor *g_unit(sd_ctx *c, sd_tensor **in, void *ud)
{
    int L = *(const int *)ud;
    return L > 0 ? sd_dwt53_unit(c, in[0], L) : sd_idwt53_unit(c, in[0], -L);
}

START_TEST(unit_finite_differences)
{
    static const int lv[] = {1, 2, -1, -2};
    char msg[512];
    int L = lv[_i];
    sd_tensor *in = L > 0 ? gc_rand(4, (int64_t[]){2, 2, 8, 16}, 60)
                          : gc_rand(4, (int64_t[]){2, 2 << (-2 * L), 8 >> -L, 16 >> -L}, 61);
    gc_opts o = {.h = 1e-2, .rtol = 3e-3};
    int rc = gc_check(g_unit, (void *)&lv[_i], 1, &in, &o, msg, sizeof msg);
    gc_free(in);
    ck_assert_msg(rc == 0, "levels %d: %s", L, msg);
}
END_TEST

static void setup(void) { fx = sdfx_load("ops/dwt.sdfx"); }
static void teardown(void) { sdfx_free(fx); }

static Suite *suite(void)
{
    Suite *s = suite_create("ops-dwt");
    TCase *tc = tcase_create("dwt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, against_pytorch, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_loop_test(tc, finite_differences, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, constant_image);
    tcase_add_test(tc, ramp_image);
    tcase_add_test(tc, chain_gradient);
    tcase_add_test(tc, bad_shapes);
    tcase_add_test(tc, band_std_on_white_noise);
    tcase_add_test(tc, unit_round_trip);
    tcase_add_loop_test(tc, unit_finite_differences, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
