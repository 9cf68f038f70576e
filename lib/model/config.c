/* Model configuration: defaults, validation, text form. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

static int is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

static int ilog2(int x)
{
    int l = 0;
    while (x > 1) {
        x >>= 1;
        l++;
    }
    return l;
}

SIMDIFF_API simdiff_status simdiff_model_config_init(simdiff_model_config *cfg,
                                                     simdiff_arch arch,
                                                     int image_size, int channels)
{
    if (!cfg)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_config_init: cfg is NULL");
    if (arch != SIMDIFF_ARCH_UNET && arch != SIMDIFF_ARCH_UVIT)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_config_init: arch %d is not "
                       "SIMDIFF_ARCH_UNET (1) or SIMDIFF_ARCH_UVIT (2)",
                       (int)arch);
    if (image_size < 4 || image_size > 4096 || channels < 1 || channels > 64)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG,
                       "simdiff_model_config_init: image_size %d (expected "
                       "4..4096) or channels %d (expected 1..64) out of range",
                       image_size, channels);
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->arch = arch;
    cfg->image_size = image_size;
    cfg->channels = channels;
    /* Feature maps start at <= 64: a DWT stem removes the levels above. */
    cfg->stem = SIMDIFF_STEM_NONE;
    int r0 = image_size;
    if (image_size > 64 && is_pow2(image_size)) {
        cfg->stem = SIMDIFF_STEM_DWT;
        cfg->stem_param = ilog2(image_size / 64);
        r0 = 64;
    }
    cfg->norm_groups = 32;
    cfg->emb_dim = 256;
    cfg->attn_resolution = 16;
    cfg->attn_heads = 4;
    cfg->tf_width = 256;
    cfg->tf_depth = 6;
    cfg->tf_heads = 4;
    cfg->tf_mlp_ratio = 4;
    cfg->dropout_res = 0.1f;
    cfg->dropout_tf = 0.2f;
    cfg->dropout_max_resolution = 16;
    cfg->prediction = SIMDIFF_PRED_V;
    if (arch == SIMDIFF_ARCH_UNET) {
        /* Levels down to 8x8 (or the image), thin at high resolution and
         * widest from 16x16 down. */
        int L = 0;
        for (int r = r0; r >= 8 && L < 4; r /= 2)
            L++;
        if (L == 0)
            L = 1;
        cfg->num_levels = L;
        for (int l = 0; l < L; l++) {
            int r = r0 >> l;
            cfg->level_channels[l] = r > 16 ? 64 : 128;
            cfg->level_blocks[l] = r > 16 ? 1 : 2;
        }
    } else {
        /* Conv levels down to 32x32 inclusive, transformer at 16x16 (or at
         * half the feature resolution for small images). */
        int L = 0;
        for (int r = r0; r > 16 && r % 2 == 0; r /= 2)
            L++;
        if (L == 0)
            L = 1;
        cfg->num_levels = L;
        for (int l = 0; l < L; l++) {
            cfg->level_channels[l] = 64;
            cfg->level_blocks[l] = 1;
        }
        cfg->attn_resolution = r0 >> L;
    }
    return SIMDIFF_OK;
}

#define BAD(...)                                                               \
    do {                                                                       \
        if (msg && cap)                                                        \
            snprintf(msg, cap, __VA_ARGS__);                                   \
        return SIMDIFF_ERR_INVALID_ARG;                                        \
    } while (0)

/* Feature resolution after the stem, or -1 (and msg) if it does not divide. */
static simdiff_status stem_resolution(const simdiff_model_config *c, int *r0,
                                      char *msg, size_t cap)
{
    switch (c->stem) {
    case SIMDIFF_STEM_NONE:
        *r0 = c->image_size;
        return SIMDIFF_OK;
    case SIMDIFF_STEM_PATCH:
        if (c->stem_param < 1 || c->stem_param > 16)
            BAD("stem_param (patch size) is %d; use 1..16", c->stem_param);
        if (c->image_size % c->stem_param)
            BAD("image_size %d is not divisible by the patch size %d",
                c->image_size, c->stem_param);
        *r0 = c->image_size / c->stem_param;
        return SIMDIFF_OK;
    case SIMDIFF_STEM_DWT:
    case SIMDIFF_STEM_DWT_UNIT:
        if (c->stem_param < 1 || c->stem_param > 6)
            BAD("stem_param (DWT levels) is %d; use 1..6", c->stem_param);
        if (c->image_size % (1 << c->stem_param))
            BAD("image_size %d is not divisible by 2^%d for a %d-level DWT",
                c->image_size, c->stem_param, c->stem_param);
        *r0 = c->image_size >> c->stem_param;
        return SIMDIFF_OK;
    }
    BAD("stem %d is not SIMDIFF_STEM_NONE, _PATCH, _DWT or _DWT_UNIT", (int)c->stem);
}

