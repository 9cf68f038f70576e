/* Models: forward and parameter gradients against the independent PyTorch
 * implementation (tests/reference/model_ref.py), config validation, dropout
 * placement, the loader under truncation and bit flips. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "gradcheck.h"
#include "model/model_internal.h"
#include "ops/ops.h"
#include "sdfx.h"
#include "sdtest.h"
#include "simdiff/text.h"
#include "tensor/tensor_internal.h"

static const char *cases[] = {"unet_plain", "unet_patch_cond", "unet_dwt",
                              "uvit_plain", "uvit_dwt",        "uvit_patch",
                              "unet_ctx",   "uvit_ctx",        "uvit_text",
                              "unet_text",  "uvit_dwt_skip",   "unet_skip_eps"};

static char *fixture_path(const char *name, const char *ext)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/model/%s.%s", sdtest_fixture_dir(), name, ext);
    return buf;
}

START_TEST(against_pytorch)
{
    const char *name = cases[_i];
    simdiff_model *m = NULL;
    ck_assert_msg(simdiff_model_load(&m, fixture_path(name, "safetensors")) == SIMDIFF_OK,
                  "%s: %s", name, simdiff_last_error());
    char rel[256];
    snprintf(rel, sizeof rel, "model/%s.sdfx", name);
    sdfx *fx = sdfx_load(rel);
    ck_assert_ptr_nonnull(fx);
    const sdfx_array *z = sdfx_get(fx, "z"), *ls = sdfx_get(fx, "logsnr"),
                     *lb = sdfx_get(fx, "labels"), *cond = sdfx_get(fx, "cond"),
                     *want = sdfx_get(fx, "out"), *R = sdfx_get(fx, "R");
    ck_assert(z && ls && lb && cond && want && R);
    int n = (int)z->shape[0];
    double logsnr[8];
    int labels[8];
    for (int i = 0; i < n; i++) {
        logsnr[i] = ls->data[i];
        labels[i] = (int)lb->data[i];
    }
    /* A context (cross-attention cases): n x ctx_len x ctx_dim, lengths
     * with 0 for the null context (the graph's convention; the public call
     * takes context NULL for it). */
    const sdfx_array *ctx = sdfx_get(fx, "ctx"), *ctxl = sdfx_get(fx, "ctx_len");
    /* Or token ids for the text encoder (text cases): n x ctx_len ids,
     * garbage past each length, lengths with 0 for the null context. */
    const sdfx_array *tka = sdfx_get(fx, "tokens");
    ck_assert((ctx != NULL || tka != NULL) == (m->cfg.ctx_dim > 0));
    ck_assert((tka != NULL) == (m->cfg.text_vocab > 0));
    int lens[8] = {0}, tok[64] = {0};
    for (int i = 0; (ctx || tka) && i < n; i++)
        lens[i] = (int)ctxl->data[i];
    for (int64_t j = 0; tka && j < tka->numel; j++)
        tok[j] = (int)tka->data[j];
    /* The public forward first (example by example with a context, so that
     * the null one goes through context NULL). */
    float *out = malloc((size_t)want->numel * sizeof(float));
    if (tka) { /* the whole batch at once, the null example by length 0 */
        ck_assert_msg(simdiff_model_forward_tokens(m, n, z->data, logsnr,
                                                   m->cfg.num_classes ? labels : NULL,
                                                   m->cfg.cond_dim ? cond->data : NULL, tok,
                                                   lens, out) == SIMDIFF_OK,
                      "%s: %s", name, simdiff_model_errmsg(m));
    } else if (!ctx) {
        ck_assert_int_eq(simdiff_model_forward_cond(m, n, z->data, logsnr,
                                                    m->cfg.num_classes ? labels : NULL,
                                                    m->cfg.cond_dim ? cond->data : NULL, out),
                         SIMDIFF_OK);
    } else {
        const int64_t zs = z->numel / n, cs = cond->numel / n, xs = ctx->numel / n;
        for (int i = 0; i < n; i++)
            ck_assert_msg(simdiff_model_forward_ctx(
                              m, 1, z->data + i * zs, &logsnr[i],
                              m->cfg.num_classes ? &labels[i] : NULL,
                              m->cfg.cond_dim ? cond->data + i * cs : NULL,
                              lens[i] ? ctx->data + i * xs : NULL, lens[i] ? &lens[i] : NULL,
                              out + i * zs) == SIMDIFF_OK,
                          "%s: %s", name, simdiff_model_errmsg(m));
    }
    double e = sdtest_max_rel_err(out, want->data, (size_t)want->numel, 1e-6);
    ck_assert_msg(e <= 1e-4, "%s: forward rel err %.3g", name, e);

    /* Then the gradients of sum(out * R) for every parameter. */
    ck_assert_int_eq(sd_model_enable_grad(m), SIMDIFF_OK);
    sd_model_zero_grad(m);
    sd_ctx *c;
    ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
    sd_ctx_set_grad(c, 1);
    sd_tensor *zt = sd_copy_in(c, z->ndim, z->shape, z->data);
    const int *lab = m->cfg.num_classes ? labels : NULL;
    const float *cnd = m->cfg.cond_dim ? cond->data : NULL;
    sd_tensor *y = tka ? sd_model_graph_tok(m, c, zt, logsnr, lab, cnd, tok, lens)
                       : sd_model_graph_ctx(m, c, zt, logsnr, lab, cnd, ctx ? ctx->data : NULL,
                                            ctx ? lens : NULL);
    ck_assert_msg(y != NULL, "%s: %s", name, sd_ctx_errmsg(c));
    e = sdtest_max_rel_err(y->data, want->data, (size_t)want->numel, 1e-6);
    ck_assert_msg(e <= 1e-4, "%s: graph forward rel err %.3g", name, e);
    ck_assert_int_eq(sd_backward_seed(c, y, R->data), SIMDIFF_OK);
    /* Relative error per tensor, with a floor at 1e-4 of the largest
     * gradient of the model: some gradients are exactly zero in exact
     * arithmetic (the attention key bias: softmax is invariant to a per-row
     * constant), and their float32 rounding noise has no relative scale. */
    double gmax = 0;
    for (int i = 0; i < fx->n; i++)
        if (!strncmp(fx->a[i].name, "grad.", 5))
            for (int64_t j = 0; j < fx->a[i].numel; j++)
                gmax = fmax(gmax, fabs(fx->a[i].data[j]));
    int checked = 0;
    for (int i = 0; i < m->nparams; i++) {
        char key[128];
        snprintf(key, sizeof key, "grad.%s", m->pinfo[i].name);
        const sdfx_array *g = sdfx_get(fx, key);
        ck_assert_msg(g != NULL, "%s: fixture lacks %s", name, key);
        sd_tensor *p = &m->params[i];
        ck_assert_int_eq(g->numel, p->numel);
        if (!(p->flags & SD_TF_GRAD_VALID))
            memset(p->grad, 0, (size_t)p->numel * sizeof(float));
        e = sdtest_max_rel_err(p->grad, g->data, (size_t)g->numel, 1e-4 * gmax);
        ck_assert_msg(e <= 1e-3, "%s: grad of %s rel err %.3g", name, m->pinfo[i].name, e);
        checked++;
    }
    ck_assert_int_gt(checked, 10);
    sd_ctx_destroy(c);
    free(out);
    sdfx_free(fx);
    simdiff_model_destroy(m);
}
END_TEST

