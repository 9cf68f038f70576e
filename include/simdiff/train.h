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
 * A non-finite loss or gradient, or an update that would make any weight,
 * moment or EMA value non-finite, skips the update and leaves the weights,
 * the optimizer state and the EMA untouched (simdiff_trainer_stats counts
 * it).
 *
 * Thread safety: a trainer and the model it trains belong to one thread at
 * a time. simdiff_trainer_step writes the model's weights, so nothing else
 * (a sampler, simdiff_model_forward, a save) may use that model during a
 * step; every call on one trainer or on its optimizer must be serialized
 * by the caller. A step that would overlap a sampler run, a forward or
 * another step of the same model (and a run or forward that would overlap
 * a step) returns SIMDIFF_ERR_MISUSE and changes nothing; saves are not
 * checked. Trainers of different models are independent and may run
 * on different threads at once. The *_config_init functions touch only
 * their argument and may be called from any thread.
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
/* The optimizer of a trainer (simdiff_trainer_optimizer): AdamW over every
 * parameter of the trainer's model, with the learning-rate schedule,
 * global-norm clipping and the EMA of the weights set by its config. It is
 * owned by the trainer and stepped by simdiff_trainer_step. */
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

/* The learning rate the next update will use (warmup and decay applied);
 * 0 for a NULL handle. */
SIMDIFF_API double simdiff_optimizer_lr(const simdiff_optimizer *o);
/* Updates applied so far (skipped steps do not count); -1 for a NULL
 * handle. */
SIMDIFF_API int64_t simdiff_optimizer_step_count(const simdiff_optimizer *o);
/* Copy the EMA weights into (or swap them with) the model's weights:
 * after simdiff_optimizer_swap_ema the model holds the EMA weights and the
 * optimizer the raw ones; calling it again swaps back. While swapped,
 * simdiff_trainer_step fails with SIMDIFF_ERR_MISUSE; checkpoints and
 * exports are unaffected. SIMDIFF_ERR_MISUSE when the optimizer keeps no
 * EMA (ema_decay = 0). */
SIMDIFF_API simdiff_status simdiff_optimizer_swap_ema(simdiff_optimizer *o);
/* The last failure of a call on this optimizer ("" if none or NULL). */
SIMDIFF_API const char *simdiff_optimizer_errmsg(const simdiff_optimizer *o);

/* ---- trainer ------------------------------------------------------------ */
typedef struct simdiff_trainer simdiff_trainer;

typedef enum simdiff_loss {
    SIMDIFF_LOSS_EPS = 0,        /* mean (ε − ε̂)², ε̂ from the prediction     */
    SIMDIFF_LOSS_V = 1,          /* mean (v − v̂)²                              */
    SIMDIFF_LOSS_MULTISCALE = 2  /* Σ_s w_s mean (D_s ε − D_s ε̂)², s = b, 2b,
                                    ..., d, w_s ∝ 1/s normalized to sum 1     */
} simdiff_loss;

/* Names: simdiff_loss_name gives "eps", "v" or "multiscale",
 * simdiff_lr_decay_name "constant" or "cosine"
 * (NULL for a value without a name). The _from_name calls take these
 * names (and the aliases listed) in any case, with '-', '_' and spaces
 * ignored and '+' read as 'p'; an unknown or NULL name is
 * SIMDIFF_ERR_INVALID_ARG with a message listing the known names, *out
 * untouched. */
SIMDIFF_API const char *simdiff_loss_name(simdiff_loss loss);
SIMDIFF_API simdiff_status simdiff_loss_from_name(const char *name, simdiff_loss *out);
SIMDIFF_API const char *simdiff_lr_decay_name(simdiff_lr_decay decay);
SIMDIFF_API simdiff_status simdiff_lr_decay_from_name(const char *name, simdiff_lr_decay *out);

