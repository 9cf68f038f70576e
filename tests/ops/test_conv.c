/* conv2d / conv_transpose2d: against PyTorch fixtures (both layout
 * policies), finite differences, partial gradients, gradient accumulation,
 * primitive reuse and shape errors; sd_conv2d_fused (activation and
 * residual post-ops) against PyTorch with and without gradients, in both
 * precisions. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops.h"
#include "sdfx.h"
#include "sdtest.h"

static sdfx *fx;

typedef struct conv_case {
    const char *name;
    int transposed, bias, stride, pad;
} conv_case;

/* Must match tests/reference/ops_conv.py. */
static const conv_case cases[] = {
    {"k3s1p1_bias", 0, 1, 1, 1},     {"k3s1p1_nobias", 0, 0, 1, 1},
    {"k3s1p1_c16", 0, 1, 1, 1},      {"k3s1p1_c16_nobias", 0, 0, 1, 1},
    {"k1p0_bias", 0, 1, 1, 0},       {"k1p0_c16", 0, 1, 1, 0},
    {"k2s2_stem", 0, 1, 2, 0},       {"k2s2_stem_b3", 0, 0, 2, 0},
    {"k3s2p1", 0, 1, 2, 1},          {"k3s2p1_c16", 0, 0, 2, 1},
    {"k3s2p0_rem", 0, 1, 2, 0},      {"t2s2_unstem", 1, 1, 2, 0},
    {"t2s2_unstem_c16", 1, 1, 2, 0}, {"t4s2p1", 1, 1, 2, 1},
    {"t4s2p1_c16", 1, 0, 2, 1},      {"t3s1p1", 1, 1, 1, 1},
};
#define NCASES ((int)SD_ARRAY_LEN(cases))

static sd_tensor *g_conv(sd_ctx *c, sd_tensor **in, void *ud)
{
    const conv_case *k = ud;
    sd_tensor *b = k->bias ? in[2] : NULL;
    return k->transposed ? sd_conv_transpose2d(c, in[0], in[1], b, k->stride, k->pad)
                         : sd_conv2d(c, in[0], in[1], b, k->stride, k->pad);
}

/* Loop index i of the tests over every policy: case i % NCASES, policy
 * i / NCASES. */
static const int policies[] = {SD_CONV_BLOCKED, SD_CONV_PLAIN, SD_CONV_WINOGRAD};
#define NPOLICIES ((int)SD_ARRAY_LEN(policies))

START_TEST(against_pytorch)
{
    char msg[512];
    const conv_case *k = &cases[_i % NCASES];
    int policy = policies[_i / NCASES];
    ck_assert_ptr_nonnull(fx);
    sd_conv_set_policy(policy);
    int rc = gc_fixture(fx, k->name, 2 + k->bias, g_conv, (void *)k, 1e-4, 1e-3,
                        msg, sizeof msg);
    sd_conv_set_policy(SD_CONV_BLOCKED);
    ck_assert_msg(rc == 0, "%s (policy %d): %s", k->name, policy, msg);
}
END_TEST

static sd_tensor *fixture_input(const char *name, int i, uint64_t seed)
{
    char key[96];
    snprintf(key, sizeof key, "%s.in%d", name, i);
    const sdfx_array *a = sdfx_get(fx, key);
    ck_assert_ptr_nonnull(a);
    return gc_rand(a->ndim, a->shape, seed);
}

/* fn on fresh random inputs of the shapes of fixture `name`'s n inputs. */
static void run_fd_graph(gc_graph_fn fn, void *ud, const char *name, int n, int policy)
{
    char msg[512];
    sd_tensor *in[4] = {0};
    for (int i = 0; i < n; i++)
        in[i] = fixture_input(name, i, 200 + (uint64_t)i);
    gc_opts o = {.h = 1e-2, .rtol = 3e-3, .max_checks = 200};
    sd_conv_set_policy(policy);
    /* One thread: the check runs ~1000 forward passes on tiny tensors,
     * where two OpenMP threads spend ~90% of the CPU time spinning at
     * barriers (10x slower, more on a loaded machine). Gradients do not
     * depend on the thread count; the fixture tests run two threads. */
    int nthreads = omp_get_max_threads();
    omp_set_num_threads(1);
    int rc = gc_check(fn, ud, n, in, &o, msg, sizeof msg);
    omp_set_num_threads(nthreads);
    sd_conv_set_policy(SD_CONV_BLOCKED);
    for (int i = 0; i < n; i++)
        gc_free(in[i]);
    ck_assert_msg(rc == 0, "%s (policy %d): %s", name, policy, msg);
}

