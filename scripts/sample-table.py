#!/usr/bin/env python3
"""Measure sample quality of a Fashion-MNIST model for several samplers,
step counts and guidance scales, with the repository's evaluator
(scripts/eval/fmnist_eval.py, docs/evaluation.md: FID in a fixed
classifier's feature space and class accuracy) and, with --also-score,
a second scorer on the same sample files. Standard library only; the
scorers run under Debian's python3 with numpy.

usage: scripts/sample-table.py MODEL [--score scripts/eval/fmnist_eval.py]
           [--also-score OTHER_SCORER.py] [--seed 1] [--batch 250]
           [--n 2000] [--grid "dpmpp2m:8,16,32;ddim:16,32,64;ddpm:128,256"]
           [--guidance 1,2,3] [--out results.csv] [--svg fig.svg]
           [--sample build/examples/simdiff-sample] [--threads 2]
       scripts/sample-table.py --plot A.csv[,B.csv...] --svg fig.svg
           (only the figure, from rows measured earlier)

Each row: sampler, steps, guidance, N, fid, class accuracy (then
fid_2, class_accuracy_2 from --also-score), seconds, images/s, peak RSS of
the sampling process (MiB). Labels are balanced: N/10 per class. Any
scorer that prints "fid <x>" and "class_accuracy <y>" (a colon allowed)
will do.
"""
import argparse
import csv
import os
import re
import resource
import subprocess
import sys
import tempfile
import time


def run_one(a, sampler, steps, guidance, n, tmp):
    npy = os.path.join(tmp, "s.npy")
    lab = os.path.join(tmp, "l.npy")
    cmd = [a.sample, a.model, "--labels", "all", "--count", str(n), "--sampler", sampler,
           "--steps", str(steps), "--guidance", str(guidance), "--seed", str(a.seed),
           "--npy", npy, "--labels-npy", lab, "--quiet", "--batch", str(a.batch)]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    # The sampler's own peak RSS: a fresh interpreter waits for it alone
    # (RUSAGE_CHILDREN is a maximum over every child ever waited for).
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t0 = time.monotonic()
    rss = int(subprocess.run([sys.executable, "-c", probe] + cmd, check=True,
                             capture_output=True, text=True).stdout.split()[-1])  # KiB
    dt = time.monotonic() - t0
    r = dict(sampler=sampler, steps=steps, guidance=guidance, n=n)
    r.update(score(a, a.score, npy, lab, ""))
    if a.also_score:
        r.update(score(a, a.also_score, npy, lab, "_2"))
    r.update(seconds=round(dt, 1), images_per_s=round(n / dt, 2),
             peak_rss_mib=round(rss / 1024, 1))
    return r


def score(a, scorer, npy, lab, suffix):
    out = subprocess.run([a.python, scorer, npy, lab], check=True, capture_output=True,
                         text=True).stdout
    fid = float(re.search(r"^fid\W*([0-9.]+)", out, re.M).group(1))
    acc_m = re.search(r"^class_accuracy\W*([0-9.]+)", out, re.M)
    acc = float(acc_m.group(1)) if acc_m else float("nan")
    return {"fid" + suffix: round(fid, 2), "class_accuracy" + suffix: round(acc, 4)}


