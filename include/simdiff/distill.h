/*
 * libsimdiff — progressive distillation (Salimans & Ho 2022, Algorithm 2)
 * with classifier-free guidance folded into the student (Meng et al. 2023,
 * stage two with a fixed w): a student learns to do in ONE deterministic
 * DDIM step (η = 0) what a guided teacher does in TWO, on the sampler's
 * uniform-t grid; each round the student becomes the next teacher and the
 * step count halves (docs/distillation.md has the math).
 *
 * A distillation step (simdiff_distiller_step) on a batch x (n x C x H x W
 * in [-1, 1]) with labels, the teacher at N steps, the student at K = N/2:
 *   per example i ~ U{1..K} and ε ~ N(0, I), from Philox streams keyed by
 *   (seed, round, step, example); t = i/K, z_t = α_t·x + σ_t·ε;
 *   the teacher (guided: out = uncond + w·(cond − uncond), cond and
 *   uncond rows in one forward, uncond = the null class −1; no clipping)
 *   takes two DDIM steps t → t' = t − 1/N → t'' = t − 2/N:
 *     x̂ = to_x(z, out),  z_s = α_s·x̂ + σ_s·(z_t − α_t·x̂)/σ_t;
 *   the target x̃ is the x̂ for which one student DDIM step t → t'' lands on
 *   the teacher's z'':  x̃ = (z'' − (σ''/σ_t)·z_t) / (α'' − (σ''/σ_t)·α_t);
 *   at the student's last evaluation (i = 1, t = 2/N) the sampler does not
 *   step but outputs x̂, and the teacher's sampler output is its x̂ at
 *   t = 1/N after one DDIM step from 2/N: there x̃ = that x̂ (the teacher's
 *   x̂ at t' = 1/N), so the student's sampler output matches the teacher's;
 *   the student's x̂ (from its v or ε prediction, read from its config) is
 *   compared with x̃:  loss = mean over the batch of
 *   weight(t)·mean((x̂ − x̃)²), weight from simdiff_distill_weighting;
 *   backward, clipping, AdamW and EMA: the trainer's step machinery
 *   (train.h) on the student.
 * λ at grid points follows the sampler exactly: t = 1 is λ(1), the other
 * points λ(j/N) (include/simdiff/sampler.h, uniform_t spacing).
 *
 * Thread safety: as a trainer (train.h). The distiller writes the
 * student's weights and stored sampler settings; the teacher passed to
 * simdiff_distiller_create is copied and never written.
 */
#ifndef SIMDIFF_DISTILL_H
#define SIMDIFF_DISTILL_H

#include <stddef.h>
#include <stdint.h>

#include "simdiff/core.h"
#include "simdiff/model.h"
#include "simdiff/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct simdiff_distiller simdiff_distiller;

/* The weight of an example's x-space error (λ = log(α²/σ²) at its t). */
typedef enum simdiff_distill_weighting {
    SIMDIFF_DISTILL_TRUNCATED_SNR = 0, /* max(α²/σ², 1) (Salimans & Ho's
                                          "truncated SNR"; the default)   */
    SIMDIFF_DISTILL_SNR_PLUS_ONE = 1   /* α²/σ² + 1 (= the v-space error)   */
} simdiff_distill_weighting;

/* Names: "truncated_snr", "snr_plus_one" (NULL for a value without a
 * name); _from_name as the other enums (train.h). */
SIMDIFF_API const char *simdiff_distill_weighting_name(simdiff_distill_weighting w);
SIMDIFF_API simdiff_status simdiff_distill_weighting_from_name(const char *name,
                                                               simdiff_distill_weighting *out);

/* Fill with simdiff_distill_config_init() first, then change fields
 * (struct_size: core.h, docs/api.md "Structs that grow"). */
typedef struct simdiff_distill_config {
    size_t struct_size;          /* bytes of the caller's struct (set by _init) */
    int teacher_steps;           /* N of the first round: even, 2..100000
                                    (default 64); the student samples in N/2 */
    double guidance;             /* w folded into the teacher: finite, >= 0;
                                    1 = plain conditional (default 1)        */
    uint64_t seed;               /* all randomness of the run (default 0)    */
    simdiff_precision precision; /* of the matrix ops, teacher and student
                                    (default F32; core.h)                    */
    int num_threads;             /* 0 (default) = the process-wide count, or
                                    1..4096 (as simdiff_trainer_config)      */
    simdiff_distill_weighting weighting; /* default TRUNCATED_SNR           */
} simdiff_distill_config;

SIMDIFF_API simdiff_status simdiff_distill_config_init_sized(simdiff_distill_config *cfg,
                                                             size_t size);
static inline simdiff_status simdiff_distill_config_init(simdiff_distill_config *cfg)
{
    return simdiff_distill_config_init_sized(cfg, sizeof *cfg);
}

