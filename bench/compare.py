#!/usr/bin/env python3
"""Whole-model benchmark: libsimdiff against PyTorch on the same models, and
against the machine's oneDNN f32 matmul peak. Run it through bench/run.sh
(which builds first); results and the reproduction commands are recorded in
docs/performance.md.

For each config (fmnist, rgb64, rgb256; see bench/simdiff_bench.c) it starts
two long-lived workers -- build-bench/bench/simdiff-bench (C, libsimdiff) and
bench/pytorch_reference.py (PyTorch 1.13, the model of
tests/reference/model_ref.py in float32) -- on the same safetensors weights
and the same thread count, checks that both compute the same function
(batch-2 forward, max abs difference), then alternates single timed
measurements between them (C first in even rounds, PyTorch first in odd
rounds), so both see the same machine state:
  sample   one network evaluation at batch B, no gradients (1 warm-up)
  lat      one network evaluation at batch 1: the mean of `--lat-k`
           back-to-back calls (3 warm-ups)
  train    one training step at batch B (`--warmup` untimed steps first;
           before them the C worker frees its inference arena, `release`)
Each timed call is preceded, on its side, by a 2 ms busy wake-up of the
thread team and one untimed call of the same kind (after an idle pause the
first call pays for sleeping threads, halted vCPUs and cold caches: 2-10 ms
measured on a 2 ms evaluation), and by `--gap` seconds of idle, so neither
side's spin-waiting threads steal from the other's call.
  peak     (C only) one 2048^3 oneDNN f32 matmul, 3 before and 2 after
Medians over `--runs` (latency: `--lat-runs`). Only one worker computes at a
time; the other blocks on its pipe. Then, in fresh processes one after the
other, each side's peak resident memory (VmHWM) over two training steps, and
one profiled training step per side.

Standard library only (the PyTorch side runs in its own interpreter).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIGS = {
    "fmnist": "U-ViT 32x32x1 (Fashion-MNIST model): DWT stem L=1, 64 ch x 1 block "
              "at 16x16, transformer 8x8 (64 tokens) width 192 depth 6 heads 4 mlp 4, "
              "emb 256, 10 classes",
    "rgb64": "U-ViT 64x64x3 (simdiff_model_config_init defaults): no stem, 64 ch x 1 "
             "block at 64x64 and 32x32, transformer 16x16 (256 tokens) width 256 "
             "depth 6 heads 4 mlp 4, emb 256, unconditional",
    "rgb256": "U-ViT 256x256x3 (simdiff_model_config_init defaults): 2-level DWT stem "
              "(48 ch at 64x64), then as rgb64",
}


def log(msg):
    print(f"[{datetime.datetime.utcnow():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


class Worker:
    def __init__(self, name, argv, env):
        self.name = name
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1, env=env, cwd=ROOT)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"{name} worker did not start ({line!r}); argv: {argv}")

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        if not line.startswith("ok"):
            raise SystemExit(f"{self.name}: '{cmd}' -> {line!r}")
        return line[2:].strip()

    def ask_block(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        out = []
        for line in self.p.stdout:
            if line.strip() == "end":
                break
            out.append(line.rstrip("\n"))
        return "\n".join(out)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=60)


def kv(text):
    """'a=1 b=x y' -> {'a': '1', 'b': 'x y'} (the last key takes the rest)."""
    out, key = {}, None
    for tok in text.split(" "):
        if "=" in tok and not (key == "runtime"):
            key, v = tok.split("=", 1)
            out[key] = v
        elif key:
            out[key] += " " + tok
    return out


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs),
            "all": xs}


GAP = 0.05


def timed(w, cmd):
    # A pause first: both runtimes' OpenMP threads spin-wait for a while
    # after a parallel region (libgomp's default policy), which would steal
    # a core from the other process's next call.
    time.sleep(GAP)
    return float(w.ask(cmd))


def alternate(c, t, cmd, n, warm):
    """n timed rounds after `warm` untimed ones; C first in even rounds."""
    for _ in range(warm):
        c.ask(cmd)
        t.ask(cmd)
    tc, tt = [], []
    for r in range(n):
        if r % 2 == 0:
            tc.append(timed(c, cmd))
            tt.append(timed(t, cmd))
        else:
            tt.append(timed(t, cmd))
            tc.append(timed(c, cmd))
    return summary(tc), summary(tt)


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem": mem, "kernel": platform.release()}


def others_running():
    """Other heavy processes at this moment (e.g. a training run)."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"],
                             capture_output=True, text=True).stdout.splitlines()[1:6]
    except OSError:
        return []
    me = os.getpid()
    rows = []
    for line in out:
        f = line.split(None, 3)
        if len(f) == 4 and float(f[1]) >= 20 and int(f[0]) != me and "compare.py" not in f[3]:
            rows.append(f"{f[0]} {f[1]}% {f[3][:100]}")
    return rows


