/*
 * Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/)
 * with the library itself: small valid inputs of every kind each target
 * reads. Run by scripts/fuzz-seeds.sh; the output is committed.
 *   make-seeds <corpus dir>
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "format/format.h"
#include "model/model_internal.h"
#include "model/sampler_settings.h"
#include "simdiff/distill.h"
#include "simdiff/io.h"
#include "simdiff/model.h"
#include "simdiff/schedule.h"
#include "simdiff/train.h"

static const char *dir;

static void die(const char *what)
{
    fprintf(stderr, "make-seeds: %s: %s\n", what, simdiff_last_error());
    exit(1);
}
#define OK(call)                       \
    do {                               \
        if ((call) != SIMDIFF_OK)      \
            die(#call);                \
    } while (0)

static void put(const char *target, const char *name, const void *d, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, target);
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        die(p);
    snprintf(p, sizeof p, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0)
        die(p);
}

static void *slurp(const char *path, size_t *n)
{
    void *b;
    OK(sd_read_file(path, (size_t)1 << 30, &b, n));
    return b;
}

/* A file written by the library, with a flag byte in front (flag < 0:
 * none). */
static void put_file(const char *target, const char *name, const char *path, int flag,
                     int gzip)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    if (gzip) {
        char gz[512];
        snprintf(gz, sizeof gz, "%s.gz", path);
        gzFile g = gzopen(gz, "wb9");
        if (!g || gzwrite(g, b, (unsigned)n) != (int)n || gzclose(g) != Z_OK)
            die("gzip");
        free(b);
        b = slurp(gz, &n);
        remove(gz);
    }
    uint8_t *o = malloc(n + 1);
    if (!o)
        die("malloc");
    size_t k = 0;
    if (flag >= 0)
        o[k++] = (uint8_t)flag;
    memcpy(o + k, b, n);
    put(target, name, o, n + k);
    free(o);
    free(b);
    remove(path);
}

