/*
 * The public I/O API (simdiff/io.h) through the shared library: PNG and NPY
 * writers, IDX and NPY datasets, batches, shuffling and flips.
 *
 * Independent checks: PNGs are decoded here with zlib (chunk CRCs,
 * inflate, all five filters) and compared with the documented
 * quantization (and run through pngcheck when it is installed); .npy output
 * is compared byte for byte with numpy.save() files and parsed by a
 * minimal reader here; datasets are compared with numpy-written fixtures,
 * hand-made IDX files and, when installed, Fashion-MNIST read here with
 * zlib's gzread; permutations and flips with a Python transcription of the
 * documented algorithm (tests/reference/make_io_fixtures.py).
 */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "sdtest.h"

#include "simdiff/simdiff.h"

/* ---- helpers ------------------------------------------------------------- */

static const char *tmp(const char *name) { return sdtest_path(sdtest_work_dir(), name); }
static const char *fixture(const char *name)
{
    return sdtest_path(sdtest_fixture_dir(), name);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void spit_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    if (n)
        ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- PNG ------------------------------------------------------------------- */

typedef struct png {
    uint32_t w, h;
    int color_type, channels;
    uint8_t *pix; /* h rows of w * channels bytes */
    int filters_seen; /* bit mask of the filter types used */
} png;

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc)
        return a;
    return pb <= pc ? b : c;
}

/* A small PNG decoder (8-bit, non-interlaced) for checking the writer. */
static void png_decode(const char *path, png *out)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    ck_assert_uint_ge(n, 8);
    ck_assert_int_eq(memcmp(b, "\x89PNG\r\n\x1a\n", 8), 0);
    size_t pos = 8, idat_n = 0;
    uint8_t *idat = malloc(n);
    int seen_ihdr = 0, seen_iend = 0;
    memset(out, 0, sizeof *out);
    while (pos < n) {
        ck_assert_uint_ge(n - pos, 12);
        uint32_t len = be32(b + pos);
        ck_assert_uint_le(len, n - pos - 12);
        const uint8_t *type = b + pos + 4, *data = b + pos + 8;
        uint32_t crc = (uint32_t)crc32(0, type, 4 + len);
        ck_assert_msg(crc == be32(data + len), "bad CRC in chunk %.4s", type);
        if (!memcmp(type, "IHDR", 4)) {
            ck_assert(!seen_ihdr && pos == 8 && len == 13);
            seen_ihdr = 1;
            out->w = be32(data);
            out->h = be32(data + 4);
            ck_assert_uint_eq(data[8], 8);
            out->color_type = data[9];
            ck_assert_uint_eq(data[10], 0);
            ck_assert_uint_eq(data[11], 0);
            ck_assert_uint_eq(data[12], 0);
            switch (out->color_type) {
            case 0: out->channels = 1; break;
            case 4: out->channels = 2; break;
            case 2: out->channels = 3; break;
            case 6: out->channels = 4; break;
            default: ck_abort_msg("color type %d", out->color_type);
            }
        } else if (!memcmp(type, "IDAT", 4)) {
            ck_assert(seen_ihdr);
            memcpy(idat + idat_n, data, len);
            idat_n += len;
        } else if (!memcmp(type, "IEND", 4)) {
            ck_assert_uint_eq(len, 0);
            seen_iend = 1;
        } else {
            ck_abort_msg("unexpected chunk %.4s", type);
        }
        pos += 12 + len;
        if (seen_iend)
            break;
    }
    ck_assert(seen_iend && pos == n);
    size_t stride = (size_t)out->w * (size_t)out->channels;
    uLongf raw_n = (uLongf)((stride + 1) * out->h);
    uint8_t *raw = malloc(raw_n + 1);
    uLongf got = raw_n + 1;
    ck_assert_int_eq(uncompress(raw, &got, idat, (uLong)idat_n), Z_OK);
    ck_assert_uint_eq(got, raw_n);
    out->pix = malloc(stride * out->h);
    int bpp = out->channels;
    for (uint32_t y = 0; y < out->h; y++) {
        const uint8_t *f = raw + y * (stride + 1);
        uint8_t *cur = out->pix + y * stride;
        const uint8_t *prev = y ? cur - stride : NULL;
        ck_assert_uint_le(f[0], 4);
        out->filters_seen |= 1 << f[0];
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? cur[i - bpp] : 0;
            int up = prev ? prev[i] : 0;
            int c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0;
            int pred = f[0] == 0 ? 0 : f[0] == 1 ? a : f[0] == 2 ? up
                     : f[0] == 3 ? (a + up) / 2 : paeth(a, up, c);
            cur[i] = (uint8_t)(f[1 + i] + pred);
        }
    }
    free(raw);
    free(idat);
    free(b);
}

static void maybe_pngcheck(const char *path)
{
    if (system("command -v pngcheck >/dev/null 2>&1") != 0) {
        fprintf(stderr, "# pngcheck not installed: PNG checked by the in-test decoder only\n");
        return;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "pngcheck -q '%s' >/dev/null 2>&1", path);
    ck_assert_msg(system(cmd) == 0, "pngcheck rejects %s", path);
}

/* Value for level m nudged by d (|d| < 0.5 level): quantizes back to m. */
static float level(int m, double d) { return (float)((m + d) / 127.5 - 1.0); }

START_TEST(png_gray_grid)
{
    enum { N = 5, H = 3, W = 4 };
    float x[N * H * W];
    int want[N * H * W];
    const double nudge[3] = {-0.3, 0.0, 0.3};
    for (int i = 0; i < N * H * W; i++) {
        int m = (i * 37 + 11) % 256;
        x[i] = level(m, nudge[i % 3]);
        want[i] = m;
    }
    x[0] = -3.0f, want[0] = 0;
    x[1] = 2.5f, want[1] = 255;
    x[2] = NAN, want[2] = 0;
    x[3] = -1.0f, want[3] = 0;
    x[4] = 1.0f, want[4] = 255;
    const char *p = tmp("gray.png");
    ck_assert_int_eq(simdiff_write_png(p, N, 1, H, W, x, 0), SIMDIFF_OK);
    png img;
    png_decode(p, &img);
    /* ceil(sqrt(5)) = 3 columns, 2 rows, 2-pixel gaps */
    ck_assert_uint_eq(img.w, 3 * W + 2 * 2);
    ck_assert_uint_eq(img.h, 2 * H + 2);
    ck_assert_int_eq(img.color_type, 0);
    for (uint32_t y = 0; y < img.h; y++)
        for (uint32_t xx = 0; xx < img.w; xx++) {
            int col = (int)xx / (W + 2), row = (int)y / (H + 2);
            int tx = (int)xx % (W + 2), ty = (int)y % (H + 2);
            int k = row * 3 + col, expect = 255;
            if (tx < W && ty < H && k < N)
                expect = want[(k * H + ty) * W + tx];
            ck_assert_msg(img.pix[y * img.w + xx] == expect, "pixel (%u,%u): %d vs %d", y,
                          xx, img.pix[y * img.w + xx], expect);
        }
    free(img.pix);
    maybe_pngcheck(p);
}
END_TEST

