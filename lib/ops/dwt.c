/*
 * 5/3 (LeGall) discrete wavelet transform: the network's stem (MISSION.md
 * §2.4). Forward and backward side by side. Also in docs/architecture.md,
 * "DWT stem".
 *
 * 1-D transform of x[0..N-1], N even, M = N/2 (JPEG 2000 reversible 5/3
 * lifting, in float with no rounding):
 *   predict  d[n] = x[2n+1] - (x[2n] + x[2n+2]) / 2
 *   update   s[n] = x[2n]   + (d[n-1] + d[n]) / 4
 * with whole-sample symmetric extension: x[N] = x[N-2] (so d[M-1] =
 * x[N-1] - x[N-2]) and d[-1] = d[0] (from x[-1] = x[1]). Equivalently the
 * analysis filters low [-1, 2, 6, 2, -1]/8 centred on x[2n] and high
 * [-1/2, 1, -1/2] centred on x[2n+1] over the symmetrically extended x.
 * Scaling: none. The low-pass has DC gain 1, so the low band of a constant
 * image is that constant at every level (it is a smoothed thumbnail in the
 * image's range); the high-pass has gain 0 at DC and 2 at Nyquist. These
 * are exactly the JPEG 2000 5/3 coefficients without the integer floors.
 *
 * 2-D, one level: (N,C,h,w) -> four bands at (h/2, w/2), rows first (1-D
 * along W on every row), then columns (1-D along H on every column). Bands
 * are named by their filter along H, then along W:
 *   LL = low along H, low along W      (the next level's input)
 *   LH = low along H, high along W     (vertical edges)
 *   HL = high along H, low along W     (horizontal edges)
 *   HH = high along H, high along W
 *
 * L levels: level l (1..L) transforms the LL band of level l-1 (level 0 is
 * x), so its bands are at (H/2^l, W/2^l). Output y (N, C*4^L, H/2^L, W/2^L),
 * channels in this order:
 *   [0, C)        LL of level L: channel c = LL_L of input channel c;
 *   then for l = L, L-1, ..., 1 (coarse to fine), one block of 3*C*4^(L-l)
 *   channels: F.pixel_unshuffle(D_l, 2^(L-l)), where D_l (N, 3C, H/2^l,
 *   W/2^l) holds the details of level l with channel 3*c + k = band k of
 *   input channel c, k = 0: LH, 1: HL, 2: HH.
 * So within the level-l block (b = 2^(L-l)), channel (3c + k)*b*b + i*b + j
 * at pixel (y, x) is band k of channel c at (y*b + i, x*b + j).
 * L = 1, C = 3: [LL0 LL1 LL2 | LH0 HL0 HH0 LH1 HL1 HH1 LH2 HL2 HH2].
 * H and W must be multiples of 2^L; L >= 1.
 *
 * Implementation: per image plane, the classic in-place (Mallat) layout
 * — after level l the LL band sits in the top-left (H/2^l, W/2^l) corner,
 * LH top-right, HL bottom-left, HH bottom-right of the previous corner —
 * then one permutation (`layout`) into the channel order above. Lifting on
 * a level: split the signal into even/odd halves (a permutation), then the
 * predict step (odd += a * sums of even) and the update step (even += b *
 * sums of odd), each a unit-triangular linear map.
 *
 * Gradients. Every piece is linear, so each backward applies the
 * transpose (adjoint) of its forward, not its inverse: the steps in reverse
 * order, each step transposed with its boundary terms (the mirrored x[N] =
 * x[N-2] folds a second copy of the weight onto the last even sample, d[-1]
 * = d[0] onto the first odd one), split <-> merge, and the channel
 * permutation inverted. dwt^T has the control flow of the inverse transform
 * with transposed steps, idwt^T that of the forward transform.
 */
#include <math.h>
#include <string.h>

#include "ops/ops.h"

