/* Progressive distillation with guidance folded in (include/simdiff/
 * distill.h, docs/distillation.md): a guided teacher's two DDIM steps
 * become the student's one. The student is trained by an internal trainer
 * (trainer.c: its checks, model claim, update, checkpoint sections); this
 * file adds the teacher, the targets and the loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "model/sampler_settings.h"
#include "ops/ops.h"
#include "schedule/schedule_internal.h"
#include "simdiff/distill.h"
#include "tensor/rng.h"
#include "train/trainer_internal.h"

#define MAX_STEPS 100000
#define CKPT_MAX_TEXT 65536

/* RNG streams of a step: (seed, mix(mix(mix(TAG, round), step), what)),
 * element = example (RNG_T) or example·P + j (RNG_EPS). */
#define DISTILL_TAG 0x64697374696c6cull /* "distill" */
enum { RNG_T = 1, RNG_EPS = 2 };

struct simdiff_distiller {
    simdiff_trainer *tr;    /* owned: trains the student */
    simdiff_model *student; /* the caller's */
    simdiff_model *teacher; /* owned copy */
    simdiff_distill_config cfg; /* cfg.teacher_steps: N of round 0 */
    int round, N;
    /* The record the students get (model_internal.h, "distilled"): the
     * first teacher's steps of the chain (this distiller's round-0 N, or
     * the chain's start when the first teacher was itself a student of
     * that chain) and the guidance folded in. */
    int chain_steps;
    double chain_guidance;
    int64_t total_steps;
    sd_ctx *tctx; /* the teacher's forward passes (no grad, no dropout) */
    /* Scratch for cap examples (rows of P floats; the teacher's input and
     * per-row arrays have 2·cap rows for guidance). */
    int cap;
    float *z, *zin, *z1, *xh, *tgt;
    double *u, *lam, *al, *sg, *lam1, *al1, *sg1, *al2, *sg2, *lam_row, *sw;
    int *idx, *lab, *lab_row;
    sd_err err;
};

const sd_struct_layout sd_distill_config_layout = {
    "simdiff_distill_config",
    SD_FIELD_END(simdiff_distill_config, weighting), /* v1 */
    SD_FIELD_END(simdiff_distill_config, weighting), /* the last field */
};
static const sd_struct_layout distill_stats_layout = {
    "simdiff_distill_stats",
    SD_FIELD_END(simdiff_distill_stats, lr), /* v1 */
    SD_FIELD_END(simdiff_distill_stats, lr), /* the last field */
};

SD_DEFINE_ENUM_NAMES(distill_weighting, simdiff_distill_weighting, "weighting",
                     {SIMDIFF_DISTILL_TRUNCATED_SNR, "truncated_snr", 0},
                     {SIMDIFF_DISTILL_SNR_PLUS_ONE, "snr_plus_one", 0})

SIMDIFF_API simdiff_status simdiff_distill_config_init_sized(simdiff_distill_config *out,
                                                             size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_distill_config_init: cfg is NULL");
    simdiff_distill_config c;
    memset(&c, 0, sizeof c);
    c.teacher_steps = 64;
    c.guidance = 1.0;
    c.seed = 0;
    c.precision = SIMDIFF_PRECISION_F32;
    c.num_threads = 0;
    c.weighting = SIMDIFF_DISTILL_TRUNCATED_SNR;
    return sd_struct_write(&sd_distill_config_layout, out, size, &c,
                           "simdiff_distill_config_init");
}

static simdiff_status config_check(const simdiff_distill_config *c, const char *fn)
{
#define BAD(...) return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, __VA_ARGS__)
    if (c->teacher_steps < 2 || c->teacher_steps > MAX_STEPS || c->teacher_steps % 2)
        BAD("%s: teacher_steps %d must be even and in 2..%d", fn, c->teacher_steps, MAX_STEPS);
    if (!(isfinite(c->guidance) && c->guidance >= 0))
        BAD("%s: guidance %g must be finite and >= 0", fn, c->guidance);
    if (c->weighting != SIMDIFF_DISTILL_TRUNCATED_SNR &&
        c->weighting != SIMDIFF_DISTILL_SNR_PLUS_ONE)
        BAD("%s: weighting %d is not SIMDIFF_DISTILL_TRUNCATED_SNR or _SNR_PLUS_ONE", fn,
            (int)c->weighting);
    if (c->precision != SIMDIFF_PRECISION_F32 && c->precision != SIMDIFF_PRECISION_BF16)
        BAD("%s: precision %d is not SIMDIFF_PRECISION_F32 or _BF16", fn, (int)c->precision);
    if (c->num_threads < 0 || c->num_threads > SD_MAX_THREADS)
        BAD("%s: num_threads %d must be 0 (the process-wide count) or 1..%d", fn,
            c->num_threads, SD_MAX_THREADS);
    return SIMDIFF_OK;
#undef BAD
}

