/* The public model handle: create, forward, introspection. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "ops/ops.h"

SIMDIFF_API simdiff_status simdiff_model_create(simdiff_model **out,
                                                const simdiff_model_config *cfg,
                                                uint64_t seed)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_create: out is NULL");
    *out = NULL;
    if (!cfg)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_create: cfg is NULL");
    simdiff_model_config c;
    simdiff_status st = sd_struct_read(&sd_model_config_layout, &c, cfg,
                                       "simdiff_model_create");
    if (st)
        return st;
    simdiff_model *m;
    st = sd_model_build(&m, &c);
    if (st)
        return st;
    sd_model_init_params(m, seed);
    *out = m;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_set_schedule(simdiff_model *m,
                                                      const simdiff_schedule *s)
{
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_set_schedule: model is NULL");
    simdiff_schedule *copy = NULL;
    if (s) {
        simdiff_status st = simdiff_schedule_clone(&copy, s);
        if (st)
            return sd_fail_keep(&m->err, st);
    }
    simdiff_schedule_destroy(m->schedule);
    m->schedule = copy;
    return SIMDIFF_OK;
}

SIMDIFF_API void simdiff_model_destroy(simdiff_model *m)
{
    if (!m)
        return;
    sd_ctx_destroy(m->ctx);
    simdiff_schedule_destroy(m->schedule);
    free(m->params);
    free(m->pinfo);
    free(m->res);
    free(m->attn);
    free(m->stages);
    free(m->tf);
    free(m->text);
    sd_vocab_destroy(m->vocab);
    free(m->data);
    free(m->grad);
    free(m->bf16);
    pthread_mutex_destroy(&m->bf16_lock);
    free(m);
}

const uint16_t *sd_model_bf16_weights(simdiff_model *m)
{
    pthread_mutex_lock(&m->bf16_lock);
    const uint64_t gen = atomic_load(&m->wgen);
    if (!m->bf16) {
        m->bf16 = malloc((size_t)(m->total ? m->total : 1) * sizeof *m->bf16);
        if (m->bf16)
            m->bf16_gen = gen + 1; /* not yet filled */
    }
    if (m->bf16 && m->bf16_gen != gen) {
        sd_bf16_convert(m->bf16, m->data, m->total);
        m->bf16_gen = gen;
    }
    const uint16_t *w = m->bf16;
    pthread_mutex_unlock(&m->bf16_lock);
    if (!w)
        sd_fail(&m->err, SIMDIFF_ERR_NOMEM, "out of memory for the bf16 copy of %lld weights",
                (long long)m->total);
    return w;
}

void sd_model_weights_changed(simdiff_model *m) { atomic_fetch_add(&m->wgen, 1); }

