#!/usr/bin/python3
"""Train the Fashion-MNIST classifier behind scripts/eval/fmnist_eval.py.

    nice -n 10 /usr/bin/python3 scripts/eval/train_fmnist_classifier.py \
        [--epochs 4] [--seed 0] [--out models/fmnist-eval.safetensors]

Needs torch (Debian's /usr/bin/python3 has it); one thread, deterministic.
Data: the 60 000 training images, padded to 32 x 32 with -1 and scaled to
[-1, 1] exactly as libsimdiff's training batches (--pad 32), with random
horizontal flips (the diffusion models are trained with them). Writes F32
safetensors (standard library writer, atomic) with the test accuracy in the
metadata, then reloads the file, runs the numpy forward pass of
fmnist_eval.py on the test set and prints its largest difference from torch.
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
import fmnist_eval as fe  # noqa: E402
from evalcore import write_safetensors  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 64, 3, padding=1)
        self.f1 = nn.Linear(1024, fe.FEATURES)
        self.f2 = nn.Linear(fe.FEATURES, fe.CLASSES)

    def forward(self, x):
        for c in (self.c1, self.c2, self.c3):
            x = F.max_pool2d(F.relu(c(x)), 2)
        f = F.relu(self.f1(x.flatten(1)))
        return f, self.f2(f)


def torch_eval(net, x, batch=1000):
    """(features, logits) of a network returning both, without gradients."""
    feats, logits = [], []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            f, z = net(torch.from_numpy(x[i:i + batch]))
            feats.append(f.numpy())
            logits.append(z.numpy())
    return np.concatenate(feats), np.concatenate(logits)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--data-dir', default=fe.DEFAULT_DATA)
    ap.add_argument('--out', default=fe.DEFAULT_WEIGHTS)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.RandomState(a.seed)

    xu, ytr = fe.load_fmnist('train', a.data_dir)
    xtr = fe.to_input(xu)
    xte = fe.to_input(fe.load_fmnist('t10k', a.data_dir)[0])
    yte = fe.load_fmnist('t10k', a.data_dir)[1]

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    steps = a.epochs * (len(xtr) // a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps)
    t0 = time.time()
    step = 0
    for epoch in range(a.epochs):
        perm = rng.permutation(len(xtr))
        flips = rng.rand(len(xtr)) < 0.5
        net.train()
        loss_sum = 0.0
        for i in range(len(xtr) // a.batch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            xb = xtr[idx].copy()
            fl = flips[idx]
            xb[fl] = xb[fl][..., ::-1]
            _, z = net(torch.from_numpy(xb))
            loss = F.cross_entropy(z, torch.from_numpy(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += loss.item()
            if step % 100 == 0:
                print('step %d/%d  loss %.4f  %.0f s' % (step, steps, loss.item(), time.time() - t0),
                      flush=True)
        net.eval()
        acc = float((torch_eval(net, xte)[1].argmax(1) == yte).mean())
        print('epoch %d  loss %.4f  test accuracy %.4f  %.0f s'
              % (epoch + 1, loss_sum / (len(xtr) // a.batch), acc, time.time() - t0), flush=True)

    feats_t, logits_t = torch_eval(net, xte)
    acc = float((logits_t.argmax(1) == yte).mean())
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    write_safetensors(a.out, tensors, {
        'format': 'libsimdiff fmnist-eval classifier',
        'test_accuracy': '%.4f' % acc,
        'epochs': a.epochs, 'batch': a.batch, 'lr': a.lr, 'seed': a.seed,
        'trained_by': 'scripts/eval/train_fmnist_classifier.py',
        'torch': torch.__version__,
    })

    w, meta = fe.load_weights(a.out)
    feats_n, logits_n = fe.forward(w, xte)
    acc_n = float((logits_n.argmax(1) == yte).mean())
    print('wrote %s (%d bytes), test accuracy %s (torch) %.4f (numpy)'
          % (a.out, os.path.getsize(a.out), meta['test_accuracy'], acc_n))
    print('numpy vs torch on the 10 000 test images: max |features| diff %.3g, '
          'max |logits| diff %.3g'
          % (np.abs(feats_n - feats_t).max(), np.abs(logits_n - logits_t).max()))
    print('training time %.0f s on %d thread(s)' % (time.time() - t0, a.threads))


if __name__ == '__main__':
    main()
