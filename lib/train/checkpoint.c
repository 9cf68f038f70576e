/* Checkpoints: everything a run needs to continue bit-exactly, in one
 * SIMDIFFC container (lib/format/format.h): zlib-compressed sections, a
 * CRC32 each, written atomically.
 *
 * Sections:
 *   config, schedule, sampler, weights
 *             the model's part, written and read by lib/model/checkpoint.c
 *             (sampler only when the model stores sampler settings; the
 *             weights are the raw ones, also while the EMA is swapped in)
 *   trainer   "key=value;..." (lib/format/kv.c) of the trainer and
 *             optimizer configs and the counters (doubles as %.17g: exact
 *             round trip); every key required, no other key allowed
 *   ema       float32, the model's layout (when the optimizer keeps an EMA)
 *   adam.m    same layout
 *   adam.v    same layout
 * The RNG needs no state: every random number is a function of (seed,
 * step, index). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "train/trainer_internal.h"

#define CKPT_MAX_TEXT 65536

/* The record behind the 'trainer' text. */
typedef struct trainer_text {
    simdiff_trainer_config tc;
    simdiff_optimizer_config oc;
    int64_t step, skipped, opt_step;
} trainer_text;

#define F(k, m, t) {#k, t, offsetof(trainer_text, m), 0, 0, 0}
static const sd_kv_field fields[] = {
    F(seed, tc.seed, SD_KV_U64),
    F(loss, tc.loss, SD_KV_INT),
    F(multiscale_base, tc.multiscale_base, SD_KV_INT),
    F(label_dropout, tc.label_dropout, SD_KV_DOUBLE),
    F(stratified_t, tc.stratified_t, SD_KV_INT),
    F(step, step, SD_KV_I64),
    F(skipped, skipped, SD_KV_I64),
    F(opt_step, opt_step, SD_KV_I64),
    F(lr, oc.lr, SD_KV_DOUBLE),
    F(beta1, oc.beta1, SD_KV_DOUBLE),
    F(beta2, oc.beta2, SD_KV_DOUBLE),
    F(eps, oc.eps, SD_KV_DOUBLE),
    F(weight_decay, oc.weight_decay, SD_KV_DOUBLE),
    F(warmup_steps, oc.warmup_steps, SD_KV_I64),
    F(decay, oc.decay, SD_KV_INT),
    F(total_steps, oc.total_steps, SD_KV_I64),
    F(min_lr_ratio, oc.min_lr_ratio, SD_KV_DOUBLE),
    F(clip_norm, oc.clip_norm, SD_KV_DOUBLE),
    F(ema_decay, oc.ema_decay, SD_KV_DOUBLE),
    /* Absent from checkpoints written before bf16 existed: f32 (0). */
    {"precision", SD_KV_INT, offsetof(trainer_text, tc.precision), 0, 0, 1},
    /* Absent from checkpoints written before sequence conditioning: 0. */
    {"ctx_dropout", SD_KV_DOUBLE, offsetof(trainer_text, tc.ctx_dropout), 0, 0, 1},
};
#undef F
_Static_assert(sizeof(simdiff_loss) == sizeof(int) && sizeof(simdiff_lr_decay) == sizeof(int) &&
                   sizeof(simdiff_precision) == sizeof(int),
               "enums of the trainer text are stored as int");

#define WHAT "checkpoint 'trainer' section"

/* AdamW's moments under the one value rule: first finite, second finite
 * and >= 0. */
static simdiff_status check_moments(const simdiff_model *m, const float *mom,
                                    const float *var, simdiff_status fail)
{
    simdiff_status st = sd_model_check_values(m, mom, SD_VALUES_FINITE, "AdamW first moment",
                                              fail);
    return st ? st
              : sd_model_check_values(m, var, SD_VALUES_NONNEG, "AdamW second moment", fail);
}

simdiff_status sd_trainer_ck_add(const simdiff_trainer *t, sd_ck_writer *ck)
{
    const simdiff_model *m = t->m;
    const simdiff_optimizer *o = t->opt;
    trainer_text rec = {t->cfg, o->cfg, t->step, t->skipped, o->step};
    char trtxt[1024];
    simdiff_status st = sd_kv_format(WHAT, fields, SD_ARRAY_LEN(fields), &rec, trtxt,
                                     sizeof trtxt);
    if (st)
        return st;
    /* If the EMA is swapped in, the raw weights are in o->ema. */
    const float *w = o->ema_swapped ? o->ema : m->data;
    const float *e = o->ema_swapped ? m->data : o->ema;
    size_t bytes = (size_t)m->total * sizeof(float);
    /* The one value rule (lib/model/values.c); the weights are checked by
     * sd_model_checkpoint_add. */
    if ((e && (st = sd_model_check_values(m, e, SD_VALUES_FINITE, "EMA weight",
                                          SIMDIFF_ERR_NUMERIC))) ||
        (st = check_moments(m, o->mom, o->var, SIMDIFF_ERR_NUMERIC)))
        return sd_fail(NULL, st, "%s; nothing written", simdiff_last_error());
    st = sd_model_checkpoint_add(m, ck, w);
    if (!st)
        st = sd_ck_writer_add(ck, "trainer", trtxt, strlen(trtxt), 1);
    if (!st && e)
        st = sd_ck_writer_add(ck, "ema", e, bytes, 1);
    if (!st)
        st = sd_ck_writer_add(ck, "adam.m", o->mom, bytes, 1);
    if (!st)
        st = sd_ck_writer_add(ck, "adam.v", o->var, bytes, 1);
    return st;
}

