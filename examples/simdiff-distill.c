/*
 * simdiff-distill: progressive distillation of a (guided) model into a
 * few-step student (include/simdiff/distill.h, docs/distillation.md).
 * Each round halves the sampling steps; a student model is written after
 * every round; checkpoints, --resume and Ctrl-C (finish the step, save a
 * checkpoint, exit) as simdiff-train.
 *
 *   simdiff-distill models/fmnist-uvit.safetensors --from 64 --to 4 --guidance 3 \
 *       --out runs/distill --steps-per-round 2000
 *   simdiff-distill --resume runs/distill/checkpoint.sdc --to 4 --steps-per-round 2000 \
 *       --out runs/distill
 *   simdiff-distill --help
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <simdiff/simdiff.h>

#include "cli.h"
#include "runutil.h"

#define P "simdiff-distill"

typedef struct opts {
    const char *teacher, *data_dir, *npy, *npy_labels, *out, *resume, *precision, *weighting;
    int from, to, from_set, guidance_set;
    double guidance, lr, ema, minutes;
    long long steps_per_round;
    int batch, threads, pad, flip, warmup, ckpt_every, log_every, fp16;
    uint64_t seed;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: simdiff-distill TEACHER.safetensors [options]\n"
            "       simdiff-distill --resume DIR/checkpoint.sdc [options]\n"
            "Progressive distillation: each round a student learns to do in one DDIM step\n"
            "what its teacher does in two (the first teacher guided with --guidance), then\n"
            "becomes the next round's teacher. Writes DIR/student-<K>steps.safetensors after\n"
            "each round (sampler settings stored: DDIM, K steps, guidance 1).\n"
            "distillation:\n"
            "  --from N            the teacher's sampling steps (default 64; even)\n"
            "  --to K              the last student's steps (default 4; N/K a power of 2)\n"
            "  --guidance W        guidance folded into the first teacher (default 1)\n"
            "  --steps-per-round S training steps of each round (default 2000)\n"
            "  --weighting NAME    truncated_snr (default) or snr_plus_one\n"
            "data (as simdiff-train):\n"
            "  --data-dir DIR      Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
            "  --data FILE.npy     an NPY image file instead; --data-labels FILE its labels\n"
            "  --pad N             pad images to NxN (default 32; 0 = none)\n"
            "  --flip              random horizontal flips (default: none; only for data\n"
            "                      whose mirror images are as likely: not Fashion-MNIST,\n"
            "                      whose shoes all face left; docs/training.md)\n"
            "  --no-flip           no flips (the default)\n"
            "run:\n"
            "  --out DIR           output directory (default runs/distill)\n"
            "  --resume FILE       continue from a checkpoint (bit-exact)\n"
            "  --minutes M         stop (with a checkpoint) after M minutes\n"
            "  --batch N           batch size (default 64)\n"
            "  --lr X              learning rate (default 1e-4), --warmup N (default 100)\n"
            "  --ema X             EMA decay (default 0.999; the student written is the EMA)\n"
            "  --threads N, --precision f32|bf16, --seed N, --fp16\n"
            "  --ckpt-every N      checkpoint every N steps (default 500)\n"
            "  --log-every N       print/log every N steps (default 50)\n");
}

static int bad_name(const char *flag, const char *v)
{
    fprintf(stderr, P ": %s: '%s': %s\n", flag, v, simdiff_last_error());
    return -1;
}

/* from = to·2^r, r >= 1: each round halves the steps. */
static int check_to(int from, int to)
{
    int q = to > 0 && from % to == 0 ? from / to : 0;
    if (q < 2 || (q & (q - 1))) {
        fprintf(stderr, P ": --to %d: --from %d must be --to times a power of 2 (>= 2): "
                        "each round halves the steps\n", to, from);
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.data_dir = "/usr/share/datasets/fashion-mnist", .out = "runs/distill",
                .from = 64, .to = 4, .guidance = 1, .lr = 1e-4, .ema = 0.999,
                .steps_per_round = 2000, .batch = 64, .pad = 32, .flip = 0, .warmup = 100,
                .ckpt_every = 500, .log_every = 50};
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
        else if (!strcmp(a, "--fp16")) o->fp16 = 1;
        else if (ARG("--from")) { o->from_set = 1; if (INT(2, 100000, &o->from)) return -1; }
        else if (ARG("--to")) { if (INT(1, 50000, &o->to)) return -1; }
        else if (ARG("--guidance")) { o->guidance_set = 1; if (DBL(0, 0, 1e6, 0, &o->guidance)) return -1; }
        else if (ARG("--steps-per-round")) { if (cli_ll(P, a, v, 1, 1000000000000LL, &o->steps_per_round)) return -1; }
        else if (ARG("--weighting")) {
            simdiff_distill_weighting w;
            if (simdiff_distill_weighting_from_name(v, &w))
                return bad_name("--weighting", v);
            o->weighting = v;
        }
        else if (ARG("--data-dir")) o->data_dir = v;
        else if (ARG("--npy") || ARG("--data")) o->npy = v;
        else if (ARG("--npy-labels") || ARG("--data-labels")) o->npy_labels = v;
        else if (ARG("--pad")) { if (INT(0, 4096, &o->pad)) return -1; }
        else if (ARG("--out")) o->out = v;
        else if (ARG("--resume")) o->resume = v;
        else if (ARG("--minutes")) { if (DBL(0, 0, 1e9, 0, &o->minutes)) return -1; }
        else if (ARG("--batch")) { if (INT(1, 1 << 20, &o->batch)) return -1; }
        else if (ARG("--lr")) { if (DBL(0, 1, 10, 1, &o->lr)) return -1; }
        else if (ARG("--warmup")) { if (INT(0, INT32_MAX, &o->warmup)) return -1; }
        else if (ARG("--ema")) { if (DBL(0, 0, 1, 1, &o->ema)) return -1; }
        else if (ARG("--threads")) { if (INT(1, 4096, &o->threads)) return -1; }
        else if (ARG("--precision")) o->precision = v;
        else if (ARG("--seed")) { if (cli_u64(P, a, v, &o->seed)) return -1; }
        else if (ARG("--ckpt-every")) { if (INT(1, INT32_MAX, &o->ckpt_every)) return -1; }
        else if (ARG("--log-every")) { if (INT(1, INT32_MAX, &o->log_every)) return -1; }
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, P ": unknown option '%s' (see --help)\n", a);
            return -1;
        } else if (!o->teacher) o->teacher = a;
        else {
            fprintf(stderr, P ": one teacher model only ('%s' and '%s')\n", o->teacher, a);
            return -1;
        }