/* simdiff_model_fit_skip's statistics against the reference DWT's (the
 * fixture's fit.*), and its refusals. */
START_TEST(fit_skip_against_pytorch)
{
    const char *names[] = {"uvit_dwt_skip", "unet_skip_eps"};
    for (int c = 0; c < 2; c++) {
        simdiff_model *m = NULL;
        ck_assert_int_eq(simdiff_model_load(&m, fixture_path(names[c], "safetensors")),
                         SIMDIFF_OK);
        char rel[256];
        snprintf(rel, sizeof rel, "model/%s.sdfx", names[c]);
        sdfx *fx = sdfx_load(rel);
        ck_assert_ptr_nonnull(fx);
        const sdfx_array *x = sdfx_get(fx, "fit.x"), *mean = sdfx_get(fx, "fit.mean"),
                         *std = sdfx_get(fx, "fit.std");
        ck_assert(x && mean && std);
        int im = sd_model_find_param(m, "skip.mean"), is = sd_model_find_param(m, "skip.std");
        ck_assert(im >= 0 && is >= 0);
        ck_assert_int_eq(m->params[im].numel, mean->numel);
        /* A non-finite pixel is refused and changes nothing. */
        float *bad = malloc((size_t)x->numel * sizeof(float));
        memcpy(bad, x->data, (size_t)x->numel * sizeof(float));
        bad[x->numel / 2] = NAN;
        float before = m->params[is].data[0];
        ck_assert_int_eq(simdiff_model_fit_skip(m, (int)x->shape[0], bad),
                         SIMDIFF_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(m), "not finite"));
        ck_assert_float_eq(m->params[is].data[0], before);
        ck_assert_int_eq(simdiff_model_fit_skip(m, 0, x->data), SIMDIFF_ERR_INVALID_ARG);
        ck_assert_int_eq(simdiff_model_fit_skip(m, 1, NULL), SIMDIFF_ERR_INVALID_ARG);
        ck_assert_int_eq(simdiff_model_fit_skip(NULL, 1, x->data), SIMDIFF_ERR_INVALID_ARG);
        ck_assert_int_eq(simdiff_model_fit_skip(m, (int)x->shape[0], x->data), SIMDIFF_OK);
        double e = sdtest_max_rel_err(m->params[im].data, mean->data, (size_t)mean->numel, 1e-5);
        ck_assert_msg(e <= 1e-4, "%s: skip.mean rel err %.3g", names[c], e);
        e = sdtest_max_rel_err(m->params[is].data, std->data, (size_t)std->numel, 1e-5);
        ck_assert_msg(e <= 1e-4, "%s: skip.std rel err %.3g", names[c], e);
        free(bad);
        sdfx_free(fx);
        simdiff_model_destroy(m);
    }
    /* A model without the skip has nothing to fit. */
    simdiff_model *m = NULL;
    ck_assert_int_eq(simdiff_model_load(&m, fixture_path("uvit_dwt", "safetensors")), SIMDIFF_OK);
    float x[3 * 16 * 16] = {0};
    ck_assert_int_eq(simdiff_model_fit_skip(m, 1, x), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(m), "wiener_skip"));
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(num_params_match_file)
{
    /* The parameter count equals the sum over the file's tensors. */
    simdiff_model *m = NULL;
    ck_assert_int_eq(simdiff_model_load(&m, fixture_path("uvit_dwt", "safetensors")), SIMDIFF_OK);
    char rel[256];
    snprintf(rel, sizeof rel, "model/uvit_dwt.sdfx");
    sdfx *fx = sdfx_load(rel);
    int64_t total = 0;
    for (int i = 0; i < fx->n; i++)
        if (!strncmp(fx->a[i].name, "grad.", 5))
            total += fx->a[i].numel;
    ck_assert_int_eq(simdiff_model_num_params(m), total);
    sdfx_free(fx);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(save_load_round_trip)
{
    simdiff_model_config cfg;
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UVIT, 16, 1), SIMDIFF_OK);
    cfg.num_levels = 1;
    cfg.level_channels[0] = 32;
    cfg.attn_resolution = 8;
    cfg.tf_width = 32;
    cfg.tf_depth = 1;
    cfg.emb_dim = 32;
    cfg.num_classes = 10;
    simdiff_model *a, *b;
    ck_assert_int_eq(simdiff_model_create(&a, &cfg, 7), SIMDIFF_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", sdtest_tmpdir());
    ck_assert_int_eq(simdiff_model_save_safetensors(a, path), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_load(&b, path), SIMDIFF_OK);
    ck_assert_int_eq(a->nparams, b->nparams);
    ck_assert_int_eq(memcmp(a->data, b->data, (size_t)a->total * sizeof(float)), 0);
    simdiff_model_config cb = {.struct_size = sizeof cb};
    ck_assert_int_eq(simdiff_model_get_config(b, &cb), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(&cb, &a->cfg, sizeof cb), 0);
    /* Same seed, same weights; another seed, other weights. */
    simdiff_model *c7, *c8;
    ck_assert_int_eq(simdiff_model_create(&c7, &cfg, 7), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_create(&c8, &cfg, 8), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a->data, c7->data, (size_t)a->total * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(a->data, c8->data, (size_t)a->total * sizeof(float)), 0);
    simdiff_model_destroy(a);
    simdiff_model_destroy(b);
    simdiff_model_destroy(c7);
    simdiff_model_destroy(c8);
}
END_TEST

