/*
 * libsimdiff — sampling: draw images from a trained model.
 *
 * A sampler is bound to one model and one noise schedule (by default the
 * schedule stored with the model). It integrates the reverse diffusion from
 * pure noise (t = 1) to data (t = 0) over `steps` network evaluations with
 * one of three methods, with optional classifier-free guidance, progress
 * callbacks, previews and cancellation. docs/sampling.md has the formulas.
 *
 * The time grid: t_k, k = 0..steps, from t_0 = 1 down to t_steps = 0,
 * uniform in t (t_k = 1 − k/steps, the default) or uniform in log-SNR λ.
 * z starts as N(0, I) at t_0 = 1. Step k (k = 0..steps−1) evaluates the
 * network at (z, λ(t_k)), forms the data estimate x̂ (clipped to [−1, 1]
 * when clip_x is on) and moves z from t_k to t_{k+1}; the last step
 * (t_{steps−1} → 0) returns x̂ itself, which is every method's update to
 * λ = +∞ without noise. With s = t_{k+1} < t = t_k:
 *
 *   DDPM ancestral (the paper's): c = −expm1(λ_t − λ_s),
 *       z_s = α_s·(z_t·(1 − c)/α_t + c·x̂) + σ_s·sqrt(c)·ε.
 *   DDIM(η): ε̂ = (z_t − α_t·x̂)/σ_t,
 *       z_s = α_s·x̂ + σ_s·sqrt(1 − η²c)·ε̂ + η·σ_s·sqrt(c)·ε
 *       (η = 0 deterministic; η = 1 is exactly DDPM ancestral).
 *   DPM-Solver++(2M) (Lu et al. 2022, data prediction, multistep in λ):
 *       h = (λ_s − λ_t)/2 (their λ is log(α/σ), half the log-SNR),
 *       z_s = (σ_s/σ_t)·z_t − α_s·expm1(−h)·D, with D = x̂ at the first
 *       step (where it equals DDIM with η = 0) and
 *       D = (1 + 1/(2r))·x̂ − 1/(2r)·x̂_prev, r = h_prev/h, afterwards.
 *
 * Model output: v (x̂ = α·z − σ·v) or ε (x̂ = (z − σ·ε)/α), from the model's
 * config (simdiff_model_config.prediction).
 *
 * Classifier-free guidance, convention: with w = cfg.guidance the model
 * output used is
 *       out = uncond + w·(cond − uncond)
 * (on v or ε alike: both are linear in the output at a fixed z). w = 1 is
 * the conditional model alone (one network pass; the default), w = 0 the
 * unconditional model alone (one pass), other values evaluate cond and
 * uncond in one batched network call of 2n rows. Papers that write
 * ε̃ = (1 + w')·ε_cond − w'·ε_uncond (Ho & Salimans 2022) use w' = w − 1:
 * their "guidance 4" is our w = 5. Those that write
 * ε̃ = ε_uncond + s·(ε_cond − ε_uncond) use our convention (w = s).
 *
 * Determinism: image i of a run with seed S depends only on (model,
 * schedule, config, S, i, labels[i]): the same whether it is generated
 * alone or in a batch of any size, at any batch_chunk, with any thread
 * count, on any thread. Every noise tensor comes from a counter-based
 * Philox stream keyed by (S, image index i, step); see docs/sampling.md.
 *
 * Threads: one model may be shared read-only by samplers on several
 * threads (each sampler owns its compute context); results equal those of
 * sequential runs. A single sampler must not run on two threads at once
 * (the second call fails with SIMDIFF_ERR_MISUSE). The model must outlive
 * every sampler bound to it and must not be modified (trained, reloaded)
 * while a sampler runs.
 */
#ifndef SIMDIFF_SAMPLER_H
#define SIMDIFF_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "simdiff/core.h"
#include "simdiff/model.h"
#include "simdiff/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct simdiff_sampler simdiff_sampler;

/* Integration methods (append-only; numbers never change). */
typedef enum simdiff_sampler_method {
    SIMDIFF_SAMPLER_DDPM = 0,     /* ancestral, stochastic (the paper's)     */
    SIMDIFF_SAMPLER_DDIM = 1,     /* DDIM with η (cfg.eta)                   */
    SIMDIFF_SAMPLER_DPMPP_2M = 2  /* DPM-Solver++(2M): few steps (default)   */
} simdiff_sampler_method;

