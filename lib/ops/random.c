/* Randomness in the graph: inverted dropout. Forward and backward side by
 * side.
 *
 * The mask is a pure function of (ctx rng seed, ctx rng step, index of this
 * random op within the step, element index): element i is kept when
 * u_i >= p, with u_i the i-th uniform of the Philox stream the ctx hands to
 * this op (sd_ctx_next_rng_stream). So a mask does not depend on the thread
 * count, and replaying a step with the same sd_ctx_set_rng gives the same
 * masks (what finite-difference checks rely on).
 */
#include <math.h>
#include <stdint.h>

#include "ops/ops.h"
#include "tensor/rng.h"

/* aux[0] = mask (numel bytes, 1 = kept); d[0] = 1/(1-p). dx += dy*mask*scale */
static void dropout_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    float *dx = sd_grad_acc(c, x);
    if (!dx)
        return;
    const uint8_t *mask = n->aux[0];
    const float *dy = y->grad, scale = (float)n->d[0];
    int64_t m = x->numel;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++)
        dx[i] += mask[i] ? dy[i] * scale : 0.0f;
}

sd_tensor *sd_dropout(sd_ctx *c, sd_tensor *x, float p)
{
    SD_OP_BEGIN(c, "dropout", x);
    if (!(p >= 0.0f && p < 1.0f)) {
        char s[64];
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "dropout: p = %g is not in [0, 1) (input %s)", (double)p,
                           sd_shape_str(x, s, sizeof s));
    }
    if (!sd_ctx_training(c) || p == 0.0f)
        return x; /* identity: no copy, no tape node, no rng stream used */
    uint64_t seed, stream = sd_ctx_next_rng_stream(c, &seed);
    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    if (!y)
        return NULL;
    sd_node *n = sd_record(c, "dropout", dropout_backward, y, 1, &x);
    uint8_t *mask = n ? sd_alloc(c, (size_t)x->numel) : NULL;
    if (sd_ctx_status(c) != SIMDIFF_OK)
        return NULL;
    const float scale = 1.0f / (1.0f - p);
    const float *xd = x->data;
    float *yd = y->data;
    int64_t m = x->numel;
    /* u_i (overwritten below); element i of the whole batch under
     * sd_ctx_set_rng_batch. */
    sd_rng_uniform(seed, stream, sd_ctx_rng_offset(c, x), (size_t)m, yd);
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        int keep = yd[i] >= p;
        yd[i] = keep ? xd[i] * scale : 0.0f;
        if (mask)
            mask[i] = (uint8_t)keep;
    }
    if (n) {
        n->aux[0] = mask;
        n->d[0] = scale;
    }
    return y;
}
