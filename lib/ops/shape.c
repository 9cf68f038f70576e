/* Shape ops: reshape (a view), permute, concat, slice, average pooling,
 * nearest upsampling, space-to-depth / depth-to-space. Forward and backward
 * side by side.
 *
 * All of them move data without arithmetic except pooling, whose sums run
 * in a fixed order. Every kernel writes each output element exactly once
 * (forward) or each input-gradient element from a fixed set of output
 * gradients (backward), so results do not depend on the thread count.
 * Kernels that copy in both directions take an `acc` flag: 0 writes the
 * destination, 1 adds into it (backward passes accumulate into gradients).
 */
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"

/* "2x3x4" of a tensor for messages; one buffer per call site. */
#define SHAPE(t, buf) sd_shape_str((t), (buf), sizeof(buf))

static int64_t prod(const int64_t *s, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= s[i];
    return p;
}

/* dst (+)= src over n floats. */
static void copy_acc(float *dst, const float *src, int64_t n, int acc)
{
    if (!acc) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
#pragma omp parallel for if (n > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* Normalize a possibly negative axis; -1 (and the ctx failed) if out of
 * range. */
static int norm_axis(sd_ctx *c, const char *op, const sd_tensor *x, int axis)
{
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim) {
        char s[64];
        sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "%s: axis %d out of range for shape %s",
                    op, axis, SHAPE(x, s));
        return -1;
    }
    return a;
}

static int need4(sd_ctx *c, const char *op, const sd_tensor *x)
{
    if (x->ndim == 4)
        return 0;
    char s[64];
    sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "%s: expected (N,C,H,W), got shape %s", op,
                SHAPE(x, s));
    return -1;
}

/* ---- reshape ---------------------------------------------------------------
 * The output header points at x's data. Gradients are not shared: y gets
 * its own grad buffer on the tape, and the backward adds it into x's. */
static void reshape_backward(sd_ctx *c, sd_node *n)
{
    float *dx = sd_grad_acc(c, n->in[0]);
    if (dx)
        copy_acc(dx, n->out->grad, n->out->numel, 1);
}

sd_tensor *sd_reshape(sd_ctx *c, sd_tensor *x, int ndim, const int64_t *shape)
{
    SD_OP_BEGIN(c, "reshape", x);
    char s[64];
    if (ndim < 0 || ndim > SD_MAX_DIMS || (ndim > 0 && !shape))
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "reshape: bad target rank %d for shape %s", ndim, SHAPE(x, s));
    int64_t sh[SD_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (sh[i] == -1 && infer < 0) {
            infer = i;
        } else if (sh[i] < 0) {
            infer = -2;
            break;
        } else {
            known *= sh[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known != 0)
            infer = -2;
        else
            sh[infer] = x->numel / known;
    }
    sd_tensor tmp;
    if (infer == -2 || sd_tensor_init(&tmp, ndim, sh, NULL) != 0 || tmp.numel != x->numel) {
        char want[96];
        size_t off = 0;
        want[0] = 0;
        for (int i = 0; i < ndim && off < sizeof want; i++)
            off += (size_t)snprintf(want + off, sizeof want - off, i ? "x%lld" : "%lld",
                                    (long long)shape[i]);
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "reshape: cannot view shape %s (%lld elements) as %s", SHAPE(x, s),
                           (long long)x->numel, ndim ? want : "scalar");
    }
    sd_tensor *y = sd_wrap(c, ndim, sh, x->data);
    if (!y)
        return NULL;
    sd_record(c, "reshape", reshape_backward, y, 1, &x);
    return y;
}

/* ---- permute ---------------------------------------------------------------
 * A copy plan: the output dims in order, with the input stride of each,
 * after dropping size-1 dims and merging neighbours that are also
 * neighbours (in the same order) in the input. (N,C,H,W) -> (N,H,W,C)
 * becomes N x (HW, stride 1) x (C, stride HW): a batch of 2-D transposes. */
typedef struct perm_plan {
    int nd;
    int64_t shape[SD_MAX_DIMS]; /* output dims (merged)            */
    int64_t istr[SD_MAX_DIMS];  /* input stride of each output dim */
} perm_plan;

static void perm_plan_make(int ndim, const int64_t *ishape, const int *perm, perm_plan *p)
{
    int64_t st[SD_MAX_DIMS], s = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        st[k] = s;
        s *= ishape[k];
    }
    p->nd = 0;
    for (int k = 0; k < ndim; k++) {
        int64_t sh = ishape[perm[k]], is = st[perm[k]];
        if (sh == 1)
            continue;
        if (p->nd > 0 && p->istr[p->nd - 1] == is * sh) {
            p->shape[p->nd - 1] *= sh;
            p->istr[p->nd - 1] = is;
        } else {
            p->shape[p->nd] = sh;
            p->istr[p->nd] = is;
            p->nd++;
        }
    }
}

