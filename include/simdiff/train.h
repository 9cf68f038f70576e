/*
 * libsimdiff — training: the AdamW optimizer with EMA, and the trainer that
 * does one whole diffusion training step per call, with checkpoints.
 *
 * A training step (simdiff_trainer_step) on a batch x (N x C x H x W in
 * [-1, 1]) with labels:
 *   t ~ U(0,1) per example (stratified over the batch if asked), ε ~ N(0, I),
 *   both from a counter-based RNG keyed by (seed, step, example);
 *   λ = schedule(t), z = α·x + σ·ε;  labels -> null class with probability
 *   label_dropout (classifier-free guidance);  v̂ = model(z, λ, label) with
 *   dropout where the model config puts it;  loss (ε-MSE from v̂ by default,
 *   v-MSE, or the multiscale ε loss);  backward; global-norm clipping;
 *   AdamW update; EMA update.
 * A non-finite loss or gradient skips the update and leaves the weights,
 * the optimizer state and the EMA untouched (simdiff_trainer_stats counts
 * it).
 */
#ifndef SIMDIFF_TRAIN_H
#define SIMDIFF_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "simdiff/core.h"
#include "simdiff/model.h"
#include "simdiff/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optimizer: AdamW + learning-rate schedule + clipping + EMA --------- */
typedef struct simdiff_optimizer simdiff_optimizer;

typedef enum simdiff_lr_decay {
    SIMDIFF_LR_CONSTANT = 0, /* after warmup: lr                               */
    SIMDIFF_LR_COSINE = 1    /* after warmup: cosine from lr to lr*min_lr_ratio
                                at total_steps                                  */
} simdiff_lr_decay;

/* Fill with simdiff_optimizer_config_init() first, then change fields
 * (struct_size: core.h, docs/api.md "Structs that grow"). */
typedef struct simdiff_optimizer_config {
    size_t struct_size;  /* bytes of the caller's struct (set by _init)       */
    double lr;           /* peak learning rate (default 2e-4)                 */
    double beta1, beta2; /* (0.9, 0.99)                                       */
    double eps;          /* 1e-8                                              */
    double weight_decay; /* decoupled; not applied to norms, biases and
                            embeddings (default 0.0)                          */
    int64_t warmup_steps;   /* linear warmup from 0 (default 500)            */
    simdiff_lr_decay decay; /* default constant                               */
    int64_t total_steps;    /* for cosine decay                               */
    double min_lr_ratio;    /* cosine floor (default 0.1)                     */
    double clip_norm;       /* global gradient norm clip; 0 = off (default 1) */
    double ema_decay;       /* EMA of weights; 0 = off (default 0.9995)       */
} simdiff_optimizer_config;

/* Fill the `size` bytes of *cfg with the defaults above and set
 * struct_size = size (bytes past the fields this library knows: zero).
 * SIMDIFF_ERR_INVALID_ARG, nothing written, if cfg is NULL or size is not a
 * simdiff_optimizer_config size (core.h). */
SIMDIFF_API simdiff_status simdiff_optimizer_config_init_sized(simdiff_optimizer_config *cfg,
                                                               size_t size);
/* simdiff_optimizer_config_init_sized with size = sizeof *cfg. */
static inline simdiff_status simdiff_optimizer_config_init(simdiff_optimizer_config *cfg)
{
    return simdiff_optimizer_config_init_sized(cfg, sizeof *cfg);
}

/* An optimizer for all parameters of m (m must outlive it). */
SIMDIFF_API simdiff_status simdiff_optimizer_create(simdiff_optimizer **out,
                                                    simdiff_model *m,
                                                    const simdiff_optimizer_config *cfg);
SIMDIFF_API void simdiff_optimizer_destroy(simdiff_optimizer *o);
/* The learning rate the next update will use. */
SIMDIFF_API double simdiff_optimizer_lr(const simdiff_optimizer *o);
SIMDIFF_API int64_t simdiff_optimizer_step_count(const simdiff_optimizer *o);
/* Copy the EMA weights into (or swap them with) the model's weights:
 * after simdiff_optimizer_swap_ema the model holds the EMA weights and the
 * optimizer the raw ones; calling it again swaps back. */
SIMDIFF_API simdiff_status simdiff_optimizer_swap_ema(simdiff_optimizer *o);
SIMDIFF_API const char *simdiff_optimizer_errmsg(const simdiff_optimizer *o);

/* ---- trainer ------------------------------------------------------------ */
typedef struct simdiff_trainer simdiff_trainer;

