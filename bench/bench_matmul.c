/* Throughput of sd_linear and sd_attention (lib/ops/matmul.c), forward and
 * backward, on the transformer shapes of a U-ViT at 16x16 / 8x8 tokens:
 *   linear 256 -> 1024 at batch 64 x {64, 256} tokens (M = 4096, 16384)
 *   attention D = 256, 4 heads, batch 64, T = {64, 256} tokens
 *
 * Not built by meson (there is no bench/ subdir). Build by hand against an
 * internal library build:
 *   meson setup build-mm && ninja -C build-mm
 *   cc -O2 -std=c11 -fopenmp -D_GNU_SOURCE -Ilib -Iinclude bench/bench_matmul.c \
 *      build-mm/lib/libsimdiff-internal.a -ldnnl -lz -lm -o build-mm/bench-matmul
 *   OMP_NUM_THREADS=2 build-mm/bench-matmul [reps] [bf16]
 * PyTorch on the same shapes: OMP_NUM_THREADS=2 /usr/bin/python3
 * bench/bench_matmul_torch.py [reps] (F.linear; attention as the explicit
 * formula softmax(q k^T / sqrt(Dh)) v per head). Run the two alternately
 * (e.g. 5 rounds of C then torch) and take medians over rounds, since the
 * machine is shared.
 *
 * Prints one line per (case, pass): median wall ms over reps and GFLOP/s,
 * and median process CPU ms and GFLOP per CPU-second: with
 * OMP_WAIT_POLICY=passive (no spinning at barriers) the latter measures
 * the work itself, mostly independent of other processes' load. The
 * first case, a square 2048^3 sd_matmul, shows what the (shared) machine
 * gives oneDNN at the time of the run.
 * Flops count the matrix products only: linear fwd 2*M*I*O, bwd 4*M*I*O
 * (dx and dw; the bias column sum is included in the time); attention fwd
 * 4*N*T*T*D, bwd 8*N*T*T*D (softmax included in the time). Backward times
 * exclude the seeding of dL/dy by sd_backward_seed (a serial pass over y,
 * timed separately on a tensor with no tape and subtracted).
 *
 * Measured 2026-11-27 (commit 0400fca, 5 alternating rounds of 5 reps,
 * medians; shared 2-core EPYC with 1-min load ~3 from other engineers, so
 * about one core was ours: the square matmul's 227 GFLOP/s is the
 * reference, ~300 on a quiet machine), wall GFLOP/s, simdiff / torch:
 *   matmul 2048^3        fwd 227 / 110   bwd 227 / 114
 *   linear M=4096        fwd 234 /  61   bwd 193 /  71
 *   linear M=16384       fwd 221 /  79   bwd 192 /  94
 *   attention T=64       fwd 185 / 5.6   bwd  88 / 8.4
 *   attention T=256      fwd 157 / 1.0   bwd 130 / 1.0
 * (torch 1.13's CPU bmm takes a naive path here: ~1 GFLOP/s.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* A parameter-like tensor (persistent data and grad) of small values. */
static sd_tensor *param(int nd, const int64_t *shape, float scale)
{
    sd_tensor *t = calloc(1, sizeof *t);
    sd_tensor_init(t, nd, shape, NULL);
    t->data = aligned_alloc(64, ((size_t)t->numel * 4 + 63) / 64 * 64);
    t->grad = aligned_alloc(64, ((size_t)t->numel * 4 + 63) / 64 * 64);
    uint32_t s = 12345u;
    for (int64_t i = 0; i < t->numel; i++) {
        s = s * 1664525u + 1013904223u;
        t->data[i] = scale * ((float)(s >> 8) / 16777216.0f - 0.5f);
    }
    sd_param_init(t, "bench", nd, shape, t->data, t->grad);
    return t;
}

static void param_free(sd_tensor *t)
{
    free(t->data);
    free(t->grad);
    free(t);
}

enum { LINEAR, ATTENTION, MATMUL };

typedef struct bcase {
    int kind;
    const char *name;
    int64_t n, t, d, o; /* linear: M = n*t rows, I = d, O = o; attn: heads = o */
} bcase;

static sd_tensor *run_fwd(sd_ctx *c, const bcase *b, sd_tensor **p)
{
    if (b->kind == LINEAR)
        return sd_linear(c, p[0], p[1], p[2]);
    if (b->kind == MATMUL)
        return sd_matmul(c, p[0], p[1], 0, 0, 1.0f);
    return sd_attention(c, p[0], p[1], p[2], (int)b->o);
}

