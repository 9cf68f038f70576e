/*
 * simdiff-sample: draw images from a trained model.
 *
 *   simdiff-sample                                  # 16 images of the bundled model
 *   simdiff-sample runs/a/model.safetensors --labels all --count 100 --png grid.png
 *   simdiff-sample --count 10000 --labels all --npy s.npy --labels-npy l.npy --batch 250
 *   simdiff-sample --init sketch.png --strength 0.6 --png out.png     # image-to-image
 *   simdiff-sample --init photo.png --mask hole.png --png out.png     # inpainting
 *   simdiff-sample --init shirt.png --strength 0.5 --variations 8 --png v.png
 *   simdiff-sample --latents eps.npy --png out.png  # start from your own noise
 *   mpirun -np 4 simdiff-sample --mpi --count 10000 --npy s.npy   # split over processes
 *   simdiff-sample --help
 *
 * Ctrl-C cancels the run cleanly (simdiff_sampler_cancel() from the signal
 * handler); a second Ctrl-C exits at once.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <simdiff/simdiff.h>

#include "cli.h"
#include "lines.h"
#ifdef SIMDIFF_HAVE_MPI
#include "sdmpi.h"
#endif

#define DEFAULT_MODEL "models/fmnist-uvit.safetensors"

static simdiff_sampler *volatile g_sampler;
static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_interrupted)
        _exit(130);
    g_interrupted = 1;
    simdiff_sampler *s = g_sampler;
    if (s)
        simdiff_sampler_cancel(s); /* one atomic store: async-signal-safe */
}

typedef struct opts {
    const char *model, *labels, *png, *npy, *labels_npy, *sampler, *spacing, *schedule;
    const char *init, *mask;
    int count, steps, threads, batch, grid_cols, quiet, mpi;
    int variations, resample, resample_jump, have_strength;
    double strength;
    int precision; /* simdiff_precision */
    double eta, guidance;
    int have_steps, have_eta, have_guidance, have_clip, have_count;
    uint64_t seed;
    uint64_t first_index, variation_seed;
    double variation_strength;
    const char *seeds;
    const char *latents;
    int have_variation_seed;
    int guidance_interval; /* 1: --guidance-interval given; -1: "off" */
    double gi_min, gi_max;
    const char *prompt[256]; /* --prompt, in order */
    int nprompt;
    const char *prompts_file; /* --prompts */
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: simdiff-sample [MODEL] [options]\n"
            "  MODEL               a .safetensors model (default " DEFAULT_MODEL ")\n"
            "what to draw:\n"
            "  --count N           number of images (default: the number of labels, or 16)\n"
            "  --labels L          class ids, comma separated (e.g. 0,3,7), or \"all\" for\n"
            "                      every class; repeated in turn to fill --count; -1 = none.\n"
            "                      Without --labels the images are unconditional.\n"
            "  --prompt TEXT       a prompt for a model with the built-in text encoder\n"
            "                      (trained with simdiff-train --captions); repeatable, the\n"
            "                      images cycle through the prompts like --labels; \"\" is\n"
            "                      the unconditional model (docs/text.md)\n"
            "  --prompts FILE      more prompts, one per line (after the --prompt ones)\n"
            "  --seed S            random seed (default 0); image i depends only on (S, i)\n"
            "  --first-index I     the images are i = I, I+1, ... of seed S: redraw image 7\n"
            "                      of a batch alone with --count 1 --first-index 7\n"
            "  --seeds A,B,...     one seed per image (image j = image 0 of --seed A, ...);\n"
            "                      sets --count unless given\n"
            "  --variation-seed V  blend each image's starting noise toward seed V's ...\n"
            "  --variation-strength X  ... by X in 0..1 (0 = off, 1 = seed V's image)\n"
            "  --latents FILE      the starting noise itself: a float32 .npy of N x C x H x W\n"
            "                      (the model's C, H, W; finite values), image i starts from\n"
            "                      row i (an edit from a*init + s*row i); N sets --count or\n"
            "                      must equal it. The seeds then only key the noise drawn\n"
            "                      during the run (ddpm, ddim with --eta > 0, --resample);\n"
            "                      not with --variation-strength\n"
            "sampler (defaults: the settings stored in the model file, else the\n"
            "library's: dpmpp2m, 32 steps, guidance 1, eta 0, spacing t, clipping):\n"
            "  --sampler NAME      ddpm | ddim | dpmpp2m\n"
            "  --steps N           network evaluations\n"
            "  --eta X             DDIM noise, 0 (deterministic) .. 1 (= DDPM)\n"
            "  --guidance W        classifier-free guidance: uncond + W*(cond - uncond);\n"
            "                      1 = conditional only, 0 = unconditional\n"
            "  --guidance-interval A,B  guidance only at steps with log-SNR in [A, B]\n"
            "                      (the others: conditional only, half the cost);\n"
            "                      \"off\": at every step (docs/sampling.md)\n"
            "  --spacing S         t | logsnr: steps uniform in t or in log-SNR\n"
            "  --schedule TEXT     noise schedule, e.g. \"shifted(32,64)\" (default: the one\n"
            "                      stored in the model file)\n"
            "  --no-clip           do not clip the x estimate to [-1, 1]\n"
            "  --batch B           at most B images per network call (default: all)\n"
            "  --threads N         compute threads (default: all cores)\n"
            "  --precision P       f32 (default) or bf16: bf16 network arithmetic\n"
            "                      (needs a CPU with AVX-512 BF16; docs/performance.md)\n"
            "output:\n"
            "  --png FILE          the images as one PNG grid\n"
            "  --cols N            grid columns (default: about sqrt(count))\n"
            "  --npy FILE          the images as float32 N x C x H x W in [-1, 1]\n"
            "  --labels-npy FILE   the requested labels (float32, N), for scripts/eval/\n"
            "                      fmnist_eval.py and emoji_eval.py\n"
            "editing (docs/editing.md):\n"
            "  --init FILE         start from this image: a PNG or JPEG (converted to the\n"
            "                      model's channels and size like a training image), or a\n"
            "                      .npy of N images (N x C x H x W or N x H x W x C, float32\n"
            "                      in [-1, 1] or uint8; smaller images are padded)\n"
            "  --strength S        0 < S <= 1: how much noise the init image gets; the run\n"
            "                      takes about S x steps network evaluations (default 0.8\n"
            "                      with --init alone, 1 with --mask)\n"
            "  --mask FILE         inpainting: white (or 1 in a .npy) = generate, black\n"
            "                      (0) = keep the init image, grey blends; PNG, JPEG or .npy\n"
            "                      (one mask, or N)\n"
            "  --variations K      K images from one init image (same as --count K)\n"
            "  --resample R        RePaint resampling for smoother seams: redo each stretch\n"
            "                      of --resample-jump steps R times (default 1 = off)\n"
            "  --resample-jump J   steps undone per jump (default 1)\n"
            "  --quiet             no progress output\n"
            "  --mpi               under mpirun: each process draws its share of the\n"
            "                      images, rank 0 gathers and writes them (the same bytes\n"
            "                      as one process; docs/distributed.md)\n"
            "  -h, --help          this text\n");
}

