/* The forward pass of the U-Net and the U-ViT, recorded on a ctx (so the
 * backward comes from the tape). Order of ops: docs/architecture.md. */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"
#include "ops/ops.h"
#include "schedule/schedule_internal.h"

typedef struct g {
    const simdiff_model *m;
    sd_ctx *c;
    sd_tensor *e; /* silu(embedding), (N, E) */
    /* With a context: the projected context (N, T, ctx_ch) and the key
     * length of each example (1..T; 1 for the null context). */
    sd_tensor *ctx;
    const int *ctx_len;
} g;

static sd_tensor *P(const g *x, int i) { return i >= 0 ? &x->m->params[i] : NULL; }

static sd_tensor *lin(const g *x, sd_tensor *h, sd_lin l)
{
    return sd_linear(x->c, h, P(x, l.w), P(x, l.b));
}

/* act(linear) + r in one primitive when nothing is recorded for backward
 * (sd_linear_fused). */
static sd_tensor *lin_fused(const g *x, sd_tensor *h, sd_lin l, int act, sd_tensor *r)
{
    return sd_linear_fused(x->c, h, P(x, l.w), P(x, l.b), act, r);
}

static sd_tensor *conv(const g *x, sd_tensor *h, sd_lin l, int stride, int pad)
{
    return sd_conv2d(x->c, h, P(x, l.w), P(x, l.b), stride, pad);
}

/* conv(h) + r as one primitive (a sum post-op), in training too. */
static sd_tensor *conv_plus(const g *x, sd_tensor *h, sd_lin l, int stride, int pad,
                            sd_tensor *r)
{
    return sd_conv2d_fused(x->c, h, P(x, l.w), P(x, l.b), stride, pad, SD_ACT_NONE, r);
}

static int groups_for(const g *x, int ch)
{
    (void)ch;
    return x->m->cfg.norm_groups;
}

#define GN_EPS 1e-5f
#define LN_EPS 1e-6f

/* Fourier features of λ: [sin(λ f_k), cos(λ f_k)], f_k = 1000^(-k/half),
 * k = 0..half-1, half = E/4 (so the features have E/2 entries). */
static sd_tensor *fourier(sd_ctx *c, int n, const double *logsnr, int E)
{
    int half = E / 4;
    sd_tensor *f = sd_new(c, 2, (int64_t[]){n, 2 * half});
    if (!f)
        return NULL;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < half; k++) {
            double fr = exp(-log(1000.0) * k / half);
            f->data[(size_t)i * 2 * half + k] = (float)sin(logsnr[i] * fr);
            f->data[(size_t)i * 2 * half + half + k] = (float)cos(logsnr[i] * fr);
        }
    return f;
}

static sd_tensor *mha(g *x, const sd_attnblock *a, sd_tensor *t, sd_tensor *r, sd_tensor *kv,
                      const int *kv_len);

/* The text encoder over ids (N*T, pad past each length) with key lengths
 * kl (1..T): embeddings + positions, the pre-norm layers, the final norm.
 * Returns (N, T, D_ctx). */
static sd_tensor *encoder(g *x, int n, const int *ids, const int *kl)
{
    const simdiff_model *m = x->m;
    const simdiff_model_config *cf = &m->cfg;
    sd_ctx *c = x->c;
    const int64_t T = cf->ctx_len, D = cf->ctx_dim;
    sd_tensor *t = sd_embedding(c, P(x, m->text_tok), n * (int)T, ids);
    t = sd_reshape(c, t, 3, (int64_t[]){n, T, D});
    t = sd_add(c, t, P(x, m->text_pos));
    for (int i = 0; i < cf->text_layers; i++) {
        const sd_encblock *b = &m->text[i];
        sd_tensor *h = sd_layer_norm(c, t, P(x, b->attn.norm.g), P(x, b->attn.norm.b), LN_EPS);
        t = mha(x, &b->attn, h, t, h, kl); /* t + masked self-attention */
        h = sd_layer_norm(c, t, P(x, b->norm2.g), P(x, b->norm2.b), LN_EPS);
        h = lin_fused(x, h, b->fc1, SD_ACT_GELU, NULL);
        t = lin_fused(x, h, b->fc2, SD_ACT_NONE, t); /* t + MLP */
    }
    return sd_layer_norm(c, t, P(x, m->text_norm.g), P(x, m->text_norm.b), LN_EPS);
}

