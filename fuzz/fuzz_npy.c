/* NumPy .npy images and labels, raw or gzip (simdiff_dataset_open_npy).
 * Input: one flag byte, then the file. Flag bits 0-1 pick the layout
 * (auto, NHWC, NCHW), bit 2 the float range; with bit 3 the same bytes are
 * also given as the labels file (exercising the labels reader). */
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
    if (flag & 8) {
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
