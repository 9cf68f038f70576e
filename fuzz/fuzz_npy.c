/* NumPy .npy images and labels, raw or gzip (simdiff_dataset_open_npy).
 * Input: one flag byte, then the file. Flag bits 0-1 pick the layout
 * (auto, NHWC, NCHW), bit 2 the float range; with bit 3 the same bytes are
 * also given as the labels file (exercising the labels reader). With bit 4
 * the file goes to the array reader simdiff_read_npy_f32 instead, taking
 * at most 32 dimensions, or (bit 5) at most flag & 3. */
#include "simdiff/io.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flag = data[0];
    fz_file f;
    fz_file_open(&f, data + 1, size - 1);
    simdiff_layout layout = (simdiff_layout)(flag & 3) == 3 ? SIMDIFF_LAYOUT_AUTO
                                                            : (simdiff_layout)(flag & 3);
    simdiff_float_range range = (flag & 4) ? SIMDIFF_FLOAT_RANGE_PM1 : SIMDIFF_FLOAT_RANGE_01;
    simdiff_dataset *ds = NULL;
    if (flag & 16) {
        int64_t shape[32];
        int ndim = -1, max_ndim = (flag & 32) ? flag & 3 : 32;
        float *arr = NULL;
        if (simdiff_read_npy_f32(f.path, max_ndim, shape, &ndim, &arr) == SIMDIFF_OK) {
            FZ_CHECK(arr != NULL && ndim >= 0 && ndim <= max_ndim);
            /* touch every element the shape announces (ASan checks the
             * buffer holds them) */
            size_t numel = 1;
            for (int i = 0; i < ndim; i++)
                numel *= (size_t)shape[i];
            volatile float sink = 0;
            for (size_t i = 0; i < numel; i++)
                sink += arr[i];
            (void)sink;
        } else {
            FZ_CHECK(arr == NULL && ndim == -1);
        }
        simdiff_free(arr);
    } else if (flag & 8) {
        /* The labels reader sees the same bytes: a file that is both a
         * valid image set and a valid label set fails on its dtype or
         * shape, after both were parsed. */
        simdiff_dataset_open_npy(&ds, f.path, f.path, layout, range);
    } else if (simdiff_dataset_open_npy(&ds, f.path, NULL, layout, range) == SIMDIFF_OK) {
        fz_read_one(ds);
    }
    FZ_CHECK(ds == NULL || simdiff_dataset_count(ds) >= 1);
    simdiff_dataset_destroy(ds);
    fz_file_close(&f);
    return 0;
}