/* A distiller of `teacher` (read, copied: weights, config, schedule; never
 * written) into `student` (the caller's model, normally a copy of the
 * teacher, e.g. the same file loaded twice; must outlive the distiller).
 * Both must have the same config and the teacher a schedule, which the
 * student gets. The optimizer is made from ocfg (NULL: defaults); labels
 * never drop out. The student's stored sampler settings become
 * "method=ddim steps=N/2 eta=0 guidance=1 clip_x=0 spacing=uniform_t".
 * SIMDIFF_ERR_INVALID_ARG naming the field for a bad config, mismatched
 * models or a NULL argument. */
SIMDIFF_API simdiff_status simdiff_distiller_create(simdiff_distiller **out,
                                                    const simdiff_model *teacher,
                                                    simdiff_model *student,
                                                    const simdiff_distill_config *dcfg,
                                                    const simdiff_optimizer_config *ocfg);
/* Free the distiller, its optimizer and its teacher (not the student);
 * NULL is a no-op. */
SIMDIFF_API void simdiff_distiller_destroy(simdiff_distiller *d);

/* One step on n examples (x: n x C x H x W in [-1, 1]; labels: n ids in
 * -1..num_classes−1, or NULL = all the null class). *loss (may be NULL)
 * gets the loss, or NaN when the update was skipped (non-finite loss,
 * gradient or update; SIMDIFF_OK all the same). A model with cond_dim > 0
 * gets zero conditioning vectors. */
SIMDIFF_API simdiff_status simdiff_distiller_step(simdiff_distiller *d, int n,
                                                  const float *x, const int *labels,
                                                  double *loss);

/* The next round: the student's EMA weights (raw weights if the EMA is
 * off) become the teacher AND the student's raw weights (the new student
 * starts as its teacher), N halves, the step counter restarts at 0, the
 * AdamW moments are zeroed and the learning rate warms up again (the
 * optimizer config is kept). SIMDIFF_ERR_MISUSE when N/2 would be odd or
 * below 2 (nothing changes), or while the EMA is swapped in. */
SIMDIFF_API simdiff_status simdiff_distiller_next_round(simdiff_distiller *d);

typedef struct simdiff_distill_stats {
    size_t struct_size;    /* set to sizeof before simdiff_distiller_stats_get */
    int round;             /* 0, 1, ...                                        */
    int teacher_steps;     /* N of this round                                  */
    int student_steps;     /* N/2                                              */
    double guidance;       /* the w folded in (round 0's teacher; later rounds'
                              teachers already include it)                    */
    int64_t step;          /* steps of this round (applied + skipped)          */
    int64_t skipped;
    int64_t total_steps;   /* steps of all rounds                              */
    double last_loss;
    double lr;
} simdiff_distill_stats;
/* As simdiff_trainer_stats_get: st->struct_size first; exactly that many
 * bytes written. */
SIMDIFF_API simdiff_status simdiff_distiller_stats_get(const simdiff_distiller *d,
                                                       simdiff_distill_stats *st);

/* The student's optimizer (AdamW + EMA, train.h: learning rate, step
 * count, simdiff_optimizer_swap_ema); valid as long as the distiller. */
SIMDIFF_API simdiff_optimizer *simdiff_distiller_optimizer(simdiff_distiller *d);

/* A checkpoint of the whole state: the trainer's sections (the student:
 * config, schedule, stored sampler settings, weights, EMA, AdamW
 * moments, counters), section 'distill' (round, N, w, weighting, total
 * steps) and 'teacher' (the current teacher's weights), one SIMDIFFC file
 * written atomically. Resuming is bit-exact. */
SIMDIFF_API simdiff_status simdiff_distiller_save(const simdiff_distiller *d, const char *path);
/* Load it: *student (the caller destroys it after the distiller) and *out.
 * SIMDIFF_ERR_FORMAT for a damaged file or a plain training checkpoint,
 * SIMDIFF_ERR_IO if it cannot be read; both NULL on failure. */
SIMDIFF_API simdiff_status simdiff_distiller_load(simdiff_distiller **out,
                                                  simdiff_model **student,
                                                  const char *path);
/* Write the student's EMA weights (raw if the EMA is off) as a model file
 * with its schedule and the stored settings above, so that a sampler
 * created with cfg NULL runs DDIM with N/2 steps and guidance 1 (as
 * simdiff_trainer_export: fp16, the value rules, atomic). */
SIMDIFF_API simdiff_status simdiff_distiller_export(const simdiff_distiller *d,
                                                    const char *path, int fp16);

/* The last failure of a call on this distiller ("" if none or NULL). */
SIMDIFF_API const char *simdiff_distiller_errmsg(const simdiff_distiller *d);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_DISTILL_H */
