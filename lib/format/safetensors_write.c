/* safetensors writer (format.h, "safetensors"): the header through the
 * JSON emitter (json_write.c), the data converted in blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

typedef struct wtensor {
    char *name;
    sd_dtype dtype;
    int ndim;
    int64_t shape[SD_ST_MAX_DIMS];
    size_t numel, nbytes;
    const float *data;
} wtensor;

typedef struct wmeta {
    char *key, *value;
} wmeta;

struct sd_st_writer {
    wtensor *t;
    size_t n, cap;
    wmeta *meta;
    size_t n_meta, cap_meta;
};

simdiff_status sd_st_writer_create(sd_st_writer **out)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_writer_create: NULL out");
    *out = calloc(1, sizeof **out);
    return *out ? SIMDIFF_OK
                : sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
}

void sd_st_writer_destroy(sd_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->t);
    free(w->meta);
    free(w);
}

simdiff_status sd_st_writer_add(sd_st_writer *w, const char *name, sd_dtype dtype,
                                int ndim, const int64_t *shape, const float *data)
{
    if (!w || !name)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_writer_add: NULL argument");
    if (!name[0] || strcmp(name, "__metadata__") == 0 || !sd_utf8_valid(name))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "safetensors: invalid tensor name \"%.200s\"", name);
    if (dtype != SD_DT_F32 && dtype != SD_DT_F16 && dtype != SD_DT_BF16)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "safetensors: tensor \"%.200s\": dtype %s, expected F32, F16 "
                       "or BF16",
                       name, sd_dtype_name(dtype));
    if (ndim < 0 || ndim > SD_ST_MAX_DIMS || (ndim && !shape))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "safetensors: tensor \"%.200s\": bad ndim %d", name, ndim);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "safetensors: duplicate tensor name \"%.200s\"", name);
    wtensor t = {0};
    t.dtype = dtype;
    t.ndim = ndim;
    t.numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
            sd_mul_size(t.numel, (size_t)shape[i], &t.numel))
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                           "safetensors: tensor \"%.200s\": bad shape", name);
        t.shape[i] = shape[i];
    }
    if (sd_mul_size(t.numel, sd_dtype_size(dtype), &t.nbytes))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "safetensors: tensor \"%.200s\" is too large", name);
    if (t.numel && !data)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "safetensors: tensor \"%.200s\": NULL data", name);
    t.data = data;
    if (w->n == w->cap) {
        size_t ncap = w->cap ? 2 * w->cap : 16;
        wtensor *nt = realloc(w->t, ncap * sizeof *nt);
        if (!nt)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
        w->t = nt;
        w->cap = ncap;
    }
    if (!(t.name = strdup(name)))
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    w->t[w->n++] = t;
    return SIMDIFF_OK;
}

simdiff_status sd_st_writer_set_metadata(sd_st_writer *w, const char *key,
                                         const char *value)
{
    if (!w || !key || !value)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "sd_st_writer_set_metadata: NULL argument");
    if (!sd_utf8_valid(key) || !sd_utf8_valid(value))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "safetensors: metadata is not valid UTF-8");
    char *v = strdup(value);
    if (!v)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return SIMDIFF_OK;
        }
    if (w->n_meta == w->cap_meta) {
        size_t ncap = w->cap_meta ? 2 * w->cap_meta : 8;
        wmeta *nm = realloc(w->meta, ncap * sizeof *nm);
        if (!nm) {
            free(v);
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
        }
        w->meta = nm;
        w->cap_meta = ncap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    }
    w->meta[w->n_meta].key = k;
    w->meta[w->n_meta].value = v;
    w->n_meta++;
    return SIMDIFF_OK;
}

static int dtype_rank(sd_dtype t)
{
    return t == SD_DT_F32 ? 2 : t == SD_DT_BF16 ? 1 : 0;
}

static int wtensor_cmp(const void *a, const void *b)
{
    const wtensor *x = *(const wtensor *const *)a, *y = *(const wtensor *const *)b;
    int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
    if (rx != ry)
        return ry - rx;
    return strcmp(x->name, y->name);
}

static int wmeta_cmp(const void *a, const void *b)
{
    return strcmp(((const wmeta *)a)->key, ((const wmeta *)b)->key);
}

typedef simdiff_status (*sink_fn)(void *ctx, const void *p, size_t n);

static simdiff_status st_emit(sd_st_writer *w, sink_fn sink, void *ctx,
                              size_t *total_out, int dry_run)
{
    wtensor **order = malloc((w->n ? w->n : 1) * sizeof *order);
    if (!order)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    for (size_t i = 0; i < w->n; i++)
        order[i] = &w->t[i];
    qsort(order, w->n, sizeof *order, wtensor_cmp);
    if (w->n_meta)
        qsort(w->meta, w->n_meta, sizeof *w->meta, wmeta_cmp);

    sd_jbuf h = {0};
    char num[32];
    size_t offset = 0;
    simdiff_status s = SIMDIFF_OK;
    sd_jbuf_str(&h, "{");
    if (w->n_meta) {
        sd_jbuf_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i)
                sd_jbuf_str(&h, ",");
            sd_jbuf_string(&h, w->meta[i].key);
            sd_jbuf_str(&h, ":");
            sd_jbuf_string(&h, w->meta[i].value);
        }
        sd_jbuf_str(&h, "}");
    }
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = order[i];
        if (i || w->n_meta)
            sd_jbuf_str(&h, ",");
        sd_jbuf_string(&h, t->name);
        sd_jbuf_str(&h, ":{\"dtype\":\"");
        sd_jbuf_str(&h, sd_dtype_name(t->dtype));
        sd_jbuf_str(&h, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            snprintf(num, sizeof num, k ? ",%lld" : "%lld", (long long)t->shape[k]);
            sd_jbuf_str(&h, num);
        }
        size_t end;
        if (sd_add_size(offset, t->nbytes, &end)) {
            s = sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "safetensors: data too large");
            break;
        }
        snprintf(num, sizeof num, "%zu", offset);
        sd_jbuf_str(&h, "],\"data_offsets\":[");
        sd_jbuf_str(&h, num);
        snprintf(num, sizeof num, ",%zu]}", end);
        sd_jbuf_str(&h, num);
        offset = end;
    }
    sd_jbuf_str(&h, "}");
    /* Pad to 8 bytes (when an allocation failed, h.n stays as it is: the
     * loop must not wait for it to grow). */
    while (h.n % 8 && !h.oom)
        sd_jbuf_put(&h, " ", 1);
    if (!s && h.oom)
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    if (!s && h.n > SD_ST_MAX_HEADER)
        s = sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                    "safetensors: header of %zu bytes is over the %u limit", h.n,
                    SD_ST_MAX_HEADER);
    size_t total;
    if (!s && (sd_add_size(8, h.n, &total) || sd_add_size(total, offset, &total)))
        s = sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "safetensors: data too large");
    if (!s)
        *total_out = total;
    if (!s && !dry_run) {
        uint8_t len8[8];
        sd_st_u64le(len8, h.n);
        s = sink(ctx, len8, 8);
        if (!s)
            s = sink(ctx, h.p, h.n);
        /* Convert in blocks so that no full copy of the data is needed. */
        enum { BLK = 4096 };
        uint8_t blk[BLK * 4];
        for (size_t i = 0; i < w->n && !s; i++) {
            const wtensor *t = order[i];
            size_t esz = sd_dtype_size(t->dtype);
            for (size_t j = 0; j < t->numel && !s; j += BLK) {
                size_t m = t->numel - j < BLK ? t->numel - j : BLK;
                for (size_t q = 0; q < m; q++) {
                    float v = t->data[j + q];
                    if (t->dtype == SD_DT_F32) {
                        uint32_t u;
                        memcpy(&u, &v, 4);
                        sd_st_u32le(blk + 4 * q, u);
                    } else if (t->dtype == SD_DT_F16) {
                        sd_st_u16le(blk + 2 * q, sd_f32_to_f16(v));
                    } else {
                        sd_st_u16le(blk + 2 * q, sd_f32_to_bf16(v));
                    }
                }
                s = sink(ctx, blk, m * esz);
            }
        }
    }
    sd_jbuf_free(&h);
    free(order);
    return s;
}

