/* Image files to training images: PNG through libpng, JPEG through libjpeg
 * (libjpeg-turbo on Debian), then alpha compositing, channel conversion,
 * centre crop and exact area resize. Rules: docs/io.md, "Image folders". */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "io/image_internal.h"
#include "io/io_internal.h"

/* Largest width or height either decoder accepts (whatever max_pixels
 * says): bounds the row buffers the libraries allocate themselves. */
#define IMG_MAX_SIDE 65535u
/* Largest ancillary chunk libpng may allocate, and how many it keeps. */
#define IMG_PNG_CHUNK_MAX (8u << 20)
#define IMG_PNG_CHUNK_CACHE 256u
/* More scans than any real progressive JPEG has (libjpeg-turbo's own
 * tools suggest 500): a CPU bomb guard. */
#define IMG_JPEG_MAX_SCANS 500

/* ---- the resampler: composite, convert, crop, area-resize ----------------
 *
 * Source rows arrive top to bottom, each as w pixels of src_ch samples
 * (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), 8- or 16-bit (16-bit big-endian,
 * as PNG stores them). Values are handled as 8-bit levels: v8, or v16 / 257
 * (so 65535 -> 255). The crop is the centred L x L square, L = min(w, h),
 * x0 = (w - L) / 2, y0 = (h - L) / 2 (rounded down). Output pixel (oy, ox)
 * is the mean over the crop area [ox L/S, (ox+1) L/S) x [oy L/S, (oy+1) L/S)
 * with each source pixel weighted by its exact overlap; in units of 1/S
 * source pixel the overlaps are integers, so the weights are exact.
 * Output rows are written out as soon as their last source row is in, so
 * only the rows still open are kept: at most ceil(S / L) + 2 of them. */
typedef struct resampler {
    int w, h, L, x0, y0, S, C;
    int src_ch, depth16, is_gray_src;
    double bg[3], bg_gray;
    int next_row;    /* source rows pushed so far */
    int *xfirst;     /* S + 1: source columns (crop-relative) of output x are
                        xfirst[x] .. xfirst[x] + xcount[x] - 1             */
    int *xcount;
    int64_t *xw;     /* weights, S * xmax                                   */
    int xmax;        /* most source columns an output column overlaps      */
    double *row;     /* C x L: the converted crop row                      */
    double *hrow;    /* C x S: the row reduced horizontally                */
    int R;           /* rows of acc: a ring of the open output rows        */
    double *acc;     /* C x R x S: weighted sums, output row oy at oy % R   */
    int64_t done;    /* output rows written to out so far                  */
    uint8_t *out;    /* C x S x S                                          */
} resampler;

static void rs_free(resampler *r)
{
    free(r->xfirst);
    free(r->xcount);
    free(r->xw);
    free(r->row);
    free(r->hrow);
    free(r->acc);
    memset(r, 0, sizeof *r);
}

/* Overlap of [a0, a1) and [b0, b1). */
static int64_t overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

