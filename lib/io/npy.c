/* NumPy .npy headers (strict parser, numpy-identical writer) and the public
 * .npy writers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "simdiff/io.h"

#define NPY_MAX_HEADER 100000u

static simdiff_status npyfail(const char *what)
{
    return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "npy header: %s", what);
}

typedef struct lex {
    const char *p, *end;
} lex;

static void lex_ws(lex *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' ||
                             *l->p == '\r'))
        l->p++;
}

static int lex_char(lex *l, char c)
{
    lex_ws(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return 1;
    }
    return 0;
}

/* A Python string literal in ' or " quotes, no escapes, printable ASCII. */
static int lex_string(lex *l, char *out, size_t cap)
{
    lex_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
        return 0;
    char q = *l->p++;
    size_t n = 0;
    while (l->p < l->end && *l->p != q) {
        unsigned char c = (unsigned char)*l->p;
        if (c < 0x20 || c > 0x7e || c == '\\' || n + 1 >= cap)
            return 0;
        out[n++] = (char)c;
        l->p++;
    }
    if (l->p >= l->end)
        return 0;
    l->p++;
    out[n] = 0;
    return 1;
}

/* A non-negative Python int literal (no leading zeros, fits int64). */
static int lex_int(lex *l, int64_t *v)
{
    lex_ws(l);
    if (l->p >= l->end || *l->p < '0' || *l->p > '9')
        return 0;
    if (*l->p == '0' && l->p + 1 < l->end && l->p[1] >= '0' && l->p[1] <= '9')
        return 0;
    uint64_t r = 0;
    while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
        unsigned d = (unsigned)(*l->p++ - '0');
        if (r > ((uint64_t)INT64_MAX - d) / 10)
            return 0;
        r = r * 10 + d;
    }
    *v = (int64_t)r;
    return 1;
}

static int lex_word(lex *l, const char *w)
{
    lex_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n) != 0)
        return 0;
    const char *after = l->p + n;
    if (after < l->end && ((*after >= 'a' && *after <= 'z') ||
                           (*after >= 'A' && *after <= 'Z') ||
                           (*after >= '0' && *after <= '9') || *after == '_'))
        return 0;
    l->p = after;
    return 1;
}

static simdiff_status parse_shape(lex *l, sd_npy_header *h)
{
    if (!lex_char(l, '('))
        return npyfail("'shape' is not a tuple");
    h->ndim = 0;
    if (lex_char(l, ')'))
        return SIMDIFF_OK;
    for (;;) {
        int64_t v;
        if (h->ndim == SD_NPY_MAX_DIMS)
            return npyfail("more than 32 dimensions");
        if (!lex_int(l, &v))
            return npyfail("'shape' entries must be non-negative integers");
        h->shape[h->ndim++] = v;
        if (lex_char(l, ',')) {
            if (lex_char(l, ')'))
                return SIMDIFF_OK;
            continue;
        }
        if (lex_char(l, ')')) {
            /* "(3)" is the int 3 in Python, not a tuple. */
            if (h->ndim == 1)
                return npyfail("'shape' (n) is not a tuple; (n,) is");
            return SIMDIFF_OK;
        }
        return npyfail("bad 'shape' tuple");
    }
}

simdiff_status sd_npy_parse_header(const uint8_t *buf, size_t n, sd_npy_header *h)
{
    memset(h, 0, sizeof *h);
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "not a .npy file (bad magic)");
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "unsupported .npy version %d.%d",
                       major, minor);
    size_t start = major == 1 ? 10 : 12;
    if (n < start)
        return npyfail("truncated");
    size_t hlen = major == 1 ? sd_ld_u16le(buf + 8) : sd_ld_u32le(buf + 8);
    if (hlen > NPY_MAX_HEADER)
        return npyfail("header longer than 100000 bytes");
    if (hlen > n - start)
        return npyfail("truncated");
    if (hlen == 0 || buf[start + hlen - 1] != '\n')
        return npyfail("does not end with a newline");
    h->major = major;
    h->data_offset = start + hlen;
    lex l = {(const char *)buf + start, (const char *)buf + start + hlen - 1};
    for (const char *c = l.p; c < l.end; c++)
        if (*c == 0 || (unsigned char)*c > 0x7e)
            return npyfail("non-ASCII byte in header");
    if (!lex_char(&l, '{'))
        return npyfail("not a dict");
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    for (;;) {
        if (lex_char(&l, '}'))
            break;
        char key[32];
        if (!lex_string(&l, key, sizeof key))
            return npyfail("expected a string key");
        if (!lex_char(&l, ':'))
            return npyfail("expected ':'");
        simdiff_status s;
        if (strcmp(key, "descr") == 0) {
            if (seen_descr++)
                return npyfail("duplicate 'descr'");
            if (!lex_string(&l, h->descr, sizeof h->descr))
                return npyfail("'descr' is not a simple dtype string");
        } else if (strcmp(key, "fortran_order") == 0) {
            if (seen_fortran++)
                return npyfail("duplicate 'fortran_order'");
            if (lex_word(&l, "True"))
                h->fortran_order = 1;
            else if (lex_word(&l, "False"))
                h->fortran_order = 0;
            else
                return npyfail("'fortran_order' is not True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (seen_shape++)
                return npyfail("duplicate 'shape'");
            if ((s = parse_shape(&l, h)))
                return s;
        } else {
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "npy header: unexpected key '%s'",
                           key);
        }
        if (lex_char(&l, ','))
            continue;
        if (lex_char(&l, '}'))
            break;
        return npyfail("expected ',' or '}'");
    }
    if (!seen_descr || !seen_fortran || !seen_shape)
        return npyfail("needs the keys 'descr', 'fortran_order' and 'shape'");
    while (l.p < l.end && *l.p == ' ')
        l.p++;
    if (l.p != l.end)
        return npyfail("unexpected characters after the dict");
    return SIMDIFF_OK;
}

