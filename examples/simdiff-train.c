/*
 * simdiff-train: train a class-conditional diffusion model on Fashion-MNIST
 * (default) or an NPY file, with periodic checkpoints, resume, and Ctrl-C
 * handling (finish the step, save a checkpoint, exit cleanly).
 *
 *   simdiff-train                         # the default Fashion-MNIST U-ViT run
 *   simdiff-train --minutes 90 --out runs/a
 *   simdiff-train --resume runs/a/checkpoint.sdc
 *   mpirun -np 4 simdiff-train --mpi --out runs/b   # data-parallel (docs/distributed.md)
 *   simdiff-train --help
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <simdiff/simdiff.h>

#include "cli.h"
#include "lines.h"
#include "runutil.h"
#ifdef SIMDIFF_HAVE_MPI
#include "sdmpi.h"
#endif

typedef struct opts {
    const char *data_dir, *npy, *npy_labels, *out, *resume, *arch, *export_only, *schedule;
    const char *init; /* --init: start from this model's weights */
    const char *model_flag; /* the first architecture flag given (refused with --init) */
    int loss, multiscale_base, prediction;
    int fp16;
    long long steps;
    double minutes;
    long long stop_at;
    int batch, threads, pad, flip;
    double lr, label_dropout, ema;
    uint64_t seed;
    int ckpt_every, log_every;
    int width, depth, heads, stem, stem_param, levels, emb;
    int wiener; /* --skip wiener */
    int channels[SIMDIFF_MAX_LEVELS], nchannels; /* --channels: one per level, or one for all */
    int blocks[SIMDIFF_MAX_LEVELS], nblocks;
    double dropout_res, dropout_tf;
    int warmup;
    int cosine;
    const char *precision;
    int mpi, mpi_deterministic, microbatches;
    const char *captions; /* --captions: one caption per data row */
    int text_layers, text_width, text_len, text_heads, text_vocab;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: simdiff-train [options]\n"
            "data:\n"
            "  --data-dir DIR      Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
            "  --data FILE.npy     train on an NPY image file instead (uint8 or float32;\n"
            "                      N x H x W, N x C x H x W or N x H x W x C)\n"
            "  --data-labels FILE  its labels (NPY, optional)\n"
            "  --npy, --npy-labels the same as --data, --data-labels\n"
            "  --captions FILE     one caption per data row (a line each, in the data's\n"
            "                      order; a line with tabs counts from its last tab, so\n"
            "                      the emoji data set's emoji{S}-names.txt works as is):\n"
            "                      the model gets the built-in text encoder, its\n"
            "                      vocabulary built from these captions (docs/text.md);\n"
            "                      --label-dropout is also the caption dropout\n"
            "  --pad N             pad images to NxN (default 32; 0 = none)\n"
            "  --flip              random horizontal flips (default: none; only for data\n"
            "                      whose mirror images are as likely: not Fashion-MNIST,\n"
            "                      whose shoes all face left; docs/training.md)\n"
            "  --no-flip           no flips (the default)\n"
            "run:\n"
            "  --out DIR           output directory (default runs/fmnist)\n"
            "  --steps N           stop after N steps (default 12000; 0: write the initial\n"
            "                      model, step 0, and exit)\n"
            "  --minutes M         stop after M minutes of training (default: no limit)\n"
            "  --stop-at N         stop after step N with a checkpoint, the learning rate\n"
            "                      still scheduled for --steps (a part of a run, resumed\n"
            "                      later with --resume; default: --steps)\n"
            "  --resume FILE       continue from a checkpoint (bit-exact)\n"
            "  --export-only FILE  with --resume: write the EMA model to FILE and exit\n"
            "  --init FILE         a new run that starts from the weights of FILE (a model,\n"
            "                      or a checkpoint's EMA weights): fine-tuning or a second\n"
            "                      stage; architecture and schedule come from FILE (the\n"
            "                      model flags are refused, --schedule may replace it), the\n"
            "                      optimizer starts afresh with the flags of this run\n"
            "  --fp16              store exported models in float16 (half the size)\n"
            "  --batch N           batch size (default 64)\n"
            "  --threads N         compute threads (default: all cores)\n"
            "  --precision P       f32 (default) or bf16: bf16 matrix ops, f32 weights,\n"
            "                      optimizer and reductions (needs AVX-512 BF16);\n"
            "                      a resumed run keeps its checkpoint's precision\n"
            "  --seed N            seed of everything (default 0)\n"
            "  --microbatches N    compute each (per-process) batch as N parts one after\n"
            "                      the other, gradients summed in order (default 1)\n"
            "  --mpi               data-parallel over the processes of mpirun: each takes\n"
            "                      its part of every --batch, gradients summed by\n"
            "                      MPI_Allreduce (docs/distributed.md)\n"
            "  --mpi-deterministic like --mpi, summed in rank order (gather, add,\n"
            "                      broadcast): R processes equal --microbatches R bit for bit\n"
            "  --ckpt-every N      checkpoint every N steps (default 500)\n"
            "  --log-every N       print/log every N steps (default 50)\n"
            "optimizer:\n"
            "  --lr X              peak learning rate (default 4e-4)\n"
            "  --warmup N          warmup steps (default 300)\n"
            "  --cosine            cosine decay to 0.1*lr at --steps (default)\n"
            "  --constant-lr       no decay after warmup\n"
            "  --ema X             EMA decay (default 0.999)\n"
            "  --label-dropout P   classifier-free guidance label dropout (default 0.1)\n"
            "diffusion (new runs):\n"
            "  --schedule TEXT     noise schedule, e.g. \"cosine(-15,15)\", \"shifted(128,64)\",\n"
            "                      \"interpolated(128,128,32)\" (default shifted(d,64) for\n"
            "                      d x d images with d >= 64; below, shifted(64,64), the\n"
            "                      plain cosine: docs/training.md)\n"
            "  --loss eps|v|multiscale   training loss (default eps)\n"
            "  --multiscale-base N lowest resolution of the multiscale loss (default 32)\n"
            "  --prediction v|eps  what the network predicts (default v)\n"
            "model (new runs):\n"
            "  --arch uvit|unet    (default uvit)\n"
            "  --stem none|patch|dwt|dwt-unit, --stem-param N   (default dwt 1; dwt-unit:\n"
            "                      the DWT with unit-variance bands, docs/highres.md)\n"
            "  --channels N[,N..]  conv channels of every level, or one number per\n"
            "                      level, level 1 (the finest) first (default 64)\n"
            "  --levels N          conv levels (default 1, or the length of a\n"
            "                      --channels or --blocks list)\n"
            "  --blocks N[,N..]    ResBlocks per level, one for all or one per level\n"
            "                      (default 1)\n"
            "  --skip none|wiener  add the per-band Wiener estimate to the output, its\n"
            "                      statistics measured on the data (default none;\n"
            "                      docs/highres.md)\n"
            "  --width N, --depth N, --heads N   transformer (default 192, 6, 4)\n"
            "  --emb N             embedding width (default 256)\n"
            "  --dropout-res P, --dropout-tf P  (default 0, 0)\n"
            "  --text-layers N     text encoder layers, with --captions (default 2)\n"
            "  --text-width N      its width, the context width ctx_dim (default 128)\n"
            "  --text-len N        most words of a caption, ctx_len (default 16; longer\n"
            "                      captions are truncated)\n"
            "  --text-heads N      its attention heads (default 4)\n"
            "  --text-vocab N      most vocabulary ids, 2 special ones included (default\n"
            "                      4096; rarer words become the unknown word)\n"
            "The defaults with --precision bf16 --threads 1 are the recipe of\n"
            "models/fmnist-uvit.safetensors (docs/training.md).\n");
}