/* The context path: rows (N, T, D_ctx) = the caller's tokens, or the text
 * encoder's output for token ids `tok` (0 past each length either way) +
 * the null token at position 0 of every null example (length 0 there),
 * layer norm, projection to ctx_ch: x->ctx; key lengths x->ctx_len (null:
 * 1). Returns the pooled context, linear(masked mean over each example's
 * tokens of x->ctx) (N, E), or NULL (ctx status). */
static sd_tensor *context(g *x, int n, const float *ctx, const int *tok, const int *lens)
{
    const simdiff_model *m = x->m;
    const simdiff_model_config *cf = &m->cfg;
    sd_ctx *c = x->c;
    const int64_t T = cf->ctx_len, D = cf->ctx_dim;
    sd_tensor *in = tok ? NULL : sd_zeros(c, 3, (int64_t[]){n, T, D});
    sd_tensor *valid = tok ? sd_zeros(c, 3, (int64_t[]){n, T, 1}) : NULL;
    sd_tensor *sel = sd_zeros(c, 3, (int64_t[]){n, T, 1});
    sd_tensor *pool = sd_zeros(c, 3, (int64_t[]){n, 1, T});
    int *kl = sd_alloc(c, (size_t)(n ? n : 1) * sizeof(int));
    int *ids = tok ? sd_alloc(c, (size_t)(n ? n : 1) * (size_t)T * sizeof(int)) : NULL;
    if ((!tok && !in) || (tok && (!valid || !ids)) || !sel || !pool || !kl)
        return NULL;
    int nnull = 0;
    for (int i = 0; i < n; i++) {
        int l = !ctx && !tok ? 0 : lens ? lens[i] : (int)T;
        if (l < 0 || l > T)
            return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                               "context_len[%d] = %d is not in 1..%lld (ctx_len), or 0 for "
                               "the null context",
                               i, l, (long long)T);
        if (ctx) {
            const float *src = l > 0 ? ctx + (size_t)i * T * D : NULL;
            for (int64_t j = 0; j < (int64_t)l * D; j++)
                if (!isfinite(src[j]))
                    return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                                       "context of example %d: token %lld value %lld is not "
                                       "finite",
                                       i, (long long)(j / D), (long long)(j % D));
            if (l > 0)
                memcpy(in->data + (size_t)i * T * D, src, (size_t)l * D * sizeof(float));
        }
        if (tok)
            for (int64_t j = 0; j < T; j++) {
                int id = j < l ? tok[(size_t)i * T + j] : SIMDIFF_TEXT_PAD;
                if (id < 0 || id >= cf->text_vocab)
                    return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                                       "token %lld of example %d is id %d, not in 0..%d "
                                       "(text_vocab - 1)",
                                       (long long)j, i, id, cf->text_vocab - 1);
                ids[(size_t)i * T + j] = id;
                valid->data[(size_t)i * T + j] = j < l ? 1.0f : 0.0f;
            }
        if (l == 0)
            sel->data[(size_t)i * T] = 1.0f, nnull++;
        kl[i] = l > 0 ? l : 1;
        for (int j = 0; j < kl[i]; j++)
            pool->data[(size_t)i * T + j] = 1.0f / (float)kl[i];
    }
    if (tok) /* the encoder's output within each length, zeros past it */
        in = nnull < n ? sd_mul(c, encoder(x, n, ids, kl), valid)
                       : sd_zeros(c, 3, (int64_t[]){n, T, D});
    if (nnull) {
        sd_tensor *nt = sd_reshape(c, P(x, m->ctx_null), 3, (int64_t[]){1, 1, D});
        in = sd_add(c, in, sd_mul(c, sel, nt));
    }
    sd_tensor *h = sd_layer_norm(c, in, P(x, m->ctx_norm.g), P(x, m->ctx_norm.b), LN_EPS);
    x->ctx = lin(x, h, m->ctx_proj);
    x->ctx_len = kl;
    sd_tensor *mean = sd_matmul(c, pool, x->ctx, 0, 0, 1.0f); /* (N, 1, ctx_ch) */
    mean = sd_reshape(c, mean, 2, (int64_t[]){n, m->ctx_ch});
    return lin(x, mean, m->emb_ctx);
}

