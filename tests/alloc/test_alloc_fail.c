/*
 * Allocation-failure injection (docs/reliability.md, "Allocation
 * failures"): this program is linked with -Wl,--wrap=malloc,calloc,
 * realloc,posix_memalign, so every allocation the library's own code makes
 * (the internal static library's objects are linked in) goes through the
 * wrappers below, which can make the k-th one fail. Each case sweeps k
 * from 1 until the operation runs with no injected failure: every call
 * must give SIMDIFF_OK or SIMDIFF_ERR_NOMEM, leave *out NULL on failure,
 * and the handles it was given stay usable (the same operation succeeds
 * right after). Under the sanitizer build LeakSanitizer checks that no
 * failure path leaks. oneDNN's and libc's own allocations (strdup, libpng,
 * zlib internals) are not wrapped: they are outside this sweep.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "simdiff/model.h"
#include "simdiff/sampler.h"
#include "simdiff/schedule.h"
#include "simdiff/train.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

static long fail_at;  /* 0: off; else the allocation number that fails */
static long count;    /* allocations since arm() */
static int injected;  /* whether the failure happened */

static int should_fail(void)
{
    if (fail_at && ++count == fail_at) {
        injected = 1;
        return 1;
    }
    return 0;
}
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return should_fail() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    return should_fail() ? 12 /* ENOMEM */ : __real_posix_memalign(p, a, n);
}

static void arm(long k) { fail_at = k; count = 0; injected = 0; }
static void disarm(void) { fail_at = 0; }

typedef simdiff_status (*op_fn)(void *ctx);

/* Sweep k = 1, 2, ... over op until it runs with no failure injected;
 * returns the number of allocations the operation makes. */
static long sweep(const char *what, op_fn op, void *ctx)
{
    for (long k = 1;; k++) {
        arm(k);
        simdiff_status st = op(ctx);
        int hit = injected;
        disarm();
        if (!hit) {
            ck_assert_msg(st == SIMDIFF_OK, "%s without a failure: %d %s", what, st,
                          simdiff_last_error());
            return k - 1;
        }
        ck_assert_msg(st == SIMDIFF_OK || st == SIMDIFF_ERR_NOMEM,
                      "%s, allocation %ld failing: status %d (%s)", what, k, st,
                      simdiff_last_error());
        ck_assert_msg(k < 1000000, "%s: no end", what);
    }
}

static void tiny_config(simdiff_model_config *cfg)
{
    ck_assert_int_eq(simdiff_model_config_init(cfg, SIMDIFF_ARCH_UVIT, 8, 1), SIMDIFF_OK);
    cfg->num_levels = 1;
    cfg->level_channels[0] = 4;
    cfg->level_blocks[0] = 1;
    cfg->norm_groups = 2;
    cfg->emb_dim = 8;
    cfg->attn_resolution = 4;
    cfg->tf_width = 8;
    cfg->tf_depth = 1;
    cfg->tf_heads = 2;
    cfg->tf_mlp_ratio = 1;
    cfg->num_classes = 2;
    cfg->dropout_max_resolution = 4;
}

typedef struct fx {
    simdiff_model *m;
    simdiff_schedule *s;
    simdiff_trainer *t;
    const char *model_path, *ckpt_path;
} fx;

static void fx_make(fx *f)
{
    simdiff_model_config cfg;
    tiny_config(&cfg);
    ck_assert_int_eq(simdiff_model_create(&f->m, &cfg, 1), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_schedule_create_shifted(&f->s, 8, 8), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_trainer_create(&f->t, f->m, f->s, NULL, NULL), SIMDIFF_OK);
    const char *dir = sdtest_work_dir();
    f->model_path = strdup(sdtest_path(dir, "tiny.safetensors"));
    f->ckpt_path = strdup(sdtest_path(dir, "tiny.sdc"));
    ck_assert_int_eq(simdiff_trainer_export(f->t, f->model_path, 0), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_trainer_save(f->t, f->ckpt_path), SIMDIFF_OK);
}

static void fx_free(fx *f)
{
    simdiff_trainer_destroy(f->t);
    simdiff_schedule_destroy(f->s);
    simdiff_model_destroy(f->m);
    free((void *)f->model_path);
    free((void *)f->ckpt_path);
}