static int die(const char *fmt, const char *a)
{
    fprintf(stderr, "simdiff-sample: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n");
    return 2;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* --labels: "all" (-> 0..K-1) or a comma list; *out malloc'd. */
static int parse_labels(const char *s, int num_classes, int **out, int *n)
{
    if (!strcmp(s, "all")) {
        if (num_classes <= 0)
            return -1;
        *out = malloc((size_t)num_classes * sizeof **out);
        if (!*out)
            return -1;
        for (int i = 0; i < num_classes; i++)
            (*out)[i] = i;
        *n = num_classes;
        return 0;
    }
    int cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int *l = malloc((size_t)cap * sizeof *l);
    if (!l)
        return -1;
    int k = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < -1 || v >= (num_classes > 0 ? num_classes : 0) ||
            (*end != ',' && *end != 0)) {
            free(l);
            return -1;
        }
        l[k++] = (int)v;
        if (!*end)
            break;
        p = end + 1;
    }
    *out = l;
    *n = k;
    return 0;
}

/* ---- editing inputs -------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* --init or --mask: *count images of *chans x size x size floats (malloc'd),
 * in [-1, 1]; NULL on failure (message printed). A PNG or JPEG is one image
 * of `want_chans` channels; a .npy holds any number of 1- or
 * want_chans-channel images, padded to size if smaller. */
