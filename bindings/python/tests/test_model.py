"""Models: forward against the PyTorch fixtures, create / load / save."""
import unittest

import simdiff
from support import TINY_UVIT, TempDirTest, fixture, flat, max_rel_err, read_sdfx, shape

CASES = ["unet_plain", "unet_patch_cond", "unet_dwt", "uvit_plain", "uvit_dwt", "uvit_patch",
         "uvit_dwt_skip", "unet_skip_eps"]


class TestAgainstPyTorch(unittest.TestCase):
    """tests/fixtures/model/*.sdfx hold inputs and outputs of the
    independent PyTorch implementation (tests/reference/model_ref.py)."""

    def test_forward(self):
        for name in CASES:
            with self.subTest(model=name):
                fx = read_sdfx(fixture("model", name + ".sdfx"))
                with simdiff.Model.load(fixture("model", name + ".safetensors")) as m:
                    zshape, z = fx["z"]
                    n = zshape[0]
                    labels = [int(v) for v in fx["labels"][1]] if m.num_classes else None
                    cond = fx["cond"][1] if m.cond_dim else None
                    out = m.forward(z, fx["logsnr"][1], labels=labels, cond=cond)
                    self.assertEqual(shape(out), tuple(fx["out"][0]))
                    self.assertLessEqual(max_rel_err(flat(out), fx["out"][1], 1e-6), 1e-4)
                    self.assertEqual(m.image_shape, tuple(zshape[1:]))
                    # Called as a function, and with a shaped input: the same.
                    out2 = m(_nest(z, zshape), fx["logsnr"][1], labels=labels, cond=cond)
                    self.assertEqual(flat(out2), flat(out))
                    self.assertEqual(n, shape(out)[0])

    def test_num_params_equals_the_fixture_tensors(self):
        fx = read_sdfx(fixture("model", "uvit_dwt.sdfx"))
        total = 0
        for k, (dims, _) in fx.items():
            if k.startswith("grad."):
                n = 1
                for d in dims:
                    n *= d
                total += n
        with simdiff.Model.load(fixture("model", "uvit_dwt.safetensors")) as m:
            self.assertEqual(m.num_params, total)


def _nest(values, dims):
    if len(dims) == 1:
        return list(values)
    step = len(values) // dims[0]
    return [_nest(values[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0])]


class TestCreateLoadSave(TempDirTest):
    def test_create_from_keywords_and_from_a_config(self):
        a = simdiff.Model.create(seed=3, **TINY_UVIT)
        cfg = simdiff.ModelConfig(**TINY_UVIT)
        b = simdiff.Model.create(cfg, seed=3)
        c = simdiff.Model.create(cfg, seed=4)
        d = simdiff.Model.create(cfg, seed=3, tf_depth=2)
        # (A fresh model outputs zeros: its last layer starts at zero.
        # Compare the weights through the files.)
        files = []
        for m, name in ((a, "a"), (b, "b"), (c, "c")):
            m.save_safetensors(self.path(name))
            with open(self.path(name), "rb") as f:
                files.append(f.read())
        self.assertEqual(files[0], files[1])
        self.assertNotEqual(files[0], files[2])
        self.assertEqual(cfg.tf_depth, 1)  # the override applied to a copy
        self.assertEqual(d.config.tf_depth, 2)
        self.assertGreater(d.num_params, a.num_params)
        self.assertEqual(a.config, cfg)
        self.assertGreater(a.flops, 0)
        self.assertIn("uvit 1x8x8", repr(a))
        for m in (a, b, c, d):
            m.close()

    def test_invalid_config_raises(self):
        with self.assertRaises(simdiff.InvalidArgumentError) as cm:
            simdiff.Model.create(seed=0, **dict(TINY_UVIT, attn_resolution=3))
        self.assertTrue(str(cm.exception))
        with self.assertRaises(TypeError):
            simdiff.Model.create(seed=0, **dict(TINY_UVIT, widht=3))
        with self.assertRaises(TypeError):
            simdiff.Model()
        with self.assertRaises(OverflowError):
            simdiff.Model.create(seed=-1, **TINY_UVIT)

    def test_save_load_round_trip(self):
        with simdiff.Model.create(seed=7, **TINY_UVIT) as a:
            p = self.path("m.safetensors")
            a.save_safetensors(p)
            with simdiff.Model.load(p) as b:
                self.assertEqual(a.config, b.config)
                z = [((i * 37) % 17) / 8.0 - 1 for i in range(3 * 64)]
                self.assertEqual(flat(a.forward(z, [0.5, -2.0, 3.0], [0, 1, None])),
                                 flat(b.forward(z, [0.5, -2.0, 3.0], [0, 1, -1])))
            # A PathLike works too.
            import pathlib
            a.save_safetensors(pathlib.Path(self.tmp) / "n.safetensors")

    def test_train_memory(self):
        with simdiff.Model.create(seed=1, **TINY_UVIT) as m:
            self.assertGreater(m.train_memory(2), m.num_params * 4)

    def test_forward_argument_checks(self):
        with simdiff.Model.load(fixture("model", "uvit_plain.safetensors")) as m:
            with self.assertRaises(ValueError):
                m.forward([0.0] * 63, 0.0)                   # not whole images
            with self.assertRaises(ValueError):
                m.forward([[[[0.0] * 4] * 4]], 0.0)          # wrong C x H x W
            with self.assertRaises(ValueError):
                m.forward([0.0] * 128, [0.0])                # one logsnr for two
            with self.assertRaises(ValueError):
                m.forward([0.0] * 128, 0.0, labels=[0])      # one label for two
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.forward([0.0] * 64, 0.0, labels=[7])       # class out of range
            with self.assertRaises(ValueError):
                m.forward([0.0] * 64, 0.0, cond=[1.0])        # no cond input
            # One C x H x W image is a batch of one.
            self.assertEqual(shape(m.forward([[[0.0] * 8] * 8], 0.0)), (1, 1, 8, 8))



def _safetensors_floats(path, name):
    """The F32 tensor `name` of a safetensors file, read with the standard
    library."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        lo, hi = hdr[name]["data_offsets"]
        f.seek(8 + n + lo)
        b = f.read(hi - lo)
    return list(struct.unpack("<%df" % (len(b) // 4), b))


class TestWienerSkip(TempDirTest):
    """Model.fit_skip against the statistics of the reference DWT
    (tests/reference/model_ref.py, the fixture's fit.*)."""

    def test_fit_skip_matches_the_reference(self):
        for name in ("uvit_dwt_skip", "unet_skip_eps"):
            with self.subTest(model=name):
                fx = read_sdfx(fixture("model", name + ".sdfx"))
                with simdiff.Model.load(fixture("model", name + ".safetensors")) as m:
                    self.assertEqual(m.config.wiener_skip, 1)
                    m.fit_skip(fx["fit.x"][1])
                    p = self.path(name + ".safetensors")
                    m.save_safetensors(p)
                for key in ("mean", "std"):
                    got = _safetensors_floats(p, "skip." + key)
                    self.assertLessEqual(max_rel_err(got, fx["fit." + key][1], 1e-5), 1e-4)

    def test_fit_skip_refusals(self):
        with simdiff.Model.load(fixture("model", "uvit_dwt.safetensors")) as m:
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.fit_skip([0.0] * (3 * 16 * 16))
        with simdiff.Model.load(fixture("model", "uvit_dwt_skip.safetensors")) as m:
            with self.assertRaises(ValueError):
                m.fit_skip([0.0] * 5)                         # not whole images
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.fit_skip([float("nan")] * (3 * 16 * 16))


if __name__ == "__main__":
    unittest.main()
