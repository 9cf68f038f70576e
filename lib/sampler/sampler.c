/*
 * The sampler (include/simdiff/sampler.h): DDPM ancestral, DDIM(η) and
 * DPM-Solver++(2M) over a t grid, with classifier-free guidance, progress
 * callbacks and cancellation. The formulas are in the header and in
 * docs/sampling.md.
 *
 * Shapes: n images of P = C·H·W floats each, NCHW; every per-image buffer
 * below is (n, P), row i = image i.
 *
 * One step k (t = t_k -> s = t_{k+1}) is, for every image,
 *     x̂ = to_x(z, model_out(z, λ_t))        (then clipped if clip_x)
 *     z' = cz·z + cx·x̂ + cp·x̂_prev + cn·noise(image i, step k + 1)
 * with scalar coefficients (the same for every image: every image is at the
 * same t), computed in double from (α, σ, λ) of both ends (step_coefs).
 * Each element of z' depends only on the same element of z, x̂, x̂_prev and
 * the noise, so the update does not depend on the thread count.
 *
 * Noise: image i's tensor at step j (j = 0: the initial z at t = 1;
 * j = k + 1: the noise added by step k) is elements 0..P−1 of the Philox
 * stream (seed, sd_rng_mix(sd_rng_mix(TAG, i), j)), so it depends on the
 * image index and never on the batch position or size.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "model/model_internal.h"
#include "model/sampler_settings.h"
#include "sampler/sampler_internal.h"
#include "schedule/schedule_internal.h"
#include "simdiff/sampler.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

/* Elementwise loops run in parallel above this many elements. */
#define PAR_MIN 65536

struct simdiff_sampler {
    sd_err err;
    simdiff_model *m;
    simdiff_sampler_config cfg; /* cfg.schedule is not kept (see sched) */
    simdiff_schedule *sched;    /* owned copy */
    sd_ctx *ctx;                /* inference: grad and dropout off */
    atomic_int cancel;          /* set by simdiff_sampler_cancel()  */
    atomic_int running;         /* a run is in progress             */
    int sticky_cancel;          /* keep a cancel from before a run  */
    /* Misuse reports, written while a run may own err (merr_lock guards
     * merr; merr_latest: the last failure on s was a misuse). */
    sd_err merr;
    atomic_flag merr_lock;
    atomic_int merr_latest;
    simdiff_progress_fn progress;
    void *progress_user;
    int preview_every;

    /* The grid, k = 0..steps: λ_k, α_k, σ_k (λ_0 = λ(1), λ_steps = λ(0)). */
    int steps;
    double *lam, *alpha, *sigma;

    size_t per; /* P = C·H·W */
    /* Per-image buffers, cap images: */
    int cap;
    float *z, *xh, *xprev, *noise; /* (cap, P)                          */
    double *al_img, *sg_img;       /* (cap) α_t, σ_t per image (helpers) */
    /* Per-row buffers of one network call, rows_cap rows: */
    int rows_cap, zin_cap;
    float *zin;      /* (zin_cap, P) the network input when guided (z twice) */
    double *lam_row; /* (rows) */
    int *lab_row;    /* (rows) */
    float *cond_row; /* (rows, cond_dim) the conditioning vectors of a call */
    float *ctx_row;  /* (rows, ctx_len, ctx_dim) the contexts of a call     */
    int *ctxl_row;   /* (rows) their lengths, 0 = the null context          */
    int *tok_row;    /* (rows, ctx_len) token ids of a call (text encoder)  */
    int *ptok;       /* (ptok_n, ctx_len + 1) the prompts' ids and lengths   */
    int ptok_n;
    float *tmp;      /* (P) one image's variation noise */
};

/* The options of a run, read and checked: image i's noise key and the rest
 * of simdiff_run_options. */
typedef struct run_opts {
    uint64_t seed, first;
    const uint64_t *seeds, *vseeds;
    uint64_t vseed;
    double vstr;
    const float *latents, *cond;
    const float *ctx;   /* n x ctx_len x ctx_dim, or NULL (the null context) */
    const int *ctx_len; /* n lengths 1..ctx_len, or NULL (all full)          */
    const int *tok;     /* n x ctx_len ids of the prompts, or NULL            */
    const int *tok_len; /* n lengths 0..ctx_len (0: the null context)         */
} run_opts;

static void key_of(const run_opts *o, int i, uint64_t *seed, uint64_t *index)
{
    *seed = o->seeds ? o->seeds[i] : o->seed;
    *index = o->seeds ? 0 : o->first + (uint64_t)i;
}

/* A misuse on s: its message goes to merr, which errmsg returns until the
 * next run fails. */
static simdiff_status misuse(simdiff_sampler *s, const char *msg)
{
    while (atomic_flag_test_and_set(&s->merr_lock))
        ;
    simdiff_status st = sd_fail(&s->merr, SIMDIFF_ERR_MISUSE, "%s", msg);
    atomic_store(&s->merr_latest, 1);
    atomic_flag_clear(&s->merr_lock);
    return st;
}

/* ---- small helpers ------------------------------------------------------ */

uint64_t sd_sampler_noise_stream(uint64_t image, uint64_t step)
{
    return sd_rng_mix(sd_rng_mix(SD_SAMPLER_STREAM_TAG, image), step);
}

sd_ctx *sd_sampler_ctx(simdiff_sampler *s) { return s->ctx; }

static sd_precision prec_of(const simdiff_sampler_config *c)
{
    return c->precision == SIMDIFF_PRECISION_BF16 ? SD_PREC_BF16 : SD_PREC_F32;
}

/* ---- config ------------------------------------------------------------- */

const sd_struct_layout sd_sampler_config_layout = {
    "simdiff_sampler_config",
    SD_FIELD_END(simdiff_sampler_config, batch_chunk), /* v1 */
    SD_FIELD_END(simdiff_sampler_config, guidance_logsnr_max), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_sampler_config_init_sized(simdiff_sampler_config *out,
                                                             size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_sampler_config_init: cfg is NULL");
    simdiff_sampler_config c, *cfg = &c;
    memset(cfg, 0, sizeof *cfg);
    sd_sampler_settings_defaults(cfg);
    cfg->schedule = NULL;
    cfg->batch_chunk = 0;
    cfg->precision = SIMDIFF_PRECISION_F32;
    return sd_struct_write(&sd_sampler_config_layout, out, size, cfg,
                           "simdiff_sampler_config_init");
}

simdiff_status sd_sampler_check_config(const simdiff_sampler_config *c, const char *fn)
{
    simdiff_status st = sd_sampler_settings_check(c, fn);
    if (st)
        return st;
    if (c->batch_chunk < 0)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: batch_chunk is %d; expected >= 0 (0 = all images "
                       "in one call)",
                       fn, c->batch_chunk);
    if (c->precision != SIMDIFF_PRECISION_F32 && c->precision != SIMDIFF_PRECISION_BF16)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: precision %d is not SIMDIFF_PRECISION_F32 (0) or _BF16 (1)", fn,
                       (int)c->precision);
    if (c->num_threads < 0 || c->num_threads > SD_MAX_THREADS)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: num_threads is %d; expected 0 (the process-wide count) "
                       "or 1..%d",
                       fn, c->num_threads, SD_MAX_THREADS);
    return SIMDIFF_OK;
}

