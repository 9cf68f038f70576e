/*
 * Models (internal): the parameter table, the block structure and the graph
 * builders shared by the public model API, the trainer and the sampler.
 * The architecture is specified in docs/architecture.md.
 */
#ifndef SIMDIFF_LIB_MODEL_INTERNAL_H
#define SIMDIFF_LIB_MODEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "simdiff/model.h"
#include "simdiff/schedule.h"
#include "model/sampler_settings.h"
#include "tensor/tensor.h"
#include "text/text_internal.h"

/* ---- distilled students (distilled.c) ----------------------------------
 * A progressive-distillation student records the steps it was trained to
 * sample in, the steps of the first teacher of its chain (steps * 2^k,
 * k >= 1 rounds) and the guidance folded in by the first round: canonical
 * key=value text "steps=..;teacher_steps=..;guidance=..", stored as
 * metadata "simdiff.distilled" (safetensors) or section "distilled"
 * (checkpoints). Set by lib/train/distill.c, cleared when a trainer takes
 * the model (training changes what the record describes). */
#define SD_DISTILLED_TEXT_MAX 128
#define SD_DISTILLED_MAX_STEPS 100000
typedef struct sd_distilled {
    int steps, teacher_steps;
    double guidance;
} sd_distilled;
/* SIMDIFF_ERR_INVALID_ARG (message names fn) unless the record obeys the
 * rules above. */
simdiff_status sd_distilled_check(const sd_distilled *d, const char *fn);
/* Store d's canonical text on m (NULL: clear). */
simdiff_status sd_distilled_set(simdiff_model *m, const sd_distilled *d);
/* Store a record read from a file: SIMDIFF_ERR_FORMAT for a bad text. */
simdiff_status sd_distilled_set_text(simdiff_model *m, const char *txt);
/* 1 and *d when m carries a record, else 0 (and *d zeroed). */
int sd_distilled_get(const simdiff_model *m, sd_distilled *d);

/* How a parameter is initialized (docs/architecture.md, "Initialization"). */
typedef enum sd_init {
    SD_INIT_ZERO = 0,
    SD_INIT_ONE,
    SD_INIT_FANIN,  /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default */
    SD_INIT_NORMAL, /* N(0, std^2)                                            */
} sd_init;

typedef struct sd_pinfo {
    char name[80];
    sd_init init;
    float std;      /* SD_INIT_NORMAL                      */
    int64_t fan_in; /* SD_INIT_FANIN                       */
    int no_decay;   /* norms, biases, embeddings: no weight decay */
} sd_pinfo;

/* Parameters of one layer; indices into the model's param table, -1 when
 * absent. */
typedef struct sd_lin { int w, b; } sd_lin;     /* linear or conv */
typedef struct sd_norm { int g, b; } sd_norm;   /* affine of a norm */

typedef struct sd_resblock {
    int ci, co, res;
    float dropout;
    sd_norm norm1;
    sd_lin conv1, emb, conv2, skip;
} sd_resblock;

/* Self-attention, or cross-attention (k and v read the projected context,
 * ctx_ch wide; the norm is always there: group norm in the U-Net, affine
 * layer norm in the U-ViT). */
typedef struct sd_attnblock {
    int ch, heads;
    sd_norm norm; /* U-Net: group norm affine; U-ViT self-attention: unused */
    sd_lin q, k, v, out;
} sd_attnblock;

typedef struct sd_tfblock {
    sd_lin ada; /* e -> 4W: scale1, shift1, scale2, shift2 */
    sd_attnblock attn;
    sd_attnblock xattn; /* cross-attention (ctx_dim > 0; else all -1) */
    sd_lin fc1, fc2;
    float dropout;
} sd_tfblock;

/* A layer of the text encoder: t += attn(LN(t)) (attn.norm is the layer
 * norm's affine, padding masked), t += fc2(gelu(fc1(LN(t)))). */
typedef struct sd_encblock {
    sd_attnblock attn;
    sd_norm norm2;
    sd_lin fc1, fc2;
} sd_encblock;

/* One step of the network's block list, in execution order. */
typedef enum sd_stage_kind {
    SD_ST_RES,       /* h = res(h) (down path: push skip after, see push)   */
    SD_ST_RES_SKIP,  /* h = res(concat(h, pop()))                           */
    SD_ST_ATTN,      /* h = attn(h)                                         */
    SD_ST_XATTN,     /* h = cross-attention(h, context) (ctx_dim > 0)       */
    SD_ST_PUSH,      /* push h                                              */
    SD_ST_DOWN,      /* h = avg_pool2(h)                                    */
    SD_ST_UP,        /* h = conv3x3(upsample2(h))                           */
    SD_ST_TF,        /* U-ViT transformer                                   */
} sd_stage_kind;