static void run_fd(const conv_case *k, int policy)
{
    run_fd_graph(g_conv, (void *)k, k->name, 2 + k->bias, policy);
}

START_TEST(finite_differences)
{
    /* Same graphs on fresh random inputs of the fixture's shapes. The
     * output is linear in each input, so central differences have no
     * truncation error and the defaults (h = 1e-2, rtol = 3e-3, above the
     * float32 noise floor) apply. At most 200 elements per input are
     * checked to keep the sanitizer build fast. */
    run_fd(&cases[_i], SD_CONV_BLOCKED);
}
END_TEST

/* The 3x3 stride-1 convs again under the Winograd policy (cases 0-3). */
START_TEST(finite_differences_winograd) { run_fd(&cases[_i], SD_CONV_WINOGRAD); }
END_TEST

/* The Winograd policy really changes the algorithm where oneDNN has one
 * (AVX-512): its output differs from direct by rounding, not more. */
START_TEST(winograd_is_used)
{
    const conv_case *k = &cases[2]; /* k3s1p1_c16: 16 -> 32 channels */
    ck_assert_str_eq(k->name, "k3s1p1_c16");
    char key[96];
    sd_tensor *in[3];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s.in%d", k->name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        in[i] = gc_from(a->ndim, a->shape, a->data);
    }
    float *out[2];
    int64_t m = 0;
    for (int j = 0; j < 2; j++) {
        sd_ctx *c;
        ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
        sd_conv_set_policy(j ? SD_CONV_WINOGRAD : SD_CONV_BLOCKED);
        sd_tensor *y = g_conv(c, in, (void *)k);
        sd_conv_set_policy(SD_CONV_BLOCKED);
        ck_assert_ptr_nonnull(y);
        m = y->numel;
        out[j] = malloc((size_t)m * sizeof(float));
        memcpy(out[j], y->data, (size_t)m * sizeof(float));
        sd_ctx_destroy(c);
    }
    double e = sdtest_max_rel_err(out[1], out[0], (size_t)m, 1e-6);
    ck_assert_msg(e < 1e-5, "winograd vs direct rel err %g", e);
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core)
        ck_assert_msg(e > 0, "winograd output is bitwise direct's: not used?");
    free(out[0]);
    free(out[1]);
    for (int i = 0; i < 3; i++)
        gc_free(in[i]);
}
END_TEST

/* x used by two convs (and w by a conv and a transposed conv): gradients
 * accumulate through sd_grad_begin/end on already-valid gradients, in
 * the blocked layouts. */
static sd_tensor *g_twice(sd_ctx *c, sd_tensor **in, void *ud)
{
    (void)ud;
    sd_tensor *a = sd_conv2d(c, in[0], in[1], in[3], 1, 1);  /* (2,16,5,5) */
    sd_tensor *b = sd_conv2d(c, in[0], in[2], NULL, 1, 0);   /* (2,16,5,5) */
    sd_tensor *d = sd_conv_transpose2d(c, sd_add(c, a, b), in[1], in[3], 1, 1);
    return sd_add(c, d, in[0]);
}