/* Input offset of the first element of output row `row`, where rows run over
 * the output dims [0, nd - drop) in row-major order. */
static inline int64_t perm_row_offset(const perm_plan *p, int64_t row, int drop)
{
    int64_t off = 0;
    for (int k = p->nd - 1 - drop; k >= 0; k--) {
        off += (row % p->shape[k]) * p->istr[k];
        row /= p->shape[k];
    }
    return off;
}

#define PERM_TILE 32

/* dst (contiguous, output order) (+)= src permuted by the plan. */
static void perm_copy(const perm_plan *p, const float *src, float *dst, int64_t numel, int acc)
{
    int nd = p->nd;
    if (nd == 0 || (nd == 1 && p->istr[0] == 1)) {
        copy_acc(dst, src, numel, acc);
        return;
    }
    int64_t len = p->shape[nd - 1], ls = p->istr[nd - 1];
    if (nd >= 2 && p->istr[nd - 2] == 1) {
        /* Batched transpose: dst[b][a][j] = src[off(b) + a + j*ls], done in
         * PERM_TILE x PERM_TILE tiles so both sides stay in cache. */
        int64_t A = p->shape[nd - 2];
        int64_t nb = numel / (A * len);
        int64_t ta = (A + PERM_TILE - 1) / PERM_TILE, tj = (len + PERM_TILE - 1) / PERM_TILE;
        int64_t ntiles = nb * ta * tj;
#pragma omp parallel for if (numel > SD_PAR_MIN) schedule(static)
        for (int64_t t = 0; t < ntiles; t++) {
            int64_t b = t / (ta * tj), a0 = (t / tj) % ta * PERM_TILE, j0 = t % tj * PERM_TILE;
            int64_t a1 = a0 + PERM_TILE < A ? a0 + PERM_TILE : A;
            int64_t j1 = j0 + PERM_TILE < len ? j0 + PERM_TILE : len;
            const float *s = src + perm_row_offset(p, b, 2);
            float *d = dst + b * A * len;
            for (int64_t a = a0; a < a1; a++) {
                if (acc)
                    for (int64_t j = j0; j < j1; j++)
                        d[a * len + j] += s[a + j * ls];
                else
                    for (int64_t j = j0; j < j1; j++)
                        d[a * len + j] = s[a + j * ls];
            }
        }
        return;
    }
    /* Rows of the last output dim: contiguous reads when ls == 1. */
    int64_t rows = numel / len;
#pragma omp parallel for if (numel > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *s = src + perm_row_offset(p, r, 1);
        float *d = dst + r * len;
        if (acc)
            for (int64_t j = 0; j < len; j++)
                d[j] += s[j * ls];
        else
            for (int64_t j = 0; j < len; j++)
                d[j] = s[j * ls];
    }
}

/* dx += permute(dy, inverse perm) */
static void permute_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    int inv[SD_MAX_DIMS];
    for (int k = 0; k < y->ndim; k++)
        inv[n->i[k]] = k;
    float *dx = sd_grad_acc(c, x);
    if (!dx)
        return;
    perm_plan p;
    perm_plan_make(y->ndim, y->shape, inv, &p);
    perm_copy(&p, y->grad, dx, x->numel, 1);
}

sd_tensor *sd_permute(sd_ctx *c, sd_tensor *x, const int *perm)
{
    SD_OP_BEGIN(c, "permute", x);
    int seen[SD_MAX_DIMS] = {0}, ok = perm != NULL || x->ndim == 0;
    for (int k = 0; ok && k < x->ndim; k++) {
        if (perm[k] < 0 || perm[k] >= x->ndim || seen[perm[k]])
            ok = 0;
        else
            seen[perm[k]] = 1;
    }
    if (!ok) {
        char s[64], ps[64] = "NULL";
        size_t off = 0;
        for (int k = 0; perm && k < x->ndim && off < sizeof ps; k++)
            off += (size_t)snprintf(ps + off, sizeof ps - off, k ? ",%d" : "%d", perm[k]);
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "permute: (%s) is not a permutation of the dims of shape %s", ps,
                           SHAPE(x, s));
    }
    int64_t sh[SD_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++)
        sh[k] = x->shape[perm[k]];
    sd_tensor *y = sd_new(c, x->ndim, sh);
    if (!y)
        return NULL;
    perm_plan p;
    perm_plan_make(x->ndim, x->shape, perm, &p);
    perm_copy(&p, x->data, y->data, y->numel, 0);
    sd_node *n = sd_record(c, "permute", permute_backward, y, 1, &x);
    if (n)
        for (int k = 0; k < x->ndim; k++)
            n->i[k] = perm[k];
    return y;
}

