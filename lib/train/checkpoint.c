/* Checkpoints: everything a run needs to continue bit-exactly, in one
 * SIMDIFFC container (lib/io/io_internal.h): zlib-compressed sections, a
 * CRC32 each, written atomically.
 *
 * Sections:
 *   config    the model config text (lib/model/config.c)
 *   schedule  the schedule text
 *   trainer   "key=value;..." of the trainer and optimizer configs and the
 *             counters (doubles as %.17g: exact round trip)
 *   weights   float32 little-endian, the model's parameter slab
 *   ema       same layout (when the optimizer keeps an EMA)
 *   adam.m    same layout
 *   adam.v    same layout
 * The RNG needs no state: every random number is a function of (seed,
 * step, index). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "train/trainer_internal.h"

#define CKPT_MAX_FILE ((size_t)1 << 36)

static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#include <stdarg.h>
static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *off, cap - *off, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - *off)
        return -1;
    *off += (size_t)k;
    return 0;
}

static simdiff_status trainer_text(const simdiff_trainer *t, char *buf, size_t cap)
{
    const simdiff_trainer_config *c = &t->cfg;
    const simdiff_optimizer_config *o = &t->opt->cfg;
    size_t off = 0;
    int bad = 0;
    bad |= put(buf, cap, &off, "seed=%" PRIu64 ";loss=%d;multiscale_base=%d;", c->seed,
               (int)c->loss, c->multiscale_base);
    bad |= put(buf, cap, &off, "label_dropout=%.17g;stratified_t=%d;", c->label_dropout,
               c->stratified_t);
    bad |= put(buf, cap, &off, "step=%" PRId64 ";skipped=%" PRId64 ";opt_step=%" PRId64 ";",
               t->step, t->skipped, t->opt->step);
    bad |= put(buf, cap, &off, "lr=%.17g;beta1=%.17g;beta2=%.17g;eps=%.17g;", o->lr,
               o->beta1, o->beta2, o->eps);
    bad |= put(buf, cap, &off, "weight_decay=%.17g;warmup_steps=%" PRId64 ";decay=%d;",
               o->weight_decay, o->warmup_steps, (int)o->decay);
    bad |= put(buf, cap, &off, "total_steps=%" PRId64 ";min_lr_ratio=%.17g;", o->total_steps,
               o->min_lr_ratio);
    bad |= put(buf, cap, &off, "clip_norm=%.17g;ema_decay=%.17g", o->clip_norm, o->ema_decay);
    return bad ? sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "checkpoint text too long") : SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_trainer_save(const simdiff_trainer *t, const char *path)
{
    if (!t || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_save: NULL argument");
    const simdiff_model *m = t->m;
    const simdiff_optimizer *o = t->opt;
    char cfgtxt[2048], schtxt[256], trtxt[1024];
    simdiff_status st = sd_config_to_string(&m->cfg, cfgtxt, sizeof cfgtxt);
    if (!st)
        st = simdiff_schedule_to_string(m->schedule, schtxt, sizeof schtxt);
    if (!st)
        st = trainer_text(t, trtxt, sizeof trtxt);
    if (st)
        return sd_fail_keep((sd_err *)&t->err, st);
    /* If the EMA is swapped in, the raw weights are in o->ema. */
    const float *w = o->ema_swapped ? o->ema : m->data;
    const float *e = o->ema_swapped ? m->data : o->ema;
    size_t bytes = (size_t)m->total * sizeof(float);
    sd_ck_writer *ck;
    if ((st = sd_ck_writer_create(&ck)))
        return sd_fail_keep((sd_err *)&t->err, st);
    st = sd_ck_writer_add(ck, "config", cfgtxt, strlen(cfgtxt), 1);
    if (!st)
        st = sd_ck_writer_add(ck, "schedule", schtxt, strlen(schtxt), 1);
    if (!st)
        st = sd_ck_writer_add(ck, "trainer", trtxt, strlen(trtxt), 1);
    if (!st)
        st = sd_ck_writer_add(ck, "weights", w, bytes, 1);
    if (!st && e)
        st = sd_ck_writer_add(ck, "ema", e, bytes, 1);
    if (!st)
        st = sd_ck_writer_add(ck, "adam.m", o->mom, bytes, 1);
    if (!st)
        st = sd_ck_writer_add(ck, "adam.v", o->var, bytes, 1);
    if (!st)
        st = sd_ck_writer_commit(ck, path);
    sd_ck_writer_destroy(ck);
    return st ? sd_fail_keep((sd_err *)&t->err, st) : SIMDIFF_OK;
}

