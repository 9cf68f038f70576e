/* AdamW with decoupled weight decay, warmup + constant/cosine learning rate,
 * global-norm clipping and an EMA of the weights. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "train/train_internal.h"

const sd_struct_layout sd_optimizer_config_layout = {
    "simdiff_optimizer_config",
    SD_FIELD_END(simdiff_optimizer_config, ema_decay), /* v1 */
    SD_FIELD_END(simdiff_optimizer_config, ema_decay), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_optimizer_config_init_sized(simdiff_optimizer_config *out,
                                                               size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_optimizer_config_init: cfg is NULL");
    simdiff_optimizer_config c, *cfg = &c;
    memset(cfg, 0, sizeof *cfg);
    cfg->lr = 2e-4;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.99;
    cfg->eps = 1e-8;
    cfg->weight_decay = 0.0;
    cfg->warmup_steps = 500;
    cfg->decay = SIMDIFF_LR_CONSTANT;
    cfg->total_steps = 0;
    cfg->min_lr_ratio = 0.1;
    cfg->clip_norm = 1.0;
    cfg->ema_decay = 0.9995;
    return sd_struct_write(&sd_optimizer_config_layout, out, size, cfg,
                           "simdiff_optimizer_config_init");
}

simdiff_status sd_optimizer_config_check(const simdiff_optimizer_config *c, char *msg,
                                         size_t cap)
{
#define BAD(...) return (snprintf(msg, cap, __VA_ARGS__), SIMDIFF_ERR_INVALID_ARG)
    if (!(c->lr > 0 && c->lr < 10))
        BAD("lr %g must be in (0, 10)", c->lr);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        BAD("betas (%g, %g) must be in [0, 1)", c->beta1, c->beta2);
    if (!(c->eps > 0))
        BAD("eps %g must be > 0", c->eps);
    if (!(c->weight_decay >= 0 && c->weight_decay < 1))
        BAD("weight_decay %g must be in [0, 1)", c->weight_decay);
    if (c->warmup_steps < 0)
        BAD("warmup_steps %lld must be >= 0", (long long)c->warmup_steps);
    if (c->decay != SIMDIFF_LR_CONSTANT && c->decay != SIMDIFF_LR_COSINE)
        BAD("decay %d is not SIMDIFF_LR_CONSTANT or SIMDIFF_LR_COSINE", (int)c->decay);
    if (c->decay == SIMDIFF_LR_COSINE && c->total_steps <= c->warmup_steps)
        BAD("cosine decay needs total_steps (%lld) > warmup_steps (%lld)",
            (long long)c->total_steps, (long long)c->warmup_steps);
    if (!(c->min_lr_ratio >= 0 && c->min_lr_ratio <= 1))
        BAD("min_lr_ratio %g must be in [0, 1]", c->min_lr_ratio);
    if (!(c->clip_norm >= 0))
        BAD("clip_norm %g must be >= 0 (0: off)", c->clip_norm);
    if (!(c->ema_decay >= 0 && c->ema_decay < 1))
        BAD("ema_decay %g must be in [0, 1) (0: off)", c->ema_decay);
    return SIMDIFF_OK;
#undef BAD
}

static float *alloc_floats(int64_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)(n ? n : 1) * sizeof(float)))
        return NULL;
    memset(p, 0, (size_t)n * sizeof(float));
    return p;
}

simdiff_status sd_optimizer_new(simdiff_optimizer **out, simdiff_model *m,
                                const simdiff_optimizer_config *cfg)
{
    *out = NULL;
    simdiff_optimizer_config def;
    if (!cfg) {
        simdiff_optimizer_config_init(&def);
        cfg = &def;
    }
    char msg[256];
    if (sd_optimizer_config_check(cfg, msg, sizeof msg))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "invalid optimizer config: %s", msg);
    simdiff_status st = sd_model_enable_grad(m);
    if (st)
        return st;
    simdiff_optimizer *o = calloc(1, sizeof *o);
    if (!o)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    o->m = m;
    o->cfg = *cfg;
    o->cfg.struct_size = sizeof o->cfg;
    o->mom = alloc_floats(m->total);
    o->var = alloc_floats(m->total);
    if (cfg->ema_decay > 0) {
        o->ema = alloc_floats(m->total);
        if (o->ema)
            memcpy(o->ema, m->data, (size_t)m->total * sizeof(float));
    }
    o->decay_mask = calloc((size_t)(m->nparams ? m->nparams : 1), 1);
    if (!o->mom || !o->var || (cfg->ema_decay > 0 && !o->ema) || !o->decay_mask) {
        sd_optimizer_destroy(o);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory for optimizer state");
    }
    for (int i = 0; i < m->nparams; i++)
        o->decay_mask[i] = !m->pinfo[i].no_decay;
    *out = o;
    return SIMDIFF_OK;
}

