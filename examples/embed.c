/*
 * Embedding libsimdiff in a C application (docs/embedding.md): load a
 * model, give the sampler its own thread budget, draw images with one seed
 * each, watch progress with previews, cancel from another thread when a
 * deadline passes, and turn the result into RGBA8 pixels for a texture.
 *
 *   embed [MODEL] [OUT.png]
 *
 * MODEL defaults to models/fmnist-uvit.safetensors; OUT.png (optional)
 * gets the first image as an RGBA PNG. Exit status 0 on success.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "simdiff/simdiff.h"

/* What the progress callback sees: the application's own state. */
typedef struct ui {
    int previews;
    float first_pixel; /* of image 0 in the latest preview */
} ui;

static int on_progress(void *user, int step, int total, const float *preview)
{
    ui *u = user;
    if (preview) { /* every preview_every-th step: x̂ of all images */
        u->previews++;
        u->first_pixel = preview[0];
    }
    fprintf(stderr, "\rstep %d/%d", step, total);
    return 0; /* nonzero would stop the run (SIMDIFF_ERR_CANCELLED) */
}

/* A watchdog: cancels the run if it is not done by the deadline. */
typedef struct watchdog {
    simdiff_sampler *s;
    double seconds;
    atomic_int done;
} watchdog;

static void *watch(void *p)
{
    watchdog *w = p;
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (double t = 0; t < w->seconds && !atomic_load(&w->done); t += 0.01)
        nanosleep(&tick, NULL);
    if (!atomic_load(&w->done))
        simdiff_sampler_cancel(w->s); /* any thread; the run returns CANCELLED */
    return NULL;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "models/fmnist-uvit.safetensors";
    simdiff_model *m = NULL;
    if (simdiff_model_load(&m, path) != SIMDIFF_OK) {
        fprintf(stderr, "embed: %s\n", simdiff_last_error());
        return 1;
    }
    int C, H, W;
    simdiff_model_image_shape(m, &C, &H, &W);

    /* The settings stored with the model, on a budget of 2 threads: other
     * samplers and the process-wide setting are not touched. */
    simdiff_sampler_config cfg;
    if (simdiff_sampler_config_init_for_model(&cfg, m) != SIMDIFF_OK) {
        fprintf(stderr, "embed: %s\n", simdiff_last_error());
        simdiff_model_destroy(m);
        return 1;
    }
    cfg.num_threads = 2;
    simdiff_sampler *s = NULL;
    if (simdiff_sampler_create(&s, m, &cfg) != SIMDIFF_OK) {
        fprintf(stderr, "embed: %s\n", simdiff_last_error());
        simdiff_model_destroy(m);
        return 1;
    }
    ui u = {0, 0};
    simdiff_sampler_set_progress(s, on_progress, &u);
    simdiff_sampler_set_preview_every(s, 4);

    /* Three images, one seed each: image j is the image a run of one with
     * seeds[j] draws, so any of them can be redrawn alone later. */
    enum { N = 3 };
    const uint64_t seeds[N] = {42, 7, 42};
    const int labels[N] = {0, 7, 9};
    simdiff_run_options opts;
    simdiff_run_options_init(&opts);
    opts.seeds = seeds;
    size_t per = (size_t)C * (size_t)H * (size_t)W;
    float *x = malloc(N * per * sizeof *x);
    uint8_t *rgba = malloc(N * (size_t)H * (size_t)W * 4);
    if (!x || !rgba)
        return 1;

    watchdog w = {s, 60.0, 0};
    pthread_t th;
    pthread_create(&th, NULL, watch, &w);
    simdiff_status st = simdiff_sampler_run_with(s, N, labels, 0, NULL, &opts, x);
    atomic_store(&w.done, 1);
    pthread_join(th, NULL);
    fprintf(stderr, "\n");
    int rc = 0;
    if (st == SIMDIFF_ERR_CANCELLED) {
        fprintf(stderr, "embed: too slow, cancelled: %s\n", simdiff_sampler_errmsg(s));
        rc = 1;
    } else if (st != SIMDIFF_OK) {
        fprintf(stderr, "embed: %s\n", simdiff_sampler_errmsg(s));
        rc = 1;
    } else if (simdiff_images_to_rgb8(N, C, H, W, x, 4, rgba) != SIMDIFF_OK) {
        fprintf(stderr, "embed: %s\n", simdiff_last_error());
        rc = 1;
    } else {
        /* rgba: N x H x W x 4 bytes, ready for a texture upload. */
        printf("%d images %dx%d, %d previews, first pixel RGBA %u %u %u %u\n", N, W, H,
               u.previews, rgba[0], rgba[1], rgba[2], rgba[3]);
        if (argc > 2 && simdiff_write_png_u8(argv[2], H, W, 4, rgba) != SIMDIFF_OK) {
            fprintf(stderr, "embed: %s\n", simdiff_last_error());
            rc = 1;
        }
    }
    free(x);
    free(rgba);
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
    return rc;
}
