/*
 * The compute runtime under every model (internal, not API).
 *
 * Dimension legend used in shape comments across lib/:
 *   N = batch, C = channels, H/W = height/width, T = tokens, D = width of a
 *   token, K = kernel size, G = groups, B = batch of matrices.
 *
 * The pieces, each in one place:
 *   sd_tensor   a float32 array with a shape (row-major, NCHW for images);
 *               data and grad are plain pointers.
 *   sd_ctx      one per thread of work: the oneDNN engine and stream, the
 *               step and scratch arenas, the tape, the primitive cache, a
 *               sticky status.
 *   arena       bump allocator for everything that lives for one step
 *               (activations, gradients of activations, tape nodes). It grows
 *               in blocks during the first step and coalesces into one block
 *               on reset, so later steps of the same shapes never call malloc.
 *               A second, scratch arena of the same kind holds op
 *               temporaries (sd_tmp_begin/end, and every backward node's).
 *   tape        when grad is enabled, each op that touches a tensor needing a
 *               gradient records a node {backward fn, inputs, output, saved
 *               params}; sd_backward() replays the nodes in reverse order.
 *               Skips, shared weights and sums of losses need no special case:
 *               gradients accumulate into whatever tensor is used twice.
 *   prim cache  oneDNN primitives keyed by (op, shapes, flags) bytes, created
 *               once per ctx and reused; memory objects are cached too and
 *               only get their data handle set per call.
 *
 * Error model: ops return sd_tensor* and NULL on failure. The first failure
 * sets the ctx's sticky status and message; every later op returns NULL at
 * once, so model code chains ops and checks sd_ctx_status() once at the end.
 * A cancel flag is polled at the start of every op (cancellation takes
 * effect within one layer).
 */
#ifndef SIMDIFF_LIB_TENSOR_H
#define SIMDIFF_LIB_TENSOR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "core/internal.h"

#define SD_MAX_DIMS 6

enum {
    SD_TF_REQUIRES_GRAD = 1u << 0, /* a gradient must flow into this tensor */
    SD_TF_PARAM = 1u << 1,         /* persistent (model-owned) data and grad */
    SD_TF_GRAD_VALID = 1u << 2,    /* grad holds a value (else: zero)        */
    SD_TF_OWNS_DATA = 1u << 3,     /* data is its own step-arena buffer      */
};

typedef struct sd_tensor {
    float *data;                 /* numel floats, row-major                 */
    float *grad;                 /* numel floats or NULL (see GRAD_VALID)    */
    int64_t shape[SD_MAX_DIMS];  /* shape[0..ndim-1]                         */
    int ndim;
    int64_t numel;
    uint32_t flags;
    const char *name;            /* parameters: their name in model files    */
} sd_tensor;

typedef struct sd_ctx sd_ctx;

/* ---- context ------------------------------------------------------------ */
simdiff_status sd_ctx_create(sd_ctx **out);
void sd_ctx_destroy(sd_ctx *c);
/* End of a step: forget the tape and every arena tensor (pointers to them
 * become invalid), keep the primitive cache, clear the sticky status. */
void sd_ctx_reset(sd_ctx *c);

/* Sticky status: SIMDIFF_OK until an op fails; the message is in
 * sd_ctx_errmsg() (and the thread's simdiff_last_error()). */
simdiff_status sd_ctx_status(const sd_ctx *c);
const char *sd_ctx_errmsg(const sd_ctx *c);
/* Record a failure on the ctx (first one wins). Returns NULL so that ops can
 * `return sd_ctx_fail(c, ...)`. */
