"""Library failures become simdiff.Error subclasses; nothing crashes."""
import os
import pickle
import random
import unittest

import simdiff
from support import TempDirTest, fixture, run_python


class TestHierarchy(unittest.TestCase):
    def test_one_subclass_per_status(self):
        expected = {
            simdiff.Status.INVALID_ARG: (simdiff.InvalidArgumentError, ValueError),
            simdiff.Status.NOMEM: (simdiff.OutOfMemoryError, MemoryError),
            simdiff.Status.IO: (simdiff.IOFailure, OSError),
            simdiff.Status.FORMAT: (simdiff.FormatError, ValueError),
            simdiff.Status.UNSUPPORTED: (simdiff.UnsupportedError, simdiff.Error),
            simdiff.Status.CANCELLED: (simdiff.CancelledError, simdiff.Error),
            simdiff.Status.BACKEND: (simdiff.BackendError, RuntimeError),
            simdiff.Status.MISUSE: (simdiff.MisuseError, RuntimeError),
            simdiff.Status.NUMERIC: (simdiff.NumericError, ArithmeticError),
            simdiff.Status.INTERNAL: (simdiff.InternalError, RuntimeError),
        }
        self.assertEqual(len(expected), len(simdiff.Status) - 1)
        from simdiff._errors import error_for
        for status, (cls, base) in expected.items():
            with self.subTest(status=status):
                e = error_for(status, "detail")
                self.assertIs(type(e), cls)
                self.assertIsInstance(e, simdiff.Error)
                self.assertIsInstance(e, base)
                self.assertEqual(e.status, status)
                self.assertEqual(str(e), "detail")
                self.assertEqual(cls.__module__, "simdiff")
                again = pickle.loads(pickle.dumps(e))
                self.assertIs(type(again), cls)
                self.assertEqual((again.status, again.message), (status, "detail"))
        # The names do not shadow builtins.
        self.assertIsNot(simdiff.IOFailure, IOError)
        self.assertFalse(hasattr(simdiff, "IOError"))

    def test_unknown_status_is_a_plain_error(self):
        from simdiff._errors import error_for
        e = error_for(77, None)
        self.assertIs(type(e), simdiff.Error)
        self.assertEqual(e.status, 77)
        self.assertTrue(str(e))

    def test_status_strings_come_from_the_library(self):
        self.assertEqual(simdiff.Status.INVALID_ARG.describe(), "invalid argument")
        self.assertEqual(simdiff.status_str(0), "ok")
        self.assertEqual(simdiff.status_str(12345), "unknown status")


class TestRaised(TempDirTest):
    def test_library_message_and_status(self):
        with self.assertRaises(simdiff.InvalidArgumentError) as cm:
            simdiff.Schedule.cosine(5.0, -5.0)
        self.assertEqual(cm.exception.status, simdiff.Status.INVALID_ARG)
        self.assertIn("logsnr", cm.exception.message)
        with self.assertRaises(simdiff.FormatError) as cm:
            simdiff.Schedule("shifted(128, 64)")  # no whitespace allowed
        self.assertTrue(cm.exception.message)

    def test_missing_file_is_an_oserror(self):
        with self.assertRaises(simdiff.IOFailure) as cm:
            simdiff.Model.load(self.path("nope.safetensors"))
        self.assertIsInstance(cm.exception, OSError)
        self.assertIn("nope.safetensors", str(cm.exception))

    def test_write_into_a_missing_directory(self):
        with self.assertRaises(simdiff.IOFailure):
            simdiff.write_npy(self.path("no/such/dir/x.npy"), [1.0, 2.0])

    def test_embedded_nul_in_a_path(self):
        with self.assertRaises(ValueError):
            simdiff.Model.load("a\0b")

    def test_closed_handle_is_misuse(self):
        s = simdiff.Schedule.shifted(64)
        s.close()
        with self.assertRaises(simdiff.MisuseError) as cm:
            s.logsnr(0.5)
        self.assertIn("closed", str(cm.exception))
        s.close()  # idempotent


