/*
 * Text (internal): the word tokenizer and the vocabulary of the built-in
 * text encoder (include/simdiff/text.h has the rules). Below the model:
 * the model owns an sd_vocab, stores its text and tokenizes with it.
 */
#ifndef SIMDIFF_LIB_TEXT_INTERNAL_H
#define SIMDIFF_LIB_TEXT_INTERNAL_H

#include <stddef.h>

#include "simdiff/text.h"

/* A parsed vocabulary: `size` ids (2 special + words), the text form it
 * came from, and the words sorted for lookup. */
typedef struct sd_vocab {
    int size;           /* ids: 2 + words                                  */
    char *text;         /* the text form (one word per line), NUL-terminated */
    size_t text_len;
    char *wbuf;         /* a copy split into NUL-terminated words            */
    const char **word;  /* (size) word of each id; [0], [1] the special names */
    int *sorted;        /* (size - 2) word ids in byte order of their words  */
} sd_vocab;

/* The vocabulary with no words (size 2): every word unknown. */
simdiff_status sd_vocab_empty(sd_vocab **out);
/* Parse and check a text form of len bytes (it need not be NUL-terminated)
 * that must hold expect_size - 2 words (the rules in text.h). A bad text
 * fails with `bad` (SIMDIFF_ERR_FORMAT for a file, _INVALID_ARG for a
 * caller) and a message saying why; out of memory is SIMDIFF_ERR_NOMEM. */
simdiff_status sd_vocab_parse(sd_vocab **out, const char *text, size_t len, int expect_size,
                              simdiff_status bad);
void sd_vocab_destroy(sd_vocab *v);

/* The tokenizer: the first min(words, cap) ids of prompt into ids; returns
 * the number of words (untruncated). v NULL: every word unknown. */
int sd_text_tokenize(const sd_vocab *v, const char *prompt, int *ids, int cap);

/* Longest vocabulary text of a model (text_vocab <= SIMDIFF_MAX_TEXT_VOCAB
 * words of SIMDIFF_TEXT_WORD_MAX bytes and a newline each). */
#define SD_VOCAB_TEXT_MAX ((size_t)SIMDIFF_MAX_TEXT_VOCAB * (SIMDIFF_TEXT_WORD_MAX + 1))

#endif