START_TEST(accumulate)
{
    char msg[512];
    const int64_t sx[4] = {2, 16, 5, 5}, sw1[4] = {16, 16, 3, 3},
                  sw2[4] = {16, 16, 1, 1}, sb[1] = {16};
    sd_tensor *in[4] = {gc_rand(4, sx, 1), gc_rand(4, sw1, 2), gc_rand(4, sw2, 3),
                        gc_rand(1, sb, 4)};
    gc_opts o = {.h = 1e-2, .rtol = 3e-3, .max_checks = 200};
    int nthreads = omp_get_max_threads(); /* one thread: see run_fd */
    omp_set_num_threads(1);
    int rc = gc_check(g_twice, NULL, 4, in, &o, msg, sizeof msg);
    omp_set_num_threads(nthreads);
    for (int i = 0; i < 4; i++)
        gc_free(in[i]);
    ck_assert_msg(rc == 0, "%s", msg);
}
END_TEST

/* Only some inputs need a gradient: the others' flags stay clear, the
 * rest still match PyTorch. mask bit i: input i requires grad. */
static void partial_grads(const conv_case *k, unsigned mask)
{
    char key[96];
    int n = 2 + k->bias;
    sd_tensor *in[3] = {0};
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s.in%d", k->name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        ck_assert_ptr_nonnull(a);
        in[i] = gc_from(a->ndim, a->shape, a->data);
        sd_param_zero_grad(in[i]);
        if (!(mask >> i & 1))
            in[i]->flags &= ~SD_TF_REQUIRES_GRAD;
    }
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    sd_tensor *y = g_conv(c, in, (void *)k);
    ck_assert_ptr_nonnull(y);
    snprintf(key, sizeof key, "%s.R", k->name);
    const sdfx_array *R = sdfx_get(fx, key);
    ck_assert_ptr_nonnull(R);
    ck_assert_int_eq(sd_backward_seed(c, y, R->data), SIMDIFF_OK);
    for (int i = 0; i < n; i++) {
        if (!(mask >> i & 1)) {
            ck_assert_msg(!(in[i]->flags & SD_TF_GRAD_VALID),
                          "%s mask %u: input %d got a gradient", k->name, mask, i);
            continue;
        }
        ck_assert_msg(in[i]->flags & SD_TF_GRAD_VALID, "%s mask %u: no grad %d",
                      k->name, mask, i);
        snprintf(key, sizeof key, "%s.grad%d", k->name, i);
        const sdfx_array *g = sdfx_get(fx, key);
        double e = sdtest_max_rel_err(in[i]->grad, g->data, (size_t)g->numel, 1e-6);
        ck_assert_msg(e <= 1e-3, "%s mask %u: grad %d rel err %g", k->name, mask, i, e);
    }
    sd_ctx_destroy(c);
    for (int i = 0; i < n; i++)
        gc_free(in[i]);
}

START_TEST(partial)
{
    /* k3s1p1_c16 (blocked), k2s2_stem (3 input channels), t4s2p1_c16
     * (transposed, no bias). */
    static const int idx[] = {2, 6, 14};
    for (int j = 0; j < (int)SD_ARRAY_LEN(idx); j++) {
        const conv_case *k = &cases[idx[j]];
        unsigned all = k->bias ? 7u : 3u;
        for (unsigned mask = 1; mask <= all; mask++)
            partial_grads(k, mask);
    }
}
END_TEST

/* Caller buffers need only float alignment: inputs and gradient buffers
 * 4 bytes past a 64-byte boundary (oneDNN kernels fault on misaligned
 * blocked buffers; those live in the arena, caller data only meets
 * reorders or plain-layout primitives). Loop index as in against_pytorch. */