#define P "simdiff-train"

/* An unknown name for an enum flag: say which names there are (the
 * library's message lists them). */
static int bad_name(const char *flag, const char *v)
{
    fprintf(stderr, "simdiff-train: %s: '%s': %s\n", flag, v, simdiff_last_error());
    return -1;
}

static int parse(int argc, char **argv, opts *o)
{
    /* The defaults are the bundled model's recipe (docs/training.md). */
    *o = (opts){.data_dir = "/usr/share/datasets/fashion-mnist", .out = "runs/fmnist",
                .arch = "uvit", .steps = 12000, .minutes = 0, .batch = 64, .pad = 32,
                .flip = 0, .lr = 4e-4, .label_dropout = 0.1, .ema = 0.999,
                .ckpt_every = 500, .log_every = 50, .width = 192, .depth = 6,
                .heads = 4, .channels = {64}, .nchannels = 1, .stem = SIMDIFF_STEM_DWT,
                .stem_param = 1,
                .blocks = {1}, .nblocks = 1, .emb = 256, .dropout_res = 0.0, .dropout_tf = 0.0,
                .warmup = 300, .cosine = 1, .loss = SIMDIFF_LOSS_EPS,
                .multiscale_base = 32, .prediction = SIMDIFF_PRED_V, .microbatches = 1,
                .text_layers = 2, .text_width = 128, .text_len = 16, .text_heads = 4,
                .text_vocab = 4096};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG CLI_ARG
#define INT CLI_INT
#define DBL CLI_DBL
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--no-flip")) o->flip = 0;
        else if (!strcmp(a, "--flip")) o->flip = 1;
        else if (!strcmp(a, "--cosine")) o->cosine = 1;
        else if (!strcmp(a, "--constant-lr")) o->cosine = 0;
        else if (!strcmp(a, "--fp16")) o->fp16 = 1;
        else if (!strcmp(a, "--mpi")) o->mpi = 1;
        else if (!strcmp(a, "--mpi-deterministic")) o->mpi = o->mpi_deterministic = 1;
        else if (ARG("--microbatches")) { if (INT(1, 1 << 20, &o->microbatches)) return -1; }
        else if (ARG("--export-only")) o->export_only = v;
        else if (ARG("--data-dir")) o->data_dir = v;
        else if (ARG("--npy") || ARG("--data")) o->npy = v;
        else if (ARG("--npy-labels") || ARG("--data-labels")) o->npy_labels = v;
        else if (ARG("--schedule")) o->schedule = v;
        else if (ARG("--captions")) o->captions = v;
        else if (ARG("--text-layers")) { if (!o->model_flag) o->model_flag = a; if (INT(0, SIMDIFF_MAX_TEXT_LAYERS, &o->text_layers)) return -1; }
        else if (ARG("--text-width")) { if (!o->model_flag) o->model_flag = a; if (INT(1, SIMDIFF_MAX_CTX_DIM, &o->text_width)) return -1; }
        else if (ARG("--text-len")) { if (!o->model_flag) o->model_flag = a; if (INT(1, SIMDIFF_MAX_CTX_LEN, &o->text_len)) return -1; }
        else if (ARG("--text-heads")) { if (!o->model_flag) o->model_flag = a; if (INT(1, 1024, &o->text_heads)) return -1; }
        else if (ARG("--text-vocab")) { if (!o->model_flag) o->model_flag = a; if (INT(2, SIMDIFF_MAX_TEXT_VOCAB, &o->text_vocab)) return -1; }
        else if (ARG("--loss")) {
            simdiff_loss l;
            if (simdiff_loss_from_name(v, &l))
                return bad_name("--loss", v);
            o->loss = (int)l;
        }
        else if (ARG("--multiscale-base")) { if (INT(1, 1 << 16, &o->multiscale_base)) return -1; }
        else if (ARG("--prediction")) { if (!o->model_flag) o->model_flag = a;
            simdiff_prediction pr;
            if (simdiff_prediction_from_name(v, &pr))
                return bad_name("--prediction", v);
            o->prediction = (int)pr;
        }
        else if (ARG("--pad")) { if (INT(0, 4096, &o->pad)) return -1; }
        else if (ARG("--out")) o->out = v;
        else if (ARG("--steps")) { if (cli_ll(P, a, v, 0, 1000000000000LL, &o->steps)) return -1; }
        else if (ARG("--stop-at")) { if (cli_ll(P, a, v, 1, 1000000000000LL, &o->stop_at)) return -1; }
        else if (ARG("--minutes")) { if (DBL(0, 0, 1e9, 0, &o->minutes)) return -1; }
        else if (ARG("--resume")) o->resume = v;
        else if (ARG("--init")) o->init = v;
        else if (ARG("--batch")) { if (INT(1, 1 << 20, &o->batch)) return -1; }
        else if (ARG("--threads")) { if (INT(1, 4096, &o->threads)) return -1; }
        else if (ARG("--precision")) o->precision = v;
        else if (ARG("--seed")) { if (cli_u64(P, a, v, &o->seed)) return -1; }
        else if (ARG("--ckpt-every")) { if (INT(1, INT32_MAX, &o->ckpt_every)) return -1; }
        else if (ARG("--log-every")) { if (INT(1, INT32_MAX, &o->log_every)) return -1; }
        else if (ARG("--lr")) { if (DBL(0, 1, 10, 1, &o->lr)) return -1; }
        else if (ARG("--warmup")) { if (INT(0, INT32_MAX, &o->warmup)) return -1; }
        else if (ARG("--ema")) { if (DBL(0, 0, 1, 1, &o->ema)) return -1; }
        else if (ARG("--label-dropout")) { if (DBL(0, 0, 1, 0, &o->label_dropout)) return -1; }
        else if (ARG("--arch")) { if (!o->model_flag) o->model_flag = a;
            simdiff_arch ar;
            if (simdiff_arch_from_name(v, &ar))
                return bad_name("--arch", v);
            o->arch = v;
        }
        else if (ARG("--stem")) { if (!o->model_flag) o->model_flag = a;
            simdiff_stem st;
            if (simdiff_stem_from_name(v, &st))
                return bad_name("--stem", v);
            o->stem = (int)st;
        }
        else if (ARG("--skip")) { if (!o->model_flag) o->model_flag = a;
            if (!strcmp(v, "wiener")) o->wiener = 1;
            else if (!strcmp(v, "none")) o->wiener = 0;
            else {
                fprintf(stderr, "simdiff-train: --skip %s: expected none or wiener\n", v);
                return -1;
            }
        }
        else if (ARG("--stem-param")) { if (!o->model_flag) o->model_flag = a; if (INT(0, 16, &o->stem_param)) return -1; }
        else if (ARG("--channels")) { if (!o->model_flag) o->model_flag = a; if (cli_int_list(P, a, v, 1, 4096, o->channels, SIMDIFF_MAX_LEVELS, &o->nchannels)) return -1; }
        else if (ARG("--levels")) { if (!o->model_flag) o->model_flag = a; if (INT(1, SIMDIFF_MAX_LEVELS, &o->levels)) return -1; }
        else if (ARG("--blocks")) { if (!o->model_flag) o->model_flag = a; if (cli_int_list(P, a, v, 1, 64, o->blocks, SIMDIFF_MAX_LEVELS, &o->nblocks)) return -1; }
        else if (ARG("--width")) { if (!o->model_flag) o->model_flag = a; if (INT(1, 1 << 16, &o->width)) return -1; }
        else if (ARG("--depth")) { if (!o->model_flag) o->model_flag = a; if (INT(1, 1024, &o->depth)) return -1; }
        else if (ARG("--heads")) { if (!o->model_flag) o->model_flag = a; if (INT(1, 1024, &o->heads)) return -1; }
        else if (ARG("--emb")) { if (!o->model_flag) o->model_flag = a; if (INT(1, 1 << 16, &o->emb)) return -1; }
        else if (ARG("--dropout-res")) { if (!o->model_flag) o->model_flag = a; if (DBL(0, 0, 1, 1, &o->dropout_res)) return -1; }
        else if (ARG("--dropout-tf")) { if (!o->model_flag) o->model_flag = a; if (DBL(0, 0, 1, 1, &o->dropout_tf)) return -1; }
        else {
            fprintf(stderr, "simdiff-train: unknown option '%s' (see --help)\n", a);
            return -1;
        }
#undef ARG
#undef INT
#undef DBL
    }
    if (o->export_only && !o->resume) {
        fprintf(stderr, "simdiff-train: --export-only needs --resume CHECKPOINT\n");
        return -1;
    }
    if (o->init && o->resume) {
        fprintf(stderr, "simdiff-train: --init starts a new run and --resume continues one: "
                        "give one of them\n");
        return -1;
    }
    if (o->init && o->model_flag) {
        fprintf(stderr, "simdiff-train: %s: the architecture of an --init run is the one "
                        "stored in %s\n", o->model_flag, o->init);
        return -1;
    }
    /* Without --levels, a --channels or --blocks list sets the count. */
    if (!o->levels)
        o->levels = o->nchannels > 1 ? o->nchannels : o->nblocks > 1 ? o->nblocks : 1;
    if ((o->nchannels > 1 && o->nchannels != o->levels) ||
        (o->nblocks > 1 && o->nblocks != o->levels)) {
        fprintf(stderr, "simdiff-train: --channels and --blocks give one number for every "
                        "level, or a list of --levels %d numbers (level 1 first)\n", o->levels);
        return -1;
    }
    if (o->mpi && o->export_only) {
        fprintf(stderr, "simdiff-train: --export-only runs on one process (no --mpi)\n");
        return -1;
    }
    /* The cosine decay runs from the end of the warmup to --steps. */
    if (!o->resume && o->cosine && o->steps > 0 && o->warmup >= o->steps) {
        fprintf(stderr,
                "simdiff-train: --warmup %d is not below --steps %lld: the cosine decay needs "
                "steps after the warmup; lower --warmup, raise --steps, or use --constant-lr\n",
                o->warmup, o->steps);
        return -1;
    }
    return 0;
}

