/* Data-parallel training without MPI: the gradient-reduction hook and
 * simdiff_trainer_step_part. Two "processes" are two trainers of identical
 * models in this one process; their hooks exchange the gradient sums the
 * way an ordered MPI reduction does (rank 0's buffer, then rank 1's,
 * added in that order). docs/distributed.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdtest.h"
#include "train/trainer_internal.h"

#define B 8 /* the global batch */

/* The tiny U-ViT of the train tests, with dropout on (its masks must come
 * from the global example index too). */
static simdiff_model *model(void)
{
    simdiff_model_config cfg;
    sdtest_tiny_uvit_config(&cfg);
    cfg.dropout_res = 0.2f;
    cfg.dropout_tf = 0.2f;
    simdiff_model *m;
    ck_assert_int_eq(simdiff_model_create(&m, &cfg, 5), SIMDIFF_OK);
    return m;
}

static simdiff_trainer *trainer(simdiff_model *m)
{
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 8, 64), SIMDIFF_OK);
    simdiff_trainer_config tc;
    simdiff_optimizer_config oc;
    simdiff_trainer_config_init(&tc);
    simdiff_optimizer_config_init(&oc);
    tc.seed = 11;
    tc.label_dropout = 0.3;
    oc.lr = 3e-3;
    oc.warmup_steps = 0;
    oc.ema_decay = 0.9;
    simdiff_trainer *t;
    ck_assert_int_eq(simdiff_trainer_create(&t, m, s, &tc, &oc), SIMDIFF_OK);
    simdiff_schedule_destroy(s);
    return t;
}

/* The global batch of step k: random images in [-1, 1], labels 0..2. */
static void batch(int k, float *x, int *labels)
{
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
    for (int i = 0; i < B * 64; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((double)(s >> 11) * 0x1p-53 * 2 - 1);
    }
    for (int i = 0; i < B; i++)
        labels[i] = (i * 7 + k) % 3;
}

/* What the simulated reduction passes between the two trainers. */
typedef struct exchange {
    int64_t count;
    float *grad0, *sum;       /* rank 0's buffer; the reduced buffer */
    double sums0[3], sums[3]; /* the same for the scalars            */
    int calls;
} exchange;

/* Rank 0, first pass: hand over its part and fail, so nothing changes. */
static int hook_rank0_send(void *user, float *grad, int64_t count, double *sums)
{
    exchange *e = user;
    e->calls++;
    e->count = count;
    memcpy(e->grad0, grad, (size_t)count * sizeof(float));
    memcpy(e->sums0, sums, sizeof e->sums0);
    return 1;
}

/* Rank 1: rank 0's part + its own, in rank order; keep the result. */
static int hook_rank1_sum(void *user, float *grad, int64_t count, double *sums)
{
    exchange *e = user;
    e->calls++;
    ck_assert_int_eq(count, e->count);
    for (int64_t j = 0; j < count; j++)
        e->sum[j] = grad[j] = e->grad0[j] + grad[j];
    for (int k = 0; k < 3; k++)
        e->sums[k] = sums[k] = e->sums0[k] + sums[k];
    return 0;
}

/* Rank 0, second pass: the same part as before, then the reduced values. */
static int hook_rank0_recv(void *user, float *grad, int64_t count, double *sums)
{
    exchange *e = user;
    e->calls++;
    ck_assert_int_eq(memcmp(grad, e->grad0, (size_t)count * sizeof(float)), 0);
    memcpy(grad, e->sum, (size_t)count * sizeof(float));
    memcpy(sums, e->sums, sizeof e->sums);
    return 0;
}

static void assert_same_state(const simdiff_trainer *a, const simdiff_trainer *b, const char *what)
{
    size_t bytes = (size_t)a->m->total * sizeof(float);
    ck_assert_int_eq(a->step, b->step);
    ck_assert_msg(!memcmp(a->m->data, b->m->data, bytes), "%s: weights differ", what);
    ck_assert_msg(!memcmp(a->opt->mom, b->opt->mom, bytes), "%s: first moments differ", what);
    ck_assert_msg(!memcmp(a->opt->var, b->opt->var, bytes), "%s: second moments differ", what);
    ck_assert_msg(!memcmp(a->opt->ema, b->opt->ema, bytes), "%s: EMA differs", what);
}

/* sqrt(sum (a-b)^2 / sum b^2) over the weights */
static double rel_diff(const simdiff_model *a, const simdiff_model *b)
{
    double num = 0, den = 0;
    for (int64_t j = 0; j < a->total; j++) {
        double d = (double)a->data[j] - b->data[j];
        num += d * d;
        den += (double)b->data[j] * b->data[j];
    }
    return sqrt(num / den);
}

/* 2 processes x B/2, summed in rank order == 1 process with 2 microbatches,
 * bit for bit (weights, moments, EMA, loss), over several steps. */
