/* The per-op profiler (benchmarks, SIMDIFF_PROFILE=1). See tensor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/tensor_internal.h"

/* ---- profile -------------------------------------------------------------- */
double sd_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

sd_prof_entry *sd_prof_entry_get(sd_ctx *c, const char *op)
{
    for (int i = 0; i < c->nprof; i++)
        if (c->prof[i].op == op || !strcmp(c->prof[i].op, op))
            return &c->prof[i];
    if (c->nprof == SD_PROF_MAX)
        return NULL;
    sd_prof_entry *e = &c->prof[c->nprof++];
    memset(e, 0, sizeof *e);
    e->op = op;
    return e;
}

void sd_ctx_set_profile(sd_ctx *c, int on)
{
    c->prof_on = on != 0;
    c->prof_op = NULL;
}

void sd_ctx_profile_reset(sd_ctx *c)
{
    c->nprof = 0;
    c->prof_op = NULL;
}

void sd_ctx_profile_mark(sd_ctx *c)
{
    if (!c->prof_on)
        return;
    double t = sd_mono();
    if (c->prof_op) {
        sd_prof_entry *e = sd_prof_entry_get(c, c->prof_op);
        if (e) {
            e->fwd += t - c->prof_t0;
            e->nfwd++;
        }
    }
    c->prof_op = NULL;
    c->prof_t0 = t;
}

void sd_prof_start(sd_ctx *c, const char *op)
{
    sd_ctx_profile_mark(c);
    c->prof_op = op;
}

static int prof_cmp(const void *a, const void *b)
{
    const sd_prof_entry *x = a, *y = b;
    double tx = x->fwd + x->bwd, ty = y->fwd + y->bwd;
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

size_t sd_ctx_profile_report(const sd_ctx *c, char *buf, size_t cap)
{
    sd_prof_entry e[SD_PROF_MAX];
    int n = c->nprof;
    memcpy(e, c->prof, (size_t)n * sizeof *e);
    qsort(e, (size_t)n, sizeof *e, prof_cmp);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += e[i].fwd + e[i].bwd;
    size_t off = 0;
    int k = snprintf(buf, cap, "%-18s %10s %10s %8s %8s %6s\n", "op", "fwd ms", "bwd ms",
                     "n fwd", "n bwd", "share");
    off = k > 0 ? (size_t)k : 0;
    for (int i = 0; i < n && off < cap; i++) {
        k = snprintf(buf + off, cap - off, "%-18s %10.2f %10.2f %8lld %8lld %5.1f%%\n", e[i].op,
                     e[i].fwd * 1e3, e[i].bwd * 1e3, (long long)e[i].nfwd, (long long)e[i].nbwd,
                     total > 0 ? 100 * (e[i].fwd + e[i].bwd) / total : 0);
        if (k > 0)
            off += (size_t)k;
    }
    return off;
}