void sd_optimizer_destroy(simdiff_optimizer *o)
{
    if (!o)
        return;
    free(o->mom);
    free(o->var);
    free(o->ema);
    free(o->decay_mask);
    free(o);
}

double sd_optimizer_lr_at(const simdiff_optimizer_config *c, int64_t step)
{
    /* step counts applied updates before this one: the first update uses
     * step 0 -> lr/warmup (never exactly 0). */
    double lr = c->lr;
    if (c->warmup_steps > 0 && step < c->warmup_steps)
        return lr * (double)(step + 1) / (double)c->warmup_steps;
    if (c->decay == SIMDIFF_LR_COSINE) {
        double p = (double)(step - c->warmup_steps) /
                   (double)(c->total_steps - c->warmup_steps);
        if (p > 1)
            p = 1;
        double floor = lr * c->min_lr_ratio;
        return floor + 0.5 * (lr - floor) * (1 + cos(M_PI * p));
    }
    return lr;
}

SIMDIFF_API double simdiff_optimizer_lr(const simdiff_optimizer *o)
{
    return o ? sd_optimizer_lr_at(&o->cfg, o->step) : 0.0;
}

SIMDIFF_API int64_t simdiff_optimizer_step_count(const simdiff_optimizer *o)
{
    return o ? o->step : -1;
}

SIMDIFF_API const char *simdiff_optimizer_errmsg(const simdiff_optimizer *o)
{
    return o ? o->err.msg : "";
}

/* Global L2 norm of all gradients (an invalid grad is zero), summed in
 * double in a fixed order: parameter by parameter, fixed chunks. */
double sd_optimizer_grad_norm(const simdiff_optimizer *o)
{
    const simdiff_model *m = o->m;
    double total = 0;
    for (int i = 0; i < m->nparams; i++) {
        const sd_tensor *p = &m->params[i];
        if (!(p->flags & SD_TF_GRAD_VALID))
            continue;
        const float *g = p->grad;
        int64_t n = p->numel, nch = (n + 4095) / 4096;
        double s = 0;
#pragma omp parallel for if (n > SD_PAR_MIN) schedule(static) ordered
        for (int64_t ch = 0; ch < nch; ch++) {
            int64_t lo = ch * 4096, hi = lo + 4096 < n ? lo + 4096 : n;
            double a = 0;
            for (int64_t j = lo; j < hi; j++)
                a += (double)g[j] * (double)g[j];
#pragma omp ordered
            s += a;
        }
        total += s;
    }
    return sqrt(total);
}

/* The scalars of update number o->step + 1. */
typedef struct adamw_coefs {
    double lr;
    float b1, b2, step_size, inv_sqrt_bc2, eps, gs, ema_d, ema_1md;
} adamw_coefs;

static adamw_coefs coefs_of(const simdiff_optimizer *o, double gscale)
{
    const simdiff_optimizer_config *c = &o->cfg;
    adamw_coefs k;
    double step = (double)(o->step + 1);
    k.lr = sd_optimizer_lr_at(c, o->step);
    double bc1 = 1.0 - pow(c->beta1, step), bc2 = 1.0 - pow(c->beta2, step);
    k.b1 = (float)c->beta1;
    k.b2 = (float)c->beta2;
    k.step_size = (float)(k.lr / bc1);
    k.inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    k.eps = (float)c->eps;
    k.gs = (float)gscale;
    /* Warm-up of the EMA decay: min(decay, (1 + k) / (10 + k)). */
    double d = c->ema_decay < (1 + step) / (10 + step) ? c->ema_decay : (1 + step) / (10 + step);
    k.ema_d = (float)d;
    k.ema_1md = (float)(1.0 - d);
    return k;
}

/* One element of the update: the new weight, moment and second moment
 * from the old ones and the gradient g (before scaling). Both passes of
 * sd_optimizer_apply call this, so the check sees exactly what is
 * written. */
typedef struct adamw_out {
    float w, mo, va;
} adamw_out;

static inline adamw_out adamw_elem(const adamw_coefs *k, float decay, float g, float w, float mo,
                                   float va)
{
    adamw_out r;
    float gj = g * k->gs;
    r.mo = k->b1 * mo + (1.0f - k->b1) * gj;
    r.va = k->b2 * va + (1.0f - k->b2) * gj * gj;
    float denom = sqrtf(r.va) * k->inv_sqrt_bc2 + k->eps;
    r.w = w * decay - k->step_size * r.mo / denom;
    return r;
}

/* 1 when all four are finite; no branches, so the loops vectorize. */
static inline int finite4(float a, float b, float c, float d)
{
    return (fabsf(a) <= FLT_MAX) & (fabsf(b) <= FLT_MAX) & (fabsf(c) <= FLT_MAX) &
           (fabsf(d) <= FLT_MAX);
}

/* The two passes over one parameter of n values, with (EMA = 1) or
 * without an EMA: check (would any new value be non-finite?) and apply
 * (the same arithmetic, written, and each element's EMA right after its
 * weight). EMA is a constant, so neither loop has a branch. */
