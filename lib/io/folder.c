/* Datasets from a folder of PNG / JPEG files: sub-folders are classes.
 * The decoding is in image.c; the rules are in io.h and docs/io.md. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "io/image_internal.h"
#include "io/io_internal.h"

#define FOLDER_MAX_SIZE 8192
#define FOLDER_MAX_CLASSES 255 /* the label byte 255 marks root files */
#define FOLDER_NO_LABEL 255
#define FOLDER_MAX_BYTES ((uint64_t)1 << 36)

SD_DEFINE_ENUM_NAMES(image_channels, simdiff_image_channels, "image channels",
                     {SIMDIFF_IMAGE_CHANNELS_AUTO, "auto", 0},
                     {SIMDIFF_IMAGE_CHANNELS_GRAY, "gray", 0},
                     {SIMDIFF_IMAGE_CHANNELS_GRAY, "grey", 1}, {SIMDIFF_IMAGE_CHANNELS_GRAY, "l", 1},
                     {SIMDIFF_IMAGE_CHANNELS_RGB, "rgb", 0},
                     {SIMDIFF_IMAGE_CHANNELS_RGB, "color", 1},
                     {SIMDIFF_IMAGE_CHANNELS_RGB, "colour", 1})

SD_DEFINE_ENUM_NAMES(bad_image, simdiff_bad_image, "bad-image action",
                     {SIMDIFF_BAD_IMAGE_FAIL, "fail", 0}, {SIMDIFF_BAD_IMAGE_SKIP, "skip", 0})

static const sd_struct_layout folder_config_layout = {
    "simdiff_image_folder_config",
    SD_FIELD_END(simdiff_image_folder_config, max_file_bytes), /* v1 */
    SD_FIELD_END(simdiff_image_folder_config, max_file_bytes), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_image_folder_config_init_sized(simdiff_image_folder_config *out,
                                                                  size_t size)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_image_folder_config_init: cfg is NULL");
    simdiff_image_folder_config c, *cfg = &c;
    memset(cfg, 0, sizeof *cfg);
    cfg->size = 64;
    cfg->channels = SIMDIFF_IMAGE_CHANNELS_AUTO;
    cfg->background = 0xFFFFFFu;
    cfg->on_bad_image = SIMDIFF_BAD_IMAGE_FAIL;
    cfg->max_image_pixels = (int64_t)1 << 26;
    cfg->max_file_bytes = (int64_t)1 << 28;
    return sd_struct_write(&folder_config_layout, out, size, cfg,
                           "simdiff_image_folder_config_init");
}

static simdiff_status check_config(const simdiff_image_folder_config *c, const char *fn)
{
#define BAD(fmt, ...) sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: " fmt, fn, __VA_ARGS__)
    if (c->size < 1 || c->size > FOLDER_MAX_SIZE)
        return BAD("size %d is outside 1..%d", c->size, FOLDER_MAX_SIZE);
    if (c->channels != SIMDIFF_IMAGE_CHANNELS_AUTO && c->channels != SIMDIFF_IMAGE_CHANNELS_GRAY &&
        c->channels != SIMDIFF_IMAGE_CHANNELS_RGB)
        return BAD("channels %d is not a simdiff_image_channels", (int)c->channels);
    if (c->background > 0xFFFFFFu)
        return BAD("background 0x%x is not 0xRRGGBB", (unsigned)c->background);
    if (c->on_bad_image != SIMDIFF_BAD_IMAGE_FAIL && c->on_bad_image != SIMDIFF_BAD_IMAGE_SKIP)
        return BAD("on_bad_image %d is not a simdiff_bad_image", (int)c->on_bad_image);
    if (c->max_image_pixels < 1 || c->max_file_bytes < 1 ||
        (uint64_t)c->max_file_bytes > SIZE_MAX - 1)
        return BAD("max_image_pixels %lld and max_file_bytes %lld must be >= 1",
                   (long long)c->max_image_pixels, (long long)c->max_file_bytes);
    return SIMDIFF_OK;
#undef BAD
}

void sd_folder_info_free(sd_folder_info *fi)
{
    if (!fi)
        return;
    for (int i = 0; i < fi->num_classes; i++)
        free(fi->class_names[i]);
    free(fi->class_names);
    for (int64_t i = 0; i < fi->num_skipped; i++)
        free(fi->skipped[i]);
    free(fi->skipped);
    free(fi);
}

