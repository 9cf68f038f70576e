/* The built-in tokenizer and vocabulary (include/simdiff/text.h): building
 * a vocabulary from captions, tokenizing (unknown words, empty and
 * over-long prompts, case, non-ASCII, the size cap), the vocabulary in
 * safetensors F32/F16 files, prompts through the model's forward, and bad
 * inputs. The encoder's numbers against PyTorch are the uvit_text /
 * unet_text cases of test_model.c, hostile vocabularies in files its
 * hostile_vocab_refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "sdtest.h"
#include "simdiff/text.h"

enum { T = 4, D = 8, P = 64 };

static const char *caps[] = {"Red heart", "blue HEART!", "cat face", "heart", "caf\xc3\xa9 au lait",
                             "\xff\xfe heart", /* not UTF-8: the first word is left out */
                             /* 65 letters: too long for a vocabulary */
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa heart"};

/* A tiny U-ViT with an encoder of V ids (one layer). */
static simdiff_model *text_model(int V, uint64_t seed)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.num_classes = 0;
    cfg.ctx_dim = D;
    cfg.ctx_len = T;
    cfg.text_vocab = V;
    cfg.text_layers = 1;
    cfg.text_heads = 2;
    simdiff_model *m;
    ck_assert_msg(simdiff_model_create(&m, &cfg, seed) == SIMDIFF_OK, "%s",
                  simdiff_last_error());
    return m;
}