START_TEST(png_rgb_grid)
{
    enum { N = 3, C = 3, H = 5, W = 6 };
    float x[N * C * H * W];
    for (int k = 0; k < N; k++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++)
                    x[((k * C + c) * H + y) * W + xx] =
                        level((40 * k + 20 * c + 9 * y + 5 * xx) % 256, 0.2);
    const char *p = tmp("rgb.png");
    ck_assert_int_eq(simdiff_write_png(p, N, C, H, W, x, 2), SIMDIFF_OK);
    png img;
    png_decode(p, &img);
    ck_assert_int_eq(img.color_type, 2);
    ck_assert_uint_eq(img.w, 2 * W + 2);
    ck_assert_uint_eq(img.h, 2 * H + 2);
    for (uint32_t y = 0; y < img.h; y++)
        for (uint32_t xx = 0; xx < img.w; xx++)
            for (int c = 0; c < C; c++) {
                int col = (int)xx / (W + 2), row = (int)y / (H + 2);
                int tx = (int)xx % (W + 2), ty = (int)y % (H + 2);
                int k = row * 2 + col, expect = 255;
                if (tx < W && ty < H && k < N)
                    expect = (40 * k + 20 * c + 9 * ty + 5 * tx) % 256;
                ck_assert_int_eq(img.pix[(y * img.w + xx) * 3 + (uint32_t)c], expect);
            }
    /* smooth gradients: the writer picks predictive filters */
    ck_assert_int_ne(img.filters_seen & ~1, 0);
    free(img.pix);
    maybe_pngcheck(p);
    /* grid_cols larger than n: one row of n tiles */
    ck_assert_int_eq(simdiff_write_png(p, N, C, H, W, x, 10), SIMDIFF_OK);
    png_decode(p, &img);
    ck_assert_uint_eq(img.w, 3 * W + 2 * 2);
    ck_assert_uint_eq(img.h, H);
    free(img.pix);
}
END_TEST

START_TEST(png_u8_and_errors)
{
    uint8_t rgba[7 * 9 * 4], ga[3 * 2 * 2];
    for (size_t i = 0; i < sizeof rgba; i++)
        rgba[i] = (uint8_t)(i * 131 + (i >> 3));
    for (size_t i = 0; i < sizeof ga; i++)
        ga[i] = (uint8_t)(i * 20);
    const char *p = tmp("u8.png");
    ck_assert_int_eq(simdiff_write_png_u8(p, 7, 9, 4, rgba), SIMDIFF_OK);
    png img;
    png_decode(p, &img);
    ck_assert_int_eq(img.color_type, 6);
    ck_assert_uint_eq(img.w, 9);
    ck_assert_uint_eq(img.h, 7);
    ck_assert_int_eq(memcmp(img.pix, rgba, sizeof rgba), 0);
    free(img.pix);
    maybe_pngcheck(p);
    ck_assert_int_eq(simdiff_write_png_u8(p, 3, 2, 2, ga), SIMDIFF_OK);
    png_decode(p, &img);
    ck_assert_int_eq(img.color_type, 4);
    ck_assert_int_eq(memcmp(img.pix, ga, sizeof ga), 0);
    free(img.pix);
    ck_assert_int_eq(simdiff_write_png_u8(p, 1, 1, 1, ga), SIMDIFF_OK);
    png_decode(p, &img);
    ck_assert_int_eq(img.color_type, 0);
    ck_assert_int_eq(img.pix[0], ga[0]);
    free(img.pix);
    /* refusals */
    float x[12] = {0};
    ck_assert_int_eq(simdiff_write_png(p, 1, 2, 2, 3, x, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png(p, 0, 1, 2, 3, x, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png(p, 1, 1, 0, 3, x, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png(p, 1, 1, 2, 3, x, -1), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png(p, 1, 1, 2, 3, NULL, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png(NULL, 1, 1, 2, 3, x, 0), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png(p, 1 << 30, 1, 1 << 20, 1 << 20, x, 0),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png_u8(p, 1, 1, 5, ga), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_png("/nonexistent-dir/a.png", 1, 1, 2, 3, x, 0),
                     SIMDIFF_ERR_IO);
    ck_assert_int_gt((int)strlen(simdiff_last_error()), 0);
    ck_assert_int_eq(sdtest_count_entries(sdtest_work_dir(), ".tmp-"), 0);
}
END_TEST

/* The grid of simdiff_write_png is sized in checked size_t arithmetic:
 * image counts and column counts near INT_MAX give a clear
 * SIMDIFF_ERR_INVALID_ARG naming the real grid (rows were computed as
 * (n + cols - 1) / cols in int, which overflowed: UBSan aborted and the
 * optimized build reported a garbage size). Nothing is read from data. */
START_TEST(png_grid_size_is_checked)
{
    const char *p = tmp("huge.png");
    float x[1] = {0};
    static const struct {
        int n, cols;
        const char *needle;
    } cases[] = {
        {INT_MAX, 2, "1073741824 rows x 2 columns"},
        {INT_MAX, INT_MAX, "1 rows x 2147483647 columns"},
        {INT_MAX - 1, INT_MAX, "1 rows x 2147483646 columns"},
        {1 << 30, 3, "357913942 rows x 3 columns"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        simdiff_status st = simdiff_write_png(p, cases[k].n, 1, 1, 1, x, cases[k].cols);
        ck_assert_int_eq(st, SIMDIFF_ERR_INVALID_ARG);
        ck_assert_msg(strstr(simdiff_last_error(), cases[k].needle), "case %zu: %s", k,
                      simdiff_last_error());
    }
    ck_assert_int_ne(access(p, F_OK), 0);
}
END_TEST

/* ---- NPY writer ------------------------------------------------------------- */

static void same_bytes_as(const char *written, const char *ref_fixture)
{
    size_t a, b;
    uint8_t *x = slurp(written, &a), *y = slurp(fixture(ref_fixture), &b);
    ck_assert_msg(a == b, "%s: %zu bytes, numpy wrote %zu", ref_fixture, a, b);
    ck_assert_msg(memcmp(x, y, a) == 0, "%s differs from numpy's bytes", ref_fixture);
    free(x);
    free(y);
}

START_TEST(npy_writer_matches_numpy)
{
    float f[24];
    for (int i = 0; i < 24; i++)
        f[i] = (float)(i * 0.25 - 2);
    int64_t s3[3] = {2, 3, 4};
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("w1.npy"), 3, s3, f), SIMDIFF_OK);
    same_bytes_as(tmp("w1.npy"), "io/npy/writer_f32.npy");
    uint8_t u[300];
    for (int i = 0; i < 300; i++)
        u[i] = (uint8_t)(i % 256);
    int64_t s1 = 300;
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("w2.npy"), 1, &s1, u), SIMDIFF_OK);
    same_bytes_as(tmp("w2.npy"), "io/npy/writer_u8.npy");
    float one = 1.5f;
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("w3.npy"), 0, NULL, &one), SIMDIFF_OK);
    same_bytes_as(tmp("w3.npy"), "io/npy/writer_scalar.npy");
    int64_t se[2] = {0, 1234567};
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("w4.npy"), 2, se, NULL), SIMDIFF_OK);
    same_bytes_as(tmp("w4.npy"), "io/npy/writer_empty.npy");
    /* refusals */
    int64_t neg[1] = {-2};
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("w5.npy"), 1, neg, f),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("w5.npy"), 33, s3, f),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("w5.npy"), 3, s3, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_write_npy_u8("/nonexistent-dir/x.npy", 1, &s1, u),
                     SIMDIFF_ERR_IO);
    ck_assert_int_ne(access(tmp("w5.npy"), F_OK), 0);
}
END_TEST