static simdiff_status rs_init(resampler *r, const sd_image_opts *o, int w, int h,
                              int src_ch, int depth16, int is_gray_src, uint8_t *out)
{
    memset(r, 0, sizeof *r);
    r->out = out;
    r->w = w, r->h = h, r->S = o->size, r->C = o->channels;
    r->L = w < h ? w : h;
    r->x0 = (w - r->L) / 2, r->y0 = (h - r->L) / 2;
    r->src_ch = src_ch, r->depth16 = depth16, r->is_gray_src = is_gray_src;
    memcpy(r->bg, o->bg, sizeof r->bg);
    r->bg_gray = 0.299 * o->bg[0] + 0.587 * o->bg[1] + 0.114 * o->bg[2];
    if (o->bg[0] == o->bg[1] && o->bg[1] == o->bg[2])
        r->bg_gray = o->bg[0];
    int64_t L = r->L, S = r->S;
    r->xmax = (int)((L + S - 1) / S + 1);
    int64_t R = (S + L - 1) / L + 2;
    r->R = (int)(R < S ? R : S);
    size_t acc_n = (size_t)r->C * (size_t)r->R * (size_t)S;
    r->xfirst = malloc(sizeof(int) * (size_t)S);
    r->xcount = malloc(sizeof(int) * (size_t)S);
    r->xw = malloc(sizeof(int64_t) * (size_t)S * (size_t)r->xmax);
    r->row = malloc(sizeof(double) * (size_t)r->C * (size_t)L);
    r->hrow = malloc(sizeof(double) * (size_t)r->C * (size_t)S);
    r->acc = calloc(acc_n, sizeof(double));
    if (!r->xfirst || !r->xcount || !r->xw || !r->row || !r->hrow || !r->acc) {
        rs_free(r);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    }
    for (int64_t x = 0; x < S; x++) {
        int64_t first = x * L / S, last = ((x + 1) * L + S - 1) / S; /* exclusive */
        r->xfirst[x] = (int)first;
        r->xcount[x] = (int)(last - first);
        for (int64_t i = first; i < last; i++)
            r->xw[x * r->xmax + (i - first)] = overlap(i * S, (i + 1) * S, x * L, (x + 1) * L);
    }
    return SIMDIFF_OK;
}

/* Sample k of pixel x of a source row, as an 8-bit level (double). */
static double rs_sample(const resampler *r, const uint8_t *src, size_t x, int k,
                        double *alpha)
{
    size_t i = x * (size_t)r->src_ch + (size_t)k;
    double v, a = 1.0;
    size_t ai = x * (size_t)r->src_ch + (size_t)(r->src_ch - 1);
    if (r->depth16) {
        v = (double)((src[2 * i] << 8) | src[2 * i + 1]) / 257.0;
        if (r->src_ch == 2 || r->src_ch == 4)
            a = (double)((src[2 * ai] << 8) | src[2 * ai + 1]) / 65535.0;
    } else {
        v = src[i];
        if (r->src_ch == 2 || r->src_ch == 4)
            a = src[ai] / 255.0;
    }
    *alpha = a;
    return v;
}

/* Write output rows done .. upto - 1 (complete) to out, clearing their
 * ring rows: the mean is rounded to the nearest level (ties up). */
static void rs_emit(resampler *r, int64_t upto)
{
    size_t S = (size_t)r->S;
    double area = (double)r->L * (double)r->L;
    for (; r->done < upto; r->done++) {
        for (int c = 0; c < r->C; c++) {
            double *a = r->acc + ((size_t)c * (size_t)r->R + (size_t)(r->done % r->R)) * S;
            uint8_t *dst = r->out + ((size_t)c * S + (size_t)r->done) * S;
            for (size_t x = 0; x < S; x++) {
                double v = a[x] / area + 0.5;
                dst[x] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
                a[x] = 0;
            }
        }
    }
}

