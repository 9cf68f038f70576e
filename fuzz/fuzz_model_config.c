/* The model config text (key=value;..., lib/model/config.c over
 * lib/format/kv.c), as stored in model files and checkpoints. A config that
 * parses must validate and survive a format/parse round trip unchanged. */
#include "fuzz_common.h"
#include "model/model_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    simdiff_model_config cfg, again;
    if (sd_config_from_string(&cfg, s) == SIMDIFF_OK) {
        FZ_CHECK(simdiff_model_config_validate(&cfg, NULL, 0) == SIMDIFF_OK);
        char a[2048], b[2048];
        FZ_CHECK(sd_config_to_string(&cfg, a, sizeof a) == SIMDIFF_OK);
        FZ_CHECK(sd_config_from_string(&again, a) == SIMDIFF_OK);
        FZ_CHECK(sd_config_to_string(&again, b, sizeof b) == SIMDIFF_OK);
        FZ_CHECK(strcmp(a, b) == 0);
    }
    free(s);
    return 0;
}