/* ---- listing -------------------------------------------------------------- */

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int names_push(names *l, char *s) /* takes s; 0 or -1 (s freed) */
{
    if (!s)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return -1;
        }
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = s;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (s) {
        memcpy(s, a, na);
        s[na] = '/';
        memcpy(s + na + 1, b, nb + 1);
    }
    return s;
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The names in dir, except those starting with '.', sorted. */
static simdiff_status list_dir(const char *dir, names *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot open folder '%s': %s", dir,
                       strerror(errno));
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (names_push(out, strdup(e->d_name))) {
            closedir(d);
            names_free(out);
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
        }
    }
    int err = errno;
    closedir(d);
    if (err) {
        names_free(out);
        return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot read folder '%s': %s", dir,
                       strerror(err));
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return SIMDIFF_OK;
}

/* The image files of a list: paths (dir/name) appended to files, their
 * label to labels. Sub-folders go to subdirs when it is not NULL. */
typedef struct filelist {
    names paths;
    int *labels;
    size_t labels_cap;
} filelist;

static simdiff_status collect(const char *dir, int label, filelist *fl, names *subdirs)
{
    names l;
    simdiff_status s = list_dir(dir, &l);
    if (s)
        return s;
    for (size_t i = 0; i < l.n && !s; i++) {
        char *p = join(dir, l.v[i]);
        struct stat st;
        if (!p) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            break;
        }
        int isdir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        if (isdir || !is_image_name(l.v[i])) {
            if (isdir && subdirs && names_push(subdirs, strdup(l.v[i])))
                s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            free(p);
            continue;
        }
        if (fl->paths.n == fl->labels_cap) {
            size_t cap = fl->labels_cap ? 2 * fl->labels_cap : 64;
            int *v = realloc(fl->labels, cap * sizeof *v);
            if (!v) {
                free(p);
                s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
                break;
            }
            fl->labels = v, fl->labels_cap = cap;
        }
        fl->labels[fl->paths.n] = label;
        if (names_push(&fl->paths, p))
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    }
    names_free(&l);
    return s;
}

/* ---- decoding ------------------------------------------------------------- */

/* Decode one listed file; a non-regular file is refused before it is
 * opened (opening a FIFO would block). */
static simdiff_status decode_one(const char *path, const sd_image_opts *o, uint8_t *dst,
                                 int *is_gray)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return sd_fail(NULL, SIMDIFF_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sd_fail(NULL, SIMDIFF_ERR_IO, "'%s' is not a regular file", path);
    return sd_image_load(path, o, dst, is_gray);
}

/* The decoder's options for images of `channels` (1 or 3) under cfg. */
static void image_opts(const simdiff_image_folder_config *cfg, int channels, sd_image_opts *o)
{
    o->size = cfg->size;
    o->channels = channels;
    for (int k = 0; k < 3; k++)
        o->bg[k] = (double)((cfg->background >> (16 - 8 * k)) & 0xffu);
    o->max_pixels = (uint64_t)cfg->max_image_pixels;
    o->max_file_bytes = (size_t)cfg->max_file_bytes;
}

SIMDIFF_API simdiff_status simdiff_read_image(const char *path, int channels, int size,
                                              const simdiff_image_folder_config *cfg,
                                              float *out)
{
    const char *fn = "simdiff_read_image";
    if (!path || !out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                       path ? "out" : "path");
    if (channels != 1 && channels != 3)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "%s: channels is %d; expected 1 or 3",
                       fn, channels);
    simdiff_image_folder_config c;
    simdiff_status s = cfg ? sd_struct_read(&folder_config_layout, &c, cfg, fn)
                           : simdiff_image_folder_config_init(&c);
    if (s)
        return s;
    c.size = size;
    c.channels = SIMDIFF_IMAGE_CHANNELS_AUTO;
    c.on_bad_image = SIMDIFF_BAD_IMAGE_FAIL;
    if ((s = check_config(&c, fn)))
        return s;
    sd_image_opts o;
    image_opts(&c, channels, &o);
    size_t n = (size_t)channels * (size_t)size * (size_t)size;
    uint8_t *u8 = malloc(n);
    if (!u8)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "%s: out of memory for %zu bytes", fn, n);
    s = sd_image_load(path, &o, u8, NULL);
    if (!s)
        for (size_t i = 0; i < n; i++)
            out[i] = (float)((double)u8[i] / 127.5 - 1.0);
    free(u8);
    return s;
}