/* ---- concat and slice --------------------------------------------------------
 * Both are a row copy: `outer` rows, each taking `len` contiguous floats at
 * offset `off` within a row of `width` floats of the big tensor. */
static void rows_copy(float *big, float *small, int64_t outer, int64_t width, int64_t off,
                      int64_t len, int to_small, int acc)
{
    int64_t m = outer * len;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < outer; r++) {
        float *b = big + r * width + off, *s = small + r * len;
        float *d = to_small ? s : b;
        const float *src = to_small ? b : s;
        if (acc)
            for (int64_t j = 0; j < len; j++)
                d[j] += src[j];
        else
            memcpy(d, src, (size_t)len * sizeof(float));
    }
}

/* i[0] = axis */
static void concat_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *y = n->out;
    int axis = (int)n->i[0];
    int64_t inner = prod(y->shape, axis + 1, y->ndim), outer = prod(y->shape, 0, axis);
    int64_t width = y->shape[axis] * inner, off = 0;
    for (int k = 0; k < 2; k++) {
        sd_tensor *t = n->in[k];
        int64_t len = t->shape[axis] * inner;
        if (sd_needs_grad(t)) {
            float *dt = sd_grad_acc(c, t);
            if (!dt)
                return;
            rows_copy(y->grad, dt, outer, width, off, len, 1, 1);
        }
        off += len;
    }
}

sd_tensor *sd_concat(sd_ctx *c, sd_tensor *a, sd_tensor *b, int axis)
{
    SD_OP_BEGIN(c, "concat", a, b);
    char s1[64], s2[64];
    int ax = norm_axis(c, "concat", a, axis);
    if (ax < 0)
        return NULL;
    int ok = a->ndim == b->ndim;
    for (int k = 0; ok && k < a->ndim; k++)
        ok = k == ax || a->shape[k] == b->shape[k];
    if (!ok)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "concat: shapes %s and %s differ outside axis %d", SHAPE(a, s1),
                           SHAPE(b, s2), axis);
    int64_t sh[SD_MAX_DIMS];
    memcpy(sh, a->shape, sizeof sh);
    sh[ax] = a->shape[ax] + b->shape[ax];
    sd_tensor *y = sd_new(c, a->ndim, sh);
    if (!y)
        return NULL;
    int64_t inner = prod(sh, ax + 1, a->ndim), outer = prod(sh, 0, ax);
    int64_t la = a->shape[ax] * inner, lb = b->shape[ax] * inner;
    rows_copy(y->data, a->data, outer, la + lb, 0, la, 0, 0);
    rows_copy(y->data, b->data, outer, la + lb, la, lb, 0, 0);
    sd_tensor *in[2] = {a, b};
    sd_node *n = sd_record(c, "concat", concat_backward, y, 2, in);
    if (n)
        n->i[0] = ax;
    return y;
}

/* i[0] = axis, i[1] = start */
static void slice_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    int axis = (int)n->i[0];
    int64_t inner = prod(x->shape, axis + 1, x->ndim), outer = prod(x->shape, 0, axis);
    float *dx = sd_grad_acc(c, x);
    if (dx)
        rows_copy(dx, y->grad, outer, x->shape[axis] * inner, n->i[1] * inner,
                  y->shape[axis] * inner, 0, 1);
}

sd_tensor *sd_slice(sd_ctx *c, sd_tensor *x, int axis, int64_t start, int64_t len)
{
    SD_OP_BEGIN(c, "slice", x);
    int ax = norm_axis(c, "slice", x, axis);
    if (ax < 0)
        return NULL;
    if (start < 0 || len < 0 || start > x->shape[ax] || len > x->shape[ax] - start) {
        char s[64];
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "slice: [%lld, %lld + %lld) out of range on axis %d of shape %s",
                           (long long)start, (long long)start, (long long)len, axis,
                           SHAPE(x, s));
    }
    int64_t sh[SD_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    sh[ax] = len;
    sd_tensor *y = sd_new(c, x->ndim, sh);
    if (!y)
        return NULL;
    int64_t inner = prod(x->shape, ax + 1, x->ndim), outer = prod(x->shape, 0, ax);
    rows_copy(x->data, y->data, outer, x->shape[ax] * inner, start * inner, len * inner, 1, 0);
    sd_node *n = sd_record(c, "slice", slice_backward, y, 1, &x);
    if (n) {
        n->i[0] = ax;
        n->i[1] = start;
    }
    return y;
}

