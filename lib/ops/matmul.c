/* Matrix products through oneDNN: linear, batched matmul, softmax and
 * multi-head attention. Forward and backward side by side.
 *
 * Every product is one oneDNN matmul primitive on strided views of the
 * operands (mm_view: dims + element strides), so transposes and the head
 * split of attention are descriptors, never copies:
 *   w^T of a linear          (I,O)       strides (1, I)
 *   q of head h, attention   (N,H,T,Dh)  strides (T*D, Dh, D, 1)
 * Destinations are always row-major in their last two dims (oneDNN 2.6
 * falls back to its reference kernel for a transposed dst), which is why
 * the backward of a transposed operand computes the stored layout directly
 * (e.g. dA^T = B dC^T when a is stored transposed).
 *
 * Gradients written by oneDNN go through sd_grad_begin/sd_grad_end: one
 * input at a time in linear and matmul; in attention every buffer is begun
 * before its chunk loop and folded after it. Either way an input passed
 * twice (q = k = v) accumulates correctly. The bias gradient is a hand
 * reduction in a fixed order (the same bits for any thread count; oneDNN's
 * own results are not guaranteed to be: a long contraction such as the
 * weight gradient of a linear over many rows may be split across threads).
 *
 * Precision: with the ctx in SD_PREC_BF16 every product (mm_run) rounds its
 * two operands to bf16 temporaries (a weight with a shared bf16 copy on the
 * ctx uses the copy) and oneDNN accumulates in f32 into f32 outputs; bias,
 * softmax, the kept probabilities P and the bias gradient stay f32. The
 * precision is part of the primitive key and recorded on each tape node.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "ops/ops.h"

/* Primitive-cache key tags (first bytes of every key made here). */
#define MM_TAG 0x6c756d6du  /* "mmul" */
#define SMF_TAG 0x66786d73u /* "smxf" */
#define SMB_TAG 0x62786d73u /* "smxb" */

/* ---- matmul on strided views -------------------------------------------- */
/* Post-ops of sd_linear_fused's one-primitive path, applied in this order:
 * an activation, then dst += its previous contents (the residual). */
enum { MM_POST_GELU = 1, MM_POST_SILU = 2, MM_POST_SUM = 4 };
enum { MM_MAX_DIMS = 4 };

/* An operand as oneDNN sees it: (batch..., rows, cols) and element strides. */
typedef struct mm_view {
    int64_t dims[MM_MAX_DIMS];
    int64_t str[MM_MAX_DIMS];
} mm_view;

/* Everything that makes a matmul primitive distinct. Built zeroed so that
 * unused dims and any padding compare equal. */
typedef struct mm_key {
    uint32_t tag;  /* MM_TAG                                   */
    int32_t nd;    /* 2..4                                     */
    int32_t bias;  /* a (1,...,1,Ncols) bias is added (linear) */
    float alpha;   /* output scale (1: no attr)                */
    int32_t bf16;  /* src and wei bf16 (dst and bias f32)      */
    int32_t post;  /* MM_POST_* bits: post-ops of a fused op   */
    mm_view src, wei, dst;
} mm_key;

static mm_view view2(int64_t r, int64_t c, int64_t sr, int64_t sc)
{
    mm_view v = {{r, c}, {sr, sc}};
    return v;
}

static mm_view view3(int64_t b, int64_t r, int64_t c, int64_t sb, int64_t sr,
                     int64_t sc)
{
    mm_view v = {{b, r, c}, {sb, sr, sc}};
    return v;
}

static mm_view view4(int64_t a, int64_t b, int64_t r, int64_t c, int64_t sa,
                     int64_t sb, int64_t sr, int64_t sc)
{
    mm_view v = {{a, b, r, c}, {sa, sb, sr, sc}};
    return v;
}

/* The transpose of the last two dims (a view of the same memory). */
static mm_view view_t(mm_view v, int nd)
{
    int64_t t = v.dims[nd - 2];
    v.dims[nd - 2] = v.dims[nd - 1];
    v.dims[nd - 1] = t;
    t = v.str[nd - 2];
    v.str[nd - 2] = v.str[nd - 1];
    v.str[nd - 1] = t;
    return v;
}

static int64_t view_numel(const mm_view *v, int nd)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= v->dims[i];
    return n;
}

