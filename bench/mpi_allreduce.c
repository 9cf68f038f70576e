/*
 * mpi-allreduce-bench: the time of one gradient reduction of N floats over
 * the ranks of mpirun, as simdiff-train --mpi does it (MPI_Allreduce in
 * segments of 2^20 floats) and as --mpi-deterministic does it (gather to
 * rank 0, rank-order sum, broadcast). Median of the repetitions after one
 * warm-up; docs/distributed.md.
 *
 *   mpirun -np 2 build/bench/mpi-allreduce-bench [N floats (default 4288708)] [reps]
 */
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "../examples/sdmpi.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    sdmpi p;
    if (sdmpi_init(&p, &argc, &argv))
        return 1;
    long long n = argc > 1 ? atoll(argv[1]) : 4288708;
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (n < 1 || reps < 1)
        return 2;
    float *g = malloc((size_t)n * sizeof *g);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!g || !t)
        return 1;
    for (int det = 0; det < 2; det++) {
        p.deterministic = det;
        for (int r = -1; r < reps; r++) {
            for (long long j = 0; j < n; j++)
                g[j] = (float)(j % 7);
            double sums[3] = {1, 1, 0};
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (sdmpi_grad_reduce(&p, g, n, sums)) {
                fprintf(stderr, "%s\n", p.err);
                sdmpi_abort(&p, 1);
            }
            if (r >= 0)
                t[r] = MPI_Wtime() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp);
        if (p.rank == 0)
            printf("%d ranks, %lld floats (%.2f MB), %s: %.2f ms (median of %d), "
                   "%.2f GB/s of gradient\n",
                   p.size, n, n * 4e-6, det ? "gather + ordered sum + broadcast" : "MPI_Allreduce",
                   1e3 * t[reps / 2], reps, n * 4e-9 / t[reps / 2]);
    }
    free(g);
    free(t);
    sdmpi_finalize(&p);
    return 0;
}