/* The first field where two config texts ("k=v;k=v...") differ. */
static simdiff_status config_mismatch(const char *a, const char *b, const char *fn)
{
    while (*a || *b) {
        size_t la = strcspn(a, ";"), lb = strcspn(b, ";");
        if (la != lb || memcmp(a, b, la)) {
            size_t k = strcspn(a, "=");
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "%s: the teacher's and the student's configs differ at field "
                           "'%.*s' (teacher '%.*s', student '%.*s'); the student must have "
                           "the teacher's architecture",
                           fn, (int)(k < la ? k : la), a, (int)la, a, (int)lb, b);
        }
        a += la + (a[la] == ';');
        b += lb + (b[lb] == ';');
    }
    return SIMDIFF_OK;
}

/* The student's stored sampler settings for K = N/2 steps and its record. */
static simdiff_status store_settings(const simdiff_distiller *d, simdiff_model *m, int K)
{
    simdiff_sampler_config sc;
    memset(&sc, 0, sizeof sc);
    sd_sampler_settings_defaults(&sc);
    sc.method = SIMDIFF_SAMPLER_DDIM;
    sc.steps = K;
    sc.eta = 0;
    sc.guidance = 1;
    sc.clip_x = 0; /* the student learned the unclipped trajectory */
    sc.spacing = SIMDIFF_SPACING_UNIFORM_T;
    simdiff_status st = sd_sampler_settings_check(&sc, "simdiff_distiller");
    if (!st)
        st = sd_sampler_settings_format(&sc, m->sampler_defaults, sizeof m->sampler_defaults);
    sd_distilled rec = {K, d->chain_steps, d->chain_guidance};
    return st ? st : sd_distilled_set(m, &rec);
}

static void free_scratch(simdiff_distiller *d)
{
    void *p[] = {d->z,   d->zin, d->z1,  d->xh,   d->tgt,     d->u,  d->lam, d->al,
                 d->sg,  d->lam1, d->al1, d->sg1, d->al2,     d->sg2, d->lam_row,
                 d->sw,  d->idx, d->lab, d->lab_row};
    for (size_t i = 0; i < SD_ARRAY_LEN(p); i++)
        free(p[i]);
    d->z = d->zin = d->z1 = d->xh = d->tgt = NULL;
    d->u = d->lam = d->al = d->sg = d->lam1 = d->al1 = d->sg1 = d->al2 = d->sg2 = NULL;
    d->lam_row = d->sw = NULL;
    d->idx = d->lab = d->lab_row = NULL;
    d->cap = 0;
}

static int ensure_scratch(simdiff_distiller *d, int n)
{
    if (n <= d->cap)
        return 0;
    free_scratch(d);
    const simdiff_model_config *cf = &d->student->cfg;
    const size_t P = (size_t)cf->channels * cf->image_size * cf->image_size, N = (size_t)n;
    d->z = malloc(N * P * sizeof(float));
    d->zin = malloc(2 * N * P * sizeof(float));
    d->z1 = malloc(N * P * sizeof(float));
    d->xh = malloc(N * P * sizeof(float));
    d->tgt = malloc(N * P * sizeof(float));
    double **dv[] = {&d->u, &d->lam, &d->al, &d->sg, &d->lam1, &d->al1,
                     &d->sg1, &d->al2, &d->sg2, &d->sw};
    int ok = d->z && d->zin && d->z1 && d->xh && d->tgt;
    for (size_t i = 0; i < SD_ARRAY_LEN(dv); i++)
        ok &= (*dv[i] = malloc(N * sizeof(double))) != NULL;
    d->lam_row = malloc(2 * N * sizeof(double));
    d->idx = malloc(N * sizeof(int));
    d->lab = malloc(N * sizeof(int));
    d->lab_row = malloc(2 * N * sizeof(int));
    ok &= d->lam_row && d->idx && d->lab && d->lab_row;
    if (!ok) {
        free_scratch(d);
        return -1;
    }
    d->cap = n;
    return 0;
}

