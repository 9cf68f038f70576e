#!/usr/bin/env python3
"""The cost curve of docs/highres.md: training seconds per image and peak
memory of one network at several image sizes, with the resolution taken
away by the stem (cost nearly flat) or by extra conv levels (cost growing
with the pixels).

    scripts/highres-cost.py [--sizes 32,64,128,256] [--series dwt,patch,levels]
        [--batch 16] [--steps 8] [--threads 2] [--repeat 1] [--common FLAGS]
        [--csv cost.csv] [--svg cost.svg]

Every series keeps the same U-ViT body, a conv level at 32x32 and the
transformer at 16x16 (--channels 64, --width 192, --depth 6 unless
--common says otherwise), and reaches 32x32 from S x S in its own way:

  dwt      a DWT stem of log2(S/32) levels (none at 32): 3*4^L channels in
  patch    a patch stem of S/32 (none at 32)
  levels   no stem, 1 + log2(S/32) conv levels (the U-Net way: the top
           levels run at full resolution)

Each point is one simdiff-train run on random RGB data (the cost does not
depend on the pixels) of --steps steps: seconds per image between the end
of step 2 and the last step (from loss.csv), and the peak RSS of the process
(os.wait4). With --repeat K every point is run K times, the series
alternating within each round, and the median is reported. Standard
library only.
"""
import argparse
import csv
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_npy_u8(path, n, s, c=3):
    """n random s x s x c uint8 images, NHWC, as NPY (format 1.0)."""
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d, %d), }" % (n, s, s, c)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
        f.write(os.urandom(n * s * s * c))


