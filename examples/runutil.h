/*
 * Shared pieces of the training programs (simdiff-train, simdiff-distill):
 * the clock, time formatting, the data set from the data flags, the batch
 * order, the output directory and loss.csv with resume.
 */
#ifndef SIMDIFF_EXAMPLES_RUNUTIL_H
#define SIMDIFF_EXAMPLES_RUNUTIL_H

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <simdiff/simdiff.h>

#include "cli.h"

/* Set by Ctrl-C (SIGINT) or SIGTERM once run_catch_stop() ran: the
 * programs finish the step, save a checkpoint and exit. */
static volatile sig_atomic_t g_stop;
static void run_on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}
static inline void run_catch_stop(void)
{
    signal(SIGINT, run_on_stop);
    signal(SIGTERM, run_on_stop);
}

static inline double run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void run_fmt_time(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, cap, "--:--");
    else if (s >= 3600)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

/* The data set of the data flags: an NPY file (npy, labels optional) or
 * the Fashion-MNIST IDX files in data_dir. On failure, NULL is returned
 * in *ds and the path that failed is copied to failed. */
static inline int run_open_data(simdiff_dataset **ds, const char *data_dir, const char *npy,
                                const char *npy_labels, char *failed, size_t cap)
{
    if (npy) {
        snprintf(failed, cap, "%s", npy);
        return simdiff_dataset_open_npy(ds, npy, npy_labels, SIMDIFF_LAYOUT_AUTO,
                                        SIMDIFF_FLOAT_RANGE_01) ? -1 : 0;
    }
    char im[1024], lb[1024];
    snprintf(im, sizeof im, "%s/train-images-idx3-ubyte.gz", data_dir);
    snprintf(lb, sizeof lb, "%s/train-labels-idx1-ubyte.gz", data_dir);
    snprintf(failed, cap, "%s", im);
    return simdiff_dataset_open_idx(ds, im, lb) ? -1 : 0;
}

/* Indices of the batch at step k: epoch-wise permutations, deterministic in
 * (seed, step), so a resumed run sees the same data. */
static inline int run_batch_indices(simdiff_dataset *ds, uint64_t seed, long long k, int B,
                                    int64_t *perm, long long *perm_epoch, int64_t *idx)
{
    int64_t N = simdiff_dataset_count(ds);
    for (int i = 0; i < B; i++) {
        long long pos = k * B + i;
        long long e = pos / N;
        if (e != *perm_epoch) {
            if (simdiff_dataset_shuffle(ds, seed, (uint64_t)e, perm))
                return -1;
            *perm_epoch = e;
        }
        idx[i] = perm[pos % N];
    }
    return 0;
}

/* --out before anything is trained: the directory and its missing
 * parents are created (mkdir -p), and it must be a writable directory. */
static inline int run_prepare_out(const char *prog, const char *dir)
{
    char p[1024];
    if (!dir[0] || snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        fprintf(stderr, "%s: --out: empty or too long\n", prog);
        return -1;
    }
    for (char *q = p + 1;; q++) {
        int end = *q == 0;
        if (*q == '/' || end) {
            *q = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "%s: --out: cannot create '%s': %s\n", prog, p,
                        strerror(errno));
                return -1;
            }
            if (end)
                break;
            *q = '/';
        }
    }
    return cli_dir_ok(prog, "--out", dir);
}

/* loss.csv (first column: the step) for a run at step `step`: a new file
 * with the header when the run starts (or the file is missing), else the
 * existing file cut after the last row of a step <= step, so a resumed run
 * does not log the steps after its checkpoint twice. */
static inline FILE *run_open_log(const char *path, long long step, const char *header)
{
    FILE *f = step > 0 ? fopen(path, "r+") : NULL;
    if (!f) {
        f = fopen(path, "w");
        if (f)
            fputs(header, f);
        return f;
    }
    char line[512];
    long keep = 0;
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line); /* a row cut short by a kill is dropped too */
        if (!first && (line[len - 1] != '\n' || atoll(line) > step))
            break;
        first = 0;
        keep = ftell(f);
    }
    if (ftruncate(fileno(f), keep) != 0 || fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    if (keep == 0)
        fputs(header, f);
    return f;
}

#endif
