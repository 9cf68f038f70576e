/* norm ops (group norm, group norm + modulation + SiLU in one op, layer
 * norm, modulate): against PyTorch fixtures (tests/reference/ops_norm.py),
 * finite differences, accuracy on long normalized axes, primitive reuse,
 * thread-count independence, the memory the fused op saves and shape
 * errors. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/ops.h"
#include "sdfx.h"
#include "sdtest.h"

static sdfx *fx;

/* One row per fixture case; the names, inputs and params match
 * tests/reference/ops_norm.py. Inputs: x, then gamma/beta (or scale/shift)
 * when present; K_GNA (sd_group_norm_act): x, then gamma, beta, scale,
 * shift, those present. */
enum { K_GN, K_LN, K_MOD, K_GNA };
typedef struct ncase {
    const char *name;
    int kind;
    int has_a, has_b; /* gamma/beta, or scale/shift */
    int groups;       /* group norm */
    int axis;         /* modulate */
    float eps;
    int has_s, has_t; /* K_GNA: scale, shift */
    int act;          /* K_GNA: SD_ACT_* */
} ncase;

static const ncase cases[] = {
    {"gn_g1", K_GN, 1, 1, 1, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"gn_gc", K_GN, 1, 1, 8, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"gn_g4", K_GN, 1, 1, 4, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"gn_g4_plain", K_GN, 0, 0, 4, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"gn_g4_gamma", K_GN, 1, 0, 4, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"gn_3d", K_GN, 1, 1, 4, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"gn_3d_beta", K_GN, 0, 1, 2, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"gn_eps", K_GN, 1, 1, 2, 0, 0.5f, 0, 0, SD_ACT_NONE},
    {"ln_d7", K_LN, 1, 1, 0, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"ln_d64", K_LN, 1, 1, 0, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"ln_tokens", K_LN, 1, 1, 0, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"ln_tokens_plain", K_LN, 0, 0, 0, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"ln_gamma", K_LN, 1, 0, 0, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"ln_beta", K_LN, 0, 1, 0, 0, 1e-5f, 0, 0, SD_ACT_NONE},
    {"ln_eps", K_LN, 1, 1, 0, 0, 0.5f, 0, 0, SD_ACT_NONE},
    {"mod_ax1", K_MOD, 1, 1, 0, 1, 0, 0, 0, SD_ACT_NONE},
    {"mod_ax1_noshift", K_MOD, 1, 0, 0, 1, 0, 0, 0, SD_ACT_NONE},
    {"mod_ax2", K_MOD, 1, 1, 0, 2, 0, 0, 0, SD_ACT_NONE},
    {"mod_ax2_noshift", K_MOD, 1, 0, 0, 2, 0, 0, 0, SD_ACT_NONE},
    {"mod_2d", K_MOD, 1, 1, 0, 1, 0, 0, 0, SD_ACT_NONE},
    {"mod_3d_ax1", K_MOD, 1, 1, 0, 1, 0, 0, 0, SD_ACT_NONE},
    {"mod_4d_ax2", K_MOD, 1, 1, 0, 2, 0, 0, 0, SD_ACT_NONE},
    {"gna_affine_silu", K_GNA, 1, 1, 4, 0, 1e-5f, 0, 0, SD_ACT_SILU},
    {"gna_mod_silu", K_GNA, 0, 0, 4, 0, 1e-5f, 1, 1, SD_ACT_SILU},
    {"gna_all_silu", K_GNA, 1, 1, 3, 0, 1e-5f, 1, 1, SD_ACT_SILU},
    {"gna_gc_silu", K_GNA, 1, 0, 6, 0, 1e-5f, 1, 0, SD_ACT_SILU},
    {"gna_mod_none", K_GNA, 0, 1, 2, 0, 1e-5f, 0, 1, SD_ACT_NONE},
};

static int case_nin(const ncase *k) { return 1 + k->has_a + k->has_b + k->has_s + k->has_t; }

