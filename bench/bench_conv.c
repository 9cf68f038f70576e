/* Convolution throughput of sd_conv2d under each policy: blocked
 * (format_tag_any + reorders, direct), plain (nchw/oihw), winograd (blocked,
 * Winograd algorithm); forward, backward data and backward weights of 3x3
 * stride 1 pad 1 convs at batch 64.
 *
 * Not built by meson (there is no bench/ subdir). Build by hand against an
 * internal library build, e.g.:
 *   meson setup build-conv && ninja -C build-conv
 *   cc -O2 -std=c11 -fopenmp -D_GNU_SOURCE -Ilib -Iinclude bench/bench_conv.c \
 *      build-conv/lib/libsimdiff-internal.a -ldnnl -lz -lm -o bench-conv
 *   OMP_NUM_THREADS=2 ./bench-conv [reps]
 * Prints one line per (shape, policy, pass): median ms over reps (and the
 * best, a better estimate of the unloaded speed on a shared machine),
 * GFLOP/s = 2*N*Co*Ci*K*K*Ho*Wo / time (direct-conv flops also for
 * Winograd, i.e. effective GFLOP/s), and the step arena in use after the
 * pass (forward: y and temporaries; backward: forward + backward).
 * Policies take turns inside every repetition so that all see the same
 * machine load. Times include every
 * reorder the op does (activations in and out, weights, gradients).
 * Backward times are the conv's tape node alone (dL/dy is set directly).
 *
 * PyTorch reference (same shapes and passes; Debian's python3-torch 1.13
 * uses the same system oneDNN). Save as bench_conv_torch.py and run with
 * OMP_NUM_THREADS=2 /usr/bin/python3 bench_conv_torch.py [reps] (same
 * OMP_NUM_THREADS and SD_BENCH_CLOCK as for this program):
 *
 *   import os, statistics, sys, time, torch, torch.nn.functional as F
 *   torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
 *   reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
 *   clock = (time.process_time if os.environ.get("SD_BENCH_CLOCK") == "cpu"
 *            else time.perf_counter)
 *   def fwd(x, w, b):
 *       with torch.no_grad():
 *           t = clock(); F.conv2d(x, w, b, padding=1)
 *           return clock() - t
 *   def bwd(x, w, b, xg, wg):
 *       x = x.clone().requires_grad_(xg); w = w.clone().requires_grad_(wg)
 *       b = b.clone().requires_grad_(wg)
 *       y = F.conv2d(x, w, b, padding=1); dy = torch.rand_like(y)
 *       t = clock(); y.backward(dy)
 *       return clock() - t
 *   for C, H in ((64, 32), (128, 16)):
 *       x = torch.randn(64, C, H, H); w = torch.randn(C, C, 3, 3) * 0.05
 *       b = torch.zeros(C); fl = 2 * 64 * C * C * 9 * H * H
 *       for name, f in (("fwd", lambda: fwd(x, w, b)),
 *                       ("bwd_data", lambda: bwd(x, w, b, True, False)),
 *                       ("bwd_weights", lambda: bwd(x, w, b, False, True))):
 *           f()
 *           ts = [f() for _ in range(reps)]; t = statistics.median(ts)
 *           print(f"torch         C={C} H={H} {name:12s} {t*1e3:8.2f} ms "
 *                 f"{fl/t*1e-9:7.1f} GFLOP/s  best {min(ts)*1e3:8.2f} ms")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"

/* Wall clock, or with SD_BENCH_CLOCK=cpu the process CPU time: with
 * OMP_NUM_THREADS=1 that is the compute time of the one thread, which a
 * loaded machine stretches much less than the wall clock. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *filled(int64_t n, float scale, unsigned seed)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = scale * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
    return p;
}

enum { P_FWD, P_BWD_DATA, P_BWD_WEIGHTS, NPASS };
static const char *pass_name[NPASS] = {"fwd", "bwd_data", "bwd_weights"};
/* Indexed by SD_CONV_BLOCKED, SD_CONV_PLAIN, SD_CONV_WINOGRAD. */
enum { NPOL = 3 };
static const char *pol_name[NPOL] = {"blocked", "plain", "winograd"};

typedef struct bench_shape {
    int64_t n, ch, hw;
    sd_tensor x, w, b;
    sd_tensor one; /* a (1) tensor needing grad: where backward starts */
    float one_data, one_grad;
    float *seed;
    size_t arena[NPOL][NPASS]; /* step arena bytes in use after the pass */
} bench_shape;