typedef struct sd_stage {
    sd_stage_kind kind;
    int idx;   /* index into res/attn arrays, or the up conv's param row */
    sd_lin conv; /* SD_ST_UP */
} sd_stage;

struct simdiff_model {
    simdiff_model_config cfg;
    simdiff_schedule *schedule; /* the schedule trained with (may be NULL) */
    /* Sampler settings stored with the model (simdiff_sampler_set_model_
     * defaults): canonical text (model/sampler_settings.h), checked before
     * it lands here; "" = none. */
    char sampler_defaults[SD_SAMPLER_SETTINGS_MAX];
    /* A distilled student's record (distilled.c), canonical text; "" = none. */
    char distilled[SD_DISTILLED_TEXT_MAX];
    sd_err err;

    /* Parameter table: one slab for data, one for gradients. */
    int nparams;
    sd_tensor *params;
    sd_pinfo *pinfo;
    float *data, *grad;
    int64_t total;

    /* Structure. */
    int r0, stem_ch;           /* feature resolution and channels after stem */
    int in_ch;                 /* channels entering the stem conv            */
    sd_lin emb_fc1, emb_fc2, emb_cond;
    int class_emb;             /* (K+1, E) or -1                              */
    /* Context (ctx_dim > 0, else -1): the learned null context (one token,
     * (1, D_ctx)), the context's layer norm and projection to ctx_ch, the
     * pooled context's linear into the embedding. */
    int ctx_null, ctx_ch;
    sd_norm ctx_norm;
    sd_lin ctx_proj, emb_ctx;
    /* Text encoder (text_vocab > 0, else -1 / NULL): token embedding
     * (V, D_ctx), positions (T, D_ctx), the layers, the final norm; the
     * vocabulary (text/text_internal.h). */
    int text_tok, text_pos;
    sd_encblock *text;
    sd_norm text_norm;
    sd_vocab *vocab; /* NULL until set or loaded */
    sd_lin stem_conv;
    sd_norm out_norm;
    sd_lin out_conv;
    int skip_mean, skip_std;   /* the Wiener skip's statistics (in_ch), or -1 */
    int nres, nattn, nstages;
    sd_resblock *res;
    sd_attnblock *attn;
    sd_stage *stages;
    /* U-ViT */
    int tf_res, tf_ch;
    sd_lin tf_in, tf_out;
    int tf_pos;
    sd_norm tf_norm;
    sd_tfblock *tf;

    sd_ctx *ctx; /* for simdiff_model_forward */
    sd_precision prec; /* of simdiff_model_forward (simdiff_model_set_precision) */

    /* bf16 copy of data (sd_model_bf16_weights): made on first use by a
     * bf16 sampler or forward, shared read-only by all of them, remade
     * when the weights changed since (wgen, bumped by the trainer). */
    pthread_mutex_t bf16_lock;
    uint16_t *bf16;
    uint64_t bf16_gen;
    atomic_uint_least64_t wgen;
    double flops_per_image; /* 0 until measured */

    /* Misuse detection (sd_model_use_begin): calls reading the weights
     * (sampler runs, simdiff_model_forward) count up, a call writing them
     * (a trainer step) holds -1; `forward` is 1 while simdiff_model_forward
     * uses ctx. */
    atomic_int users;
    atomic_int forward;
};

/* simdiff_model_config's sizes (core/internal.h, sd_struct_read). */
extern const sd_struct_layout sd_model_config_layout;

/* Build the structure and the parameter table for cfg (validated), with
 * zeroed data; then sd_model_init_params fills the data. */
simdiff_status sd_model_build(simdiff_model **out, const simdiff_model_config *cfg);
/* sd_model_build in two halves: the structure and the parameter table
 * (names, shapes, m->total; bounded by the config's bounds, model.h), then
 * the zeroed weight slab. A loader checks the table against the file
 * between the two. */
simdiff_status sd_model_build_structure(simdiff_model **out, const simdiff_model_config *cfg);
simdiff_status sd_model_alloc_weights(simdiff_model *m);
void sd_model_init_params(simdiff_model *m, uint64_t seed);
/* The bf16 copy of m->data (m->total values), made or refreshed under
 * m->bf16_lock; valid until m is destroyed or its weights change again.
 * NULL (status and message set) when out of memory. */