static simdiff_prediction model_prediction(const simdiff_model *m)
{
    simdiff_model_config c;
    c.struct_size = sizeof c;
    simdiff_model_get_config(m, &c);
    return c.prediction;
}

/* An --init model must fit the data: its channels, size and classes. */
static int init_fits(const simdiff_model *m, const char *path, int C, int d, int K)
{
    simdiff_model_config c;
    c.struct_size = sizeof c;
    if (simdiff_model_get_config(m, &c))
        return -1;
    if (c.channels != C || c.image_size != d || c.num_classes != K) {
        fprintf(stderr,
                "simdiff-train: %s is a model of %d x %d x %d images and %d classes; "
                "the data gives %d x %d x %d and %d classes\n",
                path, c.channels, c.image_size, c.image_size, c.num_classes, C, d, d, K);
        return -1;
    }
    return 0;
}

#ifdef SIMDIFF_HAVE_MPI
static sdmpi *g_mpi; /* under --mpi */
#endif
static int g_rank; /* this process's rank (0 without --mpi) */

/* A failure before the training loop: under --mpi every rank stops with
 * it (the others would wait for this one). */
static int quit(int rc)
{
#ifdef SIMDIFF_HAVE_MPI
    if (rc && g_mpi)
        sdmpi_abort(g_mpi, rc);
#endif
    return rc;
}