START_TEST(vocab_build)
{
    char buf[256];
    size_t len = 0;
    int size = 0;
    /* Counts: heart 5, then blue, cat, face, red, au, café, lait (1 each)
     * in byte order; the 65-byte word and the non-UTF-8 one are left out. */
    const char *want = "heart\nau\nblue\ncaf\xc3\xa9\ncat\nface\nlait\nred\n";
    ck_assert_int_eq(simdiff_text_vocab_build(caps, 7, 4096, buf, sizeof buf, &len, &size),
                     SIMDIFF_OK);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_int_eq(size, 10);
    /* Measuring only. */
    len = 0;
    ck_assert_int_eq(simdiff_text_vocab_build(caps, 7, 4096, NULL, 0, &len, &size), SIMDIFF_OK);
    ck_assert_uint_eq(len, strlen(want));
    /* The cap: 2 special ids + the 3 most frequent words. */
    ck_assert_int_eq(simdiff_text_vocab_build(caps, 7, 5, buf, sizeof buf, &len, &size),
                     SIMDIFF_OK);
    ck_assert_str_eq(buf, "heart\nau\nblue\n");
    ck_assert_int_eq(size, 5);
    /* No words at all: only the special ids. */
    const char *none[] = {"", "... !!"};
    ck_assert_int_eq(simdiff_text_vocab_build(none, 2, 100, buf, sizeof buf, &len, &size),
                     SIMDIFF_OK);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(size, 2);
    /* Too small a buffer, bad arguments. */
    ck_assert_int_eq(simdiff_text_vocab_build(caps, 7, 4096, buf, 8, &len, &size),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(len, strlen(want));
    const char *withnull[] = {"a", NULL};
    ck_assert_int_eq(simdiff_text_vocab_build(withnull, 2, 10, buf, sizeof buf, NULL, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_text_vocab_build(caps, 7, 1, buf, sizeof buf, NULL, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_text_vocab_build(caps, 7, SIMDIFF_MAX_TEXT_VOCAB + 1, buf,
                                              sizeof buf, NULL, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

static void tok_eq(const simdiff_model *m, const char *prompt, int count, const int *want)
{
    int ids[T] = {-7, -7, -7, -7}, k = -1;
    ck_assert_msg(simdiff_model_tokenize(m, prompt, ids, T, &k) == SIMDIFF_OK, "%s",
                  simdiff_last_error());
    ck_assert_msg(k == count, "'%s': %d words, expected %d", prompt, k, count);
    for (int j = 0; j < T; j++)
        ck_assert_msg(ids[j] == (j < count ? want[j] : -7), "'%s': id %d is %d", prompt, j,
                      ids[j]);
}

START_TEST(tokenize)
{
    simdiff_model *m = text_model(10, 1);
    /* Before a vocabulary is set the model cannot tokenize. */
    int ids[T], k;
    ck_assert_int_eq(simdiff_model_tokenize(m, "heart", ids, T, &k), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_null(simdiff_model_vocab_word(m, 2));
    char buf[256];
    ck_assert_int_eq(simdiff_text_vocab_build(caps, 7, 4096, buf, sizeof buf, NULL, NULL),
                     SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_vocab(m, buf), SIMDIFF_OK);
    /* ids: heart 2, au 3, blue 4, café 5, cat 6, face 7, lait 8, red 9 */
    ck_assert_int_eq(simdiff_model_vocab_size(m), 10);
    ck_assert_str_eq(simdiff_model_vocab_word(m, 0), "<pad>");
    ck_assert_str_eq(simdiff_model_vocab_word(m, 1), "<unk>");
    ck_assert_str_eq(simdiff_model_vocab_word(m, 2), "heart");
    ck_assert_str_eq(simdiff_model_vocab_word(m, 9), "red");
    ck_assert_ptr_null(simdiff_model_vocab_word(m, 10));
    ck_assert_ptr_null(simdiff_model_vocab_word(m, -1));
    tok_eq(m, "Red, HEART", 2, (int[]){9, 2});
    tok_eq(m, "dog face", 2, (int[]){1, 7});           /* unknown word */
    tok_eq(m, "", 0, NULL);                             /* empty: the null context */
    tok_eq(m, " ...!? \t\n", 0, NULL);                  /* no words */
    tok_eq(m, "red-heart_cat", 3, (int[]){9, 2, 6});    /* punctuation separates */
    tok_eq(m, "heart2 cat", 2, (int[]){1, 6});          /* digits belong to words */
    tok_eq(m, "caf\xc3\xa9 CAF\xc3\xa9", 2, (int[]){5, 5}); /* ASCII lower-cased */
    tok_eq(m, "CAF\xc3\x89", 1, (int[]){1});            /* É is not lower-cased */
    /* Over-long: the first ctx_len ids, the full count reported. */
    tok_eq(m, "heart heart cat face red blue", 6, (int[]){2, 2, 6, 7});
    /* Counting only. */
    ck_assert_int_eq(simdiff_model_tokenize(m, "a b c", NULL, 0, &k), SIMDIFF_OK);
    ck_assert_int_eq(k, 3);
    ck_assert_int_eq(simdiff_model_tokenize(m, NULL, ids, T, &k), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_tokenize(m, "a", NULL, 2, &k), SIMDIFF_ERR_INVALID_ARG);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(set_vocab_refuses)
{
    simdiff_model *m = text_model(5, 1);
    ck_assert_int_eq(simdiff_model_set_vocab(m, "red\nblue\ncat\n"), SIMDIFF_OK);
    const char *bad[] = {
        "red\nblue\n",            /* 2 words for 3 */
        "red\nblue\ncat\ndog\n",  /* 4 */
        "red\nblue\ncat",         /* no final newline */
        "red\nred\ncat\n",        /* duplicate */
        "red\n\ncat\n",           /* empty word */
        "Red\nblue\ncat\n",       /* upper case */
        "red\nbl ue\ncat\n",      /* space */
        "red\nblue\nc\xff\n",     /* not UTF-8 */
        "red\nblue\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", /* 65 */
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
        ck_assert_msg(simdiff_model_set_vocab(m, bad[i]) == SIMDIFF_ERR_INVALID_ARG,
                      "vocabulary %zu accepted", i);
        ck_assert_str_eq(simdiff_model_vocab_word(m, 2), "red"); /* unchanged */
    }
    /* A model without an encoder has no vocabulary. */
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    simdiff_model *plain;
    ck_assert_int_eq(simdiff_model_create(&plain, &cfg, 1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_set_vocab(plain, "red\n"), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_vocab_size(plain), 0);
    int ids[2];
    ck_assert_int_eq(simdiff_model_tokenize(plain, "red", ids, 2, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    simdiff_model_destroy(plain);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(config_bounds)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    char msg[256];
    cfg.text_vocab = 10; /* without a context */
    cfg.text_heads = 1;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
    cfg.ctx_dim = 6;
    cfg.ctx_len = 3;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg), SIMDIFF_OK);
    cfg.text_heads = 4; /* 6 % 4 */
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
    cfg.text_heads = 0;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
    cfg.text_heads = 2;
    cfg.text_vocab = 1;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
    cfg.text_vocab = SIMDIFF_MAX_TEXT_VOCAB + 1;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
    cfg.text_vocab = 2;
    cfg.text_layers = SIMDIFF_MAX_TEXT_LAYERS + 1;
    ck_assert_int_eq(simdiff_model_config_validate(&cfg, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

/* Random weights everywhere (the residual outputs too), so the prompt
 * reaches the output. */
static void randomize(simdiff_model *m)
{
    for (int64_t j = 0; j < m->total; j++)
        m->data[j] = 0.3f * sinf(0.7f * (float)j + 1.0f);
    sd_model_weights_changed(m);
}

static void forward_text(simdiff_model *m, int n, const char *const *prompts, float *out)
{
    float z[4 * P];
    double ls[4] = {-2, 0.5, 3, 1};
    for (int j = 0; j < 4 * P; j++)
        z[j] = sinf(0.37f * (float)(j % P));
    ck_assert_msg(simdiff_model_forward_text(m, n, z, ls, NULL, NULL, prompts, out) ==
                      SIMDIFF_OK,
                  "%s", simdiff_model_errmsg(m));
}

START_TEST(forward_prompts)
{
    simdiff_model *m = text_model(6, 2);
    randomize(m);
    ck_assert_int_eq(simdiff_model_set_vocab(m, "red\nblue\nheart\nface\n"), SIMDIFF_OK);
    float a[4 * P], b[4 * P];
    /* Prompts = their token ids (red 2, blue 3, heart 4, face 5). */
    const char *pr[] = {"red heart", "", "Blue; face!", "red red red red heart"};
    forward_text(m, 4, pr, a);
    int tok[4 * T] = {2, 4, 0, 0, /* null */ 0, 0, 0, 0, 3, 5, 0, 0, 2, 2, 2, 2};
    int lens[4] = {2, 0, 2, 4};
    float z[4 * P];
    double ls[4] = {-2, 0.5, 3, 1};
    for (int j = 0; j < 4 * P; j++)
        z[j] = sinf(0.37f * (float)(j % P));
    ck_assert_int_eq(simdiff_model_forward_tokens(m, 4, z, ls, NULL, NULL, tok, lens, b),
                     SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    /* The empty prompt is the null context; different prompts differ. */
    ck_assert_int_eq(simdiff_model_forward_ctx(m, 1, z + P, ls + 1, NULL, NULL, NULL, NULL, b),
                     SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a + P, b, P * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(a, a + 3 * P, P * sizeof(float)), 0);
    /* Over-long prompts are their first ctx_len words. */
    const char *pr2[] = {"red heart", "", "Blue; face!", "red red red red heart blue"};
    forward_text(m, 4, pr2, b);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    /* prompts NULL: the null context for all. */
    forward_text(m, 1, NULL, b);
    ck_assert_int_eq(simdiff_model_forward_ctx(m, 1, z, ls, NULL, NULL, NULL, NULL, a),
                     SIMDIFF_OK);
    ck_assert_int_eq(memcmp(a, b, P * sizeof(float)), 0);

    /* Bad inputs: an error with a message, out untouched. */
    float out[4 * P];
    for (int j = 0; j < 4 * P; j++)
        out[j] = 42;
    const char *withnull[] = {"red", NULL};
    ck_assert_int_eq(simdiff_model_forward_text(m, 2, z, ls, NULL, NULL, withnull, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(m), "prompt 1 is NULL"));
    int badtok[T] = {2, 6, 0, 0}, l2 = 2, l5 = T + 1;
    ck_assert_int_eq(simdiff_model_forward_tokens(m, 1, z, ls, NULL, NULL, badtok, &l2, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_forward_tokens(m, 1, z, ls, NULL, NULL, tok, &l5, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_model_forward_tokens(m, 1, z, ls, NULL, NULL, NULL, &l2, out),
                     SIMDIFF_ERR_INVALID_ARG);
    double nan_ls = NAN;
    ck_assert_int_eq(simdiff_model_forward_text(m, 1, z, &nan_ls, NULL, NULL, pr, out),
                     SIMDIFF_ERR_INVALID_ARG);
    for (int j = 0; j < 4 * P; j++)
        ck_assert(out[j] == 42);
    /* A model without an encoder refuses prompts and ids. */
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.num_classes = 0;
    simdiff_model *plain;
    ck_assert_int_eq(simdiff_model_create(&plain, &cfg, 1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_forward_text(plain, 1, z, ls, NULL, NULL, pr, out),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_model_errmsg(plain), "no text encoder"));
    ck_assert_int_eq(simdiff_model_forward_tokens(plain, 1, z, ls, NULL, NULL, tok, lens, out),
                     SIMDIFF_ERR_INVALID_ARG);
    for (int j = 0; j < 4 * P; j++)
        ck_assert(out[j] == 42);
    simdiff_model_destroy(plain);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(vocab_in_files)
{
    simdiff_model *m = text_model(6, 3);
    randomize(m);
    const char *voc = "red\nblue\ncaf\xc3\xa9\nface\n";
    ck_assert_int_eq(simdiff_model_set_vocab(m, voc), SIMDIFF_OK);
    const char *pr[] = {"red caf\xc3\xa9", "blue face", "", "dog"};
    float a[4 * P], b[4 * P];
    forward_text(m, 4, pr, a);
    char path[512];
    for (int f16 = 0; f16 < 2; f16++) {
        snprintf(path, sizeof path, "%s/text-%d.safetensors", sdtest_tmpdir(), f16);
        ck_assert_int_eq(f16 ? simdiff_model_save_safetensors_f16(m, path)
                             : simdiff_model_save_safetensors(m, path),
                         SIMDIFF_OK);
        simdiff_model *l;
        ck_assert_msg(simdiff_model_load(&l, path) == SIMDIFF_OK, "%s", simdiff_last_error());
        ck_assert_int_eq(simdiff_model_vocab_size(l), 6);
        for (int id = 2; id < 6; id++)
            ck_assert_str_eq(simdiff_model_vocab_word(l, id), simdiff_model_vocab_word(m, id));
        forward_text(l, 4, pr, b);
        if (!f16)
            ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
        else
            ck_assert(sdtest_max_rel_err(b, a, 4 * P, 1e-2) < 0.05);
        simdiff_model_destroy(l);
    }
    /* A model with an encoder but no vocabulary saves and loads without
     * one (used with token ids). */
    simdiff_model *nv = text_model(6, 3), *l;
    snprintf(path, sizeof path, "%s/text-novocab.safetensors", sdtest_tmpdir());
    ck_assert_int_eq(simdiff_model_save_safetensors(nv, path), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_load(&l, path), SIMDIFF_OK);
    ck_assert_ptr_null(simdiff_model_vocab_word(l, 2));
    simdiff_model_destroy(l);
    simdiff_model_destroy(nv);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("text");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, vocab_build);
    tcase_add_test(tc, tokenize);
    tcase_add_test(tc, set_vocab_refuses);
    tcase_add_test(tc, config_bounds);
    tcase_add_test(tc, forward_prompts);
    tcase_add_test(tc, vocab_in_files);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
