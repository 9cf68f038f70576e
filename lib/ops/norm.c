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
 *  - group norm (oneDNN 2.6 has none): a hand kernel per (n, group), with
 *    the optional per-sample modulation x*(1+scale)+shift and SiLU folded
 *    into its one output pass (sd_group_norm_act, the U-Net's norm -> SiLU
 *    pairs); its backward recomputes SiLU's derivative from x, so the op
 *    saves only per-group statistics. Details at its section below.
 *  - modulate: hand kernels, x*(1+scale)+shift with (N,C) broadcast.
 *
 * Hand kernels are OpenMP-parallel over independent outputs; every sum runs
 * in double in a fixed order, so results do not depend on the thread count.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops/ops.h"

/* ---- helpers --------------------------------------------------------------- */

/* sab = sum a*(b - bo), sa = sum a over n floats, in a fixed order: blocks
 * of SUM_BLK in float (an `omp simd` reduction, whose lane split is fixed by
 * the compiled vector width), the blocks added in order in double. The
 * result depends on n and the binary (in the group-norm kernels, on the
 * clone the CPU runs: GN_CLONES), never on the thread count. */
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

/* ---- group norm, with modulation and SiLU ---------------------------------- */
/* One kernel for sd_group_norm and sd_group_norm_act (oneDNN 2.6 has no
 * group norm). Over x viewed as (N, G, C/G, S), S = prod(spatial):
 *   xhat = (x - mean[n,g]) * rstd[n,g],  rstd = 1/sqrt(var + eps),
 *   z    = xhat * a[n,c] + b[n,c],  a = gamma[c] (1 + scale[n,c]),
 *                                   b = beta[c] (1 + scale[n,c]) + shift[n,c]
 *          (a missing gamma is 1, a missing beta, scale or shift 0),
 *   y    = z, or silu(z) = z sigmoid(z).
 * A group (n, g) is contiguous in memory: one thread takes a group,
 * computes its statistics (two passes, the second from cache) and writes
 * y in one more pass, so SiLU and the modulation cost no pass of their own.
 *
 * Saved for backward: mean and rstd per (n, g), nothing of x's size. The
 * backward reads x (the op's input, kept by the tape anyway) and
 * recomputes z and silu'(z) from it. Per group:
 *   pass 1, per channel row: dz = dy act'(z), Q1 = sum_s dz xhat,
 *           Q0 = sum_s dz (with SiLU, dz goes to a per-thread buffer the
 *           size of one group, still in cache for pass 2);
 *   pass 2: dx += rstd a dz - rstd^2 B/K (x - mean) - rstd A/K, with
 *           A = sum_{c in g} a Q0, B = sum_{c in g} a Q1, K = C/G * S;
 * then, channel by channel with n inner:
 *   dgamma[c] = sum_n (1 + scale) Q1,  dbeta[c] = sum_n (1 + scale) Q0,
 *   dscale[n,c] = gamma Q1 + beta Q0,  dshift[n,c] = Q0.
 * Every sum has a fixed order (blocks of SUM_BLK, combined in double), so
 * results do not depend on the thread count.
 *
 * Node: in {x, gamma, beta, scale, shift}; i[0..4] = N, C, S, G, act;
 * aux[0] = mean (N*G), aux[1] = rstd (N*G). */

/* sigmoid(z) without a libm call, so that `omp simd` loops vectorize:
 * e^-z by Cody-Waite reduction (-z = n ln2 + r, |r| <= ln2/2), Cephes'
 * degree-5 minimax polynomial for e^r (relative error ~1e-7) and 2^n
 * through the exponent bits (n rounded by adding 1.5 * 2^23). z is
 * clamped to [-80, 80], where sigmoid is 0 or 1 to float precision and
 * e^-z stays a normal float; a NaN stays NaN. */
static inline float sigmoid_simd(float z)
{
    float x = z > 80.0f ? -80.0f : z < -80.0f ? 80.0f : -z;
    const float t = x * 1.44269504088896341f + 12582912.0f;
    const float n = t - 12582912.0f;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits; /* unsigned: a NaN z gives garbage bits here, and p is NaN */
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23; /* 2^n */
    float e;
    memcpy(&e, &bits, sizeof e);
    return 1.0f / (1.0f + p * e);
}

/* Mean and 1/sqrt(var + eps) of n > 0 floats, var biased (as PyTorch):
 * two passes, float inside blocks of SUM_BLK, double across. The
 * variance is taken around the float mean returned (and corrected for
 * its rounding), which is the mean every later pass subtracts. */