class TestCorruptedModelFiles(TempDirTest):
    """A damaged model file raises; it never takes the interpreter down."""

    def setUp(self):
        super().setUp()
        with open(fixture("model", "uvit_plain.safetensors"), "rb") as f:
            self.good = f.read()

    def _load(self, data):
        p = self.path("m.safetensors")
        with open(p, "wb") as f:
            f.write(data)
        try:
            with simdiff.Model.load(p) as m:
                # If it loads it must work.
                m.forward([0.0] * 64, 0.0, labels=[0])
            return None
        except simdiff.Error as e:
            self.assertTrue(str(e))
            return e

    def test_truncated(self):
        header_len = int.from_bytes(self.good[:8], "little")
        cuts = sorted({0, 1, 7, 8, 9, 8 + header_len // 2, 8 + header_len - 1,
                       8 + header_len, 8 + header_len + 1, len(self.good) - 4,
                       len(self.good) - 1})
        for n in cuts:
            with self.subTest(length=n):
                e = self._load(self.good[:n])
                self.assertIsInstance(e, simdiff.FormatError)

    def test_hostile_header_lengths(self):
        body = self.good[8:]
        for hl in (0, 2 ** 63 - 1, 2 ** 64 - 1, len(self.good), 2 ** 32):
            with self.subTest(header_len=hl):
                e = self._load(hl.to_bytes(8, "little") + body)
                self.assertIsInstance(e, simdiff.FormatError)

    def test_garbage_and_bit_flips(self):
        self.assertIsInstance(self._load(b"not a model at all"), simdiff.FormatError)
        header_len = int.from_bytes(self.good[:8], "little")
        rng = random.Random(1234)
        raised = 0
        for i in range(60):
            data = bytearray(self.good)
            pos = rng.randrange(0, 8 + header_len)  # inside the JSON header
            data[pos] ^= 1 << rng.randrange(8)
            with self.subTest(flip=pos):
                raised += self._load(bytes(data)) is not None
        self.assertGreater(raised, 0)

    def test_the_interpreter_survives_in_a_child_too(self):
        # The same in a fresh interpreter, checking it exits normally.
        p = self.path("bad.safetensors")
        with open(p, "wb") as f:
            f.write(self.good[:100])
        r = run_python("import simdiff\n"
                       "try:\n"
                       "    simdiff.Model.load(%r)\n"
                       "except simdiff.FormatError as e:\n"
                       "    print('FormatError', e.status)\n" % p)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "FormatError 4")


class TestLibraryLookup(TempDirTest):
    def test_bad_environment_variable(self):
        r = run_python("import simdiff", env={"SIMDIFF_LIBRARY": self.path("libnope.so")})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("LibraryNotFoundError", r.stderr)
        self.assertIn("SIMDIFF_LIBRARY", r.stderr)
        self.assertIn("libnope.so", r.stderr)

    def test_not_found_anywhere_lists_what_was_tried(self):
        r = run_python("import simdiff", env={"SIMDIFF_LIBRARY": None,
                                              "LD_LIBRARY_PATH": self.tmp})
        if r.returncode == 0:
            self.skipTest("libsimdiff is installed on the system loader path")
        self.assertIn("libsimdiff was not found", r.stderr)
        self.assertIn("SIMDIFF_LIBRARY=", r.stderr)
        self.assertIn("system loader path", r.stderr)

    def test_next_to_the_package(self):
        # A copy of the package with the library beside it, no variable.
        import shutil
        pkg = os.path.dirname(simdiff.__file__)
        dst = os.path.join(self.tmp, "simdiff")
        shutil.copytree(pkg, dst, ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
        shutil.copy(simdiff.library_path, os.path.join(dst, "libsimdiff.so.0"))
        r = run_python("import simdiff; print(simdiff.library_path)",
                       env={"SIMDIFF_LIBRARY": None, "PYTHONPATH": self.tmp})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), os.path.join(dst, "libsimdiff.so.0"))


if __name__ == "__main__":
    unittest.main()