/* ---- average pooling ---------------------------------------------------------
 * y[n,c,i,j] = mean of x[n,c, s*i .. s*i+s-1, s*j .. s*j+s-1]. Like
 * F.avg_pool2d, trailing rows/columns that do not fill a window are dropped
 * (and get zero gradient). */
static void pool_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    int64_t s = n->i[0], H = x->shape[2], W = x->shape[3];
    int64_t Ho = y->shape[2], Wo = y->shape[3], planes = x->shape[0] * x->shape[1];
    float *dx = sd_grad_acc(c, x);
    if (!dx)
        return;
    const float *dy = y->grad;
    float inv = 1.0f / (float)(s * s);
    int64_t rows = planes * Ho;
#pragma omp parallel for if (rows * Wo * s * s > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t p = r / Ho, i = r % Ho;
        const float *g = dy + r * Wo;
        for (int64_t a = 0; a < s; a++) {
            float *d = dx + (p * H + i * s + a) * W;
            for (int64_t j = 0; j < Wo; j++) {
                float v = g[j] * inv;
                for (int64_t b = 0; b < s; b++)
                    d[j * s + b] += v;
            }
        }
    }
}

static sd_tensor *avg_pool(sd_ctx *c, const char *op, sd_tensor *x, int s)
{
    if (need4(c, op, x))
        return NULL;
    char sh[64];
    int64_t H = x->shape[2], W = x->shape[3];
    if (s < 1 || H < s || W < s)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "%s: window %d does not fit shape %s", op, s, SHAPE(x, sh));
    int64_t Ho = H / s, Wo = W / s, planes = x->shape[0] * x->shape[1];
    sd_tensor *y = sd_new4(c, x->shape[0], x->shape[1], Ho, Wo);
    if (!y)
        return NULL;
    const float *xd = x->data;
    float *yd = y->data;
    float inv = 1.0f / (float)((int64_t)s * s);
    int64_t rows = planes * Ho;
    /* Each output sums its window row by row, left to right. */
#pragma omp parallel for if (x->numel > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t p = r / Ho, i = r % Ho;
        float *o = yd + r * Wo;
        for (int64_t j = 0; j < Wo; j++)
            o[j] = 0.0f;
        for (int64_t a = 0; a < s; a++) {
            const float *xr = xd + (p * H + i * s + a) * W;
            for (int64_t j = 0; j < Wo; j++) {
                float acc = 0.0f;
                for (int64_t b = 0; b < s; b++)
                    acc += xr[j * s + b];
                o[j] += acc;
            }
        }
        for (int64_t j = 0; j < Wo; j++)
            o[j] *= inv;
    }
    sd_node *n = sd_record(c, op, pool_backward, y, 1, &x);
    if (n)
        n->i[0] = s;
    return y;
}

sd_tensor *sd_avg_pool(sd_ctx *c, sd_tensor *x, int s)
{
    SD_OP_BEGIN(c, "avg_pool", x);
    return avg_pool(c, "avg_pool", x, s);
}

sd_tensor *sd_avg_pool2(sd_ctx *c, sd_tensor *x)
{
    SD_OP_BEGIN(c, "avg_pool2", x);
    return avg_pool(c, "avg_pool2", x, 2);
}

/* ---- nearest x2 upsampling ------------------------------------------------- */
static void upsample2_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    int64_t H = x->shape[2], W = x->shape[3], rows = x->shape[0] * x->shape[1] * H;
    float *dx = sd_grad_acc(c, x);
    if (!dx)
        return;
    const float *dy = y->grad;
#pragma omp parallel for if (y->numel > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *g0 = dy + 2 * r * 2 * W, *g1 = g0 + 2 * W;
        float *d = dx + r * W;
        for (int64_t j = 0; j < W; j++)
            d[j] += (g0[2 * j] + g0[2 * j + 1]) + (g1[2 * j] + g1[2 * j + 1]);
    }
}

