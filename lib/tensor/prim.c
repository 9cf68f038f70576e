/* oneDNN primitive cache: each (op, shapes, flags) key gets its primitive,
 * memory objects and scratchpad size once per context. See tensor.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <omp.h>

#include "tensor/tensor_internal.h"

static uint64_t hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* oneDNN 2.6 does not survive running out of memory while it creates a
 * primitive: its JIT generator writes code into a buffer it failed to
 * get and crashes (SIGSEGV under ulimit -v, docs/reliability.md "Out of
 * memory"). So before each creation
 * the context makes sure SD_PRIM_HEADROOM bytes of address space can
 * still be mapped, and reports SIMDIFF_ERR_NOMEM instead when they
 * cannot. The probe maps and unmaps without touching a page. */
#define SD_PRIM_HEADROOM ((size_t)8 << 20)

static int headroom_ok(void)
{
    void *p = mmap(NULL, SD_PRIM_HEADROOM, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, SD_PRIM_HEADROOM);
    return 1;
}

int sd_dnnl_check(sd_ctx *c, dnnl_status_t st, const char *what)
{
    if (st == dnnl_success)
        return 0;
    if (st == dnnl_out_of_memory)
        sd_ctx_fail(c, SIMDIFF_ERR_NOMEM, "out of memory in oneDNN: %s", what);
    else
        sd_ctx_fail(c, SIMDIFF_ERR_BACKEND, "oneDNN call failed (status %d): %s", (int)st,
                    what);
    return 1;
}

static void prim_release(sd_prim *p)
{
    for (int i = 0; i < p->nargs; i++)
        if (p->mem[i])
            dnnl_memory_destroy(p->mem[i]);
    if (p->scratch)
        dnnl_memory_destroy(p->scratch);
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    if (p->pd)
        dnnl_primitive_desc_destroy(p->pd);
}

void sd_prim_cache_free(sd_ctx *c)
{
    for (size_t i = 0; i < c->tcap; i++) {
        sd_prim_entry *e = c->table[i];
        if (!e)
            continue;
        prim_release(&e->prim);
        free(e->key);
        free(e);
    }
    free(c->table);
    c->table = NULL;
    c->tcap = c->tcount = 0;
}

/* The key's hash with the thread count mixed in. */
static uint64_t key_hash(const void *key, size_t len, int nthr)
{
    return (hash_bytes(key, len) ^ (uint64_t)nthr) * 1099511628211ull;
}

sd_prim *sd_prim_lookup(sd_ctx *c, const void *key, size_t keylen)
{
    if (!c->tcap)
        return NULL;
    const int nthr = omp_get_max_threads();
    uint64_t h = key_hash(key, keylen, nthr);
    for (size_t i = h & (c->tcap - 1);; i = (i + 1) & (c->tcap - 1)) {
        sd_prim_entry *e = c->table[i];
        if (!e)
            return NULL;
        if (e->hash == h && e->nthr == nthr && e->keylen == keylen &&
            memcmp(e->key, key, keylen) == 0)
            return &e->prim;
    }
}

static int table_put(sd_ctx *c, sd_prim_entry *e)
{
    if ((c->tcount + 1) * 2 > c->tcap) {
        size_t ncap = c->tcap ? 2 * c->tcap : 64;
        sd_prim_entry **nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return -1;
        for (size_t i = 0; i < c->tcap; i++) {
            sd_prim_entry *x = c->table[i];
            if (!x)
                continue;
            size_t j = x->hash & (ncap - 1);
            while (nt[j])
                j = (j + 1) & (ncap - 1);
            nt[j] = x;
        }
        free(c->table);
        c->table = nt;
        c->tcap = ncap;
    }
    size_t j = e->hash & (c->tcap - 1);
    while (c->table[j])
        j = (j + 1) & (c->tcap - 1);
    c->table[j] = e;
    c->tcount++;
    return 0;
}

