/* IDX images and labels, each raw or gzip (simdiff_dataset_open_idx).
 * Input: one flag byte; with bit 0 clear the rest is the images file;
 * with it set, a u32 little-endian length L follows, then L bytes of images
 * file and the rest is the labels file. */
#include "simdiff/io.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *img = data + 1, *lab = NULL;
    size_t img_n = size - 1, lab_n = 0;
    if (data[0] & 1) {
        if (size < 5)
            return 0;
        size_t l = (size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16 |
                   (size_t)data[4] << 24;
        img = data + 5;
        img_n = l < size - 5 ? l : size - 5;
        lab = img + img_n;
        lab_n = size - 5 - img_n;
    }
    fz_file fi, fl;
    fz_file_open(&fi, img, img_n);
    if (lab)
        fz_file_open(&fl, lab, lab_n);
    simdiff_dataset *ds = NULL;
    if (simdiff_dataset_open_idx(&ds, fi.path, lab ? fl.path : NULL) == SIMDIFF_OK) {
        FZ_CHECK(simdiff_dataset_channels(ds) == 1);
        fz_read_one(ds);
    } else {
        FZ_CHECK(ds == NULL);
    }
    simdiff_dataset_destroy(ds);
    fz_file_close(&fi);
    if (lab)
        fz_file_close(&fl);
    return 0;
}
