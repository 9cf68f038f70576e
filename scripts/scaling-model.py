#!/usr/bin/env python3
"""Scaling efficiency of data-parallel training with a ring all-reduce
(docs/distributed.md). Standard library only.

Per step every node computes its part of the batch (t_comp = per-node batch /
one node's images/s, measured), then the gradient (P floats, 4 bytes each)
is all-reduced. A ring all-reduce over N nodes sends and receives
2 (N-1)/N x S bytes per node in 2 (N-1) hops:
    t_comm = 2 (N-1)/N x S / (eta x link) + 2 (N-1) x alpha
(eta: the fraction of the line rate a ring reaches, alpha: per-hop latency).
simdiff-train reduces after the backward pass (no overlap), so
    efficiency = t_comp / (t_comp + t_comm)      (weak scaling: batch per node fixed)

usage: scaling-model.py PARAMS IMAGES_PER_S PER_NODE_BATCH [--eta 0.8]
                        [--alpha-us 20] [--bytes 4]
"""
import argparse


def t_comm(params, nbytes, n, gbit, eta, alpha):
    s = params * nbytes
    return 2 * (n - 1) / n * s / (eta * gbit * 1e9 / 8) + 2 * (n - 1) * alpha


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("params", type=float)
    ap.add_argument("images_per_s", type=float, help="one node's training images/s")
    ap.add_argument("batch", type=float, help="images per node per step")
    ap.add_argument("--eta", type=float, default=0.8)
    ap.add_argument("--alpha-us", type=float, default=20.0)
    ap.add_argument("--bytes", type=int, default=4, help="bytes per gradient value")
    a = ap.parse_args()
    tc = a.batch / a.images_per_s
    s = a.params * a.bytes
    print(f"gradient {s / 1e6:.1f} MB per step; compute {tc * 1e3:.0f} ms per step "
          f"({a.batch:g} images at {a.images_per_s:g} images/s per node); "
          f"eta {a.eta}, alpha {a.alpha_us} us")
    nodes = [2, 4, 8, 16, 32, 64]
    print("| link | " + " | ".join(f"{n} nodes" for n in nodes) + " |")
    print("|---|" + "---|" * len(nodes))
    for gbit in (10, 25, 100):
        cells = []
        for n in nodes:
            tm = t_comm(a.params, a.bytes, n, gbit, a.eta, a.alpha_us * 1e-6)
            cells.append(f"{100 * tc / (tc + tm):.0f}% ({tm * 1e3:.0f} ms)")
        print(f"| {gbit} Gb/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
