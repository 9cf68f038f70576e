/* Shared pieces of the conditioning toy tests (toytrain.h). */
#include <stdio.h>
#include <string.h>

#include "sdtest.h"
#include "toytrain.h"
#include "train/trainer_internal.h"

simdiff_trainer *sdtest_toy_trainer(simdiff_model *m, double lr)
{
    simdiff_schedule *s;
    ck_assert_int_eq(simdiff_schedule_create_shifted(&s, 8, 64), SIMDIFF_OK);
    simdiff_trainer_config tc;
    simdiff_optimizer_config oc;
    simdiff_trainer_config_init(&tc);
    simdiff_optimizer_config_init(&oc);
    tc.seed = 5;
    oc.lr = lr;
    oc.warmup_steps = 5;
    oc.ema_decay = 0.9;
    simdiff_trainer *t;
    ck_assert_int_eq(simdiff_trainer_create(&t, m, s, &tc, &oc), SIMDIFF_OK);
    simdiff_schedule_destroy(s);
    return t;
}

void sdtest_check_resume(sdtest_make_model make, sdtest_run_steps run, uint64_t seed, int N,
                         const char *file, const char *moved, simdiff_trainer **tc,
                         simdiff_model **mc)
{
    simdiff_model *ma = make(seed), *mb = make(seed);
    simdiff_trainer *ta = sdtest_toy_trainer(ma, 1e-3), *tb = sdtest_toy_trainer(mb, 1e-3);
    run(ta, 0, 2 * N);
    run(tb, 0, N);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", sdtest_tmpdir(), file);
    ck_assert_int_eq(simdiff_trainer_save(tb, path), SIMDIFF_OK);
    simdiff_trainer_destroy(tb);
    simdiff_model_destroy(mb);
    ck_assert_msg(simdiff_trainer_load(tc, mc, path) == SIMDIFF_OK, "%s", simdiff_last_error());
    run(*tc, N, 2 * N);
    size_t bytes = (size_t)ma->total * sizeof(float);
    ck_assert_int_eq(ma->total, (*mc)->total);
    ck_assert_int_eq(memcmp(ma->data, (*mc)->data, bytes), 0);
    ck_assert_int_eq(memcmp(ta->opt->ema, (*tc)->opt->ema, bytes), 0);
    simdiff_model *fresh = make(seed);
    int i = sd_model_find_param(ma, moved);
    ck_assert_int_ge(i, 0);
    ck_assert_int_ne(memcmp(ma->params[i].data, fresh->params[i].data,
                            (size_t)ma->params[i].numel * sizeof(float)),
                     0);
    simdiff_model_destroy(fresh);
    simdiff_trainer_destroy(ta);
    simdiff_model_destroy(ma);
}