const uint16_t *sd_model_bf16_weights(simdiff_model *m);
/* Tell m that m->data changed (the copy is stale). */
void sd_model_weights_changed(simdiff_model *m);
/* Use m's bf16 weights and precision p on c (F32: neither). Returns
 * SIMDIFF_OK or the failure of sd_model_bf16_weights. */
simdiff_status sd_model_ctx_precision(simdiff_model *m, sd_ctx *c, sd_precision p);

/* Claim m for a call that reads its weights (write = 0: any number at
 * once) or writes them (write = 1: alone): SIMDIFF_ERR_MISUSE, message on
 * the calling thread only (the other call owns the handles' messages),
 * when that would overlap a call of the other kind. fn names the caller.
 * Every successful begin is paired with sd_model_use_end. */
simdiff_status sd_model_use_begin(simdiff_model *m, int write, const char *fn);
void sd_model_use_end(simdiff_model *m, int write);

/* The stem's input domain of z on c: its DWT (dwt), its unit-variance
 * DWT (dwt_unit), or z itself (none, patch). graph.c. */
sd_tensor *sd_model_stem_domain(const simdiff_model *m, sd_ctx *c, sd_tensor *z);

/* Allocate gradient buffers (training); idempotent. */
simdiff_status sd_model_enable_grad(simdiff_model *m);
void sd_model_zero_grad(simdiff_model *m);
int sd_model_find_param(const simdiff_model *m, const char *name);

/* Record the forward pass on c: z (N,C,H,W); logsnr, labels (NULL or -1:
 * null class) and cond (N x cond_dim or NULL) per example. Dropout follows
 * sd_ctx_training(c). Returns the output (N,C,H,W) or NULL (ctx status). */
sd_tensor *sd_model_graph(const simdiff_model *m, sd_ctx *c, sd_tensor *z,
                          const double *logsnr, const int *labels,
                          const float *cond);
/* The public calls' check of a caller's context (n x ctx_len x ctx_dim
 * floats, NULL: the null context) and lengths (1..ctx_len; NULL: all full):
 * SIMDIFF_ERR_INVALID_ARG naming fn and the field for a context given to a
 * model without one, lengths without a context, a length out of range or a
 * non-finite value in a token within an example's length. */
simdiff_status sd_model_check_context(const simdiff_model *m, sd_err *err, const char *fn,
                                      int n, const float *context, const int *context_len);
/* The same for token ids (n x ctx_len, lengths 0..ctx_len, 0: the null
 * context; NULL: all ctx_len) of a model with an encoder: ids within each
 * length in 0..text_vocab-1. */
simdiff_status sd_model_check_tokens(const simdiff_model *m, sd_err *err, const char *fn,
                                     int n, const int *tokens, const int *token_len);
/* Tokenize n prompts (NULL entries refused, naming fn) with m's vocabulary
 * into tokens (n x ctx_len, past each length 0) and lens (n, 0: no words,
 * the null context). m must have an encoder. */
simdiff_status sd_model_tokenize_prompts(const simdiff_model *m, sd_err *err, const char *fn,
                                         int n, const char *const *prompts, int *tokens,
                                         int *lens);
/* The same with a context per example (models with ctx_dim > 0):
 * ctx N x ctx_len x ctx_dim floats, ctx_lens N lengths, 0..ctx_len; length
 * 0 is the null context (that example's rows are not read); ctx NULL: the
 * null context for all; ctx_lens NULL with a ctx: every context full
 * length. Tokens past an example's length are not read. A length out of
 * range or a non-finite value in a token read: SIMDIFF_ERR_INVALID_ARG
 * naming the example. Models without a context take ctx NULL only. */
sd_tensor *sd_model_graph_ctx(const simdiff_model *m, sd_ctx *c, sd_tensor *z,
                              const double *logsnr, const int *labels, const float *cond,
                              const float *ctx, const int *ctx_lens);
/* The same with the context made by the text encoder (text_vocab > 0) from
 * token ids: tok N x ctx_len ids, tok_lens N lengths 0..ctx_len (0: the
 * null context; ids past a length are not read); tok NULL: the null
 * context for all. An id out of range: SIMDIFF_ERR_INVALID_ARG. */
sd_tensor *sd_model_graph_tok(const simdiff_model *m, sd_ctx *c, sd_tensor *z,
                              const double *logsnr, const int *labels, const float *cond,
                              const int *tok, const int *tok_lens);

