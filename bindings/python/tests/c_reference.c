/*
 * c_reference: the C side of the Python bindings' tests. Built by
 * bindings/python/meson.build against the installed API (simdiff_dep) and
 * run by tests/test_c_reference.py; users of the bindings never need it.
 *
 *   c_reference layout            sizeof / offsetof of the public structs
 *   c_reference compute FIXTURES  results of public calls on fixed inputs
 *
 * Output: one record per line, "<name> <type> <count> <values...>", with
 * float32 values as the 8 hex digits of their bits, doubles as C99 hex
 * floats (%a), integers and strings in decimal / plain text, so that the
 * Python side can compare bit for bit.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <simdiff/simdiff.h>

static int fail(const char *what)
{
    fprintf(stderr, "c_reference: %s: %s\n", what, simdiff_last_error());
    return 1;
}

static void put_f32(const char *name, size_t n, const float *v)
{
    printf("%s f32 %zu", name, n);
    for (size_t i = 0; i < n; i++) {
        unsigned u;
        memcpy(&u, &v[i], 4);
        printf(" %08x", u);
    }
    printf("\n");
}

static void put_f64(const char *name, size_t n, const double *v)
{
    printf("%s f64 %zu", name, n);
    for (size_t i = 0; i < n; i++)
        printf(" %a", v[i]);
    printf("\n");
}

static void put_i64(const char *name, size_t n, const long long *v)
{
    printf("%s i64 %zu", name, n);
    for (size_t i = 0; i < n; i++)
        printf(" %lld", v[i]);
    printf("\n");
}

/* ---- layout ---------------------------------------------------------------- */

#define STRUCT(T) printf("%s size 1 %zu\n", #T, sizeof(T))
#define FIELD(T, f)                                                            \
    printf("%s.%s offset 2 %zu %zu\n", #T, #f, offsetof(T, f),                 \
           sizeof(((T *)0)->f))

