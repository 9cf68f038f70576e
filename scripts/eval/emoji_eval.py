#!/usr/bin/env python3
"""Sample quality of an emoji model, from this repository alone.

    python3 scripts/eval/emoji_eval.py SAMPLES.npy [LABELS.npy] --data DATA

SAMPLES: N RGB images, (N, 3, S, S) as `simdiff-sample --npy` writes them
(float32 in [-1, 1]) or (N, S, S, 3); float is read as [-1, 1] (clipped to
it), uint8 as 0..255. S = 64 or any multiple of it (128, 256, ...): larger
images are averaged down to 64 x 64 by area (each output pixel the mean of
an S/64 x S/64 block). LABELS: the N group ids 0..8 that were asked for
(float or integer). DATA: the directory written by the emoji data set tool
(`emoji_dataset.py DATA --size 64`): emoji64.npy, emoji64-labels.npy (and
emoji64-names.txt, read only for the classifier's held-out split).

Prints
  n                N
  fid              Frechet distance between the samples' features (the
                   128-d penultimate layer of the classifier below) and the
                   features of the WHOLE data set (all 3 655 images,
                   recomputed from DATA/emoji64.npy on every run); depends on
                   N, and the labels asked for must follow the data set's
                   proportions (class 1 is 59% of it)
  class_accuracy   share of samples the classifier puts in the asked group

The classifier is models/emoji-eval.safetensors, trained by
scripts/eval/train_emoji_classifier.py (docs/evaluation.md). numpy only.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from evalcore import fid, forward_convnet, frechet, load_safetensors, scores  # noqa: E402,F401

ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_WEIGHTS = os.path.join(ROOT, 'models', 'emoji-eval.safetensors')
SIDE = 64
CLASSES = 9
GROUPS = ('Smileys & Emotion', 'People & Body', 'Animals & Nature', 'Food & Drink',
          'Travel & Places', 'Activities', 'Objects', 'Symbols', 'Flags')

# The network: four 3x3 convolutions (padding 1), each followed by ReLU and
# 2x2 max pooling (64 -> 32 -> 16 -> 8 -> 4), then a 1024 -> 128 linear +
# ReLU (the features) and a 128 -> 9 linear (the logits). Name -> shape.
LAYOUT = {
    'c1.weight': (16, 3, 3, 3), 'c1.bias': (16,),
    'c2.weight': (32, 16, 3, 3), 'c2.bias': (32,),
    'c3.weight': (64, 32, 3, 3), 'c3.bias': (64,),
    'c4.weight': (64, 64, 3, 3), 'c4.bias': (64,),
    'f1.weight': (128, 1024), 'f1.bias': (128,),
    'f2.weight': (CLASSES, 128), 'f2.bias': (CLASSES,),
}
CONVS = ('c1', 'c2', 'c3', 'c4')
FEATURES = 128


def load_weights(path=DEFAULT_WEIGHTS):
    """(name -> float32 array, metadata dict); every byte checked against LAYOUT."""
    return load_safetensors(path, LAYOUT)

# ---- the data set ----------------------------------------------------------------


def load_data(data_dir):
    """(images uint8 (N, 64, 64, 3), labels int64 (N,)) of DATA, validated."""
    xp = os.path.join(data_dir, 'emoji64.npy')
    yp = os.path.join(data_dir, 'emoji64-labels.npy')
    x = np.load(xp, allow_pickle=False)
    y = np.load(yp, allow_pickle=False)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (SIDE, SIDE, 3):
        raise ValueError('%s: %s %s, expected uint8 (N, 64, 64, 3)' % (xp, x.dtype, x.shape))
    if y.ndim != 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in 'iu' \
            or y.min() < 0 or y.max() >= CLASSES:
        raise ValueError('%s: %s %s, expected %d group ids 0..8'
                         % (yp, y.dtype, y.shape, x.shape[0]))
    return x, y.astype(np.int64)


SKIN_TONES = {'1F3FB', '1F3FC', '1F3FD', '1F3FE', '1F3FF'}


def load_families(data_dir, n):
    """Family id per image from DATA/emoji64-names.txt: images whose
    codepoints differ only by skin-tone modifiers (U+1F3FB..U+1F3FF) share
    one id ("thumbs up" and its five skin tones are one family)."""
    path = os.path.join(data_dir, 'emoji64-names.txt')
    ids, keys = [], {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            cps = line.split('\t', 1)[0].split()
            key = ' '.join(c for c in cps if c.upper() not in SKIN_TONES)
            ids.append(keys.setdefault(key, len(keys)))
    if len(ids) != n:
        raise ValueError('%s: %d lines for %d images' % (path, len(ids), n))
    return np.array(ids, dtype=np.int64)


def split(labels, families, frac=0.15, seed=0):
    """(trained-on, held-out) indices of the classifier's training run. For
    every group c, whole families (load_families) drawn at random with
    `seed` are held out until they hold round(frac * n_c) images or more:
    no held-out image has a skin-tone sibling in the training set."""
    rng = np.random.RandomState(seed)
    hold = []
    for c in range(CLASSES):
        fams = np.unique(families[labels == c])
        want, got = int(round(frac * np.sum(labels == c))), 0
        for fam in rng.permutation(fams):
            if got >= want:
                break
            members = np.flatnonzero(families == fam)
            hold.extend(members)
            got += len(members)
    hold = np.sort(np.array(hold, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), hold), hold

# ---- samples -----------------------------------------------------------------------


def to_input(x):
    """(N, 3, S, S) or (N, S, S, 3) images, uint8 0..255 or float [-1, 1],
    S a multiple of 64 -> float32 (N, 3, 64, 64) in [-1, 1], averaged down
    by area. Raises ValueError on anything else (shape, dtype, non-finite)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError('samples are %s, expected (N, 3, S, S) or (N, S, S, 3)' % (x.shape,))
    if x.shape[1] == 3 and x.shape[2] == x.shape[3]:
        nchw = True
    elif x.shape[3] == 3 and x.shape[1] == x.shape[2]:
        nchw = False
    else:
        raise ValueError('samples are %s, expected (N, 3, S, S) or (N, S, S, 3)' % (x.shape,))
    s = x.shape[2]
    if s < SIDE or s % SIDE:
        raise ValueError('samples are %d x %d, expected a multiple of 64 (64, 128, ...)' % (s, s))
    if x.shape[0] < 2:
        raise ValueError('need at least 2 images, got %d' % x.shape[0])
    if x.dtype == np.uint8:
        v = x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    elif x.dtype.kind == 'f':
        if not np.all(np.isfinite(x)):
            raise ValueError('samples hold non-finite values')
        v = np.clip(x.astype(np.float32), -1.0, 1.0)
    else:
        raise ValueError('samples are %s, expected uint8 or float' % x.dtype)
    if not nchw:
        v = v.transpose(0, 3, 1, 2)
    f = s // SIDE
    if f > 1:
        v = v.reshape(v.shape[0], 3, SIDE, f, SIDE, f).mean(axis=(3, 5), dtype=np.float64)
    return np.ascontiguousarray(v, dtype=np.float32)


