"""Reference 5/3 (LeGall) DWT for lib/ops/dwt.c -> tests/fixtures/ops/dwt.sdfx.

Run with Debian's PyTorch: /usr/bin/python3 tests/reference/ops_dwt.py

Written from the filter definition, not from the C lifting code: the 1-D
analysis is the convolution form of the JPEG 2000 5/3 filters over the
whole-sample symmetric extension of the signal (x[-k] = x[k],
x[N-1+k] = x[N-1-k]),
    low[n]  = sum_k h0[k] x[2n + k],     h0 = [-1, 2, 6, 2, -1] / 8, k = -2..2
    high[n] = sum_k h1[k] x[2n + 1 + k], h1 = [-1/2, 1, -1/2],     k = -1..1
built as an N x N matrix A_N (rows: low then high); the inverse is the
matrix inverse of A_N. 2-D per level: along W (rows), then along H
(columns); bands named (filter along H, filter along W). The output layout
is the one in docs/architecture.md ("DWT stem"):
    [LL_L (C)] + for l = L..1: pixel_unshuffle(D_l, 2^(L-l)),
    D_l channel 3c + k = band k (0: LH, 1: HL, 2: HH) of input channel c.
Gradients of sum(out * R) by torch autograd through this reference.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import sdfx

H0 = np.array([-1, 2, 6, 2, -1], dtype=np.float64) / 8
H1 = np.array([-0.5, 1.0, -0.5])


def mirror(i, n):
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def analysis_matrix(n):
    assert n % 2 == 0 and n >= 2
    m = n // 2
    A = np.zeros((n, n))
    for r in range(m):
        for k in range(-2, 3):
            A[r, mirror(2 * r + k, n)] += H0[k + 2]
        for k in range(-1, 2):
            A[m + r, mirror(2 * r + 1 + k, n)] += H1[k + 1]
    return A


def mats(n):
    A = analysis_matrix(n)
    return torch.tensor(A), torch.tensor(np.linalg.inv(A))


def dwt(x, L):
    N, C, H, W = x.shape
    ll, details = x, []
    for l in range(1, L + 1):
        h, w = ll.shape[-2:]
        Ah, _ = mats(h)
        Aw, _ = mats(w)
        z = Ah @ (ll @ Aw.T)  # along W, then along H
        hh, hw = h // 2, w // 2
        lh, hl, hh_ = z[..., :hh, hw:], z[..., hh:, :hw], z[..., hh:, hw:]
        details.append(torch.stack([lh, hl, hh_], dim=2).reshape(N, 3 * C, hh, hw))
        ll = z[..., :hh, :hw]
    parts = [ll]
    for l in range(L, 0, -1):
        parts.append(F.pixel_unshuffle(details[l - 1], 2 ** (L - l)))
    return torch.cat(parts, dim=1)


def idwt(y, L):
    N, Cq, h, w = y.shape
    C = Cq // 4 ** L
    ll = y[:, :C]
    off = C
    blocks = {}
    for l in range(L, 0, -1):
        b = 2 ** (L - l)
        n = 3 * C * b * b
        blocks[l] = F.pixel_shuffle(y[:, off:off + n], b).reshape(N, C, 3, h * b, w * b)
        off += n
    for l in range(L, 0, -1):
        d = blocks[l]
        z = torch.cat([torch.cat([ll, d[:, :, 0]], dim=3),
                       torch.cat([d[:, :, 1], d[:, :, 2]], dim=3)], dim=2)
        _, Sh = mats(z.shape[2])
        _, Sw = mats(z.shape[3])
        ll = (Sh @ z) @ Sw.T  # undo along H, then along W
    return ll


# Self-checks of the reference itself.
for n in (2, 4, 8, 16):
    A = analysis_matrix(n)
    assert np.allclose(A[n // 2:] @ np.ones(n), 0)            # high kills DC
    assert np.allclose(A[:n // 2] @ np.ones(n), 1)            # low has DC gain 1
    ramp = np.arange(n, dtype=np.float64)
    assert np.allclose((A[n // 2:] @ ramp)[:-1], 0)           # and ramps (interior)
_x = torch.rand(2, 3, 16, 8, dtype=torch.float64)
for _L in (1, 2, 3):
    assert torch.allclose(idwt(dwt(_x, _L), _L), _x, atol=1e-12)
    assert dwt(_x, _L).shape == (2, 3 * 4 ** _L, 16 >> _L, 8 >> _L)

out = {}


def case(name, fn, shape):
    x = (torch.rand(shape, dtype=torch.float64) * 2 - 1).requires_grad_()
    y = fn(x)
    R = torch.rand(y.shape, dtype=torch.float64) * 2 - 1
    (y * R).sum().backward()
    out[f"{name}.in0"] = x
    out[f"{name}.grad0"] = x.grad
    out[f"{name}.out"] = y
    out[f"{name}.R"] = R


if __name__ == "__main__":
    torch.manual_seed(0)
    case("dwt_l1", lambda x: dwt(x, 1), (2, 3, 8, 8))
    case("dwt_l2", lambda x: dwt(x, 2), (1, 2, 8, 16))
    case("dwt_l3", lambda x: dwt(x, 3), (2, 1, 16, 8))
    case("dwt_l2_b1", lambda x: dwt(x, 2), (1, 3, 4, 4))
    case("idwt_l1", lambda y: idwt(y, 1), (2, 12, 4, 4))
    case("idwt_l2", lambda y: idwt(y, 2), (1, 32, 2, 4))
    case("idwt_l3", lambda y: idwt(y, 3), (1, 64, 1, 2))

    here = os.path.dirname(os.path.abspath(__file__))
    sdfx.write(os.path.join(here, "..", "fixtures", "ops", "dwt.sdfx"), out)
