/* A model's vocabulary and tokenizer (include/simdiff/text.h): setting and
 * querying the vocabulary, tokenizing prompts, and the checks of
 * caller-supplied token ids shared by the forward, the trainer and the
 * sampler. The encoder itself is in graph.c. */
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

SIMDIFF_API simdiff_status simdiff_model_set_vocab(simdiff_model *m, const char *vocab)
{
    static const char fn[] = "simdiff_model_set_vocab";
    if (!m || !vocab)
        return sd_fail(m ? &m->err : NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (m->cfg.text_vocab == 0)
        return sd_fail(&m->err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the model has no text encoder (text_vocab 0)", fn);
    sd_vocab *v;
    simdiff_status st =
        sd_vocab_parse(&v, vocab, strlen(vocab), m->cfg.text_vocab, SIMDIFF_ERR_INVALID_ARG);
    if (st)
        return sd_fail_prefix(&m->err, st, fn);
    if ((st = sd_model_use_begin(m, 1, fn))) {
        sd_vocab_destroy(v);
        return st;
    }
    sd_vocab_destroy(m->vocab);
    m->vocab = v;
    sd_model_use_end(m, 1);
    return SIMDIFF_OK;
}

SIMDIFF_API int simdiff_model_vocab_size(const simdiff_model *m)
{
    return m ? m->cfg.text_vocab : 0;
}

SIMDIFF_API const char *simdiff_model_vocab_word(const simdiff_model *m, int id)
{
    if (!m || id < 0 || id >= m->cfg.text_vocab)
        return NULL;
    if (id == SIMDIFF_TEXT_PAD)
        return "<pad>";
    if (id == SIMDIFF_TEXT_UNKNOWN)
        return "<unk>";
    return m->vocab ? m->vocab->word[id] : NULL;
}

/* The checks every tokenizing call makes of the model. */
static simdiff_status can_tokenize(const simdiff_model *m, sd_err *err, const char *fn)
{
    if (m->cfg.text_vocab == 0)
        return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: prompts given, but the model has no text encoder (text_vocab 0)",
                       fn);
    if (!m->vocab)
        return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: the model has no vocabulary yet (simdiff_model_set_vocab)", fn);
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_model_tokenize(const simdiff_model *m, const char *prompt,
                                                  int *ids, int cap, int *count)
{
    static const char fn[] = "simdiff_model_tokenize";
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sd_err *err = (sd_err *)&m->err;
    if (!prompt || cap < 0 || (cap > 0 && !ids))
        return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: prompt NULL, cap %d < 0 or ids NULL with cap > 0", fn, cap);
    simdiff_status st = can_tokenize(m, err, fn);
    if (st)
        return st;
    int k = sd_text_tokenize(m->vocab, prompt, ids, cap);
    if (count)
        *count = k;
    return SIMDIFF_OK;
}

simdiff_status sd_model_tokenize_prompts(const simdiff_model *m, sd_err *err, const char *fn,
                                         int n, const char *const *prompts, int *tokens,
                                         int *lens)
{
    simdiff_status st = can_tokenize(m, err, fn);
    if (st)
        return st;
    const int T = m->cfg.ctx_len;
    for (int i = 0; i < n; i++)
        if (!prompts[i])
            return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: prompt %d is NULL (use \"\" for the null context)", fn, i);
    for (int i = 0; i < n; i++) {
        int *t = tokens + (size_t)i * T;
        int k = sd_text_tokenize(m->vocab, prompts[i], t, T);
        lens[i] = k < T ? k : T; /* longer prompts: their first ctx_len words */
        for (int j = lens[i]; j < T; j++)
            t[j] = SIMDIFF_TEXT_PAD;
    }
    return SIMDIFF_OK;
}

simdiff_status sd_model_check_tokens(const simdiff_model *m, sd_err *err, const char *fn,
                                     int n, const int *tokens, const int *token_len)
{
    const simdiff_model_config *cf = &m->cfg;
    if (!tokens && !token_len)
        return SIMDIFF_OK;
    if (cf->text_vocab == 0)
        return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                       "%s: token ids given, but the model has no text encoder (text_vocab 0)",
                       fn);
    if (!tokens)
        return sd_fail(err, SIMDIFF_ERR_INVALID_ARG, "%s: token lengths given without tokens",
                       fn);
    const int T = cf->ctx_len;
    for (int i = 0; i < n; i++) {
        const int l = token_len ? token_len[i] : T;
        if (l < 0 || l > T)
            return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                           "%s: token length %d of example %d is not in 0..%d (ctx_len; 0 is "
                           "the null context)",
                           fn, l, i, T);
        for (int j = 0; j < l; j++) {
            const int id = tokens[(size_t)i * T + j];
            if (id < 0 || id >= cf->text_vocab)
                return sd_fail(err, SIMDIFF_ERR_INVALID_ARG,
                               "%s: token %d of example %d is id %d, not in 0..%d", fn, j, i,
                               id, cf->text_vocab - 1);
        }
    }
    return SIMDIFF_OK;
}
