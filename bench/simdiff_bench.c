/*
 * simdiff-bench: the libsimdiff side of the whole-model benchmark against
 * PyTorch (bench/compare.py drives it; bench/pytorch_reference.py is the
 * PyTorch side and speaks the same line protocol).
 *
 *   simdiff-bench worker --config NAME [--batch B] [--threads T]
 *                        [--weights FILE | --save FILE] [--seed S]
 *                        [--precision f32|bf16]
 *       Builds the model (loaded from FILE, or created with random weights
 *       in every layer and written to --save FILE for the PyTorch side), a
 *       trainer and the inputs, then answers one command per stdin line
 *       with one stdout line ("ok ..." or "err ..."):
 *         info          runtime line, params, forward GFLOP/image
 *         train         seconds of one simdiff_trainer_step at batch B
 *         sample        seconds of one simdiff_model_forward at batch B
 *         lat [K]       seconds per simdiff_model_forward at batch 1: the
 *                       mean of K (default 10) back-to-back calls
 *                       (each of the three: right after one untimed call
 *                       of the same kind)
 *         peak [bf16]   seconds and GFLOP/s of one oneDNN matmul
 *                       2048x2048x2048 (plain row-major, the layout the
 *                       library's matmuls use), f32, or bf16 inputs with
 *                       f32 accumulation and output (the bf16 ops' kind)
 *         flops         flops counted by the ops in one training step
 *         dump DIR      write a batch-2 forward (inputs and output) for the
 *                       equivalence check against PyTorch
 *         profile [lat|sample]
 *                       per-op profile of one training step (the runtime's
 *                       profiler), of 20 batch-1 evaluations (lat) or of 3
 *                       batch-B evaluations (sample), then a line "end"
 *         memsplit      step arena bytes after the forward pass and after
 *                       the backward pass of one training graph (model +
 *                       an MSE loss, on the trainer's context)
 *         release       free the model's inference context and the
 *                       trainer's context (their step arenas and primitive
 *                       caches; both are rebuilt on next use), so that the
 *                       sampling arena and the training arena are not
 *                       resident at the same time
 *         quit
 *   simdiff-bench mem --config NAME [--batch B] [--threads T] [--weights F]
 *                     [--precision f32|bf16]
 *       In a fresh process: model, trainer, two training steps; prints the
 *       process's peak resident memory (VmHWM) and the baseline RSS before
 *       the model existed.
 *
 * Every timed command first wakes the OpenMP team (all threads busy for
 * 2 ms) and makes one untimed call of the same kind: after an idle pause
 * the first call otherwise pays for waking sleeping threads and, in this
 * VM, halted vCPUs and cold caches (2-10 ms measured on a 2 ms batch-1
 * evaluation); the PyTorch side does the same.
 *
 * Configs (dropout 0 everywhere: the PyTorch reference has no dropout):
 *   fmnist  U-ViT 32x32x1, DWT stem L=1, one conv level 64 ch x 1 block at
 *           16x16, transformer at 8x8 width 192 depth 6 heads 4 mlp 4,
 *           emb 256, 10 classes (the bundled Fashion-MNIST model)
 *   rgb64   simdiff_model_config_init(U-ViT, 64, 3): no stem, conv levels
 *           64 ch at 64x64 and 32x32, transformer at 16x16 width 256 depth 6
 *   rgb256  simdiff_model_config_init(U-ViT, 256, 3): 2-level DWT stem
 *           (48 channels at 64x64), then as rgb64
 *
 * Links the internal static library: the per-op profiler and the counted
 * flops live on the trainer's context, which the public API does not expose.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include "model/model_internal.h"
#include "ops/ops.h"
#include "simdiff/simdiff.h"
#include "tensor/rng.h"
#include "train/trainer_internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what)
{
    fprintf(stderr, "simdiff-bench: %s: %s\n", what, simdiff_last_error());
    return 1;
}

/* ---- configs -------------------------------------------------------------- */
static int make_config(const char *name, simdiff_model_config *cfg)
{
    if (!strcmp(name, "fmnist")) {
        simdiff_model_config_init(cfg, SIMDIFF_ARCH_UVIT, 32, 1);
        cfg->stem = SIMDIFF_STEM_DWT;
        cfg->stem_param = 1;
        cfg->num_levels = 1;
        cfg->level_channels[0] = 64;
        cfg->level_blocks[0] = 1;
        cfg->attn_resolution = 8;
        cfg->tf_width = 192;
        cfg->tf_depth = 6;
        cfg->tf_heads = 4;
        cfg->tf_mlp_ratio = 4;
        cfg->emb_dim = 256;
        cfg->num_classes = 10;
    } else if (!strcmp(name, "rgb64")) {
        simdiff_model_config_init(cfg, SIMDIFF_ARCH_UVIT, 64, 3);
    } else if (!strcmp(name, "rgb256")) {
        simdiff_model_config_init(cfg, SIMDIFF_ARCH_UVIT, 256, 3);
    } else {
        fprintf(stderr, "simdiff-bench: unknown config '%s' (fmnist, rgb64, rgb256)\n", name);
        return -1;
    }
    cfg->dropout_res = 0;
    cfg->dropout_tf = 0;
    return 0;
}

