/* Model structure: the block list and the parameter table of a config.
 * Names, shapes, order and initialization follow docs/architecture.md. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "tensor/rng.h"

/* Builder state: growable arrays; the first failure sticks. */
typedef struct builder {
    simdiff_model *m;
    int cap_params, cap_res, cap_attn, cap_stages;
    int failed;
} builder;

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, (size_t)nc * elem);
    if (!np)
        return -1;
    memset((char *)np + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = np;
    *cap = nc;
    return 0;
}

/* Declare a parameter; returns its index or -1. */
static int param(builder *b, sd_init init, int64_t fan_in, int no_decay, int ndim,
                 const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static int param(builder *b, sd_init init, int64_t fan_in, int no_decay, int ndim,
                 const int64_t *shape, const char *fmt, ...)
{
    simdiff_model *m = b->m;
    if (b->failed)
        return -1;
    int cap = b->cap_params;
    if (grow((void **)&m->params, &cap, m->nparams + 1, sizeof *m->params) ||
        grow((void **)&m->pinfo, &b->cap_params, m->nparams + 1, sizeof *m->pinfo)) {
        b->failed = 1;
        return -1;
    }
    int i = m->nparams++;
    sd_pinfo *pi = &m->pinfo[i];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pi->name, sizeof pi->name, fmt, ap);
    va_end(ap);
    pi->init = init;
    pi->fan_in = fan_in;
    pi->no_decay = no_decay;
    pi->std = 0;
    if (sd_tensor_init(&m->params[i], ndim, shape, NULL) != 0)
        b->failed = 1;
    return i;
}

/* conv (co, ci, k, k) + bias; zero = zero-initialized (residual outputs). */
static sd_lin conv(builder *b, int ci, int co, int k, int zero, const char *name)
{
    const int64_t ws[4] = {co, ci, k, k}, bs[1] = {co};
    int64_t fan = (int64_t)ci * k * k;
    sd_lin l;
    l.w = param(b, zero ? SD_INIT_ZERO : SD_INIT_FANIN, fan, 0, 4, ws, "%s.weight", name);
    l.b = param(b, zero ? SD_INIT_ZERO : SD_INIT_FANIN, fan, 1, 1, bs, "%s.bias", name);
    return l;
}

/* transposed conv, PyTorch layout (ci, co, k, k) */
static sd_lin convT(builder *b, int ci, int co, int k, int zero, const char *name)
{
    const int64_t ws[4] = {ci, co, k, k}, bs[1] = {co};
    int64_t fan = (int64_t)co * k * k; /* PyTorch: fan_in of weight dim 1 */
    sd_lin l;
    l.w = param(b, zero ? SD_INIT_ZERO : SD_INIT_FANIN, fan, 0, 4, ws, "%s.weight", name);
    l.b = param(b, zero ? SD_INIT_ZERO : SD_INIT_FANIN, fan, 1, 1, bs, "%s.bias", name);
    return l;
}

static sd_lin linear(builder *b, int in, int out, int zero, const char *name)
{
    const int64_t ws[2] = {out, in}, bs[1] = {out};
    sd_lin l;
    l.w = param(b, zero ? SD_INIT_ZERO : SD_INIT_FANIN, in, 0, 2, ws, "%s.weight", name);
    l.b = param(b, zero ? SD_INIT_ZERO : SD_INIT_FANIN, in, 1, 1, bs, "%s.bias", name);
    return l;
}

static sd_norm norm(builder *b, int ch, const char *name)
{
    const int64_t s[1] = {ch};
    sd_norm n;
    n.g = param(b, SD_INIT_ONE, 0, 1, 1, s, "%s.weight", name);
    n.b = param(b, SD_INIT_ZERO, 0, 1, 1, s, "%s.bias", name);
    return n;
}

static int add_stage(builder *b, sd_stage_kind kind, int idx, sd_lin conv_)
{
    simdiff_model *m = b->m;
    if (b->failed || grow((void **)&m->stages, &b->cap_stages, m->nstages + 1, sizeof *m->stages)) {
        b->failed = 1;
        return -1;
    }
    sd_stage *s = &m->stages[m->nstages++];
    s->kind = kind;
    s->idx = idx;
    s->conv = conv_;
    return 0;
}