static float *read_edit_images(const char *what, const char *path, int want_chans, int size,
                               simdiff_float_range range, int *count, int *chans)
{
    float *out = NULL;
    if (!ends_with(path, ".npy") && !ends_with(path, ".NPY")) {
        size_t n = (size_t)want_chans * (size_t)size * (size_t)size;
        if (!(out = malloc(n * sizeof *out))) {
            fprintf(stderr, "simdiff-sample: %s: out of memory\n", what);
            return NULL;
        }
        if (simdiff_read_image(path, want_chans, size, NULL, out) != SIMDIFF_OK) {
            fprintf(stderr, "simdiff-sample: %s: %s\n", what, simdiff_last_error());
            free(out);
            return NULL;
        }
        *count = 1;
        *chans = want_chans;
        return out;
    }
    simdiff_dataset *ds = NULL;
    if (simdiff_dataset_open_npy(&ds, path, NULL, SIMDIFF_LAYOUT_AUTO, range) != SIMDIFF_OK) {
        fprintf(stderr, "simdiff-sample: %s: %s\n", what, simdiff_last_error());
        return NULL;
    }
    int64_t n = simdiff_dataset_count(ds);
    int c = simdiff_dataset_channels(ds), h = simdiff_dataset_height(ds),
        w = simdiff_dataset_width(ds);
    if ((c != 1 && c != want_chans) || h > size || w > size || n > (1 << 24)) {
        fprintf(stderr,
                "simdiff-sample: %s: %s holds %lld images of %d x %d x %d; the model "
                "takes at most 16777216 of %d (or 1) x %d x %d\n",
                what, path, (long long)n, c, h, w, want_chans, size, size);
        simdiff_dataset_destroy(ds);
        return NULL;
    }
    size_t per = (size_t)c * (size_t)size * (size_t)size;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    out = malloc((size_t)n * per * sizeof *out);
    if (!idx || !out) {
        fprintf(stderr, "simdiff-sample: %s: out of memory\n", what);
        free(idx);
        free(out);
        simdiff_dataset_destroy(ds);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    simdiff_status st = simdiff_dataset_get_batch(ds, (int)n, idx, h == size && w == size ? 0 : size,
                                                  NULL, out, NULL);
    if (st != SIMDIFF_OK) {
        fprintf(stderr, "simdiff-sample: %s: %s\n", what, simdiff_dataset_errmsg(ds));
        free(out);
        out = NULL;
    }
    free(idx);
    simdiff_dataset_destroy(ds);
    *count = (int)n;
    *chans = c;
    return out;
}

/* ---- starting noise ---------------------------------------------------------- */

/* --latents: read path as N x C x H x W float32 for the model mc, N equal
 * to want_n unless that is 0; every value finite. On success *out holds
 * the noise (simdiff_free it) and *count N; on failure a message naming
 * --latents is printed and -1 returned, *out NULL. */
static int read_latents(const char *path, const simdiff_model_config *mc, int want_n,
                        float **out, int *count)
{
    int64_t sh[4];
    int nd;
    float *x = NULL;
    if (simdiff_read_npy_f32(path, 4, sh, &nd, &x) != SIMDIFF_OK) {
        fprintf(stderr, "simdiff-sample: --latents: %s\n", simdiff_last_error());
        return -1;
    }
    *out = NULL;
    if (nd != 4 || sh[0] < 1 || sh[0] > (1 << 24) || sh[1] != mc->channels ||
        sh[2] != mc->image_size || sh[3] != mc->image_size) {
        char got[96] = "a scalar";
        for (int i = 0, o = 0; i < nd && o < (int)sizeof got; i++)
            o += snprintf(got + o, sizeof got - (size_t)o, "%s%lld%s", i ? ", " : "(",
                          (long long)sh[i], i + 1 == nd ? (nd == 1 ? ",)" : ")") : "");
        fprintf(stderr,
                "simdiff-sample: --latents: %s has shape %s; the model starts from "
                "(N, %d, %d, %d) noise, N in 1..16777216\n",
                path, got, mc->channels, mc->image_size, mc->image_size);
        simdiff_free(x);
        return -1;
    }
    if (want_n && sh[0] != want_n) {
        fprintf(stderr,
                "simdiff-sample: --latents: %s holds noise for %lld images, but %d are "
                "asked for (--count, --seeds, --variations or the --init images)\n",
                path, (long long)sh[0], want_n);
        simdiff_free(x);
        return -1;
    }
    size_t n = (size_t)sh[0] * (size_t)sh[1] * (size_t)sh[2] * (size_t)sh[3];
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            size_t per = n / (size_t)sh[0];
            fprintf(stderr,
                    "simdiff-sample: --latents: %s: value %zu (image %zu) is %s; "
                    "starting noise must be finite\n",
                    path, i, i / per, isnan(x[i]) ? "NaN" : "infinite");
            simdiff_free(x);
            return -1;
        }
    *out = x;
    *count = (int)sh[0];
    return 0;
}

/* ---- progress -------------------------------------------------------------- */

