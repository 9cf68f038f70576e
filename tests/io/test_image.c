/*
 * Image folders (simdiff_dataset_open_folder) through the shared library.
 *
 * Independent checks: the PNG files were written by the fixture script's
 * own encoder (struct + zlib; Pillow reads them back as the recorded
 * values), the JPEGs by Pillow; the expected images were computed by
 * Pillow (crop, exact area resize on float images) and numpy from the
 * rules in docs/io.md (tests/reference/make_image_fixtures.py). The
 * library must give each expected value rounded to the nearest level.
 * Hostile files must be refused with a message naming them (or skipped and
 * counted when asked).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

static const char *images(const char *name)
{
    static char buf[4][2200];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 2200, "%s/io/images/%s", sdtest_fixture_dir(), name);
    return p;
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

/* Copy fixture file src (under io/images/) to dir/name. */
static void copy_to(const char *src, const char *dir, const char *name)
{
    size_t n;
    uint8_t *b = slurp(images(src), &n);
    FILE *f = fopen(sdtest_path(dir, name), "wb");
    ck_assert_msg(f != NULL, "cannot create %s/%s", dir, name);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
}

/* A fresh empty directory under the temporary directory. */
static const char *fresh_dir(const char *name)
{
    static char buf[4][2200];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 2200, "%s/%s", sdtest_work_dir(), name);
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    return p;
}

static simdiff_image_folder_config config(int size, int channels, uint32_t bg)
{
    simdiff_image_folder_config c;
    ck_assert_int_eq(simdiff_image_folder_config_init(&c), SIMDIFF_OK);
    c.size = size;
    c.channels = (simdiff_image_channels)channels;
    c.background = bg;
    return c;
}

