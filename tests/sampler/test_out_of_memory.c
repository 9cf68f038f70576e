/*
 * Out of memory is a status, not a crash (docs/reliability.md, "Out of
 * memory"). Each case runs in a forked child whose address space is capped
 * (RLIMIT_AS) at its size when it starts plus `extra` bytes, swept from
 * nothing to enough: creating a tiny model, a sampler and a run of 4
 * images, or a trainer and two steps, must end with SIMDIFF_OK or
 * SIMDIFF_ERR_NOMEM at every cap. Before the oneDNN headroom check and the
 * early OpenMP team, caps in a band of ~50 MB killed the child: SIGSEGV
 * inside dnnl_primitive_create (its JIT writes into a buffer it could not
 * get) or exit(1) from libgomp ("Thread creation failed").
 *
 * AddressSanitizer reserves terabytes of shadow address space, so under it
 * the cap cannot be applied and the test skips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* The child's exit code: EXIT_BASE + status, so libgomp's exit(1) stands
 * out. */
enum { EXIT_BASE = 100 };

static size_t vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static simdiff_model *tiny(simdiff_status *st)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    simdiff_model *m = NULL;
    *st = simdiff_model_create(&m, &cfg, 1);
    return m;
}

/* What the child runs under the cap: 0 a sampler run, 1 trainer steps. */
static simdiff_status scenario(int which)
{
    simdiff_status st;
    simdiff_model *m = tiny(&st);
    simdiff_schedule *s = NULL;
    if (!st)
        st = simdiff_schedule_create_shifted(&s, 8, 64);
    if (!st && which == 0) {
        simdiff_sampler_config sc;
        simdiff_sampler_config_init(&sc);
        sc.schedule = s;
        sc.steps = 3;
        simdiff_sampler *smp = NULL;
        float *out = malloc(4 * 64 * sizeof(float));
        int labels[4] = {0, 1, 2, -1};
        st = out ? simdiff_sampler_create(&smp, m, &sc) : SIMDIFF_ERR_NOMEM;
        if (!st)
            st = simdiff_sampler_run(smp, 4, labels, 7, out);
        simdiff_sampler_destroy(smp);
        free(out);
    } else if (!st) {
        simdiff_trainer *t = NULL;
        st = simdiff_trainer_create(&t, m, s, NULL, NULL);
        float x[4 * 64];
        int labels[4] = {0, 1, 2, 0};
        for (int i = 0; i < 4 * 64; i++)
            x[i] = (float)((i * 7919) % 200 - 100) / 100.0f;
        for (int k = 0; k < 2 && !st; k++) {
            double loss;
            st = simdiff_trainer_step(t, 4, x, labels, &loss);
        }
        simdiff_trainer_destroy(t);
    }
    simdiff_schedule_destroy(s);
    simdiff_model_destroy(m);
    return st;
}

START_TEST(out_of_memory_is_a_status)
{
#ifdef UNDER_ASAN
    SDTEST_SKIP("RLIMIT_AS cannot be applied under AddressSanitizer");
#else
    const int which = _i;
    int ok = 0, nomem = 0;
    char failures[2048] = "";
    for (size_t mib = 0; mib <= 160; mib += 4) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            size_t cap = vm_bytes() + (mib << 20);
            struct rlimit rl = {cap, cap};
            if (setrlimit(RLIMIT_AS, &rl) != 0)
                _exit(2);
            _exit(EXIT_BASE + (int)scenario(which));
        }
        int ws = 0;
        ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
        size_t used = strlen(failures);
        if (WIFSIGNALED(ws))
            snprintf(failures + used, sizeof failures - used, " +%zu MiB: signal %d;", mib,
                     WTERMSIG(ws));
        else if (WEXITSTATUS(ws) == EXIT_BASE + SIMDIFF_OK)
            ok++;
        else if (WEXITSTATUS(ws) == EXIT_BASE + SIMDIFF_ERR_NOMEM)
            nomem++;
        else
            snprintf(failures + used, sizeof failures - used, " +%zu MiB: exit %d;", mib,
                     WEXITSTATUS(ws));
        if (ok >= 3) /* enough memory from here on */
            break;
    }
    ck_assert_msg(!failures[0], "%s:%s", which ? "trainer" : "sampler", failures);
    ck_assert_msg(nomem > 0, "no cap was tight enough to fail");
    ck_assert_msg(ok > 0, "no cap was loose enough to succeed");
#endif
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("out-of-memory");
    TCase *tc = tcase_create("out-of-memory");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, out_of_memory_is_a_status, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