static sd_prim *mm_create(sd_ctx *c, const mm_key *k)
{
    dnnl_memory_desc_t s, w, d, b;
    dnnl_dims_t dims, str;
    memcpy(dims, k->src.dims, sizeof k->src.dims);
    memcpy(str, k->src.str, sizeof k->src.str);
    const dnnl_data_type_t in = k->bf16 ? dnnl_bf16 : dnnl_f32;
    if (SD_DNNL(c, dnnl_memory_desc_init_by_strides(&s, k->nd, dims, in, str)))
        return NULL;
    memcpy(dims, k->wei.dims, sizeof k->wei.dims);
    memcpy(str, k->wei.str, sizeof k->wei.str);
    if (SD_DNNL(c, dnnl_memory_desc_init_by_strides(&w, k->nd, dims, in, str)))
        return NULL;
    memcpy(dims, k->dst.dims, sizeof k->dst.dims);
    memcpy(str, k->dst.str, sizeof k->dst.str);
    if (SD_DNNL(c, dnnl_memory_desc_init_by_strides(&d, k->nd, dims, dnnl_f32, str)))
        return NULL;
    if (k->bias) {
        dnnl_dims_t bd, bs;
        for (int i = 0; i < k->nd; i++) {
            bd[i] = 1;
            bs[i] = k->dst.dims[k->nd - 1];
        }
        bd[k->nd - 1] = k->dst.dims[k->nd - 1];
        bs[k->nd - 1] = 1;
        if (SD_DNNL(c, dnnl_memory_desc_init_by_strides(&b, k->nd, bd, dnnl_f32, bs)))
            return NULL;
    }
    dnnl_matmul_desc_t md;
    if (SD_DNNL(c, dnnl_matmul_desc_init(&md, &s, &w, k->bias ? &b : NULL, &d)))
        return NULL;
    /* alpha and post-ops ride on an attr of our own: a clone of the ctx
     * attr (user scratchpad), alive only until the pd exists. */
    dnnl_primitive_attr_t attr = NULL;
    const_dnnl_primitive_attr_t use = sd_ctx_attr(c);
    if (k->alpha != 1.0f || k->post) {
        const dnnl_alg_kind_t act = k->post & MM_POST_GELU   ? dnnl_eltwise_gelu_erf
                                    : k->post & MM_POST_SILU ? dnnl_eltwise_swish
                                                             : dnnl_alg_kind_undef;
        attr = sd_ctx_attr_post_ops(c, act, (k->post & MM_POST_SUM) != 0);
        if (!attr)
            return NULL;
        use = attr;
        if (k->alpha != 1.0f &&
            SD_DNNL(c, dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha))) {
            dnnl_primitive_attr_destroy(attr);
            return NULL;
        }
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &md, use, sd_ctx_engine(c), NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (SD_DNNL(c, st))
        return NULL;
    const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    return sd_prim_insert(c, k, sizeof *k, pd, k->bias ? 4 : 3, args);
}

/* dst = alpha * src @ wei (+ bias), batched over the leading nd-2 dims;
 * ps and pw are bf16 if bf16, else f32 (dst and bias always f32).
 * An empty dst is a no-op; an empty contraction (K = 0) gives bias or
 * zeros and needs a contiguous dst (true of every caller with K = 0). */
static int mm_exec(sd_ctx *c, int bf16, int post, int nd, const mm_view *s,
                   const mm_view *w, const mm_view *d, float alpha, const void *ps,
                   const void *pw, const float *pb, float *pdst)
{
    int64_t m = view_numel(d, nd), kdim = s->dims[nd - 1];
    if (m == 0)
        return 0;
    if (kdim == 0) { /* (sd_linear_fused checks K > 0 before fusing) */
        int64_t cols = d->dims[nd - 1];
        for (int64_t i = 0; i < m; i++)
            pdst[i] = pb ? pb[i % cols] : 0.0f;
        return 0;
    }
    mm_key k;
    memset(&k, 0, sizeof k);
    k.tag = MM_TAG;
    k.nd = nd;
    k.bias = pb != NULL;
    k.alpha = alpha;
    k.bf16 = bf16;
    k.post = post;
    k.src = *s;
    k.wei = *w;
    k.dst = *d;
    sd_prim *p = sd_prim_lookup(c, &k, sizeof k);
    if (!p)
        p = mm_create(c, &k);
    if (!p)
        return -1;
    void *h[4] = {(void *)ps, (void *)pw, pdst, (void *)pb};
    if (sd_prim_exec(c, p, h))
        return -1;
    sd_ctx_add_flops(c, 2.0 * (double)m * (double)kdim);
    return 0;
}

/* The operands of one product: a view and the f32 buffer under it (ns and
 * nw floats from ps and pw span the views). */
typedef struct mm_args {
    const float *ps, *pw;
    int64_t ns, nw;
    int post; /* MM_POST_* (sd_linear_fused), else 0 */
} mm_args;

/* mm_exec on f32 operands, in bf16 when bf16 is set: both operands are
 * rounded to bf16 first (temporaries; a weight with a shared bf16 copy on
 * the ctx uses that; one conversion when both are the same buffer). */
