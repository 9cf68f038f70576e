/* In-memory image datasets from IDX or NPY files; batches, shuffling,
 * flips. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image_internal.h"
#include "io/io_internal.h"
#include "simdiff/io.h"

/* Largest pixel array a dataset may hold (bytes of the stored form). */
#define DS_MAX_BYTES ((uint64_t)1 << 36)
#define DS_MAX_SIDE 65536
#define DS_MAX_CHANNELS 4

struct simdiff_dataset {
    sd_err err;
    int64_t n;
    int c, h, w;
    int num_classes;
    uint8_t *u8;     /* (N, C, H, W) pixel levels 0..255, or NULL */
    float *f32;      /* (N, C, H, W) values in [-1, 1], or NULL */
    uint8_t *labels; /* (N), or NULL */
    int no_label;    /* label byte read as -1 (folder root files), or -1 */
    sd_folder_info *folder; /* folder datasets: class names, skipped files */
};

static simdiff_dataset *ds_new(void)
{
    simdiff_dataset *ds = calloc(1, sizeof(simdiff_dataset));
    if (ds)
        ds->no_label = -1;
    return ds;
}

SIMDIFF_API void simdiff_dataset_destroy(simdiff_dataset *ds)
{
    if (!ds)
        return;
    free(ds->u8);
    free(ds->f32);
    free(ds->labels);
    sd_folder_info_free(ds->folder);
    free(ds);
}

SIMDIFF_API const char *simdiff_dataset_errmsg(const simdiff_dataset *ds)
{
    return sd_errmsg(ds ? &ds->err : NULL);
}

SIMDIFF_API int64_t simdiff_dataset_count(const simdiff_dataset *ds)
{
    return ds ? ds->n : 0;
}
SIMDIFF_API int simdiff_dataset_channels(const simdiff_dataset *ds)
{
    return ds ? ds->c : 0;
}
SIMDIFF_API int simdiff_dataset_height(const simdiff_dataset *ds)
{
    return ds ? ds->h : 0;
}
SIMDIFF_API int simdiff_dataset_width(const simdiff_dataset *ds)
{
    return ds ? ds->w : 0;
}
SIMDIFF_API int simdiff_dataset_num_classes(const simdiff_dataset *ds)
{
    return ds ? ds->num_classes : 0;
}

/* Size in bytes of (n, c, h, w) elements of esize bytes, checked against
 * DS_MAX_BYTES. */
static simdiff_status ds_bytes(const char *path, uint64_t n, uint64_t c, uint64_t h,
                               uint64_t w, size_t esize, size_t *out)
{
    size_t b = esize;
    if (n > SIZE_MAX || c > SIZE_MAX || h > SIZE_MAX || w > SIZE_MAX ||
        sd_mul_size(b, (size_t)n, &b) || sd_mul_size(b, (size_t)c, &b) ||
        sd_mul_size(b, (size_t)h, &b) || sd_mul_size(b, (size_t)w, &b) ||
        (uint64_t)b > DS_MAX_BYTES)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "'%s': %llu x %llu x %llu x %llu elements is more than the "
                       "%llu-byte limit",
                       path, (unsigned long long)n, (unsigned long long)c,
                       (unsigned long long)h, (unsigned long long)w,
                       (unsigned long long)DS_MAX_BYTES);
    *out = b;
    return SIMDIFF_OK;
}

static simdiff_status set_labels_stats(simdiff_dataset *ds)
{
    int mx = -1;
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] > mx)
            mx = ds->labels[i];
    ds->num_classes = mx + 1;
    return SIMDIFF_OK;
}

/* ---- IDX ------------------------------------------------------------------ */

static simdiff_status idx_header(sd_src *src, const char *path, uint32_t magic,
                                 int ndim, uint32_t *dims)
{
    uint8_t b[4 + 4 * 3];
    simdiff_status s = sd_src_read(src, b, 4);
    if (s)
        return s;
    uint32_t m = sd_ld_u32be(b);
    if (m != magic) {
        if ((m >> 16) == 0 && ((m >> 8) & 0xff) != 0x08)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                           "'%s': IDX element type 0x%02x, only unsigned bytes "
                           "(0x08) are supported",
                           path, (unsigned)((m >> 8) & 0xff));
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "'%s': IDX magic 0x%08x, expected 0x%08x (%s)", path, m,
                       magic, ndim == 3 ? "images: ubyte, 3 dims" : "labels: ubyte, 1 dim");
    }
    if ((s = sd_src_read(src, b + 4, 4 * (size_t)ndim)))
        return s;
    for (int i = 0; i < ndim; i++)
        dims[i] = sd_ld_u32be(b + 4 + 4 * i);
    return SIMDIFF_OK;
}

