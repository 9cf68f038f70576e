/* Convolution and transposed convolution through oneDNN: forward, backward
 * data, backward weights (+ bias), side by side.
 *
 * Layouts. Our tensors are NCHW with PyTorch's weight layouts (conv OIHW,
 * transposed conv IOHW). oneDNN's fast direct kernels want blocked layouts
 * (nChw16c activations, OIhw16i16o-like weights on AVX-512); given plain
 * layouts it falls back to gemm kernels, 1.3-2.3x slower than blocked
 * including all reorders (3x3 convs, 64 and 128 channels, batch 64;
 * bench/bench_conv.c). So by default every primitive is created with
 * dnnl_format_tag_any and the op reorders around it:
 *   forward:   x -> blocked, w -> blocked (every call: weights change every
 *              optimizer step, and the reorder is ~0.1% of the conv), conv,
 *              y blocked -> NCHW. Nothing blocked is kept for backward.
 *   backward:  dy -> blocked once for both backward primitives (when their
 *              layouts agree), w -> the backward-data layout, x -> the
 *              backward-weights layout again (from the plain x on the tape),
 *              dx/dw back to NCHW/OIHW into the gradient buffers; the bias
 *              gradient is plain (x).
 * Where oneDNN picks a plain layout anyway (e.g. 3 input channels) the
 * reorder is skipped (sd_reorder_to returns the data itself). Every
 * primitive and reorder is created once per (role, shapes) per ctx.
 *
 * Memory: every blocked copy (x, w and y in forward; dy, w, x, dx and dw
 * in backward) is a temporary in the scratch arena (sd_tmp_begin/end in
 * forward, the node's implicit scope in backward), so the step keeps only
 * the plain output, as with plain layouts; the price is time (backward
 * reorders x a second time, 3-6% of a training step).
 *
 * Precision: with the ctx in SD_PREC_BF16 the same reorders also convert:
 * x, w and dy go to bf16 in the primitive's layout (so the conversion costs
 * nothing beyond the reorder every call pays anyway; sampling reorders from
 * the model's shared bf16 weights), the primitives accumulate in f32 and
 * write y, dx, dw and db in f32. The precision is part of the primitive
 * key and recorded on the tape node (backward uses the forward's).
 *
 * Fusion (sd_conv2d_fused): an activation and a residual sum ride on the
 * forward primitive as oneDNN post-ops; dst starts as the residual, in
 * the primitive's layout. In training only the sum is fused (its
 * backward, dr += dy, needs nothing the post-op loses); the bare conv
 * output then never exists, which saves one activation-sized tensor per
 * ResBlock. The post-ops are part of the forward key; backward keys have
 * none (their hint is the plain forward of the same shapes).
 *
 * Algorithms: direct (else auto). sd_conv_set_policy(SD_CONV_WINOGRAD)
 * runs 3x3 stride-1 conv2d with Winograd F(4x4,3x3) where oneDNN has it
 * (~1.6x faster forward/backward data, relative error ~2e-6 vs ~3e-7).
 *
 * Deconvolution weights: oneDNN's logical dims are (OC=Co, IC=Ci, K, K);
 * PyTorch stores them (Ci, Co, K, K), which is oneDNN's iohw tag.
 */
#include <stdatomic.h>
#include <string.h>

#include "ops/ops.h"

#define CONV_TAG 0x766e6f63u /* "conv": keeps these keys apart from others */

enum { ROLE_FWD = 0, ROLE_BWD_DATA = 1, ROLE_BWD_WEIGHTS = 2 };

/* Stride and pad beyond this are surely a caller bug (and would overflow
 * the output size arithmetic long before). */
#define SD_CONV_MAX_SP (1 << 20)

static atomic_int conv_policy = SD_CONV_BLOCKED;

void sd_conv_set_policy(int policy)
{
    atomic_store(&conv_policy, policy == SD_CONV_PLAIN || policy == SD_CONV_WINOGRAD
                                   ? policy
                                   : SD_CONV_BLOCKED);
}

