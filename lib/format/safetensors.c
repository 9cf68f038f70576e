/* safetensors reader and writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

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

static simdiff_status st_parse(sd_st_file *f, const uint8_t *buf, size_t size)
{
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

simdiff_status sd_st_open(sd_st_file **out, const char *path, size_t max_size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_open: out is NULL");
    *out = NULL;
    void *buf;
    size_t size;
    simdiff_status s = sd_read_file(path, max_size, &buf, &size);
    if (s)
        return s;
    s = sd_st_open_mem(out, buf, size);
    if (s) {
        free(buf);
        char prefix[300];
        snprintf(prefix, sizeof prefix, "'%.256s'", path);
        return sd_fail_prefix(NULL, s, prefix);
    }
    (*out)->owned = buf;
    return SIMDIFF_OK;
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

simdiff_status sd_st_read_f32(const sd_st_file *f, const char *name, float *dst,
                              int ndim, const int64_t *shape)
{
    if (!f || !name || (ndim && !shape) || ndim < 0)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_st_read_f32: bad arguments");
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

/* ---- writer -------------------------------------------------------------- */

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

/* A growable byte buffer for the JSON header. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->n < n) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap - b->n < n) {
            if (ncap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            ncap *= 2;
        }
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string the way serde_json writes it: UTF-8 kept, '"' and '\\'
 * escaped, control characters as \b \t \n \f \r or \u00XX. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sb_put(b, esc, 6);
            } else {
                sb_put(b, (const char *)p, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
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

    sbuf h = {0};
    char num[32];
    size_t offset = 0;
    simdiff_status s = SIMDIFF_OK;
    sb_str(&h, "{");
    if (w->n_meta) {
        sb_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i)
                sb_str(&h, ",");
            sb_json_string(&h, w->meta[i].key);
            sb_str(&h, ":");
            sb_json_string(&h, w->meta[i].value);
        }
        sb_str(&h, "}");
    }
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = order[i];
        if (i || w->n_meta)
            sb_str(&h, ",");
        sb_json_string(&h, t->name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, sd_dtype_name(t->dtype));
        sb_str(&h, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            snprintf(num, sizeof num, k ? ",%lld" : "%lld", (long long)t->shape[k]);
            sb_str(&h, num);
        }
        size_t end;
        if (sd_add_size(offset, t->nbytes, &end)) {
            s = sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "safetensors: data too large");
            break;
        }
        snprintf(num, sizeof num, "%zu", offset);
        sb_str(&h, "],\"data_offsets\":[");
        sb_str(&h, num);
        snprintf(num, sizeof num, ",%zu]}", end);
        sb_str(&h, num);
        offset = end;
    }
    sb_str(&h, "}");
    while (h.n % 8)
        sb_put(&h, " ", 1);
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
    free(h.p);
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
