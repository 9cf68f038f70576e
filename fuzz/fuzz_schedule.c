/* The schedule text ("cosine(-15,15)", ...; simdiff_schedule_from_string).
 * A string that parses must format and parse back to the same text. */
#include "fuzz_common.h"
#include "simdiff/schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    simdiff_schedule *sch = NULL, *again = NULL;
    if (simdiff_schedule_from_string(&sch, s) == SIMDIFF_OK) {
        char a[SIMDIFF_SCHEDULE_STRING_MAX], b[SIMDIFF_SCHEDULE_STRING_MAX];
        FZ_CHECK(simdiff_schedule_to_string(sch, a, sizeof a) == SIMDIFF_OK);
        FZ_CHECK(simdiff_schedule_from_string(&again, a) == SIMDIFF_OK);
        FZ_CHECK(simdiff_schedule_to_string(again, b, sizeof b) == SIMDIFF_OK);
        FZ_CHECK(strcmp(a, b) == 0);
        double t[3] = {0.0, 0.5, 1.0}, out[3];
        simdiff_schedule_logsnr(sch, 3, t, out);
        simdiff_schedule_destroy(again);
        simdiff_schedule_destroy(sch);
    } else {
        FZ_CHECK(sch == NULL);
    }
    free(s);
    return 0;
}
