/* Normalization ops: layer norm, group norm, modulate. Forward and backward
 * side by side.
 *
 *  - layer norm: the oneDNN layer-normalization primitive over the (M, D)
 *    view of x (..., D), with optional scale (gamma) and shift (beta); the
 *    forward saves mean and variance for the backward primitive, which gives
 *    dx and, when needed, dgamma/dbeta. gamma and beta go in as one packed
 *    (2, D) dnnl_use_scaleshift tensor (ones/zeros for a missing one): with
 *    2.6's separate dnnl_use_scale/dnnl_use_shift flags the backward
 *    primitive wants SCALE, SHIFT, DIFF_SCALE and DIFF_SHIFT, 9 arguments in
 *    all, one more than SD_PRIM_MAX_ARGS.
 *  - group norm (oneDNN 2.6 has none): the same primitive without affine
 *    over the contiguous (N*G, C/G*S) view of x (N,C,...), S = prod(spatial),
 *    then a per-channel affine kernel in place. The backward is two hand
 *    passes over the (n,c) rows (per-row sums, then dx added in place), as
 *    PyTorch does: the composed one (dxhat = dy*gamma into a buffer, then
 *    oneDNN's layer-norm backward-data) cost ~1.4x the CPU time and one or
 *    two activation-sized arena buffers per layer.
 *  - modulate: hand kernels, x*(1+scale)+shift with (N,C) broadcast.
 *
 * Hand kernels are OpenMP-parallel over independent outputs; every sum runs
 * in double in a fixed order, so results do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "ops/ops.h"

/* ---- helpers --------------------------------------------------------------- */

/* sab = sum a*(b - bo), sa = sum a over n floats, in a fixed order: blocks
 * of SUM_BLK in float (an `omp simd` reduction, whose lane split is fixed by
 * the compiled vector width), the blocks added in order in double. The
 * result depends on n and the binary, never on the thread count. */
#define SUM_BLK 256

static inline void sum_ab_a(const float *restrict a, const float *restrict b,
                            float bo, int64_t n, double *sab, double *sa)
{
    double s1 = 0, s2 = 0;
    for (int64_t i0 = 0; i0 < n; i0 += SUM_BLK) {
        const int64_t i1 = i0 + SUM_BLK < n ? i0 + SUM_BLK : n;
        float p1 = 0, p2 = 0;
#pragma omp simd reduction(+ : p1, p2)
        for (int64_t i = i0; i < i1; i++) {
            p1 += a[i] * (b[i] - bo);
            p2 += a[i];
        }
        s1 += (double)p1;
        s2 += (double)p2;
    }
    *sab = s1;
    *sa = s2;
}

/* A 1-D parameter of length len (or NULL)? 0 if fine, else fails the ctx. */
static int check_vec(sd_ctx *c, const char *op, const char *what,
                     const sd_tensor *v, int64_t len, const sd_tensor *x)
{
    if (!v || (v->ndim == 1 && v->shape[0] == len))
        return 0;
    char s1[64], s2[64];
    sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                "%s: %s has shape %s, expected (%lld) for input %s", op, what,
                sd_shape_str(v, s1, sizeof s1), (long long)len,
                sd_shape_str(x, s2, sizeof s2));
    return -1;
}

static int check_eps(sd_ctx *c, const char *op, float eps)
{
    if (eps >= 0.0f && isfinite(eps))
        return 0;
    sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "%s: eps must be finite and >= 0 (got %g)",
                op, (double)eps);
    return -1;
}

/* ---- oneDNN layer normalization over a (rows, cols) matrix ----------------- */
enum { NK_LN_FWD = 1, NK_LN_BWD = 2 };

typedef struct ln_key {
    int32_t op;     /* NK_LN_*                          */
    int32_t prop;   /* dnnl_prop_kind_t (backward only) */
    int64_t rows, cols;
    uint32_t flags; /* 0 or dnnl_use_scaleshift         */
    float eps;
} ln_key;

static void ln_make_key(ln_key *k, int op, int prop, int64_t rows, int64_t cols,
                        unsigned flags, float eps)
{
    memset(k, 0, sizeof *k);
    k->op = op;
    k->prop = prop;
    k->rows = rows;
    k->cols = cols;
    k->flags = flags;
    k->eps = eps;
}