/* ---- names -------------------------------------------------------------- */

SD_DEFINE_ENUM_NAMES(sampler_method, simdiff_sampler_method, "sampler method",
                     {SIMDIFF_SAMPLER_DDPM, "ddpm", 0}, {SIMDIFF_SAMPLER_DDIM, "ddim", 0},
                     {SIMDIFF_SAMPLER_DPMPP_2M, "dpmpp2m", 0},
                     {SIMDIFF_SAMPLER_DPMPP_2M, "dpm-solver++ 2m", 1})

SD_DEFINE_ENUM_NAMES(spacing, simdiff_spacing, "spacing",
                     {SIMDIFF_SPACING_UNIFORM_T, "uniform_t", 0},
                     {SIMDIFF_SPACING_UNIFORM_T, "t", 1},
                     {SIMDIFF_SPACING_UNIFORM_LOGSNR, "uniform_logsnr", 0},
                     {SIMDIFF_SPACING_UNIFORM_LOGSNR, "logsnr", 1})

/* ---- the grid ----------------------------------------------------------- */

/* λ_k for k = 0..K (K = steps), decreasing in t, increasing in k; α, σ from
 * λ (so the three are exactly consistent). */
static void make_grid(simdiff_sampler *s)
{
    const int K = s->steps;
    const double l1 = sd_schedule_logsnr1(s->sched, 1.0);
    const double l0 = sd_schedule_logsnr1(s->sched, 0.0);
    for (int k = 0; k <= K; k++) {
        double l;
        if (k == 0)
            l = l1;
        else if (k == K)
            l = l0;
        else if (s->cfg.spacing == SIMDIFF_SPACING_UNIFORM_LOGSNR)
            l = l1 + (l0 - l1) * ((double)k / K);
        else
            l = sd_schedule_logsnr1(s->sched, (double)(K - k) / K);
        s->lam[k] = l;
        sd_alpha_sigma_from_logsnr(l, &s->alpha[k], &s->sigma[k]);
    }
}

void sd_sampler_step_coefs(int method, double eta, int first,
                           double lam_prev, double lam_t, double lam_s,
                           double *coefs)
{
    double al_t, sg_t, al_s, sg_s;
    sd_alpha_sigma_from_logsnr(lam_t, &al_t, &sg_t);
    sd_alpha_sigma_from_logsnr(lam_s, &al_s, &sg_s);
    const double d = lam_t - lam_s; /* < 0 */
    const double e = exp(d);        /* 1 − c = α_t²σ_s²/(σ_t²α_s²) */
    const double c = -expm1(d);     /* in (0, 1) */
    double cz = 0, cx = 0, cp = 0, cn = 0;
    switch (method) {
    case SIMDIFF_SAMPLER_DDPM:
        /* α_s·(1 − c)/α_t written without the large α_s/α_t ratio. */
        cz = al_t * sg_s * sg_s / (sg_t * sg_t * al_s);
        cx = al_s * c;
        cn = sg_s * sqrt(c);
        break;
    case SIMDIFF_SAMPLER_DDIM: {
        /* z' = α_s·x̂ + σ_s·q·(z − α_t·x̂)/σ_t + η·σ_s·sqrt(c)·ε, with
         * q² = 1 − η²c = (1 − η²) + η²(1 − c) (both terms >= 0). */
        double q = sqrt((1.0 - eta * eta) + eta * eta * e);
        cz = sg_s * q / sg_t;
        cx = al_s - cz * al_t;
        cn = eta * sg_s * sqrt(c);
        break;
    }
    case SIMDIFF_SAMPLER_DPMPP_2M: {
        /* Lu et al.'s λ is log(α/σ), half our log-SNR: h is in their
         * units (then e^−h = σ_s·α_t/(σ_t·α_s) and the first-order step is
         * exactly DDIM with η = 0). r is a ratio, the same in either. */
        const double h = 0.5 * (lam_s - lam_t); /* > 0 */
        const double phi = -expm1(-h);          /* 1 − e^−h */
        cz = sg_s / sg_t;
        if (first) {
            cx = al_s * phi;
        } else {
            const double r = (lam_t - lam_prev) / (lam_s - lam_t);
            cx = al_s * phi * (1.0 + 0.5 / r);
            cp = -al_s * phi * (0.5 / r);
        }
        break;
    }
    }
    coefs[0] = cz;
    coefs[1] = cx;
    coefs[2] = cp;
    coefs[3] = cn;
}

/* ---- create / destroy --------------------------------------------------- */

static void free_buffers(simdiff_sampler *s)
{
    free(s->z);
    free(s->xh);
    free(s->xprev);
    free(s->noise);
    free(s->al_img);
    free(s->sg_img);
    s->z = s->xh = s->xprev = s->noise = NULL;
    s->al_img = s->sg_img = NULL;
    s->cap = 0;
    free(s->zin);
    free(s->lam_row);
    free(s->lab_row);
    free(s->cond_row);
    free(s->ctx_row);
    free(s->ctxl_row);
    free(s->tok_row);
    free(s->tmp);
    s->zin = NULL;
    s->lam_row = NULL;
    s->lab_row = NULL;
    s->cond_row = NULL;
    s->ctx_row = NULL;
    s->ctxl_row = NULL;
    s->tok_row = NULL;
    s->tmp = NULL;
    s->rows_cap = s->zin_cap = 0;
}

SIMDIFF_API void simdiff_sampler_destroy(simdiff_sampler *s)
{
    if (!s)
        return;
    free_buffers(s);
    sd_ctx_destroy(s->ctx);
    simdiff_schedule_destroy(s->sched);
    free(s->lam);
    free(s->alpha);
    free(s->sigma);
    free(s->ptok);
    free(s);
}