/* Random values in every parameter (the zero-initialized output layers
 * too, so that the equivalence check compares a non-trivial function):
 * norm gains 1 +- 0.2, weights U(-1, 1)/sqrt(fan_in), the rest
 * U(-0.3, 0.3) -- the fixture recipe of tests/reference/model_ref.py. */
static void randomize(simdiff_model *m, uint64_t seed)
{
    for (int i = 0; i < m->nparams; i++) {
        sd_tensor *p = &m->params[i];
        sd_rng_uniform(seed, 1000 + (uint64_t)i, 0, (size_t)p->numel, p->data);
        const char *nm = p->name;
        size_t len = strlen(nm);
        int is_gain = len > 12 && (!strcmp(nm + len - 12, "norm1.weight") ||
                                   !strcmp(nm + len - 11, "norm.weight"));
        int is_weight = len > 7 && !strcmp(nm + len - 7, ".weight") && p->ndim >= 2;
        float scale = is_gain ? 0.2f
                      : is_weight ? 1.0f / sqrtf((float)(p->numel / p->shape[0]))
                                  : 0.3f;
        for (int64_t j = 0; j < p->numel; j++)
            p->data[j] = (is_gain ? 1.0f : 0.0f) + scale * (2.0f * p->data[j] - 1.0f);
    }
}

/* ---- process memory ----------------------------------------------------------- */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* ---- the oneDNN matmul peak ------------------------------------------------------ */
typedef struct peak_mm {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
    float *pa, *pb, *pc;
    int64_t n;
} peak_mm;