/* Feed source row y (w pixels). Rows outside the crop are ignored. */
static void rs_push(resampler *r, const uint8_t *src)
{
    int y = r->next_row++;
    if (y < r->y0 || y >= r->y0 + r->L)
        return;
    int64_t j = y - r->y0, L = r->L, S = r->S;
    size_t Lz = (size_t)L;
    int colour = r->src_ch >= 3;
    for (size_t x = 0; x < Lz; x++) {
        size_t sx = (size_t)r->x0 + x;
        double a, rgb[3];
        for (int k = 0; k < (colour ? 3 : 1); k++)
            rgb[k] = rs_sample(r, src, sx, k, &a);
        if (r->C == 3) {
            for (int k = 0; k < 3; k++) {
                double v = colour ? rgb[k] : rgb[0];
                r->row[(size_t)k * Lz + x] = a == 1.0 ? v : v * a + r->bg[k] * (1.0 - a);
            }
        } else {
            double v = colour ? 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] : rgb[0];
            r->row[x] = a == 1.0 ? v : v * a + r->bg_gray * (1.0 - a);
        }
    }
    for (int c = 0; c < r->C; c++)
        for (int64_t ox = 0; ox < S; ox++) {
            const double *in = r->row + (size_t)c * Lz + r->xfirst[ox];
            const int64_t *wt = r->xw + ox * r->xmax;
            double s = 0;
            for (int i = 0; i < r->xcount[ox]; i++)
                s += (double)wt[i] * in[i];
            r->hrow[(size_t)c * (size_t)S + (size_t)ox] = s;
        }
    /* output rows overlapping [j S, (j+1) S) in units of 1/S pixel */
    int64_t oy0 = j * S / L, oy1 = ((j + 1) * S + L - 1) / L;
    for (int64_t oy = oy0; oy < oy1 && oy < S; oy++) {
        double wy = (double)overlap(j * S, (j + 1) * S, oy * L, (oy + 1) * L);
        if (wy == 0)
            continue;
        for (int c = 0; c < r->C; c++) {
            double *dst = r->acc + ((size_t)c * (size_t)r->R + (size_t)(oy % r->R)) * (size_t)S;
            const double *hr = r->hrow + (size_t)c * (size_t)S;
            for (int64_t ox = 0; ox < S; ox++)
                dst[ox] += wy * hr[ox];
        }
    }
    rs_emit(r, (j + 1) * S / L); /* rows with (oy + 1) L <= (j + 1) S */
}

/* After the last row: every output row has been written. */
static simdiff_status rs_finish(resampler *r, const char *path)
{
    if (r->next_row != r->h || r->done != r->S)
        return sd_fail(NULL, SIMDIFF_ERR_INTERNAL,
                       "'%s': %d of %d rows decoded, %lld of %d output rows", path,
                       r->next_row, r->h, (long long)r->done, r->S);
    return SIMDIFF_OK;
}

/* ---- shared checks ------------------------------------------------------- */

static simdiff_status check_dims(const char *path, const char *fmt, uint64_t w,
                                 uint64_t h, const sd_image_opts *o)
{
    if (w == 0 || h == 0)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': %s image of %llu x %llu pixels",
                       path, fmt, (unsigned long long)w, (unsigned long long)h);
    if (w > IMG_MAX_SIDE || h > IMG_MAX_SIDE || w * h > o->max_pixels)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "'%s': %s image of %llu x %llu pixels is larger than the "
                       "limit (%llu pixels, sides up to %u)",
                       path, fmt, (unsigned long long)w, (unsigned long long)h,
                       (unsigned long long)o->max_pixels, IMG_MAX_SIDE);
    return SIMDIFF_OK;
}

/* ---- PNG (libpng) --------------------------------------------------------- */

typedef struct png_ctx {
    const char *path;
    const uint8_t *data;
    size_t size, off;
    char msg[256];
    /* owned buffers, freed on every exit (also after a longjmp) */
    uint8_t *pixels;
    uint8_t **rowp;
    resampler rs;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png; /* warnings are about recoverable oddities: not reported */
    (void)msg;
}

static void png_on_read(png_structp png, png_bytep dst, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->off)
        png_error(png, "truncated (the file ends inside a chunk)");
    memcpy(dst, c->data + c->off, n);
    c->off += n;
}