START_TEST(npy_writer_read_back)
{
    enum { A = 3, B = 5, C = 7 };
    float x[A * B * C];
    for (int i = 0; i < A * B * C; i++)
        x[i] = (float)cos(i) * 1000.0f;
    int64_t s[3] = {A, B, C};
    const char *p = tmp("rb.npy");
    ck_assert_int_eq(simdiff_write_npy_f32(p, 3, s, x), SIMDIFF_OK);
    /* minimal reader: magic, version 1.0, u16 header length, dict, data */
    size_t n;
    uint8_t *b = slurp(p, &n);
    ck_assert_int_eq(memcmp(b, "\x93NUMPY\x01\x00", 8), 0);
    size_t hl = (size_t)b[8] | ((size_t)b[9] << 8);
    ck_assert_uint_eq((10 + hl) % 64, 0);
    ck_assert_int_eq(b[10 + hl - 1], '\n');
    char *hdr = strndup((const char *)b + 10, hl);
    ck_assert_ptr_nonnull(strstr(hdr, "'descr': '<f4'"));
    ck_assert_ptr_nonnull(strstr(hdr, "'fortran_order': False"));
    ck_assert_ptr_nonnull(strstr(hdr, "'shape': (3, 5, 7)"));
    ck_assert_uint_eq(n, 10 + hl + sizeof x);
    for (int i = 0; i < A * B * C; i++) {
        const uint8_t *q = b + 10 + hl + 4 * i;
        uint32_t u = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) |
                     ((uint32_t)q[3] << 24);
        float v;
        memcpy(&v, &u, 4);
        ck_assert(v == x[i]);
    }
    free(hdr);
    free(b);
}
END_TEST

/* ---- datasets: IDX -------------------------------------------------------------- */

/* An IDX file: magic, dims (big-endian u32), then payload (n bytes). */
static void write_idx(const char *path, uint32_t magic, int nd, const uint32_t *dims,
                      const uint8_t *payload, size_t n, int gz)
{
    size_t hn = 4 + 4 * (size_t)nd;
    uint8_t *b = malloc(hn + n + 1);
    put_be32(b, magic);
    for (int i = 0; i < nd; i++)
        put_be32(b + 4 + 4 * i, dims[i]);
    if (n)
        memcpy(b + hn, payload, n);
    if (gz)
        spit_gz(path, b, hn + n);
    else
        spit(path, b, hn + n);
    free(b);
}

static float lvl(int v) { return (float)(v / 127.5 - 1.0); }

START_TEST(idx_small_raw_and_gzip)
{
    enum { N = 5, H = 3, W = 4 };
    uint8_t px[N * H * W], lab[N] = {4, 0, 2, 2, 1};
    for (int i = 0; i < N * H * W; i++)
        px[i] = (uint8_t)(i * 53 % 256);
    uint32_t d3[3] = {N, H, W}, d1[1] = {N};
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = tmp(gz ? "i.idx.gz" : "i.idx"), *lp = tmp(gz ? "l.gz" : "l");
        write_idx(ip, 0x803, 3, d3, px, sizeof px, gz);
        write_idx(lp, 0x801, 1, d1, lab, sizeof lab, gz);
        simdiff_dataset *ds = NULL;
        ck_assert_msg(simdiff_dataset_open_idx(&ds, ip, lp) == SIMDIFF_OK, "%s",
                      simdiff_last_error());
        ck_assert_int_eq(simdiff_dataset_count(ds), N);
        ck_assert_int_eq(simdiff_dataset_channels(ds), 1);
        ck_assert_int_eq(simdiff_dataset_height(ds), H);
        ck_assert_int_eq(simdiff_dataset_width(ds), W);
        ck_assert_int_eq(simdiff_dataset_num_classes(ds), 5);
        int64_t idx[3] = {4, 0, 4};
        float out[3 * H * W];
        int labels[3];
        ck_assert_int_eq(simdiff_dataset_get_batch(ds, 3, idx, 0, NULL, out, labels),
                         SIMDIFF_OK);
        for (int b = 0; b < 3; b++) {
            ck_assert_int_eq(labels[b], lab[idx[b]]);
            for (int i = 0; i < H * W; i++)
                ck_assert(out[b * H * W + i] == lvl(px[idx[b] * H * W + i]));
        }
        /* 0 -> -1 and 255 -> 1 exactly */
        ck_assert(lvl(0) == -1.0f && lvl(255) == 1.0f);
        simdiff_dataset_destroy(ds);
        /* without labels */
        ck_assert_int_eq(simdiff_dataset_open_idx(&ds, ip, NULL), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_dataset_num_classes(ds), 0);
        ck_assert_int_eq(simdiff_dataset_get_batch(ds, 3, idx, 0, NULL, out, labels),
                         SIMDIFF_OK);
        ck_assert_int_eq(labels[0], -1);
        simdiff_dataset_destroy(ds);
    }
    simdiff_dataset_destroy(NULL);
    ck_assert_int_eq(simdiff_dataset_count(NULL), 0);
    ck_assert_str_eq(simdiff_dataset_errmsg(NULL), "");
}
END_TEST

static void expect_idx_fail(const char *ip, const char *lp, simdiff_status want,
                            const char *msg)
{
    simdiff_dataset *ds = (simdiff_dataset *)1;
    simdiff_status s = simdiff_dataset_open_idx(&ds, ip, lp);
    ck_assert_msg(s == want, "%s: got %d (%s), want %d", msg, s, simdiff_last_error(),
                  want);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(simdiff_last_error(), msg) != NULL, "message \"%s\" lacks \"%s\"",
                  simdiff_last_error(), msg);
}

