#!/usr/bin/python3
"""Train, sample and score a table of emoji models at one training budget:
the ablations of docs/highres.md (schedule, loss, stem), every row with the
same data, seed, number of training images, sampler and sample labels.

    scripts/highres-table.py --data DATA --size 128 --images 64000 --n 450 \\
        --common "--pad 0 --precision bf16 --stem dwt --stem-param 2" \\
        --row shifted="--schedule shifted(128,64)" --row cosine="--schedule cosine(-15,15)" \\
        [--jobs 2 --threads 1] [--scorer ../shared/tools/emoji_score.py] [--real] \\
        [--runs runs/highres-table] [--csv table.csv]

DATA: the directory emoji_dataset.py wrote (emoji{S}.npy and
emoji{S}-labels.npy for training; emoji64.npy and emoji64-labels.npy for
the repository's scorer). A row is NAME=FLAGS: simdiff-train flags added
after --common (later flags win). Each row trains --images / --batch steps
(seed --train-seed) into RUNS/NAME, then draws N images with the labels of
N data rows picked without replacement (seed 0: the data set's
proportions, which the FID reference needs) and sampler seed --seed, with
--sampler-args, and scores them with scripts/eval/emoji_eval.py (fid,
class_accuracy) and, with --scorer, an external scorer (fid_2,
class_accuracy_2). --real adds a row of the N real images themselves.

A row whose RUNS/NAME/table-trained exists (written after its training
finished) is not trained again, only sampled and scored: rerun the same
command after an interruption. An unfinished run is started over. --jobs J
runs J rows at once, each with --threads threads (J x threads should be
the number of cores). Per row the CSV has the training wall time, images/s,
CPU seconds and peak RSS of the training process (os.wait4), the last
logged loss_avg, the sampling time and the scores. It is rewritten
(atomically) after every row. Needs numpy (Debian's /usr/bin/python3).
"""
import argparse
import concurrent.futures
import csv
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "eval"))
from emoji_scorer import Scorer  # noqa: E402

FIELDS = ["row", "flags", "images", "steps", "train_s", "train_images_per_s", "train_cpu_s",
          "train_peak_rss_mib", "loss_avg", "sample_s", "n", "fid", "class_accuracy",
          "fid_2", "class_accuracy_2"]


def run(cmd, log):
    """Run cmd with its output to the file log; (wall s, CPU s, peak RSS
    MiB) of that process alone (os.wait4). Exits on failure."""
    t0 = time.monotonic()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"highres-table: {shlex.join(cmd)} failed ({p.returncode}); see {log}")
    return time.monotonic() - t0, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def last_loss_avg(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["loss_avg"]) if rows else float("nan")


