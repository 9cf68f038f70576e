"""PyTorch fixtures for lib/ops/conv.c -> tests/fixtures/ops/conv.sdfx.

Run with Debian's PyTorch: cd tests/reference && /usr/bin/python3 ops_conv.py
For each case: inputs (x, w[, b]), the output, and the gradients of
sum(out * R) for a fixed random R (also stored). Inputs are rounded to
float32 first, then everything is computed in float64.
The case list must match `cases` in tests/ops/test_conv.c.
"""
import os

import torch
import torch.nn.functional as F

import sdfx

torch.manual_seed(0)
out = {}


def rnd(shape, scale=1.0):
    t = (torch.rand(shape, dtype=torch.float64) * 2 - 1) * scale
    return t.float().double().requires_grad_()


def case(name, transposed, x, w, b, stride, pad):
    ins = [rnd(x), rnd(w, 0.5)] + ([rnd(b)] if b else [])
    fn = F.conv_transpose2d if transposed else F.conv2d
    y = fn(ins[0], ins[1], ins[2] if b else None, stride=stride, padding=pad)
    sdfx.record(out, name, ins, y)


# name, transposed, x (N,Ci,H,W), w, b, stride, pad
case("k3s1p1_bias", 0, (3, 3, 6, 5), (5, 3, 3, 3), (5,), 1, 1)
case("k3s1p1_nobias", 0, (1, 4, 5, 5), (6, 4, 3, 3), None, 1, 1)
case("k3s1p1_c16", 0, (2, 16, 6, 6), (32, 16, 3, 3), (32,), 1, 1)
case("k3s1p1_c16_nobias", 0, (3, 16, 5, 5), (16, 16, 3, 3), None, 1, 1)
case("k1p0_bias", 0, (3, 5, 4, 4), (7, 5, 1, 1), (7,), 1, 0)
case("k1p0_c16", 0, (1, 32, 4, 4), (16, 32, 1, 1), (16,), 1, 0)
case("k2s2_stem", 0, (1, 3, 8, 8), (20, 3, 2, 2), (20,), 2, 0)
case("k2s2_stem_b3", 0, (3, 3, 6, 4), (16, 3, 2, 2), None, 2, 0)
case("k3s2p1", 0, (3, 4, 7, 7), (5, 4, 3, 3), (5,), 2, 1)
case("k3s2p1_c16", 0, (1, 16, 8, 8), (16, 16, 3, 3), None, 2, 1)
case("k3s2p0_rem", 0, (1, 2, 6, 7), (3, 2, 3, 3), (3,), 2, 0)
case("t2s2_unstem", 1, (2, 8, 3, 3), (8, 3, 2, 2), (3,), 2, 0)
case("t2s2_unstem_c16", 1, (1, 32, 3, 2), (32, 12, 2, 2), (12,), 2, 0)
case("t4s2p1", 1, (1, 5, 4, 4), (5, 6, 4, 4), (6,), 2, 1)
case("t4s2p1_c16", 1, (3, 16, 3, 3), (16, 16, 4, 4), None, 2, 1)
case("t3s1p1", 1, (1, 4, 5, 3), (4, 3, 3, 3), (3,), 1, 1)


# ---- sd_conv2d_fused: act(conv2d(x, w, b)) + r ----
# name, x, w, b, stride, pad, act, residual. Inputs: x, w[, b][, r]. After
# the cases above, so their random draws do not change. Must match `fcases`
# in tests/ops/test_conv.c.
ACTS = {"none": lambda t: t, "silu": F.silu, "gelu": F.gelu}


def fused(name, x, w, b, stride, pad, act, resid):
    ins = [rnd(x), rnd(w, 0.5)] + ([rnd(b)] if b else [])
    y = ACTS[act](F.conv2d(ins[0], ins[1], ins[2] if b else None, stride=stride,
                           padding=pad))
    if resid:
        r = rnd(y.shape)
        ins.append(r)
        y = y + r
    sdfx.record(out, name, ins, y)


fused("f_sum_k3", (2, 16, 6, 6), (16, 16, 3, 3), (16,), 1, 1, "none", True)  # ResBlock conv2
fused("f_sum_k3_c5", (3, 4, 5, 5), (5, 4, 3, 3), None, 1, 1, "none", True)
fused("f_sum_k1", (2, 32, 4, 4), (16, 32, 1, 1), (16,), 1, 0, "none", True)
fused("f_silu_k3", (2, 16, 6, 6), (32, 16, 3, 3), (32,), 1, 1, "silu", False)
fused("f_gelu_k1", (3, 5, 4, 4), (7, 5, 1, 1), (7,), 1, 0, "gelu", False)
fused("f_silu_sum_s2", (1, 16, 8, 8), (16, 16, 3, 3), (16,), 2, 1, "silu", True)

here = os.path.dirname(os.path.abspath(__file__))
sdfx.write(os.path.join(here, "..", "fixtures", "ops", "conv.sdfx"), out)