/* Shapes of one call; also the primitive cache key (with tag and role).
 * Built in zeroed memory so that padding bytes compare equal. */
typedef struct conv_key {
    uint32_t tag;
    int32_t role;
    int32_t transposed; /* deconvolution */
    int32_t bias;       /* b given: bias / diff_bias argument present */
    int32_t policy;     /* SD_CONV_* */
    int32_t bf16;       /* x, w and dy in bf16 (SD_PREC_BF16); the rest f32 */
    int32_t act;        /* forward post-ops: SD_ACT_* on the output, then */
    int32_t sum;        /* dst += its previous contents (sd_conv2d_fused) */
    int64_t n, ci, h, w; /* x (N,Ci,H,W)   */
    int64_t co, ho, wo;  /* y (N,Co,Ho,Wo) */
    int64_t k, stride, pad;
} conv_key;

/* Memory descs as our tensors hold them (plain). */
typedef struct conv_mds {
    dnnl_memory_desc_t x, w, b, y;
} conv_mds;

static int plain_mds(sd_ctx *c, const conv_key *g, conv_mds *m)
{
    dnnl_dims_t xd = {g->n, g->ci, g->h, g->w}, yd = {g->n, g->co, g->ho, g->wo};
    dnnl_dims_t wd = {g->co, g->ci, g->k, g->k}, bd = {g->co};
    if (SD_DNNL(c, dnnl_memory_desc_init_by_tag(&m->x, 4, xd, dnnl_f32, dnnl_nchw)) ||
        SD_DNNL(c, dnnl_memory_desc_init_by_tag(&m->y, 4, yd, dnnl_f32, dnnl_nchw)) ||
        SD_DNNL(c, dnnl_memory_desc_init_by_tag(&m->w, 4, wd, dnnl_f32,
                                                g->transposed ? dnnl_iohw : dnnl_oihw)) ||
        SD_DNNL(c, dnnl_memory_desc_init_by_tag(&m->b, 1, bd, dnnl_f32, dnnl_x)))
        return -1;
    return 0;
}

/* The op descriptor for a role and algorithm (conv and deconv descs are the
 * same struct type in oneDNN 2.x). */
static dnnl_status_t op_desc(const conv_key *g, dnnl_alg_kind_t alg,
                             const conv_mds *m, dnnl_convolution_desc_t *d)
{
    const dnnl_dims_t s = {g->stride, g->stride};
    const dnnl_dims_t pl = {g->pad, g->pad};
    /* Right padding that makes oneDNN's output size equal ours: for a conv
     * with (H + 2p - K) % stride != 0, the last rows of the padded input
     * are never read and padding_r is smaller than p (possibly negative). */
    int64_t rh = g->transposed ? (g->h - 1) * g->stride + g->k - g->ho - g->pad
                               : (g->ho - 1) * g->stride + g->k - g->h - g->pad;
    int64_t rw = g->transposed ? (g->w - 1) * g->stride + g->k - g->wo - g->pad
                               : (g->wo - 1) * g->stride + g->k - g->w - g->pad;
    const dnnl_dims_t pr = {rh, rw};
    const dnnl_memory_desc_t *b = g->bias ? &m->b : NULL;
    if (!g->transposed) {
        switch (g->role) {
        case ROLE_FWD:
            return dnnl_convolution_forward_desc_init(d, dnnl_forward_training, alg,
                                                      &m->x, &m->w, b, &m->y, s, pl, pr);
        case ROLE_BWD_DATA:
            return dnnl_convolution_backward_data_desc_init(d, alg, &m->x, &m->w,
                                                            &m->y, s, pl, pr);
        default:
            return dnnl_convolution_backward_weights_desc_init(d, alg, &m->x, &m->w, b,
                                                               &m->y, s, pl, pr);
        }
    }
    switch (g->role) {
    case ROLE_FWD:
        return dnnl_deconvolution_forward_desc_init(d, dnnl_forward_training, alg,
                                                    &m->x, &m->w, b, &m->y, s, pl, pr);
    case ROLE_BWD_DATA:
        return dnnl_deconvolution_backward_data_desc_init(d, alg, &m->x, &m->w,
                                                          &m->y, s, pl, pr);
    default:
        return dnnl_deconvolution_backward_weights_desc_init(d, alg, &m->x, &m->w, b,
                                                             &m->y, s, pl, pr);
    }
}

