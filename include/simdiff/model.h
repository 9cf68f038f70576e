/*
 * libsimdiff — models: the U-Net and the U-ViT of simple diffusion.
 *
 * A model maps a noisy image z_t (NCHW float32), its log-SNR λ and an
 * optional class label (and/or an external conditioning vector) to the
 * prediction of v = α·ε − σ·x (or of ε). The exact architecture — every
 * tensor name in the safetensors files, its shape, the order of ops, the
 * initialization — is in docs/architecture.md.
 *
 * Thread safety: a model may be shared read-only by several threads (each
 * through its own sampler); simdiff_model_forward() on one model handle must
 * not be called from two threads at once (it owns a compute context): the
 * second call returns SIMDIFF_ERR_MISUSE (message on the calling thread
 * only), as does a forward or sampler run that would overlap a trainer step
 * of the same model (docs/reliability.md, "Misuse").
 */
#ifndef SIMDIFF_MODEL_H
#define SIMDIFF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "simdiff/core.h"
#include "simdiff/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct simdiff_model simdiff_model;

typedef enum simdiff_arch { SIMDIFF_ARCH_UNET = 1, SIMDIFF_ARCH_UVIT = 2 } simdiff_arch;

/* The network's first and last ops. */
typedef enum simdiff_stem {
    SIMDIFF_STEM_NONE = 0,  /* 3x3 conv in, 3x3 conv out                       */
    SIMDIFF_STEM_PATCH = 1, /* pxp conv stride p in, pxp transposed conv out    */
    SIMDIFF_STEM_DWT = 2,   /* L-level 5/3 DWT then 3x3 conv in; 3x3 conv then
                               inverse DWT out                                  */
    SIMDIFF_STEM_DWT_UNIT = 3 /* as DWT, with every band divided by its std on
                               white noise (unit variance in, the same factor
                               back before the inverse DWT); L <= 6. See
                               docs/architecture.md and docs/highres.md        */
} simdiff_stem;

typedef enum simdiff_prediction {
    SIMDIFF_PRED_V = 0,  /* v = α·ε − σ·x (default) */
    SIMDIFF_PRED_EPS = 1 /* ε                       */
} simdiff_prediction;

/* Names: simdiff_arch_name gives "unet" or "uvit", simdiff_stem_name
 * "none", "patch", "dwt" or "dwt_unit", simdiff_prediction_name "v" or "eps"
 * (NULL for a value without a name). The _from_name calls take these
 * names (and the aliases listed) in any case, with '-', '_' and spaces
 * ignored and '+' read as 'p'; an unknown or NULL name is
 * SIMDIFF_ERR_INVALID_ARG with a message listing the known names, *out
 * untouched. */
SIMDIFF_API const char *simdiff_arch_name(simdiff_arch arch);
SIMDIFF_API simdiff_status simdiff_arch_from_name(const char *name, simdiff_arch *out);
SIMDIFF_API const char *simdiff_stem_name(simdiff_stem stem);
SIMDIFF_API simdiff_status simdiff_stem_from_name(const char *name, simdiff_stem *out);
SIMDIFF_API const char *simdiff_prediction_name(simdiff_prediction prediction);
SIMDIFF_API simdiff_status simdiff_prediction_from_name(const char *name,
                                                        simdiff_prediction *out);

#define SIMDIFF_MAX_LEVELS 8

/* Bounds of the config fields (simdiff_model_config_validate refuses any
 * value outside them, also in a file's metadata, before anything is built):
 *   image_size 4..4096, channels 1..64, stem_param 0..16 (patch 1..16,
 *   DWT levels 1..6), num_levels 1..8, level_channels 1..8192,
 *   level_blocks 0..64 (level 0: >= 1), norm_groups 1..8192,
 *   emb_dim 4..8192 (a multiple of 4), attn_resolution 0..4096,
 *   attn_heads 1..1024, tf_width 1..8192, tf_depth 0..256,
 *   tf_heads 1..1024, tf_mlp_ratio 1..64 (the tf_* fields of a U-Net are
 *   unused and only need to be in 0..max), dropout_max_resolution 0..4096,
 *   num_classes 0..1000000, cond_dim 0..65536,
 *   ctx_dim 0..8192, ctx_len 0..1024 (1..1024 when ctx_dim > 0),
 *   text_vocab 0 or 2..65536 (> 0 needs ctx_dim > 0), text_layers 0..64,
 *   text_heads 0..1024 (with text_vocab > 0: 1..1024 dividing ctx_dim). */