#undef ARG
#undef INT
#undef DBL
    }
    if (!o->teacher == !o->resume) {
        fprintf(stderr, P ": give a TEACHER model (a new run) or --resume CHECKPOINT\n");
        return -1;
    }
    if (o->from % 2) {
        fprintf(stderr, P ": --from %d: the teacher's steps must be even\n", o->from);
        return -1;
    }
    return o->resume ? 0 : check_to(o->from, o->to);
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, P ": %s: %s\n", what, simdiff_last_error());
    return 1;
}

/* The student file of a round whose student samples in K steps. */
static void student_path(const opts *o, int K, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/student-%dsteps.safetensors", o->out, K);
}

int main(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o))
        return 2;
    if (o.threads > 0 && simdiff_set_num_threads(o.threads))
        return fail("--threads");
    simdiff_precision prec = SIMDIFF_PRECISION_F32;
    if (o.precision && simdiff_precision_from_name(o.precision, &prec)) {
        fprintf(stderr, P ": --precision: '%s' is not f32 or bf16\n", o.precision);
        return 2;
    }
    if (simdiff_precision_check(prec))
        return fail("--precision");

    simdiff_model *student = NULL;
    simdiff_distiller *d = NULL;
    simdiff_distill_stats ds = {.struct_size = sizeof ds};
    if (o.resume) {
        if (simdiff_distiller_load(&d, &student, o.resume))
            return fail(o.resume);
        simdiff_distiller_stats_get(d, &ds);
        int from = ds.teacher_steps << ds.round;
        if ((o.from_set && o.from != from) || (o.guidance_set && o.guidance != ds.guidance)) {
            fprintf(stderr, P ": %s is a run --from %d --guidance %g; --from and --guidance "
                            "cannot change on --resume\n", o.resume, from, ds.guidance);
            simdiff_distiller_destroy(d);
            simdiff_model_destroy(student);
            return 2;
        }
        o.from = from;
        if (check_to(from, o.to) || ds.student_steps < o.to) {
            if (ds.student_steps < o.to)
                fprintf(stderr, P ": --to %d: the run is at a %d-step student already\n",
                        o.to, ds.student_steps);
            simdiff_distiller_destroy(d);
            simdiff_model_destroy(student);
            return 2;
        }
        fprintf(stderr, "resumed %s: round %d (%d -> %d steps), step %lld\n", o.resume,
                ds.round, ds.teacher_steps, ds.student_steps, (long long)ds.step);
    } else {
        simdiff_model *teacher = NULL;
        if (simdiff_model_load(&teacher, o.teacher) || simdiff_model_load(&student, o.teacher)) {
            simdiff_model_destroy(teacher);
            return fail(o.teacher);
        }
        simdiff_distill_config dc;
        simdiff_optimizer_config oc;
        simdiff_distill_config_init(&dc);
        simdiff_optimizer_config_init(&oc);
        dc.teacher_steps = o.from;
        dc.guidance = o.guidance;
        dc.seed = o.seed;
        dc.precision = prec;
        dc.num_threads = o.threads;
        if (o.weighting)
            simdiff_distill_weighting_from_name(o.weighting, &dc.weighting);
        oc.lr = o.lr;
        oc.warmup_steps = o.warmup;
        oc.ema_decay = o.ema;
        simdiff_status st = simdiff_distiller_create(&d, teacher, student, &dc, &oc);
        simdiff_model_destroy(teacher); /* the distiller keeps its own copy */
        if (st) {
            int rc = fail("distiller");
            simdiff_model_destroy(student);
            return st == SIMDIFF_ERR_INVALID_ARG ? 2 : rc;
        }
        simdiff_distiller_stats_get(d, &ds);
    }
    simdiff_model_config cfg = {.struct_size = sizeof cfg};
    simdiff_model_get_config(student, &cfg);

    int rc = 0;
    simdiff_dataset *data = NULL;
    char failed[1100];
    if (run_open_data(&data, o.data_dir, o.npy, o.npy_labels, failed, sizeof failed)) {
        rc = fail(failed);
        goto done;
    }
    int C = simdiff_dataset_channels(data), H = simdiff_dataset_height(data);
    int dsz = o.pad > 0 ? o.pad : H;
    int K = simdiff_dataset_num_classes(data);
    if (cfg.channels != C || cfg.image_size != dsz || cfg.num_classes != K) {
        fprintf(stderr, P ": the model takes %d x %d x %d images and %d classes; the data "
                          "gives %d x %d x %d and %d classes\n",
                cfg.channels, cfg.image_size, cfg.image_size, cfg.num_classes, C, dsz, dsz, K);
        rc = 2;
        goto done;
    }
    int rounds = 0;
    for (int q = o.from / o.to; q > 1; q /= 2)
        rounds++;
    fprintf(stderr, "%s\ndistilling %d -> %d steps in %d rounds of %lld steps, guidance %g "
                    "folded in; %lld params; data: %lld images, %d classes\n",
            simdiff_runtime_info(), o.from, o.to, rounds, o.steps_per_round, ds.guidance,
            (long long)simdiff_model_num_params(student),
            (long long)simdiff_dataset_count(data), K);

    const int B = o.batch;
    size_t per = (size_t)C * dsz * dsz;
    float *x = malloc((size_t)B * per * sizeof(float));
    int *labels = malloc((size_t)B * sizeof(int));
    int64_t *idx = malloc((size_t)B * sizeof(int64_t));
    uint8_t *flip = malloc((size_t)B);
    int64_t *perm = malloc((size_t)simdiff_dataset_count(data) * sizeof(int64_t));
    FILE *logf = NULL;
    char ckpt[1100], logpath[1100], spath[1200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.sdc", o.out);
    snprintf(logpath, sizeof logpath, "%s/loss.csv", o.out);
    if (!x || !labels || !idx || !flip || !perm) {
        fprintf(stderr, P ": out of memory\n");
        rc = 1;
        goto out;
    }
    if (run_prepare_out(P, o.out)) {
        rc = 1;
        goto out;
    }
    logf = run_open_log(logpath, (long long)ds.total_steps,
                        "total_step,round,teacher_steps,step,loss,loss_avg,lr,images_per_s,"
                        "elapsed_s\n");
    if (!logf) {
        fprintf(stderr, P ": cannot write '%s': %s\n", logpath, strerror(errno));
        rc = 1;
        goto out;
    }
    run_catch_stop();
    int tty = isatty(2), finished = 0;
    long long perm_epoch = -1, start = ds.total_steps, nlog = 0;
    double t0 = run_now(), tlast = t0, avg = NAN, sum_loss = 0;
    while (!rc) {
        simdiff_distiller_stats_get(d, &ds);
        if (ds.step >= o.steps_per_round) { /* the round is done: its student, then the next */
            student_path(&o, ds.student_steps, spath, sizeof spath);
            if (simdiff_distiller_export(d, spath, o.fp16)) {
                rc = fail(spath);
                break;
            }
            fprintf(stderr, "%sround %d done: wrote %s\n", tty ? "\n" : "", ds.round, spath);
            if (ds.student_steps <= o.to) {
                finished = 1;
                break;
            }
            if (simdiff_distiller_next_round(d)) {
                rc = fail("next round");
                break;
            }
            avg = NAN;
            continue;
        }
        if (g_stop || (o.minutes > 0 && run_now() - t0 > o.minutes * 60))
            break;
        long long k = ds.total_steps; /* the data order follows the total step */
        if (run_batch_indices(data, o.seed, k, B, perm, &perm_epoch, idx) ||
            (o.flip && simdiff_dataset_flip_mask(o.seed, (uint64_t)k, B, idx, flip)) ||
            simdiff_dataset_get_batch(data, B, idx, o.pad, o.flip ? flip : NULL, x, labels)) {
            rc = fail("data");
            break;
        }
        double loss;
        if (simdiff_distiller_step(d, B, x, K > 0 ? labels : NULL, &loss)) {
            rc = fail("distillation step");
            break;
        }
        if (isfinite(loss)) {
            avg = isnan(avg) ? loss : 0.98 * avg + 0.02 * loss;
            sum_loss += loss;
            nlog++;
        }
        simdiff_distiller_stats_get(d, &ds);
        k = ds.total_steps;
        double tn = run_now();
        if (k % o.log_every == 0 || tty) {
            double ips = (double)(k - start) * B / (tn - t0);
            long long left_steps = (long long)(rounds - 1 - ds.round) * o.steps_per_round +
                                   (o.steps_per_round - ds.step);
            char eta[32], el[32];
            double left = (double)left_steps * B / ips;
            if (o.minutes > 0 && o.minutes * 60 - (tn - t0) < left)
                left = o.minutes * 60 - (tn - t0);
            run_fmt_time(left, eta, sizeof eta);
            run_fmt_time(tn - t0, el, sizeof el);
            if (tty && (tn - tlast > 0.25 || k % o.log_every == 0)) {
                fprintf(stderr, "\rround %d (%d->%d steps) step %lld/%lld  loss %.4g  %.1f img/s  "
                                "lr %.2e  %s elapsed, ETA %s   ",
                        ds.round, ds.teacher_steps, ds.student_steps, (long long)ds.step,
                        o.steps_per_round, avg, ips, ds.lr, el, eta);
                tlast = tn;
            } else if (!tty) {
                fprintf(stderr, "round %d (%d->%d steps) step %lld/%lld loss %.4g %.1f img/s "
                                "lr %.2e elapsed %s ETA %s skipped %lld\n",
                        ds.round, ds.teacher_steps, ds.student_steps, (long long)ds.step,
                        o.steps_per_round, avg, ips, ds.lr, el, eta, (long long)ds.skipped);
            }
            if (k % o.log_every == 0) {
                fprintf(logf, "%lld,%d,%d,%lld,%.6g,%.6g,%.6g,%.2f,%.1f\n", k, ds.round,
                        ds.teacher_steps, (long long)ds.step, nlog ? sum_loss / nlog : NAN, avg,
                        ds.lr, ips, tn - t0);
                fflush(logf);
                sum_loss = 0;
                nlog = 0;
            }
        }
        if (k % o.ckpt_every == 0 && simdiff_distiller_save(d, ckpt)) {
            rc = fail("checkpoint");
            break;
        }
    }
    if (tty)
        fputc('\n', stderr);
    /* Saved also after an error: a failed step leaves the state as it was. */
    if (simdiff_distiller_save(d, ckpt))
        rc = fail("checkpoint");
    else if (rc)
        fprintf(stderr, P ": stopped by the error above; saved %s\n", ckpt);
    else
        fprintf(stderr, "%s: saved %s\n", finished ? "done" : g_stop ? "interrupted" : "stopped",
                ckpt);
    if (logf && fclose(logf) != 0 && !rc) {
        fprintf(stderr, P ": %s is incomplete (a write failed)\n", logpath);
        rc = 1;
    }
out:
    free(x);
    free(labels);
    free(idx);
    free(flip);
    free(perm);
done:
    simdiff_dataset_destroy(data);
    simdiff_distiller_destroy(d);
    simdiff_model_destroy(student);
    return rc;
}