static sd_tensor *g_case(sd_ctx *c, sd_tensor **in, void *ud)
{
    const ncase *k = ud;
    sd_tensor *a = k->has_a ? in[1] : NULL;
    sd_tensor *b = k->has_b ? in[1 + k->has_a] : NULL;
    sd_tensor *sc = k->has_s ? in[1 + k->has_a + k->has_b] : NULL;
    sd_tensor *sh = k->has_t ? in[1 + k->has_a + k->has_b + k->has_s] : NULL;
    switch (k->kind) {
    case K_GNA:
        return sd_group_norm_act(c, in[0], k->groups, a, b, sc, sh, k->act, k->eps);
    case K_GN:
        return sd_group_norm(c, in[0], k->groups, a, b, k->eps);
    case K_LN:
        return sd_layer_norm(c, in[0], a, b, k->eps);
    default:
        return sd_modulate(c, in[0], a, b, k->axis);
    }
}

START_TEST(against_pytorch)
{
    char msg[512];
    ck_assert_ptr_nonnull(fx);
    const ncase *k = &cases[_i];
    int rc = gc_fixture(fx, k->name, case_nin(k), g_case, (void *)k, 1e-4, 1e-3,
                        msg, sizeof msg);
    ck_assert_msg(rc == 0, "%s", msg);
}
END_TEST

START_TEST(finite_differences)
{
    /* Same graphs on fresh random inputs in [-1,1) of the fixture's shapes;
     * gamma/beta/scale/shift are checked like x. Default h and rtol: the
     * normalized groups here have >= 7 elements of variance ~1/3, so third
     * derivatives are O(1) and h = 1e-2 keeps truncation well below rtol.
     * Inputs above 160 elements (the x of the group-norm cases, 560) are
     * checked at every k-th element (k <= 4, every (n,c) row still gets
     * several), which keeps the sanitizer build fast on a loaded machine. */
    char key[64], msg[512];
    const ncase *k = &cases[_i];
    sd_tensor *in[5] = {0};
    for (int i = 0; i < case_nin(k); i++) {
        snprintf(key, sizeof key, "%s.in%d", k->name, i);
        const sdfx_array *a = sdfx_get(fx, key);
        ck_assert_ptr_nonnull(a);
        in[i] = gc_rand(a->ndim, a->shape, 100 + (uint64_t)i);
    }
    gc_opts o = {.h = 1e-2, .rtol = 3e-3, .max_checks = 160};
    int rc = gc_check(g_case, (void *)k, case_nin(k), in, &o, msg, sizeof msg);
    for (int i = 0; i < case_nin(k); i++)
        gc_free(in[i]);
    ck_assert_msg(rc == 0, "%s: %s", k->name, msg);
}
END_TEST

/* ---- long normalized axes ------------------------------------------------ */
/* u in [0,1), 24 bits: splitmix64 of (seed << 32) ^ i (hashu() in
 * ops_norm.py), so both sides build the same float32 inputs. */
static double hashu(uint64_t seed, uint64_t i)
{
    uint64_t z = ((seed << 32) ^ i) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 40) / (double)(1 << 24);
}

static void hashfill(float *d, int64_t n, uint64_t seed, double off, double amp)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)(off + amp * (2.0 * hashu(seed, (uint64_t)i) - 1.0));
}

START_TEST(hash_matches_python)
{
    const sdfx_array *h = sdfx_get(fx, "hash_check");
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < 5; i++)
        ck_assert_msg((float)hashu(7, (uint64_t)i) == h->data[i], "hash %d", i);
}
END_TEST

static const struct {
    const char *name;
    int64_t shape[4];
    int groups;
    double off, amp;
    int fused; /* sd_group_norm_act with scale, shift and SiLU */
} big[] = {
    {"gnbig_a", {2, 64, 32, 32}, 32, 0.5, 2.0, 0},  /* axis 2048  */
    {"gnbig_b", {2, 128, 64, 64}, 32, 0.5, 2.0, 0}, /* axis 16384 */
    {"gnbig_c", {1, 128, 64, 64}, 8, 3.0, 1.0, 0},  /* axis 65536, mean 3 */
    {"gnabig_a", {2, 64, 32, 32}, 32, 0.5, 2.0, 1}, /* axis 2048, fused */
};
#define BIG_STRIDE 97