def series_flags(series, s):
    k = int(math.log2(s // 32))
    if series == "dwt":
        return ["--stem", "none"] if k == 0 else ["--stem", "dwt", "--stem-param", str(k)]
    if series == "patch":
        return ["--stem", "none"] if k == 0 else ["--stem", "patch", "--stem-param", str(s // 32)]
    if series == "levels":
        return ["--stem", "none", "--levels", str(1 + k)]
    raise ValueError(series)


def measure(a, series, s, tmp):
    data = os.path.join(tmp, f"data{s}.npy")
    if not os.path.exists(data):
        write_npy_u8(data, max(2 * a.batch, 32), s)
    out = os.path.join(tmp, f"{series}-{s}")
    cmd = [a.train, "--data", data, "--pad", "0", "--batch", str(a.batch), "--steps",
           str(a.steps), "--warmup", "1", "--log-every", "1", "--ckpt-every", str(10 ** 6),
           "--threads", str(a.threads), "--out", out]
    cmd += shlex.split(a.common) + series_flags(series, s)
    log = out + ".log"
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)  # this process's own rusage
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        with open(log) as f:
            text = f.read().strip()
        return {"error": text.splitlines()[-1] if text else f"exit status {p.returncode}"}
    with open(os.path.join(out, "loss.csv"), newline="") as f:
        # images_per_s is over the whole run so far: the time to the end of
        # step k is k * batch / images_per_s (elapsed_s has 0.1 s steps).
        t = {int(r["step"]): int(r["step"]) * a.batch / float(r["images_per_s"])
             for r in csv.DictReader(f)}
    last = max(t)
    per = (t[last] - t[2]) / ((last - 2) * a.batch)
    return {"s_per_image": per, "peak_rss_mib": ru.ru_maxrss / 1024}


def svg(rows, path):
    W, H, L, R, T, B = 640, 380, 70, 120, 30, 50
    pts = [r for r in rows if r.get("s_per_image")]
    xs = [math.log2(r["size"]) for r in pts]
    ys = [math.log10(r["s_per_image"]) for r in pts]
    x0, x1 = min(xs) - 0.3, max(xs) + 0.3
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    px = lambda x: L + (W - L - R) * (x - x0) / (x1 - x0)
    py = lambda y: T + (H - T - B) * (y1 - y) / max(y1 - y0, 1e-9)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{(W - R + L) / 2}" y="18" text-anchor="middle" font-size="14">'
         'training seconds per image vs image size</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for s in sorted({r["size"] for r in pts}):
        o.append(f'<text x="{px(math.log2(s)):.1f}" y="{H - B + 16}" text-anchor="middle">{s}²</text>')
    for e in range(y0, y1 + 1):
        for m in (1, 2, 5):
            v = math.log10(m) + e
            if y0 <= v <= y1:
                y = py(v)
                o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#eee"/>')
                o.append(f'<text x="{L - 5}" y="{y + 4:.1f}" text-anchor="end">{m * 10.0 ** e:g}</text>')
    colors = ["#c30", "#06c", "#393", "#a3a"]
    for k, name in enumerate(dict.fromkeys(r["series"] for r in pts)):
        c = colors[k % len(colors)]
        rs = [r for r in pts if r["series"] == name]
        line = " ".join(f'{px(math.log2(r["size"])):.1f},{py(math.log10(r["s_per_image"])):.1f}'
                        for r in rs)
        o.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{line}"/>')
        for r in rs:
            o.append(f'<circle cx="{px(math.log2(r["size"])):.1f}" '
                     f'cy="{py(math.log10(r["s_per_image"])):.1f}" r="3" fill="{c}"/>')
        o.append(f'<text x="{W - R + 10}" y="{T + 16 * k + 10}" fill="{c}">{name}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="32,64,128,256")
    ap.add_argument("--series", default="dwt,patch,levels")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="runs per point (median)")
    ap.add_argument("--common", default="--precision bf16")
    ap.add_argument("--csv", default="")
    ap.add_argument("--svg", default="")
    ap.add_argument("--train", default=os.path.join(ROOT, "build", "examples", "simdiff-train"))
    a = ap.parse_args()
    sizes = [int(v) for v in a.sizes.split(",")]
    if any(s < 32 or s & (s - 1) for s in sizes):
        ap.error("--sizes: powers of two from 32")
    if a.steps < 4:
        ap.error("--steps must be at least 4 (steps 1-2 are not timed)")
    series = a.series.split(",")
    for name in series:
        if name not in ("dwt", "patch", "levels"):
            ap.error(f"--series {name}: want dwt, patch or levels")
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    runs = {(name, s): [] for name in series for s in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(a.repeat):
            for s in sizes:
                for name in series:
                    m = measure(a, name, s, tmp)
                    runs[(name, s)].append(m)
                    print(f"round={k + 1} | series={name} | size={s} | "
                          + " | ".join(f"{key}={v}" for key, v in m.items()), flush=True)
    rows = []
    for (name, s), ms in runs.items():
        r = {"series": name, "size": s, "flags": shlex.join(series_flags(name, s))}
        ok = [m for m in ms if "error" not in m]
        if len(ok) < len(ms):
            r["error"] = next(m["error"] for m in ms if "error" in m)
        else:
            r["s_per_image"] = statistics.median(m["s_per_image"] for m in ok)
            r["peak_rss_mib"] = statistics.median(m["peak_rss_mib"] for m in ok)
        rows.append(r)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["series", "size", "flags", "s_per_image",
                                              "peak_rss_mib", "error"])
            w.writeheader()
            w.writerows(rows)
    if a.svg:
        svg(rows, a.svg)
    print(f"\nbatch {a.batch}, {a.threads} threads, {a.common}, median of {a.repeat}\n")
    print("| series | size | stem / levels | ms per image | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        ms = f'{1e3 * r["s_per_image"]:.1f}' if "s_per_image" in r else r.get("error", "")
        rss = f'{r["peak_rss_mib"]:.0f}' if "peak_rss_mib" in r else ""
        print(f'| {r["series"]} | {r["size"]}² | `{r["flags"]}` | {ms} | {rss} |')
    return 0


if __name__ == "__main__":
    sys.exit(main())
