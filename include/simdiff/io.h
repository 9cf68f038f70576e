/*
 * libsimdiff — io: image and array writers, training datasets.
 *
 * Every file this header writes is written atomically: the bytes go to a
 * temporary file in the same directory, which is fsync'ed and renamed over
 * the destination (then the directory is fsync'ed). A failed call leaves
 * the destination as it was and no temporary file behind.
 *
 * Every file it reads is validated before a size or an offset from it is
 * used; a malformed file gives SIMDIFF_ERR_FORMAT with a message naming
 * the problem, never a crash. See docs/io.md for the formats and the exact
 * rules.
 */
#ifndef SIMDIFF_IO_H
#define SIMDIFF_IO_H

#include <stddef.h>
#include <stdint.h>

#include "simdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- image and array writers --------------------------------------------- */

/* Write n images as one PNG grid.
 *   data: n x channels x height x width floats (NCHW), values in [-1, 1];
 *         each value v becomes the 8-bit level floor((v + 1) * 127.5 + 0.5)
 *         after clamping v to [-1, 1] (NaN becomes 0).
 *   channels: 1 (grayscale PNG) or 3 (RGB PNG).
 *   grid_cols: tiles per row; 0 picks ceil(sqrt(n)). The grid has
 *         ceil(n / cols) rows; tiles are separated by 2 pixels of white
 *         (255), with no outer border; unused cells are white.
 * The image is 8-bit, non-interlaced, deflate-compressed, one filter type
 * per row. INVALID_ARG for bad sizes, IO when the file cannot be written. */
SIMDIFF_API simdiff_status simdiff_write_png(const char *path, int n, int channels,
                                             int height, int width,
                                             const float *data, int grid_cols);

/* Convert n images (n x channels x height x width floats, NCHW, as the
 * sampler writes them) to 8-bit pixels in memory for a texture or a
 * bitmap: out gets n x height x width x out_channels bytes (HWC per image,
 * rows top to bottom), out_channels 3 (RGB8) or 4 (RGBA8, alpha 255). Each
 * value is quantized as simdiff_write_png does: floor((v + 1) * 127.5 +
 * 0.5) with v clamped to [-1, 1], NaN to 0. channels 1 (gray: R = G = B)
 * or 3. SIMDIFF_ERR_INVALID_ARG for NULL pointers or other sizes. */
SIMDIFF_API simdiff_status simdiff_images_to_rgb8(int n, int channels, int height, int width,
                                                  const float *data, int out_channels,
                                                  uint8_t *out);

/* Write one 8-bit image given as height x width x channels bytes (HWC,
 * rows top to bottom). channels: 1 (gray), 2 (gray + alpha), 3 (RGB) or
 * 4 (RGBA). */
SIMDIFF_API simdiff_status simdiff_write_png_u8(const char *path, int height,
                                                int width, int channels,
                                                const uint8_t *data);

/* Write a C-order array as a NumPy .npy file (format 1.0, or 2.0 when the
 * header needs it), dtype '<f4' or '|u1'. ndim 0..32 (0: a scalar, one
 * element); every shape[i] >= 0. Readable by numpy.load(). */
SIMDIFF_API simdiff_status simdiff_write_npy_f32(const char *path, int ndim,
                                                 const int64_t *shape,
                                                 const float *data);
SIMDIFF_API simdiff_status simdiff_write_npy_u8(const char *path, int ndim,
                                                const int64_t *shape,
                                                const uint8_t *data);

/* Read a float32 NumPy .npy file (the counterpart of simdiff_write_npy_f32):
 * format 1.0, 2.0 or 3.0, raw or gzip-compressed (told by the content), dtype
 * '<f4' and C order only; any other dtype or fortran_order True is
 * SIMDIFF_ERR_FORMAT with a message naming it. Values are returned as
 * stored (NaN and Inf included: check them if they matter).
 *   max_ndim: entries shape can take, 0..32; an array with more dimensions
 *     is SIMDIFF_ERR_FORMAT.
 *   shape: max_ndim int64 (may be NULL when max_ndim is 0); gets the sizes.
 *   ndim: gets the number of dimensions (0 for a scalar: one element).
 *   data: gets a buffer of shape[0] x ... x shape[ndim-1] floats (C order;
 *     a valid pointer also for zero elements), to be released with
 *     simdiff_free().
 * Every header byte is checked (docs/io.md, "NPY"), and the element count
 * against the file length before anything is allocated; a file with bytes
 * after the array, or fewer than the shape needs, is SIMDIFF_ERR_FORMAT.
 * On failure *data is NULL (when data is not NULL), *ndim and shape are
 * untouched, and simdiff_last_error() says why, naming the file. */
SIMDIFF_API simdiff_status simdiff_read_npy_f32(const char *path, int max_ndim,
                                                int64_t *shape, int *ndim,
                                                float **data);

