/* The sampler tests' fixtures (fixture.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fixture.h"
#include "sdtest.h"

/* ---- fixtures ------------------------------------------------------------ */

void tiny_config(simdiff_model_config *cfg, int prediction)
{
    ck_assert_int_eq(simdiff_model_config_init(cfg, SIMDIFF_ARCH_UNET, IMG, 1), SIMDIFF_OK);
    cfg->num_levels = 2;
    cfg->level_channels[0] = cfg->level_channels[1] = 8;
    cfg->level_blocks[0] = cfg->level_blocks[1] = 1;
    cfg->norm_groups = 4;
    cfg->emb_dim = 16;
    cfg->attn_resolution = 4;
    cfg->attn_heads = 2;
    cfg->num_classes = NCLASS;
    cfg->prediction = (simdiff_prediction)prediction;
}

/* xorshift in [-a, a) */
float rnd(uint64_t *s, float a)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return a * ((float)(*s >> 40) * 0x1p-24f * 2.0f - 1.0f);
}

/* Where a safetensors file's tensor data starts: after the u64 header
 * length N and N bytes of JSON. */
long st_data_offset(FILE *f)
{
    uint8_t h8[8];
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    ck_assert_int_eq(fread(h8, 1, 8, f), 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | h8[i];
    return (long)(8 + hl);
}

/* A tiny model with every weight random in [-0.3, 0.3). */
simdiff_model *make_model_pred(int prediction)
{
    simdiff_model_config cfg;
    tiny_config(&cfg, prediction);
    return make_model_from(&cfg);
}

simdiff_model *make_model_from(const simdiff_model_config *cfg)
{
    simdiff_model *m = NULL;
    ck_assert_int_eq(simdiff_model_create(&m, cfg, 7), SIMDIFF_OK);
    /* Not sdtest_tmpdir(): Check runs each case in a child process, and
     * the first child to exit removes that directory. */
    const char *base = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/sampler-test-XXXXXX", base ? base : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(simdiff_model_save_safetensors(m, path), SIMDIFF_OK);
    simdiff_model_destroy(m);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    long start = st_data_offset(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long end = ftell(f);
    ck_assert_int_gt(end, start);
    size_t nf = (size_t)(end - start) / 4;
    float *w = malloc(nf * sizeof *w);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < nf; i++)
        w[i] = rnd(&s, 0.3f);
    ck_assert_int_eq(fseek(f, start, SEEK_SET), 0);
    ck_assert_int_eq(fwrite(w, sizeof *w, nf, f), nf);
    fclose(f);
    free(w);
    ck_assert_msg(simdiff_model_load(&m, path) == SIMDIFF_OK, "%s", simdiff_last_error());
    unlink(path);
    return m;
}

simdiff_model *make_model(void) { return make_model_pred(SIMDIFF_PRED_V); }

simdiff_schedule *g_sched;

void sampler_cfg(simdiff_sampler_config *c, int method, int steps)
{
    ck_assert_int_eq(simdiff_sampler_config_init(c), SIMDIFF_OK);
    if (!g_sched)
        ck_assert_int_eq(simdiff_schedule_create_shifted(&g_sched, IMG, 64), SIMDIFF_OK);
    c->schedule = g_sched;
    c->method = (simdiff_sampler_method)method;
    c->steps = steps;
}

simdiff_sampler *make_sampler(simdiff_model *m, const simdiff_sampler_config *c)
{
    simdiff_sampler *s = NULL;
    ck_assert_msg(simdiff_sampler_create(&s, m, c) == SIMDIFF_OK, "%s",
                  simdiff_last_error());
    ck_assert_ptr_nonnull(s);
    return s;
}

float *run_ok(simdiff_sampler *s, int n, const int *labels, uint64_t seed)
{
    float *out = malloc((size_t)n * PER * sizeof *out);
    simdiff_status st = simdiff_sampler_run(s, n, labels, seed, out);
    ck_assert_msg(st == SIMDIFF_OK, "run: %s (%s)", simdiff_status_str(st),
                  simdiff_sampler_errmsg(s));
    return out;
}