static simdiff_status sink_afile(void *ctx, const void *p, size_t n)
{
    return sd_afile_write(ctx, p, n);
}

typedef struct memsink {
    uint8_t *p;
    size_t n, cap;
} memsink;

static simdiff_status sink_mem(void *ctx, const void *p, size_t n)
{
    memsink *m = ctx;
    if (m->cap - m->n < n)
        return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "safetensors: size mismatch");
    memcpy(m->p + m->n, p, n);
    m->n += n;
    return SIMDIFF_OK;
}

simdiff_status sd_st_writer_write(sd_st_writer *w, const char *path)
{
    if (!w)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_writer_write: NULL writer");
    size_t total;
    simdiff_status s = st_emit(w, NULL, NULL, &total, 1);
    if (s)
        return s;
    sd_afile *f;
    if ((s = sd_afile_open(&f, path)))
        return s;
    if ((s = st_emit(w, sink_afile, f, &total, 0))) {
        sd_afile_abort(f);
        return s;
    }
    return sd_afile_commit(f);
}

simdiff_status sd_st_writer_serialize(sd_st_writer *w, void **out, size_t *size)
{
    if (!w || !out || !size)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "sd_st_writer_serialize: NULL argument");
    *out = NULL;
    *size = 0;
    size_t total;
    simdiff_status s = st_emit(w, NULL, NULL, &total, 1);
    if (s)
        return s;
    memsink m = {malloc(total), 0, total};
    if (!m.p)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM,
                       "safetensors: cannot allocate %zu bytes", total);
    if ((s = st_emit(w, sink_mem, &m, &total, 0)) || m.n != total) {
        free(m.p);
        return s ? s : sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "safetensors: size mismatch");
    }
    *out = m.p;
    *size = m.n;
    return SIMDIFF_OK;
}