/* The unit-variance DWT stem is the plain DWT stem reparametrized: with the
 * stem conv's input weights divided by the band stds and the output conv's
 * weights and bias multiplied by them, a SIMDIFF_STEM_DWT model computes
 * what the SIMDIFF_STEM_DWT_UNIT model computes. All weights random (the
 * output conv is not left at zero), 2 levels, RGB. */
START_TEST(dwt_unit_stem_is_a_reparametrized_dwt_stem)
{
    simdiff_model_config cfg;
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UVIT, 32, 3), SIMDIFF_OK);
    cfg.stem = SIMDIFF_STEM_DWT_UNIT;
    cfg.stem_param = 2;
    cfg.num_levels = 1;
    cfg.level_channels[0] = 32;
    cfg.attn_resolution = 4;
    cfg.tf_width = 32;
    cfg.tf_depth = 1;
    cfg.emb_dim = 32;
    cfg.num_classes = 3;
    simdiff_model *a, *b;
    ck_assert_int_eq(simdiff_model_create(&a, &cfg, 5), SIMDIFF_OK);
    cfg.stem = SIMDIFF_STEM_DWT;
    ck_assert_int_eq(simdiff_model_create(&b, &cfg, 5), SIMDIFF_OK);
    ck_assert_int_eq(a->total, b->total);
    sd_tensor *r = gc_rand(1, (int64_t[]){a->total}, 77);
    for (int64_t i = 0; i < a->total; i++)
        a->data[i] = b->data[i] = 0.3f * r->data[i];
    gc_free(r);
    float std[48];
    ck_assert_int_eq(sd_dwt53_band_std(3, 2, std), 0);
    int ws = sd_model_find_param(b, "stem.conv.weight");
    int wo = sd_model_find_param(b, "out.conv.weight"), bo = sd_model_find_param(b, "out.conv.bias");
    ck_assert_int_ge(ws, 0);
    ck_assert_int_ge(wo, 0);
    ck_assert_int_ge(bo, 0);
    sd_tensor *Ws = &b->params[ws], *Wo = &b->params[wo], *Bo = &b->params[bo];
    ck_assert_int_eq(Ws->shape[1], 48);
    ck_assert_int_eq(Wo->shape[0], 48);
    for (int64_t i = 0; i < Ws->numel; i++)
        Ws->data[i] /= std[(i / 9) % 48];
    for (int64_t i = 0; i < Wo->numel; i++)
        Wo->data[i] *= std[i / (Wo->numel / 48)];
    for (int64_t i = 0; i < 48; i++)
        Bo->data[i] *= std[i];
    enum { N = 2, P = 3 * 32 * 32 };
    sd_tensor *z = gc_rand(4, (int64_t[]){N, 3, 32, 32}, 78);
    static float oa[N * P], ob[N * P];
    double lam[N] = {3.5, -1.0};
    int lab[N] = {1, -1};
    ck_assert_int_eq(simdiff_model_forward(a, N, z->data, lam, lab, oa), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward(b, N, z->data, lam, lab, ob), SIMDIFF_OK);
    double num = 0, den = 0;
    for (int i = 0; i < N * P; i++) {
        num = fmax(num, fabs((double)oa[i] - ob[i]));
        den = fmax(den, fabs((double)ob[i]));
    }
    ck_assert_msg(den > 0.1 && num <= 1e-4 * den, "max diff %g, max |out| %g", num, den);
    gc_free(z);
    simdiff_model_destroy(a);
    simdiff_model_destroy(b);
}
END_TEST