size_t sd_npy_make_header(uint8_t *buf, size_t cap, const char *descr, int ndim,
                          const int64_t *shape)
{
    /* Exactly what numpy 1.24's _write_array_header writes. */
    char dict[1200];
    size_t o = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                descr);
    for (int i = 0; i < ndim && o < sizeof dict; i++)
        o += (size_t)snprintf(dict + o, sizeof dict - o, i ? ", %lld" : "%lld",
                              (long long)shape[i]);
    if (o < sizeof dict)
        o += (size_t)snprintf(dict + o, sizeof dict - o, ndim == 1 ? ",), }" : "), }");
    if (ndim > 0 && o < sizeof dict) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        for (int i = digits; i < 21 && o < sizeof dict - 1; i++)
            dict[o++] = ' ';
    }
    if (o >= sizeof dict - 1)
        return 0;
    size_t hlen = o + 1; /* + '\n' */
    int v2 = 0;
    size_t pre = 10;
    size_t padlen = 64 - ((pre + hlen) % 64);
    if (hlen + padlen > 65535) {
        v2 = 1;
        pre = 12;
        padlen = 64 - ((pre + hlen) % 64);
    }
    size_t total = pre + hlen + padlen;
    if (total > cap)
        return 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = v2 ? 2 : 1;
    buf[7] = 0;
    if (v2)
        sd_st_u32le(buf + 8, (uint32_t)(hlen + padlen));
    else
        sd_st_u16le(buf + 8, (uint16_t)(hlen + padlen));
    memcpy(buf + pre, dict, o);
    memset(buf + pre + o, ' ', padlen);
    buf[total - 1] = '\n';
    return total;
}

simdiff_status sd_npy_open(const char *path, sd_src **srcp, sd_npy_header *h)
{
    simdiff_status s = sd_src_open(srcp, path);
    if (s)
        return s;
    uint8_t pre[12];
    uint8_t *buf = NULL;
    if ((s = sd_src_read(*srcp, pre, 10)))
        goto fail;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': not a .npy file (bad magic)", path);
        goto fail;
    }
    size_t start = 10, hlen;
    if (pre[6] >= 2) {
        if ((s = sd_src_read(*srcp, pre + 10, 2)))
            goto fail;
        start = 12;
        hlen = sd_ld_u32le(pre + 8);
    } else {
        hlen = sd_ld_u16le(pre + 8);
    }
    if (hlen > NPY_MAX_HEADER) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': npy header of %zu bytes is too long",
                    path, hlen);
        goto fail;
    }
    buf = malloc(start + hlen);
    if (!buf) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(buf, pre, start);
    if ((s = sd_src_read(*srcp, buf + start, hlen)))
        goto fail;
    if ((s = sd_npy_parse_header(buf, start + hlen, h))) {
        s = sd_fail_path(s, path);
        goto fail;
    }
    if (h->fortran_order) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': fortran_order is True; only C-order arrays are read "
                    "(save np.ascontiguousarray(a))",
                    path);
        goto fail;
    }
    free(buf);
    return SIMDIFF_OK;
fail:
    free(buf);
    sd_src_close(*srcp);
    *srcp = NULL;
    return s;
}