def load_samples(path):
    x = np.load(path, allow_pickle=False)
    try:
        return to_input(x)
    except ValueError as e:
        raise ValueError('%s: %s' % (path, e))


def check_labels(y, n, what='labels'):
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != n:
        raise ValueError('%s: %d labels for %d samples' % (what, y.shape[0], n))
    if y.dtype.kind not in 'iuf' or not np.all(np.isfinite(y)):
        raise ValueError('%s: labels must be finite numbers' % what)
    yi = y.astype(np.int64)
    if np.any(yi != y) or yi.min() < 0 or yi.max() >= CLASSES:
        raise ValueError('%s: labels must be group ids 0..8' % what)
    return yi


def load_labels(path, n):
    return check_labels(np.load(path, allow_pickle=False), n, path)

# ---- the network, forward in numpy ------------------------------------------


def forward(weights, x, batch=50):
    """x float32 (N, 3, 64, 64) -> (features (N, 128), logits (N, 9)), float32."""
    return forward_convnet(weights, x, CONVS, batch)


def reference_features(weights, data_dir):
    """Features of the whole data set (the FID reference)."""
    return forward(weights, to_input(load_data(data_dir)[0]))[0]


def evaluate(samples, labels=None, ref_features=None, weights=None, data_dir=None):
    """dict(n, fid[, class_accuracy]) of samples in any form to_input accepts.
    ref_features: reference_features(...) (computed from data_dir if None)."""
    x = to_input(samples)
    if labels is not None:
        labels = check_labels(labels, x.shape[0])
    if weights is None:
        weights, _ = load_weights()
    if ref_features is None:
        if data_dir is None:
            raise ValueError('evaluate: give ref_features or data_dir')
        ref_features = reference_features(weights, data_dir)
    return scores(*forward(weights, x), ref_features, labels)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('samples')
    ap.add_argument('labels', nargs='?')
    ap.add_argument('--data', required=True, metavar='DATA',
                    help='directory with emoji64.npy (emoji_dataset.py DATA --size 64)')
    ap.add_argument('--weights', default=DEFAULT_WEIGHTS)
    a = ap.parse_args(argv)
    try:
        x = load_samples(a.samples)
        y = load_labels(a.labels, x.shape[0]) if a.labels else None
        w, _ = load_weights(a.weights)
        r = evaluate(x, y, weights=w, data_dir=a.data)
    except (OSError, ValueError) as e:
        print('emoji_eval: %s' % e, file=sys.stderr)
        return 1
    print('n %d' % r['n'])
    print('fid %.3f' % (round(r['fid'], 3) + 0.0))   # no '-0.000'
    if 'class_accuracy' in r:
        print('class_accuracy %.4f' % r['class_accuracy'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
