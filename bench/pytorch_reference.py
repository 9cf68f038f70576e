"""PyTorch side of the whole-model benchmark (bench/compare.py drives it;
bench/simdiff_bench.c is the libsimdiff side and speaks the same protocol).

The network is tests/reference/model_ref.py's Net -- the independent
re-implementation of docs/architecture.md that the C tests compare with --
run in float32 on weights loaded from the same safetensors file libsimdiff
uses (the config comes from the file's `simdiff.config` metadata). Two
changes for speed/dtype only, both checked by `selftest`:
  * the DWT stem: model_ref uses ops_dwt's dense float64 analysis matrices
    (an O(n^3) test oracle); here the same 5/3 transform is computed by
    lifting on strided slices, in the input's dtype;
  * the Fourier features are computed in float64 and rounded to float32
    (model_ref keeps them in float64, its default dtype).

Setups (--setup): f32 (the default, as above); bf16: PyTorch's best CPU
setup on a bf16 CPU, torch.autocast('cpu', dtype=torch.bfloat16) around
the forward pass (training and sampling), the loss in float32; PyTorch
1.13's CPU autocast hands bf16 activations to group_norm/layer_norm with
float32 weights and fails, so their input is cast to float32 first, as a
user would; bf16cl: bf16 with channels_last activations and conv weights.

Usage (Debian's PyTorch 1.13):
  OMP_NUM_THREADS=2 /usr/bin/python3 bench/pytorch_reference.py worker \
      --weights FILE [--batch B] [--threads T] [--setup f32|bf16|bf16cl]
      one command per stdin line, one reply per stdout line:
      info | train | sample | lat [K] | check DIR | profile | quit
      (lat: mean of K back-to-back batch-1 evaluations, default 10)
  ... pytorch_reference.py mem --weights FILE [--batch B] [--threads T]
      peak RSS of two training steps in a fresh process
  ... pytorch_reference.py selftest
      lifting DWT == ops_dwt's matrix DWT (float64), both directions

Training step = what simdiff_trainer_step does: stratified t, log-SNR of the
shifted cosine schedule, eps ~ N(0, I), z = alpha x + sigma eps, label
dropout 0.1, v-prediction turned into eps-hat = sigma z + alpha v, eps-MSE,
backward, global-norm clipping at 1, torch.optim.AdamW (lr 2e-4, betas
(0.9, 0.99), eps 1e-8, no weight decay), EMA update (0.9995).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import model_ref  # noqa: E402  (sets the default dtype to float64)
import ops_dwt  # noqa: E402

torch.set_default_dtype(torch.float32)


# ---- the 5/3 DWT by lifting (docs/architecture.md, "DWT stem") ----------------
def _every2(x, dim, start):
    """x[..., start::2, ...] along dim (a strided view)."""
    return x[(slice(None),) * dim + (slice(start, None, 2),)]


def _lift_fwd(x, dim):
    """1-D analysis along dim (even length, dim >= 0): (low s, high d)."""
    ev, od = _every2(x, dim, 0), _every2(x, dim, 1)
    m = ev.shape[dim]
    ev_next = torch.cat([ev.narrow(dim, 1, m - 1), ev.narrow(dim, m - 1, 1)], dim)
    d = od - 0.5 * (ev + ev_next)           # predict; x[N] = x[N-2]
    d_prev = torch.cat([d.narrow(dim, 0, 1), d.narrow(dim, 0, m - 1)], dim)
    s = ev + 0.25 * (d_prev + d)            # update; d[-1] = d[0]
    return s, d


def _lift_inv(s, d, dim):
    """Inverse of _lift_fwd: interleave the even and odd samples back."""
    m = s.shape[dim]
    d_prev = torch.cat([d.narrow(dim, 0, 1), d.narrow(dim, 0, m - 1)], dim)
    ev = s - 0.25 * (d_prev + d)
    ev_next = torch.cat([ev.narrow(dim, 1, m - 1), ev.narrow(dim, m - 1, 1)], dim)
    od = d + 0.5 * (ev + ev_next)
    return torch.stack([ev, od], dim + 1).flatten(dim, dim + 1)


def dwt(x, L):
    N, C, H, W = x.shape
    ll, details = x, []
    for _ in range(L):
        lw, hw = _lift_fwd(ll, 3)          # along W
        LL, HL = _lift_fwd(lw, 2)          # along H: (low H, low W), (high H, low W)
        LH, HH = _lift_fwd(hw, 2)          # (low H, high W), (high H, high W)
        h, w = LL.shape[-2:]
        details.append(torch.stack([LH, HL, HH], 2).reshape(N, 3 * C, h, w))
        ll = LL
    parts = [ll]
    for l in range(L, 0, -1):
        parts.append(F.pixel_unshuffle(details[l - 1], 2 ** (L - l)))
    return torch.cat(parts, 1)


def idwt(y, L):
    N, Cq, h, w = y.shape
    C = Cq // 4 ** L
    ll, off, blocks = y[:, :C], C, {}
    for l in range(L, 0, -1):
        b = 2 ** (L - l)
        n = 3 * C * b * b
        blocks[l] = F.pixel_shuffle(y[:, off:off + n], b).reshape(N, C, 3, h * b, w * b)
        off += n
    for l in range(L, 0, -1):
        d = blocks[l]
        lw = _lift_inv(ll, d[:, :, 1], 2)      # undo along H: low W half
        hw = _lift_inv(d[:, :, 0], d[:, :, 2], 2)  # high W half
        ll = _lift_inv(lw, hw, 3)              # undo along W
    return ll


model_ref.dwt53 = dwt
model_ref.idwt53 = idwt


class _NormsInF32:
    """torch.nn.functional for model_ref, with group_norm and layer_norm
    taking their input in float32 (autocast hands them bf16 otherwise)."""

    def __getattr__(self, name):
        return getattr(F, name)

    @staticmethod
    def group_norm(x, *args, **kw):
        return F.group_norm(x.float(), *args, **kw)

    @staticmethod
    def layer_norm(x, *args, **kw):
        return F.layer_norm(x.float(), *args, **kw)


model_ref.F = _NormsInF32()


class Net(model_ref.Net):
    def embedding(self, logsnr, labels, cond):
        c = self.cfg
        E = c["emb_dim"]
        half = E // 4
        fr = torch.tensor([math.exp(-math.log(1000.0) * k / half) for k in range(half)],
                          dtype=torch.float64)
        a = logsnr.double()[:, None] * fr[None, :]
        phi = torch.cat([torch.sin(a), torch.cos(a)], 1).float()
        h = self.L("emb.fc2", F.silu(self.L("emb.fc1", phi)))
        if c["num_classes"] > 0:
            ids = torch.where(labels < 0, torch.full_like(labels, c["num_classes"]), labels)
            h = h + self.p["emb.class"][ids]
        if c["cond_dim"] > 0:
            h = h + self.L("emb.cond", cond)
        return F.silu(h)


# ---- safetensors ---------------------------------------------------------------
def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        dt = {"F32": "<f4", "F16": "<f2"}[e["dtype"]]
        a, b = e["data_offsets"]
        arr = np.frombuffer(blob[a:b], dtype=dt).astype(np.float32).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def parse_config(text):
    cfg = {}
    for kv in text.split(";"):
        k, v = kv.split("=", 1)
        if k in ("level_channels", "level_blocks"):
            cfg[k] = [int(x) for x in v.split(",")]
        elif k.startswith("dropout_") and k != "dropout_max_resolution":
            cfg[k] = float(v)
        else:
            cfg[k] = int(v)
    return cfg


def load_net(path):
    tensors, meta = read_safetensors(path)
    cfg = parse_config(meta["simdiff.config"])
    net = Net(cfg)
    if set(net.p) != set(tensors):
        raise SystemExit("weights do not match the architecture: missing %s, extra %s"
                         % (sorted(set(net.p) - set(tensors)), sorted(set(tensors) - set(net.p))))
    for k in net.p:
        if tuple(net.p[k].shape) != tuple(tensors[k].shape):
            raise SystemExit(f"{k}: shape {tuple(tensors[k].shape)} != {tuple(net.p[k].shape)}")
        net.p[k] = tensors[k].contiguous()
    return net, cfg


# ---- the benchmark ---------------------------------------------------------------
def rss_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


class Bench:
    def __init__(self, weights, B, seed=1, setup="f32"):
        self.net, cfg = load_net(weights)
        self.bf16 = setup in ("bf16", "bf16cl")
        self.cl = setup == "bf16cl"
        if self.cl:  # conv weights (4-d) and the image inputs channels_last
            for k, p in self.net.p.items():
                if p.dim() == 4:
                    self.net.p[k] = p.contiguous(memory_format=torch.channels_last)
        self.cfg = cfg
        self.B = B
        C, d = cfg["channels"], cfg["image_size"]
        self.K = cfg["num_classes"]
        self.shift = 2 * math.log(64 / d)  # shifted cosine schedule, base 64
        if cfg["dropout_res"] > 0 or cfg["dropout_tf"] > 0:
            print("warning: the model has dropout; model_ref has none", file=sys.stderr)
        g = torch.Generator().manual_seed(seed)
        self.g = g
        self.x = torch.rand(B, C, d, d, generator=g) * 2 - 1
        self.z = torch.randn(B, C, d, d, generator=g)
        if self.cl:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
            self.z = self.z.contiguous(memory_format=torch.channels_last)
        self.logsnr = torch.linspace(-10, 10, B, dtype=torch.float64) if B > 1 \
            else torch.zeros(1, dtype=torch.float64)
        self.labels = (torch.arange(B) % self.K) if self.K > 0 else torch.full((B,), -1)
        self.params = list(self.net.p.values())
        for p in self.params:
            p.requires_grad_(True)
        self.opt = torch.optim.AdamW(self.params, lr=2e-4, betas=(0.9, 0.99), eps=1e-8,
                                     weight_decay=0.0)
        self.ema = [p.detach().clone() for p in self.params]
        self.ema_decay = 0.9995

    def train_step(self):
        B, g = self.B, self.g
        t = (torch.rand(1, generator=g, dtype=torch.float64) + torch.arange(B) / B) % 1.0
        t = t.clamp(1e-6, 1 - 1e-6)
        logsnr = -2 * torch.log(torch.tan(math.pi * t / 2)) + self.shift
        alpha = torch.sigmoid(logsnr).sqrt().float()[:, None, None, None]
        sigma = torch.sigmoid(-logsnr).sqrt().float()[:, None, None, None]
        eps = torch.randn(self.x.shape, generator=g)
        z = alpha * self.x + sigma * eps
        drop = torch.rand(B, generator=g) < 0.1
        labels = torch.where(drop, torch.full_like(self.labels, -1), self.labels)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            v = self.net.forward(z, logsnr, labels, None)
        loss = F.mse_loss(sigma * z + alpha * v.float(), eps)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        with torch.no_grad():
            torch._foreach_mul_(self.ema, self.ema_decay)
            torch._foreach_add_(self.ema, self.params, alpha=1 - self.ema_decay)
        return float(loss)

    def forward(self, n):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.net.forward(self.z[:n], self.logsnr[:n], self.labels[:n], None).float()


_wake = None


def prewake():
    """Untimed: the intra-op threads busy for 2 ms (small matmuls), as the C
    side does, so that no timed call pays for waking sleeping threads and
    halted vCPUs after an idle pause."""
    global _wake
    if _wake is None:
        _wake = torch.rand(192, 192)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.002:
        torch.mm(_wake, _wake)


def timed(fn, k=1):
    """Mean seconds of k back-to-back calls, after prewake() and one
    untimed call (as the C side)."""
    prewake()
    fn()
    t0 = time.perf_counter()
    for _ in range(k):
        fn()
    return (time.perf_counter() - t0) / k


def check(b, d):
    n, C, H, W = (int(v) for v in open(os.path.join(d, "shape.txt")).read().split())
    z = torch.from_numpy(np.fromfile(os.path.join(d, "z.f32"), "<f4").reshape(n, C, H, W).copy())
    ls = torch.from_numpy(np.fromfile(os.path.join(d, "logsnr.f64"), "<f8").copy())
    lab = torch.from_numpy(np.fromfile(os.path.join(d, "labels.i32"), "<i4").astype(np.int64))
    ref = np.fromfile(os.path.join(d, "out.f32"), "<f4").reshape(n, C, H, W)
    if b.cl:
        z = z.contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=b.bf16):
        out = b.net.forward(z, ls, lab, None).float().numpy()
    err = float(np.abs(out - ref).max())
    scale = float(np.abs(ref).max())
    return f"ok max_abs_diff={err:.3e} max_abs_out={scale:.3e} rel={err / max(scale, 1e-30):.3e}"


def profile(b):
    from torch.autograd import profiler
    t0 = time.perf_counter()
    with profiler.profile() as prof:
        b.train_step()
    dt = time.perf_counter() - t0
    print(f"step {dt * 1e3:.2f} ms (under the autograd profiler)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    print("end", flush=True)


def worker(args):
    b = Bench(args.weights, args.batch, setup=args.setup)
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        try:
            if cmd == "quit":
                break
            if cmd == "info":
                nparams = sum(p.numel() for p in b.params)
                print(f"ok params={nparams} batch={b.B} runtime=torch {torch.__version__} "
                      f"{args.setup}; "
                      f"threads {torch.get_num_threads()}; "
                      f"{torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, 'cpu') else ''}",
                      flush=True)
            elif cmd == "train":
                print(f"ok {timed(b.train_step):.9f}", flush=True)
            elif cmd == "sample":
                print(f"ok {timed(lambda: b.forward(b.B)):.9f}", flush=True)
            elif cmd == "lat":
                k = int(parts[1]) if len(parts) > 1 else 10
                print(f"ok {timed(lambda: b.forward(1), k):.9f}", flush=True)
            elif cmd == "check":
                print(check(b, parts[1]), flush=True)
            elif cmd == "profile":
                profile(b)
            else:
                print(f"err unknown command '{cmd}'", flush=True)
        except Exception as e:  # report, keep serving
            print(f"err {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                  flush=True)


def mem(args):
    base = rss_kb("VmRSS")
    b = Bench(args.weights, args.batch, setup=args.setup)
    setup = rss_kb("VmRSS")
    for _ in range(2):
        b.train_step()
    print(f"ok hwm_kb={rss_kb('VmHWM')} base_kb={base} setup_kb={setup}", flush=True)


def selftest():
    torch.manual_seed(0)
    for shape, L in (((2, 3, 16, 8), 1), ((2, 3, 16, 8), 2), ((1, 2, 16, 32), 3),
                     ((1, 1, 4, 4), 2), ((2, 3, 2, 2), 1)):
        x = torch.rand(shape, dtype=torch.float64) * 2 - 1
        a, b = dwt(x, L), ops_dwt.dwt(x, L)
        assert a.shape == b.shape, (a.shape, b.shape)
        e1 = (a - b).abs().max().item()
        y = torch.rand(b.shape, dtype=torch.float64) * 2 - 1
        e2 = (idwt(y, L) - ops_dwt.idwt(y, L)).abs().max().item()
        print(f"dwt {shape} L={L}: fwd err {e1:.2e}, inv err {e2:.2e}")
        assert e1 < 1e-12 and e2 < 1e-12
    print("selftest ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["worker", "mem", "selftest"])
    ap.add_argument("--weights")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--setup", choices=["f32", "bf16", "bf16cl"], default="f32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.mode == "selftest":
        return selftest()
    if not args.weights:
        ap.error("--weights is required")
    if args.mode == "mem":
        return mem(args)
    return worker(args)


if __name__ == "__main__":
    main()