static simdiff_status write_npy(const char *fn, const char *path, int ndim,
                                const int64_t *shape, const void *data,
                                size_t esize, const char *descr)
{
    if (!path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL path", fn);
    if (ndim < 0 || ndim > SD_NPY_MAX_DIMS || (ndim && !shape))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: ndim %d, expected 0..%d",
                       fn, ndim, SD_NPY_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
            sd_mul_size(numel, (size_t)shape[i], &numel))
            return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: bad shape[%d] = %lld",
                           fn, i, (long long)shape[i]);
    size_t nbytes;
    if (sd_mul_size(numel, esize, &nbytes))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: array too large", fn);
    if (nbytes && !data)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: NULL data", fn);
    uint8_t head[2048];
    size_t hn = sd_npy_make_header(head, sizeof head, descr, ndim, shape);
    if (!hn)
        return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "%s: header too long", fn);
    sd_afile *f;
    simdiff_status s = sd_afile_open(&f, path);
    if (s)
        return s;
    s = sd_afile_write(f, head, hn);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!s)
        s = sd_afile_write(f, data, nbytes);
#else
    for (size_t i = 0; i < numel && !s; i++) {
        uint8_t le[4];
        if (esize == 4) {
            uint32_t u;
            memcpy(&u, (const uint8_t *)data + 4 * i, 4);
            sd_st_u32le(le, u);
        } else {
            le[0] = ((const uint8_t *)data)[i];
        }
        s = sd_afile_write(f, le, esize);
    }
#endif
    if (s) {
        sd_afile_abort(f);
        return s;
    }
    return sd_afile_commit(f);
}

SIMDIFF_API simdiff_status simdiff_write_npy_f32(const char *path, int ndim,
                                                 const int64_t *shape,
                                                 const float *data)
{
    return write_npy("simdiff_write_npy_f32", path, ndim, shape, data, 4, "<f4");
}

SIMDIFF_API simdiff_status simdiff_write_npy_u8(const char *path, int ndim,
                                                const int64_t *shape,
                                                const uint8_t *data)
{
    return write_npy("simdiff_write_npy_u8", path, ndim, shape, data, 1, "|u1");
}

SIMDIFF_API simdiff_status simdiff_read_npy_f32(const char *path, int max_ndim,
                                                int64_t *shape, int *ndim, float **data)
{
    static const char fn[] = "simdiff_read_npy_f32";
    if (data)
        *data = NULL;
    if (!path || !ndim || !data)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                       !path ? "path" : !ndim ? "ndim" : "data");
    if (max_ndim < 0 || max_ndim > SD_NPY_MAX_DIMS || (max_ndim && !shape))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "%s: max_ndim %d with %s shape, expected 0..%d (shape not NULL "
                       "unless 0)",
                       fn, max_ndim, shape ? "a" : "a NULL", SD_NPY_MAX_DIMS);
    sd_src *src;
    sd_npy_header h;
    simdiff_status s = sd_npy_open(path, &src, &h);
    if (s)
        return s;
    float *buf = NULL;
    size_t numel = 1, bytes = 0;
    if (strcmp(h.descr, "<f4") != 0) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': dtype '%s', expected '<f4' (little-endian float32; save "
                    "a.astype('<f4'))",
                    path, h.descr);
        goto done;
    }
    if (h.ndim > max_ndim) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': a %d-dimensional array, at most %d expected", path, h.ndim,
                    max_ndim);
        goto done;
    }
    for (int i = 0; i < h.ndim; i++)
        if ((uint64_t)h.shape[i] > SIZE_MAX ||
            sd_mul_size(numel, (size_t)h.shape[i], &numel)) {
            s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                        "'%s': shape[%d] = %lld makes the array too large", path, i,
                        (long long)h.shape[i]);
            goto done;
        }
    if (sd_mul_size(numel, sizeof(float), &bytes)) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': %zu elements make the array too large",
                    path, numel);
        goto done;
    }
    if ((s = sd_src_check_remaining(src, bytes)))
        goto done;
    if (!(buf = malloc(bytes ? bytes : sizeof(float)))) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': cannot allocate %zu bytes", path, bytes);
        goto done;
    }
    if ((s = sd_src_read(src, buf, bytes)) || (s = sd_src_expect_end(src)))
        goto done;
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    for (size_t i = 0; i < numel; i++) {
        uint32_t u = sd_ld_u32le((const uint8_t *)(buf + i));
        memcpy(buf + i, &u, 4);
    }
#endif
done:
    sd_src_close(src);
    if (s) {
        free(buf);
        return s;
    }
    for (int i = 0; i < h.ndim; i++)
        shape[i] = h.shape[i];
    *ndim = h.ndim;
    *data = buf;
    return SIMDIFF_OK;
}
