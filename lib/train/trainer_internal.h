/* The trainer's state (shared by trainer.c and checkpoint.c). */
#ifndef SIMDIFF_LIB_TRAINER_INTERNAL_H
#define SIMDIFF_LIB_TRAINER_INTERNAL_H

#include "train/train_internal.h"

struct simdiff_trainer {
    simdiff_model *m;        /* not owned */
    simdiff_optimizer *opt;  /* owned */
    simdiff_trainer_config cfg;
    sd_ctx *ctx;
    int64_t step, skipped;   /* steps taken (applied + skipped), skipped */
    double last_loss, last_grad_norm;
    void *buf;
    int buf_n;
    simdiff_grad_reduce_fn reduce; /* simdiff_trainer_set_grad_reduce */
    void *reduce_user;
    float *acc;              /* step_part: the flat gradient sum (m->total) */
    float *cond;             /* (buf_n, cond_dim): conditioning after dropout */
    int *ctxl;               /* (buf_n) context lengths after dropout (0: null) */
    int *tok;                /* (buf_n, ctx_len) token ids of the captions      */
    int *tokl;               /* (buf_n) their lengths (0: no words, null)       */
    sd_err err;
};

/* The sizes of simdiff_trainer_config and simdiff_trainer_stats
 * (core/internal.h, sd_struct_read). */
extern const sd_struct_layout sd_trainer_config_layout, sd_trainer_stats_layout;

simdiff_status sd_trainer_config_check(const simdiff_trainer_config *c, char *msg,
                                       size_t cap);
/* A trainer from configs of this library's layout (read with
 * sd_struct_read, or filled by the _init functions); NULL: defaults. */
simdiff_status sd_trainer_new(simdiff_trainer **out, simdiff_model *m,
                              const simdiff_schedule *s,
                              const simdiff_trainer_config *tcfg,
                              const simdiff_optimizer_config *ocfg);

/* The checks every step makes of the trainer state, the labels and the
 * conditioning vectors (fn names the caller in messages). */
simdiff_status sd_trainer_check_step(simdiff_trainer *t, int n, const int *labels,
                                     const float *cond, const char *fn);
/* The update once the parameters' gradients hold the step's loss lv:
 * counters, clipping, AdamW and EMA (or a skip when lv or the gradient is
 * not finite); then the gradients are zeroed and the ctx reset. */
void sd_trainer_update(simdiff_trainer *t, double lv);

/* The trainer's checkpoint sections (checkpoint.c): the model's sections,
 * 'trainer', 'ema', 'adam.m', 'adam.v' added to ck (a failure leaves its
 * message, nothing is committed); and a trainer for m (the model of an
 * open checkpoint, sd_model_checkpoint_open) from them. */
struct sd_ck_writer;
struct sd_ck_reader;
simdiff_status sd_trainer_ck_add(const simdiff_trainer *t, struct sd_ck_writer *ck);
simdiff_status sd_trainer_ck_read(const struct sd_ck_reader *r, simdiff_model *m,
                                  simdiff_trainer **out);

#endif