#define DN(call)                                                               \
    do {                                                                       \
        dnnl_status_t s_ = (call);                                             \
        if (s_ != dnnl_success) {                                              \
            fprintf(stderr, "simdiff-bench: %s failed (%d)\n", #call, (int)s_); \
            return -1;                                                         \
        }                                                                      \
    } while (0)

static int peak_init(peak_mm *p, int64_t n, int bf16)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    size_t bytes = (size_t)(n * n) * sizeof(float);
    p->pa = aligned_alloc(64, bytes);
    p->pb = aligned_alloc(64, bytes);
    p->pc = aligned_alloc(64, bytes);
    if (!p->pa || !p->pb || !p->pc)
        return -1;
    sd_rng_uniform(7, 1, 0, (size_t)(n * n), p->pa);
    sd_rng_uniform(7, 2, 0, (size_t)(n * n), p->pb);
    if (bf16) { /* the inputs as bf16, in the first half of their buffers */
        float *tmp = malloc(bytes);
        if (!tmp)
            return -1;
        memcpy(tmp, p->pa, bytes);
        sd_bf16_convert((uint16_t *)p->pa, tmp, n * n);
        memcpy(tmp, p->pb, bytes);
        sd_bf16_convert((uint16_t *)p->pb, tmp, n * n);
        free(tmp);
    }
    DN(dnnl_engine_create(&p->eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&p->strm, p->eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t md, mi;
    dnnl_dims_t dims = {n, n};
    DN(dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&mi, 2, dims, bf16 ? dnnl_bf16 : dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t mmd;
    DN(dnnl_matmul_desc_init(&mmd, &mi, &mi, NULL, &md));
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &mmd, NULL, p->eng, NULL));
    DN(dnnl_primitive_create(&p->prim, pd));
    dnnl_primitive_desc_destroy(pd);
    DN(dnnl_memory_create(&p->a, &mi, p->eng, p->pa));
    DN(dnnl_memory_create(&p->b, &mi, p->eng, p->pb));
    DN(dnnl_memory_create(&p->c, &md, p->eng, p->pc));
    return 0;
}

/* Seconds of one product. */
static double peak_run(peak_mm *p)
{
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}};
    double t0 = now();
    if (dnnl_primitive_execute(p->prim, p->strm, 3, args) != dnnl_success ||
        dnnl_stream_wait(p->strm) != dnnl_success)
        return -1;
    return now() - t0;
}

static void peak_free(peak_mm *p)
{
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    if (p->a)
        dnnl_memory_destroy(p->a);
    if (p->b)
        dnnl_memory_destroy(p->b);
    if (p->c)
        dnnl_memory_destroy(p->c);
    if (p->strm)
        dnnl_stream_destroy(p->strm);
    if (p->eng)
        dnnl_engine_destroy(p->eng);
    free(p->pa);
    free(p->pb);
    free(p->pc);
}

/* ---- the benchmark state ------------------------------------------------------ */
typedef struct bench {
    simdiff_precision prec;
    simdiff_model *m;
    simdiff_trainer *t;
    simdiff_schedule *s;
    int B, C, d, K;
    size_t per;
    float *x, *z, *out;
    int *labels;
    double *logsnr;
} bench;

static int bench_init(bench *b, const char *config, const char *weights,
                      const char *save, int B, uint64_t seed, simdiff_precision prec)
{
    memset(b, 0, sizeof *b);
    b->prec = prec;
    if (weights) {
        if (simdiff_model_load(&b->m, weights))
            return die(weights);
    } else {
        simdiff_model_config cfg;
        if (make_config(config, &cfg))
            return 1;
        if (simdiff_model_create(&b->m, &cfg, seed))
            return die("simdiff_model_create");
        randomize(b->m, seed);
        if (save && simdiff_model_save_safetensors(b->m, save))
            return die(save);
    }
    simdiff_model_config cfg = {.struct_size = sizeof cfg};
    simdiff_model_get_config(b->m, &cfg);
    b->B = B;
    b->C = cfg.channels;
    b->d = cfg.image_size;
    b->K = cfg.num_classes;
    b->per = (size_t)b->C * (size_t)b->d * (size_t)b->d;
    if (simdiff_schedule_create_shifted(&b->s, b->d, 64))
        return die("schedule");
    simdiff_trainer_config tc;
    simdiff_trainer_config_init(&tc);
    tc.precision = prec;
    if (simdiff_trainer_create(&b->t, b->m, b->s, &tc, NULL))
        return die("simdiff_trainer_create");
    if (simdiff_model_set_precision(b->m, prec))
        return die("simdiff_model_set_precision");
    b->x = malloc((size_t)B * b->per * sizeof(float));
    b->z = malloc((size_t)B * b->per * sizeof(float));
    b->out = malloc((size_t)B * b->per * sizeof(float));
    b->labels = malloc((size_t)B * sizeof(int));
    b->logsnr = malloc((size_t)B * sizeof(double));
    if (!b->x || !b->z || !b->out || !b->labels || !b->logsnr) {
        fprintf(stderr, "simdiff-bench: out of memory\n");
        return 1;
    }
    /* Training images uniform in [-1, 1]; sampling inputs N(0, 1) with
     * log-SNRs spread over [-10, 10]. */
    sd_rng_uniform(seed, 1, 0, (size_t)B * b->per, b->x);
    for (size_t i = 0; i < (size_t)B * b->per; i++)
        b->x[i] = 2 * b->x[i] - 1;
    sd_rng_normal(seed, 2, 0, (size_t)B * b->per, b->z);
    for (int i = 0; i < B; i++) {
        b->labels[i] = b->K > 0 ? i % b->K : -1;
        b->logsnr[i] = B > 1 ? -10.0 + 20.0 * i / (B - 1) : 0.0;
    }
    return 0;
}

