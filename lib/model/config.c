/* Model configuration: defaults, validation, text form. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
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

const sd_struct_layout sd_model_config_layout = {
    "simdiff_model_config",
    SD_FIELD_END(simdiff_model_config, prediction), /* v1 */
    SD_FIELD_END(simdiff_model_config, wiener_skip), /* the last field */
};

SIMDIFF_API simdiff_status simdiff_model_config_init_sized(simdiff_model_config *out,
                                                           size_t size,
                                                           simdiff_arch arch,
                                                           int image_size,
                                                           int channels)
{
    if (!out)
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
    simdiff_model_config c, *cfg = &c;
    memset(cfg, 0, sizeof *cfg);
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
    return sd_struct_write(&sd_model_config_layout, out, size, cfg,
                           "simdiff_model_config_init");
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

/* v outside lo..hi: refuse, naming the field and its range. */
#define RANGE(v, lo, hi, name)                                                 \
    do {                                                                       \
        if ((v) < (lo) || (v) > (hi))                                          \
            BAD("%s %d out of range %d..%d", name, (int)(v), (int)(lo), (int)(hi)); \
    } while (0)

SIMDIFF_API simdiff_status simdiff_model_config_validate(
    const simdiff_model_config *cfg, char *msg, size_t cap)
{
    if (msg && cap)
        msg[0] = 0;
    if (!cfg)
        BAD("config is NULL");
    simdiff_model_config cc;
    const simdiff_model_config *c = &cc;
    simdiff_status rd = sd_struct_read(&sd_model_config_layout, &cc, cfg,
                                       "simdiff_model_config_validate");
    if (rd) {
        if (msg && cap)
            snprintf(msg, cap, "%s", simdiff_last_error());
        return rd;
    }
    if (c->arch != SIMDIFF_ARCH_UNET && c->arch != SIMDIFF_ARCH_UVIT)
        BAD("arch %d is not SIMDIFF_ARCH_UNET or SIMDIFF_ARCH_UVIT", (int)c->arch);
    const int uvit = c->arch == SIMDIFF_ARCH_UVIT;
    /* Every field within its bound first (model.h): nothing below, and
     * nothing a file's metadata says, can then ask for an absurd size. */
    RANGE(c->image_size, 4, SIMDIFF_MAX_IMAGE_SIZE, "image_size");
    RANGE(c->channels, 1, 64, "channels");
    RANGE(c->stem_param, 0, 16, "stem_param");
    RANGE(c->num_levels, 1, SIMDIFF_MAX_LEVELS, "num_levels");
    RANGE(c->norm_groups, 1, SIMDIFF_MAX_WIDTH, "norm_groups");
    RANGE(c->attn_resolution, 0, SIMDIFF_MAX_IMAGE_SIZE, "attn_resolution");
    RANGE(c->attn_heads, uvit ? 0 : 1, SIMDIFF_MAX_HEADS, "attn_heads");
    RANGE(c->tf_width, uvit ? 1 : 0, SIMDIFF_MAX_WIDTH, "tf_width");
    RANGE(c->tf_depth, 0, SIMDIFF_MAX_TF_DEPTH, "tf_depth");
    RANGE(c->tf_heads, uvit ? 1 : 0, SIMDIFF_MAX_HEADS, "tf_heads");
    RANGE(c->tf_mlp_ratio, uvit ? 1 : 0, SIMDIFF_MAX_MLP_RATIO, "tf_mlp_ratio");
    RANGE(c->dropout_max_resolution, 0, SIMDIFF_MAX_IMAGE_SIZE, "dropout_max_resolution");
    RANGE(c->num_classes, 0, SIMDIFF_MAX_CLASSES, "num_classes");
    RANGE(c->cond_dim, 0, SIMDIFF_MAX_COND_DIM, "cond_dim");
    RANGE(c->ctx_dim, 0, SIMDIFF_MAX_CTX_DIM, "ctx_dim");
    RANGE(c->ctx_len, c->ctx_dim > 0 ? 1 : 0, SIMDIFF_MAX_CTX_LEN, "ctx_len");
    RANGE(c->text_vocab, 0, SIMDIFF_MAX_TEXT_VOCAB, "text_vocab");
    RANGE(c->text_layers, 0, SIMDIFF_MAX_TEXT_LAYERS, "text_layers");
    RANGE(c->text_heads, c->text_vocab > 0 ? 1 : 0, SIMDIFF_MAX_HEADS, "text_heads");
    if (c->text_vocab == 1)
        BAD("text_vocab 1: a vocabulary has at least the 2 special ids (0 = no encoder)");
    if (c->text_vocab > 0 && c->ctx_dim == 0)
        BAD("text_vocab %d needs a context (ctx_dim > 0, the encoder's width, and ctx_len, "
            "its most tokens)", c->text_vocab);
    if (c->text_vocab > 0 && c->ctx_dim % c->text_heads)
        BAD("ctx_dim %d (the text encoder's width) is not divisible by text_heads %d",
            c->ctx_dim, c->text_heads);
    int r0;
    simdiff_status st = stem_resolution(c, &r0, msg, cap);
    if (st)
        return st;
    int downs = uvit ? c->num_levels : c->num_levels - 1;
    if (r0 % (1 << downs))
        BAD("feature resolution %d (after the stem) is not divisible by 2^%d "
            "for %d levels; use fewer levels or a different stem",
            r0, downs, c->num_levels);
    for (int l = 0; l < c->num_levels; l++) {
        int ch = c->level_channels[l];
        if (ch < 1 || ch > SIMDIFF_MAX_WIDTH)
            BAD("level_channels[%d] = %d out of range 1..%d", l, ch, SIMDIFF_MAX_WIDTH);
        if (ch % c->norm_groups)
            BAD("level_channels[%d] = %d is not divisible by norm_groups = %d; "
                "change the channels or norm_groups",
                l, ch, c->norm_groups);
        if (c->level_blocks[l] < 0 || c->level_blocks[l] > SIMDIFF_MAX_BLOCKS)
            BAD("level_blocks[%d] = %d out of range 0..%d", l, c->level_blocks[l],
                SIMDIFF_MAX_BLOCKS);
    }
    if (c->level_blocks[0] < 1)
        BAD("level_blocks[0] must be >= 1");
    if (c->emb_dim < 4 || c->emb_dim % 4 || c->emb_dim > SIMDIFF_MAX_WIDTH)
        BAD("emb_dim %d must be a multiple of 4 in 4..%d", c->emb_dim, SIMDIFF_MAX_WIDTH);
    if (!uvit) {
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
        if (c->tf_width % c->tf_heads)
            BAD("tf_width %d is not divisible by tf_heads %d", c->tf_width, c->tf_heads);
    }
    if (!(c->dropout_res >= 0 && c->dropout_res < 1) ||
        !(c->dropout_tf >= 0 && c->dropout_tf < 1))
        BAD("dropout rates must be in [0, 1) (dropout_res %g, dropout_tf %g)",
            (double)c->dropout_res, (double)c->dropout_tf);
    if (c->wiener_skip != 0 && c->wiener_skip != 1)
        BAD("wiener_skip %d is not 0 or 1", c->wiener_skip);
    if (c->prediction != SIMDIFF_PRED_V && c->prediction != SIMDIFF_PRED_EPS)
        BAD("prediction %d is not SIMDIFF_PRED_V or SIMDIFF_PRED_EPS",
            (int)c->prediction);
    return SIMDIFF_OK;
}
#undef RANGE

/* ---- text form ("key=value;...", lib/format/kv.c) -------------------------- */
#define I(k) {#k, SD_KV_INT, offsetof(simdiff_model_config, k), 0, 0, 0}
#define FL(k) {#k, SD_KV_FLOAT, offsetof(simdiff_model_config, k), 0, 0, 0}
#define IS(k)                                                                  \
    {#k, SD_KV_INTS, offsetof(simdiff_model_config, k), SIMDIFF_MAX_LEVELS,    \
     offsetof(simdiff_model_config, num_levels), 0}
static const sd_kv_field fields[] = {
    I(arch), I(image_size), I(channels), I(stem), I(stem_param), I(num_levels),
    IS(level_channels), IS(level_blocks), I(norm_groups), I(emb_dim),
    I(attn_resolution), I(attn_heads), I(tf_width), I(tf_depth), I(tf_heads),
    I(tf_mlp_ratio), FL(dropout_res), FL(dropout_tf), I(dropout_max_resolution),
    I(num_classes), I(cond_dim), I(prediction),
    /* added with sequence conditioning: files without them have none */
    {"ctx_dim", SD_KV_INT, offsetof(simdiff_model_config, ctx_dim), 0, 0, 1},
    {"ctx_len", SD_KV_INT, offsetof(simdiff_model_config, ctx_len), 0, 0, 1},
    /* added with the text encoder: files without them have none */
    {"text_vocab", SD_KV_INT, offsetof(simdiff_model_config, text_vocab), 0, 0, 1},
    {"text_layers", SD_KV_INT, offsetof(simdiff_model_config, text_layers), 0, 0, 1},
    {"text_heads", SD_KV_INT, offsetof(simdiff_model_config, text_heads), 0, 0, 1},
    /* added with the Wiener skip: files without it have none */
    {"wiener_skip", SD_KV_INT, offsetof(simdiff_model_config, wiener_skip), 0, 0, 1},
};
#undef I
#undef FL
#undef IS
_Static_assert(sizeof(simdiff_arch) == sizeof(int) && sizeof(simdiff_stem) == sizeof(int) &&
                   sizeof(simdiff_prediction) == sizeof(int),
               "enums of the config are stored as int");

simdiff_status sd_config_to_string(const simdiff_model_config *cfg, char *buf,
                                   size_t cap)
{
    /* The ctx keys only for a model with a context, the text keys only for
     * one with an encoder, wiener_skip only when set: files of the other
     * models stay as they were, readable by older libraries. */
    sd_kv_field use[SD_ARRAY_LEN(fields)];
    size_t n = 0;
    for (size_t i = 0; i < SD_ARRAY_LEN(fields); i++) {
        const char *k = fields[i].key;
        if ((!strncmp(k, "ctx_", 4) && cfg->ctx_dim == 0) ||
            (!strncmp(k, "text_", 5) && cfg->text_vocab == 0) ||
            (!strcmp(k, "wiener_skip") && cfg->wiener_skip == 0))
            continue;
        use[n++] = fields[i];
    }
    return sd_kv_format("model config", use, n, cfg, buf, cap);
}

simdiff_status sd_config_from_string(simdiff_model_config *cfg, const char *s)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    simdiff_status st = sd_kv_parse("model config", fields, SD_ARRAY_LEN(fields), 1, s, cfg);
    if (st)
        return st;
    char msg[256];
    if (simdiff_model_config_validate(cfg, msg, sizeof msg) != SIMDIFF_OK)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "model config in file is invalid: %s", msg);
    return SIMDIFF_OK;
}

/* ---- names ------------------------------------------------------------------ */

SD_DEFINE_ENUM_NAMES(arch, simdiff_arch, "architecture",
                     {SIMDIFF_ARCH_UNET, "unet", 0}, {SIMDIFF_ARCH_UVIT, "uvit", 0})

SD_DEFINE_ENUM_NAMES(stem, simdiff_stem, "stem",
                     {SIMDIFF_STEM_NONE, "none", 0}, {SIMDIFF_STEM_PATCH, "patch", 0},
                     {SIMDIFF_STEM_DWT, "dwt", 0}, {SIMDIFF_STEM_DWT_UNIT, "dwt_unit", 0})

SD_DEFINE_ENUM_NAMES(prediction, simdiff_prediction, "prediction",
                     {SIMDIFF_PRED_V, "v", 0}, {SIMDIFF_PRED_EPS, "eps", 0})
