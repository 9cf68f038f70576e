"""Shared helpers of the binding tests (standard library only)."""
import array
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
BINDINGS = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(BINDINGS))
FIXTURES = os.environ.get("SIMDIFF_FIXTURES") or os.path.join(REPO, "tests", "fixtures")


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def flat(x):
    """Flat list of Python numbers of any array result (numpy or memoryview)."""
    if hasattr(x, "ravel"):
        return [v.item() if hasattr(v, "item") else v for v in x.ravel().tolist()]
    if isinstance(x, memoryview):
        x = x.tolist()
    out = []

    def rec(o):
        if isinstance(o, (list, tuple)):
            for e in o:
                rec(e)
        else:
            out.append(o)
    rec(x)
    return out


def shape(x):
    return tuple(x.shape)


def f32(v):
    """v rounded to float32."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def f32_bits(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


def max_rel_err(a, b, floor):
    """max |a - b| / max(max |b|, floor), as tests/common/sdtest.c."""
    maxdiff, maxref = 0.0, floor
    for x, y in zip(a, b):
        d = abs(x - y)
        if not d <= maxdiff:
            maxdiff = float("inf") if d != d else d
        maxref = max(maxref, abs(y))
    return maxdiff / maxref


def read_sdfx(path):
    """{name: (shape, flat floats)} of a tests/fixtures SDFX file."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"SDFX1\n", path
    pos, out = 6, {}
    while pos < len(data):
        (nl,) = struct.unpack_from("<I", data, pos)
        pos += 4
        name = data[pos:pos + nl].decode()
        pos += nl
        (nd,) = struct.unpack_from("<I", data, pos)
        pos += 4
        dims = struct.unpack_from("<%dq" % nd, data, pos)
        pos += 8 * nd
        n = 1
        for d in dims:
            n *= d
        vals = array.array("f")
        vals.frombytes(data[pos:pos + 4 * n])
        if sys.byteorder != "little":
            vals.byteswap()
        pos += 4 * n
        out[name] = (tuple(dims), vals.tolist())
    return out


def read_npy(path):
    """(descr, shape, flat values) of a .npy file (version 1-3, C order)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    major = data[6]
    if major == 1:
        (hl,) = struct.unpack_from("<H", data, 8)
        start = 10
    else:
        (hl,) = struct.unpack_from("<I", data, 8)
        start = 12
    import ast
    header = ast.literal_eval(data[start:start + hl].decode("latin1"))
    assert not header["fortran_order"]
    body = data[start + hl:]
    code = {"<f4": "f", "|u1": "B", "<i4": "i", "<i8": "q", "<f8": "d"}[header["descr"]]
    vals = array.array(code)
    vals.frombytes(body)
    return header["descr"], tuple(header["shape"]), vals.tolist()


def read_png(path):
    """(width, height, channels, rows of bytes) of an 8-bit, non-interlaced
    PNG (grayscale, gray+alpha, RGB or RGBA), decoding every filter type."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "bad CRC in %s" % kind
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and interlace == 0
    ch = {0: 1, 4: 2, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * ch
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b = prev[i]
            c = prev[i - ch] if i >= ch else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


class TempDirTest(unittest.TestCase):
    """A TestCase with self.tmp, a fresh directory removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="simdiff-py-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)


def run_python(code, env=None, timeout=300):
    """Run code in a fresh interpreter (same one as the tests); returns the
    CompletedProcess."""
    e = dict(os.environ)
    e.setdefault("PYTHONPATH", BINDINGS)
    if env:
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,
                          text=True, timeout=timeout)


TINY_UVIT = dict(arch="uvit", image_size=8, channels=1, num_levels=1,
                 level_channels=[8], level_blocks=[1], norm_groups=4, emb_dim=16,
                 attn_resolution=4, tf_width=16, tf_depth=1, tf_heads=2,
                 num_classes=3)
