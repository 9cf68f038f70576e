/* The image decoder (PNG through libpng, JPEG through libjpeg;
 * lib/io/image.c) by way of simdiff_read_image. Input: one flag byte (bit
 * 0: 1 or 3 channels; bits 1-3: output size 1..8), then the file. The
 * default limits apply (the decoder's own pixel and byte caps). */
#include "simdiff/io.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int channels = (data[0] & 1) ? 3 : 1;
    int out_size = 1 + ((data[0] >> 1) & 7);
    fz_file f;
    fz_file_open(&f, data + 1, size - 1);
    float out[3 * 8 * 8];
    for (int i = 0; i < 3 * 8 * 8; i++)
        out[i] = 7.0f;
    if (simdiff_read_image(f.path, channels, out_size, NULL, out) == SIMDIFF_OK) {
        for (int i = 0; i < channels * out_size * out_size; i++)
            FZ_CHECK(out[i] >= -1.0f && out[i] <= 1.0f);
    }
    for (int i = channels * out_size * out_size; i < 3 * 8 * 8; i++)
        FZ_CHECK(out[i] == 7.0f);
    fz_file_close(&f);
    return 0;
}