/* How the steps are spaced between t = 1 and t = 0. */
typedef enum simdiff_spacing {
    SIMDIFF_SPACING_UNIFORM_T = 0,     /* t_k = 1 − k/steps (default)       */
    SIMDIFF_SPACING_UNIFORM_LOGSNR = 1 /* λ(t_k) = λ(1) + k/steps·(λ(0) − λ(1)) */
} simdiff_spacing;

/* Names: simdiff_sampler_method_name gives "ddpm", "ddim" or "dpmpp2m"
 * (alias "dpm-solver++ 2m"), simdiff_spacing_name "uniform_t" or
 * "uniform_logsnr" (aliases "t", "logsnr")
 * (NULL for a value without a name). The _from_name calls take these
 * names (and the aliases listed) in any case, with '-', '_' and spaces
 * ignored and '+' read as 'p'; an unknown or NULL name is
 * SIMDIFF_ERR_INVALID_ARG with a message listing the known names, *out
 * untouched. */
SIMDIFF_API const char *simdiff_sampler_method_name(simdiff_sampler_method method);
SIMDIFF_API simdiff_status simdiff_sampler_method_from_name(const char *name,
                                                            simdiff_sampler_method *out);
SIMDIFF_API const char *simdiff_spacing_name(simdiff_spacing spacing);
SIMDIFF_API simdiff_status simdiff_spacing_from_name(const char *name, simdiff_spacing *out);

/* Largest accepted steps. */
#define SIMDIFF_SAMPLER_MAX_STEPS 100000

/*
 * Sampler configuration. Fill with simdiff_sampler_config_init() first,
 * then change fields. struct_size lets libraries and callers of different
 * versions work together (core.h, docs/api.md "Structs that grow").
 */
typedef struct simdiff_sampler_config {
    size_t struct_size;            /* bytes of the caller's struct (_init)    */
    simdiff_sampler_method method; /* default SIMDIFF_SAMPLER_DPMPP_2M        */
    int steps;                     /* network evaluations, 1..MAX (default 32) */
    double eta;                    /* DDIM only: 0 (deterministic) .. 1 (=DDPM);
                                      default 0                               */
    double guidance;               /* w of out = uncond + w·(cond − uncond);
                                      finite; default 1 (conditional only)    */
    int clip_x;                    /* clip x̂ to [−1, 1] before use (default 1) */
    simdiff_spacing spacing;       /* default SIMDIFF_SPACING_UNIFORM_T       */
    /* The noise schedule; NULL (default) = the one stored with the model.
     * Copied at creation (need not outlive the call). A model with no
     * schedule (e.g. fresh from simdiff_model_create) needs one here. */
    const simdiff_schedule *schedule;
    int batch_chunk;               /* max images per network call; 0 = all
                                      (default). With guidance (w ≠ 0, 1) a
                                      call has 2 rows per image.             */
    simdiff_precision precision;   /* of the network (default F32; core.h)    */
    /* Compute threads of this sampler's runs: 1..4096, or 0 (default) = the
     * process-wide count (simdiff_set_num_threads). Other samplers and
     * trainers keep their own; docs/embedding.md ("Threads"). */
    int num_threads;
    /* Guidance interval (Kynkäänniemi et al. 2024, "Applying guidance in a
     * limited interval"): with guidance_interval = 1 the guidance weight
     * applies only at steps whose log-SNR λ lies in [guidance_logsnr_min,
     * guidance_logsnr_max] (finite, min <= max); the other steps use the
     * conditional model alone (w = 1: one row per image, so those steps
     * cost half). Guidance at high noise pulls every image of a class to
     * the same layout, and at low noise it barely changes the image; the
     * interval keeps its effect on the class and drops those costs.
     * 0 (default): guidance at every step. */
    int guidance_interval;
    double guidance_logsnr_min, guidance_logsnr_max;
} simdiff_sampler_config;

