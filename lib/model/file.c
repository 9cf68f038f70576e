/* Model files: the metadata texts of a model (both file kinds), safetensors
 * writing and reading (docs/architecture.md, "Files"), and simdiff_model_load
 * for both kinds (the checkpoint sections: checkpoint.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "model/model_internal.h"

#define MODEL_FILE_MAX ((size_t)1 << 34) /* 16 GiB */

simdiff_status sd_model_meta_get(const simdiff_model *m, sd_model_meta *meta)
{
    simdiff_status st = sd_config_to_string(&m->cfg, meta->config, sizeof meta->config);
    meta->schedule[0] = 0;
    if (!st && m->schedule)
        st = simdiff_schedule_to_string(m->schedule, meta->schedule, sizeof meta->schedule);
    snprintf(meta->sampler, sizeof meta->sampler, "%s", m->sampler_defaults);
    snprintf(meta->distilled, sizeof meta->distilled, "%s", m->distilled);
    meta->vocab = m->vocab ? m->vocab->text : NULL;
    return st;
}

simdiff_status sd_model_from_meta(simdiff_model **out, const char *config,
                                  const char *schedule, const char *sampler,
                                  const char *distilled, const char *vocab,
                                  size_t vocab_len, sd_model_file_check check,
                                  const void *file)
{
    *out = NULL;
    simdiff_model_config cfg;
    simdiff_status st = sd_config_from_string(&cfg, config);
    if (st)
        return st;
    /* The vocabulary before anything is allocated for the weights: a model
     * with an encoder may have one (absent: a model used with token ids),
     * one without may not. */
    sd_vocab *v = NULL;
    if (vocab && cfg.text_vocab == 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "a vocabulary in the metadata of a model without a text encoder");
    if (vocab && (st = sd_vocab_parse(&v, vocab, vocab_len, cfg.text_vocab, SIMDIFF_ERR_FORMAT)))
        return st;
    simdiff_model *m;
    if ((st = sd_model_build_structure(&m, &cfg))) {
        sd_vocab_destroy(v);
        return st;
    }
    m->vocab = v;
    if ((check && (st = check(m, file))) || (st = sd_model_alloc_weights(m))) {
        simdiff_model_destroy(m);
        return st;
    }
    if (schedule && (st = simdiff_schedule_from_string(&m->schedule, schedule))) {
        simdiff_model_destroy(m);
        /* Out of memory stays out of memory: only a bad text is a bad file. */
        return sd_fail(NULL, st == SIMDIFF_ERR_NOMEM ? st : SIMDIFF_ERR_FORMAT,
                       "bad schedule in metadata: %s", simdiff_last_error());
    }
    if (sampler) {
        /* Checked and stored in canonical form. */
        simdiff_sampler_config sc;
        memset(&sc, 0, sizeof sc);
        sd_sampler_settings_defaults(&sc);
        if ((st = sd_sampler_settings_parse(sampler, &sc)) ||
            (st = sd_sampler_settings_format(&sc, m->sampler_defaults,
                                             sizeof m->sampler_defaults))) {
            simdiff_model_destroy(m);
            return sd_fail(NULL, st == SIMDIFF_ERR_NOMEM ? st : SIMDIFF_ERR_FORMAT,
                           "bad 'simdiff.sampler' in metadata: %s", simdiff_last_error());
        }
    }
    if (distilled && (st = sd_distilled_set_text(m, distilled))) {
        simdiff_model_destroy(m);
        return st;
    }
    *out = m;
    return SIMDIFF_OK;
}

simdiff_status sd_model_save(const simdiff_model *m, const char *path,
                             const float *weights, int fp16)
{
    /* The one value rule (values.c): nothing non-finite, or beyond half
     * precision for F16, is ever written. */
    const float *slab = weights ? weights : m->data;
    simdiff_status st = sd_model_check_values(m, slab, fp16 ? SD_VALUES_F16 : SD_VALUES_FINITE,
                                              "weight", SIMDIFF_ERR_NUMERIC);
    if (st)
        return sd_fail(NULL, st, "%s; nothing written", simdiff_last_error());
    sd_model_meta meta;
    if ((st = sd_model_meta_get(m, &meta)))
        return st;
    sd_st_writer *w;
    if ((st = sd_st_writer_create(&w)))
        return st;
    st = sd_st_writer_set_metadata(w, "format", "simdiff");
    if (!st)
        st = sd_st_writer_set_metadata(w, "simdiff.config", meta.config);
    if (!st && meta.schedule[0])
        st = sd_st_writer_set_metadata(w, "simdiff.schedule", meta.schedule);
    if (!st && meta.sampler[0])
        st = sd_st_writer_set_metadata(w, "simdiff.sampler", meta.sampler);
    if (!st && meta.distilled[0])
        st = sd_st_writer_set_metadata(w, "simdiff.distilled", meta.distilled);
    if (!st && meta.vocab)
        st = sd_st_writer_set_metadata(w, "simdiff.vocab", meta.vocab);
    for (int i = 0; i < m->nparams && !st; i++) {
        const sd_tensor *p = &m->params[i];
        const float *d = slab + (p->data - m->data);
        st = sd_st_writer_add(w, m->pinfo[i].name, fp16 ? SD_DT_F16 : SD_DT_F32,
                              p->ndim, p->shape, d);
    }
    if (!st)
        st = sd_st_writer_write(w, path);
    sd_st_writer_destroy(w);
    return st;
}

