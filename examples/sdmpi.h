/*
 * sdmpi: the MPI layer of simdiff-train and simdiff-sample (built only when
 * meson finds MPI; libsimdiff itself never links MPI). One process per
 * rank of MPI_COMM_WORLD; errors are returned, not fatal
 * (MPI_ERRORS_RETURN), and reported with the rank. docs/distributed.md.
 */
#ifndef SDMPI_H
#define SDMPI_H

#include <stddef.h>
#include <stdint.h>

typedef struct sdmpi {
    int rank, size;
    int deterministic; /* gather, sum in rank order, broadcast           */
    double stop_in;    /* this rank's "stop after this step" (0 or 1)      */
    double stop_out;   /* the sum over ranks after the last reduction       */
    float *gather;     /* deterministic mode: size x segment floats (rank 0) */
    double reduce_s;   /* seconds spent in sdmpi_grad_reduce, and its calls */
    long long reduce_calls;
    char err[512];     /* the last failure                                 */
} sdmpi;

/* MPI_Init and the communicator's error handler; 0 or -1 (message on
 * stderr). */
int sdmpi_init(sdmpi *p, int *argc, char ***argv);
void sdmpi_finalize(sdmpi *p);
/* Ends every rank at once (after a failure on one of them). */
void sdmpi_abort(sdmpi *p, int code);

/* The simdiff_grad_reduce_fn: sums grad (count floats) and sums[0..2]
 * over the ranks, and stop_in into stop_out, in one pass; 0 or -1 with
 * p->err set. */
int sdmpi_grad_reduce(void *user, float *grad, int64_t count, double *sums);

/* Sum of v over the ranks (every rank gets it); 0 or -1. */
int sdmpi_sum_i64(sdmpi *p, int64_t v, int64_t *sum);
/* The max and min of v over the ranks; 0 or -1. */
int sdmpi_minmax_i64(sdmpi *p, int64_t v, int64_t *mn, int64_t *mx);
/* Rank r's rows lo_r .. hi_r−1 of `rows` (r·rows/size split) of `row`
 * floats each, from mine on every rank into all on rank 0; 0 or -1. */
int sdmpi_gather_rows(sdmpi *p, int64_t rows, size_t row, const float *mine, float *all);
/* The part of rows .. of a split of `rows` over the ranks: [*lo, *hi). */
void sdmpi_part(const sdmpi *p, int64_t rows, int64_t *lo, int64_t *hi);

#endif