SIMDIFF_API simdiff_status simdiff_trainer_save(const simdiff_trainer *t, const char *path)
{
    if (!t || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_save: NULL argument");
    sd_ck_writer *ck;
    simdiff_status st = sd_ck_writer_create(&ck);
    if (!st)
        st = sd_trainer_ck_add(t, ck);
    if (!st)
        st = sd_ck_writer_commit(ck, path);
    sd_ck_writer_destroy(ck);
    return st ? sd_fail_keep((sd_err *)&t->err, st) : SIMDIFF_OK;
}

/* The 'trainer' section into rec (defaults first, every key required). */
static simdiff_status read_trainer_text(const sd_ck_reader *r, trainer_text *rec)
{
    simdiff_trainer_config_init(&rec->tc);
    simdiff_optimizer_config_init(&rec->oc);
    char *tx;
    simdiff_status st = sd_ck_find_text(r, "trainer", CKPT_MAX_TEXT, &tx);
    if (st)
        return st;
    st = sd_kv_parse(WHAT, fields, SD_ARRAY_LEN(fields), 1, tx, rec);
    free(tx);
    if (st)
        return st;
    if (rec->step < 0 || rec->skipped < 0 || rec->skipped > rec->step ||
        rec->opt_step != rec->step - rec->skipped)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       WHAT " is malformed: step %lld, skipped %lld, opt_step %lld",
                       (long long)rec->step, (long long)rec->skipped, (long long)rec->opt_step);
    return SIMDIFF_OK;
}

simdiff_status sd_trainer_ck_read(const sd_ck_reader *r, simdiff_model *m,
                                  simdiff_trainer **out)
{
    *out = NULL;
    simdiff_trainer *t = NULL;
    trainer_text rec;
    simdiff_status st = read_trainer_text(r, &rec);
    if (!st)
        st = sd_trainer_new(&t, m, m->schedule, &rec.tc, &rec.oc);
    if (!st) {
        t->step = rec.step;
        t->skipped = rec.skipped;
        t->opt->step = rec.opt_step;
        size_t n = (size_t)m->total;
        st = sd_ck_find_f32(r, "adam.m", t->opt->mom, n);
        if (!st)
            st = sd_ck_find_f32(r, "adam.v", t->opt->var, n);
        if (!st && t->opt->ema)
            st = sd_ck_find_f32(r, "ema", t->opt->ema, n);
        if (!st)
            st = check_moments(m, t->opt->mom, t->opt->var, SIMDIFF_ERR_FORMAT);
        if (!st && t->opt->ema)
            st = sd_model_check_values(m, t->opt->ema, SD_VALUES_FINITE, "EMA weight",
                                       SIMDIFF_ERR_FORMAT);
    }
    if (st) {
        simdiff_trainer_destroy(t);
        return st;
    }
    *out = t;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_trainer_load(simdiff_trainer **out, simdiff_model **model,
                                                const char *path)
{
    if (!out || !model || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_load: NULL argument");
    *out = NULL;
    *model = NULL;
    sd_ck_reader *r;
    simdiff_model *m;
    simdiff_status st = sd_model_checkpoint_open(path, &r, &m);
    if (st)
        return st;
    simdiff_trainer *t = NULL;
    st = sd_trainer_ck_read(r, m, &t);
    sd_ck_close(r);
    if (!st) {
        *out = t;
        *model = m;
        return SIMDIFF_OK;
    }
    simdiff_model_destroy(m);
    return sd_ck_fail_read(st, path);
}

SIMDIFF_API simdiff_status simdiff_trainer_export(const simdiff_trainer *t, const char *path,
                                                  int fp16)
{
    if (!t || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_export: NULL argument");
    const simdiff_optimizer *o = t->opt;
    /* The EMA weights: in o->ema, or in the model while swapped in. */
    const float *w = o->ema ? (o->ema_swapped ? t->m->data : o->ema) : t->m->data;
    simdiff_status st = sd_model_save(t->m, path, w, fp16);
    return st ? sd_fail_keep((sd_err *)&t->err, st) : SIMDIFF_OK;
}
