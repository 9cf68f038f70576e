"""PyTorch fixtures for lib/ops/shape.c and lib/ops/embed.c ->
tests/fixtures/ops/shape.sdfx.

Run with Debian's PyTorch: /usr/bin/python3 tests/reference/ops_shape.py
For each case: inputs, the output, and the gradients of sum(out * R) for a
fixed random R (also stored). The op parameters (perm, axis, ...) are
repeated in the case table of tests/ops/test_shape.c; embedding ids are
stored as "embedding.ids" (float32 holding small integers).
"""
import os

import torch
import torch.nn.functional as F

import sdfx

torch.manual_seed(0)
out = {}


def case(name, fn, *shapes):
    ins = [(torch.rand(s, dtype=torch.float64) * 4 - 2).requires_grad_() for s in shapes]
    y = fn(*ins)
    sdfx.record(out, name, ins, y)


# reshape (a view in C; here reshape of a contiguous tensor)
case("reshape", lambda x: x.reshape(4, -1), (2, 3, 4))
case("reshape_mid", lambda x: x.reshape(2, -1, 5), (2, 3, 4, 5))
# permute: the NCHW <-> tokens patterns, a plain transpose, row copies and
# general 5-D / 6-D permutations
case("permute_nhwc", lambda x: x.permute(0, 2, 3, 1).contiguous(), (2, 3, 4, 5))
case("permute_nchw", lambda x: x.permute(0, 3, 1, 2).contiguous(), (2, 4, 5, 3))
case("permute_tok", lambda x: x.permute(0, 2, 1).contiguous(), (2, 3, 37))
case("permute_rows", lambda x: x.permute(1, 0, 2).contiguous(), (2, 3, 4))
case("permute_5d", lambda x: x.permute(3, 0, 4, 2, 1).contiguous(), (2, 3, 1, 4, 5))
case("permute_6d", lambda x: x.permute(5, 3, 1, 0, 4, 2).contiguous(), (2, 1, 3, 2, 2, 3))
# concat
case("concat_ax1", lambda a, b: torch.cat([a, b], 1), (2, 3, 4, 4), (2, 5, 4, 4))
case("concat_ax0", lambda a, b: torch.cat([a, b], 0), (1, 3, 4), (2, 3, 4))
case("concat_last", lambda a, b: torch.cat([a, b], -1), (2, 3, 4), (2, 3, 2))
# slice
case("slice_ax1", lambda x: x.narrow(1, 2, 3).contiguous(), (2, 6, 3, 3))
case("slice_last", lambda x: x.narrow(2, 1, 4).contiguous(), (2, 3, 7))
# pooling (s = 3 on 7x8: the trailing row and columns are dropped)
case("avg_pool2", lambda x: F.avg_pool2d(x, 2), (2, 3, 6, 8))
case("avg_pool3", lambda x: F.avg_pool2d(x, 3), (1, 2, 7, 8))
case("avg_pool4", lambda x: F.avg_pool2d(x, 4), (2, 1, 8, 8))
case("upsample2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), (2, 3, 3, 4))
# space <-> depth
case("s2d_2", lambda x: F.pixel_unshuffle(x, 2), (2, 3, 4, 6))
case("s2d_3", lambda x: F.pixel_unshuffle(x, 3), (1, 2, 6, 3))
case("d2s_2", lambda x: F.pixel_shuffle(x, 2), (2, 12, 2, 3))
case("d2s_3", lambda x: F.pixel_shuffle(x, 3), (1, 18, 2, 1))
# batch 1
case("permute_nhwc_b1", lambda x: x.permute(0, 2, 3, 1).contiguous(), (1, 5, 3, 2))
case("upsample2_b1", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), (1, 1, 2, 2))

# embedding with repeated ids
ids = torch.tensor([3, 1, 3, 0, 6, 3, 2])
case("embedding", lambda t: F.embedding(ids, t), (7, 5))
out["embedding.ids"] = ids.to(torch.float64)

here = os.path.dirname(os.path.abspath(__file__))
sdfx.write(os.path.join(here, "..", "fixtures", "ops", "shape.sdfx"), out)
