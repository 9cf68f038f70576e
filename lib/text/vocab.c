/* The word tokenizer and the vocabulary (rules: include/simdiff/text.h):
 * scanning words, parsing and checking a vocabulary's text form, building
 * one from captions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "text/text_internal.h"

/* ---- words ------------------------------------------------------------------ */

static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

/* The next word at or after *p: its start and length (0: none left); *p
 * moves past it. */
static size_t next_word(const char **p, const char **start)
{
    const unsigned char *s = (const unsigned char *)*p;
    while (*s && !word_byte(*s))
        s++;
    const unsigned char *b = s;
    while (*s && word_byte(*s))
        s++;
    *start = (const char *)b;
    *p = (const char *)s;
    return (size_t)(s - b);
}

/* The lower-cased word into buf (SIMDIFF_TEXT_WORD_MAX + 1 bytes): 1, or 0
 * for a word that can never be in a vocabulary (too long, not UTF-8). */
static int word_key(const char *w, size_t len, char *buf)
{
    if (len > SIMDIFF_TEXT_WORD_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = w[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[len] = 0;
    return sd_utf8_valid(buf);
}

/* ---- the vocabulary ----------------------------------------------------------- */

void sd_vocab_destroy(sd_vocab *v)
{
    if (!v)
        return;
    free(v->text);
    free(v->wbuf);
    free(v->word);
    free(v->sorted);
    free(v);
}

/* Merge sort of word ids by their words (C11 has no qsort with a context). */
static void sort_ids(int *ids, int *tmp, int n, const sd_vocab *v)
{
    if (n < 2)
        return;
    int h = n / 2;
    sort_ids(ids, tmp, h, v);
    sort_ids(ids + h, tmp, n - h, v);
    int i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = strcmp(v->word[ids[j]], v->word[ids[i]]) < 0 ? ids[j++] : ids[i++];
    while (i < h)
        tmp[k++] = ids[i++];
    while (j < n)
        tmp[k++] = ids[j++];
    memcpy(ids, tmp, (size_t)n * sizeof *ids);
}

simdiff_status sd_vocab_parse(sd_vocab **out, const char *text, size_t len, int expect_size,
                              simdiff_status bad)
{
    *out = NULL;
    if (expect_size < 2 || expect_size > SIMDIFF_MAX_TEXT_VOCAB)
        return sd_fail(NULL, bad, "vocabulary: text_vocab %d is not in 2..%d", expect_size,
                       SIMDIFF_MAX_TEXT_VOCAB);
    const int nwords = expect_size - 2;
    if (len > SD_VOCAB_TEXT_MAX)
        return sd_fail(NULL, bad, "vocabulary: %zu bytes, more than the %zu a vocabulary "
                       "can have", len, SD_VOCAB_TEXT_MAX);
    if (len > 0 && text[len - 1] != '\n')
        return sd_fail(NULL, bad, "vocabulary: the last line has no newline");
    /* Count the lines before anything is allocated for them. */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == 0)
            return sd_fail(NULL, bad, "vocabulary: NUL byte at offset %zu", i);
        lines += text[i] == '\n';
    }
    if (lines != (size_t)nwords)
        return sd_fail(NULL, bad, "vocabulary: %zu words, but the model config says %d "
                       "(text_vocab %d minus the 2 special ids)", lines, nwords, expect_size);
    sd_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "vocabulary: out of memory");
    v->size = expect_size;
    v->text_len = len;
    v->text = malloc(len + 1);
    v->wbuf = malloc(len + 1);
    v->word = calloc((size_t)expect_size, sizeof *v->word);
    v->sorted = malloc((size_t)(nwords ? nwords : 1) * sizeof *v->sorted);
    int *tmp = malloc((size_t)(nwords ? nwords : 1) * sizeof *tmp);
    if (!v->text || !v->wbuf || !v->word || !v->sorted || !tmp) {
        free(tmp);
        sd_vocab_destroy(v);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "vocabulary: out of memory");
    }
    memcpy(v->text, text, len);
    v->text[len] = 0;
    memcpy(v->wbuf, text, len);
    v->wbuf[len] = 0;
    v->word[SIMDIFF_TEXT_PAD] = "<pad>";
    v->word[SIMDIFF_TEXT_UNKNOWN] = "<unk>";
    /* Split the copy into NUL-terminated words and check each. */
    simdiff_status st = SIMDIFF_OK;
    char *p = v->wbuf;
    for (int k = 0; k < nwords && !st; k++) {
        char *nl = strchr(p, '\n');
        size_t wl = (size_t)(nl - p);
        *nl = 0;
        if (wl == 0 || wl > SIMDIFF_TEXT_WORD_MAX)
            st = sd_fail(NULL, bad, "vocabulary: word %d (id %d) has %zu bytes; expected "
                         "1..%d", k + 1, k + 2, wl, SIMDIFF_TEXT_WORD_MAX);
        for (size_t i = 0; i < wl && !st; i++) {
            unsigned char c = (unsigned char)p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80))
                st = sd_fail(NULL, bad, "vocabulary: word %d (id %d) has byte 0x%02x; words "
                             "are lower-case letters, digits and UTF-8", k + 1, k + 2, c);
        }
        if (!st && !sd_utf8_valid(p))
            st = sd_fail(NULL, bad, "vocabulary: word %d (id %d) is not valid UTF-8", k + 1,
                         k + 2);
        v->word[k + 2] = p;
        v->sorted[k] = k + 2;
        p = nl + 1;
    }
    if (!st) {
        sort_ids(v->sorted, tmp, nwords, v);
        for (int k = 1; k < nwords && !st; k++)
            if (!strcmp(v->word[v->sorted[k]], v->word[v->sorted[k - 1]]))
                st = sd_fail(NULL, bad, "vocabulary: the word '%s' appears twice (ids %d "
                             "and %d)", v->word[v->sorted[k]], v->sorted[k - 1],
                             v->sorted[k]);
    }
    free(tmp);
    if (st) {
        sd_vocab_destroy(v);
        return st;
    }
    *out = v;
    return SIMDIFF_OK;
}

