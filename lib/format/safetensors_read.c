/* safetensors reader (format.h, "safetensors") and the dtype table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[SD_DT_COUNT_] = {
    [SD_DT_BOOL] = {"BOOL", 1},       [SD_DT_U8] = {"U8", 1},
    [SD_DT_I8] = {"I8", 1},           [SD_DT_F8_E5M2] = {"F8_E5M2", 1},
    [SD_DT_F8_E4M3] = {"F8_E4M3", 1}, [SD_DT_I16] = {"I16", 2},
    [SD_DT_U16] = {"U16", 2},         [SD_DT_F16] = {"F16", 2},
    [SD_DT_BF16] = {"BF16", 2},       [SD_DT_I32] = {"I32", 4},
    [SD_DT_U32] = {"U32", 4},         [SD_DT_F32] = {"F32", 4},
    [SD_DT_F64] = {"F64", 8},         [SD_DT_I64] = {"I64", 8},
    [SD_DT_U64] = {"U64", 8},
};

const char *sd_dtype_name(sd_dtype t)
{
    return (unsigned)t < SD_DT_COUNT_ ? dtypes[t].name : "?";
}

size_t sd_dtype_size(sd_dtype t)
{
    return (unsigned)t < SD_DT_COUNT_ ? dtypes[t].size : 0;
}

/* ---- reader -------------------------------------------------------------- */

typedef struct st_meta {
    const char *key, *value;
} st_meta;

struct sd_st_file {
    void *owned; /* file contents when opened from a path */
    sd_json doc;
    sd_st_tensor *t; /* sorted by name */
    size_t n;
    st_meta *meta; /* sorted by key */
    size_t n_meta;
};

static int tensor_name_cmp(const void *a, const void *b)
{
    return strcmp(((const sd_st_tensor *)a)->name, ((const sd_st_tensor *)b)->name);
}

static int meta_cmp(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

typedef struct span {
    uint64_t begin, end;
    size_t tensor;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static simdiff_status stfail(const char *what, const char *name)
{
    return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "safetensors: tensor \"%.200s\": %s",
                   name, what);
}

static simdiff_status parse_tensor(const sd_json *d, const sd_json_node *e,
                                   sd_st_tensor *t, uint64_t *begin, uint64_t *end)
{
    const char *name = t->name;
    if (e->type != SD_JSON_OBJECT)
        return stfail("entry is not an object", name);
    const sd_json_node *dt = NULL, *sh = NULL, *off = NULL;
    for (uint32_t c = e->first; c != SD_JSON_NONE; c = d->nodes[c].next) {
        const char *k = sd_json_key(d, &d->nodes[c]);
        if (strcmp(k, "dtype") == 0)
            dt = &d->nodes[c];
        else if (strcmp(k, "shape") == 0)
            sh = &d->nodes[c];
        else if (strcmp(k, "data_offsets") == 0)
            off = &d->nodes[c];
        else
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "safetensors: tensor \"%.200s\": unknown key \"%.100s\"",
                           name, k);
    }
    if (!dt || !sh || !off)
        return stfail("needs \"dtype\", \"shape\" and \"data_offsets\"", name);
    if (dt->type != SD_JSON_STRING)
        return stfail("\"dtype\" is not a string", name);
    int found = -1;
    for (int i = 0; i < SD_DT_COUNT_; i++)
        if (strcmp(sd_json_str(d, dt), dtypes[i].name) == 0)
            found = i;
    if (found < 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: tensor \"%.200s\": unknown dtype \"%.40s\"", name,
                       sd_json_str(d, dt));
    t->dtype = (sd_dtype)found;
    if (sh->type != SD_JSON_ARRAY)
        return stfail("\"shape\" is not an array", name);
    if (sh->count > SD_ST_MAX_DIMS)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: tensor \"%.200s\": %u dimensions, at most %d "
                       "supported",
                       name, sh->count, SD_ST_MAX_DIMS);
    size_t numel = 1;
    int k = 0;
    for (uint32_t c = sh->first; c != SD_JSON_NONE; c = d->nodes[c].next, k++) {
        const sd_json_node *v = &d->nodes[c];
        if (v->type != SD_JSON_INT || v->ival < 0)
            return stfail("shape entries must be non-negative integers", name);
        if ((uint64_t)v->ival > SIZE_MAX || sd_mul_size(numel, (size_t)v->ival, &numel))
            return stfail("shape product overflows", name);
        t->shape[k] = v->ival;
    }
    t->ndim = k;
    t->numel = numel;
    if (sd_mul_size(numel, dtypes[found].size, &t->nbytes))
        return stfail("byte size overflows", name);
    if (off->type != SD_JSON_ARRAY || off->count != 2)
        return stfail("\"data_offsets\" is not [begin, end]", name);
    const sd_json_node *b = &d->nodes[off->first], *en = &d->nodes[b->next];
    if (b->type != SD_JSON_INT || en->type != SD_JSON_INT || b->ival < 0 ||
        en->ival < b->ival)
        return stfail("\"data_offsets\" must be integers 0 <= begin <= end", name);
    *begin = (uint64_t)b->ival;
    *end = (uint64_t)en->ival;
    if (*end - *begin != (uint64_t)t->nbytes)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: tensor \"%.200s\": data_offsets span %llu "
                       "bytes, shape and dtype need %zu",
                       name, (unsigned long long)(*end - *begin), t->nbytes);
    return SIMDIFF_OK;
}