def sys_busy_s():
    """CPU seconds the whole machine has been busy (all cores, /proc/stat)."""
    f = open("/proc/stat").readline().split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """CPU seconds used so far by one process (all its threads)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return ["?"] * 3


def measure_mem(name, a, env, B, weights, py):
    """Peak RSS of two training steps, each side in a fresh process, one
    after the other."""
    mc = subprocess.run([a.bin, "mem", "--config", name, "--batch", str(B), "--threads",
                         str(a.threads), "--weights", weights],
                        capture_output=True, text=True, env=env, cwd=ROOT)
    mt = subprocess.run(py + ["mem", "--weights", weights, "--batch", str(B),
                              "--threads", str(a.threads)],
                        capture_output=True, text=True, env=env, cwd=ROOT)
    for tag, p in (("simdiff", mc), ("torch", mt)):
        if p.returncode or not p.stdout.startswith("ok"):
            raise SystemExit(f"{tag} mem failed: {p.stdout} {p.stderr}")
    return kv(mc.stdout[2:].strip()), kv(mt.stdout[2:].strip())


def mem_available_kb():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable"):
            return int(line.split()[1])
    return 0


def run_config(name, a, env, outdir, res):
    B = a.batch_256 if name == "rgb256" and a.batch_256 else a.batch
    weights = os.path.join(ROOT, "models", "fmnist-uvit.safetensors") if name == "fmnist" else None
    c_argv = [a.bin, "worker", "--config", name, "--batch", str(B), "--threads", str(a.threads)]
    if weights and os.path.exists(weights):
        wsrc = "models/fmnist-uvit.safetensors (trained)"
    else:  # random weights, written by a short-lived worker (deterministic)
        weights = os.path.join(outdir, f"{name}.safetensors")
        Worker("simdiff", c_argv[:4] + ["--batch", "1", "--save", weights], env).close()
        wsrc = "random in every layer (fixture recipe), written by simdiff-bench --save"
    c_argv += ["--weights", weights]
    py = [a.python, os.path.join(HERE, "pytorch_reference.py")]
    t_argv = py + ["worker", "--weights", weights, "--batch", str(B), "--threads", str(a.threads)]
    r = {"config": name, "desc": CONFIGS[name], "batch": B, "batch_timing": B, "weights": wsrc,
         "load_before": loadavg(), "others_before": others_running()}
    if a.mem:
        log(f"{name}: peak memory at batch {B} (fresh processes, one after the other)")
        r["mem"] = measure_mem(name, a, env, B, weights, py)
        # The two workers below live at the same time; libsimdiff keeps its
        # step arena (its peak) between steps. Halve the timing batch until
        # both peaks fit in the available memory with 1.5 GiB to spare.
        need = sum(int(m["hwm_kb"]) for m in r["mem"])
        avail = mem_available_kb()
        r["mem_available_kb"] = avail
        while need * B // r["batch"] > avail - 1.5 * 2**20 and B > 1:
            B //= 2
        if B != r["batch"]:
            log(f"{name}: both workers at batch {r['batch']} need ~{need / 2**20:.1f} GiB, "
                f"available {avail / 2**20:.1f} GiB: timing at batch {B}")
            c_argv[c_argv.index("--batch") + 1] = str(B)
            t_argv[t_argv.index("--batch") + 1] = str(B)
        r["batch_timing"] = B
    log(f"{name}: batch {B}, starting workers")
    c = Worker("simdiff", c_argv, env)
    t = Worker("torch", t_argv, env)
    # Load from other processes during the timed phases: machine busy time
    # minus what the two workers used, in cores (0 = quiet, 2 = both taken).
    w0, s0, m0 = time.time(), sys_busy_s(), proc_cpu_s(c.p.pid) + proc_cpu_s(t.p.pid)
    try:
        # Equivalence first: before any training step changes the weights.
        chk = os.path.join(outdir, f"check-{name}")
        os.makedirs(chk, exist_ok=True)
        c.ask(f"dump {chk}")
        r["check"] = kv(t.ask(f"check {chk}"))
        log(f"{name}: same function? {r['check']}")
        ci, ti = kv(c.ask("info")), kv(t.ask("info"))
        r["simdiff_info"], r["torch_info"] = ci, ti
        gflop_fwd = float(ci["gflop_fwd"])
        r["gflop_fwd"] = gflop_fwd
        r["params"] = int(ci["params"])
        peaks = [float(c.ask("peak").split()[1]) for _ in range(3)]
        log(f"{name}: matmul peak {statistics.median(peaks):.1f} GFLOP/s; sampling")
        r["sample"] = alternate(c, t, "sample", a.runs, 1)
        log(f"{name}: sample C {r['sample'][0]['median']:.3f} s, torch {r['sample'][1]['median']:.3f} s; latency")
        r["lat"] = alternate(c, t, f"lat {a.lat_k}", a.lat_runs, 3)
        log(f"{name}: lat C {r['lat'][0]['median']*1e3:.2f} ms, torch {r['lat'][1]['median']*1e3:.2f} ms; training")
        # The sampling arena goes before the training one grows (both
        # resident plus PyTorch's peak did not fit at 256x256, batch 64).
        c.ask("release")
        r["train"] = alternate(c, t, "train", a.runs, a.warmup)
        log(f"{name}: train C {r['train'][0]['median']:.3f} s, torch {r['train'][1]['median']:.3f} s")
        peaks += [float(c.ask("peak").split()[1]) for _ in range(2)]
        r["peak"] = summary(peaks)
        used = proc_cpu_s(c.p.pid) + proc_cpu_s(t.p.pid) - m0
        r["others_cores"] = max(0.0, (sys_busy_s() - s0 - used) / (time.time() - w0))
        log(f"{name}: other processes used {r['others_cores']:.2f} cores on average "
            f"while timing")
        r["train_flops"] = float(c.ask("flops"))  # one more step, counted by the ops
        r["memsplit"] = kv(c.ask("memsplit"))
        if a.profile:
            log(f"{name}: profiles")
            for w, tag in ((c, "simdiff"), (t, "torch")):
                txt = w.ask_block("profile")
                with open(os.path.join(outdir, f"profile-{name}-{tag}.txt"), "w") as f:
                    f.write(txt + "\n")
            txt = c.ask_block("profile lat")
            with open(os.path.join(outdir, f"profile-{name}-simdiff-lat.txt"), "w") as f:
                f.write(txt + "\n")
    finally:
        c.close()
        t.close()
    r["load_after"] = loadavg()
    r["others_after"] = others_running()
    res["configs"].append(r)


def fmt_ratio(x):
    return f"{x:.2f}×"


def table(res):
    rows = ["| config (batch) | measure | libsimdiff | PyTorch | libsimdiff ÷ PyTorch | goal |",
            "|---|---|---:|---:|---:|---|"]
    peak_all = statistics.median([p for r in res["configs"] for p in r["peak"]["all"]])
    for r in res["configs"]:
        B = r["batch_timing"]
        trc, trt = (B / x["median"] for x in r["train"])
        sac, sat = (B / x["median"] for x in r["sample"])
        lac, lat = (x["median"] * 1e3 for x in r["lat"])
        tf = r["train_flops"]
        fw = r["gflop_fwd"] * 1e9
        gc_train, gt_train = (tf / x["median"] / 1e9 for x in r["train"])
        gc_samp, gt_samp = (fw * B / x["median"] / 1e9 for x in r["sample"])
        pk = r["peak"]["median"]
        name = f"{r['config']} ({B})" if B == r["batch"] else \
            f"{r['config']} (timing {B}, memory {r['batch']})"

        def goal(ok, txt):
            return f"{txt}: **{'met' if ok else 'missed'}**"
        rows.append(f"| {name} | training, images/s | {trc:.1f} | {trt:.1f} | "
                    f"{fmt_ratio(trc / trt)} | {goal(trc / trt >= 1.3, '≥ 1.30×')} |")
        rows.append(f"| | sampling (1 evaluation/image), images/s | {sac:.1f} | {sat:.1f} | "
                    f"{fmt_ratio(sac / sat)} | |")
        rows.append(f"| | batch-1 latency, ms | {lac:.2f} | {lat:.2f} | "
                    f"{fmt_ratio(lac / lat)} | {goal(lac / lat <= 0.5, '≤ 0.50×')} |")
        if "mem" in r:
            mc, mt = (int(m["hwm_kb"]) / 1024 for m in r["mem"])
            bc, bt = (int(m["base_kb"]) / 1024 for m in r["mem"])
            rows.append(f"| | peak RSS, 2 training steps at batch {r['batch']} (whole process; "
                        f"at start {bc:.0f} / {bt:.0f}), MiB | "
                        f"{mc:.0f} | {mt:.0f} | {fmt_ratio(mc / mt)} | {goal(mc <= mt, '≤ 1.00×')} |")
        g60 = r["config"] == "rgb256"
        rows.append(f"| | training GFLOP/s (% of matmul peak {pk:.0f}) | {gc_train:.1f} "
                    f"({100 * gc_train / pk:.0f}%) | {gt_train:.1f} ({100 * gt_train / pk:.0f}%) | | "
                    + (goal(gc_train / pk >= 0.6, '≥ 60% of peak') if g60 else "") + " |")
        rows.append(f"| | sampling GFLOP/s (% of peak) | {gc_samp:.1f} ({100 * gc_samp / pk:.0f}%) | "
                    f"{gt_samp:.1f} ({100 * gt_samp / pk:.0f}%) | | |")
    return "\n".join(rows), peak_all


def details(res):
    rows = ["| config | measure | side | median | min | max | n |", "|---|---|---|---:|---:|---:|---:|"]
    for r in res["configs"]:
        for key, unit, sc in (("train", "s/step", 1), ("sample", "s/eval", 1), ("lat", "ms", 1e3)):
            for side, s in zip(("libsimdiff", "PyTorch"), r[key]):
                rows.append(f"| {r['config']} | {key} ({unit}) | {side} | {s['median'] * sc:.4g} | "
                            f"{s['min'] * sc:.4g} | {s['max'] * sc:.4g} | {s['n']} |")
        p = r["peak"]
        rows.append(f"| {r['config']} | matmul 2048³ (GFLOP/s) | oneDNN | {p['median']:.1f} | "
                    f"{p['min']:.1f} | {p['max']:.1f} | {p['n']} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--configs", default="fmnist,rgb64,rgb256")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batch-256", type=int, default=0, help="batch for rgb256 (default --batch)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lat-runs", type=int, default=11)
    ap.add_argument("--lat-k", type=int, default=10,
                    help="batch-1 evaluations per latency run (their mean)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter with torch")
    ap.add_argument("--out", default=None, help="results dir (default BUILD/bench-results)")
    ap.add_argument("--gap", type=float, default=0.05,
                    help="seconds of idle before each timed call (default 0.05)")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--no-mem", dest="mem", action="store_false")
    a = ap.parse_args()
    a.bin = os.path.join(a.build_dir, "bench", "simdiff-bench")
    global GAP
    GAP = a.gap
    outdir = a.out or os.path.join(a.build_dir, "bench-results")
    os.makedirs(outdir, exist_ok=True)
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(a.threads)
    res = {"started": f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M:%S} UTC",
           "machine": machine(), "argv": sys.argv, "configs": []}
    t0 = time.time()
    for name in a.configs.split(","):
        if name not in CONFIGS:
            raise SystemExit(f"unknown config {name}")
        run_config(name, a, env, outdir, res)
    res["seconds"] = time.time() - t0
    tab, peak_all = table(res)
    res["matmul_peak_median"] = peak_all
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    r0 = res["configs"][0]
    md = [f"Run {res['started']}, {res['seconds'] / 60:.1f} min; {res['machine']['cpu']}, "
          f"{res['machine']['cores']} cores, {res['machine']['mem']}, Linux {res['machine']['kernel']}",
          f"libsimdiff: `{r0['simdiff_info']['runtime']}`",
          f"PyTorch: `{r0['torch_info']['runtime']}`",
          f"oneDNN f32 matmul 2048³ (median of all samples): {peak_all:.1f} GFLOP/s", ""]
    for r in res["configs"]:
        md.append(f"- {r['config']}: {r['desc']}; {r['params']:,} params, "
                  f"{r['gflop_fwd']:.3f} GFLOP/image forward, "
                  f"{r['train_flops'] / 1e9:.1f} GFLOP per training step (counted); libsimdiff "
                  f"step arena at batch {r['batch_timing']}: "
                  f"{int(r['memsplit']['fwd_bytes']) / 2**20:.0f} MiB after the forward, "
                  f"{int(r['memsplit']['total_bytes']) / 2**20:.0f} MiB after the backward; weights: "
                  f"{r['weights']}; same function: max |Δout| {r['check']['max_abs_diff']} "
                  f"(max |out| {r['check']['max_abs_out']}); load avg before/after "
                  f"{'/'.join(r['load_before'])} → {'/'.join(r['load_after'])}; other processes "
                  f"used {r['others_cores']:.2f} of the 2 cores on average while timing"
                  + (f"; other busy processes: {r['others_before']}" if r['others_before'] else ""))
    md += ["", tab, "", details(res), ""]
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    log(f"results: {outdir}/results.md, results.json, profile-*.txt")


if __name__ == "__main__":
    main()