SIMDIFF_API simdiff_status simdiff_sampler_create(simdiff_sampler **out,
                                                  simdiff_model *m,
                                                  const simdiff_sampler_config *cfg)
{
    const char *fn = "simdiff_sampler_create";
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: model is NULL", fn);
    simdiff_sampler_config c;
    if (cfg) {
        simdiff_status st = sd_struct_read(&sd_sampler_config_layout, &c, cfg, fn);
        if (!st)
            st = sd_sampler_check_config(&c, fn);
        if (st)
            return st;
    } else {
        simdiff_sampler_config_init_for_model(&c, m); /* valid: checked at store/load */
    }
    const simdiff_schedule *sch = c.schedule ? c.schedule : m->schedule;
    if (!sch)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the model carries no noise schedule (a model from "
                       "simdiff_model_create, or a file without one); pass the "
                       "schedule it was trained with in cfg->schedule, e.g. "
                       "simdiff_schedule_create_shifted(&s, %d, 64)",
                       fn, m->cfg.image_size);
    if (c.precision != SIMDIFF_PRECISION_F32) {
        simdiff_status st = simdiff_precision_check(c.precision);
        if (st)
            return sd_fail(NULL, st, "%s: %s", fn, simdiff_last_error());
    }
    const simdiff_model_config *mc = &m->cfg;
    if (mc->prediction != SIMDIFF_PRED_V && mc->prediction != SIMDIFF_PRED_EPS)
        return sd_fail(NULL, SIMDIFF_ERR_UNSUPPORTED,
                       "%s: the model's prediction type %d is not v or eps", fn,
                       (int)mc->prediction);

    simdiff_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    s->m = m;
    s->cfg = c;
    s->cfg.schedule = NULL;
    s->steps = c.steps;
    s->per = (size_t)mc->channels * (size_t)mc->image_size * (size_t)mc->image_size;
    atomic_init(&s->cancel, 0);
    atomic_init(&s->running, 0);
    atomic_init(&s->merr_latest, 0);
    atomic_flag_clear(&s->merr_lock);
    simdiff_status st = simdiff_schedule_clone(&s->sched, sch);
    if (!st) {
        size_t K1 = (size_t)c.steps + 1;
        s->lam = malloc(K1 * sizeof *s->lam);
        s->alpha = malloc(K1 * sizeof *s->alpha);
        s->sigma = malloc(K1 * sizeof *s->sigma);
        if (!s->lam || !s->alpha || !s->sigma)
            st = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (!st)
        st = sd_ctx_create(&s->ctx);
    /* The compute threads now, while memory is there (see sd_apply_threads). */
    if (!st) {
        st = sd_threads_enter(c.num_threads, 1);
        sd_threads_leave();
    }
    /* bf16: the model's shared weight copy (made here by the first bf16
     * sampler or forward of m; run() refreshes it if the weights changed). */
    if (!st)
        st = sd_model_ctx_precision(m, s->ctx, prec_of(&c));
    if (st) {
        simdiff_sampler_destroy(s);
        return st;
    }
    sd_ctx_set_grad(s->ctx, 0);     /* no tape, no gradient memory */
    sd_ctx_set_training(s->ctx, 0); /* no dropout */
    sd_ctx_set_cancel_flag(s->ctx, &s->cancel);
    make_grid(s);
    *out = s;
    return SIMDIFF_OK;
}

SIMDIFF_API void simdiff_sampler_cancel(simdiff_sampler *s)
{
    if (s)
        atomic_store_explicit(&s->cancel, 1, memory_order_relaxed);
}

SIMDIFF_API simdiff_status simdiff_sampler_set_progress(simdiff_sampler *s,
                                                        simdiff_progress_fn fn,
                                                        void *user)
{
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_sampler_set_progress: sampler is NULL");
    if (atomic_load(&s->running))
        return misuse(s, "simdiff_sampler_set_progress: the sampler is running");
    s->progress = fn;
    s->progress_user = user;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_sampler_set_preview_every(simdiff_sampler *s,
                                                             int k)
{
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_sampler_set_preview_every: sampler is NULL");
    if (atomic_load(&s->running))
        return misuse(s, "simdiff_sampler_set_preview_every: the sampler is running");
    if (k < 0)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_sampler_set_preview_every: k is %d; expected "
                       ">= 0 (0 = never)",
                       k);
    s->preview_every = k;
    return SIMDIFF_OK;
}

SIMDIFF_API const char *simdiff_sampler_errmsg(const simdiff_sampler *s)
{
    if (!s)
        return "";
    return atomic_load(&s->merr_latest) ? sd_errmsg(&s->merr) : sd_errmsg(&s->err);
}

SIMDIFF_API simdiff_status simdiff_sampler_set_sticky_cancel(simdiff_sampler *s, int on)
{
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_sampler_set_sticky_cancel: sampler is NULL");
    if (atomic_load(&s->running))
        return misuse(s, "simdiff_sampler_set_sticky_cancel: the sampler is running");
    if (on != 0 && on != 1)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_sampler_set_sticky_cancel: on is %d; expected 0 or 1", on);
    s->sticky_cancel = on;
    return SIMDIFF_OK;
}

/* ---- buffers ------------------------------------------------------------ */

/* Room for n images, network calls of `rows` rows, and (guidance) a
 * network input of zin_rows rows. */
static simdiff_status grow(simdiff_sampler *s, int n, int rows, int zin_rows)
{
    size_t bytes;
    if (n > s->cap) {
        if (sd_mul_size((size_t)n, s->per, &bytes) ||
            sd_mul_size(bytes, sizeof(float), &bytes))
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "simdiff_sampler_run: n = %d images of %zu floats "
                           "overflow the address space",
                           n, s->per);
        free(s->z);
        free(s->xh);
        free(s->xprev);
        free(s->noise);
        free(s->al_img);
        free(s->sg_img);
        s->z = malloc(bytes);
        s->xh = malloc(bytes);
        s->xprev = s->cfg.method == SIMDIFF_SAMPLER_DPMPP_2M ? malloc(bytes) : NULL;
        s->noise = malloc(bytes);
        s->al_img = malloc((size_t)n * sizeof(double));
        s->sg_img = malloc((size_t)n * sizeof(double));
        s->cap = n;
        if (!s->z || !s->xh || !s->noise || !s->al_img || !s->sg_img ||
            (s->cfg.method == SIMDIFF_SAMPLER_DPMPP_2M && !s->xprev)) {
            free_buffers(s);
            return sd_fail(&s->err, SIMDIFF_ERR_NOMEM,
                           "simdiff_sampler_run: out of memory for %d images "
                           "(%zu bytes each buffer)",
                           n, bytes);
        }
    }
    if (!s->tmp && !(s->tmp = malloc(s->per * sizeof(float)))) {
        free_buffers(s);
        return sd_fail(&s->err, SIMDIFF_ERR_NOMEM, "simdiff_sampler_run: out of memory");
    }
    if (rows > s->rows_cap) {
        const size_t D = (size_t)s->m->cfg.cond_dim;
        free(s->lam_row);
        free(s->lab_row);
        free(s->cond_row);
        free(s->ctx_row);
        free(s->ctxl_row);
        free(s->tok_row);
        /* T x D_ctx <= 2^23 (model.h bounds) */
        const size_t X = (size_t)s->m->cfg.ctx_len * (size_t)s->m->cfg.ctx_dim;
        size_t xb = 0;
        s->lam_row = malloc((size_t)rows * sizeof(double));
        s->lab_row = malloc((size_t)rows * sizeof(int));
        s->cond_row = D ? malloc((size_t)rows * D * sizeof(float)) : NULL;
        s->ctx_row = X && !sd_mul_size((size_t)rows, X * sizeof(float), &xb) ? malloc(xb) : NULL;
        s->ctxl_row = X ? malloc((size_t)rows * sizeof(int)) : NULL;
        const size_t TT = s->m->cfg.text_vocab > 0 ? (size_t)s->m->cfg.ctx_len : 0;
        s->tok_row = TT ? malloc((size_t)rows * TT * sizeof(int)) : NULL;
        s->rows_cap = rows;
        if (!s->lam_row || !s->lab_row || (D && !s->cond_row) ||
            (X && (!s->ctx_row || !s->ctxl_row)) || (TT && !s->tok_row)) {
            free_buffers(s);
            return sd_fail(&s->err, SIMDIFF_ERR_NOMEM,
                           "simdiff_sampler_run: out of memory for %d network "
                           "rows",
                           rows);
        }
    }
    if (zin_rows > s->zin_cap) {
        free(s->zin);
        s->zin = NULL;
        s->zin_cap = 0;
        if (sd_mul_size((size_t)zin_rows, s->per, &bytes) ||
            sd_mul_size(bytes, sizeof(float), &bytes) || !(s->zin = malloc(bytes))) {
            free_buffers(s);
            return sd_fail(&s->err, SIMDIFF_ERR_NOMEM,
                           "simdiff_sampler_run: out of memory for %d network "
                           "rows",
                           zin_rows);
        }
        s->zin_cap = zin_rows;
    }
    return SIMDIFF_OK;
}