def write_csv(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--images", type=int, required=True, help="training images per row")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n", type=int, default=450)
    ap.add_argument("--row", action="append", default=[], metavar="NAME=FLAGS")
    ap.add_argument("--common", default="", help="simdiff-train flags of every row")
    ap.add_argument("--sampler-args", default="--sampler dpmpp2m --steps 16 --guidance 3")
    ap.add_argument("--seed", type=int, default=1, help="sampler seed")
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="threads per row (default: cores / jobs)")
    ap.add_argument("--runs", default="runs/highres-table")
    ap.add_argument("--csv", default="")
    ap.add_argument("--scorer", default=None, help="external scorer: columns fid_2, class_accuracy_2")
    ap.add_argument("--real", action="store_true", help="a row of the N real images")
    ap.add_argument("--train", default=os.path.join(ROOT, "build", "examples", "simdiff-train"))
    ap.add_argument("--sample", default=os.path.join(ROOT, "build", "examples", "simdiff-sample"))
    a = ap.parse_args()

    rows = []
    for spec in a.row:
        name, sep, flags = spec.partition("=")
        if not sep or not name or "/" in name or name in (r[0] for r in rows):
            ap.error(f"--row {spec!r}: want a new NAME=FLAGS, NAME without '/'")
        rows.append((name, flags))
    if not rows and not a.real:
        ap.error("no --row and no --real: nothing to do")
    if a.images < a.batch or a.batch < 1 or a.jobs < 1:
        ap.error("--images must be at least --batch, and --batch, --jobs at least 1")
    threads = a.threads or max(1, (os.cpu_count() or 1) // a.jobs)
    data = os.path.join(a.data, f"emoji{a.size}.npy")
    labels_path = os.path.join(a.data, f"emoji{a.size}-labels.npy")
    labels = np.load(labels_path)
    if not 2 <= a.n <= len(labels):
        ap.error(f"--n must be in 2..{len(labels)}")
    pick = np.random.default_rng(0).choice(len(labels), a.n, replace=False)
    want = labels[pick].astype(np.int64)
    os.makedirs(a.runs, exist_ok=True)
    lab_npy = os.path.join(a.runs, f"labels-n{a.n}.npy")
    np.save(lab_npy, want.astype(np.float32))
    steps = a.images // a.batch
    scorer = Scorer(a.data, a.scorer)
    lock = threading.Lock()
    done = []

    def record(r):
        with lock:
            done.append(r)
            print(" | ".join(f"{k}={r.get(k, '')}" for k in FIELDS), flush=True)
            if a.csv:
                write_csv(a.csv, done)

    def score(r, samples):
        with lock:
            r.update({k: round(v, 4) for k, v in scorer.numbers(samples, lab_npy).items()})

    def one(name, flags):
        d = os.path.join(a.runs, name)
        r = {"row": name, "flags": flags, "images": steps * a.batch, "steps": steps, "n": a.n}
        mark = os.path.join(d, "table-trained")
        if not os.path.exists(mark):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            cmd = [a.train, "--data", data, "--data-labels", labels_path, "--batch", str(a.batch),
                   "--steps", str(steps), "--threads", str(threads), "--seed", str(a.train_seed),
                   "--ckpt-every", str(max(steps, 1)), "--out", d]
            cmd += shlex.split(a.common) + shlex.split(flags)
            wall, cpu, rss = run(cmd, os.path.join(d, "train.log"))
            with open(mark, "w") as f:
                f.write(f"{wall:.1f} {cpu:.1f} {rss:.1f}\n{shlex.join(cmd)}\n")
        with open(mark) as f:
            wall, cpu, rss = (float(v) for v in f.readline().split())
        r.update(train_s=round(wall, 1), train_images_per_s=round(steps * a.batch / wall, 2),
                 train_cpu_s=round(cpu, 1), train_peak_rss_mib=round(rss, 1),
                 loss_avg=last_loss_avg(os.path.join(d, "loss.csv")))
        samples = os.path.join(d, f"samples-n{a.n}-seed{a.seed}.npy")
        cmd = [a.sample, os.path.join(d, "model.safetensors"), "--labels",
               ",".join(str(int(v)) for v in want), "--count", str(a.n), "--seed", str(a.seed),
               "--threads", str(threads), "--batch", "50", "--npy", samples, "--quiet"]
        cmd += shlex.split(a.sampler_args)
        r["sample_s"] = round(run(cmd, os.path.join(d, "sample.log"))[0], 1)
        score(r, samples)
        record(r)

    if a.real:
        real = os.path.join(a.runs, f"real-n{a.n}.npy")
        np.save(real, np.load(data)[pick])
        r = {"row": "real images", "flags": f"{a.n} data rows, {a.size}x{a.size}", "n": a.n}
        score(r, real)
        record(r)
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        for f in [ex.submit(one, name, flags) for name, flags in rows]:
            f.result()

    cols = [("row", "row"), ("flags", "flags"), ("FID", "fid"), ("class acc.", "class_accuracy")]
    if a.scorer:
        cols += [("FID (2)", "fid_2"), ("class acc. (2)", "class_accuracy_2")]
    cols += [("train s", "train_s"), ("img/s", "train_images_per_s"), ("loss", "loss_avg")]
    print(f"\n{steps * a.batch} training images per row; N = {a.n}; sampler {a.sampler_args}\n")
    print("| " + " | ".join(h for h, _ in cols) + " |\n|" + "---|" * len(cols))
    for r in done:
        print("| " + " | ".join(str(r.get(k, "")) for _, k in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