static int layout(void)
{
    STRUCT(simdiff_model_config);
    FIELD(simdiff_model_config, struct_size);
    FIELD(simdiff_model_config, arch);
    FIELD(simdiff_model_config, image_size);
    FIELD(simdiff_model_config, channels);
    FIELD(simdiff_model_config, stem);
    FIELD(simdiff_model_config, stem_param);
    FIELD(simdiff_model_config, num_levels);
    FIELD(simdiff_model_config, level_channels);
    FIELD(simdiff_model_config, level_blocks);
    FIELD(simdiff_model_config, norm_groups);
    FIELD(simdiff_model_config, emb_dim);
    FIELD(simdiff_model_config, attn_resolution);
    FIELD(simdiff_model_config, attn_heads);
    FIELD(simdiff_model_config, tf_width);
    FIELD(simdiff_model_config, tf_depth);
    FIELD(simdiff_model_config, tf_heads);
    FIELD(simdiff_model_config, tf_mlp_ratio);
    FIELD(simdiff_model_config, dropout_res);
    FIELD(simdiff_model_config, dropout_tf);
    FIELD(simdiff_model_config, dropout_max_resolution);
    FIELD(simdiff_model_config, num_classes);
    FIELD(simdiff_model_config, cond_dim);
    FIELD(simdiff_model_config, prediction);
    FIELD(simdiff_model_config, ctx_dim);
    FIELD(simdiff_model_config, ctx_len);
    FIELD(simdiff_model_config, text_vocab);
    FIELD(simdiff_model_config, text_layers);
    FIELD(simdiff_model_config, text_heads);
    FIELD(simdiff_model_config, wiener_skip);

    STRUCT(simdiff_optimizer_config);
    FIELD(simdiff_optimizer_config, struct_size);
    FIELD(simdiff_optimizer_config, lr);
    FIELD(simdiff_optimizer_config, beta1);
    FIELD(simdiff_optimizer_config, beta2);
    FIELD(simdiff_optimizer_config, eps);
    FIELD(simdiff_optimizer_config, weight_decay);
    FIELD(simdiff_optimizer_config, warmup_steps);
    FIELD(simdiff_optimizer_config, decay);
    FIELD(simdiff_optimizer_config, total_steps);
    FIELD(simdiff_optimizer_config, min_lr_ratio);
    FIELD(simdiff_optimizer_config, clip_norm);
    FIELD(simdiff_optimizer_config, ema_decay);

    STRUCT(simdiff_trainer_config);
    FIELD(simdiff_trainer_config, struct_size);
    FIELD(simdiff_trainer_config, loss);
    FIELD(simdiff_trainer_config, multiscale_base);
    FIELD(simdiff_trainer_config, label_dropout);
    FIELD(simdiff_trainer_config, stratified_t);
    FIELD(simdiff_trainer_config, seed);
    FIELD(simdiff_trainer_config, precision);
    FIELD(simdiff_trainer_config, num_threads);
    FIELD(simdiff_trainer_config, ctx_dropout);

    STRUCT(simdiff_trainer_stats);
    FIELD(simdiff_trainer_stats, struct_size);
    FIELD(simdiff_trainer_stats, step);
    FIELD(simdiff_trainer_stats, skipped);
    FIELD(simdiff_trainer_stats, last_loss);
    FIELD(simdiff_trainer_stats, last_grad_norm);
    FIELD(simdiff_trainer_stats, lr);

    STRUCT(simdiff_distill_config);
    FIELD(simdiff_distill_config, struct_size);
    FIELD(simdiff_distill_config, teacher_steps);
    FIELD(simdiff_distill_config, guidance);
    FIELD(simdiff_distill_config, seed);
    FIELD(simdiff_distill_config, precision);
    FIELD(simdiff_distill_config, num_threads);
    FIELD(simdiff_distill_config, weighting);

    STRUCT(simdiff_distill_stats);
    FIELD(simdiff_distill_stats, struct_size);
    FIELD(simdiff_distill_stats, round);
    FIELD(simdiff_distill_stats, teacher_steps);
    FIELD(simdiff_distill_stats, student_steps);
    FIELD(simdiff_distill_stats, guidance);
    FIELD(simdiff_distill_stats, step);
    FIELD(simdiff_distill_stats, skipped);
    FIELD(simdiff_distill_stats, total_steps);
    FIELD(simdiff_distill_stats, last_loss);
    FIELD(simdiff_distill_stats, lr);
    STRUCT(simdiff_distill_info);
    FIELD(simdiff_distill_info, struct_size);
    FIELD(simdiff_distill_info, distilled);
    FIELD(simdiff_distill_info, steps);
    FIELD(simdiff_distill_info, teacher_steps);
    FIELD(simdiff_distill_info, rounds);
    FIELD(simdiff_distill_info, guidance);

    STRUCT(simdiff_sampler_config);
    FIELD(simdiff_sampler_config, struct_size);
    FIELD(simdiff_sampler_config, method);
    FIELD(simdiff_sampler_config, steps);
    FIELD(simdiff_sampler_config, eta);
    FIELD(simdiff_sampler_config, guidance);
    FIELD(simdiff_sampler_config, clip_x);
    FIELD(simdiff_sampler_config, spacing);
    FIELD(simdiff_sampler_config, schedule);
    FIELD(simdiff_sampler_config, batch_chunk);
    FIELD(simdiff_sampler_config, precision);
    FIELD(simdiff_sampler_config, num_threads);
    FIELD(simdiff_sampler_config, guidance_interval);
    FIELD(simdiff_sampler_config, guidance_logsnr_min);
    FIELD(simdiff_sampler_config, guidance_logsnr_max);

    STRUCT(simdiff_image_folder_config);
    FIELD(simdiff_image_folder_config, struct_size);
    FIELD(simdiff_image_folder_config, size);
    FIELD(simdiff_image_folder_config, channels);
    FIELD(simdiff_image_folder_config, background);
    FIELD(simdiff_image_folder_config, on_bad_image);
    FIELD(simdiff_image_folder_config, max_image_pixels);
    FIELD(simdiff_image_folder_config, max_file_bytes);
    STRUCT(simdiff_edit);
    FIELD(simdiff_edit, struct_size);
    FIELD(simdiff_edit, init);
    FIELD(simdiff_edit, init_count);
    FIELD(simdiff_edit, channels);
    FIELD(simdiff_edit, height);
    FIELD(simdiff_edit, width);
    FIELD(simdiff_edit, strength);
    FIELD(simdiff_edit, mask);
    FIELD(simdiff_edit, mask_count);
    FIELD(simdiff_edit, mask_channels);
    FIELD(simdiff_edit, resample);
    FIELD(simdiff_edit, resample_jump);
    STRUCT(simdiff_run_options);
    FIELD(simdiff_run_options, struct_size);
    FIELD(simdiff_run_options, seeds);
    FIELD(simdiff_run_options, first_index);
    FIELD(simdiff_run_options, variation_strength);
    FIELD(simdiff_run_options, variation_seed);
    FIELD(simdiff_run_options, variation_seeds);
    FIELD(simdiff_run_options, latents);
    FIELD(simdiff_run_options, cond);
    FIELD(simdiff_run_options, context);
    FIELD(simdiff_run_options, context_len);
    FIELD(simdiff_run_options, prompts);
    return 0;
}

