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

/* Max over i of |a-b| / max(1, |b|)... relative error used by comparisons:
 * max |a_i - b_i| / max(max |b_i|, floor). */
double sdtest_max_rel_err(const float *a, const float *b, size_t n, double floor);

#define SDTEST_MAIN(make_suite)                                                \
    int main(void) { return sdtest_run(make_suite()); }

#endif