SIMDIFF_API void simdiff_distiller_destroy(simdiff_distiller *d)
{
    if (!d)
        return;
    simdiff_trainer_destroy(d->tr);
    simdiff_model_destroy(d->teacher);
    sd_ctx_destroy(d->tctx);
    free_scratch(d);
    free(d);
}

/* A distiller around a trainer of the student and an owned teacher (both
 * taken over, also on failure). */
static simdiff_status assemble(simdiff_distiller **out, simdiff_trainer *tr,
                               simdiff_model *student, simdiff_model *teacher,
                               const simdiff_distill_config *cfg, int round, int N,
                               int chain_steps, double chain_guidance)
{
    simdiff_distiller *d = calloc(1, sizeof *d);
    if (!d) {
        simdiff_trainer_destroy(tr);
        simdiff_model_destroy(teacher);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    }
    d->tr = tr;
    d->student = student;
    d->teacher = teacher;
    d->cfg = *cfg;
    d->cfg.struct_size = sizeof d->cfg;
    d->round = round;
    d->N = N;
    d->chain_steps = chain_steps;
    d->chain_guidance = chain_guidance;
    simdiff_status st = sd_ctx_create(&d->tctx);
    if (!st)
        st = store_settings(d, student, N / 2);
    if (st) {
        simdiff_distiller_destroy(d);
        return st;
    }
    *out = d;
    return SIMDIFF_OK;
}

/* A teacher model: m's config and schedule with the weights w. */
static simdiff_status make_teacher(simdiff_model **out, const simdiff_model *m,
                                   const float *w)
{
    simdiff_model *t;
    simdiff_status st = simdiff_model_create(&t, &m->cfg, 0);
    if (st)
        return st;
    if ((st = simdiff_model_set_schedule(t, m->schedule))) {
        simdiff_model_destroy(t);
        return st;
    }
    if (w)
        memcpy(t->data, w, (size_t)m->total * sizeof(float));
    *out = t;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_distiller_create(simdiff_distiller **out,
                                                    const simdiff_model *teacher,
                                                    simdiff_model *student,
                                                    const simdiff_distill_config *dcfg,
                                                    const simdiff_optimizer_config *ocfg)
{
    const char *fn = "simdiff_distiller_create";
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!teacher || !student)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                       teacher ? "student" : "teacher");
    if (teacher == student)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: teacher and student are the same model; load or copy the "
                       "teacher into a second model for the student", fn);
    simdiff_distill_config c;
    simdiff_optimizer_config oc;
    simdiff_status st;
    if (dcfg) {
        if ((st = sd_struct_read(&sd_distill_config_layout, &c, dcfg, fn)))
            return st;
    } else {
        simdiff_distill_config_init(&c);
    }
    if (ocfg && (st = sd_struct_read(&sd_optimizer_config_layout, &oc, ocfg, fn)))
        return st;
    if ((st = config_check(&c, fn)))
        return st;
    if (!teacher->schedule)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the teacher has no schedule (simdiff_model_set_schedule)", fn);
    /* A student as the teacher continues its chain when it is sampled at
     * the steps it was distilled for (else a new chain starts at N). Its
     * unconditional output was never trained: no second guidance. */
    int chain_steps = c.teacher_steps;
    double chain_guidance = c.guidance;
    sd_distilled td;
    if (sd_distilled_get(teacher, &td)) {
        if (td.guidance != 1 && c.guidance != 1)
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "%s: guidance %g on a teacher that is a distilled student with "
                           "guidance %g folded in: its unconditional output was never "
                           "trained; distil it with guidance 1",
                           fn, c.guidance, td.guidance);
        if (td.steps == c.teacher_steps)
            chain_steps = td.teacher_steps;
        chain_guidance = td.guidance * c.guidance; /* one of them is 1 */
    }
    char ta[2048], sa[2048];
    if ((st = sd_config_to_string(&teacher->cfg, ta, sizeof ta)) ||
        (st = sd_config_to_string(&student->cfg, sa, sizeof sa)) ||
        (st = config_mismatch(ta, sa, fn)))
        return st;
    if ((st = simdiff_precision_check(c.precision)))
        return st;
    simdiff_trainer_config tc;
    simdiff_trainer_config_init(&tc);
    tc.label_dropout = 0;
    tc.seed = c.seed;
    tc.precision = c.precision;
    tc.num_threads = c.num_threads;
    simdiff_trainer *tr;
    if ((st = sd_trainer_new(&tr, student, teacher->schedule, &tc, ocfg ? &oc : NULL)))
        return st;
    simdiff_model *tm;
    if ((st = make_teacher(&tm, teacher, teacher->data))) {
        simdiff_trainer_destroy(tr);
        return st;
    }
    return assemble(out, tr, student, tm, &c, 0, c.teacher_steps, chain_steps, chain_guidance);
}