/* ---- datasets -------------------------------------------------------------- */

/* A set of images (all the same channels x height x width) with optional
 * integer class labels 0..255, held in memory. Opening reads and validates
 * the whole files. Reading batches does not modify the handle, so one
 * handle may serve several threads at once (if one of those calls fails,
 * use simdiff_last_error() for its message). */
typedef struct simdiff_dataset simdiff_dataset;

/* IDX files (the MNIST / Fashion-MNIST format), each raw or
 * gzip-compressed (detected from the content, not the name).
 *   images_path: magic 0x00000803 (unsigned bytes, 3 dims: N, H, W);
 *   labels_path: magic 0x00000801 (unsigned bytes, 1 dim: N), or NULL.
 * Pixels 0..255 map to [-1, 1]. The counts must match, every size must
 * agree with the file length, 1 <= H, W <= 65536.
 * On failure *out is NULL and simdiff_last_error() says why. */
SIMDIFF_API simdiff_status simdiff_dataset_open_idx(simdiff_dataset **out,
                                                    const char *images_path,
                                                    const char *labels_path);

/* Layouts of 4-d image arrays. */
typedef enum simdiff_layout {
    SIMDIFF_LAYOUT_AUTO = 0, /* infer: see simdiff_dataset_open_npy       */
    SIMDIFF_LAYOUT_NHWC = 1, /* (N, H, W, C)                                */
    SIMDIFF_LAYOUT_NCHW = 2  /* (N, C, H, W)                                */
} simdiff_layout;

/* How float ('<f4') image values are read. */
typedef enum simdiff_float_range {
    SIMDIFF_FLOAT_RANGE_01 = 0,  /* values in [0, 1], mapped to [-1, 1]   */
    SIMDIFF_FLOAT_RANGE_PM1 = 1  /* values already in [-1, 1]             */
} simdiff_float_range;

/* Names: simdiff_layout_name gives "auto", "nhwc" or "nchw",
 * simdiff_float_range_name "zero_one" (aliases "01", "unit") or "pm1"
 * (aliases "-11", "minus_one_one")
 * (NULL for a value without a name). The _from_name calls take these
 * names (and the aliases listed) in any case, with '-', '_' and spaces
 * ignored and '+' read as 'p'; an unknown or NULL name is
 * SIMDIFF_ERR_INVALID_ARG with a message listing the known names, *out
 * untouched. */
SIMDIFF_API const char *simdiff_layout_name(simdiff_layout layout);
SIMDIFF_API simdiff_status simdiff_layout_from_name(const char *name, simdiff_layout *out);
SIMDIFF_API const char *simdiff_float_range_name(simdiff_float_range range);
SIMDIFF_API simdiff_status simdiff_float_range_from_name(const char *name,
                                                         simdiff_float_range *out);

/* NumPy .npy files (format 1.0, 2.0 or 3.0, raw or gzip-compressed),
 * C order only.
 *   images: dtype '|u1' (0..255 -> [-1, 1]) or '<f4' (see float_range;
 *     values outside the range, NaN or Inf are SIMDIFF_ERR_FORMAT);
 *     shape (N, H, W) (one channel), or (N, H, W, C) / (N, C, H, W) with
 *     C in 1..4. layout says which 4-d layout it is; with
 *     SIMDIFF_LAYOUT_AUTO it is inferred when exactly one of shape[3]
 *     (NHWC) and shape[1] (NCHW) is 1 or 3, otherwise the call fails with
 *     SIMDIFF_ERR_INVALID_ARG asking for an explicit layout.
 *   labels (NULL for none): shape (N,), dtype '<i8', '<i4' or '|u1',
 *     values 0..255.
 * On failure *out is NULL and simdiff_last_error() says why. */
SIMDIFF_API simdiff_status simdiff_dataset_open_npy(simdiff_dataset **out,
                                                    const char *images_path,
                                                    const char *labels_path,
                                                    simdiff_layout layout,
                                                    simdiff_float_range float_range);

/* Free the dataset; NULL is a no-op. */
SIMDIFF_API void simdiff_dataset_destroy(simdiff_dataset *ds);
/* Last failure on this handle ("" if none, or if ds is NULL). */
SIMDIFF_API const char *simdiff_dataset_errmsg(const simdiff_dataset *ds);

/* Sizes (0 for a NULL handle). num_classes is the largest label + 1, or 0
 * when the dataset has no labels (folder datasets: the number of classes,
 * see simdiff_dataset_open_folder). */
SIMDIFF_API int64_t simdiff_dataset_count(const simdiff_dataset *ds);
SIMDIFF_API int simdiff_dataset_channels(const simdiff_dataset *ds);
SIMDIFF_API int simdiff_dataset_height(const simdiff_dataset *ds);
SIMDIFF_API int simdiff_dataset_width(const simdiff_dataset *ds);
SIMDIFF_API int simdiff_dataset_num_classes(const simdiff_dataset *ds);