SIMDIFF_API simdiff_status simdiff_model_config_validate(
    const simdiff_model_config *c, char *msg, size_t cap)
{
    if (msg && cap)
        msg[0] = 0;
    if (!c)
        BAD("config is NULL");
    if (c->struct_size < sizeof *c)
        BAD("struct_size is %zu, expected %zu: fill the config with "
            "simdiff_model_config_init()",
            c->struct_size, sizeof *c);
    if (c->arch != SIMDIFF_ARCH_UNET && c->arch != SIMDIFF_ARCH_UVIT)
        BAD("arch %d is not SIMDIFF_ARCH_UNET or SIMDIFF_ARCH_UVIT", (int)c->arch);
    if (c->image_size < 4 || c->image_size > 4096)
        BAD("image_size %d out of range 4..4096", c->image_size);
    if (c->channels < 1 || c->channels > 64)
        BAD("channels %d out of range 1..64", c->channels);
    int r0;
    simdiff_status st = stem_resolution(c, &r0, msg, cap);
    if (st)
        return st;
    if (c->num_levels < 1 || c->num_levels > SIMDIFF_MAX_LEVELS)
        BAD("num_levels %d out of range 1..%d", c->num_levels, SIMDIFF_MAX_LEVELS);
    int downs = c->arch == SIMDIFF_ARCH_UNET ? c->num_levels - 1 : c->num_levels;
    if (r0 % (1 << downs))
        BAD("feature resolution %d (after the stem) is not divisible by 2^%d "
            "for %d levels; use fewer levels or a different stem",
            r0, downs, c->num_levels);
    if (c->norm_groups < 1)
        BAD("norm_groups %d must be >= 1", c->norm_groups);
    for (int l = 0; l < c->num_levels; l++) {
        int ch = c->level_channels[l];
        if (ch < 1 || ch > 8192)
            BAD("level_channels[%d] = %d out of range 1..8192", l, ch);
        if (ch % c->norm_groups)
            BAD("level_channels[%d] = %d is not divisible by norm_groups = %d; "
                "change the channels or norm_groups",
                l, ch, c->norm_groups);
        if (c->level_blocks[l] < 0 || c->level_blocks[l] > 64)
            BAD("level_blocks[%d] = %d out of range 0..64", l, c->level_blocks[l]);
    }
    if (c->level_blocks[0] < 1)
        BAD("level_blocks[0] must be >= 1");
    if (c->emb_dim < 4 || c->emb_dim % 4 || c->emb_dim > 8192)
        BAD("emb_dim %d must be a multiple of 4 in 4..8192", c->emb_dim);
    if (c->arch == SIMDIFF_ARCH_UNET) {
        if (c->attn_resolution < 0)
            BAD("attn_resolution %d must be >= 0 (0: no attention)", c->attn_resolution);
        if (c->attn_heads < 1)
            BAD("attn_heads %d must be >= 1", c->attn_heads);
        for (int l = 0; l < c->num_levels; l++)
            if ((r0 >> l) <= c->attn_resolution && c->level_channels[l] % c->attn_heads)
                BAD("level_channels[%d] = %d is not divisible by attn_heads = %d",
                    l, c->level_channels[l], c->attn_heads);
    } else {
        int tr = r0 >> c->num_levels;
        if (c->attn_resolution != tr)
            BAD("U-ViT: the transformer runs at resolution %d (feature "
                "resolution %d halved by %d conv levels) but attn_resolution is "
                "%d; set attn_resolution = %d or change num_levels",
                tr, r0, c->num_levels, c->attn_resolution, tr);
        if (c->tf_width < 1 || c->tf_depth < 0 || c->tf_heads < 1 ||
            c->tf_mlp_ratio < 1)
            BAD("transformer sizes must be positive (width %d, depth %d, heads "
                "%d, mlp ratio %d)",
                c->tf_width, c->tf_depth, c->tf_heads, c->tf_mlp_ratio);
        if (c->tf_width % c->tf_heads)
            BAD("tf_width %d is not divisible by tf_heads %d", c->tf_width, c->tf_heads);
    }
    if (!(c->dropout_res >= 0 && c->dropout_res < 1) ||
        !(c->dropout_tf >= 0 && c->dropout_tf < 1))
        BAD("dropout rates must be in [0, 1) (dropout_res %g, dropout_tf %g)",
            (double)c->dropout_res, (double)c->dropout_tf);
    if (c->num_classes < 0 || c->num_classes > 1000000)
        BAD("num_classes %d out of range 0..1000000", c->num_classes);
    if (c->cond_dim < 0 || c->cond_dim > 65536)
        BAD("cond_dim %d out of range 0..65536", c->cond_dim);
    if (c->prediction != SIMDIFF_PRED_V && c->prediction != SIMDIFF_PRED_EPS)
        BAD("prediction %d is not SIMDIFF_PRED_V or SIMDIFF_PRED_EPS",
            (int)c->prediction);
    return SIMDIFF_OK;
}