static simdiff_status idx_labels(const char *path, int64_t n, uint8_t **out)
{
    sd_src *src;
    simdiff_status s = sd_src_open(&src, path);
    if (s)
        return s;
    uint32_t count = 0;
    if ((s = idx_header(src, path, 0x00000801u, 1, &count)))
        goto done;
    if ((int64_t)count != n) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': %u labels for %lld images", path,
                    count, (long long)n);
        goto done;
    }
    if ((s = sd_src_check_remaining(src, count)))
        goto done;
    *out = malloc(count ? count : 1);
    if (!*out) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': out of memory", path);
        goto done;
    }
    if ((s = sd_src_read(src, *out, count)) || (s = sd_src_expect_end(src)))
        goto done;
done:
    sd_src_close(src);
    return s;
}

SIMDIFF_API simdiff_status simdiff_dataset_open_idx(simdiff_dataset **out,
                                                    const char *images_path,
                                                    const char *labels_path)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_idx: out is NULL");
    *out = NULL;
    if (!images_path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_idx: images_path is NULL");
    simdiff_dataset *ds = ds_new();
    if (!ds)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    sd_src *src;
    simdiff_status s = sd_src_open(&src, images_path);
    if (s) {
        simdiff_dataset_destroy(ds);
        return s;
    }
    uint32_t dims[3];
    size_t bytes = 0;
    if ((s = idx_header(src, images_path, 0x00000803u, 3, dims)))
        goto fail;
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[1] > DS_MAX_SIDE ||
        dims[2] > DS_MAX_SIDE) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': %u images of %u x %u (need at least one image, sides "
                    "1..%d)",
                    images_path, dims[0], dims[1], dims[2], DS_MAX_SIDE);
        goto fail;
    }
    if ((s = ds_bytes(images_path, dims[0], 1, dims[1], dims[2], 1, &bytes)) ||
        (s = sd_src_check_remaining(src, bytes)))
        goto fail;
    if (!(ds->u8 = malloc(bytes))) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': cannot allocate %zu bytes",
                    images_path, bytes);
        goto fail;
    }
    if ((s = sd_src_read(src, ds->u8, bytes)) || (s = sd_src_expect_end(src)))
        goto fail;
    sd_src_close(src);
    src = NULL;
    ds->n = dims[0];
    ds->c = 1;
    ds->h = (int)dims[1];
    ds->w = (int)dims[2];
    if (labels_path) {
        if ((s = idx_labels(labels_path, ds->n, &ds->labels)))
            goto fail;
        set_labels_stats(ds);
    }
    *out = ds;
    return SIMDIFF_OK;
fail:
    sd_src_close(src);
    simdiff_dataset_destroy(ds);
    return s;
}

/* ---- NPY ------------------------------------------------------------------ */

static simdiff_status npy_labels(const char *path, int64_t n, uint8_t **out)
{
    sd_src *src;
    sd_npy_header h;
    simdiff_status s = sd_npy_open(path, &src, &h);
    if (s)
        return s;
    size_t esize = strcmp(h.descr, "<i8") == 0   ? 8
                   : strcmp(h.descr, "<i4") == 0 ? 4
                   : strcmp(h.descr, "|u1") == 0 ? 1
                                                 : 0;
    uint8_t *raw = NULL;
    size_t bytes = 0;
    if (!esize) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': labels dtype '%s', expected '<i8', '<i4' or '|u1'", path,
                    h.descr);
        goto done;
    }
    if (h.ndim != 1 || h.shape[0] != n) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': labels must have shape (%lld,) for %lld images", path,
                    (long long)n, (long long)n);
        goto done;
    }
    if ((s = ds_bytes(path, (uint64_t)n, 1, 1, 1, esize, &bytes)) ||
        (s = sd_src_check_remaining(src, bytes)))
        goto done;
    raw = malloc(bytes ? bytes : 1);
    *out = malloc(n ? (size_t)n : 1);
    if (!raw || !*out) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': out of memory", path);
        goto done;
    }
    if ((s = sd_src_read(src, raw, bytes)) || (s = sd_src_expect_end(src)))
        goto done;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = esize == 8   ? (int64_t)sd_ld_u64le(raw + 8 * i)
                    : esize == 4 ? (int64_t)(int32_t)sd_ld_u32le(raw + 4 * i)
                                 : raw[i];
        if (v < 0 || v > 255) {
            s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                        "'%s': label %lld at index %lld is outside 0..255", path,
                        (long long)v, (long long)i);
            goto done;
        }
        (*out)[i] = (uint8_t)v;
    }