START_TEST(unaligned)
{
    char key[96];
    const conv_case *k = &cases[_i % NCASES];
    sd_conv_set_policy(policies[_i / NCASES]);
    int n = 2 + k->bias;
    sd_tensor in[3];
    float *mem[3][2];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s.in%d", k->name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        ck_assert_ptr_nonnull(a);
        for (int j = 0; j < 2; j++) {
            void *p = NULL;
            ck_assert_int_eq(posix_memalign(&p, 64, (size_t)(a->numel + 1) * sizeof(float)), 0);
            mem[i][j] = p;
        }
        memcpy(mem[i][0] + 1, a->data, (size_t)a->numel * sizeof(float));
        sd_param_init(&in[i], "in", a->ndim, a->shape, mem[i][0] + 1, mem[i][1] + 1);
    }
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    sd_tensor *inp[3] = {&in[0], &in[1], n > 2 ? &in[2] : NULL};
    sd_tensor *y = g_conv(c, inp, (void *)k);
    ck_assert_msg(y != NULL, "%s", sd_ctx_errmsg(c));
    snprintf(key, sizeof key, "%s.out", k->name);
    const sdfx_array *want = sdfx_get(fx, key);
    ck_assert(sdtest_max_rel_err(y->data, want->data, (size_t)want->numel, 1e-6) <= 1e-4);
    snprintf(key, sizeof key, "%s.R", k->name);
    ck_assert_int_eq(sd_backward_seed(c, y, sdfx_get(fx, key)->data), SIMDIFF_OK);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s.grad%d", k->name, i);
        const sdfx_array *g = sdfx_get(fx, key);
        double e = sdtest_max_rel_err(in[i].grad, g->data, (size_t)g->numel, 1e-6);
        ck_assert_msg(e <= 1e-3, "%s: grad %d rel err %g", k->name, i, e);
    }
    sd_ctx_destroy(c);
    sd_conv_set_policy(SD_CONV_BLOCKED);
    for (int i = 0; i < n; i++) {
        free(mem[i][0]);
        free(mem[i][1]);
    }
}
END_TEST

/* Forward + backward twice on the same shapes: the second step creates no
 * primitive (convs and reorders are cached) and gives identical results. */
static void reuse(int transposed)
{
    /* conv: w (Co=24, Ci=16, 3, 3); transposed: w (Ci=16, Co=24, 4, 4). */
    const int64_t sx[4] = {2, 16, 6, 6}, sw[4] = {24, 16, 3, 3}, sb[1] = {24};
    const int64_t swt[4] = {16, 24, 4, 4};
    sd_tensor *x = gc_rand(4, sx, 11), *w = gc_rand(4, transposed ? swt : sw, 12),
              *b = gc_rand(1, sb, 13);
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    float *first = NULL;
    int64_t created = 0;
    for (int step = 0; step < 2; step++) {
        sd_ctx_reset(c);
        sd_param_zero_grad(x);
        sd_param_zero_grad(w);
        sd_param_zero_grad(b);
        int64_t before = sd_ctx_primitives_created(c);
        sd_tensor *y = transposed ? sd_conv_transpose2d(c, x, w, b, 2, 1)
                                  : sd_conv2d(c, x, w, b, 1, 1);
        ck_assert_ptr_nonnull(y);
        int64_t after_fwd = sd_ctx_primitives_created(c);
        float *seed = malloc((size_t)y->numel * sizeof(float));
        for (int64_t i = 0; i < y->numel; i++)
            seed[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        ck_assert_int_eq(sd_backward_seed(c, y, seed), SIMDIFF_OK);
        free(seed);
        int64_t after_bwd = sd_ctx_primitives_created(c);
        if (step == 0) {
            /* 2*N*Co*Ci*K*K * (output pixels of the conv / input pixels of
             * the transposed conv) per pass; backward data and weights
             * cost one pass each. */
            double f = transposed ? 2.0 * 2 * 24 * 16 * 16 * 36 : 2.0 * 2 * 24 * 16 * 9 * 36;
            ck_assert_double_eq(sd_ctx_flops(c), 3 * f);
            ck_assert_int_gt(after_fwd, before);
            ck_assert_int_gt(after_bwd, after_fwd);
            created = after_bwd;
            first = malloc((size_t)(y->numel + x->numel + w->numel) * sizeof(float));
            memcpy(first, y->data, (size_t)y->numel * sizeof(float));
            memcpy(first + y->numel, x->grad, (size_t)x->numel * sizeof(float));
            memcpy(first + y->numel + x->numel, w->grad, (size_t)w->numel * sizeof(float));
        } else {
            ck_assert_int_eq(after_fwd, created);
            ck_assert_int_eq(after_bwd, created);
            ck_assert(memcmp(first, y->data, (size_t)y->numel * sizeof(float)) == 0);
            ck_assert(memcmp(first + y->numel, x->grad,
                             (size_t)x->numel * sizeof(float)) == 0);
            ck_assert(memcmp(first + y->numel + x->numel, w->grad,
                             (size_t)w->numel * sizeof(float)) == 0);
        }
    }
    free(first);
    sd_ctx_destroy(c);
    gc_free(x);
    gc_free(w);
    gc_free(b);
}

START_TEST(no_new_primitives) { reuse(_i); }
END_TEST

/* An op on the given shapes fails with INVALID_ARG and a message naming
 * `want` (a shape string). */
static void expect_bad(int transposed, const int64_t *sx, int xdim, const int64_t *sw,
                       const int64_t *sb, int stride, int pad, const char *want)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *x = sd_zeros(c, xdim, sx);
    sd_tensor *w = sd_zeros(c, 4, sw);
    sd_tensor *b = sb ? sd_zeros(c, 1, sb) : NULL;
    sd_tensor *y = transposed ? sd_conv_transpose2d(c, x, w, b, stride, pad)
                              : sd_conv2d(c, x, w, b, stride, pad);
    ck_assert_ptr_null(y);
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sd_ctx_errmsg(c), want) != NULL, "message '%s' lacks '%s'",
                  sd_ctx_errmsg(c), want);
    ck_assert_int_eq(sd_ctx_primitives_created(c), 0);
    sd_ctx_destroy(c);
}