/* ---- compute --------------------------------------------------------------- */

/* Deterministic inputs; printed too, so Python needs no formula. */
static void fill(float *v, size_t n, double a, double b)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)sin(a * (double)i + b);
}

static int schedules(void)
{
    enum { T = 17 };
    double t[T], ls[T], al[T], si[T], back[T];
    for (int i = 0; i < T; i++)
        t[i] = i / 16.0;
    const char *texts[] = {"cosine(-12.5,14.25)", "shifted(128,64)",
                           "interpolated(512,256,32)"};
    for (int k = 0; k < 3; k++) {
        simdiff_schedule *s;
        if (simdiff_schedule_from_string(&s, texts[k]))
            return fail(texts[k]);
        if (simdiff_schedule_logsnr(s, T, t, ls) ||
            simdiff_schedule_alpha_sigma(s, T, t, al, si) ||
            simdiff_schedule_t_from_logsnr(s, T, ls, back))
            return fail("schedule eval");
        char name[64];
        printf("schedule%d.text str 1 %s\n", k, texts[k]);
        snprintf(name, sizeof name, "schedule%d.logsnr", k);
        put_f64(name, T, ls);
        snprintf(name, sizeof name, "schedule%d.alpha", k);
        put_f64(name, T, al);
        snprintf(name, sizeof name, "schedule%d.sigma", k);
        put_f64(name, T, si);
        snprintf(name, sizeof name, "schedule%d.t_back", k);
        put_f64(name, T, back);
        simdiff_schedule_destroy(s);
    }
    put_f64("schedule.t", T, t);
    return 0;
}

static int forward_and_sample(const char *fixtures)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model/uvit_plain.safetensors", fixtures);
    simdiff_model *m;
    if (simdiff_model_load(&m, path))
        return fail(path);
    enum { N = 2, CHW = 1 * 8 * 8 };
    float z[N * CHW], out[N * CHW];
    fill(z, N * CHW, 0.37, 0.1);
    double ls[N] = {-3.5, 2.25};
    int labels[N] = {0, 2};
    if (simdiff_model_forward(m, N, z, ls, labels, out))
        return fail("forward");
    put_f32("forward.z", N * CHW, z);
    put_f64("forward.logsnr", N, ls);
    put_f32("forward.out", N * CHW, out);

    simdiff_schedule *sched;
    if (simdiff_schedule_create_shifted(&sched, 8, 64))
        return fail("schedule");
    simdiff_sampler_config c;
    simdiff_sampler_config_init(&c);
    c.method = SIMDIFF_SAMPLER_DDIM;
    c.steps = 5;
    c.eta = 0.5;
    c.guidance = 2.5;
    c.schedule = sched;
    simdiff_sampler *s;
    if (simdiff_sampler_create(&s, m, &c))
        return fail("sampler");
    int sl[3] = {0, 2, -1};
    float img[3 * CHW];
    if (simdiff_sampler_run(s, 3, sl, 1234, img))
        return fail("sampler run");
    put_f32("sample_ddim.out", 3 * CHW, img);
    simdiff_sampler_destroy(s);

    simdiff_sampler_config_init(&c);
    c.steps = 3;
    c.spacing = SIMDIFF_SPACING_UNIFORM_LOGSNR;
    c.schedule = sched;
    if (simdiff_sampler_create(&s, m, &c))
        return fail("sampler");
    if (simdiff_sampler_run(s, 2, NULL, 9, img))
        return fail("sampler run");
    put_f32("sample_dpm.out", 2 * CHW, img);
    simdiff_sampler_destroy(s);
    simdiff_schedule_destroy(sched);
    simdiff_model_destroy(m);
    return 0;
}