/* ---- one network call --------------------------------------------------- */

/* One point of a run: its log-SNR and (α, σ). */
typedef struct run_point {
    double lam, alpha, sigma;
} run_point;

/* x̂ of images [a, a + m) at point p into s->xh rows a.. (clipped if asked).
 * guided: evaluate cond (labels) and uncond (null class) in one call of 2m
 * rows and combine them with the guidance weight. step, total: for
 * messages. */
static simdiff_status eval_chunk(simdiff_sampler *s, int a, int m, const run_point *p,
                                 int step, int total_steps, const int *labels,
                                 const float *cond, const float *ctx, const int *tok,
                                 const int *ctx_len, int guided)
{
    sd_ctx *c = s->ctx;
    const simdiff_model_config *mc = &s->m->cfg;
    const size_t P = s->per;
    const int rows = guided ? 2 * m : m;
    float *zrows = s->z + (size_t)a * P;
    if (guided) {
        memcpy(s->zin, zrows, (size_t)m * P * sizeof(float));
        memcpy(s->zin + (size_t)m * P, zrows, (size_t)m * P * sizeof(float));
        zrows = s->zin;
    }
    for (int r = 0; r < rows; r++) {
        s->lam_row[r] = p->lam;
        s->lab_row[r] = (r < m && labels) ? labels[a + r] : -1;
    }
    const size_t D = (size_t)mc->cond_dim;
    if (cond) { /* rows of the guided second half: zeros */
        memcpy(s->cond_row, cond + (size_t)a * D, (size_t)m * D * sizeof(float));
        if (rows > m)
            memset(s->cond_row + (size_t)m * D, 0, (size_t)(rows - m) * D * sizeof(float));
    }
    if (ctx) { /* rows of the guided second half: the null context (length 0) */
        const size_t X = (size_t)mc->ctx_len * (size_t)mc->ctx_dim;
        memcpy(s->ctx_row, ctx + (size_t)a * X, (size_t)m * X * sizeof(float));
        for (int r = 0; r < rows; r++)
            s->ctxl_row[r] = r >= m ? 0 : ctx_len ? ctx_len[a + r] : mc->ctx_len;
    }
    if (tok) { /* prompts: the same, with token ids */
        const size_t T = (size_t)mc->ctx_len;
        memcpy(s->tok_row, tok + (size_t)a * T, (size_t)m * T * sizeof(int));
        for (int r = 0; r < rows; r++)
            s->ctxl_row[r] = r >= m ? 0 : ctx_len[a + r];
    }
    sd_ctx_reset(c);
    const int64_t shape[4] = {rows, mc->channels, mc->image_size, mc->image_size};
    sd_tensor *zt = sd_wrap(c, 4, shape, zrows); /* read only */
    const int *lab = mc->num_classes > 0 ? s->lab_row : NULL;
    const float *cnd = cond ? s->cond_row : NULL;
    sd_tensor *y = !zt  ? NULL
                   : tok ? sd_model_graph_tok(s->m, c, zt, s->lam_row, lab, cnd, s->tok_row,
                                              s->ctxl_row)
                         : sd_model_graph_ctx(s->m, c, zt, s->lam_row, lab, cnd,
                                              ctx ? s->ctx_row : NULL, ctx ? s->ctxl_row : NULL);
    if (!y) {
        simdiff_status st = sd_ctx_status(c);
        if (!st)
            st = SIMDIFF_ERR_INTERNAL;
        if (st == SIMDIFF_ERR_CANCELLED) /* the op it stopped in is no business of the caller */
            sd_fail(&s->err, st, "simdiff_sampler_run: cancelled at step %d of %d", step,
                    total_steps);
        else
            sd_fail(&s->err, st, "simdiff_sampler_run: step %d of %d: %s", step,
                    total_steps, sd_ctx_errmsg(c));
        sd_ctx_reset(c);
        return st;
    }
    float *o = y->data; /* (rows, P), ours to overwrite */
    const size_t nm = (size_t)m * P;
    if (guided) {
        /* o[0..m) = uncond + w·(cond − uncond) */
        const double w = s->cfg.guidance;
        const float *u = o + nm;
        int64_t total = (int64_t)nm;
#pragma omp parallel for schedule(static) if (total > PAR_MIN)
        for (int64_t j = 0; j < total; j++)
            o[j] = (float)((double)u[j] + w * ((double)o[j] - (double)u[j]));
    }
    int bad = 0;
    {
        int64_t total = (int64_t)nm;
#pragma omp parallel for schedule(static) reduction(| : bad) if (total > PAR_MIN)
        for (int64_t j = 0; j < total; j++)
            bad |= !isfinite(o[j]);
    }
    if (bad) {
        sd_ctx_reset(c);
        return sd_fail(&s->err, SIMDIFF_ERR_NUMERIC,
                       "simdiff_sampler_run: the model output is not finite at "
                       "step %d of %d (log-SNR %g)",
                       step, total_steps, p->lam);
    }
    /* The parametrization in one place: the library's helpers. */
    for (int i = 0; i < m; i++) {
        s->al_img[i] = p->alpha;
        s->sg_img[i] = p->sigma;
    }
    float *x = s->xh + (size_t)a * P;
    const float *z = s->z + (size_t)a * P;
    simdiff_status st =
        mc->prediction == SIMDIFF_PRED_EPS
            ? simdiff_eps_to_x((size_t)m, P, z, o, s->al_img, s->sg_img, x)
            : simdiff_v_to_x_eps((size_t)m, P, z, o, s->al_img, s->sg_img, x, NULL);
    sd_ctx_reset(c);
    if (st)
        return sd_fail(&s->err, st, "simdiff_sampler_run: step %d: %s", step,
                       simdiff_last_error());
    if (s->cfg.clip_x) {
        int64_t total = (int64_t)nm;
#pragma omp parallel for schedule(static) if (total > PAR_MIN)
        for (int64_t j = 0; j < total; j++)
            x[j] = x[j] < -1.0f ? -1.0f : (x[j] > 1.0f ? 1.0f : x[j]);
    }
    return SIMDIFF_OK;
}

/* ---- edits -------------------------------------------------------------- */

