/*
 * Messages are safe to print (core/internal.h, sd_text_escape, used by
 * sd_fail on every message): control characters, DEL, C1 controls and
 * bytes that are not UTF-8 become \xNN; printable ASCII and valid UTF-8
 * pass unchanged; a cut never splits an escape or a character. Expected
 * strings written by hand from that rule.
 */
#include <string.h>

#include "core/internal.h"
#include "sdtest.h"

START_TEST(escape_rule)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain key=value; 'quoted' \\ ok", "plain key=value; 'quoted' \\ ok"},
        {"\x1b[2J", "\\x1b[2J"},
        {"a\nb\tc\rd", "a\\x0ab\\x09c\\x0dd"},
        {"del\x7f", "del\\x7f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"},
        {"c1 \xc2\x9b" "31m", "c1 \\xc2\\x9b31m"},   /* U+009B, the 8-bit CSI */
        {"nbsp \xc2\xa0", "nbsp \xc2\xa0"},         /* U+00A0 is printable */
        {"bad \xff\xfe", "bad \\xff\\xfe"},
        {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
        {"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
        {"cut \xe2\x82", "cut \\xe2\\x82"},
        {"already \\x1b escaped", "already \\x1b escaped"},
    };
    char buf[128];
    for (size_t k = 0; k < SD_ARRAY_LEN(cases); k++) {
        size_t n = sd_text_escape(buf, sizeof buf, cases[k].in);
        ck_assert_msg(strcmp(buf, cases[k].out) == 0, "case %zu: got \"%s\"", k, buf);
        ck_assert_uint_eq(n, strlen(cases[k].out));
    }
    /* Truncation: whole escapes and whole characters only. */
    ck_assert_uint_eq(sd_text_escape(buf, 6, "ab\x1b" "cd"), 2);
    ck_assert_str_eq(buf, "ab");
    ck_assert_uint_eq(sd_text_escape(buf, 7, "ab\x1b" "cd"), 6);
    ck_assert_str_eq(buf, "ab\\x1b");
    ck_assert_uint_eq(sd_text_escape(buf, 4, "ab\xe2\x82\xac"), 2);
    ck_assert_str_eq(buf, "ab");
    ck_assert_uint_eq(sd_text_escape(buf, 1, "abc"), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

/* sd_fail applies the rule to the thread's and the handle's message. */
START_TEST(sd_fail_escapes)
{
    sd_err h;
    memset(&h, 0, sizeof h);
    ck_assert_int_eq(sd_fail(&h, SIMDIFF_ERR_FORMAT, "key '%s'", "\x1b]0;x\x07\xff"),
                     SIMDIFF_ERR_FORMAT);
    ck_assert_str_eq(simdiff_last_error(), "key '\\x1b]0;x\\x07\\xff'");
    ck_assert_str_eq(h.msg, simdiff_last_error());
    /* A long message stays within the buffer, cut at a whole escape. */
    char big[2000];
    memset(big, 0x01, sizeof big - 1);
    big[sizeof big - 1] = 0;
    sd_fail(NULL, SIMDIFF_ERR_FORMAT, "%s", big);
    size_t n = strlen(simdiff_last_error());
    ck_assert_uint_lt(n, SD_ERRMSG_MAX);
    ck_assert_uint_eq(n % 4, 0);
    ck_assert(sd_utf8_valid(simdiff_last_error()));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("core-text");
    TCase *tc = tcase_create("escape");
    tcase_add_test(tc, escape_rule);
    tcase_add_test(tc, sd_fail_escapes);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
