/*
 * Allocation-failure injection (docs/reliability.md, "Allocation
 * failures"): this program is linked with -Wl,--wrap=malloc,calloc,
 * realloc,posix_memalign,dnnl_primitive_create (tests/alloc/meson.build),
 * so every allocation the library's own code makes (the internal static
 * library's objects are linked in) and every oneDNN primitive it creates
 * go through the wrappers below, which can make the k-th one fail. Each
 * case sweeps k from 1 until the operation runs with no injected failure:
 * every call must give SIMDIFF_OK or SIMDIFF_ERR_NOMEM, leave its out
 * pointers NULL on failure, and the handles it was given stay usable (the
 * same operation succeeds right after). Under the sanitizer build
 * LeakSanitizer checks that no failure path leaks.
 *
 * Failures are injected only inside the library calls themselves (between
 * ON and OFF below), never in the test's or Check's own allocations.
 * oneDNN's internal allocations and libc's (strdup, libpng, zlib) are not
 * wrapped: they are outside this sweep. Operations with more than SWEEP_ALL
 * allocations are swept at every k up to it and then at a stride that
 * keeps about SWEEP_ALL more points (the count is printed).
 */
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "simdiff/io.h"
#include "simdiff/model.h"
#include "simdiff/sampler.h"
#include "simdiff/schedule.h"
#include "simdiff/train.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
dnnl_status_t __real_dnnl_primitive_create(dnnl_primitive_t *p, const_dnnl_primitive_desc_t pd);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
dnnl_status_t __wrap_dnnl_primitive_create(dnnl_primitive_t *p, const_dnnl_primitive_desc_t pd);

static long fail_at;  /* 0: off; else the allocation number that fails */
static long count;    /* allocations inside library calls since arm() */
static int injected;  /* whether the failure happened */
static int active;    /* inside a library call (ON .. OFF) */
#define ON() (active = 1)
#define OFF() (active = 0)