const sd_struct_layout sd_edit_layout = {
    "simdiff_edit",
    SD_FIELD_END(simdiff_edit, resample_jump), /* v1 */
    SD_FIELD_END(simdiff_edit, resample_jump), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_edit_init_sized(simdiff_edit *out, size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_edit_init: e is NULL");
    simdiff_edit e;
    memset(&e, 0, sizeof e);
    e.init_count = 1;
    e.strength = 1.0;
    e.mask_count = 1;
    e.mask_channels = 1;
    e.resample = 1;
    e.resample_jump = 1;
    return sd_struct_write(&sd_edit_layout, out, size, &e, "simdiff_edit_init");
}

uint64_t sd_sampler_edit_stream(int kind, uint64_t image, uint64_t point, uint64_t visit)
{
    uint64_t h = sd_rng_mix(SD_SAMPLER_EDIT_TAG, (uint64_t)kind);
    return sd_rng_mix(sd_rng_mix(sd_rng_mix(h, image), point), visit);
}

/*
 * The plan of a run: its points and the path through them.
 *
 * Points r = 0..R: point 0 is the start (t = strength; the grid's t_0 = 1
 * for a plain run), points 1..R are the grid points k0..K below it (grid
 * index g(r) = k0 − 1 + r, so a plain run has k0 = 1 and g(r) = r). The
 * path visits points: a move r → r + 1 is a step (one network evaluation),
 * a move r → r − jump is a RePaint jump (noise only). Without resampling
 * the path is 0, 1, ..., R.
 */
typedef struct run_plan {
    int R, k0;
    int from_noise;   /* strength 1: point 0 is t = 1 and z starts as ε */
    run_point *pt;    /* (R + 1) */
    int *path, len;   /* path[0] = 0, path[len − 1] = R */
    int evals;        /* steps on the path */
} run_plan;

static void plan_free(run_plan *p)
{
    free(p->pt);
    free(p->path);
    memset(p, 0, sizeof *p);
}

/* The counts of a plan (no allocation): R, k0, the steps and moves. */
static simdiff_status plan_size(simdiff_sampler *s, const simdiff_edit *e, int *R, int *k0,
                                int *evals, int *len, double *lam_start, const char *fn)
{
    const int K = s->steps;
    double strength = e ? e->strength : 1.0;
    *k0 = 1;
    *lam_start = s->lam[0];
    if (strength < 1.0) {
        *lam_start = sd_schedule_logsnr1(s->sched, strength);
        int k = 1;
        while (k < K && !(s->lam[k] > *lam_start))
            k++;
        *k0 = k;
    }
    *R = K - *k0 + 1;
    int r = e ? e->resample : 1, j = e ? e->resample_jump : 1;
    int64_t ev = *R, moves = *R;
    if (r > 1) {
        if (j > *R - 1)
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: resample_jump is %d but this run has %d steps: "
                           "a jump must be shorter than the run (at most %d)",
                           fn, j, *R, *R - 1);
        int64_t points = (*R - 1) / j; /* jump points j, 2j, .. < R */
        ev += points * (int64_t)(r - 1) * j;
        moves += points * (int64_t)(r - 1) * (j + 1);
        if (ev > SIMDIFF_SAMPLER_MAX_STEPS)
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: resample %d with jump %d makes %lld network "
                           "evaluations (at most %d)",
                           fn, r, j, (long long)ev, SIMDIFF_SAMPLER_MAX_STEPS);
    }
    *evals = (int)ev;
    *len = (int)moves + 1;
    return SIMDIFF_OK;
}

static simdiff_status plan_make(simdiff_sampler *s, const simdiff_edit *e, run_plan *p,
                                const char *fn)
{
    memset(p, 0, sizeof *p);
    double lam_start;
    simdiff_status st = plan_size(s, e, &p->R, &p->k0, &p->evals, &p->len, &lam_start, fn);
    if (st)
        return st;
    const int R = p->R, r = e ? e->resample : 1, j = e ? e->resample_jump : 1;
    p->pt = malloc((size_t)(R + 1) * sizeof *p->pt);
    p->path = malloc((size_t)p->len * sizeof *p->path);
    int *left = r > 1 ? calloc((size_t)R + 1, sizeof *left) : NULL;
    if (!p->pt || !p->path || (r > 1 && !left)) {
        free(left);
        plan_free(p);
        return sd_fail(&s->err, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    }
    p->pt[0].lam = lam_start;
    p->from_noise = !(e && e->strength < 1.0);
    if (p->from_noise) {
        p->pt[0].alpha = s->alpha[0];
        p->pt[0].sigma = s->sigma[0];
    } else {
        sd_alpha_sigma_from_logsnr(lam_start, &p->pt[0].alpha, &p->pt[0].sigma);
    }
    for (int q = 1; q <= R; q++) {
        int g = p->k0 - 1 + q;
        p->pt[q] = (run_point){s->lam[g], s->alpha[g], s->sigma[g]};
    }
    if (left)
        for (int q = j; q < R; q += j)
            left[q] = r - 1;
    int pos = 0, n = 0;
    p->path[n++] = 0;
    while (pos < R) {
        p->path[n++] = ++pos;
        if (left && pos < R && left[pos] > 0) {
            left[pos]--;
            pos -= j;
            p->path[n++] = pos;
        }
    }
    free(left);
    return SIMDIFF_OK;
}

/* Checks the settings of an edit (e read with sd_struct_read) for a run of
 * n images (n = 0: the settings only, not the per-run counts). */
static simdiff_status check_edit_settings(simdiff_sampler *s, const simdiff_edit *e, int n,
                                          const char *fn)
{
    const simdiff_model_config *mc = &s->m->cfg;
    if (!(e->strength > 0.0 && e->strength <= 1.0))
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: strength is %g; expected 0 < strength <= 1", fn, e->strength);
    if (!e->init && e->strength < 1.0)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: strength %g < 1 starts from an image, but init is NULL", fn,
                       e->strength);
    if (!e->init && e->mask)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: a mask needs an init image (the pixels it keeps); init is NULL",
                       fn);
    if (e->resample < 1 || e->resample_jump < 1)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: resample is %d and resample_jump %d; expected both >= 1 "
                       "(resample 1 = off)",
                       fn, e->resample, e->resample_jump);
    if (e->resample > 1 && !e->mask)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: resample %d harmonizes an inpainting's seams and needs a "
                       "mask; mask is NULL",
                       fn, e->resample);
    if (e->init) {
        if (e->channels != mc->channels || e->height != mc->image_size ||
            e->width != mc->image_size)
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: the init image is %d x %d x %d (channels x height x "
                           "width) but the model makes %d x %d x %d",
                           fn, e->channels, e->height, e->width, mc->channels,
                           mc->image_size, mc->image_size);
        if (n > 0 && e->init_count != 1 && e->init_count != n)
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: init_count is %d; expected 1 (one image for all) or n = %d",
                           fn, e->init_count, n);
    }
    if (e->mask) {
        if (n > 0 && e->mask_count != 1 && e->mask_count != n)
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: mask_count is %d; expected 1 (one mask for all) or n = %d",
                           fn, e->mask_count, n);
        if (e->mask_channels != 1 && e->mask_channels != mc->channels)
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: mask_channels is %d; expected 1 or the model's %d", fn,
                           e->mask_channels, mc->channels);
    }
    return SIMDIFF_OK;
}

/* Every value of the init images finite in [−1, 1], of the masks in [0, 1]. */
static simdiff_status check_edit_values(simdiff_sampler *s, const simdiff_edit *e,
                                        const char *fn)
{
    const size_t HW = (size_t)e->height * (size_t)e->width;
    if (e->init) {
        size_t cnt = (size_t)e->init_count * s->per;
        for (size_t j = 0; j < cnt; j++)
            if (!(e->init[j] >= -1.0f && e->init[j] <= 1.0f))
                return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: init[%zu] (image %zu) is %g; images are in [-1, 1]",
                               fn, j, j / s->per, (double)e->init[j]);
    }
    if (e->mask) {
        size_t per = (size_t)e->mask_channels * HW, cnt = (size_t)e->mask_count * per;
        for (size_t j = 0; j < cnt; j++)
            if (!(e->mask[j] >= 0.0f && e->mask[j] <= 1.0f))
                return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: mask[%zu] (mask %zu) is %g; expected 0..1 (1 = keep)",
                               fn, j, j / per, (double)e->mask[j]);
    }
    return SIMDIFF_OK;
}