static double rel_err_sub(const float *a, int64_t stride, const sdfx_array *want)
{
    double md = 0, mr = 1e-6;
    for (int64_t i = 0; i < want->numel; i++) {
        double d = fabs((double)a[i * stride] - want->data[i]);
        md = d > md || isnan(d) ? d : md;
        mr = fabs(want->data[i]) > mr ? fabs(want->data[i]) : mr;
    }
    return md / mr;
}

START_TEST(long_axis_accuracy)
{
    /* The group-norm kernel on (N*G, C/G*H*W) groups vs float64 PyTorch at
     * realistic sizes (the fused case with scale, shift and SiLU too):
     * same tolerances as the small fixtures. */
    char key[64];
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    const int64_t N = big[_i].shape[0], C = big[_i].shape[1], NC[2] = {N, C};
    sd_tensor *x = gc_from(4, big[_i].shape, NULL);
    sd_tensor *g = gc_from(1, &C, NULL), *b = gc_from(1, &C, NULL);
    sd_tensor *sc = gc_from(2, NC, NULL), *sh = gc_from(2, NC, NULL);
    hashfill(x->data, x->numel, 1, big[_i].off, big[_i].amp);
    hashfill(g->data, C, 2, 1.0, 0.5);
    hashfill(b->data, C, 3, 0.0, 0.5);
    hashfill(sc->data, N * C, 5, 0.0, 0.5);
    hashfill(sh->data, N * C, 6, 0.0, 0.5);
    float *R = malloc((size_t)x->numel * sizeof(float));
    hashfill(R, x->numel, 4, 0.0, 1.0);
    sd_tensor *all[5] = {x, g, b, sc, sh};
    for (int k = 0; k < 5; k++)
        sd_param_zero_grad(all[k]);
    sd_tensor *y = big[_i].fused
                       ? sd_group_norm_act(c, x, big[_i].groups, g, b, sc, sh, SD_ACT_SILU, 1e-5f)
                       : sd_group_norm(c, x, big[_i].groups, g, b, 1e-5f);
    ck_assert_msg(y != NULL, "%s", sd_ctx_errmsg(c));
    ck_assert_int_eq(sd_backward_seed(c, y, R), SIMDIFF_OK);

    const char *what[6] = {"out_sub", "dx_sub", "dgamma", "dbeta", "dscale", "dshift"};
    const float *got[6] = {y->data, x->grad, g->grad, b->grad, sc->grad, sh->grad};
    const int64_t stride[6] = {BIG_STRIDE, BIG_STRIDE, 1, 1, 1, 1};
    const double tol[6] = {1e-4, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3};
    const int nw = big[_i].fused ? 6 : 4;
    double err[6];
    for (int k = 0; k < nw; k++) {
        snprintf(key, sizeof key, "%s.%s", big[_i].name, what[k]);
        const sdfx_array *w = sdfx_get(fx, key);
        ck_assert_msg(w != NULL, "fixture has no %s", key);
        err[k] = rel_err_sub(got[k], stride[k], w);
    }
    fprintf(stderr, "# %s rel err vs float64: out %.2e dx %.2e dgamma %.2e dbeta %.2e", big[_i].name,
            err[0], err[1], err[2], err[3]);
    if (nw == 6)
        fprintf(stderr, " dscale %.2e dshift %.2e", err[4], err[5]);
    fprintf(stderr, "\n");
    for (int k = 0; k < nw; k++)
        ck_assert_msg(err[k] <= tol[k], "%s %s: rel err %.3g > %.3g",
                      big[_i].name, what[k], err[k], tol[k]);
    free(R);
    for (int k = 0; k < 5; k++)
        gc_free(all[k]);
    sd_ctx_destroy(c);
}
END_TEST

/* ---- primitives are created once per shape --------------------------------- */
static void run_all(sd_ctx *c, sd_tensor *x4, sd_tensor *x3, sd_tensor *g,
                    sd_tensor *b, sd_tensor *s)
{
    sd_ctx_reset(c);
    sd_tensor *y1 = sd_group_norm(c, x4, 4, g, b, 1e-5f);
    sd_tensor *y2 = sd_layer_norm(c, x3, g, b, 1e-5f);
    sd_tensor *y3 = sd_modulate(c, x4, s, s, 1);
    sd_tensor *y4 = sd_group_norm_act(c, x4, 2, g, b, s, s, SD_ACT_SILU, 1e-5f);
    sd_tensor *t = sd_add(c, sd_add(c, sd_sum(c, y1), sd_sum(c, y4)),
                          sd_add(c, sd_sum(c, y2), sd_sum(c, y3)));
    ck_assert_msg(t != NULL, "%s", sd_ctx_errmsg(c));
    ck_assert_int_eq(sd_backward(c, t), SIMDIFF_OK);
}

