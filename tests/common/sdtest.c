#include "sdtest.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
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

const char *sdtest_work_dir(void)
{
    mkdir(sdtest_tmpdir(), 0700);
    return sdtest_tmpdir();
}

char *sdtest_path(const char *dir, const char *name)
{
    static char buf[8][2200];
    static int k;
    char *p = buf[k++ % 8];
    int r = snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    ck_assert(r > 0 && (size_t)r < sizeof buf[0]);
    return p;
}

const char *sdtest_fixture_dir(void)
{
    const char *d = getenv("SDTEST_FIXTURES");
    return d ? d : SDTEST_FIXTURES_DEFAULT;
}

long sdtest_peak_rss_kib(void)
{
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

void sdtest_set_kv(char *text, size_t cap, const char *key, const char *value)
{
    size_t klen = strlen(key);
    char *at = text; /* the start of each segment in turn */
    while (!(strncmp(at, key, klen) == 0 && at[klen] == '=')) {
        at = strchr(at, ';');
        ck_assert_msg(at != NULL, "no key '%s' in '%s'", key, text);
        at++;
    }
    char *v = at + klen + 1, *end = strchr(v, ';');
    size_t tail = end ? strlen(end) : 0;
    ck_assert((size_t)(v - text) + strlen(value) + tail < cap);
    memmove(v + strlen(value), end ? end : v + strlen(v), tail + 1);
    memcpy(v, value, strlen(value));
}

int sdtest_count_entries(const char *dir, const char *sub)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, sub))
            n++;
    closedir(d);
    return n;
}

void sdtest_tiny_uvit_config(simdiff_model_config *cfg)
{
    ck_assert_int_eq(simdiff_model_config_init(cfg, SIMDIFF_ARCH_UVIT, 8, 1), SIMDIFF_OK);
    cfg->num_levels = 1;
    cfg->level_channels[0] = 8;
    cfg->level_blocks[0] = 1;
    cfg->norm_groups = 4;
    cfg->emb_dim = 16;
    cfg->attn_resolution = 4;
    cfg->tf_width = 16;
    cfg->tf_depth = 1;
    cfg->tf_heads = 2;
    cfg->tf_mlp_ratio = 2;
    cfg->num_classes = 3;
    cfg->dropout_max_resolution = 8;
}

double sdtest_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
    const char *dir = sdtest_tmpdir();
    char tap[4200];
    snprintf(tap, sizeof tap, "%s/sdtest.tap", dir);
    SRunner *sr = srunner_create(s);
    srunner_set_tap(sr, tap);
    srunner_run_all(sr, CK_SILENT);
    srunner_free(sr);
    /* Check writes "not ok N - file:case:test: <message>" for a test that
     * called SDTEST_SKIP; TAP says "ok N - file:case:test # SKIP <why>". */
    FILE *f = fopen(tap, "r");
    if (!f) {
        printf("Bail out! cannot read the TAP output %s\n", tap);
        return 1;
    }
    int failed = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *mark = strstr(line, ": " SDTEST_SKIP_MARK);
        if (!strncmp(line, "not ok ", 7) && mark) {
            *mark = 0;
            printf("ok %s # SKIP %s", line + 7, mark + 2 + strlen(SDTEST_SKIP_MARK));
            continue;
        }
        if (!strncmp(line, "not ok", 6))
            failed++;
        fputs(line, stdout);
    }
    free(line);
    fclose(f);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

void sdtest_patch_file(const char *path, const char *from, const char *to)
{
    size_t n = strlen(from);
    ck_assert_uint_eq(n, strlen(to));
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    char *buf = malloc((size_t)len);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    char *hit = NULL;
    for (long i = 0; i + (long)n <= len && !hit; i++)
        if (!memcmp(buf + i, from, n))
            hit = buf + i;
    ck_assert_msg(hit != NULL, "'%s' not in %s", from, path);
    memcpy(hit, to, n);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    ck_assert_int_eq(fwrite(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    free(buf);
}