/* Fill the `size` bytes of *cfg with the defaults and set struct_size =
 * size (bytes past the fields this library knows: zero). Defaults:
 * DPM-Solver++(2M), 32 steps uniform in t, η = 0, guidance 1, clipping on,
 * the model's schedule, no chunking, the process-wide thread count.
 * SIMDIFF_ERR_INVALID_ARG, nothing
 * written, if cfg is NULL or size is not a simdiff_sampler_config size
 * (core.h). */
SIMDIFF_API simdiff_status simdiff_sampler_config_init_sized(simdiff_sampler_config *cfg,
                                                             size_t size);
/* simdiff_sampler_config_init_sized with size = sizeof *cfg. */
static inline simdiff_status simdiff_sampler_config_init(simdiff_sampler_config *cfg)
{
    return simdiff_sampler_config_init_sized(cfg, sizeof *cfg);
}

/*
 * Settings stored with a model: the method, steps, eta, guidance, clip_x,
 * spacing and guidance interval a model's quality was measured at travel with its file
 * (safetensors metadata 'simdiff.sampler'; docs/sampling.md).
 *
 * simdiff_sampler_config_init_for_model(_sized) fills cfg with the library
 * defaults (simdiff_sampler_config_init(_sized)), then the settings stored
 * with m, if any; size as for simdiff_sampler_config_init_sized.
 * simdiff_sampler_set_model_defaults stores cfg's settings with m (checked
 * as simdiff_sampler_create would; cfg NULL removes them); they are saved
 * by simdiff_model_save_safetensors(_f16). Not while a sampler bound to m
 * is being created.
 */
SIMDIFF_API simdiff_status simdiff_sampler_config_init_for_model_sized(
    simdiff_sampler_config *cfg, size_t size, const simdiff_model *m);
static inline simdiff_status simdiff_sampler_config_init_for_model(simdiff_sampler_config *cfg,
                                                                   const simdiff_model *m)
{
    return simdiff_sampler_config_init_for_model_sized(cfg, sizeof *cfg, m);
}
SIMDIFF_API simdiff_status simdiff_sampler_set_model_defaults(simdiff_model *m,
                                                              const simdiff_sampler_config *cfg);

/* The settings stored with m as text, for display, into buf (cap bytes,
 * NUL included): "method=dpmpp2m steps=32 eta=0 guidance=1 clip_x=1
 * spacing=uniform_t", then " guidance_logsnr_min=A guidance_logsnr_max=B"
 * with a guidance interval (names as simdiff_sampler_method_name and
 * simdiff_spacing_name), "" when none are stored; *len (may be NULL) gets
 * its length. A buffer too small: SIMDIFF_ERR_INVALID_ARG, buf = ""
 * (cap > 0), *len still set; 256 bytes always suffice. */
SIMDIFF_API simdiff_status simdiff_model_sampler_text(const simdiff_model *m, char *buf,
                                                      size_t cap, size_t *len);

/* A sampler for m (which must outlive it). cfg NULL = the settings stored
 * with m, else the library defaults (simdiff_sampler_config_init_for_model).
 * Checks everything that can be checked before a run: the method, steps,
 * eta in [0, 1], a finite guidance, batch_chunk >= 0, a schedule (cfg's or
 * the model's). On failure *out is NULL. */
SIMDIFF_API simdiff_status simdiff_sampler_create(simdiff_sampler **out,
                                                  simdiff_model *m,
                                                  const simdiff_sampler_config *cfg);

/*
 * Draw n images.
 *   labels: n class ids in 0..num_classes−1, or −1 for "no label" (the
 *     null class), or NULL (all unconditional). Must be NULL for a model
 *     without classes.
 *   seed: with the image index i (0..n−1) it determines image i's noise.
 *   out: n x C x H x W floats (NCHW) in [−1, 1] when clip_x is on.
 * On failure out is not modified. SIMDIFF_ERR_CANCELLED if
 * simdiff_sampler_cancel() was called during the run or the progress
 * callback asked to stop; SIMDIFF_ERR_MISUSE if s is already running.
 */
SIMDIFF_API simdiff_status simdiff_sampler_run(simdiff_sampler *s, int n,
                                               const int *labels, uint64_t seed,
                                               float *out);

