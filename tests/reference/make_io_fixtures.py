"""Fixtures for the I/O tests (tests/io/) -> tests/fixtures/io/.

Run with Debian's Python (numpy + PyTorch):
    /usr/bin/python3 tests/reference/make_io_fixtures.py

Everything here is written independently of libsimdiff: safetensors files
are laid out by hand from the format description
(https://github.com/huggingface/safetensors: u64 little-endian header
length, JSON header, data buffer) with struct/json, 16-bit floats come from
PyTorch's conversions, .npy files from numpy.save, and the shuffle/flip
expectations from a Python transcription of the algorithm in docs/io.md.

Files:
  st_read.safetensors      an unusual but valid file for the reader: indented
                           JSON, \\u escapes (incl. a surrogate pair), keys
                           and offsets in different orders, F32/F16/BF16/I32,
                           a scalar, an empty tensor, metadata
  st_read_expected.bin     float32 LE: torch's src.half().float() then
                           src.bfloat16().float() (the values the reader
                           must produce)
  st_writer_ref.safetensors  the exact bytes the reference serializer writes
                           for a set of tensors (tensors sorted by dtype
                           alignment then name, compact JSON, "__metadata__"
                           first, header padded with spaces to 8 bytes)
  shuffle_expected.txt     permutations and flip masks
  npy/*.npy(.gz)           numpy-written arrays for the dataset reader and
                           the byte-exact .npy writer test
"""
import gzip
import json
import math
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "io")
os.makedirs(os.path.join(OUT, "npy"), exist_ok=True)


def u16(t):
    """Raw bits of a float16/bfloat16 tensor as little-endian bytes."""
    return t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32)).astype("<f4").tobytes()


# ---- the conversion test values ------------------------------------------
specials = [
    0.0, -0.0, 1.0, -1.0, 0.5, 3.5, 1e-8, -6e-8, 2.0 ** -24, 2.0 ** -25,
    3 * 2.0 ** -25, 2.0 ** -14, 2.0 ** -14 * (1 - 2.0 ** -11),
    1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11,        # f16 ties
    1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8,          # bf16 ties
    65504.0, 65519.0, 65520.0, -70000.0, 1e30, 3.4028234663852886e38,
    float("inf"), float("-inf"), 1e-40, -1e-45, 123.456, -0.1, 1 / 3,
]
torch.manual_seed(0)
rnd = torch.randn(34, dtype=torch.float32) * torch.tensor([10.0 ** k for k in range(-4, 13)] * 2)
src = torch.cat([torch.tensor(specials, dtype=torch.float32), rnd])   # (64,)
assert src.numel() == 64
nan_src = torch.tensor([float("nan"), -float("nan"), 1.0], dtype=torch.float32)
src_nan = torch.cat([src, nan_src])                                     # (67,)


def st_bytes(header_obj, buffer, *, dumps_kw):
    hdr = json.dumps(header_obj, **dumps_kw).encode()
    hdr += b" " * ((8 - len(hdr) % 8) % 8)
    return struct.pack("<Q", len(hdr)) + hdr + buffer


# ---- st_read.safetensors ----------------------------------------------------
# Tensors are placed in the buffer in this order, which is neither the key
# order of the header nor name order.
uname = "caf\u00e9\U0001F600"
pieces = [
    ("src.bf16", "BF16", [67], u16(src_nan.bfloat16())),
    ("w", "F32", [2, 3], f32([[0.5, -1.25, 3e-39], [-0.0, 1e30, 7.0]])),
    ("empty", "F16", [0, 4], b""),
    ("src", "F32", [67], f32(src_nan)),
    ("i32", "I32", [3], np.array([1, -2, 3], dtype="<i4").tobytes()),
    (uname, "F32", [1, 1], f32([[42.0]])),
    ("src.f16", "F16", [67], u16(src_nan.half())),
    ("scalar", "F32", [], f32(3.5)),
]
offsets, buf = {}, b""
for name, dt, shape, data in pieces:
    offsets[name] = (dt, shape, [len(buf), len(buf) + len(data)])
    buf += data
header = {}
for name in ["w", "src", uname, "scalar", "src.f16", "i32", "empty", "src.bf16"]:
    dt, shape, off = offsets[name]
    # vary the member order inside entries too
    if name == "w":
        header[name] = {"data_offsets": off, "shape": shape, "dtype": dt}
    else:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": off}
header["__metadata__"] = {"format": "pt",
                          "note": "quote\" backslash\\ tab\t caf\u00e9 \U0001F600 /"}
with open(os.path.join(OUT, "st_read.safetensors"), "wb") as f:
    f.write(st_bytes(header, buf, dumps_kw=dict(indent=1, ensure_ascii=True)))
with open(os.path.join(OUT, "st_read_expected.bin"), "wb") as f:
    f.write(f32(src_nan.half().float()) + f32(src_nan.bfloat16().float()))