START_TEST(config_errors_say_what_to_change)
{
    simdiff_model_config cfg;
    char msg[256];
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UNET, 32, 1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg), SIMDIFF_OK);
    cfg.level_channels[1] = 100; /* not divisible by 32 groups */
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg, "norm_groups"));
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UVIT, 32, 1), SIMDIFF_OK);
    cfg.stem = SIMDIFF_STEM_PATCH;
    cfg.stem_param = 3;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg, "divisible"));
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UVIT, 32, 1), SIMDIFF_OK);
    cfg.tf_heads = 3;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg, "tf_heads"));
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UVIT, 32, 1), SIMDIFF_OK);
    cfg.attn_resolution = 8;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg, "attn_resolution"));
    /* create refuses and says why; *out is NULL */
    simdiff_model *m = (simdiff_model *)&cfg;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "attn_resolution"));
    cfg.struct_size = 8;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_config_init(NULL, SIMDIFF_ARCH_UNET, 32, 1), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_config_init(&cfg, (simdiff_arch)7, 32, 1), SIMDIFF_ERR_INVALID_ARG);
    simdiff_model_destroy(NULL);
}
END_TEST

START_TEST(forward_bad_arguments)
{
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_load(&m, fixture_path("uvit_plain", "safetensors")), SIMDIFF_OK);
    float z[3 * 64] = {0}, out[3 * 64];
    double l[3] = {0, 1, 2};
    int bad[3] = {0, 3, 1}; /* 3 classes: id 3 is out of range */
    ck_assert_int_eq(simdiff_model_forward(m, 3, z, l, bad, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(m), "label 3"));
    ck_assert_int_eq(simdiff_model_forward(m, 3, NULL, l, NULL, out), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_forward(NULL, 3, z, l, NULL, out), SIMDIFF_ERR_INVALID_ARG);
    double nan_l[3] = {0, NAN, 0};
    ck_assert_int_eq(simdiff_model_forward(m, 3, z, nan_l, NULL, out), SIMDIFF_ERR_INVALID_ARG);
    /* And it still works afterwards. */
    ck_assert_int_eq(simdiff_model_forward(m, 3, z, l, NULL, out), SIMDIFF_OK);
    simdiff_model_destroy(m);
}
END_TEST

/* Dropout only at the configured resolutions: two training-mode forward
 * passes with different dropout seeds; the first node whose output differs
 * must be a dropout at resolution <= the threshold, and every dropout node
 * recorded must be at such a resolution. */
START_TEST(dropout_only_at_low_resolution)
{
    simdiff_model_config cfg;
    ck_assert_int_eq(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UNET, 16, 1), SIMDIFF_OK);
    cfg.num_levels = 2;
    cfg.level_channels[0] = cfg.level_channels[1] = 8;
    cfg.level_blocks[0] = cfg.level_blocks[1] = 1;
    cfg.norm_groups = 4;
    cfg.emb_dim = 16;
    cfg.attn_resolution = 0;
    cfg.dropout_res = 0.5f;
    cfg.dropout_max_resolution = 8;
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 1), SIMDIFF_OK);
    sd_model_init_params(m, 1);
    /* Make every zero-initialized layer nonzero so all activations move. */
    for (int i = 0; i < m->nparams; i++)
        if (m->pinfo[i].init == SD_INIT_ZERO)
            for (int64_t j = 0; j < m->params[i].numel; j++)
                m->params[i].data[j] = 0.05f * (float)((j % 7) - 3);
    ck_assert_int_eq(sd_model_enable_grad(m), SIMDIFF_OK);
    sd_ctx *c[2];
    float z[2 * 256];
    for (int i = 0; i < 512; i++)
        z[i] = (float)sin(i * 0.37);
    double l[2] = {-1, 2};
    for (int r = 0; r < 2; r++) {
        ck_assert_int_eq(sd_ctx_create(&c[r]), SIMDIFF_OK);
        sd_ctx_set_grad(c[r], 1);
        sd_ctx_set_training(c[r], 1);
        sd_ctx_set_rng(c[r], 100 + (uint64_t)r, 0);
        sd_tensor *zt = sd_copy_in(c[r], 4, (int64_t[]){2, 1, 16, 16}, z);
        ck_assert_ptr_nonnull(sd_model_graph(m, c[r], zt, l, NULL, NULL));
    }
    ck_assert_int_eq(c[0]->ntape, c[1]->ntape);
    int ndrop = 0, first_diff = -1;
    for (int k = 0; k < c[0]->ntape; k++) {
        sd_node *a = c[0]->tape[k], *b = c[1]->tape[k];
        ck_assert_str_eq(a->op, b->op);
        if (!strcmp(a->op, "dropout")) {
            ndrop++;
            ck_assert_int_eq(a->out->ndim, 4);
            ck_assert_int_le(a->out->shape[2], 8);
        }
        if (first_diff < 0 && a->out->numel == b->out->numel &&
            memcmp(a->out->data, b->out->data, (size_t)a->out->numel * sizeof(float)))
            first_diff = k;
    }
    /* Levels at 16 (no dropout) and 8 (dropout): down.1, mid.0, mid.1, up.1. */
    ck_assert_int_eq(ndrop, 4);
    ck_assert_int_ge(first_diff, 0);
    ck_assert_str_eq(c[0]->tape[first_diff]->op, "dropout");
    sd_ctx_destroy(c[0]);
    sd_ctx_destroy(c[1]);
    simdiff_model_destroy(m);
}
END_TEST

/* The loader under hostile input: every truncation of the header region and
 * a bit flip at every header byte give an error or a consistent model,
 * never a crash (this test runs under ASan in the sanitizer build). */