static int fail(const char *what)
{
    if (g_rank)
        fprintf(stderr, "simdiff-train: rank %d: %s: %s\n", g_rank, what, simdiff_last_error());
    else
        fprintf(stderr, "simdiff-train: %s: %s\n", what, simdiff_last_error());
    return 1;
}

/* Free a model made before a failure; returns rc. */
static int drop_model(simdiff_model **mp, int rc)
{
    simdiff_model_destroy(*mp);
    *mp = NULL;
    return rc;
}

/* The vocabulary of captions (malloc'd text, *size ids). NULL on failure
 * (message printed). */
static char *build_vocab(const opts *o, const text_lines *caps, int *size)
{
    size_t len = 0;
    const char *const *c = (const char *const *)caps->line;
    if (simdiff_text_vocab_build(c, caps->n, o->text_vocab, NULL, 0, &len, size)) {
        fail("--captions");
        return NULL;
    }
    char *v = malloc(len + 1);
    if (!v || simdiff_text_vocab_build(c, caps->n, o->text_vocab, v, len + 1, NULL, size)) {
        free(v);
        fail("--captions");
        return NULL;
    }
    return v;
}

/* A new run's model and schedule from the flags (with captions: a text
 * encoder and their vocabulary). 0, or the exit status. */
static int new_model(const opts *o, int C, int d, int K, const text_lines *caps,
                     simdiff_model **mp, simdiff_schedule **sp)
{
    simdiff_model_config cfg;
    simdiff_arch arch;
    if (simdiff_arch_from_name(o->arch, &arch))
        return fail("--arch");
    if (simdiff_model_config_init(&cfg, arch, d, C))
        return fail("model config");
    cfg.stem = (simdiff_stem)o->stem;
    cfg.stem_param = o->stem_param;
    cfg.num_levels = o->levels;
    for (int l = 0; l < o->levels && l < SIMDIFF_MAX_LEVELS; l++) {
        cfg.level_channels[l] = o->channels[o->nchannels > 1 ? l : 0];
        cfg.level_blocks[l] = o->blocks[o->nblocks > 1 ? l : 0];
    }
    cfg.prediction = (simdiff_prediction)o->prediction;
    cfg.wiener_skip = o->wiener;
    int r0 = o->stem == SIMDIFF_STEM_NONE    ? d
             : o->stem == SIMDIFF_STEM_PATCH ? d / o->stem_param
                                             : d >> o->stem_param;
    cfg.attn_resolution = arch == SIMDIFF_ARCH_UVIT ? r0 >> o->levels : 16;
    cfg.tf_width = o->width;
    cfg.tf_depth = o->depth;
    cfg.tf_heads = o->heads;
    cfg.emb_dim = o->emb;
    cfg.dropout_res = (float)o->dropout_res;
    cfg.dropout_tf = (float)o->dropout_tf;
    cfg.num_classes = K;
    char *vocab = NULL;
    if (caps) {
        if (!(vocab = build_vocab(o, caps, &cfg.text_vocab)))
            return 1;
        cfg.ctx_dim = o->text_width;
        cfg.ctx_len = o->text_len;
        cfg.text_layers = o->text_layers;
        cfg.text_heads = o->text_heads;
        if (!g_rank)
            fprintf(stderr, "captions: %d, vocabulary %d ids (2 special), at most %d words "
                            "each\n", caps->n, cfg.text_vocab, cfg.ctx_len);
    }
    char msg[256];
    if (simdiff_model_config_validate(&cfg, msg, sizeof msg)) {
        fprintf(stderr, "simdiff-train: invalid model: %s\n", msg);
        free(vocab);
        return 2;
    }
    if (simdiff_model_create(mp, &cfg, o->seed)) {
        free(vocab);
        return fail("model");
    }
    int vst = vocab ? simdiff_model_set_vocab(*mp, vocab) : 0;
    free(vocab);
    if (vst)
        return drop_model(mp, fail("vocabulary"));
    /* The paper shifts towards more noise above its 64x64 base; below it,
     * shifting towards less noise measured worse (docs/training.md, rows A
     * and B), so small images keep the plain cosine. */
    if (o->schedule ? simdiff_schedule_from_string(sp, o->schedule)
                    : simdiff_schedule_create_shifted(sp, d > 64 ? d : 64, 64))
        return drop_model(mp, fail("schedule"));
    return 0;
}