/* ---- model files (file.c, checkpoint.c) --------------------------------
 * A model travels with its metadata texts: "config" (sd_config_to_string),
 * "schedule" (when the model has one), "sampler" (stored sampler
 * settings, when set) and "distilled" (a distilled student's record). A safetensors model file keeps them as metadata
 * "simdiff.<name>" (plus "format": "simdiff") and one tensor per
 * parameter; a checkpoint (lib/train) keeps them as sections "<name>" and
 * the parameter slab as section "weights". Both writers and both readers
 * go through the two functions below, so the kinds cannot drift apart. */
typedef struct sd_model_meta {
    char config[2048];
    char schedule[SIMDIFF_SCHEDULE_STRING_MAX]; /* "" = none */
    char sampler[SD_SAMPLER_SETTINGS_MAX];      /* "" = none */
    char distilled[SD_DISTILLED_TEXT_MAX];      /* "" = none */
    const char *vocab; /* the vocabulary's text (m's own), NULL: no encoder */
} sd_model_meta;

/* The metadata texts of m. */
simdiff_status sd_model_meta_get(const simdiff_model *m, sd_model_meta *meta);
/* A loader's check of a model's parameter table against the file it is
 * loading (m has no weights yet): SIMDIFF_OK, or a failure (message set)
 * when the file cannot hold the weights m needs. */
typedef simdiff_status (*sd_model_file_check)(const simdiff_model *m, const void *file);
/* A model with zeroed weights from metadata texts (schedule, sampler,
 * distilled: NULL when absent; vocab, vocab_len bytes: required for a
 * model with an encoder, refused without one); SIMDIFF_ERR_FORMAT for bad
 * text. The config is validated
 * (bounded, model.h) and the parameter table built, then check(m, file)
 * runs before the weight slab is allocated, so a file's metadata cannot
 * make the loader allocate what the file's data does not justify. */
simdiff_status sd_model_from_meta(simdiff_model **out, const char *config,
                                  const char *schedule, const char *sampler,
                                  const char *distilled, const char *vocab,
                                  size_t vocab_len, sd_model_file_check check,
                                  const void *file);

/* Write weights (m's own, or `weights` laid out like m->data) as
 * safetensors with the metadata; F16 storage if fp16. */
simdiff_status sd_model_save(const simdiff_model *m, const char *path,
                             const float *weights, int fp16);

/* Add the model's sections to a checkpoint being written: the metadata
 * and "weights" (m's own, or `weights` laid out like m->data). */
struct sd_ck_writer;
simdiff_status sd_model_checkpoint_add(const simdiff_model *m, struct sd_ck_writer *ck,
                                       const float *weights);
/* Open a checkpoint and build its model with the "weights" section (the
 * raw weights); *rd stays open for the caller's sections (sd_ck_close).
 * Failures are SIMDIFF_ERR_FORMAT (or _IO, _NOMEM) naming path. */
struct sd_ck_reader;
simdiff_status sd_model_checkpoint_open(const char *path, struct sd_ck_reader **rd,
                                        simdiff_model **out);

/* ---- values (values.c) --------------------------------------------------
 * One rule for every value a model file or checkpoint stores, applied on
 * every save (nothing written, SIMDIFF_ERR_NUMERIC) and every load
 * (SIMDIFF_ERR_FORMAT): weights, EMA weights and AdamW first moments are
 * finite, AdamW second moments finite and >= 0, and weights stored as F16
 * within half precision's range. */
typedef enum sd_values_rule {
    SD_VALUES_FINITE, /* finite                                  */
    SD_VALUES_NONNEG, /* finite and >= 0                         */
    SD_VALUES_F16,    /* finite and |x| <= 65504                 */
} sd_values_rule;

/* Check m->total values laid out like m->data (padding included) against
 * rule; on the first bad one fail with status `fail` and a message naming
 * `what` ("weight", "AdamW second moment", ...), the parameter, the index
 * and the value. */
simdiff_status sd_model_check_values(const simdiff_model *m, const float *slab,
                                     sd_values_rule rule, const char *what,
                                     simdiff_status fail);

/* Config <-> "key=value;..." text, stored in file metadata. */
simdiff_status sd_config_to_string(const simdiff_model_config *cfg, char *buf,
                                   size_t cap);
simdiff_status sd_config_from_string(simdiff_model_config *cfg, const char *s);

#endif