START_TEST(loader_truncation_and_bit_flips)
{
    const char *src = fixture_path("uvit_plain", "safetensors");
    FILE *fp = fopen(src, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    ck_assert_int_eq(fread(buf, 1, (size_t)size, fp), size);
    fclose(fp);
    uint64_t hlen = 0;
    memcpy(&hlen, buf, 8);
    ck_assert_int_lt(hlen + 8, size);
    char path[512];
    snprintf(path, sizeof path, "%s/fuzz.safetensors", sdtest_tmpdir());
    int errors = 0, oks = 0;
    long limit = (long)hlen + 8 + 64;
    for (long cut = 0; cut < size; cut += (cut < limit ? 1 : 997)) {
        fp = fopen(path, "wb");
        fwrite(buf, 1, (size_t)cut, fp);
        fclose(fp);
        simdiff_model *m = NULL;
        simdiff_status st = simdiff_model_load(&m, path);
        ck_assert_int_ne(st, SIMDIFF_OK);
        ck_assert_ptr_null(m);
        ck_assert_int_gt((int)strlen(simdiff_last_error()), 0);
        errors++;
    }
    for (long i = 0; i < (long)hlen + 8; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (unsigned char)(1u << bit);
            fp = fopen(path, "wb");
            fwrite(buf, 1, (size_t)size, fp);
            fclose(fp);
            buf[i] ^= (unsigned char)(1u << bit);
            simdiff_model *m = NULL;
            simdiff_status st = simdiff_model_load(&m, path);
            if (st == SIMDIFF_OK) {
                /* A flip that still parses (e.g. in a float of the
                 * metadata or a space) must give a usable model. */
                float z[3 * 64] = {0}, out[3 * 64];
                double l[3] = {0, 1, 2};
                simdiff_model_forward(m, 3, z, l, NULL, out);
                simdiff_model_destroy(m);
                oks++;
            } else {
                ck_assert_ptr_null(m);
                ck_assert(st == SIMDIFF_ERR_FORMAT || st == SIMDIFF_ERR_UNSUPPORTED);
                errors++;
            }
        }
    }
    ck_assert_int_gt(errors, 100);
    free(buf);
}
END_TEST

/* Inference keeps one block's intermediates at a time: its arena peak is a
 * fraction of a recorded (training) forward pass, and the outputs agree
 * bit for bit. */
START_TEST(inference_memory_is_compact)
{
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_load(&m, fixture_path(cases[_i], "safetensors")), SIMDIFF_OK);
    ck_assert_int_eq(sd_model_enable_grad(m), SIMDIFF_OK);
    const simdiff_model_config *cf = &m->cfg;
    int n = 16;
    int64_t shape[4] = {n, cf->channels, cf->image_size, cf->image_size};
    int64_t numel = shape[0] * shape[1] * shape[2] * shape[3];
    float *z = malloc((size_t)numel * sizeof(float));
    for (int64_t i = 0; i < numel; i++)
        z[i] = (float)sin(0.1 * (double)i);
    double l[16];
    for (int i = 0; i < n; i++)
        l[i] = i - 8;
    size_t peak[2];
    float *out[2];
    for (int grad = 0; grad < 2; grad++) {
        sd_ctx *c;
        ck_assert_int_eq(sd_ctx_create(&c), SIMDIFF_OK);
        sd_ctx_set_grad(c, grad);
        sd_tensor *y = sd_model_graph(m, c, sd_copy_in(c, 4, shape, z), l, NULL, NULL);
        ck_assert_ptr_nonnull(y);
        out[grad] = malloc((size_t)numel * sizeof(float));
        memcpy(out[grad], y->data, (size_t)numel * sizeof(float));
        peak[grad] = sd_ctx_arena_peak(c);
        sd_ctx_destroy(c);
    }
    ck_assert_int_eq(memcmp(out[0], out[1], (size_t)numel * sizeof(float)), 0);
    /* These fixture nets have 2-3 blocks, so the bound is loose: at most
     * 2/3 of the recorded pass (which keeps no layout copies either: both
     * sides count the scratch arena of op temporaries). The 6-block
     * Fashion-MNIST U-ViT measured 37 MiB vs 572 MiB at batch 64. */
    ck_assert_msg(peak[0] * 3 < peak[1] * 2, "%s: inference peak %zu, recorded %zu",
                  cases[_i], peak[0], peak[1]);
    free(out[0]);
    free(out[1]);
    free(z);
    simdiff_model_destroy(m);
}
END_TEST

/* A fresh model with a context ignores it (zero-initialized cross-attention
 * outputs and pooled linear): any context gives the null context's output.
 * Bad context inputs are refused naming the field, nothing written; a file
 * without the ctx keys (every older fixture) loads as ctx_dim 0. */