static simdiff_status save_public(const simdiff_model *m, const char *path, int fp16,
                                  const char *fn)
{
    if (!m || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL argument", fn);
    simdiff_status st = sd_model_save(m, path, NULL, fp16);
    return st ? sd_fail_prefix((sd_err *)&m->err, st, fn) : SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_save_safetensors(const simdiff_model *m,
                                                          const char *path)
{
    return save_public(m, path, 0, "simdiff_model_save_safetensors");
}

SIMDIFF_API simdiff_status simdiff_model_save_safetensors_f16(const simdiff_model *m,
                                                              const char *path)
{
    return save_public(m, path, 1, "simdiff_model_save_safetensors_f16");
}

/* Before the weights are allocated: the file holds exactly the model's
 * tensors, each with the model's shape. */
static simdiff_status safetensors_fits(const simdiff_model *m, const void *file)
{
    const sd_st_file *f = file;
    for (int i = 0; i < m->nparams; i++) {
        const sd_tensor *p = &m->params[i];
        simdiff_status st = sd_st_check_shape(f, m->pinfo[i].name, p->ndim, p->shape);
        if (st)
            return sd_fail(NULL, st, "%s (the config asks for %d tensors, the file has %zu)",
                           simdiff_last_error(), m->nparams, sd_st_count(f));
    }
    if (sd_st_count(f) != (size_t)m->nparams) {
        /* Name the first tensor the model does not have. */
        const char *extra = "?";
        for (size_t i = 0; i < sd_st_count(f); i++)
            if (sd_model_find_param(m, sd_st_at(f, i)->name) < 0) {
                extra = sd_st_at(f, i)->name;
                break;
            }
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "tensor '%.60s' is not part of this model's architecture", extra);
    }
    return SIMDIFF_OK;
}

/* Build a model from an opened safetensors file. */
static simdiff_status from_safetensors(simdiff_model **out, const sd_st_file *f,
                                       const char *path)
{
    const char *cfgtxt = sd_st_metadata(f, "simdiff.config");
    if (!cfgtxt)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "%s: no 'simdiff.config' in the metadata: not a "
                       "libsimdiff model file",
                       path);
    simdiff_model *m;
    const char *vocab = sd_st_metadata(f, "simdiff.vocab");
    simdiff_status st = sd_model_from_meta(&m, cfgtxt, sd_st_metadata(f, "simdiff.schedule"),
                                           sd_st_metadata(f, "simdiff.sampler"),
                                           sd_st_metadata(f, "simdiff.distilled"), vocab,
                                           vocab ? strlen(vocab) : 0, safetensors_fits, f);
    if (st)
        return sd_fail(NULL, st, "%s: %s", path, simdiff_last_error());
    for (int i = 0; i < m->nparams && !st; i++) {
        sd_tensor *p = &m->params[i];
        st = sd_st_read_f32(f, m->pinfo[i].name, p->data, p->ndim, p->shape);
    }
    if (!st)
        st = sd_model_check_values(m, m->data, SD_VALUES_FINITE, "weight", SIMDIFF_ERR_FORMAT);
    if (st) {
        simdiff_model_destroy(m);
        return sd_fail(NULL, st, "%s: %s", path, simdiff_last_error());
    }
    *out = m;
    return SIMDIFF_OK;
}

/* A model from a training checkpoint, with the EMA weights when the run
 * kept them (sampling uses those). */
static simdiff_status from_checkpoint(simdiff_model **out, const char *path)
{
    sd_ck_reader *r;
    simdiff_model *m;
    simdiff_status st = sd_model_checkpoint_open(path, &r, &m);
    if (st)
        return st;
    if (sd_ck_has(r, "ema") &&
        ((st = sd_ck_find_f32(r, "ema", m->data, (size_t)m->total)) ||
         (st = sd_model_check_values(m, m->data, SD_VALUES_FINITE, "EMA weight",
                                     SIMDIFF_ERR_FORMAT)))) {
        simdiff_model_destroy(m);
        sd_ck_close(r);
        return sd_fail(NULL, st, "%s: %s", path, simdiff_last_error());
    }
    sd_ck_close(r);
    *out = m;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_load(simdiff_model **out, const char *path)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_load: out is NULL");
    *out = NULL;
    if (!path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_model_load: path is NULL");
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return sd_fail(NULL, SIMDIFF_ERR_IO, "%s: cannot open for reading", path);
    char magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    if (got == sizeof magic && memcmp(magic, "SIMDIFFC", 8) == 0)
        return from_checkpoint(out, path);
    sd_st_file *f;
    simdiff_status st = sd_st_open(&f, path, MODEL_FILE_MAX);
    if (st)
        return st;
    st = from_safetensors(out, f, path);
    sd_st_close(f);
    return st;
}