START_TEST(primitives_reused)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    sd_tensor *x4 = gc_rand(4, (int64_t[]){2, 8, 3, 3}, 1);
    sd_tensor *x3 = gc_rand(3, (int64_t[]){2, 5, 8}, 2);
    sd_tensor *g = gc_rand(1, (int64_t[]){8}, 3), *b = gc_rand(1, (int64_t[]){8}, 4);
    sd_tensor *s = gc_rand(2, (int64_t[]){2, 8}, 5);
    run_all(c, x4, x3, g, b, s);
    int64_t n1 = sd_ctx_primitives_created(c);
    ck_assert_int_gt(n1, 0);
    for (int k = 0; k < 3; k++)
        run_all(c, x4, x3, g, b, s);
    ck_assert_int_eq(sd_ctx_primitives_created(c), n1);
    /* A new shape (or eps) does get its own primitive (layer norm's: group
     * norm, fused or not, is a hand kernel and creates none). */
    sd_ctx_reset(c);
    ck_assert_ptr_nonnull(sd_group_norm(c, x4, 8, g, b, 1e-5f));
    ck_assert_int_eq(sd_ctx_primitives_created(c), n1);
    ck_assert_ptr_nonnull(sd_layer_norm(c, x3, g, b, 1e-3f));
    ck_assert_int_gt(sd_ctx_primitives_created(c), n1);
    gc_free(x4);
    gc_free(x3);
    gc_free(g);
    gc_free(b);
    gc_free(s);
    sd_ctx_destroy(c);
}
END_TEST

/* ---- results do not depend on the thread count ---------------------------- */
/* Runs group norm (plain and fused with scale, shift and SiLU) and
 * modulate (both layouts) forward and backward with nthr threads; returns the outputs and every gradient, concatenated
 * (malloc'd). in: x (N,C,H,W), gamma, beta, scale, shift, tokens (N,T,C). */
static float *run_threads(int nthr, sd_tensor **in, int nin, int64_t *len)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    omp_set_num_threads(nthr);
    sd_ctx_set_grad(c, 1);
    for (int i = 0; i < nin; i++)
        sd_param_zero_grad(in[i]);
    sd_tensor *x = in[0], *g = in[1], *b = in[2], *s = in[3], *t = in[4];
    sd_tensor *y1 = sd_group_norm(c, x, 8, g, b, 1e-5f);
    sd_tensor *y2 = sd_modulate(c, x, s, t, 1);
    sd_tensor *y3 = sd_modulate(c, in[5], s, t, 2);
    sd_tensor *y4 = sd_group_norm_act(c, x, 16, g, b, s, t, SD_ACT_SILU, 1e-5f);
    ck_assert_msg(y1 && y2 && y3 && y4, "%s", sd_ctx_errmsg(c));
    sd_tensor *outs[4] = {y1, y2, y3, y4};
    int64_t n = 0;
    for (int k = 0; k < 4; k++)
        n += outs[k]->numel;
    for (int i = 0; i < nin; i++)
        n += in[i]->numel;
    float *r = malloc((size_t)n * sizeof(float)), *p = r;
    for (int k = 0; k < 4; k++) {
        float *R = malloc((size_t)outs[k]->numel * sizeof(float));
        hashfill(R, outs[k]->numel, 10 + (uint64_t)k, 0.0, 1.0);
        ck_assert_int_eq(sd_backward_seed(c, outs[k], R), SIMDIFF_OK);
        free(R);
        memcpy(p, outs[k]->data, (size_t)outs[k]->numel * sizeof(float));
        p += outs[k]->numel;
    }
    for (int i = 0; i < nin; i++) {
        ck_assert(in[i]->flags & SD_TF_GRAD_VALID);
        memcpy(p, in[i]->grad, (size_t)in[i]->numel * sizeof(float));
        p += in[i]->numel;
    }
    *len = n;
    sd_ctx_destroy(c);
    return r;
}