/* Forward training: args SRC, DST, MEAN, VARIANCE [, SCALE_SHIFT]. */
static sd_prim *ln_fwd_prim(sd_ctx *c, int64_t rows, int64_t cols,
                            unsigned flags, float eps)
{
    ln_key k;
    ln_make_key(&k, NK_LN_FWD, dnnl_forward_training, rows, cols, flags, eps);
    sd_prim *p = sd_prim_lookup(c, &k, sizeof k);
    if (p)
        return p;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols};
    dnnl_layer_normalization_desc_t d;
    dnnl_primitive_desc_t pd;
    if (SD_DNNL(c, dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab)) ||
        SD_DNNL(c, dnnl_layer_normalization_forward_desc_init(
                       &d, dnnl_forward_training, &md, NULL, eps, flags)) ||
        SD_DNNL(c, dnnl_primitive_desc_create(&pd, &d, sd_ctx_attr(c),
                                              sd_ctx_engine(c), NULL)))
        return NULL;
    int args[5], na = 0;
    args[na++] = DNNL_ARG_SRC;
    args[na++] = DNNL_ARG_DST;
    args[na++] = DNNL_ARG_MEAN;
    args[na++] = DNNL_ARG_VARIANCE;
    if (flags & dnnl_use_scaleshift)
        args[na++] = DNNL_ARG_SCALE_SHIFT;
    return sd_prim_insert(c, &k, sizeof k, pd, na, args);
}

/* Backward (prop dnnl_backward_data or dnnl_backward): args SRC, MEAN,
 * VARIANCE, DIFF_DST, DIFF_SRC [, SCALE_SHIFT [, DIFF_SCALE_SHIFT]] (the
 * latter only with dnnl_backward). */
static sd_prim *ln_bwd_prim(sd_ctx *c, int64_t rows, int64_t cols,
                            unsigned flags, float eps, dnnl_prop_kind_t prop)
{
    ln_key k;
    ln_make_key(&k, NK_LN_BWD, prop, rows, cols, flags, eps);
    sd_prim *p = sd_prim_lookup(c, &k, sizeof k);
    if (p)
        return p;
    sd_prim *fwd = ln_fwd_prim(c, rows, cols, flags, eps); /* the hint */
    if (!fwd)
        return NULL;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols};
    dnnl_layer_normalization_desc_t d;
    dnnl_primitive_desc_t pd;
    if (SD_DNNL(c, dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab)) ||
        SD_DNNL(c, dnnl_layer_normalization_backward_desc_init(&d, prop, &md, &md,
                                                               NULL, eps, flags)) ||
        SD_DNNL(c, dnnl_primitive_desc_create(&pd, &d, sd_ctx_attr(c),
                                              sd_ctx_engine(c), fwd->pd)))
        return NULL;
    int args[7], na = 0;
    args[na++] = DNNL_ARG_SRC;
    args[na++] = DNNL_ARG_MEAN;
    args[na++] = DNNL_ARG_VARIANCE;
    args[na++] = DNNL_ARG_DIFF_DST;
    args[na++] = DNNL_ARG_DIFF_SRC;
    if (flags & dnnl_use_scaleshift)
        args[na++] = DNNL_ARG_SCALE_SHIFT;
    if (prop == dnnl_backward && (flags & dnnl_use_scaleshift))
        args[na++] = DNNL_ARG_DIFF_SCALE_SHIFT;
    return sd_prim_insert(c, &k, sizeof k, pd, na, args);
}

/* ---- layer norm ------------------------------------------------------------ */
/* Node: in {x, gamma, beta}; i[0] = rows M, i[1] = D; d[0] = eps;
 * aux[0] = mean (M), aux[1] = variance (M), aux[2] = packed scale/shift
 * (2, D) or NULL. */

