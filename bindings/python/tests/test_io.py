"""PNG / NPY writers and datasets, checked with independent Python readers."""
import array
import gzip
import math
import os
import shutil
import struct

import simdiff
from support import TempDirTest, fixture, flat, read_npy, read_png, shape


def level(v):
    if v != v:
        return 0
    v = min(1.0, max(-1.0, v))
    return math.floor((v + 1) * 127.5 + 0.5)


class TestWriters(TempDirTest):
    def test_npy_bytes_equal_numpys(self):
        # tests/fixtures/io/npy/writer_*.npy were written by numpy.save.
        cases = [
            ("writer_f32.npy", [[[(i * 4 + j + k * 12) * 0.25 - 2 for j in range(4)]
                                 for i in range(3)] for k in range(2)], {}),
            ("writer_u8.npy", bytes(i % 256 for i in range(300)), {}),
            ("writer_scalar.npy", 1.5, {}),
            ("writer_empty.npy", [], {"shape": (0, 1234567)}),
        ]
        for name, data, kw in cases:
            with self.subTest(name=name):
                p = self.path(name)
                simdiff.write_npy(p, data, **kw)
                with open(p, "rb") as a, open(fixture("io", "npy", name), "rb") as b:
                    self.assertEqual(a.read(), b.read())

    def test_npy_dtype_and_shape(self):
        p = self.path("a.npy")
        simdiff.write_npy(p, [1, 2, 3, 4, 5, 6], shape=(2, 3), dtype="uint8")
        self.assertEqual(read_npy(p), ("|u1", (2, 3), [1, 2, 3, 4, 5, 6]))
        simdiff.write_npy(p, [[0.5, 1.0]])
        self.assertEqual(read_npy(p), ("<f4", (1, 2), [0.5, 1.0]))
        with self.assertRaises(ValueError):
            simdiff.write_npy(p, [1.0, 2.0], shape=(3,))
        with self.assertRaises(ValueError):
            simdiff.write_npy(p, [1.0], dtype="float64")
        with self.assertRaises(OverflowError):
            simdiff.write_npy(p, [300], dtype="uint8")

    def test_png_grid(self):
        n, c, h, w = 3, 1, 3, 4
        vals = [math.sin(i) * 1.2 for i in range(n * c * h * w)]
        vals[5] = float("nan")
        images = [[[vals[((k * c + ch) * h + y) * w:((k * c + ch) * h + y) * w + w]
                    for y in range(h)] for ch in range(c)] for k in range(n)]
        p = self.path("g.png")
        simdiff.write_png(p, images)
        W, H, C, rows = read_png(p)
        cols = 2  # ceil(sqrt(3))
        self.assertEqual((W, H, C), (cols * w + 2 * (cols - 1), 2 * h + 2, 1))
        for k in range(n):
            r, q = divmod(k, cols)
            for y in range(h):
                for x in range(w):
                    want = level(vals[(k * h + y) * w + x])
                    self.assertEqual(rows[r * (h + 2) + y][q * (w + 2) + x], want)
        self.assertEqual(rows[h][0], 255)           # separator row
        self.assertEqual(rows[h + 2][w + 2], 255)   # the unused fourth cell
        # The same from a flat buffer with shape=, in one row.
        simdiff.write_png(self.path("f.png"), vals, 3, shape=(n, c, h, w))
        W, H, _, _ = read_png(self.path("f.png"))
        self.assertEqual((W, H), (3 * w + 4, h))
        with self.assertRaises(ValueError):
            simdiff.write_png(self.path("x.png"), vals)   # flat, no shape
        with self.assertRaises(simdiff.InvalidArgumentError):
            simdiff.write_png(self.path("x.png"), [0.0] * 8, shape=(1, 2, 2, 2))  # C = 2

    def test_png_rgb_single_image(self):
        img = [[[(ch - 1) * 0.5] * 2] * 2 for ch in range(3)]   # C x H x W
        simdiff.write_png(self.path("rgb.png"), img)
        W, H, C, rows = read_png(self.path("rgb.png"))
        self.assertEqual((W, H, C), (2, 2, 3))
        self.assertEqual(rows[0][:3], bytes([level(-0.5), level(0.0), level(0.5)]))

    def test_png_u8(self):
        hwc = bytes(range(2 * 3 * 4))
        simdiff.write_png_u8(self.path("u.png"), hwc, shape=(2, 3, 4))
        W, H, C, rows = read_png(self.path("u.png"))
        self.assertEqual((W, H, C), (3, 2, 4))
        self.assertEqual(b"".join(rows), hwc)
        simdiff.write_png_u8(self.path("g.png"), [[0, 128], [255, 7]])
        self.assertEqual(read_png(self.path("g.png"))[3], [b"\x00\x80", b"\xff\x07"])