/* One timed pass (seconds); -1 on failure. */
static double run_pass(sd_ctx *c, bench_shape *s, int policy, int pass)
{
    sd_conv_set_policy(policy);
    sd_ctx_reset(c);
    sd_param_zero_grad(&s->x);
    sd_param_zero_grad(&s->w);
    sd_param_zero_grad(&s->b);
    s->x.flags &= ~SD_TF_REQUIRES_GRAD;
    s->w.flags &= ~SD_TF_REQUIRES_GRAD;
    s->b.flags &= ~SD_TF_REQUIRES_GRAD;
    if (pass == P_BWD_DATA)
        s->x.flags |= SD_TF_REQUIRES_GRAD;
    if (pass == P_BWD_WEIGHTS) {
        s->w.flags |= SD_TF_REQUIRES_GRAD;
        s->b.flags |= SD_TF_REQUIRES_GRAD;
    }
    sd_ctx_set_grad(c, pass != P_FWD);
    double t0 = now();
    sd_tensor *y = sd_conv2d(c, &s->x, &s->w, &s->b, 1, 1);
    double t1 = now();
    if (!y)
        return -1;
    if (pass == P_FWD) {
        s->arena[policy][pass] = sd_ctx_arena_used(c);
        return t1 - t0;
    }
    /* dL/dy = seed without copying it: point y's gradient at it, then
     * run the tape from an unrelated one-element tensor (its seeding is
     * one addition; the tape runs every node whose output has a grad). */
    y->grad = s->seed;
    y->flags |= SD_TF_GRAD_VALID;
    sd_param_zero_grad(&s->one);
    const float one = 1.0f;
    double t2 = now();
    if (sd_backward_seed(c, &s->one, &one) != SIMDIFF_OK)
        return -1;
    double t3 = now();
    s->arena[policy][pass] = sd_ctx_arena_used(c);
    return t3 - t2;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    const char *clk = getenv("SD_BENCH_CLOCK");
    if (clk && strcmp(clk, "cpu") == 0)
        bench_clock = CLOCK_PROCESS_CPUTIME_ID;
    if (reps < 1 || reps > 1000)
        reps = 7;
    static bench_shape shapes[2] = {{.n = 64, .ch = 64, .hw = 32},
                                    {.n = 64, .ch = 128, .hw = 16}};
    sd_ctx *c;
    if (sd_ctx_create(&c) != SIMDIFF_OK)
        return 1;
    for (int si = 0; si < 2; si++) {
        bench_shape *s = &shapes[si];
        int64_t sx[4] = {s->n, s->ch, s->hw, s->hw}, sw[4] = {s->ch, s->ch, 3, 3},
                sb[1] = {s->ch};
        int64_t nx = s->n * s->ch * s->hw * s->hw, nw = s->ch * s->ch * 9;
        sd_param_init(&s->x, "x", 4, sx, filled(nx, 2.0f, 1), malloc((size_t)nx * 4));
        sd_param_init(&s->w, "w", 4, sw, filled(nw, 0.1f, 2), malloc((size_t)nw * 4));
        sd_param_init(&s->b, "b", 1, sb, filled(s->ch, 0.1f, 3), malloc((size_t)s->ch * 4));
        const int64_t s1[1] = {1};
        sd_param_init(&s->one, "one", 1, s1, &s->one_data, &s->one_grad);
        s->seed = filled(nx, 1.0f, 5);
        double fl = 2.0 * (double)(s->n * s->ch * s->ch * 9 * s->hw * s->hw);
        /* t[policy][pass][rep]; policies (SD_CONV_* = 0, 1, 2) run in a
         * rotating order so that each sees the same machine load. */
        static double t[NPOL][NPASS][1000];
        /* Warm up: create every primitive and grow the arena. */
        for (int pol = 0; pol < NPOL; pol++)
            for (int p = 0; p < NPASS; p++)
                if (run_pass(c, s, pol, p) < 0) {
                    fprintf(stderr, "failed: %s\n", sd_ctx_errmsg(c));
                    return 1;
                }
        for (int r = 0; r < reps; r++)
            for (int p = 0; p < NPASS; p++)
                for (int l = 0; l < NPOL; l++) {
                    int pol = (l + r) % NPOL;
                    t[pol][p][r] = run_pass(c, s, pol, p);
                }
        for (int pol = 0; pol < NPOL; pol++)
            for (int p = 0; p < NPASS; p++) {
                double m = median(t[pol][p], reps), best = t[pol][p][0]; /* sorted */
                printf("ours-%-8s C=%lld H=%lld %-12s %8.2f ms %7.1f GFLOP/s"
                       "  best %8.2f ms  (arena %.0f MB)\n",
                       pol_name[pol], (long long)s->ch, (long long)s->hw, pass_name[p],
                       m * 1e3, fl / m * 1e-9, best * 1e3,
                       (double)s->arena[pol][p] / (1 << 20));
            }
        fflush(stdout);
    }
    sd_ctx_destroy(c);
    return 0;
}