static void layer_norm_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    const int64_t rows = n->i[0], cols = n->i[1];
    const float eps = (float)n->d[0];
    float *ss = n->aux[2];
    const unsigned flags = ss ? (unsigned)dnnl_use_scaleshift : 0u;
    const int affine_grad = sd_needs_grad(gamma) || sd_needs_grad(beta);
    const dnnl_prop_kind_t prop = affine_grad ? dnnl_backward : dnnl_backward_data;
    if (x->numel == 0)
        return;
    sd_prim *p = ln_bwd_prim(c, rows, cols, flags, eps, prop);
    if (!p)
        return;
    /* oneDNN overwrites its outputs: dx goes through sd_grad_begin/end (a
     * scratch buffer when x needs no gradient); the packed (2, D) diff of
     * scale/shift is added into gamma's and beta's gradients afterwards. */
    float *dx = sd_needs_grad(x) ? sd_grad_begin(c, x)
                                 : sd_alloc(c, (size_t)x->numel * sizeof(float));
    float *dss = affine_grad ? sd_alloc(c, 2 * (size_t)cols * sizeof(float)) : NULL;
    if (sd_ctx_status(c) != SIMDIFF_OK)
        return;
    void *h[7];
    int nh = 0;
    h[nh++] = x->data;
    h[nh++] = n->aux[0];
    h[nh++] = n->aux[1];
    h[nh++] = n->out->grad;
    h[nh++] = dx;
    if (ss)
        h[nh++] = ss;
    if (dss)
        h[nh++] = dss;
    if (sd_prim_exec(c, p, h))
        return;
    if (sd_needs_grad(x))
        sd_grad_end(c, x, dx);
    for (int k = 0; k < 2; k++) {
        sd_tensor *t = k == 0 ? gamma : beta;
        if (!sd_needs_grad(t))
            continue;
        float *g = sd_grad_acc(c, t);
        if (!g)
            return;
        const float *d = dss + k * cols;
        for (int64_t i = 0; i < cols; i++)
            g[i] += d[i];
    }
}

sd_tensor *sd_layer_norm(sd_ctx *c, sd_tensor *x, sd_tensor *gamma,
                         sd_tensor *beta, float eps)
{
    SD_OP_BEGIN(c, "layer_norm", x);
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1) {
        char s[64];
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "layer_norm: input %s has no last dim to normalize",
                           sd_shape_str(x, s, sizeof s));
    }
    const int64_t cols = x->shape[x->ndim - 1], rows = x->numel / cols;
    if (check_vec(c, "layer_norm", "gamma", gamma, cols, x) ||
        check_vec(c, "layer_norm", "beta", beta, cols, x) ||
        check_eps(c, "layer_norm", eps))
        return NULL;
    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    float *mean = sd_alloc(c, (size_t)rows * sizeof(float));
    float *var = sd_alloc(c, (size_t)rows * sizeof(float));
    if (!y || !mean || !var)
        return NULL;
    /* Packed scale/shift (2, D): gamma or ones, beta or zeros. */
    float *ss = NULL;
    if (gamma || beta) {
        ss = sd_alloc(c, 2 * (size_t)cols * sizeof(float));
        if (!ss)
            return NULL;
        for (int64_t i = 0; i < cols; i++) {
            ss[i] = gamma ? gamma->data[i] : 1.0f;
            ss[cols + i] = beta ? beta->data[i] : 0.0f;
        }
    }
    if (rows > 0) {
        sd_prim *p = ln_fwd_prim(c, rows, cols, ss ? (unsigned)dnnl_use_scaleshift : 0u, eps);
        if (!p)
            return NULL;
        void *h[5] = {x->data, y->data, mean, var, ss};
        if (sd_prim_exec(c, p, h))
            return NULL;
    }
    sd_tensor *in[3] = {x, gamma, beta};
    sd_node *n = sd_record(c, "layer_norm", layer_norm_backward, y, 3, in);
    if (n) {
        n->i[0] = rows;
        n->i[1] = cols;
        n->d[0] = eps;
        n->aux[0] = mean;
        n->aux[1] = var;
        n->aux[2] = ss;
    }
    return y;
}

/* ---- group norm ------------------------------------------------------------ */
/* Node: in {x, gamma, beta}; i[0] = N, i[1] = C, i[2] = S, i[3] = G;
 * d[0] = eps; aux[0] = mean (N*G), aux[1] = variance (N*G). */