def idx_bytes(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


class TestDataset(TempDirTest):
    def test_npy_batches(self):
        _, (N, H, W), pix = read_npy(fixture("io", "npy", "u8_nhw.npy"))
        with simdiff.Dataset.open(fixture("io", "npy", "u8_nhw.npy"),
                                  fixture("io", "npy", "labels_u1.npy")) as ds:
            self.assertEqual((len(ds), ds.count, ds.image_shape), (N, N, (1, H, W)))
            self.assertEqual(ds.num_classes, 10)
            x, labels = ds.get_batch([2, 0])
            self.assertEqual(shape(x), (2, 1, H, W))
            self.assertEqual(flat(labels), [4, 9])
            want = [pix[2 * H * W + i] / 127.5 - 1 for i in range(H * W)]
            for a, b in zip(flat(x)[:H * W], want):
                self.assertAlmostEqual(a, b, places=6)
            # Padding to 6 x 6: one row above, one below; no column left
            # (5 -> 6 puts the extra one on the right); then a flip.
            x, _ = ds.get_batch([1, 1], pad_to=6, flip=[False, True])
            img = flat(x)
            plain, flipped = img[:36], img[36:]
            self.assertEqual(plain[:6], [-1.0] * 6)
            self.assertAlmostEqual(plain[6], pix[H * W] / 127.5 - 1, places=6)
            self.assertEqual(plain[11], -1.0)
            for y in range(6):
                self.assertEqual(flipped[y * 6:y * 6 + 6], plain[y * 6:y * 6 + 6][::-1])
            with self.assertRaises(simdiff.InvalidArgumentError):
                ds.get_batch([3])
            with self.assertRaises(ValueError):
                ds.get_batch([0, 1], flip=[1])

    def test_idx_gzip(self):
        pixels = bytes((i * 7) % 256 for i in range(4 * 2 * 3))
        with gzip.open(self.path("img.gz"), "wb") as f:
            f.write(idx_bytes(0x803, (4, 2, 3), pixels))
        with open(self.path("lab"), "wb") as f:
            f.write(idx_bytes(0x801, (4,), bytes([3, 1, 0, 2])))
        with simdiff.Dataset.open(self.path("img.gz"), self.path("lab")) as ds:
            self.assertEqual((len(ds), ds.channels, ds.height, ds.width), (4, 1, 2, 3))
            self.assertEqual(ds.num_classes, 4)
            x, labels = ds.get_batch([3])
            self.assertEqual(flat(labels), [2])
            self.assertEqual(flat(x), [simdiff_level(v) for v in pixels[18:24]])
            self.assertIn("4 x 1x2x3, 4 classes", repr(ds))

    def test_shuffle_flip_and_batches(self):
        with simdiff.Dataset.open(fixture("io", "npy", "u8_nhwc3.npy")) as ds:
            perm = [int(v) for v in ds.shuffle(seed=1, epoch=0)]
            self.assertEqual(sorted(perm), list(range(len(ds))))
            self.assertEqual([int(v) for v in ds.shuffle(1, 0)], perm)
            mask = [int(v) for v in simdiff.Dataset.flip_mask(3, 0, [0, 1, 2, 0])]
            self.assertTrue(set(mask) <= {0, 1})
            self.assertEqual(mask[0], mask[3])  # same example, same step
            # batches() draws what simdiff-train draws: 2 per step over
            # the concatenated epoch permutations.
            got = list(ds.batches(2, seed=1, steps=3, flip=True, pad_to=6))
            order = perm + [int(v) for v in ds.shuffle(1, 1)]
            for k, (x, labels) in enumerate(got):
                idx = order[2 * k:2 * k + 2]
                want, _ = ds.get_batch(idx, pad_to=6,
                                       flip=simdiff.Dataset.flip_mask(1, k, idx))
                self.assertEqual(flat(x), flat(want))
                self.assertEqual(flat(labels), [-1, -1])

    def test_bad_files(self):
        with open(self.path("bad.npy"), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00garbage")
        with self.assertRaises(simdiff.FormatError):
            simdiff.Dataset.open_npy(self.path("bad.npy"))
        with self.assertRaises(simdiff.IOFailure):
            simdiff.Dataset.open_idx(self.path("missing"))
        with self.assertRaises(simdiff.FormatError) as cm:   # a label of -1
            simdiff.Dataset.open_npy(fixture("io", "npy", "u8_nhw.npy"),
                                     fixture("io", "npy", "labels_neg.npy"))
        self.assertIn("labels_neg.npy", str(cm.exception))
        with self.assertRaises(ValueError):
            simdiff.Dataset.open_npy(fixture("io", "npy", "u8_nhw.npy"), layout="hwc")
        with self.assertRaises(TypeError):
            simdiff.Dataset.open(self.path("x.idx"), layout="nchw")
        with self.assertRaises(TypeError):
            simdiff.Dataset()


class TestImageFolder(TempDirTest):
    """Folders of PNG/JPEG files against tests/fixtures/io/images (written
    and computed without libsimdiff: tests/reference/make_image_fixtures.py)."""

    def expected(self, name):
        a = array.array("f")
        with open(fixture("io", "images", name), "rb") as f:
            a.frombytes(f.read())
        return list(a)

    def check_rounded(self, x, exp):
        got = flat(x)
        self.assertEqual(len(got), len(exp))
        for i, (g, e) in enumerate(zip(got, exp)):
            lv = (g + 1) * 127.5
            self.assertLessEqual(abs(lv - e), 0.5 + 2e-3, "value %d: %r vs %r" % (i, lv, e))

    def test_every_colour_type(self):
        ds = simdiff.Dataset.open(fixture("io", "images", "decode"), size=10,
                                  channels="rgb", background=(0x33, 0x66, 0xCC))
        self.assertEqual((len(ds), ds.image_shape, ds.num_classes), (22, (3, 10, 10), 0))
        self.assertEqual((ds.class_names, ds.skipped), ([], []))
        x, labels = ds.get_batch(range(len(ds)))
        self.assertEqual(set(flat(labels)), {-1})
        self.check_rounded(x, self.expected("decode_crop_rgb.f32"))
        cfg = simdiff.ImageFolderConfig(size=4, channels="gray")
        self.assertEqual(cfg.background, 0xFFFFFF)
        ds2 = simdiff.Dataset.open_folder(fixture("io", "images", "decode"), cfg)
        self.assertEqual(ds2.image_shape, (1, 4, 4))
        self.check_rounded(ds2.get_batch(range(22))[0], self.expected("decode_down_gray.f32"))

    def test_classes_and_skipping(self):
        for d in ("b", "a", "a/deeper"):
            os.makedirs(self.path(d), exist_ok=True)
        src = fixture("io", "images", "hostile")
        shutil.copy(os.path.join(src, "ok.png"), self.path("root.png"))
        shutil.copy(os.path.join(src, "ok.png"), self.path("b/1.png"))
        shutil.copy(os.path.join(src, "ok.png"), self.path("a/1.png"))
        shutil.copy(os.path.join(src, "truncated.png"), self.path("a/2.png"))
        with self.assertRaises(simdiff.FormatError) as cm:
            simdiff.Dataset.open_folder(self.tmp, size=4)
        self.assertIn(os.path.join("a", "2.png"), str(cm.exception))
        ds = simdiff.Dataset.open_folder(self.tmp, size=4, on_bad_image="skip")
        self.assertEqual(ds.class_names, ["a", "b"])
        self.assertEqual((ds.class_id("b"), ds.class_id("c")), (1, -1))
        self.assertEqual(len(ds.skipped), 1)
        self.assertIn("2.png", ds.skipped[0])
        self.assertEqual(flat(ds.get_batch(range(3))[1]), [-1, 0, 1])
        with self.assertRaises(ValueError):
            simdiff.ImageFolderConfig(channels="cmyk")
        with self.assertRaises(ValueError):
            simdiff.ImageFolderConfig(background=(1, 2, 300))
        with self.assertRaises(simdiff.InvalidArgumentError):
            simdiff.Dataset.open_folder(self.tmp, size=0)


def simdiff_level(v):
    """A byte as get_batch maps it: v / 127.5 - 1 in float32."""
    return struct.unpack("<f", struct.pack("<f", v / 127.5 - 1))[0]
