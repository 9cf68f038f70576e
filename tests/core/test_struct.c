/*
 * The one check+copy every struct_size goes through (core/internal.h),
 * across a real version change: a library that knows a "v2" struct (one
 * field appended to v1) meets callers compiled against v1 and v2, and a v1
 * library meets a v2 caller. tests/core/test_struct_growth.c covers the
 * public structs through the API.
 */
#include <stdint.h>
#include <string.h>

#include "core/internal.h"
#include "sdtest.h"

typedef struct v1 {
    size_t struct_size;
    int a;
    double b;
    int c; /* trailing padding after c on LP64: where v2's field lands */
} v1;
typedef struct v2 {
    size_t struct_size;
    int a;
    double b;
    int c;
    int d; /* appended in v2; 0 is v1's behaviour */
    double e;
} v2;

static const sd_struct_layout lib_v1 = {"test_struct", SD_FIELD_END(v1, c),
                                        SD_FIELD_END(v1, c)};
static const sd_struct_layout lib_v2 = {"test_struct", SD_FIELD_END(v2, c),
                                        SD_FIELD_END(v2, e)};

#define PAT 0xA5
#define GUARD 32

START_TEST(newer_library_reads_an_older_caller)
{
    /* A v1 caller's struct, as filled by a v1 _init (all bytes zeroed). */
    v1 old;
    memset(&old, 0, sizeof old);
    old.struct_size = sizeof old;
    old.a = 3, old.b = 0.5, old.c = -2;
    v2 got;
    memset(&got, PAT, sizeof got);
    ck_assert_int_eq(sd_struct_read(&lib_v2, &got, &old, "f"), SIMDIFF_OK);
    ck_assert(got.a == 3 && got.b == 0.5 && got.c == -2);
    ck_assert(got.d == 0 && got.e == 0.0); /* v1 callers get v1 behaviour */
    ck_assert_uint_eq(got.struct_size, SD_FIELD_END(v2, e));
    /* Set by hand to v1's fields' end: the same. */
    old.struct_size = SD_FIELD_END(v1, c);
    memset(&got, PAT, sizeof got);
    ck_assert_int_eq(sd_struct_read(&lib_v2, &got, &old, "f"), SIMDIFF_OK);
    ck_assert(got.a == 3 && got.c == -2 && got.d == 0 && got.e == 0.0);
    /* Below v1: refused, dst untouched. */
    old.struct_size = SD_FIELD_END(v1, b);
    memset(&got, PAT, sizeof got);
    ck_assert_int_eq(sd_struct_read(&lib_v2, &got, &old, "f"), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "test_struct"));
    ck_assert_int_eq(((unsigned char *)&got)[0], PAT);
}
END_TEST

START_TEST(newer_library_writes_only_an_older_callers_bytes)
{
    v2 src;
    memset(&src, 0, sizeof src);
    src.a = 1, src.b = 2.0, src.c = 3, src.d = 4, src.e = 5.0;
    unsigned char buf[sizeof(v1) + GUARD];
    const size_t sizes[] = {SD_FIELD_END(v1, c), sizeof(v1)};
    for (int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        memset(buf, PAT, sizeof buf);
        ck_assert_int_eq(sd_struct_write(&lib_v2, buf, n, &src, "f"), SIMDIFF_OK);
        for (size_t i = n; i < sizeof buf; i++)
            ck_assert_msg(buf[i] == PAT, "byte %zu past a %zu-byte caller written", i, n);
        v1 got;
        memcpy(&got, buf, SD_FIELD_END(v1, c));
        ck_assert(got.struct_size == n && got.a == 1 && got.b == 2.0 && got.c == 3);
    }
    memset(buf, PAT, sizeof buf);
    ck_assert_int_eq(sd_struct_write(&lib_v2, buf, SD_FIELD_END(v1, c) - 1, &src, "f"),
                     SIMDIFF_ERR_INVALID_ARG);
    for (size_t i = 0; i < sizeof buf; i++)
        ck_assert_int_eq(buf[i], PAT);
}
END_TEST

START_TEST(older_library_meets_a_newer_caller)
{
    v2 caller;
    memset(&caller, 0, sizeof caller);
    caller.struct_size = sizeof caller;
    caller.a = 7, caller.b = 1.5, caller.c = 9;
    /* v2's fields left at zero: a v1 library serves it. */
    v1 got;
    ck_assert_int_eq(sd_struct_read(&lib_v1, &got, &caller, "f"), SIMDIFF_OK);
    ck_assert(got.a == 7 && got.b == 1.5 && got.c == 9);
    /* A v2 field set: the v1 library cannot honour it. */
    caller.e = 0.25;
    ck_assert_int_eq(sd_struct_read(&lib_v1, &got, &caller, "f"), SIMDIFF_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "test_struct"));
    caller.e = 0, caller.d = 1;
    ck_assert_int_eq(sd_struct_read(&lib_v1, &got, &caller, "f"), SIMDIFF_ERR_UNSUPPORTED);
    /* Filling it: v2's bytes come back zero, none past it. */
    unsigned char buf[sizeof(v2) + GUARD];
    memset(buf, PAT, sizeof buf);
    ck_assert_int_eq(sd_struct_write(&lib_v1, buf, sizeof(v2), &got, "f"), SIMDIFF_OK);
    for (size_t i = SD_FIELD_END(v1, c); i < sizeof(v2); i++)
        ck_assert_int_eq(buf[i], 0);
    for (size_t i = sizeof(v2); i < sizeof buf; i++)
        ck_assert_int_eq(buf[i], PAT);
    size_t n;
    memcpy(&n, buf, sizeof n);
    ck_assert_uint_eq(n, sizeof(v2));
    /* An uninitialized struct_size: refused before any byte past it is read. */
    caller.struct_size = (size_t)1 << 40;
    ck_assert_int_eq(sd_struct_read(&lib_v1, &got, &caller, "f"), SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("core-struct");
    TCase *tc = tcase_create("versions");
    tcase_add_test(tc, newer_library_reads_an_older_caller);
    tcase_add_test(tc, newer_library_writes_only_an_older_callers_bytes);
    tcase_add_test(tc, older_library_meets_a_newer_caller);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
