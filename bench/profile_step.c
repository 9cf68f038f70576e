/*
 * profile_step: the per-op time profile of training steps and sampling
 * network evaluations of a model (internal API).
 *
 *   profile_step [--width W --depth D --channels C --batch B --steps K
 *                 --stem none|patch|dwt --levels L --emb E --unet]
 * Prints images/s and the per-op table (forward/backward ms summed over
 * the timed steps, after one warm-up step).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/model_internal.h"
#include "simdiff/simdiff.h"
#include "tensor/rng.h"
#include "train/trainer_internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int W = 192, D = 6, Ch = 64, B = 64, K = 5, stem = 2, L = 1, E = 256, unet = 0, infer = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--unet")) { unet = 1; continue; }
        if (!strcmp(argv[i], "--infer")) { infer = 1; continue; }
        if (i + 1 >= argc) break;
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--width")) W = atoi(v);
        else if (!strcmp(a, "--depth")) D = atoi(v);
        else if (!strcmp(a, "--channels")) Ch = atoi(v);
        else if (!strcmp(a, "--batch")) B = atoi(v);
        else if (!strcmp(a, "--steps")) K = atoi(v);
        else if (!strcmp(a, "--levels")) L = atoi(v);
        else if (!strcmp(a, "--emb")) E = atoi(v);
        else if (!strcmp(a, "--stem")) stem = !strcmp(v, "patch") ? 1 : !strcmp(v, "dwt") ? 2 : 0;
    }
    simdiff_model_config cfg;
    simdiff_model_config_init(&cfg, unet ? SIMDIFF_ARCH_UNET : SIMDIFF_ARCH_UVIT, 32, 1);
    cfg.stem = (simdiff_stem)stem;
    cfg.stem_param = stem ? (stem == 1 ? 2 : 1) : 0;
    cfg.num_levels = L;
    for (int l = 0; l < L; l++) {
        cfg.level_channels[l] = Ch;
        cfg.level_blocks[l] = 1;
    }
    int r0 = stem ? 16 : 32;
    cfg.attn_resolution = unet ? 8 : r0 >> L;
    cfg.tf_width = W;
    cfg.tf_depth = D;
    cfg.emb_dim = E;
    cfg.num_classes = 10;
    simdiff_model *m;
    if (simdiff_model_create(&m, &cfg, 1)) {
        fprintf(stderr, "%s\n", simdiff_last_error());
        return 1;
    }
    simdiff_schedule *s;
    simdiff_schedule_create_shifted(&s, 32, 64);
    simdiff_trainer *t;
    if (simdiff_trainer_create(&t, m, s, NULL, NULL)) {
        fprintf(stderr, "%s\n", simdiff_last_error());
        return 1;
    }
    float *x = malloc((size_t)B * 1024 * sizeof(float));
    int *lab = malloc((size_t)B * sizeof(int));
    sd_rng_uniform(1, 1, 0, (size_t)B * 1024, x);
    for (int i = 0; i < B; i++)
        lab[i] = i % 10;
    double loss;
    if (infer) {
        /* Network evaluations without gradients, as a sampler runs them. */
        sd_ctx *c;
        sd_ctx_create(&c);
        double *ls = malloc((size_t)B * sizeof(double));
        for (int i = 0; i < B; i++)
            ls[i] = -5.0 + i % 10;
        for (int k = -1; k < K; k++) {
            if (k == 0) {
                sd_ctx_set_profile(c, 1);
                sd_ctx_profile_reset(c);
            }
            double t0 = now();
            sd_ctx_reset(c);
            sd_tensor *z = sd_copy_in(c, 4, (int64_t[]){B, 1, 32, 32}, x);
            sd_model_graph(m, c, z, ls, lab, NULL);
            sd_ctx_profile_mark(c);
            if (k >= 0)
                printf("eval %d: %.1f ms (%.1f img/s), arena %.1f MiB\n", k, (now() - t0) * 1e3,
                       B / (now() - t0), sd_ctx_arena_used(c) / 1048576.0);
        }
        static char rep[16384];
        sd_ctx_profile_report(c, rep, sizeof rep);
        fputs(rep, stdout);
        return 0;
    }
    simdiff_trainer_step(t, B, x, lab, &loss); /* warm-up */
    sd_ctx_set_profile(t->ctx, 1);
    sd_ctx_profile_reset(t->ctx);
    double t0 = now();
    for (int k = 0; k < K; k++)
        simdiff_trainer_step(t, B, x, lab, &loss);
    double dt = now() - t0;
    double fl;
    simdiff_model_flops(m, &fl);
    printf("%s\nmodel %.3f GFLOP/image fwd, %lld params; train: %.1f img/s (%.1f GFLOP/s at 3x fwd)\n",
           simdiff_runtime_info(), fl / 1e9, (long long)simdiff_model_num_params(m),
           K * B / dt, 3 * fl * K * B / dt / 1e9);
    static char rep[16384];
    sd_ctx_profile_report(t->ctx, rep, sizeof rep);
    fputs(rep, stdout);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
    simdiff_schedule_destroy(s);
    return 0;
}