SIMDIFF_API simdiff_status simdiff_dataset_open_folder(simdiff_dataset **out,
                                                       const char *dir,
                                                       const simdiff_image_folder_config *cfg)
{
    if (!out)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_folder: out is NULL");
    *out = NULL;
    if (!dir)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_dataset_open_folder: dir is NULL");
    simdiff_image_folder_config c;
    simdiff_status s = cfg ? sd_struct_read(&folder_config_layout, &c, cfg,
                                            "simdiff_dataset_open_folder")
                           : simdiff_image_folder_config_init(&c);
    if (s)
        return s;
    cfg = &c;
    s = check_config(cfg, "simdiff_dataset_open_folder");
    if (!s)
        s = sd_apply_threads();
    if (s)
        return s;

    filelist fl = {0};
    names subdirs = {0}, classes = {0};
    sd_folder_info *fi = NULL;
    uint8_t *pix = NULL, *labels = NULL;
    char **errs = NULL;
    int *gray = NULL;
    simdiff_status *codes = NULL;
    if ((s = collect(dir, -1, &fl, &subdirs)))
        goto done;
    for (size_t i = 0; i < subdirs.n; i++) {
        size_t before = fl.paths.n;
        char *sub = join(dir, subdirs.v[i]);
        if (!sub) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            goto done;
        }
        s = collect(sub, (int)classes.n, &fl, NULL);
        free(sub);
        if (s)
            goto done;
        if (fl.paths.n == before)
            continue; /* no image files: not a class */
        if (classes.n == FOLDER_MAX_CLASSES) {
            s = sd_fail(NULL, SIMDIFF_ERR_UNSUPPORTED,
                        "'%s': more than %d sub-folders with images (classes)", dir,
                        FOLDER_MAX_CLASSES);
            goto done;
        }
        if (names_push(&classes, strdup(subdirs.v[i]))) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    size_t n = fl.paths.n;
    if (n == 0) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': no .png, .jpg or .jpeg files in the folder or its "
                    "sub-folders",
                    dir);
        goto done;
    }
    sd_image_opts o;
    image_opts(cfg, cfg->channels == SIMDIFF_IMAGE_CHANNELS_GRAY ? 1 : 3, &o);
    size_t per = (size_t)o.channels * (size_t)o.size * (size_t)o.size, total;
    if (sd_mul_size(per, n, &total) || (uint64_t)total > FOLDER_MAX_BYTES) {
        s = sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                    "'%s': %zu images of %d x %d x %d are more than the %llu-byte limit",
                    dir, n, o.channels, o.size, o.size,
                    (unsigned long long)FOLDER_MAX_BYTES);
        goto done;
    }
    pix = malloc(total);
    errs = calloc(n, sizeof *errs);
    gray = calloc(n, sizeof *gray);
    codes = calloc(n, sizeof *codes);
    fi = calloc(1, sizeof *fi);
    if (!pix || !errs || !gray || !codes || !fi) {
        s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "'%s': cannot allocate %zu bytes of images",
                    dir, total);
        goto done;
    }
    /* Decode in parallel; each failure keeps its message. With
     * SIMDIFF_BAD_IMAGE_FAIL the first failing file in reading order is
     * reported (files after a known failure are not decoded). */
    long long first_bad = (long long)n;
    int skip = cfg->on_bad_image == SIMDIFF_BAD_IMAGE_SKIP;
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
    for (long long i = 0; i < (long long)n; i++) {
        long long fb;
#pragma omp critical(sd_folder_first_bad)
        fb = first_bad;
        if (!skip && i > fb)
            continue;
        codes[i] = decode_one(fl.paths.v[i], &o, pix + (size_t)i * per, &gray[i]);
        if (codes[i] == SIMDIFF_OK)
            continue;
        const char *m = simdiff_last_error();
        errs[i] = strdup(m[0] ? m : "unreadable file"); /* NULL: reported as NOMEM */
#pragma omp critical(sd_folder_first_bad)
        if (i < first_bad)
            first_bad = i;
    }
    if (!skip && first_bad < (long long)n) {
        s = sd_fail(NULL, errs[first_bad] ? codes[first_bad] : SIMDIFF_ERR_NOMEM, "%s",
                    errs[first_bad] ? errs[first_bad] : "out of memory");
        goto done;
    }
    /* compact: drop the failures, keep their messages */
    size_t kept = 0;
    int all_gray = 1;
    for (size_t i = 0; i < n; i++) {
        if (codes[i]) {
            fi->num_skipped++;
            continue;
        }
        if (kept != i)
            memmove(pix + kept * per, pix + i * per, per);
        fl.labels[kept] = fl.labels[i];
        all_gray &= gray[i];
        kept++;
    }
    if (fi->num_skipped) {
        if (!(fi->skipped = calloc((size_t)fi->num_skipped, sizeof *fi->skipped))) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            goto done;
        }
        int64_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (codes[i]) {
                if (!errs[i]) {
                    s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
                    goto done;
                }
                fi->skipped[k++] = errs[i];
                errs[i] = NULL;
            }
    }
    if (kept == 0) {
        s = sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                    "'%s': none of its %zu image files could be read (the first: %s)",
                    dir, n, fi->skipped[0]);
        goto done;
    }
    int C = o.channels;
    int bg_gray = o.bg[0] == o.bg[1] && o.bg[1] == o.bg[2];
    if (cfg->channels == SIMDIFF_IMAGE_CHANNELS_AUTO && all_gray && bg_gray) {
        /* grey sources on a grey background were decoded as R = G = B */
        size_t plane = (size_t)o.size * (size_t)o.size;
        for (size_t i = 0; i < kept; i++)
            memmove(pix + i * plane, pix + i * per, plane);
        C = 1;
        per = plane;
    }
    uint8_t *shrunk = realloc(pix, kept * per);
    if (shrunk)
        pix = shrunk;
    if (classes.n) {
        if (!(labels = malloc(kept))) {
            s = sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < kept; i++)
            labels[i] = fl.labels[i] < 0 ? FOLDER_NO_LABEL : (uint8_t)fl.labels[i];
    }
    fi->num_classes = (int)classes.n;
    fi->class_names = classes.v;
    classes.v = NULL;
    classes.n = 0;
    simdiff_dataset *ds;
    if ((s = sd_dataset_adopt(&ds, (int64_t)kept, C, o.size, pix, labels,
                              labels ? FOLDER_NO_LABEL : -1, fi)))
        goto done;
    pix = NULL, labels = NULL, fi = NULL;
    *out = ds;
