"""Arrays in and out, with numpy and without it (the same tests run under
both; meson runs the suite once each way)."""
import array
import ctypes
import unittest

import simdiff
from simdiff import _arrays
from support import fixture, flat, run_python

MODEL = fixture("model", "uvit_plain.safetensors")

try:
    import numpy as np
except ImportError:
    np = None


class TestOutputs(unittest.TestCase):
    def setUp(self):
        self.m = simdiff.Model.load(MODEL)
        self.addCleanup(self.m.close)

    def test_type_follows_numpy_availability(self):
        out = self.m.forward([0.5] * 128, 0.0)
        if simdiff.HAVE_NUMPY:
            self.assertIsInstance(out, np.ndarray)
            self.assertEqual(out.dtype, np.float32)
            self.assertEqual(out.shape, (2, 1, 8, 8))
            self.assertTrue(out.flags.c_contiguous and out.flags.writeable)
        else:
            self.assertIsInstance(out, memoryview)
            self.assertEqual((out.format, out.shape, out.readonly), ("f", (2, 1, 8, 8), False))
            nested = out.tolist()
            self.assertEqual(len(nested), 2)
            self.assertEqual(len(nested[1][0][7]), 8)
            self.assertEqual(out[1, 0, 7, 7], nested[1][0][7][7])
            # Round trip: a result goes back in as it is.
            self.assertEqual(flat(self.m.forward(out, 0.0)), flat(self.m.forward(nested, 0.0)))

    def test_1d_results(self):
        with simdiff.Schedule.shifted(8) as s:
            out = s.logsnr([0.25, 0.75])
            if simdiff.HAVE_NUMPY:
                self.assertEqual(out.dtype, np.float64)
            else:
                self.assertEqual(out.format, "d")
            self.assertEqual(list(out), flat(out))
            self.assertEqual(out[1], s.logsnr(0.75))

    def test_no_numpy_switch(self):
        r = run_python("import simdiff; print(simdiff.HAVE_NUMPY)",
                       env={"SIMDIFF_NO_NUMPY": "1"})
        self.assertEqual(r.stdout.strip(), "False", r.stderr)


class TestInputs(unittest.TestCase):
    def setUp(self):
        self.m = simdiff.Model.load(MODEL)
        self.addCleanup(self.m.close)
        self.z = [((i * 13) % 29) / 14.0 - 1 for i in range(128)]
        self.want = flat(self.m.forward(self.z, [0.5, -1.0], labels=[0, 2]))

    def check(self, z, logsnr=(0.5, -1.0), labels=(0, 2)):
        self.assertEqual(flat(self.m.forward(z, list(logsnr), labels=list(labels))),
                         self.want)

    def test_sequences_and_buffers(self):
        nested = [[[self.z[k * 64 + y * 8:k * 64 + y * 8 + 8] for y in range(8)]]
                  for k in range(2)]
        self.check(self.z)
        self.check(tuple(self.z))
        self.check(nested)
        self.check(array.array("f", self.z))
        self.check(array.array("d", self.z))          # converted to float32
        self.check(memoryview(array.array("f", self.z)))
        ro = memoryview(array.array("f", self.z).tobytes()).cast("f")
        self.assertTrue(ro.readonly)
        self.check(ro)                                 # read-only is fine
        self.check(memoryview(array.array("f", self.z)).cast("B").cast("f", (2, 1, 8, 8)))
        self.check((ctypes.c_float * 128)(*self.z))   # format '<f'
        self.check((ctypes.c_double * 128)(*self.z))
        self.assertEqual(flat(self.m.forward(self.z, 0.5, labels=array.array("i", [0, 2]))),
                         flat(self.m.forward(self.z, 0.5, labels=[0, 2])))
        self.assertEqual(flat(self.m.forward(self.z, 0.5, labels=range(0, 4, 2))),
                         flat(self.m.forward(self.z, 0.5, labels=[0, 2])))

    @unittest.skipUnless(np is not None and simdiff.HAVE_NUMPY, "numpy is not in use")
    def test_numpy_inputs(self):
        z = np.array(self.z, dtype=np.float64).reshape(2, 1, 8, 8)
        self.check(z)                                  # float64 -> float32
        self.check(z.astype(np.float32))
        wide = np.zeros((2, 1, 8, 16), dtype=np.float32)
        wide[..., ::2] = z
        self.check(wide[..., ::2])                     # not contiguous
        self.check(z, logsnr=np.array([0.5, -1.0]), labels=np.array([0, 2], dtype=np.int64))
        with self.assertRaises(TypeError):
            self.m.forward(z, 0.5, labels=np.array([0.0, 2.0]))
        with self.assertRaises(OverflowError):
            self.m.forward(z, 0.5, labels=np.array([0, 2 ** 40]))

    def test_rejected(self):
        with self.assertRaises(TypeError):
            self.m.forward("z" * 64, 0.0)
        with self.assertRaises(TypeError):
            self.m.forward(self.z, 0.0, labels=[0.0, 1.0])   # floats as labels
        with self.assertRaises(TypeError):
            self.m.forward(self.z, 0.0, labels=array.array("f", [0, 1]))
        with self.assertRaises(TypeError):
            self.m.forward(object(), 0.0)
        with self.assertRaises(ValueError):
            self.m.forward([self.z[:64], self.z[:60]], 0.0)  # ragged

    def test_pure_conversion_helpers(self):
        # The standard-library path, whatever the interpreter has.
        flat_, shape = _arrays._flatten([[1, 2, 3], [4, 5, 6]], "x")
        self.assertEqual((flat_, shape), ([1, 2, 3, 4, 5, 6], (2, 3)))
        self.assertEqual(_arrays._flatten([], "x"), ([], (0,)))
        self.assertEqual(_arrays._flatten(2.5, "x"), ([2.5], ()))
        with self.assertRaises(ValueError):
            _arrays._flatten([[1, 2], [3]], "x")
        with self.assertRaises(TypeError):
            _arrays._flatten([[1, 2], ["a", 3]], "x")


if __name__ == "__main__":
    unittest.main()
