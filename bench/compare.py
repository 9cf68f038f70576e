#!/usr/bin/env python3
"""Whole-model benchmark: libsimdiff against PyTorch on the same models, and
against the machine's oneDNN matmul peaks (f32 and bf16). Run it through
bench/run.sh (which builds first); results and the reproduction commands
are recorded in docs/performance.md.

For each config (fmnist, rgb64, rgb256; see bench/simdiff_bench.c) it starts
four long-lived workers on the same safetensors weights and the same thread
count: build-bench/bench/simdiff-bench (C, libsimdiff) in f32 and in bf16
precision, and bench/pytorch_reference.py (PyTorch 1.13, the model of
tests/reference/model_ref.py) in float32 and in PyTorch's best CPU setup
(bf16 autocast, with channels_last when a short training probe before the
timing finds it faster: `--torch-best auto`, the default). It checks that
the f32 sides compute the same function (batch-2 forward, max abs
difference; the bf16 sides' differences are reported too), then alternates
single timed measurements between the four (the first side rotates every
round), so all see the same machine state:
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
  peak     (C only) one 2048^3 oneDNN matmul, f32 and bf16 (bf16 inputs,
           f32 accumulation and output), 3 of each before and 2 after
Medians over `--runs` (latency: `--lat-runs`). Only one worker computes at a
time; the others block on their pipes. Before the workers start, in fresh
processes one after the other, each side's peak resident memory (VmHWM)
over two training steps; after the timing, one profiled training step per
side.

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


def alternate(ws, cmd, n, warm):
    """n timed rounds over the workers ws after `warm` untimed ones; round r
    starts with worker r mod len(ws). One summary per worker."""
    for _ in range(warm):
        for w in ws:
            w.ask(cmd)
    ts = [[] for _ in ws]
    for r in range(n):
        for j in range(len(ws)):
            k = (r + j) % len(ws)
            ts[k].append(timed(ws[k], cmd))
    return [summary(x) for x in ts]


SIDES = ("simdiff-f32", "simdiff-bf16", "torch-f32", "torch-best")


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


def measure_mem(name, a, env, B, weights, py, torch_best):
    """Peak RSS of two training steps, each side (SIDES order) in a fresh
    process, one after the other."""
    out = []
    for prec in ("f32", "bf16"):
        out.append(subprocess.run([a.bin, "mem", "--config", name, "--batch", str(B),
                                   "--threads", str(a.threads), "--weights", weights,
                                   "--precision", prec],
                                  capture_output=True, text=True, env=env, cwd=ROOT))
    for setup in ("f32", torch_best):
        out.append(subprocess.run(py + ["mem", "--weights", weights, "--batch", str(B),
                                        "--threads", str(a.threads), "--setup", setup],
                                  capture_output=True, text=True, env=env, cwd=ROOT))
    for tag, p in zip(SIDES, out):
        if p.returncode or not p.stdout.startswith("ok"):
            raise SystemExit(f"{tag} mem failed: {p.stdout} {p.stderr}")
    return [kv(p.stdout[2:].strip()) for p in out]


def mem_available_kb():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable"):
            return int(line.split()[1])
    return 0


def choose_torch_best(a, env, t_argv, name):
    """PyTorch's best CPU setup for this config: bf16 autocast, with
    channels_last if a short training probe (1 untimed + `--probe-runs`
    alternating timed steps each) finds it faster."""
    if a.torch_best != "auto":
        return a.torch_best, None
    log(f"{name}: PyTorch bf16 vs bf16 + channels_last (training probe)")
    ws = [Worker(f"torch-{s}", t_argv + ["--setup", s], env) for s in ("bf16", "bf16cl")]
    try:
        res = alternate(ws, "train", a.probe_runs, 1)
    finally:
        for w in ws:
            w.close()
    best = "bf16cl" if res[1]["median"] < res[0]["median"] else "bf16"
    return best, {"bf16": res[0], "bf16cl": res[1]}


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
    best, probe = choose_torch_best(a, env, t_argv, name)
    r["torch_best"], r["torch_probe"] = best, probe
    log(f"{name}: PyTorch's best setup here: {best}")
    if a.mem:
        log(f"{name}: peak memory at batch {B} (fresh processes, one after the other)")
        r["mem"] = measure_mem(name, a, env, B, weights, py, best)
        # The four workers below live at the same time; libsimdiff keeps its
        # step arena (its peak) between steps. Halve the timing batch until
        # all peaks fit in the available memory with 1.5 GiB to spare.
        need = sum(int(m["hwm_kb"]) for m in r["mem"])
        avail = mem_available_kb()
        r["mem_available_kb"] = avail
        while need * B // r["batch"] > avail - 1.5 * 2**20 and B > 1:
            B //= 2
        if B != r["batch"]:
            log(f"{name}: the four workers at batch {r['batch']} need ~{need / 2**20:.1f} GiB, "
                f"available {avail / 2**20:.1f} GiB: timing at batch {B}")
            c_argv[c_argv.index("--batch") + 1] = str(B)
            t_argv[t_argv.index("--batch") + 1] = str(B)
        r["batch_timing"] = B
    log(f"{name}: batch {B}, starting workers")
    ws = [Worker("simdiff-f32", c_argv + ["--precision", "f32"], env),
          Worker("simdiff-bf16", c_argv + ["--precision", "bf16"], env),
          Worker("torch-f32", t_argv + ["--setup", "f32"], env),
          Worker("torch-best", t_argv + ["--setup", best], env)]
    c = ws[0]
    # Load from other processes during the timed phases: machine busy time
    # minus what the workers used, in cores (0 = quiet, 2 = both taken).
    w0, s0 = time.time(), sys_busy_s()
    m0 = sum(proc_cpu_s(w.p.pid) for w in ws)
    try:
        # Equivalence first: before any training step changes the weights.
        chk = os.path.join(outdir, f"check-{name}")
        os.makedirs(chk, exist_ok=True)
        c.ask(f"dump {chk}")
        r["check"] = kv(ws[2].ask(f"check {chk}"))
        r["check_best"] = kv(ws[3].ask(f"check {chk}"))
        chk16 = os.path.join(outdir, f"check-{name}-bf16")
        os.makedirs(chk16, exist_ok=True)
        ws[1].ask(f"dump {chk16}")
        r["check_bf16"] = kv(ws[2].ask(f"check {chk16}"))
        log(f"{name}: same function? f32 {r['check']}; PyTorch {best} {r['check_best']}; "
            f"libsimdiff bf16 {r['check_bf16']}")
        ci, ti = kv(c.ask("info")), kv(ws[2].ask("info"))
        r["simdiff_info"], r["torch_info"] = ci, ti
        gflop_fwd = float(ci["gflop_fwd"])
        r["gflop_fwd"] = gflop_fwd
        r["params"] = int(ci["params"])
        peaks = [float(c.ask("peak").split()[1]) for _ in range(3)]
        peaks16 = [float(c.ask("peak bf16").split()[1]) for _ in range(3)]
        log(f"{name}: matmul peak f32 {statistics.median(peaks):.1f}, bf16 "
            f"{statistics.median(peaks16):.1f} GFLOP/s; sampling")
        r["sample"] = alternate(ws, "sample", a.runs, 1)
        log(f"{name}: sample " + ", ".join(f"{s} {x['median']:.3f} s"
                                           for s, x in zip(SIDES, r["sample"])))
        r["lat"] = alternate(ws, f"lat {a.lat_k}", a.lat_runs, 3)
        log(f"{name}: lat " + ", ".join(f"{s} {x['median'] * 1e3:.2f} ms"
                                        for s, x in zip(SIDES, r["lat"])))
        # The sampling arenas go before the training ones grow.
        ws[0].ask("release")
        ws[1].ask("release")
        r["train"] = alternate(ws, "train", a.runs, a.warmup)
        log(f"{name}: train " + ", ".join(f"{s} {x['median']:.3f} s"
                                          for s, x in zip(SIDES, r["train"])))
        peaks += [float(c.ask("peak").split()[1]) for _ in range(2)]
        peaks16 += [float(c.ask("peak bf16").split()[1]) for _ in range(2)]
        r["peak"], r["peak_bf16"] = summary(peaks), summary(peaks16)
        used = sum(proc_cpu_s(w.p.pid) for w in ws) - m0
        r["others_cores"] = max(0.0, (sys_busy_s() - s0 - used) / (time.time() - w0))
        log(f"{name}: other processes used {r['others_cores']:.2f} cores on average "
            f"while timing")
        r["train_flops"] = float(c.ask("flops"))  # one more step, counted by the ops
        r["memsplit"] = kv(c.ask("memsplit"))
        r["memsplit_bf16"] = kv(ws[1].ask("memsplit"))
        if a.profile:
            log(f"{name}: profiles")
            for w, tag in zip(ws, SIDES):
                txt = w.ask_block("profile")
                with open(os.path.join(outdir, f"profile-{name}-{tag}.txt"), "w") as f:
                    f.write(txt + "\n")
            for w, tag in zip(ws[:2], SIDES[:2]):
                txt = w.ask_block("profile lat")
                with open(os.path.join(outdir, f"profile-{name}-{tag}-lat.txt"), "w") as f:
                    f.write(txt + "\n")
    finally:
        for w in ws:
            w.close()
    r["load_after"] = loadavg()
    r["others_after"] = others_running()
    res["configs"].append(r)


def fmt_ratio(x):
    return f"{x:.2f}×"


def table(res):
    """One row per measure: the four sides, then libsimdiff bf16 against
    PyTorch's best and against PyTorch f32, libsimdiff f32 against PyTorch
    f32, and the issue's goal."""
    rows = ["| config (batch) | measure | libsimdiff f32 | libsimdiff bf16 | PyTorch f32 | "
            "PyTorch best | bf16 ÷ PyTorch best | bf16 ÷ PyTorch f32 | f32 ÷ PyTorch f32 | goal |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]

    def goal(ok, txt):
        return f"{txt}: **{'met' if ok else 'missed'}**"

    for r in res["configs"]:
        B = r["batch_timing"]
        name = f"{r['config']} ({B})" if B == r["batch"] else \
            f"{r['config']} (timing {B}, memory {r['batch']})"
        tr = [B / x["median"] for x in r["train"]]
        sa = [B / x["median"] for x in r["sample"]]
        la = [x["median"] * 1e3 for x in r["lat"]]
        rows.append(f"| {name} | training, images/s | " + " | ".join(f"{v:.1f}" for v in tr) +
                    f" | {fmt_ratio(tr[1] / tr[3])} | {fmt_ratio(tr[1] / tr[2])} | "
                    f"{fmt_ratio(tr[0] / tr[2])} | "
                    f"{goal(tr[1] / tr[3] >= 1.5 and tr[1] / tr[2] >= 3, '≥ 1.5× best and ≥ 3× f32')} |")
        rows.append(f"| | sampling, evaluations/s | " + " | ".join(f"{v:.1f}" for v in sa) +
                    f" | {fmt_ratio(sa[1] / sa[3])} | {fmt_ratio(sa[1] / sa[2])} | "
                    f"{fmt_ratio(sa[0] / sa[2])} | {goal(sa[1] / sa[3] >= 1.5, '≥ 1.5× best')} |")
        best_c, best_t = min(la[0], la[1]), min(la[2], la[3])
        rows.append(f"| | batch-1 latency, ms | " + " | ".join(f"{v:.2f}" for v in la) +
                    f" | {fmt_ratio(la[1] / la[3])} | {fmt_ratio(la[1] / la[2])} | "
                    f"{fmt_ratio(la[0] / la[2])} | best ÷ best {fmt_ratio(best_c / best_t)}: "
                    f"{goal(best_c / best_t <= 0.5, '≤ 0.5×')} |")
        if "mem" in r:
            mm = [int(m["hwm_kb"]) / 1024 for m in r["mem"]]
            rows.append(f"| | peak RSS, 2 training steps at batch {r['batch']}, MiB | " +
                        " | ".join(f"{v:.0f}" for v in mm) +
                        f" | {fmt_ratio(mm[1] / mm[3])} | {fmt_ratio(mm[1] / mm[2])} | "
                        f"{fmt_ratio(mm[0] / mm[2])} | {goal(mm[1] / mm[2] <= 0.7, '≤ 0.7× f32')} |")
        tf, fw = r["train_flops"], r["gflop_fwd"] * 1e9
        pk, pk16 = r["peak"]["median"], r["peak_bf16"]["median"]
        gtr = [tf / x["median"] / 1e9 for x in r["train"]]
        gsa = [fw * B / x["median"] / 1e9 for x in r["sample"]]
        g60 = r["config"] in ("rgb64", "rgb256")
        rows.append(f"| | training GFLOP/s (% of the f32 / bf16 matmul peak, {pk:.0f} / {pk16:.0f}) | "
                    + " | ".join(f"{v:.0f} ({100 * v / (pk16 if k in (1, 3) else pk):.0f}%)"
                                 for k, v in enumerate(gtr)) + " | | | | "
                    + (goal(gtr[1] / pk16 >= 0.6, 'bf16 ≥ 60% of the bf16 peak') if g60 else "")
                    + " |")
        rows.append(f"| | sampling GFLOP/s (% of peak, as above) | "
                    + " | ".join(f"{v:.0f} ({100 * v / (pk16 if k in (1, 3) else pk):.0f}%)"
                                 for k, v in enumerate(gsa)) + " | | | | |")
    return "\n".join(rows)


def details(res):
    rows = ["| config | measure | side | median | min | max | n |", "|---|---|---|---:|---:|---:|---:|"]
    for r in res["configs"]:
        for key, unit, sc in (("train", "s/step", 1), ("sample", "s/eval", 1), ("lat", "ms", 1e3)):
            for side, s in zip(SIDES, r[key]):
                rows.append(f"| {r['config']} | {key} ({unit}) | {side} | {s['median'] * sc:.4g} | "
                            f"{s['min'] * sc:.4g} | {s['max'] * sc:.4g} | {s['n']} |")
        for key, what in (("peak", "f32"), ("peak_bf16", "bf16")):
            p = r[key]
            rows.append(f"| {r['config']} | matmul 2048³ {what} (GFLOP/s) | oneDNN | "
                        f"{p['median']:.1f} | {p['min']:.1f} | {p['max']:.1f} | {p['n']} |")
        if r.get("torch_probe"):
            for s, x in r["torch_probe"].items():
                rows.append(f"| {r['config']} | probe: train (s/step) | torch-{s} | "
                            f"{x['median']:.4g} | {x['min']:.4g} | {x['max']:.4g} | {x['n']} |")
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
    ap.add_argument("--torch-best", choices=["auto", "bf16", "bf16cl"], default="auto",
                    help="PyTorch's best setup: bf16 autocast, with channels_last "
                         "(bf16cl), or auto: whichever trains faster in a probe")
    ap.add_argument("--probe-runs", type=int, default=3,
                    help="timed training steps per side in the --torch-best auto probe")
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
    tab = table(res)
    peak_all = statistics.median([p for r in res["configs"] for p in r["peak"]["all"]])
    peak16 = statistics.median([p for r in res["configs"] for p in r["peak_bf16"]["all"]])
    res["matmul_peak_median"], res["matmul_peak_bf16_median"] = peak_all, peak16
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    r0 = res["configs"][0]
    md = [f"Run {res['started']}, {res['seconds'] / 60:.1f} min; {res['machine']['cpu']}, "
          f"{res['machine']['cores']} cores, {res['machine']['mem']}, Linux {res['machine']['kernel']}",
          f"libsimdiff: `{r0['simdiff_info']['runtime']}`",
          f"PyTorch: `{r0['torch_info']['runtime']}`",
          f"oneDNN matmul 2048³ (median of all samples): f32 {peak_all:.1f} GFLOP/s, "
          f"bf16 {peak16:.1f} GFLOP/s", ""]
    for r in res["configs"]:
        md.append(f"- {r['config']}: {r['desc']}; {r['params']:,} params, "
                  f"{r['gflop_fwd']:.3f} GFLOP/image forward, "
                  f"{r['train_flops'] / 1e9:.1f} GFLOP per training step (counted); libsimdiff "
                  f"step arena at batch {r['batch_timing']}: "
                  f"{int(r['memsplit']['fwd_bytes']) / 2**20:.0f} MiB after the forward, "
                  f"{int(r['memsplit']['total_bytes']) / 2**20:.0f} MiB after the backward "
                  f"(bf16: {int(r['memsplit_bf16']['fwd_bytes']) / 2**20:.0f} / "
                  f"{int(r['memsplit_bf16']['total_bytes']) / 2**20:.0f}); weights: "
                  f"{r['weights']}; same function: max |Δout| {r['check']['max_abs_diff']} "
                  f"(max |out| {r['check']['max_abs_out']}; PyTorch {r['torch_best']} "
                  f"{r['check_best']['max_abs_diff']}, libsimdiff bf16 "
                  f"{r['check_bf16']['max_abs_diff']}); PyTorch's best setup: "
                  f"{r['torch_best']}; load avg before/after "
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