/* The edit's buffers of image i (init, mask: NULL without). */
static const float *init_of(const simdiff_edit *e, size_t P, int i)
{
    return e->init + (e->init_count == 1 ? 0 : (size_t)i * P);
}
static const float *mask_of(const simdiff_edit *e, size_t HW, int i)
{
    return e->mask + (e->mask_count == 1 ? 0 : (size_t)i * HW * (size_t)e->mask_channels);
}

/* dst = m·a + (1 − m)·b for images 0..n−1 (exactly a where m = 1, b where
 * m = 0); a(i) = init of image i. dst may alias b. */
static void composite(const simdiff_sampler *s, const simdiff_edit *e, int n,
                      const float *a_noise_or_null, double al, double sg, const float *b,
                      float *dst)
{
    const size_t P = s->per;
    const int C = s->m->cfg.channels;
    const size_t HW = P / (size_t)C;
    for (int i = 0; i < n; i++) {
        const float *x0 = init_of(e, P, i), *mk = mask_of(e, HW, i);
        const float *eps = a_noise_or_null ? a_noise_or_null + (size_t)i * P : NULL;
        const float *bi = b + (size_t)i * P;
        float *di = dst + (size_t)i * P;
        for (int c = 0; c < C; c++) {
            const float *mc = mk + (e->mask_channels == 1 ? 0 : (size_t)c * HW);
            size_t o = (size_t)c * HW;
            for (size_t q = 0; q < HW; q++) {
                float m = mc[q];
                float a = eps ? (float)(al * (double)x0[o + q] + sg * (double)eps[o + q])
                              : x0[o + q];
                di[o + q] = m == 1.0f ? a
                          : m == 0.0f ? bi[o + q]
                                      : (float)((double)m * a + (1.0 - (double)m) * bi[o + q]);
            }
        }
    }
}

/* ---- run ---------------------------------------------------------------- */

static simdiff_status check_run_args(simdiff_sampler *s, int n, const int *labels,
                                     const float *out)
{
    const char *fn = "simdiff_sampler_run";
    if (n < 1)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: n is %d; expected >= 1", fn, n);
    if (!out)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    const int K = s->m->cfg.num_classes;
    if (labels && K <= 0)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the model is unconditional (num_classes = 0); pass "
                       "labels = NULL",
                       fn);
    if (labels)
        for (int i = 0; i < n; i++)
            if (labels[i] < -1 || labels[i] >= K)
                return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: labels[%d] = %d is out of range; expected "
                               "0..%d, or -1 for none",
                               fn, i, labels[i], K - 1);
    return SIMDIFF_OK;
}

static int cancelled(const simdiff_sampler *s)
{
    return atomic_load_explicit(&s->cancel, memory_order_relaxed) != 0;
}

/* Image i's noise of (kind, grid point g, visit v) into rows of buf: the
 * plain streams for the start and each point's first step (kind STEP,
 * v = 0), edit streams otherwise. */
static void fill_noise(int n, size_t P, const run_opts *o, int kind, int g, int v, float *buf)
{
    for (int i = 0; i < n; i++) {
        uint64_t seed, idx;
        key_of(o, i, &seed, &idx);
        uint64_t stream = kind == SD_EDIT_NOISE_STEP && v == 0
                              ? sd_sampler_noise_stream(idx, (uint64_t)g)
                              : sd_sampler_edit_stream(kind, idx, (uint64_t)g, (uint64_t)v);
        sd_rng_normal(seed, stream, 0, P, buf + (size_t)i * P);
    }
}

/* The starting noise of images 0..n−1 into buf (n, P): the caller's
 * latents, or each image's stream (i, 0), blended with its variation
 * noise (tmp: P floats of scratch). */
static void start_noise(int n, size_t P, const run_opts *o, float *buf, float *tmp)
{
    if (o->latents) {
        memcpy(buf, o->latents, (size_t)n * P * sizeof(float));
        return;
    }
    fill_noise(n, P, o, SD_EDIT_NOISE_STEP, 0, 0, buf);
    if (!(o->vstr > 0.0))
        return;
    for (int i = 0; i < n; i++) {
        uint64_t seed, idx;
        key_of(o, i, &seed, &idx);
        (void)seed;
        uint64_t vs = o->vseeds ? o->vseeds[i] : o->vseed;
        sd_rng_normal(vs, sd_sampler_noise_stream(idx, 0), 0, P, tmp);
        float *a = buf + (size_t)i * P;
        if (o->vstr >= 1.0) {
            memcpy(a, tmp, P * sizeof(float));
            continue;
        }
        double ab = 0, aa = 0, bb = 0;
        for (size_t j = 0; j < P; j++) {
            ab += (double)a[j] * (double)tmp[j];
            aa += (double)a[j] * (double)a[j];
            bb += (double)tmp[j] * (double)tmp[j];
        }
        double c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1.0;
        c = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
        const double th = acos(c), st = sin(th), v = o->vstr;
        double w0 = 1.0 - v, w1 = v;
        if (st >= 1e-6) {
            w0 = sin((1.0 - v) * th) / st;
            w1 = sin(v * th) / st;
        }
        for (size_t j = 0; j < P; j++)
            a[j] = (float)(w0 * (double)a[j] + w1 * (double)tmp[j]);
    }
}

/* Whether a step at log-SNR lam uses guidance (inside the interval, if
 * any); outside it the step runs the conditional model alone. */
static int guided_at(const simdiff_sampler_config *c, double lam)
{
    return !c->guidance_interval ||
           (lam >= c->guidance_logsnr_min && lam <= c->guidance_logsnr_max);
}