/* All examples of ds: n x C x S x S floats and n labels (malloc'd). */
static float *all_examples(simdiff_dataset *ds, int **labels)
{
    int64_t n = simdiff_dataset_count(ds);
    size_t per = (size_t)simdiff_dataset_channels(ds) * (size_t)simdiff_dataset_height(ds) *
                 (size_t)simdiff_dataset_width(ds);
    int64_t *idx = malloc(sizeof *idx * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    float *x = malloc(sizeof(float) * per * (size_t)n);
    *labels = malloc(sizeof(int) * (size_t)n);
    ck_assert_int_eq(simdiff_dataset_get_batch(ds, (int)n, idx, 0, NULL, x, *labels),
                     SIMDIFF_OK);
    free(idx);
    return x;
}

/* got: values in [-1, 1] (levels v / 127.5 - 1); exp: unrounded levels.
 * Every got level must be exp rounded to the nearest level. */
static void expect_rounded(const float *got, const float *exp, size_t n, const char *what)
{
    double worst = 0;
    size_t fractional = 0;
    for (size_t i = 0; i < n; i++) {
        double lv = ((double)got[i] + 1.0) * 127.5, d = fabs(lv - (double)exp[i]);
        fractional += fabs(exp[i] - floorf(exp[i] + 0.5f)) > 0.01;
        if (d > worst)
            worst = d;
        ck_assert_msg(d <= 0.5 + 2e-3, "%s: value %zu is level %.3f, expected %.4f", what, i,
                      lv, (double)exp[i]);
    }
    fprintf(stderr, "# %s: %zu values (%zu not whole levels), max |level - exact| %.4f\n",
            what, n, fractional, worst);
}

static float *load_expected(const char *name, size_t n)
{
    size_t bytes;
    float *e = (float *)slurp(images(name), &bytes);
    ck_assert_msg(bytes == n * sizeof(float), "%s: %zu bytes, expected %zu floats", name,
                  bytes, n);
    return e;
}

/* Open folder `dir` with cfg and compare every example with `expected`. */
static void check_folder(const char *dir, simdiff_image_folder_config c, int64_t count,
                         int channels, const char *expected)
{
    simdiff_dataset *ds = NULL;
    ck_assert_msg(simdiff_dataset_open_folder(&ds, dir, &c) == SIMDIFF_OK, "%s: %s", dir,
                  simdiff_last_error());
    ck_assert_int_eq(simdiff_dataset_count(ds), count);
    ck_assert_int_eq(simdiff_dataset_channels(ds), channels);
    ck_assert_int_eq(simdiff_dataset_height(ds), c.size);
    ck_assert_int_eq(simdiff_dataset_width(ds), c.size);
    ck_assert_int_eq(simdiff_dataset_num_classes(ds), 0);
    ck_assert_int_eq(simdiff_dataset_skipped_count(ds), 0);
    int *labels;
    float *x = all_examples(ds, &labels);
    size_t n = (size_t)count * (size_t)channels * (size_t)c.size * (size_t)c.size;
    float *e = load_expected(expected, n);
    expect_rounded(x, e, n, expected);
    for (int64_t i = 0; i < count; i++)
        ck_assert_int_eq(labels[i], -1);
    free(e);
    free(x);
    free(labels);
    simdiff_dataset_destroy(ds);
}

/* ---- decoding, crop, resize ------------------------------------------------ */

START_TEST(every_png_colour_type)
{
    const char *dir = images("decode");
    check_folder(dir, config(10, 3, 0x3366CC), 22, 3, "decode_crop_rgb.f32");
    check_folder(dir, config(4, 1, 0xFFFFFF), 22, 1, "decode_down_gray.f32");
    check_folder(dir, config(16, 3, 0x000000), 22, 3, "decode_up_rgb.f32");
}
END_TEST

START_TEST(crop_and_resize_match_pillow)
{
    const char *dir = images("resize");
    check_folder(dir, config(16, 3, 0xFFFFFF), 3, 3, "resize_resize16_rgb.f32");
    check_folder(dir, config(12, 1, 0x808080), 3, 1, "resize_resize12_gray.f32");
}
END_TEST

START_TEST(jpeg_matches_pillow)
{
    const char *dir = images("jpeg");
    check_folder(dir, config(7, 3, 0xFFFFFF), 2, 3, "jpeg_jpeg_rgb.f32");
    check_folder(dir, config(7, 1, 0xFFFFFF), 2, 1, "jpeg_jpeg_gray.f32");
}
END_TEST

/* Sorted names of the decode/ files: the row of each in decode_*.f32. */
static int decode_index(const char *name)
{
    static const char *names[] = {
        "g1.png",         "g16.png",     "g16_trns.png", "g2.png",     "g2_adam7.png",
        "g4.png",         "g8.png",      "g8_trns.png",  "ga16.png",   "ga8.png",
        "p1.png",         "p2.png",      "p4.png",       "p4_adam7.png", "p8.png",
        "rgb16.png",      "rgb8.png",    "rgb8_trns.png", "rgba16.png", "rgba16_adam7.png",
        "rgba8.png",      "rgba8_adam7.png"};
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
        if (!strcmp(names[i], name))
            return i;
    ck_abort_msg("no decode fixture %s", name);
    return -1;
}

/* simdiff_read_image: one file, the same floats as that file's example in
 * a folder dataset (which matches Pillow above), for every colour type. */
static int by_strcmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

START_TEST(read_image_is_a_folder_example)
{
    const char *dir = images("decode");
    simdiff_image_folder_config c = config(10, 3, 0x3366CC);
    simdiff_dataset *ds = NULL;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    int *labels;
    float *x = all_examples(ds, &labels);
    struct dirent **ents;
    int ne = scandir(dir, &ents, NULL, by_strcmp), k = 0;
    ck_assert_int_gt(ne, 0);
    float one[3 * 10 * 10];
    for (int i = 0; i < ne; i++) {
        const char *nm = ents[i]->d_name;
        size_t l = strlen(nm);
        if (nm[0] != '.' && l > 4 && !strcmp(nm + l - 4, ".png")) {
            char path[2400];
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            ck_assert_msg(simdiff_read_image(path, 3, 10, &c, one) == SIMDIFF_OK, "%s: %s",
                          nm, simdiff_last_error());
            ck_assert_msg(memcmp(one, x + (size_t)k * 300, sizeof one) == 0, "%s differs", nm);
            k++;
        }
        free(ents[i]);
    }
    free(ents);
    ck_assert_int_eq(k, simdiff_dataset_count(ds));
    /* grey output, default config */
    float g[4 * 4];
    char path[2400];
    snprintf(path, sizeof path, "%s/%s", dir, "zz-not-here.png");
    for (int i = 0; i < 16; i++)
        g[i] = 7.0f;
    ck_assert_int_eq(simdiff_read_image(path, 1, 4, NULL, g), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "zz-not-here.png"));
    ck_assert_int_eq(simdiff_read_image(images("decode_crop_rgb.f32"), 1, 4, NULL, g),
                     SIMDIFF_ERR_FORMAT);
    for (int i = 0; i < 16; i++)
        ck_assert(g[i] == 7.0f);
    ck_assert_int_eq(simdiff_read_image(path, 2, 4, NULL, g), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "channels"));
    ck_assert_int_eq(simdiff_read_image(path, 1, 0, NULL, g), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "simdiff_read_image: size"));
    ck_assert_int_eq(simdiff_read_image(NULL, 1, 4, NULL, g), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_read_image(path, 1, 4, NULL, NULL), SIMDIFF_ERR_INVALID_ARG);
    free(x);
    free(labels);
    simdiff_dataset_destroy(ds);
}
END_TEST

