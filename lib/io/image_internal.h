/*
 * Internal image decoding of libsimdiff (lib/io/image.c) and the pieces of
 * the dataset that folder datasets (lib/io/folder.c) fill in. Not
 * installed, not API.
 *
 * sd_image_load() reads one PNG (libpng) or JPEG (libjpeg) file and turns
 * it into one square training image in one pass over the decoded rows:
 * alpha composited on a background, converted to 1 or 3 channels,
 * centre-cropped to a square and area-resized. The exact rules are in
 * docs/io.md ("Image folders").
 */
#ifndef SIMDIFF_LIB_IO_IMAGE_INTERNAL_H
#define SIMDIFF_LIB_IO_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"
#include "simdiff/io.h"

typedef struct sd_image_opts {
    int channels;         /* 1 or 3: channels of the output              */
    int size;             /* S: the output is S x S                      */
    double bg[3];         /* background R, G, B as 8-bit levels 0..255   */
    uint64_t max_pixels;  /* largest width * height decoded              */
    size_t max_file_bytes;
} sd_image_opts;

/* Decode `path` (a PNG or JPEG file, told apart by its first bytes) into
 * out: channels x S x S bytes (CHW). *is_gray (may be NULL) gets 1 when the
 * file is greyscale-typed (PNG colour type 0 or 4, one-component JPEG).
 * Every failure message names the file. */
simdiff_status sd_image_load(const char *path, const sd_image_opts *o,
                             uint8_t *out, int *is_gray);

/* ---- folder datasets (lib/io/dataset.c <-> lib/io/folder.c) ------------- */

/* What a folder dataset knows beyond the pixels: class names and the files
 * it skipped. Owned by the dataset; freed by sd_folder_info_free(). */
typedef struct sd_folder_info {
    int num_classes;
    char **class_names;    /* num_classes NUL-terminated names           */
    int64_t num_skipped;
    char **skipped;        /* num_skipped messages, each naming its file */
} sd_folder_info;

void sd_folder_info_free(sd_folder_info *fi); /* NULL is a no-op */

/* A dataset that takes ownership of u8 (n x c x size x size levels),
 * labels (n bytes or NULL; the byte no_label, if 0..255, reads as -1) and
 * fi (not NULL). On failure (out of memory) nothing is taken. */
simdiff_status sd_dataset_adopt(simdiff_dataset **out, int64_t n, int c, int size,
                                uint8_t *u8, uint8_t *labels, int no_label,
                                sd_folder_info *fi);
/* The dataset's folder information, or NULL for other datasets. */
const sd_folder_info *sd_dataset_folder(const simdiff_dataset *ds);

#endif