/* An --init run's model (the weights, architecture and stored schedule of
 * o->init; --schedule replaces the schedule). 0, or the exit status. */
static int init_model(const opts *o, int C, int d, int K, simdiff_model **mp,
                      simdiff_schedule **sp)
{
    if (simdiff_model_load(mp, o->init))
        return fail(o->init);
    if (init_fits(*mp, o->init, C, d, K))
        return drop_model(mp, 2);
    char mtext[SIMDIFF_SCHEDULE_STRING_MAX];
    const char *stx = o->schedule;
    if (!stx) {
        if (simdiff_model_schedule_text(*mp, mtext, sizeof mtext, NULL) || !mtext[0]) {
            fprintf(stderr, "simdiff-train: %s stores no noise schedule: give --schedule\n",
                    o->init);
            return drop_model(mp, 2);
        }
        stx = mtext;
    }
    if (simdiff_schedule_from_string(sp, stx))
        return drop_model(mp, fail("schedule"));
    if (!g_rank)
        fprintf(stderr, "initialised from %s\n", o->init);
    return 0;
}

/* The Wiener skip's statistics from up to 2048 images spread evenly over
 * the data set (as the trainer sees them: padded, not flipped). 0 or -1. */
static int fit_skip(const opts *o, simdiff_dataset *ds, simdiff_model *m)
{
    int64_t count = simdiff_dataset_count(ds);
    int n = count < 2048 ? (int)count : 2048;
    int C, S;
    simdiff_model_image_shape(m, &C, &S, NULL);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    float *x = malloc((size_t)n * C * S * S * sizeof *x);
    int rc = -1;
    if (!idx || !x)
        fprintf(stderr, "simdiff-train: out of memory for the Wiener skip's statistics\n");
    else {
        for (int i = 0; i < n; i++)
            idx[i] = (int64_t)((double)i * (double)count / n);
        if (simdiff_dataset_get_batch(ds, n, idx, o->pad, NULL, x, NULL))
            fprintf(stderr, "simdiff-train: %s\n", simdiff_dataset_errmsg(ds));
        else if (simdiff_model_fit_skip(m, n, x))
            fprintf(stderr, "simdiff-train: Wiener skip: %s\n", simdiff_model_errmsg(m));
        else {
            rc = 0;
            if (!g_rank)
                fprintf(stderr, "Wiener skip: statistics of %d images\n", n);
        }
    }
    free(idx);
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o))
        return 2;
    int nproc = 1;
#ifdef SIMDIFF_HAVE_MPI
    sdmpi mp;
    if (o.mpi) {
        if (sdmpi_init(&mp, &argc, &argv))
            return 1;
        g_mpi = &mp;
        g_rank = mp.rank;
        nproc = mp.size;
        mp.deterministic = o.mpi_deterministic;
    }
#else
    if (o.mpi) {
        fprintf(stderr, "simdiff-train: --mpi: this build has no MPI (install Open MPI, "
                        "e.g. Debian's libopenmpi-dev, and reconfigure with -Dmpi=enabled)\n");
        return 2;
    }