/* The cached primitive for g (g->role selects which), created on first
 * use: Winograd when the policy asks and the shape allows, else direct,
 * else auto. Backward roles take the forward pd of the same key as hint. */
static sd_prim *conv_prim(sd_ctx *c, const conv_key *g)
{
    sd_prim *p = sd_prim_lookup(c, g, sizeof *g);
    if (p)
        return p;
    const_dnnl_primitive_desc_t hint = NULL;
    if (g->role != ROLE_FWD) {
        conv_key f = *g;
        f.role = ROLE_FWD;
        sd_prim *fp = conv_prim(c, &f);
        if (!fp)
            return NULL;
        hint = fp->pd;
    }
    /* The primitive's view: layouts plain (PLAIN) or its choice; in bf16
     * the role's inputs (src, weights, diff_dst) are bf16, its outputs
     * (dst, diff_src, diff_weights, bias) f32. */
    conv_mds m;
    if (plain_mds(c, g, &m))
        return NULL;
    const int plain = g->policy == SD_CONV_PLAIN;
    const dnnl_data_type_t in = g->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_dims_t xd = {g->n, g->ci, g->h, g->w};
    const dnnl_dims_t yd = {g->n, g->co, g->ho, g->wo};
    const dnnl_dims_t wd = {g->co, g->ci, g->k, g->k};
    const dnnl_format_tag_t wtag = g->transposed ? dnnl_iohw : dnnl_oihw;
    if (SD_DNNL(c, dnnl_memory_desc_init_by_tag(&m.x, 4, xd,
                                                g->role == ROLE_BWD_DATA ? dnnl_f32 : in,
                                                plain ? dnnl_nchw : dnnl_format_tag_any)) ||
        SD_DNNL(c, dnnl_memory_desc_init_by_tag(&m.y, 4, yd,
                                                g->role == ROLE_FWD ? dnnl_f32 : in,
                                                plain ? dnnl_nchw : dnnl_format_tag_any)) ||
        SD_DNNL(c, dnnl_memory_desc_init_by_tag(&m.w, 4, wd,
                                                g->role == ROLE_BWD_WEIGHTS ? dnnl_f32 : in,
                                                plain ? wtag : dnnl_format_tag_any)))
        return NULL;
    /* Algorithms in order of preference; the first with a primitive wins.
     * Deconvolution has no auto algorithm. */
    dnnl_alg_kind_t algs[3];
    int nalg = 0;
    if (g->transposed) {
        algs[nalg++] = dnnl_deconvolution_direct;
    } else {
        if (g->policy == SD_CONV_WINOGRAD && g->k == 3 && g->stride == 1)
            algs[nalg++] = dnnl_convolution_winograd;
        algs[nalg++] = dnnl_convolution_direct;
        algs[nalg++] = dnnl_convolution_auto;
    }
    /* Post-ops (forward only) on an attr of our own, alive until the pd. */
    dnnl_primitive_attr_t attr = NULL;
    if (g->act || g->sum) {
        attr = sd_ctx_attr_post_ops(c,
                                    g->act == SD_ACT_GELU   ? dnnl_eltwise_gelu_erf
                                    : g->act == SD_ACT_SILU ? dnnl_eltwise_swish
                                                            : dnnl_alg_kind_undef,
                                    g->sum);
        if (!attr)
            return NULL;
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_unimplemented;
    for (int a = 0; a < nalg && st != dnnl_success; a++) {
        dnnl_convolution_desc_t d;
        st = op_desc(g, algs[a], &m, &d);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(&pd, &d, attr ? attr : sd_ctx_attr(c),
                                            sd_ctx_engine(c), hint);
    }
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        static const char *role[3] = {"forward", "backward data", "backward weights"};
        sd_ctx_fail(c, SIMDIFF_ERR_BACKEND,
                    "%s %s: oneDNN has no primitive (status %d) for x %lldx%lldx%lldx%lld, "
                    "%lld output channels, kernel %lld, stride %lld, pad %lld",
                    g->transposed ? "conv_transpose2d" : "conv2d", role[g->role], (int)st,
                    (long long)g->n, (long long)g->ci, (long long)g->h, (long long)g->w,
                    (long long)g->co, (long long)g->k, (long long)g->stride,
                    (long long)g->pad);
        return NULL;
    }
    int args[4], na = 0;
    switch (g->role) {
    case ROLE_FWD:
        args[na++] = DNNL_ARG_SRC;
        args[na++] = DNNL_ARG_WEIGHTS;
        if (g->bias)
            args[na++] = DNNL_ARG_BIAS;
        args[na++] = DNNL_ARG_DST;
        break;
    case ROLE_BWD_DATA:
        args[na++] = DNNL_ARG_DIFF_DST;
        args[na++] = DNNL_ARG_WEIGHTS;
        args[na++] = DNNL_ARG_DIFF_SRC;
        break;
    default:
        args[na++] = DNNL_ARG_SRC;
        args[na++] = DNNL_ARG_DIFF_DST;
        args[na++] = DNNL_ARG_DIFF_WEIGHTS;
        if (g->bias)
            args[na++] = DNNL_ARG_DIFF_BIAS;
        break;
    }
    return sd_prim_insert(c, g, sizeof *g, pd, na, args);
}

