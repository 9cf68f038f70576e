"""Write SDFX fixture files (format: tests/common/sdfx.h)."""
import struct

import numpy as np


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
