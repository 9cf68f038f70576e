/* Private to lib/tensor/: the layout of sd_ctx and the functions its files
 * (arena.c, ctx.c, grad.c, profile.c, tape.c, prim.c) share. */
#ifndef SIMDIFF_LIB_TENSOR_INTERNAL_H
#define SIMDIFF_LIB_TENSOR_INTERNAL_H

#include "tensor/tensor.h"

/* Alignment of every arena allocation (bytes). */
#define SD_ALIGN 64

typedef struct sd_arena_block {
    char *base;
    size_t cap, used;
} sd_arena_block;

typedef struct sd_arena {
    sd_arena_block *blocks;
    int nblocks, capblocks, cur;
    size_t used, peak;
} sd_arena;

typedef struct sd_prim_entry {
    uint64_t hash;
    int nthr; /* OpenMP threads when created (part of the key) */
    void *key; /* malloc'd copy */
    size_t keylen;
    sd_prim prim;
} sd_prim_entry;

enum { SD_PROF_MAX = 64 };
typedef struct sd_prof_entry {
    const char *op; /* static string from the op */
    double fwd, bwd; /* seconds */
    int64_t nfwd, nbwd;
} sd_prof_entry;

/* A free piece of step-arena memory that held an activation gradient. */
enum { SD_GPOOL_MAX = 1024 };
typedef struct sd_gblock {
    char *p;
    size_t bytes; /* a multiple of SD_ALIGN */
} sd_gblock;

struct sd_ctx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_attr_t attr; /* user scratchpad */

    sd_arena arena;
    /* Temporaries of one node's backward (reordered buffers, per-chunk
     * scores, ...): sd_alloc serves them from here while in_bwd is set,
     * and run_tape rewinds it after every node. Gradients stay in arena. */
    sd_arena scratch;
    int in_bwd, tmp_depth;
    sd_node **tape; /* arena array */
    int ntape, captape;

    /* Gradient memory reuse during backward (grad.c; tape.c, run_tape): the
     * gradient of a node's output is dead once that node's backward has
     * run; its buffer goes here and serves later gradients of the same
     * step. Emptied with the arena. */
    sd_gblock gpool[SD_GPOOL_MAX];
    int ngpool;
    size_t gpool_reused; /* bytes served from the pool (tests, profiles) */

    sd_prim_entry **table; /* open addressing, power-of-two capacity */
    size_t tcap, tcount;
    int64_t prims_created;
    double flops;
    void *scratch_buf; /* shared user scratchpad, max over primitives */
    size_t scratch_cap;

    int grad, training, release_acts;
    sd_precision prec;
    const float *w32;     /* sd_ctx_set_bf16_weights: base, count, copy */
    int64_t nw32;
    const uint16_t *w16;
    uint64_t rng_seed, rng_step, rng_op;
    int64_t rng_first, rng_batch; /* sd_ctx_set_rng_batch (0, 0: none) */
    const atomic_int *cancel;

    simdiff_status status;
    sd_err msg;

    int prof_on;
    const char *prof_op; /* op whose forward interval is running */
    double prof_t0;
    sd_prof_entry prof[SD_PROF_MAX];
    int nprof;
};

/* arena.c */
void sd_arena_reset(sd_arena *a);     /* empty; coalesce into one block  */
void sd_arena_rewind(sd_arena *a);    /* empty; keep the blocks as they are */
void sd_arena_free_all(sd_arena *a);
/* bytes from arena a of c (NULL and the status set on failure). */
void *sd_alloc_in(sd_ctx *c, sd_arena *a, size_t bytes);

/* grad.c: give a dead gradient (or activation) buffer to the pool. */
void sd_grad_put(sd_ctx *c, float *p, int64_t numel);

/* profile.c */
double sd_mono(void); /* seconds, monotonic clock */
/* op's entry (created on first use); NULL when the table is full. */
sd_prof_entry *sd_prof_entry_get(sd_ctx *c, const char *op);
/* Start op's forward interval (ends the running one). */
void sd_prof_start(sd_ctx *c, const char *op);

/* prim.c */
void sd_prim_cache_free(sd_ctx *c);

#endif
