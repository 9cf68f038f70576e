/* The trainer: one whole diffusion training step per call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "schedule/schedule_internal.h"
#include "tensor/rng.h"
#include "train/trainer_internal.h"

/* RNG streams of step k (each keyed by (seed, stream), element = index). */
enum { RNG_T = 1, RNG_EPS = 2, RNG_LABEL = 3 };
static uint64_t stream(int64_t step, int what) { return sd_rng_mix((uint64_t)step, (uint64_t)what); }

const sd_struct_layout sd_trainer_config_layout = {
    "simdiff_trainer_config",
    SD_FIELD_END(simdiff_trainer_config, seed), /* v1 */
    SD_FIELD_END(simdiff_trainer_config, ctx_dropout), /* the last field */
};
const sd_struct_layout sd_trainer_stats_layout = {
    "simdiff_trainer_stats",
    SD_FIELD_END(simdiff_trainer_stats, lr), /* v1 */
    SD_FIELD_END(simdiff_trainer_stats, lr), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_trainer_config_init_sized(simdiff_trainer_config *out,
                                                             size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_config_init: cfg is NULL");
    simdiff_trainer_config c, *cfg = &c;
    memset(cfg, 0, sizeof *cfg);
    cfg->loss = SIMDIFF_LOSS_EPS;
    cfg->multiscale_base = 32;
    cfg->label_dropout = 0.1;
    cfg->ctx_dropout = 0.1;
    cfg->stratified_t = 1;
    cfg->seed = 0;
    cfg->precision = SIMDIFF_PRECISION_F32;
    return sd_struct_write(&sd_trainer_config_layout, out, size, cfg,
                           "simdiff_trainer_config_init");
}

simdiff_status sd_trainer_config_check(const simdiff_trainer_config *c, char *msg, size_t cap)
{
#define BAD(...) return (snprintf(msg, cap, __VA_ARGS__), SIMDIFF_ERR_INVALID_ARG)
    if (c->loss != SIMDIFF_LOSS_EPS && c->loss != SIMDIFF_LOSS_V &&
        c->loss != SIMDIFF_LOSS_MULTISCALE)
        BAD("loss %d is not SIMDIFF_LOSS_EPS, _V or _MULTISCALE", (int)c->loss);
    if (c->multiscale_base < 1)
        BAD("multiscale_base %d must be >= 1", c->multiscale_base);
    if (!(c->label_dropout >= 0 && c->label_dropout <= 1))
        BAD("label_dropout %g must be in [0, 1]", c->label_dropout);
    if (!(c->ctx_dropout >= 0 && c->ctx_dropout <= 1))
        BAD("ctx_dropout %g must be in [0, 1]", c->ctx_dropout);
    if (c->precision != SIMDIFF_PRECISION_F32 && c->precision != SIMDIFF_PRECISION_BF16)
        BAD("precision %d is not SIMDIFF_PRECISION_F32 or _BF16", (int)c->precision);
    if (c->num_threads < 0 || c->num_threads > SD_MAX_THREADS)
        BAD("num_threads %d must be 0 (the process-wide count) or 1..%d", c->num_threads,
            SD_MAX_THREADS);
    return SIMDIFF_OK;
#undef BAD
}

simdiff_status sd_trainer_new(simdiff_trainer **out, simdiff_model *m,
                              const simdiff_schedule *s,
                              const simdiff_trainer_config *tcfg,
                              const simdiff_optimizer_config *ocfg)
{
    char msg[256];
    simdiff_trainer_config tdef;
    if (!tcfg) {
        simdiff_trainer_config_init(&tdef);
        tcfg = &tdef;
    }
    if (sd_trainer_config_check(tcfg, msg, sizeof msg))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "invalid trainer config: %s", msg);
    simdiff_status st = simdiff_precision_check(tcfg->precision);
    if (st)
        return st;
    simdiff_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    t->m = m;
    t->cfg = *tcfg;
    t->cfg.struct_size = sizeof t->cfg;
    st = sd_optimizer_new(&t->opt, m, ocfg);
    if (!st && s != m->schedule)
        st = simdiff_model_set_schedule(m, s);
    if (!st)
        st = sd_ctx_create(&t->ctx);
    /* The compute threads now, while memory is there (see sd_apply_threads). */
    if (!st) {
        st = sd_threads_enter(t->cfg.num_threads, 0);
        sd_threads_leave();
    }
    if (st) {
        simdiff_trainer_destroy(t);
        return st;
    }
    /* The trainer's ops convert the (changing) weights every step: no
     * shared bf16 copy. */
    sd_ctx_set_precision(t->ctx, tcfg->precision == SIMDIFF_PRECISION_BF16 ? SD_PREC_BF16
                                                                         : SD_PREC_F32);
    t->last_loss = NAN;
    /* Training changes the weights a distilled student's record describes
     * (a distiller sets its student's record again). */
    sd_distilled_set(m, NULL);
    *out = t;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_trainer_create(simdiff_trainer **out,
                                                  simdiff_model *m,
                                                  const simdiff_schedule *s,
                                                  const simdiff_trainer_config *tcfg,
                                                  const simdiff_optimizer_config *ocfg)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_create: out is NULL");
    *out = NULL;
    if (!m || !s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_trainer_create: model and schedule must not be NULL");
    simdiff_trainer_config tc;
    simdiff_optimizer_config oc;
    simdiff_status st = SIMDIFF_OK;
    if (tcfg && !(st = sd_struct_read(&sd_trainer_config_layout, &tc, tcfg,
                                      "simdiff_trainer_create")))
        tcfg = &tc;
    if (!st && ocfg && !(st = sd_struct_read(&sd_optimizer_config_layout, &oc, ocfg,
                                             "simdiff_trainer_create")))
        ocfg = &oc;
    return st ? st : sd_trainer_new(out, m, s, tcfg, ocfg);
}

SIMDIFF_API void simdiff_trainer_destroy(simdiff_trainer *t)
{
    if (!t)
        return;
    sd_optimizer_destroy(t->opt);
    sd_ctx_destroy(t->ctx);
    free(t->buf);
    free(t->acc);
    free(t->cond);
    free(t->ctxl);
    free(t->tok);
    free(t);
}

SIMDIFF_API simdiff_optimizer *simdiff_trainer_optimizer(simdiff_trainer *t)
{
    return t ? t->opt : NULL;
}

SIMDIFF_API const char *simdiff_trainer_errmsg(const simdiff_trainer *t)
{
    return t ? t->err.msg : "";
}

SIMDIFF_API simdiff_status simdiff_trainer_stats_get(const simdiff_trainer *t,
                                                     simdiff_trainer_stats *st)
{
    if (!t || !st)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_trainer_stats_get: NULL argument");
    simdiff_trainer_stats s;
    memset(&s, 0, sizeof s);
    s.step = t->step;
    s.skipped = t->skipped;
    s.last_loss = t->last_loss;
    s.last_grad_norm = t->last_grad_norm;
    s.lr = simdiff_optimizer_lr(t->opt);
    return sd_struct_write(&sd_trainer_stats_layout, st, st->struct_size, &s,
                           "simdiff_trainer_stats_get");
}

/* Per-step scratch: t, λ, α, σ (double) and labels (int) per example, and
 * the conditioning vectors after dropout. */
static int ensure_buf(simdiff_trainer *t, int n)
{
    if (n <= t->buf_n)
        return 0;
    free(t->buf);
    free(t->cond);
    free(t->ctxl);
    free(t->tok);
    const size_t D = (size_t)t->m->cfg.cond_dim;
    const int X = t->m->cfg.ctx_dim > 0, V = t->m->cfg.text_vocab > 0;
    t->buf = malloc((size_t)n * (5 * sizeof(double) + sizeof(int)));
    t->cond = D ? malloc((size_t)n * D * sizeof(float)) : NULL;
    t->ctxl = X ? malloc((size_t)n * sizeof(int)) : NULL;
    t->tok = V ? malloc((size_t)n * ((size_t)t->m->cfg.ctx_len + 1) * sizeof(int)) : NULL;
    t->tokl = V && t->tok ? t->tok + (size_t)n * (size_t)t->m->cfg.ctx_len : NULL;
    t->buf_n = t->buf && (!D || t->cond) && (!X || t->ctxl) && (!V || t->tok) ? n : 0;
    return t->buf_n ? 0 : -1;
}

/* The checks every step makes of the trainer state, the labels and the
 * conditioning vectors. */
simdiff_status sd_trainer_check_step(simdiff_trainer *t, int n, const int *labels,
                                     const float *cond, const char *fn)
{
    if (t->opt->ema_swapped)
        return sd_fail(&t->err, SIMDIFF_ERR_MISUSE,
                       "%s: the model holds the EMA weights; "
                       "swap them back first (simdiff_optimizer_swap_ema)", fn);
    const simdiff_model_config *cf = &t->m->cfg;
    if (labels && cf->num_classes > 0)
        for (int i = 0; i < n; i++)
            if (labels[i] < -1 || labels[i] >= cf->num_classes)
                return sd_fail(&t->err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: labels[%d] = %d out of range (-1 or 0..%d)", fn, i,
                               labels[i], cf->num_classes - 1);
    const size_t D = (size_t)cf->cond_dim;
    if (cond && D == 0)
        return sd_fail(&t->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: cond is given but the model takes no "
                       "conditioning vector (cond_dim = 0); pass NULL", fn);
    if (cond)
        for (size_t j = 0; j < (size_t)n * D; j++)
            if (!isfinite(cond[j]))
                return sd_fail(&t->err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: cond[%zu] (example %zu) is %g; expected finite values", fn,
                               j, j / D, (double)cond[j]);
    return SIMDIFF_OK;
}

/* One step's arguments: this process's examples first .. first+n-1 of a
 * global batch of `batch`, in `chunks` microbatches (a whole batch:
 * first 0, n = batch, chunks 1 and part 0). */
typedef struct step_args {
    int batch, first, n, chunks;
    const float *x;
    const int *labels;
    const float *cond;
    const float *ctx;   /* n x ctx_len x ctx_dim or NULL (the null context) */
    const int *ctx_len; /* n lengths 1..ctx_len or NULL (all full)          */
    int part; /* 1: simdiff_trainer_step_part (sums, the hook) */
    const char *const *captions; /* n captions or NULL (models with an encoder) */
    const int *tok;     /* the captions' ids (n x ctx_len, set by run_step) */
    const int *tok_len; /* their lengths 0..ctx_len (0: the null context)   */
} step_args;

static simdiff_status step(simdiff_trainer *t, const step_args *a);
static simdiff_status step_part(simdiff_trainer *t, const step_args *a);

/* The entry of both public steps after their own argument checks: the
 * common checks, the model claimed for writing (no sampler run or forward
 * of the same model may overlap a step, nor another step), scratch, the
 * trainer's exact thread budget. */
static simdiff_status run_step(simdiff_trainer *t, const step_args *a_in, const char *fn,
                               double *loss_out)
{
    step_args args = *a_in, *a = &args;
    simdiff_status st = sd_trainer_check_step(t, a->n, a->labels, a->cond, fn);
    if (st || (st = sd_model_check_context(t->m, &t->err, fn, a->n, a->ctx, a->ctx_len)))
        return st;
    simdiff_model *m = t->m;
    if (a->captions && a->ctx)
        return sd_fail(&t->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: captions and a context given; pass one of them", fn);
    if (a->captions) { /* tokenized into the trainer's buffers */
        if (m->cfg.text_vocab > 0 && ensure_buf(t, a->n))
            return sd_fail(&t->err, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
        if ((st = sd_model_tokenize_prompts(m, &t->err, fn, a->n, a->captions, t->tok,
                                            t->tokl)))
            return st;
        a->tok = t->tok;
        a->tok_len = t->tokl;
    }
    if ((st = sd_model_use_begin(m, 1, fn)))
        return st;
    if (ensure_buf(t, a->n))
        st = sd_fail(&t->err, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    else if ((st = sd_threads_enter(t->cfg.num_threads, 0)))
        sd_fail_keep(&t->err, st);
    else
        st = a->part ? step_part(t, a) : step(t, a);
    sd_threads_leave();
    sd_model_use_end(m, 1);
    if (!st && loss_out)
        *loss_out = t->last_loss;
    return st;
}

SIMDIFF_API simdiff_status simdiff_trainer_step(simdiff_trainer *t, int n,
                                                const float *x, const int *labels,
                                                double *loss_out)
{
    return simdiff_trainer_step_cond(t, n, x, labels, NULL, loss_out);
}

SIMDIFF_API simdiff_status simdiff_trainer_step_cond(simdiff_trainer *t, int n,
                                                     const float *x, const int *labels,
                                                     const float *cond, double *loss_out)
{
    return simdiff_trainer_step_ctx(t, n, x, labels, cond, NULL, NULL, loss_out);
}

/* The argument checks of the whole-batch steps (fn and the step_part call
 * to use instead name them in messages). */
static simdiff_status whole_args(simdiff_trainer *t, int n, const float *x, const char *fn,
                                 const char *part_fn)
{
    if (!t)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: trainer is NULL", fn);
    if (n < 1 || !x)
        return sd_fail(&t->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: n = %d (must be >= 1) and x must not be NULL", fn, n);
    if (t->reduce)
        return sd_fail(&t->err, SIMDIFF_ERR_MISUSE,
                       "%s: a gradient reduction hook is installed; use %s", fn, part_fn);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_trainer_step_ctx(simdiff_trainer *t, int n, const float *x,
                                                    const int *labels, const float *cond,
                                                    const float *context,
                                                    const int *context_len, double *loss_out)
{
    simdiff_status st =
        whole_args(t, n, x, "simdiff_trainer_step", "simdiff_trainer_step_part");
    if (st)
        return st;
    step_args a = {n, 0, n, 1, x, labels, cond, context, context_len, 0, NULL, NULL, NULL};
    return run_step(t, &a, "simdiff_trainer_step", loss_out);
}

SIMDIFF_API simdiff_status simdiff_trainer_step_text(simdiff_trainer *t, int n, const float *x,
                                                     const int *labels, const float *cond,
                                                     const char *const *captions,
                                                     double *loss_out)
{
    simdiff_status st =
        whole_args(t, n, x, "simdiff_trainer_step_text", "simdiff_trainer_step_part_text");
    if (st)
        return st;
    step_args a = {n, 0, n, 1, x, labels, cond, NULL, NULL, 0, captions, NULL, NULL};
    return run_step(t, &a, "simdiff_trainer_step_text", loss_out);
}

/* The forward and backward pass of local examples 0..n-1, which are
 * examples first..first+n-1 of a batch of `batch`: t, ε, label dropout and
 * dropout masks from their index in that batch. *lv gets the mean loss of
 * the n examples; the parameters' gradients hold its gradient (no backward
 * when *lv is not finite). On failure the ctx is reset and the gradients
 * zeroed. */
static simdiff_status forward_backward(simdiff_trainer *t, int batch, int first, int n,
                                       const float *x, const int *labels, const float *cond,
                                       const float *ctx, const int *tok, const int *ctx_len,
                                       double *lv)
{
    simdiff_model *m = t->m;
    const simdiff_model_config *cf = &m->cfg;
    double *tt = t->buf, *lam = tt + n, *al = lam + n, *si = al + n, *u = si + n;
    int *lab = (int *)(u + n);
    uint64_t seed = t->cfg.seed;
    int64_t k = t->step;

    /* t ~ U(0,1): stratified t_i = (u0 + i/batch) mod 1 (one shared offset,
     * element 0 of the stream), else element i of the stream. */
    double u0;
    sd_rng_uniform_f64(seed, stream(k, RNG_T), 0, 1, &u0);
    if (!t->cfg.stratified_t)
        sd_rng_uniform_f64(seed, stream(k, RNG_T), (uint64_t)first, (size_t)n, u);
    for (int i = 0; i < n; i++) {
        double ti = t->cfg.stratified_t ? fmod(u0 + (double)(first + i) / batch, 1.0) : u[i];
        tt[i] = ti;
        lam[i] = sd_schedule_logsnr1(m->schedule, ti);
        sd_alpha_sigma_from_logsnr(lam[i], &al[i], &si[i]);
    }
    /* Label dropout to the null class. */
    sd_rng_uniform_f64(seed, stream(k, RNG_LABEL), (uint64_t)first, (size_t)n, u);
    for (int i = 0; i < n; i++)
        lab[i] = (!labels || u[i] < t->cfg.label_dropout) ? -1 : labels[i];
    /* The conditioning vector drops out with the label (to zeros: the
     * unconditional input of guidance). */
    const size_t D = (size_t)cf->cond_dim;
    if (cond)
        for (int i = 0; i < n; i++) {
            float *ci = t->cond + (size_t)i * D;
            if (u[i] < t->cfg.label_dropout)
                memset(ci, 0, D * sizeof(float));
            else
                memcpy(ci, cond + (size_t)i * D, D * sizeof(float));
        }
    /* The context (or caption) drops out to the null context (length 0)
     * with the same draw: with ctx_dropout = label_dropout, label and
     * context drop together, as guidance's unconditional branch has both
     * null. */
    const int have = ctx || tok;
    if (cf->ctx_dim > 0)
        for (int i = 0; i < n; i++)
            t->ctxl[i] = (!have || u[i] < t->cfg.ctx_dropout) ? 0
                         : ctx_len                            ? ctx_len[i]
                                                              : cf->ctx_len;

    sd_ctx *c = t->ctx;
    sd_ctx_reset(c);
    sd_ctx_set_grad(c, 1);
    sd_ctx_set_training(c, 1);
    /* Nothing below reads an op output after the backward pass. */
    sd_ctx_set_release_activations(c, 1);
    sd_ctx_set_rng(c, seed, (uint64_t)k);
    if (first > 0 || n != batch)
        sd_ctx_set_rng_batch(c, first, n);
    const int64_t shape[4] = {n, cf->channels, cf->image_size, cf->image_size};
    int64_t per = shape[1] * shape[2] * shape[3];
    sd_tensor *xt = sd_wrap(c, 4, shape, (float *)x);
    sd_tensor *eps = sd_new(c, 4, shape), *z = sd_new(c, 4, shape);
    if (eps && z) {
        /* ε of example i is elements [i*per, (i+1)*per) of the step's stream. */
        sd_rng_normal(seed, stream(k, RNG_EPS), (uint64_t)first * (uint64_t)per,
                      (size_t)(n * per), eps->data);
        for (int i = 0; i < n; i++) {
            float a = (float)al[i], s = (float)si[i];
            const float *xi = x + i * per, *ei = eps->data + i * per;
            float *zi = z->data + i * per;
            for (int64_t j = 0; j < per; j++)
                zi[j] = a * xi[j] + s * ei[j];
        }
    }
    const int *lab_in = cf->num_classes > 0 ? lab : NULL;
    const int *len_in = cf->ctx_dim > 0 ? t->ctxl : NULL;
    sd_tensor *pred =
        tok ? sd_model_graph_tok(m, c, z, lam, lab_in, cond ? t->cond : NULL, tok, len_in)
            : sd_model_graph_ctx(m, c, z, lam, lab_in, cond ? t->cond : NULL, ctx, len_in);
    sd_tensor *loss = sd_diffusion_loss(c, t->cfg.loss, t->cfg.multiscale_base,
                                        cf->prediction, pred, z, xt, eps, al, si);
    simdiff_status st = sd_ctx_status(c);
    if (st) {
        sd_fail(&t->err, st, "training step %lld: %s", (long long)k, sd_ctx_errmsg(c));
        sd_ctx_reset(c);
        sd_model_zero_grad(m);
        return st;
    }
    *lv = loss->data[0];
    sd_model_zero_grad(m);
    if (isfinite(*lv))
        st = sd_backward(c, loss);
    if (st) {
        sd_fail(&t->err, st, "training step %lld (backward): %s", (long long)k, sd_ctx_errmsg(c));
        sd_ctx_reset(c);
        sd_model_zero_grad(m);
        return st;
    }
    return SIMDIFF_OK;
}

/* The update after the gradients are in place (trainer_internal.h). */
void sd_trainer_update(simdiff_trainer *t, double lv)
{
    simdiff_model *m = t->m;
    double gn = isfinite(lv) ? sd_optimizer_grad_norm(t->opt) : NAN;
    t->step++;
    t->last_grad_norm = gn;
    if (!isfinite(lv) || !isfinite(gn)) {
        t->skipped++;
        t->last_loss = NAN;
    } else {
        double clip = t->opt->cfg.clip_norm;
        if (sd_optimizer_apply(t->opt, clip > 0 && gn > clip ? clip / gn : 1.0)) {
            t->skipped++; /* a non-finite update: skipped like a non-finite gradient */
            t->last_loss = NAN;
        } else {
            sd_model_weights_changed(m);
            t->last_loss = lv;
        }
    }
    sd_model_zero_grad(m);
    sd_ctx_reset(t->ctx);
}

/* simdiff_trainer_step's work, arguments checked and the model claimed. */
static simdiff_status step(simdiff_trainer *t, const step_args *a)
{
    double lv = NAN;
    simdiff_status st = forward_backward(t, a->n, 0, a->n, a->x, a->labels, a->cond, a->ctx,
                                         a->tok, a->tok ? a->tok_len : a->ctx_len, &lv);
    if (!st)
        sd_trainer_update(t, lv);
    return st;
}

SIMDIFF_API simdiff_status simdiff_trainer_set_grad_reduce(simdiff_trainer *t,
                                                           simdiff_grad_reduce_fn fn,
                                                           void *user)
{
    if (!t)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_trainer_set_grad_reduce: trainer is NULL");
    t->reduce = fn;
    t->reduce_user = fn ? user : NULL;
    return SIMDIFF_OK;
}

/* acc (the flat gradient sum) = acc + scale · grad of this chunk, or
 * = scale · grad for the first chunk; a parameter the loss did not reach
 * adds zero. The product is rounded before the sum (no fused multiply-add),
 * as a reduction over processes would see it. */
static void accumulate(simdiff_model *m, float *acc, float scale, int first_chunk)
{
    for (int i = 0; i < m->nparams; i++) {
        const sd_tensor *p = &m->params[i];
        int64_t off = p->data - m->data, n = p->numel;
        float *a = acc + off;
        const float *g = p->grad;
        int valid = (p->flags & SD_TF_GRAD_VALID) != 0;
#pragma omp parallel for if (n > SD_PAR_MIN) schedule(static)
        for (int64_t j = 0; j < n; j++) {
            volatile float v = valid ? scale * g[j] : 0.0f;
            a[j] = first_chunk ? v : a[j] + v;
        }
    }
}

/* simdiff_trainer_step_part's work, arguments checked and the model
 * claimed. */
static simdiff_status step_part(simdiff_trainer *t, const step_args *a)
{
    simdiff_model *m = t->m;
    const simdiff_model_config *cf = &m->cfg;
    const int first = a->first, n = a->n, chunks = a->chunks;
    simdiff_status st;
    /* calloc: the alignment gaps between parameters stay zero. */
    if (!t->acc && !(t->acc = calloc((size_t)m->total, sizeof(float))))
        return sd_fail(&t->err, SIMDIFF_ERR_NOMEM, "simdiff_trainer_step_part: out of memory");
    const size_t per = (size_t)cf->channels * cf->image_size * cf->image_size;
    double sums[SIMDIFF_REDUCE_SCALARS] = {0, 0, 0};
    for (int j = 0; j < chunks; j++) {
        int lo = (int)((int64_t)j * n / chunks), hi = (int)((int64_t)(j + 1) * n / chunks);
        double lv = NAN;
        st = forward_backward(t, a->batch, first + lo, hi - lo, a->x + (size_t)lo * per,
                              a->labels ? a->labels + lo : NULL,
                              a->cond ? a->cond + (size_t)lo * (size_t)cf->cond_dim : NULL,
                              a->ctx ? a->ctx + (size_t)lo * (size_t)cf->ctx_len *
                                                    (size_t)cf->ctx_dim
                                     : NULL,
                              a->tok ? a->tok + (size_t)lo * (size_t)cf->ctx_len : NULL,
                              a->tok      ? a->tok_len + lo
                              : a->ctx && a->ctx_len ? a->ctx_len + lo
                                                     : NULL,
                              &lv);
        if (st)
            return st;
        if (isfinite(lv))
            sums[SIMDIFF_REDUCE_LOSS] += lv * (hi - lo);
        else
            sums[SIMDIFF_REDUCE_NONFINITE] = 1;
        sums[SIMDIFF_REDUCE_COUNT] += hi - lo;
        accumulate(m, t->acc, (float)(hi - lo), j == 0);
        sd_model_zero_grad(m);
        sd_ctx_reset(t->ctx);
    }
    if (t->reduce) {
        int rc = t->reduce(t->reduce_user, t->acc, m->total, sums);
        if (rc)
            return sd_fail(&t->err, SIMDIFF_ERR_IO,
                           "training step %lld: the gradient reduction failed (the hook "
                           "returned %d); nothing was updated",
                           (long long)t->step, rc);
    }
    double count = sums[SIMDIFF_REDUCE_COUNT];
    if (!(count >= 1))
        return sd_fail(&t->err, SIMDIFF_ERR_INVALID_ARG,
                       "training step %lld: the reduced example count is %g (must be >= 1)",
                       (long long)t->step, count);
    /* The mean gradient into the parameters' gradient buffers. */
    float fc = (float)count;
    for (int i = 0; i < m->nparams; i++) {
        sd_tensor *p = &m->params[i];
        int64_t off = p->data - m->data, np = p->numel;
        const float *sum = t->acc + off;
        float *g = p->grad;
#pragma omp parallel for if (np > SD_PAR_MIN) schedule(static)
        for (int64_t j = 0; j < np; j++)
            g[j] = sum[j] / fc;
        p->flags |= SD_TF_GRAD_VALID;
    }
    double lv = sums[SIMDIFF_REDUCE_NONFINITE] != 0 ? NAN : sums[SIMDIFF_REDUCE_LOSS] / count;
    sd_trainer_update(t, lv);
    return SIMDIFF_OK;
}

/* The argument checks of the part steps (fn names the call). */
static simdiff_status part_args(simdiff_trainer *t, int batch, int first, int n, int chunks,
                                const float *x, const char *fn)
{
    if (!t)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: trainer is NULL", fn);
    if (n < 1 || !x || first < 0 || batch < 1 || first > batch - n || chunks < 1 ||
        chunks > n)
        return sd_fail(&t->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: batch %d, first %d, n %d, chunks %d: need 0 <= first, first + n "
                       "<= batch, 1 <= chunks <= n, x not NULL",
                       fn, batch, first, n, chunks);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_trainer_step_part(simdiff_trainer *t, int batch,
                                                     int first, int n, int chunks,
                                                     const float *x, const int *labels,
                                                     const float *cond, double *loss_out)
{
    return simdiff_trainer_step_part_ctx(t, batch, first, n, chunks, x, labels, cond, NULL,
                                         NULL, loss_out);
}

SIMDIFF_API simdiff_status simdiff_trainer_step_part_ctx(
    simdiff_trainer *t, int batch, int first, int n, int chunks, const float *x,
    const int *labels, const float *cond, const float *context, const int *context_len,
    double *loss_out)
{
    simdiff_status st =
        part_args(t, batch, first, n, chunks, x, "simdiff_trainer_step_part");
    if (st)
        return st;
    step_args a = {batch, first, n, chunks, x, labels, cond, context, context_len, 1,
                   NULL, NULL, NULL};
    return run_step(t, &a, "simdiff_trainer_step_part", loss_out);
}

SIMDIFF_API simdiff_status simdiff_trainer_step_part_text(
    simdiff_trainer *t, int batch, int first, int n, int chunks, const float *x,
    const int *labels, const float *cond, const char *const *captions, double *loss_out)
{
    simdiff_status st =
        part_args(t, batch, first, n, chunks, x, "simdiff_trainer_step_part_text");
    if (st)
        return st;
    step_args a = {batch, first, n, chunks, x, labels, cond, NULL, NULL, 1, captions, NULL, NULL};
    return run_step(t, &a, "simdiff_trainer_step_part_text", loss_out);
}
