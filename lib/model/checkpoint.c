/* The model's part of a training checkpoint (model_internal.h, "model
 * files"): sections "config", "schedule", "sampler" (when the model stores
 * sampler settings), "distilled" (a distilled student's record), "vocab" (when
 * it has a vocabulary) and "weights" (float32 little-endian, the parameter
 * slab). lib/train adds the trainer's own sections and reads them back
 * through sd_model_checkpoint_open. */
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "model/model_internal.h"

#define CKPT_MAX_FILE ((size_t)1 << 36)
#define CKPT_MAX_TEXT 65536

simdiff_status sd_model_checkpoint_add(const simdiff_model *m, sd_ck_writer *ck,
                                       const float *weights)
{
    sd_model_meta meta;
    simdiff_status st = sd_model_check_values(m, weights ? weights : m->data,
                                              SD_VALUES_FINITE, "weight", SIMDIFF_ERR_NUMERIC);
    if (st)
        return sd_fail(NULL, st, "%s; nothing written", simdiff_last_error());
    st = sd_model_meta_get(m, &meta);
    if (!st)
        st = sd_ck_writer_add(ck, "config", meta.config, strlen(meta.config), 1);
    if (!st)
        st = sd_ck_writer_add(ck, "schedule", meta.schedule, strlen(meta.schedule), 1);
    if (!st && meta.sampler[0])
        st = sd_ck_writer_add(ck, "sampler", meta.sampler, strlen(meta.sampler), 1);
    if (!st && meta.distilled[0])
        st = sd_ck_writer_add(ck, "distilled", meta.distilled, strlen(meta.distilled), 1);
    if (!st && meta.vocab)
        st = sd_ck_writer_add(ck, "vocab", meta.vocab, strlen(meta.vocab), 1);
    if (!st)
        st = sd_ck_writer_add(ck, "weights", weights ? weights : m->data,
                              (size_t)m->total * sizeof(float), 1);
    return st;
}

/* Before the weights are allocated: section "weights" holds exactly the
 * parameter slab the config implies (the trainer's sections of the same
 * size are checked against it when read). */
static simdiff_status weights_fit(const simdiff_model *m, const void *file)
{
    const void *d;
    size_t n, want;
    simdiff_status st = sd_ck_find(file, "weights", &d, &n);
    if (st)
        return st;
    if (sd_mul_size((size_t)m->total, sizeof(float), &want) || n != want)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "the config implies %lld weights (%lld bytes), but section "
                       "'weights' has %zu bytes",
                       (long long)m->total, (long long)m->total * 4, n);
    return SIMDIFF_OK;
}

simdiff_status sd_model_checkpoint_open(const char *path, sd_ck_reader **rd,
                                        simdiff_model **out)
{
    *rd = NULL;
    *out = NULL;
    sd_ck_reader *r;
    simdiff_status st = sd_ck_open(&r, path, CKPT_MAX_FILE);
    if (st)
        return st;
    char *cfgtxt = NULL, *schtxt = NULL, *smptxt = NULL, *dsttxt = NULL, *voctxt = NULL;
    simdiff_model *m = NULL;
    st = sd_ck_find_text(r, "config", CKPT_MAX_TEXT, &cfgtxt);
    if (!st)
        st = sd_ck_find_text(r, "schedule", CKPT_MAX_TEXT, &schtxt);
    if (!st && sd_ck_has(r, "sampler")) /* checkpoints before the section: none */
        st = sd_ck_find_text(r, "sampler", CKPT_MAX_TEXT, &smptxt);
    if (!st && sd_ck_has(r, "distilled"))
        st = sd_ck_find_text(r, "distilled", CKPT_MAX_TEXT, &dsttxt);
    if (!st && sd_ck_has(r, "vocab"))
        st = sd_ck_find_text(r, "vocab", SD_VOCAB_TEXT_MAX, &voctxt);
    if (!st)
        st = sd_model_from_meta(&m, cfgtxt, schtxt, smptxt, dsttxt, voctxt,
                                voctxt ? strlen(voctxt) : 0, weights_fit, r);
    if (!st)
        st = sd_ck_find_f32(r, "weights", m->data, (size_t)m->total);
    if (!st)
        st = sd_model_check_values(m, m->data, SD_VALUES_FINITE, "weight", SIMDIFF_ERR_FORMAT);
    free(cfgtxt);
    free(schtxt);
    free(smptxt);
    free(dsttxt);
    free(voctxt);
    if (st) {
        simdiff_model_destroy(m);
        sd_ck_close(r);
        return sd_ck_fail_read(st, path);
    }
    *rd = r;
    *out = m;
    return SIMDIFF_OK;
}
