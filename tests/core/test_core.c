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

/* Enum names: every documented name gives the documented number (the
 * values written in the headers), the name of each number reads back,
 * aliases and spellings are accepted, unknown names are refused with the
 * known ones listed and *out untouched. */
#define NAME_CASE(stem, type, text, value)                                     \
    do {                                                                       \
        type v_ = (type)-7;                                                    \
        ck_assert_msg(simdiff_##stem##_from_name(text, &v_) == SIMDIFF_OK,     \
                      "%s: %s", text, simdiff_last_error());                   \
        ck_assert_int_eq((int)v_, value);                                      \
    } while (0)

START_TEST(enum_names)
{
    NAME_CASE(arch, simdiff_arch, "unet", 1);
    NAME_CASE(arch, simdiff_arch, "U-ViT", 2);
    NAME_CASE(stem, simdiff_stem, "none", 0);
    NAME_CASE(stem, simdiff_stem, "patch", 1);
    NAME_CASE(stem, simdiff_stem, "DWT", 2);
    NAME_CASE(prediction, simdiff_prediction, "v", 0);
    NAME_CASE(prediction, simdiff_prediction, "eps", 1);
    NAME_CASE(loss, simdiff_loss, "eps", 0);
    NAME_CASE(loss, simdiff_loss, "v", 1);
    NAME_CASE(loss, simdiff_loss, "multiscale", 2);
    NAME_CASE(lr_decay, simdiff_lr_decay, "constant", 0);
    NAME_CASE(lr_decay, simdiff_lr_decay, "cosine", 1);
    NAME_CASE(sampler_method, simdiff_sampler_method, "ddpm", 0);
    NAME_CASE(sampler_method, simdiff_sampler_method, "DDIM", 1);
    NAME_CASE(sampler_method, simdiff_sampler_method, "dpmpp2m", 2);
    NAME_CASE(sampler_method, simdiff_sampler_method, "DPMPP_2M", 2);
    NAME_CASE(sampler_method, simdiff_sampler_method, "DPM-Solver++ 2M", 2);
    NAME_CASE(spacing, simdiff_spacing, "uniform_t", 0);
    NAME_CASE(spacing, simdiff_spacing, "t", 0);
    NAME_CASE(spacing, simdiff_spacing, "uniform-logsnr", 1);
    NAME_CASE(spacing, simdiff_spacing, "logsnr", 1);
    NAME_CASE(schedule_kind, simdiff_schedule_kind, "cosine", 0);
    NAME_CASE(schedule_kind, simdiff_schedule_kind, "shifted", 1);
    NAME_CASE(schedule_kind, simdiff_schedule_kind, "interpolated", 2);
    NAME_CASE(layout, simdiff_layout, "auto", 0);
    NAME_CASE(layout, simdiff_layout, "NHWC", 1);
    NAME_CASE(layout, simdiff_layout, "nchw", 2);
    NAME_CASE(float_range, simdiff_float_range, "zero_one", 0);
    NAME_CASE(float_range, simdiff_float_range, "01", 0);
    NAME_CASE(float_range, simdiff_float_range, "pm1", 1);
    NAME_CASE(float_range, simdiff_float_range, "-11", 1);

    ck_assert_str_eq(simdiff_arch_name(SIMDIFF_ARCH_UVIT), "uvit");
    ck_assert_str_eq(simdiff_stem_name(SIMDIFF_STEM_DWT), "dwt");
    ck_assert_str_eq(simdiff_prediction_name(SIMDIFF_PRED_EPS), "eps");
    ck_assert_str_eq(simdiff_loss_name(SIMDIFF_LOSS_MULTISCALE), "multiscale");
    ck_assert_str_eq(simdiff_lr_decay_name(SIMDIFF_LR_COSINE), "cosine");
    ck_assert_str_eq(simdiff_sampler_method_name(SIMDIFF_SAMPLER_DPMPP_2M), "dpmpp2m");
    ck_assert_str_eq(simdiff_spacing_name(SIMDIFF_SPACING_UNIFORM_T), "uniform_t");
    ck_assert_str_eq(simdiff_schedule_kind_name(SIMDIFF_SCHEDULE_INTERPOLATED), "interpolated");
    ck_assert_str_eq(simdiff_layout_name(SIMDIFF_LAYOUT_NHWC), "nhwc");
    ck_assert_str_eq(simdiff_float_range_name(SIMDIFF_FLOAT_RANGE_PM1), "pm1");
    ck_assert_ptr_null(simdiff_arch_name((simdiff_arch)0));
    ck_assert_ptr_null(simdiff_sampler_method_name((simdiff_sampler_method)3));
    ck_assert_ptr_null(simdiff_float_range_name((simdiff_float_range)-1));
    /* every name reads back to its number */
    for (int v = 0; v < 3; v++) {
        simdiff_sampler_method m;
        ck_assert_int_eq(simdiff_sampler_method_from_name(
                             simdiff_sampler_method_name((simdiff_sampler_method)v), &m),
                         SIMDIFF_OK);
        ck_assert_int_eq((int)m, v);
        simdiff_loss l;
        ck_assert_int_eq(simdiff_loss_from_name(simdiff_loss_name((simdiff_loss)v), &l),
                         SIMDIFF_OK);
        ck_assert_int_eq((int)l, v);
    }

    simdiff_sampler_method m = SIMDIFF_SAMPLER_DDIM;
    ck_assert_int_eq(simdiff_sampler_method_from_name("euler", &m), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(m, SIMDIFF_SAMPLER_DDIM);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "'euler'"));
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "ddpm, ddim, dpmpp2m"));
    ck_assert_int_eq(simdiff_sampler_method_from_name("", &m), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_method_from_name("dd", &m), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_method_from_name(NULL, &m), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_method_from_name("ddim", NULL), SIMDIFF_ERR_INVALID_ARG);
    simdiff_spacing sp;
    ck_assert_int_eq(simdiff_spacing_from_name("uniform", &sp), SIMDIFF_ERR_INVALID_ARG);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ck_assert_int_eq(simdiff_layout_from_name(longname, &(simdiff_layout){0}),
                     SIMDIFF_ERR_INVALID_ARG);
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
    tcase_add_test(tc, enum_names);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(core_suite)
