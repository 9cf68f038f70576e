/*
 * libsimdiff — text: the built-in word tokenizer and text encoder.
 *
 * A model with text_vocab > 0 (model.h) carries a vocabulary and a small
 * transformer encoder trained with it; a prompt becomes the model's context
 * (docs/text.md) inside the library:
 *
 *   prompt --tokenize--> ids (at most ctx_len) --encoder--> T x ctx_dim context
 *
 * Tokenizer (the same for building a vocabulary and for prompts):
 *   - ASCII letters are lower-cased; a word is a maximal run of letters,
 *     digits and bytes >= 0x80 (so UTF-8 words such as "café" survive:
 *     every byte of a multi-byte UTF-8 character is >= 0x80); everything
 *     else (spaces, punctuation, control bytes) separates words.
 *   - Ids: 0 = padding, 1 = unknown word, 2.. = the vocabulary's words in
 *     its order. A word not in the vocabulary (or longer than
 *     SIMDIFF_TEXT_WORD_MAX bytes) is the unknown id.
 *   - A prompt longer than ctx_len words is truncated to its first ctx_len
 *     words; simdiff_model_tokenize reports the untruncated count.
 *   - A prompt without words ("" or only punctuation) is the null context:
 *     the unconditional model, which is also guidance's unconditional side.
 *
 * Vocabulary: built from training captions (simdiff_text_vocab_build): the
 * words by descending count, ties in byte order, the rarest falling to the
 * unknown id beyond a size cap. Its text form, stored in the model file
 * (safetensors metadata "simdiff.vocab", checkpoint section "vocab"), is
 * one word per line, each line ended by '\n', ids 2, 3, ... in order; a
 * loader accepts it only if every word is 1..SIMDIFF_TEXT_WORD_MAX bytes of
 * [a-z0-9] and valid UTF-8 beyond ASCII, no word repeats, and the line
 * count is text_vocab - 2 (SIMDIFF_ERR_FORMAT otherwise).
 *
 * The encoder (docs/architecture.md, "Text encoder"): token and learned
 * position embeddings, text_layers pre-norm transformer layers with the
 * padding masked, a final layer norm. Its parameters are ordinary model
 * parameters: trained by the same optimizer, in EMA, checkpoints and F16
 * files.
 *
 * Thread safety: as model.h (the tokenizer calls only read the model).
 */
#ifndef SIMDIFF_TEXT_H
#define SIMDIFF_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "simdiff/core.h"
#include "simdiff/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SIMDIFF_TEXT_PAD 0     /* id of padding (never produced by the tokenizer) */
#define SIMDIFF_TEXT_UNKNOWN 1 /* id of a word not in the vocabulary              */
#define SIMDIFF_TEXT_WORD_MAX 64 /* bytes of the longest vocabulary word           */

/* Build a vocabulary from n captions (each a NUL-terminated string; NULL
 * entries are refused) of at most max_size ids (2..SIMDIFF_MAX_TEXT_VOCAB,
 * the two special ids included): its text form (above) into buf (cap bytes,
 * NUL included), *len (may be NULL) its length, *size (may be NULL) the id
 * count to put in simdiff_model_config.text_vocab (2 + words). Words longer
 * than SIMDIFF_TEXT_WORD_MAX bytes or not valid UTF-8 are left out (they
 * tokenize to the unknown id). buf NULL with cap 0 only measures (*len and
 * *size set, SIMDIFF_OK); a buffer too small: SIMDIFF_ERR_INVALID_ARG,
 * buf = "" (cap > 0), *len and *size still set. */
SIMDIFF_API simdiff_status simdiff_text_vocab_build(const char *const *captions, int n,
                                                    int max_size, char *buf, size_t cap,
                                                    size_t *len, int *size);

/* Give m (text_vocab > 0) its vocabulary in the text form above; checked as
 * a loader checks it (SIMDIFF_ERR_INVALID_ARG with the reason, m
 * unchanged), including that it has text_vocab - 2 words. A model made by
 * simdiff_model_create has an empty vocabulary (every word unknown) until
 * this is called; files store it. Not while a sampler or trainer uses m. */
SIMDIFF_API simdiff_status simdiff_model_set_vocab(simdiff_model *m, const char *vocab);

/* The model's vocabulary: its id count (text_vocab; 0 for a model without
 * an encoder or m NULL), and the word of an id ("<pad>" for 0, "<unk>" for
 * 1, "" for a word id of a model whose vocabulary is not set; NULL for an
 * id out of range). The string lives as long as m or its next
 * simdiff_model_set_vocab. */
SIMDIFF_API int simdiff_model_vocab_size(const simdiff_model *m);
SIMDIFF_API const char *simdiff_model_vocab_word(const simdiff_model *m, int id);

/* Tokenize prompt with m's vocabulary: the first min(words, cap) ids into
 * ids (may be NULL when cap is 0), *count (may be NULL) = the number of
 * words in the prompt before any truncation (so *count > cap tells the
 * caller what was cut). SIMDIFF_ERR_INVALID_ARG for m without an encoder,
 * prompt NULL or cap < 0. */
SIMDIFF_API simdiff_status simdiff_model_tokenize(const simdiff_model *m, const char *prompt,
                                                  int *ids, int cap, int *count);

/* simdiff_model_forward_ctx with the context made by the model's encoder
 * from n prompts (prompts[i] NUL-terminated; truncated to ctx_len words; no
 * words: the null context). prompts NULL: the null context for every
 * example. SIMDIFF_ERR_INVALID_ARG, and nothing written, for a model
 * without an encoder (text_vocab 0) or a NULL entry. */
SIMDIFF_API simdiff_status simdiff_model_forward_text(simdiff_model *m, int n, const float *z,
                                                      const double *logsnr, const int *labels,
                                                      const float *cond,
                                                      const char *const *prompts, float *out);

/* The same from token ids: tokens n x ctx_len ids (example i's at
 * tokens + i * ctx_len; ids past its length are never read), token_len n
 * lengths in 0..ctx_len (0: the null context; NULL: all ctx_len). Ids
 * within a length must be in 0..text_vocab-1. tokens NULL: the null
 * context. */
SIMDIFF_API simdiff_status simdiff_model_forward_tokens(simdiff_model *m, int n,
                                                        const float *z, const double *logsnr,
                                                        const int *labels, const float *cond,
                                                        const int *tokens,
                                                        const int *token_len, float *out);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_TEXT_H */