static simdiff_status load_png(png_ctx *c, const sd_image_opts *o, uint8_t *out,
                               int *is_gray)
{
    /* c lives in the caller's frame and is reached through the pointer
     * libpng holds, so its fields survive the longjmp; the libpng handles
     * are volatile because they are assigned after setjmp. */
    png_structp volatile png = NULL;
    png_infop volatile info = NULL;
    volatile simdiff_status s = SIMDIFF_OK;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, png_on_error, png_on_warning);
    if (!png)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': out of memory", c->path);
    info = png_create_info_struct(png);
    if (!info) {
        png_structp p = png;
        png_destroy_read_struct(&p, NULL, NULL);
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': out of memory", c->path);
    }
    if (setjmp(png_jmpbuf(png))) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': bad PNG: %s", c->path, c->msg);
        goto done;
    }
    png_set_read_fn(png, c, png_on_read);
    png_set_user_limits(png, IMG_MAX_SIDE, IMG_MAX_SIDE);
    png_set_chunk_cache_max(png, IMG_PNG_CHUNK_CACHE);
    png_set_chunk_malloc_max(png, IMG_PNG_CHUNK_MAX);
    /* Chunks that change nothing here are skipped unread (no inflating of
     * compressed text or ICC profiles); so are unknown ones. */
    static const png_byte skip[] = "iCCP\0iTXt\0tEXt\0zTXt\0sPLT\0eXIf\0tIME\0hIST\0pCAL\0sCAL\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, 10);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((s = check_dims(c->path, "PNG", w, h, o)))
        goto done;
    int ct = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (is_gray)
        *is_gray = (ct & PNG_COLOR_MASK_COLOR) == 0;
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info), d16 = png_get_bit_depth(png, info) == 16;
    size_t rowbytes = png_get_rowbytes(png, info);
    if (ch < 1 || ch > 4 || rowbytes != (size_t)w * (size_t)ch * (d16 ? 2u : 1u)) {
        s = sd_fail(NULL, SIMDIFF_ERR_INTERNAL,
                    "'%s': libpng gave %d channels of %zu bytes per row", c->path, ch,
                    rowbytes);
        goto done;
    }
    if ((s = rs_init(&c->rs, o, (int)w, (int)h, ch, d16, (ct & PNG_COLOR_MASK_COLOR) == 0,
                     out)))
        goto done;
    /* Non-interlaced: one row at a time. Interlaced: the whole image (at
     * most max_pixels x 8 bytes), as the passes fill it in place. */
    size_t rows_n = passes > 1 ? (size_t)h : 1;
    c->pixels = malloc(rowbytes * rows_n);
    if (!c->pixels) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': cannot allocate %zu bytes",
                    c->path, rowbytes * rows_n);
        goto done;
    }
    if (passes > 1) {
        c->rowp = malloc(sizeof *c->rowp * (size_t)h);
        if (!c->rowp) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': out of memory", c->path);
            goto done;
        }
        for (size_t y = 0; y < h; y++)
            c->rowp[y] = c->pixels + y * rowbytes;
        png_read_image(png, c->rowp);
        for (size_t y = 0; y < h; y++)
            rs_push(&c->rs, c->rowp[y]);
    } else {
        for (size_t y = 0; y < h; y++) {
            png_read_row(png, c->pixels, NULL);
            rs_push(&c->rs, c->pixels);
        }
    }
    png_read_end(png, NULL); /* the rest of the file, up to IEND, is checked */
    s = rs_finish(&c->rs, c->path);
done:;
    png_structp p = png;
    png_infop i = info;
    png_destroy_read_struct(&p, &i, NULL);
    return s;
}

/* ---- JPEG (libjpeg) ------------------------------------------------------- */

typedef struct jpeg_ctx {
    struct jpeg_error_mgr jerr; /* first: libjpeg passes &jerr back to us */
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    const char *path;
    char msg[JMSG_LENGTH_MAX];
    uint8_t *row;
    resampler rs;
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    cinfo->err->format_message(cinfo, c->msg);
    longjmp(c->jmp, 1);
}