START_TEST(channels_auto)
{
    /* greyscale-typed files on a grey background: 1 channel, equal to an
     * explicit SIMDIFF_IMAGE_CHANNELS_GRAY */
    const char *dir = fresh_dir("auto");
    copy_to("decode/g8.png", dir, "a.png");
    copy_to("decode/g16_trns.png", dir, "b.png");
    copy_to("decode/ga8.png", dir, "c.png");
    simdiff_image_folder_config c = config(4, SIMDIFF_IMAGE_CHANNELS_AUTO, 0xFFFFFF);
    simdiff_dataset *ds;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_channels(ds), 1);
    int *lab;
    float *x = all_examples(ds, &lab);
    float *e = load_expected("decode_down_gray.f32", 22 * 16);
    const char *src[3] = {"g8.png", "g16_trns.png", "ga8.png"};
    for (int k = 0; k < 3; k++)
        expect_rounded(x + 16 * k, e + 16 * decode_index(src[k]), 16, src[k]);
    free(x);
    free(lab);
    free(e);
    simdiff_dataset_destroy(ds);
    /* a coloured background makes transparent grey pixels colour */
    c.background = 0x3366CC;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_channels(ds), 3);
    simdiff_dataset_destroy(ds);
    /* one colour file makes the whole set RGB */
    c.background = 0xFFFFFF;
    copy_to("decode/p1.png", dir, "d.png");
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_channels(ds), 3);
    simdiff_dataset_destroy(ds);
    /* and an explicit choice wins */
    c.channels = SIMDIFF_IMAGE_CHANNELS_GRAY;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_channels(ds), 1);
    simdiff_dataset_destroy(ds);
}
END_TEST

/* ---- labels from sub-folders ------------------------------------------------ */