done:
    free(raw);
    sd_src_close(src);
    return s;
}

SIMDIFF_API simdiff_status simdiff_dataset_open_npy(simdiff_dataset **out,
                                                    const char *images_path,
                                                    const char *labels_path,
                                                    simdiff_layout layout,
                                                    simdiff_float_range float_range)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_npy: out is NULL");
    *out = NULL;
    if (!images_path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_npy: images_path is NULL");
    if (layout < SIMDIFF_LAYOUT_AUTO || layout > SIMDIFF_LAYOUT_NCHW)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_npy: layout %d is not a simdiff_layout",
                       layout);
    if (float_range != SIMDIFF_FLOAT_RANGE_01 && float_range != SIMDIFF_FLOAT_RANGE_PM1)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_npy: float_range %d is not a "
                       "simdiff_float_range",
                       float_range);
    sd_src *src;
    sd_npy_header h;
    simdiff_status s = sd_npy_open(images_path, &src, &h);
    if (s)
        return s;
    simdiff_dataset *ds = ds_new();
    void *raw = NULL;
    if (!ds) {
        sd_src_close(src);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    }
    int is_f32 = strcmp(h.descr, "<f4") == 0;
    if (!is_f32 && strcmp(h.descr, "|u1") != 0) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': images dtype '%s', expected '|u1' (uint8) or '<f4' "
                    "(float32)",
                    images_path, h.descr);
        goto fail;
    }
    int nhwc = 0;
    int64_t n = h.ndim >= 1 ? h.shape[0] : 0, c, hh, ww;
    if (h.ndim == 3) {
        c = 1, hh = h.shape[1], ww = h.shape[2];
    } else if (h.ndim == 4) {
        int as_nhwc = h.shape[3] == 1 || h.shape[3] == 3;
        int as_nchw = h.shape[1] == 1 || h.shape[1] == 3;
        if (layout == SIMDIFF_LAYOUT_NHWC) {
            nhwc = 1;
        } else if (layout == SIMDIFF_LAYOUT_NCHW) {
            nhwc = 0;
        } else if (as_nhwc && !as_nchw) {
            nhwc = 1;
        } else if (as_nchw && !as_nhwc) {
            nhwc = 0;
        } else {
            s = sd_fail(NULL, as_nhwc ? SIMDIFF_ERR_INVALID_ARG : SIMDIFF_ERR_FORMAT,
                        "'%s': shape (%lld, %lld, %lld, %lld) is %s; pass "
                        "SIMDIFF_LAYOUT_NHWC or SIMDIFF_LAYOUT_NCHW",
                        images_path, (long long)h.shape[0], (long long)h.shape[1],
                        (long long)h.shape[2], (long long)h.shape[3],
                        as_nhwc ? "ambiguous (NHWC or NCHW)"
                                : "not NHWC or NCHW with 1 or 3 channels");
            goto fail;
        }
        c = nhwc ? h.shape[3] : h.shape[1];
        hh = nhwc ? h.shape[1] : h.shape[2];
        ww = nhwc ? h.shape[2] : h.shape[3];
    } else {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': %d-d array; images need shape (N, H, W), (N, H, W, C) "
                    "or (N, C, H, W)",
                    images_path, h.ndim);
        goto fail;
    }
    if (n < 1 || c < 1 || c > DS_MAX_CHANNELS || hh < 1 || hh > DS_MAX_SIDE ||
        ww < 1 || ww > DS_MAX_SIDE) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': %lld images of %lld x %lld x %lld (need at least one "
                    "image, 1..%d channels, sides 1..%d)",
                    images_path, (long long)n, (long long)c, (long long)hh,
                    (long long)ww, DS_MAX_CHANNELS, DS_MAX_SIDE);
        goto fail;
    }
    size_t esize = is_f32 ? 4 : 1, bytes = 0;
    if ((s = ds_bytes(images_path, (uint64_t)n, (uint64_t)c, (uint64_t)hh,
                      (uint64_t)ww, esize, &bytes)) ||
        (s = sd_src_check_remaining(src, bytes)))
        goto fail;
    raw = malloc(bytes);
    if (!raw) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': cannot allocate %zu bytes",
                    images_path, bytes);
        goto fail;
    }
    if ((s = sd_src_read(src, raw, bytes)) || (s = sd_src_expect_end(src)))
        goto fail;
    sd_src_close(src);
    src = NULL;
    ds->n = n;
    ds->c = (int)c;
    ds->h = (int)hh;
    ds->w = (int)ww;
    size_t numel = bytes / esize, plane = (size_t)(hh * ww);
    if (is_f32) {
        ds->f32 = malloc(bytes);
        if (!ds->f32) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            goto fail;
        }
        const uint8_t *p = raw;
        for (size_t i = 0; i < numel; i++) {
            uint32_t u = sd_ld_u32le(p + 4 * i);
            float v;
            memcpy(&v, &u, 4);
            float lo = float_range == SIMDIFF_FLOAT_RANGE_01 ? 0.0f : -1.0f;
            if (!(v >= lo && v <= 1.0f)) {
                s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                            "'%s': value %g at element %zu is outside [%g, 1]%s",
                            images_path, (double)v, i, (double)lo,
                            float_range == SIMDIFF_FLOAT_RANGE_01
                                ? " (use SIMDIFF_FLOAT_RANGE_PM1 for [-1, 1] data)"
                                : "");
                goto fail;
            }
            if (float_range == SIMDIFF_FLOAT_RANGE_01)
                v = v * 2.0f - 1.0f;
            size_t dst = i;
            if (nhwc) { /* i = ((k * H + y) * W + x) * C + ch */
                size_t ch = i % (size_t)c, pix = i / (size_t)c;
                size_t k = pix / plane, yx = pix % plane;
                dst = (k * (size_t)c + ch) * plane + yx;
            }
            ds->f32[dst] = v;
        }
    } else if (nhwc && c > 1) {
        ds->u8 = malloc(bytes);
        if (!ds->u8) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            goto fail;
        }
        const uint8_t *p = raw;
        for (size_t i = 0; i < numel; i++) {
            size_t ch = i % (size_t)c, pix = i / (size_t)c;
            size_t k = pix / plane, yx = pix % plane;
            ds->u8[(k * (size_t)c + ch) * plane + yx] = p[i];
        }
    } else {
        ds->u8 = raw; /* already (N, C, H, W) */
        raw = NULL;
    }
    free(raw);
    raw = NULL;
    if (labels_path) {
        if ((s = npy_labels(labels_path, ds->n, &ds->labels)))
            goto fail;
        set_labels_stats(ds);
    }
    *out = ds;
    return SIMDIFF_OK;