static int should_fail(void)
{
    if (active && fail_at && ++count == fail_at) {
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
dnnl_status_t __wrap_dnnl_primitive_create(dnnl_primitive_t *p, const_dnnl_primitive_desc_t pd)
{
    return should_fail() ? dnnl_out_of_memory : __real_dnnl_primitive_create(p, pd);
}

static void arm(long k)
{
    fail_at = k;
    count = 0;
    injected = 0;
}
static void disarm(void) { fail_at = 0; }

typedef simdiff_status (*op_fn)(void *ctx);

#define SWEEP_ALL 400

/* Sweep k over op until it runs with no failure injected; returns the
 * number of allocations the operation makes. */
static long sweep(const char *what, op_fn op, void *ctx)
{
    /* The count first: the operation with no failure. */
    arm(-1);
    simdiff_status st = op(ctx);
    long total = count;
    disarm();
    ck_assert_msg(st == SIMDIFF_OK, "%s without a failure: %d %s", what, st,
                  simdiff_last_error());
    long stride = total > SWEEP_ALL ? (total - SWEEP_ALL) / SWEEP_ALL + 1 : 1;
    for (long k = 1; k <= total; k += k < SWEEP_ALL ? 1 : stride) {
        arm(k);
        st = op(ctx);
        int hit = injected;
        disarm();
        ck_assert_msg(hit, "%s: allocation %ld of %ld was not reached", what, k, total);
        ck_assert_msg(st == SIMDIFF_OK || st == SIMDIFF_ERR_NOMEM,
                      "%s, allocation %ld of %ld failing: status %d (%s)", what, k, total, st,
                      simdiff_last_error());
    }
    if (stride == 1)
        fprintf(stderr, "# %s: %ld allocations, each made to fail in turn\n", what, total);
    else
        fprintf(stderr, "# %s: %ld allocations, each of the first %d made to fail, then every "
                        "%ld-th\n", what, total, SWEEP_ALL, stride);
    return total;
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
    sdtest_tiny_uvit_config(&cfg);
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
    ON();
    simdiff_status st = simdiff_model_load(&m, f->model_path);
    OFF();
    ck_assert(st == SIMDIFF_OK || m == NULL);
    simdiff_model_destroy(m);
    return st;
}

static simdiff_status op_checkpoint_model_load(void *ctx)
{
    fx *f = ctx;
    simdiff_model *m = NULL;
    ON();
    simdiff_status st = simdiff_model_load(&m, f->ckpt_path);
    OFF();
    ck_assert(st == SIMDIFF_OK || m == NULL);
    simdiff_model_destroy(m);
    return st;
}

static simdiff_status op_trainer_load(void *ctx)
{
    fx *f = ctx;
    simdiff_model *m = NULL;
    simdiff_trainer *t = NULL;
    ON();
    simdiff_status st = simdiff_trainer_load(&t, &m, f->ckpt_path);
    OFF();
    ck_assert(st == SIMDIFF_OK || (m == NULL && t == NULL));
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
    return st;
}

static simdiff_status op_trainer_save(void *ctx)
{
    fx *f = ctx;
    ON();
    simdiff_status st = simdiff_trainer_save(f->t, f->ckpt_path);
    OFF();
    return st;
}

static simdiff_status op_export(void *ctx)
{
    fx *f = ctx;
    ON();
    simdiff_status st = simdiff_trainer_export(f->t, f->model_path, 1);
    OFF();
    return st;
}

static simdiff_status op_trainer_create(void *ctx)
{
    fx *f = ctx;
    simdiff_trainer *t = NULL;
    ON();
    simdiff_status st = simdiff_trainer_create(&t, f->m, f->s, NULL, NULL);
    OFF();
    ck_assert(st == SIMDIFF_OK || t == NULL);
    simdiff_trainer_destroy(t);
    return st;
}

/* The first training step of a new trainer (its scratch, activations and
 * oneDNN primitives are made then); after a failed step the same trainer
 * must step again. */
static simdiff_status op_trainer_step(void *ctx)
{
    fx *f = ctx;
    float x[4 * 64];
    for (int i = 0; i < 4 * 64; i++)
        x[i] = (float)((i * 37) % 19) / 9.5f - 1.0f;
    int labels[4] = {0, 1, 2, -1};
    double loss = 0;
    simdiff_trainer *t;
    ck_assert_int_eq(simdiff_trainer_create(&t, f->m, f->s, NULL, NULL), SIMDIFF_OK);
    ON();
    simdiff_status st = simdiff_trainer_step(t, 4, x, labels, &loss);
    OFF();
    if (st == SIMDIFF_ERR_NOMEM) {
        long k = fail_at;
        disarm();
        ck_assert_msg(simdiff_trainer_step(t, 4, x, labels, &loss) == SIMDIFF_OK,
                      "a step after allocation %ld failed: %s", k, simdiff_trainer_errmsg(t));
        fail_at = k;
    }
    simdiff_trainer_destroy(t);
    return st;
}

static simdiff_status op_sampler(void *ctx)
{
    fx *f = ctx;
    /* A fixed thread count: with adaptation a busy machine gives a run
     * fewer threads than the counting run had, and other allocations (a
     * primitive made for that count), so the sweep would miss some. */
    simdiff_set_adaptive_threads(0);
    simdiff_sampler_config sc;
    simdiff_sampler_config_init(&sc);
    sc.steps = 2;
    simdiff_sampler *s = NULL;
    float out[2 * 8 * 8];
    int labels[2] = {0, 1};
    ON();
    simdiff_status st = simdiff_sampler_create(&s, f->m, &sc);
    OFF();
    if (st != SIMDIFF_OK) {
        ck_assert(s == NULL);
        return st;
    }
    ON();
    st = simdiff_sampler_run(s, 2, labels, 7, out);
    OFF();
    simdiff_sampler_destroy(s);
    return st;
}

static simdiff_status op_read_npy(void *ctx)
{
    (void)ctx;
    static char path[4096];
    if (!path[0]) {
        float x[2 * 3 * 5];
        for (int i = 0; i < 30; i++)
            x[i] = (float)i - 7.5f;
        const int64_t sh[3] = {2, 3, 5};
        snprintf(path, sizeof path, "%s", sdtest_path(sdtest_work_dir(), "a.npy"));
        ck_assert_int_eq(simdiff_write_npy_f32(path, 3, sh, x), SIMDIFF_OK);
    }
    int64_t shape[4] = {-1, -1, -1, -1};
    int ndim = -1;
    float *data = NULL;
    ON();
    simdiff_status st = simdiff_read_npy_f32(path, 4, shape, &ndim, &data);
    OFF();
    if (st == SIMDIFF_OK)
        ck_assert(ndim == 3 && shape[2] == 5 && data && data[29] == 21.5f);
    else
        ck_assert(data == NULL && ndim == -1 && shape[0] == -1);
    simdiff_free(data);
    return st;
}

#define SWEEP(name, op)                                                             \
    START_TEST(name)                                                                \
    {                                                                               \
        fx f;                                                                       \
        fx_make(&f);                                                                \
        ck_assert_int_eq(op(&f), SIMDIFF_OK); /* first-use work out of the count */ \
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
SWEEP(trainer_step_fails_cleanly, op_trainer_step)
SWEEP(sampler_create_and_run_fail_cleanly, op_sampler)
SWEEP(read_npy_fails_cleanly, op_read_npy)

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
    tcase_add_test(tc, trainer_step_fails_cleanly);
    tcase_add_test(tc, sampler_create_and_run_fail_cleanly);
    tcase_add_test(tc, read_npy_fails_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