START_TEST(classes_from_subfolders)
{
    const char *dir = fresh_dir("classes");
    char sub[2300];
    const char *dirs[] = {"b_cat", "a_dog", "Z", "empty", "text", ".git", "a_dog/deeper"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, dirs[i]);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
    }
    /* root files: unlabelled; the format is told by the content */
    copy_to("decode/g1.png", dir, "r1.PNG");
    copy_to("decode/g16.png", dir, "r0.png");
    copy_to("hostile/not_png.png", dir, "notes.txt");
    copy_to("hostile/not_png.png", dir, ".hidden.png");
    copy_to("decode/rgb8.png", sdtest_path(dir, "Z"), "q.jpg");
    copy_to("decode/p8.png", sdtest_path(dir, "a_dog"), "z.png");
    copy_to("hostile/not_png.png", sdtest_path(dir, "a_dog/deeper"), "w.png");
    copy_to("decode/rgba8.png", sdtest_path(dir, "b_cat"), "x.png");
    copy_to("decode/ga8.png", sdtest_path(dir, "b_cat"), "y.jpeg");
    copy_to("hostile/not_png.png", sdtest_path(dir, "text"), "notes.txt");
    copy_to("hostile/not_png.png", sdtest_path(dir, ".git"), "x.png");
    simdiff_image_folder_config c = config(10, 3, 0x3366CC);
    simdiff_dataset *ds;
    ck_assert_msg(simdiff_dataset_open_folder(&ds, dir, &c) == SIMDIFF_OK, "%s",
                  simdiff_last_error());
    ck_assert_int_eq(simdiff_dataset_count(ds), 6);
    ck_assert_int_eq(simdiff_dataset_num_classes(ds), 3);
    ck_assert_str_eq(simdiff_dataset_class_name(ds, 0), "Z");
    ck_assert_str_eq(simdiff_dataset_class_name(ds, 1), "a_dog");
    ck_assert_str_eq(simdiff_dataset_class_name(ds, 2), "b_cat");
    ck_assert_ptr_null(simdiff_dataset_class_name(ds, 3));
    ck_assert_ptr_null(simdiff_dataset_class_name(ds, -1));
    ck_assert_int_eq(simdiff_dataset_class_id(ds, "a_dog"), 1);
    ck_assert_int_eq(simdiff_dataset_class_id(ds, "Z"), 0);
    ck_assert_int_eq(simdiff_dataset_class_id(ds, "empty"), -1);
    ck_assert_int_eq(simdiff_dataset_class_id(ds, NULL), -1);
    int *lab;
    float *x = all_examples(ds, &lab);
    /* root files by name, then classes in id order */
    const char *src[6] = {"g16.png", "g1.png", "rgb8.png", "p8.png", "rgba8.png", "ga8.png"};
    const int want[6] = {-1, -1, 0, 1, 2, 2};
    float *e = load_expected("decode_crop_rgb.f32", 22 * 300);
    for (int k = 0; k < 6; k++) {
        ck_assert_int_eq(lab[k], want[k]);
        expect_rounded(x + 300 * k, e + 300 * decode_index(src[k]), 300, src[k]);
    }
    free(x);
    free(lab);
    simdiff_dataset_destroy(ds);

    /* without root files every example has a class */
    ck_assert_int_eq(unlink(sdtest_path(dir, "r0.png")), 0);
    ck_assert_int_eq(unlink(sdtest_path(dir, "r1.PNG")), 0);
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    x = all_examples(ds, &lab);
    ck_assert_int_eq(simdiff_dataset_count(ds), 4);
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(lab[k], want[k + 2]);
    free(x);
    free(lab);
    free(e);
    simdiff_dataset_destroy(ds);

    /* IDX / .npy datasets have no names */
    ck_assert_ptr_null(simdiff_dataset_class_name(NULL, 0));
    ck_assert_int_eq(simdiff_dataset_class_id(NULL, "Z"), -1);
    ck_assert_int_eq(simdiff_dataset_skipped_count(NULL), 0);
    ck_assert_ptr_null(simdiff_dataset_skipped_message(NULL, 0));
}
END_TEST

START_TEST(too_many_classes)
{
    const char *dir = fresh_dir("many");
    char sub[2300];
    for (int i = 0; i < 256; i++) {
        snprintf(sub, sizeof sub, "%s/c%03d", dir, i);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
        copy_to("hostile/ok.png", sub, "a.png");
    }
    simdiff_image_folder_config c = config(2, 3, 0xFFFFFF);
    simdiff_dataset *ds = (simdiff_dataset *)&c;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_UNSUPPORTED);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "255"));
    /* 255 is fine */
    snprintf(sub, sizeof sub, "rm -rf '%s/c255'", dir);
    ck_assert_int_eq(system(sub), 0);
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_num_classes(ds), 255);
    ck_assert_str_eq(simdiff_dataset_class_name(ds, 254), "c254");
    simdiff_dataset_destroy(ds);
}
END_TEST

