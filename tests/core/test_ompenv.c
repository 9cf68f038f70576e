/*
 * libsimdiff sets OMP_WAIT_POLICY=passive before libgomp reads its
 * environment (lib/core/ompenv.c): checked on libgomp's own report of its
 * settings (omp_display_env), not on libsimdiff's. Exit 77 (skipped) when
 * the environment already chose a wait policy or a spin count.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simdiff/simdiff.h"

int main(void)
{
    if (strstr(simdiff_runtime_info(), "omp wait as the environment sets")) {
        printf("SKIP: OMP_WAIT_POLICY or GOMP_SPINCOUNT set by the environment\n");
        return 77;
    }
    if (!strstr(simdiff_runtime_info(), "omp wait passive (set by libsimdiff)")) {
        printf("FAIL: runtime info '%s'\n", simdiff_runtime_info());
        return 1;
    }
    /* libgomp's report, captured from its stderr. */
    FILE *tmp = tmpfile();
    if (!tmp)
        return 99;
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    omp_display_env(1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[16384];
    rewind(tmp);
    size_t len = fread(buf, 1, sizeof buf - 1, tmp);
    buf[len] = 0;
    fclose(tmp);
    if (!strstr(buf, "GOMP_SPINCOUNT = '0'")) {
        printf("FAIL: libgomp started with a nonzero spin count:\n%s\n", buf);
        return 1;
    }
    printf("ok: libgomp waits passively (GOMP_SPINCOUNT = '0')\n");
    return 0;
}