START_TEST(idx_bad_files)
{
    uint8_t px[2 * 3 * 4] = {0}, lab[3] = {1, 2, 3};
    uint32_t d3[3] = {2, 3, 4}, d1[1] = {2}, d1b[1] = {3};
    const char *ip = tmp("bi.idx"), *lp = tmp("bl.idx");
    write_idx(lp, 0x801, 1, d1, lab, 2, 0);
    for (int gz = 0; gz < 2; gz++) {
        write_idx(ip, 0x804, 3, d3, px, sizeof px, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "magic");
        write_idx(ip, 0x0d03, 3, d3, px, sizeof px, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "element type");
        write_idx(ip, 0x803, 3, d3, px, sizeof px - 1, gz);
        expect_idx_fail(ip, lp, gz ? SIMDIFF_ERR_FORMAT : SIMDIFF_ERR_FORMAT,
                        gz ? "truncated" : "announces");
        write_idx(ip, 0x803, 3, d3, px, sizeof px, gz);
        write_idx(lp, 0x801, 1, d1b, lab, 3, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "3 labels for 2 images");
        write_idx(lp, 0x803, 1, d1, lab, 2, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "magic");
        write_idx(lp, 0x801, 1, d1, lab, 2, gz);
        /* labels file passed as images */
        expect_idx_fail(lp, NULL, SIMDIFF_ERR_FORMAT, "magic");
        /* huge dims: refused before allocating */
        uint32_t huge[3] = {0xffffffffu, 0xffffu, 0xffffu};
        write_idx(ip, 0x803, 3, huge, px, sizeof px, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "");
        uint32_t big[3] = {1000000, 28, 28};
        write_idx(ip, 0x803, 3, big, px, sizeof px, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, gz ? "gzip" : "announces");
        uint32_t zero[3] = {0, 28, 28};
        write_idx(ip, 0x803, 3, zero, px, 0, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "at least one");
        uint32_t wide[3] = {1, 1, 70000};
        write_idx(ip, 0x803, 3, wide, px, 0, gz);
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "sides");
        write_idx(ip, 0x803, 2, d3, px, 0, gz); /* header cut short */
        expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "truncated");
    }
    /* trailing data after the pixels (raw), empty file, missing file */
    uint8_t more[2 * 3 * 4 + 1] = {0};
    write_idx(ip, 0x803, 3, d3, more, sizeof more, 0);
    expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "announces");
    write_idx(ip, 0x803, 3, d3, more, sizeof more, 1);
    expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "after the end");
    spit(ip, "", 0);
    expect_idx_fail(ip, lp, SIMDIFF_ERR_FORMAT, "truncated");
    expect_idx_fail(tmp("missing.idx"), NULL, SIMDIFF_ERR_IO, "missing.idx");
    expect_idx_fail(NULL, NULL, SIMDIFF_ERR_INVALID_ARG, "NULL");
    /* a corrupt gzip stream */
    write_idx(ip, 0x803, 3, d3, px, sizeof px, 1);
    size_t n;
    uint8_t *g = slurp(ip, &n);
    g[n - 5] ^= 0xff; /* inside the CRC32 / ISIZE trailer */
    spit(ip, g, n);
    expect_idx_fail(ip, NULL, SIMDIFF_ERR_FORMAT, "gzip");
    free(g);
    ck_assert_int_eq(simdiff_dataset_open_idx(NULL, ip, NULL), SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

#define FMNIST "/usr/share/datasets/fashion-mnist/"

START_TEST(fashion_mnist)
{
    const char *imgs[2] = {FMNIST "train-images-idx3-ubyte.gz",
                           FMNIST "t10k-images-idx3-ubyte.gz"};
    const char *labs[2] = {FMNIST "train-labels-idx1-ubyte.gz",
                           FMNIST "t10k-labels-idx1-ubyte.gz"};
    const int64_t counts[2] = {60000, 10000};
    if (access(imgs[0], R_OK) != 0)
        SDTEST_SKIP("Fashion-MNIST is not installed in " FMNIST " (dataset-fashion-mnist)");
    for (int set = 0; set < 2; set++) {
        simdiff_dataset *ds;
        ck_assert_msg(simdiff_dataset_open_idx(&ds, imgs[set], labs[set]) == SIMDIFF_OK,
                      "%s", simdiff_last_error());
        ck_assert_int_eq(simdiff_dataset_count(ds), counts[set]);
        ck_assert_int_eq(simdiff_dataset_height(ds), 28);
        ck_assert_int_eq(simdiff_dataset_width(ds), 28);
        ck_assert_int_eq(simdiff_dataset_channels(ds), 1);
        ck_assert_int_eq(simdiff_dataset_num_classes(ds), 10);
        /* The first label and image, read here with gzread. */
        uint8_t head[16], first_px[784];
        gzFile g = gzopen(labs[set], "rb");
        ck_assert_int_eq(gzread(g, head, 9), 9);
        gzclose(g);
        int first_label = head[8];
        g = gzopen(imgs[set], "rb");
        ck_assert_int_eq(gzread(g, head, 16), 16);
        ck_assert_int_eq(gzread(g, first_px, 784), 784);
        gzclose(g);
        /* Known values: train[0] is class 9 (ankle boot), t10k[0] too. */
        ck_assert_int_eq(first_label, 9);
        /* Every label in 0..9, each class exactly count / 10 times. */
        enum { B = 1000 };
        float *out = malloc(sizeof(float) * B * 28 * 28);
        int labels[B], per_class[10] = {0};
        int64_t idx[B];
        for (int64_t s = 0; s < counts[set]; s += B) {
            for (int i = 0; i < B; i++)
                idx[i] = s + i;
            ck_assert_int_eq(simdiff_dataset_get_batch(ds, B, idx, 0, NULL, out, labels),
                             SIMDIFF_OK);
            for (int i = 0; i < B; i++) {
                ck_assert(labels[i] >= 0 && labels[i] <= 9);
                per_class[labels[i]]++;
            }
            if (s == 0) {
                ck_assert_int_eq(labels[0], first_label);
                for (int i = 0; i < 784; i++)
                    ck_assert(out[i] == lvl(first_px[i]));
            }
        }
        for (int c = 0; c < 10; c++)
            ck_assert_int_eq(per_class[c], counts[set] / 10);
        /* padded to 32 x 32 for training */
        int64_t zero = 0;
        ck_assert_int_eq(simdiff_dataset_get_batch(ds, 1, &zero, 32, NULL, out, labels),
                         SIMDIFF_OK);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int in = y >= 2 && y < 30 && x >= 2 && x < 30;
                ck_assert(out[y * 32 + x] ==
                          (in ? lvl(first_px[(y - 2) * 28 + x - 2]) : -1.0f));
            }
        free(out);
        simdiff_dataset_destroy(ds);
    }
}
END_TEST

/* ---- datasets: NPY -------------------------------------------------------------- */

enum { K = 3, C3 = 3, H4 = 4, W5 = 5 };

static int u8_value(int k, int c, int y, int x) { return (k * 61 + y * 17 + x * 5 + c * 89) % 256; }
static float f01_value(int k, int c, int y, int x)
{
    return (float)(((k * 7 + c * 3 + y * 5 + x) % 11) / 10.0);
}

static simdiff_dataset *open_npy_ok(const char *img, const char *lab, int layout,
                                    int range)
{
    simdiff_dataset *ds = NULL;
    simdiff_status s = simdiff_dataset_open_npy(&ds, img, lab, layout, range);
    ck_assert_msg(s == SIMDIFF_OK, "%s: %s", img, simdiff_last_error());
    return ds;
}

static void get_all(simdiff_dataset *ds, float *out, int *labels)
{
    int64_t idx[K] = {0, 1, 2};
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, K, idx, 0, NULL, out, labels),
                     SIMDIFF_OK);
}