static int mm_run(sd_ctx *c, int bf16, int nd, const mm_view *s, const mm_view *w,
                  const mm_view *d, float alpha, mm_args a, const float *pb, float *pdst)
{
    if (!bf16)
        return mm_exec(c, 0, a.post, nd, s, w, d, alpha, a.ps, a.pw, pb, pdst);
    sd_tmp tmp = sd_tmp_begin(c);
    const uint16_t *s16 = sd_bf16_of(c, a.ps, a.ns);
    const uint16_t *w16 = a.pw == a.ps && a.nw == a.ns ? s16 : sd_bf16_of(c, a.pw, a.nw);
    int rc = !s16 || !w16 || mm_exec(c, 1, a.post, nd, s, w, d, alpha, s16, w16, pb, pdst);
    sd_tmp_end(c, tmp);
    return rc ? -1 : 0;
}

static mm_args mm_ops(const float *ps, int64_t ns, const float *pw, int64_t nw)
{
    mm_args a = {ps, pw, ns, nw, 0};
    return a;
}

static int ctx_bf16(const sd_ctx *c) { return sd_ctx_precision(c) == SD_PREC_BF16; }

/* ---- linear: y = x w^T + b ---------------------------------------------- */
/* db[j] += sum_i dy[i, j], dy (M, O): blocks of columns in parallel, rows in
 * order within a block, double accumulators -- the same bits for any
 * number of threads. */
static void colsum_acc(float *db, const float *dy, int64_t m, int64_t o)
{
    enum { CB = 64 };
    int64_t nb = (o + CB - 1) / CB;
#pragma omp parallel for if (m * o > SD_PAR_MIN) schedule(static)
    for (int64_t jb = 0; jb < nb; jb++) {
        int64_t j0 = jb * CB, nj = o - j0 < CB ? o - j0 : CB;
        double acc[CB];
        for (int64_t j = 0; j < nj; j++)
            acc[j] = 0;
        for (int64_t i = 0; i < m; i++) {
            const float *r = dy + i * o + j0;
            for (int64_t j = 0; j < nj; j++)
                acc[j] += r[j];
        }
        for (int64_t j = 0; j < nj; j++)
            db[j0 + j] += (float)acc[j];
    }
}

/* x (M,I), w (O,I), dy (M,O):
 *   dx = dy @ w        (M,O)(O,I)
 *   dw = dy^T @ x      (O,M)(M,I), dy^T a strided view
 *   db = colsum(dy)                                                  */
static void linear_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    const int64_t m = n->i[0], in = n->i[1], o = n->i[2];
    const int bf16 = (int)n->i[3];
    const float *dy = n->out->grad;
    if (sd_needs_grad(x)) {
        float *dx = sd_grad_begin(c, x);
        if (!dx)
            return;
        mm_view s = view2(m, o, o, 1), wv = view2(o, in, in, 1), d = view2(m, in, in, 1);
        if (mm_run(c, bf16, 2, &s, &wv, &d, 1.0f, mm_ops(dy, m * o, w->data, o * in), NULL,
                   dx))
            return;
        sd_grad_end(c, x, dx);
    }
    if (sd_needs_grad(w)) {
        float *dw = sd_grad_begin(c, w);
        if (!dw)
            return;
        mm_view s = view2(o, m, 1, o), wv = view2(m, in, in, 1), d = view2(o, in, in, 1);
        if (mm_run(c, bf16, 2, &s, &wv, &d, 1.0f, mm_ops(dy, m * o, x->data, m * in), NULL,
                   dw))
            return;
        sd_grad_end(c, w, dw);
    }
    if (b && sd_needs_grad(b)) {
        float *db = sd_grad_acc(c, b);
        if (!db)
            return;
        colsum_acc(db, dy, m, o);
    }
}

/* The shapes of a linear: 0 and (M, I, O, y's shape), or NULL with the
 * status set. */
static int linear_shape(sd_ctx *c, const sd_tensor *x, const sd_tensor *w,
                        const sd_tensor *b, int64_t *m_out, int64_t *shape)
{
    char s1[64], s2[64], s3[64];
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                    "linear: x %s does not match w %s (want x (..., I), w (O, I))",
                    sd_shape_str(x, s1, sizeof s1), sd_shape_str(w, s2, sizeof s2));
        return -1;
    }
    const int64_t o = w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != o)) {
        sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                    "linear: bias %s does not match w %s (want (%lld))",
                    sd_shape_str(b, s3, sizeof s3), sd_shape_str(w, s2, sizeof s2),
                    (long long)o);
        return -1;
    }
    int64_t m = 1;
    for (int i = 0; i < x->ndim - 1; i++) {
        shape[i] = x->shape[i];
        m *= x->shape[i];
    }
    shape[x->ndim - 1] = o;
    *m_out = m;
    return 0;
}

/* y (M,O) = x (M,I) @ w^T (I,O, strides (1,I)) + b (1,O), then the post-ops
 * (y must hold the residual for MM_POST_SUM). */
