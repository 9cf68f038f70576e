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
 * when the dataset has no labels. */
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

#ifdef __cplusplus
}
#endif
#endif /* SIMDIFF_IO_H */