START_TEST(npy_datasets)
{
    float out[K * C3 * H4 * W5], out2[K * C3 * H4 * W5];
    int labels[K];
    /* NHWC and NCHW (inferred) hold the same images */
    simdiff_dataset *a = open_npy_ok(fixture("io/npy/u8_nhwc3.npy"),
                                     fixture("io/npy/labels_i8.npy"), 0, 0);
    simdiff_dataset *b = open_npy_ok(fixture("io/npy/u8_nchw3.npy"),
                                     fixture("io/npy/labels_i4.npy"), 0, 0);
    ck_assert_int_eq(simdiff_dataset_channels(a), 3);
    ck_assert_int_eq(simdiff_dataset_height(a), H4);
    ck_assert_int_eq(simdiff_dataset_width(a), W5);
    ck_assert_int_eq(simdiff_dataset_channels(b), 3);
    get_all(a, out, labels);
    ck_assert_int_eq(labels[0], 3);
    ck_assert_int_eq(labels[2], 7);
    ck_assert_int_eq(simdiff_dataset_num_classes(a), 8);
    get_all(b, out2, labels);
    ck_assert_int_eq(labels[1], 255);
    ck_assert_int_eq(simdiff_dataset_num_classes(b), 256);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C3; c++)
            for (int y = 0; y < H4; y++)
                for (int x = 0; x < W5; x++) {
                    int i = ((k * C3 + c) * H4 + y) * W5 + x;
                    ck_assert(out[i] == lvl(u8_value(k, c, y, x)));
                    ck_assert(out2[i] == out[i]);
                }
    simdiff_dataset_destroy(a);
    simdiff_dataset_destroy(b);
    /* explicit layout on an unambiguous file works too */
    a = open_npy_ok(fixture("io/npy/u8_nhwc3.npy"), NULL, SIMDIFF_LAYOUT_NHWC, 0);
    get_all(a, out2, labels);
    ck_assert_int_eq(memcmp(out, out2, sizeof out), 0);
    ck_assert_int_eq(labels[0], -1);
    simdiff_dataset_destroy(a);
    /* (N, H, W), raw and gzip, uint8 labels */
    a = open_npy_ok(fixture("io/npy/u8_nhw.npy"), fixture("io/npy/labels_u1.npy"), 0, 0);
    b = open_npy_ok(fixture("io/npy/u8_nhw.npy.gz"), NULL, 0, 0);
    ck_assert_int_eq(simdiff_dataset_channels(a), 1);
    ck_assert_int_eq(simdiff_dataset_num_classes(a), 10);
    get_all(a, out, labels);
    ck_assert_int_eq(labels[2], 4);
    get_all(b, out2, labels);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < H4 * W5; i++) {
            ck_assert(out[k * H4 * W5 + i] == lvl(u8_value(k, 0, i / W5, i % W5)));
            ck_assert(out2[k * H4 * W5 + i] == out[k * H4 * W5 + i]);
        }
    simdiff_dataset_destroy(a);
    simdiff_dataset_destroy(b);
    /* float32, format 2.0, [0, 1] -> [-1, 1] */
    a = open_npy_ok(fixture("io/npy/f32_nchw3_v2.npy"), NULL, 0, SIMDIFF_FLOAT_RANGE_01);
    get_all(a, out, labels);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C3; c++)
            for (int y = 0; y < H4; y++)
                for (int x = 0; x < W5; x++)
                    ck_assert(out[((k * C3 + c) * H4 + y) * W5 + x] ==
                              f01_value(k, c, y, x) * 2.0f - 1.0f);
    simdiff_dataset_destroy(a);
    /* float32, format 3.0, already in [-1, 1]; refused as [0, 1] */
    a = open_npy_ok(fixture("io/npy/f32_nhw_pm1_v3.npy"), NULL, 0, SIMDIFF_FLOAT_RANGE_PM1);
    get_all(a, out, labels);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < H4 * W5; i++)
            ck_assert(out[k * H4 * W5 + i] == f01_value(k, 0, i / W5, i % W5) * 2 - 1);
    simdiff_dataset_destroy(a);
    ck_assert_int_eq(simdiff_dataset_open_npy(&a, fixture("io/npy/f32_nhw_pm1_v3.npy"),
                                              NULL, 0, SIMDIFF_FLOAT_RANGE_01),
                     SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "SIMDIFF_FLOAT_RANGE_PM1"));
}
END_TEST

static void expect_npy_fail(const char *img, const char *lab, int layout, int range,
                            simdiff_status want, const char *msg)
{
    simdiff_dataset *ds = (simdiff_dataset *)1;
    simdiff_status s = simdiff_dataset_open_npy(&ds, img, lab, layout, range);
    ck_assert_msg(s == want, "%s (%s): got %d (%s)", img, msg, s, simdiff_last_error());
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(simdiff_last_error(), msg) != NULL, "message \"%s\" lacks \"%s\"",
                  simdiff_last_error(), msg);
}

/* A .npy file from a header dict and n payload bytes. */
static void write_npy_raw(const char *path, const char *dict, const void *payload,
                          size_t n)
{
    uint8_t b[4096];
    size_t dn = strlen(dict);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)dn;
    b[9] = (uint8_t)(dn >> 8);
    memcpy(b + 10, dict, dn);
    if (n)
        memcpy(b + 10 + dn, payload, n);
    spit(path, b, 10 + dn + n);
}