/* ---- lifting steps -----------------------------------------------------------
 * On a signal with even half e[0..M-1] and odd half o[0..M-1]:
 *   PREDICT    o[n] += a (e[n] + e[n+1]),        e[M] := e[M-1]
 *   UPDATE     e[n] += a (o[n-1] + o[n]),        o[-1] := o[0]
 *   PREDICT_T  the transpose of PREDICT (e += a P^T o)
 *   UPDATE_T   the transpose of UPDATE  (o += a U^T e)
 * Each writes one half from the other. Element n of the written half gets
 * c1 * src[i1] + c2 * src[i2]: */
enum { PREDICT, UPDATE, PREDICT_T, UPDATE_T };

static inline void step_coef(int kind, int64_t n, int64_t M, float a, int64_t *i1, float *c1,
                             int64_t *i2, float *c2)
{
    switch (kind) {
    case PREDICT: /* o[n] += a e[n] + a e[min(n+1, M-1)] */
        *i1 = n, *c1 = a;
        *i2 = n + 1 < M ? n + 1 : M - 1, *c2 = a;
        break;
    case UPDATE: /* e[n] += a o[max(n-1, 0)] + a o[n] */
        *i1 = n > 0 ? n - 1 : 0, *c1 = a;
        *i2 = n, *c2 = a;
        break;
    case PREDICT_T: /* e[n] += a o[n] + a o[n-1]; the mirror adds a o[M-1] to e[M-1] */
        *i1 = n, *c1 = n == M - 1 ? 2 * a : a;
        *i2 = n > 0 ? n - 1 : 0, *c2 = n > 0 ? a : 0.0f;
        break;
    default: /* UPDATE_T: o[n] += a e[n] + a e[n+1]; the mirror adds a e[0] to o[0] */
        *i1 = n, *c1 = n == 0 ? 2 * a : a;
        *i2 = n + 1 < M ? n + 1 : n, *c2 = n + 1 < M ? a : 0.0f;
        break;
    }
}

/* Does the step write the odd half? */
static inline int writes_odd(int kind) { return kind == PREDICT || kind == UPDATE_T; }

/* Plane geometry: P planes (N*C) of H x W floats; a level works on the
 * top-left h x w corner of each. */
typedef struct geom {
    int64_t P, H, W;
} geom;

/* One step along W on every row r < h of every plane: the row holds
 * [e (M = w/2) | o (M)]. Interior elements in a vectorizable loop, the two
 * boundary elements through step_coef. */
static void h_step(float *buf, const geom *g, int64_t h, int64_t w, int kind, float a)
{
    int64_t M = w / 2, lines = g->P * h;
    int64_t off = (kind == PREDICT || kind == UPDATE_T) ? 1 : -1;
    int odd = writes_odd(kind);
#pragma omp parallel for if (lines * w > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < lines; r++) {
        float *row = buf + ((r / h) * g->H + r % h) * g->W;
        float *dst = odd ? row + M : row;
        const float *src = odd ? row : row + M;
        for (int64_t n = 1; n < M - 1; n++)
            dst[n] += a * (src[n] + src[n + off]);
        for (int64_t n = 0; n < M; n += (M > 1 ? M - 1 : 1)) {
            int64_t i1, i2;
            float c1, c2;
            step_coef(kind, n, M, a, &i1, &c1, &i2, &c2);
            dst[n] += c1 * src[i1] + c2 * src[i2];
        }
    }
}

/* One step along H on the top-left h x w corner of every plane: rows
 * [0, M) hold e, rows [M, h) hold o (M = h/2); each element is a row
 * vector of w floats. */
static void v_step(float *buf, const geom *g, int64_t h, int64_t w, int kind, float a)
{
    int64_t M = h / 2, tasks = g->P * M;
    int odd = writes_odd(kind);
#pragma omp parallel for if (tasks * w > SD_PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t p = t / M, n = t % M, i1, i2;
        float c1, c2;
        step_coef(kind, n, M, a, &i1, &c1, &i2, &c2);
        float *plane = buf + p * g->H * g->W;
        float *e = plane, *o = plane + M * g->W;
        float *dst = (odd ? o : e) + n * g->W;
        const float *s1 = (odd ? e : o) + i1 * g->W, *s2 = (odd ? e : o) + i2 * g->W;
        for (int64_t j = 0; j < w; j++)
            dst[j] += c1 * s1[j] + c2 * s2[j];
    }
}