START_TEST(bad_shapes)
{
    const int64_t x[4] = {2, 3, 8, 8}, x3[3] = {3, 8, 8};
    /* Ci mismatch, both ops. */
    expect_bad(0, x, 4, (int64_t[]){5, 4, 3, 3}, NULL, 1, 1, "5x4x3x3");
    expect_bad(0, x, 4, (int64_t[]){5, 4, 3, 3}, NULL, 1, 1, "2x3x8x8");
    expect_bad(1, x, 4, (int64_t[]){4, 5, 3, 3}, NULL, 1, 1, "4x5x3x3");
    /* x not 4-d; non-square kernel. */
    expect_bad(0, x3, 3, (int64_t[]){5, 3, 3, 3}, NULL, 1, 1, "3x8x8");
    expect_bad(0, x, 4, (int64_t[]){5, 3, 3, 2}, NULL, 1, 1, "5x3x3x2");
    /* bias of the wrong length (conv: Co = w[0]; transposed: Co = w[1]). */
    expect_bad(0, x, 4, (int64_t[]){5, 3, 3, 3}, (int64_t[]){3}, 1, 1, "bias 3");
    expect_bad(1, x, 4, (int64_t[]){3, 5, 3, 3}, (int64_t[]){3}, 1, 1, "bias 3");
    /* kernel larger than the padded input; empty transposed output. */
    expect_bad(0, x, 4, (int64_t[]){5, 3, 11, 11}, NULL, 1, 1, "5x3x11x11");
    expect_bad(1, (int64_t[]){1, 3, 1, 1}, 4, (int64_t[]){3, 5, 2, 2}, NULL, 2, 1,
               "1x3x1x1");
    /* stride 0, negative pad. */
    expect_bad(0, x, 4, (int64_t[]){5, 3, 3, 3}, NULL, 0, 1, "stride 0");
    expect_bad(1, x, 4, (int64_t[]){3, 5, 3, 3}, NULL, 1, -1, "pad -1");

    /* Sticky: later ops return NULL until reset. */
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *xt = sd_zeros(c, 4, x), *wt = sd_zeros(c, 4, (int64_t[]){5, 4, 3, 3});
    ck_assert_ptr_null(sd_conv2d(c, xt, wt, NULL, 1, 1));
    wt = sd_zeros(c, 4, (int64_t[]){5, 3, 3, 3});
    ck_assert_ptr_null(sd_conv2d(c, xt, wt, NULL, 1, 1));
    sd_ctx_reset(c);
    xt = sd_zeros(c, 4, x);
    wt = sd_zeros(c, 4, (int64_t[]){5, 3, 3, 3});
    ck_assert_ptr_nonnull(sd_conv2d(c, xt, wt, NULL, 1, 1));
    sd_ctx_destroy(c);
}
END_TEST