START_TEST(npy_bad_files)
{
    char img[2200]; /* fixture() buffers are reused */
    snprintf(img, sizeof img, "%s", fixture("io/npy/u8_nhw.npy"));
    expect_npy_fail(fixture("io/npy/u8_fortran.npy"), NULL, 0, 0, SIMDIFF_ERR_FORMAT,
                    "fortran_order");
    expect_npy_fail(img, fixture("io/npy/labels_neg.npy"), 0, 0, SIMDIFF_ERR_FORMAT,
                    "outside 0..255");
    expect_npy_fail(img, fixture("io/npy/labels_f4.npy"), 0, 0, SIMDIFF_ERR_FORMAT,
                    "labels dtype '<f4'");
    expect_npy_fail(fixture("io/npy/labels_i8.npy"), NULL, 0, 0, SIMDIFF_ERR_FORMAT,
                    "images dtype");
    expect_npy_fail(img, NULL, 7, 0, SIMDIFF_ERR_INVALID_ARG, "layout");
    expect_npy_fail(img, NULL, 0, 9, SIMDIFF_ERR_INVALID_ARG, "float_range");
    expect_npy_fail(tmp("nope.npy"), NULL, 0, 0, SIMDIFF_ERR_IO, "nope.npy");
    /* ambiguous and impossible 4-d shapes */
    uint8_t px[2 * 3 * 4 * 3] = {0};
    int64_t amb[4] = {2, 3, 4, 3}, none[4] = {2, 5, 4, 5}, many[4] = {1, 5, 2, 2};
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("amb.npy"), 4, amb, px), SIMDIFF_OK);
    expect_npy_fail(tmp("amb.npy"), NULL, 0, 0, SIMDIFF_ERR_INVALID_ARG, "ambiguous");
    simdiff_dataset *ds = open_npy_ok(tmp("amb.npy"), NULL, SIMDIFF_LAYOUT_NCHW, 0);
    ck_assert_int_eq(simdiff_dataset_channels(ds), 3);
    ck_assert_int_eq(simdiff_dataset_width(ds), 3);
    simdiff_dataset_destroy(ds);
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("none.npy"), 4, none, NULL), SIMDIFF_ERR_INVALID_ARG);
    uint8_t big[2 * 5 * 4 * 5] = {0};
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("none.npy"), 4, none, big), SIMDIFF_OK);
    expect_npy_fail(tmp("none.npy"), NULL, 0, 0, SIMDIFF_ERR_FORMAT, "not NHWC or NCHW");
    expect_npy_fail(tmp("none.npy"), NULL, SIMDIFF_LAYOUT_NCHW, 0, SIMDIFF_ERR_FORMAT,
                    "1..4 channels");
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("many.npy"), 4, many, big), SIMDIFF_OK);
    expect_npy_fail(tmp("many.npy"), NULL, SIMDIFF_LAYOUT_NCHW, 0, SIMDIFF_ERR_FORMAT,
                    "1..4 channels");
    int64_t d2[2] = {4, 5};
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("2d.npy"), 2, d2, big), SIMDIFF_OK);
    expect_npy_fail(tmp("2d.npy"), NULL, 0, 0, SIMDIFF_ERR_FORMAT, "2-d array");
    /* float values out of range, NaN */
    float f[4] = {0, 0.5f, 1.0f, 2.0f};
    int64_t s3[3] = {1, 2, 2};
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("f.npy"), 3, s3, f), SIMDIFF_OK);
    expect_npy_fail(tmp("f.npy"), NULL, 0, 0, SIMDIFF_ERR_FORMAT, "outside [0, 1]");
    f[3] = NAN;
    ck_assert_int_eq(simdiff_write_npy_f32(tmp("f.npy"), 3, s3, f), SIMDIFF_OK);
    expect_npy_fail(tmp("f.npy"), NULL, 0, 1, SIMDIFF_ERR_FORMAT, "outside [-1, 1]");
    /* labels whose count differs */
    int64_t two = 2;
    uint8_t l2[2] = {0, 1};
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("l2.npy"), 1, &two, l2), SIMDIFF_OK);
    expect_npy_fail(img, tmp("l2.npy"), 0, 0, SIMDIFF_ERR_FORMAT, "shape (3,)");
    /* hand-made headers: bad dtype, truncated or extra data, huge shape */
    uint8_t data[64] = {0};
    const char *p = tmp("h.npy");
    write_npy_raw(p, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2), }\n", data, 32);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "'<f8'");
    write_npy_raw(p, "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2, 2), }\n", data, 16);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "'>f4'");
    write_npy_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }\n", data, 3);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "announces");
    write_npy_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }\n", data, 5);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "announces");
    write_npy_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }\n", data, 4);
    ds = open_npy_ok(p, NULL, 0, 0);
    simdiff_dataset_destroy(ds);
    write_npy_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854775807, 65536, 65536), }\n", data, 4);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "limit");
    write_npy_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (1000, 2, 2), }\n", data, 4);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "announces");
    write_npy_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), 'x': 1}\n", data, 4);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "unexpected key");
    write_npy_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }", data, 4);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "npy header");
    spit(p, "\x93NUMPY\x01\x00\xff", 9);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "truncated");
    spit(p, "PK\x03\x04 not npy...", 16);
    expect_npy_fail(p, NULL, 0, 0, SIMDIFF_ERR_FORMAT, "magic");
    /* every truncation of a valid file fails cleanly */
    size_t n;
    uint8_t *whole = slurp(fixture("io/npy/f32_nchw3_v2.npy"), &n);
    for (size_t cut = 0; cut < n; cut += 3) {
        spit(p, whole, cut);
        ds = (simdiff_dataset *)1;
        ck_assert_int_eq(simdiff_dataset_open_npy(&ds, p, NULL, 0, 0), SIMDIFF_ERR_FORMAT);
        ck_assert_ptr_null(ds);
    }
    free(whole);
}
END_TEST

/* ---- simdiff_read_npy_f32 --------------------------------------------------- */

/* Reads path, expecting success; returns the data (simdiff_free it). */
static float *read_f32_ok(const char *path, int max_ndim, int64_t *shape, int *ndim)
{
    float *d = (float *)1;
    simdiff_status s = simdiff_read_npy_f32(path, max_ndim, shape, ndim, &d);
    ck_assert_msg(s == SIMDIFF_OK, "%s: %s", path, simdiff_last_error());
    ck_assert_ptr_nonnull(d);
    return d;
}

static void expect_read_fail(const char *path, int max_ndim, simdiff_status want,
                             const char *msg)
{
    int64_t shape[4] = {-7, -7, -7, -7};
    int ndim = -7;
    float *d = (float *)1;
    simdiff_status s = simdiff_read_npy_f32(path, max_ndim, shape, &ndim, &d);
    ck_assert_msg(s == want, "%s (%s): got %d (%s)", path, msg, s, simdiff_last_error());
    ck_assert_ptr_null(d);
    /* no partial output */
    ck_assert_int_eq(ndim, -7);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(shape[i], -7);
    ck_assert_msg(strstr(simdiff_last_error(), msg) != NULL, "message \"%s\" lacks \"%s\"",
                  simdiff_last_error(), msg);
}

START_TEST(npy_read_f32_numpy_files)
{
    /* numpy-written: format 2.0, 4-d; values recomputed here */
    int64_t sh[4];
    int nd;
    float *d = read_f32_ok(fixture("io/npy/f32_nchw3_v2.npy"), 4, sh, &nd);
    ck_assert_int_eq(nd, 4);
    ck_assert(sh[0] == K && sh[1] == C3 && sh[2] == H4 && sh[3] == W5);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C3; c++)
            for (int y = 0; y < H4; y++)
                for (int x = 0; x < W5; x++)
                    ck_assert(d[((k * C3 + c) * H4 + y) * W5 + x] == f01_value(k, c, y, x));
    simdiff_free(d);
    /* format 3.0, 3-d; a larger shape buffer than needed */
    int64_t sh8[8];
    d = read_f32_ok(fixture("io/npy/f32_nhw_pm1_v3.npy"), 8, sh8, &nd);
    ck_assert_int_eq(nd, 3);
    ck_assert(sh8[0] == K && sh8[1] == H4 && sh8[2] == W5);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < H4 * W5; i++)
            ck_assert(d[k * H4 * W5 + i] == f01_value(k, 0, i / W5, i % W5) * 2 - 1);
    simdiff_free(d);
    /* format 1.0, values i * 0.25 - 2 */
    d = read_f32_ok(fixture("io/npy/writer_f32.npy"), 3, sh, &nd);
    ck_assert(nd == 3 && sh[0] == 2 && sh[1] == 3 && sh[2] == 4);
    for (int i = 0; i < 24; i++)
        ck_assert(d[i] == (float)(i * 0.25 - 2));
    simdiff_free(d);
    /* a scalar: ndim 0, one element; shape may be NULL with max_ndim 0 */
    d = read_f32_ok(fixture("io/npy/writer_scalar.npy"), 0, NULL, &nd);
    ck_assert_int_eq(nd, 0);
    ck_assert(d[0] == 1.5f);
    simdiff_free(d);
    /* zero elements: a valid pointer, nothing read */
    d = read_f32_ok(fixture("io/npy/writer_empty.npy"), 2, sh, &nd);
    ck_assert(nd == 2 && sh[0] == 0 && sh[1] == 1234567);
    simdiff_free(d);
    simdiff_free(NULL);
    /* gzip: the same bytes, compressed here with zlib */
    size_t n;
    uint8_t *whole = slurp(fixture("io/npy/f32_nchw3_v2.npy"), &n);
    spit_gz(tmp("f32.npy.gz"), whole, n);
    d = read_f32_ok(tmp("f32.npy.gz"), 4, sh, &nd);
    ck_assert(nd == 4 && sh[0] == K && sh[3] == W5);
    ck_assert(d[((2 * C3 + 1) * H4 + 3) * W5 + 4] == f01_value(2, 1, 3, 4));
    simdiff_free(d);
    free(whole);
}
END_TEST