simdiff_status sd_model_ctx_precision(simdiff_model *m, sd_ctx *c, sd_precision p)
{
    const uint16_t *w = p == SD_PREC_BF16 ? sd_model_bf16_weights(m) : NULL;
    if (p == SD_PREC_BF16 && !w)
        return SIMDIFF_ERR_NOMEM;
    sd_ctx_set_precision(c, p);
    sd_ctx_set_bf16_weights(c, m->data, m->total, w);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_set_precision(simdiff_model *m, simdiff_precision p)
{
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_set_precision: model is NULL");
    simdiff_status st = simdiff_precision_check(p);
    if (st)
        return sd_fail_keep(&m->err, st);
    m->prec = p == SIMDIFF_PRECISION_BF16 ? SD_PREC_BF16 : SD_PREC_F32;
    return SIMDIFF_OK;
}

SIMDIFF_API int64_t simdiff_model_num_params(const simdiff_model *m)
{
    if (!m)
        return -1;
    int64_t n = 0;
    for (int i = 0; i < m->nparams; i++)
        n += m->params[i].numel;
    return n;
}

SIMDIFF_API simdiff_status simdiff_model_get_config(const simdiff_model *m,
                                                    simdiff_model_config *cfg)
{
    if (!m || !cfg)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_get_config: NULL argument");
    return sd_struct_write(&sd_model_config_layout, cfg, cfg->struct_size, &m->cfg,
                           "simdiff_model_get_config");
}

SIMDIFF_API simdiff_status simdiff_model_image_shape(const simdiff_model *m, int *channels,
                                                     int *height, int *width)
{
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_image_shape: model is NULL");
    if (channels)
        *channels = m->cfg.channels;
    if (height)
        *height = m->cfg.image_size;
    if (width)
        *width = m->cfg.image_size;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_schedule_text(const simdiff_model *m, char *buf,
                                                       size_t cap, size_t *len)
{
    const char *fn = "simdiff_model_schedule_text";
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: model is NULL", fn);
    char text[SIMDIFF_SCHEDULE_STRING_MAX] = "";
    if (m->schedule) {
        simdiff_status st = simdiff_schedule_to_string(m->schedule, text, sizeof text);
        if (st)
            return st;
    }
    return sd_put_text(text, buf, cap, len, fn);
}

SIMDIFF_API const char *simdiff_model_errmsg(const simdiff_model *m)
{
    return m ? m->err.msg : "";
}

simdiff_status sd_model_use_begin(simdiff_model *m, int write, const char *fn)
{
    int v = 0;
    if (write) {
        if (atomic_compare_exchange_strong(&m->users, &v, -1))
            return SIMDIFF_OK;
        return sd_fail(NULL, SIMDIFF_ERR_MISUSE,
                       "%s: the model is in use on another thread (%s); a trainer step "
                       "must not overlap sampler runs, simdiff_model_forward or another "
                       "step on the same model",
                       fn, v > 0 ? "its weights are being read" : "a trainer step");
    }
    v = atomic_load(&m->users);
    do {
        if (v < 0)
            return sd_fail(NULL, SIMDIFF_ERR_MISUSE,
                           "%s: a trainer step is changing this model's weights on "
                           "another thread; sample or evaluate between steps",
                           fn);
    } while (!atomic_compare_exchange_weak(&m->users, &v, v + 1));
    return SIMDIFF_OK;
}

void sd_model_use_end(simdiff_model *m, int write)
{
    if (write)
        atomic_store(&m->users, 0);
    else
        atomic_fetch_sub(&m->users, 1);
}

static simdiff_status ensure_ctx(simdiff_model *m)
{
    if (m->ctx)
        return SIMDIFF_OK;
    simdiff_status st = sd_ctx_create(&m->ctx);
    return st ? sd_fail_keep(&m->err, st) : SIMDIFF_OK;
}

static simdiff_status forward_on_ctx(simdiff_model *m, int n, const float *z,
                                     const double *logsnr, const int *labels,
                                     const float *cond, const float *ctx, const int *tok,
                                     const int *ctx_len, float *out);

simdiff_status sd_model_check_context(const simdiff_model *m, sd_err *err, const char *fn,
                                      int n, const float *context, const int *context_len)
{
    const simdiff_model_config *cf = &m->cfg;
    if (!context && !context_len)
        return SIMDIFF_OK;
    if (cf->ctx_dim == 0)
        return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: context given, but the model has no context input (ctx_dim 0)",
                       fn);
    if (!context)
        return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: context_len given without a context", fn);
    const int64_t T = cf->ctx_len, D = cf->ctx_dim;
    for (int i = 0; i < n; i++) {
        const int l = context_len ? context_len[i] : (int)T;
        if (l < 1 || l > T)
            return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: context_len[%d] = %d is not in 1..%lld (the model's ctx_len)",
                           fn, i, l, (long long)T);
        const float *src = context + (size_t)i * T * D;
        for (int64_t j = 0; j < (int64_t)l * D; j++)
            if (!isfinite(src[j]))
                return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: context of example %d, token %lld: value %lld is not "
                               "finite",
                               fn, i, (long long)(j / D), (long long)(j % D));
    }
    return SIMDIFF_OK;
}

