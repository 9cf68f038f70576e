#!/usr/bin/env python3
"""Which way the samples face, class by class, against the training data.

    python3 scripts/eval/mirror_check.py SAMPLES.npy LABELS.npy
    python3 scripts/eval/mirror_check.py SAMPLES.npy LABELS.npy \\
        --data DATA/emoji128.npy --data-labels DATA/emoji128-labels.npy

SAMPLES, LABELS: what `simdiff-sample --npy … --labels-npy …` writes
(float32 N x C x H x W in [-1, 1], the class asked for). The training data:
Fashion-MNIST (default, /usr/share/datasets/fashion-mnist, padded to 32 x 32
as `simdiff-train --pad 32` does) or an NPY data set (uint8 N x H x W x C,
its labels uint8 N).

For each class it prints the share of images nearer (in L2) to the mirror
image of the class's mean training image than to the mean itself, for the
samples and for the training images. A class whose training images all face
one way (Fashion-MNIST's shoes: 0.00) but whose samples are near 0.5 was
trained with random horizontal flips that the data does not have
(docs/training.md, row F). numpy only.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_eval  # noqa: E402


def mirrored_share(images, mean):
    """Share of images (N x C x H x W) nearer to mean[..., ::-1] than to mean."""
    d0 = ((images - mean) ** 2).reshape(len(images), -1).sum(1)
    d1 = ((images - mean[..., ::-1]) ** 2).reshape(len(images), -1).sum(1)
    return float((d1 < d0).mean()) if len(images) else float('nan')


def per_class(samples, labels, data, data_labels):
    """[(class, n samples, samples' share, training images' share)]."""
    rows = []
    for k in range(int(data_labels.max()) + 1):
        real = data[data_labels == k]
        mean = real.astype(np.float64).mean(0)
        s = samples[labels == k]
        rows.append((k, len(s), mirrored_share(s, mean), mirrored_share(real, mean)))
    return rows


def load_data(args):
    """Training images as float32 N x C x H x W in [-1, 1], and labels."""
    if args.data:
        x = np.load(args.data)
        y = np.load(args.data_labels).astype(np.int64).ravel()
        if x.dtype != np.uint8 or x.ndim not in (3, 4) or len(y) != len(x):
            raise ValueError('%s: expected uint8 N x H x W [x C] with %s holding N labels'
                             % (args.data, args.data_labels))
        if x.ndim == 3:
            x = x[..., None]
        return x.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0, y
    x, y = fmnist_eval.load_fmnist('train', args.data_dir)
    return fmnist_eval.to_input(x), y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('samples')
    ap.add_argument('labels')
    ap.add_argument('--data', help='an NPY data set (uint8 N x H x W x C)')
    ap.add_argument('--data-labels', help='its labels (with --data)')
    ap.add_argument('--data-dir', default=fmnist_eval.DEFAULT_DATA, help='Fashion-MNIST IDX files')
    args = ap.parse_args(argv)
    if bool(args.data) != bool(args.data_labels):
        ap.error('--data and --data-labels go together')
    data, data_labels = load_data(args)
    s = np.load(args.samples).astype(np.float32)
    if s.ndim == 3:
        s = s[:, None]
    labels = np.load(args.labels).astype(np.int64).ravel()
    if s.shape[1:] != data.shape[1:] or len(labels) != len(s):
        sys.exit('mirror_check: samples %s with %d labels do not match the data %s'
                 % (s.shape, len(labels), data.shape[1:]))
    print('class  n  mirrored: samples  training images')
    for k, n, ms, mr in per_class(s, labels, data, data_labels):
        print('%5d %4d           %.2f             %.2f' % (k, n, ms, mr))
    return 0


if __name__ == '__main__':
    sys.exit(main())