fail:
    free(raw);
    sd_src_close(src);
    simdiff_dataset_destroy(ds);
    return s;
}

/* ---- batches -------------------------------------------------------------- */

SIMDIFF_API simdiff_status simdiff_dataset_get_batch(simdiff_dataset *ds, int n,
                                                     const int64_t *indices,
                                                     int pad_to,
                                                     const uint8_t *flip,
                                                     float *out, int *labels_out)
{
    if (!ds)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_get_batch: NULL dataset");
    if (n < 0 || (n > 0 && (!indices || !out)))
        return sd_fail(&ds->err, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_get_batch: n = %d with %s", n,
                       n < 0 ? "n < 0" : "a NULL indices or out");
    if (pad_to != 0 && (pad_to < ds->h || pad_to < ds->w || pad_to > DS_MAX_SIDE))
        return sd_fail(&ds->err, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_get_batch: pad_to = %d, expected 0 or "
                       "%d..%d for %d x %d images",
                       pad_to, ds->h > ds->w ? ds->h : ds->w, DS_MAX_SIDE, ds->h,
                       ds->w);
    for (int i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return sd_fail(&ds->err, SIMDIFF_ERR_INVALID_ARG,
                           "simdiff_dataset_get_batch: indices[%d] = %lld is outside "
                           "0..%lld",
                           i, (long long)indices[i], (long long)ds->n - 1);
    size_t H = (size_t)ds->h, W = (size_t)ds->w, C = (size_t)ds->c;
    size_t PH = pad_to ? (size_t)pad_to : H, PW = pad_to ? (size_t)pad_to : W;
    size_t top = (PH - H) / 2, left = (PW - W) / 2;
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)((double)v / 127.5 - 1.0);
    for (int i = 0; i < n; i++) {
        size_t k = (size_t)indices[i];
        int fl = flip && flip[i];
        for (size_t ch = 0; ch < C; ch++) {
            float *dst = out + ((size_t)i * C + ch) * PH * PW;
            if (PH != H || PW != W)
                for (size_t q = 0; q < PH * PW; q++)
                    dst[q] = -1.0f;
            size_t src0 = (k * C + ch) * H * W;
            for (size_t y = 0; y < H; y++) {
                float *row = dst + (top + y) * PW;
                for (size_t x = 0; x < W; x++) {
                    size_t px = left + x; /* column in the padded canvas */
                    if (fl)
                        px = PW - 1 - px;
                    size_t si = src0 + y * W + x;
                    row[px] = ds->u8 ? lut[ds->u8[si]] : ds->f32[si];
                }
            }
        }
        if (labels_out)
            labels_out[i] = ds->labels && ds->labels[k] != ds->no_label ? ds->labels[k] : -1;
    }
    return SIMDIFF_OK;
}