void *sd_ctx_fail(sd_ctx *c, simdiff_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void sd_ctx_set_grad(sd_ctx *c, int enabled); /* record the tape?  (default 0) */
int sd_ctx_grad(const sd_ctx *c);
void sd_ctx_set_training(sd_ctx *c, int on);  /* dropout active?  (default 0) */
/* Let the backward pass hand each op output's data to the gradient pool
 * once its producer's backward has run (default 0). Only for callers that
 * read no op output after sd_backward (the trainer): the values are gone
 * (data becomes NULL). */
void sd_ctx_set_release_activations(sd_ctx *c, int on);
int sd_ctx_training(const sd_ctx *c);
/* Dropout and other in-graph randomness: stream of (seed, step); each
 * random op takes the next op index, so masks do not depend on threads. */
void sd_ctx_set_rng(sd_ctx *c, uint64_t seed, uint64_t step);
uint64_t sd_ctx_next_rng_stream(sd_ctx *c, uint64_t *seed);
/* The graph's batch of `batch` examples is examples first .. first+batch−1
 * of a larger batch (data-parallel training): a random op on a batch-major
 * tensor then draws element j of its mask from stream element
 * first·(numel/batch) + j, the element that example has in the whole
 * batch. sd_ctx_set_rng resets it to (0, 0) (no offset). */
void sd_ctx_set_rng_batch(sd_ctx *c, int64_t first, int64_t batch);
/* The stream offset of a random op on x under sd_ctx_set_rng_batch. */
uint64_t sd_ctx_rng_offset(const sd_ctx *c, const sd_tensor *x);
/* Polled at the start of every op; nonzero -> SIMDIFF_ERR_CANCELLED. */
void sd_ctx_set_cancel_flag(sd_ctx *c, const atomic_int *flag);

/* Per-op profile (for benchmarks): when enabled, the time from one op's
 * start to the next op's start is charged to the first op's forward, and
 * every backward node's time to its op's backward. sd_ctx_profile_report
 * formats the table (sorted by total time) into buf. Off by default; the
 * environment variable SIMDIFF_PROFILE=1 turns it on for new contexts. */
void sd_ctx_set_profile(sd_ctx *c, int on);
void sd_ctx_profile_reset(sd_ctx *c);
/* Ends the current forward interval (call after the last op of a pass). */
void sd_ctx_profile_mark(sd_ctx *c);
size_t sd_ctx_profile_report(const sd_ctx *c, char *buf, size_t cap);

/* Statistics. */
int64_t sd_ctx_primitives_created(const sd_ctx *c);
/* Floating-point operations of matrix products and convolutions (forward
 * and backward), counted by the ops since the ctx was created. */
void sd_ctx_add_flops(sd_ctx *c, double flops);
double sd_ctx_flops(const sd_ctx *c);
/* Bytes: the step arena's peak plus the scratch arena's peak, each the
 * maximum over the ctx's life (so an upper bound of their joint peak). */
size_t sd_ctx_arena_peak(const sd_ctx *c);
/* Bytes of gradient buffers served from memory freed earlier in the same
 * backward pass (cumulative over the ctx's life; tests and profiles). */
size_t sd_ctx_grad_reused(const sd_ctx *c);
/* Bytes in use now in the step arena plus the scratch arena. */
size_t sd_ctx_arena_used(const sd_ctx *c);

/* ---- precision (bf16.c) ------------------------------------------------ */
/* The arithmetic of the matrix ops (conv, transposed conv, linear, matmul,
 * attention's two products): BF16 rounds their operands to bfloat16
 * (round to nearest even), accumulates in f32 and writes f32 outputs and
 * gradients. Everything else stays f32 in either setting. Default F32.
 * The ctx does not check the CPU (the public entry points do, with
 * sd_bf16_native); oneDNN would pick a slow reference kernel without it. */
typedef enum sd_precision { SD_PREC_F32 = 0, SD_PREC_BF16 = 1 } sd_precision;
void sd_ctx_set_precision(sd_ctx *c, sd_precision p);
sd_precision sd_ctx_precision(const sd_ctx *c);
/* Shared read-only bf16 copies of weights: copy[i] is the bf16 of base[i],
 * i < n (a model's parameter slab and its copy; sampling). In BF16 the
 * ops use the copy of any weight inside [base, base + n) instead of
 * converting it per call. NULL copy: none (default). The memory stays the
 * caller's and must outlive the ctx's use of it. */
void sd_ctx_set_bf16_weights(sd_ctx *c, const float *base, int64_t n,
                             const uint16_t *copy);
/* dst[i] = bf16(src[i]), round to nearest even (NaN stays NaN). */
void sd_bf16_convert(uint16_t *dst, const float *src, int64_t n);
/* The ctx's shared bf16 copy of the n floats at src, or NULL if it has
 * none (src not inside the registered weights). */
const uint16_t *sd_ctx_bf16_weight(const sd_ctx *c, const float *src, int64_t n);
/* n floats at src as bf16: the ctx's shared copy when src is the start of
 * a weight it holds (sd_ctx_set_bf16_weights), else a new sd_alloc buffer
 * (a temporary inside sd_tmp scopes and backward nodes). NULL (status
 * set) on failure. */
const uint16_t *sd_bf16_of(sd_ctx *c, const float *src, int64_t n);

/* ---- arena tensors ------------------------------------------------------ */
/* 64-byte aligned, uninitialized, valid until sd_ctx_reset(). NULL (and the
 * status set) on failure. */
void *sd_alloc(sd_ctx *c, size_t bytes);
sd_tensor *sd_new(sd_ctx *c, int ndim, const int64_t *shape);
sd_tensor *sd_new4(sd_ctx *c, int64_t n, int64_t ch, int64_t h, int64_t w);
sd_tensor *sd_zeros(sd_ctx *c, int ndim, const int64_t *shape);
/* A tensor over caller memory (not copied; must outlive the step). */
sd_tensor *sd_wrap(sd_ctx *c, int ndim, const int64_t *shape, float *data);
/* A copy of caller memory into the arena. */
sd_tensor *sd_copy_in(sd_ctx *c, int ndim, const int64_t *shape,
                      const float *data);

/* Inference memory: a mark of the arena's top, and a release that frees
 * everything allocated after the mark except one tensor, which is moved
 * down to the mark (its header and data; the returned pointer replaces
 * it). Only valid with grad off (no tape may point into the freed range).
 * Model code calls this between blocks, so a forward pass needs the
 * memory of one block plus the tensors that live across blocks (skips),
 * not of the whole network. On the first pass of a shape (several arena
 * blocks) the kept tensor may move to a later block; see docs/design.md. */
typedef struct sd_mark {
    int block;
    size_t used, total;
} sd_mark;
sd_mark sd_arena_mark(const sd_ctx *c);
sd_tensor *sd_arena_release(sd_ctx *c, sd_mark mark, sd_tensor *keep);

/* An op's temporaries (layout reorders, blocked outputs before their
 * reorder to plain, ...): between sd_tmp_begin and sd_tmp_end every
 * sd_alloc comes from the context's scratch arena and is gone after
 * sd_tmp_end, so temporaries never add to the memory a training step
 * keeps for its backward pass. Nothing allocated inside may outlive the
 * scope (no outputs, nothing saved on the tape). Scopes nest; a node's
 * backward runs in such a scope implicitly (run_tape). */
typedef sd_mark sd_tmp;
sd_tmp sd_tmp_begin(sd_ctx *c);
void sd_tmp_end(sd_ctx *c, sd_tmp t);

/* Fill a tensor header (no allocation); 0 on success, -1 on a bad shape. */
int sd_tensor_init(sd_tensor *t, int ndim, const int64_t *shape, float *data);
int sd_same_shape(const sd_tensor *a, const sd_tensor *b);
/* "2x3x4" into buf (for messages). */
const char *sd_shape_str(const sd_tensor *t, char *buf, size_t cap);

/* ---- autograd ----------------------------------------------------------- */
enum { SD_NODE_MAX_IN = 5, SD_NODE_MAX_AUX = 4 };

typedef struct sd_node sd_node;
typedef void (*sd_backward_fn)(sd_ctx *c, sd_node *n);

struct sd_node {
    const char *op;                  /* for messages and profiles       */
    sd_backward_fn backward;
    sd_tensor *out;
    sd_tensor *in[SD_NODE_MAX_IN];
    int nin;
    int64_t i[8];                    /* integer params of the op        */
    double d[4];                     /* real params of the op           */
    void *aux[SD_NODE_MAX_AUX];      /* saved buffers (arena)           */
};

/* Does t need a gradient? */
static inline int sd_needs_grad(const sd_tensor *t)
{
    return t && (t->flags & SD_TF_REQUIRES_GRAD);
}

/* Called by an op after computing `out`: when grad is enabled and some
 * input needs a gradient, marks out as needing one and returns a new tape
 * node to fill (params, aux); otherwise returns NULL and the op saves
 * nothing. */
sd_node *sd_record(sd_ctx *c, const char *op, sd_backward_fn fn,
                   sd_tensor *out, int nin, sd_tensor *const *in);

/* Gradient buffers, for backward functions:
 *  - sd_grad_begin(c, t) returns a buffer to OVERWRITE with this node's
 *    contribution to dL/dt; sd_grad_end(c, t, buf) then folds it in (adds
 *    it when t already had a gradient, otherwise buf *is* t's gradient).
 *    Use it with kernels that write (oneDNN backward primitives).
 *  - sd_grad_acc(c, t) returns t's gradient buffer, zeroed if it had no
 *    value yet, to ADD into. Use it with hand-written kernels.
 * Both return NULL (status set) if memory runs out. */
float *sd_grad_begin(sd_ctx *c, sd_tensor *t);
void sd_grad_end(sd_ctx *c, sd_tensor *t, float *buf);
float *sd_grad_acc(sd_ctx *c, sd_tensor *t);

/* Run the tape backward from a scalar (numel 1) loss, seeding dL/dL = 1.
 * Parameter gradients accumulate (call sd_param_zero_grad between steps).
 * Polls the cancel flag between nodes. */
simdiff_status sd_backward(sd_ctx *c, sd_tensor *loss);
/* Same, from any tensor t with a given dL/dt (numel floats): for
 * vector-Jacobian products (tests, distillation targets). */
simdiff_status sd_backward_seed(sd_ctx *c, sd_tensor *t, const float *dt);

/* Parameters: persistent tensors owned by a model. zero_grad is O(1) (the
 * GRAD_VALID flag is cleared; readers treat an invalid grad as zero). */
void sd_param_init(sd_tensor *p, const char *name, int ndim,
                   const int64_t *shape, float *data, float *grad);
void sd_param_zero_grad(sd_tensor *p);

/* ---- oneDNN primitive cache -------------------------------------------- */
enum { SD_PRIM_MAX_ARGS = 8 };

typedef struct sd_prim {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    int nargs;
    int args[SD_PRIM_MAX_ARGS];          /* DNNL_ARG_* in call order    */
    dnnl_memory_t mem[SD_PRIM_MAX_ARGS]; /* handles set per execution   */
    dnnl_memory_t scratch;               /* or NULL                     */
} sd_prim;

dnnl_engine_t sd_ctx_engine(sd_ctx *c);
/* An attr with user-managed scratchpad, for creating primitive descs to
 * insert into the cache (owned by the ctx; do not destroy). */
const_dnnl_primitive_attr_t sd_ctx_attr(sd_ctx *c);
/* A clone of that attr with post-ops, for fused primitives: the eltwise
 * `act` (a dnnl_eltwise_* kind with alpha 1, beta 0; dnnl_alg_kind_undef
 * for none), then, if sum, dst += its previous contents (scale 1). The
 * caller destroys it once its primitive desc exists. NULL (status set) on
 * failure. */
dnnl_primitive_attr_t sd_ctx_attr_post_ops(sd_ctx *c, dnnl_alg_kind_t act, int sum);

/* Lookup by key bytes (build keys from zero-initialized structs so padding
 * bytes compare equal) and the calling thread's OpenMP thread count (a
 * primitive is made for the thread count current at its creation). NULL
 * if absent. Keys must name every data type they use (e.g. the ctx's
 * precision). */
sd_prim *sd_prim_lookup(sd_ctx *c, const void *key, size_t keylen);
/* Take ownership of pd (destroyed on failure too), create the primitive and
 * one memory object per listed argument from the pd's exec-arg descs. NULL
 * (status set) on failure. */
sd_prim *sd_prim_insert(sd_ctx *c, const void *key, size_t keylen,
                        dnnl_primitive_desc_t pd, int nargs, const int *args);
/* Execute with one data pointer per listed argument (in insert order) and
 * wait for completion. 0 on success, -1 with the status set. */
int sd_prim_exec(sd_ctx *c, sd_prim *p, void *const *handles);
/* Memory desc the primitive expects for arg (from the pd). */
const dnnl_memory_desc_t *sd_prim_md(const sd_prim *p, int arg);

/* Check a oneDNN call: on failure set SIMDIFF_ERR_BACKEND with the call
 * text and return nonzero. */
int sd_dnnl_check(sd_ctx *c, dnnl_status_t st, const char *what);
#define SD_DNNL(c, call) sd_dnnl_check((c), (call), #call)

/* ---- op helpers --------------------------------------------------------- */
/* Every op starts with SD_OP_BEGIN(c, "name", inputs...): returns NULL at
 * once after an earlier failure, on a NULL input, or when cancelled. */
int sd_op_begin(sd_ctx *c, const char *op, int nin, const sd_tensor *const *in);
#define SD_OP_BEGIN(c, op, ...)                                                \
    do {                                                                       \
        const sd_tensor *sd_op_in_[] = {__VA_ARGS__};                          \
        if (!sd_op_begin((c), (op), (int)SD_ARRAY_LEN(sd_op_in_), sd_op_in_))  \
            return NULL;                                                       \
    } while (0)

/* Elementwise kernels are parallel above this many elements. */
#define SD_PAR_MIN 32768

/* ---- layout reorders (reorder.c) --------------------------------------- */
/* Copy src, laid out as `from`, into dst laid out as `to` (same logical
 * dims; e.g. NCHW <-> a blocked layout a primitive chose with
 * dnnl_format_tag_any; the data types may differ: f32 -> bf16 rounds to
 * nearest even). The reorder primitive is created once per
 * (from, to) pair per ctx. Blocked formats only. 0 on success, -1 with the
 * status set. */
int sd_reorder(sd_ctx *c, const dnnl_memory_desc_t *from, const void *src,
               const dnnl_memory_desc_t *to, void *dst);
/* src itself when `to` equals `from`; otherwise a new arena buffer of
 * dnnl_memory_desc_get_size(to) bytes holding src reordered to `to`. NULL
 * (status set) on failure. */
void *sd_reorder_to(sd_ctx *c, const dnnl_memory_desc_t *from,
                    const void *src, const dnnl_memory_desc_t *to);

#endif