typedef enum simdiff_loss {
    SIMDIFF_LOSS_EPS = 0,        /* mean (ε − ε̂)², ε̂ from the prediction     */
    SIMDIFF_LOSS_V = 1,          /* mean (v − v̂)²                              */
    SIMDIFF_LOSS_MULTISCALE = 2  /* Σ_s w_s mean (D_s ε − D_s ε̂)², s = b, 2b,
                                    ..., d, w_s ∝ 1/s normalized to sum 1     */
} simdiff_loss;

/* Fill with simdiff_trainer_config_init() first, then change fields. */
typedef struct simdiff_trainer_config {
    size_t struct_size;      /* bytes of the caller's struct (set by _init)    */
    simdiff_loss loss;       /* default SIMDIFF_LOSS_EPS                       */
    int multiscale_base;     /* b (default 32)                                 */
    double label_dropout;    /* P(label -> null class) (default 0.1)           */
    int stratified_t;        /* t_i = (i + u)/N, shuffled (default 1)          */
    uint64_t seed;           /* all randomness of the run (default 0)          */
    simdiff_precision precision; /* of the matrix ops (default F32; core.h)     */
} simdiff_trainer_config;

/* Fill the `size` bytes of *cfg with the defaults above and set
 * struct_size = size (bytes past the fields this library knows: zero).
 * SIMDIFF_ERR_INVALID_ARG, nothing written, if cfg is NULL or size is not a
 * simdiff_trainer_config size (core.h). */
SIMDIFF_API simdiff_status simdiff_trainer_config_init_sized(simdiff_trainer_config *cfg,
                                                             size_t size);
/* simdiff_trainer_config_init_sized with size = sizeof *cfg. */
static inline simdiff_status simdiff_trainer_config_init(simdiff_trainer_config *cfg)
{
    return simdiff_trainer_config_init_sized(cfg, sizeof *cfg);
}

/* A trainer for m with schedule s (copied and stored with the model) and an
 * optimizer made from ocfg (NULL: defaults). m must outlive the trainer. */
SIMDIFF_API simdiff_status simdiff_trainer_create(simdiff_trainer **out,
                                                  simdiff_model *m,
                                                  const simdiff_schedule *s,
                                                  const simdiff_trainer_config *tcfg,
                                                  const simdiff_optimizer_config *ocfg);
SIMDIFF_API void simdiff_trainer_destroy(simdiff_trainer *t);

/* One step on n examples: x n x C x H x W in [-1, 1], labels n ids or NULL
 * (unconditional). *loss gets the step's loss (NaN if non-finite; then the
 * update was skipped and the call still returns SIMDIFF_OK). */
SIMDIFF_API simdiff_status simdiff_trainer_step(simdiff_trainer *t, int n,
                                                const float *x, const int *labels,
                                                double *loss);

typedef struct simdiff_trainer_stats {
    size_t struct_size;      /* set to sizeof before simdiff_trainer_stats_get */
    int64_t step;            /* updates applied + skipped                       */
    int64_t skipped;         /* non-finite loss or gradient                     */
    double last_loss;
    double last_grad_norm;   /* before clipping                                 */
    double lr;
} simdiff_trainer_stats;
/* The trainer's counters into *st: set st->struct_size (to sizeof *st)
 * first; exactly struct_size bytes are written (fields this library does not
 * know: zero), struct_size is kept. */
SIMDIFF_API simdiff_status simdiff_trainer_stats_get(const simdiff_trainer *t,
                                                     simdiff_trainer_stats *st);

/* The optimizer the trainer owns (valid as long as the trainer). */
SIMDIFF_API simdiff_optimizer *simdiff_trainer_optimizer(simdiff_trainer *t);

/* Checkpoint: config, schedule, weights, EMA, optimizer state, step and RNG
 * state in one file (zlib-compressed sections with CRC32), written
 * atomically. Resuming is bit-exact. */
SIMDIFF_API simdiff_status simdiff_trainer_save(const simdiff_trainer *t, const char *path);
/* Load a checkpoint: creates the model (*model) and the trainer (*out)
 * exactly as they were. */
SIMDIFF_API simdiff_status simdiff_trainer_load(simdiff_trainer **out,
                                                simdiff_model **model,
                                                const char *path);
/* Write the EMA weights (or the raw weights if EMA is off) as a model file
 * for sampling (safetensors, F32 or F16). */
SIMDIFF_API simdiff_status simdiff_trainer_export(const simdiff_trainer *t,
                                                  const char *path, int fp16);

SIMDIFF_API const char *simdiff_trainer_errmsg(const simdiff_trainer *t);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_TRAIN_H */
