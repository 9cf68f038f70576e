#!/usr/bin/env python3
"""Two builds of libsimdiff side by side: a change's effect on speed, memory
and the per-op profile, measured in one run on the same machine state.

    bench/ab.py --old OLD/bench/simdiff-bench --new NEW/bench/simdiff-bench \
        [--configs fmnist,rgb64] [--precisions f32,bf16] [--runs 7] [--out DIR]

For each config and precision it starts one `simdiff-bench worker` per
build on the same safetensors weights (random in every layer, written by
the new build; fmnist: the bundled model), checks that both compute the same
function (batch-2 forward, max |difference|), reads both step arenas
(`memsplit`), then alternates timed calls between the two (bench/compare.py's
`alternate`: the first side rotates every round, each call after a 2 ms
wake-up, one untimed call and an idle gap):
  sample   one evaluation at batch B without gradients
  train    one training step at batch B
and finally one per-op profile of each kind per build (`profile sample`,
`profile`). The two builds must speak the same worker protocol (give the old
build the new bench/simdiff_bench.c if it lacks a command). Reported:
medians and min-max of `--runs` calls, new/old time ratios, the machine's
load while timing (this is not an idle-machine benchmark unless the load
says so). Standard library only.
"""
import argparse
import array
import datetime
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (Worker, alternate, kv, load helpers)

ROOT = compare.ROOT


def parse_profile(txt):
    """Profile text -> ({op: (fwd ms, bwd ms)}, header line)."""
    ops, head = {}, ""
    for line in txt.splitlines():
        f = line.split()
        try:
            ops[f[0]] = (float(f[1]), float(f[2]))
        except (IndexError, ValueError):  # the header lines
            head = head or (line if f and f[0] != "op" else "")
    return ops, head


def profile_table(old, new):
    """Markdown rows: op, old fwd+bwd ms, new fwd+bwd ms, sorted by old."""
    o, oh = parse_profile(old)
    n, nh = parse_profile(new)
    rows = [f"old: {oh}", f"new: {nh}", "",
            "| op | old fwd | old bwd | new fwd | new bwd |", "|---|---:|---:|---:|---:|"]
    for op in sorted(set(o) | set(n), key=lambda k: -sum(o.get(k, n.get(k, (0, 0))))):
        a, b = o.get(op), n.get(op)
        cell = lambda v, i: f"{v[i]:.2f}" if v else "—"  # noqa: E731
        rows.append(f"| {op} | {cell(a, 0)} | {cell(a, 1)} | {cell(b, 0)} | {cell(b, 1)} |")
    return "\n".join(rows)


def run_one(a, env, name, prec, outdir):
    B = a.batch
    argv = lambda b: [b, "worker", "--config", name, "--batch", str(B),  # noqa: E731
                      "--threads", str(a.threads), "--precision", prec]
    bundled = os.path.join(ROOT, "models", "fmnist-uvit.safetensors")
    if name == "fmnist" and os.path.exists(bundled):
        weights = bundled
    else:
        weights = os.path.join(outdir, f"{name}.safetensors")
        if not os.path.exists(weights):
            compare.Worker("new", argv(a.new)[:4] + ["--batch", "1", "--save", weights],
                           env).close()
    r = {"config": name, "precision": prec, "batch": B, "weights": weights,
         "load_before": compare.loadavg(), "others_before": compare.others_running()}
    ws = [compare.Worker("old", argv(a.old) + ["--weights", weights], env),
          compare.Worker("new", argv(a.new) + ["--weights", weights], env)]
    w0, s0 = time.time(), compare.sys_busy_s()
    m0 = sum(compare.proc_cpu_s(w.p.pid) for w in ws)
    try:
        outs = []
        for w in ws:
            d = os.path.join(outdir, f"check-{name}-{prec}-{w.name}")
            os.makedirs(d, exist_ok=True)
            w.ask(f"dump {d}")
            outs.append(open(os.path.join(d, "out.f32"), "rb").read())
        x, y = array.array("f"), array.array("f")
        x.frombytes(outs[0])
        y.frombytes(outs[1])
        r["max_abs_diff"] = max(abs(p - q) for p, q in zip(x, y))
        r["max_abs_out"] = max(abs(p) for p in x)
        r["memsplit"] = [compare.kv(w.ask("memsplit")) for w in ws]
        compare.log(f"{name} {prec}: |new - old| <= {r['max_abs_diff']:.3g} "
                    f"(|out| <= {r['max_abs_out']:.3g}); arenas {r['memsplit']}")
        r["sample"] = compare.alternate(ws, "sample", a.runs, 1)
        for w in ws:
            w.ask("release")
        r["train"] = compare.alternate(ws, "train", a.runs, a.warmup)
        used = sum(compare.proc_cpu_s(w.p.pid) for w in ws) - m0
        r["others_cores"] = max(0.0, (compare.sys_busy_s() - s0 - used) / (time.time() - w0))
        r["profile"] = {}
        for kind, cmd in (("sample", "profile sample"), ("train", "profile")):
            txt = [w.ask_block(cmd) for w in ws]
            r["profile"][kind] = txt
            for w, t in zip(ws, txt):
                with open(os.path.join(outdir, f"profile-{name}-{prec}-{kind}-{w.name}.txt"),
                          "w") as f:
                    f.write(t + "\n")
    finally:
        for w in ws:
            w.close()
    r["load_after"] = compare.loadavg()
    for k in ("sample", "train"):
        compare.log(f"{name} {prec} {k}: old {r[k][0]['median']:.4f} s, new "
                    f"{r[k][1]['median']:.4f} s, new/old {r[k][1]['median'] / r[k][0]['median']:.3f}")
    return r


