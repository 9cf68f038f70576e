#!/usr/bin/env python3
"""Sample quality of a Fashion-MNIST model, from this repository alone.

    python3 scripts/eval/fmnist_eval.py SAMPLES.npy [LABELS.npy]

SAMPLES: what `simdiff-sample --npy` writes, float32 (N, 1, 32, 32) (or
(N, 32, 32)) in [-1, 1], i.e. 28 x 28 images padded with -1 exactly like the
training data (`simdiff-train --pad 32`). LABELS: the N class ids that were
asked for (`--labels-npy`, float32 or integer).

Prints
  n                N
  fid              Frechet distance between the samples' and the 10 000
                   Fashion-MNIST test images' features (the 128-d
                   penultimate layer of the classifier below); depends on N
  class_accuracy   share of samples the classifier puts in the asked class

The classifier is models/fmnist-eval.safetensors, trained by
scripts/eval/train_fmnist_classifier.py (docs/evaluation.md). Everything here
needs numpy only: the network runs forward in numpy, and the matrix square
root of the Frechet distance comes from two symmetric eigendecompositions
(evalcore.py, shared with emoji_eval.py).
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evalcore import fid, forward_convnet, frechet, load_safetensors, scores, stats  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_WEIGHTS = os.path.join(ROOT, 'models', 'fmnist-eval.safetensors')
DEFAULT_DATA = '/usr/share/datasets/fashion-mnist'
SIDE = 32       # model input side: 28 x 28 padded with -1 (2 pixels a side)
CLASSES = 10

# The network: three 3x3 convolutions (padding 1) each followed by ReLU and
# 2x2 max pooling (32 -> 16 -> 8 -> 4), then a 1024 -> 128 linear + ReLU (the
# features) and a 128 -> 10 linear (the logits). Name -> shape.
LAYOUT = {
    'c1.weight': (16, 1, 3, 3), 'c1.bias': (16,),
    'c2.weight': (32, 16, 3, 3), 'c2.bias': (32,),
    'c3.weight': (64, 32, 3, 3), 'c3.bias': (64,),
    'f1.weight': (128, 1024), 'f1.bias': (128,),
    'f2.weight': (10, 128), 'f2.bias': (10,),
}
FEATURES = 128

# ---- Fashion-MNIST (IDX, gzip) ------------------------------------------------


def read_idx(path, magic, ndim):
    """An IDX file of unsigned bytes with `ndim` dimensions, validated."""
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 4 + 4 * ndim:
        raise ValueError('%s: too short for an IDX header' % path)
    m, = struct.unpack('>I', raw[:4])
    if m != magic:
        raise ValueError('%s: magic 0x%08x, expected 0x%08x' % (path, m, magic))
    dims = struct.unpack('>%dI' % ndim, raw[4:4 + 4 * ndim])
    count = int(np.prod(dims, dtype=np.int64))
    body = raw[4 + 4 * ndim:]
    if len(body) != count:
        raise ValueError('%s: %d data bytes, header says %d' % (path, len(body), count))
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load_fmnist(split, data_dir=DEFAULT_DATA):
    """(images uint8 (N, 28, 28), labels int64 (N,)) of 'train' or 't10k'."""
    x = read_idx(os.path.join(data_dir, '%s-images-idx3-ubyte.gz' % split), 0x803, 3)
    y = read_idx(os.path.join(data_dir, '%s-labels-idx1-ubyte.gz' % split), 0x801, 1)
    if x.shape[0] != y.shape[0] or x.shape[1:] != (28, 28) or y.max() >= CLASSES:
        raise ValueError('%s: inconsistent images %s / labels %s' % (split, x.shape, y.shape))
    return x, y.astype(np.int64)


def to_input(u8):
    """uint8 (N, 28, 28) -> float32 (N, 1, 32, 32): v / 127.5 - 1, padded with
    -1 around, as libsimdiff's training batches (simdiff_dataset_get_batch)."""
    n, h, w = u8.shape
    out = np.full((n, 1, SIDE, SIDE), -1.0, dtype=np.float32)
    top, left = (SIDE - h) // 2, (SIDE - w) // 2
    lut = (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(np.float32)
    out[:, 0, top:top + h, left:left + w] = lut[u8]
    return out

# ---- weights (safetensors) -----------------------------------------------------


def load_weights(path=DEFAULT_WEIGHTS):
    """(name -> float32 array, metadata dict); every byte checked against LAYOUT."""
    return load_safetensors(path, LAYOUT)

# ---- the network, forward in numpy ------------------------------------------


def forward(weights, x, batch=250):
    """x float32 (N, 1, 32, 32) -> (features (N, 128), logits (N, 10)), float32."""
    return forward_convnet(weights, x, ('c1', 'c2', 'c3'), batch)

# ---- samples ---------------------------------------------------------------------


def load_samples(path):
    x = np.load(path, allow_pickle=False)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1:] != (1, SIDE, SIDE) or x.dtype.kind != 'f':
        raise ValueError('%s: %s %s, expected float (N, 1, 32, 32) in [-1, 1]'
                         % (path, x.dtype, x.shape))
    if x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise ValueError('%s: need at least 2 finite images' % path)
    return x.astype(np.float32)


def load_labels(path, n):
    y = np.load(path, allow_pickle=False).reshape(-1)
    if y.shape[0] != n or not np.all(np.isfinite(y)):
        raise ValueError('%s: %d labels for %d samples' % (path, y.shape[0], n))
    yi = y.astype(np.int64)
    if np.any(yi != y) or yi.min() < 0 or yi.max() >= CLASSES:
        raise ValueError('%s: labels must be class ids 0..9' % path)
    return yi


def evaluate(samples, labels=None, weights=None, ref_features=None, data_dir=DEFAULT_DATA):
    """dict(n, fid, class_accuracy) for float32 (N, 1, 32, 32) samples."""
    if weights is None:
        weights, _ = load_weights()
    if ref_features is None:
        ref_features, _ = forward(weights, to_input(load_fmnist('t10k', data_dir)[0]))
    return scores(*forward(weights, samples), ref_features, labels)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('samples')
    ap.add_argument('labels', nargs='?')
    ap.add_argument('--weights', default=DEFAULT_WEIGHTS)
    ap.add_argument('--data-dir', default=DEFAULT_DATA)
    a = ap.parse_args(argv)
    try:
        x = load_samples(a.samples)
        y = load_labels(a.labels, x.shape[0]) if a.labels else None
        w, _ = load_weights(a.weights)
        r = evaluate(x, y, w, data_dir=a.data_dir)
    except (OSError, ValueError) as e:
        print('fmnist_eval: %s' % e, file=sys.stderr)
        return 1
    print('n %d' % r['n'])
    print('fid %.2f' % r['fid'])
    if 'class_accuracy' in r:
        print('class_accuracy %.4f' % r['class_accuracy'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