START_TEST(thread_count_independent)
{
    /* Big enough for every parallel branch (> SD_PAR_MIN elements). */
    sd_tensor *in[6] = {
        gc_rand(4, (int64_t[]){3, 64, 16, 16}, 1), gc_rand(1, (int64_t[]){64}, 2),
        gc_rand(1, (int64_t[]){64}, 3), gc_rand(2, (int64_t[]){3, 64}, 4),
        gc_rand(2, (int64_t[]){3, 64}, 5), gc_rand(3, (int64_t[]){3, 256, 64}, 6)};
    int64_t n1, n3;
    float *r1 = run_threads(1, in, 6, &n1);
    float *r3 = run_threads(3, in, 6, &n3);
    ck_assert_int_eq(n1, n3);
    int64_t bad = -1;
    for (int64_t i = 0; i < n1 && bad < 0; i++)
        if (memcmp(&r1[i], &r3[i], sizeof(float)) != 0)
            bad = i;
    ck_assert_msg(bad < 0, "element %lld differs: %.9g (1 thread) vs %.9g (3)",
                  (long long)bad, bad >= 0 ? r1[bad] : 0.0, bad >= 0 ? r3[bad] : 0.0);
    free(r1);
    free(r3);
    for (int i = 0; i < 6; i++)
        gc_free(in[i]);
}
END_TEST

/* ---- the fused op keeps less for backward ---------------------------------- */
/* ResBlock's second norm as one op and as the chain it replaces (group
 * norm, modulate, SiLU), with gradients recorded: the step arena grows by
 * the output (plus per-group statistics) for the fused op, by three
 * activations for the chain; both give the same values and gradients up to
 * float rounding. Also in bf16 precision, which the norm ignores (its
 * arithmetic and statistics are f32): the same bits. */
START_TEST(fused_saves_memory)
{
    const int64_t shape[4] = {4, 64, 16, 16}, NC[2] = {4, 64};
    sd_tensor *x = gc_rand(4, shape, 21), *sc = gc_rand(2, NC, 22), *sh = gc_rand(2, NC, 23);
    sd_tensor *in[3] = {x, sc, sh};
    const size_t act_bytes = (size_t)x->numel * sizeof(float);
    float *R = malloc(act_bytes);
    hashfill(R, x->numel, 9, 0.0, 1.0);
    float *res[3][4]; /* per run: y, dx, dscale, dshift */
    size_t grew[3];
    for (int run = 0; run < 3; run++) { /* fused f32, chain f32, fused bf16 */
        sd_ctx *c;
        ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
        sd_ctx_set_grad(c, 1);
        sd_ctx_set_precision(c, run == 2 ? SD_PREC_BF16 : SD_PREC_F32);
        for (int i = 0; i < 3; i++)
            sd_param_zero_grad(in[i]);
        size_t before = sd_ctx_arena_used(c);
        sd_tensor *y;
        if (run == 1) {
            y = sd_group_norm(c, x, 32, NULL, NULL, 1e-5f);
            y = sd_silu(c, sd_modulate(c, y, sc, sh, 1));
        } else {
            y = sd_group_norm_act(c, x, 32, NULL, NULL, sc, sh, SD_ACT_SILU, 1e-5f);
        }
        ck_assert_msg(y != NULL, "%s", sd_ctx_errmsg(c));
        grew[run] = sd_ctx_arena_used(c) - before;
        ck_assert_int_eq(sd_backward_seed(c, y, R), SIMDIFF_OK);
        const float *src[4] = {y->data, x->grad, sc->grad, sh->grad};
        const int64_t len[4] = {x->numel, x->numel, sc->numel, sh->numel};
        for (int k = 0; k < 4; k++) {
            res[run][k] = malloc((size_t)len[k] * sizeof(float));
            memcpy(res[run][k], src[k], (size_t)len[k] * sizeof(float));
        }
        sd_ctx_destroy(c);
    }
    fprintf(stderr, "# arena growth with grad: fused %zu bytes, chain %zu (activation %zu)\n",
            grew[0], grew[1], act_bytes);
    ck_assert_msg(grew[0] < act_bytes + 16384, "fused op kept %zu bytes", grew[0]);
    ck_assert_msg(grew[1] >= 3 * act_bytes, "chain kept only %zu bytes", grew[1]);
    const int64_t len[4] = {x->numel, x->numel, sc->numel, sh->numel};
    const char *what[4] = {"y", "dx", "dscale", "dshift"};
    for (int k = 0; k < 4; k++) {
        double e = sdtest_max_rel_err(res[0][k], res[1][k], (size_t)len[k], 1e-6);
        ck_assert_msg(e <= 1e-5, "%s: fused vs chain rel err %.3g", what[k], e);
        ck_assert_msg(memcmp(res[0][k], res[2][k], (size_t)len[k] * sizeof(float)) == 0,
                      "%s: bf16 precision changed the fused norm", what[k]);
    }
    for (int run = 0; run < 3; run++)
        for (int k = 0; k < 4; k++)
            free(res[run][k]);
    free(R);
    for (int i = 0; i < 3; i++)
        gc_free(in[i]);
}
END_TEST

