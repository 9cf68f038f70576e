/* Private to lib/tensor/: the layout of sd_ctx. */
#ifndef SIMDIFF_LIB_TENSOR_INTERNAL_H
#define SIMDIFF_LIB_TENSOR_INTERNAL_H

#include "tensor/tensor.h"

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

    /* Gradient memory reuse during backward (tensor.c, run_tape): the
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
    uint64_t rng_seed, rng_step, rng_op;
    const atomic_int *cancel;

    simdiff_status status;
    sd_err msg;

    int prof_on;
    const char *prof_op; /* op whose forward interval is running */
    double prof_t0;
    sd_prof_entry prof[SD_PROF_MAX];
    int nprof;
};

void sd_prim_cache_free(sd_ctx *c);

#endif