/* Fill with simdiff_trainer_config_init() first, then change fields. */
typedef struct simdiff_trainer_config {
    size_t struct_size;      /* bytes of the caller's struct (set by _init)    */
    simdiff_loss loss;       /* default SIMDIFF_LOSS_EPS                       */
    int multiscale_base;     /* b (default 32)                                 */
    double label_dropout;    /* P(label -> null class) (default 0.1)           */
    int stratified_t;        /* t_i = (i + u)/N, shuffled (default 1)          */
    uint64_t seed;           /* all randomness of the run (default 0)          */
    simdiff_precision precision; /* of the matrix ops (default F32; core.h)     */
    int num_threads;         /* compute threads of this trainer's steps: 1..4096,
                                or 0 (default) = the process-wide count
                                (simdiff_set_num_threads); docs/embedding.md */
    double ctx_dropout;      /* P(context -> the null context), models with
                                ctx_dim > 0 (default 0.1; 0 = never). Drawn
                                with the label's dropout draw: equal rates
                                drop label and context together */
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
 * optimizer made from ocfg (NULL: defaults; tcfg NULL: defaults too). m
 * must outlive the trainer; creating it allocates m's gradient buffers.
 * Invalid configs are SIMDIFF_ERR_INVALID_ARG naming the field. */
SIMDIFF_API simdiff_status simdiff_trainer_create(simdiff_trainer **out,
                                                  simdiff_model *m,
                                                  const simdiff_schedule *s,
                                                  const simdiff_trainer_config *tcfg,
                                                  const simdiff_optimizer_config *ocfg);
/* Free the trainer and its optimizer (not the model); NULL is a no-op. */
SIMDIFF_API void simdiff_trainer_destroy(simdiff_trainer *t);

/* One step on n examples: x n x C x H x W in [-1, 1], labels n ids or NULL
 * (unconditional). *loss gets the step's loss, or NaN when the step was
 * skipped (a non-finite loss, gradient or update; the call still returns
 * SIMDIFF_OK). */
SIMDIFF_API simdiff_status simdiff_trainer_step(simdiff_trainer *t, int n,
                                                const float *x, const int *labels,
                                                double *loss);
/* The same with a conditioning vector per example, n x cond_dim finite
 * floats, for a model with cond_dim > 0 (NULL: zeros, as
 * simdiff_trainer_step). An example whose label drops out
 * (label_dropout) gets the zero vector too, so guidance can use zeros
 * and the null class as its unconditional input (the sampler does). */
SIMDIFF_API simdiff_status simdiff_trainer_step_cond(simdiff_trainer *t, int n,
                                                     const float *x, const int *labels,
                                                     const float *cond, double *loss);
/* The same with a context per example, for a model with ctx_dim > 0
 * (docs/text.md): context n x ctx_len x ctx_dim floats, context_len n
 * lengths in 1..ctx_len (NULL: all ctx_len); context NULL: the null context
 * for every example. Each example's context becomes the learned null
 * context with probability ctx_dropout (classifier-free guidance). Bad
 * context inputs: as simdiff_model_forward_ctx, nothing changed. */
SIMDIFF_API simdiff_status simdiff_trainer_step_ctx(simdiff_trainer *t, int n,
                                                    const float *x, const int *labels,
                                                    const float *cond, const float *context,
                                                    const int *context_len, double *loss);

/* ---- data-parallel training (docs/distributed.md) ----------------------
 * Several processes (or threads), each with its own trainer and an
 * identical model, train one model together: every step each takes a part
 * of one global batch of `batch` examples and a reduction hook sums the
 * parts. Every example's t, noise, label dropout and dropout masks come
 * from its index in the global batch (t stratified over all `batch`
 * examples), so the parts together are the global batch's step.
 *
 * The reduction hook: installed with simdiff_trainer_set_grad_reduce, it is
 * called once per simdiff_trainer_step_part, after this process's part has
 * been computed and before anything is updated, with
 *   grad: count floats, the SUM over this process's examples of each
 *     example's loss gradient (the gradients of all parameters in one flat
 *     buffer, in their storage order, with zeros in alignment gaps: count
 *     is at least simdiff_model_num_params);
 *   sums[SIMDIFF_REDUCE_LOSS]: the sum of this process's example losses,
 *   sums[SIMDIFF_REDUCE_COUNT]: its number of examples,
 *   sums[SIMDIFF_REDUCE_NONFINITE]: 1 if some loss was not finite, else 0.
 * It must replace grad and every sums[] value by their sums over all
 * processes (MPI_Allreduce with MPI_SUM, or any fixed-order sum) and
 * return 0; every process must end with the same values. Nonzero: the
 * step fails with SIMDIFF_ERR_IO and changes nothing. The trainer then
 * divides the gradient and the loss by the summed count and clips, steps
 * AdamW and the EMA as simdiff_trainer_step does, so processes that start
 * from the same trainer state keep identical weights. */
enum {
    SIMDIFF_REDUCE_LOSS = 0,
    SIMDIFF_REDUCE_COUNT = 1,
    SIMDIFF_REDUCE_NONFINITE = 2,
    SIMDIFF_REDUCE_SCALARS = 3 /* the length of sums[] */
};
typedef int (*simdiff_grad_reduce_fn)(void *user, float *grad, int64_t count,
                                      double *sums);
/* Install (fn non-NULL) or remove (fn NULL) the reduction hook; user is
 * passed to fn as is. The hook is not stored in checkpoints. */
SIMDIFF_API simdiff_status simdiff_trainer_set_grad_reduce(simdiff_trainer *t,
                                                           simdiff_grad_reduce_fn fn,
                                                           void *user);

/* One step in which this process holds examples first .. first+n−1 of a
 * global batch of `batch` examples (x: n x C x H x W, labels n ids or
 * NULL, cond n x cond_dim floats or NULL, as for simdiff_trainer_step_cond),
 * computed as `chunks` microbatches
 * one after the other (1 <= chunks <= n; chunk j is local examples
 * j·n/chunks .. (j+1)·n/chunks − 1, integer division) whose gradient sums
 * are added in chunk order, then reduced by the hook (none: the sums of
 * this process alone). *loss gets the global mean loss (NaN if the step
 * was skipped). Needs 0 <= first, first + n <= batch.
 * What is equal to what (same thread count, same precision):
 *   - chunks = R on one process with the whole batch, and R processes each
 *     with part j·batch/R .. (j+1)·batch/R − 1 as one chunk and a hook that
 *     sums the processes' buffers in process order (gather, then
 *     ((g0 + g1) + g2) + ...): bit for bit (also with any commutative
 *     hook when R = 2);
 *   - either of them and simdiff_trainer_step on the whole batch: the same
 *     examples, noise and times; the gradient differs by float rounding
 *     (the sum over examples is split differently).
 * simdiff_trainer_step is unchanged by this (it differs from
 * step_part(t, n, 0, n, 1, ...) by the rounding of the scale by n and
 * back); with a hook installed it fails with SIMDIFF_ERR_MISUSE. A failed
 * step_part (also a failed hook) leaves the weights, the optimizer and the
 * step count as they were. */
SIMDIFF_API simdiff_status simdiff_trainer_step_part(simdiff_trainer *t, int batch,
                                                     int first, int n, int chunks,
                                                     const float *x, const int *labels,
                                                     const float *cond, double *loss);
/* simdiff_trainer_step_part with this process's n contexts and lengths
 * (as simdiff_trainer_step_ctx; context dropout from each example's index
 * in the global batch). */
SIMDIFF_API simdiff_status simdiff_trainer_step_part_ctx(
    simdiff_trainer *t, int batch, int first, int n, int chunks, const float *x,
    const int *labels, const float *cond, const float *context, const int *context_len,
    double *loss);

/* A training step with one caption per example for a model with the
 * built-in text encoder (text_vocab > 0, include/simdiff/text.h): each
 * caption is tokenized with the model's vocabulary (truncated to ctx_len
 * words; no words: the null context) and encoded by the encoder, which is
 * trained with the rest of the model. Caption dropout is ctx_dropout (a
 * dropped caption is the null context), with the same draw as label
 * dropout. captions NULL: every example has the null context. A NULL
 * entry, a model without an encoder or without a vocabulary:
 * SIMDIFF_ERR_INVALID_ARG, nothing changed. */
SIMDIFF_API simdiff_status simdiff_trainer_step_text(simdiff_trainer *t, int n, const float *x,
                                                     const int *labels, const float *cond,
                                                     const char *const *captions,
                                                     double *loss);
/* simdiff_trainer_step_part with this process's n captions. */
SIMDIFF_API simdiff_status simdiff_trainer_step_part_text(
    simdiff_trainer *t, int batch, int first, int n, int chunks, const float *x,
    const int *labels, const float *cond, const char *const *captions, double *loss);

typedef struct simdiff_trainer_stats {
    size_t struct_size;      /* set to sizeof before simdiff_trainer_stats_get */
    int64_t step;            /* updates applied + skipped                       */
    int64_t skipped;         /* non-finite loss, gradient or update             */
    double last_loss;
    double last_grad_norm;   /* before clipping                                 */
    double lr;
} simdiff_trainer_stats;
/* The trainer's counters into *st: set st->struct_size (to sizeof *st)
 * first; exactly struct_size bytes are written (fields this library does not
 * know: zero), struct_size is kept. */
SIMDIFF_API simdiff_status simdiff_trainer_stats_get(const simdiff_trainer *t,
                                                     simdiff_trainer_stats *st);

/* The optimizer the trainer owns (valid as long as the trainer; NULL for
 * a NULL trainer). */
SIMDIFF_API simdiff_optimizer *simdiff_trainer_optimizer(simdiff_trainer *t);

/* Checkpoint: config, schedule, stored sampler settings, weights, EMA,
 * optimizer state, step and RNG state in one file (zlib-compressed sections
 * with CRC32), written atomically. Resuming is bit-exact. Weights, EMA and
 * first moments must be finite and second moments finite and >= 0
 * (SIMDIFF_ERR_NUMERIC, nothing written; the same rule is checked when a
 * checkpoint is loaded). */
SIMDIFF_API simdiff_status simdiff_trainer_save(const simdiff_trainer *t, const char *path);
/* Load a checkpoint: creates the model (*model, with its schedule and
 * stored sampler settings) and the trainer (*out) exactly as they were;
 * the caller destroys both (the trainer first). A damaged or foreign file
 * is SIMDIFF_ERR_FORMAT (SIMDIFF_ERR_IO if it cannot be read), also one
 * whose values break the rule above (a CRC-valid file with a NaN EMA or a
 * negative second moment); *out and *model are NULL on failure.
 * simdiff_model_load also reads a checkpoint (as a model with the EMA
 * weights). */
SIMDIFF_API simdiff_status simdiff_trainer_load(simdiff_trainer **out,
                                                simdiff_model **model,
                                                const char *path);
/* Write the EMA weights (or the raw weights if EMA is off) as a model file
 * for sampling (safetensors, F32 or F16 when fp16 != 0), with the model's
 * schedule and stored sampler settings, atomically. The same value rule as
 * simdiff_model_save_safetensors(_f16): SIMDIFF_ERR_NUMERIC, nothing
 * written, for a non-finite weight or, with fp16, one beyond ±65504. */
SIMDIFF_API simdiff_status simdiff_trainer_export(const simdiff_trainer *t,
                                                  const char *path, int fp16);

/* The last failure of a call on this trainer ("" if none or NULL). */
SIMDIFF_API const char *simdiff_trainer_errmsg(const simdiff_trainer *t);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_TRAIN_H */