static simdiff_status parse_metadata(sd_st_file *f, const sd_json_node *m)
{
    const sd_json *d = &f->doc;
    if (m->type != SD_JSON_OBJECT)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: \"__metadata__\" is not an object");
    if (m->count) {
        f->meta = malloc((size_t)m->count * sizeof *f->meta);
        if (!f->meta)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    }
    for (uint32_t c = m->first; c != SD_JSON_NONE; c = d->nodes[c].next) {
        const sd_json_node *v = &d->nodes[c];
        if (v->type != SD_JSON_STRING)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "safetensors: metadata \"%.200s\" is not a string",
                           sd_json_key(d, v));
        f->meta[f->n_meta].key = sd_json_key(d, v);
        f->meta[f->n_meta].value = sd_json_str(d, v);
        f->n_meta++;
    }
    if (f->n_meta)
        qsort(f->meta, f->n_meta, sizeof *f->meta, meta_cmp);
    return SIMDIFF_OK;
}

/* What a file that is not safetensors looks like, from its first bytes
 * (NULL: nothing known), so a wrong file gets a plain message instead of
 * "header length 727905341920923785 is over the limit". Asked only once
 * the file has failed as safetensors: the first 8 bytes of a valid file
 * are its header length and may look like anything. */
static const char *sniff(const uint8_t *b, size_t size)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *name;
    } kinds[] = {
        {"\x89PNG\r\n\x1a\n", 8, "PNG"},
        {"\xff\xd8\xff", 3, "JPEG"},
        {"GIF8", 4, "GIF"},
        {"\x93NUMPY", 6, "NumPy .npy"},
        {"\x1f\x8b", 2, "gzip"},
        {"PK\x03\x04", 4, "ZIP (a PyTorch .pt/.pth file?)"},
        {"\x80\x02", 2, "Python pickle"},
        {"\x80\x04", 2, "Python pickle"},
        {"\x7f" "ELF", 4, "an ELF executable"},
        {"SIMDIFFC", 8, "a libsimdiff checkpoint"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (size >= kinds[i].len && !memcmp(b, kinds[i].magic, kinds[i].len))
            return kinds[i].name;
    return NULL;
}

static simdiff_status st_parse(sd_st_file *f, const uint8_t *buf, size_t size)
{
    const char *kind = sniff(buf, size);
    uint64_t hlen0 = size >= 8 ? sd_ld_u64le(buf) : 0;
    if (kind && (size <= 8 || hlen0 > SD_ST_MAX_HEADER || hlen0 > size - 8 || buf[8] != '{'))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "not a safetensors file (looks like %s)", kind);
    if (size < 8)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: %zu bytes, too short for the header length",
                       size);
    uint64_t hlen = sd_ld_u64le(buf);
    if (hlen > SD_ST_MAX_HEADER)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: header length %llu is over the %u limit",
                       (unsigned long long)hlen, SD_ST_MAX_HEADER);
    if (hlen > size - 8)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: header length %llu is past the end of the "
                       "%zu-byte file",
                       (unsigned long long)hlen, size);
    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    simdiff_status s = sd_json_parse(&f->doc, (const char *)buf + 8, (size_t)hlen, 8);
    if (s)
        return sd_fail_prefix(NULL, s, "safetensors header");
    const sd_json *d = &f->doc;
    const sd_json_node *root = &d->nodes[0];
    if (root->type != SD_JSON_OBJECT)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: the header is not a JSON object");
    size_t nt = root->count;
    if (nt) {
        f->t = calloc(nt, sizeof *f->t);
        if (!f->t)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    }
    span *spans = malloc((nt ? nt : 1) * sizeof *spans);
    if (!spans)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    size_t k = 0;
    for (uint32_t c = root->first; c != SD_JSON_NONE && !s; c = d->nodes[c].next) {
        const sd_json_node *e = &d->nodes[c];
        const char *key = sd_json_key(d, e);
        if (strcmp(key, "__metadata__") == 0) {
            s = parse_metadata(f, e);
            continue;
        }
        sd_st_tensor *t = &f->t[k];
        t->name = key;
        s = parse_tensor(d, e, t, &spans[k].begin, &spans[k].end);
        spans[k].tensor = k;
        k++;
    }
    f->n = k;
    if (!s && k) {
        /* The tensors must tile [0, data_size) exactly. */
        qsort(spans, k, sizeof *spans, span_cmp);
        uint64_t pos = 0;
        for (size_t i = 0; i < k && !s; i++) {
            const sd_st_tensor *t = &f->t[spans[i].tensor];
            if (spans[i].begin != pos)
                s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                            "safetensors: tensor \"%.200s\" starts at %llu, expected "
                            "%llu (%s)",
                            t->name, (unsigned long long)spans[i].begin,
                            (unsigned long long)pos,
                            spans[i].begin < pos ? "overlap" : "gap");
            else if (spans[i].end > data_size)
                s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                            "safetensors: tensor \"%.200s\" ends at %llu, past the "
                            "%llu-byte data buffer",
                            t->name, (unsigned long long)spans[i].end,
                            (unsigned long long)data_size);
            pos = spans[i].end;
        }
        for (size_t i = 0; i < k && !s; i++)
            f->t[spans[i].tensor].data = data + spans[i].begin;
        if (!s && pos != data_size)
            s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                        "safetensors: %llu bytes after the last tensor",
                        (unsigned long long)(data_size - pos));
    } else if (!s && data_size != 0) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "safetensors: %llu data bytes but no tensor",
                    (unsigned long long)data_size);
    }
    free(spans);
    if (!s && f->n)
        qsort(f->t, f->n, sizeof *f->t, tensor_name_cmp);
    return s;
}