static int linear_run(sd_ctx *c, const sd_tensor *x, const sd_tensor *w, const sd_tensor *b,
                      int64_t m, int post, sd_tensor *y)
{
    const int64_t in = w->shape[1], o = w->shape[0];
    mm_view s = view2(m, in, in, 1), wv = view2(in, o, 1, in), d = view2(m, o, o, 1);
    mm_args a = mm_ops(x->data, m * in, w->data, o * in);
    a.post = post;
    return mm_run(c, ctx_bf16(c), 2, &s, &wv, &d, 1.0f, a, b ? b->data : NULL, y->data);
}

sd_tensor *sd_linear(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b)
{
    SD_OP_BEGIN(c, "linear", x, w);
    int64_t shape[SD_MAX_DIMS], m;
    if (linear_shape(c, x, w, b, &m, shape))
        return NULL;
    const int64_t in = w->shape[1], o = w->shape[0];
    sd_tensor *y = sd_new(c, x->ndim, shape);
    if (!y || linear_run(c, x, w, b, m, 0, y))
        return NULL;
    const int bf16 = ctx_bf16(c);
    sd_tensor *ins[3] = {x, w, b};
    sd_node *n = sd_record(c, "linear", linear_backward, y, b ? 3 : 2, ins);
    if (n) {
        n->i[0] = m;
        n->i[1] = in;
        n->i[2] = o;
        n->i[3] = bf16;
    }
    return y;
}

sd_tensor *sd_linear_fused(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b, int act,
                           sd_tensor *r)
{
    SD_OP_BEGIN(c, "linear", x, w);
    int64_t shape[SD_MAX_DIMS], m;
    if (linear_shape(c, x, w, b, &m, shape))
        return NULL;
    const int tape = sd_ctx_grad(c) && (sd_needs_grad(x) || sd_needs_grad(w) ||
                                        sd_needs_grad(b) || sd_needs_grad(r));
    char s1[64], s2[64];
    sd_tensor probe;
    if (r && (sd_tensor_init(&probe, x->ndim, shape, NULL) || !sd_same_shape(&probe, r)))
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "linear: residual %s does not match the output %s",
                           sd_shape_str(r, s1, sizeof s1), sd_shape_str(&probe, s2, sizeof s2));
    if (tape || w->shape[1] == 0) { /* the ops one by one (their backward) */
        sd_tensor *y = sd_linear(c, x, w, b);
        if (act == SD_ACT_GELU)
            y = sd_gelu(c, y);
        else if (act == SD_ACT_SILU)
            y = sd_silu(c, y);
        return r ? sd_add(c, r, y) : y;
    }
    sd_tensor *y = sd_new(c, x->ndim, shape);
    if (!y)
        return NULL;
    if (r)
        memcpy(y->data, r->data, (size_t)y->numel * sizeof(float));
    int post = (act == SD_ACT_GELU ? MM_POST_GELU : act == SD_ACT_SILU ? MM_POST_SILU : 0) |
               (r ? MM_POST_SUM : 0);
    return linear_run(c, x, w, b, m, post, y) ? NULL : y;
}

/* ---- batched matmul: C = alpha * op(A) op(B) ----------------------------- */
/* The views of op(A) (B,M,K), op(B) (B,K,N) and C (B,M,N) over the stored
 * tensors: a transposed operand is its stored matrix with swapped strides. */
typedef struct bmm_plan {
    int64_t nb, m, k, n;
    mm_view a, b, c;
} bmm_plan;

static void bmm_views(bmm_plan *p, int ta, int tb)
{
    const int64_t nb = p->nb, m = p->m, k = p->k, n = p->n;
    p->a = ta ? view3(nb, m, k, m * k, 1, m) : view3(nb, m, k, m * k, k, 1);
    p->b = tb ? view3(nb, k, n, k * n, 1, k) : view3(nb, k, n, k * n, n, 1);
    p->c = view3(nb, m, n, m * n, n, 1);
}

/* dop(A) = alpha dC op(B)^T, dop(B) = alpha op(A)^T dC; for a transposed
 * operand the stored gradient is the transpose of that, computed directly
 * so that every dst stays row-major:
 *   A stored (B,M,K):  dA   = alpha * dC (M,N)   @ op(B)^T (N,K)
 *   A stored (B,K,M):  dA   = alpha * op(B) (K,N) @ dC^T   (N,M)
 *   B stored (B,K,N):  dB   = alpha * op(A)^T (K,M) @ dC   (M,N)
 *   B stored (B,N,K):  dB   = alpha * dC^T (N,M) @ op(A)   (M,K)      */
