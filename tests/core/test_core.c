/* The basics: versions, status strings, errors, threads, runtime info. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

START_TEST(version_header_matches_library)
{
    ck_assert_uint_eq(simdiff_version_number(), SIMDIFF_VERSION_NUMBER);
    ck_assert_str_eq(simdiff_version(), SIMDIFF_VERSION_STRING);
    /* The build system's project version is an independent source. */
    ck_assert_str_eq(simdiff_version(), SDTEST_PROJECT_VERSION);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", SIMDIFF_VERSION_MAJOR,
             SIMDIFF_VERSION_MINOR, SIMDIFF_VERSION_PATCH);
    ck_assert_str_eq(buf, SIMDIFF_VERSION_STRING);
    ck_assert_uint_eq(SIMDIFF_VERSION_NUMBER,
                      (unsigned)(SIMDIFF_VERSION_MAJOR * 65536 +
                                 SIMDIFF_VERSION_MINOR * 256 +
                                 SIMDIFF_VERSION_PATCH));
}
END_TEST

START_TEST(version_at_least)
{
    ck_assert(SIMDIFF_VERSION_AT_LEAST(0, 0, 0));
    ck_assert(SIMDIFF_VERSION_AT_LEAST(SIMDIFF_VERSION_MAJOR,
                                       SIMDIFF_VERSION_MINOR,
                                       SIMDIFF_VERSION_PATCH));
    ck_assert(!SIMDIFF_VERSION_AT_LEAST(SIMDIFF_VERSION_MAJOR,
                                        SIMDIFF_VERSION_MINOR,
                                        SIMDIFF_VERSION_PATCH + 1));
    ck_assert(!SIMDIFF_VERSION_AT_LEAST(SIMDIFF_VERSION_MAJOR + 1, 0, 0));
}
END_TEST

START_TEST(status_strings)
{
    ck_assert_str_eq(simdiff_status_str(SIMDIFF_OK), "ok");
    /* Every code has its own non-empty string. */
    for (int i = 0; i < SIMDIFF_STATUS_COUNT_; i++) {
        const char *si = simdiff_status_str((simdiff_status)i);
        ck_assert_ptr_nonnull(si);
        ck_assert_int_gt((int)strlen(si), 0);
        ck_assert_str_ne(si, "unknown status");
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(si, simdiff_status_str((simdiff_status)j));
    }
    ck_assert_str_eq(simdiff_status_str((simdiff_status)-1), "unknown status");
    ck_assert_str_eq(simdiff_status_str(SIMDIFF_STATUS_COUNT_), "unknown status");
    ck_assert_str_eq(simdiff_status_str((simdiff_status)12345), "unknown status");
}
END_TEST

START_TEST(status_numbers_are_stable)
{
    /* Append-only: these numbers are ABI. */
    ck_assert_int_eq(SIMDIFF_OK, 0);
    ck_assert_int_eq(SIMDIFF_ERR_INVALID_ARG, 1);
    ck_assert_int_eq(SIMDIFF_ERR_NOMEM, 2);
    ck_assert_int_eq(SIMDIFF_ERR_IO, 3);
    ck_assert_int_eq(SIMDIFF_ERR_FORMAT, 4);
    ck_assert_int_eq(SIMDIFF_ERR_UNSUPPORTED, 5);
    ck_assert_int_eq(SIMDIFF_ERR_CANCELLED, 6);
    ck_assert_int_eq(SIMDIFF_ERR_BACKEND, 7);
    ck_assert_int_eq(SIMDIFF_ERR_MISUSE, 8);
    ck_assert_int_eq(SIMDIFF_ERR_NUMERIC, 9);
    ck_assert_int_eq(SIMDIFF_ERR_INTERNAL, 10);
}
END_TEST

static void *fail_on_other_thread(void *arg)
{
    (void)arg;
    simdiff_status s = simdiff_set_num_threads(-7);
    ck_assert_int_eq(s, SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "-7"));
    return NULL;
}

START_TEST(last_error_is_thread_local)
{
    ck_assert_int_eq(simdiff_set_num_threads(-3), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "-3"));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fail_on_other_thread, NULL), 0);
    pthread_join(th, NULL);
    /* The other thread's failure did not overwrite ours. */
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "-3"));
    ck_assert_ptr_null(strstr(simdiff_last_error(), "-7"));
}
END_TEST

START_TEST(threads)
{
    ck_assert_int_eq(simdiff_set_num_threads(3), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_get_num_threads(), 3);
    ck_assert_ptr_nonnull(strstr(simdiff_runtime_info(), "threads 3"));
    ck_assert_int_eq(simdiff_set_num_threads(0), SIMDIFF_OK);
    ck_assert_int_ge(simdiff_get_num_threads(), 1);
    ck_assert_int_eq(simdiff_set_num_threads(100000), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_ge(simdiff_get_num_threads(), 1);
}
END_TEST

START_TEST(runtime_info)
{
    const char *info = simdiff_runtime_info();
    ck_assert_ptr_nonnull(info);
    ck_assert_ptr_nonnull(strstr(info, "libsimdiff " SIMDIFF_VERSION_STRING));
    ck_assert_ptr_nonnull(strstr(info, "oneDNN 2."));
    ck_assert_ptr_nonnull(strstr(info, "isa "));
    ck_assert_ptr_null(strstr(info, "isa unknown"));
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("basics");
    tcase_add_test(tc, version_header_matches_library);
    tcase_add_test(tc, version_at_least);
    tcase_add_test(tc, status_strings);
    tcase_add_test(tc, status_numbers_are_stable);
    tcase_add_test(tc, last_error_is_thread_local);
    tcase_add_test(tc, threads);
    tcase_add_test(tc, runtime_info);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(core_suite)