#define SIMDIFF_MAX_IMAGE_SIZE 4096
#define SIMDIFF_MAX_WIDTH 8192
#define SIMDIFF_MAX_BLOCKS 64
#define SIMDIFF_MAX_HEADS 1024
#define SIMDIFF_MAX_TF_DEPTH 256
#define SIMDIFF_MAX_MLP_RATIO 64
#define SIMDIFF_MAX_CLASSES 1000000
#define SIMDIFF_MAX_COND_DIM 65536
#define SIMDIFF_MAX_CTX_DIM 8192
#define SIMDIFF_MAX_CTX_LEN 1024
#define SIMDIFF_MAX_TEXT_VOCAB 65536
#define SIMDIFF_MAX_TEXT_LAYERS 64

/*
 * Model configuration. Always fill with simdiff_model_config_init() first,
 * then change fields; struct_size lets libraries and callers of different
 * versions work together (core.h, docs/api.md "Structs that grow").
 *
 * Resolutions below are those of the feature maps, after the stem: a 32x32
 * image with a 2x2 patch or a 1-level DWT stem has feature maps at 16x16.
 */
typedef struct simdiff_model_config {
    size_t struct_size;        /* bytes of the caller's struct (set by _init)  */
    simdiff_arch arch;
    int image_size;            /* H = W of the images (pixels)                 */
    int channels;              /* image channels (1 gray, 3 RGB)               */
    simdiff_stem stem;
    int stem_param;            /* patch size p, or DWT levels L; ignored for NONE */

    /* Conv levels, highest resolution first: level l runs at resolution
     * r0 / 2^l (r0 = image_size / p or / 2^L). */
    int num_levels;
    int level_channels[SIMDIFF_MAX_LEVELS];
    int level_blocks[SIMDIFF_MAX_LEVELS]; /* ResBlocks per level (down path;
                                              the up path has the same number) */
    int norm_groups;           /* GroupNorm groups, the same at every level
                                  and in the output norm (default 32); every
                                  level's channels must be divisible by it   */
    int emb_dim;               /* width of the conditioning embedding         */

    /* U-Net: self-attention after every ResBlock at resolution <= this, and
     * in the middle block. U-ViT: the transformer runs at this resolution,
     * which must be r0 / 2^num_levels. */
    int attn_resolution;
    int attn_heads;            /* U-Net attention heads                       */
    int tf_width;              /* U-ViT: token width                          */
    int tf_depth;              /* U-ViT: transformer blocks                   */
    int tf_heads;              /* U-ViT: attention heads                      */
    int tf_mlp_ratio;          /* U-ViT: MLP hidden = ratio * width           */

    /* Dropout only at low resolution: blocks whose feature maps are at
     * resolution <= dropout_max_resolution. */
    float dropout_res;         /* in ResBlocks (paper: 0.1)                   */
    float dropout_tf;          /* in transformer MLPs (paper: 0.2)            */
    int dropout_max_resolution;

    int num_classes;           /* 0 = unconditional; class ids 0..K-1, and the
                                  null class K (label -1) for guidance        */
    int cond_dim;              /* external conditioning vector width (0: none) */
    simdiff_prediction prediction;

    /* Sequence conditioning by cross-attention (docs/text.md): a context of
     * up to ctx_len tokens of ctx_dim floats each (e.g. a frozen text
     * encoder's token embeddings) per example. 0 = no context (the model
     * before these fields existed). With ctx_dim > 0, ctx_len must be
     * >= 1; every transformer block (U-ViT) and every attention block
     * (U-Net) gets a cross-attention sublayer, and a learned null context
     * serves guidance and context dropout. */
    int ctx_dim;               /* D_ctx, width of a context token (0: none)   */
    int ctx_len;               /* T, most tokens per context                  */

    /* Built-in text encoder (docs/text.md, include/simdiff/text.h): with
     * text_vocab > 0 the context comes from prompts through a word
     * tokenizer with a vocabulary of text_vocab ids (2 special ids + the
     * words, stored in the model file) and a transformer encoder of
     * text_layers pre-norm layers, width ctx_dim, text_heads heads, over
     * at most ctx_len tokens. 0 = no encoder (the model before these
     * fields existed; a context is then the caller's). */
    int text_vocab;            /* ids of the vocabulary (0: no encoder)       */
    int text_layers;           /* encoder transformer layers                  */
    int text_heads;            /* encoder attention heads                     */

    /* The Wiener skip (docs/architecture.md, "Wiener skip"; docs/highres.md):
     * 1 adds to the network's output, in the stem's coefficient domain
     * (the DWT bands, or the pixels of the other stems), the best per-band
     * linear estimate of the target from the noisy input, made from each
     * band's data mean and std (the tensors skip.mean and skip.std, set by
     * simdiff_model_fit_skip) and the noise level: the network learns the
     * residual. 0 = none (the model before this field existed). */
    int wiener_skip;
} simdiff_model_config;