/* ---- a NaN stays in its group ------------------------------------------- */
/* A NaN in x makes its (n, group) NaN and nothing else, with and without
 * SiLU (the trainer's non-finite-loss check relies on NaN reaching the
 * loss; the sanitizer build checks the sigmoid's bit arithmetic on it). */
START_TEST(nan_stays_in_its_group)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    for (int act = SD_ACT_NONE; act <= SD_ACT_SILU; act += SD_ACT_SILU) {
        sd_ctx_reset(c);
        sd_tensor *x = sd_zeros(c, 4, (int64_t[]){2, 4, 2, 2}); /* 2 groups of 8 */
        ck_assert_ptr_nonnull(x);
        for (int64_t i = 0; i < x->numel; i++)
            x->data[i] = (float)(i % 5) - 2.0f;
        x->data[3] = NAN; /* sample 0, group 0 */
        sd_tensor *y = sd_group_norm_act(c, x, 2, NULL, NULL, NULL, NULL, act, 1e-5f);
        ck_assert_ptr_nonnull(y);
        for (int64_t i = 0; i < y->numel; i++)
            ck_assert_msg(i < 8 ? isnan(y->data[i]) : isfinite(y->data[i]),
                          "act %d: y[%lld] = %g", act, (long long)i, (double)y->data[i]);
    }
    sd_ctx_destroy(c);
}
END_TEST

