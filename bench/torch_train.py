"""PyTorch side of the equal-time training comparison (docs/training.md,
"Equal-time comparison"): the same network, started from the same weights,
trained with the same recipe as build/examples/simdiff-train, for the same
wall-clock time; the EMA weights are written as a libsimdiff model file, so
both models are sampled by the same libsimdiff sampler (simdiff-sample) and
scored the same way.

The network is bench/pytorch_reference.py's Net (tests/reference/model_ref.py,
the independent re-implementation of docs/architecture.md, with the lifting
DWT); its weights and config come from a libsimdiff model file (--init), for
instance the step-0 export of simdiff-train with the same flags
(`simdiff-train --steps 0 --out DIR`), so both sides start from identical
weights. Setups: f32, and bf16 = PyTorch's best CPU setup on this machine
(pytorch_reference's: torch.autocast('cpu', bfloat16) around the forward
pass, norms in float32, the loss in float32).

The recipe, each point as simdiff-train / lib/train does it:
  data   Fashion-MNIST train IDX (gz), v/127.5 - 1, padded 28 -> 32 with -1
         (centered), no flips (--flip: random horizontal ones), epoch-wise
         shuffling (batch k takes positions k*B .. k*B+B-1 of the
         concatenated permutations);
  step   stratified t_i = (u + i/n) mod 1; lambda = the schedule's log-SNR
         (cosine(lo,hi), shifted(d,b), interpolated(d,n0,n1): the clipped,
         truncated cosine plus shifts, lib/schedule/schedule.c's formula);
         alpha = exp(-softplus(-lambda)/2), sigma = exp(-softplus(lambda)/2);
         z = alpha x + sigma eps; labels -> null class with prob. 0.1;
         eps loss mean (eps - (sigma z + alpha v_hat))^2 or v loss
         mean (v - v_hat)^2, v = alpha eps - sigma x;
  update global gradient norm (float64); a non-finite loss or norm skips the
         update; clipping to norm 1 (scale 1/norm when norm > 1);
         AdamW (lr, betas (0.9, 0.99), eps 1e-8, decoupled weight decay 0 --
         simdiff-train leaves libsimdiff's default of 0; the groups still
         exclude biases, norms, tf.pos and emb.class, as lib/model/build.c
         marks them); lr linear warmup (k+1)/warmup * lr, then cosine decay
         to 0.1 lr at --steps; EMA with decay min(ema, (1+k)/(10+k)), k the
         number of updates including this one.
Random numbers (t, eps, label dropout, shuffling, flips) come from torch's
generator seeded by --seed, not libsimdiff's Philox streams: the two runs
see different draws of the same distributions.

--minutes M counts like simdiff-train: wall time from just before the first
step (after loading data and model); no new step starts after M minutes.
Outputs in --out: loss.csv (simdiff-train's columns) and model.safetensors
(the EMA weights, F32 or --fp16 F16, with the init file's simdiff.config,
the schedule used, and its simdiff.sampler), rewritten every --ckpt-every
steps and at the end.

Usage (Debian's PyTorch 1.13):
  /usr/bin/python3 bench/torch_train.py --init runs/init/model.safetensors \
      --out runs/torch --minutes 60 --steps 6500 --threads 2 --setup bf16
  SIMDIFF_LIBRARY=build/lib/libsimdiff.so.0 /usr/bin/python3 \
      bench/torch_train.py --selftest
      the schedule against libsimdiff's; a few steps, an export (F32 and F16)
      loaded by libsimdiff whose forward pass matches the PyTorch Net's.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# OMP_NUM_THREADS from --threads, before torch (imported below) reads it.
for _i, _a in enumerate(sys.argv[:-1]):
    if _a == "--threads" and sys.argv[_i + 1].isdigit() and int(sys.argv[_i + 1]) > 0:
        os.environ["OMP_NUM_THREADS"] = sys.argv[_i + 1]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pytorch_reference import load_net, read_safetensors  # noqa: E402


# ---- the noise schedule (lib/schedule/schedule.c) -------------------------------
class Schedule:
    """lambda(t) = lambda_cos(t) + s0 + t (s1 - s0); lambda_cos the cosine
    log-SNR clipped to [lmin, lmax] by truncating the angle range."""

    def __init__(self, text):
        text = text.strip()
        name, _, rest = text.partition("(")
        if not rest.endswith(")"):
            raise ValueError(f"schedule '{text}': expected name(args)")
        args = rest[:-1].split(",")
        lmin, lmax, d, n0, n1 = -15.0, 15.0, 0, 0, 0
        if name == "cosine" and len(args) == 2:
            lmin, lmax = float(args[0]), float(args[1])
        elif name == "shifted" and len(args) == 2:
            d, n0 = int(args[0]), int(args[1])
            n1 = n0
        elif name == "interpolated" and len(args) == 3:
            d, n0, n1 = (int(a) for a in args)
        else:
            raise ValueError(f"schedule '{text}': expected cosine(min,max), "
                             "shifted(image_d,base_d) or interpolated(image_d,n0,n1)")
        self.text = text
        self.a = math.atan(math.exp(-0.5 * lmax))
        self.b = math.atan(math.exp(0.5 * lmin))
        self.width = math.atan(-math.expm1(-0.5 * (lmax - lmin)) /
                               (math.exp(0.5 * lmin) + math.exp(-0.5 * lmax)))
        self.s0 = 2 * math.log(n0 / d) if d else 0.0
        self.s1 = 2 * math.log(n1 / d) if d else 0.0

    def logsnr(self, t):
        """t: float64 numpy array in [0, 1]."""
        u = self.a + t * self.width
        w = self.b + (1.0 - t) * self.width
        lc = np.where(u <= w, -2.0 * np.log(np.tan(np.minimum(u, w))),
                      2.0 * np.log(np.tan(np.minimum(u, w))))
        return lc + self.s0 + t * (self.s1 - self.s0)


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def alpha_sigma(lam):
    return np.exp(-0.5 * softplus(-lam)), np.exp(-0.5 * softplus(lam))


# ---- data (lib/io/dataset.c, examples/simdiff-train.c) --------------------------
def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    nd = magic & 0xFF
    if magic >> 8 != 0x08 or not 1 <= nd <= 3:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * nd)
    if data.size != int(np.prod(dims)):
        raise SystemExit(f"{path}: {data.size} bytes for shape {dims}")
    return data.reshape(dims)


class Data:
    """Padded uint8 images (pad value 0, i.e. -1 after scaling) and labels."""

    def __init__(self, data_dir, pad, flip, seed):
        im = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
        self.labels = torch.from_numpy(
            read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz")).astype(np.int64))
        n, h, w = im.shape
        P = pad if pad > 0 else h
        top, left = (P - h) // 2, (P - w) // 2
        u8 = np.zeros((n, 1, P, P), np.uint8)
        u8[:, 0, top:top + h, left:left + w] = im
        self.u8 = torch.from_numpy(u8)
        self.lut = torch.tensor([v / 127.5 - 1.0 for v in range(256)], dtype=torch.float64).float()
        self.n, self.flip = n, flip
        self.g = torch.Generator().manual_seed(seed * 2 + 1)
        self.perm, self.epoch = None, -1

    def batch(self, k, B):
        pos = torch.arange(k * B, k * B + B)
        idx = torch.empty(B, dtype=torch.int64)
        for e in sorted(set((pos // self.n).tolist())):
            if e != self.epoch:  # epochs are visited in order
                self.perm, self.epoch = torch.randperm(self.n, generator=self.g), e
            sel = pos // self.n == e
            idx[sel] = self.perm[pos[sel] % self.n]
        x = self.lut[self.u8[idx].long()]
        if self.flip:
            f = torch.rand(B, generator=self.g) < 0.5
            x[f] = x[f].flip(-1)
        return x.contiguous(), self.labels[idx]


# ---- model file ---------------------------------------------------------------
def write_model(path, tensors, meta, fp16):
    """libsimdiff's layout (lib/format/safetensors_write.c): metadata, the
    tensors sorted by name and packed, the header padded to 8 bytes; written
    to a temporary file and renamed."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        a = tensors[name].detach().float().contiguous().numpy()
        if not np.isfinite(a).all() or (fp16 and np.abs(a).max(initial=0) > 65504):
            raise SystemExit(f"{name}: values not finite (or beyond float16): nothing written")
        b = a.astype("<f2" if fp16 else "<f4").tobytes()
        header[name] = {"dtype": "F16" if fp16 else "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as a file made by open(), not mkstemp's 0600
    os.replace(tmp, path)


def no_decay(name, p):
    """lib/model/build.c: biases and norms (the 1-d parameters), tf.pos and
    emb.class skip the weight decay."""
    return p.dim() == 1 or name in ("tf.pos", "emb.class")


# ---- the trainer ---------------------------------------------------------------
class Trainer:
    def __init__(self, net, cfg, sched, a):
        self.net, self.cfg, self.sched, self.a = net, cfg, sched, a
        if cfg.get("dropout_res", 0) > 0 or cfg.get("dropout_tf", 0) > 0:
            raise SystemExit("the model has dropout; the reference Net has none")
        self.K = cfg["num_classes"]
        # skip.mean / skip.std (the Wiener skip's data statistics) are fixed:
        # no gradient, no update, as lib/train leaves them.
        self.fixed = {k: net.p[k] for k in net.p if k.startswith("skip.")}
        self.names = [k for k in net.p if k not in self.fixed]
        self.params = [net.p[k] for k in self.names]
        for p in self.params:
            p.requires_grad_(True)
        groups = [{"params": [net.p[k] for k in self.names if not no_decay(k, net.p[k])],
                   "weight_decay": a.weight_decay},
                  {"params": [net.p[k] for k in self.names if no_decay(k, net.p[k])],
                   "weight_decay": 0.0}]
        self.opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.99), eps=1e-8)
        self.ema = [p.detach().clone() for p in self.params]
        self.g = torch.Generator().manual_seed(a.seed * 2)
        self.bf16 = a.setup == "bf16"
        self.step = 0       # steps taken (skipped ones too), as trainer->step
        self.updates = 0    # applied updates, as optimizer->step
        self.skipped = 0
        self.last_gn = float("nan")

    def lr_at(self, k):
        a = self.a
        if a.warmup > 0 and k < a.warmup:
            return a.lr * (k + 1) / a.warmup
        if a.constant_lr:
            return a.lr
        p = min(1.0, (k - a.warmup) / (a.steps - a.warmup))
        floor = 0.1 * a.lr
        return floor + 0.5 * (a.lr - floor) * (1 + math.cos(math.pi * p))

    def train_step(self, x, labels):
        n, g = x.shape[0], self.g
        u0 = torch.rand(1, generator=g, dtype=torch.float64).item()
        t = np.fmod(u0 + np.arange(n) / n, 1.0)
        lam = self.sched.logsnr(t)
        al, si = alpha_sigma(lam)
        a4 = torch.from_numpy(al).float().view(n, 1, 1, 1)
        s4 = torch.from_numpy(si).float().view(n, 1, 1, 1)
        eps = torch.randn(x.shape, generator=g)
        z = a4 * x + s4 * eps
        drop = torch.rand(n, generator=g, dtype=torch.float64) < self.a.label_dropout
        lab = torch.where(drop, torch.full_like(labels, -1), labels) if self.K > 0 \
            else torch.full((n,), -1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            pred = self.net.forward(z, torch.from_numpy(lam), lab, None)
        pred = pred.float()
        v_pred = self.cfg["prediction"] == 0
        if self.a.loss == "eps":
            eh = s4 * z + a4 * pred if v_pred else pred
            loss = F.mse_loss(eh, eps)
        else:
            vh = pred if v_pred else (pred - s4 * z) / a4
            loss = F.mse_loss(vh, a4 * eps - s4 * x)
        lv = float(loss)
        self.opt.zero_grad(set_to_none=False)
        self.step += 1
        if not math.isfinite(lv):
            self.skipped += 1
            return float("nan")
        loss.backward()
        gs = [p.grad for p in self.params]
        gn = math.sqrt(sum(float(torch.sum(gi.double() ** 2)) for gi in gs))
        self.last_gn = gn
        if not math.isfinite(gn):
            self.skipped += 1
            return float("nan")
        if gn > 1.0:
            torch._foreach_mul_(gs, 1.0 / gn)
        lr = self.lr_at(self.updates)
        for grp in self.opt.param_groups:
            grp["lr"] = lr
        self.opt.step()
        self.updates += 1
        k = self.updates
        d = min(self.a.ema, (1 + k) / (10 + k))
        with torch.no_grad():
            torch._foreach_mul_(self.ema, d)
            torch._foreach_add_(self.ema, [p.detach() for p in self.params], alpha=1 - d)
        return lv

    def ema_tensors(self):
        return {**dict(zip(self.names, self.ema)), **self.fixed}


def model_meta(init_meta, sched):
    meta = {"format": "simdiff", "simdiff.config": init_meta["simdiff.config"],
            "simdiff.schedule": sched.text}
    if "simdiff.sampler" in init_meta:
        meta["simdiff.sampler"] = init_meta["simdiff.sampler"]
    return meta


def fmt_time(s):
    if not s >= 0 or s > 1e7:
        return "--:--"
    if s >= 3600:
        return "%dh%02dm" % (s // 3600, (s // 60) % 60)
    return "%dm%02ds" % (s // 60, s % 60)


def train(a):
    if not a.init:
        raise SystemExit("--init FILE.safetensors is required (e.g. the model of "
                         "`simdiff-train --steps 0 --out DIR` with the same flags)")
    if not a.constant_lr and a.steps <= a.warmup:
        raise SystemExit("cosine decay needs --steps > --warmup")
    net, cfg = load_net(a.init)
    _, init_meta = read_safetensors(a.init)
    stext = a.schedule or init_meta.get("simdiff.schedule") or \
        f"shifted({cfg['image_size']},64)"
    sched = Schedule(stext)
    data = Data(a.data_dir, a.pad, a.flip, a.seed)
    tr = Trainer(net, cfg, sched, a)
    nparams = sum(p.numel() for p in tr.params)
    print(f"torch {torch.__version__} {a.setup}; threads {torch.get_num_threads()}\n"
          f"model: {nparams} params from {a.init}; schedule {sched.text}, loss {a.loss}; "
          f"data: {data.n} images", file=sys.stderr, flush=True)
    os.makedirs(a.out, exist_ok=True)
    model_out = os.path.join(a.out, "model.safetensors")
    logf = open(os.path.join(a.out, "loss.csv"), "w")
    logf.write("step,loss,loss_avg,grad_norm,lr,images_per_s,elapsed_s\n")
    B = a.batch
    t0 = time.monotonic()
    avg, sum_loss, nlog = float("nan"), 0.0, 0
    while True:
        k = tr.step
        if k >= a.steps or (a.minutes > 0 and time.monotonic() - t0 > a.minutes * 60):
            break
        x, labels = data.batch(k, B)
        loss = tr.train_step(x, labels)
        if math.isfinite(loss):
            avg = loss if math.isnan(avg) else 0.98 * avg + 0.02 * loss
            sum_loss += loss
            nlog += 1
        k += 1
        tn = time.monotonic()
        if k % a.log_every == 0:
            lr = tr.lr_at(tr.updates)  # the next update's, as simdiff-train logs it
            ips = k * B / (tn - t0)
            left = (a.steps - k) * B / ips
            if a.minutes > 0:
                left = min(left, a.minutes * 60 - (tn - t0))
            print(f"step {k}/{a.steps} loss {avg:.4f} {ips:.1f} img/s lr {lr:.2e} "
                  f"elapsed {fmt_time(tn - t0)} ETA {fmt_time(left)} skipped {tr.skipped}",
                  file=sys.stderr, flush=True)
            logf.write("%d,%.6f,%.6f,%.4f,%.6g,%.2f,%.1f\n" % (
                k, sum_loss / nlog if nlog else float("nan"), avg, tr.last_gn, lr, ips, tn - t0))
            logf.flush()
            sum_loss, nlog = 0.0, 0
        if k % a.ckpt_every == 0:
            write_model(model_out, tr.ema_tensors(), model_meta(init_meta, sched), a.fp16)
    write_model(model_out, tr.ema_tensors(), model_meta(init_meta, sched), a.fp16)
    logf.close()
    el = time.monotonic() - t0
    print(f"done: {tr.step} steps in {el:.1f} s ({tr.step * B / max(el, 1e-9):.1f} img/s); "
          f"saved {model_out}", file=sys.stderr, flush=True)


# ---- selftest ------------------------------------------------------------------
def selftest(a):
    import simdiff  # bindings/python (SIMDIFF_LIBRARY=build/lib/libsimdiff.so.0)

    ok = True
    t = np.concatenate([[0.0, 1e-9, 0.5, 1 - 1e-9, 1.0], np.random.default_rng(0).random(64)])
    for text in ("shifted(32,64)", "cosine(-15,15)", "cosine(-10,12)", "interpolated(32,64,16)"):
        mine = Schedule(text).logsnr(t)
        ref = np.array(simdiff.Schedule(text).logsnr(list(t)), dtype=np.float64)
        err = float(np.abs(mine - ref).max())
        print(f"schedule {text}: max |lambda - libsimdiff| {err:.2e}")
        ok &= err < 1e-12
    lam = np.linspace(-30, 30, 61)
    ra, rs = (np.array(v, dtype=np.float64) for v in simdiff.alpha_sigma_from_logsnr(list(lam)))
    al, si = alpha_sigma(lam)
    err = max(float(np.abs(al / ra - 1).max()), float(np.abs(si / rs - 1).max()))
    print(f"alpha, sigma: max relative difference from libsimdiff {err:.2e}")
    ok &= err < 1e-14

    with tempfile.TemporaryDirectory() as tmp:
        # A small U-ViT made by libsimdiff: the weights both sides start from.
        init = os.path.join(tmp, "init.safetensors")
        mcfg = simdiff.ModelConfig("uvit", 16, 1, stem="dwt", stem_param=1,
                                   level_channels=[32], level_blocks=[1], attn_resolution=4,
                                   tf_width=32, tf_depth=1, tf_heads=2, emb_dim=32,
                                   num_classes=10, dropout_res=0.0, dropout_tf=0.0,
                                   wiener_skip=1)
        g = torch.Generator().manual_seed(5)
        x = torch.rand(4, 1, 16, 16, generator=g) * 2 - 1
        with simdiff.Model.create(mcfg, seed=3) as m:
            m.fit_skip(x.numpy())  # the Wiener skip's statistics: fixed in training
            m.set_schedule(simdiff.Schedule("shifted(16,64)"))
            m.save_safetensors(init)
        net, cfg = load_net(init)
        _, meta = read_safetensors(init)
        args = argparse.Namespace(lr=1e-3, warmup=2, steps=20, constant_lr=False, ema=0.9,
                                  label_dropout=0.1, loss="eps", setup="f32", seed=0,
                                  weight_decay=0.0)
        tr = Trainer(net, cfg, Schedule(meta["simdiff.schedule"]), args)
        fixed = {k: v.clone() for k, v in tr.fixed.items()}
        y = torch.arange(4)
        for _ in range(3):  # so that the zero-initialized outputs are not zero
            tr.train_step(x, y)
        ema = tr.ema_tensors()
        same = sorted(fixed) == ["skip.mean", "skip.std"] and all(
            torch.equal(ema[k], v) for k, v in fixed.items())
        print(f"the Wiener skip's statistics: exported unchanged {'ok' if same else 'FAIL'}")
        ok &= same
        z = torch.randn(3, 1, 16, 16, generator=g)
        ls = torch.tensor([-6.0, 0.5, 7.0], dtype=torch.float64)
        lab = torch.tensor([2, -1, 9])
        for fp16 in (0, 1):
            path = os.path.join(tmp, "out.safetensors")
            write_model(path, ema, model_meta(meta, tr.sched), fp16)
            for k, v in ema.items():  # the Net on the weights as stored
                net.p[k] = (v.half().float() if fp16 else v).detach().clone()
            with torch.no_grad():
                ref = net.forward(z, ls, lab, None).numpy()
            with simdiff.Model.load(path) as m:
                out = np.array(m.forward(z.numpy(), ls.numpy(), lab.tolist()),
                               dtype=np.float32).reshape(ref.shape)
            err, scale = float(np.abs(out - ref).max()), float(np.abs(ref).max())
            good = err <= 1e-4 * scale and scale > 1e-3
            print(f"export {'F16' if fp16 else 'F32'}: libsimdiff forward vs PyTorch Net: "
                  f"max |diff| {err:.2e}, max |out| {scale:.2e} {'ok' if good else 'FAIL'}")
            ok &= good
        # The EMA, not the raw weights, is what was written.
        ok &= any(float((e - p.detach()).abs().max()) > 0 for e, p in zip(tr.ema, tr.params))
    print("selftest ok" if ok else "selftest FAILED")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--init", help="libsimdiff model file: architecture and initial weights")
    ap.add_argument("--out", default="runs/torch")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--pad", type=int, default=32)
    ap.add_argument("--flip", dest="flip", action="store_true",
                    help="random horizontal flips (off by default, as in simdiff-train)")
    ap.add_argument("--no-flip", dest="flip", action="store_false", help="no flips (the default)")
    ap.add_argument("--steps", type=int, default=6500, help="steps (the lr schedule's length)")
    ap.add_argument("--minutes", type=float, default=0, help="stop after M minutes of training")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--setup", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--constant-lr", action="store_true")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--label-dropout", type=float, default=0.1)
    ap.add_argument("--schedule", help="default: the --init file's schedule")
    ap.add_argument("--loss", choices=["eps", "v"], default="eps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--fp16", action="store_true", help="write the model in float16")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.selftest:
        return selftest(a)
    return train(a)


if __name__ == "__main__":
    sys.exit(main())
