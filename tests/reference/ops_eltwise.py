"""PyTorch fixtures for lib/ops/eltwise.c -> tests/fixtures/ops/eltwise.sdfx.

Run with Debian's PyTorch: /usr/bin/python3 tests/reference/ops_eltwise.py
For each case: inputs, the output, and the gradients of sum(out * R) for a
fixed random R (also stored).
"""
import os

import torch
import torch.nn.functional as F

import sdfx

torch.manual_seed(0)
out = {}


def case(name, fn, *shapes, scale=2.0):
    ins = [((torch.rand(s, dtype=torch.float64) * 2 - 1) * scale).requires_grad_() for s in shapes]
    y = fn(*ins)
    sdfx.record(out, name, ins, y)


case("silu", F.silu, (2, 3, 4, 5), scale=4.0)
case("gelu", F.gelu, (2, 3, 4, 5), scale=4.0)
case("add_same", torch.add, (2, 3, 4), (2, 3, 4))
case("add_bcast", torch.add, (2, 3, 4, 5), (1, 3, 1, 1))
case("add_bcast2", torch.add, (2, 1, 4), (3, 1))
case("mul_bcast", torch.mul, (2, 3, 4, 5), (2, 3, 1, 1))
case("affine", lambda x: 0.5 * x - 0.25, (3, 7))
case("mean", lambda x: x.mean().reshape(1), (3, 5, 7))
case("sum", lambda x: x.sum().reshape(1), (3, 5, 7))
case("mse", lambda a, b: F.mse_loss(a, b).reshape(1), (2, 3, 4, 4), (2, 3, 4, 4))

here = os.path.dirname(os.path.abspath(__file__))
sdfx.write(os.path.join(here, "..", "fixtures", "ops", "eltwise.sdfx"), out)
