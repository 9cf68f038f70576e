/*
 * Shared test harness: every test program builds one Check suite and hands
 * it to sdtest_run(), which reports each test case as a TAP line so that
 * meson (protocol 'tap') and scripts/test.sh count individual checks.
 */
#ifndef SDTEST_H
#define SDTEST_H

#include <check.h>
#include <math.h>
#include <stddef.h>

#include "simdiff/model.h"

/* End the calling test as skipped, with a one-line reason (printf-style):
 * reported as "ok N - ... # SKIP <reason>", never as a pass that checked
 * something. For checks that need something this machine lacks. */
#define SDTEST_SKIP_MARK "sdtest-skip: "
#define SDTEST_SKIP(...) ck_abort_msg(SDTEST_SKIP_MARK __VA_ARGS__)

/* Run the suite; returns the process exit status (0 when all passed or
 * skipped). */
int sdtest_run(Suite *s);

/* Directory holding the committed fixtures (tests/fixtures), from the
 * SDTEST_FIXTURES environment variable or the compile-time default. */
const char *sdtest_fixture_dir(void);
/* A fresh temporary directory for this process (removed at exit). */
const char *sdtest_tmpdir(void);
/* sdtest_tmpdir(), made again if missing: its atexit removal is inherited
 * by every forked test case, so it is gone after the first case; use this
 * at the start of each use (each case then cleans up after itself). */
const char *sdtest_work_dir(void);
/* "dir/name" in one of 8 rotating static buffers (valid for the next 7
 * calls); fails the test if it does not fit. */
char *sdtest_path(const char *dir, const char *name);

/* The process's peak resident set (getrusage ru_maxrss), in KiB: a test
 * takes it before and after a call to bound what the call touched (Check
 * runs each test in a fresh fork, whose peak starts at its current size). */
long sdtest_peak_rss_kib(void);

/* In a "key=value;..." text of at most cap bytes, set key's value (the key
 * must be present; fails the test otherwise). */
void sdtest_set_kv(char *text, size_t cap, const char *key, const char *value);

/* Replace the first `from` in the file by `to` of the same length (offsets
 * keep); fails the test when `from` is not in the file. */
void sdtest_patch_file(const char *path, const char *from, const char *to);

/* Number of entries of dir (besides . and ..) whose name contains sub
 * (".tmp-": temporaries the atomic writer left). */
int sdtest_count_entries(const char *dir, const char *sub);

/* The tiny model the tests train and load: a class-conditional (3
 * classes) U-ViT on 8x8 gray images, one level of 8 channels, a
 * transformer of width 16, depth 1, 2 heads, MLP ratio 2, embedding 16,
 * dropout up to 8x8. */
void sdtest_tiny_uvit_config(simdiff_model_config *cfg);

/* Seconds on a monotonic clock. */
double sdtest_now(void);

/* Max over i of |a-b| / max(1, |b|)... relative error used by comparisons:
 * max |a_i - b_i| / max(max |b_i|, floor). */
double sdtest_max_rel_err(const float *a, const float *b, size_t n, double floor);

#define SDTEST_MAIN(make_suite)                                                \
    int main(void) { return sdtest_run(make_suite()); }

#endif