/* Split (x -> [even | odd]) or merge (the inverse) along W, src -> dst,
 * on rows r < h, columns < w. */
static void h_split(const float *src, float *dst, const geom *g, int64_t h, int64_t w, int merge)
{
    int64_t M = w / 2, lines = g->P * h;
#pragma omp parallel for if (lines * w > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < lines; r++) {
        int64_t base = ((r / h) * g->H + r % h) * g->W;
        const float *s = src + base;
        float *d = dst + base;
        if (merge)
            for (int64_t n = 0; n < M; n++) {
                d[2 * n] = s[n];
                d[2 * n + 1] = s[M + n];
            }
        else
            for (int64_t n = 0; n < M; n++) {
                d[n] = s[2 * n];
                d[M + n] = s[2 * n + 1];
            }
    }
}

/* The same along H: row 2n <-> row n, row 2n+1 <-> row M + n. */
static void v_split(const float *src, float *dst, const geom *g, int64_t h, int64_t w, int merge)
{
    int64_t M = h / 2, rows = g->P * h;
#pragma omp parallel for if (rows * w > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t p = r / h, k = r % h;                      /* interleaved row */
        int64_t q = (k % 2) * M + k / 2;                   /* split row       */
        int64_t from = merge ? q : k, to = merge ? k : q;
        const float *s = src + (p * g->H + from) * g->W;
        float *d = dst + (p * g->H + to) * g->W;
        memcpy(d, s, (size_t)w * sizeof(float));
    }
}

/* Levels 1..L, each: along W, then along H. In A (Mallat layout out), B
 * scratch. adjoint = 0: the forward DWT; 1: the transpose of the inverse
 * (split, PREDICT_T(+1/2), UPDATE_T(-1/4)), the backward of idwt. */
static void analysis(float *A, float *B, const geom *g, int L, int adjoint)
{
    int k1 = adjoint ? PREDICT_T : PREDICT, k2 = adjoint ? UPDATE_T : UPDATE;
    float a1 = adjoint ? 0.5f : -0.5f, a2 = adjoint ? -0.25f : 0.25f;
    for (int l = 0; l < L; l++) {
        int64_t h = g->H >> l, w = g->W >> l;
        h_split(A, B, g, h, w, 0);
        h_step(B, g, h, w, k1, a1);
        h_step(B, g, h, w, k2, a2);
        v_split(B, A, g, h, w, 0);
        v_step(A, g, h, w, k1, a1);
        v_step(A, g, h, w, k2, a2);
    }
}

/* Levels L..1, each: along H, then along W. In A (Mallat layout in, image
 * out), B scratch. adjoint = 0: the inverse DWT (UPDATE(-1/4),
 * PREDICT(+1/2), merge); 1: the transpose of the forward (UPDATE_T(+1/4),
 * PREDICT_T(-1/2), merge), the backward of dwt. */
static void synthesis(float *A, float *B, const geom *g, int L, int adjoint)
{
    int k1 = adjoint ? UPDATE_T : UPDATE, k2 = adjoint ? PREDICT_T : PREDICT;
    float a1 = adjoint ? 0.25f : -0.25f, a2 = adjoint ? -0.5f : 0.5f;
    for (int l = L - 1; l >= 0; l--) {
        int64_t h = g->H >> l, w = g->W >> l;
        v_step(A, g, h, w, k1, a1);
        v_step(A, g, h, w, k2, a2);
        v_split(A, B, g, h, w, 1);
        h_step(B, g, h, w, k1, a1);
        h_step(B, g, h, w, k2, a2);
        h_split(B, A, g, h, w, 1);
    }
}

/* ---- Mallat planes <-> output channels ------------------------------------ */
/* Where output channel oc, row y lives in the Mallat plane of channel *c:
 * row *R, columns *X0 + x * *stride. See the layout at the top. */