/* ---- sd_conv2d_fused --------------------------------------------------------- */
typedef struct fconv_case {
    const char *name;
    int bias, stride, pad, act, resid;
} fconv_case;

/* Must match the fused() cases in tests/reference/ops_conv.py. Inputs: x,
 * w[, b][, r]. */
static const fconv_case fcases[] = {
    {"f_sum_k3", 1, 1, 1, SD_ACT_NONE, 1},      {"f_sum_k3_c5", 0, 1, 1, SD_ACT_NONE, 1},
    {"f_sum_k1", 1, 1, 0, SD_ACT_NONE, 1},      {"f_silu_k3", 1, 1, 1, SD_ACT_SILU, 0},
    {"f_gelu_k1", 1, 1, 0, SD_ACT_GELU, 0},     {"f_silu_sum_s2", 1, 2, 1, SD_ACT_SILU, 1},
};
#define NFCASES ((int)SD_ARRAY_LEN(fcases))

static int fcase_nin(const fconv_case *k) { return 2 + k->bias + k->resid; }

static sd_tensor *g_fconv(sd_ctx *c, sd_tensor **in, void *ud)
{
    const fconv_case *k = ud;
    return sd_conv2d_fused(c, in[0], in[1], k->bias ? in[2] : NULL, k->stride, k->pad, k->act,
                           k->resid ? in[2 + k->bias] : NULL);
}

/* With gradients (the sum fused, an activation as separate ops), every
 * policy. Loop index as in against_pytorch. */
START_TEST(fused_against_pytorch)
{
    char msg[512];
    const fconv_case *k = &fcases[_i % NFCASES];
    int policy = policies[_i / NFCASES];
    sd_conv_set_policy(policy);
    int rc = gc_fixture(fx, k->name, fcase_nin(k), g_fconv, (void *)k, 1e-4, 1e-3, msg,
                        sizeof msg);
    sd_conv_set_policy(SD_CONV_BLOCKED);
    ck_assert_msg(rc == 0, "%s (policy %d): %s", k->name, policy, msg);
}
END_TEST

/* Without gradients (sampling): one primitive with post-ops, against the
 * same fixture; it is not the plain conv's primitive (a new one is made
 * after the plain conv of the same shapes ran). Both precisions: bf16
 * against the unfused bf16 ops within float rounding of the sum and the
 * activation (the operands are the same bf16 values). Loop index: case
 * i % NFCASES, policy (i / NFCASES) % NPOLICIES, bf16 i / (NFCASES *
 * NPOLICIES). */
