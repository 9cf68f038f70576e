#!/usr/bin/env python3
"""Reference points of scripts/eval/emoji_eval.py (docs/evaluation.md).

    python3 scripts/eval/emoji_sanity.py --data DATA [--seed 0] [--save DIR] [--weights W]

Scores real and damaged emoji images against the whole data set, as the
evaluator scores samples: a random 2 000 of the 3 655 images with their
labels (and random 450 and all 3 655, the floor at those N), and damaged
copies of the same 2 000 (all damage done at 64 x 64, in [-1, 1]):
  2x / 4x down and up   area average over 2 x 2 / 4 x 4 blocks, each block
                        repeated (nearest-neighbour upsampling)
  noise                 + N(0, 0.1^2) per value, clipped to [-1, 1]
  8 levels              each channel rounded to 8 levels of [0, 1]
  blur                  Gaussian, sigma 2 px (13 taps, edges repeated)
  labels shuffled       the real images, their labels permuted
  uniform noise         U(-1, 1) images (chance level)
--save DIR writes every set as DIR/setK.npy (float32 N x 3 x 64 x 64 in
[-1, 1], as simdiff-sample writes) and DIR/setK-labels.npy, so another
scorer can read the same images. numpy only.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emoji_eval as ee  # noqa: E402


def down_up(x, f):
    """f x f area average, then each block repeated (N, 3, S, S) -> same shape."""
    n, c, h, w = x.shape
    m = x.reshape(n, c, h // f, f, w // f, f).mean(axis=(3, 5))
    return np.repeat(np.repeat(m, f, axis=2), f, axis=3)


def levels(x, k):
    """Each value of [-1, 1] rounded to k levels of [0, 1]."""
    return np.round((x + 1) / 2 * (k - 1)) / (k - 1) * 2 - 1


def gaussian_blur(x, sigma):
    """Separable Gaussian blur of (N, C, H, W), taps out to 3 sigma, edges repeated."""
    r = int(np.ceil(3 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-t * t / (2 * sigma * sigma))
    k /= k.sum()
    h, w = x.shape[2], x.shape[3]
    p = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (r, r), (r, r)), mode='edge')
    p = sum(k[i] * p[:, :, i:i + h, :] for i in range(2 * r + 1))
    p = sum(k[i] * p[:, :, :, i:i + w] for i in range(2 * r + 1))
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', required=True, metavar='DATA')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--weights', default=ee.DEFAULT_WEIGHTS)
    ap.add_argument('--save', metavar='DIR',
                    help='also write each set as DIR/setK.npy + DIR/setK-labels.npy')
    a = ap.parse_args()
    rng = np.random.RandomState(a.seed)

    w, meta = ee.load_weights(a.weights)
    xu8, y = ee.load_data(a.data)
    x_all = ee.to_input(xu8)
    ref, logits = ee.forward(w, x_all)
    _, ho = ee.split(y, ee.load_families(a.data, len(y)))
    print('classifier held-out accuracy %.4f (numpy; metadata says %s)'
          % (np.mean(logits[ho].argmax(1) == y[ho]), meta.get('heldout_accuracy')))

    pick = rng.choice(len(x_all), 2000, replace=False)
    real, lab = x_all[pick], y[pick]
    small = rng.choice(len(x_all), 450, replace=False)
    noisy = np.clip(real + 0.1 * rng.randn(*real.shape), -1, 1)
    sets = [
        ('real images', real, lab),
        ('real images', x_all[small], y[small]),
        ('real images (the whole data set)', x_all, y),
        ('2x down and up', down_up(real, 2), lab),
        ('4x down and up', down_up(real, 4), lab),
        ('noise sigma = 0.1', noisy, lab),
        ('8 levels per channel', levels(real, 8), lab),
        ('Gaussian blur, sigma 2 px', gaussian_blur(real, 2.0), lab),
        ('real images, labels shuffled', real, rng.permutation(lab)),
        ('uniform noise', rng.uniform(-1, 1, real.shape), lab),
    ]
    print('| images | N | FID | class accuracy |')
    print('|---|---|---|---|')
    for k, (name, x, lb) in enumerate(sets):
        x = x.astype(np.float32)
        if a.save:
            np.save(os.path.join(a.save, 'set%d.npy' % k), x)
            np.save(os.path.join(a.save, 'set%d-labels.npy' % k), lb.astype(np.float32))
        r = ee.evaluate(x, lb, ref_features=ref, weights=w)
        print('| %s | %d | %.2f | %.3f |' % (name, r['n'], round(r['fid'], 2) + 0.0,
                                            r['class_accuracy']),
              flush=True)


if __name__ == '__main__':
    main()