static void matmul_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *a = n->in[0], *b = n->in[1];
    const int ta = (int)n->i[0], tb = (int)n->i[1];
    const float alpha = (float)n->d[0];
    const int bf16 = (int)n->i[6];
    bmm_plan p = {.nb = n->i[2], .m = n->i[3], .k = n->i[4], .n = n->i[5]};
    bmm_views(&p, ta, tb);
    const float *dc = n->out->grad;
    const int64_t na = p.nb * p.m * p.k, nbn = p.nb * p.k * p.n, nc = p.nb * p.m * p.n;
    if (sd_needs_grad(a)) {
        float *da = sd_grad_begin(c, a);
        if (!da)
            return;
        int rc;
        if (!ta) {
            mm_view bt = view_t(p.b, 3), d = view3(p.nb, p.m, p.k, p.m * p.k, p.k, 1);
            rc = mm_run(c, bf16, 3, &p.c, &bt, &d, alpha, mm_ops(dc, nc, b->data, nbn), NULL,
                        da);
        } else {
            mm_view ct = view_t(p.c, 3), d = view3(p.nb, p.k, p.m, p.m * p.k, p.m, 1);
            rc = mm_run(c, bf16, 3, &p.b, &ct, &d, alpha, mm_ops(b->data, nbn, dc, nc), NULL,
                        da);
        }
        if (rc)
            return;
        sd_grad_end(c, a, da);
    }
    if (sd_needs_grad(b)) {
        float *db = sd_grad_begin(c, b);
        if (!db)
            return;
        int rc;
        if (!tb) {
            mm_view at = view_t(p.a, 3), d = view3(p.nb, p.k, p.n, p.k * p.n, p.n, 1);
            rc = mm_run(c, bf16, 3, &at, &p.c, &d, alpha, mm_ops(a->data, na, dc, nc), NULL,
                        db);
        } else {
            mm_view ct = view_t(p.c, 3), d = view3(p.nb, p.n, p.k, p.k * p.n, p.k, 1);
            rc = mm_run(c, bf16, 3, &ct, &p.a, &d, alpha, mm_ops(dc, nc, a->data, na), NULL,
                        db);
        }
        if (rc)
            return;
        sd_grad_end(c, b, db);
    }
}

sd_tensor *sd_matmul(sd_ctx *c, sd_tensor *a, sd_tensor *b, int trans_a,
                     int trans_b, float alpha)
{
    SD_OP_BEGIN(c, "matmul", a, b);
    char s1[64], s2[64];
    const int ta = trans_a != 0, tb = trans_b != 0;
    if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0] ||
        a->shape[ta ? 1 : 2] != b->shape[tb ? 2 : 1])
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "matmul: a %s (trans_a %d) and b %s (trans_b %d) do "
                           "not multiply (want (B,M,K) and (B,K,N))",
                           sd_shape_str(a, s1, sizeof s1), ta,
                           sd_shape_str(b, s2, sizeof s2), tb);
    bmm_plan p = {.nb = a->shape[0], .m = a->shape[ta ? 2 : 1],
                  .k = a->shape[ta ? 1 : 2], .n = b->shape[tb ? 1 : 2]};
    bmm_views(&p, ta, tb);
    const int64_t shape[3] = {p.nb, p.m, p.n};
    sd_tensor *y = sd_new(c, 3, shape);
    if (!y)
        return NULL;
    const int bf16 = ctx_bf16(c);
    if (mm_run(c, bf16, 3, &p.a, &p.b, &p.c, alpha,
               mm_ops(a->data, a->numel, b->data, b->numel), NULL, y->data))
        return NULL;
    sd_tensor *ins[2] = {a, b};
    sd_node *n = sd_record(c, "matmul", matmul_backward, y, 2, ins);
    if (n) {
        n->i[0] = ta;
        n->i[1] = tb;
        n->i[2] = p.nb;
        n->i[3] = p.m;
        n->i[4] = p.k;
        n->i[5] = p.n;
        n->i[6] = bf16;
        n->d[0] = alpha;
    }
    return y;
}

/* ---- softmax over the last dim ------------------------------------------ */
/* Keys: (tag, rows, cols) of the contiguous (rows, cols) view. */
typedef struct sm_key {
    uint32_t tag;
    uint32_t zero;
    int64_t rows, cols;
} sm_key;

static int sm_md(sd_ctx *c, int64_t rows, int64_t cols, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d = {rows, cols}, s = {cols, 1};
    return SD_DNNL(c, dnnl_memory_desc_init_by_strides(md, 2, d, dnnl_f32, s));
}

static sd_prim *sm_fwd_prim(sd_ctx *c, int64_t rows, int64_t cols)
{
    sm_key k;
    memset(&k, 0, sizeof k);
    k.tag = SMF_TAG;
    k.rows = rows;
    k.cols = cols;
    sd_prim *p = sd_prim_lookup(c, &k, sizeof k);
    if (p)
        return p;
    dnnl_memory_desc_t md;
    dnnl_softmax_desc_t sd;
    dnnl_primitive_desc_t pd;
    if (sm_md(c, rows, cols, &md) ||
        SD_DNNL(c, dnnl_softmax_forward_desc_init(&sd, dnnl_forward_training, &md, 1)) ||
        SD_DNNL(c, dnnl_primitive_desc_create(&pd, &sd, sd_ctx_attr(c),
                                              sd_ctx_engine(c), NULL)))
        return NULL;
    const int args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    return sd_prim_insert(c, &k, sizeof k, pd, 2, args);
}