/* ---- text form ("key=value;...") ------------------------------------------ */
typedef enum { F_INT, F_FLOAT, F_INTS } ftype;
static const struct field {
    const char *key;
    ftype type;
    size_t off;
} fields[] = {
#define I(k) {#k, F_INT, offsetof(simdiff_model_config, k)}
#define FL(k) {#k, F_FLOAT, offsetof(simdiff_model_config, k)}
#define IS(k) {#k, F_INTS, offsetof(simdiff_model_config, k)}
    I(arch), I(image_size), I(channels), I(stem), I(stem_param), I(num_levels),
    IS(level_channels), IS(level_blocks), I(norm_groups), I(emb_dim),
    I(attn_resolution), I(attn_heads), I(tf_width), I(tf_depth), I(tf_heads),
    I(tf_mlp_ratio), FL(dropout_res), FL(dropout_tf), I(dropout_max_resolution),
    I(num_classes), I(cond_dim), I(prediction),
#undef I
#undef FL
#undef IS
};

simdiff_status sd_config_to_string(const simdiff_model_config *cfg, char *buf,
                                   size_t cap)
{
    size_t off = 0;
    for (size_t i = 0; i < SD_ARRAY_LEN(fields); i++) {
        const char *p = (const char *)cfg + fields[i].off;
        int k = 0;
        if (fields[i].type == F_INT || fields[i].type == F_INTS) {
            int n = fields[i].type == F_INT ? 1 : cfg->num_levels;
            k = snprintf(buf + off, cap - off, "%s%s=", i ? ";" : "", fields[i].key);
            for (int j = 0; j < n && k >= 0 && off + (size_t)k < cap; j++) {
                int v;
                memcpy(&v, p + (size_t)j * sizeof(int), sizeof v);
                k += snprintf(buf + off + k, cap - off - (size_t)k, j ? ",%d" : "%d", v);
            }
        } else {
            float v;
            memcpy(&v, p, sizeof v);
            k = snprintf(buf + off, cap - off, "%s%s=%.9g", i ? ";" : "",
                         fields[i].key, (double)v);
        }
        if (k < 0 || off + (size_t)k >= cap)
            return sd_fail(NULL, SIMDIFF_ERR_INTERNAL, "config text does not fit");
        off += (size_t)k;
    }
    return SIMDIFF_OK;
}

static int parse_int(const char *s, const char **end, int *v)
{
    errno = 0;
    char *e;
    long x = strtol(s, &e, 10);
    if (e == s || errno || x < -2147483647L || x > 2147483647L)
        return -1;
    *v = (int)x;
    *end = e;
    return 0;
}

simdiff_status sd_config_from_string(simdiff_model_config *cfg, const char *s)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    unsigned seen = 0;
    while (*s) {
        const char *eq = strchr(s, '=');
        if (!eq)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config: '=' expected in '%.40s'", s);
        size_t klen = (size_t)(eq - s);
        size_t i;
        for (i = 0; i < SD_ARRAY_LEN(fields); i++)
            if (strlen(fields[i].key) == klen && !strncmp(fields[i].key, s, klen))
                break;
        if (i == SD_ARRAY_LEN(fields))
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config: unknown key '%.*s'",
                           (int)(klen > 40 ? 40 : klen), s);
        if (seen & (1u << i))
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config: duplicate key '%s'",
                           fields[i].key);
        seen |= 1u << i;
        const char *p = eq + 1, *e = p;
        char *dst = (char *)cfg + fields[i].off;
        if (fields[i].type == F_FLOAT) {
            errno = 0;
            char *fe;
            float v = strtof(p, &fe);
            if (fe == p || errno)
                return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config: bad number for '%s'",
                               fields[i].key);
            memcpy(dst, &v, sizeof v);
            e = fe;
        } else {
            int n = 0, maxn = fields[i].type == F_INT ? 1 : SIMDIFF_MAX_LEVELS;
            for (;;) {
                int v;
                if (n >= maxn || parse_int(p, &e, &v))
                    return sd_fail(NULL, SIMDIFF_ERR_FORMAT,
                                   "model config: bad integer list for '%s'", fields[i].key);
                memcpy(dst + (size_t)n * sizeof(int), &v, sizeof v);
                n++;
                if (*e != ',')
                    break;
                p = e + 1;
            }
        }
        if (*e == ';')
            e++;
        else if (*e)
            return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config: ';' expected after '%s'",
                           fields[i].key);
        s = e;
    }
    if (seen != (1u << SD_ARRAY_LEN(fields)) - 1)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config: missing keys");
    char msg[256];
    if (simdiff_model_config_validate(cfg, msg, sizeof msg) != SIMDIFF_OK)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config in file is invalid: %s", msg);
    return SIMDIFF_OK;
}
