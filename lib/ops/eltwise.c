/* Elementwise ops and reductions: silu, gelu, broadcasting add/mul, affine,
 * sum, mean, mse. Forward and backward side by side. */
#include <math.h>
#include <string.h>

#include "ops/ops.h"

/* ---- unary activations (oneDNN eltwise primitives) ---------------------
 * silu = x * sigmoid(x) (oneDNN swish with alpha 1), gelu = x * Phi(x)
 * (gelu_erf). The tensor is viewed as 1-D: eltwise is layout-agnostic. */
typedef struct eltkey {
    char tag[8]; /* "eltF" / "eltB" */
    int alg;
    int64_t n;
} eltkey;

static dnnl_status_t elt_fwd_pd(sd_ctx *c, int alg, int64_t n, dnnl_primitive_desc_t *pd)
{
    dnnl_memory_desc_t md;
    const dnnl_dims_t dims = {n};
    dnnl_eltwise_desc_t d;
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
    if (st == dnnl_success)
        st = dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, (dnnl_alg_kind_t)alg,
                                            &md, 1.0f, 0.0f);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(pd, &d, sd_ctx_attr(c), sd_ctx_engine(c), NULL);
    return st;
}

static sd_prim *elt_prim(sd_ctx *c, int alg, int64_t n, int backward)
{
    eltkey key;
    memset(&key, 0, sizeof key);
    memcpy(key.tag, backward ? "eltB" : "eltF", 4);
    key.alg = alg;
    key.n = n;
    sd_prim *p = sd_prim_lookup(c, &key, sizeof key);
    if (p)
        return p;
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
    if (SD_DNNL(c, elt_fwd_pd(c, alg, n, &fpd)))
        return NULL;
    if (!backward) {
        const int args[] = {DNNL_ARG_SRC, DNNL_ARG_DST};
        return sd_prim_insert(c, &key, sizeof key, fpd, 2, args);
    }
    dnnl_memory_desc_t md;
    const dnnl_dims_t dims = {n};
    dnnl_eltwise_desc_t d;
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
    if (st == dnnl_success)
        st = dnnl_eltwise_backward_desc_init(&d, (dnnl_alg_kind_t)alg, &md, &md, 1.0f, 0.0f);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &d, sd_ctx_attr(c), sd_ctx_engine(c), fpd);
    dnnl_primitive_desc_destroy(fpd);
    if (SD_DNNL(c, st))
        return NULL;
    const int args[] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC};
    return sd_prim_insert(c, &key, sizeof key, pd, 3, args);
}

static void unary_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    sd_prim *p = elt_prim(c, (int)n->i[0], x->numel, 1);
    float *dx = p ? sd_grad_begin(c, x) : NULL;
    if (!dx)
        return;
    void *h[3] = {x->data, y->grad, dx};
    if (sd_prim_exec(c, p, h) == 0)
        sd_grad_end(c, x, dx);
}

static sd_tensor *unary(sd_ctx *c, const char *op, int alg, sd_tensor *x)
{
    SD_OP_BEGIN(c, op, x);
    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    if (!y)
        return NULL;
    if (x->numel > 0) {
        sd_prim *p = elt_prim(c, alg, x->numel, 0);
        void *h[2] = {x->data, y->data};
        if (!p || sd_prim_exec(c, p, h))
            return NULL;
    }
    sd_node *n = sd_record(c, op, unary_backward, y, 1, &x);
    if (n)
        n->i[0] = alg;
    return y;
}

sd_tensor *sd_silu(sd_ctx *c, sd_tensor *x) { return unary(c, "silu", dnnl_eltwise_swish, x); }
sd_tensor *sd_gelu(sd_ctx *c, sd_tensor *x) { return unary(c, "gelu", dnnl_eltwise_gelu_erf, x); }

/* ---- affine: alpha * x + beta ------------------------------------------- */
static void affine_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0];
    float *dx = sd_grad_acc(c, x);
    if (!dx)
        return;
    const float alpha = (float)n->d[0], *dy = n->out->grad;
    int64_t m = x->numel;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++)
        dx[i] += alpha * dy[i];
}

sd_tensor *sd_affine(sd_ctx *c, sd_tensor *x, float alpha, float beta)
{
    SD_OP_BEGIN(c, "affine", x);
    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    if (!y)
        return NULL;
    const float *xd = x->data;
    float *yd = y->data;
    int64_t m = x->numel;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++)
        yd[i] = alpha * xd[i] + beta;
    sd_node *n = sd_record(c, "affine", affine_backward, y, 1, &x);
    if (n)
        n->d[0] = alpha;
    return y;
}

