/* PNG writers: an image grid from NCHW floats in [-1, 1], and raw 8-bit
 * HWC images. Deflate through zlib, one adaptive filter per row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "simdiff/io.h"

#define PNG_PAD 2
#define PNG_PAD_VALUE 255
#define PNG_MAX_SIDE (1 << 24)
#define PNG_IDAT_MAX (1u << 20)

static simdiff_status png_chunk(sd_afile *f, const char *type, const uint8_t *data,
                                size_t n)
{
    uint8_t head[8], tail[4];
    sd_st_u32be(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uint32_t crc = sd_crc32(0, head + 4, 4);
    crc = sd_crc32(crc, data, n);
    sd_st_u32be(tail, crc);
    simdiff_status s = sd_afile_write(f, head, 8);
    if (!s)
        s = sd_afile_write(f, data, n);
    if (!s)
        s = sd_afile_write(f, tail, 4);
    return s;
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc)
        return a;
    return pb <= pc ? b : c;
}

/* Filter one row (bpp bytes per pixel, len bytes) with the filter type
 * that minimises the sum of |signed residuals| (the libpng heuristic). */
static void filter_row(const uint8_t *cur, const uint8_t *prev, size_t len,
                       int bpp, uint8_t *out /* 1 + len */, uint8_t *tmp)
{
    unsigned long best_sum = (unsigned long)-1;
    for (int type = 0; type < 5; type++) {
        unsigned long sum = 0;
        for (size_t i = 0; i < len; i++) {
            int a = i >= (size_t)bpp ? cur[i - bpp] : 0;
            int b = prev ? prev[i] : 0;
            int c = (prev && i >= (size_t)bpp) ? prev[i - bpp] : 0;
            int pred = type == 0   ? 0
                       : type == 1 ? a
                       : type == 2 ? b
                       : type == 3 ? (a + b) / 2
                                   : paeth(a, b, c);
            uint8_t r = (uint8_t)(cur[i] - pred);
            tmp[i] = r;
            sum += r < 128 ? r : 256u - r;
        }
        if (sum < best_sum) {
            best_sum = sum;
            out[0] = (uint8_t)type;
            memcpy(out + 1, tmp, len);
        }
    }
}

/* Write a PNG from an 8-bit image given row by row (w * channels bytes
 * each). color_type: 0 gray, 4 gray+alpha, 2 RGB, 6 RGBA. */
static simdiff_status png_write(const char *path, size_t w, size_t h, int channels,
                                const uint8_t *pixels)
{
    static const int color_types[5] = {0, 0, 4, 2, 6};
    size_t row, raw_n;
    if (sd_mul_size(w, (size_t)channels, &row) || sd_add_size(row, 1, &raw_n) ||
        sd_mul_size(raw_n, h, &raw_n))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "png: image too large");
    uint8_t *raw = malloc(raw_n ? raw_n : 1), *tmp = malloc(row ? row : 1);
    if (!raw || !tmp) {
        free(raw);
        free(tmp);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "png: cannot allocate %zu bytes", raw_n);
    }
    for (size_t y = 0; y < h; y++)
        filter_row(pixels + y * row, y ? pixels + (y - 1) * row : NULL, row, channels,
                   raw + y * (row + 1), tmp);
    free(tmp);
    void *z;
    size_t zn;
    simdiff_status s = sd_zcompress(raw, raw_n, 9, &z, &zn);
    free(raw);
    if (s)
        return s;
    sd_afile *f;
    if ((s = sd_afile_open(&f, path))) {
        free(z);
        return s;
    }
    uint8_t ihdr[13];
    sd_st_u32be(ihdr, (uint32_t)w);
    sd_st_u32be(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = (uint8_t)color_types[channels];
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    s = sd_afile_write(f, "\x89PNG\r\n\x1a\n", 8);
    if (!s)
        s = png_chunk(f, "IHDR", ihdr, sizeof ihdr);
    for (size_t off = 0; !s && off < zn; off += PNG_IDAT_MAX)
        s = png_chunk(f, "IDAT", (const uint8_t *)z + off,
                      zn - off < PNG_IDAT_MAX ? zn - off : PNG_IDAT_MAX);
    if (!s)
        s = png_chunk(f, "IEND", NULL, 0);
    free(z);
    if (s) {
        sd_afile_abort(f);
        return s;
    }
    return sd_afile_commit(f);
}