/* Inference on the model's own ctx: no tape, no dropout. */
static simdiff_status run_forward(simdiff_model *m, int n, const float *z,
                                  const double *logsnr, const int *labels,
                                  const float *cond, const float *ctx, const int *tok,
                                  const int *ctx_len, float *out)
{
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_forward: model is NULL");
    if (n < 0 || (n > 0 && (!z || !logsnr || !out)))
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_forward: n = %d, z, logsnr and out must "
                       "not be NULL",
                       n);
    simdiff_status st =
        tok ? sd_model_check_tokens(m, &m->err, "simdiff_model_forward", n, tok, ctx_len)
            : sd_model_check_context(m, &m->err, "simdiff_model_forward", n, ctx, ctx_len);
    if (st)
        return st;
    if (n == 0)
        return SIMDIFF_OK;
    /* One forward at a time per model: they share m->ctx. */
    int idle = 0;
    if (!atomic_compare_exchange_strong(&m->forward, &idle, 1))
        return sd_fail(NULL, SIMDIFF_ERR_MISUSE, /* the running call owns m->err */
                       "simdiff_model_forward: another simdiff_model_forward is running on "
                       "this model (they share its compute context); serialize the calls "
                       "or use one sampler per thread");
    st = sd_model_use_begin(m, 0, "simdiff_model_forward");
    if (!st) {
        st = forward_on_ctx(m, n, z, logsnr, labels, cond, ctx, tok, ctx_len, out);
        sd_model_use_end(m, 0);
    }
    atomic_store(&m->forward, 0);
    return st;
}

/* run_forward's work, with m->ctx claimed. */
static simdiff_status forward_on_ctx(simdiff_model *m, int n, const float *z,
                                     const double *logsnr, const int *labels,
                                     const float *cond, const float *ctx, const int *tok,
                                     const int *ctx_len, float *out)
{
    simdiff_status st = sd_apply_threads();
    if (st || (st = ensure_ctx(m)))
        return sd_fail_keep(&m->err, st);
    sd_ctx *c = m->ctx;
    sd_ctx_reset(c);
    sd_ctx_set_grad(c, 0);
    sd_ctx_set_training(c, 0);
    if ((st = sd_model_ctx_precision(m, c, m->prec)))
        return st;
    const simdiff_model_config *cf = &m->cfg;
    const int64_t shape[4] = {n, cf->channels, cf->image_size, cf->image_size};
    sd_tensor *zt = sd_wrap(c, 4, shape, (float *)z); /* read only */
    sd_tensor *y = tok ? sd_model_graph_tok(m, c, zt, logsnr, labels, cond, tok, ctx_len)
                       : sd_model_graph_ctx(m, c, zt, logsnr, labels, cond, ctx, ctx_len);
    if (!y) {
        st = sd_ctx_status(c);
        sd_fail(&m->err, st ? st : SIMDIFF_ERR_INTERNAL, "%s", sd_ctx_errmsg(c));
        sd_ctx_reset(c);
        return st ? st : SIMDIFF_ERR_INTERNAL;
    }
    memcpy(out, y->data, (size_t)y->numel * sizeof(float));
    sd_ctx_reset(c);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_forward(simdiff_model *m, int n,
                                                 const float *z,
                                                 const double *logsnr,
                                                 const int *labels, float *out)
{
    return run_forward(m, n, z, logsnr, labels, NULL, NULL, NULL, NULL, out);
}

SIMDIFF_API simdiff_status simdiff_model_forward_cond(simdiff_model *m, int n,
                                                      const float *z,
                                                      const double *logsnr,
                                                      const int *labels,
                                                      const float *cond,
                                                      float *out)
{
    return run_forward(m, n, z, logsnr, labels, cond, NULL, NULL, NULL, out);
}

SIMDIFF_API simdiff_status simdiff_model_forward_ctx(simdiff_model *m, int n, const float *z,
                                                     const double *logsnr, const int *labels,
                                                     const float *cond, const float *context,
                                                     const int *context_len, float *out)
{
    return run_forward(m, n, z, logsnr, labels, cond, context, NULL, context_len, out);
}

SIMDIFF_API simdiff_status simdiff_model_forward_tokens(simdiff_model *m, int n,
                                                        const float *z, const double *logsnr,
                                                        const int *labels, const float *cond,
                                                        const int *tokens,
                                                        const int *token_len, float *out)
{
    if (m && !tokens && !token_len && m->cfg.text_vocab == 0)
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_forward_tokens: the model has no text encoder "
                       "(text_vocab 0)");
    if (m && !tokens && token_len)
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_forward_tokens: token_len given without tokens");
    return run_forward(m, n, z, logsnr, labels, cond, NULL, tokens, token_len, out);
}