sd_prim *sd_prim_insert(sd_ctx *c, const void *key, size_t keylen,
                        dnnl_primitive_desc_t pd, int nargs, const int *args)
{
    if (c->status != SIMDIFF_OK || nargs > SD_PRIM_MAX_ARGS) {
        dnnl_primitive_desc_destroy(pd);
        if (nargs > SD_PRIM_MAX_ARGS)
            sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL, "primitive with %d args", nargs);
        return NULL;
    }
    sd_prim_entry *e = calloc(1, sizeof *e);
    void *k = malloc(keylen ? keylen : 1);
    if (!e || !k) {
        free(e);
        free(k);
        dnnl_primitive_desc_destroy(pd);
        return sd_ctx_fail(c, SIMDIFF_ERR_NOMEM, "out of memory (primitive cache)");
    }
    memcpy(k, key, keylen);
    e->key = k;
    e->keylen = keylen;
    e->nthr = omp_get_max_threads();
    e->hash = key_hash(key, keylen, e->nthr);
    sd_prim *p = &e->prim;
    p->pd = pd;
    p->nargs = nargs;
    if (!headroom_ok()) {
        sd_ctx_fail(c, SIMDIFF_ERR_NOMEM,
                    "out of memory: fewer than %zu MiB of address space left to create "
                    "a oneDNN primitive",
                    SD_PRIM_HEADROOM >> 20);
        goto fail;
    }
    if (SD_DNNL(c, dnnl_primitive_create(&p->prim, pd)))
        goto fail;
    for (int i = 0; i < nargs; i++) {
        p->args[i] = args[i];
        const dnnl_memory_desc_t *md =
            dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[i]);
        if (!md) {
            sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL,
                        "primitive has no memory for argument %d", args[i]);
            goto fail;
        }
        if (SD_DNNL(c, dnnl_memory_create(&p->mem[i], md, c->engine,
                                          DNNL_MEMORY_NONE)))
            goto fail;
    }
    const dnnl_memory_desc_t *smd =
        dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes > 0) {
        if (sbytes > c->scratch_cap) {
            void *nb = NULL;
            if (posix_memalign(&nb, 64, sbytes) != 0) {
                sd_ctx_fail(c, SIMDIFF_ERR_NOMEM,
                            "out of memory (scratchpad of %zu bytes)", sbytes);
                goto fail;
            }
            free(c->scratch_buf);
            c->scratch_buf = nb;
            c->scratch_cap = sbytes;
        }
        if (SD_DNNL(c, dnnl_memory_create(&p->scratch, smd, c->engine,
                                          DNNL_MEMORY_NONE)))
            goto fail;
    }
    if (table_put(c, e) != 0) {
        sd_ctx_fail(c, SIMDIFF_ERR_NOMEM, "out of memory (primitive cache)");
        goto fail;
    }
    c->prims_created++;
    return p;
fail:
    prim_release(p);
    free(e->key);
    free(e);
    return NULL;
}

int sd_prim_exec(sd_ctx *c, sd_prim *p, void *const *handles)
{
    dnnl_exec_arg_t a[SD_PRIM_MAX_ARGS + 1];
    int n = 0;
    for (int i = 0; i < p->nargs; i++) {
        if (SD_DNNL(c, dnnl_memory_set_data_handle(p->mem[i], handles[i])))
            return -1;
        a[n].arg = p->args[i];
        a[n].memory = p->mem[i];
        n++;
    }
    if (p->scratch) {
        /* The scratchpad is shared by every primitive of this ctx; it was
         * sized for the largest one when that one was inserted. */
        if (SD_DNNL(c, dnnl_memory_set_data_handle(p->scratch, c->scratch_buf)))
            return -1;
        a[n].arg = DNNL_ARG_SCRATCHPAD;
        a[n].memory = p->scratch;
        n++;
    }
    if (SD_DNNL(c, dnnl_primitive_execute(p->prim, c->stream, n, a)))
        return -1;
    if (SD_DNNL(c, dnnl_stream_wait(c->stream)))
        return -1;
    return 0;
}

const dnnl_memory_desc_t *sd_prim_md(const sd_prim *p, int arg)
{
    return dnnl_primitive_desc_query_md(p->pd, dnnl_query_exec_arg_md, arg);
}

dnnl_primitive_attr_t sd_ctx_attr_post_ops(sd_ctx *c, dnnl_alg_kind_t act, int sum)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (SD_DNNL(c, dnnl_primitive_attr_clone(&attr, c->attr)))
        return NULL;
    int bad = SD_DNNL(c, dnnl_post_ops_create(&po));
    if (!bad && act != dnnl_alg_kind_undef)
        bad = SD_DNNL(c, dnnl_post_ops_append_eltwise(po, 1.0f, act, 1.0f, 0.0f));
    if (!bad && sum)
        bad = SD_DNNL(c, dnnl_post_ops_append_sum(po, 1.0f));
    if (!bad)
        bad = SD_DNNL(c, dnnl_primitive_attr_set_post_ops(attr, po));
    if (po)
        dnnl_post_ops_destroy(po);
    if (bad) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    return attr;
}