/* Fill the `size` bytes of *cfg with defaults for arch at image_size x
 * image_size x channels (a small, sensible model) and set struct_size =
 * size; bytes past the fields this library knows become zero. Nothing is
 * written on error: SIMDIFF_ERR_INVALID_ARG if cfg is NULL, size is not a
 * simdiff_model_config size (core.h), arch is unknown, or image_size is not
 * in 4..4096 or channels not in 1..64. */
SIMDIFF_API simdiff_status simdiff_model_config_init_sized(simdiff_model_config *cfg,
                                                           size_t size,
                                                           simdiff_arch arch,
                                                           int image_size,
                                                           int channels);
/* simdiff_model_config_init_sized with size = sizeof *cfg. */
static inline simdiff_status simdiff_model_config_init(simdiff_model_config *cfg,
                                                       simdiff_arch arch,
                                                       int image_size, int channels)
{
    return simdiff_model_config_init_sized(cfg, sizeof *cfg, arch, image_size,
                                           channels);
}

/* Check cfg without building anything. On error, msg (if not NULL) gets a
 * sentence that says what to change. */
SIMDIFF_API simdiff_status simdiff_model_config_validate(
    const simdiff_model_config *cfg, char *msg, size_t msg_cap);

/* Build a model with freshly initialized weights (deterministic in seed). */
SIMDIFF_API simdiff_status simdiff_model_create(simdiff_model **out,
                                                const simdiff_model_config *cfg,
                                                uint64_t seed);

/* Load a model from a safetensors file written by
 * simdiff_model_save_safetensors() (config and schedule in its metadata) or
 * a libsimdiff checkpoint. Every size and offset is validated, the config
 * against the bounds above, and the parameters it implies against the
 * file's tensors (names, shapes, count; a checkpoint's weight bytes) before
 * the weights are allocated; every weight must be finite:
 * SIMDIFF_ERR_FORMAT for a malformed or hostile file (docs/reliability.md). */
SIMDIFF_API simdiff_status simdiff_model_load(simdiff_model **out, const char *path);

/* Save weights (float32) with the config and schedule as metadata, and
 * the sampler settings stored with the model if any
 * (simdiff_sampler_set_model_defaults), atomically. SIMDIFF_ERR_NUMERIC,
 * and nothing written, if a weight is non-finite (such a file would not
 * load). */
SIMDIFF_API simdiff_status simdiff_model_save_safetensors(const simdiff_model *m,
                                                          const char *path);

/* The same with the weights stored as IEEE half precision (F16): half the
 * file, for shipping a trained model (rounded to nearest even; loading
 * converts back to float32). SIMDIFF_ERR_NUMERIC, and nothing written, if
 * a weight is non-finite or beyond half precision's ±65504. */
SIMDIFF_API simdiff_status simdiff_model_save_safetensors_f16(const simdiff_model *m,
                                                              const char *path);

/* Measure the Wiener skip's statistics (cfg.wiener_skip = 1) from n images
 * x (n x C x H x W floats, in the range the model trains on, e.g. [-1, 1]):
 * the mean and std over the images and positions of every channel of the
 * stem's coefficient domain (C * 4^L DWT bands, or C pixel channels), in
 * double precision, stored in the model's tensors skip.mean and skip.std
 * (saved with the weights; a trainer never changes them). Call it on a
 * fresh model before a trainer takes it: a trainer's EMA copy is made at
 * its creation. SIMDIFF_ERR_INVALID_ARG for a model without the skip, n <
 * 1, NULL x or a non-finite pixel (nothing changed); SIMDIFF_ERR_MISUSE
 * while a sampler run or forward uses m. */
SIMDIFF_API simdiff_status simdiff_model_fit_skip(simdiff_model *m, int n, const float *x);

/* Attach a copy of s to m as the noise schedule it works with: the one
 * samplers use by default and the model's files store. NULL removes it.
 * (A trainer attaches its schedule itself.) Not while a sampler bound to m
 * is being created. */
SIMDIFF_API simdiff_status simdiff_model_set_schedule(simdiff_model *m,
                                                      const simdiff_schedule *s);

SIMDIFF_API void simdiff_model_destroy(simdiff_model *m);

/* Number of trainable scalars; -1 if m is NULL. */
SIMDIFF_API int64_t simdiff_model_num_params(const simdiff_model *m);

/* Copy of the model's config into *cfg: set cfg->struct_size (to sizeof
 * *cfg) first; exactly struct_size bytes are written (fields this library
 * does not know: zero), struct_size is kept. */
SIMDIFF_API simdiff_status simdiff_model_get_config(const simdiff_model *m,
                                                    simdiff_model_config *cfg);

/* The shape of the model's images: *channels x *height x *width floats per
 * image (height = width = image_size). Any of the pointers may be NULL;
 * SIMDIFF_ERR_INVALID_ARG if m is NULL. */
SIMDIFF_API simdiff_status simdiff_model_image_shape(const simdiff_model *m, int *channels,
                                                     int *height, int *width);