static simdiff_status op_model_load(void *ctx)
{
    fx *f = ctx;
    simdiff_model *m = NULL;
    simdiff_status st = simdiff_model_load(&m, f->model_path);
    ck_assert(st == SIMDIFF_OK || m == NULL);
    simdiff_model_destroy(m);
    return st;
}

static simdiff_status op_checkpoint_model_load(void *ctx)
{
    fx *f = ctx;
    simdiff_model *m = NULL;
    simdiff_status st = simdiff_model_load(&m, f->ckpt_path);
    ck_assert(st == SIMDIFF_OK || m == NULL);
    simdiff_model_destroy(m);
    return st;
}

static simdiff_status op_trainer_load(void *ctx)
{
    fx *f = ctx;
    simdiff_model *m = NULL;
    simdiff_trainer *t = NULL;
    simdiff_status st = simdiff_trainer_load(&t, &m, f->ckpt_path);
    ck_assert(st == SIMDIFF_OK || (m == NULL && t == NULL));
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
    return st;
}

static simdiff_status op_trainer_save(void *ctx)
{
    fx *f = ctx;
    return simdiff_trainer_save(f->t, f->ckpt_path);
}

static simdiff_status op_export(void *ctx)
{
    fx *f = ctx;
    return simdiff_trainer_export(f->t, f->model_path, 1);
}

static simdiff_status op_trainer_create(void *ctx)
{
    fx *f = ctx;
    simdiff_trainer_destroy(f->t);
    f->t = NULL;
    simdiff_status st = simdiff_trainer_create(&f->t, f->m, f->s, NULL, NULL);
    ck_assert(st == SIMDIFF_OK || f->t == NULL);
    if (st != SIMDIFF_OK) /* leave a trainer for the next sweep */
        ck_assert_int_eq(simdiff_trainer_create(&f->t, f->m, f->s, NULL, NULL), SIMDIFF_OK);
    return st;
}

static simdiff_status op_sampler(void *ctx)
{
    fx *f = ctx;
    simdiff_sampler_config sc;
    simdiff_sampler_config_init(&sc);
    sc.steps = 2;
    simdiff_sampler *s = NULL;
    simdiff_status st = simdiff_sampler_create(&s, f->m, &sc);
    if (st != SIMDIFF_OK) {
        ck_assert(s == NULL);
        return st;
    }
    float out[2 * 8 * 8];
    int labels[2] = {0, 1};
    st = simdiff_sampler_run(s, 2, labels, 7, out);
    simdiff_sampler_destroy(s);
    return st;
}

#define SWEEP(name, op)                                                             \
    START_TEST(name)                                                                \
    {                                                                               \
        fx f;                                                                       \
        fx_make(&f);                                                                \
        long n = sweep(#name, op, &f);                                              \
        ck_assert_msg(n > 0, "no allocation was swept");                            \
        /* the handles are still usable: the operation works once more */          \
        ck_assert_int_eq(op(&f), SIMDIFF_OK);                                       \
        fx_free(&f);                                                                \
    }                                                                               \
    END_TEST

SWEEP(model_load_fails_cleanly, op_model_load)
SWEEP(checkpoint_model_load_fails_cleanly, op_checkpoint_model_load)
SWEEP(trainer_load_fails_cleanly, op_trainer_load)
SWEEP(trainer_create_fails_cleanly, op_trainer_create)
SWEEP(trainer_save_fails_cleanly, op_trainer_save)
SWEEP(export_fails_cleanly, op_export)
SWEEP(sampler_create_and_run_fail_cleanly, op_sampler)

static Suite *suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, model_load_fails_cleanly);
    tcase_add_test(tc, checkpoint_model_load_fails_cleanly);
    tcase_add_test(tc, trainer_load_fails_cleanly);
    tcase_add_test(tc, trainer_create_fails_cleanly);
    tcase_add_test(tc, trainer_save_fails_cleanly);
    tcase_add_test(tc, export_fails_cleanly);
    tcase_add_test(tc, sampler_create_and_run_fail_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
