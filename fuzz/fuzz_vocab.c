/* The vocabulary text of a model with the built-in text encoder
 * ("simdiff.vocab", include/simdiff/text.h): the first input byte gives
 * the id count the config would claim (2 + byte), the rest is the text.
 * A text that parses maps each of its words back to its own id; the
 * input's bytes as a prompt tokenize to ids in range; vocabularies built
 * from the input's lines parse with the size the builder reports. */
#include "fuzz_common.h"
#include "text/text_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int expect = 2 + data[0];
    const char *text = (const char *)data + 1;
    sd_vocab *v = NULL;
    if (sd_vocab_parse(&v, text, size - 1, expect, SIMDIFF_ERR_FORMAT) == SIMDIFF_OK) {
        FZ_CHECK(v->size == expect);
        for (int id = 2; id < v->size; id++) {
            int got = -1;
            FZ_CHECK(sd_text_tokenize(v, v->word[id], &got, 1) == 1 && got == id);
        }
    } else {
        FZ_CHECK(v == NULL);
    }
    /* The input as a prompt (to its first NUL). */
    char *s = fz_cstr(data + 1, size - 1);
    int ids[8];
    int k = sd_text_tokenize(v, s, ids, 8);
    for (int j = 0; j < k && j < 8; j++)
        FZ_CHECK(ids[j] >= 1 && ids[j] < (v ? v->size : 2));
    sd_vocab_destroy(v);
    /* Its lines as captions: the built vocabulary is a valid one. */
    const char *caps[64];
    int n = 0;
    for (char *p = s; n < 64;) {
        caps[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    size_t len = 0;
    int vsize = 0;
    FZ_CHECK(simdiff_text_vocab_build(caps, n, expect, NULL, 0, &len, &vsize) == SIMDIFF_OK);
    char *buf = malloc(len + 1);
    FZ_CHECK(buf && simdiff_text_vocab_build(caps, n, expect, buf, len + 1, NULL, &vsize) ==
                        SIMDIFF_OK);
    FZ_CHECK(vsize >= 2 && vsize <= expect);
    FZ_CHECK(sd_vocab_parse(&v, buf, len, vsize, SIMDIFF_ERR_FORMAT) == SIMDIFF_OK);
    sd_vocab_destroy(v);
    free(buf);
    free(s);
    return 0;
}
