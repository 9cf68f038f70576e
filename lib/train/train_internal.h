/* Training internals: optimizer state and the diffusion loss graph. */
#ifndef SIMDIFF_LIB_TRAIN_INTERNAL_H
#define SIMDIFF_LIB_TRAIN_INTERNAL_H

#include "model/model_internal.h"
#include "simdiff/train.h"

struct simdiff_optimizer {
    simdiff_model *m;
    simdiff_optimizer_config cfg;
    float *mom, *var; /* AdamW moments, same layout as m->data */
    float *ema;       /* EMA weights or NULL                    */
    unsigned char *decay_mask; /* per parameter: weight decay?  */
    int64_t step;     /* updates applied                         */
    int ema_swapped;  /* model holds the EMA weights             */
    sd_err err;
};

/* simdiff_optimizer_config's sizes (core/internal.h, sd_struct_read). */
extern const sd_struct_layout sd_optimizer_config_layout;

/* An optimizer for all parameters of m (m must outlive it); cfg is of this
 * library's layout (read with sd_struct_read, or filled by
 * simdiff_optimizer_config_init), NULL for the defaults. The trainer owns
 * one. */
simdiff_status sd_optimizer_new(simdiff_optimizer **out, simdiff_model *m,
                                const simdiff_optimizer_config *cfg);
void sd_optimizer_destroy(simdiff_optimizer *o); /* NULL is a no-op */
simdiff_status sd_optimizer_config_check(const simdiff_optimizer_config *c, char *msg,
                                         size_t cap);
double sd_optimizer_lr_at(const simdiff_optimizer_config *c, int64_t step);
double sd_optimizer_grad_norm(const simdiff_optimizer *o);
/* One AdamW + EMA update (gradients scaled by gscale): 0 when applied, 1
 * when some new value would not be finite and nothing changed. */
int sd_optimizer_apply(simdiff_optimizer *o, double gscale);

/* (n,1,1,1) constant on c: v[i]·scale per example. */
sd_tensor *sd_per_example(sd_ctx *c, int n, const double *v, double scale);

/* The diffusion loss on c from the model output `pred` (N,C,H,W), the noisy
 * input z, the clean x and the noise eps, with per-example alpha/sigma:
 * returns a scalar (see simdiff_loss). pred carries the tape; z, x, eps are
 * constants. */
sd_tensor *sd_diffusion_loss(sd_ctx *c, simdiff_loss kind, int base,
                             simdiff_prediction pred_kind, sd_tensor *pred,
                             sd_tensor *z, sd_tensor *x, sd_tensor *eps,
                             const double *alpha, const double *sigma);

#endif