static void band_of(int64_t oc, int64_t C, int L, const geom *g, int64_t y, int64_t *c,
                    int64_t *R, int64_t *X0, int64_t *stride)
{
    if (oc < C) {
        *c = oc, *R = y, *X0 = 0, *stride = 1;
        return;
    }
    int64_t r = oc - C, bb = 1;
    int l = L;
    for (; l >= 1; l--) {
        bb = (int64_t)1 << (L - l);
        int64_t bs = 3 * C * bb * bb;
        if (r < bs)
            break;
        r -= bs;
    }
    int64_t j = r % bb, i = r / bb % bb, ch = r / (bb * bb), k = ch % 3;
    int64_t hl = g->H >> l, wl = g->W >> l;
    *c = ch / 3;
    *R = (k >= 1 ? hl : 0) + y * bb + i;
    *X0 = (k != 1 ? wl : 0) + j;
    *stride = bb;
}

/* mal (P planes, Mallat) <-> out (N, C*4^L, H/2^L, W/2^L): to_out copies
 * mal -> out, else out -> mal; acc adds instead. A bijection: parallel over
 * output rows, each destination element written once. */
static void layout(float *mal, float *out, int64_t N, int64_t C, int L, const geom *g,
                   int to_out, int acc)
{
    int64_t h = g->H >> L, w = g->W >> L, OC = C << (2 * L), rows = N * OC * h;
#pragma omp parallel for if (rows * w > SD_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t y = r % h, oc = r / h % OC, n = r / (h * OC), c, R, X0, s;
        band_of(oc, C, L, g, y, &c, &R, &X0, &s);
        float *o = out + r * w, *m = mal + ((n * C + c) * g->H + R) * g->W + X0;
        if (to_out && acc)
            for (int64_t x = 0; x < w; x++)
                o[x] += m[x * s];
        else if (to_out)
            for (int64_t x = 0; x < w; x++)
                o[x] = m[x * s];
        else if (acc)
            for (int64_t x = 0; x < w; x++)
                m[x * s] += o[x];
        else
            for (int64_t x = 0; x < w; x++)
                m[x * s] = o[x];
    }
}

/* ---- ops ---------------------------------------------------------------------- */
#define DWT_MAX_LEVELS 16

/* in[0] = x (N,C,H,W), out = y; i[0] = L.  dx += dwt^T dy */
static void dwt_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *x = n->in[0], *y = n->out;
    int L = (int)n->i[0];
    geom g = {x->shape[0] * x->shape[1], x->shape[2], x->shape[3]};
    float *B = sd_alloc(c, (size_t)x->numel * sizeof(float));
    float *A = B ? sd_grad_begin(c, x) : NULL;
    if (!A)
        return;
    layout(A, y->grad, x->shape[0], x->shape[1], L, &g, 0, 0);
    synthesis(A, B, &g, L, 1);
    sd_grad_end(c, x, A);
}

sd_tensor *sd_dwt53(sd_ctx *c, sd_tensor *x, int levels)
{
    SD_OP_BEGIN(c, "dwt53", x);
    char s[64];
    if (x->ndim != 4 || levels < 1 || levels > DWT_MAX_LEVELS ||
        x->shape[2] % ((int64_t)1 << levels) || x->shape[3] % ((int64_t)1 << levels) ||
        x->shape[2] == 0 || x->shape[3] == 0)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "dwt53: %d levels need (N,C,H,W) with H and W multiples of 2^%d "
                           "(1 <= levels <= %d), got shape %s",
                           levels, levels, DWT_MAX_LEVELS, sd_shape_str(x, s, sizeof s));
    int L = levels;
    int64_t N = x->shape[0], C = x->shape[1];
    geom g = {N * C, x->shape[2], x->shape[3]};
    sd_tensor *y = sd_new4(c, N, C << (2 * L), g.H >> L, g.W >> L);
    if (!y)
        return NULL;
    sd_tmp tmp = sd_tmp_begin(c); /* A, B: work planes, not kept */
    float *A = sd_alloc(c, (size_t)x->numel * sizeof(float));
    float *B = A ? sd_alloc(c, (size_t)x->numel * sizeof(float)) : NULL;
    if (B) {
        memcpy(A, x->data, (size_t)x->numel * sizeof(float));
        analysis(A, B, &g, L, 0);
        layout(A, y->data, N, C, L, &g, 1, 0);
    }
    sd_tmp_end(c, tmp);
    if (!B)
        return NULL;
    sd_node *n = sd_record(c, "dwt53", dwt_backward, y, 1, &x);
    if (n)
        n->i[0] = L;
    return y;
}