#define ADAMW_PASSES(name, EMA)                                                                \
    static int check_##name(const adamw_coefs *kp, float decay, int64_t n,                     \
                            const float *restrict g, const float *restrict w,                  \
                            const float *restrict mo, const float *restrict va,                \
                            const float *restrict e)                                           \
    {                                                                                          \
        const adamw_coefs k = *kp;                                                             \
        int bad = 0;                                                                           \
        _Pragma("omp parallel for if (n > SD_PAR_MIN) firstprivate(k) reduction(| : bad)")     \
        for (int64_t j = 0; j < n; j++) {                                                      \
            adamw_out r = adamw_elem(&k, decay, g[j], w[j], mo[j], va[j]);                     \
            float e2 = EMA ? k.ema_d * e[j] + k.ema_1md * r.w : 0.0f;                          \
            bad |= !finite4(r.w, r.mo, r.va, e2);                                              \
        }                                                                                      \
        return bad;                                                                            \
    }                                                                                          \
    static void apply_##name(const adamw_coefs *kp, float decay, int64_t n,                    \
                             const float *restrict g, float *restrict w, float *restrict mo,   \
                             float *restrict va, float *restrict e)                            \
    {                                                                                          \
        const adamw_coefs k = *kp;                                                             \
        _Pragma("omp parallel for if (n > SD_PAR_MIN) firstprivate(k)")                        \
        for (int64_t j = 0; j < n; j++) {                                                      \
            adamw_out r = adamw_elem(&k, decay, g[j], w[j], mo[j], va[j]);                     \
            w[j] = r.w;                                                                        \
            mo[j] = r.mo;                                                                      \
            va[j] = r.va;                                                                      \
            if (EMA)                                                                           \
                e[j] = k.ema_d * e[j] + k.ema_1md * r.w;                                       \
        }                                                                                      \
    }
ADAMW_PASSES(ema, 1)
ADAMW_PASSES(plain, 0)
#undef ADAMW_PASSES

/* One AdamW update from the model's gradients (already checked finite),
 * with gradients scaled by gscale (clipping), then the EMA; or, when any
 * new weight, moment or EMA value would not be finite, nothing at all
 * (returns 1; the caller counts a skipped step). A finite gradient can
 * still make a non-finite update: an overflowing g^2, a damaged moment. */
int sd_optimizer_apply(simdiff_optimizer *o, double gscale)
{
    simdiff_model *m = o->m;
    const adamw_coefs k = coefs_of(o, gscale);
    /* A parameter the loss did not reach has no valid gradient: zero its
     * buffer (it holds no value) so both passes read one. */
    for (int i = 0; i < m->nparams; i++) {
        sd_tensor *p = &m->params[i];
        if (!(p->flags & SD_TF_GRAD_VALID))
            memset(p->grad, 0, (size_t)p->numel * sizeof(float));
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < m->nparams; i++) {
            sd_tensor *p = &m->params[i];
            int64_t off = p->data - m->data, n = p->numel;
            float *w = p->data, *mo = o->mom + off, *va = o->var + off;
            float *e = o->ema ? o->ema + off : NULL;
            float decay = o->decay_mask[i] ? (float)(1.0 - k.lr * o->cfg.weight_decay) : 1.0f;
            if (pass == 0 && (e ? check_ema(&k, decay, n, p->grad, w, mo, va, e)
                                : check_plain(&k, decay, n, p->grad, w, mo, va, e)))
                return 1; /* nothing written yet */
            if (pass == 1 && e)
                apply_ema(&k, decay, n, p->grad, w, mo, va, e);
            else if (pass == 1)
                apply_plain(&k, decay, n, p->grad, w, mo, va, e);
        }
    }
    o->step++;
    return 0;
}

SIMDIFF_API simdiff_status simdiff_optimizer_swap_ema(simdiff_optimizer *o)
{
    if (!o)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_optimizer_swap_ema: NULL");
    if (!o->ema)
        return sd_fail(&o->err, SIMDIFF_ERR_MISUSE, "the optimizer keeps no EMA (ema_decay = 0)");
    simdiff_status st = sd_model_use_begin(o->m, 1, "simdiff_optimizer_swap_ema");
    if (st)
        return st;
    float *a = o->m->data, *b = o->ema;
    for (int64_t j = 0; j < o->m->total; j++) {
        float t = a[j];
        a[j] = b[j];
        b[j] = t;
    }
    o->ema_swapped = !o->ema_swapped;
    sd_model_weights_changed(o->m);
    sd_model_use_end(o->m, 1);
    return SIMDIFF_OK;
}

SD_DEFINE_ENUM_NAMES(lr_decay, simdiff_lr_decay, "learning-rate decay",
                     {SIMDIFF_LR_CONSTANT, "constant", 0}, {SIMDIFF_LR_COSINE, "cosine", 0})