static sd_tensor *embedding(g *x, int n, const double *logsnr, const int *labels,
                            const float *cond, const float *ctx, const int *tok,
                            const int *lens)
{
    const simdiff_model *m = x->m;
    const simdiff_model_config *cf = &m->cfg;
    sd_ctx *c = x->c;
    sd_tensor *h = fourier(c, n, logsnr, cf->emb_dim);
    h = lin_fused(x, h, m->emb_fc1, SD_ACT_SILU, NULL);
    h = lin(x, h, m->emb_fc2);
    if (m->class_emb >= 0) {
        int *ids = sd_alloc(c, (size_t)n * sizeof(int));
        if (!ids)
            return NULL;
        for (int i = 0; i < n; i++) {
            int l = labels ? labels[i] : -1;
            if (l < -1 || l >= cf->num_classes)
                return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                                   "label %d of example %d is out of range "
                                   "(-1 for none, 0..%d)",
                                   l, i, cf->num_classes - 1);
            ids[i] = l < 0 ? cf->num_classes : l;
        }
        h = sd_add(c, h, sd_embedding(c, P(x, m->class_emb), n, ids));
    }
    if (cf->cond_dim > 0) {
        sd_tensor *ct = cond ? sd_copy_in(c, 2, (int64_t[]){n, cf->cond_dim}, cond)
                             : sd_zeros(c, 2, (int64_t[]){n, cf->cond_dim});
        h = sd_add(c, h, lin(x, ct, m->emb_cond));
    }
    if (cf->ctx_dim > 0)
        h = sd_add(c, h, context(x, n, ctx, tok, lens));
    return sd_silu(c, h);
}

/* skip(in) + conv2(dropout(silu(gn(conv1(silu(gn1(in)))) * (1 + scale) +
 * shift))): each norm -> (modulate) -> SiLU chain is one fused op, the
 * residual add a sum post-op of conv2. */
static sd_tensor *resblock(g *x, const sd_resblock *r, sd_tensor *in)
{
    sd_ctx *c = x->c;
    sd_tensor *h = sd_group_norm_act(c, in, groups_for(x, r->ci), P(x, r->norm1.g),
                                     P(x, r->norm1.b), NULL, NULL, SD_ACT_SILU, GN_EPS);
    h = conv(x, h, r->conv1, 1, 1);
    sd_tensor *ss = lin(x, x->e, r->emb); /* (N, 2Co) */
    sd_tensor *scale = sd_slice(c, ss, 1, 0, r->co);
    sd_tensor *shift = sd_slice(c, ss, 1, r->co, r->co);
    h = sd_group_norm_act(c, h, groups_for(x, r->co), NULL, NULL, scale, shift, SD_ACT_SILU,
                          GN_EPS);
    h = sd_dropout(c, h, r->dropout);
    sd_tensor *skip = r->skip.w >= 0 ? conv(x, in, r->skip, 1, 0) : in;
    return conv_plus(x, h, r->conv2, 1, 1, skip);
}

/* tokens (N, T, D) -> multi-head attention over kv (N, S, .) with key
 * lengths kv_len (NULL: all S) -> output projection (+ the residual r, or
 * NULL): self-attention (kv = t), cross-attention over the projected
 * context (kv = x->ctx, kv_len = x->ctx_len), or the text encoder's
 * masked self-attention. */
static sd_tensor *mha(g *x, const sd_attnblock *a, sd_tensor *t, sd_tensor *r, sd_tensor *kv,
                      const int *kv_len)
{
    sd_tensor *q = lin(x, t, a->q), *k = lin(x, kv, a->k), *v = lin(x, kv, a->v);
    sd_tensor *o = sd_attention_masked(x->c, q, k, v, a->heads, kv_len);
    return lin_fused(x, o, a->out, SD_ACT_NONE, r);
}

static const int to_tokens[4] = {0, 2, 3, 1};   /* NCHW -> NHWC */
static const int from_tokens[4] = {0, 3, 1, 2}; /* NHWC -> NCHW */

