/* safetensors: the container (sd_st_open_mem: the JSON header, dtypes,
 * shapes, offsets, metadata) and, when that opens, the model loader
 * (simdiff_model_load: the config, schedule, sampler settings and
 * distillation record in the metadata, the parameter table against the
 * tensors, the weight values). */
#include "format/format.h"
#include "simdiff/model.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sd_st_file *f = NULL;
    if (sd_st_open_mem(&f, data, size) != SIMDIFF_OK) {
        FZ_CHECK(f == NULL);
        return 0;
    }
    size_t n = sd_st_count(f);
    for (size_t i = 0; i < n; i++) {
        const sd_st_tensor *t = sd_st_at(f, i);
        FZ_CHECK(t && sd_st_find(f, t->name) == t);
        FZ_CHECK(t->data >= data && t->data + t->nbytes <= data + size);
        if (t->numel <= 4096) {
            float buf[4096];
            sd_st_read_f32(f, t->name, buf, t->ndim, t->shape);
        }
    }
    for (size_t i = 0; i < sd_st_metadata_count(f); i++) {
        const char *k, *v;
        sd_st_metadata_at(f, i, &k, &v);
        FZ_CHECK(k && v && sd_st_metadata(f, k) == v);
    }
    sd_st_close(f);

    fz_file file;
    fz_file_open(&file, data, size);
    simdiff_model *m = NULL;
    if (simdiff_model_load(&m, file.path) != SIMDIFF_OK)
        FZ_CHECK(m == NULL);
    simdiff_model_destroy(m);
    fz_file_close(&file);
    return 0;
}