/* in[0] = y (coefficients), out = x (image); i[0] = L.  dy += idwt^T dx */
static void idwt_backward(sd_ctx *c, sd_node *n)
{
    sd_tensor *y = n->in[0], *x = n->out;
    int L = (int)n->i[0];
    geom g = {x->shape[0] * x->shape[1], x->shape[2], x->shape[3]};
    float *A = sd_alloc(c, (size_t)x->numel * sizeof(float));
    float *B = A ? sd_alloc(c, (size_t)x->numel * sizeof(float)) : NULL;
    float *dy = B ? sd_grad_begin(c, y) : NULL;
    if (!dy)
        return;
    memcpy(A, x->grad, (size_t)x->numel * sizeof(float));
    analysis(A, B, &g, L, 1);
    layout(A, dy, x->shape[0], x->shape[1], L, &g, 1, 0);
    sd_grad_end(c, y, dy);
}

sd_tensor *sd_idwt53(sd_ctx *c, sd_tensor *y, int levels)
{
    SD_OP_BEGIN(c, "idwt53", y);
    char s[64];
    int64_t q = levels >= 1 && levels <= DWT_MAX_LEVELS ? (int64_t)1 << (2 * levels) : 0;
    if (y->ndim != 4 || !q || y->shape[1] % q || y->shape[2] == 0 ||
        y->shape[3] == 0 ||
        y->shape[2] > (INT64_C(1) << 40 >> levels) || y->shape[3] > (INT64_C(1) << 40 >> levels))
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "idwt53: %d levels need (N,C*4^%d,h,w) with 1 <= levels <= %d, "
                           "got shape %s",
                           levels, levels, DWT_MAX_LEVELS, sd_shape_str(y, s, sizeof s));
    int L = levels;
    int64_t N = y->shape[0], C = y->shape[1] / q;
    sd_tensor *x = sd_new4(c, N, C, y->shape[2] << L, y->shape[3] << L);
    if (!x)
        return NULL;
    sd_tmp tmp = sd_tmp_begin(c); /* B: a work plane, not kept */
    float *B = sd_alloc(c, (size_t)x->numel * sizeof(float));
    if (B) {
        geom g = {N * C, x->shape[2], x->shape[3]};
        layout(x->data, y->data, N, C, L, &g, 0, 0);
        synthesis(x->data, B, &g, L, 0);
    }
    sd_tmp_end(c, tmp);
    if (!B)
        return NULL;
    sd_node *n = sd_record(c, "idwt53", idwt_backward, x, 1, &y);
    if (n)
        n->i[0] = L;
    return x;
}

/* ---- unit-variance bands ---------------------------------------------------
 * The bands of the plain transform have very different scales: on white
 * noise of variance 1 a coefficient has variance E_H * E_W, the energies
 * (sums of squares) of the equivalent 1-D filters along H and W: at one
 * level 46/64 for the low-pass and 3/2 for the high-pass, so LL_1 has std
 * 0.719, LH_1 and HL_1 1.038, HH_1 1.5; LL_2 0.435. The equivalent filter
 * of level l is the level-(l-1) low-pass cascade convolved with the level-l
 * filter upsampled by 2^(l-1) (interior of the signal: the boundary rows
 * and columns differ slightly). The normalised transform divides every
 * channel by its std, so white noise gives unit variance in every band, and
 * its inverse multiplies by it before the synthesis. */
