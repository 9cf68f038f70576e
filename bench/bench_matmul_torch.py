"""PyTorch 1.13 reference for bench/bench_matmul.c (same shapes, same flop
counts, same output format). Run: OMP_NUM_THREADS=2 /usr/bin/python3
bench/bench_matmul_torch.py [reps]. Debian's torch 1.13 runs F.linear and
bmm through OpenBLAS (BLAS_INFO=generic -> libopenblas0-openmp here).
"""
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def attention(q, k, v, heads):
    N, T, D = q.shape
    dh = D // heads
    qh = q.view(N, T, heads, dh).transpose(1, 2)
    kh = k.view(N, T, heads, dh).transpose(1, 2)
    vh = v.view(N, T, heads, dh).transpose(1, 2)
    P = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(dh), -1)
    return (P @ vh).transpose(1, 2).reshape(N, T, D)


def bench(name, make, fn, ffl):
    ins = make()
    tf, tb, cf, cb = [], [], [], []
    for r in range(reps + 1):  # r = 0: warm-up
        with torch.no_grad():
            c0, t0 = time.process_time(), time.perf_counter()
            fn(*ins)
            t1, c1 = time.perf_counter(), time.process_time()
        xs = [t.detach().requires_grad_() for t in ins]
        y = fn(*xs)
        dy = torch.rand_like(y) - 0.5
        c2, t2 = time.process_time(), time.perf_counter()
        y.backward(dy)
        t3, c3 = time.perf_counter(), time.process_time()
        if r:
            tf.append(t1 - t0)
            tb.append(t3 - t2)
            cf.append(c1 - c0)
            cb.append(c3 - c2)
    for p, t, k, fl in (("fwd", tf, cf, ffl), ("bwd", tb, cb, 2 * ffl)):
        m, mc = statistics.median(t), statistics.median(k)
        print(f"torch   {name:22s} {p} {m*1e3:8.2f} ms {fl/m*1e-9:7.1f} GFLOP/s  "
              f"cpu {mc*1e3:8.2f} ms {fl/mc*1e-9:7.1f} GFLOP/cpu-s")
    sys.stdout.flush()


bench("matmul_2048_square", lambda: (torch.rand(1, 2048, 2048), torch.rand(1, 2048, 2048)),
      torch.bmm, 2.0 * 2048 ** 3)
for T in (64, 256):
    M = 64 * T
    bench(f"linear_256x1024_M{M}",
          lambda: (torch.rand(M, 256) - 0.5, (torch.rand(1024, 256) - 0.5) * 0.1,
                   (torch.rand(1024) - 0.5) * 0.1),
          F.linear, 2.0 * M * 256 * 1024)
for T in (64, 256):
    bench(f"attn_T{T}_D256_h4_N64",
          lambda: tuple(torch.rand(64, T, 256) - 0.5 for _ in range(3)),
          lambda q, k, v: attention(q, k, v, 4), 4.0 * 64 * T * T * 256)