static void tiny_config(simdiff_model_config *cfg)
{
    OK(simdiff_model_config_init(cfg, SIMDIFF_ARCH_UVIT, 8, 1));
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

/* Vocabularies (fuzz_vocab.c: the id count byte, then the text) and
 * captions. */
static void vocab_seeds(void)
{
    static const char a[] = "\x05" "heart\nred\nblue\n";
    static const char b[] = "\x03" "caf\xc3\xa9\n";
    static const char c[] = "\x00";
    static const char d[] = "\x10" "grinning face\nRed Heart: light skin tone\ncat face\n";
    put("vocab", "three-words", a, sizeof a - 1);
    put("vocab", "utf8", b, sizeof b - 1);
    put("vocab", "empty", c, sizeof c - 1);
    put("vocab", "captions", d, sizeof d - 1);
}

static void text_seeds(void)
{
    simdiff_model_config cfg;
    char buf[2048];
    tiny_config(&cfg);
    OK(sd_config_to_string(&cfg, buf, sizeof buf));
    put("model-config", "tiny-uvit", buf, strlen(buf));
    OK(simdiff_model_config_init(&cfg, SIMDIFF_ARCH_UNET, 32, 3));
    OK(sd_config_to_string(&cfg, buf, sizeof buf));
    put("model-config", "unet-32", buf, strlen(buf));

    simdiff_schedule *s;
    OK(simdiff_schedule_create_cosine(&s, -15, 15));
    OK(simdiff_schedule_to_string(s, buf, sizeof buf));
    put("schedule", "cosine", buf, strlen(buf));
    simdiff_schedule_destroy(s);
    OK(simdiff_schedule_create_cosine(&s, -12.345678901234567, 7.5));
    OK(simdiff_schedule_to_string(s, buf, sizeof buf));
    put("schedule", "cosine-digits", buf, strlen(buf));
    simdiff_schedule_destroy(s);
    OK(simdiff_schedule_create_shifted(&s, 128, 64));
    OK(simdiff_schedule_to_string(s, buf, sizeof buf));
    put("schedule", "shifted", buf, strlen(buf));
    simdiff_schedule_destroy(s);
    OK(simdiff_schedule_create_interpolated(&s, 256, 32, 256));
    OK(simdiff_schedule_to_string(s, buf, sizeof buf));
    put("schedule", "interpolated", buf, strlen(buf));
    simdiff_schedule_destroy(s);

    simdiff_sampler_config sc;
    simdiff_sampler_config_init(&sc);
    OK(sd_sampler_settings_format(&sc, buf, sizeof buf));
    put("sampler-settings", "defaults", buf, strlen(buf));
    sc.steps = 7;
    sc.eta = 0.5;
    sc.guidance = 2.5;
    OK(sd_sampler_settings_format(&sc, buf, sizeof buf));
    put("sampler-settings", "changed", buf, strlen(buf));
}

static void array_seeds(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/tmp.npy", dir);
    uint8_t u8[2 * 4 * 4 * 3];
    float f32[2 * 3 * 4 * 4];
    for (int i = 0; i < 96; i++) {
        u8[i] = (uint8_t)(i * 37);
        f32[i] = (float)(i % 11) / 10.0f;
    }
    int64_t nhw[3] = {2, 4, 4}, nhwc[4] = {2, 4, 4, 3}, nchw[4] = {2, 3, 4, 4},
            lab[1] = {2};
    OK(simdiff_write_npy_u8(p, 3, nhw, u8));
    put_file("npy", "u8-nhw", p, 0, 0);
    OK(simdiff_write_npy_u8(p, 4, nhwc, u8));
    put_file("npy", "u8-nhwc-gz", p, 1, 1);
    OK(simdiff_write_npy_f32(p, 4, nchw, f32));
    put_file("npy", "f32-nchw", p, 2, 0);
    OK(simdiff_write_npy_u8(p, 1, lab, u8));
    put_file("npy", "u8-labels", p, 8, 0);
    OK(simdiff_write_npy_f32(p, 3, nhw, f32));
    put_file("npy", "f32-read-gz", p, 16, 1);

    /* IDX: images 2 x 4 x 4 and labels 2, written here byte by byte (the
     * library reads IDX, it does not write it). */
    uint8_t idx[16 + 32 + 8 + 2];
    uint8_t in[1 + 4 + sizeof idx];
    sd_st_u32be(idx, 0x803);
    sd_st_u32be(idx + 4, 2);
    sd_st_u32be(idx + 8, 4);
    sd_st_u32be(idx + 12, 4);
    memcpy(idx + 16, u8, 32);
    sd_st_u32be(idx + 48, 0x801);
    sd_st_u32be(idx + 52, 2);
    idx[56] = 1;
    idx[57] = 7;
    in[0] = 0;
    memcpy(in + 1, idx, 48);
    put("idx", "images", in, 49);
    in[0] = 1;
    sd_st_u32le(in + 1, 48);
    memcpy(in + 5, idx, sizeof idx);
    put("idx", "images-labels", in, 5 + sizeof idx);
    snprintf(p, sizeof p, "%s/tmp.idx", dir);
    OK(sd_write_file_atomic(p, idx, 48));
    put_file("idx", "images-gz", p, 0, 1);
}

static void jpeg_seed(int channels)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *mem = NULL;
    unsigned long n = 0;
    uint8_t row[8 * 3];
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &n);
    c.image_width = 8;
    c.image_height = 6;
    c.input_components = channels;
    c.in_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 50, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < 6; y++) {
        for (int x = 0; x < 8 * channels; x++)
            row[x] = (uint8_t)(x * 30 + y * 40);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    uint8_t *o = malloc(n + 1);
    if (!o)
        die("malloc");
    o[0] = channels == 3 ? 1 | 6 : 4;
    memcpy(o + 1, mem, n);
    put("image", channels == 3 ? "rgb.jpg" : "gray.jpg", o, n + 1);
    free(o);
    free(mem);
}