START_TEST(two_parts_equal_two_microbatches)
{
    simdiff_model *m0 = model(), *m1 = model(), *mc = model();
    simdiff_trainer *t0 = trainer(m0), *t1 = trainer(m1), *tc = trainer(mc);
    exchange e = {0};
    e.grad0 = malloc((size_t)m0->total * sizeof(float));
    e.sum = malloc((size_t)m0->total * sizeof(float));
    ck_assert(e.grad0 && e.sum);
    float x[B * 64];
    int labels[B];
    for (int k = 0; k < 4; k++) {
        batch(k, x, labels);
        double lc, l0, l1;
        ck_assert_int_eq(simdiff_trainer_step_part(tc, B, 0, B, 2, x, labels, NULL, &lc), SIMDIFF_OK);
        /* rank 0 hands over its part; its failed hook changes nothing */
        simdiff_trainer_set_grad_reduce(t0, hook_rank0_send, &e);
        ck_assert_int_eq(simdiff_trainer_step_part(t0, B, 0, B / 2, 1, x, labels, NULL, &l0),
                         SIMDIFF_ERR_IO);
        ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t0), "reduction"));
        ck_assert_int_eq(t0->step, k);
        ck_assert_double_eq(e.sums0[SIMDIFF_REDUCE_COUNT], B / 2);
        simdiff_trainer_set_grad_reduce(t1, hook_rank1_sum, &e);
        ck_assert_int_eq(simdiff_trainer_step_part(t1, B, B / 2, B / 2, 1, x + B / 2 * 64,
                                                   labels + B / 2, NULL, &l1),
                         SIMDIFF_OK);
        simdiff_trainer_set_grad_reduce(t0, hook_rank0_recv, &e);
        ck_assert_int_eq(simdiff_trainer_step_part(t0, B, 0, B / 2, 1, x, labels, NULL, &l0),
                         SIMDIFF_OK);
        ck_assert_double_eq(e.sums[SIMDIFF_REDUCE_COUNT], B);
        ck_assert(isfinite(lc));
        ck_assert(l0 == lc && l1 == lc);
        assert_same_state(t0, tc, "rank 0 vs microbatches");
        assert_same_state(t1, tc, "rank 1 vs microbatches");
    }
    ck_assert_int_eq(e.calls, 12);
    free(e.grad0);
    free(e.sum);
    simdiff_trainer_destroy(t0);
    simdiff_trainer_destroy(t1);
    simdiff_trainer_destroy(tc);
    simdiff_model_destroy(m0);
    simdiff_model_destroy(m1);
    simdiff_model_destroy(mc);
}
END_TEST

/* Microbatches see the whole batch's examples: t stratified over all B,
 * noise, label and dropout draws by global index. The loss then equals the
 * whole-batch step's to float rounding, and the weights after several steps
 * stay within rounding of it (with per-part indices the second half would
 * reuse the first half's noise and times: a different loss). */
START_TEST(microbatches_track_the_whole_batch)
{
    simdiff_model *ma = model(), *mb = model();
    simdiff_trainer *ta = trainer(ma), *tb = trainer(mb);
    float x[B * 64];
    int labels[B];
    for (int k = 0; k < 4; k++) {
        batch(k, x, labels);
        double la, lb;
        ck_assert_int_eq(simdiff_trainer_step(ta, B, x, labels, &la), SIMDIFF_OK);
        ck_assert_int_eq(simdiff_trainer_step_part(tb, B, 0, B, 4, x, labels, NULL, &lb), SIMDIFF_OK);
        ck_assert_msg(fabs(la - lb) <= 1e-5 * fabs(la), "step %d: loss %.9g vs %.9g", k, la,
                      lb);
    }
    double r = rel_diff(mb, ma);
    ck_assert_msg(r < 1e-4, "weights differ by %g (relative)", r);
    simdiff_trainer_destroy(ta);
    simdiff_trainer_destroy(tb);
    simdiff_model_destroy(ma);
    simdiff_model_destroy(mb);
}
END_TEST

/* What the hook receives: the part's example count, the sum of its example
 * losses, the flag, and a buffer of every parameter (the sum of per-example
 * gradients: count x the mean gradient). */
static int hook_inspect(void *user, float *grad, int64_t count, double *sums)
{
    double *seen = user;
    seen[0] = (double)count;
    seen[1] = sums[SIMDIFF_REDUCE_LOSS];
    seen[2] = sums[SIMDIFF_REDUCE_COUNT];
    seen[3] = sums[SIMDIFF_REDUCE_NONFINITE];
    double s = 0;
    for (int64_t j = 0; j < count; j++)
        s += (double)grad[j] * grad[j];
    seen[4] = sqrt(s);
    return 0;
}