/* ---- broadcasting binary ops -------------------------------------------- */
/* Output shape and per-input element strides in output index space (0 on
 * broadcast dims), all right-aligned to the output's ndim. */
typedef struct bcast {
    int ndim;
    int64_t shape[SD_MAX_DIMS];
    int64_t sa[SD_MAX_DIMS], sb[SD_MAX_DIMS];
    int same; /* a, b and out have identical shapes */
    /* Run fast path (run = 1: a is the part, 2: b is): one operand has the
     * output's shape, the other covers one contiguous run of output dims
     * and is broadcast on the rest, so its offset for output element i is
     * (i / q) % len (len = its numel). Covers the loss's per-example
     * scalars (n,1,1,1) x (n,C,H,W), position tables (T,W) + (N,T,W) and
     * per-channel (1,C,1,1) operands. */
    int run;
    int64_t q, len;
} bcast;

static int bcast_plan(sd_ctx *c, const char *op, const sd_tensor *a,
                      const sd_tensor *b, bcast *p)
{
    memset(p, 0, sizeof *p);
    p->ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t stra = 1, strb = 1;
    for (int k = p->ndim - 1; k >= 0; k--) {
        int ia = k - (p->ndim - a->ndim), ib = k - (p->ndim - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char s1[64], s2[64];
            sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                        "%s: shapes %s and %s do not broadcast", op,
                        sd_shape_str(a, s1, sizeof s1), sd_shape_str(b, s2, sizeof s2));
            return -1;
        }
        p->shape[k] = da > db ? da : db;
        p->sa[k] = da == 1 ? 0 : stra;
        p->sb[k] = db == 1 ? 0 : strb;
        stra *= da;
        strb *= db;
    }
    p->same = sd_same_shape(a, b);
    int64_t m = 1;
    for (int k = 0; k < p->ndim; k++)
        m *= p->shape[k];
    if (!p->same && (a->numel == m || b->numel == m)) {
        const int64_t *st = a->numel == m ? p->sb : p->sa; /* the part */
        int k0 = -1, k1 = -1, ok = 1;
        for (int k = 0; k < p->ndim; k++) {
            if (p->shape[k] == 1)
                continue; /* size-1 output dims do not matter */
            if (st[k] != 0) {
                if (k0 < 0)
                    k0 = k;
                else if (k1 >= 0)
                    ok = 0; /* a second run */
            } else if (k0 >= 0 && k1 < 0) {
                k1 = k;
            }
        }
        if (ok) {
            int64_t q = 1;
            for (int k = k1 < 0 ? p->ndim : k1; k < p->ndim; k++)
                q *= p->shape[k];
            p->run = a->numel == m ? 2 : 1;
            p->len = a->numel == m ? b->numel : a->numel;
            p->q = k0 < 0 ? 1 : q; /* k0 < 0: a single element, len 1 */
        }
    }
    return 0;
}

/* Offsets into a and b of output element i. */
static inline void bcast_offsets(const bcast *p, int64_t i, int64_t *oa, int64_t *ob)
{
    int64_t a = 0, b = 0;
    for (int k = p->ndim - 1; k >= 0; k--) {
        int64_t idx = i % p->shape[k];
        i /= p->shape[k];
        a += idx * p->sa[k];
        b += idx * p->sb[k];
    }
    *oa = a;
    *ob = b;
}

enum { BIN_ADD = 0, BIN_MUL = 1 };

/* d(input) for a broadcast binary op; `other` is the other operand for mul
 * (NULL for add). Broadcast inputs reduce serially in output order, which
 * keeps the sums deterministic. */
/* bin_grad on the run fast path (p->run): the same sums as the generic
 * loop below, in the same order (each element of the part operand adds
 * its terms in increasing output index), so the same bits; in parallel
 * over disjoint elements of the part operand. */