static void moments(const float *restrict x, int64_t n, float eps, float *mean, float *rstd)
{
    double s = 0;
    for (int64_t i0 = 0; i0 < n; i0 += SUM_BLK) {
        const int64_t i1 = i0 + SUM_BLK < n ? i0 + SUM_BLK : n;
        float p = 0;
#pragma omp simd reduction(+ : p)
        for (int64_t i = i0; i < i1; i++)
            p += x[i];
        s += (double)p;
    }
    const double m = s / (double)n;
    const float mf = (float)m;
    double v = 0;
    for (int64_t i0 = 0; i0 < n; i0 += SUM_BLK) {
        const int64_t i1 = i0 + SUM_BLK < n ? i0 + SUM_BLK : n;
        float p = 0;
#pragma omp simd reduction(+ : p)
        for (int64_t i = i0; i < i1; i++) {
            const float d = x[i] - mf;
            p += d * d;
        }
        v += (double)p;
    }
    const double dm = m - (double)mf;
    v = v / (double)n - dm * dm;
    *mean = mf;
    *rstd = (float)(1.0 / sqrt((v > 0 ? v : 0) + (double)eps));
}

/* ab[2r] = a, ab[2r+1] = b of row r = (n, c), r < N*C. */
static void gn_coef(float *ab, int64_t N, int64_t C, const sd_tensor *gamma,
                    const sd_tensor *beta, const sd_tensor *scale, const sd_tensor *shift)
{
    for (int64_t r = 0; r < N * C; r++) {
        const int64_t ch = r % C;
        const float s1 = 1.0f + (scale ? scale->data[r] : 0.0f);
        ab[2 * r] = (gamma ? gamma->data[ch] : 1.0f) * s1;
        ab[2 * r + 1] = (beta ? beta->data[ch] : 0.0f) * s1 + (shift ? shift->data[r] : 0.0f);
    }
}

/* Pass 1 of a SiLU row: dz = dy silu'(z), z = (x - mu) ar + b, into dz;
 * *s1 = sum dz (x - mu), *s0 = sum dz (sum_ab_a, over the row in cache). */
static inline void silu_row_dz(const float *restrict dy, const float *restrict x, int64_t n,
                               float mu, float ar, float b, float *restrict dz, double *s1,
                               double *s0)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float z = (x[i] - mu) * ar + b, s = sigmoid_simd(z);
        dz[i] = dy[i] * (s * (1.0f + z * (1.0f - s)));
    }
    sum_ab_a(dz, x, mu, n, s1, s0);
}

/* The per-group kernels are compute-bound (the sigmoid): they are compiled
 * for AVX-512, AVX2 + FMA and the baseline, and the loader picks one for
 * the CPU (target_clones, an ifunc), while the library itself stays
 * baseline x86-64. The clone's vector width fixes the order of the float
 * partial sums, so results depend on the CPU's ISA (not on threads). */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__clang__)
/* clang refuses noinline with target_clones (its clones are never inlined). */
#define GN_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#elif __has_attribute(target_clones)
#define GN_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default"), noinline))
#endif
#endif
#ifndef GN_CLONES
#define GN_CLONES
#endif

/* Forward of one group (n, g): its statistics, and its cpg rows of S
 * outputs from x (the group's first row); ab holds the rows' (a, b). */
GN_CLONES
static void gn_group_fwd(const float *restrict x, float *restrict y, const float *ab,
                         int64_t cpg, int64_t S, float eps, int silu, float *mean,
                         float *rstd)
{
    float mu, rs;
    moments(x, cpg * S, eps, &mu, &rs);
    *mean = mu;
    *rstd = rs;
    for (int64_t k = 0; k < cpg; k++) {
        const float ar = rs * ab[2 * k], b = ab[2 * k + 1];
        const float *xr = x + k * S;
        float *o = y + k * S;
        if (silu) {
#pragma omp simd
            for (int64_t i = 0; i < S; i++) {
                const float z = (xr[i] - mu) * ar + b;
                o[i] = z * sigmoid_simd(z);
            }
        } else {
#pragma omp simd
            for (int64_t i = 0; i < S; i++)
                o[i] = (xr[i] - mu) * ar + b;
        }
    }
}

/* Backward of one group: pass 1 (part = Q1, Q0 per row; dz into the
 * group-sized buffer dz with SiLU, else dz = dy), then, when dx is not
 * NULL, pass 2 adds the group's dx. Pointers at the group's first row. */