/* Shapes of a call; 0, or -1 with SIMDIFF_ERR_INVALID_ARG set. Used again
 * by backward on the node's tensors (then it cannot fail). */
static int conv_geom(sd_ctx *c, const char *op, int transposed, int policy, int bf16,
                     const sd_tensor *x, const sd_tensor *w, const sd_tensor *b,
                     int stride, int pad, conv_key *g)
{
    char sx[64], sw[64], sb[64];
    memset(g, 0, sizeof *g);
    g->tag = CONV_TAG;
    g->transposed = transposed;
    g->bias = b != NULL;
    g->policy = policy;
    g->bf16 = bf16;
    if (x->ndim != 4 || w->ndim != 4 || w->shape[2] != w->shape[3] ||
        w->shape[2] < 1 || x->shape[0] < 1 || x->shape[1] < 1 ||
        x->shape[2] < 1 || x->shape[3] < 1 || w->shape[0] < 1 || w->shape[1] < 1 ||
        w->shape[transposed ? 0 : 1] != x->shape[1]) {
        sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                    "%s: x %s and w %s do not match (want x (N,Ci,H,W) and w %s)",
                    op, sd_shape_str(x, sx, sizeof sx), sd_shape_str(w, sw, sizeof sw),
                    transposed ? "(Ci,Co,K,K)" : "(Co,Ci,K,K)");
        return -1;
    }
    g->n = x->shape[0];
    g->ci = x->shape[1];
    g->h = x->shape[2];
    g->w = x->shape[3];
    g->co = w->shape[transposed ? 1 : 0];
    g->k = w->shape[2];
    g->stride = stride;
    g->pad = pad;
    if (b && (b->ndim != 1 || b->shape[0] != g->co)) {
        sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                    "%s: bias %s does not match w %s (want (%lld))", op,
                    sd_shape_str(b, sb, sizeof sb), sd_shape_str(w, sw, sizeof sw),
                    (long long)g->co);
        return -1;
    }
    if (stride < 1 || pad < 0 || stride > SD_CONV_MAX_SP || pad > SD_CONV_MAX_SP) {
        sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "%s: bad stride %d or pad %d", op,
                    stride, pad);
        return -1;
    }
    if (transposed) {
        g->ho = (g->h - 1) * stride - 2 * (int64_t)pad + g->k;
        g->wo = (g->w - 1) * stride - 2 * (int64_t)pad + g->k;
    } else {
        int64_t eh = g->h + 2 * (int64_t)pad - g->k, ew = g->w + 2 * (int64_t)pad - g->k;
        g->ho = eh < 0 ? 0 : eh / stride + 1;
        g->wo = ew < 0 ? 0 : ew / stride + 1;
    }
    if (g->ho < 1 || g->wo < 1) {
        sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                    "%s: x %s with w %s, stride %d, pad %d gives an empty output",
                    op, sd_shape_str(x, sx, sizeof sx), sd_shape_str(w, sw, sizeof sw),
                    stride, pad);
        return -1;
    }
    return 0;
}

