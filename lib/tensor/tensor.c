/* The compute runtime: context, arena, tape and backward. See tensor.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "tensor/tensor_internal.h"

static void prof_start(sd_ctx *c, const char *op);

/* ---- arena ---------------------------------------------------------------- */
#define SD_ALIGN 64
#define SD_ARENA_MIN_BLOCK ((size_t)4 << 20)

/* Blocks come straight from mmap (page-aligned, so SD_ALIGN holds), and
 * freeing one gives its pages back at once. Through malloc, a block below
 * glibc's mmap threshold -- which rises to up to 32 MiB once the process
 * frees a large buffer, e.g. after reading a model file -- lands on the
 * heap and stays resident after arena_reset frees it: the process then
 * held the first step's blocks *and* the coalesced block, twice the step's
 * peak (bench/simdiff_bench.c mem, docs/performance.md). */
static void *block_map(size_t cap)
{
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void block_unmap(sd_arena_block *b)
{
    if (b->base)
        munmap(b->base, b->cap);
    b->base = NULL;
}

static void arena_free_all(sd_arena *a)
{
    for (int i = 0; i < a->nblocks; i++)
        block_unmap(&a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

static int arena_add_block(sd_arena *a, size_t cap)
{
    if (a->nblocks == a->capblocks) {
        int nc = a->capblocks ? 2 * a->capblocks : 8;
        sd_arena_block *nb = realloc(a->blocks, (size_t)nc * sizeof *nb);
        if (!nb)
            return -1;
        a->blocks = nb;
        a->capblocks = nc;
    }
    void *p = block_map(cap);
    if (!p)
        return -1;
    a->blocks[a->nblocks].base = p;
    a->blocks[a->nblocks].cap = cap;
    a->blocks[a->nblocks].used = 0;
    a->nblocks++;
    return 0;
}

static void *arena_alloc(sd_arena *a, size_t bytes)
{
    size_t need;
    if (sd_add_size(bytes, SD_ALIGN - 1, &need))
        return NULL;
    need &= ~(size_t)(SD_ALIGN - 1);
    if (need == 0)
        need = SD_ALIGN;
    sd_arena_block *b = a->nblocks ? &a->blocks[a->cur] : NULL;
    while (b && b->cap - b->used < need) {
        /* Later blocks exist only after a reset kept them; try the next. */
        if (a->cur + 1 < a->nblocks) {
            b = &a->blocks[++a->cur];
            continue;
        }
        b = NULL;
    }
    if (!b) {
        size_t cap = need > SD_ARENA_MIN_BLOCK ? need : SD_ARENA_MIN_BLOCK;
        if (arena_add_block(a, cap) != 0)
            return NULL;
        a->cur = a->nblocks - 1;
        b = &a->blocks[a->cur];
    }
    void *p = b->base + b->used;
    b->used += need;
    a->used += need;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

/* Reset: when the last step needed several blocks, replace them with one
 * block big enough for the whole step, so the next step never allocates. */
static void arena_reset(sd_arena *a)
{
    if (a->nblocks > 1) {
        size_t total = a->peak;
        for (int i = 0; i < a->nblocks; i++)
            block_unmap(&a->blocks[i]);
        a->nblocks = 0;
        if (arena_add_block(a, total + total / 8) != 0) {
            /* Keep going without a block; the next alloc will retry. */
        }
    }
    for (int i = 0; i < a->nblocks; i++)
        a->blocks[i].used = 0;
    a->cur = 0;
    a->used = 0;
}

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
        return sd_fail(NULL, SIMDIFF_ERR_BACKEND,
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
    arena_free_all(&c->arena);
    arena_free_all(&c->scratch);
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
    arena_reset(&c->arena);
    arena_reset(&c->scratch);
    c->in_bwd = c->tmp_depth = 0;
    c->ngpool = 0;
    c->tape = NULL;
    c->ntape = c->captape = 0;
    c->status = SIMDIFF_OK;
    c->msg.msg[0] = 0;
    c->rng_op = 0;
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

void sd_ctx_set_rng(sd_ctx *c, uint64_t seed, uint64_t step)
{
    c->rng_seed = seed;
    c->rng_step = step;
    c->rng_op = 0;
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

/* ---- tensors -------------------------------------------------------------- */
static void *alloc_in(sd_ctx *c, sd_arena *a, size_t bytes)
{
    if (c->status != SIMDIFF_OK)
        return NULL;
    void *p = arena_alloc(a, bytes);
    if (!p)
        return sd_ctx_fail(c, SIMDIFF_ERR_NOMEM,
                           "out of memory: step arena needs %zu more bytes "
                           "(%zu in use)",
                           bytes, c->arena.used + c->scratch.used);
    return p;
}

/* During a node's backward everything but gradients is a temporary of that
 * node (see run_tape). */
void *sd_alloc(sd_ctx *c, size_t bytes)
{
    return alloc_in(c, c->in_bwd || c->tmp_depth ? &c->scratch : &c->arena, bytes);
}

sd_tmp sd_tmp_begin(sd_ctx *c)
{
    const sd_arena *a = &c->scratch;
    sd_tmp t = {a->cur, a->nblocks ? a->blocks[a->cur].used : 0, a->used};
    c->tmp_depth++;
    return t;
}

void sd_tmp_end(sd_ctx *c, sd_tmp t)
{
    sd_arena *a = &c->scratch;
    for (int k = t.block; k < a->nblocks; k++)
        a->blocks[k].used = k == t.block ? t.used : 0;
    a->cur = a->nblocks ? t.block : 0;
    a->used = t.total;
    if (c->tmp_depth > 0)
        c->tmp_depth--;
}

/* All blocks empty, kept for the next node (coalesced at the reset). */
static void arena_rewind(sd_arena *a)
{
    for (int i = 0; i < a->nblocks; i++)
        a->blocks[i].used = 0;
    a->cur = 0;
    a->used = 0;
}

sd_mark sd_arena_mark(const sd_ctx *c)
{
    sd_mark m;
    m.block = c->arena.cur;
    m.used = c->arena.nblocks ? c->arena.blocks[c->arena.cur].used : 0;
    m.total = c->arena.used;
    return m;
}

/* Empty a block after the mark. Only the first pass of a shape has such
 * blocks (the arena coalesces into one block at the next reset): give
 * their pages back, so that the process's peak follows the arena's peak
 * instead of every block ever touched. */
static void arena_block_drop(sd_arena_block *b)
{
    if (b->used)
        madvise(b->base, b->cap, MADV_DONTNEED);
    b->used = 0;
}

/* Move keep (header + data, anywhere after the mark) to `dst` in block db
 * (db >= mark.block; dst = mark.used if db is the mark's block, else 0),
 * free everything else after the mark, and make db the current block. The
 * header is copied first and the data moved before the header is written,
 * so any overlap with the old place is safe; blocks are emptied only after
 * the move. */
static sd_tensor *arena_move_keep(sd_arena *a, sd_tensor *keep, sd_mark mark, int db,
                                  size_t dst)
{
    size_t hsz = (sizeof(sd_tensor) + SD_ALIGN - 1) & ~(size_t)(SD_ALIGN - 1);
    size_t dsz = ((size_t)keep->numel * sizeof(float) + SD_ALIGN - 1) & ~(size_t)(SD_ALIGN - 1);
    sd_tensor hdr = *keep;
    char *base = a->blocks[db].base + dst;
    memmove(base + hsz, keep->data, (size_t)keep->numel * sizeof(float));
    sd_tensor *nt = (sd_tensor *)base;
    *nt = hdr;
    nt->data = (float *)(base + hsz);
    a->blocks[db].used = dst + hsz + (dsz ? dsz : SD_ALIGN);
    if (db > mark.block)
        a->blocks[mark.block].used = mark.used;
    for (int k = mark.block + 1; k < a->nblocks; k++)
        if (k != db)
            arena_block_drop(&a->blocks[k]);
    a->cur = db;
    size_t used = 0;
    for (int k = 0; k < a->nblocks; k++)
        used += a->blocks[k].used;
    a->used = used;
    return nt;
}

static int arena_block_of(const sd_arena *a, const void *p)
{
    for (int k = 0; k < a->nblocks; k++)
        if ((const char *)p >= a->blocks[k].base &&
            (const char *)p < a->blocks[k].base + a->blocks[k].used)
            return k;
    return -1;
}

/* Was p allocated after the mark (in the mark's block past mark.used, or in
 * a later block)? */
static int after_mark(const sd_arena *a, sd_mark mark, const void *p)
{
    int k = arena_block_of(a, p);
    return k > mark.block ||
           (k == mark.block && (const char *)p >= a->blocks[k].base + mark.used);
}

sd_tensor *sd_arena_release(sd_ctx *c, sd_mark mark, sd_tensor *keep)
{
    sd_arena *a = &c->arena;
    if (!keep || c->grad || c->status != SIMDIFF_OK || a->nblocks == 0 ||
        mark.block >= a->nblocks)
        return keep;
    /* keep's header and data must both come after the mark. */
    if (!after_mark(a, mark, keep) || !after_mark(a, mark, keep->data))
        return keep;
    /* Where keep goes: right at the mark if it fits there (always, once the
     * arena coalesced into one block); else -- the first pass of a shape,
     * which spilled into new blocks, maybe with the header in one and the
     * data in another -- at the start of the first later block that can
     * hold it, or of a new block. Everything else after the mark is freed:
     * without this the first pass of a batch-128 evaluation of the bundled
     * model peaked at 1.1 GiB instead of ~0.2 GiB. */
    size_t hsz = (sizeof(sd_tensor) + SD_ALIGN - 1) & ~(size_t)(SD_ALIGN - 1);
    size_t need = hsz + (((size_t)keep->numel * sizeof(float) + SD_ALIGN - 1) &
                         ~(size_t)(SD_ALIGN - 1));
    int db = -1;
    size_t dst = 0;
    if (a->blocks[mark.block].cap - mark.used >= need) {
        db = mark.block;
        dst = mark.used;
    }
    for (int k = mark.block + 1; db < 0 && k < a->nblocks; k++)
        if (a->blocks[k].cap >= need)
            db = k;
    if (db < 0) {
        /* Before anything is freed: on failure keep stays where it is. */
        if (arena_add_block(a, need > SD_ARENA_MIN_BLOCK ? need : SD_ARENA_MIN_BLOCK) != 0)
            return keep;
        db = a->nblocks - 1;
    }
    return arena_move_keep(a, keep, mark, db, dst);
}

int sd_tensor_init(sd_tensor *t, int ndim, const int64_t *shape, float *data)
{
    if (ndim < 0 || ndim > SD_MAX_DIMS)
        return -1;
    memset(t, 0, sizeof *t);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i], &n) ||
            n > ((int64_t)1 << 40))
            return -1;
        t->shape[i] = shape[i];
    }
    t->ndim = ndim;
    t->numel = n;
    t->data = data;
    return 0;
}

static sd_tensor *new_header(sd_ctx *c, int ndim, const int64_t *shape)
{
    sd_tensor *t = sd_alloc(c, sizeof *t);
    if (!t)
        return NULL;
    if (sd_tensor_init(t, ndim, shape, NULL) != 0)
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "bad tensor shape (ndim %d)", ndim);
    return t;
}

sd_tensor *sd_new(sd_ctx *c, int ndim, const int64_t *shape)
{
    sd_tensor *t = new_header(c, ndim, shape);
    if (!t)
        return NULL;
    t->data = sd_alloc(c, (size_t)t->numel * sizeof(float));
    if (!c->in_bwd && !c->tmp_depth)
        t->flags |= SD_TF_OWNS_DATA; /* (not a temporary) */
    return t->data ? t : NULL;
}

sd_tensor *sd_new4(sd_ctx *c, int64_t n, int64_t ch, int64_t h, int64_t w)
{
    const int64_t shape[4] = {n, ch, h, w};
    return sd_new(c, 4, shape);
}

sd_tensor *sd_zeros(sd_ctx *c, int ndim, const int64_t *shape)
{
    sd_tensor *t = sd_new(c, ndim, shape);
    if (t)
        memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}

sd_tensor *sd_wrap(sd_ctx *c, int ndim, const int64_t *shape, float *data)
{
    sd_tensor *t = new_header(c, ndim, shape);
    if (t)
        t->data = data;
    return t;
}

sd_tensor *sd_copy_in(sd_ctx *c, int ndim, const int64_t *shape,
                      const float *data)
{
    sd_tensor *t = sd_new(c, ndim, shape);
    if (t)
        memcpy(t->data, data, (size_t)t->numel * sizeof(float));
    return t;
}

int sd_same_shape(const sd_tensor *a, const sd_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

const char *sd_shape_str(const sd_tensor *t, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? "x%lld" : "%lld",
                                (long long)t->shape[i]);
    if (t->ndim == 0)
        snprintf(buf, cap, "scalar");
    return buf;
}

int sd_op_begin(sd_ctx *c, const char *op, int nin, const sd_tensor *const *in)
{
    if (c->status != SIMDIFF_OK)
        return 0;
    if (c->prof_on)
        prof_start(c, op);
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

/* ---- profile -------------------------------------------------------------- */
static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sd_prof_entry *prof_entry(sd_ctx *c, const char *op)
{
    for (int i = 0; i < c->nprof; i++)
        if (c->prof[i].op == op || !strcmp(c->prof[i].op, op))
            return &c->prof[i];
    if (c->nprof == SD_PROF_MAX)
        return NULL;
    sd_prof_entry *e = &c->prof[c->nprof++];
    memset(e, 0, sizeof *e);
    e->op = op;
    return e;
}

void sd_ctx_set_profile(sd_ctx *c, int on)
{
    c->prof_on = on != 0;
    c->prof_op = NULL;
}

void sd_ctx_profile_reset(sd_ctx *c)
{
    c->nprof = 0;
    c->prof_op = NULL;
}

void sd_ctx_profile_mark(sd_ctx *c)
{
    if (!c->prof_on)
        return;
    double t = mono();
    if (c->prof_op) {
        sd_prof_entry *e = prof_entry(c, c->prof_op);
        if (e) {
            e->fwd += t - c->prof_t0;
            e->nfwd++;
        }
    }
    c->prof_op = NULL;
    c->prof_t0 = t;
}

static void prof_start(sd_ctx *c, const char *op)
{
    sd_ctx_profile_mark(c);
    c->prof_op = op;
}

static int prof_cmp(const void *a, const void *b)
{
    const sd_prof_entry *x = a, *y = b;
    double tx = x->fwd + x->bwd, ty = y->fwd + y->bwd;
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

size_t sd_ctx_profile_report(const sd_ctx *c, char *buf, size_t cap)
{
    sd_prof_entry e[SD_PROF_MAX];
    int n = c->nprof;
    memcpy(e, c->prof, (size_t)n * sizeof *e);
    qsort(e, (size_t)n, sizeof *e, prof_cmp);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += e[i].fwd + e[i].bwd;
    size_t off = 0;
    int k = snprintf(buf, cap, "%-18s %10s %10s %8s %8s %6s\n", "op", "fwd ms", "bwd ms",
                     "n fwd", "n bwd", "share");
    off = k > 0 ? (size_t)k : 0;
    for (int i = 0; i < n && off < cap; i++) {
        k = snprintf(buf + off, cap - off, "%-18s %10.2f %10.2f %8lld %8lld %5.1f%%\n", e[i].op,
                     e[i].fwd * 1e3, e[i].bwd * 1e3, (long long)e[i].nfwd, (long long)e[i].nbwd,
                     total > 0 ? 100 * (e[i].fwd + e[i].bwd) / total : 0);
        if (k > 0)
            off += (size_t)k;
    }
    return off;
}

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
        return alloc_in(c, &c->arena, bytes); /* gradients outlive the node */
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
static void grad_put(sd_ctx *c, float *p, int64_t numel)
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
    grad_put(c, buf, n);
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
        double t0 = c->prof_on ? mono() : 0;
        c->in_bwd = 1;
        n->backward(c, n);
        c->in_bwd = 0;
        arena_rewind(&c->scratch);
        sd_tensor *o = n->out;
        if (!(o->flags & SD_TF_PARAM)) { /* dead now: see grad_take */
            grad_put(c, o->grad, o->numel);
            o->grad = NULL;
            o->flags &= ~SD_TF_GRAD_VALID;
            /* Its value too, if the caller allows: every reader (the
             * consumers' backward, reshape views of it included, and this
             * node's) has run. */
            if (c->release_acts && (o->flags & SD_TF_OWNS_DATA)) {
                grad_put(c, o->data, o->numel);
                o->data = NULL;
                o->flags &= ~SD_TF_OWNS_DATA;
            }
        }
        if (c->prof_on) {
            sd_prof_entry *e = prof_entry(c, n->op);
            if (e) {
                e->bwd += mono() - t0;
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
