/*
 * Structs that grow (docs/api.md): every public struct with a struct_size,
 * seen from callers compiled against other versions of the headers.
 *
 *  - An older caller: the v1_* types below are the first released layouts,
 *    frozen here. A caller compiled against them has sizeof(v1_*) bytes, or
 *    only up to the end of the last v1 field when its struct_size is set by
 *    hand; the library must accept both and never write past them.
 *  - A truncated struct, below any released layout: refused, nothing written.
 *  - A newer caller: the library's struct followed by bytes this library
 *    does not know; accepted while they are zero, refused with
 *    SIMDIFF_ERR_UNSUPPORTED and a message naming the struct otherwise.
 *
 * Every caller struct sits in a buffer pre-filled with a pattern, so a
 * single byte written past struct_size (or any byte written on a refusal)
 * is seen.
 */
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "sdtest.h"
#include "simdiff/simdiff.h"

/* ---- the first released layouts (libsimdiff 0.1), frozen --------------- */
typedef struct v1_model_config {
    size_t struct_size;
    int arch, image_size, channels, stem, stem_param, num_levels;
    int level_channels[8], level_blocks[8];
    int norm_groups, emb_dim, attn_resolution, attn_heads;
    int tf_width, tf_depth, tf_heads, tf_mlp_ratio;
    float dropout_res, dropout_tf;
    int dropout_max_resolution, num_classes, cond_dim, prediction;
} v1_model_config;

typedef struct v1_optimizer_config {
    size_t struct_size;
    double lr, beta1, beta2, eps, weight_decay;
    int64_t warmup_steps;
    int decay;
    int64_t total_steps;
    double min_lr_ratio, clip_norm, ema_decay;
} v1_optimizer_config;

typedef struct v1_trainer_config {
    size_t struct_size;
    int loss, multiscale_base;
    double label_dropout;
    int stratified_t;
    uint64_t seed;
} v1_trainer_config;

/* First released in the version that added distillation (distill.h). */
typedef struct v1_distill_config {
    size_t struct_size;
    int teacher_steps;
    double guidance;
    uint64_t seed;
    int precision, num_threads, weighting;
} v1_distill_config;

typedef struct v1_trainer_stats {
    size_t struct_size;
    int64_t step, skipped;
    double last_loss, last_grad_norm, lr;
} v1_trainer_stats;

typedef struct v1_sampler_config {
    size_t struct_size;
    int method, steps;
    double eta, guidance;
    int clip_x, spacing;
    const void *schedule;
    int batch_chunk;
} v1_sampler_config;

typedef struct v1_image_folder_config {
    size_t struct_size;
    int size, channels;
    uint32_t background;
    int on_bad_image;
    int64_t max_image_pixels, max_file_bytes;
} v1_image_folder_config;

typedef struct v1_edit {
    size_t struct_size;
    const float *init;
    int init_count, channels, height, width;
    double strength;
    const float *mask;
    int mask_count, mask_channels, resample, resample_jump;
} v1_edit;

