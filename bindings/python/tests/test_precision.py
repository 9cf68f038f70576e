"""precision= for trainers, samplers and Model.forward."""
import unittest

import simdiff
from support import TINY_UVIT, fixture, flat

MODEL = fixture("model", "uvit_plain.safetensors")  # 1x8x8, 3 classes, no schedule
NATIVE = "bf16 native" in simdiff.runtime_info()


class TestPrecision(unittest.TestCase):
    def setUp(self):
        self.model = simdiff.Model.load(MODEL)
        self.addCleanup(self.model.close)

    def test_enum_and_support(self):
        self.assertEqual(simdiff.Precision.coerce("bf16", "x"), simdiff.Precision.BF16)
        self.assertEqual(simdiff.Precision.coerce("float32", "x"), simdiff.Precision.F32)
        self.assertTrue(simdiff.precision_supported("f32"))
        self.assertEqual(simdiff.precision_supported(simdiff.Precision.BF16), NATIVE)
        with self.assertRaises(ValueError):
            simdiff.Precision.coerce("fp8", "x")

    def test_config_fields(self):
        self.assertEqual(simdiff.SamplerConfig(precision="bf16").precision,
                         simdiff.Precision.BF16)
        self.assertEqual(simdiff.TrainerConfig().precision, simdiff.Precision.F32)

    def test_forward_and_sampler(self):
        z = [((i * 37) % 19) / 9.0 - 1.0 for i in range(2 * 64)]
        m = self.model
        self.assertEqual(m.precision, simdiff.Precision.F32)
        y32 = flat(m.forward(z, [0.5, -1.0], labels=[0, 1]))
        if not NATIVE:
            with self.assertRaises(simdiff.UnsupportedError):
                m.forward(z, [0.5, -1.0], labels=[0, 1], precision="bf16")
            with self.assertRaises(simdiff.UnsupportedError):
                simdiff.Sampler(m, schedule="shifted(8,64)", precision="bf16")
            return
        y16 = flat(m.forward(z, [0.5, -1.0], labels=[0, 1], precision="bf16"))
        self.assertEqual(m.precision, simdiff.Precision.BF16)
        scale = max(abs(v) for v in y32)
        diff = max(abs(a - b) for a, b in zip(y16, y32))
        self.assertGreater(diff, 0)            # bf16 in use
        self.assertLess(diff, 0.05 * scale)    # and close
        m.precision = "f32"
        self.assertEqual(flat(m.forward(z, [0.5, -1.0], labels=[0, 1])), y32)
        with simdiff.Sampler(m, schedule="shifted(8,64)", steps=3, precision="bf16") as s:
            a = flat(s(labels=[0, 2], seed=5))
        with simdiff.Sampler(m, schedule="shifted(8,64)", steps=3) as s:
            b = flat(s(labels=[0, 2], seed=5))
        self.assertGreater(max(abs(x - y) for x, y in zip(a, b)), 0)
        self.assertLess(max(abs(x - y) for x, y in zip(a, b)), 0.2)

    def test_trainer(self):
        with simdiff.Model.create(**TINY_UVIT, seed=1) as m:
            if not NATIVE:
                with self.assertRaises(simdiff.UnsupportedError):
                    simdiff.Trainer(m, "shifted(8,64)", precision="bf16")
                return
            with simdiff.Trainer(m, "shifted(8,64)", precision="bf16") as t:
                x = [((i * 13) % 11) / 5.0 - 1.0 for i in range(2 * 64)]
                loss = t.step(x, labels=[0, 1])
                self.assertTrue(loss == loss and loss > 0)


if __name__ == "__main__":
    unittest.main()
