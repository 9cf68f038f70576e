/* Gradient buffers and their reuse within a backward pass. See tensor.h. */
#include <string.h>

#include "tensor/tensor_internal.h"

/* ---- gradient memory -----------------------------------------------------
 * Activation gradients live in the step arena. The backward pass visits the
 * tape in reverse; once node k's backward has run, the gradient of its
 * output is dead (every consumer's backward ran before, the producer's just
 * now), so its buffer returns to a pool (c->gpool) and serves the next
 * gradient that fits (best fit; the rest of a larger piece stays in the
 * pool). The same for the temporary buffers of sd_grad_begin/end. This
 * bounds the backward pass's extra memory by the live gradients instead of
 * all of them. Parameters' gradients are their own slabs, never pooled. */
static size_t grad_bytes(int64_t numel)
{
    return ((size_t)numel * sizeof(float) + SD_ALIGN - 1) & ~(size_t)(SD_ALIGN - 1);
}

static float *grad_take(sd_ctx *c, int64_t numel)
{
    const size_t bytes = grad_bytes(numel);
    int best = -1;
    for (int i = 0; i < c->ngpool; i++)
        if (c->gpool[i].bytes >= bytes && (best < 0 || c->gpool[i].bytes < c->gpool[best].bytes))
            best = i;
    if (best < 0)
        return sd_alloc_in(c, &c->arena, bytes); /* gradients outlive the node */
    sd_gblock *b = &c->gpool[best];
    char *p = b->p;
    if (b->bytes - bytes >= 4096) { /* keep the rest */
        b->p += bytes;
        b->bytes -= bytes;
    } else {
        *b = c->gpool[--c->ngpool];
    }
    c->gpool_reused += bytes;
    return (float *)p;
}

/* A full pool drops the piece: it stays in the arena until the reset. */
void sd_grad_put(sd_ctx *c, float *p, int64_t numel)
{
    if (p && c->ngpool < SD_GPOOL_MAX)
        c->gpool[c->ngpool++] = (sd_gblock){(char *)p, grad_bytes(numel)};
}

size_t sd_ctx_grad_reused(const sd_ctx *c) { return c->gpool_reused; }

static float *ensure_grad(sd_ctx *c, sd_tensor *t)
{
    if (!t->grad) {
        if (t->flags & SD_TF_PARAM)
            return sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL,
                               "parameter %s has no gradient buffer",
                               t->name ? t->name : "?");
        t->grad = grad_take(c, t->numel);
    }
    return t->grad;
}

float *sd_grad_begin(sd_ctx *c, sd_tensor *t)
{
    if (!(t->flags & SD_TF_GRAD_VALID)) {
        float *g = ensure_grad(c, t);
        if (g)
            t->flags |= SD_TF_GRAD_VALID;
        return g;
    }
    return grad_take(c, t->numel);
}

void sd_grad_end(sd_ctx *c, sd_tensor *t, float *buf)
{
    if (!buf || buf == t->grad)
        return;
    float *g = t->grad;
    int64_t n = t->numel;
#pragma omp parallel for if (n > SD_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        g[i] += buf[i];
    sd_grad_put(c, buf, n);
}

float *sd_grad_acc(sd_ctx *c, sd_tensor *t)
{
    if (!(t->flags & SD_TF_GRAD_VALID)) {
        float *g = ensure_grad(c, t);
        if (!g)
            return NULL;
        memset(g, 0, (size_t)t->numel * sizeof(float));
        t->flags |= SD_TF_GRAD_VALID;
    }
    return t->grad;
}
