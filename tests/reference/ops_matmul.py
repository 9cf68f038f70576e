"""PyTorch fixtures for lib/ops/matmul.c -> tests/fixtures/ops/matmul.sdfx.

Run with Debian's PyTorch from this directory:
    cd tests/reference && /usr/bin/python3 ops_matmul.py
For each case: inputs, the output, and the gradients of sum(out * R) for a
fixed random R (also stored). Inputs are rounded to float32 before the
float64 reference runs, so the C side sees exactly the values the reference
used (this matters for the large-magnitude softmax case, where float32
rounding of a 1000-sized input moves it by 6e-5).
"""
import math
import os

import torch
import torch.nn.functional as F

import sdfx

torch.manual_seed(0)
out = {}


def uniform(shape, scale):
    return (torch.rand(shape, dtype=torch.float64) * 2 - 1) * scale


def case(name, fn, *inputs):
    """inputs: float64 tensors (rounded to float32 here)."""
    ins = [t.float().double().requires_grad_() for t in inputs]
    y = fn(*ins)
    sdfx.record(out, name, ins, y)


# ---- linear: F.linear(x, w, b) -------------------------------------------
case("linear_2d", F.linear, uniform((6, 7), 1), uniform((5, 7), 1), uniform((5,), 1))
case("linear_3d", F.linear, uniform((2, 3, 7), 1), uniform((5, 7), 1), uniform((5,), 1))
case("linear_nobias", F.linear, uniform((2, 4, 7), 1), uniform((5, 7), 1))
case("linear_wide", F.linear, uniform((3, 11, 33), 1), uniform((70, 33), 0.5),
     uniform((70,), 1))
# The same w and b used twice: their gradients accumulate.
case("linear_twice", lambda x, w, b: F.linear(F.linear(x, w, b), w, b),
     uniform((3, 6), 1), uniform((6, 6), 1), uniform((6,), 1))

# ---- batched matmul: alpha * op(a) @ op(b) ---------------------------------
MM = []  # (name, B, trans_a, trans_b, alpha), mirrored in test_matmul.c
for B in (1, 3):
    for ta in (0, 1):
        for tb in (0, 1):
            alpha = 1.0 if (B, ta, tb) == (1, 0, 0) else (-1.25 if B == 3 else 0.5)
            MM.append((f"matmul_b{B}_t{ta}{tb}", B, ta, tb, alpha))
M_, K_, N_ = 4, 5, 3
for name, B, ta, tb, alpha in MM:
    a = uniform((B, K_, M_) if ta else (B, M_, K_), 1)
    b = uniform((B, N_, K_) if tb else (B, K_, N_), 1)

    def f(a, b, ta=ta, tb=tb, alpha=alpha):
        return alpha * torch.bmm(a.transpose(1, 2) if ta else a,
                                 b.transpose(1, 2) if tb else b)

    case(name, f, a, b)

# ---- softmax over the last dim ---------------------------------------------
sm = lambda x: F.softmax(x, -1)
case("softmax_2d", sm, uniform((4, 7), 3))
case("softmax_3d", sm, uniform((2, 3, 6), 3))
# Stability: exp of these overflows float32 without the max subtraction.
big = torch.stack([1000 + uniform((9,), 4), -1000 + uniform((9,), 4),
                   uniform((9,), 200), 3e4 + uniform((9,), 4)])
case("softmax_big", sm, big)


# ---- multi-head attention --------------------------------------------------
def attention(q, k, v, heads, lens=None):
    """lens: None, or per example the number of keys it attends to (the
    others masked: -inf scores)."""
    N, T, D = q.shape
    S = k.shape[1]
    dh = D // heads
    qh = q.view(N, T, heads, dh).transpose(1, 2)
    kh = k.view(N, S, heads, dh).transpose(1, 2)
    vh = v.view(N, S, heads, dh).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) / math.sqrt(dh)
    if lens is not None:
        keep = torch.arange(S)[None, :] < torch.tensor(lens)[:, None]  # (N, S)
        s = s.masked_fill(~keep[:, None, None, :], float("-inf"))
    P = torch.softmax(s, -1)
    return (P @ vh).transpose(1, 2).reshape(N, T, D)


# (name, N, T, S, D, heads), mirrored in test_matmul.c
ATT = [("attn_small", 2, 5, 5, 8, 2), ("attn_big", 2, 16, 16, 32, 4),
       ("attn_cross", 2, 3, 6, 8, 2), ("attn_onehead", 1, 4, 4, 6, 1),
       ("attn_batch5", 5, 4, 3, 8, 2)]
for name, N, T, S, D, H in ATT:
    case(name, lambda q, k, v, H=H: attention(q, k, v, H),
         uniform((N, T, D), 2), uniform((N, S, D), 2), uniform((N, S, D), 1))
# Self-attention with q = k = v the same tensor: three gradient paths sum.
case("attn_self", lambda x: attention(x, x, x, 2), uniform((2, 5, 8), 2))
# v's gradient already holds the residual's when attention's backward runs.
case("attn_residual", lambda q, k, v: attention(q, k, v, 2) + v,
     uniform((2, 5, 8), 2), uniform((2, 5, 8), 2), uniform((2, 5, 8), 1))



# Cross-attention with a key mask: example i attends to its first lens[i]
# keys (the masked keys' k and v get zero gradient). Mirrored in
# test_matmul.c (mask_lens).
MASK_LENS = [6, 2, 1]
case("attn_masked", lambda q, k, v: attention(q, k, v, 2, MASK_LENS),
     uniform((3, 4, 8), 2), uniform((3, 6, 8), 2), uniform((3, 6, 8), 1))

here = os.path.dirname(os.path.abspath(__file__))
sdfx.write(os.path.join(here, "..", "fixtures", "ops", "matmul.sdfx"), out)