/* ---- hostile files ---------------------------------------------------------- */

static const char *hostile[] = {
    "bad_crc_idat.png", "bad_crc_ihdr.png", "bad_depth.png",  "bad_zlib.png",
    "empty.png",        "huge_2g.png",      "huge_60000.png", "huge_chunk.png",
    "no_iend.png",      "no_plte.png",      "not_png.png",    "truncated.jpg",
    "truncated.png",    "zero_width.png",
};
#define N_HOSTILE (int)(sizeof hostile / sizeof *hostile)

START_TEST(hostile_files_refused)
{
    simdiff_image_folder_config c = config(4, 3, 0xFFFFFF);
    for (int i = 0; i < N_HOSTILE; i++) {
        const char *dir = fresh_dir("hostile1");
        copy_to("hostile/ok.png", dir, "a_ok.png");
        copy_to("hostile/ok.png", dir, "z_ok.png");
        char name[64];
        snprintf(name, sizeof name, "h_%s", hostile[i]);
        copy_to(sdtest_path("hostile", hostile[i]), dir, name);
        simdiff_dataset *ds = (simdiff_dataset *)&c;
        simdiff_status s = simdiff_dataset_open_folder(&ds, dir, &c);
        fprintf(stderr, "# %s: %d %s\n", hostile[i], (int)s, simdiff_last_error());
        ck_assert_msg(s == SIMDIFF_ERR_FORMAT, "%s: status %d", hostile[i], (int)s);
        ck_assert_ptr_null(ds);
        ck_assert_msg(strstr(simdiff_last_error(), name) != NULL,
                      "%s: message '%s' does not name the file", hostile[i],
                      simdiff_last_error());
    }
}
END_TEST

START_TEST(bombs)
{
    /* 4000 x 4000 pixels in 15 kB: refused by the pixel limit before any
     * inflating; a zTXt chunk inflating to 64 MiB is skipped unread */
    const char *dir = fresh_dir("bombs");
    copy_to("hostile/bomb_pixels.png", dir, "pixels.png");
    simdiff_image_folder_config c = config(4, 3, 0xFFFFFF);
    c.max_image_pixels = 1 << 20;
    simdiff_dataset *ds;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "pixels.png"));
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "limit"));
    c.max_image_pixels = 4000 * 4000; /* allowed: black, resized */
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_OK);
    int *lab;
    float *x = all_examples(ds, &lab);
    for (int i = 0; i < 48; i++)
        ck_assert_float_eq(x[i], -1.0f);
    free(x);
    free(lab);
    simdiff_dataset_destroy(ds);
    /* the file-size limit */
    c.max_file_bytes = 1000;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "pixels.png"));

    dir = fresh_dir("ztxt");
    copy_to("hostile/bomb_ztxt.png", dir, "z.png");
    simdiff_image_folder_config d = config(6, 3, 0xFFFFFF);
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &d), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_count(ds), 1);
    simdiff_dataset_destroy(ds);
}
END_TEST

START_TEST(special_files)
{
    simdiff_image_folder_config c = config(4, 3, 0xFFFFFF);
    simdiff_dataset *ds;
    /* a FIFO is refused without being opened (opening would block) */
    const char *dir = fresh_dir("fifo");
    copy_to("hostile/ok.png", dir, "a.png");
    ck_assert_int_eq(mkfifo(sdtest_path(dir, "pipe.png"), 0600), 0);
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "pipe.png"));
    /* a dangling symbolic link */
    dir = fresh_dir("link");
    copy_to("hostile/ok.png", dir, "a.png");
    ck_assert_int_eq(symlink("/nonexistent/x.png", sdtest_path(dir, "b.png")), 0);
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "b.png"));
    /* a folder without images, a missing folder, a file as the folder */
    dir = fresh_dir("none");
    copy_to("hostile/not_png.png", dir, "readme.txt");
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "no .png"));
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, "/nonexistent-folder", &c),
                     SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "/nonexistent-folder"));
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, sdtest_path(dir, "readme.txt"), &c),
                     SIMDIFF_ERR_IO);
}
END_TEST