/* ---- argument errors -------------------------------------------------------- */
static void expect_invalid(sd_ctx *c, sd_tensor *r, const char *s1, const char *s2)
{
    ck_assert_ptr_null(r);
    ck_assert_int_eq(sd_ctx_status(c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_msg(strstr(sd_ctx_errmsg(c), s1) != NULL, "'%s' not in: %s", s1,
                  sd_ctx_errmsg(c));
    if (s2)
        ck_assert_msg(strstr(sd_ctx_errmsg(c), s2) != NULL, "'%s' not in: %s", s2,
                      sd_ctx_errmsg(c));
    sd_ctx_reset(c);
}

START_TEST(bad_args)
{
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
#define X4 sd_zeros(c, 4, (int64_t[]){2, 6, 3, 3})
#define V(n) sd_zeros(c, 1, (int64_t[]){n})
    /* group norm */
    expect_invalid(c, sd_group_norm(c, X4, 4, NULL, NULL, 1e-5f), "6 channels", "4 groups");
    expect_invalid(c, sd_group_norm(c, X4, 0, NULL, NULL, 1e-5f), "2x6x3x3", "0 groups");
    expect_invalid(c, sd_group_norm(c, X4, 3, V(5), NULL, 1e-5f), "gamma has shape 5", "(6)");
    expect_invalid(c, sd_group_norm(c, X4, 3, V(6), V(3), 1e-5f), "beta has shape 3", "2x6x3x3");
    expect_invalid(c, sd_group_norm(c, X4, 3, NULL, NULL, -1.0f), "eps", NULL);
    expect_invalid(c, sd_group_norm(c, V(6), 3, NULL, NULL, 1e-5f), "(N,C,...)", NULL);
    /* group norm + modulation + SiLU */
    expect_invalid(c, sd_group_norm_act(c, X4, 3, NULL, NULL, sd_zeros(c, 2, (int64_t[]){2, 3}),
                                        NULL, SD_ACT_SILU, 1e-5f),
                   "scale has shape 2x3", "(N,C) = (2,6)");
    expect_invalid(c, sd_group_norm_act(c, X4, 3, NULL, NULL, NULL, V(6), SD_ACT_SILU, 1e-5f),
                   "shift has shape 6", "2x6x3x3");
    expect_invalid(c, sd_group_norm_act(c, X4, 3, NULL, NULL, NULL, NULL, SD_ACT_GELU, 1e-5f),
                   "group_norm: activation 1", NULL);
    expect_invalid(c, sd_group_norm_act(c, X4, 4, NULL, NULL, NULL, NULL, SD_ACT_SILU, 1e-5f),
                   "group_norm_silu: 6 channels", "4 groups");
    /* layer norm */
    expect_invalid(c, sd_layer_norm(c, sd_zeros(c, 3, (int64_t[]){2, 5, 8}), V(5), NULL, 1e-5f),
                   "gamma has shape 5", "(8) for input 2x5x8");
    expect_invalid(c, sd_layer_norm(c, sd_zeros(c, 3, (int64_t[]){2, 5, 8}), NULL,
                                    sd_zeros(c, 2, (int64_t[]){1, 8}), 1e-5f),
                   "beta has shape 1x8", NULL);
    expect_invalid(c, sd_layer_norm(c, sd_zeros(c, 2, (int64_t[]){2, 0}), NULL, NULL, 1e-5f),
                   "2x0", NULL);
    /* modulate */
    expect_invalid(c, sd_modulate(c, X4, sd_zeros(c, 2, (int64_t[]){2, 3}), NULL, 1),
                   "scale 2x3", "(2,6)");
    expect_invalid(c, sd_modulate(c, sd_zeros(c, 3, (int64_t[]){2, 5, 8}),
                                  sd_zeros(c, 2, (int64_t[]){2, 5}), NULL, 2),
                   "scale 2x5", "(2,8)");
    expect_invalid(c, sd_modulate(c, X4, sd_zeros(c, 2, (int64_t[]){2, 6}),
                                  sd_zeros(c, 2, (int64_t[]){2, 5}), 1),
                   "shift 2x5 differs from scale 2x6", NULL);
    expect_invalid(c, sd_modulate(c, X4, sd_zeros(c, 2, (int64_t[]){2, 6}), NULL, 4),
                   "axis 4", "2x6x3x3");
    expect_invalid(c, sd_modulate(c, X4, sd_zeros(c, 2, (int64_t[]){2, 6}), NULL, 0),
                   "axis 0", NULL);
#undef X4
#undef V
    /* Sticky: after a failure, ops return NULL until reset. */
    sd_tensor *ok = sd_zeros(c, 4, (int64_t[]){2, 6, 3, 3});
    ck_assert_ptr_null(sd_group_norm(c, ok, 4, NULL, NULL, 1e-5f));
    ck_assert_ptr_null(sd_layer_norm(c, ok, NULL, NULL, 1e-5f));
    sd_ctx_reset(c);
    ok = sd_zeros(c, 4, (int64_t[]){2, 6, 3, 3});
    ck_assert_ptr_nonnull(sd_group_norm(c, ok, 3, NULL, NULL, 1e-5f));
    sd_ctx_destroy(c);
}
END_TEST

static void setup(void) { fx = sdfx_load("ops/norm.sdfx"); }
static void teardown(void) { sdfx_free(fx); }

static Suite *suite(void)
{
    Suite *s = suite_create("ops-norm");
    TCase *tc = tcase_create("norm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, against_pytorch, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_loop_test(tc, finite_differences, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_test(tc, hash_matches_python);
    tcase_add_loop_test(tc, long_axis_accuracy, 0, (int)SD_ARRAY_LEN(big));
    tcase_add_test(tc, primitives_reused);
    tcase_add_test(tc, thread_count_independent);
    tcase_add_test(tc, fused_saves_memory);
    tcase_add_test(tc, nan_stays_in_its_group);
    tcase_add_test(tc, bad_args);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