/* y (N,C,S) = y * gamma[c] + beta[c], in place; either may be NULL. */
static void channel_affine(float *y, const float *gamma, const float *beta,
                           int64_t nc, int64_t ch, int64_t s)
{
    int64_t m = nc * s;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < nc; r++) {
        float g = gamma ? gamma[r % ch] : 1.0f, b = beta ? beta[r % ch] : 0.0f;
        float *row = y + r * s;
        for (int64_t i = 0; i < s; i++)
            row[i] = row[i] * g + b;
    }
}

static void group_norm_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    const int64_t N = n->i[0], C = n->i[1], S = n->i[2], G = n->i[3];
    const int64_t cpg = C / G; /* channels per group */
    const float eps = (float)n->d[0];
    const float *mean = n->aux[0], *var = n->aux[1];
    const float *xd = x->data, *dy = n->out->grad;
    const float *g = gamma ? gamma->data : NULL;
    const int64_t m = x->numel;
    if (m == 0)
        return;

    /* Pass 1, each (n,c) row by one thread:
     *   part[n,c] = {sum_s dy * xhat, sum_s dy},  xhat = (x - mean) * rstd. */
    double *part = sd_alloc(c, 2 * (size_t)(N * C) * sizeof(double));
    if (!part)
        return;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < N * C; r++) {
        const int64_t grp = (r / C) * G + (r % C) / cpg;
        double sxy, sy; /* sum dy*(x - mean), sum dy */
        sum_ab_a(dy + r * S, xd + r * S, mean[grp], S, &sxy, &sy);
        part[2 * r] = sxy / sqrt((double)var[grp] + (double)eps);
        part[2 * r + 1] = sy;
    }

    /* dgamma[c] = sum_n part[n,c].0, dbeta[c] = sum_n part[n,c].1, n in order. */
    if (sd_needs_grad(gamma) || sd_needs_grad(beta)) {
        float *dg = sd_needs_grad(gamma) ? sd_grad_acc(c, gamma) : NULL;
        float *db = sd_needs_grad(beta) ? sd_grad_acc(c, beta) : NULL;
        if (sd_ctx_status(c) != SIMDIFF_OK)
            return;
        for (int64_t ch = 0; ch < C; ch++) {
            double sg = 0, sb = 0;
            for (int64_t b = 0; b < N; b++) {
                sg += part[2 * (b * C + ch)];
                sb += part[2 * (b * C + ch) + 1];
            }
            if (dg)
                dg[ch] += (float)sg;
            if (db)
                db[ch] += (float)sb;
        }
    }
    if (!sd_needs_grad(x))
        return;

    /* Pass 2: with dxhat = dy * gamma[c] and K = C/G * S elements per group,
     *   dx = rstd * (dxhat - sum(dxhat)/K - xhat * sum(dxhat * xhat)/K),
     * the group sums from part: sum(dxhat) = A = sum_{c in g} gamma[c] *
     * part[n,c].1 and sum(dxhat * xhat) = B = sum_{c in g} gamma[c] *
     * part[n,c].0. Per row: dx += ca * dy + cb * (x - mean) + cc. */
    float *dx = sd_grad_acc(c, x);
    if (!dx)
        return;
    const double K = (double)(cpg * S);
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < N * C; r++) {
        const int64_t b = r / C, ch = r % C, gi = ch / cpg, grp = b * G + gi;
        double A = 0, B = 0;
        for (int64_t k = gi * cpg; k < (gi + 1) * cpg; k++) {
            const double gk = g ? (double)g[k] : 1.0;
            A += gk * part[2 * (b * C + k) + 1];
            B += gk * part[2 * (b * C + k)];
        }
        const double rstd = 1.0 / sqrt((double)var[grp] + (double)eps);
        const float ca = (float)(rstd * (g ? (double)g[ch] : 1.0));
        const float cb = (float)(-rstd * rstd * B / K);
        const float cc = (float)(-rstd * A / K);
        const float mu = mean[grp];
        const float *dyr = dy + r * S, *xr = xd + r * S;
        float *o = dx + r * S;
        for (int64_t i = 0; i < S; i++)
            o[i] += ca * dyr[i] + cb * (xr[i] - mu) + cc;
    }
}