START_TEST(skip_and_count)
{
    const char *dir = fresh_dir("skip");
    copy_to("hostile/ok.png", dir, "ok.png");
    for (int i = 0; i < N_HOSTILE; i++)
        copy_to(sdtest_path("hostile", hostile[i]), dir, hostile[i]);
    simdiff_image_folder_config c = config(6, 3, 0xFFFFFF);
    simdiff_dataset *ds;
    /* the default fails on the first bad file in reading order */
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "bad_crc_idat.png"));
    c.on_bad_image = SIMDIFF_BAD_IMAGE_SKIP;
    ck_assert_msg(simdiff_dataset_open_folder(&ds, dir, &c) == SIMDIFF_OK, "%s",
                  simdiff_last_error());
    ck_assert_int_eq(simdiff_dataset_count(ds), 1);
    ck_assert_int_eq(simdiff_dataset_skipped_count(ds), N_HOSTILE);
    for (int i = 0; i < N_HOSTILE; i++) { /* hostile[] is in name order */
        const char *m = simdiff_dataset_skipped_message(ds, i);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strstr(m, hostile[i]) != NULL, "skipped %d: '%s'", i, m);
    }
    ck_assert_ptr_null(simdiff_dataset_skipped_message(ds, N_HOSTILE));
    ck_assert_ptr_null(simdiff_dataset_skipped_message(ds, -1));
    /* the one good image is ok.png, exactly (6 x 6 RGB, size 6) */
    int *lab;
    float *x = all_examples(ds, &lab);
    ck_assert_int_eq(lab[0], -1);
    simdiff_dataset_destroy(ds);
    simdiff_image_folder_config one = config(6, 3, 0xFFFFFF);
    const char *d1 = fresh_dir("ok_only");
    copy_to("hostile/ok.png", d1, "ok.png");
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, d1, &one), SIMDIFF_OK);
    int *lab1;
    float *x1 = all_examples(ds, &lab1);
    ck_assert_int_eq(memcmp(x, x1, sizeof(float) * 108), 0);
    free(x);
    free(x1);
    free(lab);
    free(lab1);
    simdiff_dataset_destroy(ds);
    /* nothing readable at all */
    ck_assert_int_eq(unlink(sdtest_path(dir, "ok.png")), 0);
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &c), SIMDIFF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "none of its"));
}
END_TEST

/* Every truncation and every single-bit flip of a PNG (Adam7, RGBA) and a
 * JPEG: each either decodes or is refused with SIMDIFF_ERR_FORMAT naming
 * the file; never a crash (this also runs under ASan + UBSan). A PNG flip
 * is always caught (every byte is under a CRC, the signature or the
 * length fields); a JPEG has no checksum, so some flips decode. */