START_TEST(npy_read_f32_bad_files)
{
    /* arguments */
    int64_t sh[4];
    int nd;
    float *d = (float *)1;
    const char *good = fixture("io/npy/writer_f32.npy");
    ck_assert_int_eq(simdiff_read_npy_f32(NULL, 4, sh, &nd, &d), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(simdiff_read_npy_f32(good, 4, sh, NULL, &d), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_read_npy_f32(good, 4, sh, &nd, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_read_npy_f32(good, 4, NULL, &nd, &d), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_read_npy_f32(good, 33, sh, &nd, &d), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_read_npy_f32(good, -1, sh, &nd, &d), SIMDIFF_ERR_INVALID_ARG);
    expect_read_fail(good, 2, SIMDIFF_ERR_FORMAT, "3-dimensional array, at most 2");
    expect_read_fail(tmp("nope.npy"), 4, SIMDIFF_ERR_IO, "nope.npy");
    /* other dtypes, named in the message */
    expect_read_fail(fixture("io/npy/u8_nhw.npy"), 4, SIMDIFF_ERR_FORMAT, "dtype '|u1'");
    expect_read_fail(fixture("io/npy/labels_i8.npy"), 4, SIMDIFF_ERR_FORMAT, "dtype '<i8'");
    /* hand-made files: header dict, payload bytes, what the message says */
    static const struct {
        const char *dict;
        size_t payload;
        const char *msg;
    } bad[] = {
        /* other dtypes, named */
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }\n", 32, "dtype '<f8'"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }\n", 16, "dtype '>f4'"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }\n", 8, "dtype '<f2'"},
        /* Fortran order */
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", 16, "fortran_order"},
        /* payload one byte short, one byte long */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 15, "announces 16"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 17, "announces 16"},
        /* huge shapes: the element or byte count overflows, or is more
         * than the file holds; refused before allocating */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 65536, "
         "65536), }\n", 16, "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }\n", 16,
         "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }\n", 16,
         "announces"},
        /* malformed headers */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}\n", 16,
         "unexpected key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4), }\n", 16, "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }\n", 16, "non-negative"},
    };
    uint8_t data[64] = {0};
    const char *p = tmp("r.npy");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_npy_raw(p, bad[i].dict, data, bad[i].payload);
        expect_read_fail(p, 4, SIMDIFF_ERR_FORMAT, bad[i].msg);
    }
    expect_read_fail(fixture("io/npy/u8_fortran.npy"), 4, SIMDIFF_ERR_FORMAT, "fortran_order");
    /* exactly the right payload reads */
    write_npy_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", data, 16);
    simdiff_free(read_f32_ok(p, 2, sh, &nd));
    /* a gzip file announcing more than it could inflate to */
    write_npy_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }\n", data, 16);
    size_t n;
    uint8_t *whole = slurp(p, &n);
    spit_gz(tmp("r.npy.gz"), whole, n);
    free(whole);
    expect_read_fail(tmp("r.npy.gz"), 4, SIMDIFF_ERR_FORMAT, "gzip");
    /* every truncation of a valid file, raw and gzip, fails cleanly */
    whole = slurp(fixture("io/npy/f32_nchw3_v2.npy"), &n);
    for (size_t cut = 0; cut < n; cut += 3) {
        spit(p, whole, cut);
        d = (float *)1;
        ck_assert_int_eq(simdiff_read_npy_f32(p, 4, sh, &nd, &d), SIMDIFF_ERR_FORMAT);
        ck_assert_ptr_null(d);
    }
    spit_gz(tmp("t.npy.gz"), whole, n);
    uint8_t *gz = slurp(tmp("t.npy.gz"), &n);
    for (size_t cut = 2; cut < n; cut += 5) {
        spit(p, gz, cut);
        d = (float *)1;
        ck_assert_int_eq(simdiff_read_npy_f32(p, 4, sh, &nd, &d), SIMDIFF_ERR_FORMAT);
        ck_assert_ptr_null(d);
    }
    free(gz);
    free(whole);
}
END_TEST

/* ---- batches: padding and flips --------------------------------------------- */

START_TEST(batch_padding_and_flip)
{
    /* two 3 x 2 images (H = 3, W = 2), levels 10 * (k + 1) + (y * 2 + x) */
    uint8_t px[2 * 3 * 2];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 6; i++)
            px[k * 6 + i] = (uint8_t)(10 * (k + 1) + i);
    int64_t shape[3] = {2, 3, 2};
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("tiny.npy"), 3, shape, px), SIMDIFF_OK);
    simdiff_dataset *ds = open_npy_ok(tmp("tiny.npy"), NULL, 0, 0);
    /* pad to 6: 1 row above, 2 below; 2 columns left, 2 right */
    int64_t idx[2] = {1, 0};
    uint8_t flip[2] = {0, 1};
    float out[2 * 36];
    int lab[2];
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 2, idx, 6, flip, out, lab), SIMDIFF_OK);
    ck_assert_int_eq(lab[0], -1);
    const char *expect[2][6] = {
        {"......", "..ab..", "..cd..", "..ef..", "......", "......"},
        {"......", "..ba..", "..dc..", "..fe..", "......", "......"}};
    for (int b = 0; b < 2; b++)
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++) {
                char ch = expect[b][y][x];
                float want = ch == '.' ? -1.0f : lvl(10 * ((int)idx[b] + 1) + (ch - 'a'));
                ck_assert_msg(out[b * 36 + y * 6 + x] == want, "b %d (%d,%d)", b, y, x);
            }
    /* odd padding: 3 -> 4 puts the extra row below; flip without padding */
    float o4[16];
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 1, idx, 4, NULL, o4, NULL), SIMDIFF_OK);
    ck_assert(o4[0] == -1.0f && o4[0 * 4 + 1] == lvl(20) && o4[1 * 4 + 2] == lvl(23));
    ck_assert(o4[2 * 4 + 3] == -1.0f && o4[3 * 4 + 1] == -1.0f && o4[3 * 4 + 2] == -1.0f);
    float o6[6];
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 1, idx + 1, 0, flip + 1, o6, NULL),
                     SIMDIFF_OK);
    ck_assert(o6[0] == lvl(11) && o6[1] == lvl(10) && o6[5] == lvl(14));
    /* errors go to the handle too */
    int64_t bad = 2;
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 1, &bad, 0, NULL, o6, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_dataset_errmsg(ds), "indices[0] = 2"));
    bad = -1;
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 1, &bad, 0, NULL, o6, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 1, idx, 2, NULL, o6, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_dataset_errmsg(ds), "pad_to"));
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, -1, idx, 0, NULL, o6, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 1, NULL, 0, NULL, o6, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, 0, NULL, 0, NULL, NULL, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_get_batch(NULL, 1, idx, 0, NULL, o6, NULL),
                     SIMDIFF_ERR_INVALID_ARG);
    simdiff_dataset_destroy(ds);
}
END_TEST

/* ---- shuffle and flips ------------------------------------------------------- */