/* Multiply-adds x 2 of one pass (forward, backward data or backward
 * weights cost the same): every (x pixel, w tap) pair of a conv output for
 * conv2d, of a transposed conv input for conv_transpose2d. */
static double conv_flops(const conv_key *g)
{
    double px = g->transposed ? (double)g->h * (double)g->w : (double)g->ho * (double)g->wo;
    return 2.0 * (double)g->n * (double)g->co * (double)g->ci * (double)(g->k * g->k) * px;
}

static void conv_backward(sd_ctx *c, sd_node *nd);

/* w in the layout (and type) `to` of a primitive: from the ctx's shared
 * bf16 copy of w when it has one (sampling), else from w itself. */
static void *weights_to(sd_ctx *c, const conv_key *g, const conv_mds *m,
                        const sd_tensor *w, const dnnl_memory_desc_t *to)
{
    const uint16_t *w16 = g->bf16 ? sd_ctx_bf16_weight(c, w->data, w->numel) : NULL;
    if (!w16)
        return sd_reorder_to(c, &m->w, w->data, to);
    dnnl_memory_desc_t md = m->w;
    const dnnl_dims_t wd = {g->co, g->ci, g->k, g->k};
    if (SD_DNNL(c, dnnl_memory_desc_init_by_tag(&md, 4, wd, dnnl_bf16,
                                                g->transposed ? dnnl_iohw : dnnl_oihw)))
        return NULL;
    return sd_reorder_to(c, &md, w16, to);
}

/* act(conv(x, w) + b) + r, r NULL or (N,Co,Ho,Wo); act and r as oneDNN
 * post-ops (eltwise, sum). With r, dst starts as r in the primitive's
 * layout (a copy, or the reorder to blocked that replaces the separate
 * add's pass). The node (when recorded: only without act, see
 * sd_conv2d_fused) has in {x, w, b, r}, b and r possibly NULL. */