static const sd_lin no_lin = {-1, -1};

static float dropout_at(const simdiff_model_config *c, int res, float p)
{
    return res <= c->dropout_max_resolution ? p : 0.0f;
}

static void resblock(builder *b, sd_stage_kind kind, int ci, int co, int res,
                     const char *name)
{
    simdiff_model *m = b->m;
    const simdiff_model_config *c = &m->cfg;
    if (b->failed || grow((void **)&m->res, &b->cap_res, m->nres + 1, sizeof *m->res)) {
        b->failed = 1;
        return;
    }
    char nm[80];
    sd_resblock *r = &m->res[m->nres];
    r->ci = ci;
    r->co = co;
    r->res = res;
    r->dropout = dropout_at(c, res, c->dropout_res);
    snprintf(nm, sizeof nm, "%.60s.norm1", name);
    r->norm1 = norm(b, ci, nm);
    snprintf(nm, sizeof nm, "%.60s.conv1", name);
    r->conv1 = conv(b, ci, co, 3, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.emb", name);
    r->emb = linear(b, c->emb_dim, 2 * co, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.conv2", name);
    r->conv2 = conv(b, co, co, 3, 1, nm);
    if (ci != co) {
        snprintf(nm, sizeof nm, "%.60s.skip", name);
        r->skip = conv(b, ci, co, 1, 0, nm);
    } else {
        r->skip = no_lin;
    }
    add_stage(b, kind, m->nres++, no_lin);
}

static void attn_params(builder *b, sd_attnblock *a, int ch, int heads, int gn,
                        const char *name)
{
    char nm[80];
    a->ch = ch;
    a->heads = heads;
    if (gn) {
        snprintf(nm, sizeof nm, "%.60s.norm", name);
        a->norm = norm(b, ch, nm);
    } else {
        a->norm.g = a->norm.b = -1;
    }
    snprintf(nm, sizeof nm, "%.60s.q", name);
    a->q = linear(b, ch, ch, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.k", name);
    a->k = linear(b, ch, ch, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.v", name);
    a->v = linear(b, ch, ch, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.out", name);
    a->out = linear(b, ch, ch, 1, nm);
}

/* Cross-attention: norm (ch), q (ch -> ch), k and v (ctx_ch -> ch), out
 * (ch -> ch, zero: a fresh model ignores the context there). */
static void xattn_params(builder *b, sd_attnblock *a, int ch, int heads, const char *name)
{
    char nm[80];
    a->ch = ch;
    a->heads = heads;
    snprintf(nm, sizeof nm, "%.60s.norm", name);
    a->norm = norm(b, ch, nm);
    snprintf(nm, sizeof nm, "%.60s.q", name);
    a->q = linear(b, ch, ch, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.k", name);
    a->k = linear(b, b->m->ctx_ch, ch, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.v", name);
    a->v = linear(b, b->m->ctx_ch, ch, 0, nm);
    snprintf(nm, sizeof nm, "%.60s.out", name);
    a->out = linear(b, ch, ch, 1, nm);
}

/* U-Net attention: self-attention "<name>.attn", then with a context
 * cross-attention "<name>.xattn", each its own stage. */
static void attnblock(builder *b, int ch, const char *name)
{
    simdiff_model *m = b->m;
    char nm[80];
    for (int x = 0; x < 1 + (m->cfg.ctx_dim > 0); x++) {
        if (b->failed ||
            grow((void **)&m->attn, &b->cap_attn, m->nattn + 1, sizeof *m->attn)) {
            b->failed = 1;
            return;
        }
        snprintf(nm, sizeof nm, "%.60s.%s", name, x ? "xattn" : "attn");
        if (x)
            xattn_params(b, &m->attn[m->nattn], ch, m->cfg.attn_heads, nm);
        else
            attn_params(b, &m->attn[m->nattn], ch, m->cfg.attn_heads, 1, nm);
        add_stage(b, x ? SD_ST_XATTN : SD_ST_ATTN, m->nattn++, no_lin);
    }
}

/* The text encoder (text_vocab > 0): token embeddings N(0, 1) (the scale of
 * the layer-normed inputs of every residual branch, so that the branches'
 * biases, shared by all tokens, do not drown the token's identity while
 * they grow from zero), position embeddings N(0, 0.02^2), text_layers
 * pre-norm layers (layer-norm affines, q/k/v,
 * zero-initialized residual outputs as everywhere), the final norm. */
static void text_encoder(builder *b)
{
    simdiff_model *m = b->m;
    const simdiff_model_config *c = &m->cfg;
    m->text_tok = m->text_pos = -1;
    m->text_norm.g = m->text_norm.b = -1;
    if (c->text_vocab == 0)
        return;
    const int D = c->ctx_dim;
    const int64_t ts[2] = {c->text_vocab, D}, ps[2] = {c->ctx_len, D};
    m->text_tok = param(b, SD_INIT_NORMAL, 0, 1, 2, ts, "text.tok");
    m->text_pos = param(b, SD_INIT_NORMAL, 0, 1, 2, ps, "text.pos");
    if (m->text_tok >= 0 && m->text_pos >= 0) {
        m->pinfo[m->text_tok].std = 1.0f;
        m->pinfo[m->text_pos].std = 0.02f;
    }
    if (c->text_layers > 0 && !(m->text = calloc((size_t)c->text_layers, sizeof *m->text))) {
        b->failed = 1;
        return;
    }
    char nm[80];
    for (int i = 0; i < c->text_layers; i++) {
        sd_encblock *t = &m->text[i];
        snprintf(nm, sizeof nm, "text.blocks.%d.attn", i);
        attn_params(b, &t->attn, D, c->text_heads, 1, nm);
        snprintf(nm, sizeof nm, "text.blocks.%d.norm2", i);
        t->norm2 = norm(b, D, nm);
        snprintf(nm, sizeof nm, "text.blocks.%d.fc1", i);
        t->fc1 = linear(b, D, 4 * D, 0, nm);
        snprintf(nm, sizeof nm, "text.blocks.%d.fc2", i);
        t->fc2 = linear(b, 4 * D, D, 1, nm);
    }
    m->text_norm = norm(b, D, "text.norm");
}

static void transformer(builder *b, int ch, int res)
{
    simdiff_model *m = b->m;
    const simdiff_model_config *c = &m->cfg;
    int W = c->tf_width, T = res * res;
    m->tf_res = res;
    m->tf_ch = ch;
    m->tf_in = linear(b, ch, W, 0, "tf.in");
    const int64_t ps[2] = {T, W};
    m->tf_pos = param(b, SD_INIT_NORMAL, 0, 1, 2, ps, "tf.pos");
    if (m->tf_pos >= 0)
        m->pinfo[m->tf_pos].std = 0.02f;
    if (c->tf_depth > 0) {
        m->tf = calloc((size_t)c->tf_depth, sizeof *m->tf);
        if (!m->tf) {
            b->failed = 1;
            return;
        }
    }
    char nm[80];
    for (int i = 0; i < c->tf_depth; i++) {
        sd_tfblock *t = &m->tf[i];
        snprintf(nm, sizeof nm, "tf.blocks.%d.ada", i);
        t->ada = linear(b, c->emb_dim, 4 * W, 0, nm);
        snprintf(nm, sizeof nm, "tf.blocks.%d.attn", i);
        attn_params(b, &t->attn, W, c->tf_heads, 0, nm);
        if (c->ctx_dim > 0) {
            snprintf(nm, sizeof nm, "tf.blocks.%d.xattn", i);
            xattn_params(b, &t->xattn, W, c->tf_heads, nm);
        } else {
            t->xattn.norm.g = t->xattn.norm.b = -1;
            t->xattn.q = t->xattn.k = t->xattn.v = t->xattn.out = no_lin;
        }
        snprintf(nm, sizeof nm, "tf.blocks.%d.fc1", i);
        t->fc1 = linear(b, W, c->tf_mlp_ratio * W, 0, nm);
        snprintf(nm, sizeof nm, "tf.blocks.%d.fc2", i);
        t->fc2 = linear(b, c->tf_mlp_ratio * W, W, 1, nm);
        t->dropout = dropout_at(c, res, c->dropout_tf);
    }
    m->tf_norm = norm(b, W, "tf.norm");
    m->tf_out = linear(b, W, ch, 0, "tf.out");
    add_stage(b, SD_ST_TF, 0, no_lin);
}

static simdiff_status build_structure(simdiff_model *m)
{
    const simdiff_model_config *c = &m->cfg;
    builder b = {.m = m};
    int E = c->emb_dim, L = c->num_levels;
    int uvit = c->arch == SIMDIFF_ARCH_UVIT;
    char nm[80];

    /* Conditioning. */
    m->emb_fc1 = linear(&b, E / 2, E, 0, "emb.fc1");
    m->emb_fc2 = linear(&b, E, E, 0, "emb.fc2");
    m->class_emb = -1;
    if (c->num_classes > 0) {
        const int64_t s[2] = {c->num_classes + 1, E};
        m->class_emb = param(&b, SD_INIT_NORMAL, 0, 1, 2, s, "emb.class");
        if (m->class_emb >= 0)
            m->pinfo[m->class_emb].std = 1.0f;
    }
    m->emb_cond = c->cond_dim > 0 ? linear(&b, c->cond_dim, E, 0, "emb.cond") : no_lin;
    /* Context: null token, layer norm, projection to ctx_ch (the U-ViT's
     * width, or emb_dim in the U-Net), pooled linear (zero: a fresh model
     * ignores the context there too). */
    m->ctx_null = -1;
    m->ctx_norm.g = m->ctx_norm.b = -1;
    m->ctx_proj = m->emb_ctx = no_lin;
    m->ctx_ch = 0;
    if (c->ctx_dim > 0) {
        const int64_t s[2] = {1, c->ctx_dim};
        m->ctx_ch = uvit ? c->tf_width : E;
        m->ctx_null = param(&b, SD_INIT_NORMAL, 0, 1, 2, s, "ctx.null");
        if (m->ctx_null >= 0)
            m->pinfo[m->ctx_null].std = 1.0f;
        m->ctx_norm = norm(&b, c->ctx_dim, "ctx.norm");
        m->ctx_proj = linear(&b, c->ctx_dim, m->ctx_ch, 0, "ctx.proj");
        m->emb_ctx = linear(&b, m->ctx_ch, E, 1, "emb.ctx");
    }
    text_encoder(&b);

    /* Stem. */
    int C = c->channels, ch0 = c->level_channels[0];
    switch (c->stem) {
    case SIMDIFF_STEM_PATCH:
        m->r0 = c->image_size / c->stem_param;
        m->in_ch = C;
        m->stem_conv = conv(&b, C, ch0, c->stem_param, 0, "stem.conv");
        break;
    case SIMDIFF_STEM_DWT:
    case SIMDIFF_STEM_DWT_UNIT:
        m->r0 = c->image_size >> c->stem_param;
        m->in_ch = C << (2 * c->stem_param);
        m->stem_conv = conv(&b, m->in_ch, ch0, 3, 0, "stem.conv");
        break;
    default:
        m->r0 = c->image_size;
        m->in_ch = C;
        m->stem_conv = conv(&b, C, ch0, 3, 0, "stem.conv");
        break;
    }
    m->stem_ch = ch0;

    /* Down path: ResBlocks (+ attention in the U-Net at low resolution),
     * every block's output is a skip. */
    int ch = ch0, res = m->r0;
    int skip_ch[SIMDIFF_MAX_LEVELS * 65], nskip = 0;
    for (int l = 0; l < L; l++) {
        int co = c->level_channels[l];
        int attn = !uvit && res <= c->attn_resolution;
        for (int k = 0; k < c->level_blocks[l]; k++) {
            snprintf(nm, sizeof nm, "down.%d.%d", l, k);
            resblock(&b, SD_ST_RES, ch, co, res, nm);
            ch = co;
            if (attn) {
                snprintf(nm, sizeof nm, "down.%d.%d", l, k);
                attnblock(&b, ch, nm);
            }
            add_stage(&b, SD_ST_PUSH, 0, no_lin);
            skip_ch[nskip++] = ch;
        }
        if (l < L - 1 || uvit) {
            add_stage(&b, SD_ST_DOWN, 0, no_lin);
            res /= 2;
        }
    }

    /* Middle. */
    if (uvit) {
        transformer(&b, ch, res);
        res *= 2;
        snprintf(nm, sizeof nm, "tf.up");
        add_stage(&b, SD_ST_UP, 0, conv(&b, ch, ch, 3, 0, nm));
    } else {
        resblock(&b, SD_ST_RES, ch, ch, res, "mid.0");
        if (c->attn_resolution > 0)
            attnblock(&b, ch, "mid");
        resblock(&b, SD_ST_RES, ch, ch, res, "mid.1");
    }

    /* Up path: the same blocks per level, each taking one skip. */
    for (int l = L - 1; l >= 0; l--) {
        int co = c->level_channels[l];
        int attn = !uvit && res <= c->attn_resolution;
        for (int k = 0; k < c->level_blocks[l]; k++) {
            snprintf(nm, sizeof nm, "up.%d.%d", l, k);
            resblock(&b, SD_ST_RES_SKIP, ch + skip_ch[--nskip], co, res, nm);
            ch = co;
            if (attn) {
                snprintf(nm, sizeof nm, "up.%d.%d", l, k);
                attnblock(&b, ch, nm);
            }
        }
        if (l > 0) {
            snprintf(nm, sizeof nm, "up.%d.upconv", l);
            add_stage(&b, SD_ST_UP, 0, conv(&b, ch, ch, 3, 0, nm));
            res *= 2;
        }
    }

    /* Output. */
    m->out_norm = norm(&b, ch, "out.norm");
    if (c->stem == SIMDIFF_STEM_PATCH)
        m->out_conv = convT(&b, ch, C, c->stem_param, 1, "out.conv");
    else
        m->out_conv = conv(&b, ch, m->in_ch, 3, 1, "out.conv");

    /* The Wiener skip's data statistics per channel of the stem's domain
     * (m->in_ch: C * 4^L bands, or C pixels), last so that no other
     * parameter's index (and init stream) moves; set by
     * simdiff_model_fit_skip, never trained (no decay, no gradient). */
    m->skip_mean = m->skip_std = -1;
    if (c->wiener_skip) {
        const int64_t s[1] = {m->in_ch};
        m->skip_mean = param(&b, SD_INIT_ZERO, 0, 1, 1, s, "skip.mean");
        m->skip_std = param(&b, SD_INIT_ONE, 0, 1, 1, s, "skip.std");
    }

    return b.failed ? sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory building the model")
                    : SIMDIFF_OK;
}

simdiff_status sd_model_build_structure(simdiff_model **out, const simdiff_model_config *cfg)
{
    char msg[256];
    *out = NULL;
    simdiff_status st = simdiff_model_config_validate(cfg, msg, sizeof msg);
    if (st)
        return sd_fail(NULL, st, "invalid model config: %s", msg);
    simdiff_model *m = calloc(1, sizeof *m);
    if (!m)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->bf16_lock, NULL);
    atomic_init(&m->users, 0);
    atomic_init(&m->forward, 0);
    m->cfg = *cfg;
    m->cfg.struct_size = sizeof m->cfg;
    /* The struct's trailing padding (past the last field) is no field:
     * zero, whatever the caller's copy held there. */
    memset((char *)&m->cfg + sd_model_config_layout.size, 0,
           sizeof m->cfg - sd_model_config_layout.size);
    /* Level arrays beyond num_levels are not part of the config. */
    for (int l = cfg->num_levels; l < SIMDIFF_MAX_LEVELS; l++)
        m->cfg.level_channels[l] = m->cfg.level_blocks[l] = 0;
    st = build_structure(m);
    if (st) {
        simdiff_model_destroy(m);
        return st;
    }
    int64_t total = 0;
    for (int i = 0; i < m->nparams; i++)
        total += (m->params[i].numel + 15) & ~(int64_t)15; /* 64-byte aligned */
    m->total = total;
    *out = m;
    return SIMDIFF_OK;
}

simdiff_status sd_model_alloc_weights(simdiff_model *m)
{
    int64_t total = m->total;
    size_t bytes;
    if (sd_mul_size((size_t)(total ? total : 1), sizeof(float), &bytes) ||
        posix_memalign((void **)&m->data, 64, bytes)) {
        m->data = NULL;
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory for %lld weights",
                       (long long)total);
    }
    memset(m->data, 0, (size_t)total * sizeof(float));
    int64_t off = 0;
    for (int i = 0; i < m->nparams; i++) {
        sd_tensor *p = &m->params[i];
        int64_t shape[SD_MAX_DIMS];
        memcpy(shape, p->shape, sizeof shape); /* sd_param_init clears p */
        sd_param_init(p, m->pinfo[i].name, p->ndim, shape, m->data + off, NULL);
        off += (p->numel + 15) & ~(int64_t)15;
    }
    return SIMDIFF_OK;
}

simdiff_status sd_model_build(simdiff_model **out, const simdiff_model_config *cfg)
{
    simdiff_model *m;
    simdiff_status st = sd_model_build_structure(&m, cfg);
    if (!st && (st = sd_model_alloc_weights(m)))
        simdiff_model_destroy(m);
    *out = st ? NULL : m;
    return st;
}

simdiff_status sd_model_enable_grad(simdiff_model *m)
{
    if (m->grad)
        return SIMDIFF_OK;
    if (posix_memalign((void **)&m->grad, 64, (size_t)(m->total ? m->total : 1) * sizeof(float))) {
        m->grad = NULL;
        return sd_fail(&m->err, SIMDIFF_ERR_NOMEM, "out of memory for gradients");
    }
    memset(m->grad, 0, (size_t)m->total * sizeof(float));
    for (int i = 0; i < m->nparams; i++) {
        sd_tensor *p = &m->params[i];
        p->grad = m->grad + (p->data - m->data);
        p->flags |= SD_TF_REQUIRES_GRAD;
        p->flags &= ~SD_TF_GRAD_VALID;
    }
    return SIMDIFF_OK;
}

void sd_model_zero_grad(simdiff_model *m)
{
    for (int i = 0; i < m->nparams; i++)
        sd_param_zero_grad(&m->params[i]);
}

int sd_model_find_param(const simdiff_model *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->pinfo[i].name, name) == 0)
            return i;
    return -1;
}

/* Every parameter draws from its own Philox stream (seed, index), so the
 * weights do not depend on threads or on the other parameters' sizes. */
void sd_model_init_params(simdiff_model *m, uint64_t seed)
{
    for (int i = 0; i < m->nparams; i++) {
        sd_tensor *p = &m->params[i];
        const sd_pinfo *pi = &m->pinfo[i];
        size_t n = (size_t)p->numel;
        switch (pi->init) {
        case SD_INIT_ZERO:
            memset(p->data, 0, n * sizeof(float));
            break;
        case SD_INIT_ONE:
            for (size_t j = 0; j < n; j++)
                p->data[j] = 1.0f;
            break;
        case SD_INIT_FANIN: {
            float bound = 1.0f / sqrtf((float)(pi->fan_in > 0 ? pi->fan_in : 1));
            sd_rng_uniform(seed, (uint64_t)i, 0, n, p->data);
            for (size_t j = 0; j < n; j++)
                p->data[j] = (2.0f * p->data[j] - 1.0f) * bound;
            break;
        }
        case SD_INIT_NORMAL:
            sd_rng_normal(seed, (uint64_t)i, 0, n, p->data);
            for (size_t j = 0; j < n; j++)
                p->data[j] *= pi->std;
            break;
        }
    }
}
