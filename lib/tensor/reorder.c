/* Cached oneDNN reorders between memory layouts (plain <-> blocked). See
 * the declarations at the end of tensor.h. */
#include <string.h>

#include "tensor/tensor.h"

#define SD_REORDER_TAG 0x726f6572u /* "reor": keeps these keys apart */

/* One memory desc, field by field into a zeroed struct: dnnl_memory_desc_t
 * itself has padding and a union whose unused bytes are not guaranteed
 * zero, so its raw bytes cannot be a cache key. */
typedef struct md_key {
    int32_t ndims, data_type, format_kind, inner_nblks;
    int64_t offset0;
    uint64_t extra_flags;
    int64_t dims[DNNL_MAX_NDIMS], padded_dims[DNNL_MAX_NDIMS],
        padded_offsets[DNNL_MAX_NDIMS], strides[DNNL_MAX_NDIMS],
        inner_blks[DNNL_MAX_NDIMS], inner_idxs[DNNL_MAX_NDIMS];
} md_key;

typedef struct reorder_key {
    uint32_t tag;
    uint32_t pad_;
    md_key from, to;
} reorder_key;

static int md_key_fill(sd_ctx *c, md_key *k, const dnnl_memory_desc_t *md)
{
    if (md->format_kind != dnnl_blocked || md->ndims < 0 ||
        md->ndims > DNNL_MAX_NDIMS) {
        sd_ctx_fail(c, SIMDIFF_ERR_INTERNAL,
                    "reorder: unsupported memory format (kind %d, ndims %d)",
                    (int)md->format_kind, md->ndims);
        return -1;
    }
    const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
    k->ndims = md->ndims;
    k->data_type = (int32_t)md->data_type;
    k->format_kind = (int32_t)md->format_kind;
    k->inner_nblks = bd->inner_nblks;
    k->offset0 = md->offset0;
    k->extra_flags = md->extra.flags;
    for (int i = 0; i < md->ndims; i++) {
        k->dims[i] = md->dims[i];
        k->padded_dims[i] = md->padded_dims[i];
        k->padded_offsets[i] = md->padded_offsets[i];
        k->strides[i] = bd->strides[i];
    }
    for (int i = 0; i < bd->inner_nblks && i < DNNL_MAX_NDIMS; i++) {
        k->inner_blks[i] = bd->inner_blks[i];
        k->inner_idxs[i] = bd->inner_idxs[i];
    }
    return 0;
}

int sd_reorder(sd_ctx *c, const dnnl_memory_desc_t *from, const void *src,
               const dnnl_memory_desc_t *to, void *dst)
{
    if (sd_ctx_status(c) != SIMDIFF_OK)
        return -1;
    reorder_key key;
    memset(&key, 0, sizeof key);
    key.tag = SD_REORDER_TAG;
    if (md_key_fill(c, &key.from, from) || md_key_fill(c, &key.to, to))
        return -1;
    sd_prim *p = sd_prim_lookup(c, &key, sizeof key);
    if (!p) {
        dnnl_primitive_desc_t pd;
        dnnl_engine_t e = sd_ctx_engine(c);
        if (SD_DNNL(c, dnnl_reorder_primitive_desc_create(&pd, from, e, to, e,
                                                          sd_ctx_attr(c))))
            return -1;
        static const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
        p = sd_prim_insert(c, &key, sizeof key, pd, 2, args);
        if (!p)
            return -1;
    }
    void *h[2] = {(void *)src, dst};
    return sd_prim_exec(c, p, h);
}

void *sd_reorder_to(sd_ctx *c, const dnnl_memory_desc_t *from,
                    const void *src, const dnnl_memory_desc_t *to)
{
    if (sd_ctx_status(c) != SIMDIFF_OK)
        return NULL;
    if (dnnl_memory_desc_equal(from, to))
        return (void *)src;
    void *dst = sd_alloc(c, dnnl_memory_desc_get_size(to));
    if (!dst || sd_reorder(c, from, src, to, dst) != 0)
        return NULL;
    return dst;
}