static void bench(sd_ctx *c, const bcase *b, int reps)
{
    sd_tensor *p[3];
    double ffl, bfl;
    if (b->kind == LINEAR) {
        p[0] = param(2, (int64_t[]){b->n * b->t, b->d}, 2.0f);
        p[1] = param(2, (int64_t[]){b->o, b->d}, 0.1f);
        p[2] = param(1, (int64_t[]){b->o}, 0.1f);
        ffl = 2.0 * (double)(b->n * b->t) * (double)b->d * (double)b->o;
        bfl = 2 * ffl;
    } else if (b->kind == MATMUL) { /* square (d,d) @ (d,d): the machine's peak */
        p[0] = param(3, (int64_t[]){1, b->d, b->d}, 1.0f);
        p[1] = param(3, (int64_t[]){1, b->d, b->d}, 1.0f);
        p[2] = param(1, (int64_t[]){1}, 1.0f);
        ffl = 2.0 * (double)b->d * (double)b->d * (double)b->d;
        bfl = 2 * ffl;
    } else {
        for (int i = 0; i < 3; i++)
            p[i] = param(3, (int64_t[]){b->n, b->t, b->d}, 2.0f);
        ffl = 4.0 * (double)b->n * (double)(b->t * b->t) * (double)b->d;
        bfl = 2 * ffl;
    }
    double *tf = calloc((size_t)reps, sizeof *tf), *tb = calloc((size_t)reps, sizeof *tb),
           *ts = calloc((size_t)reps, sizeof *ts), *cf = calloc((size_t)reps, sizeof *cf),
           *cb = calloc((size_t)reps, sizeof *cb), *cs = calloc((size_t)reps, sizeof *cs);
    float *dy = NULL;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up (primitives, arena) */
        /* forward, no tape */
        sd_ctx_reset(c);
        sd_ctx_set_grad(c, 0);
        double c0 = cpu(), t0 = now();
        sd_tensor *y = run_fwd(c, b, p);
        double t1 = now(), c1 = cpu();
        if (!y) {
            fprintf(stderr, "%s: %s\n", b->name, sd_ctx_errmsg(c));
            exit(1);
        }
        if (!dy) {
            dy = malloc((size_t)y->numel * sizeof *dy);
            for (int64_t i = 0; i < y->numel; i++)
                dy[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        }
        /* the cost of seeding dL/dy alone (y dies with the reset) */
        int64_t shape[SD_MAX_DIMS];
        int nd = y->ndim;
        memcpy(shape, y->shape, sizeof shape);
        sd_ctx_reset(c);
        sd_tensor *z = sd_new(c, nd, shape);
        z->flags |= SD_TF_REQUIRES_GRAD;
        double c2 = cpu(), t2 = now();
        sd_backward_seed(c, z, dy);
        double t3 = now(), c3 = cpu();
        /* forward with tape, then the timed backward */
        sd_ctx_reset(c);
        sd_ctx_set_grad(c, 1);
        for (int i = 0; i < 3; i++)
            sd_param_zero_grad(p[i]);
        y = run_fwd(c, b, p);
        double c4 = cpu(), t4 = now();
        if (sd_backward_seed(c, y, dy) != SIMDIFF_OK) {
            fprintf(stderr, "%s: %s\n", b->name, sd_ctx_errmsg(c));
            exit(1);
        }
        double t5 = now(), c5 = cpu();
        if (r >= 0) {
            tf[r] = t1 - t0;
            ts[r] = t3 - t2;
            tb[r] = t5 - t4;
            cf[r] = c1 - c0;
            cs[r] = c3 - c2;
            cb[r] = c5 - c4;
        }
    }
    double mf = median(tf, reps), ms = median(ts, reps), mb = median(tb, reps) - ms;
    double kf = median(cf, reps), kb = median(cb, reps) - median(cs, reps);
    printf("simdiff %-22s fwd %8.2f ms %7.1f GFLOP/s  cpu %8.2f ms %7.1f GFLOP/cpu-s\n",
           b->name, mf * 1e3, ffl / mf * 1e-9, kf * 1e3, ffl / kf * 1e-9);
    printf("simdiff %-22s bwd %8.2f ms %7.1f GFLOP/s  cpu %8.2f ms %7.1f GFLOP/cpu-s"
           "  (seed %.2f ms subtracted)\n",
           b->name, mb * 1e3, bfl / mb * 1e-9, kb * 1e3, bfl / kb * 1e-9, ms * 1e3);
    fflush(stdout);
    free(tf);
    free(tb);
    free(ts);
    free(cf);
    free(cb);
    free(cs);
    free(dy);
    for (int i = 0; i < 3; i++)
        param_free(p[i]);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    const int bf16 = argc > 2 && !strcmp(argv[2], "bf16");
    if (reps < 1)
        reps = 1;
    static const bcase cases[] = {
        {MATMUL, "matmul_2048_square", 1, 1, 2048, 0},
        {LINEAR, "linear_256x1024_M4096", 64, 64, 256, 1024},
        {LINEAR, "linear_256x1024_M16384", 64, 256, 256, 1024},
        {ATTENTION, "attn_T64_D256_h4_N64", 64, 64, 256, 4},
        {ATTENTION, "attn_T256_D256_h4_N64", 64, 256, 256, 4},
    };
    sd_ctx *c;
    if (sd_ctx_create(&c) != SIMDIFF_OK)
        return 1;
    if (bf16)
        sd_ctx_set_precision(c, SD_PREC_BF16);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bench(c, &cases[i], reps);
    sd_ctx_destroy(c);
    return 0;
}