sd_tensor *sd_group_norm(sd_ctx *c, sd_tensor *x, int groups, sd_tensor *gamma,
                         sd_tensor *beta, float eps)
{
    SD_OP_BEGIN(c, "group_norm", x);
    char s1[64];
    if (x->ndim < 2)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "group_norm: input %s must be (N,C,...)",
                           sd_shape_str(x, s1, sizeof s1));
    const int64_t N = x->shape[0], C = x->shape[1];
    if (groups < 1 || C % groups != 0)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "group_norm: %lld channels of input %s are not "
                           "divisible into %d groups",
                           (long long)C, sd_shape_str(x, s1, sizeof s1), groups);
    if (check_vec(c, "group_norm", "gamma", gamma, C, x) ||
        check_vec(c, "group_norm", "beta", beta, C, x) ||
        check_eps(c, "group_norm", eps))
        return NULL;
    int64_t S = 1;
    for (int k = 2; k < x->ndim; k++)
        S *= x->shape[k];
    const int64_t G = groups, rows = N * G, cols = C / G * S;

    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    float *mean = sd_alloc(c, (size_t)rows * sizeof(float));
    float *var = sd_alloc(c, (size_t)rows * sizeof(float));
    if (!y || !mean || !var)
        return NULL;
    if (x->numel > 0) {
        sd_prim *p = ln_fwd_prim(c, rows, cols, 0, eps);
        if (!p)
            return NULL;
        void *h[4] = {x->data, y->data, mean, var};
        if (sd_prim_exec(c, p, h))
            return NULL;
        if (gamma || beta)
            channel_affine(y->data, gamma ? gamma->data : NULL,
                           beta ? beta->data : NULL, N * C, C, S);
    }
    sd_tensor *in[3] = {x, gamma, beta};
    sd_node *n = sd_record(c, "group_norm", group_norm_backward, y, 3, in);
    if (n) {
        n->i[0] = N;
        n->i[1] = C;
        n->i[2] = S;
        n->i[3] = G;
        n->d[0] = eps;
        n->aux[0] = mean;
        n->aux[1] = var;
    }
    return y;
}

/* ---- modulate -------------------------------------------------------------- */
/* x viewed as (N, P, C, Q): C = shape[axis], P = prod shape[1..axis-1],
 * Q = prod shape[axis+1..]; scale/shift (N,C).
 * Node: in {x, scale, shift}; i[0..3] = N, P, C, Q. */

/* Channel block of the channels-last (Q == 1) parameter reduction. */
#define MOD_CB 64

static void modulate_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *scale = n->in[1], *shift = n->in[2];
    const int64_t N = n->i[0], P = n->i[1], C = n->i[2], Q = n->i[3];
    const int64_t m = x->numel;
    const float *xd = x->data, *sc = scale->data, *dy = n->out->grad;

    /* dx = dy * (1 + scale) */
    if (sd_needs_grad(x)) {
        float *dx = sd_grad_acc(c, x);
        if (!dx)
            return;
        if (Q == 1) {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
            for (int64_t r = 0; r < N * P; r++) {
                const float *s = sc + (r / P) * C;
                for (int64_t k = 0; k < C; k++)
                    dx[r * C + k] += dy[r * C + k] * (1.0f + s[k]);
            }
        } else {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
            for (int64_t r = 0; r < N * P * C; r++) {
                float a = 1.0f + sc[(r / (P * C)) * C + r % C];
                float *d = dx + r * Q;
                const float *g = dy + r * Q;
                for (int64_t i = 0; i < Q; i++)
                    d[i] += g[i] * a;
            }
        }
    }
    if (!sd_needs_grad(scale) && !sd_needs_grad(shift))
        return;

    /* dscale[n,c] = sum_{p,q} dy*x, dshift[n,c] = sum_{p,q} dy, each output
     * summed by one thread in (p, q) order. */
    float *dsc = sd_needs_grad(scale) ? sd_grad_acc(c, scale) : NULL;
    float *dsh = sd_needs_grad(shift) ? sd_grad_acc(c, shift) : NULL;
    if (sd_ctx_status(c) != SIMDIFF_OK)
        return;
    if (Q == 1) {
        const int64_t nb = (C + MOD_CB - 1) / MOD_CB;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t t = 0; t < N * nb; t++) {
            const int64_t b = t / nb, c0 = (t % nb) * MOD_CB;
            const int64_t cn = C - c0 < MOD_CB ? C - c0 : MOD_CB;
            double axy[MOD_CB] = {0}, ay[MOD_CB] = {0};
            for (int64_t p = 0; p < P; p++) {
                const int64_t off = (b * P + p) * C + c0;
                const float *g = dy + off, *v = xd + off;
                for (int64_t k = 0; k < cn; k++) {
                    axy[k] += (double)g[k] * (double)v[k];
                    ay[k] += (double)g[k];
                }
            }
            for (int64_t k = 0; k < cn; k++) {
                if (dsc)
                    dsc[b * C + c0 + k] += (float)axy[k];
                if (dsh)
                    dsh[b * C + c0 + k] += (float)ay[k];
            }
        }
    } else {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t t = 0; t < N * C; t++) {
            const int64_t b = t / C, k = t % C;
            double sxy = 0, sy = 0;
            for (int64_t p = 0; p < P; p++) {
                const int64_t off = ((b * P + p) * C + k) * Q;
                double a, s;
                sum_ab_a(dy + off, xd + off, 0.0f, Q, &a, &s);
                sxy += a;
                sy += s;
            }
            if (dsc)
                dsc[t] += (float)sxy;
            if (dsh)
                dsh[t] += (float)sy;
        }
    }
}

