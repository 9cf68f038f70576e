/* PNG writers: an image grid from NCHW floats in [-1, 1], and raw 8-bit
 * HWC images. Encoded by libpng (zlib level 9, default strategy, libpng's
 * adaptive filter choice per row), written through the atomic writer. */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "io/io_internal.h"
#include "simdiff/io.h"

#define PNG_PAD 2
#define PNG_PAD_VALUE 255
#define PNG_MAX_SIDE (1 << 24)
#define PNG_IDAT_MAX (1u << 20)

typedef struct png_out {
    sd_afile *f;
    simdiff_status io_status; /* the first failed write, or SIMDIFF_OK */
    char msg[SD_ERRMSG_MAX];
} png_out;

static void png_out_error(png_structp png, png_const_charp msg)
{
    png_out *o = png_get_error_ptr(png);
    if (!o->io_status)
        snprintf(o->msg, sizeof o->msg, "png: %s", msg);
    png_longjmp(png, 1);
}

static void png_out_warning(png_structp png, png_const_charp msg)
{
    (void)png; /* nothing to report: the library never prints */
    (void)msg;
}

static void png_out_write(png_structp png, png_bytep data, size_t n)
{
    png_out *o = png_get_io_ptr(png);
    simdiff_status s = sd_afile_write(o->f, data, n);
    if (s) {
        o->io_status = s;
        snprintf(o->msg, sizeof o->msg, "%s", simdiff_last_error());
        png_error(png, "write failed");
    }
}

static void png_out_flush(png_structp png) { (void)png; }

/* Write a PNG from an 8-bit image given row by row (w * channels bytes
 * each). color_type: 0 gray, 4 gray+alpha, 2 RGB, 6 RGBA. */
static simdiff_status png_write(const char *path, size_t w, size_t h, int channels,
                                const uint8_t *pixels)
{
    static const int color_types[5] = {0, 0, 4, 2, 6};
    size_t row;
    if (sd_mul_size(w, (size_t)channels, &row))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "png: image too large");
    png_out o;
    memset(&o, 0, sizeof o);
    simdiff_status s = sd_afile_open(&o.f, path);
    if (s)
        return s;
    /* o is reached through the pointers libpng holds, so it is current after
     * a longjmp; the handles are volatile: assigned after setjmp. */
    png_structp volatile png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &o,
                                                       png_out_error, png_out_warning);
    png_infop volatile info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_structp p = png;
        png_destroy_write_struct(&p, NULL);
        sd_afile_abort(o.f);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "png: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_structp p = png;
        png_infop i = info;
        png_destroy_write_struct(&p, &i);
        sd_afile_abort(o.f);
        return sd_fail(NULL, o.io_status ? o.io_status : SIMDIFF_ERR_INTERNAL, "%s", o.msg);
    }
    png_set_write_fn(png, &o, png_out_write, png_out_flush);
    png_set_user_limits(png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    png_set_compression_level(png, 9);
    png_set_compression_strategy(png, 0 /* Z_DEFAULT_STRATEGY */);
    png_set_compression_buffer_size(png, PNG_IDAT_MAX);
    /* For each row, the filter whose residuals have the smallest sum of
     * absolute values (as signed bytes). */
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_ALL_FILTERS);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, color_types[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
    png_write_info(png, info);
    for (size_t y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(pixels + y * row));
    png_write_end(png, NULL);
    png_structp p = png;
    png_infop i = info;
    png_destroy_write_struct(&p, &i);
    return sd_afile_commit(o.f);
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

SIMDIFF_API simdiff_status simdiff_images_to_rgb8(int n, int channels, int height, int width,
                                                  const float *data, int out_channels,
                                                  uint8_t *out)
{
    if (!data || !out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_images_to_rgb8: %s is NULL",
                       data ? "out" : "data");
    if (n < 1 || (channels != 1 && channels != 3) || height < 1 || width < 1 ||
        (out_channels != 3 && out_channels != 4))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_images_to_rgb8: n = %d, channels = %d, %d x %d, "
                       "out_channels = %d (need n >= 1, channels 1 or 3, sides >= 1, "
                       "out_channels 3 or 4)",
                       n, channels, height, width, out_channels);
    size_t plane, total;
    if (sd_mul_size((size_t)height, (size_t)width, &plane) ||
        sd_mul_size(plane, (size_t)n, &total) || sd_mul_size(total, 4, &total))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_images_to_rgb8: too large");
    for (int k = 0; k < n; k++) {
        const float *src = data + (size_t)k * (size_t)channels * plane;
        uint8_t *dst = out + (size_t)k * (size_t)out_channels * plane;
        for (size_t q = 0; q < plane; q++) {
            uint8_t *px = dst + q * (size_t)out_channels;
            for (int c = 0; c < 3; c++)
                px[c] = quantize(src[(channels == 1 ? 0 : (size_t)c) * plane + q]);
            if (out_channels == 4)
                px[3] = 255;
        }
    }
    return SIMDIFF_OK;
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
    /* Grid arithmetic in size_t, checked: n and grid_cols may be near
     * INT_MAX. */
    size_t cols = (size_t)grid_cols;
    if (cols == 0) {
        cols = (size_t)ceil(sqrt((double)n));
        while (cols * cols < (size_t)n)
            cols++;
    }
    if (cols > (size_t)n)
        cols = (size_t)n;
    size_t rows = (size_t)n / cols + ((size_t)n % cols != 0);
    size_t W, H, npix;
    if (sd_mul_size(cols, (size_t)width + PNG_PAD, &W) || (W -= PNG_PAD) > PNG_MAX_SIDE ||
        sd_mul_size(rows, (size_t)height + PNG_PAD, &H) || (H -= PNG_PAD) > PNG_MAX_SIDE)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_write_png: %d images of %d x %d in %zu rows x %zu columns "
                       "make a grid over the %d-pixel limit of a side; write fewer "
                       "images per file or set grid_cols",
                       n, height, width, rows, cols, PNG_MAX_SIDE);
    if (sd_mul_size(W, H, &npix) || sd_mul_size(npix, (size_t)channels, &npix))
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_write_png: too large");
    uint8_t *img = malloc(npix);
    if (!img)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "simdiff_write_png: out of memory");
    memset(img, PNG_PAD_VALUE, npix);
    size_t plane = (size_t)height * (size_t)width;
    for (int k = 0; k < n; k++) {
        size_t x0 = ((size_t)k % cols) * ((size_t)width + PNG_PAD);
        size_t y0 = ((size_t)k / cols) * ((size_t)height + PNG_PAD);
        const float *src = data + (size_t)k * (size_t)channels * plane;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    img[((y0 + (size_t)y) * W + x0 + (size_t)x) *
                            (size_t)channels +
                        (size_t)c] =
                        quantize(src[(size_t)c * plane + (size_t)y * (size_t)width +
                                     (size_t)x]);
    }
    simdiff_status s = png_write(path, W, H, channels, img);
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
