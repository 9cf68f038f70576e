/*
 * Finite-difference gradient checks for ops and whole graphs (tests of
 * internal code only).
 *
 * The graph under test maps parameter-like inputs to one output tensor. The
 * check contracts the output with fixed random weights R (so every output
 * element matters), L(x) = sum_i R_i * out_i(x) accumulated in double, and
 * compares the tape's dL/dx (sd_backward_seed with R) against central
 * differences (L(x + h e_j) - L(x - h e_j)) / 2h for every input element
 * (or a deterministic sample of at most max_checks per input).
 *
 * Tolerance: ops run in float32, so L carries rounding noise of order
 * 1e-7 * sum|R_i out_i|; divided by 2h that is the noise floor of the
 * numeric derivative, and the truncation error is O(h^2 * L'''). The check
 * passes an element when |analytic - numeric| <= atol + rtol * |numeric|,
 * with atol = rtol * max|numeric| over the input (a scale-aware floor).
 */
#ifndef GRADCHECK_H
#define GRADCHECK_H

#include "tensor/tensor.h"

typedef sd_tensor *(*gc_graph_fn)(sd_ctx *c, sd_tensor **in, void *ud);

typedef struct gc_opts {
    double h;          /* step (default 1e-2)        */
    double rtol;       /* default 3e-3               */
    int max_checks;    /* per input; 0 = all         */
    int training;      /* ctx training mode          */
    uint64_t rng_seed; /* ctx rng (dropout)          */
} gc_opts;

/* Inputs: n tensors with data (caller-owned); the check gives them grad
 * buffers. Returns 0 if all pass, else writes a description into msg. */
int gc_check(gc_graph_fn fn, void *ud, int n, sd_tensor **in,
             const gc_opts *opts, char *msg, size_t cap);

/* Helpers: a caller-owned tensor of the given shape with uniform [-1,1)
 * data from seed (free with gc_free). */
sd_tensor *gc_rand(int ndim, const int64_t *shape, uint64_t seed);
sd_tensor *gc_from(int ndim, const int64_t *shape, const float *data);
void gc_free(sd_tensor *t);

#endif

/* Fixture comparison (PyTorch, tests/reference/ scripts): loads
 * "<name>.in0".."<name>.in{n-1}" as inputs, runs fn with grad, compares the
 * output with "<name>.out" (max relative error <= out_tol) and, seeding the
 * backward with "<name>.R", every input's gradient with "<name>.grad<i>"
 * (<= grad_tol; a missing grad array means the input takes no gradient).
 * Relative error: max|a-b| / max(max|b|, 1e-6). Returns 0 on success. */
struct sdfx;
int gc_fixture(const struct sdfx *f, const char *name, int n, gc_graph_fn fn,
               void *ud, double out_tol, double grad_tol, char *msg, size_t cap);