/* Copy n examples into a batch.
 *   indices: n example numbers in [0, count) (repeats allowed).
 *   pad_to: 0 for no padding (out is n x C x H x W), or P >= max(H, W):
 *     each image is centred in a P x P canvas filled with -1 (black); the
 *     extra rows/columns go (P - H) / 2 above and the rest below, likewise
 *     left/right. E.g. 28 -> 32 adds 2 on each side.
 *   flip: NULL, or n bytes; flip[i] != 0 mirrors example i left-right
 *     (after padding). See simdiff_dataset_flip_mask.
 *   out: n x C x P x P floats (NCHW) in [-1, 1].
 *   labels_out: NULL, or n ints: the labels, or -1 when the dataset has
 *     none.
 * INVALID_ARG (message on the handle) for a bad index, size or pointer. */
SIMDIFF_API simdiff_status simdiff_dataset_get_batch(simdiff_dataset *ds, int n,
                                                     const int64_t *indices,
                                                     int pad_to,
                                                     const uint8_t *flip,
                                                     float *out, int *labels_out);

/* A deterministic random permutation of 0..count-1 for an epoch: perm gets
 * count entries. It depends only on (seed, epoch) and count, never on the
 * thread count or the platform (Fisher-Yates driven by a counter-based
 * splitmix64 stream; the exact algorithm is in docs/io.md). */
SIMDIFF_API simdiff_status simdiff_dataset_shuffle(const simdiff_dataset *ds,
                                                   uint64_t seed, uint64_t epoch,
                                                   int64_t *perm);

/* Random horizontal-flip decisions for a batch: flip[i] = 1 or 0, each
 * with probability 1/2, a pure function of (seed, step, indices[i]) — the
 * same example at the same step always gets the same decision, whatever
 * the batch composition or thread count (algorithm in docs/io.md). */
SIMDIFF_API simdiff_status simdiff_dataset_flip_mask(uint64_t seed, uint64_t step,
                                                     int n,
                                                     const int64_t *indices,
                                                     uint8_t *flip);

/* ---- image folders ---------------------------------------------------------- */

/* Channels of the images a folder dataset holds. */
typedef enum simdiff_image_channels {
    SIMDIFF_IMAGE_CHANNELS_AUTO = 0, /* 1 when every file is greyscale-typed
                                        (PNG grey / grey+alpha, 1-component
                                        JPEG) and the background is grey
                                        (R = G = B); otherwise 3             */
    SIMDIFF_IMAGE_CHANNELS_GRAY = 1, /* colour becomes 0.299 R + 0.587 G +
                                        0.114 B                              */
    SIMDIFF_IMAGE_CHANNELS_RGB = 3   /* grey is repeated in R, G and B        */
} simdiff_image_channels;

/* What opening a folder does with a file it cannot decode. */
typedef enum simdiff_bad_image {
    SIMDIFF_BAD_IMAGE_FAIL = 0, /* fail with the file's error (the default) */
    SIMDIFF_BAD_IMAGE_SKIP = 1  /* leave it out, count it and keep its
                                   message (simdiff_dataset_skipped_*)      */
} simdiff_bad_image;

/* Names: simdiff_image_channels_name gives "auto", "gray" (aliases "grey",
 * "l") or "rgb" (aliases "color", "colour"); simdiff_bad_image_name "fail"
 * or "skip"; NULL for a value without a name. The _from_name calls read
 * names as simdiff_layout_from_name does. */
SIMDIFF_API const char *simdiff_image_channels_name(simdiff_image_channels channels);
SIMDIFF_API simdiff_status simdiff_image_channels_from_name(const char *name,
                                                            simdiff_image_channels *out);
SIMDIFF_API const char *simdiff_bad_image_name(simdiff_bad_image action);
SIMDIFF_API simdiff_status simdiff_bad_image_from_name(const char *name,
                                                       simdiff_bad_image *out);

/* Options of simdiff_dataset_open_folder. Fill with
 * simdiff_image_folder_config_init() first, then change fields; struct_size
 * lets the library and the caller differ in version (core.h). */
typedef struct simdiff_image_folder_config {
    size_t struct_size;               /* bytes of the caller's struct (set by
                                         _init)                               */
    int size;                         /* side S of the square images, 1..8192
                                         (default 64)                         */
    simdiff_image_channels channels;  /* default SIMDIFF_IMAGE_CHANNELS_AUTO  */
    uint32_t background;              /* 0xRRGGBB under transparent pixels
                                         (default 0xFFFFFF, white)            */
    simdiff_bad_image on_bad_image;   /* default SIMDIFF_BAD_IMAGE_FAIL       */
    int64_t max_image_pixels;         /* width x height limit per file,
                                         checked before decoding (default
                                         1 << 26; sides are also limited to
                                         65535)                               */
    int64_t max_file_bytes;           /* size limit per file (default 1 << 28) */
} simdiff_image_folder_config;