static sd_prim *sm_bwd_prim(sd_ctx *c, int64_t rows, int64_t cols)
{
    sm_key k;
    memset(&k, 0, sizeof k);
    k.tag = SMB_TAG;
    k.rows = rows;
    k.cols = cols;
    sd_prim *p = sd_prim_lookup(c, &k, sizeof k);
    if (p)
        return p;
    sd_prim *fwd = sm_fwd_prim(c, rows, cols); /* the hint */
    if (!fwd)
        return NULL;
    dnnl_memory_desc_t md;
    dnnl_softmax_desc_t sd;
    dnnl_primitive_desc_t pd;
    if (sm_md(c, rows, cols, &md) ||
        SD_DNNL(c, dnnl_softmax_backward_desc_init(&sd, &md, &md, 1)) ||
        SD_DNNL(c, dnnl_primitive_desc_create(&pd, &sd, sd_ctx_attr(c),
                                              sd_ctx_engine(c), fwd->pd)))
        return NULL;
    const int args[3] = {DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC};
    return sd_prim_insert(c, &k, sizeof k, pd, 3, args);
}

/* y = softmax(x) row-wise; in place (x == y) is allowed. */
static int sm_forward(sd_ctx *c, int64_t rows, int64_t cols, const float *x, float *y)
{
    if (rows * cols == 0)
        return 0;
    sd_prim *p = sm_fwd_prim(c, rows, cols);
    if (!p)
        return -1;
    void *h[2] = {(void *)x, y};
    return sd_prim_exec(c, p, h);
}

/* dx = y * (dy - sum(y * dy)) row-wise; in place (dx == dy) is allowed. */
static int sm_backward(sd_ctx *c, int64_t rows, int64_t cols, const float *y,
                       const float *dy, float *dx)
{
    if (rows * cols == 0)
        return 0;
    sd_prim *p = sm_bwd_prim(c, rows, cols);
    if (!p)
        return -1;
    void *h[3] = {(void *)y, (void *)dy, dx};
    return sd_prim_exec(c, p, h);
}

static void softmax_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    float *dx = sd_grad_begin(c, x);
    if (!dx)
        return;
    if (sm_backward(c, n->i[0], n->i[1], y->data, y->grad, dx))
        return;
    sd_grad_end(c, x, dx);
}

sd_tensor *sd_softmax(sd_ctx *c, sd_tensor *x)
{
    SD_OP_BEGIN(c, "softmax", x);
    if (x->ndim < 1)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "softmax: x is a scalar (want at least 1 dim)");
    const int64_t cols = x->shape[x->ndim - 1];
    int64_t rows = 1;
    for (int i = 0; i < x->ndim - 1; i++)
        rows *= x->shape[i];
    sd_tensor *y = sd_new(c, x->ndim, x->shape);
    if (!y)
        return NULL;
    if (sm_forward(c, rows, cols, x->data, y->data))
        return NULL;
    sd_node *n = sd_record(c, "softmax", softmax_backward, y, 1, &x);
    if (n) {
        n->i[0] = rows;
        n->i[1] = cols;
    }
    return y;
}

/* ---- multi-head attention ----------------------------------------------- */
/* q (N,T,D), k and v (N,S,D), D = H*Dh. Per (n, h) with the 4-D views
 *   Q  (N,H,T,Dh) strides (T*D, Dh, D, 1)   (likewise K, V, out over S/T)
 *   P  (N,H,T,S)  contiguous
 * forward:  P = softmax(scale * Q K^T),  out = P V,  scale = 1/sqrt(Dh)
 * backward: dV = P^T dO,  dP = dO V^T,  dS = softmax_bwd(P, dP),
 *           dQ = scale * dS K,  dK = scale * dS^T Q
 *
 * The batch runs in chunks of nc examples so that a chunk's (nc,H,T,S)
 * score block stays in cache from the product that writes it through the
 * softmax to the products that read it (at T = S = 256 the whole P is
 * 64 MiB per 64 examples, and streaming it through memory three times cost
 * more than the products). P is kept whole only when it is recorded for
 * backward; otherwise one chunk-sized buffer serves every chunk. The
 * backward's dP/dS live in one chunk-sized buffer too. Measured at T = 256,
 * D = 256, 4 heads, batch 64 (process CPU time, so that the shared
 * machine's load drops out): 1-4 MiB chunks take 25% less work forward and
 * 15% less backward than one chunk; 4 MiB (under the 32 MiB L3) keeps the
 * number of primitive executions, each a fork/join, low. */