START_TEST(context_inputs)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.ctx_dim = 5;
    cfg.ctx_len = 3;
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 7), SIMDIFF_OK);
    float z[2 * 64], ctx[2 * 3 * 5], a[2 * 64], b[2 * 64];
    for (int i = 0; i < 2 * 64; i++)
        z[i] = (float)sin(0.3 * i);
    for (int i = 0; i < 2 * 3 * 5; i++)
        ctx[i] = (float)cos(0.7 * i);
    double l[2] = {-1, 2};
    int len[2] = {3, 1};
    ck_assert_int_eq(simdiff_model_forward_ctx(m, 2, z, l, NULL, NULL, ctx, len, a), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward_ctx(m, 2, z, l, NULL, NULL, NULL, NULL, b), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    ck_assert_int_eq(simdiff_model_forward(m, 2, z, l, NULL, b), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    /* Bad inputs: nothing written. */
    const struct {
        int l0, l1, nan;
        const char *msg;
    } bad[] = {{0, 1, 0, "context_len[0] = 0 is not in 1..3"},
               {3, 4, 0, "context_len[1] = 4 is not in 1..3"},
               {3, 2, 1, "context of example 1, token 1: value 2 is not finite"}};
    for (size_t k = 0; k < SD_ARRAY_LEN(bad); k++) {
        int bl[2] = {bad[k].l0, bad[k].l1};
        float bc[2 * 3 * 5];
        memcpy(bc, ctx, sizeof bc);
        if (bad[k].nan)
            bc[15 + 5 + 2] = NAN;
        for (int i = 0; i < 2 * 64; i++)
            b[i] = 42.0f;
        ck_assert_int_eq(simdiff_model_forward_ctx(m, 2, z, l, NULL, NULL, bc, bl, b),
                         SIMDIFF_ERR_INVALID_ARG);
        ck_assert_msg(strstr(simdiff_model_errmsg(m), bad[k].msg), "%s", simdiff_model_errmsg(m));
        for (int i = 0; i < 2 * 64; i++)
            ck_assert_float_eq(b[i], 42.0f);
    }
    /* NaN past a length is never read. */
    float pc[2 * 3 * 5];
    memcpy(pc, ctx, sizeof pc);
    pc[15 + 5] = NAN;
    ck_assert_int_eq(simdiff_model_forward_ctx(m, 2, z, l, NULL, NULL, pc, len, b), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    /* The config round-trips through a file. */
    char path[512];
    snprintf(path, sizeof path, "%s/ctx.safetensors", sdtest_tmpdir());
    ck_assert_int_eq(simdiff_model_save_safetensors(m, path), SIMDIFF_OK);
    simdiff_model *m2;
    ck_assert_int_eq(simdiff_model_load(&m2, path), SIMDIFF_OK);
    simdiff_model_config got = {.struct_size = sizeof got};
    ck_assert_int_eq(simdiff_model_get_config(m2, &got), SIMDIFF_OK);
    ck_assert_int_eq(got.ctx_dim, 5);
    ck_assert_int_eq(got.ctx_len, 3);
    ck_assert_int_eq(simdiff_model_forward_ctx(m2, 2, z, l, NULL, NULL, ctx, len, b), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    simdiff_model_destroy(m2);
    remove(path);
    simdiff_model_destroy(m);
    /* A context for a model without one; an older file has ctx_dim 0. */
    ck_assert_int_eq(simdiff_model_load(&m, fixture_path("uvit_plain", "safetensors")),
                     SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_get_config(m, &got), SIMDIFF_OK);
    ck_assert_int_eq(got.ctx_dim, 0);
    ck_assert_int_eq(simdiff_model_forward_ctx(m, 2, z, l, NULL, NULL, ctx, len, b),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(m), "no context input (ctx_dim 0)"));
    simdiff_model_destroy(m);
    /* ctx_len must be >= 1 with a context. */
    cfg.ctx_len = 0;
    char msg[256];
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg, "ctx_len 0 out of range 1..1024"));
}
END_TEST

/* ---- hostile metadata ----------------------------------------------------- */

/* The tiny U-ViT (8x8 gray) whose files the tests below edit. */
static simdiff_model *tiny_uvit(void)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 1), SIMDIFF_OK);
    return m;
}

/* m's tensors as a safetensors model file whose config text is `config`,
 * with `vocab` as its "simdiff.vocab" (NULL: none). */
static void write_with_vocab(const simdiff_model *m, const char *config, const char *vocab,
                             const char *path)
{
    sd_st_writer *w;
    ck_assert_int_eq(sd_st_writer_create(&w), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_set_metadata(w, "format", "simdiff"), SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_set_metadata(w, "simdiff.config", config), SIMDIFF_OK);
    if (vocab)
        ck_assert_int_eq(sd_st_writer_set_metadata(w, "simdiff.vocab", vocab), SIMDIFF_OK);
    for (int i = 0; i < m->nparams; i++)
        ck_assert_int_eq(sd_st_writer_add(w, m->pinfo[i].name, SD_DT_F32, m->params[i].ndim,
                                          m->params[i].shape, m->params[i].data),
                         SIMDIFF_OK);
    ck_assert_int_eq(sd_st_writer_write(w, path), SIMDIFF_OK);
    sd_st_writer_destroy(w);
}

static void write_with_config(const simdiff_model *m, const char *config, const char *path)
{
    write_with_vocab(m, config, NULL, path);
}

/* The vocabulary of a text encoder (docs/text.md) is checked on load: a
 * good one loads, every malformed one, one in a model without an encoder
 * and one with a config whose text_vocab the tensors do not match fail
 * with SIMDIFF_ERR_FORMAT naming the vocabulary. */