static sd_tensor *nchw_to_tokens(sd_ctx *c, sd_tensor *h)
{
    if (!h)
        return NULL;
    int64_t N = h->shape[0], C = h->shape[1], T = h->shape[2] * h->shape[3];
    sd_tensor *t = sd_permute(c, h, to_tokens);
    return sd_reshape(c, t, 3, (int64_t[]){N, T, C});
}

static sd_tensor *tokens_to_nchw(sd_ctx *c, sd_tensor *t, int64_t H, int64_t W)
{
    if (!t)
        return NULL;
    int64_t N = t->shape[0], C = t->shape[2];
    sd_tensor *h = sd_reshape(c, t, 4, (int64_t[]){N, H, W, C});
    return sd_permute(c, h, from_tokens);
}

/* U-Net attention (cross 0) or cross-attention (cross 1) block:
 * in + untokens(mha(tokens(gn(in)))). */
static sd_tensor *attnblock(g *x, const sd_attnblock *a, sd_tensor *in, int cross)
{
    sd_ctx *c = x->c;
    sd_tensor *h = sd_group_norm(c, in, groups_for(x, a->ch), P(x, a->norm.g),
                                 P(x, a->norm.b), GN_EPS);
    int64_t H = in->shape[2], W = in->shape[3];
    sd_tensor *tk = nchw_to_tokens(c, h);
    sd_tensor *o = mha(x, a, tk, NULL, cross ? x->ctx : tk, cross ? x->ctx_len : NULL);
    return sd_add(c, in, tokens_to_nchw(c, o, H, W));
}

static sd_tensor *transformer(g *x, sd_tensor *in)
{
    const simdiff_model *m = x->m;
    const simdiff_model_config *cf = &m->cfg;
    sd_ctx *c = x->c;
    int64_t H = in->shape[2], W = in->shape[3], Wd = cf->tf_width;
    sd_tensor *t = lin(x, nchw_to_tokens(c, in), m->tf_in);
    t = sd_add(c, t, P(x, m->tf_pos));
    int infer = !sd_ctx_grad(c);
    for (int i = 0; i < cf->tf_depth; i++) {
        const sd_tfblock *b = &m->tf[i];
        sd_mark mark = sd_arena_mark(c);
        sd_tensor *ada = lin(x, x->e, b->ada); /* (N, 4W) */
        sd_tensor *s1 = sd_slice(c, ada, 1, 0, Wd), *b1 = sd_slice(c, ada, 1, Wd, Wd);
        sd_tensor *s2 = sd_slice(c, ada, 1, 2 * Wd, Wd), *b2 = sd_slice(c, ada, 1, 3 * Wd, Wd);
        sd_tensor *h = sd_layer_norm(c, t, NULL, NULL, LN_EPS);
        h = sd_modulate(c, h, s1, b1, 2);
        t = mha(x, &b->attn, h, t, h, NULL); /* t + attention */
        if (x->ctx) {                /* t + cross-attention */
            h = sd_layer_norm(c, t, P(x, b->xattn.norm.g), P(x, b->xattn.norm.b), LN_EPS);
            t = mha(x, &b->xattn, h, t, x->ctx, x->ctx_len);
        }
        h = sd_layer_norm(c, t, NULL, NULL, LN_EPS);
        h = sd_modulate(c, h, s2, b2, 2);
        h = lin_fused(x, h, b->fc1, SD_ACT_GELU, NULL);
        h = sd_dropout(c, h, b->dropout);
        t = lin_fused(x, h, b->fc2, SD_ACT_NONE, t); /* t + MLP */
        if (infer) /* inference: keep only the block's output */
            t = sd_arena_release(c, mark, t);
    }
    t = sd_layer_norm(c, t, P(x, m->tf_norm.g), P(x, m->tf_norm.b), LN_EPS);
    t = lin(x, t, m->tf_out);
    return tokens_to_nchw(c, t, H, W);
}

sd_tensor *sd_model_graph(const simdiff_model *m, sd_ctx *c, sd_tensor *z,
                          const double *logsnr, const int *labels,
                          const float *cond)
{
    return sd_model_graph_ctx(m, c, z, logsnr, labels, cond, NULL, NULL);
}