#define ATTN_CHUNK_BYTES ((int64_t)4 << 20)

static _Atomic int64_t attn_chunk_bytes; /* 0: ATTN_CHUNK_BYTES */

void sd_attention_set_chunk_bytes(int64_t bytes)
{
    atomic_store(&attn_chunk_bytes, bytes > 0 ? bytes : 0);
}

typedef struct attn_plan {
    int64_t n, t, s, d, h, dh;
    int64_t nc;            /* examples per chunk                        */
    float scale;
    mm_view q, k, v, o, p; /* q/o (nb,H,T,Dh), k/v (nb,H,S,Dh), p (nb,H,T,S) */
} attn_plan;

static void attn_init(attn_plan *a)
{
    int64_t per = a->h * a->t * a->s * (int64_t)sizeof(float);
    int64_t budget = atomic_load(&attn_chunk_bytes);
    a->nc = per > 0 ? (budget ? budget : ATTN_CHUNK_BYTES) / per : a->n;
    if (a->nc < 1)
        a->nc = 1;
    if (a->nc > a->n)
        a->nc = a->n;
    a->scale = (float)(1.0 / sqrt((double)a->dh));
}

/* The views of a chunk of nb examples (the strides do not depend on nb). */
static void attn_views(attn_plan *a, int64_t nb)
{
    const int64_t t = a->t, s = a->s, d = a->d, h = a->h, dh = a->dh;
    a->q = view4(nb, h, t, dh, t * d, dh, d, 1);
    a->o = a->q;
    a->k = view4(nb, h, s, dh, s * d, dh, d, 1);
    a->v = a->k;
    a->p = view4(nb, h, t, s, h * t * s, t * s, s, 1);
}

/* Key mask: the scores of keys j >= len[i] of example i (rows of the chunk
 * starting at example n0) become -1e30 before the softmax, which turns them
 * into 0 (exp underflows); they are then set to exactly 0, so that P, and
 * through it dV = P^T dO and dK = scale dS^T Q (dS = P * (dP - ...)), is 0
 * for every masked key whatever the precision of the primitive's exp. */
static void attn_mask(const attn_plan *a, const int *len, int64_t n0, int64_t nb, float *Pc,
                      float fill)
{
    for (int64_t i = 0; i < nb; i++) {
        const int64_t l = len[n0 + i];
        if (l >= a->s)
            continue;
        float *p = Pc + i * a->h * a->t * a->s;
        for (int64_t r = 0; r < a->h * a->t; r++)
            for (int64_t j = l; j < a->s; j++)
                p[r * a->s + j] = fill;
    }
}

static void attention_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    attn_plan a = {.n = n->i[0], .t = n->i[1], .s = n->i[2], .d = n->i[3],
                   .h = n->i[4], .dh = n->i[5]};
    const int bf16 = (int)n->i[6];
    attn_init(&a);
    const float *P = n->aux[0], *dO = n->out->grad;
    const int gq = sd_needs_grad(q), gk = sd_needs_grad(k), gv = sd_needs_grad(v);
    /* All buffers first, all folds last: with q, k, v one tensor, the first
     * begin hands out its gradient itself and the others fresh buffers. */
    float *dv = gv ? sd_grad_begin(c, v) : NULL;
    float *dq = gq ? sd_grad_begin(c, q) : NULL;
    float *dk = gk ? sd_grad_begin(c, k) : NULL;
    float *dS = gq || gk ? sd_alloc(c, (size_t)(a.nc * a.h * a.t * a.s) * sizeof(float)) : NULL;
    if ((gv && !dv) || (gq && !dq) || (gk && !dk) || ((gq || gk) && !dS))
        return;
    const int64_t qs = a.t * a.d, ks = a.s * a.d, ps = a.h * a.t * a.s;
    for (int64_t n0 = 0; n0 < a.n; n0 += a.nc) {
        const int64_t nb = a.n - n0 < a.nc ? a.n - n0 : a.nc;
        attn_views(&a, nb);
        const float *Pc = P + n0 * ps, *dOc = dO + n0 * qs;
        const int64_t np = nb * ps, nq = nb * qs, nk = nb * ks;
        const float *qc = q->data + n0 * qs, *kc = k->data + n0 * ks, *vc = v->data + n0 * ks;
        if (gv) {
            mm_view pt = view_t(a.p, 4);
            if (mm_run(c, bf16, 4, &pt, &a.o, &a.v, 1.0f, mm_ops(Pc, np, dOc, nq), NULL,
                       dv + n0 * ks))
                return;
        }
        if (!gq && !gk)
            continue;
        mm_view vt = view_t(a.v, 4);
        if (mm_run(c, bf16, 4, &a.o, &vt, &a.p, 1.0f, mm_ops(dOc, nq, vc, nk), NULL, dS) ||
            sm_backward(c, nb * a.h * a.t, a.s, Pc, dS, dS))
            return;
        if (gq && mm_run(c, bf16, 4, &a.p, &a.k, &a.q, a.scale, mm_ops(dS, np, kc, nk), NULL,
                         dq + n0 * qs))
            return;
        if (gk) {
            mm_view st = view_t(a.p, 4);
            if (mm_run(c, bf16, 4, &st, &a.q, &a.k, a.scale, mm_ops(dS, np, qc, nq), NULL,
                       dk + n0 * ks))
                return;
        }
    }
    if (gv)
        sd_grad_end(c, v, dv);
    if (gq)
        sd_grad_end(c, q, dq);
    if (gk)
        sd_grad_end(c, k, dk);
}

