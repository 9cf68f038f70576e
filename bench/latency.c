/*
 * Latency of one image under the sampler settings stored with a model, and
 * the CPU time the process uses after the call has returned (OpenMP
 * workers that keep spinning). docs/embedding.md has the table this makes.
 *
 *   latency [MODEL] [THREADS] [RUNS] [fixed]
 *
 * MODEL defaults to models/fmnist-uvit.safetensors, THREADS (the sampler's
 * thread budget, cfg.num_threads) to 1, RUNS to 7; "fixed" turns the
 * adaptation to busy cores off (simdiff_set_adaptive_threads(0)). Prints the median and
 * the worst of RUNS one-image runs (after one warm-up run) and the CPU
 * seconds the process used in the 200 ms after the last run returned and
 * in the 200 ms after those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "simdiff/simdiff.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "models/fmnist-uvit.safetensors";
    int threads = argc > 2 ? atoi(argv[2]) : 1, runs = argc > 3 ? atoi(argv[3]) : 7;
    int fixed = argc > 4 && !strcmp(argv[4], "fixed");
    if (threads < 1 || runs < 1 || runs > 100 || (argc > 4 && !fixed)) {
        fprintf(stderr, "usage: latency [MODEL] [THREADS >= 1] [RUNS 1..100] [fixed]\n");
        return 2;
    }
    if (fixed)
        simdiff_set_adaptive_threads(0);
    simdiff_model *m = NULL;
    simdiff_sampler *s = NULL;
    simdiff_sampler_config cfg;
    if (simdiff_model_load(&m, path) ||
        simdiff_sampler_config_init_for_model(&cfg, m)) {
        fprintf(stderr, "latency: %s\n", simdiff_last_error());
        return 1;
    }
    cfg.num_threads = threads;
    int C, H, W;
    if (simdiff_sampler_create(&s, m, &cfg) || simdiff_model_image_shape(m, &C, &H, &W)) {
        fprintf(stderr, "latency: %s\n", simdiff_last_error());
        return 1;
    }
    float *out = malloc(sizeof(float) * (size_t)C * (size_t)H * (size_t)W);
    double t[100];
    for (int r = -1; r < runs; r++) {
        double t0 = now();
        if (!out || simdiff_sampler_run(s, 1, NULL, (uint64_t)r + 1, out)) {
            fprintf(stderr, "latency: %s\n", simdiff_sampler_errmsg(s));
            return 1;
        }
        if (r >= 0)
            t[r] = now() - t0;
    }
    /* Two windows of 200 ms: the first may still receive CPU time the
     * workers used during the last call (the kernel accounts it at their
     * next tick or switch); the second shows any spinning that goes on. */
    double c0 = cpu_seconds();
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, NULL);
    double c1 = cpu_seconds();
    nanosleep(&pause, NULL);
    double after = c1 - c0, later = cpu_seconds() - c1;
    qsort(t, (size_t)runs, sizeof t[0], cmp);
    printf("threads %d%s: median %.3f s, worst %.3f s over %d runs; CPU in the 200 ms after "
           "return %.4f s, in the next 200 ms %.4f s\n",
           threads, fixed ? " fixed" : "", t[runs / 2], t[runs - 1], runs, after, later);
    free(out);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
    return 0;
}