sd_tensor *sd_upsample2(sd_ctx *c, sd_tensor *x)
{
    SD_OP_BEGIN(c, "upsample2", x);
    if (need4(c, "upsample2", x))
        return NULL;
    int64_t H = x->shape[2], W = x->shape[3], rows = x->shape[0] * x->shape[1] * H;
    sd_tensor *y = sd_new4(c, x->shape[0], x->shape[1], 2 * H, 2 * W);
    if (!y)
        return NULL;
    const float *xd = x->data;
    float *yd = y->data;
    /* Input row r gives output rows 2r and 2r+1 (of 2W floats each). */
#pragma omp parallel for if (y->numel > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *s = xd + r * W;
        float *o = yd + 2 * r * 2 * W;
        for (int64_t j = 0; j < W; j++) {
            o[2 * j] = s[j];
            o[2 * j + 1] = s[j];
        }
        memcpy(o + 2 * W, o, (size_t)(2 * W) * sizeof(float));
    }
    sd_record(c, "upsample2", upsample2_backward, y, 1, &x);
    return y;
}

/* ---- space-to-depth / depth-to-space ----------------------------------------
 * big (N,C,H,W) <-> small (N,C*b*b,H/b,W/b) with
 *   small[n, c*b*b + i*b + j, h, w] = big[n, c, h*b + i, w*b + j]
 * (F.pixel_unshuffle / F.pixel_shuffle). One kernel for both directions:
 * to_small copies big -> small, else small -> big; a bijection, so every
 * destination element is touched once. Parallel over rows of small. */
static void shuffle(float *big, float *small, int64_t N, int64_t C, int64_t H, int64_t W,
                    int64_t b, int to_small, int acc)
{
    int64_t Hs = H / b, Ws = W / b, rows = N * C * b * b * Hs;
#pragma omp parallel for if (rows * Ws > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t h = r % Hs, cs = r / Hs; /* cs = n*C*b*b + c*b*b + i*b + j */
        int64_t j = cs % b, i = cs / b % b, nc = cs / (b * b);
        float *sp = small + r * Ws;
        float *bp = big + (nc * H + h * b + i) * W + j;
        if (to_small) {
            if (acc)
                for (int64_t w = 0; w < Ws; w++)
                    sp[w] += bp[w * b];
            else
                for (int64_t w = 0; w < Ws; w++)
                    sp[w] = bp[w * b];
        } else {
            if (acc)
                for (int64_t w = 0; w < Ws; w++)
                    bp[w * b] += sp[w];
            else
                for (int64_t w = 0; w < Ws; w++)
                    bp[w * b] = sp[w];
        }
    }
}

/* i[0] = b; in[0] is big (s2d) or small (d2s) */
static void s2d_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0];
    float *dx = sd_grad_acc(c, x);
    if (dx)
        shuffle(dx, n->out->grad, x->shape[0], x->shape[1], x->shape[2], x->shape[3],
                n->i[0], 0, 1);
}

static void d2s_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *y = n->out;
    float *dx = sd_grad_acc(c, n->in[0]);
    if (dx)
        shuffle(y->grad, dx, y->shape[0], y->shape[1], y->shape[2], y->shape[3], n->i[0],
                1, 1);
}

sd_tensor *sd_space_to_depth(sd_ctx *c, sd_tensor *x, int b)
{
    SD_OP_BEGIN(c, "space_to_depth", x);
    if (need4(c, "space_to_depth", x))
        return NULL;
    char s[64];
    if (b < 1 || x->shape[2] % b || x->shape[3] % b)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "space_to_depth: block %d does not divide H and W of shape %s", b,
                           SHAPE(x, s));
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    sd_tensor *y = sd_new4(c, N, C * b * b, H / b, W / b);
    if (!y)
        return NULL;
    shuffle(x->data, y->data, N, C, H, W, b, 1, 0);
    sd_node *n = sd_record(c, "space_to_depth", s2d_backward, y, 1, &x);
    if (n)
        n->i[0] = b;
    return y;
}

sd_tensor *sd_depth_to_space(sd_ctx *c, sd_tensor *x, int b)
{
    SD_OP_BEGIN(c, "depth_to_space", x);
    if (need4(c, "depth_to_space", x))
        return NULL;
    char s[64];
    if (b < 1 || x->shape[1] % ((int64_t)b * b))
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "depth_to_space: block %d: b*b does not divide C of shape %s", b,
                           SHAPE(x, s));
    int64_t N = x->shape[0], C = x->shape[1] / ((int64_t)b * b);
    sd_tensor *y = sd_new4(c, N, C, x->shape[2] * b, x->shape[3] * b);
    if (!y)
        return NULL;
    shuffle(y->data, x->data, N, C, y->shape[2], y->shape[3], b, 0, 0);
    sd_node *n = sd_record(c, "depth_to_space", d2s_backward, y, 1, &x);
    if (n)
        n->i[0] = b;
    return y;
}