#define DWT_UNIT_MAX_LEVELS 8

/* out[0 .. n + (nh-1)*up) = g (n taps) convolved with h (nh taps) upsampled
 * by up; returns the output length. */
static int cascade(const double *g, int n, const double *h, int nh, int up, double *out)
{
    int nt = n + (nh - 1) * up;
    for (int i = 0; i < nt; i++)
        out[i] = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nh; k++)
            out[i + k * up] += g[i] * h[k];
    return nt;
}

static double energy(const double *g, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++)
        e += g[i] * g[i];
    return e;
}

int sd_dwt53_band_std(int64_t C, int levels, float *std)
{
    static const double h0[5] = {-1 / 8.0, 2 / 8.0, 6 / 8.0, 2 / 8.0, -1 / 8.0};
    static const double h1[3] = {-0.5, 1.0, -0.5};
    enum { MAXLEN = 1 + 4 * ((1 << DWT_UNIT_MAX_LEVELS) - 1) };
    double g[MAXLEN], t[MAXLEN];
    double elo[DWT_UNIT_MAX_LEVELS + 1], ehi[DWT_UNIT_MAX_LEVELS + 1];
    if (levels < 1 || levels > DWT_UNIT_MAX_LEVELS || C < 1)
        return -1;
    int len = 1;
    g[0] = 1;
    for (int l = 1; l <= levels; l++) {
        int up = 1 << (l - 1);
        ehi[l] = energy(t, cascade(g, len, h1, 3, up, t));
        len = cascade(g, len, h0, 5, up, t);
        memcpy(g, t, (size_t)len * sizeof(double));
        elo[l] = energy(g, len);
    }
    int L = levels;
    int64_t oc = 0;
    for (int64_t c = 0; c < C; c++)
        std[oc++] = (float)elo[L];
    for (int l = L; l >= 1; l--) {
        int64_t bb = (int64_t)1 << (2 * (L - l));
        double band[3] = {sqrt(elo[l] * ehi[l]), sqrt(elo[l] * ehi[l]), ehi[l]};
        for (int64_t c = 0; c < C; c++)
            for (int k = 0; k < 3; k++)
                for (int64_t q = 0; q < bb; q++)
                    std[oc++] = (float)band[k];
    }
    return 0;
}

/* (1, C*4^L, 1, 1) constant: the band stds, or their reciprocals. */
static sd_tensor *band_scale(sd_ctx *c, int64_t C, int L, int inverse)
{
    if (L < 1 || L > DWT_UNIT_MAX_LEVELS)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "dwt53 with unit-variance bands: levels %d not in 1..%d", L,
                           DWT_UNIT_MAX_LEVELS);
    int64_t OC = C << (2 * L);
    sd_tensor *s = sd_new4(c, 1, OC, 1, 1);
    if (!s || sd_dwt53_band_std(C, L, s->data))
        return NULL;
    if (inverse)
        for (int64_t i = 0; i < OC; i++)
            s->data[i] = 1.0f / s->data[i];
    return s;
}

sd_tensor *sd_dwt53_unit(sd_ctx *c, sd_tensor *x, int levels)
{
    sd_tensor *y = sd_dwt53(c, x, levels);
    return y ? sd_mul(c, y, band_scale(c, x->shape[1], levels, 1)) : NULL;
}

sd_tensor *sd_idwt53_unit(sd_ctx *c, sd_tensor *y, int levels)
{
    if (!y)
        return NULL;
    if (levels < 1 || levels > DWT_UNIT_MAX_LEVELS)
        return band_scale(c, 1, levels, 0); /* reports the level error */
    if (y->ndim != 4 || y->shape[1] % ((int64_t)1 << (2 * levels)))
        return sd_idwt53(c, y, levels); /* reports the shape error */
    return sd_idwt53(c, sd_mul(c, y, band_scale(c, y->shape[1] >> (2 * levels), levels, 0)),
                     levels);
}