/* Fill the `size` bytes of *cfg with the defaults above and set
 * struct_size = size (bytes past the fields this library knows: zero).
 * SIMDIFF_ERR_INVALID_ARG, nothing written, if cfg is NULL or size is not a
 * simdiff_image_folder_config size (core.h). */
SIMDIFF_API simdiff_status simdiff_image_folder_config_init_sized(simdiff_image_folder_config *cfg,
                                                                  size_t size);
/* simdiff_image_folder_config_init_sized with size = sizeof *cfg. */
static inline simdiff_status simdiff_image_folder_config_init(simdiff_image_folder_config *cfg)
{
    return simdiff_image_folder_config_init_sized(cfg, sizeof *cfg);
}

/* A dataset from a folder of PNG and JPEG files (decoded with libpng and
 * libjpeg; the format is told by the content, not the name).
 *   Files: names ending in .png, .jpg or .jpeg (any case) that do not
 *     start with '.', directly in dir ("root files") or in its immediate
 *     sub-folders; deeper folders and other files are ignored.
 *   Labels: every sub-folder (not starting with '.') that holds at least
 *     one such file is a class; classes get ids 0, 1, ... in byte order
 *     (strcmp) of their names, fixed before anything is decoded (a skipped
 *     file never shifts them). Root files are unlabelled: get_batch gives
 *     them label -1 (the trainer's null class). A folder without classes
 *     gives a dataset without labels (num_classes 0). At most 255 classes.
 *   Order: root files, then each class in id order; files by name (strcmp).
 *   Each image: alpha composited on cfg->background, converted to the
 *     dataset's channels, centre-cropped to a square (side min(W, H),
 *     offset (W - side) / 2 and (H - side) / 2 rounded down), area-resized
 *     to size x size (each output pixel the mean of the source area it
 *     covers, partial pixels weighted by their exact overlap; also when
 *     enlarging) and rounded to 8 bits (ties up). 16-bit files keep their
 *     precision until that rounding. Colour profiles and gamma are ignored
 *     (values are taken as stored).
 *   cfg: NULL for the defaults.
 * A file that cannot be read or decoded (truncated, bad CRC, corrupt data,
 * too large, not PNG/JPEG) fails the call with SIMDIFF_ERR_FORMAT (or IO /
 * UNSUPPORTED) and a message naming the file, or, with
 * SIMDIFF_BAD_IMAGE_SKIP, is left out and counted. No readable image at all
 * is SIMDIFF_ERR_FORMAT. On failure *out is NULL and simdiff_last_error()
 * says why. */
SIMDIFF_API simdiff_status simdiff_dataset_open_folder(simdiff_dataset **out,
                                                       const char *dir,
                                                       const simdiff_image_folder_config *cfg);

/* One PNG or JPEG file as an image for the sampler (an init image or a
 * mask of simdiff_edit, sampler.h): decoded and transformed exactly as
 * simdiff_dataset_open_folder does each image (alpha composited on
 * cfg->background, converted to `channels`, centre-cropped to a square,
 * area-resized to size x size, rounded to 8 bits), then each level v
 * becomes v / 127.5 − 1, the dataset's floats in [−1, 1].
 *   channels: 1 (grey) or 3 (RGB); size: 1..8192.
 *   cfg: background and the file limits (NULL: the defaults); its size,
 *     channels and on_bad_image are not used.
 *   out: channels x size x size floats (CHW); written only on success.
 * Failures as simdiff_dataset_open_folder's, with a message naming the
 * file. */
SIMDIFF_API simdiff_status simdiff_read_image(const char *path, int channels, int size,
                                              const simdiff_image_folder_config *cfg,
                                              float *out);

/* The name of class `label` (its sub-folder's name), or NULL when label is
 * out of range or the dataset has no class names (IDX and .npy datasets).
 * Valid as long as the dataset. */
SIMDIFF_API const char *simdiff_dataset_class_name(const simdiff_dataset *ds,
                                                   int label);
/* The id of the class called name, or -1 when there is none. */
SIMDIFF_API int simdiff_dataset_class_id(const simdiff_dataset *ds,
                                         const char *name);
/* Files left out by SIMDIFF_BAD_IMAGE_SKIP (0 for other datasets), and the
 * message of the i-th (0-based, in reading order; it names the file), or
 * NULL when i is out of range. */
SIMDIFF_API int64_t simdiff_dataset_skipped_count(const simdiff_dataset *ds);
SIMDIFF_API const char *simdiff_dataset_skipped_message(const simdiff_dataset *ds,
                                                        int64_t i);

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_IO_H */