/*
 * Editing: image-to-image, inpainting and variations (docs/editing.md).
 *
 * Image-to-image with strength s in (0, 1]: the run starts at t = s from
 *     z = α_s·x₀ + σ_s·ε    (ε: the same noise a plain run starts from)
 * and takes the steps of the sampler's grid that lie below s: one step from
 * t = s to the first grid point t_k < s, then the grid down to t_K = 0. It
 * costs #{k >= 1 : t_k < s} network evaluations (t_K = 0 counted; with the
 * default uniform-t grid of K steps: ceil(s·K), and when s·K is an integer
 * the run is exactly the tail of the plain run's grid);
 * simdiff_sampler_edit_evals gives the number. s = 1 is the plain run:
 * z starts as ε (the init image is not mixed in) and the full grid is used,
 * so with the same seed it equals simdiff_sampler_run bit for bit.
 *
 * Inpainting with a mask m (1 = keep, 0 = generate, values between blend):
 * after every step to t, z ← m·(α_t·x₀ + σ_t·ε') + (1 − m)·z, with ε'
 * drawn from image i's own noise streams; the output is
 * m·x₀ + (1 − m)·x̂, exactly x₀ (bit for bit) where m = 1 and the
 * generated x̂ where m = 0. Combine with a strength < 1 to regenerate the
 * masked region starting from the init image's content. Optional
 * resampling (RePaint, Lugmayr et al. 2022): with resample = r > 1, at
 * every resample_jump-th point of the run the last resample_jump steps
 * are undone by noising z forward and redone, r − 1 times, for seams that
 * agree with the kept region; each jump point costs (r − 1)·resample_jump
 * more evaluations. DPM-Solver++(2M) restarts at first order after a
 * jump.
 *
 * Variations: init_count = 1 and n > 1: every image starts from the same
 * init; image i's noise differs by its index, so strength sets how far the
 * variations wander.
 *
 * Every method, guidance, previews (x̂ composited with the kept region),
 * progress (total = the evaluations), cancellation and the determinism
 * guarantee apply: image i depends only on (model, schedule, config, seed,
 * i, labels[i], its init image, its mask, the edit settings).
 */
typedef struct simdiff_edit {
    size_t struct_size;  /* bytes of the caller's struct (_init)           */
    /* The initial images, init_count x channels x height x width floats
     * (NCHW) in [−1, 1]; NULL = none (then strength must be 1 and there
     * can be no mask). Read during the run only. */
    const float *init;
    int init_count;      /* 1 (shared by every image) or n; default 1      */
    /* The shape of init and mask: must equal the model's (checked). */
    int channels, height, width;
    double strength;     /* (0, 1]; default 1                              */
    /* The mask, mask_count x mask_channels x height x width floats in
     * [0, 1]; NULL (default) = no mask (image-to-image). */
    const float *mask;
    int mask_count;      /* 1 or n; default 1                              */
    int mask_channels;   /* 1 (all channels) or the model's; default 1     */
    int resample;        /* RePaint r >= 1, 1 = off (default); > 1 needs
                            a mask                                         */
    int resample_jump;   /* steps undone per jump, >= 1; default 1         */
} simdiff_edit;

/* Fill the `size` bytes of *e with the defaults above (no init, no mask,
 * strength 1, resample 1, jump 1) and set struct_size = size. As
 * simdiff_sampler_config_init_sized for the size rules. */
SIMDIFF_API simdiff_status simdiff_edit_init_sized(simdiff_edit *e, size_t size);
/* simdiff_edit_init_sized with size = sizeof *e. */
static inline simdiff_status simdiff_edit_init(simdiff_edit *e)
{
    return simdiff_edit_init_sized(e, sizeof *e);
}

/*
 * simdiff_sampler_run with an edit (NULL = the plain run). Besides the
 * checks of simdiff_sampler_run: init and mask shapes equal to the
 * model's, init_count and mask_count 1 or n, mask_channels 1 or the
 * model's channels, every init value finite in [−1, 1] and every mask
 * value finite in [0, 1], strength in (0, 1] (< 1 needs an init image),
 * a mask needs an init image, resample > 1 needs a mask and a jump
 * shorter than the run. Any failure: SIMDIFF_ERR_INVALID_ARG with a
 * message naming the field, out untouched.
 */
