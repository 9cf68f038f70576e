#!/usr/bin/env python3
"""Plot a training loss curve (the loss.csv that simdiff-train writes) as an
SVG, with the standard library only.

usage: scripts/plot-loss.py RUN/loss.csv OUT.svg [--title TEXT]
"""
import csv
import math
import sys


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    title = argv[argv.index("--title") + 1] if "--title" in argv else "training loss"
    steps, loss, avg = [], [], []
    with open(argv[1], newline="") as f:
        for row in csv.DictReader(f):
            try:
                s, l, a = int(row["step"]), float(row["loss"]), float(row["loss_avg"])
            except (KeyError, ValueError):
                continue
            if math.isfinite(l):
                steps.append(s)
                loss.append(l)
                avg.append(a)
    if not steps:
        print("plot-loss: no rows", file=sys.stderr)
        return 1
    W, H, L, R, T, B = 720, 420, 70, 20, 40, 50
    x0, x1 = 0, max(steps)
    lo = min(min(loss), min(avg))
    hi = max(loss[len(loss) // 20:] + avg[len(avg) // 20:])  # skip the first 5%
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)

    def px(s):
        return L + (W - L - R) * (s - x0) / max(1, x1 - x0)

    def py(v):
        v = min(max(v, lo), hi)
        return T + (H - T - B) * (hi - v) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for k in range(6):
        v = lo + (hi - lo) * k / 5
        y = py(v)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.3f}</text>')
    for k in range(6):
        s = x0 + (x1 - x0) * k / 5
        x = px(s)
        out.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">{int(s)}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">step</text>')
    out.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>')
    out.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>')
    for ys, color, label, dy in ((loss, "#9ab", "mean loss per log interval", 0),
                                 (avg, "#c30", "exponential moving average", 16)):
        pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in zip(steps, ys))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
        out.append(f'<text x="{W - R - 4}" y="{T + 14 + dy}" text-anchor="end" fill="{color}">{label}</text>')
    out.append("</svg>")
    with open(argv[2], "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