/* ---- reading --------------------------------------------------------------- */
/* Value of key in "k=v;k=v" text into out; 0 if found. */
static int kv(const char *s, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    while (*s) {
        const char *semi = strchr(s, ';');
        size_t len = semi ? (size_t)(semi - s) : strlen(s);
        if (len > kl && s[kl] == '=' && !strncmp(s, key, kl)) {
            size_t vl = len - kl - 1;
            if (vl + 1 > cap)
                return -1;
            memcpy(out, s + kl + 1, vl);
            out[vl] = 0;
            return 0;
        }
        s += len + (semi ? 1 : 0);
    }
    return -1;
}

static int kv_f64(const char *s, const char *key, double *v)
{
    char b[64], *e;
    if (kv(s, key, b, sizeof b))
        return -1;
    errno = 0;
    *v = strtod(b, &e);
    return (e == b || *e || errno) ? -1 : 0;
}

static int kv_i64(const char *s, const char *key, int64_t *v)
{
    char b[64], *e;
    if (kv(s, key, b, sizeof b))
        return -1;
    errno = 0;
    long long x = strtoll(b, &e, 10);
    *v = x;
    return (e == b || *e || errno) ? -1 : 0;
}

static int kv_u64(const char *s, const char *key, uint64_t *v)
{
    char b[64], *e;
    if (kv(s, key, b, sizeof b) || b[0] == '-')
        return -1;
    errno = 0;
    unsigned long long x = strtoull(b, &e, 10);
    *v = x;
    return (e == b || *e || errno) ? -1 : 0;
}

/* A NUL-terminated copy of a text section (max 64 KiB). */
static simdiff_status text_section(const sd_ck_reader *r, const char *name, char **out)
{
    const void *d;
    size_t n;
    simdiff_status st = sd_ck_find(r, name, &d, &n);
    if (st)
        return st;
    if (n > 65536 || memchr(d, 0, n))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "checkpoint section '%s' is not text", name);
    *out = malloc(n + 1);
    if (!*out)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "out of memory");
    memcpy(*out, d, n);
    (*out)[n] = 0;
    return SIMDIFF_OK;
}

static simdiff_status float_section(const sd_ck_reader *r, const char *name, float *dst,
                                    int64_t count)
{
    const void *d;
    size_t n;
    simdiff_status st = sd_ck_find(r, name, &d, &n);
    if (st)
        return st;
    if (n != (size_t)count * sizeof(float))
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                       "checkpoint section '%s' has %zu bytes, the model needs %zu", name,
                       n, (size_t)count * sizeof(float));
    memcpy(dst, d, n); /* little-endian host (x86-64) */
    return SIMDIFF_OK;
}

/* Open path and build model (+ its schedule) from it. */
static simdiff_status open_model(const char *path, sd_ck_reader **rd, simdiff_model **mout)
{
    sd_ck_reader *r;
    simdiff_status st = sd_ck_open(&r, path, CKPT_MAX_FILE);
    if (st)
        return st;
    char *cfgtxt = NULL, *schtxt = NULL;
    simdiff_model *m = NULL;
    simdiff_model_config cfg;
    st = text_section(r, "config", &cfgtxt);
    if (!st)
        st = text_section(r, "schedule", &schtxt);
    if (!st)
        st = sd_config_from_string(&cfg, cfgtxt);
    if (!st)
        st = sd_model_build(&m, &cfg);
    if (!st)
        st = simdiff_schedule_from_string(&m->schedule, schtxt);
    if (!st)
        st = float_section(r, "weights", m->data, m->total);
    free(cfgtxt);
    free(schtxt);
    if (st) {
        if (st != SIMDIFF_ERR_NOMEM && st != SIMDIFF_ERR_IO)
            st = SIMDIFF_ERR_FORMAT;
        sd_fail(NULL, st, "%s: %s", path, simdiff_last_error());
        simdiff_model_destroy(m);
        sd_ck_close(r);
        return st;
    }
    *rd = r;
    *mout = m;
    return SIMDIFF_OK;
}