done:
    if (errs)
        for (size_t i = 0; i < fl.paths.n; i++)
            free(errs[i]);
    free(errs);
    free(gray);
    free(codes);
    free(pix);
    free(labels);
    sd_folder_info_free(fi);
    names_free(&fl.paths);
    free(fl.labels);
    names_free(&subdirs);
    names_free(&classes);
    return s;
}

/* ---- class names and skipped files ---------------------------------------- */

SIMDIFF_API const char *simdiff_dataset_class_name(const simdiff_dataset *ds, int label)
{
    const sd_folder_info *fi = sd_dataset_folder(ds);
    if (!fi || label < 0 || label >= fi->num_classes)
        return NULL;
    return fi->class_names[label];
}

SIMDIFF_API int simdiff_dataset_class_id(const simdiff_dataset *ds, const char *name)
{
    const sd_folder_info *fi = sd_dataset_folder(ds);
    if (!fi || !name)
        return -1;
    for (int i = 0; i < fi->num_classes; i++)
        if (strcmp(fi->class_names[i], name) == 0)
            return i;
    return -1;
}

SIMDIFF_API int64_t simdiff_dataset_skipped_count(const simdiff_dataset *ds)
{
    const sd_folder_info *fi = sd_dataset_folder(ds);
    return fi ? fi->num_skipped : 0;
}

SIMDIFF_API const char *simdiff_dataset_skipped_message(const simdiff_dataset *ds,
                                                        int64_t i)
{
    const sd_folder_info *fi = sd_dataset_folder(ds);
    if (!fi || i < 0 || i >= fi->num_skipped)
        return NULL;
    return fi->skipped[i];
}