SIMDIFF_API const char *simdiff_distiller_errmsg(const simdiff_distiller *d)
{
    return d ? d->err.msg : "";
}

SIMDIFF_API simdiff_optimizer *simdiff_distiller_optimizer(simdiff_distiller *d)
{
    return d ? d->tr->opt : NULL;
}

SIMDIFF_API simdiff_status simdiff_distiller_stats_get(const simdiff_distiller *d,
                                                       simdiff_distill_stats *st)
{
    if (!d || !st)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_distiller_stats_get: NULL argument");
    simdiff_distill_stats s;
    memset(&s, 0, sizeof s);
    s.round = d->round;
    s.teacher_steps = d->N;
    s.student_steps = d->N / 2;
    s.guidance = d->cfg.guidance;
    s.step = d->tr->step;
    s.skipped = d->tr->skipped;
    s.total_steps = d->total_steps;
    s.last_loss = d->tr->last_loss;
    s.lr = simdiff_optimizer_lr(d->tr->opt);
    return sd_struct_write(&distill_stats_layout, st, st->struct_size, &s,
                           "simdiff_distiller_stats_get");
}

/* ---- the step ----------------------------------------------------------- */

static double lam_at(const simdiff_distiller *d, int j)
{
    /* The sampler's uniform-t grid point t = j/N (t = 1: λ(1)). */
    return sd_schedule_logsnr1(d->teacher->schedule, (double)j / d->N);
}

/* The teacher's x̂ (guided) of the n rows of z at log-SNR lam (α al, σ sg
 * per example) into d->xh. */
static simdiff_status teacher_x(simdiff_distiller *d, int n, const float *z,
                                const double *lam, const double *al, const double *sg)
{
    simdiff_model *m = d->teacher;
    const simdiff_model_config *cf = &m->cfg;
    const size_t P = (size_t)cf->channels * cf->image_size * cf->image_size;
    const double w = d->cfg.guidance;
    const int cls = cf->num_classes > 0;
    const int guided = cls && w != 1.0 && w != 0.0;
    const int rows = guided ? 2 * n : n;
    memcpy(d->zin, z, (size_t)n * P * sizeof(float));
    if (guided)
        memcpy(d->zin + (size_t)n * P, z, (size_t)n * P * sizeof(float));
    for (int r = 0; r < rows; r++) {
        d->lam_row[r] = lam[r % n];
        d->lab_row[r] = (r < n && w != 0.0) ? d->lab[r] : -1;
    }
    sd_ctx *c = d->tctx;
    sd_ctx_reset(c);
    simdiff_status st = sd_model_ctx_precision(
        m, c, d->cfg.precision == SIMDIFF_PRECISION_BF16 ? SD_PREC_BF16 : SD_PREC_F32);
    if (st)
        return sd_fail(&d->err, st, "simdiff_distiller_step: out of memory");
    const int64_t shape[4] = {rows, cf->channels, cf->image_size, cf->image_size};
    sd_tensor *zt = sd_wrap(c, 4, shape, d->zin);
    sd_tensor *y = zt ? sd_model_graph(m, c, zt, d->lam_row, cls ? d->lab_row : NULL, NULL)
                      : NULL;
    if (!y) {
        st = sd_ctx_status(c);
        sd_fail(&d->err, st ? st : SIMDIFF_ERR_INTERNAL,
                "simdiff_distiller_step (teacher): %s", sd_ctx_errmsg(c));
        sd_ctx_reset(c);
        return st ? st : SIMDIFF_ERR_INTERNAL;
    }
    float *o = y->data;
    if (guided) { /* as the sampler: uncond + w·(cond − uncond) */
        const float *uo = o + (size_t)n * P;
        for (size_t j = 0; j < (size_t)n * P; j++)
            o[j] = (float)((double)uo[j] + w * ((double)o[j] - (double)uo[j]));
    }
    st = cf->prediction == SIMDIFF_PRED_EPS
             ? simdiff_eps_to_x((size_t)n, P, z, o, al, sg, d->xh)
             : simdiff_v_to_x_eps((size_t)n, P, z, o, al, sg, d->xh, NULL);
    sd_ctx_reset(c);
    return st ? sd_fail(&d->err, st, "simdiff_distiller_step: %s", simdiff_last_error())
              : SIMDIFF_OK;
}