static simdiff_status run(simdiff_sampler *s, int n, const int *labels, const run_opts *o,
                          const simdiff_edit *e, const run_plan *pl, float *out)
{
    const size_t P = s->per;
    const int method = (int)s->cfg.method;
    const double w = s->cfg.guidance;
    /* Guidance needs the second (unconditional) pass only when it changes
     * anything: w ∉ {0, 1} and some label present. w = 0 runs uncond only. */
    const int cond_model = s->m->cfg.num_classes > 0;
    const int has_cond = o->cond != NULL; /* checked: the model has cond_dim */
    const int has_ctx = o->ctx || o->tok; /* checked: the model has ctx_dim  */
    const int conditioned = (cond_model && labels) || has_cond || has_ctx;
    const int guided = conditioned && w != 1.0 && w != 0.0;
    const int chunk = s->cfg.batch_chunk > 0 && s->cfg.batch_chunk < n
                          ? s->cfg.batch_chunk
                          : n;
    const int masked = e && e->mask;
    simdiff_status st = grow(s, n, guided ? 2 * chunk : chunk, guided ? 2 * chunk : 0);
    if (st)
        return st;
    int *visits = calloc((size_t)pl->R + 1, sizeof *visits);
    if (!visits)
        return sd_fail(&s->err, SIMDIFF_ERR_NOMEM, "simdiff_sampler_run: out of memory");

    /* The start: z = ε (stream (i, 0)) at t = 1, or α·x₀ + σ·ε below. */
    start_noise(n, P, o, s->z, s->tmp);
    if (!pl->from_noise) {
        const double al = pl->pt[0].alpha, sg = pl->pt[0].sigma;
        for (int i = 0; i < n; i++) {
            const float *x0 = init_of(e, P, i);
            float *z = s->z + (size_t)i * P;
            for (size_t j = 0; j < P; j++)
                z[j] = (float)(al * (double)x0[j] + sg * (double)z[j]);
        }
    }
    visits[0] = 1;

    const int64_t total = (int64_t)n * (int64_t)P;
    int step = 0, have_prev = 0;
    for (int q = 1; q < pl->len && !st; q++) {
        const int from = pl->path[q - 1], to = pl->path[q];
        const int g = pl->k0 - 1 + to; /* grid index of `to` (noise keys) */
        const int v = visits[to]++;
        if (cancelled(s)) {
            st = sd_fail(&s->err, SIMDIFF_ERR_CANCELLED,
                         "simdiff_sampler_run: cancelled at step %d of %d", step + 1,
                         pl->evals);
            break;
        }
        if (to < from) { /* a RePaint jump: noise z forward from `from` to `to` */
            const run_point *hi = &pl->pt[to], *lo = &pl->pt[from];
            const double a = hi->alpha / lo->alpha;
            const double sd = hi->sigma * sqrt(-expm1(hi->lam - lo->lam));
            fill_noise(n, P, o, SD_EDIT_NOISE_JUMP, g, v, s->noise);
            float *z = s->z;
            const float *np = s->noise;
#pragma omp parallel for schedule(static) if (total > PAR_MIN)
            for (int64_t j = 0; j < total; j++)
                z[j] = (float)(a * (double)z[j] + sd * (double)np[j]);
            have_prev = 0;
            continue;
        }
        step++;
        /* The thread count follows the cores free now (sd_threads_for). */
        if (step > 1 && (st = sd_apply_threads_n(s->cfg.num_threads))) {
            sd_fail_keep(&s->err, st);
            break;
        }
        /* This step's weight: w, or 1 outside a guidance interval. */
        const double ws = guided_at(&s->cfg, pl->pt[from].lam) ? w : 1.0;
        const int *eval_labels = (cond_model && labels && ws != 0.0) ? labels : NULL;
        const float *eval_cond = (has_cond && ws != 0.0) ? o->cond : NULL;
        const float *eval_ctx = (has_ctx && ws != 0.0) ? o->ctx : NULL;
        const int *eval_tok = (has_ctx && ws != 0.0) ? o->tok : NULL;
        const int guided_step = conditioned && ws != 1.0 && ws != 0.0;
        for (int a = 0; a < n; a += chunk) {
            int m = n - a < chunk ? n - a : chunk;
            if ((st = eval_chunk(s, a, m, &pl->pt[from], step, pl->evals, eval_labels,
                                 eval_cond, eval_ctx, eval_tok, o->tok ? o->tok_len : o->ctx_len,
                                 guided_step)))
                break;
        }
        if (st)
            break;
        const int last = to == pl->R;
        if (!last) {
            double cf[4];
            sd_sampler_step_coefs(method, s->cfg.eta, !have_prev,
                                  have_prev ? pl->pt[from - 1].lam : 0.0,
                                  pl->pt[from].lam, pl->pt[to].lam, cf);
            const float *np = NULL;
            if (cf[3] != 0.0) {
                fill_noise(n, P, o, SD_EDIT_NOISE_STEP, g, v, s->noise);
                np = s->noise;
            }
            float *z = s->z;
            const float *x = s->xh, *xp = s->xprev;
            const double a0 = cf[0], a1 = cf[1], a2 = cf[2], a3 = cf[3];
#pragma omp parallel for schedule(static) if (total > PAR_MIN)
            for (int64_t j = 0; j < total; j++) {
                double u = a0 * (double)z[j] + a1 * (double)x[j];
                if (a2 != 0.0)
                    u += a2 * (double)xp[j];
                if (np)
                    u += a3 * (double)np[j];
                z[j] = (float)u;
            }
            if (masked) { /* the kept region, noised to `to` */
                fill_noise(n, P, o, SD_EDIT_NOISE_KNOWN, g, v, s->noise);
                composite(s, e, n, s->noise, pl->pt[to].alpha, pl->pt[to].sigma, s->z,
                          s->z);
            }
        }
        if (s->progress) {
            const float *preview = NULL;
            if (s->preview_every > 0 && step % s->preview_every == 0) {
                preview = s->xh;
                if (masked) {
                    composite(s, e, n, NULL, 0, 0, s->xh, s->noise);
                    preview = s->noise;
                }
            }
            if (s->progress(s->progress_user, step, pl->evals, preview)) {
                st = sd_fail(&s->err, SIMDIFF_ERR_CANCELLED,
                             "simdiff_sampler_run: stopped by the progress "
                             "callback at step %d of %d",
                             step, pl->evals);
                break;
            }
        }
        if (last) {
            if (masked)
                composite(s, e, n, NULL, 0, 0, s->xh, out);
            else
                memcpy(out, s->xh, (size_t)total * sizeof(float));
        } else if (method == SIMDIFF_SAMPLER_DPMPP_2M) {
            float *tmp = s->xprev;
            s->xprev = s->xh;
            s->xh = tmp;
            have_prev = 1;
        }
    }
    free(visits);
    return st;
}

/* The edit argument of the public calls: NULL, or read into *buf. */
static simdiff_status read_edit(simdiff_sampler *s, const simdiff_edit *e, simdiff_edit *buf,
                                const simdiff_edit **out, const char *fn)
{
    *out = NULL;
    if (!e)
        return SIMDIFF_OK;
    simdiff_status st = sd_struct_read(&sd_edit_layout, buf, e, fn);
    if (st)
        return sd_fail_keep(&s->err, st);
    *out = buf;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_sampler_edit_evals(simdiff_sampler *s,
                                                      const simdiff_edit *edit,
                                                      int *evals)
{
    const char *fn = "simdiff_sampler_edit_evals";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: sampler is NULL", fn);
    if (!evals)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG, "%s: evals is NULL", fn);
    if (atomic_load(&s->running))
        return misuse(s, "simdiff_sampler_edit_evals: the sampler is running");
    simdiff_edit buf;
    const simdiff_edit *e;
    simdiff_status st = read_edit(s, edit, &buf, &e, fn);
    if (!st && e)
        st = check_edit_settings(s, e, 0, fn);
    int R, k0, len;
    double lam;
    if (!st)
        st = plan_size(s, e, &R, &k0, evals, &len, &lam, fn);
    return st;
}