# ---- st_writer_ref.safetensors: the reference serializer's bytes -----------
a = src.reshape(4, 16)
n = torch.tensor([float("nan"), -float("nan")], dtype=torch.float32)
tensors = {  # name -> (dtype, shape, raw bytes)
    "a": ("F32", [4, 16], f32(a)),
    "b": ("BF16", [4, 16], u16(a.bfloat16())),
    "c": ("F16", [4, 16], u16(a.half())),
    "n": ("F32", [2], f32(n)),
    "n16": ("F16", [2], u16(n.half())),
    "s": ("F32", [], f32(-2.5)),
    "z": ("BF16", [0], b""),
}
# NaN through torch's half(): the canonical quiet NaN with the sign kept.
assert u16(n.half()) == struct.pack("<HH", 0x7E00, 0xFE00)
rank = {"F32": 2, "BF16": 1, "F16": 0}  # alignment order of the reference
order = sorted(tensors, key=lambda k: (-rank[tensors[k][0]], k.encode()))
hdr, buf = {"__metadata__": {"format": "pt", "producer": "make_io_fixtures.py"}}, b""
for k in order:
    dt, shape, data = tensors[k]
    hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [len(buf), len(buf) + len(data)]}
    buf += data
with open(os.path.join(OUT, "st_writer_ref.safetensors"), "wb") as f:
    f.write(st_bytes(hdr, buf, dumps_kw=dict(separators=(",", ":"), ensure_ascii=False)))

# ---- shuffle / flip expectations (algorithm of docs/io.md) -----------------
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
D_SHUFFLE = 0x73687566666C6521
D_FLIP = 0x666C69702D6C7221


def mix(z):
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def shuffle(n, seed, epoch):
    perm = list(range(n))
    key = mix(mix(seed ^ D_SHUFFLE) ^ epoch)
    c = 0
    for i in range(n - 1, 0, -1):
        bound = i + 1
        reject_below = (1 << 64) % bound
        while True:
            c += 1
            x = mix(key + c * GOLDEN)
            if x >= reject_below:
                break
        j = x % bound
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def flips(seed, step, indices):
    key = mix(mix(seed ^ D_FLIP) ^ step)
    return [mix(key + (i + 1) * GOLDEN) >> 63 for i in indices]


with open(os.path.join(OUT, "shuffle_expected.txt"), "w") as f:
    f.write("# perm N SEED EPOCH : permutation of 0..N-1\n")
    f.write("# flip SEED STEP : index:flip pairs\n")
    for n_, seed, epoch in [(10, 42, 0), (10, 42, 1), (7, 0, 0), (33, 2 ** 63 + 5, 12345), (1, 9, 9)]:
        f.write("perm %d %d %d : %s\n" % (n_, seed, epoch, " ".join(map(str, shuffle(n_, seed, epoch)))))
    for seed, step in [(42, 0), (42, 1), (7, 2 ** 40)]:
        idx = list(range(0, 40)) + [59999, 123456789]
        f.write("flip %d %d : %s\n" % (seed, step, " ".join("%d:%d" % (i, b) for i, b in zip(idx, flips(seed, step, idx)))))

# ---- .npy files (numpy.save) ------------------------------------------------
npy = os.path.join(OUT, "npy")
K, C, H, W = 3, 3, 4, 5
k, c, y, x = np.meshgrid(np.arange(K), np.arange(C), np.arange(H), np.arange(W), indexing="ij")
u8_nchw = ((k * 61 + y * 17 + x * 5 + c * 89) % 256).astype(np.uint8)      # (K, C, H, W)
np.save(os.path.join(npy, "u8_nchw3.npy"), u8_nchw)
np.save(os.path.join(npy, "u8_nhwc3.npy"), np.ascontiguousarray(u8_nchw.transpose(0, 2, 3, 1)))
np.save(os.path.join(npy, "u8_nhw.npy"), np.ascontiguousarray(u8_nchw[:, 0]))
np.save(os.path.join(npy, "u8_fortran.npy"), np.asfortranarray(u8_nchw[:, 0]))
with open(os.path.join(npy, "u8_nhw.npy"), "rb") as f:
    raw = f.read()
with open(os.path.join(npy, "u8_nhw.npy.gz"), "wb") as f:
    with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
        g.write(raw)
m = (k * 7 + c * 3 + y * 5 + x) % 11
f01 = (m.astype(np.float64) / 10.0).astype(np.float32)                       # [0, 1]
with open(os.path.join(npy, "f32_nchw3_v2.npy"), "wb") as f:
    np.lib.format.write_array(f, f01, version=(2, 0))
with open(os.path.join(npy, "f32_nhw_pm1_v3.npy"), "wb") as f:
    np.lib.format.write_array(f, np.ascontiguousarray(f01[:, 0] * 2 - 1), version=(3, 0))
np.save(os.path.join(npy, "labels_i8.npy"), np.array([3, 0, 7], dtype="<i8"))
np.save(os.path.join(npy, "labels_i4.npy"), np.array([1, 255, 2], dtype="<i4"))
np.save(os.path.join(npy, "labels_u1.npy"), np.array([9, 9, 4], dtype=np.uint8))
np.save(os.path.join(npy, "labels_neg.npy"), np.array([1, -1, 2], dtype="<i8"))
np.save(os.path.join(npy, "labels_f4.npy"), np.array([1, 2, 3], dtype="<f4"))
# For the byte-exact writer test: values the C test recomputes.
wf = (np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4) * 0.25 - 2).astype(np.float32)
np.save(os.path.join(npy, "writer_f32.npy"), wf)
np.save(os.path.join(npy, "writer_u8.npy"), (np.arange(300) % 256).astype(np.uint8))
np.save(os.path.join(npy, "writer_scalar.npy"), np.float32(1.5))
np.save(os.path.join(npy, "writer_empty.npy"), np.zeros((0, 1234567), dtype=np.float32))
print("wrote", OUT)