/* The headers only append: every v1 field is where v1 had it. */
#define SAME_PLACE(T, V, f)                                                    \
    _Static_assert(offsetof(T, f) == offsetof(V, f), #T "." #f " moved")
SAME_PLACE(simdiff_model_config, v1_model_config, arch);
SAME_PLACE(simdiff_model_config, v1_model_config, level_channels);
SAME_PLACE(simdiff_model_config, v1_model_config, level_blocks);
SAME_PLACE(simdiff_model_config, v1_model_config, dropout_res);
SAME_PLACE(simdiff_model_config, v1_model_config, prediction);
SAME_PLACE(simdiff_optimizer_config, v1_optimizer_config, lr);
SAME_PLACE(simdiff_optimizer_config, v1_optimizer_config, decay);
SAME_PLACE(simdiff_optimizer_config, v1_optimizer_config, ema_decay);
SAME_PLACE(simdiff_trainer_config, v1_trainer_config, label_dropout);
SAME_PLACE(simdiff_trainer_config, v1_trainer_config, seed);
SAME_PLACE(simdiff_trainer_stats, v1_trainer_stats, lr);
SAME_PLACE(simdiff_distill_config, v1_distill_config, guidance);
SAME_PLACE(simdiff_distill_config, v1_distill_config, weighting);
SAME_PLACE(simdiff_sampler_config, v1_sampler_config, eta);
SAME_PLACE(simdiff_sampler_config, v1_sampler_config, schedule);
SAME_PLACE(simdiff_sampler_config, v1_sampler_config, batch_chunk);
SAME_PLACE(simdiff_image_folder_config, v1_image_folder_config, background);
SAME_PLACE(simdiff_image_folder_config, v1_image_folder_config, max_file_bytes);
SAME_PLACE(simdiff_edit, v1_edit, init);
SAME_PLACE(simdiff_edit, v1_edit, width);
SAME_PLACE(simdiff_edit, v1_edit, strength);
SAME_PLACE(simdiff_edit, v1_edit, mask);
SAME_PLACE(simdiff_edit, v1_edit, resample_jump);

/* End of the last v1 field: the smallest struct_size a library accepts. */
#define V1_END(V, last) (offsetof(V, last) + sizeof(((V *)0)->last))

/* ---- guarded caller buffers -------------------------------------------- */
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PAT 0xA5
#define GUARD 64
#define BUF_MAX 512
typedef struct guarded {
    alignas(16) unsigned char b[BUF_MAX + GUARD];
} guarded;

static void *fresh(guarded *g)
{
    memset(g->b, PAT, sizeof g->b);
    return g->b;
}

/* Bytes [from, to) still hold the pattern. */
static int untouched(const guarded *g, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (g->b[i] != PAT)
            return 0;
    return 1;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static size_t size_of(const guarded *g)
{
    size_t n;
    memcpy(&n, g->b, sizeof n);
    return n;
}

/* ---- init: each struct's _init_sized, through one adapter --------------- */
typedef simdiff_status (*init_fn)(void *p, size_t size);
static simdiff_status init_model(void *p, size_t n)
{
    return simdiff_model_config_init_sized(p, n, SIMDIFF_ARCH_UVIT, 16, 3);
}
static simdiff_status init_opt(void *p, size_t n) { return simdiff_optimizer_config_init_sized(p, n); }
static simdiff_status init_trainer(void *p, size_t n) { return simdiff_trainer_config_init_sized(p, n); }
static simdiff_status init_distill(void *p, size_t n) { return simdiff_distill_config_init_sized(p, n); }
static simdiff_status init_sampler(void *p, size_t n) { return simdiff_sampler_config_init_sized(p, n); }
static simdiff_status init_folder(void *p, size_t n) { return simdiff_image_folder_config_init_sized(p, n); }
static simdiff_status init_edit(void *p, size_t n) { return simdiff_edit_init_sized(p, n); }

static const struct initcase {
    const char *name;
    init_fn init;
    size_t v1_end, v1_sizeof, now_sizeof;
} inits[] = {
    {"simdiff_model_config", init_model, V1_END(v1_model_config, prediction),
     sizeof(v1_model_config), sizeof(simdiff_model_config)},
    {"simdiff_optimizer_config", init_opt, V1_END(v1_optimizer_config, ema_decay),
     sizeof(v1_optimizer_config), sizeof(simdiff_optimizer_config)},
    {"simdiff_trainer_config", init_trainer, V1_END(v1_trainer_config, seed),
     sizeof(v1_trainer_config), sizeof(simdiff_trainer_config)},
    {"simdiff_distill_config", init_distill, V1_END(v1_distill_config, weighting),
     sizeof(v1_distill_config), sizeof(simdiff_distill_config)},
    {"simdiff_sampler_config", init_sampler, V1_END(v1_sampler_config, batch_chunk),
     sizeof(v1_sampler_config), sizeof(simdiff_sampler_config)},
    {"simdiff_image_folder_config", init_folder, V1_END(v1_image_folder_config, max_file_bytes),
     sizeof(v1_image_folder_config), sizeof(simdiff_image_folder_config)},
    {"simdiff_edit", init_edit, V1_END(v1_edit, resample_jump), sizeof(v1_edit),
     sizeof(simdiff_edit)},
};

START_TEST(init_writes_exactly_the_callers_size)
{
    const struct initcase *c = &inits[_i];
    guarded g;
    /* An older caller (its sizeof, or its fields' end set by hand), this
     * header's struct, a newer caller 40 bytes larger. */
    const size_t sizes[] = {c->v1_end, c->v1_sizeof, c->now_sizeof, c->now_sizeof + 40};
    for (size_t k = 0; k < LEN(sizes); k++) {
        size_t n = sizes[k];
        ck_assert_int_eq(c->init(fresh(&g), n), SIMDIFF_OK);
        ck_assert_msg(untouched(&g, n, n + GUARD), "%s: init of %zu bytes wrote past them",
                      c->name, n);
        ck_assert_uint_eq(size_of(&g), n);
        if (n > c->now_sizeof)
            ck_assert(all_zero(g.b + c->now_sizeof, n - c->now_sizeof));
    }
    /* Truncated below the first layout, absurdly large, or NULL: refused,
     * nothing written. */
    const size_t bad[] = {0, sizeof(size_t), c->v1_end - 1, 4097, (size_t)1 << 40};
    for (size_t k = 0; k < LEN(bad); k++) {
        ck_assert_int_eq(c->init(fresh(&g), bad[k]), SIMDIFF_ERR_INVALID_ARG);
        ck_assert_msg(untouched(&g, 0, sizeof g.b), "%s: refused init wrote", c->name);
        ck_assert_ptr_nonnull(strstr(simdiff_last_error(), c->name));
    }
    ck_assert_int_eq(c->init(NULL, c->now_sizeof), SIMDIFF_ERR_INVALID_ARG);
}
END_TEST

/* The defaults an older caller reads through its own (v1) field names are
 * the documented ones (train.h, sampler.h, model.h). */
START_TEST(an_older_caller_reads_the_documented_defaults)
{
    guarded g;
    const v1_sampler_config *s = fresh(&g);
    ck_assert_int_eq(init_sampler(g.b, V1_END(v1_sampler_config, batch_chunk)), SIMDIFF_OK);
    ck_assert_int_eq(s->method, SIMDIFF_SAMPLER_DPMPP_2M);
    ck_assert_int_eq(s->steps, 32);
    ck_assert(s->eta == 0.0 && s->guidance == 1.0);
    ck_assert_int_eq(s->clip_x, 1);
    ck_assert_int_eq(s->spacing, SIMDIFF_SPACING_UNIFORM_T);
    ck_assert_ptr_null(s->schedule);
    ck_assert_int_eq(s->batch_chunk, 0);

    const v1_optimizer_config *o = fresh(&g);
    ck_assert_int_eq(init_opt(g.b, sizeof *o), SIMDIFF_OK);
    ck_assert(o->lr == 2e-4 && o->beta1 == 0.9 && o->beta2 == 0.99 && o->eps == 1e-8);
    ck_assert(o->weight_decay == 0.0 && o->warmup_steps == 500 && o->total_steps == 0);
    ck_assert(o->decay == SIMDIFF_LR_CONSTANT && o->min_lr_ratio == 0.1);
    ck_assert(o->clip_norm == 1.0 && o->ema_decay == 0.9995);

    const v1_trainer_config *t = fresh(&g);
    ck_assert_int_eq(init_trainer(g.b, sizeof *t), SIMDIFF_OK);
    ck_assert(t->loss == SIMDIFF_LOSS_EPS && t->multiscale_base == 32);
    ck_assert(t->label_dropout == 0.1 && t->stratified_t == 1 && t->seed == 0);

    const v1_model_config *m = fresh(&g);
    ck_assert_int_eq(init_model(g.b, sizeof *m), SIMDIFF_OK);
    ck_assert(m->arch == SIMDIFF_ARCH_UVIT && m->image_size == 16 && m->channels == 3);
    ck_assert(m->norm_groups == 32 && m->emb_dim == 256 && m->tf_width == 256);
    ck_assert(m->dropout_res == 0.1f && m->dropout_tf == 0.2f);
    ck_assert_int_eq(m->prediction, SIMDIFF_PRED_V);
}
END_TEST

/* ---- readers ------------------------------------------------------------ */

/* A small U-ViT at 8x8 (quick to build and to step). */
static void small_model_config(simdiff_model_config *c)
{
    ck_assert_int_eq(simdiff_model_config_init_sized(c, c->struct_size ? c->struct_size
                                                                        : sizeof *c,
                                                     SIMDIFF_ARCH_UVIT, 8, 1),
                     SIMDIFF_OK);
    c->num_levels = 1;
    c->level_channels[0] = 8;
    c->level_blocks[0] = 1;
    c->norm_groups = 4;
    c->emb_dim = 16;
    c->attn_resolution = 4;
    c->tf_width = 16;
    c->tf_depth = 1;
    c->tf_heads = 2;
    c->num_classes = 2;
}

/* A larger struct from a newer caller: this header's struct and 32 bytes
 * this library does not know. */
#define NEWER(T)                                                               \
    struct {                                                                   \
        T base;                                                                \
        unsigned char extra[32];                                               \
    }

static void assert_refused_newer(simdiff_status st, const char *name)
{
    ck_assert_int_eq(st, SIMDIFF_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(simdiff_last_error(), name), "message '%s' does not name %s",
                  simdiff_last_error(), name);
}

START_TEST(model_config_from_older_and_newer_callers)
{
    char msg[512];
    simdiff_model *m = NULL;
    /* Older: only the v1 fields (struct_size = their end). */
    NEWER(simdiff_model_config) nc;
    memset(&nc, 0, sizeof nc);
    nc.base.struct_size = V1_END(v1_model_config, prediction);
    small_model_config(&nc.base);
    ck_assert_int_eq(simdiff_model_config_validate(&nc.base, msg, sizeof msg), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_create(&m, &nc.base, 1), SIMDIFF_OK);
    simdiff_model_destroy(m);
    /* Truncated: refused, with the reason in msg. */
    nc.base.struct_size = V1_END(v1_model_config, prediction) - 4;
    ck_assert_int_eq(simdiff_model_config_validate(&nc.base, msg, sizeof msg),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg, "struct_size"));
    ck_assert_int_eq(simdiff_model_create(&m, &nc.base, 1), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    /* Newer: accepted while the unknown bytes are zero. */
    memset(&nc, 0, sizeof nc);
    nc.base.struct_size = sizeof nc;
    small_model_config(&nc.base);
    ck_assert_uint_eq(nc.base.struct_size, sizeof nc);
    ck_assert_int_eq(simdiff_model_config_validate(&nc.base, msg, sizeof msg), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_model_create(&m, &nc.base, 1), SIMDIFF_OK);
    simdiff_model_destroy(m);
    nc.extra[31] = 1;
    ck_assert_int_eq(simdiff_model_config_validate(&nc.base, msg, sizeof msg),
                     SIMDIFF_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(msg, "simdiff_model_config"));
    assert_refused_newer(simdiff_model_create(&m, &nc.base, 1), "simdiff_model_config");
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(model_get_config_writes_exactly_struct_size)
{
    simdiff_model_config want;
    want.struct_size = sizeof want;
    small_model_config(&want);
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &want, 2), SIMDIFF_OK);
    guarded g;
    /* Older caller, fields' end: the v1 fields, nothing past them. */
    size_t n = V1_END(v1_model_config, prediction);
    v1_model_config *v1 = fresh(&g);
    v1->struct_size = n;
    ck_assert_int_eq(simdiff_model_get_config(m, (simdiff_model_config *)g.b), SIMDIFF_OK);
    ck_assert(untouched(&g, n, n + GUARD));
    ck_assert_uint_eq(v1->struct_size, n);
    ck_assert(v1->arch == SIMDIFF_ARCH_UVIT && v1->image_size == 8 && v1->channels == 1);
    ck_assert(v1->level_channels[0] == 8 && v1->tf_width == 16 && v1->num_classes == 2);
    ck_assert(v1->norm_groups == 4 && v1->emb_dim == 16 && v1->tf_heads == 2);
    /* Newer caller: its unknown bytes come back zero, nothing past it. */
    n = sizeof(simdiff_model_config) + 24;
    fresh(&g);
    memcpy(g.b, &n, sizeof n);
    ck_assert_int_eq(simdiff_model_get_config(m, (simdiff_model_config *)g.b), SIMDIFF_OK);
    ck_assert(untouched(&g, n, n + GUARD));
    ck_assert(all_zero(g.b + sizeof(simdiff_model_config), 24));
    ck_assert_uint_eq(size_of(&g), n);
    /* Truncated: refused, untouched. */
    n = 12;
    fresh(&g);
    memcpy(g.b, &n, sizeof n);
    ck_assert_int_eq(simdiff_model_get_config(m, (simdiff_model_config *)g.b),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert(untouched(&g, sizeof n, sizeof g.b));
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(train_structs_from_older_and_newer_callers)
{
    simdiff_model_config mc;
    mc.struct_size = sizeof mc;
    small_model_config(&mc);
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &mc, 3), SIMDIFF_OK);
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 8, 64), SIMDIFF_OK);

    NEWER(simdiff_trainer_config) tc;
    NEWER(simdiff_optimizer_config) oc;
    memset(&tc, 0, sizeof tc);
    memset(&oc, 0, sizeof oc);
    ck_assert_int_eq(simdiff_trainer_config_init_sized(&tc.base, sizeof tc), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_optimizer_config_init_sized(&oc.base, sizeof oc), SIMDIFF_OK);
    oc.base.warmup_steps = 0;
    oc.base.lr = 1e-3;
    simdiff_trainer *t = NULL;
    /* Newer callers, unknown bytes zero: accepted. */
    ck_assert_int_eq(simdiff_trainer_create(&t, m, s, &tc.base, &oc.base), SIMDIFF_OK);
    simdiff_trainer_destroy(t);
    /* Unknown bytes set: refused, naming the struct. */
    tc.extra[0] = 7;
    assert_refused_newer(simdiff_trainer_create(&t, m, s, &tc.base, &oc.base),
                         "simdiff_trainer_config");
    ck_assert_ptr_null(t);
    tc.extra[0] = 0;
    oc.extra[17] = 7;
    assert_refused_newer(simdiff_trainer_create(&t, m, s, &tc.base, &oc.base),
                         "simdiff_optimizer_config");
    ck_assert_ptr_null(t);
    oc.extra[17] = 0;
    /* Older callers (fields' end) are read field for field: lr 1e-3 with no
     * warmup is what the trainer reports. Truncated: refused. */
    tc.base.struct_size = V1_END(v1_trainer_config, seed);
    oc.base.struct_size = V1_END(v1_optimizer_config, ema_decay);
    ck_assert_int_eq(simdiff_trainer_create(&t, m, s, &tc.base, &oc.base), SIMDIFF_OK);
    oc.base.struct_size -= 8;
    ck_assert_int_eq(simdiff_trainer_create(&(simdiff_trainer *){NULL}, m, s, &tc.base, &oc.base),
                     SIMDIFF_ERR_INVALID_ARG);
    tc.base.struct_size = 8;
    ck_assert_int_eq(simdiff_trainer_create(&(simdiff_trainer *){NULL}, m, s, &tc.base, NULL),
                     SIMDIFF_ERR_INVALID_ARG);

    /* One step, then the stats into an older caller's struct... */
    float x[2 * 64];
    for (int i = 0; i < 2 * 64; i++)
        x[i] = (i % 7) / 3.5f - 1.0f;
    double loss;
    ck_assert_int_eq(simdiff_trainer_step(t, 2, x, NULL, &loss), SIMDIFF_OK);
    guarded g;
    v1_trainer_stats *st = fresh(&g);
    st->struct_size = V1_END(v1_trainer_stats, lr);
    ck_assert_int_eq(simdiff_trainer_stats_get(t, (simdiff_trainer_stats *)g.b), SIMDIFF_OK);
    ck_assert(untouched(&g, V1_END(v1_trainer_stats, lr), V1_END(v1_trainer_stats, lr) + GUARD));
    ck_assert(st->step == 1 && st->skipped == 0 && st->lr == 1e-3);
    ck_assert(st->last_loss == loss);
    /* ... a newer caller's (unknown bytes zeroed) and a truncated one. */
    size_t n = sizeof(simdiff_trainer_stats) + 16;
    fresh(&g);
    memcpy(g.b, &n, sizeof n);
    ck_assert_int_eq(simdiff_trainer_stats_get(t, (simdiff_trainer_stats *)g.b), SIMDIFF_OK);
    ck_assert(untouched(&g, n, n + GUARD) && all_zero(g.b + n - 16, 16));
    ck_assert_uint_eq(size_of(&g), n);
    n = V1_END(v1_trainer_stats, lr) - 8;
    fresh(&g);
    memcpy(g.b, &n, sizeof n);
    ck_assert_int_eq(simdiff_trainer_stats_get(t, (simdiff_trainer_stats *)g.b),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert(untouched(&g, sizeof n, sizeof g.b));
    simdiff_trainer_destroy(t);
    simdiff_schedule_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

START_TEST(sampler_structs_from_older_and_newer_callers)
{
    simdiff_model_config mc;
    mc.struct_size = sizeof mc;
    small_model_config(&mc);
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &mc, 4), SIMDIFF_OK);
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 8, 64), SIMDIFF_OK);
    simdiff_sampler *smp = NULL;

    NEWER(simdiff_sampler_config) nc;
    memset(&nc, 0, sizeof nc);
    ck_assert_int_eq(simdiff_sampler_config_init_sized(&nc.base, sizeof nc), SIMDIFF_OK);
    nc.base.schedule = s;
    nc.base.steps = 7;
    nc.base.guidance = 2.5;
    ck_assert_int_eq(simdiff_sampler_create(&smp, m, &nc.base), SIMDIFF_OK);
    simdiff_sampler_destroy(smp);
    nc.extra[5] = 1;
    assert_refused_newer(simdiff_sampler_create(&smp, m, &nc.base), "simdiff_sampler_config");
    ck_assert_ptr_null(smp);
    assert_refused_newer(simdiff_sampler_set_model_defaults(m, &nc.base),
                         "simdiff_sampler_config");
    nc.extra[5] = 0;

    /* This header's own struct: its trailing padding (if any) is where a
     * later field will go, so it must be zero too. */
    size_t end = V1_END(v1_sampler_config, batch_chunk);
    size_t fields_end =
        offsetof(simdiff_sampler_config, guidance_logsnr_max) + sizeof nc.base.guidance_logsnr_max;
    nc.base.struct_size = sizeof nc.base;
    if (sizeof nc.base > fields_end) {
        ((unsigned char *)&nc.base)[fields_end] = 1;
        assert_refused_newer(simdiff_sampler_create(&smp, m, &nc.base),
                             "simdiff_sampler_config");
        ((unsigned char *)&nc.base)[fields_end] = 0;
    }

    /* An older caller's settings (fields' end) are stored field for field
     * and come back into an older caller's struct, nothing written past it. */
    nc.base.struct_size = end;
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &nc.base), SIMDIFF_OK);
    guarded g;
    const v1_sampler_config *v1 = fresh(&g);
    ck_assert_int_eq(simdiff_sampler_config_init_for_model_sized((simdiff_sampler_config *)g.b,
                                                                 end, m),
                     SIMDIFF_OK);
    ck_assert(untouched(&g, end, end + GUARD));
    ck_assert(v1->steps == 7 && v1->guidance == 2.5 && v1->method == SIMDIFF_SAMPLER_DPMPP_2M);
    ck_assert_uint_eq(v1->struct_size, end);
    ck_assert_int_eq(simdiff_sampler_create(&smp, m, &nc.base), SIMDIFF_OK);
    simdiff_sampler_destroy(smp);
    /* Truncated: refused everywhere, nothing written. */
    nc.base.struct_size = end - 4;
    ck_assert_int_eq(simdiff_sampler_create(&smp, m, &nc.base), SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_sampler_set_model_defaults(m, &nc.base), SIMDIFF_ERR_INVALID_ARG);
    fresh(&g);
    ck_assert_int_eq(simdiff_sampler_config_init_for_model_sized((simdiff_sampler_config *)g.b,
                                                                 end - 4, m),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert(untouched(&g, 0, sizeof g.b));
    simdiff_schedule_destroy(s);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("struct-growth");
    TCase *tc = tcase_create("sizes");
    tcase_add_loop_test(tc, init_writes_exactly_the_callers_size, 0, (int)LEN(inits));
    tcase_add_test(tc, an_older_caller_reads_the_documented_defaults);
    tcase_add_test(tc, model_config_from_older_and_newer_callers);
    tcase_add_test(tc, model_get_config_writes_exactly_struct_size);
    tcase_add_test(tc, train_structs_from_older_and_newer_callers);
    tcase_add_test(tc, sampler_structs_from_older_and_newer_callers);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(make_suite)
