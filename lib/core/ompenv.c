/*
 * The OpenMP wait policy, set before the OpenMP runtime starts.
 *
 * libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, in its own ELF
 * constructor. Unset, its idle workers spin for about 300000 iterations
 * (a few milliseconds) at every barrier and at the end of every parallel
 * region before they sleep. With every core busy (one other busy process
 * on a two-core machine) a spinning worker holds a core the thread with
 * the work needs, and a one-image sample goes from 0.12 s to 6.5–8.7 s.
 * Passive waiting (workers sleep at once) removes that and leaves no
 * worker burning CPU after a call has returned (docs/embedding.md).
 *
 * This file is its own tiny shared library (libsimdiff-ompenv), the last
 * DT_NEEDED entry of libsimdiff: the dynamic loader runs constructors of
 * unrelated objects of one load in reverse order of that list, so this
 * one runs before libgomp's when both are loaded with libsimdiff (at
 * program start or by dlopen, e.g. from Python). When the process had
 * loaded libgomp before (a host that uses OpenMP itself) the host's
 * settings stay as they are. tests/core/test_ompenv.c checks the order.
 *
 * The caller's choice wins: nothing is set when OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT is already in the environment (OMP_WAIT_POLICY=active
 * restores libgomp's spinning).
 */
#include <stdlib.h>

static int g_state;

__attribute__((constructor)) static void sd_ompenv_init(void)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    if (setenv("OMP_WAIT_POLICY", "passive", 0) == 0)
        g_state = 1;
}

/* Declared for libsimdiff in lib/core/internal.h. */
int sd_ompenv_state(void);
__attribute__((visibility("default"))) int sd_ompenv_state(void) { return g_state; }