SIMDIFF_API simdiff_status simdiff_sampler_run_edit(simdiff_sampler *s, int n,
                                                    const int *labels, uint64_t seed,
                                                    const simdiff_edit *edit,
                                                    float *out);

/* The network evaluations per image of a run of s with edit (NULL = a plain
 * run: the steps), into *evals; with guidance (w ∉ {0, 1} and labels) each
 * evaluation is one batched call of two rows (with a guidance interval,
 * only those inside it). Checks the edit's settings
 * as simdiff_sampler_run_edit does (not its images). */
SIMDIFF_API simdiff_status simdiff_sampler_edit_evals(simdiff_sampler *s,
                                                      const simdiff_edit *edit,
                                                      int *evals);

/*
 * Seeds, starting noise and conditioning vectors of a run
 * (docs/sampling.md, "Seeds").
 *
 * Image i's noise key is (seed_i, index_i): (the run's seed,
 * first_index + i) when seeds is NULL, else (seeds[i], 0). Every noise a
 * run draws for image i (its start, each step's, an edit's) comes from
 * Philox streams keyed by it, so image i depends only on its key and on
 * (model, schedule, config, labels[i], cond row i, its latents, its edit):
 *   - a plain run (no options) of n images with seed S uses the keys
 *     (S, i): the outputs of simdiff_sampler_run;
 *   - image i of that run drawn alone: n = 1, seed S, first_index = i;
 *   - seeds[i] = s: the same bytes as a plain run of one image with seed s.
 * Variations: with variation_strength v in (0, 1], image i starts from
 *     ε = sin((1 − v)·θ)/sin θ · ε_i + sin(v·θ)/sin θ · ε'_i,
 *     cos θ = ε_i·ε'_i / (|ε_i|·|ε'_i|)
 * (spherical interpolation, which keeps the norm of Gaussian noise; a
 * linear blend when sin θ < 1e-6), in double per image, where ε_i is the
 * image's own starting noise and ε'_i the starting noise of the key
 * (variation_seeds[i], or variation_seed when that is NULL, index_i).
 * v = 0 is ε_i, v = 1 is ε'_i, bit for bit. Only the starting noise is
 * blended: step noise (DDPM, DDIM with η > 0) stays the image's own.
 * latents: the starting noise itself, n x C x H x W finite floats (image
 * i's ε); then variation_strength must be 0. An edit starts from
 * α_s·x₀ + σ_s·ε with this ε.
 * cond: n x cond_dim conditioning vectors for a model with cond_dim > 0
 * (NULL: zeros, as simdiff_model_forward_cond). With guidance (w ∉ {0,
 * 1}) the unconditional pass gets zero vectors and the null class; w = 0
 * ignores cond and labels.
 */
typedef struct simdiff_run_options {
    size_t struct_size;          /* bytes of the caller's struct (_init)       */
    const uint64_t *seeds;       /* n per-image seeds, or NULL (default)       */
    uint64_t first_index;        /* index of image 0 when seeds is NULL (0)    */
    double variation_strength;   /* 0 (default: off) .. 1                      */
    uint64_t variation_seed;     /* default 0                                  */
    const uint64_t *variation_seeds; /* n per-image variation seeds, or NULL   */
    const float *latents;        /* n x C x H x W starting noise, or NULL      */
    const float *cond;           /* n x cond_dim, or NULL                      */
    /* Sequence context (models with ctx_dim > 0, docs/text.md): n x
     * ctx_len x ctx_dim floats, or NULL for the learned null context;
     * context_len n lengths in 1..ctx_len, or NULL (all ctx_len). With
     * guidance the unconditional branch is the null context (and the null
     * class, and zero cond). */
    const float *context;
    const int *context_len;
    /* Prompts (models with the built-in text encoder, text_vocab > 0;
     * include/simdiff/text.h): n NUL-terminated strings, tokenized with
     * the model's vocabulary (truncated to ctx_len words; "" or no words:
     * the null context) and encoded by the model. Not with context. With
     * guidance the unconditional branch is the null context. */
    const char *const *prompts;
} simdiff_run_options;

/* Fill the `size` bytes of *o with the defaults (all NULL and 0: a plain
 * run) and set struct_size = size; as simdiff_sampler_config_init_sized
 * for the size rules. */
