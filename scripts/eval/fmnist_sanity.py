#!/usr/bin/env python3
"""Reference points of scripts/eval/fmnist_eval.py (docs/evaluation.md).

    python3 scripts/eval/fmnist_sanity.py [--seed 0]

Scores real and damaged Fashion-MNIST images against the 10 000 test images,
as the evaluator scores samples: the classifier's test accuracy, a random
subset of the training images (N = 10 000 and N = 2 000, the floor at those
N), and damaged copies of the same 10 000 training images. numpy only.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_eval as fe  # noqa: E402


def down_up(x):
    """2x2 average pooling, then nearest-neighbour upsampling (32 -> 16 -> 32)."""
    n, c, h, w = x.shape
    m = x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return np.repeat(np.repeat(m, 2, axis=2), 2, axis=3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--data-dir', default=fe.DEFAULT_DATA)
    ap.add_argument('--save', metavar='DIR',
                    help='also write each set as DIR/setK.npy + DIR/setK-labels.npy')
    a = ap.parse_args()
    rng = np.random.RandomState(a.seed)

    w, meta = fe.load_weights()
    xte_u8, yte = fe.load_fmnist('t10k', a.data_dir)
    ref, logits = fe.forward(w, fe.to_input(xte_u8))
    print('classifier test accuracy %.4f (numpy; metadata says %s)'
          % (np.mean(logits.argmax(1) == yte), meta.get('test_accuracy')))

    xtr_u8, ytr = fe.load_fmnist('train', a.data_dir)
    pick = rng.choice(len(xtr_u8), 10000, replace=False)
    real = fe.to_input(xtr_u8[pick])
    labels = ytr[pick]
    pad = np.zeros_like(real, dtype=bool)
    pad[:, :, :2] = pad[:, :, -2:] = pad[:, :, :, :2] = pad[:, :, :, -2:] = True
    noisy = np.clip(real + 0.1 * rng.randn(*real.shape).astype(np.float32), -1, 1)
    sets = [
        ('training images', real),
        ('training images, first 2 000 of them', real[:2000]),
        ('training images, 2x downsampled and upsampled', down_up(real)),
        ('training images + noise sigma = 0.1', noisy),
        ('training images, 4 grey levels',
         np.round((real + 1) * 1.5) / 1.5 - 1),
        ('Gaussian noise (sigma 0.5) inside the 28 x 28 area',
         np.where(pad, -1.0, np.clip(0.5 * rng.randn(*real.shape), -1, 1)).astype(np.float32)),
    ]
    print('| images | N | FID | class accuracy |')
    print('|---|---|---|---|')
    for k, (name, x) in enumerate(sets):
        if a.save:
            np.save(os.path.join(a.save, 'set%d.npy' % k), x.astype(np.float32))
            np.save(os.path.join(a.save, 'set%d-labels.npy' % k),
                    labels[:len(x)].astype(np.float32))
        f, z = fe.forward(w, x.astype(np.float32))
        acc = np.mean(z.argmax(1) == labels[:len(x)])
        print('| %s | %d | %.2f | %.3f |' % (name, len(x), fe.fid(f, ref), acc), flush=True)


if __name__ == '__main__':
    main()
