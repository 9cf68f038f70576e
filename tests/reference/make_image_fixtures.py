"""Fixtures for the image-folder tests (tests/io/test_image.c) ->
tests/fixtures/io/images/.

Run with Debian's Python (numpy + Pillow: apt-get install python3-pil):
    /usr/bin/python3 tests/reference/make_image_fixtures.py

Nothing here uses libsimdiff. PNG files are written by a small encoder in
this script (struct + zlib, from the PNG specification: every colour type
and bit depth, all five row filters, Adam7 interlacing, PLTE/tRNS); JPEG
files by Pillow. The expected training images follow the rules of
docs/io.md ("Image folders"): alpha composited on the background, channel
conversion (Y = 0.299 R + 0.587 G + 0.114 B), centre crop, area resize.
The crop and resize are done by Pillow on float ('F') images: crop(), then
the exact area resize from L to S as resize((L*S, L*S), NEAREST) followed by
reduce(L) (each source pixel becomes an S x S block, each output pixel the
mean of an L x L block: exact fractional coverage), checked here against an
independent numpy computation, and against resize(..., BOX) where the factor
is an integer (Pillow's BOX filter weighs whole pixels, so the two agree
only there). Expected values are stored unrounded (float32 levels 0..255):
the library must round each to the nearest 8-bit level.

Files (all under tests/fixtures/io/images/):
  decode/*.png        13 x 10 images of every PNG colour type / bit depth
                      (grey 1/2/4/8/16, grey+alpha 8/16, RGB 8/16, RGBA
                      8/16, palette 1/2/4/8, tRNS on grey/RGB/palette,
                      Adam7), random content with alpha
  decode_<cfg>.f32    expected (N, C, S, S) float32 for each config below,
                      files in name order
  jpeg/*.jpg          RGB (4:2:0) and greyscale JPEGs written by Pillow;
  jpeg_<cfg>.f32      expected from Pillow's decoding of them
  resize/*.png        larger RGB images (97 x 61, 5 x 5, 64 x 48) for the
                      crop/resize cases; resize_<cfg>.f32
  hostile/*           refused files: truncated, bad CRCs, huge or zero
                      dimensions, not a PNG, empty, a palette image without
                      PLTE, a huge chunk length, a truncated JPEG; plus
                      ok.png (a valid image) and bomb_ztxt.png (valid, with
                      a zTXt chunk that inflates to 64 MiB: must be skipped
                      unread)
  configs.txt         name size channels background per config
"""
import io
import os
import shutil
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "io", "images")
if os.path.isdir(OUT):
    shutil.rmtree(OUT)
for d in ("decode", "jpeg", "resize", "hostile"):
    os.makedirs(os.path.join(OUT, d))
rng = np.random.RandomState(21)