static void bin_grad_run(const bcast *p, int is_part, float *dt, const float *full,
                         const float *part, const float *dy, int64_t m)
{
    const int64_t q = p->q, len = p->len, outer = m / (q * len);
    if (!is_part) {
        /* full operand: one term per element */
        if (!part) {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
            for (int64_t i = 0; i < m; i++)
                dt[i] += dy[i];
        } else if (q == 1) {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
            for (int64_t o = 0; o < outer; o++)
                for (int64_t r = 0; r < len; r++) {
                    float g = dy[o * len + r] * part[r];
                    dt[o * len + r] += g;
                }
        } else {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
            for (int64_t blk = 0; blk < m / q; blk++) {
                const float v = part[blk % len];
                for (int64_t j = 0; j < q; j++) {
                    float g = dy[blk * q + j] * v;
                    dt[blk * q + j] += g;
                }
            }
        }
        return;
    }
    /* part operand: element r sums the terms of i = (o*len + r)*q + j over
     * (o, j) in order; chunks of r in parallel, o outermost for locality. */
    const int64_t chunk = 64;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t r0 = 0; r0 < len; r0 += chunk) {
        const int64_t r1 = r0 + chunk < len ? r0 + chunk : len;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t r = r0; r < r1; r++) {
                const int64_t base = (o * len + r) * q;
                float acc = dt[r];
                if (full)
                    for (int64_t j = 0; j < q; j++) {
                        float g = dy[base + j] * full[base + j];
                        acc += g;
                    }
                else
                    for (int64_t j = 0; j < q; j++)
                        acc += dy[base + j];
                dt[r] = acc;
            }
    }
}

static void bin_grad(sd_ctx *c, sd_tensor *t, const bcast *p, int is_a,
                     const sd_tensor *other, const float *dy, int64_t m)
{
    if (!sd_needs_grad(t))
        return;
    float *dt = sd_grad_acc(c, t);
    if (!dt)
        return;
    if (p->run) {
        int is_part = (p->run == 1) == is_a;
        bin_grad_run(p, is_part, dt, other && is_part ? other->data : NULL,
                     other && !is_part ? other->data : NULL, dy, m);
        return;
    }
    if (p->same) {
        const float *o = other ? other->data : NULL;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < m; i++)
            dt[i] += o ? dy[i] * o[i] : dy[i];
        return;
    }
    for (int64_t i = 0; i < m; i++) {
        int64_t oa, ob;
        bcast_offsets(p, i, &oa, &ob);
        float g = dy[i];
        if (other)
            g *= other->data[is_a ? ob : oa];
        dt[is_a ? oa : ob] += g;
    }
}

static void binary_backward(sd_ctx *c, sd_node *n)
{
    bcast p;
    if (bcast_plan(c, n->op, n->in[0], n->in[1], &p))
        return;
    int mul = n->i[0] == BIN_MUL;
    bin_grad(c, n->in[0], &p, 1, mul ? n->in[1] : NULL, n->out->grad, n->out->numel);
    bin_grad(c, n->in[1], &p, 0, mul ? n->in[0] : NULL, n->out->grad, n->out->numel);
}

static sd_tensor *binary(sd_ctx *c, const char *op, int kind, sd_tensor *a,
                         sd_tensor *b)
{
    SD_OP_BEGIN(c, op, a, b);
    bcast p;
    if (bcast_plan(c, op, a, b, &p))
        return NULL;
    sd_tensor *y = sd_new(c, p.ndim, p.shape);
    if (!y)
        return NULL;
    const float *ad = a->data, *bd = b->data;
    float *yd = y->data;
    int64_t m = y->numel;
    if (p.same) {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < m; i++)
            yd[i] = kind == BIN_ADD ? ad[i] + bd[i] : ad[i] * bd[i];
    } else if (p.run) {
        const float *full = p.run == 1 ? bd : ad, *part = p.run == 1 ? ad : bd;
        const int64_t q = p.q, len = p.len, outer = m / (q * len);
        if (q == 1) {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
            for (int64_t o = 0; o < outer; o++) {
                const float *f = full + o * len;
                float *yo = yd + o * len;
                if (kind == BIN_ADD)
                    for (int64_t r = 0; r < len; r++)
                        yo[r] = f[r] + part[r];
                else
                    for (int64_t r = 0; r < len; r++)
                        yo[r] = f[r] * part[r];
            }
        } else {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
            for (int64_t blk = 0; blk < m / q; blk++) {
                const float v = part[blk % len];
                const float *f = full + blk * q;
                float *yo = yd + blk * q;
                if (kind == BIN_ADD)
                    for (int64_t j = 0; j < q; j++)
                        yo[j] = f[j] + v;
                else
                    for (int64_t j = 0; j < q; j++)
                        yo[j] = f[j] * v;
            }
        }
    } else {
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < m; i++) {
            int64_t oa, ob;
            bcast_offsets(&p, i, &oa, &ob);
            yd[i] = kind == BIN_ADD ? ad[oa] + bd[ob] : ad[oa] * bd[ob];
        }
    }
    sd_tensor *in[2] = {a, b};
    sd_node *n = sd_record(c, op, binary_backward, y, 2, in);
    if (n)
        n->i[0] = kind;
    return y;
}