START_TEST(hostile_vocab_refused)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.ctx_dim = 8;
    cfg.ctx_len = 4;
    cfg.text_vocab = 5;
    cfg.text_layers = 1;
    cfg.text_heads = 2;
    simdiff_model *m, *l;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 4), SIMDIFF_OK);
    char path[512], config[2048];
    snprintf(path, sizeof path, "%s/text-hostile.safetensors", sdtest_tmpdir());
    ck_assert_int_eq(sd_config_to_string(&m->cfg, config, sizeof config), SIMDIFF_OK);
    write_with_vocab(m, config, "red\nblue\ncat\n", path);
    ck_assert_msg(simdiff_model_load(&l, path) == SIMDIFF_OK, "%s", simdiff_last_error());
    ck_assert_str_eq(simdiff_model_vocab_word(l, 4), "cat");
    simdiff_model_destroy(l);
    const char *bad[] = {"red\nblue\n", "red\nblue\ncat\ndog\n", "red\nblue\ncat",
                         "red\nred\ncat\n", "red\n\ncat\n", "RED\nblue\ncat\n",
                         "red\nblue\nc<a>t\n", ""};
    for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
        write_with_vocab(m, config, bad[i], path);
        ck_assert_msg(simdiff_model_load(&l, path) == SIMDIFF_ERR_FORMAT,
                      "vocabulary %zu accepted", i);
        ck_assert_ptr_null(l);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "vocabulary"));
    }
    /* A config claiming 4 ids: the tensors (5 rows of text.tok) disagree. */
    char *p = strstr(config, "text_vocab=5");
    ck_assert_ptr_nonnull(p);
    p[11] = '4';
    write_with_vocab(m, config, "red\nblue\n", path);
    ck_assert_int_eq(simdiff_model_load(&l, path), SIMDIFF_ERR_FORMAT);
    simdiff_model_destroy(m);
    /* A vocabulary in a model without an encoder. */
    sdtest_tiny_uvit_config(&cfg);
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 1), SIMDIFF_OK);
    ck_assert_int_eq(sd_config_to_string(&m->cfg, config, sizeof config), SIMDIFF_OK);
    write_with_vocab(m, config, "red\n", path);
    ck_assert_int_eq(simdiff_model_load(&l, path), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "without a text encoder"));
    simdiff_model_destroy(m);
}
END_TEST

/* The metadata of a model file cannot make the loader build or allocate
 * what the file does not hold (before the bounds, tf_depth=1000000 spent
 * 20 s and 3 GB, 2147483647 aborted under ASan, tf_mlp_ratio=100000 took
 * 4 s and 0.8 GB before their errors). Out-of-bounds fields fail at once;
 * an in-bounds config implying 151M weights (600 MB) next to a few
 * thousand stored ones fails before the weights are allocated: the
 * process's peak memory grows by less than 64 MiB. */
START_TEST(metadata_cannot_drive_allocation)
{
    simdiff_model *m = tiny_uvit();
    char base[2048], text[2048];
    ck_assert_int_eq(sd_config_to_string(&m->cfg, base, sizeof base), SIMDIFF_OK);
    const char *path = sdtest_path(sdtest_work_dir(), "hostile.safetensors");
    static const struct {
        const char *key, *value;
    } bad[] = {
        {"tf_depth", "1000000"}, {"tf_depth", "2147483647"}, {"tf_mlp_ratio", "100000"},
        {"level_blocks", "1000"}, {"tf_heads", "2000000"}, {"num_classes", "2000000000"},
        {"dropout_max_resolution", "2147483647"},
    };
    for (size_t k = 0; k < SD_ARRAY_LEN(bad); k++) {
        snprintf(text, sizeof text, "%s", base);
        sdtest_set_kv(text, sizeof text, bad[k].key, bad[k].value);
        write_with_config(m, text, path);
        simdiff_model *l = (simdiff_model *)m;
        double t0 = sdtest_now();
        simdiff_status st = simdiff_model_load(&l, path);
        ck_assert_msg(st == SIMDIFF_ERR_FORMAT, "%s=%s: %s (%s)", bad[k].key, bad[k].value,
                      simdiff_status_str(st), simdiff_last_error());
        ck_assert_ptr_null(l);
        ck_assert_msg(strstr(simdiff_last_error(), bad[k].key), "%s", simdiff_last_error());
        ck_assert_msg(sdtest_now() - t0 < 2.0, "%s=%s took %.1f s", bad[k].key, bad[k].value,
                      sdtest_now() - t0);
    }
    /* In bounds, but the file holds a tiny model's tensors. */
    snprintf(text, sizeof text, "%s", base);
    sdtest_set_kv(text, sizeof text, "tf_width", "1024");
    sdtest_set_kv(text, sizeof text, "tf_depth", "4");
    sdtest_set_kv(text, sizeof text, "tf_mlp_ratio", "16");
    simdiff_model_config big;
    ck_assert_int_eq(sd_config_from_string(&big, text), SIMDIFF_OK);
    write_with_config(m, text, path);
    long before = sdtest_peak_rss_kib();
    simdiff_model *l = NULL;
    ck_assert_int_eq(simdiff_model_load(&l, path), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_null(l);
    long grew = sdtest_peak_rss_kib() - before;
    ck_assert_msg(grew < 64 * 1024, "loading grew the peak by %ld KiB: %s", grew,
                  simdiff_last_error());
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "tf."));
    /* The untouched text still loads (the edits were the only fault). */
    write_with_config(m, base, path);
    ck_assert_msg(simdiff_model_load(&l, path) == SIMDIFF_OK, "%s", simdiff_last_error());
    ck_assert_int_eq(memcmp(l->data, m->data, (size_t)m->total * sizeof(float)), 0);
    simdiff_model_destroy(l);
    simdiff_model_destroy(m);
}
END_TEST

/* Bytes of a file that end up in a message are escaped: no control
 * character or invalid UTF-8 reaches simdiff_last_error() (a terminal
 * escape sequence in a key, through the JSON escape \u001b; raw bytes
 * 0xff 0x07 in a checkpoint's config section). */
static void expect_clean_message(const char *needle)
{
    const char *msg = simdiff_last_error();
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        ck_assert_msg(*p >= 0x20 && *p != 0x7f, "raw byte 0x%02x in \"%s\"", *p, msg);
    ck_assert_msg(sd_utf8_valid(msg), "invalid UTF-8 in the message");
    ck_assert_msg(strstr(msg, needle), "'%s' lacks '%s'", msg, needle);
}

