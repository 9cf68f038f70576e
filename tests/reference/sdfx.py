"""Write SDFX fixture files (format: tests/common/sdfx.h)."""
import struct

import numpy as np


def record(out, name, ins, y):
    """One fixture case into out: inputs <name>.in<i>, the output
    <name>.out, a random R drawn now from torch's generator (uniform in
    [-1, 1), float64) as <name>.R, and <name>.grad<i>, the gradients of
    sum(y * R) (ins must require grad)."""
    import torch

    R = torch.rand(y.shape, dtype=torch.float64) * 2 - 1
    (y * R).sum().backward()
    for i, t in enumerate(ins):
        out[f"{name}.in{i}"] = t
        out[f"{name}.grad{i}"] = t.grad
    out[f"{name}.out"] = y
    out[f"{name}.R"] = R


def write(path, arrays):
    """arrays: dict name -> array-like (converted to float32, C order)."""
    with open(path, "wb") as f:
        f.write(b"SDFX1\n")
        for name, a in arrays.items():
            if hasattr(a, "detach"):
                a = a.detach().cpu().numpy()
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<I", a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(a.astype("<f4").tobytes())
