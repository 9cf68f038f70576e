/* The step arena and the scratch arena (bump allocators), temporaries
 * scopes, inference release, and the tensors made in them. See tensor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tensor/tensor_internal.h"

/* ---- arena ---------------------------------------------------------------- */
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
void sd_arena_reset(sd_arena *a)
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

void sd_arena_free_all(sd_arena *a)
{
    for (int i = 0; i < a->nblocks; i++)
        block_unmap(&a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

/* ---- allocation ----------------------------------------------------------- */
void *sd_alloc_in(sd_ctx *c, sd_arena *a, size_t bytes)
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
    return sd_alloc_in(c, c->in_bwd || c->tmp_depth ? &c->scratch : &c->arena, bytes);
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
void sd_arena_rewind(sd_arena *a)
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

/* ---- tensors in the arena ------------------------------------------------- */
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