void sd_st_close(sd_st_file *f)
{
    if (!f)
        return;
    sd_json_free(&f->doc);
    free(f->t);
    free(f->meta);
    free(f->owned);
    free(f);
}

simdiff_status sd_st_open_mem(sd_st_file **out, const void *data, size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_open_mem: out is NULL");
    *out = NULL;
    if (!data && size)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_open_mem: NULL data");
    sd_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "safetensors: out of memory");
    simdiff_status s = st_parse(f, data, size);
    if (s) {
        sd_st_close(f);
        return s;
    }
    *out = f;
    return SIMDIFF_OK;
}

static simdiff_status st_open_owned(void *outp, void *buf, size_t size)
{
    sd_st_file **out = outp;
    simdiff_status s = sd_st_open_mem(out, buf, size);
    if (s)
        free(buf);
    else
        (*out)->owned = buf;
    return s;
}

simdiff_status sd_st_open(sd_st_file **out, const char *path, size_t max_size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_open: out is NULL");
    *out = NULL;
    return sd_read_file_parse(path, max_size, st_open_owned, out);
}

size_t sd_st_count(const sd_st_file *f) { return f ? f->n : 0; }

const sd_st_tensor *sd_st_at(const sd_st_file *f, size_t i)
{
    return f && i < f->n ? &f->t[i] : NULL;
}