simdiff_status sd_vocab_empty(sd_vocab **out)
{
    return sd_vocab_parse(out, "", 0, 2, SIMDIFF_ERR_INTERNAL);
}

/* The id of a lower-cased word (SIMDIFF_TEXT_UNKNOWN when absent). */
static int lookup(const sd_vocab *v, const char *key)
{
    int lo = 0, hi = v->size - 2;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(v->word[v->sorted[mid]], key);
        if (c == 0)
            return v->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIMDIFF_TEXT_UNKNOWN;
}

int sd_text_tokenize(const sd_vocab *v, const char *prompt, int *ids, int cap)
{
    char key[SIMDIFF_TEXT_WORD_MAX + 1];
    const char *w;
    size_t wl;
    int count = 0;
    while ((wl = next_word(&prompt, &w)) > 0) {
        if (count < cap)
            ids[count] = v && word_key(w, wl, key) ? lookup(v, key) : SIMDIFF_TEXT_UNKNOWN;
        count += count < INT32_MAX;
    }
    return count;
}

/* ---- building a vocabulary ---------------------------------------------------- */

typedef struct wcount {
    const char *w;
    int64_t n;
} wcount;

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int by_count(const void *a_, const void *b_)
{
    const wcount *a = a_, *b = b_;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return strcmp(a->w, b->w);
}

SIMDIFF_API simdiff_status simdiff_text_vocab_build(const char *const *captions, int n,
                                                    int max_size, char *buf, size_t cap,
                                                    size_t *len, int *size)
{
    static const char fn[] = "simdiff_text_vocab_build";
    if (n < 0 || (n > 0 && !captions) || (!buf && cap > 0))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: n = %d (must be >= 0), captions NULL or buf NULL with cap %zu",
                       fn, n, cap);
    if (max_size < 2 || max_size > SIMDIFF_MAX_TEXT_VOCAB)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: max_size %d is not in 2..%d (the two special ids included)", fn,
                       max_size, SIMDIFF_MAX_TEXT_VOCAB);
    for (int i = 0; i < n; i++)
        if (!captions[i])
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: captions[%d] is NULL", fn, i);
    /* Every usable word, lower-cased, NUL-terminated, into one pool. */
    size_t pool_len = 0, pool_cap = 0, nw = 0, nw_cap = 0;
    char *pool = NULL;
    size_t *offs = NULL;
    char key[SIMDIFF_TEXT_WORD_MAX + 1];
    simdiff_status st = SIMDIFF_OK;
    for (int i = 0; i < n && !st; i++) {
        const char *p = captions[i], *w;
        size_t wl;
        while ((wl = next_word(&p, &w)) > 0) {
            if (!word_key(w, wl, key))
                continue;
            if (pool_len + wl + 1 > pool_cap || nw == nw_cap) {
                size_t pc = pool_cap * 2 + 4096, oc = nw_cap * 2 + 1024;
                char *np = realloc(pool, pc);
                if (np)
                    pool = np, pool_cap = pc;
                size_t *no = np ? realloc(offs, oc * sizeof *offs) : NULL;
                if (no)
                    offs = no, nw_cap = oc;
                if (!np || !no) {
                    st = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
                    break;
                }
            }
            memcpy(pool + pool_len, key, wl + 1);
            offs[nw++] = pool_len;
            pool_len += wl + 1;
        }
    }
    const char **ws = st || !nw ? NULL : malloc(nw * sizeof *ws);
    wcount *wc = st || !nw ? NULL : malloc(nw * sizeof *wc);
    if (!st && nw && (!ws || !wc))
        st = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: out of memory", fn);
    size_t nu = 0;
    if (!st && nw) {
        for (size_t k = 0; k < nw; k++)
            ws[k] = pool + offs[k];
        qsort(ws, nw, sizeof *ws, by_text);
        for (size_t k = 0; k < nw; k++) {
            if (nu && !strcmp(wc[nu - 1].w, ws[k]))
                wc[nu - 1].n++;
            else
                wc[nu++] = (wcount){ws[k], 1};
        }
        qsort(wc, nu, sizeof *wc, by_count);
    }
    size_t keep = nu < (size_t)(max_size - 2) ? nu : (size_t)(max_size - 2), need = 0;
    for (size_t k = 0; k < keep; k++)
        need += strlen(wc[k].w) + 1;
    if (!st) {
        if (len)
            *len = need;
        if (size)
            *size = (int)keep + 2;
        if (buf && need + 1 > cap) {
            buf[0] = 0;
            st = sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                         "%s: the vocabulary needs %zu bytes, the buffer has %zu", fn,
                         need + 1, cap);
        } else if (buf) {
            char *o = buf;
            for (size_t k = 0; k < keep; k++) {
                size_t l = strlen(wc[k].w);
                memcpy(o, wc[k].w, l);
                o[l] = '\n';
                o += l + 1;
            }
            *o = 0;
        }
    }
    free(ws);
    free(wc);
    free(offs);
    free(pool);
    return st;
}