static uint8_t quantize(float v)
{
    if (!(v > -1.0f)) /* also NaN */
        return 0;
    if (v >= 1.0f)
        return 255;
    float q = floorf((v + 1.0f) * 127.5f + 0.5f);
    return (uint8_t)(q > 255.0f ? 255.0f : q);
}

SIMDIFF_API simdiff_status simdiff_write_png(const char *path, int n, int channels,
                                             int height, int width,
                                             const float *data, int grid_cols)
{
    if (!path || !data)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_write_png: NULL %s",
                       path ? "data" : "path");
    if (n < 1 || (channels != 1 && channels != 3) || height < 1 || width < 1 ||
        grid_cols < 0 || height > PNG_MAX_SIDE || width > PNG_MAX_SIDE)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_write_png: n = %d, channels = %d, %d x %d, "
                       "grid_cols = %d (need n >= 1, channels 1 or 3, sides "
                       "1..%d, grid_cols >= 0)",
                       n, channels, height, width, grid_cols, PNG_MAX_SIDE);
    int cols = grid_cols;
    if (cols == 0) {
        cols = (int)ceil(sqrt((double)n));
        while ((int64_t)cols * cols < n)
            cols++;
    }
    if (cols > n)
        cols = n;
    int rows = (n + cols - 1) / cols;
    uint64_t W = (uint64_t)cols * (uint64_t)width + (uint64_t)(cols - 1) * PNG_PAD;
    uint64_t H = (uint64_t)rows * (uint64_t)height + (uint64_t)(rows - 1) * PNG_PAD;
    if (W > PNG_MAX_SIDE || H > PNG_MAX_SIDE)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_write_png: a %llu x %llu grid is too large",
                       (unsigned long long)H, (unsigned long long)W);
    size_t npix;
    if (sd_mul_size((size_t)W, (size_t)H, &npix) ||
        sd_mul_size(npix, (size_t)channels, &npix))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_write_png: too large");
    uint8_t *img = malloc(npix);
    if (!img)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "simdiff_write_png: out of memory");
    memset(img, PNG_PAD_VALUE, npix);
    size_t plane = (size_t)height * (size_t)width;
    for (int k = 0; k < n; k++) {
        size_t x0 = (size_t)(k % cols) * ((size_t)width + PNG_PAD);
        size_t y0 = (size_t)(k / cols) * ((size_t)height + PNG_PAD);
        const float *src = data + (size_t)k * (size_t)channels * plane;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    img[((y0 + (size_t)y) * (size_t)W + x0 + (size_t)x) *
                            (size_t)channels +
                        (size_t)c] =
                        quantize(src[(size_t)c * plane + (size_t)y * (size_t)width +
                                     (size_t)x]);
    }
    simdiff_status s = png_write(path, (size_t)W, (size_t)H, channels, img);
    free(img);
    return s;
}

SIMDIFF_API simdiff_status simdiff_write_png_u8(const char *path, int height,
                                                int width, int channels,
                                                const uint8_t *data)
{
    if (!path || !data)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_write_png_u8: NULL %s",
                       path ? "data" : "path");
    if (channels < 1 || channels > 4 || height < 1 || width < 1 ||
        height > PNG_MAX_SIDE || width > PNG_MAX_SIDE)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_write_png_u8: %d x %d x %d (need sides 1..%d, "
                       "channels 1..4)",
                       height, width, channels, PNG_MAX_SIDE);
    return png_write(path, (size_t)width, (size_t)height, channels, data);
}