SIMDIFF_API simdiff_status simdiff_model_forward_text(simdiff_model *m, int n, const float *z,
                                                      const double *logsnr, const int *labels,
                                                      const float *cond,
                                                      const char *const *prompts, float *out)
{
    static const char fn[] = "simdiff_model_forward_text";
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (n < 0)
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG, "%s: n = %d < 0", fn, n);
    if (m->cfg.text_vocab == 0)
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the model has no text encoder (text_vocab 0)", fn);
    if (!prompts || n == 0)
        return run_forward(m, n, z, logsnr, labels, cond, NULL, NULL, NULL, out);
    const size_t T = (size_t)m->cfg.ctx_len;
    int *tok = malloc((size_t)n * (T + 1) * sizeof(int));
    if (!tok)
        return sd_fail(&m->err, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    int *lens = tok + (size_t)n * T;
    simdiff_status st = sd_model_tokenize_prompts(m, &m->err, fn, n, prompts, tok, lens);
    if (!st)
        st = run_forward(m, n, z, logsnr, labels, cond, NULL, tok, lens, out);
    free(tok);
    return st;
}

SIMDIFF_API simdiff_status simdiff_model_flops(const simdiff_model *m,
                                               double *flops_per_image)
{
    if (!m || !flops_per_image)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_flops: NULL argument");
    /* Count once, on a throwaway ctx, with a batch of one. */
    simdiff_model *mm = (simdiff_model *)m; /* caches the count only */
    if (mm->flops_per_image <= 0) {
        sd_ctx *c;
        simdiff_status st = sd_ctx_create(&c);
        if (st)
            return st;
        const simdiff_model_config *cf = &m->cfg;
        const int64_t shape[4] = {1, cf->channels, cf->image_size, cf->image_size};
        sd_tensor *z = sd_zeros(c, 4, shape);
        const double l = 0;
        const float *cond = NULL;
        sd_tensor *y = sd_model_graph(m, c, z, &l, NULL, cond);
        st = y ? SIMDIFF_OK : sd_ctx_status(c);
        if (!st)
            mm->flops_per_image = sd_ctx_flops(c);
        else
            sd_fail(NULL, st, "%s", sd_ctx_errmsg(c));
        sd_ctx_destroy(c);
        if (st)
            return st;
    }
    *flops_per_image = mm->flops_per_image;
    return SIMDIFF_OK;
}

static simdiff_status train_memory(simdiff_model *m, int n, size_t *bytes);

SIMDIFF_API simdiff_status simdiff_model_train_memory(simdiff_model *m, int n,
                                                      size_t *bytes)
{
    if (!m || !bytes || n < 1)
        return sd_fail(m ? &m->err : NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_train_memory: NULL argument or n = %d < 1", n);
    /* Writes the gradient slab a trainer step also writes. */
    simdiff_status st = sd_model_use_begin(m, 1, "simdiff_model_train_memory");
    if (st)
        return st;
    st = train_memory(m, n, bytes);
    sd_model_use_end(m, 1);
    return st;
}

static simdiff_status train_memory(simdiff_model *m, int n, size_t *bytes)
{
    simdiff_status st = sd_model_enable_grad(m);
    if (st)
        return st;
    sd_ctx *c;
    if ((st = sd_apply_threads()) || (st = sd_ctx_create(&c)))
        return sd_fail_keep(&m->err, st);
    sd_ctx_set_grad(c, 1);
    sd_ctx_set_training(c, 1);
    sd_ctx_set_release_activations(c, 1); /* as the trainer */
    const simdiff_model_config *cf = &m->cfg;
    const int64_t shape[4] = {n, cf->channels, cf->image_size, cf->image_size};
    double *l = calloc((size_t)n, sizeof *l);
    sd_tensor *z = sd_zeros(c, 4, shape), *target = sd_zeros(c, 4, shape);
    sd_tensor *y = l ? sd_model_graph(m, c, z, l, NULL, NULL) : NULL;
    sd_tensor *loss = sd_mse(c, y, target);
    st = loss ? sd_backward(c, loss) : sd_ctx_status(c);
    if (!l)
        st = SIMDIFF_ERR_NOMEM;
    if (st)
        sd_fail(&m->err, st, "%s", l ? sd_ctx_errmsg(c) : "out of memory");
    /* Weights, gradients, two AdamW moments and the EMA copy. */
    *bytes = sd_ctx_arena_peak(c) + 5 * (size_t)m->total * sizeof(float);
    sd_model_zero_grad(m);
    free(l);
    sd_ctx_destroy(c);
    return st;
}