GN_CLONES
static void gn_group_bwd(const float *restrict dy, const float *restrict x,
                         float *restrict dx, float *restrict dz, const float *ab,
                         double *part, int64_t cpg, int64_t S, float mu, float rs)
{
    double A = 0, B = 0;
    for (int64_t k = 0; k < cpg; k++) {
        double s1, s0; /* sum dz (x - mean), sum dz */
        if (dz)
            silu_row_dz(dy + k * S, x + k * S, S, mu, rs * ab[2 * k], ab[2 * k + 1],
                        dz + k * S, &s1, &s0);
        else
            sum_ab_a(dy + k * S, x + k * S, mu, S, &s1, &s0);
        part[2 * k] = s1 * (double)rs;
        part[2 * k + 1] = s0;
        A += (double)ab[2 * k] * s0;
        B += (double)ab[2 * k] * part[2 * k];
    }
    if (!dx)
        return;
    const double K = (double)(cpg * S);
    const float cb = (float)(-(double)rs * (double)rs * B / K);
    const float cc = (float)(-(double)rs * A / K);
    for (int64_t k = 0; k < cpg; k++) {
        const float ca = rs * ab[2 * k];
        const float *g = dz ? dz + k * S : dy + k * S, *xr = x + k * S;
        float *o = dx + k * S;
#pragma omp simd
        for (int64_t i = 0; i < S; i++)
            o[i] += ca * g[i] + cb * (xr[i] - mu) + cc;
    }
}

static void group_norm_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    sd_tensor *scale = n->in[3], *shift = n->in[4];
    const int64_t N = n->i[0], C = n->i[1], S = n->i[2], G = n->i[3];
    const int silu = n->i[4] == SD_ACT_SILU;
    const int64_t cpg = C / G, K = cpg * S, m = x->numel;
    const float *mean = n->aux[0], *rstd = n->aux[1];
    const float *xd = x->data, *dy = n->out->grad;
    if (m == 0)
        return;
    float *ab = sd_alloc(c, 2 * (size_t)(N * C) * sizeof(float));
    double *part = sd_alloc(c, 2 * (size_t)(N * C) * sizeof(double)); /* Q1, Q0 */
    float *dzb = silu ? sd_alloc(c, (size_t)omp_get_max_threads() * (size_t)K * sizeof(float))
                      : NULL;
    float *dx = sd_needs_grad(x) ? sd_grad_acc(c, x) : NULL;
    if (sd_ctx_status(c) != SIMDIFF_OK)
        return;
    gn_coef(ab, N, C, gamma, beta, scale, shift);
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t q = 0; q < N * G; q++) {
        const int64_t r0 = (q / G) * C + (q % G) * cpg; /* first (n,c) row */
        float *dz = dzb ? dzb + (int64_t)omp_get_thread_num() * K : NULL;
        gn_group_bwd(dy + r0 * S, xd + r0 * S, dx ? dx + r0 * S : NULL, dz, ab + 2 * r0,
                     part + 2 * r0, cpg, S, mean[q], rstd[q]);
    }

    /* The parameters, from part (Q1, Q0) in a fixed order. */
    float *dg = sd_needs_grad(gamma) ? sd_grad_acc(c, gamma) : NULL;
    float *db = sd_needs_grad(beta) ? sd_grad_acc(c, beta) : NULL;
    float *dsc = sd_needs_grad(scale) ? sd_grad_acc(c, scale) : NULL;
    float *dsh = sd_needs_grad(shift) ? sd_grad_acc(c, shift) : NULL;
    if (sd_ctx_status(c) != SIMDIFF_OK)
        return;
    if (dg || db)
        for (int64_t ch = 0; ch < C; ch++) {
            double sg = 0, sb = 0;
            for (int64_t b = 0; b < N; b++) {
                const int64_t r = b * C + ch;
                const double s1 = 1.0 + (scale ? (double)scale->data[r] : 0.0);
                sg += s1 * part[2 * r];
                sb += s1 * part[2 * r + 1];
            }
            if (dg)
                dg[ch] += (float)sg;
            if (db)
                db[ch] += (float)sb;
        }
    if (dsc || dsh)
        for (int64_t r = 0; r < N * C; r++) {
            const int64_t ch = r % C;
            if (dsc)
                dsc[r] += (float)((gamma ? (double)gamma->data[ch] : 1.0) * part[2 * r] +
                                  (beta ? (double)beta->data[ch] : 0.0) * part[2 * r + 1]);
            if (dsh)
                dsh[r] += (float)part[2 * r + 1];
        }
}