/* ---- shuffling and flips -------------------------------------------------- */

#define DOMAIN_SHUFFLE 0x73687566666c6521ull /* "shuffle!" */
#define DOMAIN_FLIP 0x666c69702d6c7221ull    /* "flip-lr!" */

SIMDIFF_API simdiff_status simdiff_dataset_shuffle(const simdiff_dataset *ds,
                                                   uint64_t seed, uint64_t epoch,
                                                   int64_t *perm)
{
    if (!ds || !perm)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_shuffle: NULL %s", ds ? "perm" : "dataset");
    int64_t n = ds->n;
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    /* key = mix(mix(seed ^ D) ^ epoch) (mix: sd_splitmix64); draws are the
     * splitmix64 stream seeded with key: x_c = mix(key + (c + 1) * GOLDEN),
     * c = 0, 1, ... */
    uint64_t key = sd_splitmix64(sd_splitmix64(seed ^ DOMAIN_SHUFFLE) ^ epoch), c = 0;
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t bound = (uint64_t)i + 1;
        uint64_t reject_below = (0 - bound) % bound; /* 2^64 mod bound */
        uint64_t x;
        do
            x = sd_splitmix64(key + (++c) * SD_SPLITMIX64_GOLDEN);
        while (x < reject_below);
        int64_t j = (int64_t)(x % bound);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_dataset_flip_mask(uint64_t seed, uint64_t step,
                                                     int n, const int64_t *indices,
                                                     uint8_t *flip)
{
    if (n < 0 || (n > 0 && (!indices || !flip)))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_flip_mask: n = %d with NULL pointers", n);
    uint64_t key = sd_splitmix64(sd_splitmix64(seed ^ DOMAIN_FLIP) ^ step);
    for (int i = 0; i < n; i++)
        flip[i] = (uint8_t)(sd_splitmix64(key + ((uint64_t)indices[i] + 1) *
                                                    SD_SPLITMIX64_GOLDEN) >> 63);
    return SIMDIFF_OK;
}

/* ---- names ------------------------------------------------------------------ */

SD_DEFINE_ENUM_NAMES(layout, simdiff_layout, "layout",
                     {SIMDIFF_LAYOUT_AUTO, "auto", 0}, {SIMDIFF_LAYOUT_NHWC, "nhwc", 0},
                     {SIMDIFF_LAYOUT_NCHW, "nchw", 0})

SD_DEFINE_ENUM_NAMES(float_range, simdiff_float_range, "float range",
                     {SIMDIFF_FLOAT_RANGE_01, "zero_one", 0},
                     {SIMDIFF_FLOAT_RANGE_01, "01", 1}, {SIMDIFF_FLOAT_RANGE_01, "unit", 1},
                     {SIMDIFF_FLOAT_RANGE_PM1, "pm1", 0}, {SIMDIFF_FLOAT_RANGE_PM1, "-11", 1},
                     {SIMDIFF_FLOAT_RANGE_PM1, "minus_one_one", 1})

/* ---- folder datasets (lib/io/folder.c) ------------------------------------- */

simdiff_status sd_dataset_adopt(simdiff_dataset **out, int64_t n, int c, int size,
                                uint8_t *u8, uint8_t *labels, int no_label,
                                sd_folder_info *fi)
{
    simdiff_dataset *ds = ds_new();
    if (!ds)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    ds->n = n;
    ds->c = c;
    ds->h = ds->w = size;
    ds->u8 = u8;
    ds->labels = labels;
    ds->no_label = no_label;
    ds->num_classes = labels ? fi->num_classes : 0;
    ds->folder = fi;
    *out = ds;
    return SIMDIFF_OK;
}

const sd_folder_info *sd_dataset_folder(const simdiff_dataset *ds)
{
    return ds ? ds->folder : NULL;
}
