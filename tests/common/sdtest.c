#include "sdtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SDTEST_FIXTURES_DEFAULT
#define SDTEST_FIXTURES_DEFAULT "tests/fixtures"
#endif

static char tmpdir[256];
static pid_t tmpdir_owner; /* Check forks per test: only the creator removes it */

static void remove_tmpdir(void)
{
    if (tmpdir[0] && getpid() == tmpdir_owner) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) { /* best effort */
        }
    }
}

const char *sdtest_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/sdtest.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            tmpdir[0] = 0;
            return "/tmp";
        }
        tmpdir_owner = getpid();
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

const char *sdtest_fixture_dir(void)
{
    const char *d = getenv("SDTEST_FIXTURES");
    return d ? d : SDTEST_FIXTURES_DEFAULT;
}

double sdtest_max_rel_err(const float *a, const float *b, size_t n, double floor)
{
    double maxdiff = 0, maxref = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= maxdiff)) /* also catches NaN */
            maxdiff = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > maxref)
            maxref = fabs((double)b[i]);
    }
    return maxdiff / maxref;
}

int sdtest_run(Suite *s)
{
    /* The temporary directory is made before forking so that every test
     * case shares it and it is removed once, by the parent. */
    sdtest_tmpdir();
    SRunner *sr = srunner_create(s);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
