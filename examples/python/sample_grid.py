#!/usr/bin/env python3
"""Sample a grid of images from a libsimdiff model and save it as a PNG.

    python3 examples/python/sample_grid.py                      # the bundled model
    python3 examples/python/sample_grid.py runs/a/model.safetensors --per-class 4
    python3 examples/python/sample_grid.py --guidance 2 --steps 32 --out grid.png

Sampler settings not given on the command line come from the model file
(the bundled model stores DPM-Solver++(2M), 16 steps, guidance 3).

A class-conditional model gives one row per class (--per-class images
each); an unconditional one --count images. Needs the simdiff package
(bindings/python) and libsimdiff.so.0: from a source tree,

    meson setup build && meson compile -C build
    SIMDIFF_LIBRARY=build/lib/libsimdiff.so.0 PYTHONPATH=bindings/python \\
        python3 examples/python/sample_grid.py

Ctrl-C stops the sampler cleanly between two network layers.
"""
import argparse
import os
import sys
import time

import simdiff

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = "models/fmnist-uvit.safetensors"


def default_model():
    # Relative to the current directory, else to the source tree.
    if os.path.exists(DEFAULT_MODEL):
        return DEFAULT_MODEL
    return os.path.join(HERE, "..", "..", DEFAULT_MODEL)


def progress_printer(stream):
    """A progress(step, total, preview) callback: one updating line on a
    terminal, a few plain lines otherwise."""
    t0 = time.monotonic()
    tty = stream.isatty()

    def progress(step, total, preview):
        text = "step %d/%d  %.1fs" % (step, total, time.monotonic() - t0)
        if tty:
            stream.write("\r" + text + ("\n" if step == total else ""))
        elif step == total or step % max(1, total // 4) == 0:
            stream.write(text + "\n")
        stream.flush()
    return progress


def main(argv=None):
    ap = argparse.ArgumentParser(description="Sample a PNG grid from a libsimdiff model.")
    ap.add_argument("model", nargs="?", default=None,
                    help="a .safetensors model (default %s)" % DEFAULT_MODEL)
    ap.add_argument("--out", default="grid.png", help="the PNG to write (default grid.png)")
    ap.add_argument("--per-class", type=int, default=8,
                    help="images per class for a class-conditional model (default 8)")
    ap.add_argument("--count", type=int, default=16,
                    help="images for an unconditional model (default 16)")
    ap.add_argument("--method", default=None,
                    help="ddpm | ddim | dpmpp_2m (default: the model's setting)")
    ap.add_argument("--steps", type=int, default=None,
                    help="network evaluations (default: the model's setting)")
    ap.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance w: uncond + w (cond - uncond) "
                    "(default: the model's setting)")
    ap.add_argument("--schedule", default=None,
                    help="noise schedule text, e.g. 'shifted(32,64)' (default: the model's)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--threads", type=int, default=0, help="compute threads (0: all)")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)

    path = args.model or default_model()
    simdiff.set_num_threads(args.threads)
    try:
        model = simdiff.Model.load(path)
    except simdiff.IOFailure as e:
        if args.model is None:
            ap.exit(2, "sample_grid.py: the bundled model is not there (%s); give a "
                    "model path\n" % e)
        ap.exit(2, "sample_grid.py: %s\n" % e)
    except simdiff.Error as e:
        ap.exit(2, "sample_grid.py: %s: %s\n" % (path, e))

    with model:
        if model.num_classes:
            labels = [k for k in range(model.num_classes) for _ in range(args.per_class)]
            cols = args.per_class
        else:
            labels, cols = None, 0
        n = len(labels) if labels else args.count
        try:
            given = {k: v for k, v in (("method", args.method), ("steps", args.steps),
                                        ("guidance", args.guidance)) if v is not None}
            sampler = simdiff.Sampler(
                model, schedule=args.schedule, **given,
                progress=None if args.quiet else progress_printer(sys.stderr))
        except (simdiff.Error, ValueError) as e:
            ap.exit(2, "sample_grid.py: %s\n" % e)
        with sampler:
            c, h, w = model.image_shape
            if not args.quiet:
                print("%s: %d images of %dx%dx%d, %s, %d steps, guidance %g"
                      % (path, n, c, h, w, sampler.method.name.lower(), sampler.steps,
                         sampler.guidance), file=sys.stderr)
            try:
                images = sampler(labels=labels, n=n, seed=args.seed)
            except KeyboardInterrupt:
                print("\ninterrupted", file=sys.stderr)
                return 130
        simdiff.write_png(args.out, images, cols)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