# ---- a PNG encoder from the specification ----------------------------------
def chunk(typ, data, crc=None):
    c = zlib.crc32(typ + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", c)


def pack_row(samples, depth):
    """One row of samples (ints) as PNG bytes at the given bit depth."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(s)) for s in samples)
    if depth == 8:
        return bytes(int(s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | int(s)
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_type):
    """Filter rows (bytes), cycling the filter type 0..4 from first_type."""
    out, prev = bytearray(), bytes(len(rows[0])) if rows else b""
    for k, row in enumerate(rows):
        t = (first_type + k) % 5
        f = bytearray([t])
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][t]
            f.append((x - pred) & 0xFF)
        out += f
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
         (1, 0, 2, 2), (0, 1, 1, 2)]  # (x0, y0, dx, dy)


def png(samples, color_type, depth, plte=None, trns=None, interlace=False, extra=b""):
    """samples: (H, W, ch) ints as stored (palette indices for type 3)."""
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    raw = b""
    if not interlace:
        rows = [pack_row(samples[y].reshape(-1), depth) for y in range(h)]
        raw = filter_rows(rows, bpp, 0)
    else:
        for p, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = samples[y0::dy, x0::dx]
            if sub.size == 0:
                continue
            rows = [pack_row(sub[y].reshape(-1), depth) for y in range(sub.shape[0])]
            raw += filter_rows(rows, bpp, p)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte is not None:
        out += chunk(b"PLTE", bytes(int(v) for v in np.asarray(plte).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += extra
    z = zlib.compress(raw, 9)
    out += chunk(b"IDAT", z[:len(z) // 2]) + chunk(b"IDAT", z[len(z) // 2:])
    return out + chunk(b"IEND", b"")


def write(path, data):
    with open(os.path.join(OUT, path), "wb") as f:
        f.write(data)


# ---- the decode set: every colour type, 13 x 10 -----------------------------
H, W = 10, 13
decoded = {}  # name -> (rgb levels (H, W, 3) float64, alpha (H, W), is_gray)


def add(name, data, rgb, alpha, gray):
    write("decode/" + name, data)
    decoded[name] = (np.asarray(rgb, np.float64), np.asarray(alpha, np.float64), gray)


def rnd(hi, shape):
    return rng.randint(0, hi + 1, size=shape)


for depth in (1, 2, 4, 8, 16):
    g = rnd(2 ** depth - 1, (H, W, 1))
    lv = g[..., 0] * (255.0 / (2 ** depth - 1)) if depth < 16 else g[..., 0] / 257.0
    add("g%d.png" % depth, png(g, 0, depth), np.repeat(lv[..., None], 3, 2), np.ones((H, W)), True)
# grey with a tRNS key: pixels equal to the key are transparent
for depth in (8, 16):
    g = rnd(3, (H, W, 1)) * ((2 ** depth - 1) // 3)
    key = int(g[0, 0, 0])
    lv = g[..., 0] / 257.0 if depth == 16 else g[..., 0].astype(np.float64)
    add("g%d_trns.png" % depth, png(g, 0, depth, trns=struct.pack(">H", key)),
        np.repeat(lv[..., None], 3, 2), (g[..., 0] != key).astype(float), True)
for depth in (8, 16):
    ga = rnd(2 ** depth - 1, (H, W, 2))
    m = 2 ** depth - 1
    ga[0, :, 1] = 0
    ga[1, :, 1] = m
    lv = ga[..., 0] / 257.0 if depth == 16 else ga[..., 0].astype(np.float64)
    add("ga%d.png" % depth, png(ga, 4, depth), np.repeat(lv[..., None], 3, 2), ga[..., 1] / m, True)
for depth in (8, 16):
    c = rnd(2 ** depth - 1, (H, W, 3))
    lv = c / 257.0 if depth == 16 else c.astype(np.float64)
    add("rgb%d.png" % depth, png(c, 2, depth), lv, np.ones((H, W)), False)
c = rnd(1, (H, W, 3)) * 255
key = c[0, 0]
add("rgb8_trns.png", png(c, 2, 8, trns=struct.pack(">HHH", *key)), c,
    (~np.all(c == key, axis=2)).astype(float), False)
for depth in (8, 16):
    c = rnd(2 ** depth - 1, (H, W, 4))
    m = 2 ** depth - 1
    c[2, :, 3] = 0
    c[3, :, 3] = m
    lv = c[..., :3] / 257.0 if depth == 16 else c[..., :3].astype(np.float64)
    add("rgba%d.png" % depth, png(c, 6, depth), lv, c[..., 3] / m, False)
    add("rgba%d_adam7.png" % depth, png(c, 6, depth, interlace=True), lv, c[..., 3] / m, False)
g = rnd(3, (H, W, 1))
add("g2_adam7.png", png(g, 0, 2, interlace=True), np.repeat(g * 85.0, 3, 2), np.ones((H, W)), True)
for depth in (1, 2, 4, 8):
    npal = min(2 ** depth, 200)
    pal = rnd(255, (npal, 3))
    idx = rnd(npal - 1, (H, W, 1))
    trns = None
    alpha = np.ones((H, W))
    if depth in (2, 8):  # tRNS shorter than the palette: the rest are opaque
        t = rnd(255, (npal - 1,))
        t[0] = 0
        trns = bytes(int(v) for v in t)
        full = np.concatenate([t, [255]]).astype(float) / 255
        alpha = full[idx[..., 0]]
    add("p%d.png" % depth, png(idx, 3, depth, plte=pal, trns=trns), pal[idx[..., 0]].astype(float),
        alpha, False)
    if depth == 4:
        add("p4_adam7.png", png(idx, 3, depth, plte=pal, interlace=True),
            pal[idx[..., 0]].astype(float), np.ones((H, W)), False)


# The encoder above checked by an independent decoder: Pillow must read the
# 8-bit-or-less files as the values recorded (16-bit ones it reduces).
for name, (rgb, alpha, _) in decoded.items():
    if "16" in name:
        continue
    got = np.asarray(Image.open(os.path.join(OUT, "decode", name)).convert("RGBA"), np.float64)
    assert np.array_equal(got[..., :3], rgb), name
    assert np.array_equal(got[..., 3], alpha * 255), name


# ---- the pipeline of docs/io.md --------------------------------------------
def to_channels(rgb, alpha, C, bg):
    bg = np.asarray(bg, np.float64)
    comp = rgb * alpha[..., None] + bg * (1 - alpha[..., None])
    if C == 3:
        return comp.transpose(2, 0, 1)
    return (0.299 * comp[..., 0] + 0.587 * comp[..., 1] + 0.114 * comp[..., 2])[None]


def crop_box(w, h):
    L = min(w, h)
    x0, y0 = (w - L) // 2, (h - L) // 2
    return L, (x0, y0, x0 + L, y0 + L)


def area_numpy(plane, L, S):
    """Exact overlap weights, in units of 1/S source pixel."""
    m = np.zeros((S, L))
    for o in range(S):
        for i in range(L):
            m[o, i] = max(0, min((i + 1) * S, (o + 1) * L) - max(i * S, o * L))
    return m @ plane @ m.T / (L * L)


def crop_resize_pillow(plane, S):
    """plane: (H, W) float64 -> (S, S), by Pillow on a float image."""
    h, w = plane.shape
    L, box = crop_box(w, h)
    im = Image.fromarray(plane.astype(np.float32), mode="F").crop(box)
    out = np.asarray(im.resize((L * S, L * S), Image.NEAREST).reduce(L), np.float64)
    x0, y0 = box[:2]
    ref = area_numpy(plane[y0:y0 + L, x0:x0 + L], L, S)
    assert np.abs(out - ref).max() < 1e-3, np.abs(out - ref).max()
    if L % S == 0:
        box_out = np.asarray(im.resize((S, S), Image.BOX), np.float64)
        assert np.abs(box_out - ref).max() < 1e-3
    return out


CONFIGS = {  # name: (size, channels, background 0xRRGGBB)
    "crop_rgb": (10, 3, 0x3366CC),
    "down_gray": (4, 1, 0xFFFFFF),
    "down_rgb": (4, 3, 0xFFFFFF),
    "up_rgb": (16, 3, 0x000000),
    "resize16_rgb": (16, 3, 0xFFFFFF),
    "resize12_gray": (12, 1, 0x808080),
    "jpeg_rgb": (7, 3, 0xFFFFFF),
    "jpeg_gray": (7, 1, 0xFFFFFF),
}


def expected(files, cfg):
    S, C, bgv = CONFIGS[cfg]
    bg = [(bgv >> 16) & 255, (bgv >> 8) & 255, bgv & 255]
    out = []
    for name in sorted(files):
        rgb, alpha, _ = files[name]
        ch = to_channels(rgb, alpha, C, bg)
        out.append(np.stack([crop_resize_pillow(p, S) for p in ch]))
    return np.stack(out).astype("<f4")


for cfg in ("crop_rgb", "down_gray", "up_rgb"):
    expected(decoded, cfg).tofile(os.path.join(OUT, "decode_%s.f32" % cfg))

# ---- resize set: larger and odd shapes --------------------------------------
resized = {}
for name, (h, w) in {"a_97x61.png": (61, 97), "b_5x5.png": (5, 5), "c_48x64.png": (64, 48)}.items():
    c = rnd(255, (h, w, 3))
    write("resize/" + name, png(c, 2, 8))
    resized[name] = (c.astype(np.float64), np.ones((h, w)), False)
for cfg in ("resize16_rgb", "resize12_gray"):
    expected(resized, cfg).tofile(os.path.join(OUT, "resize_%s.f32" % cfg))

# ---- JPEG (written and decoded by Pillow) -----------------------------------
jpegs = {}
yy, xx = np.mgrid[0:19, 0:23]
smooth = np.stack([(xx * 11 + yy * 3) % 256, (yy * 13) % 256, (xx * yy) % 256], 2).astype(np.uint8)
for name, im in {"rgb.jpg": Image.fromarray(smooth, "RGB"),
                 "gray.jpg": Image.fromarray(smooth[..., 0], "L")}.items():
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90, subsampling=2 if im.mode == "RGB" else -1)
    write("jpeg/" + name, buf.getvalue())
    dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float64)
    jpegs[name] = (dec, np.ones(dec.shape[:2]), im.mode == "L")
for cfg in ("jpeg_rgb", "jpeg_gray"):
    expected(jpegs, cfg).tofile(os.path.join(OUT, "jpeg_%s.f32" % cfg))

# ---- hostile files -----------------------------------------------------------
ok = png(rnd(255, (6, 6, 3)), 2, 8)
write("hostile/ok.png", ok)
sig = b"\x89PNG\r\n\x1a\n"
ihdr_at = len(sig)
write("hostile/truncated.png", ok[:len(ok) // 2])
write("hostile/no_iend.png", ok[:-12])
bad = bytearray(ok)
bad[ihdr_at + 8 + 13] ^= 0x01          # IHDR CRC
write("hostile/bad_crc_ihdr.png", bytes(bad))
idat = ok.index(b"IDAT")
n_idat = struct.unpack(">I", ok[idat - 4:idat])[0]
bad = bytearray(ok)
bad[idat + 4 + n_idat] ^= 0x80         # first IDAT CRC
write("hostile/bad_crc_idat.png", bytes(bad))
bad = bytearray(ok)
bad[idat + 4 + 3] ^= 0x55              # IDAT data (CRC fixed up): corrupt deflate
bad[idat + 4 + n_idat:idat + 8 + n_idat] = struct.pack(">I", zlib.crc32(bytes(bad[idat:idat + 4 + n_idat])) & 0xFFFFFFFF)
write("hostile/bad_zlib.png", bytes(bad))


def with_ihdr(w, h, depth=8, ct=2, idat=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ct, 0, 0, 0)
    return sig + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat or zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


write("hostile/huge_60000.png", with_ihdr(60000, 60000))
write("hostile/huge_2g.png", with_ihdr(0x7FFFFFFF, 1))
write("hostile/zero_width.png", with_ihdr(0, 10))
write("hostile/bad_depth.png", with_ihdr(4, 4, depth=3))
write("hostile/no_plte.png", with_ihdr(4, 4, depth=8, ct=3))
write("hostile/not_png.png", b"this is not an image, just text\n" * 4)
write("hostile/empty.png", b"")
write("hostile/huge_chunk.png", sig + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
      + struct.pack(">I", 0xFFFFFFF0) + b"IDAT" + b"\0" * 16)
write("hostile/truncated.jpg", open(os.path.join(OUT, "jpeg/rgb.jpg"), "rb").read()[:300])
ztxt = b"bomb\0\0" + zlib.compress(b"\0" * (64 << 20), 9)
write("hostile/bomb_ztxt.png", png(rnd(255, (6, 6, 3)), 2, 8, extra=chunk(b"zTXt", ztxt)))
# A 4000 x 4000 grey image that deflates to a few kB: refused by the test's
# max_image_pixels before anything is inflated.
rows = b"".join(b"\0" + b"\0" * 4000 for _ in range(4000))
write("hostile/bomb_pixels.png", with_ihdr(4000, 4000, ct=0, idat=zlib.compress(rows, 9)))

with open(os.path.join(OUT, "configs.txt"), "w") as f:
    f.write("# name size channels background\n")
    for k, (s, c, b) in CONFIGS.items():
        f.write("%s %d %d 0x%06X\n" % (k, s, c, b))
print("wrote", OUT, "(%d decode files)" % len(decoded))