START_TEST(file_bytes_in_messages_are_escaped)
{
    simdiff_model *m = tiny_uvit();
    char text[2048];
    ck_assert_int_eq(sd_config_to_string(&m->cfg, text, sizeof text), SIMDIFF_OK);
    char evil[2100];
    snprintf(evil, sizeof evil, "\x1b[2J\x1b[31mevil\x07=1;%s", text);
    const char *path = sdtest_path(sdtest_work_dir(), "evil.safetensors");
    write_with_config(m, evil, path);
    simdiff_model *l = NULL;
    ck_assert_int_eq(simdiff_model_load(&l, path), SIMDIFF_ERR_FORMAT);
    expect_clean_message("\\x1b[2J\\x1b[31mevil\\x07");
    /* A checkpoint section is raw bytes. */
    sd_ck_writer *w;
    const char raw[] = "\xff\xfe\x07tf_depth=1";
    ck_assert_int_eq(sd_ck_writer_create(&w), SIMDIFF_OK);
    ck_assert_int_eq(sd_ck_writer_add(w, "config", raw, sizeof raw - 1, 1), SIMDIFF_OK);
    ck_assert_int_eq(sd_ck_writer_add(w, "schedule", "", 0, 1), SIMDIFF_OK);
    path = sdtest_path(sdtest_work_dir(), "evil.sdc");
    ck_assert_int_eq(sd_ck_writer_commit(w, path), SIMDIFF_OK);
    sd_ck_writer_destroy(w);
    ck_assert_int_eq(simdiff_model_load(&l, path), SIMDIFF_ERR_FORMAT);
    expect_clean_message("\\xff\\xfe\\x07");
    simdiff_model_destroy(m);
}
END_TEST

/* simdiff_model_forward on one model from two threads at once: the second
 * call is SIMDIFF_ERR_MISUSE (they would share the model's compute
 * context), never a corrupted result. Deterministic first (the flag
 * held by hand), then two real threads until they collide. */
typedef struct fwd_job {
    simdiff_model *m;
    const float *z, *want;
    float *out;
    int n, iters, ok, misuse, other, wrong;
} fwd_job;

static void *forward_loop(void *arg)
{
    fwd_job *j = arg;
    double l[8] = {-4, -2, 0, 2, 4, 6, 8, 10};
    for (int i = 0; i < j->iters && !j->misuse; i++) {
        simdiff_status st = simdiff_model_forward(j->m, j->n, j->z, l, NULL, j->out);
        if (st == SIMDIFF_OK) {
            j->ok++;
            j->wrong += memcmp(j->out, j->want, (size_t)j->n * 64 * sizeof(float)) != 0;
        } else if (st == SIMDIFF_ERR_MISUSE) {
            j->misuse++;
        } else {
            j->other++;
        }
    }
    return NULL;
}

START_TEST(forward_from_two_threads_is_misuse)
{
    simdiff_model *m = tiny_uvit();
    enum { N = 8 };
    float z[N * 64], want[N * 64], out[2][N * 64];
    for (int i = 0; i < N * 64; i++)
        z[i] = (float)sin(0.37 * i);
    double l[N] = {-4, -2, 0, 2, 4, 6, 8, 10};
    ck_assert_int_eq(simdiff_model_forward(m, N, z, l, NULL, want), SIMDIFF_OK);
    atomic_store(&m->forward, 1); /* another forward is running */
    ck_assert_int_eq(simdiff_model_forward(m, N, z, l, NULL, out[0]), SIMDIFF_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "another simdiff_model_forward"));
    atomic_store(&m->forward, 0);
    atomic_store(&m->users, -1); /* a trainer step is writing the weights */
    ck_assert_int_eq(simdiff_model_forward(m, N, z, l, NULL, out[0]), SIMDIFF_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "trainer step"));
    atomic_store(&m->users, 0);
    ck_assert_int_eq(simdiff_model_forward(m, N, z, l, NULL, out[0]), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(out[0], want, sizeof want), 0);

    fwd_job j[2] = {{0}, {0}};
    pthread_t th[2];
    for (int round = 0; round < 50 && !(j[0].misuse + j[1].misuse); round++) {
        for (int k = 0; k < 2; k++) {
            j[k] = (fwd_job){.m = m, .z = z, .want = want, .out = out[k], .n = N, .iters = 200};
            ck_assert_int_eq(pthread_create(&th[k], NULL, forward_loop, &j[k]), 0);
        }
        for (int k = 0; k < 2; k++)
            pthread_join(th[k], NULL);
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(j[k].other, 0);
            ck_assert_msg(j[k].wrong == 0, "%d corrupted outputs", j[k].wrong);
        }
    }
    ck_assert_msg(j[0].misuse + j[1].misuse > 0, "two threads never collided");
    simdiff_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, against_pytorch, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_loop_test(tc, inference_memory_is_compact, 0, (int)SD_ARRAY_LEN(cases));
    tcase_add_test(tc, num_params_match_file);
    tcase_add_test(tc, fit_skip_against_pytorch);
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, hostile_vocab_refused);
    tcase_add_test(tc, dwt_unit_stem_is_a_reparametrized_dwt_stem);
    tcase_add_test(tc, config_errors_say_what_to_change);
    tcase_add_test(tc, forward_bad_arguments);
    tcase_add_test(tc, context_inputs);
    tcase_add_test(tc, dropout_only_at_low_resolution);
    tcase_add_test(tc, loader_truncation_and_bit_flips);
    tcase_add_test(tc, metadata_cannot_drive_allocation);
    tcase_add_test(tc, file_bytes_in_messages_are_escaped);
    tcase_add_test(tc, forward_from_two_threads_is_misuse);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
