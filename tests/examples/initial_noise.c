/*
 * Test helper for simdiff-sample --latents: writes the starting noise of a
 * plain run, taken straight from the library (simdiff_sampler_initial_noise),
 * as a float32 N x C x H x W .npy, so the program tests can compare a run
 * fed that noise with the plain run of the same seed.
 *
 *   initial-noise MODEL SEED N OUT.npy [negate|nan]
 *
 * negate flips the sign of every value (other noise of the same shape);
 * nan puts a NaN in image N-1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <simdiff/simdiff.h>

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: initial-noise MODEL SEED N OUT.npy [negate|nan]\n");
        return 2;
    }
    uint64_t seed = strtoull(argv[2], NULL, 10);
    int n = atoi(argv[3]);
    const char *mode = argc == 6 ? argv[5] : "";
    simdiff_model *m = NULL;
    simdiff_sampler *s = NULL;
    float *x = NULL;
    int rc = 1;
    simdiff_model_config mc;
    mc.struct_size = sizeof mc;
    if (n < 1 || simdiff_model_load(&m, argv[1]) || simdiff_model_get_config(m, &mc) ||
        simdiff_sampler_create(&s, m, NULL))
        goto done;
    size_t per = (size_t)mc.channels * (size_t)mc.image_size * (size_t)mc.image_size;
    if (!(x = malloc((size_t)n * per * sizeof *x)) ||
        simdiff_sampler_initial_noise(s, n, seed, NULL, x))
        goto done;
    for (size_t i = 0; !strcmp(mode, "negate") && i < (size_t)n * per; i++)
        x[i] = -x[i];
    if (!strcmp(mode, "nan"))
        x[(size_t)(n - 1) * per + 5] = NAN;
    const int64_t shape[4] = {n, mc.channels, mc.image_size, mc.image_size};
    if (simdiff_write_npy_f32(argv[4], 4, shape, x))
        goto done;
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "initial-noise: %s\n", simdiff_last_error());
    free(x);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
    return rc;
}