simdiff_status sd_checkpoint_load_model(simdiff_model **out, const char *path)
{
    sd_ck_reader *r;
    simdiff_model *m;
    simdiff_status st = open_model(path, &r, &m);
    if (st)
        return st;
    /* Sampling uses the EMA weights when the run kept them. */
    if (sd_ck_has(r, "ema") && (st = float_section(r, "ema", m->data, m->total))) {
        simdiff_model_destroy(m);
        sd_ck_close(r);
        return sd_fail(NULL, st, "%s: %s", path, simdiff_last_error());
    }
    sd_ck_close(r);
    *out = m;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_trainer_load(simdiff_trainer **out, simdiff_model **model,
                                                const char *path)
{
    if (!out || !model || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_load: NULL argument");
    *out = NULL;
    *model = NULL;
    sd_ck_reader *r;
    simdiff_model *m;
    simdiff_status st = open_model(path, &r, &m);
    if (st)
        return st;
    char *tx = NULL;
    simdiff_trainer *t = NULL;
    simdiff_trainer_config tc;
    simdiff_optimizer_config oc;
    simdiff_trainer_config_init(&tc);
    simdiff_optimizer_config_init(&oc);
    int64_t step = 0, skipped = 0, opt_step = 0, loss = 0, base = 0, strat = 0, decay = 0;
    st = text_section(r, "trainer", &tx);
    if (!st) {
        int bad = kv_u64(tx, "seed", &tc.seed) | kv_i64(tx, "loss", &loss) |
                  kv_i64(tx, "multiscale_base", &base) |
                  kv_f64(tx, "label_dropout", &tc.label_dropout) |
                  kv_i64(tx, "stratified_t", &strat) | kv_i64(tx, "step", &step) |
                  kv_i64(tx, "skipped", &skipped) | kv_i64(tx, "opt_step", &opt_step) |
                  kv_f64(tx, "lr", &oc.lr) | kv_f64(tx, "beta1", &oc.beta1) |
                  kv_f64(tx, "beta2", &oc.beta2) | kv_f64(tx, "eps", &oc.eps) |
                  kv_f64(tx, "weight_decay", &oc.weight_decay) |
                  kv_i64(tx, "warmup_steps", &oc.warmup_steps) | kv_i64(tx, "decay", &decay) |
                  kv_i64(tx, "total_steps", &oc.total_steps) |
                  kv_f64(tx, "min_lr_ratio", &oc.min_lr_ratio) |
                  kv_f64(tx, "clip_norm", &oc.clip_norm) |
                  kv_f64(tx, "ema_decay", &oc.ema_decay);
        tc.loss = (simdiff_loss)loss;
        tc.multiscale_base = (int)base;
        tc.stratified_t = (int)strat;
        oc.decay = (simdiff_lr_decay)decay;
        if (bad || step < 0 || skipped < 0 || skipped > step || opt_step != step - skipped ||
            base != (int)base)
            st = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "checkpoint 'trainer' section is malformed");
    }
    if (!st)
        st = sd_trainer_new(&t, m, m->schedule, &tc, &oc);
    if (!st) {
        t->step = step;
        t->skipped = skipped;
        t->opt->step = opt_step;
        st = float_section(r, "adam.m", t->opt->mom, m->total);
        if (!st)
            st = float_section(r, "adam.v", t->opt->var, m->total);
        if (!st && t->opt->ema)
            st = float_section(r, "ema", t->opt->ema, m->total);
    }
    free(tx);
    sd_ck_close(r);
    if (st) {
        if (st != SIMDIFF_ERR_NOMEM)
            st = SIMDIFF_ERR_FORMAT;
        sd_fail(NULL, st, "%s: %s", path, simdiff_last_error());
        simdiff_trainer_destroy(t);
        simdiff_model_destroy(m);
        return st;
    }
    *out = t;
    *model = m;
    return SIMDIFF_OK;
}

SIMDIFF_API simdiff_status simdiff_trainer_export(const simdiff_trainer *t, const char *path,
                                                  int fp16)
{
    if (!t || !path)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "simdiff_trainer_export: NULL argument");
    const simdiff_optimizer *o = t->opt;
    /* The EMA weights: in o->ema, or in the model while swapped in. */
    const float *w = o->ema ? (o->ema_swapped ? t->m->data : o->ema) : t->m->data;
    simdiff_status st = sd_model_save(t->m, path, w, fp16);
    return st ? sd_fail_keep((sd_err *)&t->err, st) : SIMDIFF_OK;
}
