"""Fixture for tests/eval/test_emoji_eval.py -> tests/fixtures/eval/emoji-eval-forward.npz.

Run with Debian's Python (numpy + torch), after training the classifier:
    /usr/bin/python3 tests/reference/make_emoji_eval_fixture.py

The features (128-d penultimate layer) and logits of the shipped emoji
classifier (models/emoji-eval.safetensors) on a few deterministic inputs,
computed by torch's own convolution, pooling and linear ops (not by
scripts/eval/emoji_eval.py's numpy forward pass, which the test checks
against them on machines without torch). The inputs are a closed formula
(inputs() below, which the test imports: torch is imported by main() only),
so the fixture holds no images; the SHA-256 of the weight file is stored so
that a retrained classifier makes the test fail until the fixture is
regenerated.
"""
import hashlib
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'eval'))
import emoji_eval as ee  # noqa: E402  (only to read and check the weight file)

OUT = os.path.join(ROOT, 'tests', 'fixtures', 'eval', 'emoji-eval-forward.npz')


def inputs():
    """(6, 3, 64, 64) float32 in [-1, 1]: white, black, a white-background disc
    of colour, stripes, a checkerboard and a smooth colour field."""
    i = np.arange(64, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    x = np.ones((6, 3, 64, 64))
    x[1] = -1.0
    disc = (i - 30.5) ** 2 + (j - 34.5) ** 2 < 20.0 ** 2
    for c, v in enumerate((0.9, -0.2, -0.8)):
        x[2, c][disc] = v
    x[3] = np.where((j // 4) % 2 == 0, 1.0, -0.5)
    x[4] = np.where(((i // 8) + (j // 8)) % 2 == 0, 0.8, -0.9)
    for c in range(3):
        x[5, c] = np.sin(0.11 * (c + 1) * i + 0.07 * j + c) * np.cos(0.05 * j - 0.13 * i)
    return x.astype(np.float32)


def main():
    import torch
    import torch.nn.functional as F

    w, meta = ee.load_weights(ee.DEFAULT_WEIGHTS)
    with open(ee.DEFAULT_WEIGHTS, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    t = {k: torch.from_numpy(v).double() for k, v in w.items()}
    h = torch.from_numpy(inputs()).double()
    for k in ee.CONVS:
        h = F.max_pool2d(F.relu(F.conv2d(h, t[k + '.weight'], t[k + '.bias'], padding=1)), 2)
    f = F.relu(F.linear(h.flatten(1), t['f1.weight'], t['f1.bias']))
    z = F.linear(f, t['f2.weight'], t['f2.bias'])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    np.savez(OUT, features=f.numpy().astype(np.float32), logits=z.numpy().astype(np.float32),
             weights_sha256=np.array(sha))
    print('wrote %s: features %s, logits %s, argmax %s (weights %s, torch %s, float64)'
          % (OUT, tuple(f.shape), tuple(z.shape), z.argmax(1).tolist(), sha[:12],
             torch.__version__))


if __name__ == '__main__':
    main()
