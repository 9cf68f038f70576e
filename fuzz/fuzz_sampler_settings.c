/* The stored sampler settings text (lib/model/sampler_settings.c). A text
 * that parses must check and survive a format/parse round trip; a failed
 * parse leaves the config unchanged. */
#include "fuzz_common.h"
#include "model/sampler_settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    simdiff_sampler_config cfg, before, again;
    simdiff_sampler_config_init(&cfg);
    before = cfg;
    if (sd_sampler_settings_parse(s, &cfg) == SIMDIFF_OK) {
        FZ_CHECK(sd_sampler_settings_check(&cfg, "fuzz") == SIMDIFF_OK);
        char a[SD_SAMPLER_SETTINGS_MAX], b[SD_SAMPLER_SETTINGS_MAX];
        FZ_CHECK(sd_sampler_settings_format(&cfg, a, sizeof a) == SIMDIFF_OK);
        simdiff_sampler_config_init(&again);
        FZ_CHECK(sd_sampler_settings_parse(a, &again) == SIMDIFF_OK);
        FZ_CHECK(sd_sampler_settings_format(&again, b, sizeof b) == SIMDIFF_OK);
        FZ_CHECK(strcmp(a, b) == 0);
    } else {
        FZ_CHECK(memcmp(&cfg, &before, sizeof cfg) == 0);
    }
    free(s);
    return 0;
}