static void bench_free(bench *b)
{
    simdiff_trainer_destroy(b->t);
    simdiff_model_destroy(b->m);
    simdiff_schedule_destroy(b->s);
    free(b->x);
    free(b->z);
    free(b->out);
    free(b->labels);
    free(b->logsnr);
}

/* Untimed: every OpenMP thread busy for 2 ms (see the header comment). */
static void prewake(void)
{
    omp_set_num_threads(simdiff_get_num_threads());
    double t0 = now();
#pragma omp parallel
    {
        volatile double x = 0;
        while (now() - t0 < 0.002)
            x += 1;
    }
}

static double train_once(bench *b)
{
    double loss, t0 = now();
    if (simdiff_trainer_step(b->t, b->B, b->x, b->K > 0 ? b->labels : NULL, &loss))
        return -1;
    return now() - t0;
}

static double forward_once(bench *b, int n)
{
    double t0 = now();
    if (simdiff_model_forward(b->m, n, b->z, b->logsnr, b->K > 0 ? b->labels : NULL, b->out))
        return -1;
    return now() - t0;
}

static int write_file(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, bytes, f);
    return fclose(f) == 0 && w == bytes ? 0 : -1;
}

/* A batch-2 forward for the equivalence check: z.f32, logsnr.f64,
 * labels.i32, out.f32 (raw little-endian arrays) and shape.txt. */
static int dump(bench *b, const char *dir)
{
    int n = 2;
    double ls[2] = {-3.5, 2.25};
    int lab[2] = {b->K > 0 ? 1 % b->K : -1, -1};
    if (simdiff_model_forward(b->m, n, b->z, ls, b->K > 0 ? lab : NULL, b->out))
        return -1;
    char shape[128];
    int k = snprintf(shape, sizeof shape, "%d %d %d %d\n", n, b->C, b->d, b->d);
    if (write_file(dir, "z.f32", b->z, n * b->per * sizeof(float)) ||
        write_file(dir, "logsnr.f64", ls, sizeof ls) ||
        write_file(dir, "labels.i32", lab, sizeof lab) ||
        write_file(dir, "out.f32", b->out, n * b->per * sizeof(float)) ||
        write_file(dir, "shape.txt", shape, (size_t)k))
        return -1;
    return 0;
}

/* kind 0: one training step; 1: 20 batch-1 evaluations; 2: 3 batch-B
 * evaluations (both on the model's own context). */
