/* sdmpi: the MPI layer of the command-line programs (see sdmpi.h). */
#include "sdmpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

/* Floats per collective call: bounds the deterministic mode's gather buffer
 * on rank 0 (size x SEG floats) and keeps every count an int. */
#define SEG ((int64_t)1 << 20)

static int check(sdmpi *p, int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", rc);
    snprintf(p->err, sizeof p->err, "rank %d of %d: %s failed: %.200s", p->rank, p->size, what, s);
    return -1;
}

int sdmpi_init(sdmpi *p, int *argc, char ***argv)
{
    memset(p, 0, sizeof *p);
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "MPI_Init failed\n");
        return -1;
    }
    /* Failures come back as codes (reported with the rank), not as a
     * silent abort inside the library. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p->size);
    return 0;
}

void sdmpi_finalize(sdmpi *p)
{
    free(p->gather);
    p->gather = NULL;
    MPI_Finalize();
}

void sdmpi_abort(sdmpi *p, int code)
{
    fflush(stderr);
    /* A failure every rank meets (a bad argument, a missing file) makes
     * them all abort at once, which Open MPI 4.1's mpirun has been seen to
     * crash on: rank 0 goes first, the others a moment later (normally
     * ended by rank 0's abort before they get there). */
    if (p->rank != 0)
        sleep(2);
    MPI_Abort(MPI_COMM_WORLD, code);
}

/* Deterministic sum of n floats at v over the ranks: gather to rank 0, add
 * in rank order ((v0 + v1) + v2) + ..., broadcast. */
static int ordered_sum_f32(sdmpi *p, float *v, int64_t n)
{
    if (!p->gather && p->rank == 0 &&
        !(p->gather = malloc((size_t)p->size * (size_t)SEG * sizeof(float)))) {
        snprintf(p->err, sizeof p->err, "rank 0: out of memory for the gather buffer");
        return -1;
    }
    for (int64_t off = 0; off < n; off += SEG) {
        int m = (int)(n - off < SEG ? n - off : SEG);
        if (check(p, MPI_Gather(v + off, m, MPI_FLOAT, p->gather, m, MPI_FLOAT, 0,
                                MPI_COMM_WORLD), "MPI_Gather (gradient)"))
            return -1;
        if (p->rank == 0)
            for (int j = 0; j < m; j++) {
                float s = p->gather[j];
                for (int r = 1; r < p->size; r++)
                    s += p->gather[(size_t)r * m + j];
                v[off + j] = s;
            }
        if (check(p, MPI_Bcast(v + off, m, MPI_FLOAT, 0, MPI_COMM_WORLD),
                  "MPI_Bcast (gradient)"))
            return -1;
    }
    return 0;
}

int sdmpi_grad_reduce(void *user, float *grad, int64_t count, double *sums)
{
    sdmpi *p = user;
    double t0 = MPI_Wtime();
    /* The step's scalars and this rank's stop request in one message. */
    double in[4] = {sums[0], sums[1], sums[2], p->stop_in}, out[4];
    if (p->deterministic) {
        double all[4 * 1024], *a = p->size <= 1024 ? all : malloc((size_t)p->size * 4 * sizeof(double));
        if (!a) {
            snprintf(p->err, sizeof p->err, "rank %d: out of memory", p->rank);
            return -1;
        }
        int rc = check(p, MPI_Gather(in, 4, MPI_DOUBLE, a, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD),
                       "MPI_Gather (loss, count)");
        if (!rc && p->rank == 0)
            for (int k = 0; k < 4; k++) {
                out[k] = a[k];
                for (int r = 1; r < p->size; r++)
                    out[k] += a[4 * r + k];
            }
        if (a != all)
            free(a);
        if (rc || check(p, MPI_Bcast(out, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD),
                        "MPI_Bcast (loss, count)"))
            return -1;
        if (ordered_sum_f32(p, grad, count))
            return -1;
    } else {
        if (check(p, MPI_Allreduce(in, out, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce (loss, count)"))
            return -1;
        for (int64_t off = 0; off < count; off += SEG) {
            int m = (int)(count - off < SEG ? count - off : SEG);
            if (check(p, MPI_Allreduce(MPI_IN_PLACE, grad + off, m, MPI_FLOAT, MPI_SUM,
                                       MPI_COMM_WORLD), "MPI_Allreduce (gradient)"))
                return -1;
        }
    }
    sums[0] = out[0];
    sums[1] = out[1];
    sums[2] = out[2];
    p->stop_out = out[3];
    p->reduce_s += MPI_Wtime() - t0;
    p->reduce_calls++;
    return 0;
}

int sdmpi_sum_i64(sdmpi *p, int64_t v, int64_t *sum)
{
    long long in = v, out = 0;
    if (check(p, MPI_Allreduce(&in, &out, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce"))
        return -1;
    *sum = out;
    return 0;
}

int sdmpi_minmax_i64(sdmpi *p, int64_t v, int64_t *mn, int64_t *mx)
{
    long long in[2] = {v, -v}, out[2];
    if (check(p, MPI_Allreduce(in, out, 2, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD),
              "MPI_Allreduce"))
        return -1;
    *mx = out[0];
    *mn = -out[1];
    return 0;
}

void sdmpi_part(const sdmpi *p, int64_t rows, int64_t *lo, int64_t *hi)
{
    *lo = rows * p->rank / p->size;
    *hi = rows * (p->rank + 1) / p->size;
}

int sdmpi_gather_rows(sdmpi *p, int64_t rows, size_t row, const float *mine, float *all)
{
    if (rows > INT_MAX || row > INT_MAX) {
        snprintf(p->err, sizeof p->err, "rank %d: %lld rows of %zu floats: too many to gather",
                 p->rank, (long long)rows, row);
        return -1;
    }
    MPI_Datatype t;
    if (check(p, MPI_Type_contiguous((int)row, MPI_FLOAT, &t), "MPI_Type_contiguous") ||
        check(p, MPI_Type_commit(&t), "MPI_Type_commit"))
        return -1;
    int *cnt = NULL, *disp = NULL;
    if (p->rank == 0) {
        cnt = malloc((size_t)p->size * sizeof *cnt);
        disp = malloc((size_t)p->size * sizeof *disp);
        if (!cnt || !disp) {
            free(cnt);
            free(disp);
            MPI_Type_free(&t);
            snprintf(p->err, sizeof p->err, "rank 0: out of memory");
            return -1;
        }
        for (int r = 0; r < p->size; r++) {
            disp[r] = (int)(rows * r / p->size);
            cnt[r] = (int)(rows * (r + 1) / p->size) - disp[r];
        }
    }
    int64_t lo, hi;
    sdmpi_part(p, rows, &lo, &hi);
    /* Rank 0's own rows are already in place (mine == all). */
    const void *send = p->rank == 0 && mine == all ? MPI_IN_PLACE : (const void *)mine;
    int rc = check(p, MPI_Gatherv(send, (int)(hi - lo), t, all, cnt, disp, t, 0,
                                  MPI_COMM_WORLD), "MPI_Gatherv (images)");
    free(cnt);
    free(disp);
    MPI_Type_free(&t);
    return rc;
}