typedef struct progress {
    int tty, quiet, last_pct;
    double t0;
} progress;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int on_progress(void *user, int step, int total, const float *x)
{
    (void)x;
    progress *p = user;
    if (p->quiet)
        return 0;
    double el = now() - p->t0;
    if (p->tty) {
        enum { W = 30 };
        int fill = (int)((long long)W * step / total);
        char bar[W + 1];
        for (int i = 0; i < W; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[W] = 0;
        double eta = step < total ? el / step * (total - step) : 0.0;
        fprintf(stderr, "\r[%s] %d/%d steps  %.1f s  (%.1f s left) ", bar, step, total,
                el, eta);
        if (step == total)
            fputc('\n', stderr);
    } else {
        int pct = (int)(100LL * step / total);
        if (pct / 10 != p->last_pct / 10 || step == total) {
            fprintf(stderr, "step %d/%d (%d%%), %.1f s\n", step, total, pct, el);
            p->last_pct = pct;
        }
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    opts o = {.count = 16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                 \
    do {                                                                       \
        if (!v)                                                                \
            return die("%s needs a value (see --help)", a);                    \
        i++;                                                                   \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--count")) {
            NEED();
            if (parse_int(v, 1, 1 << 24, &o.count))
                return die("--count: '%s' is not a number in 1..16777216", v);
            o.have_count = 1;
        } else if (!strcmp(a, "--labels")) {
            NEED();
            o.labels = v;
        } else if (!strcmp(a, "--prompt")) {
            NEED();
            if (o.nprompt == (int)(sizeof o.prompt / sizeof o.prompt[0]))
                return die("--prompt: at most 256 (%s); put more in a --prompts file", v);
            o.prompt[o.nprompt++] = v;
        } else if (!strcmp(a, "--prompts")) {
            NEED();
            o.prompts_file = v;
        } else if (!strcmp(a, "--seed")) {
            NEED();
            if (parse_u64(v, &o.seed))
                return die("--seed: '%s' is not a non-negative integer", v);
        } else if (!strcmp(a, "--first-index")) {
            NEED();
            if (cli_u64("simdiff-sample", a, v, &o.first_index))
                return 2;
        } else if (!strcmp(a, "--seeds")) {
            NEED();
            o.seeds = v;
        } else if (!strcmp(a, "--latents")) {
            NEED();
            o.latents = v;
        } else if (!strcmp(a, "--variation-seed")) {
            NEED();
            if (cli_u64("simdiff-sample", a, v, &o.variation_seed))
                return 2;
            o.have_variation_seed = 1;
        } else if (!strcmp(a, "--variation-strength")) {
            NEED();
            if (cli_double("simdiff-sample", a, v, 0, 0, 1, 0, &o.variation_strength))
                return 2;
        } else if (!strcmp(a, "--sampler")) {
            NEED();
            o.sampler = v;
        } else if (!strcmp(a, "--steps")) {
            NEED();
            if (parse_int(v, 1, SIMDIFF_SAMPLER_MAX_STEPS, &o.steps))
                return die("--steps: '%s' is not a number in 1..100000", v);
            o.have_steps = 1;
        } else if (!strcmp(a, "--eta")) {
            NEED();
            if (parse_double(v, &o.eta) || o.eta < 0 || o.eta > 1)
                return die("--eta: '%s' is not a number in 0..1", v);
            o.have_eta = 1;
        } else if (!strcmp(a, "--guidance")) {
            NEED();
            if (parse_double(v, &o.guidance))
                return die("--guidance: '%s' is not a finite number", v);
            o.have_guidance = 1;
        } else if (!strcmp(a, "--guidance-interval")) {
            NEED();
            if (!strcmp(v, "off")) {
                o.guidance_interval = -1;
            } else {
                char lo[64];
                const char *comma = strchr(v, ',');
                size_t k = comma ? (size_t)(comma - v) : 0;
                if (!comma || k == 0 || k >= sizeof lo)
                    return die("--guidance-interval: '%s' is not MIN,MAX (log-SNR) or off", v);
                memcpy(lo, v, k);
                lo[k] = 0;
                if (parse_double(lo, &o.gi_min) || parse_double(comma + 1, &o.gi_max) ||
                    o.gi_min > o.gi_max)
                    return die("--guidance-interval: '%s' is not MIN,MAX with finite "
                               "MIN <= MAX (log-SNR) or off", v);
                o.guidance_interval = 1;
            }
        } else if (!strcmp(a, "--spacing")) {
            NEED();
            o.spacing = v;
        } else if (!strcmp(a, "--schedule")) {
            NEED();
            o.schedule = v;
        } else if (!strcmp(a, "--no-clip")) {
            o.have_clip = 1;
        } else if (!strcmp(a, "--batch")) {
            NEED();
            if (parse_int(v, 1, INT_MAX, &o.batch))
                return die("--batch: '%s' is not a positive number", v);
        } else if (!strcmp(a, "--threads")) {
            NEED();
            if (parse_int(v, 1, 4096, &o.threads))
                return die("--threads: '%s' is not a number in 1..4096", v);
        } else if (!strcmp(a, "--precision")) {
            NEED();
            simdiff_precision p;
            if (simdiff_precision_from_name(v, &p))
                return die("--precision: '%s' is not f32 or bf16", v);
            o.precision = (int)p;
        } else if (!strcmp(a, "--png")) {
            NEED();
            o.png = v;
        } else if (!strcmp(a, "--cols")) {
            NEED();
            if (parse_int(v, 1, 1 << 16, &o.grid_cols))
                return die("--cols: '%s' is not a positive number", v);
        } else if (!strcmp(a, "--npy")) {
            NEED();
            o.npy = v;
        } else if (!strcmp(a, "--labels-npy")) {
            NEED();
            o.labels_npy = v;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--mpi")) {
#ifndef SIMDIFF_HAVE_MPI
            return die("%s: this build has no MPI (install Open MPI, e.g. Debian's "
                       "libopenmpi-dev, and reconfigure with -Dmpi=enabled)", a);
#endif
            o.mpi = 1;
        } else if (!strcmp(a, "--init")) {
            NEED();
            o.init = v;
        } else if (!strcmp(a, "--mask")) {
            NEED();
            o.mask = v;
        } else if (!strcmp(a, "--strength")) {
            NEED();
            if (parse_double(v, &o.strength) || !(o.strength > 0 && o.strength <= 1))
                return die("--strength: '%s' is not a number in (0, 1]", v);
            o.have_strength = 1;
        } else if (!strcmp(a, "--variations")) {
            NEED();
            if (parse_int(v, 1, 1 << 24, &o.variations))
                return die("--variations: '%s' is not a number in 1..16777216", v);
        } else if (!strcmp(a, "--resample")) {
            NEED();
            if (parse_int(v, 1, 1000, &o.resample))
                return die("--resample: '%s' is not a number in 1..1000", v);
        } else if (!strcmp(a, "--resample-jump")) {
            NEED();
            if (parse_int(v, 1, 100000, &o.resample_jump))
                return die("--resample-jump: '%s' is not a number in 1..100000", v);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "simdiff-sample: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else if (!o.model) {
            o.model = a;
        } else {
            return die("only one model path, please (got a second: '%s')", a);
        }
#undef NEED
    }

    simdiff_sampler_method method_v;
    simdiff_spacing spacing_v;
    int method = -1, spacing = -1;
    if (o.sampler && simdiff_sampler_method_from_name(o.sampler, &method_v))
        return die("--sampler: '%s' is not ddpm, ddim or dpmpp2m", o.sampler);
    if (o.spacing && simdiff_spacing_from_name(o.spacing, &spacing_v))
        return die("--spacing: '%s' is not t or logsnr", o.spacing);
    if (o.sampler)
        method = (int)method_v;
    if (o.spacing)
        spacing = (int)spacing_v;
    if (o.labels_npy && !o.labels)
        return die("%s: --labels-npy needs --labels (unconditional samples have "
                   "no labels to score)", o.labels_npy);
    if (o.have_variation_seed != (o.variation_strength > 0))
        return die("%s", "--variation-seed and --variation-strength go together");
    if (o.latents && o.variation_strength > 0)
        return die("%s", "--latents gives each image's starting noise; "
                         "--variation-strength blends it with another seed's: use one");
    uint64_t *seeds = NULL;
    int nseeds = 0;
    if (o.seeds) {
        if (cli_u64_list("simdiff-sample", "--seeds", o.seeds, &seeds, &nseeds))
            return 2;
        if (o.have_count && o.count != nseeds) {
            free(seeds);
            return die("%s", "--seeds gives one seed per image: as many as --count");
        }
        o.count = nseeds;
        o.have_count = 1;
    }
    /* Where the images go, before any work. */
    if ((o.png && cli_out_dir_ok("simdiff-sample", "--png", o.png)) ||
        (o.npy && cli_out_dir_ok("simdiff-sample", "--npy", o.npy)) ||
        (o.labels_npy && cli_out_dir_ok("simdiff-sample", "--labels-npy", o.labels_npy))) {
        free(seeds);
        return 2;
    }

    if (!o.model) {
        if (access(DEFAULT_MODEL, R_OK) != 0)
            return die("no model given and %s is not here; pass a model path "
                       "(see --help)",
                       DEFAULT_MODEL);
        o.model = DEFAULT_MODEL;
    }

    simdiff_model *m = NULL;
    if (simdiff_model_load(&m, o.model) != SIMDIFF_OK) {
        fprintf(stderr, "simdiff-sample: cannot load %s: %s\n", o.model,
                simdiff_last_error());
        free(seeds);
        return 1;
    }
    simdiff_model_config mc;
    mc.struct_size = sizeof mc;
    simdiff_model_get_config(m, &mc);
    /* The model's stored settings, then what the command line changes. */
    simdiff_sampler_config sc;
    if (simdiff_sampler_config_init_for_model(&sc, m)) {
        fprintf(stderr, "simdiff-sample: %s: stored sampler settings: %s\n", o.model,
                simdiff_last_error());
        simdiff_model_destroy(m);
        free(seeds);
        return 1;
    }
    if (method >= 0)
        sc.method = (simdiff_sampler_method)method;
    if (spacing >= 0)
        sc.spacing = (simdiff_spacing)spacing;
    if (o.have_steps)
        sc.steps = o.steps;
    if (o.have_eta)
        sc.eta = o.eta;
    if (o.have_guidance)
        sc.guidance = o.guidance;
    if (o.have_clip)
        sc.clip_x = 0;
    if (o.guidance_interval) {
        sc.guidance_interval = o.guidance_interval > 0;
        sc.guidance_logsnr_min = o.guidance_interval > 0 ? o.gi_min : 0.0;
        sc.guidance_logsnr_max = o.guidance_interval > 0 ? o.gi_max : 0.0;
    }
    sc.batch_chunk = o.batch;
    sc.num_threads = o.threads; /* 0: all cores */
    sc.precision = (simdiff_precision)o.precision;

    /* Editing: the init images (and their number), the mask. */
    float *init = NULL, *mask = NULL;
    int init_n = 0, init_c = 0, mask_n = 0, mask_c = 0;
    if ((o.mask || o.have_strength || o.variations || o.resample > 1) && !o.init) {
        fprintf(stderr, "simdiff-sample: --mask, --strength, --variations and --resample "
                        "edit an image: give it with --init\n");
        free(seeds);
        simdiff_model_destroy(m);
        return 2;
    }
    if (o.init) {
        init = read_edit_images("--init", o.init, mc.channels, mc.image_size,
                                SIMDIFF_FLOAT_RANGE_PM1, &init_n, &init_c);
        if (init && init_c != mc.channels) {
            fprintf(stderr, "simdiff-sample: --init: %s has %d-channel images; the model "
                            "makes %d\n", o.init, init_c, mc.channels);
            free(init);
            init = NULL;
        }
        if (init && o.mask) {
            mask = read_edit_images("--mask", o.mask, 1, mc.image_size,
                                    SIMDIFF_FLOAT_RANGE_01, &mask_n, &mask_c);
            /* white / 1 = generate, black / 0 = keep; the library's mask keeps 1 */
            size_t nm = (size_t)mask_n * (size_t)mask_c * (size_t)mc.image_size *
                        (size_t)mc.image_size;
            for (size_t j = 0; mask && j < nm; j++)
                mask[j] = (1.0f - mask[j]) * 0.5f;
        }
        const char *bad = !init || (o.mask && !mask) ? ""
                        : o.variations && init_n != 1 ? "--variations needs one --init image"
                        : o.variations && o.have_count && o.count != o.variations
                            ? "--variations K and --count differ"
                        : init_n > 1 && o.have_count && o.count != init_n
                            ? "--count differs from the number of --init images"
                        : mask && mask_n != 1 && mask_n != (init_n > 1 ? init_n : o.count)
                            ? "--mask holds neither 1 mask nor one per image"
                            : NULL;
        if (bad) {
            if (*bad)
                fprintf(stderr, "simdiff-sample: %s\n", bad);
            free(init);
            free(mask);
            free(seeds);
            simdiff_model_destroy(m);
            return 2;
        }
        if (o.variations)
            o.count = o.variations;
        else if (init_n > 1)
            o.count = init_n;
        if (o.variations || init_n > 1)
            o.have_count = 1;
        if (!o.have_strength)
            o.strength = o.mask ? 1.0 : 0.8;
    }

    /* --latents: N x C x H x W finite starting noise; N is the count. */
    float *latents = NULL;
    if (o.latents &&
        read_latents(o.latents, &mc, o.have_count ? o.count : 0, &latents, &o.count)) {
        free(init);
        free(mask);
        free(seeds);
        simdiff_model_destroy(m);
        return 2;
    }
    if (latents)
        o.have_count = 1;

    /* Prompts: --prompt ones, then the --prompts file's; without --count
     * or --labels, one image each. */
    text_lines pfile = {0};
    const char **plist = NULL, **prompts = NULL;
    int np = 0;
    int prc = 0;
    if (o.nprompt || o.prompts_file) {
        char err[1200];
        if (mc.text_vocab <= 0) {
            fprintf(stderr, "simdiff-sample: --prompt: %s has no text encoder (train it with "
                            "simdiff-train --captions)\n", o.model);
            prc = 2;
        } else if (o.prompts_file &&
                   text_lines_read(o.prompts_file, 0, &pfile, err, sizeof err)) {
            fprintf(stderr, "simdiff-sample: --prompts: %s\n", err);
            prc = 2;
        } else if ((np = o.nprompt + pfile.n) == 0) {
            fprintf(stderr, "simdiff-sample: --prompts: %s has no lines\n", o.prompts_file);
            prc = 2;
        } else if (!(plist = malloc((size_t)np * sizeof *plist))) {
            fprintf(stderr, "simdiff-sample: out of memory\n");
            prc = 1;
        } else {
            for (int i = 0; i < np; i++)
                plist[i] = i < o.nprompt ? o.prompt[i] : pfile.line[i - o.nprompt];
            if (!o.have_count && !o.labels) {
                o.count = np;
                o.have_count = 1;
            }
        }
    }
    if (prc) {
        free(plist);
        text_lines_free(&pfile);
        free(init);
        free(mask);
        simdiff_free(latents);
        free(seeds);
        simdiff_model_destroy(m);
        return prc;
    }

    int *req = NULL, nreq = 0, *labels = NULL;
    if (o.labels) {
        if (mc.num_classes <= 0) {
            fprintf(stderr, "simdiff-sample: --labels: %s is unconditional (no classes)\n",
                    o.model);
            free(init);
            free(mask);
            simdiff_free(latents);
            free(seeds);
            simdiff_model_destroy(m);
            return 2;
        }
        if (parse_labels(o.labels, mc.num_classes, &req, &nreq)) {
            fprintf(stderr,
                    "simdiff-sample: --labels: '%s' is not \"all\" or a comma list of "
                    "class ids in -1..%d\n",
                    o.labels, mc.num_classes - 1);
            free(init);
            free(mask);
            simdiff_free(latents);
            free(seeds);
            simdiff_model_destroy(m);
            return 2;
        }
        if (!o.have_count)
            o.count = nreq;
        labels = malloc((size_t)o.count * sizeof *labels);
        if (!labels) {
            fprintf(stderr, "simdiff-sample: out of memory\n");
            return 1;
        }
        for (int i = 0; i < o.count; i++)
            labels[i] = req[i % nreq];
    }
    if (np) {
        prompts = malloc((size_t)o.count * sizeof *prompts);
        if (!prompts) {
            fprintf(stderr, "simdiff-sample: out of memory\n");
            return 1;
        }
        for (int i = 0; i < o.count; i++)
            prompts[i] = plist[i % np];
    }

    simdiff_schedule *sched = NULL;
    if (o.schedule) {
        if (simdiff_schedule_from_string(&sched, o.schedule) != SIMDIFF_OK) {
            fprintf(stderr, "simdiff-sample: --schedule: %s\n", simdiff_last_error());
            free(req);
            free(labels);
            free(init);
            free(mask);
            simdiff_free(latents);
            free(seeds);
            simdiff_model_destroy(m);
            return 2;
        }
        sc.schedule = sched;
    }
    simdiff_sampler *s = NULL;
    simdiff_status cst = simdiff_sampler_create(&s, m, &sc);
    simdiff_schedule_destroy(sched); /* the sampler keeps a copy */
    if (cst != SIMDIFF_OK) {
        fprintf(stderr, "simdiff-sample: %s\n", simdiff_last_error());
        if (!o.schedule && strstr(simdiff_last_error(), "schedule"))
            fprintf(stderr, "simdiff-sample: give one with --schedule, e.g. "
                            "--schedule 'shifted(%d,64)'\n",
                    mc.image_size);
        free(req);
        free(labels);
        free(init);
        free(mask);
        simdiff_free(latents);
        free(seeds);
        simdiff_model_destroy(m);
        return 2;
    }
    /* Under --mpi (MPI starts here, once the arguments are checked the same
     * way on every rank): this process draws images lo .. hi-1, rank 0
     * gathers all of them into out and writes the files. */
    int rank = 0, lo = 0, hi = o.count;
#ifdef SIMDIFF_HAVE_MPI
    sdmpi mp;
    if (o.mpi) {
        if (sdmpi_init(&mp, &argc, &argv))
            return 1;
        rank = mp.rank;
        int64_t l, h;
        sdmpi_part(&mp, o.count, &l, &h);
        lo = (int)l;
        hi = (int)h;
        if (rank)
            o.quiet = 1;
    }
#endif
    size_t per = (size_t)mc.channels * (size_t)mc.image_size * (size_t)mc.image_size;
    float *out = malloc((size_t)(rank ? (hi > lo ? hi - lo : 1) : o.count) * per * sizeof *out);
    if (!out) {
        fprintf(stderr, "simdiff-sample: out of memory for %d images\n", o.count);
#ifdef SIMDIFF_HAVE_MPI
        if (o.mpi)
            sdmpi_abort(&mp, 1);
#endif
        return 1;
    }
    if (!o.png && !o.npy && !rank)
        fprintf(stderr, "simdiff-sample: note: no --png or --npy given; the images "
                        "are drawn and discarded\n");
    progress pr = {.tty = isatty(STDERR_FILENO), .quiet = o.quiet, .last_pct = -1};
    simdiff_sampler_set_progress(s, on_progress, &pr);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    g_sampler = s;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (!o.quiet)
        fprintf(stderr,
                "sampling %d image%s %dx%dx%d with %s, %d steps, guidance %g, spacing %s, "
                "seed %llu\n",
                o.count, o.count == 1 ? "" : "s", mc.channels, mc.image_size,
                mc.image_size,
                simdiff_sampler_method_name(sc.method) ? simdiff_sampler_method_name(sc.method)
                                                       : "?",
                sc.steps, sc.guidance,
                sc.spacing == SIMDIFF_SPACING_UNIFORM_LOGSNR ? "logsnr" : "t",
                (unsigned long long)o.seed);
    if (sc.guidance_interval && !o.quiet)
        fprintf(stderr, "guidance only at log-SNR in [%g, %g]\n", sc.guidance_logsnr_min,
                sc.guidance_logsnr_max);
    simdiff_distill_info di = {.struct_size = sizeof di};
    if (!o.quiet && !simdiff_model_distill_info(m, &di) && di.distilled)
        fprintf(stderr, "a distilled student: %d steps from a %d-step teacher, guidance %g "
                        "folded in\n", di.steps, di.teacher_steps, di.guidance);
    if (latents && !o.quiet)
        fprintf(stderr, "starting noise from %s\n", o.latents);
    if (o.mpi && !o.quiet)
        fprintf(stderr, "split over processes: rank 0 draws images %d..%d\n", lo, hi - 1);
    pr.t0 = now();
    simdiff_edit ed, *edp = NULL;
    if (init) {
        simdiff_edit_init(&ed);
        ed.init = init;
        ed.init_count = init_n;
        ed.channels = mc.channels;
        ed.height = ed.width = mc.image_size;
        ed.strength = o.strength;
        ed.mask = mask;
        ed.mask_count = mask_n ? mask_n : 1;
        ed.mask_channels = mask_c ? mask_c : 1;
        ed.resample = o.resample ? o.resample : 1;
        ed.resample_jump = o.resample_jump ? o.resample_jump : 1;
        edp = &ed;
        int evals = 0;
        if (simdiff_sampler_edit_evals(s, edp, &evals) == SIMDIFF_OK && !o.quiet)
            fprintf(stderr, "editing: strength %g%s, %d network evaluations per image\n",
                    o.strength, mask ? ", inpainting" : "", evals);
    }
    /* This process's images: their labels, seeds, init and mask images
     * (when there is one per image), and their index in the whole run. */
    if (edp && init_n > 1) {
        ed.init += (size_t)lo * per;
        ed.init_count = hi - lo;
    }
    if (edp && mask && mask_n > 1) {
        ed.mask += (size_t)lo * (size_t)ed.mask_channels * (size_t)mc.image_size *
                   (size_t)mc.image_size;
        ed.mask_count = hi - lo;
    }
    simdiff_run_options ro;
    simdiff_run_options_init(&ro);
    ro.seeds = seeds ? seeds + lo : NULL;
    ro.first_index = o.first_index + (uint64_t)lo;
    ro.variation_seed = o.variation_seed;
    ro.variation_strength = o.variation_strength;
    ro.latents = latents ? latents + (size_t)lo * per : NULL;
    ro.prompts = prompts ? prompts + lo : NULL;
    simdiff_status st = g_interrupted ? SIMDIFF_ERR_CANCELLED
                        : hi > lo     ? simdiff_sampler_run_with(s, hi - lo,
                                                                 labels ? labels + lo : NULL,
                                                                 o.seed, edp, &ro, out)
                                      : SIMDIFF_OK;
    double el = now() - pr.t0;
    g_sampler = NULL;
    int rc = 0;
#ifdef SIMDIFF_HAVE_MPI
    if (o.mpi) {
        /* Every rank learns whether all succeeded; then rank 0 gathers. */
        int64_t smin, smax;
        if (st != SIMDIFF_OK)
            fprintf(stderr, "simdiff-sample: rank %d: sampling failed: %s\n", rank,
                    simdiff_sampler_errmsg(s));
        if (sdmpi_minmax_i64(&mp, st, &smin, &smax) ||
            (smax == SIMDIFF_OK && sdmpi_gather_rows(&mp, o.count, per, out, out))) {
            fprintf(stderr, "simdiff-sample: %s\n", mp.err);
            sdmpi_abort(&mp, 1);
        }
        if (st == SIMDIFF_OK && smax != SIMDIFF_OK)
            st = (simdiff_status)smax; /* another rank failed or was cancelled */
        el = now() - pr.t0;
    }
#endif
    if (rank) {
        /* Only rank 0 reports and writes. */
        rc = st == SIMDIFF_ERR_CANCELLED ? 130 : st != SIMDIFF_OK;
    } else
    if (st == SIMDIFF_ERR_CANCELLED) {
        fprintf(stderr, "%ssimdiff-sample: cancelled; nothing written\n", pr.tty ? "\n" : "");
        rc = 130;
    } else if (st != SIMDIFF_OK) {
        fprintf(stderr, "simdiff-sample: sampling failed: %s\n",
                simdiff_sampler_errmsg(s)[0] ? simdiff_sampler_errmsg(s)
                                             : "on another process (its message is above)");
        rc = 1;
    } else {
        if (!o.quiet)
            fprintf(stderr, "%d image%s in %.2f s (%.1f ms per image)\n", o.count,
                    o.count == 1 ? "" : "s", el, 1e3 * el / o.count);
        if (o.png &&
            simdiff_write_png(o.png, o.count, mc.channels, mc.image_size, mc.image_size,
                              out, o.grid_cols) != SIMDIFF_OK) {
            fprintf(stderr, "simdiff-sample: %s: %s\n", o.png, simdiff_last_error());
            rc = 1;
        }
        const int64_t shape[4] = {o.count, mc.channels, mc.image_size, mc.image_size};
        if (o.npy && simdiff_write_npy_f32(o.npy, 4, shape, out) != SIMDIFF_OK) {
            fprintf(stderr, "simdiff-sample: %s: %s\n", o.npy, simdiff_last_error());
            rc = 1;
        }
        if (o.labels_npy) {
            float *lf = malloc((size_t)o.count * sizeof *lf);
            for (int i = 0; lf && i < o.count; i++)
                lf[i] = (float)labels[i];
            const int64_t ls[1] = {o.count};
            if (!lf || simdiff_write_npy_f32(o.labels_npy, 1, ls, lf) != SIMDIFF_OK) {
                fprintf(stderr, "simdiff-sample: %s: %s\n", o.labels_npy,
                        lf ? simdiff_last_error() : "out of memory");
                rc = 1;
            }
            free(lf);
        }
        if (!o.quiet && !rc) {
            if (o.png)
                fprintf(stderr, "wrote %s\n", o.png);
            if (o.npy)
                fprintf(stderr, "wrote %s\n", o.npy);
            if (o.labels_npy)
                fprintf(stderr, "wrote %s\n", o.labels_npy);
        }
    }
    simdiff_sampler_destroy(s);
    simdiff_model_destroy(m);
#ifdef SIMDIFF_HAVE_MPI
    if (o.mpi)
        sdmpi_finalize(&mp);
#endif
    free(out);
    free(req);
    free(labels);
    free(prompts);
    free(plist);
    text_lines_free(&pfile);
    free(init);
    free(mask);
    simdiff_free(latents);
    free(seeds);
    return rc;
}