static void profile(bench *b, int kind)
{
    const int lat = kind != 0, n = kind == 1 ? 1 : b->B, reps = kind == 1 ? 20 : kind ? 3 : 1;
    if (lat && forward_once(b, n) < 0) /* the context exists after a call */
        return (void)printf("err %s\nend\n", simdiff_last_error());
    sd_ctx *c = lat ? b->m->ctx : b->t->ctx;
    sd_ctx_set_profile(c, 1);
    sd_ctx_profile_reset(c);
    double dt = 0;
    for (int i = 0; i < reps; i++)
        dt += lat ? forward_once(b, n) : train_once(b);
    sd_ctx_set_profile(c, 0);
    static char rep[32768];
    sd_ctx_profile_report(c, rep, sizeof rep);
    /* The ops' total, so the rest (noise, optimizer, EMA) shows too. */
    double tot = 0;
    for (const char *l = strchr(rep, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
        char op[64];
        double f, bw;
        if (sscanf(l + 1, "%63s %lf %lf", op, &f, &bw) == 3)
            tot += f + bw;
    }
    if (lat)
        printf("%d batch-%d evaluations %.2f ms; ops %.2f ms\n%s", reps, n, dt * 1e3, tot, rep);
    else
        printf("step %.2f ms; ops %.2f ms; outside ops (noise, loss setup, grad norm, "
               "AdamW, EMA) %.2f ms\n%s",
               dt * 1e3, tot, dt * 1e3 - tot, rep);
    printf("end\n");
}

/* Where the step arena goes: bytes in use after the forward pass (saved
 * activations, tape) and after the backward pass (plus the gradients of
 * activations, which the arena keeps until the end of the step). */
static int memsplit(bench *b, size_t *fwd, size_t *total)
{
    sd_ctx *c = b->t->ctx;
    const int64_t shape[4] = {b->B, b->C, b->d, b->d};
    sd_ctx_reset(c);
    sd_ctx_set_grad(c, 1);
    sd_ctx_set_training(c, 1);
    sd_tensor *z = sd_copy_in(c, 4, shape, b->x);
    sd_tensor *pred = sd_model_graph(b->m, c, z, b->logsnr, b->K > 0 ? b->labels : NULL, NULL);
    *fwd = sd_ctx_arena_used(c);
    sd_tensor *loss = sd_mse(c, pred, sd_wrap(c, 4, shape, b->z));
    int rc = sd_ctx_status(c) || sd_backward(c, loss) ? -1 : 0;
    *total = sd_ctx_arena_used(c);
    sd_model_zero_grad(b->m);
    sd_ctx_reset(c);
    return rc;
}

static int worker(bench *b)
{
    char line[1100];
    peak_mm pk[2] = {{0}, {0}}; /* f32, bf16 */
    int have_peak[2] = {0, 0};
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        char cmd[32] = "", arg[1024] = "";
        if (sscanf(line, "%31s %1023s", cmd, arg) < 1)
            continue;
        if (!strcmp(cmd, "quit"))
            break;
        if (!strcmp(cmd, "info")) {
            double fl = 0;
            simdiff_model_flops(b->m, &fl);
            printf("ok params=%lld gflop_fwd=%.6f batch=%d runtime=%s\n",
                   (long long)simdiff_model_num_params(b->m), fl * 1e-9, b->B,
                   simdiff_runtime_info());
        } else if (!strcmp(cmd, "train") || !strcmp(cmd, "sample") || !strcmp(cmd, "lat")) {
            int k = cmd[0] == 'l' ? (arg[0] ? atoi(arg) : 10) : 1;
            if (k < 1)
                k = 1;
            prewake();
            double dt = 0;
            for (int i = -1; i < k && dt >= 0; i++) { /* i = -1: untimed */
                double d = cmd[0] == 't'   ? train_once(b)
                           : cmd[0] == 's' ? forward_once(b, b->B)
                                           : forward_once(b, 1);
                dt = d < 0 ? d : i < 0 ? 0 : dt + d / k;
            }
            if (dt < 0)
                printf("err %s\n", simdiff_last_error());
            else
                printf("ok %.9f\n", dt);
        } else if (!strcmp(cmd, "flops")) {
            double f0 = sd_ctx_flops(b->t->ctx);
            double dt = train_once(b);
            printf(dt < 0 ? "err step failed\n" : "ok %.6e\n", sd_ctx_flops(b->t->ctx) - f0);
        } else if (!strcmp(cmd, "peak")) {
            omp_set_num_threads(simdiff_get_num_threads());
            const int k = !strcmp(arg, "bf16");
            if (!have_peak[k]) {
                if (peak_init(&pk[k], 2048, k)) {
                    printf("err matmul setup failed\n");
                    continue;
                }
                have_peak[k] = 1;
                peak_run(&pk[k]); /* warm-up */
            }
            double dt = peak_run(&pk[k]);
            double fl = 2.0 * (double)pk[k].n * (double)pk[k].n * (double)pk[k].n;
            printf(dt < 0 ? "err matmul failed\n" : "ok %.9f %.3f\n", dt, fl / dt * 1e-9);
        } else if (!strcmp(cmd, "dump")) {
            if (dump(b, arg))
                printf("err dump to '%s' failed: %s\n", arg, simdiff_last_error());
            else
                printf("ok\n");
        } else if (!strcmp(cmd, "release")) {
            sd_ctx_destroy(b->m->ctx);
            b->m->ctx = NULL; /* created again by the next forward */
            sd_ctx_destroy(b->t->ctx);
            b->t->ctx = NULL;
            if (sd_ctx_create(&b->t->ctx))
                printf("err %s\n", simdiff_last_error());
            else {
                sd_ctx_set_precision(b->t->ctx, b->prec == SIMDIFF_PRECISION_BF16
                                                    ? SD_PREC_BF16
                                                    : SD_PREC_F32);
                printf("ok\n");
            }
        } else if (!strcmp(cmd, "memsplit")) {
            size_t f = 0, tot = 0;
            if (memsplit(b, &f, &tot))
                printf("err %s\n", sd_ctx_errmsg(b->t->ctx));
            else
                printf("ok fwd_bytes=%zu total_bytes=%zu\n", f, tot);
        } else if (!strcmp(cmd, "profile")) {
            profile(b, !strcmp(arg, "lat") ? 1 : !strcmp(arg, "sample") ? 2 : 0);
        } else {
            printf("err unknown command '%s'\n", cmd);
        }
        fflush(stdout);
    }
    for (int k = 0; k < 2; k++)
        if (have_peak[k])
            peak_free(&pk[k]);
    return 0;
}