const sd_st_tensor *sd_st_find(const sd_st_file *f, const char *name)
{
    if (!f || !name || !f->n)
        return NULL;
    sd_st_tensor key = {0};
    key.name = name;
    return bsearch(&key, f->t, f->n, sizeof *f->t, tensor_name_cmp);
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld",
                              (long long)shape[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

simdiff_status sd_st_check_shape(const sd_st_file *f, const char *name, int ndim,
                                 const int64_t *shape)
{
    if (!f || !name || (ndim && !shape) || ndim < 0)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_check_shape: bad arguments");
    const sd_st_tensor *t = sd_st_find(f, name);
    if (!t)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "safetensors: no tensor \"%.200s\"",
                       name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char a[160], b[160];
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, ndim, shape);
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "safetensors: tensor \"%.200s\" has shape %s, expected %s",
                       name, a, b);
    }
    return SIMDIFF_OK;
}

simdiff_status sd_st_read_f32(const sd_st_file *f, const char *name, float *dst,
                              int ndim, const int64_t *shape)
{
    simdiff_status st = sd_st_check_shape(f, name, ndim, shape);
    if (st)
        return st;
    const sd_st_tensor *t = sd_st_find(f, name);
    if (t->numel && !dst)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_read_f32: NULL dst");
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case SD_DT_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (t->nbytes)
            memcpy(dst, p, t->nbytes);
#else
        for (size_t i = 0; i < t->numel; i++) {
            uint32_t u = sd_ld_u32le(p + 4 * i);
            memcpy(&dst[i], &u, 4);
        }
#endif
        return SIMDIFF_OK;
    case SD_DT_F16:
        for (size_t i = 0; i < t->numel; i++)
            dst[i] = sd_f16_to_f32(sd_ld_u16le(p + 2 * i));
        return SIMDIFF_OK;
    case SD_DT_BF16:
        for (size_t i = 0; i < t->numel; i++)
            dst[i] = sd_bf16_to_f32(sd_ld_u16le(p + 2 * i));
        return SIMDIFF_OK;
    case SD_DT_F64:
        for (size_t i = 0; i < t->numel; i++) {
            uint64_t u = sd_ld_u64le(p + 8 * i);
            double v;
            memcpy(&v, &u, 8);
            dst[i] = (float)v;
        }
        return SIMDIFF_OK;
    default:
        return sd_fail(NULL, SIMDIFF_ERR_UNSUPPORTED,
                       "safetensors: tensor \"%.200s\" is %s, only F32, F16, BF16 "
                       "and F64 convert to float",
                       name, sd_dtype_name(t->dtype));
    }
}

const char *sd_st_metadata(const sd_st_file *f, const char *key)
{
    if (!f || !key || !f->n_meta)
        return NULL;
    st_meta k = {key, NULL};
    const st_meta *m = bsearch(&k, f->meta, f->n_meta, sizeof *f->meta, meta_cmp);
    return m ? m->value : NULL;
}

size_t sd_st_metadata_count(const sd_st_file *f) { return f ? f->n_meta : 0; }

void sd_st_metadata_at(const sd_st_file *f, size_t i, const char **key,
                       const char **value)
{
    const st_meta *m = f && i < f->n_meta ? &f->meta[i] : NULL;
    if (key)
        *key = m ? m->key : NULL;
    if (value)
        *value = m ? m->value : NULL;
}