static sd_tensor *graph(const simdiff_model *m, sd_ctx *c, sd_tensor *z, const double *logsnr,
                        const int *labels, const float *cond, const float *ctx,
                        const int *tok, const int *ctx_lens);

sd_tensor *sd_model_graph_ctx(const simdiff_model *m, sd_ctx *c, sd_tensor *z,
                              const double *logsnr, const int *labels, const float *cond,
                              const float *ctx, const int *ctx_lens)
{
    return graph(m, c, z, logsnr, labels, cond, ctx, NULL, ctx_lens);
}

sd_tensor *sd_model_graph_tok(const simdiff_model *m, sd_ctx *c, sd_tensor *z,
                              const double *logsnr, const int *labels, const float *cond,
                              const int *tok, const int *tok_lens)
{
    if (tok && m->cfg.text_vocab == 0)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "token ids given to a model without a text encoder (text_vocab 0)");
    return graph(m, c, z, logsnr, labels, cond, NULL, tok, tok_lens);
}

sd_tensor *sd_model_stem_domain(const simdiff_model *m, sd_ctx *c, sd_tensor *z)
{
    const simdiff_model_config *cf = &m->cfg;
    if (cf->stem == SIMDIFF_STEM_DWT)
        return sd_dwt53(c, z, cf->stem_param);
    if (cf->stem == SIMDIFF_STEM_DWT_UNIT)
        return sd_dwt53_unit(c, z, cf->stem_param);
    return z;
}

/* The noise std of every channel of the stem's domain on white noise of
 * unit variance: the DWT's band stds (closed form), 1 for the unit-band
 * DWT and for pixels. */
static int stem_noise_std(const simdiff_model *m, float *out)
{
    const simdiff_model_config *cf = &m->cfg;
    if (cf->stem == SIMDIFF_STEM_DWT)
        return sd_dwt53_band_std(cf->channels, cf->stem_param, out);
    for (int k = 0; k < m->in_ch; k++)
        out[k] = 1.0f;
    return 0;
}

/* The Wiener skip (docs/architecture.md, "Wiener skip"): for every channel
 * k of the stem's domain d = S(z) (data mean mu, std s, noise std n), the
 * best linear estimate of the target from d_k alone,
 *   v:   sigma * (alpha * (n^2 - s^2) * d_k - n^2 * mu) / D
 *   eps: sigma * n^2 * (d_k - alpha * mu) / D,   D = alpha^2 s^2 + sigma^2 n^2,
 * i.e. A * d + B with A, B per (example, channel); returned as o + A*d + B
 * (differentiable in o and d). */
static sd_tensor *wiener_add(const g *x, sd_tensor *o, sd_tensor *d, const double *logsnr)
{
    const simdiff_model *m = x->m;
    sd_ctx *c = x->c;
    if (sd_ctx_status(c) != SIMDIFF_OK || !o || !d)
        return NULL;
    int64_t n = d->shape[0], K = d->shape[1];
    sd_tensor *A = sd_new4(c, n, K, 1, 1), *B = sd_new4(c, n, K, 1, 1);
    float *ns = sd_alloc(c, (size_t)K * sizeof(float));
    if (!A || !B || !ns)
        return NULL;
    if (K != m->in_ch || stem_noise_std(m, ns))
        return sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL, "Wiener skip: %lld channels, expected %d",
                           (long long)K, m->in_ch);
    const float *mu = m->params[m->skip_mean].data, *sd = m->params[m->skip_std].data;
    for (int64_t i = 0; i < n; i++) {
        double al, si;
        sd_alpha_sigma_from_logsnr(logsnr[i], &al, &si);
        for (int64_t k = 0; k < K; k++) {
            double s2 = (double)sd[k] * sd[k], n2 = (double)ns[k] * ns[k], u = mu[k];
            double D = al * al * s2 + si * si * n2, a, b;
            if (m->cfg.prediction == SIMDIFF_PRED_EPS) {
                a = si * n2 / D;
                b = -si * n2 * al * u / D;
            } else {
                a = si * al * (n2 - s2) / D;
                b = -si * n2 * u / D;
            }
            A->data[i * K + k] = (float)a;
            B->data[i * K + k] = (float)b;
        }
    }
    return sd_add(c, o, sd_add(c, sd_mul(c, d, A), B));
}

