#!/usr/bin/python3
"""Train the emoji classifier behind scripts/eval/emoji_eval.py.

    nice -n 10 /usr/bin/python3 scripts/eval/train_emoji_classifier.py --data DATA \
        [--epochs 24] [--seed 0] [--out models/emoji-eval.safetensors]

DATA: the directory of `emoji_dataset.py DATA --size 64` (emoji64.npy,
emoji64-labels.npy, emoji64-names.txt: 3 655 RGB images, 9 Unicode
groups). Needs torch (Debian's /usr/bin/python3 has it); one thread,
deterministic.

A fixed stratified split is held out (emoji_eval.split: --holdout, 15% of
every group, drawn with --split-seed, in whole skin-tone families so that no
held-out image has a near-copy in the training set); the rest is trained on with random translations
of up to --shift pixels (the uncovered border filled with white, the
background of every emoji). No horizontal flips: many emoji are not mirror
symmetric (flags, letters, digits, arrows, clocks, keycaps) and a mirrored
emoji is not one the data set holds, so the features should not be blind to
it. Images are scaled v / 127.5 - 1 by emoji_eval.to_input, the same
function that prepares the samples. Writes F32 safetensors (atomic) with the
held-out accuracy in the metadata, then reloads the file and prints the
largest difference between the numpy forward pass of emoji_eval.py and
torch's on the held-out images.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emoji_eval as ee  # noqa: E402
from evalcore import write_safetensors  # noqa: E402
from train_fmnist_classifier import torch_eval  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        chans = [3] + [ee.LAYOUT[k + '.weight'][0] for k in ee.CONVS]
        for k, cin, cout in zip(ee.CONVS, chans[:-1], chans[1:]):
            setattr(self, k, nn.Conv2d(cin, cout, 3, padding=1))
        self.f1 = nn.Linear(*ee.LAYOUT['f1.weight'][::-1])
        self.f2 = nn.Linear(ee.FEATURES, ee.CLASSES)

    def forward(self, x):
        for k in ee.CONVS:
            x = F.max_pool2d(F.relu(getattr(self, k)(x)), 2)
        f = F.relu(self.f1(x.flatten(1)))
        return f, self.f2(f)


def shift_batch(x, rng, s):
    """Each image moved by (dy, dx) in [-s, s]^2, the border filled with white (+1)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)), constant_values=1.0)
    out = np.empty_like(x)
    d = rng.randint(0, 2 * s + 1, size=(n, 2))
    for i in range(n):
        out[i] = xp[i, :, d[i, 0]:d[i, 0] + h, d[i, 1]:d[i, 1] + w]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', required=True, metavar='DATA')
    ap.add_argument('--epochs', type=int, default=24)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--weight-decay', type=float, default=5e-4)
    ap.add_argument('--shift', type=int, default=4)
    ap.add_argument('--holdout', type=float, default=0.15)
    ap.add_argument('--split-seed', type=int, default=0)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', default=ee.DEFAULT_WEIGHTS)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.RandomState(a.seed)

    xu, y = ee.load_data(a.data)
    x = ee.to_input(xu)
    fam = ee.load_families(a.data, len(y))
    tr, ho = ee.split(y, fam, a.holdout, a.split_seed)
    xtr, ytr, xho, yho = x[tr], y[tr], x[ho], y[ho]
    print('%d images: %d trained on, %d held out (per group %s)'
          % (len(x), len(tr), len(ho), np.bincount(yho, minlength=ee.CLASSES).tolist()))

    net = Net()
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    per_epoch = len(xtr) // a.batch
    steps = a.epochs * per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps)
    t0 = time.time()
    for epoch in range(a.epochs):
        perm = rng.permutation(len(xtr))
        net.train()
        loss_sum, hits = 0.0, 0
        for i in range(per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            xb = shift_batch(xtr[idx], rng, a.shift) if a.shift else xtr[idx]
            yb = torch.from_numpy(ytr[idx])
            _, z = net(torch.from_numpy(xb))
            loss = F.cross_entropy(z, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item()
            hits += int((z.argmax(1) == yb).sum())
        net.eval()
        acc = float((torch_eval(net, xho, 200)[1].argmax(1) == yho).mean())
        print('epoch %d  loss %.4f  train accuracy %.4f  held-out accuracy %.4f  %.0f s'
              % (epoch + 1, loss_sum / per_epoch, hits / (per_epoch * a.batch), acc,
                 time.time() - t0), flush=True)

    feats_t, logits_t = torch_eval(net, xho, 200)
    acc = float((logits_t.argmax(1) == yho).mean())
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    write_safetensors(a.out, tensors, {
        'format': 'libsimdiff emoji-eval classifier',
        'heldout_accuracy': '%.4f' % acc,
        'heldout': '%d images: whole skin-tone families, %.0f%% of every group, split seed %d'
                   % (len(ho), 100 * a.holdout, a.split_seed),
        'epochs': a.epochs, 'batch': a.batch, 'lr': a.lr, 'weight_decay': a.weight_decay,
        'shift': a.shift, 'seed': a.seed,
        'trained_by': 'scripts/eval/train_emoji_classifier.py',
        'torch': torch.__version__,
    })

    w, meta = ee.load_weights(a.out)
    t1 = time.time()
    feats_n, logits_n = ee.forward(w, xho)
    t_np = time.time() - t1
    acc_n = float((logits_n.argmax(1) == yho).mean())
    print('wrote %s (%d bytes), held-out accuracy %s (torch) %.4f (numpy)'
          % (a.out, os.path.getsize(a.out), meta['heldout_accuracy'], acc_n))
    print('numpy vs torch on the %d held-out images: max |features| diff %.3g, '
          'max |logits| diff %.3g'
          % (len(ho), np.abs(feats_n - feats_t).max(), np.abs(logits_n - logits_t).max()))
    print('numpy forward pass: %.2f s per 200 images' % (t_np * 200 / len(ho)))
    print('training time %.0f s on %d thread(s)' % (time.time() - t0, a.threads))


if __name__ == '__main__':
    main()