START_TEST(hook_sees_sums_of_its_part)
{
    simdiff_model *m = model();
    simdiff_trainer *t = trainer(m);
    double seen[5] = {0};
    simdiff_trainer_set_grad_reduce(t, hook_inspect, seen);
    float x[B * 64];
    int labels[B];
    batch(0, x, labels);
    double loss;
    ck_assert_int_eq(simdiff_trainer_step_part(t, B, 2, 3, 1, x, labels, NULL, &loss), SIMDIFF_OK);
    ck_assert_int_ge((int64_t)seen[0], simdiff_model_num_params(m));
    ck_assert_double_eq(seen[2], 3);
    ck_assert_double_eq(seen[3], 0);
    ck_assert_double_eq_tol(seen[1], 3 * loss, 1e-12 * fabs(loss));
    simdiff_trainer_stats st = {.struct_size = sizeof st};
    ck_assert_int_eq(simdiff_trainer_stats_get(t, &st), SIMDIFF_OK);
    /* the norm of the mean gradient the update used = |sum| / count */
    ck_assert_double_eq_tol(st.last_grad_norm, seen[4] / 3, 1e-5 * st.last_grad_norm);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
}
END_TEST

static int hook_fail(void *user, float *grad, int64_t count, double *sums)
{
    (void)user, (void)grad, (void)count, (void)sums;
    return 7;
}
static int hook_nonfinite(void *user, float *grad, int64_t count, double *sums)
{
    (void)user, (void)grad, (void)count;
    sums[SIMDIFF_REDUCE_NONFINITE] = 1; /* another process saw a NaN */
    return 0;
}
static int hook_zero_count(void *user, float *grad, int64_t count, double *sums)
{
    (void)user, (void)grad, (void)count;
    sums[SIMDIFF_REDUCE_COUNT] = 0;
    return 0;
}

/* A failed reduction changes nothing; a non-finite flag from any process
 * skips the update everywhere; misuse and bad arguments are refused. */
START_TEST(failures_change_nothing)
{
    simdiff_model *m = model();
    simdiff_trainer *t = trainer(m);
    size_t bytes = (size_t)m->total * sizeof(float);
    float *w0 = malloc(bytes);
    memcpy(w0, m->data, bytes);
    float x[B * 64];
    int labels[B];
    batch(0, x, labels);
    double loss = 0;
    simdiff_trainer_set_grad_reduce(t, hook_fail, NULL);
    ck_assert_int_eq(simdiff_trainer_step_part(t, B, 0, B, 2, x, labels, NULL, &loss), SIMDIFF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "returned 7"));
    ck_assert_int_eq(t->step, 0);
    ck_assert(!memcmp(w0, m->data, bytes));

    simdiff_trainer_set_grad_reduce(t, hook_nonfinite, NULL);
    ck_assert_int_eq(simdiff_trainer_step_part(t, B, 0, B, 1, x, labels, NULL, &loss), SIMDIFF_OK);
    ck_assert(isnan(loss));
    simdiff_trainer_stats st = {.struct_size = sizeof st};
    simdiff_trainer_stats_get(t, &st);
    ck_assert_int_eq(st.step, 1);
    ck_assert_int_eq(st.skipped, 1);
    ck_assert(!memcmp(w0, m->data, bytes));

    simdiff_trainer_set_grad_reduce(t, hook_zero_count, NULL);
    ck_assert_int_eq(simdiff_trainer_step_part(t, B, 0, B, 1, x, labels, NULL, &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(t->step, 1);

    /* the plain step would skip the reduction: refused while a hook is set */
    ck_assert_int_eq(simdiff_trainer_step(t, B, x, labels, &loss), SIMDIFF_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(simdiff_trainer_errmsg(t), "step_part"));
    ck_assert_int_eq(simdiff_trainer_set_grad_reduce(t, NULL, NULL), SIMDIFF_OK);
    ck_assert_int_eq(simdiff_trainer_set_grad_reduce(NULL, NULL, NULL), SIMDIFF_ERR_INVALID_ARG);

    const int bad[][4] = {/* batch, first, n, chunks */
                          {B, -1, 4, 1}, {B, 6, 4, 1}, {B, 0, 0, 1}, {0, 0, 1, 1},
                          {B, 0, 4, 0},  {B, 0, 4, 5}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(simdiff_trainer_step_part(t, bad[i][0], bad[i][1], bad[i][2], bad[i][3],
                                                x, labels, NULL, &loss) == SIMDIFF_ERR_INVALID_ARG,
                      "case %zu", i);
    ck_assert_int_eq(simdiff_trainer_step_part(t, B, 0, B, 1, NULL, labels, NULL, &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(simdiff_trainer_step_part(NULL, B, 0, B, 1, x, labels, NULL, &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    labels[3] = 9;
    ck_assert_int_eq(simdiff_trainer_step_part(t, B, 0, B, 1, x, labels, NULL, &loss),
                     SIMDIFF_ERR_INVALID_ARG);
    ck_assert_int_eq(t->step, 1);
    ck_assert(!memcmp(w0, m->data, bytes));
    free(w0);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train-distributed");
    TCase *tc = tcase_create("train-distributed");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, two_parts_equal_two_microbatches);
    tcase_add_test(tc, microbatches_track_the_whole_batch);
    tcase_add_test(tc, hook_sees_sums_of_its_part);
    tcase_add_test(tc, failures_change_nothing);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(suite)