static simdiff_dataset *ones(int64_t n)
{
    uint8_t *px = calloc((size_t)n, 1);
    int64_t shape[3] = {n, 1, 1};
    ck_assert_int_eq(simdiff_write_npy_u8(tmp("ones.npy"), 3, shape, px), SIMDIFF_OK);
    free(px);
    return open_npy_ok(tmp("ones.npy"), NULL, 0, 0);
}

START_TEST(shuffle_and_flips_match_reference)
{
    FILE *f = fopen(fixture("io/shuffle_expected.txt"), "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int perms = 0, flips = 0;
    while (fgets(line, sizeof line, f)) {
        char *save, *tok;
        if (!strncmp(line, "perm ", 5)) {
            long long n;
            unsigned long long seed, epoch;
            ck_assert_int_eq(sscanf(line + 5, "%lld %llu %llu", &n, &seed, &epoch), 3);
            simdiff_dataset *ds = ones(n);
            int64_t *perm = malloc((size_t)n * sizeof *perm);
            ck_assert_int_eq(simdiff_dataset_shuffle(ds, seed, epoch, perm), SIMDIFF_OK);
            tok = strtok_r(strchr(line, ':') + 1, " \n", &save);
            for (long long i = 0; i < n; i++, tok = strtok_r(NULL, " \n", &save)) {
                ck_assert_ptr_nonnull(tok);
                ck_assert_int_eq(perm[i], atoll(tok));
            }
            free(perm);
            simdiff_dataset_destroy(ds);
            perms++;
        } else if (!strncmp(line, "flip ", 5)) {
            unsigned long long seed, step;
            ck_assert_int_eq(sscanf(line + 5, "%llu %llu", &seed, &step), 2);
            int64_t idx[64];
            int want[64], n = 0;
            for (tok = strtok_r(strchr(line, ':') + 1, " \n", &save); tok;
                 tok = strtok_r(NULL, " \n", &save)) {
                ck_assert_int_eq(sscanf(tok, "%" SCNd64 ":%d", &idx[n], &want[n]), 2);
                n++;
            }
            uint8_t got[64];
            ck_assert_int_eq(simdiff_dataset_flip_mask(seed, step, n, idx, got), SIMDIFF_OK);
            for (int i = 0; i < n; i++)
                ck_assert_int_eq(got[i], want[i]);
            flips++;
        }
    }
    fclose(f);
    ck_assert_int_eq(perms, 5);
    ck_assert_int_eq(flips, 3);
}
END_TEST

START_TEST(shuffle_properties)
{
    const int64_t n = 100000;
    simdiff_dataset *ds = ones(n);
    int64_t *p1 = malloc((size_t)n * sizeof *p1), *p2 = malloc((size_t)n * sizeof *p2);
    uint8_t *seen = calloc((size_t)n, 1);
    ck_assert_int_eq(simdiff_dataset_shuffle(ds, 7, 0, p1), SIMDIFF_OK);
    for (int64_t i = 0; i < n; i++) {
        ck_assert(p1[i] >= 0 && p1[i] < n && !seen[p1[i]]);
        seen[p1[i]] = 1;
    }
    ck_assert_int_eq(simdiff_dataset_shuffle(ds, 7, 0, p2), SIMDIFF_OK);
    ck_assert_int_eq(memcmp(p1, p2, (size_t)n * sizeof *p1), 0);
    ck_assert_int_eq(simdiff_dataset_shuffle(ds, 7, 1, p2), SIMDIFF_OK);
    int64_t same = 0, fixed = 0;
    for (int64_t i = 0; i < n; i++) {
        same += p1[i] == p2[i];
        fixed += p1[i] == i;
    }
    ck_assert_int_lt(same, 20); /* ~1 expected */
    ck_assert_int_lt(fixed, 20);
    ck_assert_int_eq(simdiff_dataset_shuffle(ds, 8, 0, p2), SIMDIFF_OK);
    ck_assert_int_ne(memcmp(p1, p2, (size_t)n * sizeof *p1), 0);
    ck_assert_int_eq(simdiff_dataset_shuffle(ds, 7, 0, NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_dataset_shuffle(NULL, 7, 0, p1), SIMDIFF_ERR_INVALID_ARG);
    free(p1);
    free(p2);
    free(seen);
    simdiff_dataset_destroy(ds);
    /* all 6 orders of 3 items, about equally often over 6000 epochs */
    ds = ones(3);
    int count[6] = {0};
    for (uint64_t e = 0; e < 6000; e++) {
        int64_t p[3];
        simdiff_dataset_shuffle(ds, 123, e, p);
        count[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int i = 0; i < 6; i++)
        ck_assert_msg(count[i] > 850 && count[i] < 1150, "order %d: %d of 6000", i, count[i]);
    simdiff_dataset_destroy(ds);
    /* flips: about half, independent of batch composition */
    enum { M = 20000 };
    int64_t *idx = malloc(M * sizeof *idx);
    uint8_t *fl = malloc(M), one;
    for (int i = 0; i < M; i++)
        idx[i] = i;
    ck_assert_int_eq(simdiff_dataset_flip_mask(1, 5, M, idx, fl), SIMDIFF_OK);
    int ones_n = 0, same_next_step = 0;
    for (int i = 0; i < M; i++)
        ones_n += fl[i];
    ck_assert_int_gt(ones_n, M / 2 - 500);
    ck_assert_int_lt(ones_n, M / 2 + 500);
    ck_assert_int_eq(simdiff_dataset_flip_mask(1, 5, 1, idx + 777, &one), SIMDIFF_OK);
    ck_assert_int_eq(one, fl[777]);
    uint8_t *fl2 = malloc(M);
    ck_assert_int_eq(simdiff_dataset_flip_mask(1, 6, M, idx, fl2), SIMDIFF_OK);
    for (int i = 0; i < M; i++)
        same_next_step += fl[i] == fl2[i];
    ck_assert_int_gt(same_next_step, M / 2 - 500);
    ck_assert_int_lt(same_next_step, M / 2 + 500);
    ck_assert_int_eq(simdiff_dataset_flip_mask(1, 6, -1, idx, fl2), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_dataset_flip_mask(1, 6, 0, NULL, NULL), SIMDIFF_OK);
    free(idx);
    free(fl);
    free(fl2);
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("writers");
    tcase_add_test(tc, png_gray_grid);
    tcase_add_test(tc, png_rgb_grid);
    tcase_add_test(tc, png_u8_and_errors);
    tcase_add_test(tc, png_grid_size_is_checked);
    tcase_add_test(tc, npy_writer_matches_numpy);
    tcase_add_test(tc, npy_writer_read_back);
    suite_add_tcase(s, tc);
    tc = tcase_create("datasets");
    tcase_add_test(tc, idx_small_raw_and_gzip);
    tcase_add_test(tc, idx_bad_files);
    tcase_add_test(tc, fashion_mnist);
    tcase_add_test(tc, npy_datasets);
    tcase_add_test(tc, npy_bad_files);
    tcase_add_test(tc, npy_read_f32_numpy_files);
    tcase_add_test(tc, npy_read_f32_bad_files);
    tcase_add_test(tc, batch_padding_and_flip);
    tcase_add_test(tc, shuffle_and_flips_match_reference);
    tcase_add_test(tc, shuffle_properties);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(io_suite)