/* A (N,C) per-sample parameter (or NULL)? 0 if fine, else fails the ctx. */
static int check_nc(sd_ctx *c, const char *op, const char *what, const sd_tensor *v,
                    const sd_tensor *x)
{
    if (!v || (v->ndim == 2 && v->shape[0] == x->shape[0] && v->shape[1] == x->shape[1]))
        return 0;
    char s1[64], s2[64];
    sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                "%s: %s has shape %s, expected (N,C) = (%lld,%lld) for input %s", op, what,
                sd_shape_str(v, s1, sizeof s1), (long long)x->shape[0],
                (long long)x->shape[1], sd_shape_str(x, s2, sizeof s2));
    return -1;
}

static sd_tensor *group_norm_op(sd_ctx *c, const char *op, sd_tensor *x, int groups,
                                sd_tensor *gamma, sd_tensor *beta, sd_tensor *scale,
                                sd_tensor *shift, int act, float eps)
{
    SD_OP_BEGIN(c, op, x);
    char s1[64];
    if (x->ndim < 2)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "%s: input %s must be (N,C,...)", op,
                           sd_shape_str(x, s1, sizeof s1));
    const int64_t N = x->shape[0], C = x->shape[1];
    if (groups < 1 || C % groups != 0)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "%s: %lld channels of input %s are not "
                           "divisible into %d groups",
                           op, (long long)C, sd_shape_str(x, s1, sizeof s1), groups);
    if (check_vec(c, op, "gamma", gamma, C, x) || check_vec(c, op, "beta", beta, C, x) ||
        check_nc(c, op, "scale", scale, x) || check_nc(c, op, "shift", shift, x) ||
        check_eps(c, op, eps))
        return NULL;
    if (act != SD_ACT_NONE && act != SD_ACT_SILU)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "%s: activation %d is not SD_ACT_NONE or SD_ACT_SILU", op, act);
    int64_t S = 1;
    for (int k = 2; k < x->ndim; k++)
        S *= x->shape[k];
    const int64_t G = groups, cpg = C / G;

    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    float *mean = sd_alloc(c, (size_t)(N * G) * sizeof(float));
    float *rstd = sd_alloc(c, (size_t)(N * G) * sizeof(float));
    if (!y || !mean || !rstd)
        return NULL;
    if (x->numel > 0) {
        sd_tmp tmp = sd_tmp_begin(c);
        float *ab = sd_alloc(c, 2 * (size_t)(N * C) * sizeof(float));
        if (!ab) {
            sd_tmp_end(c, tmp);
            return NULL;
        }
        gn_coef(ab, N, C, gamma, beta, scale, shift);
        const float *xd = x->data;
        float *yd = y->data;
        const int silu = act == SD_ACT_SILU;
#pragma omp parallel for if (x->numel > SD_PAR_MIN) schedule(static)
        for (int64_t q = 0; q < N * G; q++) {
            const int64_t r0 = (q / G) * C + (q % G) * cpg; /* first (n,c) row */
            gn_group_fwd(xd + r0 * S, yd + r0 * S, ab + 2 * r0, cpg, S, eps, silu, &mean[q],
                         &rstd[q]);
        }
        sd_tmp_end(c, tmp);
    }
    sd_tensor *in[5] = {x, gamma, beta, scale, shift};
    sd_node *n = sd_record(c, op, group_norm_backward, y, 5, in);
    if (n) {
        n->i[0] = N;
        n->i[1] = C;
        n->i[2] = S;
        n->i[3] = G;
        n->i[4] = act;
        n->aux[0] = mean;
        n->aux[1] = rstd;
    }
    return y;
}

sd_tensor *sd_group_norm(sd_ctx *c, sd_tensor *x, int groups, sd_tensor *gamma,
                         sd_tensor *beta, float eps)
{
    return group_norm_op(c, "group_norm", x, groups, gamma, beta, NULL, NULL, SD_ACT_NONE,
                         eps);
}

sd_tensor *sd_group_norm_act(sd_ctx *c, sd_tensor *x, int groups, sd_tensor *gamma,
                             sd_tensor *beta, sd_tensor *scale, sd_tensor *shift, int act,
                             float eps)
{
    return group_norm_op(c, act == SD_ACT_SILU ? "group_norm_silu" : "group_norm", x, groups,
                         gamma, beta, scale, shift, act, eps);
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