/* z_s = α_s·x̂ + σ_s·(z − α_t·x̂)/σ_t (DDIM, η = 0), in double per element
 * as the sampler computes it; in place over z, row by row. */
static void ddim(int n, size_t P, float *z, const float *xh, const double *al_t,
                 const double *sg_t, const double *al_s, const double *sg_s)
{
    for (int i = 0; i < n; i++) {
        const double cz = sg_s[i] / sg_t[i], cx = al_s[i] - cz * al_t[i];
        float *zi = z + (size_t)i * P;
        const float *xi = xh + (size_t)i * P;
        for (size_t j = 0; j < P; j++)
            zi[j] = (float)(cz * (double)zi[j] + cx * (double)xi[j]);
    }
}

/* The step's work, the student claimed: times, noise, targets, the
 * student's loss and gradient, the update. */
static simdiff_status distill_step(simdiff_distiller *d, int n, const float *x,
                                   const int *labels)
{
    simdiff_trainer *tr = d->tr;
    simdiff_model *m = d->student;
    const simdiff_model_config *cf = &m->cfg;
    const size_t P = (size_t)cf->channels * cf->image_size * cf->image_size;
    const int N = d->N, K = N / 2;
    const uint64_t seed = d->cfg.seed;
    const uint64_t key = sd_rng_mix(sd_rng_mix(DISTILL_TAG, (uint64_t)d->round),
                                    (uint64_t)tr->step);
    /* i ~ U{1..K}: t = i/K = 2i/N; its teacher points 2i−1 and 2i−2 (of N). */
    sd_rng_uniform_f64(seed, sd_rng_mix(key, RNG_T), 0, (size_t)n, d->u);
    for (int e = 0; e < n; e++) {
        int i = 1 + (int)(d->u[e] * K);
        d->idx[e] = i > K ? K : i;
        d->lab[e] = labels ? labels[e] : -1;
        d->lam[e] = lam_at(d, 2 * d->idx[e]);
        d->lam1[e] = lam_at(d, 2 * d->idx[e] - 1);
        sd_alpha_sigma_from_logsnr(d->lam[e], &d->al[e], &d->sg[e]);
        sd_alpha_sigma_from_logsnr(d->lam1[e], &d->al1[e], &d->sg1[e]);
        if (d->idx[e] > 1) {
            sd_alpha_sigma_from_logsnr(lam_at(d, 2 * d->idx[e] - 2), &d->al2[e], &d->sg2[e]);
        } else { /* unused: the last step's target is the teacher's x̂ */
            d->al2[e] = 1;
            d->sg2[e] = 0;
        }
        double snr = exp(d->lam[e]);
        double wgt = d->cfg.weighting == SIMDIFF_DISTILL_SNR_PLUS_ONE ? snr + 1
                                                                       : (snr > 1 ? snr : 1);
        d->sw[e] = sqrt(wgt);
    }
    /* z_t = α·x + σ·ε (ε: elements e·P.. of the step's stream). */
    sd_rng_normal(seed, sd_rng_mix(key, RNG_EPS), 0, (size_t)n * P, d->z1);
    for (int e = 0; e < n; e++) {
        const float a = (float)d->al[e], s = (float)d->sg[e];
        const float *xe = x + (size_t)e * P, *ee = d->z1 + (size_t)e * P;
        float *ze = d->z + (size_t)e * P;
        for (size_t j = 0; j < P; j++)
            ze[j] = a * xe[j] + s * ee[j];
    }
    /* The teacher: x̂ at t, DDIM to t', x̂ at t', DDIM to t''. */
    memcpy(d->z1, d->z, (size_t)n * P * sizeof(float));
    simdiff_status st = teacher_x(d, n, d->z1, d->lam, d->al, d->sg);
    if (st)
        return st;
    ddim(n, P, d->z1, d->xh, d->al, d->sg, d->al1, d->sg1);
    if ((st = teacher_x(d, n, d->z1, d->lam1, d->al1, d->sg1)))
        return st;
    for (int e = 0; e < n; e++) {
        float *te = d->tgt + (size_t)e * P;
        const float *xe = d->xh + (size_t)e * P, *z1 = d->z1 + (size_t)e * P,
                    *zt = d->z + (size_t)e * P;
        if (d->idx[e] == 1) { /* the sampler's output: the teacher's x̂ at 1/N */
            for (size_t j = 0; j < P; j++)
                te[j] = (float)(d->sw[e] * (double)xe[j]);
            continue;
        }
        /* z'' from z' and x̂', then x̃ = (z'' − r·z_t)/(α'' − r·α_t). */
        const double cz = d->sg2[e] / d->sg1[e], cx = d->al2[e] - cz * d->al1[e];
        const double r = d->sg2[e] / d->sg[e], den = d->al2[e] - r * d->al[e];
        for (size_t j = 0; j < P; j++) {
            double z2 = (double)(float)(cz * (double)z1[j] + cx * (double)xe[j]);
            te[j] = (float)(d->sw[e] * ((z2 - r * (double)zt[j]) / den));
        }
    }
    /* The student: x̂ from its prediction, loss mean(w·(x̂ − x̃)²). */
    sd_ctx *c = tr->ctx;
    sd_ctx_reset(c);
    sd_ctx_set_grad(c, 1);
    sd_ctx_set_training(c, 1);
    sd_ctx_set_release_activations(c, 1);
    sd_ctx_set_rng(c, seed, key);
    const int64_t shape[4] = {n, cf->channels, cf->image_size, cf->image_size};
    sd_tensor *zt = sd_wrap(c, 4, shape, d->z);
    sd_tensor *tg = sd_wrap(c, 4, shape, d->tgt);
    sd_tensor *pred = sd_model_graph(m, c, zt, d->lam, cf->num_classes > 0 ? d->lab : NULL,
                                     NULL);
    sd_tensor *a = sd_per_example(c, n, d->al, 1), *ns = sd_per_example(c, n, d->sg, -1);
    sd_tensor *xs;
    if (cf->prediction == SIMDIFF_PRED_EPS) {
        sd_tensor *inv_a = sd_new(c, 4, (int64_t[]){n, 1, 1, 1});
        if (inv_a)
            for (int e = 0; e < n; e++)
                inv_a->data[e] = (float)(1.0 / d->al[e]);
        xs = sd_mul(c, sd_add(c, zt, sd_mul(c, ns, pred)), inv_a);
    } else {
        xs = sd_add(c, sd_mul(c, a, zt), sd_mul(c, ns, pred));
    }
    sd_tensor *loss = sd_mse(c, sd_mul(c, sd_per_example(c, n, d->sw, 1), xs), tg);
    if ((st = sd_ctx_status(c))) {
        sd_fail(&d->err, st, "distillation step %lld: %s", (long long)tr->step,
                sd_ctx_errmsg(c));
        sd_ctx_reset(c);
        sd_model_zero_grad(m);
        return st;
    }
    double lv = loss->data[0];
    sd_model_zero_grad(m);
    if (isfinite(lv) && (st = sd_backward(c, loss))) {
        sd_fail(&d->err, st, "distillation step %lld (backward): %s", (long long)tr->step,
                sd_ctx_errmsg(c));
        sd_ctx_reset(c);
        sd_model_zero_grad(m);
        return st;
    }
    sd_trainer_update(tr, lv);
    d->total_steps++;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_distiller_step(simdiff_distiller *d, int n,
                                                  const float *x, const int *labels,
                                                  double *loss)
{
    const char *fn = "simdiff_distiller_step";
    if (!d)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: distiller is NULL", fn);
    if (n < 1 || !x)
        return sd_fail(&d->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: n = %d (must be >= 1) and x must not be NULL", fn, n);
    simdiff_status st = sd_trainer_check_step(d->tr, n, labels, NULL, fn);
    if (st)
        return sd_fail_keep(&d->err, st);
    if ((st = sd_model_use_begin(d->student, 1, fn)))
        return sd_fail_keep(&d->err, st);
    if (ensure_scratch(d, n))
        st = sd_fail(&d->err, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    else if ((st = sd_threads_enter(d->cfg.num_threads, 0)))
        sd_fail_keep(&d->err, st);
    else
        st = distill_step(d, n, x, labels);
    sd_threads_leave();
    sd_model_use_end(d->student, 1);
    if (!st && loss)
        *loss = d->tr->last_loss;
    return st;
}

SIMDIFF_API simdiff_status simdiff_distiller_next_round(simdiff_distiller *d)
{
    const char *fn = "simdiff_distiller_next_round";
    if (!d)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: distiller is NULL", fn);
    if (d->N / 2 < 2 || (d->N / 2) % 2)
        return sd_fail(&d->err, SIMDIFF_ERR_MISUSE,
                       "%s: the student samples in %d steps; a next round needs an even "
                       "count >= 2 of them", fn, d->N / 2);
    simdiff_optimizer *o = d->tr->opt;
    if (o->ema_swapped)
        return sd_fail(&d->err, SIMDIFF_ERR_MISUSE,
                       "%s: the student holds the EMA weights; swap them back first "
                       "(simdiff_optimizer_swap_ema)", fn);
    simdiff_model *m = d->student;
    simdiff_status st = sd_model_use_begin(m, 1, fn);
    if (st)
        return sd_fail_keep(&d->err, st);
    const size_t bytes = (size_t)m->total * sizeof(float);
    const float *w = o->ema ? o->ema : m->data;
    memcpy(d->teacher->data, w, bytes);
    if (w != m->data)
        memcpy(m->data, w, bytes);
    sd_model_weights_changed(d->teacher);
    sd_model_weights_changed(m);
    /* A fresh optimizer state: zero moments, the EMA at the new weights,
     * the step counters (and with them warmup) from 0. */
    memset(o->mom, 0, bytes);
    memset(o->var, 0, bytes);
    o->step = 0;
    d->tr->step = d->tr->skipped = 0;
    d->tr->last_loss = NAN;
    d->N /= 2;
    d->round++;
    st = store_settings(d, m, d->N / 2);
    sd_model_use_end(m, 1);
    return st ? sd_fail_keep(&d->err, st) : SIMDIFF_OK;
}

/* ---- checkpoints and export --------------------------------------------- */

typedef struct distill_text {
    int round, teacher_steps, first_steps, weighting;
    double guidance;
    int64_t total_steps;
} distill_text;

#define F(k, t) {#k, t, offsetof(distill_text, k), 0, 0, 0}
static const sd_kv_field dfields[] = {
    F(round, SD_KV_INT),       F(teacher_steps, SD_KV_INT), F(first_steps, SD_KV_INT),
    F(weighting, SD_KV_INT),   F(guidance, SD_KV_DOUBLE),   F(total_steps, SD_KV_I64),
};
#undef F
#define DWHAT "checkpoint 'distill' section"

SIMDIFF_API simdiff_status simdiff_distiller_save(const simdiff_distiller *d, const char *path)
{
    if (!d || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_distiller_save: NULL argument");
    sd_err *err = (sd_err *)&d->err;
    distill_text rec = {d->round, d->N, d->cfg.teacher_steps, (int)d->cfg.weighting,
                        d->cfg.guidance, d->total_steps};
    char txt[512];
    simdiff_status st = sd_kv_format(DWHAT, dfields, SD_ARRAY_LEN(dfields), &rec, txt,
                                     sizeof txt);
    if (!st && (st = sd_model_check_values(d->teacher, d->teacher->data, SD_VALUES_FINITE,
                                           "teacher weight", SIMDIFF_ERR_NUMERIC)))
        return sd_fail(err, st, "%s; nothing written", simdiff_last_error());
    sd_ck_writer *ck = NULL;
    if (!st)
        st = sd_ck_writer_create(&ck);
    if (!st)
        st = sd_trainer_ck_add(d->tr, ck);
    if (!st)
        st = sd_ck_writer_add(ck, "distill", txt, strlen(txt), 1);
    if (!st)
        st = sd_ck_writer_add(ck, "teacher", d->teacher->data,
                              (size_t)d->teacher->total * sizeof(float), 1);
    if (!st)
        st = sd_ck_writer_commit(ck, path);
    sd_ck_writer_destroy(ck);
    return st ? sd_fail_keep(err, st) : SIMDIFF_OK;
}

/* The 'distill' section into *c, *round, *N (checked). */
static simdiff_status read_distill(const sd_ck_reader *r, const simdiff_trainer *tr,
                                   simdiff_distill_config *c, int *round, int *N,
                                   int64_t *total)
{
    if (!sd_ck_has(r, "distill") || !sd_ck_has(r, "teacher"))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "not a distillation checkpoint (no 'distill' and 'teacher' "
                       "sections; a training checkpoint loads with simdiff_trainer_load)");
    char *tx;
    simdiff_status st = sd_ck_find_text(r, "distill", CKPT_MAX_TEXT, &tx);
    if (st)
        return st;
    distill_text rec;
    memset(&rec, 0, sizeof rec);
    st = sd_kv_parse(DWHAT, dfields, SD_ARRAY_LEN(dfields), 1, tx, &rec);
    free(tx);
    if (st)
        return st;
    simdiff_distill_config_init(c);
    c->teacher_steps = rec.first_steps;
    c->guidance = rec.guidance;
    c->weighting = (simdiff_distill_weighting)rec.weighting;
    c->seed = tr->cfg.seed;
    c->precision = tr->cfg.precision;
    if (config_check(c, "simdiff_distiller_load"))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, DWHAT " is malformed: %s",
                       simdiff_last_error());
    if (rec.round < 0 || rec.round > 16 || rec.teacher_steps < 2 || rec.teacher_steps % 2 ||
        (rec.first_steps >> rec.round) != rec.teacher_steps ||
        (rec.teacher_steps << rec.round) != rec.first_steps || rec.total_steps < tr->step)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       DWHAT " is malformed: round %d, teacher_steps %d, first_steps %d, "
                       "total_steps %lld",
                       rec.round, rec.teacher_steps, rec.first_steps,
                       (long long)rec.total_steps);
    *round = rec.round;
    *N = rec.teacher_steps;
    *total = rec.total_steps;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_distiller_load(simdiff_distiller **out,
                                                  simdiff_model **student,
                                                  const char *path)
{
    if (!out || !student || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_distiller_load: NULL argument");
    *out = NULL;
    *student = NULL;
    sd_ck_reader *r;
    simdiff_model *m, *tm = NULL;
    simdiff_status st = sd_model_checkpoint_open(path, &r, &m);
    if (st)
        return st;
    /* The student's record (before the trainer clears it); checkpoints
     * without one: the chain starts at the distiller's first teacher. */
    sd_distilled rec;
    int has_rec = sd_distilled_get(m, &rec);
    simdiff_trainer *tr = NULL;
    simdiff_distill_config c;
    int round = 0, N = 0;
    int64_t total = 0;
    st = sd_trainer_ck_read(r, m, &tr);
    if (!st)
        st = read_distill(r, tr, &c, &round, &N, &total);
    if (!st && !m->schedule)
        st = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "the checkpoint's model has no schedule");
    if (!st)
        st = make_teacher(&tm, m, NULL);
    if (!st)
        st = sd_ck_find_f32(r, "teacher", tm->data, (size_t)tm->total);
    if (!st)
        st = sd_model_check_values(tm, tm->data, SD_VALUES_FINITE, "teacher weight",
                                   SIMDIFF_ERR_FORMAT);
    sd_ck_close(r);
    simdiff_distiller *d = NULL;
    if (!st) {
        st = assemble(&d, tr, m, tm, &c, round, N,
                      has_rec ? rec.teacher_steps : c.teacher_steps,
                      has_rec ? rec.guidance : c.guidance);
        tr = NULL;
        tm = NULL;
    }
    if (st) {
        simdiff_trainer_destroy(tr);
        simdiff_model_destroy(tm);
        simdiff_model_destroy(m);
        return sd_ck_fail_read(st, path);
    }
    d->total_steps = total;
    *out = d;
    *student = m;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_distiller_export(const simdiff_distiller *d,
                                                    const char *path, int fp16)
{
    if (!d || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_distiller_export: NULL argument");
    simdiff_status st = simdiff_trainer_export(d->tr, path, fp16);
    return st ? sd_fail_keep((sd_err *)&d->err, st) : SIMDIFF_OK;
}