static sd_tensor *graph(const simdiff_model *m, sd_ctx *c, sd_tensor *z, const double *logsnr,
                        const int *labels, const float *cond, const float *ctx,
                        const int *tok, const int *ctx_lens)
{
    const simdiff_model_config *cf = &m->cfg;
    if (sd_ctx_status(c) != SIMDIFF_OK || !z)
        return NULL;
    if (z->ndim != 4 || z->shape[1] != cf->channels ||
        z->shape[2] != cf->image_size || z->shape[3] != cf->image_size) {
        char s[64];
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "model input is %s, expected N x %d x %d x %d",
                           sd_shape_str(z, s, sizeof s), cf->channels,
                           cf->image_size, cf->image_size);
    }
    int n = (int)z->shape[0];
    for (int i = 0; i < n; i++)
        if (isnan(logsnr[i]))
            return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "logsnr[%d] is NaN", i);
    if (ctx && cf->ctx_dim == 0)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "context given to a model without one (ctx_dim 0)");
    g x = {.m = m, .c = c};
    x.e = embedding(&x, n, logsnr, labels, cond, ctx, tok, ctx_lens);

    /* Stem. */
    /* d: the stem's domain (the Wiener skip reads it too). */
    sd_tensor *d = sd_model_stem_domain(m, c, z);
    sd_tensor *h = cf->stem == SIMDIFF_STEM_PATCH ? conv(&x, d, m->stem_conv, cf->stem_param, 0)
                                                  : conv(&x, d, m->stem_conv, 1, 1);

    sd_tensor *skips[SIMDIFF_MAX_LEVELS * 65];
    int nskip = 0;
    int infer = !sd_ctx_grad(c);
    for (int s = 0; s < m->nstages && sd_ctx_status(c) == SIMDIFF_OK; s++) {
        const sd_stage *st = &m->stages[s];
        sd_mark mark = sd_arena_mark(c);
        switch (st->kind) {
        case SD_ST_RES:
            h = resblock(&x, &m->res[st->idx], h);
            break;
        case SD_ST_RES_SKIP:
            h = resblock(&x, &m->res[st->idx], sd_concat(c, h, skips[--nskip], 1));
            break;
        case SD_ST_ATTN:
        case SD_ST_XATTN:
            h = attnblock(&x, &m->attn[st->idx], h, st->kind == SD_ST_XATTN);
            break;
        case SD_ST_PUSH:
            skips[nskip++] = h;
            break;
        case SD_ST_DOWN:
            h = sd_avg_pool2(c, h);
            break;
        case SD_ST_UP:
            h = conv(&x, sd_upsample2(c, h), st->conv, 1, 1);
            break;
        case SD_ST_TF:
            h = transformer(&x, h);
            break;
        }
        /* Inference: free the stage's intermediates, keep its output (the
         * skips pushed earlier live below the mark). */
        if (infer && st->kind != SD_ST_PUSH)
            h = sd_arena_release(c, mark, h);
    }

    /* Output. */
    h = sd_group_norm_act(c, h, cf->norm_groups, P(&x, m->out_norm.g), P(&x, m->out_norm.b),
                          NULL, NULL, SD_ACT_SILU, GN_EPS);
    const int wiener = cf->wiener_skip;
    switch (cf->stem) {
    case SIMDIFF_STEM_PATCH:
        h = sd_conv_transpose2d(c, h, P(&x, m->out_conv.w), P(&x, m->out_conv.b),
                                cf->stem_param, 0);
        if (wiener)
            h = wiener_add(&x, h, d, logsnr);
        break;
    case SIMDIFF_STEM_DWT:
    case SIMDIFF_STEM_DWT_UNIT:
        h = conv(&x, h, m->out_conv, 1, 1);
        if (wiener)
            h = wiener_add(&x, h, d, logsnr);
        h = cf->stem == SIMDIFF_STEM_DWT ? sd_idwt53(c, h, cf->stem_param)
                                         : sd_idwt53_unit(c, h, cf->stem_param);
        break;
    default:
        h = conv(&x, h, m->out_conv, 1, 1);
        if (wiener)
            h = wiener_add(&x, h, d, logsnr);
        break;
    }
    return sd_ctx_status(c) == SIMDIFF_OK ? h : NULL;
}