/* The schedule's canonical text (simdiff_schedule_to_string; "" when the
 * model has none) into buf (cap bytes, NUL included); *len (may be NULL)
 * gets its length. A buffer too small: SIMDIFF_ERR_INVALID_ARG, buf = ""
 * (cap > 0), *len still set; SIMDIFF_SCHEDULE_STRING_MAX always suffices.
 * The stored sampler settings as text: simdiff_model_sampler_text
 * (sampler.h). */
SIMDIFF_API simdiff_status simdiff_model_schedule_text(const simdiff_model *m, char *buf,
                                                       size_t cap, size_t *len);

/* How a model was distilled (docs/distillation.md): a progressive-
 * distillation student (simdiff_distiller_export, distill.h) records the
 * steps it samples in, the steps of the first teacher of its chain and the
 * guidance folded in; the file keeps the record (metadata
 * "simdiff.distilled"). A model that a trainer has since changed, or any
 * other model, has distilled = 0 and the other fields 0. */
typedef struct simdiff_distill_info {
    size_t struct_size;  /* sizeof(simdiff_distill_info), set by the caller */
    int distilled;       /* 1: a distilled student; 0: not one            */
    int steps;           /* DDIM steps it was distilled to sample in      */
    int teacher_steps;   /* steps of the first teacher (steps * 2^rounds) */
    int rounds;          /* halvings from teacher_steps to steps          */
    double guidance;     /* guidance folded in (1: none); sample the
                            student at guidance 1                         */
} simdiff_distill_info;

/* Fill *info (info->struct_size set first; exactly that many bytes are
 * written, struct_size kept). SIMDIFF_ERR_INVALID_ARG for NULLs or a bad
 * struct_size. */
SIMDIFF_API simdiff_status simdiff_model_distill_info(const simdiff_model *m,
                                                      simdiff_distill_info *info);

/*
 * One network evaluation (inference: no gradients, no dropout).
 * z: n x C x H x W (NCHW, float32); logsnr: n values; labels: n class ids,
 * NULL or -1 for the null class; out: n x C x H x W model output (v by
 * default, see cfg.prediction).
 */
SIMDIFF_API simdiff_status simdiff_model_forward(simdiff_model *m, int n,
                                                 const float *z,
                                                 const double *logsnr,
                                                 const int *labels, float *out);
/* Same with an external conditioning vector per example (n x cond_dim, or
 * NULL for none: zeros). */
SIMDIFF_API simdiff_status simdiff_model_forward_cond(simdiff_model *m, int n,
                                                      const float *z,
                                                      const double *logsnr,
                                                      const int *labels,
                                                      const float *cond,
                                                      float *out);

/* Same with a context per example (models with ctx_dim > 0, docs/text.md):
 * context n x ctx_len x ctx_dim floats (example i's tokens at
 * context + i * ctx_len * ctx_dim; tokens past its length are never read
 * and may hold anything), context_len n lengths in 1..ctx_len (NULL: all
 * ctx_len). context NULL: the learned null context (the unconditional
 * model of guidance); cond NULL: zeros. SIMDIFF_ERR_INVALID_ARG, naming the
 * field, and nothing written, for a context given to a model without one,
 * a length out of range or a non-finite value within a length. */
SIMDIFF_API simdiff_status simdiff_model_forward_ctx(simdiff_model *m, int n,
                                                     const float *z,
                                                     const double *logsnr,
                                                     const int *labels,
                                                     const float *cond,
                                                     const float *context,
                                                     const int *context_len,
                                                     float *out);

/* Precision of simdiff_model_forward(_cond, _ctx) on m (default F32; samplers
 * and trainers have their own setting in their configs). With BF16 the
 * forward uses a bf16 copy of the weights made once per model and shared
 * with m's bf16 samplers (remade after a trainer step changed them).
 * SIMDIFF_ERR_UNSUPPORTED for BF16 on a CPU without native bf16
 * (simdiff_precision_check); SIMDIFF_ERR_INVALID_ARG for an unknown value. */
SIMDIFF_API simdiff_status simdiff_model_set_precision(simdiff_model *m,
                                                       simdiff_precision p);

/* Multiply-adds x 2 of one forward pass, per image. */
SIMDIFF_API simdiff_status simdiff_model_flops(const simdiff_model *m,
                                               double *flops_per_image);

/* Bytes a training step at batch n needs: weights, gradients, optimizer
 * state (AdamW: 2 moments + EMA) and the step's activations (measured by
 * running one step on zeros). */
SIMDIFF_API simdiff_status simdiff_model_train_memory(simdiff_model *m, int n,
                                                      size_t *bytes);

/* Last error message on this model ("" if none). */
SIMDIFF_API const char *simdiff_model_errmsg(const simdiff_model *m);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_MODEL_H */