#endif
    /* This process's examples lo .. lo+nb-1 of every global batch. */
    int B = o.batch;
    int lo = (int)((int64_t)B * g_rank / nproc);
    int nb = (int)((int64_t)B * (g_rank + 1) / nproc) - lo;
    if (B / nproc < o.microbatches) {
        if (!g_rank)
            fprintf(stderr, "simdiff-train: --batch %d is too small for %d process%s x "
                            "%d microbatch%s\n", B, nproc, nproc > 1 ? "es" : "",
                    o.microbatches, o.microbatches > 1 ? "es" : "");
        return quit(2);
    }
    /* --threads is the budget of this program's trainer (process-wide
     * too, for the data loading). */
    if (o.threads > 0 && simdiff_set_num_threads(o.threads))
        return quit(fail("--threads"));
    simdiff_precision prec = SIMDIFF_PRECISION_F32;
    if (o.precision && simdiff_precision_from_name(o.precision, &prec)) {
        fprintf(stderr, "simdiff-train: --precision: '%s' is not f32 or bf16\n", o.precision);
        return quit(2);
    }
    if (simdiff_precision_check(prec))
        return quit(fail("--precision"));
    if (o.export_only) {
        simdiff_model *m = NULL;
        simdiff_trainer *t = NULL;
        if (simdiff_trainer_load(&t, &m, o.resume))
            return fail(o.resume);
        int rc = simdiff_trainer_export(t, o.export_only, o.fp16) ? fail(o.export_only) : 0;
        if (!rc)
            fprintf(stderr, "wrote %s\n", o.export_only);
        simdiff_trainer_destroy(t);
        simdiff_model_destroy(m);
        return rc;
    }

    simdiff_dataset *ds = NULL;
    char failed[1100];
    if (run_open_data(&ds, o.data_dir, o.npy, o.npy_labels, failed, sizeof failed))
        return quit(fail(failed));
    int C = simdiff_dataset_channels(ds), H = simdiff_dataset_height(ds);
    int d = o.pad > 0 ? o.pad : H;
    int K = simdiff_dataset_num_classes(ds);
    text_lines caps = {0};
    if (o.captions) {
        char err[1200];
        if (text_lines_read(o.captions, 1, &caps, err, sizeof err)) {
            fprintf(stderr, "simdiff-train: --captions: %s\n", err);
            simdiff_dataset_destroy(ds);
            return quit(2);
        }
        if ((int64_t)caps.n != simdiff_dataset_count(ds)) {
            fprintf(stderr, "simdiff-train: --captions: %s has %d lines for %lld images\n",
                    o.captions, caps.n, (long long)simdiff_dataset_count(ds));
            text_lines_free(&caps);
            simdiff_dataset_destroy(ds);
            return quit(2);
        }
    }

    simdiff_model *m = NULL;
    simdiff_trainer *t = NULL;
    if (o.resume) {
        if (simdiff_trainer_load(&t, &m, o.resume)) {
            simdiff_dataset_destroy(ds);
            text_lines_free(&caps);
            return quit(fail(o.resume));
        }
        if (!g_rank)
            fprintf(stderr, "resumed %s\n", o.resume);
    } else {
        simdiff_schedule *s = NULL;
        int rc = o.init ? init_model(&o, C, d, K, &m, &s)
                        : new_model(&o, C, d, K, o.captions ? &caps : NULL, &m, &s);
        if (rc) {
            simdiff_dataset_destroy(ds);
            text_lines_free(&caps);
            return quit(rc);
        }
        if (!o.init && o.wiener && fit_skip(&o, ds, m)) {
            simdiff_model_destroy(m);
            simdiff_schedule_destroy(s);
            simdiff_dataset_destroy(ds);
            text_lines_free(&caps);
            return quit(1);
        }
        simdiff_trainer_config tc;
        simdiff_optimizer_config oc;
        simdiff_trainer_config_init(&tc);
        simdiff_optimizer_config_init(&oc);
        tc.seed = o.seed;
        tc.precision = prec;
        tc.num_threads = o.threads;
        tc.loss = (simdiff_loss)o.loss;
        tc.multiscale_base = o.multiscale_base;
        tc.label_dropout = K > 0 ? o.label_dropout : 0;
        tc.ctx_dropout = o.label_dropout; /* the caption dropout */
        oc.lr = o.lr;
        oc.ema_decay = o.ema;
        oc.warmup_steps = o.warmup;
        if (o.cosine && o.steps > 0) { /* --steps 0 trains nothing: no decay */
            oc.decay = SIMDIFF_LR_COSINE;
            oc.total_steps = o.steps;
        }
        char stext[SIMDIFF_SCHEDULE_STRING_MAX];
        if (simdiff_schedule_to_string(s, stext, sizeof stext))
            return quit(fail("schedule"));
        static const char *loss_name[] = {"eps", "v", "multiscale"};
        if (!g_rank)
            fprintf(stderr, "schedule %s, loss %s, prediction %s\n", stext, loss_name[o.loss],
                    model_prediction(m) == SIMDIFF_PRED_V ? "v" : "eps");
        if (simdiff_trainer_create(&t, m, s, &tc, &oc))
            return quit(fail("trainer"));
        simdiff_schedule_destroy(s);
    }
    simdiff_model_config cfg;
    cfg.struct_size = sizeof cfg;
    simdiff_model_get_config(m, &cfg);
    /* A model with a text encoder trains on captions, one without cannot. */
    if ((cfg.text_vocab > 0) != (o.captions != NULL)) {
        fprintf(stderr, "simdiff-train: %s\n",
                o.captions ? "--captions: the model has no text encoder (it was made without "
                             "--captions)"
                           : "the model has a text encoder: give its --captions");
        simdiff_trainer_destroy(t);
        simdiff_model_destroy(m);
        simdiff_dataset_destroy(ds);
        text_lines_free(&caps);
        return quit(2);
    }
    double flops = 0;
    simdiff_model_flops(m, &flops);
    if (!g_rank)
        fprintf(stderr, "%s\nmodel: %s %dx%dx%d, %lld params, %.3f GFLOP/image; data: %lld images, %d classes\n",
                simdiff_runtime_info(), cfg.arch == SIMDIFF_ARCH_UVIT ? "U-ViT" : "U-Net",
                cfg.channels, cfg.image_size, cfg.image_size,
                (long long)simdiff_model_num_params(m), flops / 1e9,
                (long long)simdiff_dataset_count(ds), K);

    size_t per = (size_t)C * d * d;
    float *x = malloc((size_t)nb * per * sizeof(float));
    int *labels = malloc((size_t)nb * sizeof(int));
    const char **capb = malloc((size_t)nb * sizeof *capb);
    int64_t *idx = malloc((size_t)B * sizeof(int64_t));
    uint8_t *flip = malloc((size_t)B);
    int64_t *perm = malloc((size_t)simdiff_dataset_count(ds) * sizeof(int64_t));
    if (!x || !labels || !capb || !idx || !flip || !perm) {
        fprintf(stderr, "simdiff-train: out of memory\n");
        return quit(1);
    }
    long long perm_epoch = -1;
    char ckpt[1100], model_out[1100], logpath[1100];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.sdc", o.out);
    snprintf(model_out, sizeof model_out, "%s/model.safetensors", o.out);
    snprintf(logpath, sizeof logpath, "%s/loss.csv", o.out);
    simdiff_trainer_stats stt = {.struct_size = sizeof stt};
    simdiff_trainer_stats_get(t, &stt);
