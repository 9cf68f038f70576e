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

#endif