SIMDIFF_API simdiff_status simdiff_run_options_init_sized(simdiff_run_options *o, size_t size);
static inline simdiff_status simdiff_run_options_init(simdiff_run_options *o)
{
    return simdiff_run_options_init_sized(o, sizeof *o);
}

/* simdiff_sampler_run_edit with options (NULL = none: exactly
 * simdiff_sampler_run_edit). Besides its checks: variation_strength finite
 * in [0, 1] and 0 with latents, every latents and cond value finite, cond
 * only for a model with cond_dim > 0, context only for a model with
 * ctx_dim > 0, context_len in 1..ctx_len, context values finite within
 * each length, prompts only for a model with an encoder and a vocabulary,
 * no NULL prompt, not both prompts and context. Failures: SIMDIFF_ERR_INVALID_ARG
 * naming the field, out untouched. */
SIMDIFF_API simdiff_status simdiff_sampler_run_with(simdiff_sampler *s, int n,
                                                    const int *labels, uint64_t seed,
                                                    const simdiff_edit *edit,
                                                    const simdiff_run_options *opts,
                                                    float *out);

/* The starting noise ε of the n images of a run with (seed, opts) — what
 * simdiff_sampler_run_with would start from — into out (n x C x H x W):
 * for editing the noise yourself and passing it back as latents. */
SIMDIFF_API simdiff_status simdiff_sampler_initial_noise(simdiff_sampler *s, int n,
                                                         uint64_t seed,
                                                         const simdiff_run_options *opts,
                                                         float *out);

/* Sticky cancellation (on = 1; default 0): a simdiff_sampler_cancel()
 * that arrives while no run is in progress (before a run, or racing with
 * its start) is kept, and the next run returns SIMDIFF_ERR_CANCELLED at
 * once without writing out. A request is consumed by the run it cancels;
 * one that arrives after a run's last check stays for the next run.
 * on must be 0 or 1; switching does not change a pending request. */
SIMDIFF_API simdiff_status simdiff_sampler_set_sticky_cancel(simdiff_sampler *s, int on);

/*
 * Ask the run in progress on s to stop: it returns SIMDIFF_ERR_CANCELLED
 * within one network layer. Callable from any thread and from a signal
 * handler (one lock-free atomic store). The request is a flag that each
 * run clears when it starts: a cancel that arrives before that point
 * (between runs, or racing with the start of run()) is discarded, and the
 * run proceeds — unless cancellation is sticky
 * (simdiff_sampler_set_sticky_cancel), which keeps it. A cancel that arrives after the run's last network layer
 * may be too late; the run then succeeds. s must be a live sampler
 * (NULL is a no-op).
 */
SIMDIFF_API void simdiff_sampler_cancel(simdiff_sampler *s);

/* Free s (NULL is a no-op). Not while it runs. */
SIMDIFF_API void simdiff_sampler_destroy(simdiff_sampler *s);

/*
 * Progress: called on the thread of simdiff_sampler_run after each step
 * (the Python binding calls its callback the same way: a truthy return
 * stops the run),
 * step = 1..total (total = steps). x_preview is NULL, or at every
 * preview_every-th step the current x̂ of all n images (n x C x H x W,
 * valid during the call only). Return 0 to continue, nonzero to stop: the
 * run then returns SIMDIFF_ERR_CANCELLED (even at step == total) and out
 * is not written. The callback must not call back into s.
 */
typedef int (*simdiff_progress_fn)(void *user, int step, int total,
                                   const float *x_preview);

/* Install (or, with fn NULL, remove) the progress callback. */
SIMDIFF_API simdiff_status simdiff_sampler_set_progress(simdiff_sampler *s,
                                                        simdiff_progress_fn fn,
                                                        void *user);

/* Pass x̂ to the callback every k steps (step % k == 0); 0 = never
 * (default). k >= 0. */
SIMDIFF_API simdiff_status simdiff_sampler_set_preview_every(simdiff_sampler *s,
                                                             int k);

/* Last error message on this sampler ("" if none, or if s is NULL): every
 * failing call on s sets it, misuse (SIMDIFF_ERR_MISUSE) included. */
SIMDIFF_API const char *simdiff_sampler_errmsg(const simdiff_sampler *s);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_SAMPLER_H */