def svg(rows, path):
    # FID against network evaluations, one polyline per (sampler, guidance).
    W, H, L, R, T, B = 720, 420, 60, 170, 30, 50
    import math
    series = {}
    for r in rows:
        series.setdefault((r["sampler"], r["guidance"]), []).append(r)
    xs = [math.log2(r["steps"]) for r in rows]
    ys = [math.log10(max(r["fid"], 0.1)) for r in rows]
    x0, x1, y0, y1 = min(xs) - 0.2, max(xs) + 0.2, min(ys) - 0.1, max(ys) + 0.1
    px = lambda x: L + (W - L - R) * (x - x0) / (x1 - x0)
    py = lambda y: T + (H - T - B) * (y1 - y) / (y1 - y0)
    colors = ["#c30", "#06c", "#393", "#a3a", "#f80", "#555", "#0aa", "#a60"]
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{(W - R + L) / 2}" y="18" text-anchor="middle" font-size="14">FID (N={rows[0]["n"]}) vs network evaluations</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for s in sorted(set(r["steps"] for r in rows)):
        x = px(math.log2(s))
        o.append(f'<text x="{x:.1f}" y="{H - B + 16}" text-anchor="middle">{s}</text>')
    for v in (1, 2, 5, 10, 20, 30, 50, 60, 70, 80, 90, 100, 120, 150, 200, 300, 500):
        if y0 <= math.log10(v) <= y1:
            y = py(math.log10(v))
            o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#eee"/>')
            o.append(f'<text x="{L - 5}" y="{y + 4:.1f}" text-anchor="end">{v}</text>')
    o.append(f'<text x="{(W - R + L) / 2}" y="{H - 12}" text-anchor="middle">steps (log scale)</text>')
    for k, ((smp, g), rs) in enumerate(sorted(series.items())):
        c = colors[k % len(colors)]
        rs = sorted(rs, key=lambda r: r["steps"])
        pts = " ".join(f'{px(math.log2(r["steps"])):.1f},{py(math.log10(max(r["fid"], 0.1))):.1f}' for r in rs)
        o.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{pts}"/>')
        for r in rs:
            o.append(f'<circle cx="{px(math.log2(r["steps"])):.1f}" cy="{py(math.log10(max(r["fid"], 0.1))):.1f}" r="3" fill="{c}"/>')
        o.append(f'<text x="{W - R + 10}" y="{T + 16 * k + 10}" fill="{c}">{smp}, w={g}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?")
    p.add_argument("--score", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "eval", "fmnist_eval.py"))
    p.add_argument("--also-score", default="", help="a second scorer, columns fid_2 and class_accuracy_2")
    p.add_argument("--plot", default="", help="CSV files of earlier runs: draw --svg only")
    p.add_argument("--python", default="/usr/bin/python3")
    p.add_argument("--sample", default="build/examples/simdiff-sample")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--grid", default="dpmpp2m:8,16,32;ddim:16,32,64;ddpm:128")
    p.add_argument("--guidance", default="1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="")
    p.add_argument("--svg", default="")
    a = p.parse_args()
    if a.plot:
        if not a.svg:
            p.error("--plot needs --svg")
        rows = []
        for path in a.plot.split(","):
            with open(path, newline="") as f:
                for r in csv.DictReader(f):
                    r.update(steps=int(r["steps"]), guidance=float(r["guidance"]),
                             n=int(r["n"]), fid=float(r["fid"]))
                    rows.append(r)
        svg(rows, a.svg)
        return 0
    if not a.model:
        p.error("MODEL is needed (or --plot)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for part in a.grid.split(";"):
            sampler, steps = part.split(":")
            for st in steps.split(","):
                for g in a.guidance.split(","):
                    r = run_one(a, sampler, int(st), float(g), a.n, tmp)
                    rows.append(r)
                    print(" | ".join(f"{k}={v}" for k, v in r.items()), flush=True)
                    if a.out:
                        with open(a.out, "w", newline="") as f:
                            w = csv.DictWriter(f, fieldnames=list(rows[0]))
                            w.writeheader()
                            w.writerows(rows)
    if a.svg:
        svg(rows, a.svg)
    two = bool(a.also_score)
    print("| sampler | steps | guidance | N | FID | class acc. |" + (" FID 2 | class acc. 2 |" if two else "")
          + " s | img/s |")
    print("|---|---|---|---|---|---|" + ("---|---|" if two else "") + "---|---|")
    for r in rows:
        extra = f' {r["fid_2"]} | {r["class_accuracy_2"]} |' if two else ""
        print(f'| {r["sampler"]} | {r["steps"]} | {r["guidance"]:g} | {r["n"]} | {r["fid"]} | '
              f'{r["class_accuracy"]} |{extra} {r["seconds"]} | {r["images_per_s"]} |')
    return 0


if __name__ == "__main__":
    sys.exit(main())