sd_tensor *sd_attention(sd_ctx *c, sd_tensor *q, sd_tensor *k, sd_tensor *v,
                        int heads)
{
    return sd_attention_masked(c, q, k, v, heads, NULL);
}

sd_tensor *sd_attention_masked(sd_ctx *c, sd_tensor *q, sd_tensor *k, sd_tensor *v,
                               int heads, const int *kv_len)
{
    SD_OP_BEGIN(c, "attention", q, k, v);
    char s1[64], s2[64], s3[64];
    if (q->ndim != 3 || k->ndim != 3 || !sd_same_shape(k, v) ||
        k->shape[0] != q->shape[0] || k->shape[2] != q->shape[2] || heads < 1 ||
        q->shape[2] % heads != 0)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "attention: q %s, k %s, v %s with %d heads (want q "
                           "(N,T,D), k and v (N,S,D), D a multiple of heads)",
                           sd_shape_str(q, s1, sizeof s1), sd_shape_str(k, s2, sizeof s2),
                           sd_shape_str(v, s3, sizeof s3), heads);
    attn_plan a = {.n = q->shape[0], .t = q->shape[1], .s = k->shape[1],
                   .d = q->shape[2], .h = heads, .dh = q->shape[2] / heads};
    attn_init(&a);
    int *len = NULL;
    if (kv_len) {
        for (int64_t i = 0; i < a.n; i++)
            if (kv_len[i] < 1 || kv_len[i] > a.s)
                return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                                   "attention: key length %d of example %lld is not in "
                                   "1..%lld",
                                   kv_len[i], (long long)i, (long long)a.s);
        len = sd_alloc(c, (size_t)(a.n ? a.n : 1) * sizeof(int));
        if (!len)
            return NULL;
        memcpy(len, kv_len, (size_t)a.n * sizeof(int));
    }
    sd_tensor *y = sd_new(c, 3, q->shape);
    if (!y)
        return NULL;
    if (y->numel == 0)
        return y; /* nothing to compute, nothing flows back */
    /* Recorded for backward (the test sd_record makes): keep all of P. */
    const int keep = sd_ctx_grad(c) &&
                     (sd_needs_grad(q) || sd_needs_grad(k) || sd_needs_grad(v));
    const int64_t qs = a.t * a.d, ks = a.s * a.d, ps = a.h * a.t * a.s;
    float *P = sd_alloc(c, (size_t)((keep ? a.n : a.nc) * ps) * sizeof(float));
    if (!P)
        return NULL;
    const int bf16 = ctx_bf16(c);
    for (int64_t n0 = 0; n0 < a.n; n0 += a.nc) {
        const int64_t nb = a.n - n0 < a.nc ? a.n - n0 : a.nc;
        const int64_t np = nb * ps, nq = nb * qs, nk = nb * ks;
        attn_views(&a, nb);
        float *Pc = keep ? P + n0 * ps : P;
        mm_view kt = view_t(a.k, 4);
        if (mm_run(c, bf16, 4, &a.q, &kt, &a.p, a.scale,
                   mm_ops(q->data + n0 * qs, nq, k->data + n0 * ks, nk), NULL, Pc))
            return NULL;
        if (len)
            attn_mask(&a, len, n0, nb, Pc, -1e30f);
        if (sm_forward(c, nb * a.h * a.t, a.s, Pc, Pc))
            return NULL;
        if (len)
            attn_mask(&a, len, n0, nb, Pc, 0.0f);
        if (mm_run(c, bf16, 4, &a.p, &a.v, &a.o, 1.0f, mm_ops(Pc, np, v->data + n0 * ks, nk),
                   NULL, y->data + n0 * qs))
            return NULL;
    }
    sd_tensor *ins[3] = {q, k, v};
    sd_node *n = sd_record(c, "attention", attention_backward, y, 3, ins);
    if (n && !keep)
        return sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL, "attention: recorded without P");
    if (n) {
        n->i[0] = a.n;
        n->i[1] = a.t;
        n->i[2] = a.s;
        n->i[3] = a.d;
        n->i[4] = a.h;
        n->i[5] = a.dh;
        n->i[6] = bf16;
        n->aux[0] = P;
    }
    return y;
}
