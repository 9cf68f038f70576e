/* The tape: recording op nodes and replaying them backward. See tensor.h. */
#include <string.h>

#include "tensor/tensor_internal.h"

/* ---- tape ----------------------------------------------------------------- */
sd_node *sd_record(sd_ctx *c, const char *op, sd_backward_fn fn,
                   sd_tensor *out, int nin, sd_tensor *const *in)
{
    if (!c->grad || c->status != SIMDIFF_OK)
        return NULL;
    int any = 0;
    for (int i = 0; i < nin; i++)
        any |= sd_needs_grad(in[i]);
    if (!any)
        return NULL;
    if (nin > SD_NODE_MAX_IN)
        return sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL, "%s: too many inputs", op);
    if (c->ntape == c->captape) {
        /* The tape is an array of node pointers in the arena; growing it
         * copies the pointers into a bigger arena array. */
        int ncap = c->captape ? 2 * c->captape : 256;
        sd_node **nt = sd_alloc(c, (size_t)ncap * sizeof *nt);
        if (!nt)
            return NULL;
        if (c->ntape)
            memcpy(nt, c->tape, (size_t)c->ntape * sizeof *nt);
        c->tape = nt;
        c->captape = ncap;
    }
    sd_node *n = sd_alloc(c, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->op = op;
    n->backward = fn;
    n->out = out;
    n->nin = nin;
    for (int i = 0; i < nin; i++)
        n->in[i] = in[i];
    out->flags |= SD_TF_REQUIRES_GRAD;
    c->tape[c->ntape++] = n;
    return n;
}

static simdiff_status run_tape(sd_ctx *c)
{
    sd_ctx_profile_mark(c);
    for (int k = c->ntape - 1; k >= 0; k--) {
        sd_node *n = c->tape[k];
        if (!(n->out->flags & SD_TF_GRAD_VALID))
            continue; /* nothing flowed into this output: zero gradient */
        if (c->cancel && atomic_load_explicit(c->cancel, memory_order_relaxed)) {
            sd_ctx_fail(c, SIMDIFF_ERR_CANCELLED, "cancelled (backward of %s)",
                        n->op);
            break;
        }
        double t0 = c->prof_on ? sd_mono() : 0;
        c->in_bwd = 1;
        n->backward(c, n);
        c->in_bwd = 0;
        sd_arena_rewind(&c->scratch);
        sd_tensor *o = n->out;
        if (!(o->flags & SD_TF_PARAM)) { /* dead now: see grad_take */
            sd_grad_put(c, o->grad, o->numel);
            o->grad = NULL;
            o->flags &= ~SD_TF_GRAD_VALID;
            /* Its value too, if the caller allows: every reader (the
             * consumers' backward, reshape views of it included, and this
             * node's) has run. */
            if (c->release_acts && (o->flags & SD_TF_OWNS_DATA)) {
                sd_grad_put(c, o->data, o->numel);
                o->data = NULL;
                o->flags &= ~SD_TF_OWNS_DATA;
            }
        }
        if (c->prof_on) {
            sd_prof_entry *e = sd_prof_entry_get(c, n->op);
            if (e) {
                e->bwd += sd_mono() - t0;
                e->nbwd++;
            }
        }
        if (c->status != SIMDIFF_OK)
            break;
    }
    return c->status;
}

simdiff_status sd_backward_seed(sd_ctx *c, sd_tensor *t, const float *dt)
{
    if (c->status != SIMDIFF_OK)
        return c->status;
    if (!t || !dt) {
        sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL, "backward: NULL tensor or seed");
        return c->status;
    }
    if (!sd_needs_grad(t))
        return SIMDIFF_OK; /* nothing depends on a parameter */
    float *g = sd_grad_acc(c, t);
    if (!g)
        return c->status;
    for (int64_t i = 0; i < t->numel; i++)
        g[i] += dt[i];
    return run_tape(c);
}

simdiff_status sd_backward(sd_ctx *c, sd_tensor *loss)
{
    if (c->status == SIMDIFF_OK && (!loss || loss->numel != 1))
        sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL, "backward needs a scalar loss");
    const float one = 1.0f;
    return sd_backward_seed(c, loss, &one);
}

void sd_param_init(sd_tensor *p, const char *name, int ndim,
                   const int64_t *shape, float *data, float *grad)
{
    sd_tensor_init(p, ndim, shape, data);
    p->grad = grad;
    p->name = name;
    p->flags = SD_TF_PARAM | (grad ? SD_TF_REQUIRES_GRAD : 0);
}

void sd_param_zero_grad(sd_tensor *p) { p->flags &= ~SD_TF_GRAD_VALID; }