const sd_struct_layout sd_run_options_layout = {
    "simdiff_run_options",
    SD_FIELD_END(simdiff_run_options, cond), /* v1 */
    SD_FIELD_END(simdiff_run_options, prompts), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_run_options_init_sized(simdiff_run_options *out, size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_run_options_init: opts is NULL");
    simdiff_run_options o;
    memset(&o, 0, sizeof o);
    return sd_struct_write(&sd_run_options_layout, out, size, &o, "simdiff_run_options_init");
}

/* The options argument (NULL = none) read and checked into *o. */
static simdiff_status read_opts(simdiff_sampler *s, int n, uint64_t seed,
                                const simdiff_run_options *opts, run_opts *o, const char *fn)
{
    memset(o, 0, sizeof *o);
    o->seed = seed;
    if (!opts)
        return SIMDIFF_OK;
    simdiff_run_options r;
    simdiff_status st = sd_struct_read(&sd_run_options_layout, &r, opts, fn);
    if (st)
        return sd_fail_keep(&s->err, st);
    if (!(r.variation_strength >= 0.0 && r.variation_strength <= 1.0))
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: variation_strength is %g; expected 0 (off) .. 1", fn,
                       r.variation_strength);
    if (r.latents && r.variation_strength > 0.0)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: latents are the starting noise itself; variation_strength "
                       "must be 0 with them (it is %g)",
                       fn, r.variation_strength);
    const size_t D = (size_t)s->m->cfg.cond_dim;
    if (r.cond && D == 0)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: cond is given but the model takes no conditioning vector "
                       "(cond_dim = 0); pass NULL",
                       fn);
    if ((st = sd_model_check_context(s->m, &s->err, fn, n, r.context, r.context_len)))
        return st;
    if (r.prompts && r.context)
        return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: prompts and a context given; pass one of them", fn);
    if (r.prompts && n > 0) { /* tokenized into the sampler's buffer */
        if (s->m->cfg.text_vocab == 0)
            return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: prompts given, but the model has no text encoder "
                           "(text_vocab 0)",
                           fn);
        const size_t T = (size_t)s->m->cfg.ctx_len;
        if (n > s->ptok_n) {
            free(s->ptok);
            s->ptok_n = 0;
            if (!(s->ptok = malloc((size_t)n * (T + 1) * sizeof(int))))
                return sd_fail(&s->err, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
            s->ptok_n = n;
        }
        if ((st = sd_model_tokenize_prompts(s->m, &s->err, fn, n, r.prompts, s->ptok,
                                            s->ptok + (size_t)n * T)))
            return st;
        o->tok = s->ptok;
        o->tok_len = s->ptok + (size_t)n * T;
    }
    if (n > 0 && r.latents) {
        const size_t cnt = (size_t)n * s->per;
        for (size_t j = 0; j < cnt; j++)
            if (!isfinite(r.latents[j]))
                return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: latents[%zu] (image %zu) is %g; expected finite values",
                               fn, j, j / s->per, (double)r.latents[j]);
    }
    if (n > 0 && r.cond) {
        const size_t cnt = (size_t)n * D;
        for (size_t j = 0; j < cnt; j++)
            if (!isfinite(r.cond[j]))
                return sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: cond[%zu] (image %zu) is %g; expected finite values",
                               fn, j, j / D, (double)r.cond[j]);
    }
    o->seeds = r.seeds;
    o->first = r.first_index;
    o->vstr = r.variation_strength;
    o->vseed = r.variation_seed;
    o->vseeds = r.variation_seeds;
    o->latents = r.latents;
    o->cond = r.cond;
    o->ctx = r.context;
    o->ctx_len = r.context_len;
    return SIMDIFF_OK;
}

/* Claim s for a call that uses its buffers; a misuse when it runs. */
static simdiff_status claim(simdiff_sampler *s, const char *fn)
{
    int idle = 0;
    if (atomic_compare_exchange_strong(&s->running, &idle, 1))
        return SIMDIFF_OK;
    char msg[256];
    snprintf(msg, sizeof msg,
             "%s: the sampler is already running (on another thread, or called "
             "from its own progress callback); use one sampler per thread",
             fn);
    return misuse(s, msg);
}

/* A failure written to s->err is the latest: errmsg shows it. */
static simdiff_status release(simdiff_sampler *s, simdiff_status st)
{
    if (st)
        atomic_store(&s->merr_latest, 0);
    atomic_store(&s->running, 0);
    return st;
}

SIMDIFF_API simdiff_status simdiff_sampler_run_with(simdiff_sampler *s, int n,
                                                    const int *labels, uint64_t seed,
                                                    const simdiff_edit *edit,
                                                    const simdiff_run_options *opts,
                                                    float *out)
{
    const char *fn = "simdiff_sampler_run";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: sampler is NULL", fn);
    simdiff_status st = claim(s, fn);
    if (st)
        return st;
    /* A cancel() from before this point is discarded, unless sticky (see
     * the header). */
    if (!s->sticky_cancel)
        atomic_store_explicit(&s->cancel, 0, memory_order_relaxed);
    simdiff_edit buf;
    const simdiff_edit *e = NULL;
    run_plan plan = {0};
    run_opts o;
    st = check_run_args(s, n, labels, out);
    if (!st)
        st = read_opts(s, n, seed, opts, &o, fn);
    if (!st)
        st = read_edit(s, edit, &buf, &e, fn);
    if (!st && e && !(st = check_edit_settings(s, e, n, fn)))
        st = check_edit_values(s, e, fn);
    if (!st)
        st = plan_make(s, e, &plan, fn);
    /* The run reads the model's weights: not while a trainer step writes
     * them. */
    if (!st && (st = sd_model_use_begin(s->m, 0, "simdiff_sampler_run")))
        sd_fail_keep(&s->err, st);
    else if (!st) {
        if ((st = sd_model_ctx_precision(s->m, s->ctx, prec_of(&s->cfg))) ||
            (st = sd_threads_enter(s->cfg.num_threads, 1)))
            sd_fail_keep(&s->err, st);
        if (!st)
            st = run(s, n, labels, &o, e, &plan, out);
        sd_threads_leave();
        sd_model_use_end(s->m, 0);
    }
    plan_free(&plan);
    sd_ctx_reset(s->ctx);
    if (st == SIMDIFF_ERR_CANCELLED) /* a request is consumed by the run it stops */
        atomic_store_explicit(&s->cancel, 0, memory_order_relaxed);
    return release(s, st);
}

SIMDIFF_API simdiff_status simdiff_sampler_run_edit(simdiff_sampler *s, int n,
                                                    const int *labels, uint64_t seed,
                                                    const simdiff_edit *edit, float *out)
{
    return simdiff_sampler_run_with(s, n, labels, seed, edit, NULL, out);
}

SIMDIFF_API simdiff_status simdiff_sampler_initial_noise(simdiff_sampler *s, int n,
                                                         uint64_t seed,
                                                         const simdiff_run_options *opts,
                                                         float *out)
{
    const char *fn = "simdiff_sampler_initial_noise";
    if (!s)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: sampler is NULL", fn);
    simdiff_status st = claim(s, fn);
    if (st)
        return st;
    run_opts o;
    if (n < 1)
        st = sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG, "%s: n is %d; expected >= 1", fn, n);
    else if (!out)
        st = sd_fail(&s->err, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    if (!st)
        st = read_opts(s, n, seed, opts, &o, fn);
    if (!st)
        st = grow(s, 1, 1, 0);
    if (!st)
        start_noise(n, s->per, &o, out, s->tmp);
    return release(s, st);
}

SIMDIFF_API simdiff_status simdiff_sampler_run(simdiff_sampler *s, int n,
                                               const int *labels, uint64_t seed,
                                               float *out)
{
    return simdiff_sampler_run_edit(s, n, labels, seed, NULL, out);
}