static void mutate_all(const char *fixture_name, int png)
{
    size_t n;
    uint8_t *orig = slurp(images(fixture_name), &n);
    uint8_t *b = malloc(n);
    const char *dir = fresh_dir("mutate");
    simdiff_image_folder_config c = config(5, 3, 0xFFFFFF);
    int decoded = 0, refused = 0;
    for (size_t len = 0; len <= n + 8 * n; len++) {
        size_t cut = len <= n ? len : n;
        memcpy(b, orig, n);
        if (len > n) { /* flip bit (len - n - 1) */
            size_t bit = len - n - 1;
            b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        if (len == n)
            continue; /* the original */
        char name[2300];
        snprintf(name, sizeof name, "%s/m.png", dir);
        unlink(name); /* a new file: rewriting one in place is slow on ext4 */
        FILE *f = fopen(name, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(b, 1, cut, f), cut);
        fclose(f);
        simdiff_dataset *ds = NULL;
        simdiff_status s = simdiff_dataset_open_folder(&ds, dir, &c);
        if (s == SIMDIFF_OK) {
            decoded++;
            ck_assert_msg(!png, "%s: mutation %zu of %zu decoded", fixture_name, len, n);
            simdiff_dataset_destroy(ds);
        } else {
            refused++;
            ck_assert_msg(s == SIMDIFF_ERR_FORMAT, "%s: mutation %zu: status %d (%s)",
                          fixture_name, len, (int)s, simdiff_last_error());
            ck_assert_ptr_null(ds);
            ck_assert_ptr_nonnull(strstr(simdiff_last_error(), "m.png"));
        }
    }
    fprintf(stderr, "# %s: %zu truncations and %zu bit flips: %d decoded, %d refused\n",
            fixture_name, n, 8 * n, decoded, refused);
    free(orig);
    free(b);
}

START_TEST(every_truncation_and_bit_flip)
{
    mutate_all("decode/rgba8_adam7.png", 1);
    mutate_all("jpeg/rgb.jpg", 0);
}
END_TEST

START_TEST(config_checks)
{
    simdiff_image_folder_config c;
    ck_assert_int_eq(simdiff_image_folder_config_init(NULL), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_image_folder_config_init(&c), SIMDIFF_OK);
    ck_assert_uint_eq(c.struct_size, sizeof c);
    ck_assert_int_eq(c.size, 64);
    ck_assert_int_eq(c.channels, SIMDIFF_IMAGE_CHANNELS_AUTO);
    ck_assert_uint_eq(c.background, 0xFFFFFF);
    ck_assert_int_eq(c.on_bad_image, SIMDIFF_BAD_IMAGE_FAIL);
    const char *dir = images("decode");
    simdiff_dataset *ds;
    ck_assert_int_eq(simdiff_dataset_open_folder(NULL, dir, &c), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, NULL, &c), SIMDIFF_ERR_INVALID_ARG);
    simdiff_image_folder_config b = c;
    b.size = 0;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &b), SIMDIFF_ERR_INVALID_ARG);
    b.size = 8193;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &b), SIMDIFF_ERR_INVALID_ARG);
    b = c;
    b.channels = (simdiff_image_channels)2;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &b), SIMDIFF_ERR_INVALID_ARG);
    b = c;
    b.background = 0x1000000;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &b), SIMDIFF_ERR_INVALID_ARG);
    b = c;
    b.on_bad_image = (simdiff_bad_image)2;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &b), SIMDIFF_ERR_INVALID_ARG);
    b = c;
    b.max_image_pixels = 0;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &b), SIMDIFF_ERR_INVALID_ARG);
    b = c;
    b.struct_size = sizeof c - 1;
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, &b), SIMDIFF_ERR_INVALID_ARG);
    /* NULL: the defaults (64 x 64, channels from the data) */
    ck_assert_int_eq(simdiff_dataset_open_folder(&ds, dir, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_dataset_height(ds), 64);
    ck_assert_int_eq(simdiff_dataset_channels(ds), 3);
    simdiff_dataset_destroy(ds);
}
END_TEST

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, every_png_colour_type);
    tcase_add_test(tc, crop_and_resize_match_pillow);
    tcase_add_test(tc, jpeg_matches_pillow);
    tcase_add_test(tc, read_image_is_a_folder_example);
    tcase_add_test(tc, channels_auto);
    suite_add_tcase(s, tc);
    tc = tcase_create("folders");
    tcase_add_test(tc, classes_from_subfolders);
    tcase_add_test(tc, too_many_classes);
    tcase_add_test(tc, config_checks);
    suite_add_tcase(s, tc);
    tc = tcase_create("hostile");
    tcase_add_test(tc, hostile_files_refused);
    tcase_add_test(tc, bombs);
    tcase_add_test(tc, special_files);
    tcase_add_test(tc, skip_and_count);
    tcase_add_test(tc, every_truncation_and_bit_flip);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(image_suite)