def report(res):
    md = [f"Run {res['started']}, {res['seconds'] / 60:.1f} min; {res['machine']['cpu']}, "
          f"{res['machine']['cores']} cores; `{' '.join(res['argv'])}`", "",
          "| config | precision | measure | old median (min–max) | new median (min–max) "
          "| new/old |", "|---|---|---|---|---|---:|"]
    for r in res["runs"]:
        for k, what in (("sample", "evaluation, s"), ("train", "training step, s")):
            o, n = r[k]
            md.append(f"| {r['config']} | {r['precision']} | {what} | {o['median']:.4f} "
                      f"({o['min']:.4f}–{o['max']:.4f}) | {n['median']:.4f} "
                      f"({n['min']:.4f}–{n['max']:.4f}) | {n['median'] / o['median']:.3f} |")
        ms = r["memsplit"]
        for key, what in (("fwd_bytes", "step arena after forward, MiB"),
                          ("total_bytes", "step arena after backward, MiB")):
            o, n = int(ms[0][key]) / 2**20, int(ms[1][key]) / 2**20
            md.append(f"| {r['config']} | {r['precision']} | {what} | {o:.0f} | {n:.0f} "
                      f"| {n / o:.3f} |")
    md += ["", "Load: " + "; ".join(
        f"{r['config']} {r['precision']}: load avg {'/'.join(r['load_before'])} → "
        f"{'/'.join(r['load_after'])}, other processes {r['others_cores']:.2f} cores "
        f"while timing, |new - old| {r['max_abs_diff']:.3g} (|out| {r['max_abs_out']:.3g})"
        for r in res["runs"]), ""]
    for r in res["runs"]:
        for kind in ("sample", "train"):
            md += [f"### Profile {r['config']} {r['precision']} {kind} (ms)", "",
                   profile_table(*r["profile"][kind]), ""]
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="old build's simdiff-bench")
    ap.add_argument("--new", required=True, help="new build's simdiff-bench")
    ap.add_argument("--configs", default="fmnist,rgb64")
    ap.add_argument("--precisions", default="f32,bf16")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--out", default="/tmp/simdiff-ab")
    a = ap.parse_args()
    compare.GAP = a.gap
    os.makedirs(a.out, exist_ok=True)
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(a.threads)
    res = {"started": f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M:%S} UTC",
           "machine": compare.machine(), "argv": sys.argv, "runs": []}
    t0 = time.time()
    for name in a.configs.split(","):
        for prec in a.precisions.split(","):
            res["runs"].append(run_one(a, env, name, prec, a.out))
    res["seconds"] = time.time() - t0
    with open(os.path.join(a.out, "ab.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = report(res)
    with open(os.path.join(a.out, "ab.md"), "w") as f:
        f.write(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