static int mem(const char *config, const char *weights, int B, simdiff_precision prec)
{
    long base = status_kb("VmRSS");
    bench b;
    if (bench_init(&b, config, weights, NULL, B, 1, prec))
        return 1;
    long after_setup = status_kb("VmRSS");
    for (int i = 0; i < 2; i++)
        if (train_once(&b) < 0)
            return die("training step");
    long hwm = status_kb("VmHWM");
    printf("ok hwm_kb=%ld base_kb=%ld setup_kb=%ld arena_bytes=%zu\n", hwm, base,
           after_setup, sd_ctx_arena_peak(b.t->ctx));
    bench_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* one reply per line, through a pipe */
    if (argc < 2) {
        fprintf(stderr, "usage: simdiff-bench worker|mem --config fmnist|rgb64|rgb256 "
                        "[--batch B] [--threads T] [--weights F | --save F] [--seed S] "
                        "[--precision f32|bf16]\n");
        return 2;
    }
    const char *mode = argv[1], *config = "fmnist", *weights = NULL, *save = NULL;
    int B = 64, threads = 2;
    uint64_t seed = 1;
    simdiff_precision prec = SIMDIFF_PRECISION_F32;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--batch")) B = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--precision") && (!strcmp(v, "f32") || !strcmp(v, "bf16")))
            prec = v[0] == 'b' ? SIMDIFF_PRECISION_BF16 : SIMDIFF_PRECISION_F32;
        else {
            fprintf(stderr, "simdiff-bench: unknown option %s\n", a);
            return 2;
        }
    }
    if (B < 1 || simdiff_set_num_threads(threads))
        return die("arguments");
    if (!strcmp(mode, "mem"))
        return mem(config, weights, B, prec);
    if (strcmp(mode, "worker")) {
        fprintf(stderr, "simdiff-bench: unknown mode %s\n", mode);
        return 2;
    }
    bench b;
    if (bench_init(&b, config, weights, save, B, seed, prec))
        return 1;
    printf("ready\n");
    fflush(stdout);
    int rc = worker(&b);
    bench_free(&b);
    return rc;
}