static void image_seeds(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/tmp.png", dir);
    uint8_t px[6 * 5 * 4];
    for (int i = 0; i < 120; i++)
        px[i] = (uint8_t)(i * 53);
    static const int ch[4] = {1, 2, 3, 4};
    static const char *names[4] = {"gray.png", "gray-alpha.png", "rgb.png", "rgba.png"};
    for (int i = 0; i < 4; i++) {
        OK(simdiff_write_png_u8(p, 6, 5, ch[i], px));
        put_file("image", names[i], p, (i & 1) | (i << 1), 0);
    }
    jpeg_seed(1);
    jpeg_seed(3);
}

static void model_seeds(void)
{
    char p[512];
    simdiff_model_config cfg;
    simdiff_model *m;
    simdiff_schedule *s;
    tiny_config(&cfg);
    OK(simdiff_model_create(&m, &cfg, 1));
    OK(simdiff_schedule_create_shifted(&s, 4, 8));
    snprintf(p, sizeof p, "%s/tmp.safetensors", dir);

    simdiff_trainer *t;
    OK(simdiff_trainer_create(&t, m, s, NULL, NULL));
    OK(simdiff_trainer_export(t, p, 0));
    /* A distiller of the exported model into a copy of it: its checkpoint
     * (sections 'distill' and 'teacher') and the student it exports (the
     * record 'simdiff.distilled'). */
    simdiff_model *teacher, *student;
    OK(simdiff_model_load(&teacher, p));
    OK(simdiff_model_load(&student, p));
    put_file("safetensors", "tiny-f32", p, -1, 0);
    simdiff_distill_config dc;
    simdiff_distiller *d;
    OK(simdiff_distill_config_init(&dc));
    dc.teacher_steps = 4;
    OK(simdiff_distiller_create(&d, teacher, student, &dc, NULL));
    OK(simdiff_distiller_export(d, p, 0));
    put_file("safetensors", "tiny-distilled", p, -1, 0);
    snprintf(p, sizeof p, "%s/tmp.ckpt", dir);
    OK(simdiff_distiller_save(d, p));
    put_file("checkpoint", "distiller", p, -1, 0);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(student);
    simdiff_model_destroy(teacher);
    snprintf(p, sizeof p, "%s/tmp.safetensors", dir);
    OK(simdiff_trainer_export(t, p, 1));
    put_file("safetensors", "tiny-f16", p, -1, 0);
    snprintf(p, sizeof p, "%s/tmp.ckpt", dir);
    OK(simdiff_trainer_save(t, p));
    put_file("checkpoint", "tiny", p, -1, 0);
    simdiff_trainer_destroy(t);

    /* A plain container and a plain safetensors file of other dtypes. */
    sd_ck_writer *w;
    OK(sd_ck_writer_create(&w));
    OK(sd_ck_writer_add(w, "config", "a=1", 3, 0));
    OK(sd_ck_writer_add(w, "data", "0123456789abcdef", 16, 1));
    OK(sd_ck_writer_commit(w, p));
    sd_ck_writer_destroy(w);
    put_file("checkpoint", "plain", p, -1, 0);

    sd_st_writer *sw;
    float v[6] = {1, -2, 3.5f, 0, 1e-3f, 65504};
    int64_t sh[2] = {2, 3}, sc[1] = {6};
    OK(sd_st_writer_create(&sw));
    OK(sd_st_writer_add(sw, "a", SD_DT_BF16, 2, sh, v));
    OK(sd_st_writer_add(sw, "b", SD_DT_F16, 1, sc, v));
    OK(sd_st_writer_add(sw, "c", SD_DT_F32, 0, sh, v));
    OK(sd_st_writer_set_metadata(sw, "k", "v"));
    void *buf;
    size_t n;
    OK(sd_st_writer_serialize(sw, &buf, &n));
    put("safetensors", "plain", buf, n);
    free(buf);
    sd_st_writer_destroy(sw);
    simdiff_schedule_destroy(s);
    simdiff_model_destroy(m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-seeds <corpus dir>\n");
        return 2;
    }
    dir = argv[1];
    text_seeds();
    vocab_seeds();
    array_seeds();
    image_seeds();
    model_seeds();
    return 0;
}