START_TEST(fused_inference)
{
    char key[96];
    const fconv_case *k = &fcases[_i % NFCASES];
    const int policy = policies[_i / NFCASES % NPOLICIES], bf16 = _i / (NFCASES * NPOLICIES);
    if (bf16 && !sd_bf16_native())
        SDTEST_SKIP("this CPU has no native bf16");
    sd_tensor *in[4] = {0};
    for (int i = 0; i < fcase_nin(k); i++) {
        snprintf(key, sizeof key, "%s.in%d", k->name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        ck_assert_ptr_nonnull(a);
        in[i] = gc_from(a->ndim, a->shape, a->data);
    }
    sd_conv_set_policy(policy);
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_precision(c, bf16 ? SD_PREC_BF16 : SD_PREC_F32);
    sd_tensor *b = k->bias ? in[2] : NULL, *r = k->resid ? in[2 + k->bias] : NULL;
    sd_tensor *u = sd_conv2d(c, in[0], in[1], b, k->stride, k->pad);
    u = k->act == SD_ACT_GELU ? sd_gelu(c, u) : k->act == SD_ACT_SILU ? sd_silu(c, u) : u;
    u = r ? sd_add(c, r, u) : u;
    int64_t made = sd_ctx_primitives_created(c);
    sd_tensor *y = g_fconv(c, in, (void *)k);
    sd_conv_set_policy(SD_CONV_BLOCKED);
    ck_assert_msg(u && y, "%s", sd_ctx_errmsg(c));
    ck_assert_int_gt(sd_ctx_primitives_created(c), made);
    double e = sdtest_max_rel_err(y->data, u->data, (size_t)y->numel, 1e-6);
    ck_assert_msg(e <= 1e-6, "%s (policy %d, bf16 %d): fused vs unfused rel err %.3g", k->name,
                  policy, bf16, e);
    if (!bf16) {
        snprintf(key, sizeof key, "%s.out", k->name);
        const sdfx_array *want = sdfx_get(fx, key);
        e = sdtest_max_rel_err(y->data, want->data, (size_t)want->numel, 1e-6);
        ck_assert_msg(e <= 1e-4, "%s (policy %d): rel err %.3g vs PyTorch", k->name, policy, e);
    }
    sd_ctx_destroy(c);
    for (int i = 0; i < fcase_nin(k); i++)
        gc_free(in[i]);
}
END_TEST

/* Finite differences through the fused node (and the unfused ops of the
 * activation cases). */
START_TEST(fused_finite_differences)
{
    const fconv_case *k = &fcases[_i];
    run_fd_graph(g_fconv, (void *)k, k->name, fcase_nin(k), SD_CONV_BLOCKED);
}
END_TEST

START_TEST(fused_bad_args)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_tensor *x = sd_zeros(c, 4, (int64_t[]){2, 3, 8, 8});
    sd_tensor *w = sd_zeros(c, 4, (int64_t[]){5, 3, 3, 3});
    sd_tensor *r = sd_zeros(c, 4, (int64_t[]){2, 5, 8, 7});
    ck_assert_ptr_null(sd_conv2d_fused(c, x, w, NULL, 1, 1, SD_ACT_NONE, r));
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sd_ctx_errmsg(c), "residual 2x5x8x7") &&
                      strstr(sd_ctx_errmsg(c), "output 2x5x8x8"),
                  "%s", sd_ctx_errmsg(c));
    ck_assert_int_eq(sd_ctx_primitives_created(c), 0);
    sd_ctx_reset(c);
    x = sd_zeros(c, 4, (int64_t[]){2, 3, 8, 8});
    w = sd_zeros(c, 4, (int64_t[]){5, 3, 3, 3});
    ck_assert_ptr_null(sd_conv2d_fused(c, x, w, NULL, 1, 1, 7, NULL));
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sd_ctx_errmsg(c), "activation 7"), "%s", sd_ctx_errmsg(c));
    sd_ctx_destroy(c);
}
END_TEST

static void setup(void) { fx = sdfx_load("ops/conv.sdfx"); }
static void teardown(void) { sdfx_free(fx); }

static Suite *suite(void)
{
    Suite *s = suite_create("ops-conv");
    TCase *tc = tcase_create("conv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, against_pytorch, 0, NPOLICIES * NCASES);
    tcase_add_loop_test(tc, finite_differences, 0, NCASES);
    tcase_add_loop_test(tc, finite_differences_winograd, 0, 4);
    tcase_add_test(tc, winograd_is_used);
    tcase_add_test(tc, accumulate);
    tcase_add_test(tc, partial);
    tcase_add_loop_test(tc, unaligned, 0, NPOLICIES * NCASES);
    tcase_add_loop_test(tc, no_new_primitives, 0, 2);
    tcase_add_test(tc, bad_shapes);
    tcase_add_loop_test(tc, fused_against_pytorch, 0, NPOLICIES * NFCASES);
    tcase_add_loop_test(tc, fused_inference, 0, 2 * NPOLICIES * NFCASES);
    tcase_add_loop_test(tc, fused_finite_differences, 0, NFCASES);
    tcase_add_test(tc, fused_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