static sd_tensor *conv_forward(sd_ctx *c, const char *op, int transposed,
                               sd_tensor *x, sd_tensor *w, sd_tensor *b,
                               int stride, int pad, int act, sd_tensor *r)
{
    conv_key g;
    conv_mds m;
    if (conv_geom(c, op, transposed, atomic_load(&conv_policy),
                  sd_ctx_precision(c) == SD_PREC_BF16, x, w, b, stride, pad, &g) ||
        plain_mds(c, &g, &m))
        return NULL;
    if (r && (r->ndim != 4 || r->shape[0] != g.n || r->shape[1] != g.co ||
              r->shape[2] != g.ho || r->shape[3] != g.wo)) {
        char s1[64];
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "%s: residual %s does not match the output %lldx%lldx%lldx%lld",
                           op, sd_shape_str(r, s1, sizeof s1), (long long)g.n,
                           (long long)g.co, (long long)g.ho, (long long)g.wo);
    }
    g.role = ROLE_FWD;
    g.act = act;
    g.sum = r != NULL;
    sd_prim *p = conv_prim(c, &g);
    sd_tensor *y = p ? sd_new4(c, g.n, g.co, g.ho, g.wo) : NULL; /* (N,Co,Ho,Wo) */
    if (!y)
        return NULL;
    const dnnl_memory_desc_t *ymd = sd_prim_md(p, DNNL_ARG_DST);
    /* The blocked copies are temporaries: the backward pass reorders x
     * again rather than keeping a second copy of every conv input. */
    sd_tmp tmp = sd_tmp_begin(c);
    void *xb = sd_reorder_to(c, &m.x, x->data, sd_prim_md(p, DNNL_ARG_SRC));
    void *wb = weights_to(c, &g, &m, w, sd_prim_md(p, DNNL_ARG_WEIGHTS));
    int same_y = dnnl_memory_desc_equal(ymd, &m.y);
    void *yb = same_y ? y->data : sd_alloc(c, dnnl_memory_desc_get_size(ymd));
    int bad = !xb || !wb || !yb;
    if (!bad && r) { /* the sum post-op adds to what dst holds */
        if (same_y)
            memcpy(y->data, r->data, (size_t)y->numel * sizeof(float));
        else
            bad = sd_reorder(c, &m.y, r->data, ymd, yb);
    }
    if (!bad) {
        void *h[4];
        int nh = 0;
        h[nh++] = xb;
        h[nh++] = wb;
        if (b)
            h[nh++] = b->data;
        h[nh++] = yb;
        bad = sd_prim_exec(c, p, h) || (!same_y && sd_reorder(c, ymd, yb, &m.y, y->data));
    }
    sd_tmp_end(c, tmp);
    if (bad)
        return NULL;
    sd_ctx_add_flops(c, conv_flops(&g));
    sd_tensor *in[4] = {x, w, b, r};
    sd_node *nd = sd_record(c, op, conv_backward, y, 4, in);
    if (nd) {
        nd->i[0] = stride;
        nd->i[1] = pad;
        nd->i[2] = transposed;
        nd->i[3] = g.policy;
        nd->i[4] = g.bf16;
    }
    return y;
}

