#!/usr/bin/python3
"""Diagnostics of docs/highres.md (needs numpy and torch: /usr/bin/python3).

  highres-diag.py bands DATA.npy LEVELS
      per-band RMS of the 5/3 DWT of the data and of white noise, the
      synthesis gain of each band (pixel-space energy of the inverse DWT per
      unit of coefficient energy) and the band's data/noise variance ratio
  highres-diag.py schedule SIZE SCHEDULE... [-- BAND=RATIO ...]
      the log-SNR at t = 1/16 and 1/64 of each schedule, and for each band
      ratio (from `bands`) the log-SNR where the band's SNR is 1, the share
      of training t above it and whether 16 uniform-t sampler steps reach it
  highres-diag.py model MODEL DATA.npy LABELS.npy [SAMPLES.npy] [guidance=W]
      per-band error variance of the model's eps-hat (from its v or eps
      prediction) at several log-SNR, against the per-band Wiener bound
      (the best scalar shrinkage of each band: what a trivial linear
      denoiser achieves), and the per-band RMS of samples against the data;
      with guidance=W the prediction is the guided one, uncond + W (cond -
      uncond), as the sampler forms it

The DWT is the independent PyTorch reference tests/reference/ops_dwt.py
(2 levels unless given); the model runs through bindings/python with
SIMDIFF_LIBRARY set (e.g. build/lib/libsimdiff.so.0). Run from the
source root."""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, "tests/reference")
sys.path.insert(0, "bindings/python")
import ops_dwt as R  # noqa: E402


def band_index(C, L):
    idx = {"LL%d" % L: list(range(C))}
    off = C
    for l in range(L, 0, -1):
        b = 2 ** (L - l)
        for k, nm in enumerate(["LH", "HL", "HH"]):
            idx["%s%d" % (nm, l)] = [off + (3 * c + k) * b * b + q
                                     for c in range(C) for q in range(b * b)]
        off += 3 * C * b * b
    return idx


def images(path, n, seed):
    a = np.load(path, mmap_mode="r")
    sel = np.sort(np.random.default_rng(seed).choice(len(a), n, replace=False))
    x = np.asarray(a[sel])
    if x.dtype == np.uint8:
        x = x.transpose(0, 3, 1, 2).astype(np.float64) / 127.5 - 1
    return x.astype(np.float64), sel


def band_ms(x, L):
    w = R.dwt(torch.tensor(x), L)
    return {k: w[:, v].pow(2).mean().item() for k, v in band_index(x.shape[1], L).items()}


def cmd_bands(path, L):
    x, _ = images(path, 512, 0)
    L = int(L)
    e = np.random.default_rng(1).standard_normal(x.shape)
    wx, we = R.dwt(torch.tensor(x), L), R.dwt(torch.tensor(e), L)
    d = {k: wx[:, v].var().item() for k, v in band_index(x.shape[1], L).items()}
    n = {k: we[:, v].var().item() for k, v in band_index(x.shape[1], L).items()}
    print("%s, %d levels: pixel std %.4f" % (path, L, x.std()))
    print("band   data_std  noise_std  synth_gain  data/noise var")
    C = x.shape[1]
    for k, ch in band_index(C, L).items():
        y = torch.zeros((32, C * 4 ** L) + tuple(s >> L for s in x.shape[2:]), dtype=torch.float64)
        y[:, ch] = torch.randn_like(y[:, ch])
        g = (R.idwt(y, L) ** 2).sum() / (y[:, ch] ** 2).sum()
        print("%-5s %9.4f %9.4f %9.4f %12.5f" % (k, d[k] ** .5, n[k] ** .5, g.item(), d[k] / n[k]))


def cmd_schedule(size, args):
    import simdiff
    ratios = [a for a in args if "=" in a]
    for txt in [a for a in args if "=" not in a]:
        s = simdiff.Schedule(txt)
        l16, l64 = s.logsnr([1 / 16, 1 / 64])
        print("%-26s lambda(1/16) = %5.2f  lambda(1/64) = %5.2f" % (txt, l16, l64))
        for r in ratios:
            b, v = r.split("=")
            lb = -np.log(float(v))
            t = s.t_from_logsnr([lb])[0]
            print("    %-4s SNR 1 at lambda %5.2f: %4.1f%% of training t above it; "
                  "16 uniform-t steps reach it: %s" % (b, lb, 100 * t, "yes" if t >= 1 / 16 else "no"))


def cmd_model(model, data, labels, *rest, L=2):
    w = [float(a.split("=")[1]) for a in rest if a.startswith("guidance=")]
    w = w[0] if w else 1.0
    samples = ([a for a in rest if not a.startswith("guidance=")] or [None])[0]
    import simdiff
    simdiff.set_num_threads(1)
    m = simdiff.Model.load(model)
    eps_pred = m.config.prediction == simdiff.Prediction.EPS
    x, sel = images(data, 128, 1)
    y = np.load(labels)[sel].astype(np.int64).tolist()
    eps = np.random.default_rng(2).standard_normal(x.shape)
    d, n = band_ms(x, L), band_ms(eps, L)
    print("log-SNR band   model_mse  wiener_mse  ratio   (eps-hat error variance per DWT coefficient)")
    for lam in [8.0, 5.0, 3.25, 1.0, -1.0, -4.0]:
        al, si = (1 / (1 + np.exp(-lam))) ** .5, (1 / (1 + np.exp(lam))) ** .5
        z = al * x + si * eps
        out = np.asarray(m.forward(z.astype(np.float32), lam, y), dtype=np.float64).reshape(x.shape)
        if w != 1.0:
            unc = np.asarray(m.forward(z.astype(np.float32), lam, [-1] * len(y)),
                             dtype=np.float64).reshape(x.shape)
            out = unc + w * (out - unc)
        eh = out if eps_pred else si * z + al * out
        ev = band_ms(eh - eps, L)
        for k in ev:
            wi = n[k] * al ** 2 * d[k] / (al ** 2 * d[k] + si ** 2 * n[k])
            print("%6.2f  %-5s %10.5f %10.5f %7.2f" % (lam, k, ev[k], wi, ev[k] / wi))
        print("%6.2f  pixel eps-mse %.5f" % (lam, ((eh - eps) ** 2).mean()))
    if samples:
        s = np.load(samples).astype(np.float64)
        if s.shape[-1] == 3:
            s = s.transpose(0, 3, 1, 2) / 127.5 - 1
        sv = band_ms(s[:128], L)
        print("band   data_rms  sample_rms  ratio")
        for k in sv:
            print("%-5s %9.4f %9.4f %7.2f" % (k, d[k] ** .5, sv[k] ** .5, (sv[k] / d[k]) ** .5))


if __name__ == "__main__":
    torch.manual_seed(0)
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "bands":
        cmd_bands(*rest)
    elif cmd == "schedule":
        cmd_schedule(int(rest[0]), rest[1:])
    elif cmd == "model":
        cmd_model(*rest)
    else:
        sys.exit(__doc__)