sd_tensor *sd_add(sd_ctx *c, sd_tensor *a, sd_tensor *b)
{
    return binary(c, "add", BIN_ADD, a, b);
}

sd_tensor *sd_mul(sd_ctx *c, sd_tensor *a, sd_tensor *b)
{
    return binary(c, "mul", BIN_MUL, a, b);
}

/* ---- reductions ------------------------------------------------------------
 * Sums run in double over fixed-size chunks combined in chunk order, so the
 * result does not depend on the thread count. */
#define SD_RED_CHUNK 4096

static double sum_sq_diff(const float *a, const float *b, int64_t m, int sq)
{
    int64_t nch = (m + SD_RED_CHUNK - 1) / SD_RED_CHUNK;
    double total = 0;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static) ordered
    for (int64_t ch = 0; ch < nch; ch++) {
        int64_t lo = ch * SD_RED_CHUNK, hi = lo + SD_RED_CHUNK < m ? lo + SD_RED_CHUNK : m;
        double s = 0;
        for (int64_t i = lo; i < hi; i++) {
            double v = b ? (double)a[i] - (double)b[i] : (double)a[i];
            s += sq ? v * v : v;
        }
#pragma omp ordered
        total += s;
    }
    return total;
}

static sd_tensor *scalar(sd_ctx *c, double v)
{
    const int64_t one = 1;
    sd_tensor *y = sd_new(c, 1, &one);
    if (y)
        y->data[0] = (float)v;
    return y;
}

/* d(scale * sum x)/dx = scale */
static void sum_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0];
    float *dx = sd_grad_acc(c, x);
    if (!dx)
        return;
    float g = n->out->grad[0] * (float)n->d[0];
    int64_t m = x->numel;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++)
        dx[i] += g;
}

static sd_tensor *scaled_sum(sd_ctx *c, const char *op, sd_tensor *x, int mean)
{
    SD_OP_BEGIN(c, op, x);
    double scale = mean ? 1.0 / (double)(x->numel ? x->numel : 1) : 1.0;
    sd_tensor *y = scalar(c, sum_sq_diff(x->data, NULL, x->numel, 0) * scale);
    if (!y)
        return NULL;
    sd_node *n = sd_record(c, op, sum_backward, y, 1, &x);
    if (n)
        n->d[0] = scale;
    return y;
}

sd_tensor *sd_sum(sd_ctx *c, sd_tensor *x) { return scaled_sum(c, "sum", x, 0); }
sd_tensor *sd_mean(sd_ctx *c, sd_tensor *x) { return scaled_sum(c, "mean", x, 1); }

/* d mean((a-b)^2) / da = 2 (a - b) / m, and the negative for b. */
static void mse_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *a = n->in[0], *b = n->in[1];
    int64_t m = a->numel;
    float g = n->out->grad[0] * 2.0f / (float)m;
    for (int k = 0; k < 2; k++) {
        sd_tensor *t = n->in[k];
        if (!sd_needs_grad(t))
            continue;
        float *dt = sd_grad_acc(c, t);
        if (!dt)
            return;
        float s = k == 0 ? g : -g;
        const float *ad = a->data, *bd = b->data;
#pragma omp parallel for if (m > SD_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < m; i++)
            dt[i] += s * (ad[i] - bd[i]);
    }
}

sd_tensor *sd_mse(sd_ctx *c, sd_tensor *a, sd_tensor *b)
{
    SD_OP_BEGIN(c, "mse", a, b);
    if (!sd_same_shape(a, b)) {
        char s1[64], s2[64];
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "mse: shapes %s and %s differ",
                           sd_shape_str(a, s1, sizeof s1), sd_shape_str(b, s2, sizeof s2));
    }
    sd_tensor *y = scalar(c, sum_sq_diff(a->data, b->data, a->numel, 1) /
                                 (double)(a->numel ? a->numel : 1));
    if (!y)
        return NULL;
    sd_tensor *in[2] = {a, b};
    sd_record(c, "mse", mse_backward, y, 2, in);
    return y;
}
