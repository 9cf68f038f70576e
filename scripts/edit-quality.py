#!/usr/bin/python3
"""Editing quality on Fashion-MNIST (docs/editing.md).

For the first N test images (padded to 32 x 32) and the bundled model with
its stored sampler settings:
  inpaint   the bottom half masked and generated (rows 16..31 of 32),
            unconditional (no label), with and without RePaint resampling,
            and with the true label under the stored guidance;
  img2img   strength 0.5, unconditional;
  uncond    plain unconditional samples (the reference for FID).
Each set is scored with the repository's Fashion-MNIST classifier
(scripts/eval/fmnist_eval.py, docs/evaluation.md): the share labelled as the
test image's true class, FID against the 10 000 test images and FID against
the model's own unconditional samples. --also-score DIR/fmnist_score.py adds
the same three numbers from that external scorer's netA (the file and its
netA.npz beside it). Also the latency of one edit at strength 0.5 against a
full run (batch 1, median of --lat-runs).

usage: SIMDIFF_LIBRARY=build/lib/libsimdiff.so PYTHONPATH=bindings/python \\
         /usr/bin/python3 scripts/edit-quality.py [--n 1000] [--out DIR]
         [--also-score PATH/fmnist_score.py] [--model M] [--threads T]
Needs numpy and the Fashion-MNIST package (dataset-fashion-mnist).
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

import numpy as np
import simdiff

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval"))
import evalcore  # noqa: E402
import fmnist_eval  # noqa: E402

FMNIST = fmnist_eval.DEFAULT_DATA  # the data path in one place


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", default="edit-quality")
    ap.add_argument("--model", default="models/fmnist-uvit.safetensors")
    ap.add_argument("--also-score", default="",
                    help="an external fmnist_score.py (with netA.npz beside it): extra columns")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lat-runs", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0,
                    help="sampler steps (default: the model's stored settings)")
    ap.add_argument("--method", default=None, help="sampler method (default: stored)")
    ap.add_argument("--sets", default=None,
                    help="comma-separated names of the sets to run (default: all)")
    ap.add_argument("--grid", default=None,
                    help="also write a PNG: 12 test images, masked, inpainted, "
                         "inpainted with resampling, img2img 0.5")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.threads:
        simdiff.set_num_threads(a.threads)
    scorers = {"": repo_scorer()}
    if a.also_score:
        scorers["ext_"] = external_scorer(a.also_score)

    ds = simdiff.Dataset.open_idx(f"{FMNIST}/t10k-images-idx3-ubyte.gz",
                                  f"{FMNIST}/t10k-labels-idx1-ubyte.gz")
    x, y = ds.get_batch(list(range(a.n)), pad_to=32)
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    model = simdiff.Model.load(a.model)
    over = {}
    if a.steps:
        over["steps"] = a.steps
    if a.method:
        over["method"] = a.method
    s = simdiff.Sampler(model, **over)
    half = np.ones((32, 32), np.float32)
    half[16:] = 0.0  # keep the top, generate the bottom

    runs = {
        "test images": None,
        "uncond": dict(n=a.n),
        "inpaint": dict(n=a.n, init=x, mask=half),
        "inpaint+resample(r=4,j=2)": dict(n=a.n, init=x, mask=half, resample=4,
                                          resample_jump=2),
        "inpaint, true label": dict(labels=y.tolist(), init=x, mask=half),
        "img2img 0.5": dict(n=a.n, init=x, strength=0.5),
        "img2img 0.5, true label": dict(labels=y.tolist(), init=x, strength=0.5),
    }
    if a.sets:
        keep = set(a.sets.split(",")) | {"test images", "uncond"}
        runs = {k: v for k, v in runs.items() if k in keep}
    feats, res = {}, {}
    for name, kw in runs.items():
        t0 = time.time()
        if kw is None:
            out = x
            evals = 0
        else:
            out = np.asarray(s.run(seed=a.seed, **kw))
            evals = s.evals(strength=kw.get("strength", 1.0), masked="mask" in kw,
                            resample=kw.get("resample", 1),
                            resample_jump=kw.get("resample_jump", 1))
        el = time.time() - t0
        np.save(os.path.join(a.out, name.replace(" ", "_").replace(",", "") + ".npy"), out)
        res[name] = dict(evals=evals, seconds=el)
        for pre, (featurize, ref) in scorers.items():
            f, logits = featurize(np.asarray(out, np.float32))
            feats[pre + name] = f
            res[name][pre + "true_class"] = float((logits.argmax(1) == y).mean())
            res[name][pre + "fid_test"] = evalcore.frechet(*evalcore.stats(f), *ref)
        print(f"{name:28s} " + "  ".join(
            f"{pre}true class {res[name][pre + 'true_class']:.3f} "
            f"{pre}FID(test) {res[name][pre + 'fid_test']:7.2f}" for pre in scorers)
            + f"  {evals} evals  {el:.1f} s", flush=True)
    if a.grid:
        k = 12
        masked = x[:k].copy()
        masked[:, :, 16:] = 0.0
        rows = [x[:k], masked]
        for name in ("inpaint", "inpaint+resample(r=4,j=2)", "img2img 0.5"):
            rows.append(np.load(os.path.join(
                a.out, name.replace(" ", "_").replace(",", "") + ".npy"))[:k])
        simdiff.write_png(a.grid, np.concatenate(rows), grid_cols=k)
    for pre in scorers:
        for name in runs:
            res[name][pre + "fid_uncond"] = evalcore.fid(feats[pre + name],
                                                         feats[pre + "uncond"])

    # latency: one image, strength 0.5 vs a full run (alternating)
    lat = {"full": [], "img2img 0.5": []}
    one = x[:1]
    for r in range(a.lat_runs + 1):
        for name, kw in (("full", dict(n=1)), ("img2img 0.5", dict(n=1, init=one,
                                                                   strength=0.5))):
            t0 = time.perf_counter()
            s.run(seed=r, **kw)
            if r:
                lat[name].append(time.perf_counter() - t0)
    res["latency_ms"] = {k: 1e3 * statistics.median(v) for k, v in lat.items()}
    cols = [pre + c for pre in scorers for c in ("true_class", "fid_test", "fid_uncond")]
    print("| set | evals | " + " | ".join(cols) + " |")
    print("|---|---:|" + "---:|" * len(cols))
    for name in runs:
        r = res[name]
        print(f"| {name} | {r['evals']} | " + " | ".join(
            f"{r[c]:.3f}" if c.endswith("true_class") else f"{max(r[c], 0.0):.2f}" for c in cols) + " |")
    print("latency per image (ms, median): " + ", ".join(
        f"{k} {v:.1f}" for k, v in res["latency_ms"].items()))
    with open(os.path.join(a.out, "results.json"), "w") as fo:
        json.dump(res, fo, indent=1)


def repo_scorer():
    """(featurize, reference stats) of scripts/eval/fmnist_eval.py: its
    classifier takes the padded 32 x 32 images in [-1, 1] as they are."""
    w, _ = fmnist_eval.load_weights()
    ref, _ = fmnist_eval.forward(w, fmnist_eval.to_input(fmnist_eval.load_fmnist("t10k")[0]))
    return (lambda x: fmnist_eval.forward(w, x)), evalcore.stats(ref)


def external_scorer(path):
    """The same from an external fmnist_score.py: its feats() on the 28 x 28
    centre in [-1, 1], logits from its last layer, its stored reference stats."""
    spec = importlib.util.spec_from_file_location("fmnist_score", path)
    fs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fs)
    net = dict(np.load(os.path.join(os.path.dirname(os.path.abspath(path)), "netA.npz")))

    def featurize(out):
        xs = ((np.clip((out[:, 0, 2:30, 2:30] + 1) / 2, 0, 1) - 0.5) / 0.5)[:, None]
        f = np.concatenate([fs.feats(net, xs[i:i + 250].astype(np.float32))
                            for i in range(0, len(xs), 250)]).astype(np.float64)
        return f, f @ net["f2.weight"].T + net["f2.bias"]
    return featurize, (net["ref_mu"], net["ref_cov"])


if __name__ == "__main__":
    main()