#ifdef SIMDIFF_HAVE_MPI
    if (g_mpi) {
        /* Every rank loaded (or made) the same state: at least the same step. */
        int64_t kmin, kmax;
        if (sdmpi_minmax_i64(g_mpi, stt.step, &kmin, &kmax)) {
            fprintf(stderr, "simdiff-train: %s\n", g_mpi->err);
            return quit(1);
        }
        if (kmin != kmax) {
            if (!g_rank)
                fprintf(stderr, "simdiff-train: the ranks start at different steps (%lld .. "
                                "%lld): every rank must read the same checkpoint\n",
                        (long long)kmin, (long long)kmax);
            return quit(1);
        }
        simdiff_trainer_set_grad_reduce(t, sdmpi_grad_reduce, g_mpi);
        if (!g_rank)
            fprintf(stderr, "data-parallel: %d processes, batch %d split %d..%d per process, "
                            "gradients summed by %s\n", nproc, B, B / nproc,
                    (B + nproc - 1) / nproc,
                    o.mpi_deterministic ? "gather + rank-order sum + broadcast"
                                        : "MPI_Allreduce");
    }
#endif
    /* The output directory and the log before the first step, so a bad
     * --out is found now, not at the first checkpoint (rank 0 writes
     * everything). */
    FILE *logf = NULL;
    if (!g_rank) {
        if (run_prepare_out(P, o.out))
            return quit(1);
        logf = run_open_log(logpath, (long long)stt.step,
                            "step,loss,loss_avg,grad_norm,lr,images_per_s,elapsed_s\n");
        if (!logf) {
            fprintf(stderr, "simdiff-train: cannot write '%s': %s\n", logpath, strerror(errno));
            return quit(1);
        }
    }

    run_catch_stop();
    int tty = isatty(2);
    double t0 = run_now(), tlast = t0, avg = NAN, sum_loss = 0;
    long long start = stt.step, nlog = 0;
    int rc = 0, stop = 0, log_failed = 0;
    while (!stop) {
        simdiff_trainer_stats_get(t, &stt);
        long long k = stt.step;
        int timeout = o.minutes > 0 && run_now() - t0 > o.minutes * 60;
        if (k >= o.steps || (o.stop_at > 0 && k >= o.stop_at) || (!o.mpi && (g_stop || timeout)))
            break;
        /* The global batch's indices and flips on every process, then this
         * process's part of it. */
        if (run_batch_indices(ds, o.seed, k, B, perm, &perm_epoch, idx) ||
            (o.flip && simdiff_dataset_flip_mask(o.seed, (uint64_t)k, B, idx, flip)) ||
            simdiff_dataset_get_batch(ds, nb, idx + lo, o.pad, o.flip ? flip + lo : NULL, x,
                                      labels)) {
            rc = fail("data");
            break;
        }
        double loss;
#ifdef SIMDIFF_HAVE_MPI
        /* Under --mpi the ranks stop together: each adds its request
         * (Ctrl-C/SIGTERM, or rank 0's --minutes) to the step's reduction. */
        if (g_mpi)
            g_mpi->stop_in = g_stop || (!g_rank && timeout);
#endif
        const int *lab = K > 0 ? labels : NULL;
        for (int i = 0; o.captions && i < nb; i++)
            capb[i] = caps.line[idx[lo + i]];
        const int part = o.mpi || o.microbatches > 1;
        simdiff_status sst =
            o.captions ? (part ? simdiff_trainer_step_part_text(t, B, lo, nb, o.microbatches, x,
                                                                lab, NULL, capb, &loss)
                               : simdiff_trainer_step_text(t, B, x, lab, NULL, capb, &loss))
            : part     ? simdiff_trainer_step_part(t, B, lo, nb, o.microbatches, x, lab, NULL,
                                                   &loss)
                       : simdiff_trainer_step(t, B, x, lab, &loss);
        if (sst) {
#ifdef SIMDIFF_HAVE_MPI
            if (g_mpi && g_mpi->err[0])
                fprintf(stderr, "simdiff-train: %s\n", g_mpi->err);
#endif
            rc = fail("training step");
            break;
        }
        stop = g_stop;
#ifdef SIMDIFF_HAVE_MPI
        if (g_mpi)
            stop = g_mpi->stop_out > 0;
#endif
        if (isfinite(loss)) {
            avg = isnan(avg) ? loss : 0.98 * avg + 0.02 * loss;
            sum_loss += loss;
            nlog++;
        }
        k++;
        double tn = run_now();
        if (!g_rank && (k % o.log_every == 0 || tty)) {
            double ips = (double)(k - start) * B / (tn - t0);
            char eta[32], el[32];
            long long end = o.stop_at > 0 && o.stop_at < o.steps ? o.stop_at : o.steps;
            double left = (double)(end - k) * B / ips;
            if (o.minutes > 0 && o.minutes * 60 - (tn - t0) < left)
                left = o.minutes * 60 - (tn - t0);
            run_fmt_time(left, eta, sizeof eta);
            run_fmt_time(tn - t0, el, sizeof el);
            simdiff_trainer_stats_get(t, &stt);
            if (tty) {
                if (tn - tlast > 0.25 || k % o.log_every == 0) {
                    fprintf(stderr, "\rstep %lld/%lld  loss %.4f  %.1f img/s  lr %.2e  %s elapsed, ETA %s   ",
                            k, o.steps, avg, ips, stt.lr, el, eta);
                    tlast = tn;
                }
            } else if (k % o.log_every == 0) {
                fprintf(stderr, "step %lld/%lld loss %.4f %.1f img/s lr %.2e elapsed %s ETA %s skipped %lld\n",
                        k, o.steps, avg, ips, stt.lr, el, eta, (long long)stt.skipped);
            }
            if (k % o.log_every == 0) {
                fprintf(logf, "%lld,%.6f,%.6f,%.4f,%.6g,%.2f,%.1f\n", k,
                        nlog ? sum_loss / nlog : NAN, avg, stt.last_grad_norm, stt.lr, ips,
                        tn - t0);
                if ((fflush(logf) != 0 || ferror(logf)) && !log_failed) {
                    fprintf(stderr, "%ssimdiff-train: writing %s failed: %s; training goes on, "
                                    "the run will end with status 1\n",
                            tty ? "\n" : "", logpath, strerror(errno));
                    log_failed = 1;
                }
                sum_loss = 0;
                nlog = 0;
            }
        }
        if (!g_rank && k % o.ckpt_every == 0) {
            if (simdiff_trainer_save(t, ckpt) || simdiff_trainer_export(t, model_out, o.fp16)) {
                rc = fail("checkpoint");
                break;
            }
        }
    }
    if (tty && !g_rank)
        fputc('\n', stderr);
    /* A failed step or batch leaves the trainer as it was before it, so
     * the run is still saved; the message says it stopped on an error.
     * Under --mpi, rank 0 saves (every rank holds the same state) and a
     * failure on any rank then ends all of them. */
    simdiff_trainer_stats_get(t, &stt);
    if (!g_rank) {
        if (simdiff_trainer_save(t, ckpt) || simdiff_trainer_export(t, model_out, o.fp16))
            rc = fail("checkpoint");
        else if (rc)
            fprintf(stderr, "simdiff-train: stopped by the error above at step %lld; saved %s and %s\n",
                    (long long)stt.step, ckpt, model_out);
        else
            fprintf(stderr, "%s: saved %s and %s\n", g_stop ? "interrupted" : "done", ckpt,
                    model_out);
    }