/* dL/dx, dL/dw, dL/db from dL/dy = out->grad; dL/dr = dL/dy. */
static void conv_backward(sd_ctx *c, sd_node *nd)
{
    sd_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *r = nd->in[3];
    conv_key g;
    conv_mds m;
    if (conv_geom(c, nd->op, (int)nd->i[2], (int)nd->i[3], (int)nd->i[4], x, w, b,
                  (int)nd->i[0], (int)nd->i[1], &g) ||
        plain_mds(c, &g, &m))
        return;
    const float *dy = nd->out->grad; /* (N,Co,Ho,Wo) */
    if (sd_needs_grad(r)) {
        float *dr = sd_grad_acc(c, r);
        if (!dr)
            return;
        const int64_t n = r->numel;
#pragma omp parallel for if (n > SD_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++)
            dr[i] += dy[i];
    }
    /* dy in the layout of the first backward primitive that needs it;
     * reused by the second when the layouts agree. */
    const dnnl_memory_desc_t *dymd = NULL;
    void *dyb = NULL;

    if (sd_needs_grad(x)) {
        g.role = ROLE_BWD_DATA;
        sd_prim *p = conv_prim(c, &g);
        if (!p)
            return;
        const dnnl_memory_desc_t *dxmd = sd_prim_md(p, DNNL_ARG_DIFF_SRC);
        dymd = sd_prim_md(p, DNNL_ARG_DIFF_DST);
        dyb = sd_reorder_to(c, &m.y, dy, dymd);
        void *wb = weights_to(c, &g, &m, w, sd_prim_md(p, DNNL_ARG_WEIGHTS));
        int same_dx = dnnl_memory_desc_equal(dxmd, &m.x);
        void *dxb = same_dx ? NULL : sd_alloc(c, dnnl_memory_desc_get_size(dxmd));
        if (!dyb || !wb || (!same_dx && !dxb))
            return;
        if (same_dx) {
            float *dx = sd_grad_begin(c, x);
            if (!dx || sd_prim_exec(c, p, (void *[]){dyb, wb, dx}))
                return;
            sd_grad_end(c, x, dx);
        } else {
            if (sd_prim_exec(c, p, (void *[]){dyb, wb, dxb}))
                return;
            float *dx = sd_grad_begin(c, x);
            if (!dx || sd_reorder(c, dxmd, dxb, &m.x, dx))
                return;
            sd_grad_end(c, x, dx);
        }
        sd_ctx_add_flops(c, conv_flops(&g));
    }

    if (sd_needs_grad(w) || sd_needs_grad(b)) {
        g.role = ROLE_BWD_WEIGHTS;
        sd_prim *p = conv_prim(c, &g);
        if (!p)
            return;
        /* x in the primitive's layout: a temporary of this backward. */
        const dnnl_memory_desc_t *xmd = sd_prim_md(p, DNNL_ARG_SRC);
        const void *xb = sd_reorder_to(c, &m.x, x->data, xmd);
        const dnnl_memory_desc_t *md = sd_prim_md(p, DNNL_ARG_DIFF_DST);
        if (!dyb || !dnnl_memory_desc_equal(md, dymd))
            dyb = sd_reorder_to(c, &m.y, dy, md);
        const dnnl_memory_desc_t *dwmd = sd_prim_md(p, DNNL_ARG_DIFF_WEIGHTS);
        int same_dw = dnnl_memory_desc_equal(dwmd, &m.w);
        /* dw straight into w's gradient when the layout is plain; a
         * scratch buffer when w takes no gradient (only b does). */
        float *dw = NULL, *db = NULL;
        void *dwb = NULL;
        if (!same_dw || !sd_needs_grad(w))
            dwb = sd_alloc(c, dnnl_memory_desc_get_size(dwmd));
        else
            dwb = dw = sd_grad_begin(c, w);
        if (b)
            db = sd_needs_grad(b) ? sd_grad_begin(c, b)
                                  : sd_alloc(c, (size_t)g.co * sizeof(float));
        if (!xb || !dyb || !dwb || (b && !db))
            return;
        if (sd_prim_exec(c, p, (void *[]){(void *)xb, dyb, dwb, db}))
            return;
        sd_ctx_add_flops(c, conv_flops(&g));
        if (sd_needs_grad(w)) {
            if (!dw) {
                dw = sd_grad_begin(c, w);
                if (!dw || sd_reorder(c, dwmd, dwb, &m.w, dw))
                    return;
            }
            sd_grad_end(c, w, dw);
        }
        if (b && sd_needs_grad(b))
            sd_grad_end(c, b, db);
    }
}

sd_tensor *sd_conv2d(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b,
                     int stride, int pad)
{
    SD_OP_BEGIN(c, "conv2d", x, w);
    return conv_forward(c, "conv2d", 0, x, w, b, stride, pad, SD_ACT_NONE, NULL);
}

sd_tensor *sd_conv2d_fused(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b, int stride,
                           int pad, int act, sd_tensor *r)
{
    const char *op = r ? "conv2d_sum" : act ? "conv2d_act" : "conv2d";
    SD_OP_BEGIN(c, op, x, w);
    if (act != SD_ACT_NONE && act != SD_ACT_GELU && act != SD_ACT_SILU)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG, "conv2d: unknown activation %d", act);
    const int tape = sd_ctx_grad(c) && (sd_needs_grad(x) || sd_needs_grad(w) ||
                                        sd_needs_grad(b) || sd_needs_grad(r));
    if (act && tape) { /* the activation's backward needs the pre-activation */
        sd_tensor *y = sd_conv2d(c, x, w, b, stride, pad);
        y = act == SD_ACT_GELU ? sd_gelu(c, y) : sd_silu(c, y);
        return r ? sd_add(c, r, y) : y;
    }
    return conv_forward(c, op, 0, x, w, b, stride, pad, act, r);
}

sd_tensor *sd_conv_transpose2d(sd_ctx *c, sd_tensor *x, sd_tensor *w,
                               sd_tensor *b, int stride, int pad)
{
    SD_OP_BEGIN(c, "conv_transpose2d", x, w);
    return conv_forward(c, "conv_transpose2d", 1, x, w, b, stride, pad, SD_ACT_NONE, NULL);
}
