"""PyTorch fixtures for lib/ops/norm.c -> tests/fixtures/ops/norm.sdfx.

Run with Debian's PyTorch from this directory:
    /usr/bin/python3 ops_norm.py
References are computed in float64 and stored as float32. For each small
case: inputs in0.. (x, then gamma/beta and/or scale/shift as present), the
output, the fixed random R and the gradients of sum(out * R). The case
tables in tests/ops/test_norm.c must list the same names, inputs and params.

The "gnbig_*" cases check accuracy on long normalized axes (C/G*H*W up to
65536). Their inputs are not stored: both sides generate them with
hashu() below (splitmix64, exact in float32), and only every STRIDE-th
element of out and dx is stored, plus the full dgamma and dbeta.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import sdfx

torch.manual_seed(0)
out = {}


def rand(shape, lo=-2.0, hi=2.0):
    return (torch.rand(shape, dtype=torch.float64) * (hi - lo) + lo).requires_grad_()


def record(name, ins, y):
    sdfx.record(out, name, ins, y)


# ---- group norm: (name, x shape, groups, affine "gb"/"g"/"b"/"", eps) ----
GN = [
    ("gn_g1", (2, 8, 5, 7), 1, "gb", 1e-5),
    ("gn_gc", (2, 8, 5, 7), 8, "gb", 1e-5),
    ("gn_g4", (2, 8, 5, 7), 4, "gb", 1e-5),
    ("gn_g4_plain", (2, 8, 5, 7), 4, "", 1e-5),
    ("gn_g4_gamma", (2, 8, 5, 7), 4, "g", 1e-5),
    ("gn_3d", (2, 8, 9), 4, "gb", 1e-5),
    ("gn_3d_beta", (3, 6, 4), 2, "b", 1e-5),
    ("gn_eps", (2, 4, 3, 3), 2, "gb", 0.5),
]
for name, shape, g, aff, eps in GN:
    x = rand(shape)
    # gamma around 1 like a trained model, but far enough to matter
    gamma = rand((shape[1],), 0.2, 1.8) if "g" in aff else None
    beta = rand((shape[1],), -1.0, 1.0) if "b" in aff else None
    ins = [t for t in (x, gamma, beta) if t is not None]
    # torch 1.13's group_norm backward fails ("tensor does not have a
    # device") with an undefined weight or bias: pass constant ones/zeros,
    # which is the same function.
    ones = torch.ones(shape[1], dtype=torch.float64)
    zeros = torch.zeros(shape[1], dtype=torch.float64)
    record(name, ins, F.group_norm(x, g, gamma if gamma is not None else ones,
                                   beta if beta is not None else zeros, eps))

# ---- layer norm: (name, x shape, affine, eps) ----
LN = [
    ("ln_d7", (3, 7), "gb", 1e-5),
    ("ln_d64", (4, 64), "gb", 1e-5),
    ("ln_tokens", (2, 5, 16), "gb", 1e-5),
    ("ln_tokens_plain", (2, 5, 16), "", 1e-5),
    ("ln_gamma", (3, 7), "g", 1e-5),
    ("ln_beta", (2, 3, 8), "b", 1e-5),
    ("ln_eps", (4, 6), "gb", 0.5),
]
for name, shape, aff, eps in LN:
    x = rand(shape)
    d = shape[-1]
    gamma = rand((d,), 0.2, 1.8) if "g" in aff else None
    beta = rand((d,), -1.0, 1.0) if "b" in aff else None
    ins = [t for t in (x, gamma, beta) if t is not None]
    record(name, ins, F.layer_norm(x, (d,), gamma, beta, eps))

# ---- modulate: (name, x shape, axis, with shift) ----
MOD = [
    ("mod_ax1", (2, 6, 3, 4), 1, True),
    ("mod_ax1_noshift", (2, 6, 3, 4), 1, False),
    ("mod_ax2", (2, 5, 6), 2, True),
    ("mod_ax2_noshift", (2, 5, 6), 2, False),
    ("mod_2d", (2, 6), 1, True),
    ("mod_3d_ax1", (2, 6, 9), 1, True),
    ("mod_4d_ax2", (2, 3, 4, 5), 2, True),
]
for name, shape, axis, with_shift in MOD:
    x = rand(shape)
    n, ch = shape[0], shape[axis]
    scale = rand((n, ch), -1.0, 1.0)
    shift = rand((n, ch), -1.0, 1.0) if with_shift else None
    bshape = [n] + [1] * (len(shape) - 1)
    bshape[axis] = ch
    y = x * (1 + scale.reshape(bshape))
    if shift is not None:
        y = y + shift.reshape(bshape)
    ins = [t for t in (x, scale, shift) if t is not None]
    record(name, ins, y)


# ---- big-axis accuracy cases ----
M64 = (1 << 64) - 1


def hashu(seed, n):
    """u in [0,1) (24 bits, exact in float32) for i in [0,n): splitmix64 of
    (seed << 32) ^ i, top 24 bits. Same as hashu() in test_norm.c."""
    z = (np.uint64(seed) << np.uint64(32)) ^ np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def hashval(seed, n, off, amp):
    # off + amp*(2u-1) in double, rounded to float32 (the C side does the same)
    return (off + amp * (2.0 * hashu(seed, n) - 1.0)).astype(np.float32)


STRIDE = 97
# (name, shape, groups, x offset, x amplitude)
BIG = [
    ("gnbig_a", (2, 64, 32, 32), 32, 0.5, 2.0),   # axis 2*1024  = 2048
    ("gnbig_b", (2, 128, 64, 64), 32, 0.5, 2.0),  # axis 4*4096  = 16384
    ("gnbig_c", (1, 128, 64, 64), 8, 3.0, 1.0),   # axis 16*4096 = 65536, mean 3
]
for name, shape, g, off, amp in BIG:
    n = int(np.prod(shape))
    ch = shape[1]
    x32 = hashval(1, n, off, amp).reshape(shape)
    g32 = hashval(2, ch, 1.0, 0.5)
    b32 = hashval(3, ch, 0.0, 0.5)
    R32 = hashval(4, n, 0.0, 1.0).reshape(shape)
    x = torch.from_numpy(x32).double().requires_grad_()
    gamma = torch.from_numpy(g32).double().requires_grad_()
    beta = torch.from_numpy(b32).double().requires_grad_()
    y = F.group_norm(x, g, gamma, beta, 1e-5)
    (y * torch.from_numpy(R32).double()).sum().backward()
    out[f"{name}.out_sub"] = y.detach().reshape(-1)[::STRIDE]
    out[f"{name}.dx_sub"] = x.grad.reshape(-1)[::STRIDE]
    out[f"{name}.dgamma"] = gamma.grad
    out[f"{name}.dbeta"] = beta.grad
    # For the report: how far is PyTorch's own float32 from float64?
    xf = torch.from_numpy(x32).requires_grad_()
    gf = torch.from_numpy(g32).requires_grad_()
    bf = torch.from_numpy(b32).requires_grad_()
    yf = F.group_norm(xf, g, gf, bf, 1e-5)
    (yf * torch.from_numpy(R32)).sum().backward()

    def rel(a, b):
        return float((a.double() - b).abs().max() / b.abs().max())

    print(f"{name}: torch float32 vs float64 rel err: out {rel(yf.detach(), y.detach()):.2e}"
          f" dx {rel(xf.grad, x.grad):.2e} dgamma {rel(gf.grad, gamma.grad):.2e}"
          f" dbeta {rel(bf.grad, beta.grad):.2e}")

# sanity check of hashu against a plain-Python splitmix64
def splitmix_ref(seed, i):
    z = (((seed << 32) ^ i) + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return (z >> 40) / float(1 << 24)


assert all(hashu(7, 5)[i] == splitmix_ref(7, i) for i in range(5))
out["hash_check"] = hashu(7, 5)


# ---- group norm + modulation + activation in one op (sd_group_norm_act) ----
# (name, x shape, groups, affine "gb"/"g"/"b"/"", modulation "st"/"s"/"t"/"",
# act). Inputs: x, gamma, beta, scale, shift (those present, in this order).
# These come after every earlier case, so the earlier arrays keep their
# random draws.
GNA = [
    ("gna_affine_silu", (2, 8, 5, 7), 4, "gb", "", "silu"),   # ResBlock norm1, output norm
    ("gna_mod_silu", (2, 8, 5, 7), 4, "", "st", "silu"),      # ResBlock norm2
    ("gna_all_silu", (3, 6, 4, 4), 3, "gb", "st", "silu"),
    ("gna_gc_silu", (2, 6, 3, 5), 6, "g", "s", "silu"),       # one channel per group
    ("gna_mod_none", (2, 8, 6), 2, "b", "t", "none"),         # 3-D, no activation
]


def gn_act(x, g, gamma, beta, scale, shift, act, eps=1e-5):
    ch = x.shape[1]
    ones = torch.ones(ch, dtype=torch.float64)
    zeros = torch.zeros(ch, dtype=torch.float64)
    y = F.group_norm(x, g, gamma if gamma is not None else ones,
                     beta if beta is not None else zeros, eps)
    bshape = (x.shape[0], ch) + (1,) * (x.dim() - 2)
    if scale is not None:
        y = y * (1 + scale.reshape(bshape))
    if shift is not None:
        y = y + shift.reshape(bshape)
    return F.silu(y) if act == "silu" else y


for name, shape, g, aff, mod, act in GNA:
    x = rand(shape)
    n, ch = shape[0], shape[1]
    gamma = rand((ch,), 0.2, 1.8) if "g" in aff else None
    beta = rand((ch,), -1.0, 1.0) if "b" in aff else None
    scale = rand((n, ch), -1.0, 1.0) if "s" in mod else None
    shift = rand((n, ch), -1.0, 1.0) if "t" in mod else None
    ins = [t for t in (x, gamma, beta, scale, shift) if t is not None]
    record(name, ins, gn_act(x, g, gamma, beta, scale, shift, act))

# A realistic size through the parallel paths, as the gnbig cases (hashed
# inputs, every STRIDE-th element of out and dx, full parameter gradients).
for name, shape, g, off, amp in [("gnabig_a", (2, 64, 32, 32), 32, 0.5, 2.0)]:
    n = int(np.prod(shape))
    nb, ch = shape[0], shape[1]
    x = torch.from_numpy(hashval(1, n, off, amp).reshape(shape)).double().requires_grad_()
    gamma = torch.from_numpy(hashval(2, ch, 1.0, 0.5)).double().requires_grad_()
    beta = torch.from_numpy(hashval(3, ch, 0.0, 0.5)).double().requires_grad_()
    scale = torch.from_numpy(hashval(5, nb * ch, 0.0, 0.5).reshape(nb, ch)).double().requires_grad_()
    shift = torch.from_numpy(hashval(6, nb * ch, 0.0, 0.5).reshape(nb, ch)).double().requires_grad_()
    R = torch.from_numpy(hashval(4, n, 0.0, 1.0).reshape(shape)).double()
    y = gn_act(x, g, gamma, beta, scale, shift, "silu")
    (y * R).sum().backward()
    out[f"{name}.out_sub"] = y.detach().reshape(-1)[::STRIDE]
    out[f"{name}.dx_sub"] = x.grad.reshape(-1)[::STRIDE]
    out[f"{name}.dgamma"] = gamma.grad
    out[f"{name}.dbeta"] = beta.grad
    out[f"{name}.dscale"] = scale.grad
    out[f"{name}.dshift"] = shift.grad

here = os.path.dirname(os.path.abspath(__file__))
sdfx.write(os.path.join(here, "..", "fixtures", "ops", "norm.sdfx"), out)