#ifdef SIMDIFF_HAVE_MPI
    if (g_mpi && !g_rank && g_mpi->reduce_calls)
        fprintf(stderr, "gradient reduction: %.1f ms per step on rank 0 (%lld parameters, "
                        "waiting for the slowest rank included)\n",
                1e3 * g_mpi->reduce_s / (double)g_mpi->reduce_calls,
                (long long)simdiff_model_num_params(m));
#endif
    if (logf && (fclose(logf) != 0 || log_failed) && !rc) {
        fprintf(stderr, "simdiff-train: %s is incomplete (a write failed)\n", logpath);
        rc = 1;
    }
#ifdef SIMDIFF_HAVE_MPI
    if (g_mpi && rc) {
        fprintf(stderr, "simdiff-train: rank %d stops the run (exit %d)%s\n", g_rank, rc,
                g_rank ? "" : "; the checkpoint above is intact");
        sdmpi_abort(g_mpi, rc);
    }
#endif
    free(x);
    free(labels);
    free(capb);
    text_lines_free(&caps);
    free(idx);
    free(flip);
    free(perm);
    simdiff_trainer_destroy(t);
    simdiff_model_destroy(m);
    simdiff_dataset_destroy(ds);
#ifdef SIMDIFF_HAVE_MPI
    if (g_mpi)
        sdmpi_finalize(g_mpi);
#endif
    return rc;
}