static int training(void)
{
    simdiff_model_config mc;
    simdiff_model_config_init(&mc, SIMDIFF_ARCH_UVIT, 8, 1);
    mc.num_levels = 1;
    mc.level_channels[0] = 8;
    mc.level_blocks[0] = 1;
    mc.norm_groups = 4;
    mc.emb_dim = 16;
    mc.attn_resolution = 4;
    mc.tf_width = 16;
    mc.tf_depth = 1;
    mc.tf_heads = 2;
    mc.num_classes = 3;
    simdiff_model *m;
    if (simdiff_model_create(&m, &mc, 5))
        return fail("model create");
    long long np = simdiff_model_num_params(m);
    put_i64("train.num_params", 1, &np);
    simdiff_schedule *sched;
    simdiff_schedule_create_shifted(&sched, 8, 64);
    simdiff_trainer_config tc;
    simdiff_trainer_config_init(&tc);
    tc.seed = 11;
    simdiff_optimizer_config oc;
    simdiff_optimizer_config_init(&oc);
    oc.lr = 1e-3;
    oc.warmup_steps = 2;
    simdiff_trainer *t;
    if (simdiff_trainer_create(&t, m, sched, &tc, &oc))
        return fail("trainer create");
    enum { N = 4, CHW = 64 };
    float x[N * CHW];
    fill(x, N * CHW, 0.11, 0.5);
    int labels[N] = {0, 1, 2, 0};
    double losses[3];
    for (int k = 0; k < 3; k++)
        if (simdiff_trainer_step(t, N, x, labels, &losses[k]))
            return fail("trainer step");
    put_f32("train.x", N * CHW, x);
    put_f64("train.losses", 3, losses);
    simdiff_trainer_stats st;
    st.struct_size = sizeof st;
    simdiff_trainer_stats_get(t, &st);
    double sv[3] = {st.last_loss, st.last_grad_norm, st.lr};
    put_f64("train.stats", 3, sv);
    simdiff_trainer_destroy(t);
    simdiff_schedule_destroy(sched);
    simdiff_model_destroy(m);
    return 0;
}

static int dataset(const char *fixtures)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/io/npy/u8_nhwc3.npy", fixtures);
    simdiff_dataset *ds;
    if (simdiff_dataset_open_npy(&ds, path, NULL, SIMDIFF_LAYOUT_AUTO,
                                 SIMDIFF_FLOAT_RANGE_01))
        return fail(path);
    int64_t perm[3];
    if (simdiff_dataset_shuffle(ds, 5, 2, perm))
        return fail("shuffle");
    long long p[3] = {perm[0], perm[1], perm[2]};
    put_i64("dataset.perm", 3, p);
    int64_t idx[4] = {2, 0, 1, 2};
    uint8_t flip[4];
    if (simdiff_dataset_flip_mask(7, 3, 4, idx, flip))
        return fail("flip_mask");
    long long f[4] = {flip[0], flip[1], flip[2], flip[3]};
    put_i64("dataset.flip", 4, f);
    enum { P = 6 };
    float out[4 * 3 * P * P];
    int lab[4];
    if (simdiff_dataset_get_batch(ds, 4, idx, P, flip, out, lab))
        return fail("get_batch");
    put_f32("dataset.batch", 4 * 3 * P * P, out);
    simdiff_dataset_destroy(ds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "layout"))
        return layout();
    if (argc == 3 && !strcmp(argv[1], "compute")) {
        simdiff_set_num_threads(2);
        return schedules() || forward_and_sample(argv[2]) || training() ||
               dataset(argv[2]);
    }
    fprintf(stderr, "usage: c_reference layout | compute FIXTURES_DIR\n");
    return 2;
}
