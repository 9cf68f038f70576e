/* Compute contexts: creation, reset, the sticky status, settings and
 * statistics, and the check every op starts with. See tensor.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor_internal.h"

/* ---- context -------------------------------------------------------------- */
simdiff_status sd_ctx_create(sd_ctx **out)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_ctx_create: out is NULL");
    *out = NULL;
    sd_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory creating a context");
    dnnl_status_t st = dnnl_engine_create(&c->engine, dnnl_cpu, 0);
    if (st == dnnl_success)
        st = dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_create(&c->attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(c->attr,
                                                     dnnl_scratchpad_mode_user);
    const char *pe = getenv("SIMDIFF_PROFILE");
    c->prof_on = pe && pe[0] == '1';
    if (st != dnnl_success) {
        sd_ctx_destroy(c);
        return sd_fail(NULL, st == dnnl_out_of_memory ? SIMDIFF_ERR_NOMEM : SIMDIFF_ERR_BACKEND,
                       "oneDNN: cannot create a CPU engine/stream (status %d)",
                       (int)st);
    }
    *out = c;
    return SIMDIFF_OK;
}

void sd_ctx_destroy(sd_ctx *c)
{
    if (!c)
        return;
    sd_prim_cache_free(c);
    sd_arena_free_all(&c->arena);
    sd_arena_free_all(&c->scratch);
    free(c->scratch_buf);
    if (c->attr)
        dnnl_primitive_attr_destroy(c->attr);
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    if (c->engine)
        dnnl_engine_destroy(c->engine);
    free(c);
}

void sd_ctx_reset(sd_ctx *c)
{
    sd_arena_reset(&c->arena);
    sd_arena_reset(&c->scratch);
    c->in_bwd = c->tmp_depth = 0;
    c->ngpool = 0;
    c->tape = NULL;
    c->ntape = c->captape = 0;
    c->status = SIMDIFF_OK;
    c->msg.msg[0] = 0;
    c->rng_op = 0;
    c->rng_first = c->rng_batch = 0;
}

simdiff_status sd_ctx_status(const sd_ctx *c) { return c->status; }
const char *sd_ctx_errmsg(const sd_ctx *c) { return c->msg.msg; }

void *sd_ctx_fail(sd_ctx *c, simdiff_status s, const char *fmt, ...)
{
    if (c->status != SIMDIFF_OK)
        return NULL; /* the first failure is the one worth reporting */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg.msg, sizeof c->msg.msg, fmt, ap);
    va_end(ap);
    c->status = s;
    sd_fail(NULL, s, "%s", c->msg.msg);
    return NULL;
}

void sd_ctx_set_grad(sd_ctx *c, int enabled) { c->grad = enabled != 0; }
int sd_ctx_grad(const sd_ctx *c) { return c->grad; }
void sd_ctx_set_training(sd_ctx *c, int on) { c->training = on != 0; }
void sd_ctx_set_release_activations(sd_ctx *c, int on) { c->release_acts = on != 0; }
int sd_ctx_training(const sd_ctx *c) { return c->training; }
void sd_ctx_set_precision(sd_ctx *c, sd_precision p) { c->prec = p; }
sd_precision sd_ctx_precision(const sd_ctx *c) { return c->prec; }

void sd_ctx_set_rng(sd_ctx *c, uint64_t seed, uint64_t step)
{
    c->rng_seed = seed;
    c->rng_step = step;
    c->rng_op = 0;
    c->rng_first = c->rng_batch = 0;
}

void sd_ctx_set_rng_batch(sd_ctx *c, int64_t first, int64_t batch)
{
    c->rng_first = first;
    c->rng_batch = batch;
}

uint64_t sd_ctx_rng_offset(const sd_ctx *c, const sd_tensor *x)
{
    if (c->rng_first <= 0 || c->rng_batch <= 0)
        return 0;
    return (uint64_t)(x->numel / c->rng_batch) * (uint64_t)c->rng_first;
}

uint64_t sd_ctx_next_rng_stream(sd_ctx *c, uint64_t *seed)
{
    *seed = c->rng_seed;
    /* 40 bits of step, 24 bits of op index within the step. */
    return (c->rng_step << 24) ^ (c->rng_op++ & 0xffffff);
}

void sd_ctx_set_cancel_flag(sd_ctx *c, const atomic_int *flag) { c->cancel = flag; }

int64_t sd_ctx_primitives_created(const sd_ctx *c) { return c->prims_created; }
void sd_ctx_add_flops(sd_ctx *c, double flops) { c->flops += flops; }
double sd_ctx_flops(const sd_ctx *c) { return c->flops; }
size_t sd_ctx_arena_peak(const sd_ctx *c) { return c->arena.peak + c->scratch.peak; }
size_t sd_ctx_arena_used(const sd_ctx *c) { return c->arena.used + c->scratch.used; }
dnnl_engine_t sd_ctx_engine(sd_ctx *c) { return c->engine; }
const_dnnl_primitive_attr_t sd_ctx_attr(sd_ctx *c) { return c->attr; }

int sd_op_begin(sd_ctx *c, const char *op, int nin, const sd_tensor *const *in)
{
    if (c->status != SIMDIFF_OK)
        return 0;
    if (c->prof_on)
        sd_prof_start(c, op);
    if (c->cancel && atomic_load_explicit(c->cancel, memory_order_relaxed)) {
        sd_ctx_fail(c, SIMDIFF_ERR_CANCELLED, "cancelled (before %s)", op);
        return 0;
    }
    for (int i = 0; i < nin; i++)
        if (!in[i]) {
            sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL, "%s: input %d is NULL", op, i);
            return 0;
        }
    return 1;
}