/* Warnings (level -1) mean corrupt data that libjpeg would paper over
 * (e.g. a truncated file filled with grey): treated as errors. Trace
 * messages (level >= 0) are dropped. Nothing is printed. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        jpeg_on_error(cinfo);
}

static void jpeg_on_progress(j_common_ptr cinfo)
{
    if (cinfo->is_decompressor &&
        ((j_decompress_ptr)cinfo)->input_scan_number > IMG_JPEG_MAX_SCANS) {
        jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
        snprintf(c->msg, sizeof c->msg, "more than %d scans", IMG_JPEG_MAX_SCANS);
        longjmp(c->jmp, 1);
    }
}

static simdiff_status load_jpeg(jpeg_ctx *c, const uint8_t *data, size_t size,
                                const sd_image_opts *o, uint8_t *out, int *is_gray)
{
    struct jpeg_decompress_struct cinfo;
    volatile simdiff_status s = SIMDIFF_OK;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpeg_on_error;
    c->jerr.emit_message = jpeg_on_message;
    if (setjmp(c->jmp)) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "'%s': bad JPEG: %s", c->path, c->msg);
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    c->progress.progress_monitor = jpeg_on_progress;
    cinfo.progress = &c->progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((s = check_dims(c->path, "JPEG", cinfo.image_width, cinfo.image_height, o)))
        goto done;
    int gray = cinfo.num_components == 1;
    if (!gray && cinfo.num_components != 3) {
        s = sd_fail(NULL, SIMDIFF_ERR_UNSUPPORTED,
                    "'%s': JPEG with %d components (CMYK?); only greyscale and "
                    "colour (YCbCr/RGB) JPEGs are read",
                    c->path, cinfo.num_components);
        goto done;
    }
    if (is_gray)
        *is_gray = gray;
    cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    /* libjpeg's working memory: whole-image coefficient buffers of a
     * progressive file are about 2 bytes per sample. */
    uint64_t px = o->max_pixels < (uint64_t)IMG_MAX_SIDE * IMG_MAX_SIDE
                      ? o->max_pixels
                      : (uint64_t)IMG_MAX_SIDE * IMG_MAX_SIDE;
    cinfo.mem->max_memory_to_use = (long)(px * 8u + (64u << 20));
    jpeg_start_decompress(&cinfo);
    int ch = cinfo.output_components;
    if (ch != (gray ? 1 : 3) || cinfo.output_width != cinfo.image_width ||
        cinfo.output_height != cinfo.image_height) {
        s = sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "'%s': libjpeg gave %d channels", c->path,
                    ch);
        goto done;
    }
    if ((s = rs_init(&c->rs, o, (int)cinfo.output_width, (int)cinfo.output_height, ch, 0,
                     gray, out)))
        goto done;
    if (!(c->row = malloc((size_t)cinfo.output_width * (size_t)ch))) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': out of memory", c->path);
        goto done;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rp = c->row;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) {
            snprintf(c->msg, sizeof c->msg, "no progress at row %u", cinfo.output_scanline);
            longjmp(c->jmp, 1);
        }
        rs_push(&c->rs, c->row);
    }
    jpeg_finish_decompress(&cinfo);
    s = rs_finish(&c->rs, c->path);
done:
    jpeg_destroy_decompress(&cinfo);
    return s;
}

/* ---- entry point ---------------------------------------------------------- */

simdiff_status sd_image_load(const char *path, const sd_image_opts *o, uint8_t *out,
                             int *is_gray)
{
    void *buf;
    size_t n;
    simdiff_status s = sd_read_file(path, o->max_file_bytes, &buf, &n);
    if (s)
        return s;
    const uint8_t *b = buf;
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
        png_ctx c;
        memset(&c, 0, sizeof c);
        c.path = path, c.data = b, c.size = n;
        s = load_png(&c, o, out, is_gray);
        free(c.pixels);
        free(c.rowp);
        rs_free(&c.rs);
    } else if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
        jpeg_ctx c;
        memset(&c, 0, sizeof c);
        c.path = path;
        s = load_jpeg(&c, b, n, o, out, is_gray);
        free(c.row);
        rs_free(&c.rs);
    } else {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': not a PNG or JPEG file (%zu bytes; the first bytes are "
                    "neither the PNG signature nor a JPEG SOI marker)",
                    path, n);
    }
    free(buf);
    return s;
}