sd_tensor *sd_modulate(sd_ctx *c, sd_tensor *x, sd_tensor *scale,
                       sd_tensor *shift, int axis)
{
    SD_OP_BEGIN(c, "modulate", x, scale);
    char s1[64], s2[64], s3[64];
    if (x->ndim < 2 || axis < 1 || axis >= x->ndim)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "modulate: axis %d is not a channel axis (1..ndim-1) "
                           "of input %s",
                           axis, sd_shape_str(x, s1, sizeof s1));
    const int64_t N = x->shape[0], C = x->shape[axis];
    if (scale->ndim != 2 || scale->shape[0] != N || scale->shape[1] != C)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "modulate: scale %s must be (N,C) = (%lld,%lld) for "
                           "input %s with channels on axis %d",
                           sd_shape_str(scale, s1, sizeof s1), (long long)N,
                           (long long)C, sd_shape_str(x, s2, sizeof s2), axis);
    if (shift && !sd_same_shape(shift, scale))
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "modulate: shift %s differs from scale %s (input %s)",
                           sd_shape_str(shift, s1, sizeof s1),
                           sd_shape_str(scale, s2, sizeof s2),
                           sd_shape_str(x, s3, sizeof s3));
    int64_t P = 1, Q = 1;
    for (int k = 1; k < axis; k++)
        P *= x->shape[k];
    for (int k = axis + 1; k < x->ndim; k++)
        Q *= x->shape[k];

    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    if (!y)
        return NULL;
    const float *xd = x->data, *sc = scale->data, *sh = shift ? shift->data : NULL;
    float *yd = y->data;
    const int64_t m = x->numel;
    if (Q == 1) {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t r = 0; r < N * P; r++) {
            const int64_t b = r / P;
            const float *s = sc + b * C;
            const float *v = xd + r * C;
            float *o = yd + r * C;
            if (sh) {
                const float *t = sh + b * C;
                for (int64_t k = 0; k < C; k++)
                    o[k] = v[k] * (1.0f + s[k]) + t[k];
            } else {
                for (int64_t k = 0; k < C; k++)
                    o[k] = v[k] * (1.0f + s[k]);
            }
        }
    } else {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t r = 0; r < N * P * C; r++) {
            const int64_t bc = (r / (P * C)) * C + r % C;
            const float a = 1.0f + sc[bc], b = sh ? sh[bc] : 0.0f;
            const float *v = xd + r * Q;
            float *o = yd + r * Q;
            for (int64_t i = 0; i < Q; i++)
                o[i] = v[i] * a + b;
        }
    }
    sd_tensor *in[3] = {x, scale, shift};
    sd_node *n = sd_record(c, "modulate", modulate_backward, y, 3, in);
    if (n) {
        n->i[0] = N;
        n->i[1] = P;
        n->i[2] = C;
        n->i[3] = Q;
    }
    return y;
}
